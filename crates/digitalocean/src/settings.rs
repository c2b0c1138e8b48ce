//! The DigitalOcean provider's settings as a user writes them (`providers.digitalocean` in
//! `config.yaml`), read the same way whether the provider runs inside the server or as the
//! `nephele-provider-digitalocean` plugin (which receives them as JSON over its socket).

use std::time::Duration;

use nephele_core::{ProviderError, Secret};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::{BudgetConfig, ClientConfig, DigitalOcean};

/// `providers.digitalocean:`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Personal access token (`dop_v1_...`). `DIGITALOCEAN_TOKEN` overrides it.
    pub api_token: Option<Secret<String>>,
    /// Default region for creates that name none (the seed's `region`).
    pub region: Option<String>,
    /// API base URL; `https://api.digitalocean.com` unless pointing at a simulator.
    pub base_url: Option<String>,
    pub connect_timeout_secs: Option<u64>,
    /// Time allowed for one HTTP attempt.
    pub request_timeout_secs: Option<u64>,
    /// Time allowed for a whole call, retries and rate-limit waits included.
    pub call_deadline_secs: Option<u64>,
    /// The rate budget the client keeps (DigitalOcean's limits are 250 and 5,000).
    pub rate_limit_per_minute: Option<usize>,
    pub rate_limit_per_hour: Option<usize>,
    /// Requests that may go at once before the rest are paced evenly (default 60).
    pub rate_limit_burst: Option<usize>,
    /// Largest answer body read from the API (default 4 MiB); larger is refused (502).
    pub max_response_bytes: Option<usize>,
    /// Answer bytes held at once by all calls (default 48 MiB): bounds memory under any load.
    pub max_in_flight_response_bytes: Option<usize>,
    /// Most pages one list may take (default 1,000 of 200 items).
    pub max_list_pages: Option<usize>,
    /// The longest wait a 429's `retry-after` or `ratelimit-reset` may impose (default 60,
    /// at most 3,600); a longer one is cut to it.
    pub max_retry_after_secs: Option<u64>,
    /// Allows a plain `http://` `base_url` that is not loopback (the token would cross the
    /// network in clear). Off by default; loopback (a simulator) never needs it.
    pub allow_insecure_http: Option<bool>,
}

/// The longest any of the `*_secs` timeouts may be: a day.
const MAX_TIMEOUT_SECS: u64 = 86_400;
/// The most `max_retry_after_secs` may be: an hour.
const MAX_RETRY_AFTER_SECS: u64 = 3_600;

/// A setting that cannot be used: `key` is its name within `providers.digitalocean`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{key}` {message}")]
pub struct SettingsError {
    pub key: &'static str,
    pub message: String,
}

impl Settings {
    /// The token, if one is set and not empty.
    pub fn token(&self) -> Option<&Secret<String>> {
        self.api_token.as_ref().filter(|t| !t.expose().trim().is_empty())
    }

    /// Checks what serde cannot: ranges, URL schemes, slugs.
    pub fn validate(&self) -> Result<(), SettingsError> {
        let invalid = |key, message: String| Err(SettingsError { key, message });
        if self.max_response_bytes.is_some_and(|n| n < 64 * 1024) {
            return invalid("max_response_bytes", "must be at least 65536".to_owned());
        }
        if let Some(url) = &self.base_url {
            let parsed = reqwest::Url::parse(url).map_err(|_| SettingsError {
                key: "base_url",
                message: format!("must be an http(s) URL, got {url:?}"),
            })?;
            nephele_core::endpoint::check(
                parsed.scheme(),
                parsed.host_str(),
                self.allow_insecure_http.unwrap_or(false),
            )
            .map_err(|e| SettingsError { key: "base_url", message: e.to_string() })?;
        }
        for (key, value) in [
            ("connect_timeout_secs", self.connect_timeout_secs),
            ("request_timeout_secs", self.request_timeout_secs),
            ("call_deadline_secs", self.call_deadline_secs),
        ] {
            if value.is_some_and(|secs| secs > MAX_TIMEOUT_SECS) {
                return invalid(key, format!("must be at most {MAX_TIMEOUT_SECS} (a day)"));
            }
        }
        if self.max_retry_after_secs.is_some_and(|secs| !(1..=MAX_RETRY_AFTER_SECS).contains(&secs)) {
            return invalid("max_retry_after_secs", format!("must be between 1 and {MAX_RETRY_AFTER_SECS}"));
        }
        if let Some(region) = &self.region
            && (region.is_empty() || !region.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()))
        {
            return invalid("region", format!("must be a region slug like nyc1, got {region:?}"));
        }
        for (key, value) in [
            ("rate_limit_per_minute", self.rate_limit_per_minute),
            ("rate_limit_per_hour", self.rate_limit_per_hour),
            ("max_list_pages", self.max_list_pages),
            ("rate_limit_burst", self.rate_limit_burst),
        ] {
            if value == Some(0) {
                return invalid(key, "must be at least 1".to_owned());
            }
        }
        Ok(())
    }

    /// The client these settings describe; `None` without a token.
    pub fn client_config(&self) -> Option<ClientConfig> {
        let mut client = ClientConfig::new(self.token()?.clone());
        if let Some(url) = &self.base_url {
            client = client.with_base_url(url);
        }
        client.default_region = self.region.clone();
        if let Some(s) = self.connect_timeout_secs {
            client.connect_timeout = Duration::from_secs(s);
        }
        if let Some(s) = self.request_timeout_secs {
            client.request_timeout = Duration::from_secs(s);
        }
        if let Some(s) = self.call_deadline_secs {
            client.call_deadline = Duration::from_secs(s);
        }
        if let Some(n) = self.max_response_bytes {
            client.max_response_bytes = n;
        }
        if let Some(n) = self.max_in_flight_response_bytes {
            client.max_in_flight_response_bytes = n;
        }
        if let Some(n) = self.max_list_pages {
            client.max_list_pages = n;
        }
        if let Some(s) = self.max_retry_after_secs {
            client.max_retry_after = Duration::from_secs(s);
        }
        client.budget = BudgetConfig {
            per_minute: self.rate_limit_per_minute.unwrap_or(client.budget.per_minute),
            per_hour: self.rate_limit_per_hour.unwrap_or(client.budget.per_hour),
            burst: self.rate_limit_burst.unwrap_or(client.budget.burst),
            ..client.budget
        };
        Some(client)
    }

    /// The settings as the JSON object the plugin reads back with [`Settings::from_json`]. Holds
    /// the token: it goes only over the plugin's socket.
    pub fn to_json(&self) -> Value {
        let mut map = Map::new();
        let mut put = |key: &str, value: Value| {
            if !value.is_null() {
                map.insert(key.to_owned(), value);
            }
        };
        put("api_token", json!(self.api_token.as_ref().map(|t| t.expose().clone())));
        put("region", json!(self.region));
        put("base_url", json!(self.base_url));
        put("connect_timeout_secs", json!(self.connect_timeout_secs));
        put("request_timeout_secs", json!(self.request_timeout_secs));
        put("call_deadline_secs", json!(self.call_deadline_secs));
        put("rate_limit_per_minute", json!(self.rate_limit_per_minute));
        put("rate_limit_per_hour", json!(self.rate_limit_per_hour));
        put("rate_limit_burst", json!(self.rate_limit_burst));
        put("max_response_bytes", json!(self.max_response_bytes));
        put("max_in_flight_response_bytes", json!(self.max_in_flight_response_bytes));
        put("max_list_pages", json!(self.max_list_pages));
        put("max_retry_after_secs", json!(self.max_retry_after_secs));
        put("allow_insecure_http", json!(self.allow_insecure_http));
        Value::Object(map)
    }

    /// Reads settings sent as JSON, checked as the server checks `config.yaml`.
    pub fn from_json(value: Value) -> Result<Self, ProviderError> {
        let invalid = |field: String, message: String| ProviderError::InvalidInput {
            field: Some(field),
            message,
            detail: Default::default(),
        };
        let settings: Settings =
            serde_json::from_value(value).map_err(|e| invalid("settings".to_owned(), e.to_string()))?;
        settings.validate().map_err(|e| invalid(e.key.to_owned(), e.message))?;
        Ok(settings)
    }
}

impl DigitalOcean {
    /// The provider `settings` describe, or why there is none.
    pub fn from_settings(settings: &Settings) -> Result<Self, ProviderError> {
        let client = settings.client_config().ok_or_else(|| ProviderError::InvalidInput {
            field: Some("api_token".to_owned()),
            message: "is required".to_owned(),
            detail: Default::default(),
        })?;
        DigitalOcean::new(client)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_survive_the_trip_to_a_plugin() {
        let settings = Settings {
            api_token: Some(Secret::new("dop_v1_x".to_owned())),
            region: Some("ams3".into()),
            base_url: Some("http://127.0.0.1:1".into()),
            rate_limit_per_minute: Some(100),
            max_list_pages: Some(5),
            max_retry_after_secs: Some(7),
            ..Settings::default()
        };
        let back = Settings::from_json(settings.to_json()).expect("reads back");
        assert_eq!(back.token().map(|t| t.expose().as_str()), Some("dop_v1_x"));
        assert_eq!(back.region.as_deref(), Some("ams3"));
        assert_eq!(back.rate_limit_per_minute, Some(100));
        assert_eq!(back.max_list_pages, Some(5));
        assert_eq!(back.max_retry_after_secs, Some(7));
        let err = Settings::from_json(json!({"region": "New York"})).expect_err("bad region");
        assert!(matches!(err, ProviderError::InvalidInput { field: Some(f), .. } if f == "region"));
        assert!(Settings::from_json(json!({"colour": "red"})).is_err());
    }

    fn refusal(section: Value) -> Option<String> {
        match Settings::from_json(section) {
            Err(ProviderError::InvalidInput { field, message, .. }) => {
                Some(format!("{} {message}", field.unwrap_or_default()))
            }
            _ => None,
        }
    }

    #[test]
    fn plain_http_off_this_machine_is_refused_unless_allowed() {
        let refused = refusal(json!({"base_url": "http://10.0.0.7:8080"})).expect("refused");
        assert!(refused.starts_with("base_url "), "{refused}");
        assert!(refused.contains("allow_insecure_http"), "{refused}");
        assert!(
            refusal(json!({"base_url": "http://api.example.com@10.0.0.7/"})).is_some(),
            "userinfo is not the host"
        );
        for fine in [
            json!({"base_url": "https://api.digitalocean.com"}),
            json!({"base_url": "http://127.0.0.1:8090"}),
            json!({"base_url": "http://[::1]:8090"}),
            json!({"base_url": "http://localhost:8090"}),
            json!({"base_url": "http://10.0.0.7:8080", "allow_insecure_http": true}),
        ] {
            assert_eq!(refusal(fine.clone()), None, "{fine}");
        }
    }

    #[test]
    fn the_retry_after_ceiling_and_timeouts_are_bounded() {
        assert!(
            refusal(json!({"max_retry_after_secs": 0}))
                .is_some_and(|e| e.starts_with("max_retry_after_secs"))
        );
        assert!(refusal(json!({"max_retry_after_secs": 3601})).is_some());
        assert!(
            refusal(json!({"call_deadline_secs": 18446744073709551615u64}))
                .is_some_and(|e| e.starts_with("call_deadline_secs"))
        );
        assert_eq!(refusal(json!({"max_retry_after_secs": 5})), None);
        let client =
            Settings { max_retry_after_secs: Some(5), ..test_settings() }.client_config().expect("client");
        assert_eq!(client.max_retry_after, Duration::from_secs(5));
        assert_eq!(test_settings().client_config().expect("client").max_retry_after, Duration::from_secs(60));
    }

    fn test_settings() -> Settings {
        Settings { api_token: Some(Secret::new("dop_v1_x".to_owned())), ..Settings::default() }
    }
}
