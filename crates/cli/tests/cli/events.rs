//! `nephele events tail` and `nephele webhooks ...` against a live server.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use nephele_server::{App, Config};
use serde_json::Value;

async fn server_with_webhooks() -> (String, tempfile::TempDir, dosim::RunningSim) {
    let sim = crate::support::simulator(Duration::from_millis(100)).await;
    let data = tempfile::tempdir().expect("temp dir");
    let yaml = format!(
        "server:\n  listen: 127.0.0.1:0\nproviders:\n  digitalocean:\n    api_token: {}\n    region: nyc1\n    base_url: {}\n    rate_limit_per_minute: 100000\n    rate_limit_per_hour: 1000000\ndatabase:\n  url: sqlite://{}/n.db\nauth:\n  required: false\nsecrets:\n  master_key: AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\nwebhooks:\n  allow_http: true\n  allow_private_networks: true\n  retry_delays_secs: [1]\n",
        crate::support::DO_TOKEN,
        sim.base_url(),
        data.path().display()
    );
    let app = App::build(Config::parse(&yaml, Path::new("cli.yaml"), |_| None).expect("config"))
        .await
        .expect("app");
    let server = format!("http://{}", app.addr());
    tokio::spawn(app.run());
    (server, data, sim)
}

fn nephele(server: &str, args: &[&str]) -> (bool, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_nephele"))
        .arg("--server")
        .arg(server)
        .args(args)
        .output()
        .expect("run nephele");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_are_managed_and_events_tailed_from_the_cli() {
    let (s, _data, _sim) = server_with_webhooks().await;
    let s = s.as_str();

    // Nothing listens on port 9: every attempt fails to connect, which the log shows.
    let (ok, out, err) =
        nephele(s, &["webhooks", "add", "http://127.0.0.1:9/hook", "--type", "nephele.webhook.test"]);
    assert!(ok, "{err}");
    assert!(out.contains("secret: whsec_") && out.contains("shown this once"), "{out}");
    let (_, listed, _) = nephele(s, &["webhooks", "list", "-o", "json"]);
    let listed: Value = serde_json::from_str(&listed).expect("json");
    let id = listed["webhooks"][0]["id"].as_str().expect("id").to_owned();
    assert!(!listed.to_string().contains("whsec_"), "a list never shows a secret");

    // A tail started first sees the test event.
    let mut tail = Command::new(env!("CARGO_BIN_EXE_nephele"))
        .args([
            "--server",
            s,
            "events",
            "tail",
            "--type",
            "nephele.webhook.test",
            "--count",
            "1",
            "-o",
            "json",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the tail");
    let stdout = tail.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    // The stream starts with the next event: send test events until the tail prints one.
    let mut printed = None;
    for _ in 0..60 {
        let (ok, out, err) = nephele(s, &["webhooks", "test", &id]);
        assert!(ok && out.contains("sent test event evt_"), "{out}{err}");
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(500)) {
            printed = Some(line);
            break;
        }
    }
    let printed = printed.expect("the tail printed an event");
    let event: Value = serde_json::from_str(printed.trim()).expect("one JSON event a line");
    assert_eq!(event["type"], "nephele.webhook.test");
    assert!(tail.wait().expect("the tail exits").success(), "--count 1 ends it");

    // The failed attempts are in the log, with the reason.
    let mut log = String::new();
    for _ in 0..100 {
        let (_, out, _) = nephele(s, &["webhooks", "deliveries", &id]);
        log = out;
        if log.contains("failed") {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(log.contains("could not connect") && log.contains("failed"), "{log}");

    let (ok, _, err) = nephele(s, &["webhooks", "remove", &id]);
    assert!(ok, "{err}");
    let (ok, _, err) = nephele(s, &["webhooks", "remove", &id]);
    assert!(!ok && err.contains("HTTP 404"), "{err}");
    let (ok, _, err) = nephele(s, &["events", "tail", "--type", "bogus"]);
    assert!(!ok && err.contains("type"), "{err}");
}
