//! The running service: `Application::build` checks the configuration,
//! takes the data directory, restores the snapshots, wires the registry
//! (its homes and market homes: `homes`), the savers, MQTT and the API, and
//! binds (port 0 allowed, see `port()`), answering probes from the moment
//! it is bound (`StartupServer`); `run_until_stopped` serves until a stop
//! signal and shuts down gracefully (see `crate::shutdown`): stop accepting,
//! let in-flight requests finish within a deadline, cancel the background
//! work, and wait for the savers' final flush.
#![warn(missing_docs)]

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::api::middleware::ApiToken;
use crate::api::render_cache::RenderCache;
use crate::api::state::Shared as ApiShared;
use crate::api::{ApiState, router, startup_router};
use crate::clock::Clock;
use crate::config::{Config, ConfigError};
use crate::mqtt::{MqttSettings, MqttStatus};
use crate::pool::PoolConfig;
use crate::replicas::Replicas;
use crate::serve::{ConnectionLimits, StartupServer, raise_open_files_limit, serve};
use crate::shutdown::{Shutdown, StopSignals};
use crate::store::{LoadReport, Saver, SaverConfig, Store, StoreError};
use crate::upstream::Registry;

mod homes;

use homes::{Savers, build_registry, restore};

/// How long `build` waits for the first home discovery before serving
/// anyway (homes from snapshots are served meanwhile; discovery goes on in
/// the background).
const FIRST_DISCOVERY_WAIT: Duration = Duration::from_secs(5);

/// How long `build` waits for the first connection to Redis before serving
/// alone (the link keeps trying; sharing starts when it connects).
const FIRST_REDIS_WAIT: Duration = Duration::from_secs(3);

/// Pause between discovery attempts while the upstream is unreachable at start.
const DISCOVERY_RETRY: Duration = Duration::from_secs(10);

/// Why the service could not start; `main` prints it as one line.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// Options that cannot work together.
    #[error("invalid configuration: {0}")]
    Config(#[from] ConfigError),
    /// The data directory is locked by another instance or unusable.
    #[error("{0}")]
    DataDir(#[from] StoreError),
    /// Loading the snapshots died (each file's own failures only quarantine it).
    #[error("loading the snapshots failed: {0}")]
    Load(String),
    /// The upstream client could not be built (e.g. a bad URL).
    #[error("cannot set up the upstream: {0}")]
    Upstream(#[from] crate::upstream::UpstreamError),
    /// The MQTT flags cannot be used (the message never quotes the URL).
    #[error("{0}")]
    Mqtt(#[from] crate::mqtt::MqttError),
    /// The Redis flags cannot be used (the message never quotes the URL).
    #[error("{0}")]
    Replicas(#[from] crate::replicas::ReplicasError),
    /// The listen address cannot be bound (in use, not ours, no permission).
    #[error("cannot listen on {address}: {source}{hint}")]
    Bind {
        /// The address asked for.
        address: SocketAddr,
        /// The operating system's reason.
        source: std::io::Error,
        /// What to do about it, when known.
        hint: &'static str,
    },
}

/// A built service, bound and ready to serve.
pub struct Application {
    listener: TcpListener,
    port: u16,
    router: Router,
    /// The tokens, the trackers and the order of stopping.
    shutdown: Shutdown,
    shutdown_timeout: Duration,
    registry: Registry,
    savers: Savers,
    /// Timeouts and the connection cap, shared with the start-up server.
    connection_limits: ConnectionLimits,
}

impl Application {
    /// Validates `config`, binds the listener (and answers probes on it
    /// until this returns), opens the data directory (taking its lock),
    /// restores snapshots, discovers homes, and spawns the saver and the
    /// prefetch.
    pub async fn build(config: Config) -> Result<Application, StartupError> {
        config.validate()?;
        let mqtt = mqtt_settings(&config)?;
        let replicas = replicas_of(&config)?;
        // Bind first: a port in use fails the start before anything is spawned.
        let connection_limits = ConnectionLimits::new(
            config.header_read_timeout,
            config.idle_timeout,
            config.max_header_bytes as usize,
            config.max_connections as usize,
            raise_open_files_limit(),
        );
        let (listener, port, startup_server) = bind(&config, &connection_limits).await?;
        let clock = config.now.map_or_else(Clock::system, Clock::starting_at);
        let pool_config = PoolConfig {
            max_intervals: config.max_intervals as usize,
            ..PoolConfig::default()
        };
        let store = Store::open(&config.data_dir)?;
        let markets_store = store.markets()?;
        let homes_report = load_snapshots(&store, &pool_config, clock.now()).await?;
        let markets_report = load_snapshots(&markets_store, &pool_config, clock.now()).await?;
        let shutdown = Shutdown::new();
        // The savers exist before their workers: the registry's change hook
        // holds them, and the workers read snapshots through the registry.
        let savers = Savers::new(&config);
        connect_replicas(replicas.as_ref(), &shutdown).await;
        let registry = build_registry(
            &config,
            pool_config,
            (clock.clone(), replicas),
            &savers,
            &shutdown,
        )?;
        let n_restored = restore(&registry, &savers, homes_report, markets_report);
        savers.spawn_workers(
            (store, markets_store),
            &registry,
            saver_config(&config, clock.clone()),
            &shutdown,
        );
        let ready = if config.serves_tibber() || config.serves_demo() {
            discover_homes(&registry, n_restored + config.homes.len(), &shutdown).await
        } else {
            Arc::new(AtomicBool::new(true))
        };
        registry.spawn_resync(shutdown.worker_token(), shutdown.background());
        registry.spawn_prefetch(shutdown.fetching_token(), shutdown.background());
        shutdown
            .background()
            .spawn(crate::telemetry::watch_dropped_log_lines(
                shutdown.worker_token(),
            ));
        let mqtt =
            mqtt.map(|mqtt| crate::mqtt::spawn(mqtt, registry.clone(), clock.clone(), &shutdown));
        let state = api_state(&config, registry.clone(), &savers, (clock, mqtt), ready);
        startup_server.stop().await;
        tracing::info!(
            address = %listener.local_addr().map_or(config.listen, |a| a),
            source = ?config.source,
            homes = registry.homes().len(),
            restored = n_restored,
            max_connections = connection_limits.max_connections(),
            "pricepool is serving"
        );
        Ok(Application {
            listener,
            port,
            router: router(state, config.request_timeout),
            shutdown,
            shutdown_timeout: config.shutdown_timeout,
            registry,
            savers,
            connection_limits,
        })
    }

    /// The bound port (the real one when `--listen` asked for port 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The registry, for tests that look inside.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The saver, for tests that look inside.
    pub fn saver(&self) -> &Saver {
        &self.savers.homes
    }

    /// Serves until a stop signal (see [`StopSignals`]), then shuts down gracefully.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let signals = StopSignals::install()?;
        self.run_until(signals.received()).await
    }

    /// Serves until `stop` completes, then shuts down gracefully (see
    /// [`crate::shutdown`]): no new connections, in-flight requests get
    /// `--shutdown-timeout` to finish, fetches under way land, background
    /// work is cancelled and the saver flushes every dirty home.
    pub async fn run_until(
        self,
        stop: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let serving = self.shutdown.serving().clone();
        let serve = serve(
            self.listener,
            self.router,
            self.connection_limits,
            serving.clone().cancelled_owned(),
        );
        self.shutdown.background().spawn(watch_stop(
            stop,
            self.shutdown.clone(),
            self.savers.clone(),
        ));
        let drain_deadline = async {
            serving.cancelled().await;
            tokio::time::sleep(self.shutdown_timeout).await;
        };
        let served = tokio::select! {
            result = serve => result,
            () = drain_deadline => {
                tracing::warn!("in-flight requests did not finish in time; dropping them");
                Ok(())
            }
        };
        self.shutdown.finish().await;
        // Exit 0 promises every dirty home was flushed; say which were not.
        let unsaved = self.savers.unsaved();
        if !unsaved.is_empty() {
            return Err(std::io::Error::other(format!(
                "{} home(s) could not be saved before exit: {}",
                unsaved.len(),
                unsaved.join(", ")
            )));
        }
        tracing::info!("background work stopped and dirty homes flushed; exiting");
        served
    }
}

/// Waits for `stop` (or for shutdown to begin otherwise), then stops
/// serving and has the saver write what is dirty now, before the drain: a
/// supervisor's kill after its grace period must not find it unwritten.
async fn watch_stop(stop: impl Future<Output = ()>, shutdown: Shutdown, savers: Savers) {
    tokio::select! {
        () = stop => {}
        () = shutdown.serving().cancelled() => return,
    }
    shutdown.stop_serving();
    savers.flush_soon();
    tracing::info!(
        "shutdown requested; dirty homes are being written, finishing in-flight requests"
    );
}

/// The MQTT push's settings when `--mqtt-url` is given.
fn mqtt_settings(config: &Config) -> Result<Option<MqttSettings>, StartupError> {
    let Some(url) = &config.mqtt_url else {
        return Ok(None);
    };
    let settings = MqttSettings::new(url, &config.mqtt_prefix, &config.ha_discovery_prefix)?;
    Ok(Some(settings))
}

/// The replicas' handle when `--redis-url` is given.
fn replicas_of(config: &Config) -> Result<Option<Replicas>, StartupError> {
    let Some(url) = &config.redis_url else {
        return Ok(None);
    };
    Ok(Some(Replicas::new(
        url,
        &config.redis_prefix,
        config.replicas,
    )?))
}

/// Starts the link to Redis and waits a moment for it, so a replica next
/// to a running Redis shares from its first request.
async fn connect_replicas(replicas: Option<&Replicas>, shutdown: &Shutdown) {
    let Some(replicas) = replicas else {
        return;
    };
    replicas.spawn(shutdown.worker_token(), shutdown.background());
    if !replicas.wait_connected(FIRST_REDIS_WAIT).await {
        tracing::warn!("Redis is not reachable yet; serving alone until it is");
    }
}

/// Binds `--listen` and answers probes on it while the service is built.
async fn bind(
    config: &Config,
    limits: &ConnectionLimits,
) -> Result<(TcpListener, u16, StartupServer), StartupError> {
    let bind_error = |source: std::io::Error| StartupError::Bind {
        address: config.listen,
        hint: if source.kind() == std::io::ErrorKind::AddrInUse {
            " (another process uses this port; choose another with --listen)"
        } else {
            ""
        },
        source,
    };
    let listener = TcpListener::bind(config.listen).await.map_err(bind_error)?;
    let port = listener.local_addr().map_err(bind_error)?.port();
    // Probes get answers (healthz 200, readyz 503) while snapshots load
    // and homes are discovered; stopped when the service is built, and
    // on any early return (drop).
    let (listener, startup_server) = StartupServer::spawn(
        listener,
        startup_router(config.request_timeout),
        limits.clone(),
    )
    .map_err(bind_error)?;
    Ok((listener, port, startup_server))
}

/// Reads every snapshot and logs what was moved aside. Reading and
/// decoding thousands of files is blocking work (it runs on all cores
/// inside): off the async workers, which serve probes meanwhile.
async fn load_snapshots(
    store: &Store,
    pool_config: &PoolConfig,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<LoadReport, StartupError> {
    let (store, pool_config) = (store.clone(), pool_config.clone());
    let report = tokio::task::spawn_blocking(move || store.load_all(&pool_config, now))
        .await
        .map_err(|join| StartupError::Load(join.to_string()))?;
    for file in &report.quarantined {
        tracing::warn!(
            path = %file.path.display(),
            moved_to = ?file.moved_to,
            reason = file.reason.as_str(),
            detail = %file.detail,
            "a snapshot file could not be used and was moved aside"
        );
    }
    if let Some(error) = &report.listing_error {
        tracing::error!(%error, "the snapshot directory could not be listed; starting empty");
    }
    Ok(report)
}

fn saver_config(config: &Config, clock: Clock) -> SaverConfig {
    SaverConfig {
        save_delay: config.save_delay,
        save_max_delay: config.save_max_delay,
        shutdown_deadline: config.shutdown_timeout,
        clock,
        ..SaverConfig::default()
    }
}

/// Discovers the source's homes, waiting [`FIRST_DISCOVERY_WAIT`] at most;
/// keeps trying in the background if that fails. The service is ready
/// once homes are known: discovered, restored from snapshots, or declared
/// (`n_known` counts the last two).
async fn discover_homes(
    registry: &Registry,
    n_known: usize,
    shutdown: &Shutdown,
) -> Arc<AtomicBool> {
    let discovered = match tokio::time::timeout(FIRST_DISCOVERY_WAIT, registry.discover()).await {
        Ok(Ok(())) => true,
        Ok(Err(error)) => {
            tracing::warn!(%error, "home discovery failed; serving restored homes and retrying");
            false
        }
        Err(_) => {
            tracing::warn!("home discovery is slow; serving restored homes and retrying");
            false
        }
    };
    let ready = Arc::new(AtomicBool::new(discovered || n_known > 0));
    if !discovered {
        shutdown.background().spawn(keep_discovering(
            registry.clone(),
            Arc::clone(&ready),
            shutdown.worker_token(),
        ));
    }
    ready
}

fn api_state(
    config: &Config,
    registry: Registry,
    savers: &Savers,
    (clock, mqtt): (Clock, Option<MqttStatus>),
    ready: Arc<AtomicBool>,
) -> ApiState {
    let (savers, lookup) = (savers.clone(), registry.clone());
    ApiState::new(ApiShared {
        registry,
        // A market home's snapshot is its market feed's.
        save_status: Arc::new(move |home_id: &str| {
            let feed_id = lookup
                .home(home_id)
                .map_or_else(|| home_id.to_string(), |home| home.feed_id());
            serde_json::to_value(savers.status(&feed_id)).unwrap_or_default()
        }),
        clock,
        ready,
        prometheus: crate::telemetry::prometheus(),
        api_token: config
            .api_token
            .as_ref()
            .map(|token| Arc::new(ApiToken::new(token.expose()))),
        render_cache: Arc::new(RenderCache::new(
            config.render_cache_mib.saturating_mul(1024 * 1024),
        )),
        page_cache: Arc::default(),
        mqtt,
    })
}

/// Retries discovery until it succeeds (the service is then ready) or shutdown.
async fn keep_discovering(registry: Registry, ready: Arc<AtomicBool>, token: CancellationToken) {
    loop {
        let next = tokio::time::Instant::now() + DISCOVERY_RETRY;
        tokio::select! {
            () = token.cancelled() => return,
            () = tokio::time::sleep_until(next) => {}
        }
        match registry.discover().await {
            Ok(()) => {
                tracing::info!(homes = registry.homes().len(), "home discovery succeeded");
                ready.store(true, Ordering::Release);
                return;
            }
            Err(error) => {
                tracing::warn!(%error, retry_in = ?DISCOVERY_RETRY, "home discovery failed again")
            }
        }
    }
}
