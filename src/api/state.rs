//! What every handler shares: the registry, the clock, readiness, the
//! metrics renderer, the API token, the render cache and the page cache.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use metrics_exporter_prometheus::PrometheusHandle;

use super::middleware::ApiToken;
use super::page_cache::PageCache;
use super::render_cache::RenderCache;
use crate::clock::Clock;
use crate::mqtt::MqttStatus;
use crate::upstream::Registry;

/// Looks up a home's persistence status; the app wires it to the saver,
/// so the API does not depend on the store's types.
pub(crate) type SaveStatusSource = Arc<dyn Fn(&str) -> serde_json::Value + Send + Sync>;

/// What every handler shares, behind one `Arc`: axum clones the state
/// for every request (the route's service, each `State` extractor), and
/// with a field per handle each clone and drop was an atomic count per
/// field, on cache lines every worker thread writes (BENCHMARKS.md, fourth
/// round: `drop_in_place<ApiState>` 1.35% of samples at 10,000 homes).
#[derive(Clone)]
pub(crate) struct ApiState(Arc<Shared>);

impl ApiState {
    /// The state over `shared`.
    pub(crate) fn new(shared: Shared) -> ApiState {
        ApiState(Arc::new(shared))
    }
}

impl std::ops::Deref for ApiState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The handles in [`ApiState`].
pub(crate) struct Shared {
    /// The homes and their pools; the only way to prices.
    pub(crate) registry: Registry,
    /// Save status per home (dirty, last save), for /stats.
    pub(crate) save_status: SaveStatusSource,
    /// The service's wall clock (`--now`).
    pub(crate) clock: Clock,
    /// Set once snapshots are loaded and the homes are known (/readyz).
    /// An atomic: written once by the startup task, read by every probe.
    pub(crate) ready: Arc<AtomicBool>,
    /// Renders /metrics.
    pub(crate) prometheus: PrometheusHandle,
    /// The bearer token /v1 requires, when configured.
    pub(crate) api_token: Option<Arc<ApiToken>>,
    /// Rendered range bodies, reused while the pool is at the revision
    /// they were rendered from (see `render_cache`); bounded in bytes.
    pub(crate) render_cache: Arc<RenderCache>,
    /// The dashboard page as last rendered, reused while nothing it shows
    /// has changed (see `page_cache`).
    pub(crate) page_cache: Arc<PageCache>,
    /// With `--mqtt-url`: the broker connection, for `/readyz`.
    pub(crate) mqtt: Option<MqttStatus>,
}
