//! Accepting connections without letting callers hold the server: a connection limit, a time
//! limit on request heads (and so on idle keep-alive connections), a deadline and a minimum rate
//! for request bodies, and a clean shutdown.
//!
//! At the limit, a new connection closes the oldest connection that has no request in
//! progress (idle, still sending its head, or still sending its body), so a flood of idle or
//! half-sent connections can never lock out a real request; only when every connection is busy
//! is the new one refused. The limit is kept below the process's open-file limit (raised to its
//! hard maximum at start), so `accept` never fails for want of descriptors.
//!
//! A connection leaves the list however its task ends, a panic included, so a clean stop never
//! waits for a connection that is gone. And every answer is a problem document, even the two
//! hyper writes on its own, without asking the router: a request head too large (431) or a URI
//! too long (414) (see [`Watched`]).

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::ConnectInfo;
use axum::http::StatusCode;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tower::ServiceExt;

/// Descriptors kept back from the connection limit: the listener, the database, the provider
/// clients' pools, log files.
const DESCRIPTOR_HEADROOM: u64 = 256;

/// The limits one listener keeps.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    pub max_connections: usize,
    pub header_read_timeout: Duration,
    /// Time a request body may take, before the time it earns by arriving at the minimum rate.
    pub body_read_timeout: Duration,
    /// Each this many bytes of a body earn it one more second.
    pub body_min_bytes_per_sec: u64,
}

/// The connection limit this process can honour: the configured one, kept below the open-file
/// limit after raising that to its hard maximum.
pub fn effective_max_connections(configured: usize) -> usize {
    let files = rlimit::increase_nofile_limit(u64::MAX).unwrap_or(1024);
    let affordable = files.saturating_sub(DESCRIPTOR_HEADROOM).max(16);
    configured.min(usize::try_from(affordable).unwrap_or(usize::MAX))
}

/// One open connection.
struct Connection {
    /// Requests being answered on it; 0 means idle (or still sending a request head).
    in_flight: AtomicUsize,
    /// Of those, the ones whose body is still arriving: they are not being served yet.
    receiving: AtomicUsize,
    /// Asks the connection to close: at once, or (on shutdown) after its request in flight.
    close: Notify,
    graceful: AtomicBool,
}

/// Every open connection, oldest first.
#[derive(Default)]
struct Connections {
    next_id: AtomicU64,
    open: Mutex<BTreeMap<u64, Arc<Connection>>>,
    all_closed: Notify,
}

impl Connections {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Arc<Connection>>> {
        self.open.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Registers a new connection, closing the oldest idle one first when at `max`; `None` when
    /// every connection is busy. A connection whose request is still sending its body is idle
    /// for this: nothing is being done for it yet, and a slow body must not hold the server.
    fn admit(&self, max: usize) -> Option<(u64, Arc<Connection>)> {
        let mut open = self.lock();
        if open.len() >= max {
            let serving =
                |c: &Connection| c.in_flight.load(Ordering::Acquire) > c.receiving.load(Ordering::Acquire);
            let idle = open.iter().find(|(_, c)| !serving(c)).map(|(id, _)| *id)?;
            if let Some(evicted) = open.remove(&idle) {
                evicted.close.notify_one();
            }
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let connection = Arc::new(Connection {
            in_flight: AtomicUsize::new(0),
            receiving: AtomicUsize::new(0),
            close: Notify::new(),
            graceful: AtomicBool::new(false),
        });
        open.insert(id, connection.clone());
        Some((id, connection))
    }

    fn remove(&self, id: u64) {
        let mut open = self.lock();
        open.remove(&id);
        if open.is_empty() {
            self.all_closed.notify_waiters();
        }
    }

    fn close_all_gracefully(&self) {
        for connection in self.lock().values() {
            connection.graceful.store(true, Ordering::Release);
            connection.close.notify_one();
        }
    }

    fn count(&self) -> usize {
        self.lock().len()
    }
}

/// Keeps a connection in the list for as long as its task lives, and takes it out when the
/// task ends, however it ends: a panic that unwinds the task must not leave an entry that a
/// clean stop then waits for.
struct Registered {
    id: u64,
    connections: Arc<Connections>,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.connections.remove(self.id);
    }
}

/// Counts a request as in flight on its connection for as long as it lives.
struct InFlight(Arc<Connection>);

impl InFlight {
    fn enter(connection: &Arc<Connection>) -> Self {
        connection.in_flight.fetch_add(1, Ordering::AcqRel);
        Self(connection.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Counts a request's body as still arriving for as long as it lives and has not ended.
struct Receiving(Arc<Connection>);

impl Receiving {
    fn enter(connection: &Arc<Connection>) -> Self {
        connection.receiving.fetch_add(1, Ordering::AcqRel);
        Self(connection.clone())
    }
}

impl Drop for Receiving {
    fn drop(&mut self) {
        self.0.receiving.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A request body cut off for arriving too slowly.
#[derive(Debug, thiserror::Error)]
#[error(
    "the request body arrived too slowly: it may take {} s, plus 1 s for every {min_rate} bytes \
     (server.body_read_timeout_secs, server.body_min_bytes_per_sec)",
    timeout.as_secs()
)]
struct BodyTooSlow {
    timeout: Duration,
    min_rate: u64,
}

/// A request body that must keep arriving: it may take `body_read_timeout`, plus a second for
/// every `body_min_bytes_per_sec` bytes it brings; past that it ends with [`BodyTooSlow`]. While
/// it is arriving, its connection counts as idle at the connection limit.
struct ArrivingBody {
    inner: Incoming,
    began: tokio::time::Instant,
    received: u64,
    timeout: Duration,
    min_rate: u64,
    deadline: Pin<Box<tokio::time::Sleep>>,
    /// Until the body has ended.
    receiving: Option<Receiving>,
    ended: bool,
}

impl ArrivingBody {
    fn new(inner: Incoming, connection: &Arc<Connection>, limits: &ConnectionLimits) -> Self {
        let began = tokio::time::Instant::now();
        let receiving = (!inner.is_end_stream()).then(|| Receiving::enter(connection));
        Self {
            inner,
            began,
            received: 0,
            timeout: limits.body_read_timeout,
            min_rate: limits.body_min_bytes_per_sec.max(1),
            deadline: Box::pin(tokio::time::sleep_until(began + limits.body_read_timeout)),
            receiving,
            ended: false,
        }
    }

    fn end(&mut self) {
        self.ended = true;
        self.receiving = None;
    }
}

impl Body for ArrivingBody {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if this.ended {
            return Poll::Ready(None);
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.received = this.received.saturating_add(data.len() as u64);
                    let earned = Duration::from_millis(this.received.saturating_mul(1000) / this.min_rate);
                    this.deadline.as_mut().reset(this.began + this.timeout.saturating_add(earned));
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(error))) => {
                this.end();
                Poll::Ready(Some(Err(error.into())))
            }
            Poll::Ready(None) => {
                this.end();
                Poll::Ready(None)
            }
            Poll::Pending => {
                if this.deadline.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                this.end();
                Poll::Ready(Some(Err(BodyTooSlow { timeout: this.timeout, min_rate: this.min_rate }.into())))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.ended || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The answer hyper writes on its own when it cannot read a request head, recognised by its
/// status line and its shape (no `content-type`: every answer the router makes has one): 414
/// for a URI too long, 431 for a head too large, 400 for one that is malformed.
fn automatic_answer(written: &[u8]) -> Option<StatusCode> {
    const STATUS_LINES: [(&[u8], StatusCode); 3] = [
        (b"HTTP/1.1 414 ", StatusCode::URI_TOO_LONG),
        (b"HTTP/1.1 431 ", StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE),
        (b"HTTP/1.1 400 ", StatusCode::BAD_REQUEST),
    ];
    // Checked on every write: the common case (not one of these) costs a comparison or three.
    let (_, status) = STATUS_LINES.into_iter().find(|(line, _)| written.starts_with(line))?;
    let head_end = written.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&written[..head_end]).to_ascii_lowercase();
    (!head.contains("\r\ncontent-type:")).then_some(status)
}

/// A connection's socket, watched for the answers hyper writes without asking the router
/// ([`automatic_answer`]): their bytes are dropped, and a problem document goes out in their
/// place when hyper flushes. Everything else passes untouched.
struct Watched {
    stream: TcpStream,
    peer: SocketAddr,
    /// The problem document that replaces hyper's answer, and how much of it is written.
    replacement: Option<(Vec<u8>, usize)>,
}

impl Watched {
    /// Whether `written` is hyper's own answer, and if so, prepares ours.
    fn intercepts(&mut self, written: &[u8]) -> bool {
        if self.replacement.is_none()
            && let Some(status) = automatic_answer(written)
        {
            let request_id = uuid::Uuid::now_v7().to_string();
            tracing::info!(peer = %self.peer, status = status.as_u16(), request_id, "a request head could not be read");
            self.replacement = Some((crate::api::error::unreadable_head(status, &request_id), 0));
        }
        self.replacement.is_some()
    }

    /// Writes what is left of the replacement.
    fn poll_replacement(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let Some((bytes, written)) = self.replacement.as_mut() else { return Poll::Ready(Ok(())) };
        while *written < bytes.len() {
            match Pin::new(&mut self.stream).poll_write(cx, &bytes[*written..]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => *written += n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncRead for Watched {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Watched {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.intercepts(buf) {
            return Poll::Ready(Ok(buf.len()));
        }
        Pin::new(&mut this.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let first = bufs.iter().find(|b| !b.is_empty()).map_or(&[][..], |b| &b[..]);
        if this.intercepts(first) {
            return Poll::Ready(Ok(bufs.iter().map(|b| b.len()).sum()));
        }
        Pin::new(&mut this.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        std::task::ready!(this.poll_replacement(cx))?;
        Pin::new(&mut this.stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        std::task::ready!(this.poll_replacement(cx))?;
        Pin::new(&mut this.stream).poll_shutdown(cx)
    }
}

/// Serves `router` on `listener` within `limits` until `shutdown` completes, then stops
/// accepting and lets requests in flight finish (for up to `grace`).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> std::io::Result<()> {
    let max = effective_max_connections(limits.max_connections);
    let connections = Arc::new(Connections::default());
    tracing::info!(
        max_connections = max,
        header_read_timeout_secs = limits.header_read_timeout.as_secs(),
        body_read_timeout_secs = limits.body_read_timeout.as_secs(),
        body_min_bytes_per_sec = limits.body_min_bytes_per_sec,
        "accepting connections"
    );
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                // Out of descriptors or a connection reset before accept: wait a moment, go on.
                tracing::warn!(error = %e, "cannot accept a connection");
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let Some((id, connection)) = connections.admit(max) else {
            tracing::warn!(%peer, max, "every connection is busy; refusing a new one");
            drop(stream);
            continue;
        };
        let router = router.clone();
        let registered = Registered { id, connections: connections.clone() };
        tokio::spawn(async move {
            let _registered = registered;
            serve_connection(stream, peer, router, &connection, limits).await;
        });
    }
    drop(listener);
    connections.close_all_gracefully();
    let drained = async {
        while connections.count() > 0 {
            let notified = connections.all_closed.notified();
            if connections.count() == 0 {
                break;
            }
            notified.await;
        }
    };
    if tokio::time::timeout(grace, drained).await.is_err() {
        tracing::warn!(open = connections.count(), "shutting down with connections still open");
    }
    Ok(())
}

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    connection: &Arc<Connection>,
    limits: ConnectionLimits,
) {
    let _ = stream.set_nodelay(true);
    let counted = connection.clone();
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        let in_flight = InFlight::enter(&counted);
        request.extensions_mut().insert(ConnectInfo(peer));
        let router = router.clone();
        let request = request.map(|body| axum::body::Body::new(ArrivingBody::new(body, &counted, &limits)));
        async move {
            let response = router.oneshot(request).await;
            drop(in_flight);
            Ok::<_, Infallible>(response.unwrap_or_else(|never| match never {}))
        }
    });
    let watched = Watched { stream, peer, replacement: None };
    let http = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .serve_connection(TokioIo::new(watched), service);
    tokio::pin!(http);
    tokio::select! {
        result = http.as_mut() => {
            if let Err(e) = result {
                tracing::debug!(%peer, error = %e, "connection ended");
            }
        }
        () = connection.close.notified() => {
            if connection.graceful.load(Ordering::Acquire) {
                http.as_mut().graceful_shutdown();
                let _ = http.await;
            }
            // Otherwise it was closed to make room: dropping it closes the socket.
        }
    }
}
