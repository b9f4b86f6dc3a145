//! Where log lines go: stderr, without a request ever waiting for it. At
//! tens of thousands of requests a second, each writing its access line,
//! one `write(2)` per line cost the request threads ~7% of the process
//! (BENCHMARKS.md); a queue drained by a thread per line (tracing-appender)
//! moved that cost to the thread without lowering it, as the thread woke
//! for nearly every line.
//!
//! So a line is appended to one shared buffer (a short lock and a copy),
//! and a writer thread swaps the buffer out and writes it with one
//! `write(2)` every [`FLUSH_EVERY`], or sooner when it holds
//! [`FLUSH_AT_BYTES`]. When the buffer holds [`MAX_BUFFERED_BYTES`] (the
//! reader of stderr stalled: a full pipe, a slow disk) a line is dropped
//! instead of waited for; drops are counted
//! (`pricepool_log_lines_dropped_total`) and reported in a warning every
//! [`DROP_REPORT_PERIOD`] that saw any.

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing_subscriber::fmt::MakeWriter;

/// How long a line waits in the buffer at most (when the log is quiet).
pub const FLUSH_EVERY: Duration = Duration::from_millis(20);

/// A buffer this full is written at once rather than at the next tick.
pub const FLUSH_AT_BYTES: usize = 256 * 1024;

/// Lines are dropped while this much waits to be written: about 16,000
/// access lines, seconds of the busiest load measured.
pub const MAX_BUFFERED_BYTES: usize = 4 * 1024 * 1024;

/// How often dropped lines are looked for and reported.
pub const DROP_REPORT_PERIOD: Duration = Duration::from_secs(10);

/// What the request threads and the writer thread share.
#[derive(Default)]
struct Shared {
    buffer: Mutex<Vec<u8>>,
    /// Wakes the writer early (a full buffer, shutdown).
    wake: Condvar,
    stopping: AtomicBool,
    dropped: AtomicUsize,
}

/// The `MakeWriter` of the fmt layer: appends each formatted line to the
/// shared buffer.
#[derive(Clone)]
pub(crate) struct BufferedStderr {
    shared: Arc<Shared>,
}

impl Write for &BufferedStderr {
    fn write(&mut self, line: &[u8]) -> std::io::Result<usize> {
        let shared = &self.shared;
        let mut buffer = shared.buffer.lock().unwrap_or_else(PoisonError::into_inner);
        if buffer.len() + line.len() > MAX_BUFFERED_BYTES {
            shared.dropped.fetch_add(1, Ordering::Relaxed);
        } else {
            let first = buffer.is_empty();
            buffer.extend_from_slice(line);
            // The writer sleeps while there is nothing to write; the first
            // line wakes it (at most once per write), a full buffer again.
            if first || buffer.len() >= FLUSH_AT_BYTES {
                shared.wake.notify_one();
            }
        }
        // Reported as written either way: the fmt layer would retry or
        // report a short write, and a dropped line is counted above.
        Ok(line.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for BufferedStderr {
    type Writer = &'a BufferedStderr;

    fn make_writer(&'a self) -> Self::Writer {
        self
    }
}

/// Keeps the writer thread; dropping it writes what is buffered, so
/// `main` holds it until the process exits.
#[must_use = "dropping the guard stops the log writer"]
pub struct LogGuard {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

/// How long exiting waits for the buffered lines to be written: a log
/// reader that stopped reading (a full pipe) must not keep the process
/// from exiting.
const EXIT_WAIT: Duration = Duration::from_secs(1);

impl Drop for LogGuard {
    fn drop(&mut self) {
        {
            // Under the lock, so the writer cannot miss the wake-up between
            // its check and its wait.
            let _buffer = self
                .shared
                .buffer
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            self.shared.stopping.store(true, Ordering::Relaxed);
            self.shared.wake.notify_one();
        }
        let Some(thread) = self.thread.take() else {
            // No writer thread: write what is buffered here.
            let rest = std::mem::take(
                &mut *self
                    .shared
                    .buffer
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner),
            );
            let _ = std::io::stderr().write_all(&rest);
            return;
        };
        let deadline = std::time::Instant::now() + EXIT_WAIT;
        while !thread.is_finished() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(2));
        }
        if thread.is_finished() {
            let _ = thread.join();
        }
    }
}

/// The drop counter of the one installed writer (the first, when tests
/// build several).
static DROPS: OnceLock<Arc<Shared>> = OnceLock::new();

/// Drops already reported as a metric and a warning.
static REPORTED: AtomicUsize = AtomicUsize::new(0);

/// The buffered stderr writer and the guard of its thread. Without a
/// thread (the system refused one) lines are still buffered and written
/// when the guard drops.
pub(crate) fn stderr_writer() -> (BufferedStderr, LogGuard) {
    let shared = Arc::new(Shared::default());
    let _first_wins = DROPS.set(Arc::clone(&shared));
    let for_thread = Arc::clone(&shared);
    let thread = std::thread::Builder::new()
        .name("pricepool-log".to_string())
        .spawn(move || write_until_stopped(&for_thread, std::io::stderr()))
        .ok();
    let guard = LogGuard {
        shared: Arc::clone(&shared),
        thread,
    };
    (BufferedStderr { shared }, guard)
}

/// The writer thread: sleeps until a line comes, lets [`FLUSH_EVERY`]
/// (or [`FLUSH_AT_BYTES`]) of lines gather, takes them and writes them in
/// one call; when stopped writes the rest. A failed write (stderr closed)
/// loses those lines and nothing else.
fn write_until_stopped(shared: &Shared, mut out: impl Write) {
    let stopping = || shared.stopping.load(Ordering::Relaxed);
    let mut spare = Vec::new();
    loop {
        let stop = {
            let buffer = shared.buffer.lock().unwrap_or_else(PoisonError::into_inner);
            let buffer = shared
                .wake
                .wait_while(buffer, |buffer| buffer.is_empty() && !stopping())
                .unwrap_or_else(PoisonError::into_inner);
            let (mut buffer, _) = shared
                .wake
                .wait_timeout_while(buffer, FLUSH_EVERY, |buffer| {
                    buffer.len() < FLUSH_AT_BYTES && !stopping()
                })
                .unwrap_or_else(PoisonError::into_inner);
            std::mem::swap(&mut *buffer, &mut spare);
            stopping()
        };
        let _lost_when_stderr_is_gone = out.write_all(&spare).and_then(|()| out.flush());
        spare.clear();
        if stop {
            let rest =
                std::mem::take(&mut *shared.buffer.lock().unwrap_or_else(PoisonError::into_inner));
            let _ = out.write_all(&rest).and_then(|()| out.flush());
            return;
        }
    }
}

/// Adds the lines dropped since the last report to
/// `pricepool_log_lines_dropped_total` and warns about them (the warning
/// itself may be dropped while the queue is full; the counter is not).
pub fn report_dropped_log_lines() {
    let Some(shared) = DROPS.get() else { return };
    report_drops(shared.dropped.load(Ordering::Relaxed), &REPORTED);
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

    /// Collects what the writer thread writes.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_are_written_in_order_by_the_thread_and_the_rest_when_it_stops() {
        let shared = Arc::new(Shared::default());
        let writer = BufferedStderr {
            shared: Arc::clone(&shared),
        };
        let captured = Captured::default();
        let (for_thread, out) = (Arc::clone(&shared), captured.clone());
        let thread = std::thread::spawn(move || write_until_stopped(&for_thread, out));
        let guard = LogGuard {
            shared: Arc::clone(&shared),
            thread: Some(thread),
        };
        // The writer asleep on an empty buffer: the first line must wake it.
        std::thread::sleep(FLUSH_EVERY * 5);
        (&writer).write_all(b"one\n").unwrap();
        // Written at a tick, without a flush or a stop.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while captured.0.lock().unwrap().is_empty() && std::time::Instant::now() < deadline {
            std::thread::sleep(FLUSH_EVERY);
        }
        assert_eq!(&captured.0.lock().unwrap()[..], b"one\n");
        (&writer).write_all(b"two\n").unwrap();
        (&writer).write_all(b"three\n").unwrap();
        drop(guard);
        assert_eq!(&captured.0.lock().unwrap()[..], b"one\ntwo\nthree\n");
    }

    #[test]
    fn a_line_that_does_not_fit_is_dropped_and_counted() {
        let writer = BufferedStderr {
            shared: Arc::new(Shared::default()),
        };
        let line = vec![b'x'; 1024];
        for _ in 0..MAX_BUFFERED_BYTES / line.len() {
            (&writer).write_all(&line).unwrap();
        }
        assert_eq!(writer.shared.dropped.load(Ordering::Relaxed), 0);
        (&writer).write_all(&line).unwrap();
        (&writer).write_all(b"short\n").unwrap();
        assert_eq!(writer.shared.dropped.load(Ordering::Relaxed), 2);
        assert_eq!(
            writer.shared.buffer.lock().unwrap().len(),
            MAX_BUFFERED_BYTES
        );
    }
}
