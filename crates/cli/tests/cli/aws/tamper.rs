//! A proxy in front of moto whose behaviour a test switches while it runs, for what is read
//! from an EC2 endpoint that is not (or no longer) EC2:
//! - `Honest`: every request goes to moto and its answer comes back;
//! - `Html(which)`: the requests `which` picks are answered `200 OK` with an HTML page (a captive
//!   portal, a misrouted load balancer), the others go to moto;
//! - `Redirect`: every request is answered `307` to another address;
//! - `EchoCredentials`: every request is refused with an EC2 error (`InvalidParameterValue`,
//!   whose message Nephele passes on to callers) quoting the request's `x-amz-security-token`
//!   and `Authorization` headers, as a careless or hostile endpoint might.
//!
//! It records each request's form body and `Authorization` header, so a test can count the
//! calls Nephele made (`RunInstances`, say) and look for the signature it sent.

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Which requests an HTML answer replaces.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Which {
    Every,
    /// `DescribeInstances` only: instance lists and the exactly-once tag look-up.
    DescribeInstances,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Tamper {
    Honest,
    Html(Which),
    Redirect,
    EchoCredentials,
}

/// A request the proxy received.
#[derive(Clone, Debug)]
pub struct Seen {
    /// The form body (`Action=DescribeInstances&Version=...`).
    pub body: String,
    pub authorization: String,
}

impl Seen {
    pub fn action(&self) -> &str {
        self.body.split('&').find_map(|p| p.strip_prefix("Action=")).unwrap_or_default()
    }
}

pub struct Tampering {
    pub url: String,
    mode: Arc<Mutex<Tamper>>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

const HTML: &str = "<!DOCTYPE html>\n<html><head><title>Welcome</title></head><body><h1>Sign in to continue</h1></body></html>\n";

/// One HTTP/1.1 request: its head (lower-cased names kept as sent) and body.
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
            let length = header(&head, "content-length").and_then(|v| v.parse::<usize>().ok()).unwrap_or(0);
            while request.len() < end + 4 + length {
                let n = client.read(&mut buffer).await.ok()?;
                if n == 0 {
                    return None;
                }
                request.extend_from_slice(&buffer[..n]);
            }
            let body = String::from_utf8_lossy(&request[end + 4..]).into_owned();
            return Some((head, body));
        }
    }
}

fn header(head: &str, name: &str) -> Option<String> {
    head.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.trim().eq_ignore_ascii_case(name).then(|| value.trim().to_owned())
    })
}

fn answer(status: &str, content_type: &str, body: &str, extra: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n{body}",
        body.len()
    )
}

async fn serve(mut client: TcpStream, upstream: String, mode: Tamper, seen: Arc<Mutex<Vec<Seen>>>) {
    let Some((head, body)) = read_request(&mut client).await else { return };
    let request =
        Seen { body: body.clone(), authorization: header(&head, "authorization").unwrap_or_default() };
    let action = request.action().to_owned();
    seen.lock().expect("lock").push(request);
    let replaced = match mode {
        Tamper::Html(Which::Every) => true,
        Tamper::Html(Which::DescribeInstances) => action == "DescribeInstances",
        _ => false,
    };
    if replaced {
        let _ = client.write_all(answer("200 OK", "text/html", HTML, "").as_bytes()).await;
        return;
    }
    if mode == Tamper::Redirect {
        let to = "Location: http://127.0.0.1:9/elsewhere\r\n";
        let _ = client.write_all(answer("307 Temporary Redirect", "text/plain", "", to).as_bytes()).await;
        return;
    }
    if mode == Tamper::EchoCredentials {
        let token = header(&head, "x-amz-security-token").unwrap_or_default();
        let authorization = header(&head, "authorization").unwrap_or_default();
        let xml = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>InvalidParameterValue</Code><Message>The security token {token} is not valid for this request (signed {authorization})</Message></Error></Errors><RequestID>{token}</RequestID></Response>"
        );
        let _ = client.write_all(answer("400 Bad Request", "text/xml", &xml, "").as_bytes()).await;
        return;
    }
    // Honest: one request per upstream connection, so the answer ends where moto closes it.
    let head = head.replacen("\r\n", "\r\nConnection: close\r\n", 1);
    let Ok(mut server) = TcpStream::connect(&upstream).await else { return };
    if server.write_all(format!("{head}\r\n\r\n{body}").as_bytes()).await.is_err() {
        return;
    }
    let mut reply = Vec::new();
    let _ = server.read_to_end(&mut reply).await;
    let _ = client.write_all(&reply).await;
}

impl Tampering {
    pub async fn start(upstream: &str, mode: Tamper) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let (mode, seen) = (Arc::new(Mutex::new(mode)), Arc::new(Mutex::new(Vec::new())));
        let (current, record) = (mode.clone(), seen.clone());
        let upstream = upstream.trim_start_matches("http://").to_owned();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let mode = *current.lock().expect("lock");
                tokio::spawn(serve(client, upstream.clone(), mode, record.clone()));
            }
        });
        Self { url, mode, seen }
    }

    /// Changes the behaviour from the next connection on.
    pub fn set(&self, mode: Tamper) {
        *self.mode.lock().expect("lock") = mode;
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("lock").clone()
    }

    /// Requests for `action` received so far.
    pub fn count(&self, action: &str) -> usize {
        self.seen().iter().filter(|s| s.action() == action).count()
    }
}
