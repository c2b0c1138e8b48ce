//! What every test here stands on: moto (`.venv/bin/moto_server`, from `make aws-peer`) on a
//! free port, a counting proxy in front of it that can lose one answer, the provider built as
//! the plugin builds it, and plain EC2 calls for what the Provider trait has no verb for
//! (making a subnet, reading an instance's key name). moto checks no signature, so those
//! plain calls carry a made-up one.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nephele_aws::{Aws, Settings};
use nephele_core::{
    CreateInstances, CreateResource, InstanceId, InstanceName, OperationId, Provider, Resource, ResourceKind,
};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub const EAST: &str = "us-east-1";
pub const WEST: &str = "eu-west-1";

/// A real ed25519 public key (its private half was thrown away).
pub const PUBLIC_KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICAkL9mSMyi554yPYgAL/KAFK3BnJu6/mrRxDRDF9Tgi nephele-test";

/// A `moto_server` child process, killed on drop.
pub struct Moto {
    child: Child,
    pub url: String,
}

impl Moto {
    pub fn start() -> Self {
        let program = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/moto_server");
        assert!(
            program.is_file(),
            "{} is missing: `make aws-peer` installs moto[server] into .venv",
            program.display()
        );
        let port = TcpListener::bind("127.0.0.1:0").expect("free port").local_addr().expect("addr").port();
        let child = Command::new(program)
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
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The provider over `us-east-1` (default) and `eu-west-1` at `endpoint`.
pub fn aws(endpoint: &str) -> Aws {
    nephele_aws::install_crypto_provider();
    let settings = Settings::from_json(
        json!({
            "region": EAST,
            "regions": [EAST, WEST],
            "access_key_id": "testing",
            "secret_access_key": "moto-secret",
            "endpoint_url": endpoint,
            "call_deadline_secs": 60,
            "request_timeout_secs": 20,
        }),
        |_| None,
    )
    .expect("settings");
    Aws::new(settings).expect("provider")
}

/// moto, a proxy in front of it, and the provider talking through the proxy.
pub struct Cloud {
    pub moto: Moto,
    pub proxy: Proxy,
    pub aws: Aws,
}

impl Cloud {
    pub async fn start() -> Self {
        let moto = Moto::start();
        let proxy = Proxy::start(&moto.url).await;
        let aws = aws(&proxy.url);
        Self { moto, proxy, aws }
    }

    /// One running instance named `name` in `region` (in `subnet`, when given).
    pub async fn instance(
        &self,
        name: &str,
        region: &str,
        ssh_keys: &[&str],
        subnet: Option<&str>,
    ) -> InstanceId {
        let request = CreateInstances {
            operation_id: OperationId::new(),
            names: vec![InstanceName::parse(name).expect("name")],
            instance_type: "t3.micro".into(),
            region: region.into(),
            image: image(&self.moto.url, region).await,
            ssh_keys: ssh_keys.iter().map(|k| (*k).to_owned()).collect(),
            tags: vec![],
            user_data: None,
            backups: false,
            ipv6: false,
            monitoring: false,
            vpc_uuid: subnet.map(str::to_owned),
        };
        let made = self.aws.create_instances(&request).await.expect("instance made");
        made[0].id.clone()
    }

    pub async fn create(&self, request: &CreateResource) -> Resource {
        self.aws.create_resource(request).await.unwrap_or_else(|e| panic!("{request:?}: {e}"))
    }

    pub async fn get(&self, kind: ResourceKind, id: &nephele_core::ResourceId) -> Resource {
        self.aws.get_resource(kind, id).await.unwrap_or_else(|e| panic!("{kind} {id}: {e}"))
    }

    pub async fn list(&self, kind: ResourceKind) -> Vec<Resource> {
        self.aws.list_resources(kind).await.unwrap_or_else(|e| panic!("{kind}: {e}"))
    }
}

/// A plain EC2 call to moto in `region`, its XML answer as text.
pub async fn ec2(moto: &str, region: &str, action: &str, params: &[(&str, &str)]) -> String {
    let mut form = vec![("Action", action), ("Version", "2016-11-15")];
    form.extend_from_slice(params);
    let body = form.iter().map(|(k, v)| format!("{k}={}", percent(v))).collect::<Vec<_>>().join("&");
    let authorization = format!(
        "AWS4-HMAC-SHA256 Credential=testing/20260101/{region}/ec2/aws4_request, SignedHeaders=host, Signature=0"
    );
    reqwest::Client::new()
        .post(format!("{moto}/"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("authorization", authorization)
        .body(body)
        .send()
        .await
        .expect("moto answers")
        .text()
        .await
        .expect("text")
}

fn percent(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The text of every `<tag>` element in `xml`, in order.
pub fn elements(xml: &str, tag: &str) -> Vec<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    xml.split(&open)
        .skip(1)
        .filter_map(|rest| rest.split_once(&close).map(|(text, _)| text.to_owned()))
        .collect()
}

/// An image moto has in `region`.
pub async fn image(moto: &str, region: &str) -> String {
    let answer = ec2(moto, region, "DescribeImages", &[("Owner.1", "amazon")]).await;
    elements(&answer, "imageId").into_iter().next().expect("moto has images")
}

/// A subnet of `vpc` in `region` (the Provider trait makes none).
pub async fn subnet(moto: &str, region: &str, vpc: &str, cidr: &str) -> String {
    let answer = ec2(moto, region, "CreateSubnet", &[("VpcId", vpc), ("CidrBlock", cidr)]).await;
    elements(&answer, "subnetId").into_iter().next().unwrap_or_else(|| panic!("no subnet: {answer}"))
}

/// A proxy in front of moto that counts the requests it passes, by action, and loses the answer
/// of the next request for one action when told to (moto acts; the caller sees the connection
/// close before an answer, as after a timeout or a reset).
pub struct Proxy {
    pub url: String,
    seen: Arc<Mutex<Vec<String>>>,
    lose: Arc<Mutex<Option<String>>>,
}

impl Proxy {
    pub async fn start(upstream: &str) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let (seen, lose) = (Arc::new(Mutex::new(Vec::new())), Arc::new(Mutex::new(None)));
        let (record, losing) = (seen.clone(), lose.clone());
        let upstream = upstream.trim_start_matches("http://").to_owned();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(serve(client, upstream.clone(), record.clone(), losing.clone()));
            }
        });
        Self { url, seen, lose }
    }

    /// Loses the answer of the next request for `action`.
    pub fn lose_next(&self, action: &str) {
        *self.lose.lock().expect("lock") = Some(action.to_owned());
    }

    /// Requests for `action` so far.
    pub fn count(&self, action: &str) -> usize {
        self.seen.lock().expect("lock").iter().filter(|a| *a == action).count()
    }

    /// Every request so far.
    pub fn total(&self) -> usize {
        self.seen.lock().expect("lock").len()
    }

    /// Requests that change something (not `Describe*`) so far.
    pub fn changes(&self) -> Vec<String> {
        self.seen.lock().expect("lock").iter().filter(|a| !a.starts_with("Describe")).cloned().collect()
    }
}

async fn serve(
    mut client: TcpStream,
    upstream: String,
    seen: Arc<Mutex<Vec<String>>>,
    lose: Arc<Mutex<Option<String>>>,
) {
    let Some((head, body)) = read_request(&mut client).await else { return };
    let action = body.split('&').find_map(|p| p.strip_prefix("Action=")).unwrap_or_default().to_owned();
    seen.lock().expect("lock").push(action.clone());
    let lost = {
        let mut lose = lose.lock().expect("lock");
        let lost = lose.as_deref() == Some(action.as_str());
        if lost {
            *lose = None;
        }
        lost
    };
    // One request per upstream connection, so the answer ends where moto closes it.
    let head = head.replacen("\r\n", "\r\nConnection: close\r\n", 1);
    let Ok(mut server) = TcpStream::connect(&upstream).await else { return };
    if server.write_all(format!("{head}\r\n\r\n{body}").as_bytes()).await.is_err() {
        return;
    }
    let mut reply = Vec::new();
    let _ = server.read_to_end(&mut reply).await;
    if lost {
        // moto has acted; the caller never hears of it.
        let _ = client.shutdown().await;
        return;
    }
    let _ = client.write_all(&reply).await;
}

/// One HTTP/1.1 request: its head and body.
async fn read_request(client: &mut TcpStream) -> Option<(String, String)> {
    let mut request = Vec::new();
    let mut buffer = [0u8; 16 * 1024];
    loop {
        let n = client.read(&mut buffer).await.ok()?;
        if n == 0 {
            return None;
        }
        request.extend_from_slice(&buffer[..n]);
        if let Some(end) = request.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&request[..end]).into_owned();
            let length = head
                .lines()
                .find_map(|line| {
                    let (key, value) = line.split_once(':')?;
                    key.trim()
                        .eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            while request.len() < end + 4 + length {
                let n = client.read(&mut buffer).await.ok()?;
                if n == 0 {
                    return None;
                }
                request.extend_from_slice(&buffer[..n]);
            }
            return Some((head, String::from_utf8_lossy(&request[end + 4..]).into_owned()));
        }
    }
}
