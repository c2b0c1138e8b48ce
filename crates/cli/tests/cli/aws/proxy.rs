//! A proxy in front of moto that misbehaves as EC2 or the network can:
//! - `LoseFirstRun`: carries the first `RunInstances` to moto, then drops the answer (closes the
//!   connection without a byte): moto made the instance, Nephele does not know it;
//! - `Throttle(n)`: answers the first `n` `DescribeInstances` with EC2's 503
//!   `RequestLimitExceeded`, without passing them on;
//! - `EndlessList`: every `DescribeInstances` page says the next page is `loop`, and a request for
//!   page `loop` gets the first page again: a list that never ends.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(Clone, Copy)]
pub enum Mischief {
    LoseFirstRun,
    Throttle(u32),
    EndlessList,
}

pub struct Proxy {
    pub url: String,
    /// Requests it misbehaved on.
    pub mischief_done: Arc<AtomicU32>,
}

const THROTTLED: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message></Error></Errors><RequestID>proxy-throttle</RequestID></Response>";

/// Reads one HTTP/1.1 request (head and `Content-Length` body).
async fn read_request(client: &mut TcpStream) -> Option<Vec<u8>> {
    let mut request = Vec::new();
    let mut buffer = [0u8; 16 * 1024];
    loop {
        let n = client.read(&mut buffer).await.ok()?;
        if n == 0 {
            return None;
        }
        request.extend_from_slice(&buffer[..n]);
        if let Some(end) = request.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&request[..end]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            while request.len() < end + 4 + length {
                let n = client.read(&mut buffer).await.ok()?;
                if n == 0 {
                    return None;
                }
                request.extend_from_slice(&buffer[..n]);
            }
            return Some(request);
        }
    }
}

async fn serve(mut client: TcpStream, upstream: String, mischief: Mischief, done: Arc<AtomicU32>) {
    let Some(request) = read_request(&mut client).await else { return };
    let text = String::from_utf8_lossy(&request).into_owned();
    if let Mischief::Throttle(n) = mischief
        && text.contains("Action=DescribeInstances&")
        && done.fetch_add(1, Ordering::SeqCst) < n
    {
        let answer = format!(
            "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{THROTTLED}",
            THROTTLED.len()
        );
        let _ = client.write_all(answer.as_bytes()).await;
        return;
    }
    let endless = matches!(mischief, Mischief::EndlessList) && text.contains("Action=DescribeInstances&");
    let text = if endless && text.contains("&NextToken=loop") {
        done.fetch_add(1, Ordering::SeqCst);
        // moto does not check signatures, so the body may change (and its length with it).
        with_body(&text, |body| Some(body.replace("&NextToken=loop", ""))).unwrap_or(text)
    } else {
        text
    };
    // One request per upstream connection, so the answer ends where moto closes it.
    let request = text.replacen("\r\n", "\r\nConnection: close\r\n", 1);
    let Ok(mut server) = TcpStream::connect(&upstream).await else { return };
    if server.write_all(request.as_bytes()).await.is_err() {
        return;
    }
    let mut answer = Vec::new();
    let _ = server.read_to_end(&mut answer).await;
    if endless {
        // The answer with `<nextToken>loop</nextToken>` as its last element.
        let text = String::from_utf8_lossy(&answer).into_owned();
        let looped = with_body(&text, |body| {
            let end = body.rfind("</DescribeInstancesResponse>")?;
            Some(format!("{}<nextToken>loop</nextToken>{}", &body[..end], &body[end..]))
        });
        answer = looped.map_or(answer, String::into_bytes);
    }
    let lose = matches!(mischief, Mischief::LoseFirstRun)
        && text.contains("Action=RunInstances")
        && done.compare_exchange(0, 1, Ordering::SeqCst, Ordering::SeqCst).is_ok();
    if !lose {
        let _ = client.write_all(&answer).await;
    }
    // Closed either way: the client opens a new connection for its next call.
}

/// An HTTP message with its body changed by `edit`, its `Content-Length` made to match (and no
/// `Transfer-Encoding`); `None` when it has no body or `edit` declines.
fn with_body(message: &str, edit: impl FnOnce(&str) -> Option<String>) -> Option<String> {
    let (head, body) = message.split_once("\r\n\r\n")?;
    let body = edit(body)?;
    let head: Vec<String> = head
        .split("\r\n")
        .filter(|l| !l.to_ascii_lowercase().starts_with("transfer-encoding:"))
        .map(|l| {
            if l.to_ascii_lowercase().starts_with("content-length:") {
                format!("Content-Length: {}", body.len())
            } else {
                l.to_owned()
            }
        })
        .collect();
    Some(format!("{}\r\n\r\n{body}", head.join("\r\n")))
}

impl Proxy {
    pub async fn start(upstream: &str, mischief: Mischief) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let mischief_done = Arc::new(AtomicU32::new(0));
        let done = mischief_done.clone();
        let upstream = upstream.trim_start_matches("http://").to_owned();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(serve(client, upstream.clone(), mischief, done.clone()));
            }
        });
        Self { url, mischief_done }
    }
}
