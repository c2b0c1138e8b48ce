//! A proxy in front of dosim that loses the answer to chosen requests: the request reaches
//! DigitalOcean (dosim) and is acted on, then the connection closes without an answer. It is
//! the ambiguous case exactly-once creation must survive, made deterministic (dosim's own
//! `drop_rate` loses answers at random, to every request alike).
//!
//! It speaks just enough HTTP/1.1 for reqwest and dosim: requests and answers with a
//! `content-length` (or none), one upstream connection per request.

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Which answers to lose: the next `count` requests whose `METHOD path` starts with `prefix`.
#[derive(Clone, Default)]
pub struct Losses(Arc<Mutex<Vec<(String, usize)>>>);

impl Losses {
    /// Loses the answers of the next `count` requests starting `METHOD /path` (query included).
    pub fn lose(&self, method_and_path: &str, count: usize) {
        self.0.lock().expect("losses").push((method_and_path.to_owned(), count));
    }

    /// How many losses asked for have not happened yet.
    pub fn pending(&self) -> usize {
        self.0.lock().expect("losses").iter().map(|(_, n)| n).sum()
    }

    fn take(&self, request_line: &str) -> bool {
        let mut rules = self.0.lock().expect("losses");
        for (prefix, count) in rules.iter_mut() {
            if *count > 0 && request_line.starts_with(prefix.as_str()) {
                *count -= 1;
                return true;
            }
        }
        false
    }
}

/// Reads one HTTP message (head and `content-length` body); `None` at a clean end of stream.
async fn read_message(stream: &mut (impl AsyncRead + Unpin), body_allowed: bool) -> Option<Vec<u8>> {
    let mut message = Vec::new();
    let mut byte = [0u8; 1];
    while !message.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte).await.ok()? == 0 {
            return None;
        }
        message.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&message).to_ascii_lowercase();
    let length = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    if body_allowed && length > 0 {
        let mut body = vec![0u8; length];
        stream.read_exact(&mut body).await.ok()?;
        message.extend_from_slice(&body);
    }
    Some(message)
}

async fn serve(mut client: TcpStream, upstream: std::net::SocketAddr, losses: Losses) {
    while let Some(request) = read_message(&mut client, true).await {
        let request_line = String::from_utf8_lossy(&request).lines().next().unwrap_or_default().to_owned();
        let Ok(mut server) = TcpStream::connect(upstream).await else { return };
        if server.write_all(&request).await.is_err() {
            return;
        }
        let head_only = request_line.starts_with("HEAD ");
        let Some(answer) = read_message(&mut server, !head_only).await else { return };
        if losses.take(&request_line) {
            // Acted on upstream; the answer never arrives.
            return;
        }
        if client.write_all(&answer).await.is_err() {
            return;
        }
    }
}

/// Starts the proxy in front of `upstream` (`http://127.0.0.1:port`); returns its base URL.
pub async fn start(upstream: &str, losses: Losses) -> String {
    let address: std::net::SocketAddr =
        upstream.trim_start_matches("http://").parse().expect("upstream address");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let local = listener.local_addr().expect("address");
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            tokio::spawn(serve(client, address, losses.clone()));
        }
    });
    format!("http://{local}")
}
