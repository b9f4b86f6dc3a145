//! A feed among replicas (`--redis-url`): what it reads from and writes to
//! the shared state, and the lock that makes single-flight span replicas.
//! Without Redis every step here is a no-op and a flight fetches alone.
//!
//! - A miss reads the feed's shared snapshot first (only when its revision
//!   changed) and merges it into the pool, and the shared negative cache
//!   into the coordinator.
//! - A flight takes the lock of its call. Holding it, the feed reads again
//!   (someone may have just filled it) and the sources' shared cooldowns,
//!   fetches, writes the union of what it had and what it fetched (a
//!   compare-and-set on the revision: read, merge and write again when
//!   another replica wrote first), adds what the upstream lacked, shares a
//!   429's cooldown (or, when the fetch failed, the feed's cooldown, so the
//!   waiting replicas do not each try again), and releases. Without it, the
//!   feed waits for a release event (or polls) and reads again; past the
//!   lock's expiry it takes over.
//! - Redis unreachable: the flight fetches alone.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::time::Instant;

use super::Feed;
use crate::pool::{Interval, Pool};
use crate::replicas::{FlightLock, Replicas, SharedCooldown, SharedNegative};
use crate::store::format::DecodedSnapshot;
use crate::upstream::coordinator::NegativeEntry;
use crate::upstream::error::{IncompleteReason, UpstreamErrorKind};
use crate::upstream::failover::Attempt;
use crate::upstream::gate::Cooldown;
use crate::upstream::plan::collect_range;

/// How often a lock waiter looks again when no event woke it.
const LOCK_POLL: Duration = Duration::from_millis(250);

/// How much longer than the fetch deadline a call's lock lasts: the
/// holder's fetch ends by its deadline, and writing the result takes
/// milliseconds; a holder that died frees it after this.
const LOCK_MARGIN: Duration = Duration::from_secs(2);

/// How long a call's lock lasts with `fetch_deadline`.
pub(crate) fn lock_ttl(fetch_deadline: Duration) -> Duration {
    fetch_deadline + LOCK_MARGIN
}

/// What a flight does after claiming its call.
pub(super) enum Claim {
    /// Another replica brought it: these are the call's intervals.
    Filled(Arc<Vec<Interval>>),
    /// Another replica's fetch of it failed: no call before this cooldown ends.
    HeldOff(Cooldown),
    /// Fetch it by `deadline`, holding `lock` (none when alone).
    Fetch {
        lock: Option<FlightLock>,
        deadline: Instant,
    },
}

impl Feed {
    fn replicas(&self) -> Option<&Replicas> {
        self.inner.context.replicas.as_ref()
    }

    /// Reads the feed's shared state (see the module doc). Nothing without
    /// Redis or when it is unreachable.
    pub(super) async fn pull_shared(&self) {
        if self.replicas().is_none() {
            return;
        }
        let mut known = self.inner.shared_revision.lock().await;
        self.pull_locked(&mut known).await;
    }

    async fn pull_locked(&self, known: &mut u64) {
        let Some(replicas) = self.replicas() else {
            return;
        };
        let now = self.inner.context.clock.now();
        let Ok(pulled) = replicas.pull(&self.inner.info, *known, now).await else {
            return;
        };
        if pulled.revision != *known {
            // A snapshot that cannot be merged leaves `known` behind, so the
            // next push's compare-and-set fails rather than overwrite the
            // other replicas' intervals with this one's.
            let merged = pulled
                .snapshot
                .is_none_or(|decoded| self.merge(decoded, now));
            if merged {
                *known = pulled.revision;
            }
        }
        let negatives = pulled.negatives.into_iter().map(negative_entry).collect();
        self.lock_coordinator().shared_negatives(negatives);
    }

    /// Merges another replica's snapshot into the pool: the union, the
    /// newer fetch winning where both have an interval. False when the
    /// union is refused (this replica's pool is kept).
    fn merge(&self, decoded: DecodedSnapshot, now: DateTime<Utc>) -> bool {
        let live = {
            let mut pool = self.lock_pool();
            let mut union = pool.snapshot();
            union.last_fetch = union.last_fetch.max(decoded.snapshot.last_fetch);
            union.groups.extend(decoded.snapshot.groups);
            match Pool::restore(pool.home().clone(), pool.config().clone(), union, now) {
                Ok(merged) => *pool = merged,
                Err(error) => {
                    tracing::warn!(feed = %self.inner.info.id, %error, "a shared snapshot could not be merged; keeping this replica's and not overwriting it");
                    return false;
                }
            }
            pool.len()
        };
        super::record_live_intervals(&self.inner.info.id, live);
        (self.inner.context.on_change)(&self.inner.info.id);
        true
    }

    /// Writes the pool as the feed's shared snapshot (merging first when
    /// another replica wrote since the last read) and adds `negatives`.
    pub(super) async fn push_shared(&self, negatives: &[NegativeEntry]) {
        let Some(replicas) = self.replicas() else {
            return;
        };
        let mut known = self.inner.shared_revision.lock().await;
        for _ in 0..3 {
            let (info, snapshot) = self.with_pool(|pool| (pool.home().clone(), pool.snapshot()));
            if snapshot.groups.is_empty() {
                break;
            }
            let now = self.inner.context.clock.now();
            match replicas.push(&info, &snapshot, *known, now).await {
                Ok(Some(revision)) => {
                    *known = revision;
                    break;
                }
                Ok(None) => self.pull_locked(&mut known).await,
                Err(_) => return,
            }
        }
        drop(known);
        let shared: Vec<SharedNegative> = negatives.iter().map(shared_negative).collect();
        let _ = replicas.add_negatives(&self.inner.info.id, &shared).await;
    }

    /// Reads everything shared again and writes the pool: after Redis came
    /// back (maybe empty), so what this replica has is shared again and
    /// what others wrote meanwhile is read.
    pub(crate) async fn resync(&self) {
        if self.replicas().is_none() {
            return;
        }
        {
            let mut known = self.inner.shared_revision.lock().await;
            // Whatever revision Redis has now, read its value.
            *known = u64::MAX;
            self.pull_locked(&mut known).await;
        }
        self.push_shared(&[]).await;
    }

    /// Claims the call `[start, end)` across replicas (see the module doc).
    /// `deadline` is the flight's; waiting for another replica's lock ends
    /// by `deadline` plus the lock's expiry, and a fetch after a wait gets
    /// a fetch deadline of its own within that.
    pub(super) async fn claim(
        &self,
        call: (DateTime<Utc>, DateTime<Utc>),
        deadline: Instant,
    ) -> Claim {
        let Some(replicas) = self.replicas() else {
            return Claim::Fetch {
                lock: None,
                deadline,
            };
        };
        let fetch_deadline = self.inner.context.config.fetch_deadline;
        let ttl = lock_ttl(fetch_deadline);
        let give_up = deadline + ttl;
        let mut events = replicas.events();
        let mut waited = false;
        loop {
            let deadline = if waited {
                (Instant::now() + fetch_deadline).min(give_up)
            } else {
                deadline
            };
            let lock = match replicas.try_lock(&self.inner.info.id, call, ttl).await {
                Ok(Some(lock)) => Some(lock),
                Ok(None) => None,
                Err(_) => {
                    return Claim::Fetch {
                        lock: None,
                        deadline,
                    };
                }
            };
            if let Some(lock) = lock {
                self.pull_shared().await;
                let names: Vec<&str> = self.inner.sources.iter().map(|s| s.name()).collect();
                let _ = replicas.refresh_cooldowns(&names).await;
                if let Some(intervals) = self.covered(call) {
                    let _ = replicas.release(lock).await;
                    return Claim::Filled(intervals);
                }
                if let Some(cooldown) = self.shared_failure(replicas).await {
                    let _ = replicas.release(lock).await;
                    return Claim::HeldOff(cooldown);
                }
                return Claim::Fetch {
                    lock: Some(lock),
                    deadline,
                };
            }
            if Instant::now() >= give_up {
                return Claim::Fetch {
                    lock: None,
                    deadline,
                };
            }
            waited = true;
            tokio::select! {
                _ = events.changed() => {}
                () = tokio::time::sleep(LOCK_POLL) => {}
                () = tokio::time::sleep_until(give_up) => {}
            }
            self.pull_shared().await;
            if let Some(intervals) = self.covered(call) {
                return Claim::Filled(intervals);
            }
            if let Some(cooldown) = self.shared_failure(replicas).await {
                return Claim::HeldOff(cooldown);
            }
        }
    }

    /// The cooldown after another replica's failed fetch of this feed, if running.
    async fn shared_failure(&self, replicas: &Replicas) -> Option<Cooldown> {
        let now = self.inner.context.clock.now();
        let shared = replicas
            .feed_failure(&self.inner.info.id, now)
            .await
            .ok()??;
        Some(Cooldown::shared(&shared, now))
    }

    /// The call's intervals if the pool holds `[start, end)` but for what
    /// the negative cache says the upstream lacks.
    fn covered(&self, (start, end): (DateTime<Utc>, DateTime<Utc>)) -> Option<Arc<Vec<Interval>>> {
        let now = self.inner.context.clock.now();
        let coordinator = self.lock_coordinator();
        let (gaps, intervals) = {
            let pool = self.lock_pool();
            (
                pool.gaps(start, end).unwrap_or_default(),
                collect_range(&pool, start, end),
            )
        };
        coordinator.explains(gaps, now).then(|| Arc::new(intervals))
    }

    /// After a flight: writes what it brought (or the feed's cooldown when
    /// it failed: `failure`), shares a source's cooldown after a 429 or a
    /// refused token, and releases the call's lock.
    pub(super) async fn share_outcome(
        &self,
        lock: Option<FlightLock>,
        failure: Option<&Cooldown>,
        negatives: &[NegativeEntry],
        attempts: &[Attempt],
    ) {
        let Some(replicas) = self.replicas() else {
            return;
        };
        let now = self.inner.context.clock.now();
        match failure {
            None => self.push_shared(negatives).await,
            Some(cooldown) if cooldown.holds_off_feed() => {
                if let Some(shared) = shared_cooldown(&self.inner.info.id, cooldown) {
                    let _ = replicas
                        .share_feed_failure(&self.inner.info.id, &shared, now)
                        .await;
                }
            }
            Some(_) => {}
        }
        for attempt in attempts {
            let Some(cooldown) = &attempt.failure else {
                continue;
            };
            let kind = cooldown.error.kind;
            let Some(until) = cooldown.until() else {
                continue;
            };
            if matches!(
                kind,
                UpstreamErrorKind::RateLimited | UpstreamErrorKind::Auth
            ) {
                let shared = SharedCooldown {
                    source: attempt.source.to_string(),
                    until,
                    kind: kind.as_str().to_string(),
                    message: cooldown.error.message.clone(),
                };
                let _ = replicas.share_cooldown(shared, now).await;
            }
        }
        if let Some(lock) = lock {
            let _ = replicas.release(lock).await;
        }
    }
}

/// `cooldown` as the replicas share it, for `source` (a source or a feed).
fn shared_cooldown(source: &str, cooldown: &Cooldown) -> Option<SharedCooldown> {
    Some(SharedCooldown {
        source: source.to_string(),
        until: cooldown.until()?,
        kind: cooldown.error.kind.as_str().to_string(),
        message: cooldown.error.message.clone(),
    })
}

fn negative_entry(shared: SharedNegative) -> NegativeEntry {
    NegativeEntry {
        start: shared.start,
        end: shared.end,
        retry_at: shared.retry_at,
        reason: if shared.not_published {
            IncompleteReason::NotPublished
        } else {
            IncompleteReason::NoData
        },
    }
}

fn shared_negative(entry: &NegativeEntry) -> SharedNegative {
    SharedNegative {
        start: entry.start,
        end: entry.end,
        retry_at: entry.retry_at,
        not_published: entry.reason == IncompleteReason::NotPublished,
    }
}
