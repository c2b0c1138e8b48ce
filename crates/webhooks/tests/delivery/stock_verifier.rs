//! Every delivery checked by the stock Standard Webhooks verifier (`standardwebhooks` 1.1.0 from
//! PyPI, unchanged) in `tests/receiver.py`, including across a secret rotation.
//!
//! The verifier lives in `.venv` (`make webhooks-peer`); without it these tests fail and say
//! what to run, they never skip.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;

use nephele_webhooks::{Outcome, SigningKeys, SigningSecret, Url};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::{DEADLINE, message, sender};

const INSTALL_HINT: &str = "run `make webhooks-peer` (installs standardwebhooks==1.1.0 from scripts/requirements-webhooks.txt into .venv)";

fn venv_python() -> PathBuf {
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python");
    assert!(python.exists(), "{} is missing: {INSTALL_HINT}", python.display());
    python
}

/// `tests/receiver.py` with one secret, killed when dropped.
struct Receiver {
    child: Child,
    port: u16,
}

impl Receiver {
    fn start(secret: &SigningSecret) -> Self {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/receiver.py");
        let mut child = Command::new(venv_python())
            .arg(script)
            .env("WEBHOOK_SECRET", secret.to_whsec().as_str())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the Python receiver");
        let stdout = child.stdout.take().expect("its stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx.recv_timeout(DEADLINE).unwrap_or_default();
        let Ok(port) = line.trim().parse() else {
            let _ = child.kill();
            let mut stderr = String::new();
            if let Some(mut pipe) = child.stderr.take() {
                let _ = pipe.read_to_string(&mut stderr);
            }
            panic!("the Python receiver did not start ({INSTALL_HINT}):\n{stderr}");
        };
        Self { child, port }
    }

    fn url(&self) -> Url {
        Url::parse(&format!("http://127.0.0.1:{}/webhooks", self.port)).expect("receiver URL")
    }

    /// What the receiver's verifier said of each delivery, in arrival order.
    async fn results(&self) -> Vec<Value> {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await.expect("connect");
        stream.write_all(b"GET /results HTTP/1.0\r\nhost: 127.0.0.1\r\n\r\n").await.expect("ask");
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await.expect("read");
        let text = String::from_utf8(answer).expect("UTF-8");
        let (_, body) = text.split_once("\r\n\r\n").expect("an HTTP answer");
        serde_json::from_str(body).expect("JSON results")
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn verified_ids(results: &[Value]) -> Vec<(String, bool)> {
    results
        .iter()
        .map(|r| (r["id"].as_str().unwrap_or_default().to_owned(), r["verified"].as_bool().unwrap_or(false)))
        .collect()
}

#[tokio::test]
async fn every_delivery_verifies_with_the_stock_python_verifier() {
    let secret = SigningSecret::generate().expect("random source");
    let receiver = Receiver::start(&secret);
    let keys = SigningKeys::new(secret);
    let large = format!("{{\"items\":[{}]}}", vec!["{\"id\":\"i-0123456789\",\"ok\":true}"; 6000].join(","));
    let deliveries = [
        ("evt_01JD8X4T9W3Q6Z", "{}".to_owned()),
        ("evt_01JD8X4T9W3Q70", r#"{"type":"nephele.operation.succeeded","data":{"id":"op_1"}}"#.to_owned()),
        ("evt.with.dots:and-colons", r#"{"name":"café ☁️ 雲","tag":"\u00e9"}"#.to_owned()),
        ("evt_spacing", "{\n  \"a\" : [1, 2.50, -0.0e0] ,\t\"b\":null\n}\n".to_owned()),
        ("evt_large", large),
    ];
    let sender = sender(true);

    for (id, body) in &deliveries {
        let attempt = sender.attempt(&receiver.url(), &message(id, body), &keys).await;
        assert_eq!(
            attempt.outcome,
            Outcome::Delivered,
            "{id}: {:?} {}",
            attempt.reason(),
            attempt.response.text
        );
    }

    let results = receiver.results().await;
    let expected: Vec<(String, bool)> = deliveries.iter().map(|(id, _)| ((*id).to_owned(), true)).collect();
    assert_eq!(verified_ids(&results), expected, "{results:?}");
}

#[tokio::test]
async fn deliveries_verify_before_during_and_after_a_secret_rotation() {
    let old = SigningSecret::generate().expect("random source");
    let new = SigningSecret::generate().expect("random source");
    // Two receivers: one still configured with the old secret, one already with the new.
    let knows_old = Receiver::start(&old);
    let knows_new = Receiver::start(&new);
    let sender = sender(true);
    let before = SigningKeys::new(old.clone());
    let during = SigningKeys::new(new.clone()).and_previous(old);
    let after = SigningKeys::new(new);
    let send = |receiver: &Receiver, id: &str, keys: &SigningKeys| {
        let (url, message) = (receiver.url(), message(id, r#"{"type":"nephele.webhook.rotated"}"#));
        let (sender, keys) = (sender.clone(), keys.clone());
        async move { sender.attempt(&url, &message, &keys).await }
    };

    assert_eq!(send(&knows_old, "evt_before", &before).await.outcome, Outcome::Delivered);
    assert_eq!(send(&knows_old, "evt_during_old", &during).await.outcome, Outcome::Delivered);
    assert_eq!(send(&knows_new, "evt_during_new", &during).await.outcome, Outcome::Delivered);
    assert_eq!(send(&knows_new, "evt_after", &after).await.outcome, Outcome::Delivered);
    // Once the old key is dropped, a receiver that knows only it refuses: the receiver really
    // checks, and the rotation above is what made the old one pass.
    let refused = send(&knows_old, "evt_after_old", &after).await;
    assert!(matches!(refused.outcome, Outcome::Failed(_)), "{:?}", refused.outcome);
    assert_eq!(refused.status, Some(400));
    assert!(refused.response.text.contains("No matching signature found"), "{}", refused.response.text);

    let expected_old = vec![
        ("evt_before".to_owned(), true),
        ("evt_during_old".to_owned(), true),
        ("evt_after_old".to_owned(), false),
    ];
    assert_eq!(verified_ids(&knows_old.results().await), expected_old);
    let expected_new = vec![("evt_during_new".to_owned(), true), ("evt_after".to_owned(), true)];
    assert_eq!(verified_ids(&knows_new.results().await), expected_new);
}
