//! `dosim --listen 127.0.0.1:PORT`: the DigitalOcean API simulator as a process.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use std::collections::BTreeMap;
use std::str::FromStr;

use clap::Parser;
use dosim::{AccountSpec, Faults, Fixtures, Limits, SimConfig, Simulator};
use rust_decimal::Decimal;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// A stateful simulator of DigitalOcean's API v2.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Address to listen on (port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:8090")]
    listen: SocketAddr,
    /// A bearer token of the default account (repeat for several: they share its droplets but
    /// each has its own rate-limit windows). Defaults to `dosim-token` unless `--account` is given.
    #[arg(long = "token")]
    tokens: Vec<String>,
    /// A further account, `NAME:TOKEN[:DROPLETS]` (repeatable): its own droplets, ids, actions,
    /// resources and rate-limit windows, invisible to every other account's tokens.
    #[arg(long = "account", value_parser = AccountSpec::parse)]
    accounts: Vec<AccountSpec>,
    /// Start on a simulated clock standing at this RFC 3339 time (e.g. `2026-03-01T00:00:00Z`);
    /// it moves only through `/_sim/clock`. Without it, the real UTC clock.
    #[arg(long, value_parser = parse_clock)]
    clock: Option<OffsetDateTime>,
    /// An account's `account_balance` in USD, `NAME=AMOUNT` (repeatable; the default account is
    /// `default`). Accounts not named start at 0.00.
    #[arg(long = "account-balance", value_parser = parse_balance)]
    account_balances: Vec<(String, Decimal)>,
    /// Milliseconds a droplet takes to boot and a power action to complete (real time, whatever
    /// the clock).
    #[arg(long, default_value_t = 1000)]
    boot_ms: u64,
    /// Droplets of the default account, created already active before serving.
    #[arg(long, default_value_t = 0)]
    droplets: usize,
    /// Volumes to create in every account before serving (three in four attached to a droplet
    /// of their region while it has room, the rest attached to nothing).
    #[arg(long, default_value_t = 0)]
    volumes: usize,
    /// Snapshots to create in every account (half of droplets, half of volumes; one in five of
    /// a source that no longer exists).
    #[arg(long, default_value_t = 0)]
    snapshots: usize,
    /// Reserved IPs to create in every account (two in three assigned to a droplet of their
    /// region, while droplets last; the rest assigned to nothing).
    #[arg(long, default_value_t = 0)]
    reserved_ips: usize,
    /// Requests per token per sliding minute.
    #[arg(long, default_value_t = 250)]
    rate_per_minute: usize,
    /// Requests per token per sliding hour.
    #[arg(long, default_value_t = 5000)]
    rate_per_hour: usize,
    /// `GET /v2/account/keys` requests per token per sliding minute.
    #[arg(long, default_value_t = 10)]
    ssh_keys_rate_per_minute: usize,
    /// Milliseconds added to every response.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Fraction of requests answered 500/502/503.
    #[arg(long, default_value_t = 0.0)]
    error_rate: f64,
    /// Fraction of requests whose connection is closed after processing.
    #[arg(long, default_value_t = 0.0)]
    drop_rate: f64,
    /// Fraction of requests delayed by --slow-ms.
    #[arg(long, default_value_t = 0.0)]
    slow_rate: f64,
    #[arg(long, default_value_t = 0)]
    slow_ms: u64,
    /// Fraction of requests answered 429 regardless of the limits.
    #[arg(long, default_value_t = 0.0)]
    rate_limit_rate: f64,
}

fn parse_clock(text: &str) -> Result<OffsetDateTime, String> {
    OffsetDateTime::parse(text, &Rfc3339).map_err(|e| format!("expected an RFC 3339 time: {e}"))
}

fn parse_balance(text: &str) -> Result<(String, Decimal), String> {
    let (name, amount) = text.split_once('=').ok_or("expected NAME=AMOUNT")?;
    let amount = Decimal::from_str(amount).map_err(|e| format!("AMOUNT must be a decimal number: {e}"))?;
    Ok((name.to_owned(), amount))
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();
    let faults = Faults {
        error_rate: args.error_rate,
        drop_rate: args.drop_rate,
        latency_ms: args.latency_ms,
        slow_rate: args.slow_rate,
        slow_ms: args.slow_ms,
        rate_limit_rate: args.rate_limit_rate,
    };
    if let Err(problem) = faults.validate() {
        eprintln!("dosim: {problem}");
        std::process::exit(2);
    }
    let tokens = if args.tokens.is_empty() && args.accounts.is_empty() {
        vec!["dosim-token".to_owned()]
    } else {
        args.tokens
    };
    let config = SimConfig {
        tokens,
        accounts: args.accounts,
        fixtures: Fixtures {
            volumes: args.volumes,
            snapshots: args.snapshots,
            reserved_ips: args.reserved_ips,
        },
        transition: Duration::from_millis(args.boot_ms),
        droplets: args.droplets,
        limits: Limits {
            per_minute: args.rate_per_minute,
            per_hour: args.rate_per_hour,
            ssh_keys_per_minute: args.ssh_keys_rate_per_minute,
            ..Limits::default()
        },
        faults,
        clock: args.clock,
        account_balances: args.account_balances.into_iter().collect::<BTreeMap<_, _>>(),
    };
    if let Err(problem) = config.validate() {
        eprintln!("dosim: {problem}");
        std::process::exit(2);
    }
    let specs = config.account_specs();
    let droplets: usize = specs.iter().map(|a| a.droplets).sum();
    let accounts = match specs.len() {
        1 => String::new(),
        n => format!(" in {n} accounts"),
    };
    let started = Instant::now();
    let simulator = Simulator::new(config);
    let running = match simulator.bind(args.listen).await {
        Ok(running) => running,
        Err(e) => {
            eprintln!("dosim: cannot listen on {}: {e}", args.listen);
            std::process::exit(1);
        }
    };
    // Tests and scripts wait for this exact line to learn the port.
    println!(
        "dosim listening on {} ({droplets} droplets{accounts}, ready in {} ms)",
        running.addr(),
        started.elapsed().as_millis()
    );
    tokio::select! {
        _ = running.wait() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
