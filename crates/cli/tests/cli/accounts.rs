//! Accounts through the `nephele` binary as it runs in production: a credential added at runtime
//! appears nowhere in plain text (database, write-ahead log, text and JSON logs, answers,
//! `/metrics`, audit), and `nephele accounts` / `nephele secrets rotate` do what they say.

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use dosim::{AccountSpec, Limits, RunningSim, SimConfig, Simulator};
use serde_json::{Value, json};

use crate::support::{DO_TOKEN, Server, make_key};

/// The credential of known bytes the plaintext test looks for.
const CANARY: &str = "dop_v1_c4n4ry5ecret0123456789abcdef0123456789abcdef0123456789abcd";

async fn sim_with_canary_account() -> RunningSim {
    nephele_digitalocean::install_crypto_provider();
    Simulator::new(SimConfig {
        tokens: vec![DO_TOKEN.to_owned()],
        accounts: vec![AccountSpec {
            name: "canary".to_owned(),
            tokens: vec![CANARY.to_owned()],
            droplets: 2,
        }],
        transition: Duration::from_millis(100),
        limits: Limits { per_minute: 1_000_000, per_hour: 1_000_000, ..Limits::default() },
        ..SimConfig::default()
    })
    .bind(([127, 0, 0, 1], 0).into())
    .await
    .expect("dosim")
}

/// A config requiring keys, with a master key file, on SQLite in `dir`.
fn write_config(dir: &Path, sim: &RunningSim, key_file: &Path) -> PathBuf {
    let path = dir.join("config.yaml");
    let yaml = format!(
        "server:\n  listen: 127.0.0.1:0\nproviders:\n  digitalocean:\n    api_token: {DO_TOKEN}\n    region: nyc1\n    base_url: {base}\ndatabase:\n  url: sqlite://{db}\nauth:\n  required: true\noperations:\n  poll_interval_ms: 100\nsecrets:\n  master_key_file: {key}\n",
        base = sim.base_url(),
        db = dir.join("nephele.db").display(),
        key = key_file.display(),
    );
    std::fs::write(&path, yaml).expect("write config");
    path
}

fn write_key(path: &Path, byte: u8) {
    std::fs::write(path, base64::engine::general_purpose::STANDARD.encode([byte; 32])).expect("key file");
}

/// Every form of the canary a leak could take: as it is, base64 (each of the three alignments
/// a surrounding text could give it, standard and URL-safe), hex (lower and upper case).
fn forms() -> Vec<String> {
    let mut forms = vec![CANARY.to_owned()];
    for skip in 0..3 {
        for engine in [
            &base64::engine::general_purpose::STANDARD_NO_PAD,
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        ] {
            let encoded = engine.encode(&CANARY.as_bytes()[skip..]);
            // The inner part does not depend on what came before it.
            forms.push(encoded[4..encoded.len() - 4].to_owned());
        }
    }
    let hex: String = CANARY.bytes().map(|b| format!("{b:02x}")).collect();
    forms.push(hex.clone());
    forms.push(hex.to_uppercase());
    forms
}

/// The forms of the canary found in `bytes`.
fn leaks(bytes: &[u8]) -> Vec<String> {
    forms().into_iter().filter(|form| bytes.windows(form.len()).any(|w| w == form.as_bytes())).collect()
}

struct Client {
    http: reqwest::Client,
    url: String,
    key: String,
    /// Every answer seen, head and body.
    answers: Vec<u8>,
}

impl Client {
    async fn call(&mut self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.url)).bearer_auth(&self.key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("sent");
        let status = response.status().as_u16();
        for (name, value) in response.headers() {
            self.answers.extend_from_slice(name.as_str().as_bytes());
            self.answers.extend_from_slice(value.as_bytes());
        }
        let bytes = response.bytes().await.expect("body");
        self.answers.extend_from_slice(&bytes);
        (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }
}

/// What the database holds, on disk: the file and its write-ahead log.
fn database_bytes(dir: &Path) -> Vec<u8> {
    let mut all = Vec::new();
    for name in ["nephele.db", "nephele.db-wal"] {
        if let Ok(bytes) = std::fs::read(dir.join(name)) {
            all.extend(bytes);
        }
    }
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_credential_added_at_runtime_appears_nowhere_in_plain_text() {
    use reqwest::Method;
    // Arrange
    let sim = sim_with_canary_account().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let key_file = dir.path().join("master.key");
    write_key(&key_file, 7);
    let config = write_config(dir.path(), &sim, &key_file);
    let admin = make_key(&config, "admin");
    let (text_log, json_log) = (dir.path().join("text.log"), dir.path().join("json.log"));
    let server = Server::start_with(&config, &text_log, &[], "debug");
    let mut client =
        Client { http: reqwest::Client::new(), url: server.url.clone(), key: admin, answers: Vec::new() };
    let mut database = Vec::new();

    // Act: the lifecycle, first with text logs...
    let body = json!({"name": "do-canary", "type": "digitalocean", "settings": {"region": "nyc1", "base_url": sim.base_url()}, "credentials": {"api_token": CANARY}});
    assert_eq!(client.call(Method::POST, "/api/v1/providers", Some(body.clone())).await.0, 201);
    assert_eq!(client.call(Method::POST, "/api/v1/providers", Some(body)).await.0, 409);
    let wrong = json!({"credentials": {"api_token": format!("{CANARY}x")}});
    assert_eq!(client.call(Method::PATCH, "/api/v1/providers/do-canary", Some(wrong)).await.0, 422);
    let same = json!({"credentials": {"api_token": CANARY}});
    assert_eq!(client.call(Method::PATCH, "/api/v1/providers/do-canary", Some(same)).await.0, 200);
    let (status, listed) = client.call(Method::GET, "/api/v1/providers/do-canary/instances", None).await;
    assert_eq!((status, listed["instances"].as_array().map(Vec::len)), (200, Some(2)));
    let create =
        json!({"name": "canary-1", "type": "s-1vcpu-1gb", "region": "nyc1", "image_id": "ubuntu-24-04-x64"});
    assert_eq!(client.call(Method::POST, "/api/v1/providers/do-canary/instances", Some(create)).await.0, 202);
    for path in [
        "/api/v1/providers",
        "/api/v1/providers/do-canary",
        "/api/v1/instances",
        "/api/v1/costs",
        "/metrics",
        "/api/v1/operations",
        "/api/v1/audit",
    ] {
        assert_eq!(client.call(Method::GET, path, None).await.0, 200, "{path}");
    }
    database.extend(database_bytes(dir.path()));
    assert_eq!(server.terminate().code(), Some(0));
    database.extend(database_bytes(dir.path()));

    // ...then again from the store, with JSON logs, to its removal.
    let server = Server::start_with(&config, &json_log, &["--log-format", "json"], "debug");
    client.url = server.url.clone();
    let (status, listed) = client.call(Method::GET, "/api/v1/providers/do-canary/instances", None).await;
    assert_eq!((status, listed["instances"].as_array().map(Vec::len)), (200, Some(3)), "{listed}");
    for path in ["/api/v1/providers", "/metrics", "/api/v1/audit"] {
        assert_eq!(client.call(Method::GET, path, None).await.0, 200, "{path}");
    }
    let (status, _) = client.call(Method::DELETE, "/api/v1/providers/do-canary?force=true", None).await;
    assert_eq!(status, 204);
    assert_eq!(client.call(Method::GET, "/api/v1/audit", None).await.0, 200);
    database.extend(database_bytes(dir.path()));
    assert_eq!(server.terminate().code(), Some(0));
    database.extend(database_bytes(dir.path()));

    // Assert
    let (text, json_lines) =
        (std::fs::read(&text_log).expect("text log"), std::fs::read(&json_log).expect("json log"));
    assert!(text.len() > 1000 && json_lines.starts_with(b"{"), "the logs were written");
    assert!(!database.is_empty());
    for (place, bytes) in [
        ("the database and its WAL", &database),
        ("the text log", &text),
        ("the JSON log", &json_lines),
        ("the answers (audit and /metrics included)", &client.answers),
    ] {
        assert_eq!(leaks(bytes), Vec::<String>::new(), "the credential in plain text in {place}");
    }
    // The search would find it: the simulator's own record of it does.
    assert_eq!(leaks(CANARY.as_bytes()).len(), 1);
    assert!(!leaks(format!("x{}y", hex(CANARY)).as_bytes()).is_empty());
    assert!(
        !leaks(
            base64::engine::general_purpose::STANDARD
                .encode(format!("{{\"api_token\":\"{CANARY}\"}}"))
                .as_bytes()
        )
        .is_empty()
    );
}

fn hex(text: &str) -> String {
    text.bytes().map(|b| format!("{b:02x}")).collect()
}

/// `nephele` with `args`, `input` on standard input; its status, stdout and stderr.
fn nephele_with_input(args: &[&str], input: &str) -> (bool, String, String) {
    use std::io::Write;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_nephele"))
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run nephele");
    child.stdin.take().expect("stdin").write_all(input.as_bytes()).expect("write stdin");
    let output = child.wait_with_output().expect("wait");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn account_status(url: &str, key: &str, name: &str) -> String {
    let (ok, out, err) =
        nephele_with_input(&["--server", url, "--api-key", key, "accounts", "list", "-o", "json"], "");
    assert!(ok, "{err}");
    let list: Value = serde_json::from_str(&out).expect("json");
    list["providers"]
        .as_array()
        .expect("list")
        .iter()
        .find(|p| p["name"] == name)
        .map(|p| p["status"].as_str().unwrap_or_default().to_owned())
        .unwrap_or_else(|| "absent".to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_from_the_cli_and_a_rotation_after_which_only_the_new_key_is_needed() {
    // Arrange
    let sim = sim_with_canary_account().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let (old_key, new_key) = (dir.path().join("old.key"), dir.path().join("new.key"));
    write_key(&old_key, 1);
    let config = write_config(dir.path(), &sim, &old_key);
    let admin = make_key(&config, "admin");
    let server = Server::start(&config, &dir.path().join("1.log"));
    let (url, base_url) = (server.url.clone(), format!("base_url={}", sim.base_url()));
    let cli = |args: &[&str], input: &str| {
        let mut all = vec!["--server", url.as_str(), "--api-key", admin.as_str()];
        all.extend_from_slice(args);
        nephele_with_input(&all, input)
    };

    // Act: add with the token on standard input
    let (ok, out, err) = cli(
        &[
            "accounts",
            "add",
            "do-canary",
            "--type",
            "digitalocean",
            "--region",
            "nyc1",
            "--setting",
            &base_url,
            "--token-stdin",
        ],
        CANARY,
    );
    assert!(ok, "{err}");
    assert!(out.contains("do-canary") && out.contains("ready") && !out.contains(CANARY), "{out}");
    let (ok, _, err) = cli(
        &["accounts", "add", "do-wrong", "--type", "digitalocean", "--setting", &base_url, "--token-stdin"],
        "dop_v1_nope",
    );
    assert!(!ok && err.contains("HTTP 422"), "{err}");
    let (ok, out, _) = cli(&["accounts", "list"], "");
    assert!(ok && out.contains("do-canary") && out.contains("api") && out.contains("file"), "{out}");

    // Act: rotate while serving
    let (ok, out, err) =
        nephele_with_input(&["secrets", "generate", "--out", new_key.to_str().expect("path")], "");
    assert!(ok, "{err}");
    assert!(out.contains("wrote master key"), "{out}");
    let (ok, out, err) = cli(&["secrets", "rotate", "--new-key-file", new_key.to_str().expect("path")], "");
    assert!(ok, "{err}");
    assert!(out.contains("re-wrapped 1 account"), "{out}");
    assert_eq!(account_status(&url, &admin, "do-canary"), "ready");
    drop(server);

    // Assert: a restart with only the new key opens it; with only the old one it does not.
    std::fs::write(&config, std::fs::read_to_string(&config).expect("config").replace("old.key", "new.key"))
        .expect("config");
    let server = Server::start(&config, &dir.path().join("2.log"));
    let url = server.url.clone();
    let listed: Value = reqwest::Client::new()
        .get(format!("{url}/api/v1/providers/do-canary/instances"))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    assert_eq!(listed["instances"].as_array().map(Vec::len), Some(2), "{listed}");
    drop(server);
    std::fs::write(&config, std::fs::read_to_string(&config).expect("config").replace("new.key", "old.key"))
        .expect("config");
    let server = Server::start(&config, &dir.path().join("3.log"));
    assert_eq!(
        account_status(&server.url, &admin, "do-canary"),
        "unreadable",
        "the old key no longer opens it"
    );
    drop(server);

    // Act: update and remove from the CLI (with the new key again)
    std::fs::write(&config, std::fs::read_to_string(&config).expect("config").replace("old.key", "new.key"))
        .expect("config");
    let server = Server::start(&config, &dir.path().join("4.log"));
    let url = server.url.clone();
    let cli = |args: &[&str], input: &str| {
        let mut all = vec!["--server", url.as_str(), "--api-key", admin.as_str()];
        all.extend_from_slice(args);
        nephele_with_input(&all, input)
    };
    let (ok, out, err) = cli(&["accounts", "update", "do-canary", "--token-stdin"], CANARY);
    assert!(ok && out.contains("ready"), "{out}{err}");
    let (ok, _, err) = cli(&["accounts", "remove", "digitalocean"], "");
    assert!(!ok && err.contains("configuration file"), "{err}");
    let (ok, out, err) = cli(&["accounts", "remove", "do-canary"], "");
    assert!(ok && out.contains("removed"), "{err}");
    assert_eq!(account_status(&url, &admin, "do-canary"), "absent");
}

/// A runtime account of a plugin type the file names runs the file's program in a process of
/// its own (the program calls itself by its type, `inventory`, not by the account's name),
/// pinged before it is stored; removing it stops that process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runtime_account_of_a_plugin_type_runs_its_own_plugin_process_until_removed() {
    use reqwest::Method;
    let sim = crate::support::simulator(Duration::from_millis(100)).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let key_file = dir.path().join("master.key");
    write_key(&key_file, 3);
    let config = write_config(dir.path(), &sim, &key_file);
    let plugin = crate::support::python_plugin();
    let yaml = std::fs::read_to_string(&config).expect("config").replace(
        "providers:\n",
        &format!(
            "providers:\n  inventory:\n    plugin: {}\n    inventory_file: {}\n",
            plugin.display(),
            dir.path().join("a.json").display()
        ),
    );
    std::fs::write(&config, yaml).expect("config");
    let admin = make_key(&config, "admin");
    let server = Server::start(&config, &dir.path().join("serve.log"));
    let pid = server.child.id();
    let mut client =
        Client { http: reqwest::Client::new(), url: server.url.clone(), key: admin, answers: Vec::new() };
    let plugins = || crate::support::children_named(pid, "python").len();
    let before = plugins();

    let unknown = json!({"name": "inv-2", "type": "aws", "credentials": {"x": "y"}});
    let (status, problem) = client.call(Method::POST, "/api/v1/providers", Some(unknown)).await;
    assert_eq!(status, 422);
    assert!(
        problem["errors"][0]["message"].as_str().is_some_and(|m| m.contains("digitalocean, inventory")),
        "{problem}"
    );
    let body = json!({"name": "inv-2", "type": "inventory", "settings": {}, "credentials": {"inventory_file": dir.path().join("b.json").display().to_string()}});
    let (status, added) = client.call(Method::POST, "/api/v1/providers", Some(body)).await;
    assert_eq!(status, 201, "{added}");
    assert_eq!((added["type"].as_str(), added["status"].as_str()), (Some("inventory"), Some("ready")));
    assert_eq!(plugins(), before + 1, "its own plugin process");
    let (status, listed) = client.call(Method::GET, "/api/v1/providers/inv-2/instances", None).await;
    assert_eq!(status, 200, "{listed}");

    let (status, _) = client.call(Method::DELETE, "/api/v1/providers/inv-2", None).await;
    assert_eq!(status, 204);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while plugins() != before {
        assert!(std::time::Instant::now() < deadline, "the removed account's plugin still runs");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Resident memory of a process, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS")
}

/// Starts `nephele serve` with `accounts` DigitalOcean accounts of 100 droplets each (file
/// accounts, one simulator, one token each); answers the milliseconds from start to `/readyz`
/// green with every droplet listed, and the resident memory then, in KiB.
async fn serve_accounts(accounts: usize) -> (u128, u64) {
    nephele_digitalocean::install_crypto_provider();
    let tokens: Vec<String> = (0..accounts).map(|i| format!("dop_v1_bench{i:04}")).collect();
    let sim = Simulator::new(SimConfig {
        tokens: Vec::new(),
        accounts: tokens
            .iter()
            .enumerate()
            .map(|(i, t)| AccountSpec { name: format!("a{i:04}"), tokens: vec![t.clone()], droplets: 100 })
            .collect(),
        limits: Limits { per_minute: 1_000_000, per_hour: 1_000_000, ..Limits::default() },
        ..SimConfig::default()
    })
    .bind(([127, 0, 0, 1], 0).into())
    .await
    .expect("dosim");
    let dir = tempfile::tempdir().expect("temp dir");
    let mut yaml = format!(
        "server:\n  listen: 127.0.0.1:0\ndatabase:\n  url: sqlite://{}/n.db\nauth:\n  required: false\nproviders:\n",
        dir.path().display()
    );
    for (i, token) in tokens.iter().enumerate() {
        let name = if i == 0 { "digitalocean".to_owned() } else { format!("do-{i:04}") };
        let kind = if i == 0 { String::new() } else { "    type: digitalocean\n".to_owned() };
        yaml.push_str(&format!(
            "  {name}:\n{kind}    api_token: {token}\n    region: nyc1\n    base_url: {}\n",
            sim.base_url()
        ));
    }
    let config = dir.path().join("config.yaml");
    std::fs::write(&config, yaml).expect("config");
    let started = std::time::Instant::now();
    let server = Server::start(&config, &dir.path().join("serve.log"));
    let listening = started.elapsed().as_millis();
    let http = reqwest::Client::new();
    let mut ready_at = None;
    loop {
        let ready = http.get(format!("{}/readyz", server.url)).send().await.is_ok_and(|r| r.status() == 200);
        if ready {
            ready_at.get_or_insert(started.elapsed().as_millis());
            let fleet: Value = http
                .get(format!("{}/api/v1/instances", server.url))
                .send()
                .await
                .expect("sent")
                .json()
                .await
                .expect("json");
            if fleet["instances"].as_array().map(Vec::len) == Some(accounts * 100)
                && fleet["errors"] == json!([])
            {
                break;
            }
        }
        assert!(started.elapsed() < Duration::from_secs(60), "never ready");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let took = started.elapsed().as_millis();
    let rss = rss_kib(server.child.id());
    eprintln!(
        "{accounts} account(s): listening after {listening} ms, /readyz green after {} ms, all listed after {took} ms",
        ready_at.unwrap_or_default()
    );
    (took, rss)
}

/// A measurement (`cargo nextest run -p nephele --test cli --run-ignored only hundred
/// --no-capture`): start to ready and resident memory with 100 DigitalOcean accounts of 100
/// droplets each, against one account.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement of 100 accounts; run on purpose"]
async fn a_hundred_accounts_start_and_memory() {
    let (one_ms, one_rss) = serve_accounts(1).await;
    let (hundred_ms, hundred_rss) = serve_accounts(100).await;
    eprintln!(
        "1 account: ready and listed in {one_ms} ms, RSS {:.1} MiB; 100 accounts (10,000 droplets): {hundred_ms} ms, RSS {:.1} MiB (+{:.1} MiB)",
        one_rss as f64 / 1024.0,
        hundred_rss as f64 / 1024.0,
        (hundred_rss.saturating_sub(one_rss)) as f64 / 1024.0
    );
    assert!(hundred_rss.saturating_sub(one_rss) < 150 * 1024);
}

/// A server whose accounts are all added at runtime (a master key, no account in the file) is a
/// real one: not demo mode, whose open API would hand those accounts to anyone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_with_a_master_key_and_no_file_accounts_is_not_demo_mode() {
    let dir = tempfile::tempdir().expect("temp dir");
    let key_file = dir.path().join("master.key");
    write_key(&key_file, 9);
    let config = dir.path().join("config.yaml");
    let yaml = format!(
        "server:\n  listen: 127.0.0.1:0\ndatabase:\n  url: sqlite://{}/n.db\nsecrets:\n  master_key_file: {}\n",
        dir.path().display(),
        key_file.display()
    );
    std::fs::write(&config, yaml).expect("config");
    let server = Server::start(&config, &dir.path().join("serve.log"));
    nephele_digitalocean::install_crypto_provider();
    let anonymous = reqwest::get(format!("{}/api/v1/providers", server.url)).await.expect("sent");
    assert_eq!(anonymous.status(), 401, "keys are required");
    let admin = make_key(&config, "admin");
    let listed: Value = reqwest::Client::new()
        .get(format!("{}/api/v1/providers", server.url))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    assert_eq!(listed["providers"], json!([]), "no demo account: {listed}");
}
