//! The registry: every home the service knows, found by id. Homes come from
//! snapshots (restored at start, served even when the upstream is down) and
//! from the source's discovery.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::config::UpstreamConfig;
use super::error::UpstreamError;
use super::feed::{ChangeHook, Feed, FeedContext, record_live_intervals};
use super::gate::CallGate;
use super::home::Home;
use super::source::{PriceSource, Source};
use super::validate::Trust;
use crate::clock::Clock;
use crate::pool::{HomeInfo, Pool, PoolConfig};

/// All homes the service knows, and the upstream they are fetched from.
/// Cheap to clone (an `Arc` inside).
#[derive(Clone)]
pub struct Registry {
    shared: Arc<RegistryShared>,
}

struct RegistryShared {
    context: Arc<FeedContext>,
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
    /// and `discover` to learn the source's homes. Fetches run on
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
        let gate = CallGate::new(&config, clock.clone(), source.is_metered());
        let source = source.trusting(Trust::of(&config));
        Registry {
            shared: Arc::new(RegistryShared {
                context: Arc::new(FeedContext {
                    source,
                    gate,
                    config,
                    pool_config,
                    clock,
                    on_change,
                    fetches,
                }),
                homes: RwLock::new(BTreeMap::new()),
            }),
        }
    }

    /// Adds a home restored from a snapshot (replacing one with the same id),
    /// so it is served even when the upstream is unreachable.
    pub fn insert_pool(&self, pool: Pool) {
        record_live_intervals(&pool.home().id, pool.len());
        let home = self.home_of(pool);
        let mut homes = self.shared.homes.write().unwrap_or_else(|e| e.into_inner());
        homes.insert(home.info().id, home);
    }

    fn home_of(&self, pool: Pool) -> Home {
        let info = pool.home().clone();
        Home::new(info, Feed::new(pool, Arc::clone(&self.shared.context)))
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
                homes.insert(info.id.clone(), self.home_of(self.empty_pool(info)));
            }
        }
        Ok(())
    }

    fn empty_pool(&self, info: HomeInfo) -> Pool {
        Pool::new(info, self.shared.context.pool_config.clone())
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

    /// The coordinator's settings (for the prefetch schedule).
    pub(crate) fn config(&self) -> &UpstreamConfig {
        &self.shared.context.config
    }

    /// The service's wall clock.
    pub(crate) fn clock(&self) -> &Clock {
        &self.shared.context.clock
    }
}
