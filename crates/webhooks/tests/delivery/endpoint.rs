//! A fake webhook endpoint at the process boundary: a raw TCP listener that speaks just enough
//! HTTP/1.1 to record what it was sent and to answer as a test scripts it, including answers no
//! well-behaved server gives (endless, silent). It counts every connection, so a test can say
//! "this server was never contacted".

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// How the endpoint answers every request.
#[derive(Debug, Clone)]
pub enum Answer {
    /// A complete answer with `content-length` and `connection: close`.
    Reply { status: u16, headers: Vec<(String, String)>, body: Vec<u8> },
    /// 200 with a chunked body that never ends.
    Endless,
    /// Reads the request and never answers.
    Silent,
    /// Writes these bytes as soon as a connection opens, reads nothing, and closes: what a
    /// plain HTTP server does to a TLS handshake it cannot parse.
    Raw(Vec<u8>),
}

impl Answer {
    pub fn status(status: u16) -> Self {
        Self::Reply { status, headers: Vec::new(), body: Vec::new() }
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        if let Self::Reply { headers, .. } = &mut self {
            headers.push((name.to_owned(), value.to_owned()));
        }
        self
    }

    pub fn body(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        if let Self::Reply { body, .. } = &mut self {
            *body = bytes.into();
        }
        self
    }
}

/// One request as the endpoint read it.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct State {
    connections: AtomicUsize,
    /// Connections the client closed while the endpoint was still writing or waiting.
    closed_by_peer: AtomicUsize,
    requests: Mutex<Vec<Received>>,
}

pub struct Endpoint {
    pub addr: SocketAddr,
    state: Arc<State>,
    task: JoinHandle<()>,
}

impl Endpoint {
    /// Listens on `127.0.0.1:0`.
    pub async fn start(answer: Answer) -> Self {
        Self::start_on("127.0.0.1:0", answer).await
    }

    /// Listens on `bind` (`[::1]:0` for IPv6 loopback).
    pub async fn start_on(bind: &str, answer: Answer) -> Self {
        let listener = TcpListener::bind(bind).await.expect("bind the fake endpoint");
        let addr = listener.local_addr().expect("its address");
        let state = Arc::new(State::default());
        let task = tokio::spawn({
            let state = state.clone();
            async move {
                while let Ok((stream, _)) = listener.accept().await {
                    state.connections.fetch_add(1, Ordering::SeqCst);
                    tokio::spawn(serve(stream, answer.clone(), state.clone()));
                }
            }
        });
        Self { addr, state, task }
    }

    /// `http://<addr><path>`.
    pub fn url(&self, path: &str) -> nephele_webhooks::Url {
        nephele_webhooks::Url::parse(&format!("http://{}{path}", self.addr)).expect("endpoint URL")
    }

    pub fn connections(&self) -> usize {
        self.state.connections.load(Ordering::SeqCst)
    }

    pub fn closed_by_peer(&self) -> usize {
        self.state.closed_by_peer.load(Ordering::SeqCst)
    }

    pub fn requests(&self) -> Vec<Received> {
        self.state.requests.lock().expect("requests lock").clone()
    }
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(mut stream: TcpStream, answer: Answer, state: Arc<State>) {
    if let Answer::Raw(bytes) = &answer {
        let _ = stream.write_all(bytes).await;
        let _ = stream.shutdown().await;
        return;
    }
    let Some(request) = read_request(&mut stream).await else { return };
    state.requests.lock().expect("requests lock").push(request);
    match answer {
        Answer::Reply { status, headers, body } => {
            let mut head = format!(
                "HTTP/1.1 {status} Scripted\r\ncontent-length: {}\r\nconnection: close\r\n",
                body.len()
            );
            for (name, value) in headers {
                head.push_str(&format!("{name}: {value}\r\n"));
            }
            head.push_str("\r\n");
            let _ = stream.write_all(head.as_bytes()).await;
            let _ = stream.write_all(&body).await;
            let _ = stream.shutdown().await;
        }
        Answer::Endless => {
            let head = "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ncontent-type: text/plain\r\n\r\n";
            if stream.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            let chunk = [b"4000\r\n".as_slice(), &[b'x'; 0x4000], b"\r\n"].concat();
            while stream.write_all(&chunk).await.is_ok() {}
            state.closed_by_peer.fetch_add(1, Ordering::SeqCst);
        }
        Answer::Silent => {
            let mut sink = [0u8; 1024];
            while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {}
            state.closed_by_peer.fetch_add(1, Ordering::SeqCst);
        }
        Answer::Raw(_) => {}
    }
}

/// Reads one request (head of at most 64 KiB, body by `content-length`).
async fn read_request(stream: &mut TcpStream) -> Option<Received> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
        if buffer.len() > 64 * 1024 {
            return None;
        }
        let n = stream.read(&mut chunk).await.ok().filter(|n| *n > 0)?;
        buffer.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next()?.split(' ');
    let (method, target) = (request_line.next()?.to_owned(), request_line.next()?.to_owned());
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    let length: usize =
        headers.iter().find(|(n, _)| n == "content-length").and_then(|(_, v)| v.parse().ok()).unwrap_or(0);
    let mut body = buffer[head_end + 4..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut chunk).await.ok().filter(|n| *n > 0)?;
        body.extend_from_slice(&chunk[..n]);
    }
    Some(Received { method, target, headers, body })
}

/// Waits until `condition` holds, or fails the test after `deadline`.
pub async fn eventually(what: &str, deadline: Duration, condition: impl Fn() -> bool) {
    let start = Instant::now();
    while !condition() {
        assert!(start.elapsed() < deadline, "{what}: not within {deadline:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
