//! A measurement of many AWS accounts (plugin processes) against moto: resident memory of the
//! server and its plugins with 20 accounts against one.

use std::time::{Duration, Instant};

use super::moto::{Moto, aws_plugin};
use crate::support::Server;

/// Resident memory of a process, in KiB (0 when it is gone).
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// A server with `accounts` AWS accounts on `moto`: milliseconds to `/readyz` green, the
/// server's resident memory and its plugins' together, in KiB.
async fn serve(moto: &Moto, accounts: usize) -> (u128, u64, u64) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut yaml = format!(
        "server:\n  listen: 127.0.0.1:0\n  readiness_interval_secs: 1\ndatabase:\n  url: sqlite://{}/n.db\nauth:\n  required: false\nproviders:\n",
        dir.path().display()
    );
    for i in 0..accounts {
        let name = if i == 0 { "aws".to_owned() } else { format!("aws-{i:02}") };
        yaml.push_str(&format!(
            "  {name}:\n    type: aws\n    plugin: {}\n    region: us-east-1\n    regions: [us-east-1]\n    access_key_id: testing\n    secret_access_key: testing\n    endpoint_url: {}\n",
            aws_plugin().display(),
            moto.url
        ));
    }
    let config = dir.path().join("config.yaml");
    std::fs::write(&config, yaml).expect("config");
    let started = Instant::now();
    let server = Server::start(&config, &dir.path().join("serve.log"));
    let http = reqwest::Client::new();
    while !http.get(format!("{}/readyz", server.url)).send().await.is_ok_and(|r| r.status() == 200) {
        if started.elapsed() > Duration::from_secs(120) {
            let why = http.get(format!("{}/readyz", server.url)).send().await.ok();
            let why = match why {
                Some(r) => r.text().await.unwrap_or_default(),
                None => String::new(),
            };
            panic!("never ready: {why}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let took = started.elapsed().as_millis();
    let pid = server.child.id();
    let plugins = crate::support::children_named(pid, "nephele-provid");
    assert_eq!(plugins.len(), accounts, "one plugin process per account");
    (took, rss_kib(pid), plugins.iter().map(|p| rss_kib(*p)).sum())
}

/// `cargo nextest run -p nephele --test cli --run-ignored only twenty --no-capture`
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement of 20 AWS accounts; run on purpose"]
async fn twenty_aws_accounts_memory() {
    nephele_digitalocean::install_crypto_provider();
    let moto = Moto::start();
    let (one_ms, one_server, one_plugins) = serve(&moto, 1).await;
    let (twenty_ms, server, plugins) = serve(&moto, 20).await;
    let mib = |kib: u64| kib as f64 / 1024.0;
    eprintln!(
        "1 AWS account: ready in {one_ms} ms, server {:.1} MiB + plugin {:.1} MiB; 20: ready in {twenty_ms} ms, server {:.1} MiB + plugins {:.1} MiB (+{:.1} MiB in all)",
        mib(one_server),
        mib(one_plugins),
        mib(server),
        mib(plugins),
        mib((server + plugins).saturating_sub(one_server + one_plugins))
    );
}
