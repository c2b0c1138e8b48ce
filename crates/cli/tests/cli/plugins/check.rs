//! `nephele plugin check` against the two real plugins, and against a broken one.

use std::time::Duration;

use dosim::{Limits, SimConfig, Simulator};

use crate::support::{DO_TOKEN, broken_plugin, digitalocean_plugin, nephele, python_plugin};

fn inventory_config(dir: &std::path::Path, plugin: &std::path::Path) -> std::path::PathBuf {
    let config = dir.join("config.yaml");
    let yaml = format!(
        "providers:\n  inventory:\n    plugin: {}\n    inventory_file: {}\n",
        plugin.display(),
        dir.join("inventory.json").display()
    );
    std::fs::write(&config, yaml).expect("write config");
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_digitalocean_plugin_passes_with_a_ten_thousand_droplet_list() {
    nephele_digitalocean::install_crypto_provider();
    let sim = Simulator::new(SimConfig {
        tokens: vec![DO_TOKEN.to_owned()],
        transition: Duration::from_millis(100),
        droplets: 10_000,
        limits: Limits { per_minute: 1_000_000, per_hour: 1_000_000, ..Limits::default() },
        ..SimConfig::default()
    })
    .bind(([127, 0, 0, 1], 0).into())
    .await
    .expect("dosim");
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("config.yaml");
    let yaml = format!(
        "providers:\n  digitalocean:\n    plugin: nephele-provider-digitalocean\n    api_token: {DO_TOKEN}\n    base_url: {}\n    region: nyc1\n    rate_limit_per_minute: 100000\n    rate_limit_per_hour: 1000000\n",
        sim.base_url()
    );
    std::fs::write(&config, yaml).expect("write config");
    let plugin = digitalocean_plugin().display().to_string();
    let config = config.display().to_string();
    let (status, out, err) = tokio::task::spawn_blocking(move || {
        nephele(&["plugin", "check", &plugin, "--config", &config, "--min-list", "10000"])
    })
    .await
    .expect("join");
    assert!(status.success(), "{out}\n{err}");
    assert!(out.contains("list of every instance: 10000 instances"), "{out}");
    assert!(out.contains("create repeated with one operation id makes one instance"), "{out}");
    assert!(!out.contains("FAIL"), "{out}");
}

#[test]
fn the_python_example_passes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let plugin = python_plugin();
    let config = inventory_config(dir.path(), &plugin);
    let (status, out, err) = nephele(&[
        "plugin",
        "check",
        plugin.to_str().expect("utf-8"),
        "--config",
        config.to_str().expect("utf-8"),
    ]);
    assert!(status.success(), "{out}\n{err}");
    // 21, and six resource kinds it does not declare, each answering not_supported.
    assert!(out.contains("27 checks passed"), "{out}");
}

#[test]
fn a_plugin_that_creates_twice_fails_with_a_clear_message() {
    let dir = tempfile::tempdir().expect("temp dir");
    let plugin = broken_plugin();
    let config = inventory_config(dir.path(), &plugin);
    let (status, out, _) = nephele(&[
        "plugin",
        "check",
        plugin.to_str().expect("utf-8"),
        "--config",
        config.to_str().expect("utf-8"),
        "--provider",
        "inventory",
    ]);
    assert_eq!(status.code(), Some(1), "{out}");
    assert!(
        out.contains("FAIL  create repeated with one operation id makes one instance: the same operation id made more than one instance"),
        "{out}"
    );
    // What it made was cleaned up.
    let left: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("inventory.json")).expect("inventory"))
            .expect("json");
    assert_eq!(left["instances"].as_array().map(Vec::len), Some(0), "{left}");
}

#[test]
fn a_program_that_is_not_a_plugin_is_refused_by_name() {
    let (status, out, _) = nephele(&["plugin", "check", "/bin/echo"]);
    assert_eq!(status.code(), Some(1), "{out}");
    assert!(out.contains("FAIL  handshake, health SERVING, Configure: "), "{out}");
    assert!(out.contains("malformed handshake line"), "{out}");
}
