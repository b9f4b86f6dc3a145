//! Where log lines go: stderr, through a non-blocking writer, so that a
//! request never waits for a `write(2)` (one line per request at tens of
//! thousands of requests a second; see BENCHMARKS.md). Lines are queued to
//! one writer thread, which writes them in batches (a buffer flushed when
//! the queue runs empty). When the queue is full the line is dropped, not
//! waited for: the drops are counted (`pricepool_log_lines_dropped_total`)
//! and reported in a warning every [`DROP_REPORT_PERIOD`] that saw any.

use std::io::BufWriter;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing_appender::non_blocking::{ErrorCounter, NonBlocking, NonBlockingBuilder, WorkerGuard};

/// Lines the queue holds before it drops: about 4 MB of typical lines, a
/// few tenths of a second of the busiest load measured, so only a stalled
/// log reader (a full pipe, a slow disk) makes the service drop lines.
pub const QUEUED_LINES: usize = 16 * 1024;

/// How often dropped lines are looked for and reported.
pub const DROP_REPORT_PERIOD: Duration = Duration::from_secs(10);

/// Keeps the writer thread; dropping it writes what is queued (waiting up
/// to a second), so `main` holds it until the process exits.
#[must_use = "dropping the guard stops the log writer"]
pub struct LogGuard {
    _worker: WorkerGuard,
}

/// The drop counter of the one installed writer (the first, when tests
/// build several).
static DROPS: OnceLock<ErrorCounter> = OnceLock::new();

/// Drops already reported as a metric and a warning.
static REPORTED: AtomicUsize = AtomicUsize::new(0);

/// The non-blocking stderr writer and the guard that keeps its thread.
pub(crate) fn stderr_writer() -> (NonBlocking, LogGuard) {
    let (writer, worker) = NonBlockingBuilder::default()
        .lossy(true)
        .buffered_lines_limit(QUEUED_LINES)
        .thread_name("pricepool-log")
        .finish(BufWriter::with_capacity(64 * 1024, std::io::stderr()));
    let _first_wins = DROPS.set(writer.error_counter());
    (writer, LogGuard { _worker: worker })
}

/// Adds the lines dropped since the last report to
/// `pricepool_log_lines_dropped_total` and warns about them (the warning
/// itself may be dropped while the queue is full; the counter is not).
pub fn report_dropped_log_lines() {
    let Some(counter) = DROPS.get() else { return };
    report_drops(counter.dropped_lines(), &REPORTED);
}

/// [`report_dropped_log_lines`] for a running total `dropped` of which
/// `reported` were already reported.
fn report_drops(dropped: usize, reported: &AtomicUsize) -> usize {
    let before = reported.fetch_max(dropped, Ordering::Relaxed);
    let new = dropped.saturating_sub(before);
    if new > 0 {
        metrics::counter!("pricepool_log_lines_dropped_total").increment(new as u64);
        tracing::warn!(
            dropped = new,
            dropped_since_start = dropped,
            "log lines were dropped: the log reader does not keep up"
        );
    }
    new
}

/// Reports dropped log lines every [`DROP_REPORT_PERIOD`] until `token`
/// is cancelled (spawned on the background tracker).
pub async fn watch_dropped_log_lines(token: CancellationToken) {
    let mut ticks = tokio::time::interval(DROP_REPORT_PERIOD);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = token.cancelled() => break,
            _ = ticks.tick() => report_dropped_log_lines(),
        }
    }
    report_dropped_log_lines();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_drop_is_reported_once() {
        let reported = AtomicUsize::new(0);
        assert_eq!(report_drops(0, &reported), 0);
        assert_eq!(report_drops(5, &reported), 5);
        assert_eq!(report_drops(5, &reported), 0);
        assert_eq!(report_drops(12, &reported), 7);
    }
}
