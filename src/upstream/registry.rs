//! The registry of homes and the fetch coordinator of each home.
//!
//! A request for `[start, end)` first reads the pool; a hit never waits.
//! Otherwise the coordinator splits the missing ranges into what is not
//! published yet, what the negative cache says the upstream lacks, what a
//! fetch already in flight will bring (single-flight: the request waits for
//! that fetch), and what must be fetched. It plans the fewest calls for the
//! last part (the whole recent window costs one call, neighbouring
//! historical gaps share a call when they fit in one page) and runs each in
//! a spawned task, so a client that goes away cancels nothing. Fetched
//! intervals are added to the pool as one fetch group and merged into the
//! answer directly, so GC evicting them while answering loses nothing.
//! When the upstream fails, what is cached is served, marked incomplete.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};

use chrono::{DateTime, Days, TimeZone, Utc};
use serde::Serialize;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use super::config::UpstreamConfig;
use super::error::{FetchError, IncompleteReason, UpstreamError, UpstreamErrorKind};
use super::gate::CallGate;
use super::source::{FetchRequest, PriceSource, Source};
use crate::clock::Clock;
use crate::pool::days::{local_date, local_midnight, protected_window};
use crate::pool::{Gap, HomeInfo, Interval, Pool, PoolConfig, Resolution};

/// Called with a home id after an upstream answer changed that home's pool,
/// so the saver can mark it dirty. Must be cheap and must not block.
pub type ChangeHook = Arc<dyn Fn(&str) + Send + Sync>;

/// What `Home::intervals` answers: every interval of the range the upstream
/// has (cached or just fetched), and what is missing and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Answer {
    /// Intervals starting in the range, in order.
    pub intervals: Vec<Interval>,
    /// Whether nothing of the range is missing.
    pub complete: bool,
    /// The missing stretches, in order (empty when complete).
    pub missing: Vec<Gap>,
    /// Why something is missing.
    pub reason: Option<IncompleteReason>,
    /// When asking again may fill the missing stretches.
    pub retry_at: Option<DateTime<Utc>>,
    /// The pool's revision when `intervals` are exactly its content over
    /// the range (a complete cache hit); None when the answer was assembled
    /// around a fetch. What is derived from a Some answer stays exact while
    /// [`Home::revision`] reports the same revision.
    pub revision: Option<u64>,
}

/// A home's upstream health, for `/readyz` and `/stats`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct UpstreamStatus {
    /// When a fetch for this home last succeeded.
    pub last_success: Option<DateTime<Utc>>,
    /// The last failure, if it came after the last success.
    pub last_error: Option<StatusError>,
    /// No fetch for this home before this instant (cooldown after a failure,
    /// or the global rate-limit cooldown).
    pub next_retry: Option<DateTime<Utc>>,
}

/// A failure as `UpstreamStatus` reports it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatusError {
    /// What failed.
    pub kind: UpstreamErrorKind,
    /// Its description.
    pub message: String,
    /// When it failed.
    pub at: DateTime<Utc>,
}

/// What every home of a registry shares.
struct Context {
    source: Source,
    config: UpstreamConfig,
    pool_config: PoolConfig,
    clock: Clock,
    on_change: ChangeHook,
    gate: CallGate,
    /// Fetch tasks, so they outlive the request that started them.
    tasks: TaskTracker,
}

/// All homes the service knows, and the upstream they are fetched from.
/// Cheap to clone (an `Arc` inside).
#[derive(Clone)]
pub struct Registry {
    shared: Arc<RegistryShared>,
}

struct RegistryShared {
    context: Arc<Context>,
    /// Homes by id. std RwLock: read on every request, written when homes
    /// are discovered or restored; never held across `.await`.
    homes: RwLock<BTreeMap<String, Home>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("source", &self.shared.context.source.name())
            .field("homes", &self.homes().len())
            .finish()
    }
}

impl Registry {
    /// A registry with no homes yet: call `insert_pool` for restored homes
    /// and `discover` to learn the source's homes.
    pub fn new(
        source: Source,
        config: UpstreamConfig,
        pool_config: PoolConfig,
        clock: Clock,
        on_change: ChangeHook,
    ) -> Registry {
        let gate = CallGate::new(&config, clock.clone(), source.is_metered());
        Registry {
            shared: Arc::new(RegistryShared {
                context: Arc::new(Context {
                    source,
                    config,
                    pool_config,
                    clock,
                    on_change,
                    gate,
                    tasks: TaskTracker::new(),
                }),
                homes: RwLock::new(BTreeMap::new()),
            }),
        }
    }

    /// Adds a home restored from a snapshot (replacing one with the same id),
    /// so it is served even when the upstream is unreachable.
    pub fn insert_pool(&self, pool: Pool) {
        let home = Home::new(pool.home().clone(), pool, self.shared.context.clone());
        let mut homes = self.shared.homes.write().unwrap_or_else(|e| e.into_inner());
        homes.insert(home.info().id.clone(), home);
    }

    /// Asks the source for its homes and adds those not known yet (homes
    /// restored from snapshots keep their pools).
    pub async fn discover(&self) -> Result<(), UpstreamError> {
        let context = &self.shared.context;
        let deadline = tokio::time::Instant::now() + context.config.fetch_deadline;
        let found =
            tokio::time::timeout_at(deadline, context.source.homes(&context.gate, deadline))
                .await
                .map_err(|_| UpstreamError::Timeout(context.config.fetch_deadline))??;
        let mut homes = self.shared.homes.write().unwrap_or_else(|e| e.into_inner());
        for info in found {
            if !homes.contains_key(&info.id) {
                tracing::info!(home = %info.id, zone = %info.zone, "discovered home");
                let pool = Pool::new(info.clone(), context.pool_config.clone());
                homes.insert(info.id.clone(), Home::new(info, pool, context.clone()));
            }
        }
        Ok(())
    }

    /// Every known home, ordered by id.
    pub fn homes(&self) -> Vec<Home> {
        let homes = self.shared.homes.read().unwrap_or_else(|e| e.into_inner());
        homes.values().cloned().collect()
    }

    /// The home with `id`.
    pub fn home(&self, id: &str) -> Option<Home> {
        let homes = self.shared.homes.read().unwrap_or_else(|e| e.into_inner());
        homes.get(id).cloned()
    }

    /// Fetch tasks in flight are tracked here; `wait` on it after the
    /// server stopped to let them finish adding what they fetched.
    pub fn fetch_tasks(&self) -> TaskTracker {
        self.shared.context.tasks.clone()
    }

    /// Starts the scheduled prefetch (see `prefetch`), unless the config disables it.
    pub fn spawn_prefetch(&self, token: CancellationToken, tracker: &TaskTracker) {
        if !self.shared.context.config.prefetch {
            tracing::info!("scheduled prefetch disabled");
            return;
        }
        let registry = self.clone();
        tracker.spawn(super::prefetch::run(registry, token));
    }

    /// The coordinator's settings (for the prefetch schedule).
    pub(crate) fn config(&self) -> &UpstreamConfig {
        &self.shared.context.config
    }

    /// The service's wall clock.
    pub(crate) fn clock(&self) -> &Clock {
        &self.shared.context.clock
    }
}

/// One home: its pool and its fetch coordinator. Cheap to clone.
#[derive(Clone)]
pub struct Home {
    inner: Arc<HomeShared>,
}

impl std::fmt::Debug for Home {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Home")
            .field("id", &self.inner.info.id)
            .finish()
    }
}

struct HomeShared {
    info: HomeInfo,
    context: Arc<Context>,
    /// The cache. std Mutex: held only for pool calls (microseconds), never
    /// across `.await`. Lock order: `coordinator` before `pool`.
    pool: Mutex<Pool>,
    /// Fetches in flight, the negative cache and the status. std Mutex,
    /// never held across `.await`.
    coordinator: Mutex<Coordinator>,
}

type FlightResult = Result<Arc<Vec<Interval>>, FetchError>;

/// A planned call not started yet: id, range, and where its result goes.
type NewFlight = (
    u64,
    DateTime<Utc>,
    DateTime<Utc>,
    watch::Sender<Option<FlightResult>>,
);

/// A fetch in flight: requests needing any part of `[start, end)` wait for it.
struct Flight {
    id: u64,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    done: watch::Receiver<Option<FlightResult>>,
}

/// A range the upstream had no data for, not asked again before `retry_at`.
#[derive(Debug, Clone)]
struct NegativeEntry {
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    retry_at: DateTime<Utc>,
    reason: IncompleteReason,
}

#[derive(Default)]
struct Coordinator {
    flights: Vec<Flight>,
    negative: Vec<NegativeEntry>,
    status: UpstreamStatus,
    /// After a failed fetch, no new fetch before this (Tokio instant, so
    /// tests under a paused clock see it), with the failure.
    cooldown: Option<(tokio::time::Instant, FetchError)>,
    next_flight_id: u64,
}

/// A missing piece of the request that will not be fetched now, and why.
struct Unfetched {
    reason: IncompleteReason,
    retry_at: Option<DateTime<Utc>>,
}

impl Home {
    fn new(info: HomeInfo, pool: Pool, context: Arc<Context>) -> Home {
        // A restored pool's last fetch is the last success we know of, so
        // `/readyz` does not report "never" for a home the cache can serve.
        let status = UpstreamStatus {
            last_success: pool.last_fetch(),
            ..UpstreamStatus::default()
        };
        Home {
            inner: Arc::new(HomeShared {
                info,
                context,
                pool: Mutex::new(pool),
                coordinator: Mutex::new(Coordinator {
                    status,
                    ..Coordinator::default()
                }),
            }),
        }
    }

    /// Who the home is: id, zone, currency.
    pub fn info(&self) -> HomeInfo {
        self.inner.info.clone()
    }

    /// The pool's revision now ([`Pool::revision`]): a reader holding what
    /// it derived from a complete [`Answer`] of the same revision (same
    /// range) may reuse it, without asking for the intervals again: the
    /// content, and so the completeness, is what it was. Counts nothing;
    /// see [`record_cache_hit`].
    pub fn revision(&self) -> u64 {
        self.lock_pool().revision()
    }

    /// Runs `f` on the pool under its lock (stats, snapshots). Keep `f` short.
    pub fn with_pool<R>(&self, f: impl FnOnce(&Pool) -> R) -> R {
        let pool = self.lock_pool();
        f(&pool)
    }

    /// The home's upstream health.
    pub fn status(&self) -> UpstreamStatus {
        let mut status = self.lock_coordinator().status.clone();
        if let Some(global) = self.inner.context.gate.cooldown() {
            status.next_retry = Some(
                status
                    .next_retry
                    .map_or(global.until, |t| t.max(global.until)),
            );
        }
        status
    }

    fn lock_pool(&self) -> std::sync::MutexGuard<'_, Pool> {
        self.inner.pool.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lock_coordinator(&self) -> std::sync::MutexGuard<'_, Coordinator> {
        self.inner
            .coordinator
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Every interval starting in `[start, end)` that the upstream has:
    /// from the cache, fetching what is missing (see the module doc). An
    /// error only when the upstream failed and nothing of the range is cached.
    pub async fn intervals(
        &self,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Answer, FetchError> {
        if start >= end {
            return Ok(Answer::complete(Vec::new()));
        }
        // Fast path: a hit takes only the pool lock. Intervals that tile
        // the range leave no gap, so the gap walk is skipped for them.
        {
            let pool = self.lock_pool();
            let intervals = collect_range(&pool, start, end);
            if tiles(&intervals, start, end) || pool.gaps(start, end).unwrap_or_default().is_empty()
            {
                let revision = pool.revision();
                drop(pool);
                record_cache_hit();
                return Ok(Answer {
                    revision: Some(revision),
                    ..Answer::complete(intervals)
                });
            }
        }

        let context = &self.inner.context;
        let now = context.clock.now();
        let mut unfetched: Vec<(Gap, Unfetched)> = Vec::new();
        let mut waits: Vec<watch::Receiver<Option<FlightResult>>> = Vec::new();
        let mut new_flights: Vec<NewFlight> = Vec::new();
        let cached: Vec<Interval>;
        {
            let mut coordinator = self.lock_coordinator();
            let gaps;
            {
                let pool = self.lock_pool();
                gaps = pool.gaps(start, end).unwrap_or_default();
                cached = collect_range(&pool, start, end);
            }
            let metric = if cached.is_empty() { "miss" } else { "partial" };
            metrics::counter!("pricepool_cache_requests_total", "result" => metric).increment(1);

            coordinator.negative.retain(|entry| entry.retry_at > now);
            // A flight whose task died without answering would be joined forever.
            coordinator
                .flights
                .retain(|flight| flight.done.has_changed().is_ok());
            let horizon = self.publication_horizon(now);
            let cooldown = self.cooldown(&coordinator);
            let mut to_fetch: Vec<Gap> = Vec::new();
            for gap in gaps {
                // Nothing after tomorrow is published, ever: do not ask.
                let (published, beyond) = split_at(gap, horizon);
                if let Some(beyond) = beyond {
                    let retry_at = Some(self.next_publication(now));
                    unfetched.push((
                        beyond,
                        Unfetched {
                            reason: IncompleteReason::NotPublished,
                            retry_at,
                        },
                    ));
                }
                let Some(gap) = published else { continue };
                let mut pieces = vec![gap];
                for entry in &coordinator.negative {
                    pieces = subtract(pieces, entry.start, entry.end, |removed| {
                        unfetched.push((
                            removed,
                            Unfetched {
                                reason: entry.reason,
                                retry_at: Some(entry.retry_at),
                            },
                        ))
                    });
                }
                for flight in &coordinator.flights {
                    pieces = subtract(pieces, flight.start, flight.end, |_| {
                        if !waits.iter().any(|w| w.same_channel(&flight.done)) {
                            waits.push(flight.done.clone());
                        }
                    });
                }
                match &cooldown {
                    Some(error) => unfetched.extend(pieces.into_iter().map(|piece| {
                        (
                            piece,
                            Unfetched {
                                reason: IncompleteReason::UpstreamFailed(error.kind),
                                retry_at: error.retry_at,
                            },
                        )
                    })),
                    None => to_fetch.extend(pieces),
                }
            }
            for (call_start, call_end) in self.plan_calls(&to_fetch, now) {
                let (sender, receiver) = watch::channel(None);
                let id = coordinator.next_flight_id;
                coordinator.next_flight_id += 1;
                coordinator.flights.push(Flight {
                    id,
                    start: call_start,
                    end: call_end,
                    done: receiver.clone(),
                });
                waits.push(receiver);
                new_flights.push((id, call_start, call_end, sender));
            }
        }

        for (id, call_start, call_end, sender) in new_flights {
            let home = self.clone();
            context.tasks.spawn(async move {
                let result = home.run_flight(id, call_start, call_end).await;
                // Nobody waiting is fine: the pool has the data.
                let _ = sender.send(Some(result));
            });
        }

        let mut fetched: Vec<Arc<Vec<Interval>>> = Vec::new();
        let mut errors: Vec<FetchError> = Vec::new();
        for mut wait in waits {
            let result = match wait.wait_for(|value| value.is_some()).await {
                Ok(value) => value.clone().unwrap_or_else(|| Err(lost_flight())),
                Err(_) => Err(lost_flight()),
            };
            match result {
                Ok(intervals) => fetched.push(intervals),
                Err(error) => errors.push(error),
            }
        }
        self.assemble(start, end, now, cached, fetched, errors, unfetched)
    }

    /// Merges cached and fetched intervals and works out what is missing and why.
    #[allow(clippy::too_many_arguments)]
    fn assemble(
        &self,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        now: DateTime<Utc>,
        cached: Vec<Interval>,
        fetched: Vec<Arc<Vec<Interval>>>,
        errors: Vec<FetchError>,
        unfetched: Vec<(Gap, Unfetched)>,
    ) -> Result<Answer, FetchError> {
        let mut by_start: BTreeMap<DateTime<Utc>, Interval> =
            cached.into_iter().map(|iv| (iv.starts_at, iv)).collect();
        for batch in &fetched {
            for interval in batch
                .iter()
                .filter(|iv| iv.starts_at >= start && iv.starts_at < end)
            {
                by_start.insert(interval.starts_at, *interval);
            }
        }
        let intervals: Vec<Interval> = by_start.into_values().collect();
        let missing = self.missing_of(&intervals, start, end);
        if missing.is_empty() {
            return Ok(Answer::complete(intervals));
        }
        if intervals.is_empty()
            && let Some(error) = errors.first()
        {
            return Err(error.clone());
        }
        let overlaps = |gap: &Gap, other: &Gap| gap.start < other.end && other.start < gap.end;
        let (reason, retry_at) = if let Some(error) = errors.first() {
            (IncompleteReason::UpstreamFailed(error.kind), error.retry_at)
        } else if let Some((_, note)) = unfetched
            .iter()
            .filter(|(piece, _)| missing.iter().any(|gap| overlaps(gap, piece)))
            .min_by_key(|(_, note)| note.retry_at)
        {
            if intervals.is_empty()
                && let IncompleteReason::UpstreamFailed(kind) = note.reason
            {
                return Err(FetchError {
                    kind,
                    message: format!(
                        "upstream unavailable ({kind}) and nothing cached for the range"
                    ),
                    retry_at: note.retry_at,
                });
            }
            (note.reason, note.retry_at)
        } else {
            // Fetched, and the upstream had no data: the flight recorded a negative entry.
            let coordinator = self.lock_coordinator();
            let entry = coordinator
                .negative
                .iter()
                .filter(|entry| {
                    missing
                        .iter()
                        .any(|gap| gap.start < entry.end && entry.start < gap.end)
                })
                .min_by_key(|entry| entry.retry_at);
            match entry {
                Some(entry) => (entry.reason, Some(entry.retry_at)),
                None => (IncompleteReason::NoData, Some(now + self.negative_ttl())),
            }
        };
        Ok(Answer {
            intervals,
            complete: false,
            missing,
            reason: Some(reason),
            retry_at,
            revision: None,
        })
    }

    /// Gaps of `[start, end)` that `intervals` leave, by the pool's own rules.
    fn missing_of(
        &self,
        intervals: &[Interval],
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Vec<Gap> {
        let mut config = self.inner.context.pool_config.clone();
        config.max_intervals = usize::MAX;
        let mut scratch = Pool::new(self.inner.info.clone(), config);
        if !intervals.is_empty() && scratch.add(intervals.to_vec(), start, start).is_err() {
            // Cannot happen for intervals the pool accepted; report the range missing rather than panic.
            return vec![Gap {
                start,
                end,
                resolution: Resolution::QuarterHour,
            }];
        }
        scratch.gaps(start, end).unwrap_or_default()
    }

    /// The failure that keeps this home from fetching now, if any.
    fn cooldown(&self, coordinator: &Coordinator) -> Option<FetchError> {
        if let Some(global) = self.inner.context.gate.cooldown() {
            return Some(FetchError {
                kind: global.kind,
                message: global.message,
                retry_at: Some(global.until),
            });
        }
        coordinator
            .cooldown
            .as_ref()
            .filter(|(until, _)| *until > tokio::time::Instant::now())
            .map(|(_, error)| error.clone())
    }

    /// Local midnight after tomorrow: nothing from there on is published.
    fn publication_horizon(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        protected_window(self.inner.info.zone, now).1
    }

    /// Tomorrow's publication time (today 13:00 local, or tomorrow's if past).
    fn next_publication(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        next_publication(&self.inner.info, &self.inner.context.config, now)
    }

    fn negative_ttl(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.inner.context.config.negative_ttl).unwrap_or_default()
    }

    /// The fewest calls that fetch `gaps`: everything in the recent window
    /// (which one Tibber call returns whole) is one call for the window;
    /// older gaps are merged with their neighbours while the merged range
    /// fits in one page (672 intervals).
    fn plan_calls(&self, gaps: &[Gap], now: DateTime<Utc>) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
        let (recent_start, recent_end) = protected_window(self.inner.info.zone, now);
        let mut calls = Vec::new();
        let mut historical: Vec<Gap> = Vec::new();
        let mut wants_recent = false;
        for gap in gaps {
            if gap.end > recent_start {
                wants_recent = true;
            }
            if gap.start < recent_start {
                historical.push(Gap {
                    end: gap.end.min(recent_start),
                    ..*gap
                });
            }
        }
        historical.sort_by_key(|gap| gap.start);
        let mut current: Option<(DateTime<Utc>, DateTime<Utc>)> = None;
        for gap in historical {
            let page = gap.resolution.duration() * PAGE_INTERVALS;
            current = match current {
                Some((s, e)) if gap.end - s <= page => Some((s, e.max(gap.end))),
                Some(call) => {
                    calls.push(call);
                    Some((gap.start, gap.end))
                }
                None => Some((gap.start, gap.end)),
            };
        }
        calls.extend(current);
        if wants_recent {
            calls.push((recent_start, recent_end));
        }
        calls
    }

    /// One planned call: fetch, add to the pool, remember what the upstream
    /// lacked, update the status. Runs in its own task.
    async fn run_flight(&self, id: u64, start: DateTime<Utc>, end: DateTime<Utc>) -> FlightResult {
        let context = &self.inner.context;
        let now = context.clock.now();
        let deadline = tokio::time::Instant::now() + context.config.fetch_deadline;
        let request = FetchRequest {
            home: self.info(),
            start,
            end,
            now,
            deadline,
        };
        let span = tracing::info_span!("upstream_fetch", home = %self.inner.info.id, %start, %end);
        let fetch = context
            .source
            .fetch(&request, &context.gate)
            .instrument(span.clone());
        let outcome = match tokio::time::timeout_at(deadline, fetch).await {
            Ok(result) => result,
            Err(_) => Err(UpstreamError::Timeout(context.config.fetch_deadline)),
        };
        let finished = context.clock.now();
        let result = match outcome {
            Ok(intervals) => self.store(intervals, finished),
            Err(error) => Err(error),
        };
        let mut coordinator = self.lock_coordinator();
        coordinator.flights.retain(|flight| flight.id != id);
        match result {
            Ok(intervals) => {
                tracing::info!(parent: &span, n_intervals = intervals.len(), "fetched");
                let negatives = self.negatives_of(&intervals, start, end, now);
                coordinator.negative.extend(negatives);
                coordinator.status.last_success = Some(finished);
                coordinator.status.last_error = None;
                coordinator.status.next_retry = None;
                coordinator.cooldown = None;
                Ok(intervals)
            }
            Err(error) => {
                let kind = error.kind();
                let wait = match &error {
                    UpstreamError::Auth(_) => context.config.auth_cooldown,
                    UpstreamError::RateLimited { retry_after, .. } => retry_after
                        .unwrap_or_default()
                        .max(context.config.rate_limit_floor),
                    UpstreamError::BudgetExhausted { retry_at } => {
                        (*retry_at - finished).to_std().unwrap_or_default()
                    }
                    _ => context.config.error_cooldown,
                };
                let retry_at = finished + chrono::Duration::from_std(wait).unwrap_or_default();
                let fetch_error = FetchError {
                    kind,
                    message: error.to_string(),
                    retry_at: Some(retry_at),
                };
                tracing::warn!(parent: &span, %kind, error = %error, %retry_at, "fetch failed; serving cache until retry");
                coordinator.status.last_error = Some(StatusError {
                    kind,
                    message: fetch_error.message.clone(),
                    at: finished,
                });
                coordinator.status.next_retry = Some(retry_at);
                coordinator.cooldown =
                    Some((tokio::time::Instant::now() + wait, fetch_error.clone()));
                Err(fetch_error)
            }
        }
    }

    /// Adds a fetched answer to the pool and tells the hook when it changed.
    fn store(
        &self,
        intervals: Vec<Interval>,
        fetched_at: DateTime<Utc>,
    ) -> Result<Arc<Vec<Interval>>, UpstreamError> {
        let intervals = Arc::new(intervals);
        if intervals.is_empty() {
            return Ok(intervals);
        }
        let (outcome, live) = {
            let mut pool = self.lock_pool();
            let outcome = pool.add(intervals.to_vec(), fetched_at, fetched_at);
            (outcome, pool.len())
        };
        let outcome = outcome.map_err(|e| UpstreamError::Malformed(e.to_string()))?;
        let home_id = self.inner.info.id.clone();
        metrics::gauge!("pricepool_pool_live_intervals", "home" => home_id.clone())
            .set(live as f64);
        if outcome.evicted_groups > 0 {
            metrics::counter!("pricepool_gc_evicted_groups_total", "home" => home_id.clone())
                .increment(outcome.evicted_groups as u64);
        }
        if outcome.changed() {
            (self.inner.context.on_change)(&home_id);
        }
        Ok(intervals)
    }

    /// Ranges of a successful call the upstream had no data for.
    fn negatives_of(
        &self,
        intervals: &[Interval],
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Vec<NegativeEntry> {
        let in_range: Vec<Interval> = intervals
            .iter()
            .filter(|iv| iv.starts_at >= start && iv.starts_at < end)
            .copied()
            .collect();
        let zone = self.inner.info.zone;
        let tomorrow = local_date(zone, now)
            .checked_add_days(Days::new(1))
            .unwrap_or(local_date(zone, now));
        let tomorrow_start = local_midnight(zone, tomorrow);
        self.missing_of(&in_range, start, end)
            .into_iter()
            .map(|gap| {
                let unpublished = gap.end > tomorrow_start && now < self.publication_time(now);
                let (reason, retry_at) = if unpublished {
                    (IncompleteReason::NotPublished, self.next_publication(now))
                } else {
                    (IncompleteReason::NoData, now + self.negative_ttl())
                };
                NegativeEntry {
                    start: gap.start,
                    end: gap.end,
                    retry_at,
                    reason,
                }
            })
            .collect()
    }

    /// Today's publication instant (13:00 local).
    fn publication_time(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        publication_time(
            &self.inner.info,
            &self.inner.context.config,
            local_date(self.inner.info.zone, now),
        )
    }
}

/// The instant of publication on `date`: `publish_hour` local.
pub(crate) fn publication_time(
    home: &HomeInfo,
    config: &UpstreamConfig,
    date: chrono::NaiveDate,
) -> DateTime<Utc> {
    let local = date.and_time(chrono::NaiveTime::MIN)
        + chrono::Duration::hours(i64::from(config.publish_hour));
    match home.zone.from_local_datetime(&local).earliest() {
        Some(instant) => instant.with_timezone(&Utc),
        // The hour does not exist locally (a DST gap): count hours from midnight.
        None => {
            local_midnight(home.zone, date)
                + chrono::Duration::hours(i64::from(config.publish_hour))
        }
    }
}

/// When to ask for tomorrow again: the next publication plus a jitter, or,
/// if that has passed, a negative-cache TTL from now.
pub(crate) fn next_publication(
    home: &HomeInfo,
    config: &UpstreamConfig,
    now: DateTime<Utc>,
) -> DateTime<Utc> {
    let today = local_date(home.zone, now);
    let published = publication_time(home, config, today);
    let jitter = jitter_up_to(config.publish_jitter);
    if now < published {
        published + jitter
    } else {
        now + chrono::Duration::from_std(config.negative_ttl).unwrap_or_default()
    }
}

/// A random delay in `[0, max]`, so instances do not all call at once.
pub(crate) fn jitter_up_to(max: std::time::Duration) -> chrono::Duration {
    use rand::RngExt;
    let millis = i64::try_from(max.as_millis()).unwrap_or(i64::MAX);
    chrono::Duration::milliseconds(if millis > 0 {
        rand::rng().random_range(0..=millis)
    } else {
        0
    })
}

/// Intervals in one `priceInfoRange` page (Tibber's cap).
pub const PAGE_INTERVALS: i32 = 672;

impl Answer {
    fn complete(intervals: Vec<Interval>) -> Answer {
        Answer {
            intervals,
            complete: true,
            missing: Vec::new(),
            reason: None,
            retry_at: None,
            revision: None,
        }
    }
}

fn lost_flight() -> FetchError {
    FetchError {
        kind: UpstreamErrorKind::Transient,
        message: "the fetch task ended without an answer".to_string(),
        retry_at: None,
    }
}

/// Counts a range answered from the cache alone, for callers that served
/// it without [`Home::intervals`] (see [`Home::revision`]).
pub fn record_cache_hit() {
    metrics::counter!("pricepool_cache_requests_total", "result" => "hit").increment(1);
}

/// Whether `intervals` (sorted, as `collect_range` returns them) cover
/// `[start, end)` back to back from `start` on: then no slot of the range
/// is missing and the pool would report no gap.
fn tiles(intervals: &[Interval], start: DateTime<Utc>, end: DateTime<Utc>) -> bool {
    let (Some(first), Some(last)) = (intervals.first(), intervals.last()) else {
        return false;
    };
    first.starts_at == start
        && last.ends_at() >= end
        && intervals
            .windows(2)
            .all(|pair| pair[0].ends_at() == pair[1].starts_at)
}

fn collect_range(pool: &Pool, start: DateTime<Utc>, end: DateTime<Utc>) -> Vec<Interval> {
    pool.range(start, end)
        .map(|it| it.copied().collect())
        .unwrap_or_default()
}

/// Splits `gap` at `at` into the part before and the part from `at` on.
fn split_at(gap: Gap, at: DateTime<Utc>) -> (Option<Gap>, Option<Gap>) {
    if gap.end <= at {
        (Some(gap), None)
    } else if gap.start >= at {
        (None, Some(gap))
    } else {
        (Some(Gap { end: at, ..gap }), Some(Gap { start: at, ..gap }))
    }
}

/// Removes `[start, end)` from each piece; `on_removed` sees each removed part.
fn subtract(
    pieces: Vec<Gap>,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    mut on_removed: impl FnMut(Gap),
) -> Vec<Gap> {
    let mut out = Vec::with_capacity(pieces.len() + 1);
    for piece in pieces {
        if piece.end <= start || piece.start >= end {
            out.push(piece);
            continue;
        }
        on_removed(Gap {
            start: piece.start.max(start),
            end: piece.end.min(end),
            ..piece
        });
        if piece.start < start {
            out.push(Gap {
                end: start,
                ..piece
            });
        }
        if piece.end > end {
            out.push(Gap {
                start: end,
                ..piece
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upstream::Source;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    fn gap(start: &str, end: &str) -> Gap {
        Gap {
            start: at(start),
            end: at(end),
            resolution: Resolution::QuarterHour,
        }
    }

    fn demo_home() -> Home {
        let registry = Registry::new(
            Source::demo(),
            UpstreamConfig::default(),
            PoolConfig::default(),
            Clock::system(),
            Arc::new(|_: &str| {}),
        );
        let info = HomeInfo {
            id: "demo".into(),
            zone: chrono_tz::Europe::Berlin,
            currency: "EUR".into(),
        };
        registry.insert_pool(Pool::new(info, PoolConfig::default()));
        registry.home("demo").unwrap()
    }

    #[test]
    fn gaps_in_the_recent_window_cost_one_call_for_the_whole_window() {
        let home = demo_home();
        let now = at("2026-01-14T10:00:00Z");
        let calls = home.plan_calls(
            &[
                gap("2026-01-12T05:00:00Z", "2026-01-12T06:00:00Z"),
                gap("2026-01-14T08:00:00Z", "2026-01-14T09:00:00Z"),
                gap("2026-01-15T00:00:00Z", "2026-01-15T23:00:00Z"),
            ],
            now,
        );
        assert_eq!(
            calls,
            vec![(at("2026-01-11T23:00:00Z"), at("2026-01-15T23:00:00Z"))]
        );
    }

    #[test]
    fn neighbouring_historical_gaps_share_a_call_while_they_fit_in_a_page() {
        let home = demo_home();
        let now = at("2026-01-14T10:00:00Z");
        let calls = home.plan_calls(
            &[
                gap("2025-12-01T00:00:00Z", "2025-12-01T06:00:00Z"),
                gap("2025-12-03T00:00:00Z", "2025-12-04T00:00:00Z"),
                // Seven days of quarter-hours later: does not fit the first page.
                gap("2025-12-09T00:00:00Z", "2025-12-09T01:00:00Z"),
                // Straddles the recent window: its old part is history, the rest the window call.
                gap("2026-01-11T20:00:00Z", "2026-01-12T02:00:00Z"),
            ],
            now,
        );
        assert_eq!(
            calls,
            vec![
                (at("2025-12-01T00:00:00Z"), at("2025-12-04T00:00:00Z")),
                (at("2025-12-09T00:00:00Z"), at("2025-12-09T01:00:00Z")),
                (at("2026-01-11T20:00:00Z"), at("2026-01-11T23:00:00Z")),
                (at("2026-01-11T23:00:00Z"), at("2026-01-15T23:00:00Z")),
            ]
        );
    }

    #[test]
    fn subtracting_a_range_keeps_both_sides_and_reports_the_middle() {
        let mut removed = Vec::new();
        let left = subtract(
            vec![gap("2026-01-01T00:00:00Z", "2026-01-01T10:00:00Z")],
            at("2026-01-01T02:00:00Z"),
            at("2026-01-01T03:00:00Z"),
            |g| removed.push(g),
        );
        assert_eq!(
            left,
            vec![
                gap("2026-01-01T00:00:00Z", "2026-01-01T02:00:00Z"),
                gap("2026-01-01T03:00:00Z", "2026-01-01T10:00:00Z"),
            ]
        );
        assert_eq!(
            removed,
            vec![gap("2026-01-01T02:00:00Z", "2026-01-01T03:00:00Z")]
        );
        let (before, after) = split_at(
            gap("2026-01-01T00:00:00Z", "2026-01-01T10:00:00Z"),
            at("2026-01-01T12:00:00Z"),
        );
        assert!(before.is_some() && after.is_none());
    }

    #[test]
    fn publication_is_13_local_on_both_sides_of_dst() {
        let home = demo_home().info();
        let config = UpstreamConfig::default();
        let winter = chrono::NaiveDate::from_ymd_opt(2026, 1, 14).unwrap();
        let summer = chrono::NaiveDate::from_ymd_opt(2026, 7, 14).unwrap();
        assert_eq!(
            publication_time(&home, &config, winter),
            at("2026-01-14T12:00:00Z")
        );
        assert_eq!(
            publication_time(&home, &config, summer),
            at("2026-07-14T11:00:00Z")
        );
        let spring_forward = chrono::NaiveDate::from_ymd_opt(2026, 3, 29).unwrap();
        assert_eq!(
            publication_time(&home, &config, spring_forward),
            at("2026-03-29T11:00:00Z")
        );
    }

    #[test]
    fn ranges_the_fast_path_calls_tiled_are_ranges_without_gaps() {
        // Three days from the fall-back day on, with a hole of 5 quarter-hours.
        let mut pool = crate::store::fixtures::pool("a", 3 * 96, 3);
        let all = collect_range(
            &pool,
            at("2025-01-01T00:00:00Z"),
            at("2030-01-01T00:00:00Z"),
        );
        let mut holed: Vec<Interval> = all.clone();
        holed.drain(130..135);
        pool = Pool::new(pool.home().clone(), pool.config().clone());
        pool.add(holed, all[0].starts_at, all[0].starts_at).unwrap();
        let first = all[0].starts_at;
        let quarter = chrono::Duration::minutes(15);
        let mut n_tiled = 0;
        for from in (0..300).step_by(7) {
            for length in [1, 4, 37, 96, 100, 192] {
                for offset in [0, 5] {
                    let start = first + quarter * from + chrono::Duration::minutes(offset);
                    let end = start + quarter * length;
                    let intervals = collect_range(&pool, start, end);
                    if tiles(&intervals, start, end) {
                        n_tiled += 1;
                        assert_eq!(pool.gaps(start, end).unwrap(), vec![], "{start}..{end}");
                    } else if offset == 0 && end <= all[all.len() - 1].ends_at() {
                        // On the grid and inside the cached days: only the hole can miss.
                        assert!(!pool.gaps(start, end).unwrap().is_empty(), "{start}..{end}");
                    }
                }
            }
        }
        assert!(
            n_tiled > 50,
            "the fast path should apply to most ranges, applied to {n_tiled}"
        );
    }
}
