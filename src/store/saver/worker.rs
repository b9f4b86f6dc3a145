//! The saver's worker: the deadline loop that decides when each dirty
//! home is written, starts the writes on blocking threads (at most
//! `max_concurrent_writes`, one per home), settles their results (retry
//! with backoff on failure) and does the final flush on cancellation.

use std::collections::HashMap;
use std::future::pending;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::task::{JoinError, JoinSet};
use tokio::time::{Instant, sleep_until};
use tokio_util::sync::CancellationToken;

use super::{Saver, SaverConfig, Shared, SnapshotSource, later};
use crate::store::fs::{WriteError, WriteStep};
use crate::store::{SaveError, Store, lock_ignoring_poison};

/// The home and what its write did: `Ok(true)` written, `Ok(false)`
/// nothing to write (the home is gone).
type WriteResult = (String, Result<bool, SaveError>);

/// The deadline loop's state: one per saver, owned by its task.
pub(super) struct Worker {
    store: Store,
    source: SnapshotSource,
    config: SaverConfig,
    shared: Arc<Shared>,
    /// Writes running on blocking threads.
    writes: JoinSet<WriteResult>,
    /// Task id → home, to settle a write whose task died.
    writing: HashMap<tokio::task::Id, String>,
}

/// What one scan of the homes found.
struct Scan {
    /// The earliest deadline not yet reached.
    next_due: Option<Instant>,
    /// Whether any home has changes not on disk.
    any_dirty: bool,
}

impl Worker {
    /// A worker over `shared`, the state its [`Saver`] handle marks.
    pub(super) fn new(
        store: Store,
        source: SnapshotSource,
        config: SaverConfig,
        shared: Arc<Shared>,
    ) -> Worker {
        Worker {
            store,
            source,
            config,
            shared,
            writes: JoinSet::new(),
            writing: HashMap::new(),
        }
    }
}

async fn sleep_until_some(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => sleep_until(deadline).await,
        None => pending().await,
    }
}
impl Worker {
    /// Runs until `token` is cancelled, then does the final flush.
    pub(super) async fn run(mut self, token: CancellationToken) {
        let shared = Arc::clone(&self.shared);
        loop {
            let scan = self.start_due_writes(shared.flush_now.load(Ordering::Acquire));
            tokio::select! {
                biased;
                () = token.cancelled() => break,
                Some(joined) = self.writes.join_next_with_id() => self.finish(joined),
                () = sleep_until_some(scan.next_due) => {}
                () = shared.wake.notified() => {}
            }
        }
        self.flush().await;
    }

    /// Final flush: every dirty home now, retrying failures with backoff
    /// until the deadline.
    async fn flush(mut self) {
        let shared = Arc::clone(&self.shared);
        let deadline = later(Instant::now(), self.config.shutdown_deadline);
        for state in lock_ignoring_poison(&shared.homes).values_mut() {
            state.retry_at = None;
        }
        loop {
            let scan = self.start_due_writes(true);
            if self.writes.is_empty() && !scan.any_dirty {
                tracing::info!("saver flushed every dirty home");
                return;
            }
            tokio::select! {
                biased;
                Some(joined) = self.writes.join_next_with_id() => self.finish(joined),
                () = sleep_until(deadline) => break,
                () = sleep_until_some(scan.next_due) => {}
                () = shared.wake.notified() => {}
            }
        }
        let unsaved = Saver {
            shared: Arc::clone(&shared),
        }
        .unsaved_homes();
        tracing::error!(
            ?unsaved,
            deadline = ?self.config.shutdown_deadline,
            "shutdown deadline passed before every dirty home was written; their latest changes are lost"
        );
    }

    /// Starts the writes that are due (up to the concurrency limit).
    fn start_due_writes(&mut self, flushing: bool) -> Scan {
        let now = Instant::now();
        let mut to_start: Vec<String> = Vec::new();
        let mut scan = Scan {
            next_due: None,
            any_dirty: false,
        };
        {
            let mut homes = lock_ignoring_poison(&self.shared.homes);
            for (home_id, state) in homes.iter_mut() {
                scan.any_dirty |= state.pending.is_some() || state.in_flight.is_some();
                let Some(due) = state.due(&self.config, flushing) else {
                    continue;
                };
                if due > now {
                    scan.next_due = Some(scan.next_due.map_or(due, |next| next.min(due)));
                } else if self.writes.len() + to_start.len() < self.config.max_concurrent_writes {
                    state.in_flight = state.pending.take();
                    to_start.push(home_id.clone());
                }
                // Due but at the limit: a finishing write wakes the loop.
            }
        }
        for home_id in to_start {
            self.start_write(home_id);
        }
        scan
    }

    fn start_write(&mut self, home_id: String) {
        let store = self.store.clone();
        let source = Arc::clone(&self.source);
        let clock = self.config.clock.clone();
        let task_home = home_id.clone();
        let handle = self.writes.spawn_blocking(move || {
            let _span = tracing::info_span!("save", home_id = %task_home).entered();
            // The snapshot is taken now, at write time, so it is the latest.
            let result = catch_unwind(AssertUnwindSafe(|| match source(&task_home) {
                Some((home, snapshot)) => store.save(&home, &snapshot, clock.now()).map(|()| true),
                None => Ok(false),
            }))
            .unwrap_or_else(|_| {
                Err(SaveError::SourcePanicked {
                    home_id: task_home.clone(),
                })
            });
            (task_home, result)
        });
        self.writing.insert(handle.id(), home_id);
    }

    fn finish(&mut self, joined: Result<(tokio::task::Id, WriteResult), JoinError>) {
        let (home_id, result) = match joined {
            Ok((task_id, (home_id, result))) => {
                self.writing.remove(&task_id);
                (home_id, result)
            }
            Err(error) => {
                let Some(home_id) = self.writing.remove(&error.id()) else {
                    return;
                };
                let message = format!("the write task of home {home_id} died: {error}");
                (
                    home_id.clone(),
                    Err(SaveError::Write(WriteError {
                        step: WriteStep::Write,
                        path: self.store.homes_dir().to_path_buf(),
                        source: std::io::Error::other(message),
                    })),
                )
            }
        };
        let mut homes = lock_ignoring_poison(&self.shared.homes);
        let state = homes.entry(home_id.clone()).or_default();
        let saved = state.in_flight.take();
        match result {
            Ok(written) => {
                if state.consecutive_failures > 0 {
                    tracing::info!(
                        home_id,
                        failures = state.consecutive_failures,
                        "snapshot saved again after failed writes"
                    );
                }
                if written {
                    state.last_save = Some(self.config.clock.now());
                }
                state.last_error = None;
                state.consecutive_failures = 0;
                state.backoff = None;
                state.retry_at = None;
                tracing::debug!(home_id, "snapshot saved");
            }
            Err(error) => {
                if let Some(saved) = saved {
                    state.pending = Some(saved.merge(state.pending));
                }
                state.consecutive_failures += 1;
                let config = &self.config;
                let delay = state
                    .backoff
                    .get_or_insert_with(|| config.backoff())
                    .next()
                    .unwrap_or(config.retry_max_delay)
                    .min(config.retry_max_delay);
                state.retry_at = Some(later(Instant::now(), delay));
                tracing::warn!(
                    home_id,
                    %error,
                    failures = state.consecutive_failures,
                    retry_in = ?delay,
                    "cannot save the snapshot; the previous file is intact, the home stays dirty and the write is retried"
                );
                state.last_error = Some(error.to_string());
            }
        }
    }
}
