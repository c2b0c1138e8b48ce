//! `nephele costs history ...` and `nephele budgets ...`: the spend API from the command line.
//! Money is shown as the server gives it (decimal strings to the cent), never through a float.

use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::{Value, json};

use crate::args::Output;
use crate::client::{ApiClient, CliError};
use crate::table;

/// `nephele costs ...`
#[derive(Subcommand, Debug)]
pub enum CostsCommand {
    /// What the fleet has cost per hour, day or month, grouped, from the recorded history.
    History(HistoryArgs),
}

#[derive(Args, Debug)]
pub struct HistoryArgs {
    /// RFC 3339 time or date (default: the start of this month).
    #[arg(long)]
    pub from: Option<String>,
    /// RFC 3339 time or date, exclusive (default: now).
    #[arg(long)]
    pub to: Option<String>,
    /// hour, day or month.
    #[arg(long, default_value = "day")]
    pub step: String,
    /// account, provider, region, type, kind or tag:<key>.
    #[arg(long, default_value = "account")]
    pub group_by: String,
}

/// `nephele budgets ...`
#[derive(Subcommand, Debug)]
pub enum BudgetsCommand {
    /// Budgets with their figures and thresholds' states.
    List,
    /// One budget, with its latest alerts.
    Show { id: String },
    /// Make a budget (admin).
    Create(BudgetArgs),
    /// Change some of a budget's fields (admin).
    Update {
        id: String,
        #[command(flatten)]
        fields: BudgetArgs,
    },
    /// Delete a budget (admin).
    Delete { id: String },
}

#[derive(Args, Debug)]
pub struct BudgetArgs {
    #[arg(long)]
    pub name: Option<String>,
    /// A decimal amount (`500.00`).
    #[arg(long)]
    pub amount: Option<String>,
    #[arg(long)]
    pub currency: Option<String>,
    /// month, quarter or year.
    #[arg(long)]
    pub period: Option<String>,
    /// `80%:forecast`, `400:actual`, ... (repeat for several).
    #[arg(long = "threshold")]
    pub thresholds: Vec<String>,
    /// none, warn or block.
    #[arg(long)]
    pub enforce: Option<String>,
    /// Accounts in scope (repeat).
    #[arg(long = "account")]
    pub accounts: Vec<String>,
    #[arg(long = "scope-provider")]
    pub providers: Vec<String>,
    #[arg(long = "region")]
    pub regions: Vec<String>,
    #[arg(long = "kind")]
    pub kinds: Vec<String>,
    /// Tags a resource must carry (repeat).
    #[arg(long = "tag")]
    pub tags: Vec<String>,
}

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

/// A query string of the pairs given, percent-encoded.
fn query(pairs: &[(&str, Option<&str>)]) -> String {
    let encode = |raw: &str| -> String {
        raw.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                    char::from(b).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect()
    };
    pairs.iter().filter_map(|(k, v)| v.map(|v| format!("{k}={}", encode(v)))).collect::<Vec<_>>().join("&")
}

pub async fn costs(client: &ApiClient, out: Output, command: CostsCommand) -> Result<(), CliError> {
    match command {
        CostsCommand::History(args) => {
            let q = query(&[
                ("from", args.from.as_deref()),
                ("to", args.to.as_deref()),
                ("step", Some(&args.step)),
                ("group_by", Some(&args.group_by)),
            ]);
            let v = client.call(Method::GET, &format!("/api/v1/costs/history?{q}"), None).await?;
            print(out, &v, |v| {
                let rows: Vec<Vec<String>> = v["rows"]
                    .as_array()
                    .map(|l| {
                        l.iter()
                            .map(|r| {
                                vec![
                                    text(&r["start"]),
                                    text(&r["group"]),
                                    format!("{} {}", text(&r["amount"]), text(&r["currency"])),
                                    if r["estimated"] == true {
                                        text(&r["estimated_amount"])
                                    } else {
                                        String::new()
                                    },
                                ]
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                table::render(&["FROM", "GROUP", "COST", "ESTIMATED"], &rows)
            });
            Ok(())
        }
    }
}

/// A threshold as the command line writes it: `80%:forecast`, `400:actual` (basis default forecast).
fn threshold(raw: &str) -> Result<Value, CliError> {
    let (at, basis) = raw.rsplit_once(':').unwrap_or((raw, "forecast"));
    if !matches!(basis, "actual" | "forecast") {
        return Err(CliError::Other(format!("--threshold {raw}: the basis after `:` is actual or forecast")));
    }
    Ok(json!({"at": at, "basis": basis}))
}

fn body(args: BudgetArgs) -> Result<Value, CliError> {
    let mut body = serde_json::Map::new();
    for (key, value) in [
        ("name", args.name),
        ("amount", args.amount),
        ("currency", args.currency),
        ("period", args.period),
        ("enforce", args.enforce),
    ] {
        if let Some(v) = value {
            body.insert(key.to_owned(), Value::String(v));
        }
    }
    if !args.thresholds.is_empty() {
        let list = args.thresholds.iter().map(|t| threshold(t)).collect::<Result<Vec<_>, _>>()?;
        body.insert("thresholds".to_owned(), Value::Array(list));
    }
    let scoped = [&args.accounts, &args.providers, &args.regions, &args.kinds, &args.tags];
    if scoped.iter().any(|l| !l.is_empty()) {
        body.insert(
            "scope".to_owned(),
            json!({"accounts": args.accounts, "providers": args.providers, "regions": args.regions, "kinds": args.kinds, "tags": args.tags}),
        );
    }
    Ok(Value::Object(body))
}

fn budget_rows(list: &[Value]) -> Vec<Vec<String>> {
    list.iter()
        .map(|b| {
            let alarms = b["thresholds"]
                .as_array()
                .map(|t| {
                    t.iter()
                        .map(|t| format!("{} {} {}", text(&t["at"]), text(&t["basis"]), text(&t["state"])))
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default();
            vec![
                text(&b["id"]),
                text(&b["name"]),
                text(&b["figures"]["period"]),
                format!("{} {}", text(&b["amount"]), text(&b["currency"])),
                text(&b["figures"]["spent"]),
                text(&b["figures"]["forecast"]),
                text(&b["enforce"]),
                alarms,
            ]
        })
        .collect()
}

const HEADERS: [&str; 8] = ["ID", "NAME", "PERIOD", "AMOUNT", "SPENT", "FORECAST", "ENFORCE", "THRESHOLDS"];

pub async fn budgets(client: &ApiClient, out: Output, command: BudgetsCommand) -> Result<(), CliError> {
    match command {
        BudgetsCommand::List => {
            let v = client.call(Method::GET, "/api/v1/budgets", None).await?;
            print(out, &v, |v| {
                table::render(&HEADERS, &budget_rows(v["budgets"].as_array().map_or(&[], |l| l)))
            });
        }
        BudgetsCommand::Show { id } => {
            let v = client.call(Method::GET, &format!("/api/v1/budgets/{id}"), None).await?;
            print(out, &v, |v| {
                let mut shown = table::render(&HEADERS, &budget_rows(std::slice::from_ref(v)));
                let alerts: Vec<Vec<String>> = v["alerts"]
                    .as_array()
                    .map(|l| {
                        l.iter()
                            .map(|a| vec![text(&a["at"]), text(&a["event"]), text(&a["period"])])
                            .collect()
                    })
                    .unwrap_or_default();
                if !alerts.is_empty() {
                    shown.push_str("\n\n");
                    shown.push_str(&table::render(&["AT", "EVENT", "PERIOD"], &alerts));
                }
                shown.push_str(&format!("\n\n{}", text(&v["figures"]["forecast_method"])));
                shown
            });
        }
        BudgetsCommand::Create(args) => {
            let v = client.call(Method::POST, "/api/v1/budgets", Some(&body(args)?)).await?;
            print(out, &v, |v| table::render(&HEADERS, &budget_rows(std::slice::from_ref(v))));
        }
        BudgetsCommand::Update { id, fields } => {
            let v =
                client.call(Method::PATCH, &format!("/api/v1/budgets/{id}"), Some(&body(fields)?)).await?;
            print(out, &v, |v| table::render(&HEADERS, &budget_rows(std::slice::from_ref(v))));
        }
        BudgetsCommand::Delete { id } => {
            client.call(Method::DELETE, &format!("/api/v1/budgets/{id}"), None).await?;
            if matches!(out, Output::Table) {
                println!("budget {id} deleted");
            }
        }
    }
    Ok(())
}
