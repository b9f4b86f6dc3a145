//! The render cache's metrics: hits and misses, bytes and entries kept.

use std::sync::LazyLock;

/// `pricepool_render_cache_requests_total{result=hit|miss}`, registered
/// once (a lookup in the recorder per request was measurable on a hit).
static LOOKUPS: LazyLock<[metrics::Counter; 2]> = LazyLock::new(|| {
    let _recorder = crate::telemetry::prometheus();
    ["hit", "miss"].map(
        |result| metrics::counter!("pricepool_render_cache_requests_total", "result" => result),
    )
});

/// `pricepool_render_cache_bytes` and `_entries`, registered once (they
/// are set on every insert, i.e. on every miss).
pub(super) static GAUGES: LazyLock<[metrics::Gauge; 2]> = LazyLock::new(|| {
    let _recorder = crate::telemetry::prometheus();
    [
        metrics::gauge!("pricepool_render_cache_bytes"),
        metrics::gauge!("pricepool_render_cache_entries"),
    ]
});

/// Counts one answer of a cached view in
/// `pricepool_render_cache_requests_total`: a hit when it was sent
/// without rendering anything.
pub(crate) fn count(hit: bool) {
    let [hits, misses] = &*LOOKUPS;
    if hit { hits } else { misses }.increment(1);
}
