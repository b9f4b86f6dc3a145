//! Which homes the service serves and how their prices are kept: the
//! discovering source (`--source`: Tibber's homes, the demo market, or
//! none), the market homes the configuration declares (one feed per
//! market and currency, each source built once and shared), and the two
//! savers: one for the homes' own feeds (`homes/`), one for the market
//! feeds (`markets/`), fed by one change hook that knows which is which.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::clock::Clock;
use crate::config::{Config, HomeDecl};
use crate::pool::{HomeInfo, PoolConfig};
use crate::replicas::Replicas;
use crate::shutdown::Shutdown;
use crate::store::{LoadReport, SaveStatus, Saver, SaverConfig, SnapshotSource, Store};
use crate::upstream::{
    MarketHome, Provider, ProviderUrls, Registry, Source, TibberConfig, UpstreamConfig,
    UpstreamError, market_feed_id,
};

use super::StartupError;

/// The two savers and which feed ids are market feeds. Cheap to clone.
#[derive(Clone)]
pub(super) struct Savers {
    /// The homes' own feeds: `{data_dir}/homes/`.
    pub(super) homes: Saver,
    /// The market feeds: `{data_dir}/markets/`.
    pub(super) markets: Saver,
    market_ids: Arc<BTreeSet<String>>,
}

impl Savers {
    /// Savers for the market feeds `config` declares (workers not started).
    pub(super) fn new(config: &Config) -> Savers {
        let market_ids = config
            .homes
            .iter()
            .map(|home| market_feed_id(home.market, &home.currency))
            .collect();
        Savers {
            homes: Saver::new(),
            markets: Saver::new(),
            market_ids: Arc::new(market_ids),
        }
    }

    /// Marks the feed `feed_id` changed, with the saver that writes it.
    pub(super) fn mark_dirty(&self, feed_id: &str) {
        if self.market_ids.contains(feed_id) {
            self.markets.mark_dirty(feed_id);
        } else {
            self.homes.mark_dirty(feed_id);
        }
    }

    /// The save status of the feed `feed_id`, from the saver that writes it.
    pub(super) fn status(&self, feed_id: &str) -> SaveStatus {
        if self.market_ids.contains(feed_id) {
            self.markets.status(feed_id)
        } else {
            self.homes.status(feed_id)
        }
    }

    /// Shutdown began: both write what is dirty now.
    pub(super) fn flush_soon(&self) {
        self.homes.flush_soon();
        self.markets.flush_soon();
    }

    /// Feeds either saver could not write before exit.
    pub(super) fn unsaved(&self) -> Vec<String> {
        let mut unsaved = self.homes.unsaved_homes();
        unsaved.extend(self.markets.unsaved_homes());
        unsaved
    }

    /// Starts both workers: each writes its feeds' snapshots, read through
    /// the registry, into its own directory of the one locked data dir.
    pub(super) fn spawn_workers(
        &self,
        stores: (Store, Store),
        registry: &Registry,
        config: SaverConfig,
        shutdown: &Shutdown,
    ) {
        let (homes, markets) = stores;
        for (saver, store) in [(&self.homes, homes), (&self.markets, markets)] {
            saver.spawn_worker(
                store,
                snapshots_of(registry),
                config.clone(),
                shutdown.worker_token(),
                shutdown.background(),
            );
        }
    }
}

/// The source that discovers homes, as `--source` and the token decide.
fn discovering_source(config: &Config) -> Result<Option<Source>, StartupError> {
    if config.serves_tibber() {
        let token = config.tibber_token.clone().unwrap_or_default();
        let mut tibber = TibberConfig::new(token);
        tibber.url = config.tibber_url.clone();
        tibber.request_timeout = config.upstream_timeout;
        return Ok(Some(Source::tibber(tibber)?));
    }
    Ok(config.serves_demo().then(Source::demo))
}

/// The registry: the discovering source's homes and the declared market
/// homes, telling `savers` which feed changed and running its fetches on
/// the shutdown's fetch tracker.
pub(super) fn build_registry(
    config: &Config,
    pool_config: PoolConfig,
    (clock, replicas): (Clock, Option<Replicas>),
    savers: &Savers,
    shutdown: &Shutdown,
) -> Result<Registry, StartupError> {
    let upstream_config = UpstreamConfig {
        prefetch: !config.no_prefetch,
        fetch_deadline: config.fetch_deadline,
        price_band: config.price_band,
        publish_hour: u32::from(config.publish_hour),
        publish_jitter: config.publish_jitter,
        ..UpstreamConfig::default()
    };
    let hook_savers = savers.clone();
    let registry = Registry::sharing(
        discovering_source(config)?,
        upstream_config,
        pool_config,
        clock,
        Arc::new(move |feed_id: &str| hook_savers.mark_dirty(feed_id)),
        shutdown.fetches().clone(),
        replicas,
    );
    add_market_homes(&registry, config)?;
    Ok(registry)
}

/// Adds every declared market home, each provider's source built once
/// (one HTTP client, one gate) and shared by every home it prices.
fn add_market_homes(registry: &Registry, config: &Config) -> Result<(), UpstreamError> {
    let urls = ProviderUrls {
        energy_charts: config.energy_charts_url.clone(),
        nordpool: config.nordpool_url.clone(),
        awattar: config.awattar_url.clone(),
        awattar_at: config.awattar_at_url.clone(),
        entsoe: config.entsoe_url.clone(),
    };
    // All homes on one market and currency share one feed: it asks the
    // sources they list, in the order they are first listed.
    let mut feed_providers: BTreeMap<String, Vec<Provider>> = BTreeMap::new();
    for home in &config.homes {
        let providers = feed_providers
            .entry(market_feed_id(home.market, &home.currency))
            .or_default();
        for provider in &home.sources {
            if !providers.contains(provider) {
                providers.push(*provider);
            }
        }
    }
    let mut sources: BTreeMap<Provider, Source> = BTreeMap::new();
    for home in &config.homes {
        let providers = &feed_providers[&market_feed_id(home.market, &home.currency)];
        let mut home_sources = Vec::with_capacity(providers.len());
        for provider in providers {
            if !sources.contains_key(provider) {
                let source = Source::for_provider(
                    *provider,
                    &urls,
                    config.entsoe_token.clone(),
                    config.upstream_timeout,
                )?;
                sources.insert(*provider, source);
            }
            home_sources.extend(sources.get(provider).cloned());
        }
        registry.add_market_home(market_home(home, home_sources));
    }
    Ok(())
}

fn market_home(home: &HomeDecl, sources: Vec<Source>) -> MarketHome {
    MarketHome {
        info: HomeInfo {
            id: home.id.clone(),
            zone: home.zone,
            currency: home.currency.clone(),
        },
        market: home.market,
        sources,
        tariff: home.tariff.clone(),
    }
}

/// Serves the restored pools: the homes' own (`homes`) and the declared
/// market feeds' (`markets`; a market no home declares any more stays on
/// disk, unserved). A migrated file that could not be written back in the
/// new schema is marked to be saved again soon. Returns how many homes'
/// pools were restored.
pub(super) fn restore(
    registry: &Registry,
    savers: &Savers,
    homes: LoadReport,
    markets: LoadReport,
) -> usize {
    let n_restored = homes.pools.len();
    for pool in homes.pools {
        registry.insert_pool(pool);
    }
    for pool in markets.pools {
        let id = pool.home().id.clone();
        if !registry.restore_market_pool(pool) {
            tracing::info!(feed = %id, "a market snapshot no home declares any more is not served");
        }
    }
    for migrated in homes.migrated.iter().chain(&markets.migrated) {
        if migrated.resave_error.is_some() {
            savers.mark_dirty(&migrated.home_id);
        }
    }
    n_restored
}

/// What a saver writes for a feed: its pool's snapshot, read through the registry.
fn snapshots_of(registry: &Registry) -> SnapshotSource {
    let registry = registry.clone();
    Arc::new(move |feed_id: &str| registry.snapshot_of(feed_id))
}
