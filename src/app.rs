//! The running service: `Application::build` checks the configuration,
//! takes the data directory, restores the snapshots, wires the registry, the
//! saver and the API, and binds (port 0 allowed, see `port()`), answering
//! probes from the moment it is bound (`StartupServer`);
//! `run_until_stopped` serves until SIGINT/SIGTERM and shuts down
//! gracefully: stop accepting, let in-flight requests finish within a
//! deadline, cancel the background work, and wait for the saver's final flush.
#![warn(missing_docs)]

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::api::middleware::ApiToken;
use crate::api::render_cache::RenderCache;
use crate::api::{ApiState, SaveStatusSource, router, startup_router};
use crate::clock::Clock;
use crate::config::{Config, ConfigError, SourceKind};
use crate::pool::PoolConfig;
use crate::serve::{ConnectionLimits, raise_open_files_limit, serve};
use crate::store::{Saver, SaverConfig, SaverHandle, SnapshotSource, Store, StoreError};
use crate::upstream::{Registry, Secret, Source, TibberConfig, UpstreamConfig};

/// How long `build` waits for the first home discovery before serving
/// anyway (homes from snapshots are served meanwhile; discovery goes on in
/// the background).
const FIRST_DISCOVERY_WAIT: Duration = Duration::from_secs(5);

/// Pause between discovery attempts while the upstream is unreachable at start.
const DISCOVERY_RETRY: Duration = Duration::from_secs(10);

/// How long shutdown waits for the saver's final flush.
const FLUSH_DEADLINE: Duration = Duration::from_secs(20);

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
    /// Cancelled at shutdown; every background task holds a child.
    shutdown: CancellationToken,
    /// Every background task (saver, prefetch, discovery) is spawned here.
    tracker: TaskTracker,
    shutdown_timeout: Duration,
    registry: Registry,
    saver: SaverHandle,
    connection_limits: ConnectionLimits,
}

impl Application {
    /// Validates `config`, binds the listener (and answers probes on it
    /// until this returns), opens the data directory (taking its lock),
    /// restores snapshots, discovers homes, and spawns the saver and the
    /// prefetch.
    pub async fn build(config: Config) -> Result<Application, StartupError> {
        config.validate()?;
        // Bind first: a port in use fails the start before anything is spawned.
        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| StartupError::Bind {
                    address: config.listen,
                    hint: if source.kind() == std::io::ErrorKind::AddrInUse {
                        " (another process uses this port; choose another with --listen)"
                    } else {
                        ""
                    },
                    source,
                })?;
        let bind_error = |source| StartupError::Bind {
            address: config.listen,
            source,
            hint: "",
        };
        let port = listener.local_addr().map_err(bind_error)?.port();
        let connection_limits = ConnectionLimits::new(
            config.header_read_timeout,
            config.idle_timeout,
            config.max_header_bytes as usize,
            config.max_connections as usize,
            raise_open_files_limit(),
        );
        // Probes get answers (healthz 200, readyz 503) while snapshots load
        // and homes are discovered; stopped when the service is built, and
        // on any early return (drop).
        let (listener, startup_server) =
            StartupServer::spawn(listener, config.request_timeout, connection_limits.clone())
                .map_err(bind_error)?;

        let clock = config.now.map_or_else(Clock::system, Clock::starting_at);
        let pool_config = PoolConfig {
            max_intervals: config.max_intervals as usize,
            ..PoolConfig::default()
        };
        let store = Store::open(&config.data_dir)?;
        // Reading and decoding thousands of files is blocking work (it runs
        // on all cores inside): off the async workers, which serve probes.
        let report = {
            let (store, pool_config, now) = (store.clone(), pool_config.clone(), clock.now());
            tokio::task::spawn_blocking(move || store.load_all(&pool_config, now))
                .await
                .map_err(|join| StartupError::Load(join.to_string()))?
        };
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
        let n_restored = report.pools.len();

        let source = match config.source {
            SourceKind::Demo => Source::demo(),
            SourceKind::Tibber => {
                let mut tibber =
                    TibberConfig::new(Secret::new(config.tibber_token.clone().unwrap_or_default()));
                tibber.url = config.tibber_url.clone();
                tibber.request_timeout = config.upstream_timeout;
                Source::tibber(tibber)?
            }
        };
        let upstream_config = UpstreamConfig {
            prefetch: !config.no_prefetch,
            fetch_deadline: config.fetch_deadline,
            ..UpstreamConfig::default()
        };

        // The registry tells the saver which home changed; the saver reads
        // snapshots through the registry. The slot breaks the chicken-and-egg.
        let saver_slot: Arc<OnceLock<SaverHandle>> = Arc::new(OnceLock::new());
        let hook_slot = Arc::clone(&saver_slot);
        let registry = Registry::new(
            source,
            upstream_config,
            pool_config,
            clock.clone(),
            Arc::new(move |home_id: &str| {
                if let Some(saver) = hook_slot.get() {
                    saver.mark_dirty(home_id);
                }
            }),
        );
        for pool in report.pools {
            registry.insert_pool(pool);
        }

        let shutdown = CancellationToken::new();
        let tracker = TaskTracker::new();
        let snapshot_registry = registry.clone();
        let snapshots: SnapshotSource = Arc::new(move |home_id: &str| {
            let home = snapshot_registry.home(home_id)?;
            Some((home.info(), home.with_pool(|pool| pool.snapshot())))
        });
        let saver = Saver::spawn(
            store,
            snapshots,
            SaverConfig {
                save_delay: config.save_delay,
                save_max_delay: config.save_max_delay,
                shutdown_deadline: config.shutdown_timeout,
                clock: clock.clone(),
                ..SaverConfig::default()
            },
            shutdown.child_token(),
            &tracker,
        );
        let _already_set = saver_slot.set(saver.clone());
        // A migrated file that could not be written back in the new schema
        // is still only on disk in the old one: save it again soon.
        for migrated in report.migrated.iter().filter(|m| m.resave_error.is_some()) {
            saver.mark_dirty(&migrated.home_id);
        }
        let status_saver = saver.clone();
        let save_status: SaveStatusSource = Arc::new(move |home_id: &str| {
            serde_json::to_value(status_saver.status(home_id)).unwrap_or_default()
        });

        let ready = Arc::new(AtomicBool::new(false));
        let discovered = match tokio::time::timeout(FIRST_DISCOVERY_WAIT, registry.discover()).await
        {
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
        ready.store(discovered || n_restored > 0, Ordering::Release);
        if !discovered {
            tracker.spawn(keep_discovering(
                registry.clone(),
                Arc::clone(&ready),
                shutdown.child_token(),
            ));
        }
        if !config.no_prefetch {
            registry.spawn_prefetch(shutdown.child_token(), &tracker);
        }

        let state = ApiState {
            registry: registry.clone(),
            save_status,
            clock,
            ready,
            prometheus: crate::telemetry::prometheus(),
            api_token: config
                .api_token
                .as_deref()
                .map(|token| Arc::new(ApiToken::new(token))),
            render_cache: Arc::new(RenderCache::new(
                config.render_cache_mib.saturating_mul(1024 * 1024),
            )),
        };
        startup_server.stop().await;
        tracing::info!(
            address = %listener.local_addr().map_or(config.listen, |a| a),
            source = ?config.source,
            homes = registry.homes().len(),
            restored = n_restored,
            "pricepool is serving"
        );
        Ok(Application {
            listener,
            port,
            router: router(state, config.request_timeout),
            shutdown,
            tracker,
            shutdown_timeout: config.shutdown_timeout,
            registry,
            saver,
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

    /// The saver's handle, for tests that look inside.
    pub fn saver(&self) -> &SaverHandle {
        &self.saver
    }

    /// Serves until SIGINT or SIGTERM, then shuts down gracefully.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let signals = StopSignals::install()?;
        self.run_until(signals.received()).await
    }

    /// Serves until `stop` completes, then shuts down gracefully: no new
    /// connections, in-flight requests get `--shutdown-timeout` to finish,
    /// background work is cancelled and the saver flushes every dirty home.
    pub async fn run_until(
        self,
        stop: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let stopping = CancellationToken::new();
        let stopping_for_serve = stopping.clone();
        let serve = serve(
            self.listener,
            self.router,
            self.connection_limits,
            async move { stopping_for_serve.cancelled().await },
        );
        let signal_watch = {
            let stopping = stopping.clone();
            let saver = self.saver.clone();
            async move {
                stop.await;
                stopping.cancel();
                // Save what is dirty now, before the drain: a supervisor's
                // kill after its grace period must not find it unwritten.
                saver.flush_soon();
                tracing::info!(
                    "shutdown requested; dirty homes are being written, finishing in-flight requests"
                );
            }
        };
        tokio::spawn(signal_watch);
        let drain_deadline = {
            let stopping = stopping.clone();
            let timeout = self.shutdown_timeout;
            async move {
                stopping.cancelled().await;
                tokio::time::sleep(timeout).await;
            }
        };
        let served = tokio::select! {
            result = serve => result,
            () = drain_deadline => {
                tracing::warn!("in-flight requests did not finish in time; dropping them");
                Ok(())
            }
        };
        // Fetches already under way may still add to the pools: let them land
        // (they are bounded by the fetch deadline) so the final flush saves them.
        let fetches = self.registry.fetch_tasks();
        fetches.close();
        if tokio::time::timeout(FLUSH_DEADLINE, fetches.wait())
            .await
            .is_err()
        {
            tracing::warn!("upstream fetches still running at shutdown; their results are dropped");
        }
        self.shutdown.cancel();
        self.tracker.close();
        if tokio::time::timeout(FLUSH_DEADLINE, self.tracker.wait())
            .await
            .is_err()
        {
            tracing::error!("background work did not stop in time; unsaved changes may be lost");
        }
        // Exit 0 promises every dirty home was flushed; say which were not.
        let unsaved = self.saver.unsaved_homes();
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

/// The listener's server while the service is being built (see
/// [`startup_router`]): it accepts on a duplicate of the listening socket,
/// so the real server takes over the same socket afterwards.
struct StartupServer {
    stop: CancellationToken,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl StartupServer {
    /// Starts serving the startup router on a clone of `listener`; returns
    /// the listener for the real server.
    fn spawn(
        listener: TcpListener,
        request_timeout: Duration,
        limits: ConnectionLimits,
    ) -> std::io::Result<(TcpListener, StartupServer)> {
        let listener = listener.into_std()?;
        let for_startup = TcpListener::from_std(listener.try_clone()?)?;
        let listener = TcpListener::from_std(listener)?;
        let stop = CancellationToken::new();
        let task = tokio::spawn(serve(
            for_startup,
            startup_router(request_timeout),
            limits,
            stop.clone().cancelled_owned(),
        ));
        Ok((
            listener,
            StartupServer {
                stop,
                task: Some(task),
            },
        ))
    }

    /// Stops accepting, closes its idle and half-read connections and lets
    /// the others finish their current request (those answers are
    /// immediate); waits a second at most. New connections go to the real
    /// server.
    async fn stop(mut self) {
        self.stop.cancel();
        if let Some(task) = self.task.take() {
            let abort = task.abort_handle();
            if tokio::time::timeout(Duration::from_secs(1), task)
                .await
                .is_err()
            {
                abort.abort();
                tracing::debug!("a startup connection is still open; new ones go to the service");
            }
        }
    }
}

impl Drop for StartupServer {
    fn drop(&mut self) {
        self.stop.cancel();
        if let Some(task) = &self.task {
            task.abort();
        }
    }
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

/// SIGINT (Ctrl-C) and SIGTERM (container stop), registered when
/// installed: `main` installs them before building, so a signal that
/// arrives while the service starts is not lost (nor kills it).
pub struct StopSignals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl StopSignals {
    /// Registers the handlers now.
    pub fn install() -> std::io::Result<StopSignals> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(StopSignals {
                interrupt: signal(SignalKind::interrupt())?,
                terminate: signal(SignalKind::terminate())?,
            })
        }
        #[cfg(not(unix))]
        Ok(StopSignals {})
    }

    /// Completes on the first of the signals.
    pub async fn received(mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
