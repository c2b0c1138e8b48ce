//! The client commands: each calls the API and prints a table or the JSON.

use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use crate::args::{Command, CostArgs, CreateArgs, Global, InstancesCommand, Output};
use crate::client::{ApiClient, CliError};
use crate::table;

fn text(v: &Value) -> String {
    match v {
        Value::Null => "-".to_owned(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn print(output: Output, value: &Value, as_table: impl FnOnce(&Value) -> String) {
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
        Command::Instances(command) => instances(client, &p, out, command).await,
    }
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
                lines.push(format!("  {}: {}", text(&m["month"]), text(&m["subtotal"])));
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
