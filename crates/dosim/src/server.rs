//! Serving the router over HTTP/1.1, with the one thing `axum::serve` cannot do: closing a
//! connection without answering, for the dropped-connection fault.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tower::ServiceExt;

use crate::faults::Faults;
use crate::gate::DropConnection;
use crate::routes;
use crate::sim::{Sim, SimConfig, Stats};

/// A simulator ready to be bound to an address.
pub struct Simulator {
    sim: Arc<Sim>,
}

/// The error a connection's service returns to make hyper close it unanswered.
#[derive(Debug)]
struct DroppedOnPurpose;

impl std::fmt::Display for DroppedOnPurpose {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by fault injection")
    }
}

impl std::error::Error for DroppedOnPurpose {}

impl Simulator {
    /// Builds every account (pre-creating their droplets) without serving yet.
    pub fn new(config: SimConfig) -> Self {
        Self { sim: Arc::new(Sim::new(config)) }
    }

    /// Binds `addr` (port 0 picks a free port) and serves in a background task.
    pub async fn bind(self, addr: SocketAddr) -> io::Result<RunningSim> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let router = routes::router(self.sim.clone());
        let (shutdown, stop) = oneshot::channel();
        let task = tokio::spawn(accept_loop(listener, router, stop));
        Ok(RunningSim { addr, sim: self.sim, shutdown: Some(shutdown), task })
    }
}

async fn accept_loop(listener: TcpListener, router: Router, mut stop: oneshot::Receiver<()>) {
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    continue;
                }
            },
            _ = &mut stop => return,
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
                let router = router.clone();
                async move {
                    let response = match router.oneshot(request).await {
                        Ok(response) => response,
                        Err(never) => match never {},
                    };
                    if response.extensions().get::<DropConnection>().is_some() {
                        return Err(DroppedOnPurpose);
                    }
                    Ok(response)
                }
            });
            // An error here is a client hanging up or a drop we injected; neither needs a log.
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// A simulator serving in the background; stops accepting when dropped.
pub struct RunningSim {
    addr: SocketAddr,
    sim: Arc<Sim>,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl RunningSim {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, the base URL to give a DigitalOcean client.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The counters, with each account's own figures.
    pub fn stats(&self) -> Stats {
        self.sim.snapshot()
    }

    pub fn set_faults(&self, faults: Faults) {
        self.sim.set_faults(faults);
    }

    pub fn reset(&self) {
        self.sim.reset();
    }

    /// The simulator's time now: simulated if set, real otherwise.
    pub fn now(&self) -> time::OffsetDateTime {
        self.sim.now()
    }

    /// Sets the simulated clock (never backwards), as `PUT /_sim/clock` does.
    pub fn set_clock(&self, to: time::OffsetDateTime) -> Result<time::OffsetDateTime, crate::ClockError> {
        self.sim.set_clock(to)
    }

    /// Moves the clock forward, as `POST /_sim/clock` does.
    pub fn advance_clock(&self, seconds: u64) -> Result<time::OffsetDateTime, crate::ClockError> {
        self.sim.advance_clock(seconds)
    }

    /// Serves until the process is stopped.
    pub async fn wait(mut self) {
        let task = std::mem::replace(&mut self.task, tokio::spawn(async {}));
        let _ = task.await;
    }
}

impl Drop for RunningSim {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}
