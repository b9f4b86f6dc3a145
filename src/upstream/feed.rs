//! A feed: one stream of prices (a Tibber home's own, the demo market's
//! zone), its pool and its fetch coordinator. Homes read their prices
//! through a feed.
//!
//! A request for `[start, end)` first reads the pool; a hit never waits.
//! Otherwise the coordinator sorts the missing stretches (not published,
//! known lacking, in flight, held off, to fetch), the fewest calls are
//! planned for the last kind and each runs in a task of its own, so a
//! client that goes away cancels nothing. Fetched intervals are added to
//! the pool as one fetch group and merged into the answer directly, so GC
//! evicting them while answering loses nothing. When the upstream fails,
//! what is cached is served, marked incomplete. With `--redis-url` a miss
//! reads the feed's shared state first and a flight takes the call's lock
//! across replicas (`sharing`).

mod lacking;
mod sharing;

use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use super::answer::{Answer, Gathered};
use super::calendar;
use super::config::UpstreamConfig;
use super::coordinator::{
    Coordinator, FlightResult, FlightWait, NewFlight, SourceStatus, Triage, UpstreamStatus,
    lost_flight,
};
use super::error::{FetchError, IncompleteReason, UpstreamError};
use super::failover::{self, GatedSource, all_cooling};
use super::gate::Cooldown;
use super::market::Market;
use super::plan::{collect_range, plan_calls, tiles};
use super::source::FetchRequest;
use super::tibber::INTERVALS_PER_CALL;
use crate::clock::Clock;
use crate::pool::{HomeInfo, Interval, Pool, PoolConfig};
use crate::replicas::Replicas;
use sharing::Claim;

/// Called with a feed id after an upstream answer changed that feed's pool,
/// so the saver can mark it dirty. Must be cheap and must not block.
pub type ChangeHook = Arc<dyn Fn(&str) + Send + Sync>;

/// What every feed of a registry shares.
pub(crate) struct FeedContext {
    pub(crate) config: UpstreamConfig,
    pub(crate) pool_config: PoolConfig,
    pub(crate) clock: Clock,
    pub(crate) on_change: ChangeHook,
    /// Fetch tasks, so they outlive the request that started them and
    /// shutdown can let them land before the final flush.
    pub(crate) fetches: TaskTracker,
    /// The runtime fetches run on: the one the registry was made on (the
    /// service's), not the connection thread's whose request started
    /// them, which stops with the server; `None` outside any runtime.
    pub(crate) runtime: Option<tokio::runtime::Handle>,
    /// The state shared with other replicas (`--redis-url`); `None` alone.
    pub(crate) replicas: Option<Replicas>,
}

/// One feed. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Feed {
    inner: Arc<FeedShared>,
}

struct FeedShared {
    /// The feed's identity: id, zone, currency (the pool's).
    info: HomeInfo,
    /// The bidding zone of a market feed; `None` for a home's own feed.
    market: Option<Market>,
    /// Asked in order (failover); each with its provider's gate.
    sources: Arc<[GatedSource]>,
    context: Arc<FeedContext>,
    /// The cache. std Mutex: held only for pool calls (microseconds), never
    /// across `.await`. Lock order: `coordinator` before `pool`.
    pool: Mutex<Pool>,
    /// Flights, negative cache, cooldown, status. std Mutex, never held
    /// across `.await`.
    coordinator: Mutex<Coordinator>,
    /// The revision of the shared snapshot this pool has merged (0: none).
    /// A tokio Mutex: held across the Redis round trip, so one request
    /// per replica reads a changed snapshot and the others find it merged.
    shared_revision: tokio::sync::Mutex<u64>,
}

impl Feed {
    /// A feed serving `pool` (restored or empty), priced by `sources` in
    /// order; `market` for a market feed.
    pub(crate) fn new(
        pool: Pool,
        market: Option<Market>,
        sources: Arc<[GatedSource]>,
        context: Arc<FeedContext>,
    ) -> Feed {
        let coordinator = Coordinator::new(pool.last_fetch());
        Feed {
            inner: Arc::new(FeedShared {
                info: pool.home().clone(),
                market,
                sources,
                context,
                pool: Mutex::new(pool),
                coordinator: Mutex::new(coordinator),
                shared_revision: tokio::sync::Mutex::new(0),
            }),
        }
    }

    /// The bidding zone of a market feed (`None` for a home's own feed):
    /// whose publication clock the prefetch schedules by.
    pub(crate) fn market(&self) -> Option<Market> {
        self.inner.market
    }

    /// Runs `f` on the pool under its lock. Keep `f` short.
    pub(crate) fn with_pool<R>(&self, f: impl FnOnce(&Pool) -> R) -> R {
        f(&self.lock_pool())
    }

    /// The feed's upstream health.
    pub(crate) fn status(&self) -> UpstreamStatus {
        let source_cooldown = all_cooling(&self.inner.sources);
        self.lock_coordinator().status(source_cooldown)
    }

    /// Each source's health, in the feed's order.
    pub(crate) fn source_statuses(&self) -> Vec<SourceStatus> {
        let names: Vec<&'static str> = self.inner.sources.iter().map(GatedSource::name).collect();
        let mut statuses = self.lock_coordinator().source_statuses(&names);
        for (status, upstream) in statuses.iter_mut().zip(self.inner.sources.iter()) {
            if let Some(until) = upstream.gate.cooldown().and_then(|c| c.until()) {
                status.next_retry = Some(status.next_retry.map_or(until, |t| t.max(until)));
            }
        }
        statuses
    }

    /// Replaces the pool with one restored from a snapshot (a market feed
    /// declared before its snapshot was read).
    pub(crate) fn restore(&self, pool: Pool) {
        let last_fetch = pool.last_fetch();
        *self.lock_pool() = pool;
        self.lock_coordinator().restored(last_fetch);
    }

    fn lock_pool(&self) -> MutexGuard<'_, Pool> {
        self.inner.pool.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lock_coordinator(&self) -> MutexGuard<'_, Coordinator> {
        self.inner
            .coordinator
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Every interval starting in `[start, end)` that the upstream has:
    /// from the cache, fetching what is missing (see the module doc). An
    /// error only when the upstream failed and nothing of the range is cached.
    pub(crate) async fn intervals(
        &self,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Answer, FetchError> {
        if start >= end {
            return Ok(Answer::complete(Vec::new(), None));
        }
        if let Some(hit) = self.hit(start, end) {
            return Ok(hit);
        }
        if self.inner.context.replicas.is_some() {
            // Another replica may have fetched it: read Redis before the upstream.
            self.pull_shared().await;
            if let Some(hit) = self.hit(start, end) {
                return Ok(hit);
            }
        }
        let now = self.inner.context.clock.now();
        let (mut gathered, waits) = self.triage_and_launch(start, end, now);
        for mut wait in waits {
            let result = match wait.wait_for(|value| value.is_some()).await {
                Ok(value) => value.clone().unwrap_or_else(|| Err(lost_flight())),
                Err(_) => Err(lost_flight()),
            };
            match result {
                Ok(intervals) => gathered.fetched.push(intervals),
                Err(error) => gathered.errors.push(error),
            }
        }
        let intervals = gathered.merged(start, end);
        let missing = self.missing_of(&intervals, start, end);
        gathered.answer(intervals, missing, |missing| {
            let lacking = self.lock_coordinator().lacking(missing);
            match lacking {
                Some((reason, retry_at)) => (reason, Some(retry_at)),
                None => (
                    IncompleteReason::NoData,
                    Some(self.inner.context.config.negative_until(now)),
                ),
            }
        })
    }

    /// The fast path: a range the pool holds whole, under the pool lock
    /// only. Intervals that tile the range leave no gap, so the gap walk is
    /// skipped for them.
    fn hit(&self, start: DateTime<Utc>, end: DateTime<Utc>) -> Option<Answer> {
        let pool = self.lock_pool();
        let intervals = collect_range(&pool, start, end);
        if !tiles(&intervals, start, end) && !pool.gaps(start, end).unwrap_or_default().is_empty() {
            return None;
        }
        let revision = pool.revision();
        drop(pool);
        record_cache_hit();
        Some(Answer::complete(intervals, Some(revision)))
    }

    /// Under the coordinator lock: reads what is cached, sorts the gaps,
    /// registers the planned flights; then starts them. Returns what the
    /// request has so far and the flights to wait for.
    fn triage_and_launch(
        &self,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> (Gathered, Vec<FlightWait>) {
        let context = &self.inner.context;
        let zone = self.inner.info.zone;
        let mut coordinator = self.lock_coordinator();
        let (gaps, cached) = {
            let pool = self.lock_pool();
            (
                pool.gaps(start, end).unwrap_or_default(),
                collect_range(&pool, start, end),
            )
        };
        let metric = if cached.is_empty() { "miss" } else { "partial" };
        metrics::counter!("pricepool_cache_requests_total", "result" => metric).increment(1);
        let triaged = coordinator.triage(
            gaps,
            Triage {
                now,
                horizon: calendar::publication_horizon(zone, now),
                next_publication: calendar::next_publication(
                    calendar::publication_zone(zone, self.inner.market),
                    &context.config,
                    now,
                ),
                source_cooldown: all_cooling(&self.inner.sources),
            },
        );
        let recent = calendar::recent_window(zone, now);
        let calls = plan_calls(&triaged.to_fetch, recent, INTERVALS_PER_CALL);
        let flights = coordinator.begin(calls);
        drop(coordinator);
        let mut waits = triaged.waits;
        waits.extend(flights.iter().map(|flight| flight.result.subscribe()));
        let (recent, history): (Vec<NewFlight>, Vec<NewFlight>) = flights
            .into_iter()
            .partition(|flight| flight.call == recent);
        for flight in recent {
            self.launch(vec![flight]);
        }
        if !history.is_empty() {
            self.launch(history);
        }
        let gathered = Gathered {
            cached,
            unfetched: triaged.unfetched,
            ..Gathered::default()
        };
        (gathered, waits)
    }

    /// Runs `flights` one after the other in a task of its own on the fetch
    /// tracker, within one fetch deadline. A request's history pages run in
    /// order, so the pages that land before the budget or the deadline runs
    /// out are the first ones and the next request resumes after them; the
    /// recent window runs on its own, never behind history.
    fn launch(&self, flights: Vec<NewFlight>) {
        let feed = self.clone();
        // One deadline for the chain: a request is answered within it.
        let deadline = tokio::time::Instant::now() + self.inner.context.config.fetch_deadline;
        let chain = async move {
            for flight in flights {
                let result = feed.run_flight(flight.id, flight.call, deadline).await;
                // Nobody waiting is fine: the pool has the data.
                let _ = flight.result.send(Some(result));
            }
        };
        let context = &self.inner.context;
        match &context.runtime {
            Some(runtime) => context.fetches.spawn_on(chain, runtime),
            None => context.fetches.spawn(chain),
        };
    }

    /// One planned call: claim it across replicas (another may bring it),
    /// fetch, add to the pool, remember what the upstream lacked, update
    /// the status, share the outcome.
    async fn run_flight(
        &self,
        id: u64,
        (start, end): (DateTime<Utc>, DateTime<Utc>),
        deadline: tokio::time::Instant,
    ) -> FlightResult {
        let context = &self.inner.context;
        let (lock, deadline) = match self.claim((start, end), deadline).await {
            Claim::Filled(intervals) => {
                let finished = context.clock.now();
                self.lock_coordinator().succeeded(id, finished, Vec::new());
                return Ok(intervals);
            }
            Claim::HeldOff(cooldown) => {
                let finished = context.clock.now();
                return Err(self.lock_coordinator().failed(id, finished, cooldown));
            }
            Claim::Fetch { lock, deadline } => (lock, deadline),
        };
        let now = context.clock.now();
        let request = FetchRequest {
            home: self.inner.info.clone(),
            market: self.inner.market,
            start,
            end,
            now,
            deadline,
            quarter_hourly_from: context.pool_config.quarter_hourly_from,
        };
        let span = tracing::info_span!(
            "upstream_fetch",
            home = %self.inner.info.id,
            market = request.market.map(Market::name),
            %start,
            %end
        );
        let resting = self.lock_coordinator().resting_sources(now);
        let mut fetched = failover::fetch(
            &self.inner.sources,
            &resting,
            &request,
            context.config.fetch_deadline,
        )
        .instrument(span.clone())
        .await;
        let finished = context.clock.now();
        let result = match fetched.result {
            Ok(intervals) => self.add_fetched(intervals, finished).map_err(|error| {
                let cooldown = Cooldown::lasting(&error, context.config.error_cooldown, finished);
                // The pool refused what the source answered: that source failed.
                if let Some(attempt) = fetched.attempts.last_mut() {
                    attempt.failure = Some(cooldown.clone());
                }
                (error, cooldown)
            }),
            Err(failure) => Err(failure),
        };
        let (outcome, negatives, failure) = {
            let mut coordinator = self.lock_coordinator();
            coordinator.record_attempts(&fetched.attempts, finished);
            match result {
                Ok(intervals) => {
                    tracing::info!(parent: &span, n_intervals = intervals.len(), "fetched");
                    let negatives = self.negatives_of(&intervals, start, end, now);
                    coordinator.succeeded(id, finished, negatives.clone());
                    (Ok(intervals), negatives, None)
                }
                Err((error, cooldown)) => {
                    let retry_at = cooldown.until();
                    tracing::warn!(parent: &span, kind = %error.kind(), error = %error, ?retry_at, "fetch failed; serving cache until retry");
                    let error = coordinator.failed(id, finished, cooldown.clone());
                    (Err(error), Vec::new(), Some(cooldown))
                }
            }
        };
        self.share_outcome(lock, failure.as_ref(), &negatives, &fetched.attempts)
            .await;
        outcome
    }

    /// Adds a fetched answer to the pool as one group and tells the hook
    /// when the pool changed.
    fn add_fetched(
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
        let id = &self.inner.info.id;
        record_live_intervals(id, live);
        if outcome.evicted_groups > 0 {
            metrics::counter!("pricepool_gc_evicted_groups_total", "home" => id.clone())
                .increment(outcome.evicted_groups as u64);
        }
        if outcome.changed() {
            (self.inner.context.on_change)(id);
        }
        Ok(intervals)
    }
}

/// Counts a range answered from the cache alone.
pub(crate) fn record_cache_hit() {
    metrics::counter!("pricepool_cache_requests_total", "result" => "hit").increment(1);
}

/// Sets the live-intervals gauge of a feed (its only writer, with the registry at restore).
pub(crate) fn record_live_intervals(feed_id: &str, live: usize) {
    metrics::gauge!("pricepool_pool_live_intervals", "home" => feed_id.to_string())
        .set(live as f64);
}
