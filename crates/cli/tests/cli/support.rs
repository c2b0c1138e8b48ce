//! Running `nephele serve` as a child process against an in-process simulator.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use dosim::{Limits, RunningSim, SimConfig, Simulator};
use serde_json::Value;

pub const DO_TOKEN: &str = "dop_v1_processtest";

pub async fn simulator(transition: Duration) -> RunningSim {
    nephele_digitalocean::install_crypto_provider();
    Simulator::new(SimConfig {
        tokens: vec![DO_TOKEN.to_owned()],
        transition,
        droplets: 0,
        // The SSH-key list keeps DigitalOcean's own limit (10 a minute): the client holds only
        // that list past it, and the inventory keeps its last copy (issue 21).
        limits: Limits { per_minute: 1_000_000, per_hour: 1_000_000, ..Limits::default() },
        ..SimConfig::default()
    })
    .bind(([127, 0, 0, 1], 0).into())
    .await
    .expect("dosim")
}

/// Writes a config for a server that requires API keys, against `sim`, on `database_url`.
pub fn write_config(dir: &Path, sim: &RunningSim, database_url: &str, lease_secs: u64) -> PathBuf {
    let path = dir.join("config.yaml");
    let yaml = format!(
        "server:\n  listen: 127.0.0.1:0\nproviders:\n  digitalocean:\n    api_token: {DO_TOKEN}\n    region: nyc1\n    base_url: {base}\n    rate_limit_per_minute: 100000\n    rate_limit_per_hour: 1000000\n    call_deadline_secs: 3\n    request_timeout_secs: 2\ndatabase:\n  url: {database_url}\nauth:\n  required: true\noperations:\n  poll_interval_ms: 100\n  lease_secs: {lease_secs}\n",
        base = sim.base_url()
    );
    std::fs::write(&path, yaml).expect("write config");
    path
}

/// `nephele keys create --role ROLE --config CONFIG -o json`, returning the key.
pub fn make_key(config: &Path, role: &str) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_nephele"))
        .args(["keys", "create", "--role", role, "-o", "json", "--config"])
        .arg(config)
        .output()
        .expect("run nephele keys create");
    assert!(output.status.success(), "keys create: {}", String::from_utf8_lossy(&output.stderr));
    let issued: Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(issued["role"], role);
    issued["key"].as_str().expect("key").to_owned()
}

/// A `nephele serve` child process.
pub struct Server {
    pub child: Child,
    pub url: String,
}

impl Server {
    pub fn start(config: &Path, log: &Path) -> Self {
        Self::start_with(config, log, &[], "warn")
    }

    /// As [`Server::start`], with more arguments for `nephele serve` and this `RUST_LOG`.
    pub fn start_with(config: &Path, log: &Path, args: &[&str], rust_log: &str) -> Self {
        let log = std::fs::File::create(log).expect("log file");
        // Into the guard at once: its Drop kills and reaps the child on every path.
        let mut server = Self {
            child: Command::new(env!("CARGO_BIN_EXE_nephele"))
                .args(["serve", "--config"])
                .arg(config)
                .args(args)
                .env_remove("DIGITALOCEAN_TOKEN")
                .env("RUST_LOG", rust_log)
                .stdout(Stdio::piped())
                .stderr(log)
                .spawn()
                .expect("start nephele serve"),
            url: String::new(),
        };
        let mut reader = BufReader::new(server.child.stdout.take().expect("stdout"));
        let mut line = String::new();
        loop {
            line.clear();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                panic!("nephele serve exited before listening");
            }
            if let Some(url) = line.trim().strip_prefix("nephele listening on ") {
                server.url = url.to_owned();
                // Keep draining stdout so the child never blocks on a full pipe.
                std::thread::spawn(move || for _ in reader.lines() {});
                return server;
            }
        }
    }

    /// SIGINT, as Ctrl-C: the server stops cleanly. Waits up to 30 s for it to exit.
    pub fn stop(self) -> std::process::ExitStatus {
        self.signal("INT")
    }

    /// SIGTERM, as systemd and Kubernetes send it: the server stops cleanly. Waits up to 30 s.
    pub fn terminate(self) -> std::process::ExitStatus {
        self.signal("TERM")
    }

    fn signal(mut self, name: &str) -> std::process::ExitStatus {
        let _ = Command::new("kill").args([&format!("-{name}"), &self.child.id().to_string()]).status();
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status;
            }
            assert!(started.elapsed() < Duration::from_secs(30), "nephele serve did not stop on SIG{name}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL: no shutdown, no flushing, nothing.
    pub fn kill_hard(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every droplet in the simulator, by reading its API like any client.
pub async fn all_droplets(http: &reqwest::Client, sim: &RunningSim) -> Vec<Value> {
    let mut droplets = Vec::new();
    for page in 1.. {
        let body: Value = http
            .get(format!("{}/v2/droplets?per_page=200&page={page}", sim.base_url()))
            .bearer_auth(DO_TOKEN)
            .send()
            .await
            .expect("list droplets")
            .json()
            .await
            .expect("json");
        let items = body["droplets"].as_array().cloned().unwrap_or_default();
        let done = items.len() < 200;
        droplets.extend(items);
        if done {
            break;
        }
    }
    droplets
}

/// The operation a droplet was made for, from its `nephele-req-<id>` tag.
pub fn operation_of(droplet: &Value) -> Option<String> {
    droplet["tags"]
        .as_array()?
        .iter()
        .filter_map(Value::as_str)
        .find_map(|t| t.strip_prefix("nephele-req-"))
        .map(str::to_owned)
}

/// `GET /api/v1/operations?QUERY`, as a list.
pub async fn operations(http: &reqwest::Client, url: &str, key: &str, query: &str) -> Vec<Value> {
    let body: Value = http
        .get(format!("{url}/api/v1/operations?{query}"))
        .bearer_auth(key)
        .send()
        .await
        .expect("operations")
        .json()
        .await
        .expect("json");
    body["operations"].as_array().cloned().unwrap_or_default()
}

/// Waits until the server reports no pending or running operation.
pub async fn wait_until_settled(http: &reqwest::Client, url: &str, key: &str, within: Duration) {
    let started = Instant::now();
    loop {
        let mut unfinished = 0;
        for state in ["pending", "running"] {
            unfinished += operations(http, url, key, &format!("state={state}")).await.len();
        }
        if unfinished == 0 {
            return;
        }
        assert!(started.elapsed() < within, "{unfinished} operations still unfinished after {within:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The repository's root (for the example plugins).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("repo root")
}

/// `nephele-provider-digitalocean`, built beside the `nephele` binary (`make plugins`).
pub fn digitalocean_plugin() -> PathBuf {
    let path = Path::new(env!("CARGO_BIN_EXE_nephele")).with_file_name("nephele-provider-digitalocean");
    assert!(path.is_file(), "{} is missing: `make plugins` builds it", path.display());
    path
}

/// The Python example plugin (its packages and stubs come from `make python-plugin`).
pub fn python_plugin() -> PathBuf {
    let path = repo_root().join("examples/plugins/inventory/nephele-provider-inventory");
    let stubs = repo_root().join("examples/plugins/inventory/generated/nephele/provider/v1/provider_pb2.py");
    assert!(stubs.is_file(), "{} is missing: `make python-plugin` generates it", stubs.display());
    path
}

/// The Python example with exactly-once creation removed.
pub fn broken_plugin() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/broken-plugin/nephele-provider-broken")
}

/// `nephele ARGS`, waited for, with its stdout as text.
pub fn nephele(args: &[&str]) -> (std::process::ExitStatus, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_nephele"))
        .args(args)
        .env_remove("DIGITALOCEAN_TOKEN")
        .env("RUST_LOG", "warn")
        .output()
        .expect("run nephele");
    (
        output.status,
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// The processes whose parent is `parent` and whose command name starts with `name`.
pub fn children_named(parent: u32, name: &str) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        // pid (comm) state ppid ...
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else { continue };
        let comm = &stat[open + 1..close];
        let ppid = stat[close + 1..].split_whitespace().nth(1).and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(parent) && comm.starts_with(name) {
            found.push(pid);
        }
    }
    found
}
