//! moto (`moto_server` from PyPI, in `.venv` by `make aws-peer`) on a free port, and the plugin.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::repo_root;

/// A `moto_server` child process, killed on drop.
pub struct Moto {
    child: Child,
    pub url: String,
}

fn venv(program: &str) -> PathBuf {
    let path = repo_root().join(".venv/bin").join(program);
    assert!(
        path.is_file(),
        "{} is missing: `make aws-peer` installs moto[server] into .venv",
        path.display()
    );
    path
}

impl Moto {
    pub fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0").expect("free port").local_addr().expect("addr").port();
        let child = Command::new(venv("moto_server"))
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto_server");
        let moto = Self { child, url: format!("http://127.0.0.1:{port}") };
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(started.elapsed() < Duration::from_secs(30), "moto_server did not listen within 30 s");
            std::thread::sleep(Duration::from_millis(50));
        }
        moto
    }

    /// Runs `moto.py COMMAND URL REGION ARGS` (boto3 against this moto) and reads its JSON.
    pub fn ask(&self, command: &str, region: &str, args: &[&str]) -> Value {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/moto.py");
        let output = Command::new(venv("python"))
            .arg(script)
            .args([command, &self.url, region])
            .args(args)
            .output()
            .expect("run moto.py");
        assert!(output.status.success(), "moto.py {command}: {}", String::from_utf8_lossy(&output.stderr));
        let text = String::from_utf8_lossy(&output.stdout);
        serde_json::from_str(&text).unwrap_or_else(|_| Value::String(text.trim().to_owned()))
    }

    /// Instances moto holds in `region` named `name`, as (id, state).
    pub fn named(&self, region: &str, name: &str) -> Vec<(String, String)> {
        let all = self.ask("instances", region, &[]);
        all.as_array()
            .expect("list")
            .iter()
            .filter(|i| i["name"] == name)
            .map(|i| {
                (
                    i["id"].as_str().unwrap_or_default().to_owned(),
                    i["state"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    }

    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `nephele-provider-aws`, built next to `nephele` by `make plugins`.
pub fn aws_plugin() -> PathBuf {
    let path = std::path::Path::new(env!("CARGO_BIN_EXE_nephele")).with_file_name("nephele-provider-aws");
    assert!(path.is_file(), "{} is missing: `make plugins` builds it", path.display());
    path
}
