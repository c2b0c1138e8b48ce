//! A plugin's own output (stderr, and stdout after its handshake line) in the server's log.
//!
//! Line by line, each line cut to [`MAX_LINE_BYTES`], and within a budget of bytes per second for
//! each plugin process ([`BYTES_PER_SECOND`], after a burst of [`BURST_BYTES`]): a line past the
//! budget is dropped and counted (`nephele_provider_plugin_log_lines_dropped`), and the log says
//! so once when a burst of drops begins and once, with the count, after it ends. So one plugin
//! writes at most about 4 MB of log a minute, whatever it prints. (Control characters are
//! escaped by the log's formatter, not here.)
//!
//! It must never let a plugin decide how much the server writes, nor stop reading: a plugin
//! blocked on a full pipe would stall its calls.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, BufReader};

/// Longest line of a plugin's output copied into the log; the rest of the line is skipped.
pub const MAX_LINE_BYTES: usize = 4096;
/// Bytes of log a second one plugin process may cause, sustained.
pub const BYTES_PER_SECOND: u64 = 64 * 1024;
/// Bytes it may cause at once after a quiet while.
pub const BURST_BYTES: u64 = 256 * 1024;
/// What a line costs besides its text: the log's time, level, target and fields.
const LINE_OVERHEAD: u64 = 160;
/// What each control character adds once escaped (`\u{1b}` for one byte, at most).
const ESCAPE_OVERHEAD: u64 = 5;
/// A burst of drops ends when a line is logged this long after the last drop.
const QUIET: Duration = Duration::from_secs(10);

/// One plugin process's log budget, shared by its stdout and stderr.
pub struct Budget {
    name: String,
    bucket: Mutex<Bucket>,
    /// Lines dropped over the budget, over all of the provider's processes.
    dropped: Arc<AtomicU64>,
}

struct Bucket {
    bytes: u64,
    refilled: Instant,
    /// Set while lines are being dropped: how many in this burst, and when the last was.
    burst: Option<(u64, Instant)>,
}

/// What to do with one line.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    Log,
    /// Log it, and say first that a burst of this many dropped lines has ended.
    LogAfterDropping(u64),
    /// Drop it; `true` when it is the first of a burst (say so).
    Drop(bool),
}

impl Bucket {
    fn new(now: Instant) -> Self {
        Self { bytes: BURST_BYTES, refilled: now, burst: None }
    }

    fn admit(&mut self, cost: u64, now: Instant) -> Verdict {
        let earned = now.saturating_duration_since(self.refilled).as_nanos() * u128::from(BYTES_PER_SECOND)
            / 1_000_000_000;
        if earned > 0 {
            self.bytes =
                BURST_BYTES.min(self.bytes.saturating_add(u64::try_from(earned).unwrap_or(u64::MAX)));
            self.refilled = now;
        }
        if self.bytes < cost {
            return match &mut self.burst {
                Some((count, last)) => {
                    *count += 1;
                    *last = now;
                    Verdict::Drop(false)
                }
                None => {
                    self.burst = Some((1, now));
                    Verdict::Drop(true)
                }
            };
        }
        self.bytes -= cost;
        match self.burst {
            Some((count, last)) if now.saturating_duration_since(last) >= QUIET => {
                self.burst = None;
                Verdict::LogAfterDropping(count)
            }
            _ => Verdict::Log,
        }
    }
}

impl Budget {
    pub fn new(name: String, dropped: Arc<AtomicU64>) -> Arc<Self> {
        Arc::new(Self { name, bucket: Mutex::new(Bucket::new(Instant::now())), dropped })
    }

    fn admit(&self, text: &str) -> Verdict {
        let controls = text.chars().filter(|c| c.is_control()).count() as u64;
        let cost = text.len() as u64 + controls * ESCAPE_OVERHEAD + LINE_OVERHEAD;
        let verdict = match self.bucket.lock() {
            Ok(mut bucket) => bucket.admit(cost, Instant::now()),
            Err(_) => Verdict::Drop(false),
        };
        if matches!(verdict, Verdict::Drop(_)) {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
        verdict
    }

    fn log(&self, stream: &'static str, text: &str) {
        match self.admit(text) {
            Verdict::Log => {}
            Verdict::LogAfterDropping(count) => tracing::warn!(
                target: "nephele::plugin", provider = %self.name,
                "the plugin's output is within its budget again; {count} lines were dropped"
            ),
            Verdict::Drop(first) => {
                if first {
                    tracing::warn!(
                        target: "nephele::plugin", provider = %self.name,
                        "the plugin writes more than {} KiB of output a second; dropping lines until it slows down (counted in nephele_provider_plugin_log_lines_dropped)",
                        BYTES_PER_SECOND / 1024
                    );
                }
                return;
            }
        }
        tracing::info!(target: "nephele::plugin", provider = %self.name, stream, "{text}");
    }

    /// At the end of the plugin's output: a burst still under way is reported.
    fn finish(&self) {
        let burst = self.bucket.lock().ok().and_then(|mut b| b.burst.take());
        if let Some((count, _)) = burst {
            tracing::warn!(
                target: "nephele::plugin", provider = %self.name,
                "the plugin's output ended; {count} lines were dropped over its budget"
            );
        }
    }
}

/// Copies one of a plugin's outputs into the log until it ends.
pub async fn forward(budget: Arc<Budget>, stream: &'static str, output: impl AsyncRead + Unpin) {
    let mut reader = BufReader::new(output);
    let mut line = Vec::new();
    loop {
        line.clear();
        match (&mut reader).take(MAX_LINE_BYTES as u64).read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {
                let text = String::from_utf8_lossy(&line);
                let text = text.trim_end();
                if !text.is_empty() {
                    budget.log(stream, text);
                }
                // Skip the rest of an over-long line, a bounded piece at a time.
                while !line.ends_with(b"\n") {
                    line.clear();
                    match (&mut reader).take(MAX_LINE_BYTES as u64).read_until(b'\n', &mut line).await {
                        Ok(0) | Err(_) => {
                            budget.finish();
                            return;
                        }
                        Ok(_) => {}
                    }
                }
            }
        }
    }
    budget.finish();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_is_held_to_the_rate_and_each_burst_is_said_once() {
        let start = Instant::now();
        let mut bucket = Bucket::new(start);
        let line = 4096 + LINE_OVERHEAD;
        // A minute of a plugin printing 1,000 full lines every 10 ms.
        let mut logged = 0u64;
        let mut first_drops = 0;
        for tick in 0..6000u64 {
            let now = start + Duration::from_millis(tick * 10);
            for _ in 0..1000 {
                match bucket.admit(line, now) {
                    Verdict::Log | Verdict::LogAfterDropping(_) => logged += line,
                    Verdict::Drop(true) => first_drops += 1,
                    Verdict::Drop(false) => {}
                }
            }
        }
        assert!(logged <= BURST_BYTES + 60 * BYTES_PER_SECOND, "{logged} bytes logged in a minute");
        assert!(logged >= 50 * BYTES_PER_SECOND, "the budget is used: {logged}");
        assert_eq!(first_drops, 1, "one continuous flood is one burst");
    }

    #[test]
    fn a_burst_ends_after_a_quiet_while_with_its_count() {
        let start = Instant::now();
        let mut bucket = Bucket::new(start);
        let mut dropped = 0;
        while bucket.admit(BURST_BYTES / 4, start) != Verdict::Drop(true) {}
        dropped += 1;
        while bucket.admit(BURST_BYTES / 4, start) == Verdict::Drop(false) {
            dropped += 1;
            if dropped == 5 {
                break;
            }
        }
        assert_eq!(bucket.admit(10, start + Duration::from_secs(1)), Verdict::Log, "still in the burst");
        assert_eq!(bucket.admit(10, start + QUIET + Duration::from_secs(1)), Verdict::LogAfterDropping(5));
        assert_eq!(bucket.admit(10, start + QUIET + Duration::from_secs(2)), Verdict::Log);
    }
}
