//! A small client of Nephele's own HTTP API, for the CLI's commands.

use std::fmt;

use reqwest::Method;
use serde_json::Value;

/// What went wrong talking to the server, ready to print.
pub enum CliError {
    /// The server could not be reached.
    Unreachable(String),
    /// The server answered with a problem document.
    Problem { status: u16, title: String, detail: String, errors: Vec<String> },
    /// Anything else (a bad local file, a timeout while waiting).
    Other(String),
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unreachable(m) | Self::Other(m) => f.write_str(m),
            Self::Problem { status, title, detail, errors } => {
                // With field errors the detail only repeats them; the title says what kind.
                let head = if errors.is_empty() { detail } else { title };
                write!(f, "{head} (HTTP {status})")?;
                for e in errors {
                    write!(f, "\n  - {e}")?;
                }
                Ok(())
            }
        }
    }
}

pub struct ApiClient {
    http: reqwest::Client,
    base: String,
    api_key: Option<String>,
}

impl ApiClient {
    pub fn new(base: &str, api_key: Option<String>) -> Self {
        nephele_digitalocean::install_crypto_provider();
        Self { http: reqwest::Client::new(), base: base.trim_end_matches('/').to_owned(), api_key }
    }

    /// Opens a long-lived GET (the event stream), resuming after `last_event_id` when given; a
    /// refusal comes back as the problem it is.
    pub async fn open_stream(
        &self,
        path: &str,
        last_event_id: Option<&str>,
    ) -> Result<reqwest::Response, CliError> {
        let mut request = self.http.get(format!("{}{}", self.base, path));
        if let Some(key) = &self.api_key {
            request = request.bearer_auth(key);
        }
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id);
        }
        let response = request.send().await.map_err(|e| {
            CliError::Unreachable(format!("cannot reach the Nephele server at {}: {e}", self.base))
        })?;
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status().as_u16();
        let value: Value = response.json().await.unwrap_or(Value::Null);
        Err(CliError::Problem {
            status,
            title: value["title"].as_str().unwrap_or("Refused").to_owned(),
            detail: value["detail"].as_str().unwrap_or("the server refused the stream").to_owned(),
            errors: value["errors"]
                .as_array()
                .map(|l| {
                    l.iter()
                        .map(|e| {
                            format!(
                                "{}: {}",
                                e["field"].as_str().unwrap_or("?"),
                                e["message"].as_str().unwrap_or("")
                            )
                        })
                        .collect()
                })
                .unwrap_or_default(),
        })
    }

    /// Sends a request; a 2xx body comes back as JSON (`null` for 204), anything else as an error.
    pub async fn call(&self, method: Method, path: &str, body: Option<&Value>) -> Result<Value, CliError> {
        let mut request = self.http.request(method, format!("{}{}", self.base, path));
        if let Some(key) = &self.api_key {
            request = request.bearer_auth(key);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|e| {
            CliError::Unreachable(format!("cannot reach the Nephele server at {}: {e}", self.base))
        })?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| CliError::Unreachable(e.to_string()))?;
        let value: Value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or(Value::Null)
        };
        if status.is_success() {
            return Ok(value);
        }
        let errors = value["errors"]
            .as_array()
            .map(|list| {
                list.iter()
                    .map(|e| {
                        let suggestions = e["suggestions"]
                            .as_array()
                            .filter(|s| !s.is_empty())
                            .map(|s| {
                                format!(
                                    " (try: {})",
                                    s.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", ")
                                )
                            })
                            .unwrap_or_default();
                        format!(
                            "{}: {}{suggestions}",
                            e["field"].as_str().unwrap_or("?"),
                            e["message"].as_str().unwrap_or("")
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        Err(CliError::Problem {
            status: status.as_u16(),
            title: value["title"].as_str().unwrap_or("Refused").to_owned(),
            detail: value["detail"].as_str().unwrap_or("the server refused the request").to_owned(),
            errors,
        })
    }
}
