//! The registry: every home the service knows, found by id. Homes come from
//! snapshots (restored at start, served even when the upstream is down),
//! from the discovering source (Tibber's homes, the demo market's), and
//! from the configuration (market homes, which share one feed per market
//! and currency).

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::config::UpstreamConfig;
use super::error::UpstreamError;
use super::failover::GatedSource;
use super::feed::{ChangeHook, Feed, FeedContext, record_live_intervals};
use super::gate::CallGate;
use super::home::Home;
use super::home_map::HomeMap;
use super::market::Market;
use super::source::{PriceSource, Source};
use super::validate::Trust;
use crate::clock::Clock;
use crate::pool::{HomeInfo, Pool, PoolConfig};
use crate::replicas::Replicas;
use crate::tariff::Tariff;

/// A home priced by its market, as the configuration declares it.
#[derive(Debug, Clone)]
pub struct MarketHome {
    /// Id, zone and currency of the home.
    pub info: HomeInfo,
    /// The bidding zone whose spot price it pays.
    pub market: Market,
    /// Its sources in failover order.
    pub sources: Vec<Source>,
    /// What it pays on top of the spot price.
    pub tariff: Tariff,
}

/// All homes the service knows, and the upstreams they are fetched from.
/// Cheap to clone (an `Arc` inside).
#[derive(Clone)]
pub struct Registry {
    shared: Arc<RegistryShared>,
}

struct RegistryShared {
    context: Arc<FeedContext>,
    /// The source that knows its own homes (Tibber, the demo market), if
    /// any; every home it discovers has a feed of its own priced by it.
    discovering: Option<GatedSource>,
    /// Homes by id (hashed and ordered, see `home_map`). std RwLock: read
    /// on every request, written when homes are discovered or restored;
    /// never held across `.await`.
    homes: RwLock<HomeMap>,
    /// Market feeds by feed id (`DE-LU-EUR`) and the gate of each source
    /// name, so one provider's budget is shared by every market it prices.
    /// std RwLock, written at start only.
    markets: RwLock<Markets>,
    /// Bumped after every change of any feed's pool (after the change
    /// hook), so a watcher (the MQTT publisher) wakes at once instead of
    /// polling every home's revision.
    changes: Arc<watch::Sender<u64>>,
}

#[derive(Default)]
struct Markets {
    feeds: BTreeMap<String, Feed>,
    gates: BTreeMap<&'static str, Arc<CallGate>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field(
                "source",
                &self.shared.discovering.as_ref().map(GatedSource::name),
            )
            .field("homes", &self.homes().len())
            .finish()
    }
}

impl Registry {
    /// A registry whose homes `source` discovers (call `discover`), with
    /// none yet: call `insert_pool` for restored homes. Fetches run on
    /// `fetches`, so they outlive the request that started them and
    /// shutdown can let them land before the final flush.
    pub fn new(
        source: Source,
        config: UpstreamConfig,
        pool_config: PoolConfig,
        clock: Clock,
        on_change: ChangeHook,
        fetches: TaskTracker,
    ) -> Registry {
        Registry::with_discovering(Some(source), config, pool_config, clock, on_change, fetches)
    }

    /// [`Registry::new`], with no discovering source when `source` is
    /// `None` (only market homes, `--source none`).
    pub fn with_discovering(
        source: Option<Source>,
        config: UpstreamConfig,
        pool_config: PoolConfig,
        clock: Clock,
        on_change: ChangeHook,
        fetches: TaskTracker,
    ) -> Registry {
        Registry::sharing(source, config, pool_config, clock, on_change, fetches, None)
    }

    /// [`Registry::with_discovering`], sharing its feeds, locks, cooldowns
    /// and negative cache with other replicas through `replicas`.
    pub fn sharing(
        source: Option<Source>,
        config: UpstreamConfig,
        pool_config: PoolConfig,
        clock: Clock,
        on_change: ChangeHook,
        fetches: TaskTracker,
        replicas: Option<Replicas>,
    ) -> Registry {
        let changes = Arc::new(watch::Sender::new(0u64));
        let bump = Arc::clone(&changes);
        let on_change: ChangeHook = Arc::new(move |feed_id: &str| {
            on_change(feed_id);
            bump.send_modify(|n| *n = n.wrapping_add(1));
        });
        let context = Arc::new(FeedContext {
            config,
            pool_config,
            clock,
            on_change,
            fetches,
            runtime: tokio::runtime::Handle::try_current().ok(),
            replicas,
        });
        let discovering = source.map(|source| gated(&context, source));
        Registry {
            shared: Arc::new(RegistryShared {
                context,
                discovering,
                homes: RwLock::new(HomeMap::default()),
                markets: RwLock::new(Markets::default()),
                changes,
            }),
        }
    }

    /// A receiver that sees a change after every change of any feed's pool.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.shared.changes.subscribe()
    }

    /// Adds a home restored from a snapshot (replacing one with the same
    /// id), so it is served even when the upstream is unreachable.
    /// A declared market home keeps its market feed: a snapshot of an
    /// earlier run's home with the same id is not served.
    pub fn insert_pool(&self, pool: Pool) {
        if self
            .home(&pool.home().id)
            .is_some_and(|home| home.is_market())
        {
            tracing::warn!(home = %pool.home().id, "a snapshot of a home now declared on a market is not served");
            return;
        }
        record_live_intervals(&pool.home().id, pool.len());
        let info = pool.home().clone();
        let sources: Arc<[GatedSource]> = self.shared.discovering.iter().cloned().collect();
        let feed = Feed::new(pool, None, sources, Arc::clone(&self.shared.context));
        let mut homes = self.shared.homes.write().unwrap_or_else(|e| e.into_inner());
        homes.insert(info.id.clone(), Home::new(info, feed, None));
        drop(homes);
        self.announce_change();
    }

    /// Adds a market home, on its market's feed (made when the first home
    /// of that market and currency is added, with that home's sources: give
    /// every home of one feed the same list, as the app does). Call before
    /// [`Registry::restore_market_pool`].
    pub fn add_market_home(&self, home: MarketHome) {
        let feed_id = market_feed_id(home.market, &home.info.currency);
        let feed = {
            let mut markets = self
                .shared
                .markets
                .write()
                .unwrap_or_else(|e| e.into_inner());
            let sources: Arc<[GatedSource]> = home
                .sources
                .into_iter()
                .map(|source| {
                    let gate = markets.gates.entry(source.name()).or_insert_with(|| {
                        Arc::clone(&gated(&self.shared.context, source.clone()).gate)
                    });
                    GatedSource {
                        source: source.trusting(Trust::of(&self.shared.context.config)),
                        gate: Arc::clone(gate),
                    }
                })
                .collect();
            let context = Arc::clone(&self.shared.context);
            markets
                .feeds
                .entry(feed_id.clone())
                .or_insert_with(|| {
                    let info = HomeInfo {
                        id: feed_id,
                        zone: home.market.zone(),
                        currency: home.info.currency.clone(),
                    };
                    let pool = Pool::new(info, context.pool_config.clone());
                    Feed::new(pool, Some(home.market), sources, context)
                })
                .clone()
        };
        let tariff = Some(Arc::new(home.tariff));
        let mut homes = self.shared.homes.write().unwrap_or_else(|e| e.into_inner());
        homes.insert(home.info.id.clone(), Home::new(home.info, feed, tariff));
        drop(homes);
        self.announce_change();
    }

    /// Refills a declared market feed from its snapshot (its id is the feed
    /// id, `DE-LU-EUR`). False when no home declares that market any more:
    /// the snapshot is left as it is and not served.
    pub fn restore_market_pool(&self, pool: Pool) -> bool {
        let Some(feed) = self.market_feed(&pool.home().id) else {
            return false;
        };
        record_live_intervals(&pool.home().id, pool.len());
        feed.restore(pool);
        self.announce_change();
        true
    }

    /// Tells [`Registry::changes`]' watchers that a home or a pool changed
    /// without a fetch (restored, inserted, added).
    fn announce_change(&self) {
        self.shared.changes.send_modify(|n| *n = n.wrapping_add(1));
    }

    fn market_feed(&self, feed_id: &str) -> Option<Feed> {
        let markets = self
            .shared
            .markets
            .read()
            .unwrap_or_else(|e| e.into_inner());
        markets.feeds.get(feed_id).cloned()
    }

    /// Every market feed's id, for the saver.
    pub fn market_feed_ids(&self) -> Vec<String> {
        let markets = self
            .shared
            .markets
            .read()
            .unwrap_or_else(|e| e.into_inner());
        markets.feeds.keys().cloned().collect()
    }

    /// The snapshot of the feed `feed_id` (a market feed or a home's own):
    /// its identity and pool, for the saver.
    pub fn snapshot_of(&self, feed_id: &str) -> Option<(HomeInfo, crate::pool::PoolSnapshot)> {
        if let Some(feed) = self.market_feed(feed_id) {
            return Some(feed.with_pool(|pool| (pool.home().clone(), pool.snapshot())));
        }
        let home = self.home(feed_id)?;
        home.with_pool(|pool| {
            (pool.home().id == feed_id).then(|| (pool.home().clone(), pool.snapshot()))
        })
    }

    /// Asks the discovering source for its homes and adds those not known
    /// yet (homes restored from snapshots keep their pools). Nothing to do
    /// without a discovering source.
    pub async fn discover(&self) -> Result<(), UpstreamError> {
        let Some(discovering) = &self.shared.discovering else {
            return Ok(());
        };
        let context = &self.shared.context;
        let deadline = tokio::time::Instant::now() + context.config.fetch_deadline;
        let found = tokio::time::timeout_at(
            deadline,
            discovering.source.homes(&discovering.gate, deadline),
        )
        .await
        .map_err(|_| UpstreamError::Timeout(context.config.fetch_deadline))??;
        let known: Vec<HomeInfo> = {
            let homes = self.shared.homes.read().unwrap_or_else(|e| e.into_inner());
            found
                .into_iter()
                .filter(|info| !homes.contains_key(&info.id))
                .collect()
        };
        for info in known {
            tracing::info!(home = %info.id, zone = %info.zone, "discovered home");
            self.insert_pool(Pool::new(info, context.pool_config.clone()));
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

    /// Starts the scheduled prefetch (see `prefetch`) on `tracker`, unless
    /// the config disables it.
    pub fn spawn_prefetch(&self, token: CancellationToken, tracker: &TaskTracker) {
        if !self.shared.context.config.prefetch {
            tracing::info!("scheduled prefetch disabled");
            return;
        }
        tracker.spawn(super::prefetch::run(self.clone(), token));
    }

    /// Every feed once (a market feed serves many homes), for the resync
    /// after Redis came back.
    pub(crate) fn feeds(&self) -> Vec<Feed> {
        let mut feeds: BTreeMap<String, Feed> = BTreeMap::new();
        for home in self.homes() {
            feeds
                .entry(home.feed_id())
                .or_insert_with(|| home.feed().clone());
        }
        feeds.into_values().collect()
    }

    /// The replicas this registry shares with (`--redis-url`), for `/readyz`.
    pub fn replicas(&self) -> Option<&Replicas> {
        self.shared.context.replicas.as_ref()
    }

    /// Starts the resync of every feed after each (re)connection to Redis
    /// (see `resync`); nothing without Redis.
    pub fn spawn_resync(&self, token: CancellationToken, tracker: &TaskTracker) {
        if let Some(replicas) = self.replicas() {
            tracker.spawn(super::resync::run(self.clone(), replicas.clone(), token));
        }
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

/// The id of a market feed, and the stem of its snapshot file: `DE-LU-EUR`.
pub fn market_feed_id(market: Market, currency: &str) -> String {
    format!("{}-{currency}", market.name())
}

/// `source` with a gate of its own and the trust settings of `context`.
fn gated(context: &FeedContext, source: Source) -> GatedSource {
    GatedSource {
        gate: new_gate(context, &source),
        source: source.trusting(Trust::of(&context.config)),
    }
}

/// A gate (budget, cooldowns) for `source` with `context`'s settings,
/// held off by the cooldowns other replicas share for it.
fn new_gate(context: &FeedContext, source: &Source) -> Arc<CallGate> {
    let gate = CallGate::new(&context.config, context.clock.clone(), source.is_metered());
    Arc::new(match &context.replicas {
        Some(replicas) => gate.shared_with(replicas.clone(), source.name()),
        None => gate,
    })
}
