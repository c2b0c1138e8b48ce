//! `nephele events tail` and `nephele webhooks ...`: the event stream and webhook endpoints, as
//! clients of the API.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::args::{EventsCommand, Output, WebhooksCommand};
use crate::client::{ApiClient, CliError};
use crate::commands::{print, text};
use crate::table;

/// The longest a stream line may be before the CLI gives up on it (an event is far smaller).
const MAX_PENDING_BYTES: usize = 4 * 1024 * 1024;

pub async fn events(client: &ApiClient, out: Output, command: EventsCommand) -> Result<(), CliError> {
    let EventsCommand::Tail { event_type, account, after, count } = command;
    let mut query = Vec::new();
    if let Some(t) = &event_type {
        query.push(format!("type={t}"));
    }
    if let Some(a) = &account {
        query.push(format!("account={a}"));
    }
    let path = if query.is_empty() {
        "/api/v1/events/stream".to_owned()
    } else {
        format!("/api/v1/events/stream?{}", query.join("&"))
    };
    let mut last = after;
    let mut printed = 0u64;
    let mut pause = Duration::from_millis(250);
    loop {
        let mut response = match client.open_stream(&path, last.as_deref()).await {
            Ok(response) => response,
            // Refusals are final; a server that cannot be reached may come back.
            Err(CliError::Unreachable(why)) => {
                eprintln!("nephele: {why}; retrying in {} ms", pause.as_millis());
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(10));
                continue;
            }
            Err(refused) => return Err(refused),
        };
        pause = Duration::from_millis(250);
        let mut pending = String::new();
        while let Ok(Some(chunk)) = response.chunk().await {
            pending.push_str(&String::from_utf8_lossy(&chunk));
            if pending.len() > MAX_PENDING_BYTES {
                return Err(CliError::Other("the stream sent a frame larger than 4 MiB".to_owned()));
            }
            while let Some(end) = pending.find("\n\n") {
                let frame: String = pending.drain(..end + 2).collect();
                let (mut id, mut event, mut data) = (None, None, String::new());
                for line in frame.lines() {
                    if let Some(v) = line.strip_prefix("id:") {
                        id = Some(v.trim().to_owned());
                    } else if let Some(v) = line.strip_prefix("event:") {
                        event = Some(v.trim().to_owned());
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    }
                }
                if data.is_empty() {
                    continue;
                }
                let value: Value = serde_json::from_str(&data).unwrap_or(Value::Null);
                if event.as_deref() == Some("error") {
                    return Err(CliError::Other(format!("the stream ended: {}", text(&value["detail"]))));
                }
                match out {
                    Output::Json => println!("{data}"),
                    Output::Table => println!(
                        "{}  {}  {}  {}  {}",
                        text(&value["time"]),
                        text(&value["type"]),
                        text(&value["source"]),
                        text(&value["subject"]),
                        text(&value["id"])
                    ),
                }
                if id.is_some() {
                    last = id;
                }
                printed += 1;
                if count.is_some_and(|c| printed >= c) {
                    return Ok(());
                }
            }
        }
        eprintln!("nephele: the stream was cut; resuming after {}", last.as_deref().unwrap_or("the start"));
    }
}

fn webhook_table(hooks: &[Value]) -> String {
    let list = |v: &Value| match v.as_array() {
        Some(items) => items.iter().map(text).collect::<Vec<_>>().join(","),
        None => "all".to_owned(),
    };
    let rows: Vec<Vec<String>> = hooks
        .iter()
        .map(|h| {
            vec![
                text(&h["id"]),
                text(&h["url"]),
                list(&h["event_types"]),
                list(&h["accounts"]),
                if h["enabled"] == true {
                    "yes".to_owned()
                } else {
                    format!("no ({})", text(&h["disabled_reason"]))
                },
            ]
        })
        .collect();
    table::render(&["ID", "URL", "TYPES", "ACCOUNTS", "ENABLED"], &rows)
}

fn with_secret(v: &Value) -> String {
    format!(
        "{}\nsecret: {}\n(the secret is shown this once: give it to the receiver's Standard Webhooks verifier)",
        webhook_table(std::slice::from_ref(v)),
        text(&v["secret"])
    )
}

pub async fn webhooks(client: &ApiClient, out: Output, command: WebhooksCommand) -> Result<(), CliError> {
    match command {
        WebhooksCommand::Add { url, event_types, accounts, description } => {
            let mut body = json!({ "url": url });
            if !event_types.is_empty() {
                body["event_types"] = json!(event_types);
            }
            if !accounts.is_empty() {
                body["accounts"] = json!(accounts);
            }
            if let Some(d) = description {
                body["description"] = json!(d);
            }
            let v = client.call(Method::POST, "/api/v1/webhooks", Some(&body)).await?;
            print(out, &v, with_secret);
        }
        WebhooksCommand::List => {
            let v = client.call(Method::GET, "/api/v1/webhooks", None).await?;
            print(out, &v, |v| {
                webhook_table(v["webhooks"].as_array().map(Vec::as_slice).unwrap_or_default())
            });
        }
        WebhooksCommand::Remove { id } => {
            client.call(Method::DELETE, &format!("/api/v1/webhooks/{id}"), None).await?;
            print(out, &json!({ "deleted": id }), |_| format!("deleted webhook {id}"));
        }
        WebhooksCommand::Test { id } => {
            let v = client.call(Method::POST, &format!("/api/v1/webhooks/{id}/test"), None).await?;
            print(out, &v, |v| format!("sent test event {}", text(&v["event_id"])));
        }
        WebhooksCommand::RotateSecret { id } => {
            let v = client.call(Method::POST, &format!("/api/v1/webhooks/{id}/rotate-secret"), None).await?;
            print(out, &v, with_secret);
        }
        WebhooksCommand::Deliveries { id, state, limit } => {
            let mut path = format!("/api/v1/webhooks/{id}/deliveries?limit={limit}");
            if let Some(state) = state {
                path.push_str(&format!("&state={state}"));
            }
            let v = client.call(Method::GET, &path, None).await?;
            print(out, &v, |v| {
                let rows: Vec<Vec<String>> = v["deliveries"]
                    .as_array()
                    .map(|l| {
                        l.iter()
                            .map(|d| {
                                vec![
                                    text(&d["id"]),
                                    text(&d["event_type"]),
                                    text(&d["state"]),
                                    text(&d["attempts"]),
                                    text(&d["last_status"]),
                                    text(&d["last_error"]),
                                    text(&d["last_attempt_at"]),
                                ]
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                table::render(
                    &["ID", "EVENT", "STATE", "ATTEMPTS", "STATUS", "LAST ERROR", "LAST ATTEMPT"],
                    &rows,
                )
            });
        }
    }
    Ok(())
}
