//! Accepting connections without letting callers hold the server: a connection limit, a time
//! limit on request heads (and so on idle keep-alive connections), and a clean shutdown.
//!
//! At the limit, a new connection closes the oldest connection that has no request in
//! progress (idle, or still sending its head), so a flood of idle or half-sent connections can
//! never lock out a real request; only when every connection is busy is the new one refused.
//! The limit is kept below the process's open-file limit (raised to its hard maximum at start),
//! so `accept` never fails for want of descriptors.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tower::ServiceExt;

/// Descriptors kept back from the connection limit: the listener, the database, the provider
/// clients' pools, log files.
const DESCRIPTOR_HEADROOM: u64 = 256;
/// How long a clean shutdown waits for requests in flight.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// The limits one listener keeps.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    pub max_connections: usize,
    pub header_read_timeout: Duration,
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
    /// every connection is busy.
    fn admit(&self, max: usize) -> Option<(u64, Arc<Connection>)> {
        let mut open = self.lock();
        if open.len() >= max {
            let idle =
                open.iter().find(|(_, c)| c.in_flight.load(Ordering::Acquire) == 0).map(|(id, _)| *id)?;
            if let Some(evicted) = open.remove(&idle) {
                evicted.close.notify_one();
            }
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let connection = Arc::new(Connection {
            in_flight: AtomicUsize::new(0),
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

/// Serves `router` on `listener` within `limits` until `shutdown` completes, then lets requests
/// in flight finish (for up to 10 s).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let max = effective_max_connections(limits.max_connections);
    let connections = Arc::new(Connections::default());
    tracing::info!(
        max_connections = max,
        header_read_timeout_secs = limits.header_read_timeout.as_secs(),
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
        let connections = connections.clone();
        tokio::spawn(async move {
            serve_connection(stream, peer, router, &connection, limits.header_read_timeout).await;
            connections.remove(id);
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
    if tokio::time::timeout(SHUTDOWN_GRACE, drained).await.is_err() {
        tracing::warn!(open = connections.count(), "shutting down with connections still open");
    }
    Ok(())
}

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    connection: &Arc<Connection>,
    header_read_timeout: Duration,
) {
    let _ = stream.set_nodelay(true);
    let counted = connection.clone();
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        let in_flight = InFlight::enter(&counted);
        request.extensions_mut().insert(ConnectInfo(peer));
        let router = router.clone();
        async move {
            let response = router.oneshot(request.map(axum::body::Body::new)).await;
            drop(in_flight);
            Ok::<_, Infallible>(response.unwrap_or_else(|never| match never {}))
        }
    });
    let http = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout)
        .serve_connection(TokioIo::new(stream), service);
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
