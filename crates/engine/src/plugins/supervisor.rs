//! Keeps one plugin process running: starts it, notices when it dies (even by `kill -9`),
//! restarts it with backoff, restarts it on request with new settings, and stops it for good
//! (close its stdin, wait 5 s, kill) when the server shuts down. After each process it removes
//! the private directory it made for that start, and nothing else.

use std::sync::Arc;
use std::time::{Duration, Instant};

use nephele_core::ProviderInfo;
use tokio::sync::{mpsc, oneshot, watch};

use super::process::{PluginSpec, Running};

/// First wait before a restart; doubled after each quick failure up to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A plugin that ran this long before dying is restarted after [`MIN_BACKOFF`] again.
const STABLE_AFTER: Duration = Duration::from_secs(30);
/// Time a plugin has to exit after its stdin is closed, before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// A running, configured plugin.
pub struct Connected {
    pub client: super::process::Client,
    /// Counts starts: a call that failed on one generation may be retried on a later one.
    pub generation: u64,
    pub info: ProviderInfo,
    pub rate_limit_per_minute: Option<u32>,
}

/// The plugin as the callers see it.
#[derive(Clone)]
pub enum Link {
    /// A start is under way; `after` is why the one before it failed, if it did (a plugin that
    /// keeps failing is starting most of the time, and the reason must not vanish meanwhile).
    Starting {
        after: Option<String>,
    },
    Up(Arc<Connected>),
    Down {
        reason: String,
        permanent: bool,
        restarts_in: Option<Duration>,
    },
    Stopped,
}

pub enum Command {
    /// Start again with this spec, at once; the outcome of that start (`Up` or `Down`) is sent
    /// back. (Watching `link` for it could miss a start that fails at once: a watch keeps only
    /// the latest value, and `Starting` may be gone before the caller looks.)
    Restart(PluginSpec, oneshot::Sender<Link>),
    Stop,
}

pub struct Supervisor {
    pub link: watch::Receiver<Link>,
    pub commands: mpsc::Sender<Command>,
    pub restarts: Arc<std::sync::atomic::AtomicU64>,
    /// Replicas sharing the provider's rate limit: told to every process this starts.
    pub replicas: Arc<std::sync::atomic::AtomicU32>,
    /// Lines of the plugin's output dropped over the log's budget, over all its processes.
    pub log_lines_dropped: Arc<std::sync::atomic::AtomicU64>,
}

impl Supervisor {
    /// Starts supervising `spec`; the first start is under way when this returns.
    pub fn spawn(spec: PluginSpec) -> (Self, tokio::task::JoinHandle<()>) {
        let (link_tx, link) = watch::channel(Link::Starting { after: None });
        let (commands, receiver) = mpsc::channel(4);
        let restarts = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let replicas = Arc::new(std::sync::atomic::AtomicU32::new(1));
        let log_lines_dropped = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let task = tokio::spawn(supervise(
            spec,
            link_tx,
            receiver,
            Shared {
                restarts: restarts.clone(),
                replicas: replicas.clone(),
                log_lines_dropped: log_lines_dropped.clone(),
            },
        ));
        (Self { link, commands, restarts, replicas, log_lines_dropped }, task)
    }
}

/// What the supervisor shares with the provider it serves.
struct Shared {
    restarts: Arc<std::sync::atomic::AtomicU64>,
    replicas: Arc<std::sync::atomic::AtomicU32>,
    log_lines_dropped: Arc<std::sync::atomic::AtomicU64>,
}

async fn supervise(
    mut spec: PluginSpec,
    link: watch::Sender<Link>,
    mut commands: mpsc::Receiver<Command>,
    shared: Shared,
) {
    let Shared { restarts, replicas, log_lines_dropped } = shared;
    let mut backoff = MIN_BACKOFF;
    let mut generation = 0u64;
    // Who asked for the start under way, to be told how it went (a newer ask replaces it).
    let mut asked: Option<oneshot::Sender<Link>> = None;
    // Why the last start failed or the last process ended, for the next `Starting`.
    let mut last_failure: Option<String> = None;
    loop {
        link.send_replace(Link::Starting { after: last_failure.take() });
        // A start takes up to its timeouts; a command meanwhile abandons it (the half-started
        // process is killed as it is dropped).
        let outcome = tokio::select! {
            outcome = spec.start(log_lines_dropped.clone()) => outcome,
            command = commands.recv() => match command {
                Some(Command::Restart(new, reply)) => {
                    spec = new;
                    asked = Some(reply);
                    backoff = MIN_BACKOFF;
                    continue;
                }
                Some(Command::Stop) | None => {
                    link.send_replace(Link::Stopped);
                    return;
                }
            },
        };
        let mut permanent = false;
        match outcome {
            Ok(mut running) => {
                generation += 1;
                // A new process starts with the whole limit: give it its share at once.
                let sharing = replicas.load(std::sync::atomic::Ordering::Relaxed);
                if sharing > 1 {
                    let request = nephele_plugin_protocol::wire::ShareRateLimitRequest { replicas: sharing };
                    if let Ok(answer) = running.client.share_rate_limit(request).await {
                        running.rate_limit_per_minute = answer.into_inner().rate_limit_per_minute;
                    }
                }
                tracing::info!(provider = %spec.name, version = %running.info.version, generation, "plugin started");
                let up = Link::Up(Arc::new(Connected {
                    client: running.client.clone(),
                    generation,
                    info: running.info.clone(),
                    rate_limit_per_minute: running.rate_limit_per_minute,
                }));
                if let Some(reply) = asked.take() {
                    let _ = reply.send(up.clone());
                }
                link.send_replace(up);
                let started = Instant::now();
                tokio::select! {
                    status = running.child.wait() => {
                        let status = status.map(|s| s.to_string()).unwrap_or_else(|e| e.to_string());
                        if started.elapsed() >= STABLE_AFTER {
                            backoff = MIN_BACKOFF;
                        }
                        tracing::error!(provider = %spec.name, %status, "plugin exited; restarting in {} ms", backoff.as_millis());
                        let reason = format!("the plugin exited ({status}); restarting");
                        last_failure = Some(reason.clone());
                        link.send_replace(Link::Down { reason, permanent: false, restarts_in: Some(backoff) });
                    }
                    command = commands.recv() => {
                        stop(&spec.name, &mut running).await;
                        match command {
                            Some(Command::Restart(new, reply)) => {
                                spec = new;
                                asked = Some(reply);
                                backoff = MIN_BACKOFF;
                                continue;
                            }
                            Some(Command::Stop) | None => {
                                link.send_replace(Link::Stopped);
                                return;
                            }
                        }
                    }
                }
            }
            Err(e) => {
                tracing::error!(provider = %spec.name, permanent = e.permanent, "{e}");
                permanent = e.permanent;
                last_failure = Some(e.message.clone());
                let down = Link::Down {
                    reason: e.message.clone(),
                    permanent: e.permanent,
                    restarts_in: (!e.permanent).then_some(backoff),
                };
                if let Some(reply) = asked.take() {
                    let _ = reply.send(down.clone());
                }
                link.send_replace(down);
            }
        }
        // Wait for the backoff (or, after a permanent failure, for new settings), or a command.
        let wait = async {
            if permanent {
                std::future::pending::<()>().await;
            }
            tokio::time::sleep(backoff).await;
        };
        tokio::select! {
            () = wait => {
                backoff = (backoff * 2).min(MAX_BACKOFF);
                restarts.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            command = commands.recv() => match command {
                Some(Command::Restart(new, reply)) => {
                    spec = new;
                    asked = Some(reply);
                    backoff = MIN_BACKOFF;
                }
                Some(Command::Stop) | None => {
                    link.send_replace(Link::Stopped);
                    return;
                }
            }
        }
    }
}

/// Closes the plugin's stdin (its signal to stop), waits [`STOP_GRACE`], then kills it.
async fn stop(name: &str, running: &mut Running) {
    running.stdin.take();
    match tokio::time::timeout(STOP_GRACE, running.child.wait()).await {
        Ok(_) => tracing::info!(provider = %name, "plugin stopped"),
        Err(_) => {
            tracing::warn!(provider = %name, "plugin did not stop within {} s; killing it", STOP_GRACE.as_secs());
            let _ = running.child.kill().await;
        }
    }
}
