//! The client commands: each calls the API and prints a table or the JSON.

use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use crate::args::{
    Command, CostArgs, CreateArgs, Global, InstancesCommand, OperationsCommand, Output, ResourceCommand,
};
use crate::client::{ApiClient, CliError};
use crate::table;

pub(crate) fn text(v: &Value) -> String {
    match v {
        Value::Null => "-".to_owned(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A decimal amount of money as text, rounded half away from zero to the cent ("0.62");
/// anything that is not a number is shown as it came.
fn cents(v: &Value) -> String {
    let raw = text(v);
    let digits = raw.strip_prefix('-').unwrap_or(&raw);
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    let plain = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if !whole.is_empty() && whole.len() <= 30 && plain(whole) && plain(fraction) {
        round_to_cents(&raw)
    } else {
        raw
    }
}

/// Rounds a plain decimal string ("0.6213791666") to two places without going through binary.
fn round_to_cents(raw: &str) -> String {
    let (negative, digits) = match raw.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, raw),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    let mut fraction: Vec<u8> = fraction.bytes().map(|b| b.wrapping_sub(b'0')).collect();
    fraction.resize(fraction.len().max(3), 0);
    let mut number: u128 =
        whole.parse().unwrap_or(0) * 100 + u128::from(fraction[0]) * 10 + u128::from(fraction[1]);
    if fraction[2] >= 5 {
        number += 1;
    }
    let sign = if negative && number > 0 { "-" } else { "" };
    format!("{sign}{}.{:02}", number / 100, number % 100)
}

pub(crate) fn print(output: Output, value: &Value, as_table: impl FnOnce(&Value) -> String) {
    match output {
        Output::Json => println!("{}", serde_json::to_string_pretty(value).unwrap_or_default()),
        Output::Table => println!("{}", as_table(value)),
    }
}

fn instance_table(instances: &[Value]) -> String {
    let rows: Vec<Vec<String>> = instances
        .iter()
        .map(|i| {
            ["id", "name", "status", "type", "region", "public_ip", "created_at"]
                .iter()
                .map(|k| text(&i[*k]))
                .collect()
        })
        .collect();
    table::render(&["ID", "NAME", "STATUS", "TYPE", "REGION", "PUBLIC IP", "CREATED"], &rows)
}

pub async fn run(global: &Global, command: Command) -> ExitCode {
    let client = ApiClient::new(&global.server, global.api_key.clone());
    match dispatch(&client, global, command).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("nephele: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn dispatch(client: &ApiClient, global: &Global, command: Command) -> Result<(), CliError> {
    let p = format!("/api/v1/providers/{}", global.provider.as_deref().unwrap_or("digitalocean"));
    let out = global.output;
    match command {
        Command::Serve(_) | Command::Keys(_) | Command::Plugin(_) => {
            Err(CliError::Other("handled in main".to_owned()))
        }
        Command::Accounts(accounts) => crate::accounts::run(client, out, accounts).await,
        Command::Secrets(secrets) => crate::accounts::secrets(client, out, secrets).await,
        Command::Regions => {
            let v = client.call(Method::GET, &format!("{p}/regions"), None).await?;
            print(out, &v, |v| {
                let rows: Vec<Vec<String>> = v["regions"]
                    .as_array()
                    .map(|l| {
                        l.iter()
                            .map(|r| vec![text(&r["id"]), text(&r["display_name"]), text(&r["status"])])
                            .collect()
                    })
                    .unwrap_or_default();
                table::render(&["ID", "NAME", "STATUS"], &rows)
            });
            Ok(())
        }
        Command::Types => {
            let v = client.call(Method::GET, &format!("{p}/instance-types"), None).await?;
            print(out, &v, |v| {
                let rows: Vec<Vec<String>> = v["instance_types"]
                    .as_array()
                    .map(|l| {
                        l.iter()
                            .map(|t| {
                                vec![
                                    text(&t["id"]),
                                    text(&t["vcpus"]),
                                    format!("{} MiB", text(&t["memory_mib"])),
                                    format!("{} GiB", text(&t["disk_gib"])),
                                    format!("${}", text(&t["price_hourly"])),
                                    format!("${}", text(&t["price_monthly"])),
                                    text(&t["description"]),
                                ]
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                table::render(&["TYPE", "VCPUS", "MEMORY", "DISK", "PER HOUR", "PER MONTH", "CLASS"], &rows)
            });
            Ok(())
        }
        Command::Images => {
            let v = client.call(Method::GET, &format!("{p}/images"), None).await?;
            print(out, &v, |v| {
                let rows: Vec<Vec<String>> = v["images"]
                    .as_array()
                    .map(|l| {
                        l.iter()
                            .map(|i| {
                                vec![
                                    text(&i["id"]),
                                    text(&i["slug"]),
                                    text(&i["distribution"]),
                                    text(&i["name"]),
                                ]
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                table::render(&["ID", "SLUG", "DISTRIBUTION", "NAME"], &rows)
            });
            Ok(())
        }
        Command::CostEstimate(args) => cost_estimate(client, &p, out, args).await,
        Command::Operations(command) => operations(client, out, command).await,
        Command::Events(command) => crate::events::events(client, out, command).await,
        Command::Webhooks(command) => crate::events::webhooks(client, out, command).await,
        Command::Audit { limit } => {
            let v = client.call(Method::GET, &format!("/api/v1/audit?limit={limit}"), None).await?;
            print(out, &v, |v| {
                let rows: Vec<Vec<String>> = v["entries"]
                    .as_array()
                    .map(|l| {
                        l.iter()
                            .map(|e| {
                                ["at", "principal", "method", "path", "status", "outcome", "operation_id"]
                                    .iter()
                                    .map(|k| text(&e[*k]))
                                    .collect()
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                table::render(&["AT", "WHO", "METHOD", "PATH", "STATUS", "OUTCOME", "OPERATION"], &rows)
            });
            Ok(())
        }
        Command::Instances(command) => instances(client, &p, out, command).await,
        Command::Costs(command) => crate::spend::costs(client, out, command).await,
        Command::Budgets(command) => crate::spend::budgets(client, out, command).await,
        Command::Volumes(command) => resources(client, &p, out, "volumes", command).await,
        Command::Snapshots(command) => resources(client, &p, out, "snapshots", command).await,
        Command::SshKeys(command) => resources(client, &p, out, "ssh-keys", command).await,
        Command::Firewalls(command) => resources(client, &p, out, "firewalls", command).await,
        Command::ReservedIps(command) => resources(client, &p, out, "reserved-ips", command).await,
        Command::Vpcs(command) => resources(client, &p, out, "vpcs", command).await,
        Command::Waste { account, kind } => waste(client, out, account, kind).await,
    }
}

/// `FIELD=VALUE` pairs as a JSON object: a value that parses as JSON (a number, a list, `true`)
/// is sent as that, anything else as a string.
fn fields(pairs: &[String]) -> Result<Value, CliError> {
    let mut object = serde_json::Map::new();
    for pair in pairs {
        let Some((field, value)) = pair.split_once('=') else {
            return Err(CliError::Other(format!("--set {pair:?}: expected FIELD=VALUE")));
        };
        let value = serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.to_owned()));
        object.insert(field.to_owned(), value);
    }
    Ok(Value::Object(object))
}

/// A resource's most telling fields, whatever its kind.
fn resource_row(r: &Value) -> Vec<String> {
    let detail = match r["kind"].as_str() {
        Some("volume") => format!("{} GiB, attached to {}", text(&r["size_gib"]), text(&r["attached_to"])),
        Some("snapshot") => {
            format!("{} GiB of {} {}", text(&r["size_gib"]), text(&r["source_kind"]), text(&r["source_id"]))
        }
        Some("ssh_key") => text(&r["fingerprint"]),
        Some("firewall") => format!(
            "{} in, {} out, instances {}",
            r["inbound"].as_array().map_or(0, Vec::len),
            r["outbound"].as_array().map_or(0, Vec::len),
            text(&r["instance_ids"])
        ),
        Some("reserved_ip") => format!("{} assigned to {}", text(&r["address"]), text(&r["assigned_to"])),
        Some("vpc") => text(&r["ip_range"]),
        _ => String::new(),
    };
    vec![text(&r["provider"]), text(&r["id"]), text(&r["name"]), text(&r["region"]), detail]
}

async fn resources(
    client: &ApiClient,
    p: &str,
    out: Output,
    kind: &str,
    command: ResourceCommand,
) -> Result<(), CliError> {
    let headers = ["PROVIDER", "ID", "NAME", "REGION", "DETAIL"];
    let v = match command {
        ResourceCommand::List { region, tag, all } => {
            let query: Vec<String> = [("region", region), ("tag", tag)]
                .into_iter()
                .filter_map(|(k, v)| v.map(|v| format!("{k}={v}")))
                .collect();
            let base = if all { format!("/api/v1/{kind}") } else { format!("{p}/{kind}") };
            let path = if query.is_empty() { base } else { format!("{base}?{}", query.join("&")) };
            let v = client.call(Method::GET, &path, None).await?;
            print(out, &v, |v| {
                let rows: Vec<Vec<String>> = v["resources"]
                    .as_array()
                    .map(|l| l.iter().map(resource_row).collect())
                    .unwrap_or_default();
                table::render(&headers, &rows)
            });
            return Ok(());
        }
        ResourceCommand::Get { id } => {
            let v = client.call(Method::GET, &format!("{p}/{kind}/{id}"), None).await?;
            print(out, &v, |v| table::render(&headers, &[resource_row(v)]));
            return Ok(());
        }
        ResourceCommand::Members { id } => {
            let v = client.call(Method::GET, &format!("{p}/{kind}/{id}/members"), None).await?;
            print(out, &v, |v| {
                let rows: Vec<Vec<String>> = v["members"]
                    .as_array()
                    .map(|l| {
                        l.iter().map(|m| vec![text(&m["kind"]), text(&m["id"]), text(&m["name"])]).collect()
                    })
                    .unwrap_or_default();
                table::render(&["KIND", "ID", "NAME"], &rows)
            });
            return Ok(());
        }
        ResourceCommand::Create { fields: pairs } => {
            client.call(Method::POST, &format!("{p}/{kind}"), Some(&fields(&pairs)?)).await?
        }
        ResourceCommand::Delete { id } => {
            client.call(Method::DELETE, &format!("{p}/{kind}/{id}"), None).await?
        }
        ResourceCommand::Action { id, action, fields: pairs } => {
            let mut body = fields(&pairs)?;
            body["type"] = Value::String(action);
            client.call(Method::POST, &format!("{p}/{kind}/{id}/actions"), Some(&body)).await?
        }
    };
    // A change: its operation, waited for, and what it made or changed.
    let done = match v["operation_id"].as_str() {
        Some(id) => wait_for_operation(client, id).await?,
        None => json!({"state": "succeeded"}),
    };
    let answer = json!({ "answer": v, "operation": done });
    print(out, &answer, |a| {
        let resource = &a["answer"]["resource"];
        let made = if resource.is_object() { format!(" {}", text(&resource["id"])) } else { String::new() };
        format!(
            "{}{made}: operation {} {}",
            kind,
            text(&a["operation"]["id"]),
            text(&a["operation"]["state"])
        )
    });
    if done["state"] == "failed" {
        return Err(CliError::Other(format!("the operation failed: {}", text(&done["error"]["message"]))));
    }
    Ok(())
}

/// Follows an operation until it ends (at most five minutes).
async fn wait_for_operation(client: &ApiClient, id: &str) -> Result<Value, CliError> {
    let started = Instant::now();
    loop {
        let op = client.call(Method::GET, &format!("/api/v1/operations/{id}"), None).await?;
        if matches!(op["state"].as_str(), Some("succeeded" | "failed"))
            || started.elapsed() > Duration::from_secs(300)
        {
            return Ok(op);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn waste(
    client: &ApiClient,
    out: Output,
    account: Option<String>,
    kind: Option<String>,
) -> Result<(), CliError> {
    let query: Vec<String> = [("account", account), ("kind", kind)]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| format!("{k}={v}")))
        .collect();
    let path = if query.is_empty() {
        "/api/v1/costs/waste".to_owned()
    } else {
        format!("/api/v1/costs/waste?{}", query.join("&"))
    };
    let v = client.call(Method::GET, &path, None).await?;
    print(out, &v, |v| {
        let rows: Vec<Vec<String>> = v["items"]
            .as_array()
            .map(|l| {
                l.iter()
                    .map(|i| {
                        vec![
                            text(&i["account"]),
                            text(&i["kind"]),
                            text(&i["id"]),
                            text(&i["name"]),
                            text(&i["age_days"]),
                            format!("{} {}", cents(&i["monthly_cost"]), text(&i["currency"])),
                            text(&i["reason"]),
                        ]
                    })
                    .collect()
            })
            .unwrap_or_default();
        let totals: Vec<String> = v["totals"]
            .as_array()
            .map(|l| {
                l.iter().map(|t| format!("{} {}", cents(&t["monthly_cost"]), text(&t["currency"]))).collect()
            })
            .unwrap_or_default();
        format!(
            "{}\ntotal a month: {}",
            table::render(&["ACCOUNT", "KIND", "ID", "NAME", "AGE (DAYS)", "A MONTH", "WHY"], &rows),
            if totals.is_empty() { "0.00".to_owned() } else { totals.join(", ") }
        )
    });
    Ok(())
}

async fn cost_estimate(client: &ApiClient, p: &str, out: Output, args: CostArgs) -> Result<(), CliError> {
    let mut body = json!({ "instance_type": args.instance_type, "duration": args.duration });
    for (key, value) in [("region", args.region), ("backups", args.backups), ("start", args.start)] {
        if let Some(value) = value {
            body[key] = json!(value);
        }
    }
    if let Some(count) = args.count {
        body["count"] = json!(count);
    }
    let v = client.call(Method::POST, &format!("{p}/cost-estimate"), Some(&body)).await?;
    print(out, &v, |v| {
        let mut lines = vec![
            format!(
                "{} x {} in {} for {}: {} {}",
                text(&v["count"]),
                text(&v["instance_type"]),
                text(&v["region"]),
                text(&v["duration"]),
                text(&v["total"]),
                text(&v["currency"])
            ),
            format!(
                "  price: ${}/hour, ${}/month; billed {} s per instance",
                text(&v["price_hourly"]),
                text(&v["price_monthly"]),
                text(&v["billed_seconds"])
            ),
        ];
        if let Some(months) = v["breakdown"].as_array().filter(|m| m.len() > 1) {
            for m in months {
                lines.push(format!("  {}: {}", text(&m["month"]), cents(&m["subtotal"])));
            }
        }
        lines.push("  assumptions:".to_owned());
        if let Some(list) = v["assumptions"].as_array() {
            lines.extend(list.iter().map(|a| format!("  - {}", text(a))));
        }
        lines.join("\n")
    });
    Ok(())
}

async fn instances(
    client: &ApiClient,
    p: &str,
    out: Output,
    command: InstancesCommand,
) -> Result<(), CliError> {
    let power = |id: String, action: &'static str| (id, action);
    let (id, action) = match command {
        InstancesCommand::List { region, status, tag, name } => {
            let query: Vec<String> = [("region", region), ("status", status), ("tag", tag), ("name", name)]
                .into_iter()
                .filter_map(|(k, v)| v.map(|v| format!("{k}={v}")))
                .collect();
            let path = if query.is_empty() {
                format!("{p}/instances")
            } else {
                format!("{p}/instances?{}", query.join("&"))
            };
            let v = client.call(Method::GET, &path, None).await?;
            print(out, &v, |v| {
                instance_table(v["instances"].as_array().map(Vec::as_slice).unwrap_or_default())
            });
            return Ok(());
        }
        InstancesCommand::Get { id } => {
            let v = client.call(Method::GET, &format!("{p}/instances/{id}"), None).await?;
            print(out, &v, |v| instance_table(std::slice::from_ref(v)));
            return Ok(());
        }
        InstancesCommand::Delete { id } => {
            client.call(Method::DELETE, &format!("{p}/instances/{id}"), None).await?;
            match out {
                Output::Json => println!("{}", json!({ "deleted": id })),
                Output::Table => println!("deleted {id}"),
            }
            return Ok(());
        }
        InstancesCommand::Create(args) => return create(client, p, out, args).await,
        InstancesCommand::PowerOn { id } => power(id, "power_on"),
        InstancesCommand::PowerOff { id } => power(id, "power_off"),
        InstancesCommand::Shutdown { id } => power(id, "shutdown"),
        InstancesCommand::Reboot { id } => power(id, "reboot"),
    };
    let v = client
        .call(Method::POST, &format!("{p}/instances/{id}/actions"), Some(&json!({ "type": action })))
        .await?;
    print(out, &v, |v| {
        format!(
            "{} on {}: {} (action {})",
            action,
            id,
            text(&v["action"]["status"]),
            text(&v["action"]["id"])
        )
    });
    Ok(())
}

async fn create(client: &ApiClient, p: &str, out: Output, args: CreateArgs) -> Result<(), CliError> {
    let mut body = json!({
        "name": args.name,
        "type": args.instance_type,
        "image_id": args.image,
        "count": args.count,
        "tags": args.tags,
        "ssh_keys": args.ssh_keys,
        "backups": args.backups,
        "ipv6": args.ipv6,
    });
    if let Some(region) = args.region {
        body["region"] = json!(region);
    }
    if let Some(file) = args.user_data_file {
        let data = std::fs::read_to_string(&file)
            .map_err(|e| CliError::Other(format!("cannot read {}: {e}", file.display())))?;
        body["user_data"] = json!(data);
    }
    let created = client.call(Method::POST, &format!("{p}/instances"), Some(&body)).await?;
    let mut instances: Vec<Value> = match created["instances"].as_array() {
        Some(list) => list.clone(),
        None => vec![created.clone()],
    };
    if args.wait {
        instances = wait_until_running(client, p, instances, Duration::from_secs(args.timeout)).await?;
    }
    let result = json!({ "instances": instances, "operation_id": created["operation_id"] });
    print(out, &result, |v| instance_table(v["instances"].as_array().map(Vec::as_slice).unwrap_or_default()));
    Ok(())
}

/// Polls every instance until it runs, drawing progress on stderr.
async fn wait_until_running(
    client: &ApiClient,
    p: &str,
    mut instances: Vec<Value>,
    timeout: Duration,
) -> Result<Vec<Value>, CliError> {
    let started = Instant::now();
    let spinner = ['|', '/', '-', '\\'];
    let mut tick = 0usize;
    loop {
        let running = instances.iter().filter(|i| i["status"] == "running").count();
        eprint!(
            "\r{} waiting for {} instance(s): {running}/{} running ({}s)",
            spinner[tick % spinner.len()],
            instances.len(),
            instances.len(),
            started.elapsed().as_secs()
        );
        let _ = std::io::stderr().flush();
        if running == instances.len() {
            eprintln!();
            return Ok(instances);
        }
        if started.elapsed() > timeout {
            eprintln!();
            return Err(CliError::Other(format!(
                "gave up after {} s: {running} of {} instance(s) running",
                timeout.as_secs(),
                instances.len()
            )));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
        tick += 1;
        for instance in instances.iter_mut().filter(|i| i["status"] != "running") {
            let id = text(&instance["id"]);
            *instance = client.call(Method::GET, &format!("{p}/instances/{id}"), None).await?;
        }
    }
}

fn operation_table(operations: &[Value]) -> String {
    let rows: Vec<Vec<String>> = operations
        .iter()
        .map(|o| {
            ["id", "provider", "kind", "state", "attempts", "created_at"]
                .iter()
                .map(|k| text(&o[*k]))
                .collect()
        })
        .collect();
    table::render(&["ID", "PROVIDER", "KIND", "STATE", "ATTEMPTS", "CREATED"], &rows)
}

async fn operations(client: &ApiClient, out: Output, command: OperationsCommand) -> Result<(), CliError> {
    match command {
        OperationsCommand::List { state, limit } => {
            let mut path = format!("/api/v1/operations?limit={limit}");
            if let Some(state) = state {
                path.push_str(&format!("&state={state}"));
            }
            let v = client.call(Method::GET, &path, None).await?;
            print(out, &v, |v| {
                operation_table(v["operations"].as_array().map(Vec::as_slice).unwrap_or_default())
            });
            Ok(())
        }
        OperationsCommand::Get { id } => {
            let v = client.call(Method::GET, &format!("/api/v1/operations/{id}"), None).await?;
            print(out, &v, |v| operation_table(std::slice::from_ref(v)));
            Ok(())
        }
        OperationsCommand::Wait { id, timeout } => {
            let started = Instant::now();
            loop {
                let v = client.call(Method::GET, &format!("/api/v1/operations/{id}"), None).await?;
                match v["state"].as_str() {
                    Some("succeeded") => {
                        print(out, &v, |v| operation_table(std::slice::from_ref(v)));
                        return Ok(());
                    }
                    Some("failed") => {
                        print(out, &v, |v| operation_table(std::slice::from_ref(v)));
                        return Err(CliError::Other(format!("operation {id} failed: {}", text(&v["error"]))));
                    }
                    _ if started.elapsed() > Duration::from_secs(timeout) => {
                        return Err(CliError::Other(format!(
                            "gave up after {timeout} s: operation {id} is still {}",
                            text(&v["state"])
                        )));
                    }
                    _ => tokio::time::sleep(Duration::from_millis(250)).await,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_is_shown_to_the_cent() {
        assert_eq!(round_to_cents("0.6213791666666666666666666666"), "0.62");
        assert_eq!(round_to_cents("9.645"), "9.65", "half away from zero");
        assert_eq!(round_to_cents("6"), "6.00");
        assert_eq!(round_to_cents("0.994"), "0.99");
        assert_eq!(round_to_cents("0.995"), "1.00");
        assert_eq!(round_to_cents("-0.004"), "0.00");
        assert_eq!(cents(&json!("n/a")), "n/a");
        assert_eq!(cents(&json!("1e5")), "1e5");
        assert_eq!(cents(&json!("2026.5")), "2026.50");
    }
}
