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

/// What every handler shares. Cheap to clone: handles over `Arc`s.
#[derive(Clone)]
pub(crate) struct ApiState {
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
