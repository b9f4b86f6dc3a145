//! The debounced saver: a change marks a home dirty; its snapshot is
//! written `save_delay` after the latest change, but never later than
//! `save_max_delay` after the first unsaved one, so a steady trickle of
//! changes cannot postpone the write forever.
//!
//! One background task (a deadline loop like mini-redis's purge task:
//! `select!` over the next deadline, a `Notify` and the cancellation
//! token) decides when; the writes themselves run on blocking threads,
//! at most one per home at a time. The snapshot is taken when the write
//! starts, so it holds the latest data. A failed write keeps the home
//! dirty and is retried with exponential backoff; the previous file stays
//! intact. On cancellation the timers are dropped and every dirty home is
//! written at once, within `shutdown_deadline`.
//!
//! This file holds the handle (`Saver`, `SaverConfig`, `SaveStatus`) and
//! the per-home state it shares with the worker; `worker` holds the loop.

mod worker;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder};
use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::{Store, lock_ignoring_poison};
use crate::clock::Clock;
use crate::pool::{HomeInfo, PoolSnapshot};
use worker::Worker;

/// How the saver gets a home's current content when it writes: the app
/// passes a closure that locks the home's pool briefly and takes
/// `Pool::snapshot()`. `None` means the home is gone (nothing to write).
pub type SnapshotSource = Arc<dyn Fn(&str) -> Option<(HomeInfo, PoolSnapshot)> + Send + Sync>;

/// When the saver writes and how hard it retries.
#[derive(Debug, Clone)]
pub struct SaverConfig {
    /// Quiet time after the latest change before writing (default 3 s).
    pub save_delay: Duration,
    /// The longest a change waits for its write (default 30 s), however
    /// often the home keeps changing.
    pub save_max_delay: Duration,
    /// How long the final flush on shutdown may take (default 10 s).
    pub shutdown_deadline: Duration,
    /// First wait after a failed write (default 1 s), doubling, with up to
    /// 100 % jitter added, and never more than `retry_max_delay` (default 60 s).
    pub retry_min_delay: Duration,
    /// The longest wait between two attempts at a failing write.
    pub retry_max_delay: Duration,
    /// Writes running at once, across homes (default 4): 1,000 homes
    /// flushed at shutdown must not take 1,000 blocking threads.
    pub max_concurrent_writes: usize,
    /// The service's wall clock, for `saved_at` and `last_save` (so
    /// `--now` replays stamp them consistently with everything else).
    pub clock: Clock,
    /// How often the data-directory lock is checked between writes
    /// (default 1 s; one `stat`): if the directory was deleted, it is
    /// created and locked again within this time, so a second instance
    /// started later is refused (see `Store::ensure_locked`).
    pub lock_check_interval: Duration,
}

impl Default for SaverConfig {
    fn default() -> Self {
        SaverConfig {
            save_delay: Duration::from_secs(3),
            save_max_delay: Duration::from_secs(30),
            shutdown_deadline: Duration::from_secs(10),
            retry_min_delay: Duration::from_secs(1),
            retry_max_delay: Duration::from_secs(60),
            max_concurrent_writes: 4,
            clock: Clock::system(),
            lock_check_interval: Duration::from_secs(1),
        }
    }
}

impl SaverConfig {
    fn backoff(&self) -> ExponentialBackoff {
        ExponentialBuilder::default()
            .with_min_delay(self.retry_min_delay)
            .with_max_delay(self.retry_max_delay)
            .with_factor(2.0)
            .with_jitter()
            .without_max_times()
            .build()
    }
}

/// One home's persistence state, for `/stats`, `/readyz` and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SaveStatus {
    /// Changes not yet on disk (including a write in progress).
    pub dirty: bool,
    /// When the last successful write finished.
    pub last_save: Option<DateTime<Utc>>,
    /// Why the last write failed, while it has not succeeded since.
    pub last_error: Option<String>,
    /// Failed writes in a row.
    pub consecutive_failures: u32,
}

/// The debounced saver: a cheap-to-clone handle over the per-home save
/// state, and a worker task (started by [`Saver::spawn_worker`]) that
/// writes. Changes may be marked before the worker starts; it picks them up.
#[derive(Clone, Default)]
pub struct Saver {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Saver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Saver").finish_non_exhaustive()
    }
}

#[derive(Default)]
struct Shared {
    /// Per-home state. std Mutex: `mark_dirty` is called from sync code
    /// (the change hook, under no async context), the lock is held only
    /// to update a map entry, never across an `.await` or a file write.
    homes: Mutex<HashMap<String, HomeState>>,
    /// Wakes the loop after a change, so it can arm the home's deadline.
    wake: Notify,
    /// Set by `flush_soon` when shutdown begins: from then on every change
    /// is written at once, without the debounce. Atomic: read by the loop,
    /// set from any task.
    flush_now: AtomicBool,
}

/// An unsaved stretch of changes.
#[derive(Debug, Clone, Copy)]
struct Pending {
    first_change: Instant,
    last_change: Instant,
}

impl Pending {
    fn merge(self, other: Option<Pending>) -> Pending {
        match other {
            None => self,
            Some(other) => Pending {
                first_change: self.first_change.min(other.first_change),
                last_change: self.last_change.max(other.last_change),
            },
        }
    }
}

#[derive(Default)]
struct HomeState {
    /// Changes no write has taken yet.
    pending: Option<Pending>,
    /// Changes the running write is saving (`Some` while one runs).
    in_flight: Option<Pending>,
    /// After a failure: no new attempt before this.
    retry_at: Option<Instant>,
    backoff: Option<ExponentialBackoff>,
    consecutive_failures: u32,
    last_save: Option<DateTime<Utc>>,
    last_error: Option<String>,
}

impl HomeState {
    /// When this home should be written, if it should. `flushing` ignores
    /// the debounce (shutdown) but not a retry backoff.
    fn due(&self, config: &SaverConfig, flushing: bool) -> Option<Instant> {
        if self.in_flight.is_some() {
            return None;
        }
        let pending = self.pending?;
        let debounced = if flushing {
            pending.first_change
        } else {
            later(pending.last_change, config.save_delay)
                .min(later(pending.first_change, config.save_max_delay))
        };
        Some(
            self.retry_at
                .map_or(debounced, |retry| debounced.max(retry)),
        )
    }
}

impl Saver {
    /// Records that `home_id` changed. Cheap, never blocks on I/O.
    pub fn mark_dirty(&self, home_id: &str) {
        let now = Instant::now();
        {
            let mut homes = lock_ignoring_poison(&self.shared.homes);
            let state = match homes.get_mut(home_id) {
                Some(state) => state,
                None => homes.entry(home_id.to_owned()).or_default(),
            };
            state.pending = Some(match state.pending {
                Some(pending) => Pending {
                    last_change: now,
                    ..pending
                },
                None => Pending {
                    first_change: now,
                    last_change: now,
                },
            });
        }
        self.shared.wake.notify_one();
    }

    /// Shutdown has begun: write every dirty home now, and from now on each
    /// change as it comes, without waiting for the debounce. The saver keeps
    /// running until its token is cancelled, then does the final flush. The
    /// app calls this when the stop signal arrives, so a slow drain of
    /// in-flight requests cannot push the writes past a supervisor's kill.
    pub fn flush_soon(&self) {
        self.shared.flush_now.store(true, Ordering::Release);
        self.shared.wake.notify_one();
    }

    /// The home's persistence state; a home never marked is clean.
    pub fn status(&self, home_id: &str) -> SaveStatus {
        lock_ignoring_poison(&self.shared.homes)
            .get(home_id)
            .map(|state| SaveStatus {
                dirty: state.pending.is_some() || state.in_flight.is_some(),
                last_save: state.last_save,
                last_error: state.last_error.clone(),
                consecutive_failures: state.consecutive_failures,
            })
            .unwrap_or_default()
    }

    /// Homes whose changes are not on disk, sorted; after the saver
    /// returned, the homes its final flush could not write.
    pub fn unsaved_homes(&self) -> Vec<String> {
        let mut ids: Vec<String> = lock_ignoring_poison(&self.shared.homes)
            .iter()
            .filter(|(_, s)| s.pending.is_some() || s.in_flight.is_some())
            .map(|(id, _)| id.clone())
            .collect();
        ids.sort();
        ids
    }

    /// Homes whose latest write failed, with the reason (for `/readyz`).
    pub fn failing_homes(&self) -> Vec<(String, String)> {
        let mut failing: Vec<(String, String)> = lock_ignoring_poison(&self.shared.homes)
            .iter()
            .filter_map(|(id, s)| s.last_error.clone().map(|e| (id.clone(), e)))
            .collect();
        failing.sort();
        failing
    }
}

impl Saver {
    /// A saver with nothing marked and no worker yet.
    pub fn new() -> Saver {
        Saver::default()
    }

    /// A saver whose worker already runs (see [`Saver::spawn_worker`]).
    pub fn spawn(
        store: Store,
        source: SnapshotSource,
        config: SaverConfig,
        token: CancellationToken,
        tracker: &TaskTracker,
    ) -> Saver {
        let saver = Saver::new();
        saver.spawn_worker(store, source, config, token, tracker);
        saver
    }

    /// Spawns the saver loop on `tracker`. It runs until `token` is
    /// cancelled, then writes every dirty home (within
    /// `config.shutdown_deadline`) and returns, so `tracker.wait()`
    /// returns only after the final flush. Start one worker per saver.
    pub fn spawn_worker(
        &self,
        store: Store,
        source: SnapshotSource,
        config: SaverConfig,
        token: CancellationToken,
        tracker: &TaskTracker,
    ) {
        let config = SaverConfig {
            max_concurrent_writes: config.max_concurrent_writes.max(1),
            ..config
        };
        tracker.spawn(super::lock::watch(
            store.clone(),
            config.lock_check_interval,
            token.clone(),
        ));
        let worker = Worker::new(store, source, config, Arc::clone(&self.shared));
        tracker.spawn(worker.run(token));
    }
}

/// `instant + delay`, saturating far in the future instead of panicking
/// on a huge configured delay.
fn later(instant: Instant, delay: Duration) -> Instant {
    instant
        .checked_add(delay)
        .unwrap_or_else(|| instant + Duration::from_secs(30 * 365 * 86_400))
}
