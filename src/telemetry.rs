//! Logs and metrics in one place: the `tracing` subscriber (text or JSON
//! lines) and the Prometheus recorder behind the `metrics` facade that every
//! module records through (names in ARCHITECTURE.md), rendered at /metrics.
#![warn(missing_docs)]

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

mod access_format;
mod access_json;
mod log_writer;

pub use access_format::ACCESS_TARGET;
pub(crate) use access_format::{TextFields, TextLines};
pub(crate) use access_json::JsonLines;

pub use log_writer::{LogGuard, report_dropped_log_lines, watch_dropped_log_lines};

/// Installs the global tracing subscriber writing to stderr through the
/// non-blocking writer (see [`log_writer`]); the caller keeps the returned
/// guard until it exits, so queued lines are written. A second call
/// (several apps in one test process) keeps the first subscriber.
pub fn init_tracing(format: LogFormat, filter: &str) -> LogGuard {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let (writer, guard) = log_writer::stderr_writer();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        // A closed stderr (a log pipe that went away) must not panic the
        // task that logs: the default reports the failure with eprintln!,
        // which panics, and a panicked shutdown task would never stop the server.
        .log_internal_errors(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let _already_installed = match format {
        LogFormat::Text => builder
            .event_format(TextLines::default())
            .fmt_fields(TextFields::default())
            .try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .event_format(JsonLines::default())
            .try_init(),
    };
    guard
}

/// The process-wide Prometheus recorder. The `metrics` facade takes one
/// global recorder, so every `Application` in a process shares it.
static PROMETHEUS: OnceLock<PrometheusHandle> = OnceLock::new();

/// Latency buckets in seconds: from a cache hit (sub-millisecond) to an
/// upstream call near the request timeout.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Installs the Prometheus recorder once and returns the handle that
/// renders it. If another recorder was installed first (an embedding
/// program), metrics go there and /metrics renders an empty registry.
pub fn prometheus() -> PrometheusHandle {
    PROMETHEUS
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
                .unwrap_or_else(|_| PrometheusBuilder::new());
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("a metrics recorder was already installed; /metrics stays empty");
            }
            describe_metrics();
            handle
        })
        .clone()
}

/// The help lines of the metrics named in ARCHITECTURE.md.
fn describe_metrics() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        "pricepool_http_requests_total",
        "HTTP requests answered, by matched route and status"
    );
    describe_histogram!(
        "pricepool_http_request_duration_seconds",
        metrics::Unit::Seconds,
        "HTTP request latency, by matched route and status"
    );
    describe_counter!(
        "pricepool_upstream_calls_total",
        "calls to the upstream price source, by outcome"
    );
    describe_counter!(
        "pricepool_cache_requests_total",
        "interval requests answered from the cache (hit), after a fetch (miss) or incomplete (partial)"
    );
    describe_gauge!(
        "pricepool_pool_live_intervals",
        "live intervals held per home"
    );
    describe_counter!(
        "pricepool_gc_evicted_groups_total",
        "fetch groups evicted by GC, per home"
    );
    describe_counter!(
        "pricepool_render_cache_requests_total",
        "range bodies served from the render cache (hit) or rendered anew (miss)"
    );
    describe_gauge!(
        "pricepool_render_cache_bytes",
        metrics::Unit::Bytes,
        "bytes of rendered range bodies kept, as the cache's capacity counts them"
    );
    describe_gauge!(
        "pricepool_render_cache_entries",
        "rendered range bodies kept"
    );
    describe_counter!(
        "pricepool_log_lines_dropped_total",
        "log lines dropped because the log writer's queue was full (a log reader that does not keep up)"
    );
    describe_counter!("pricepool_saves_total", "snapshot writes, by outcome");
    describe_histogram!(
        "pricepool_save_duration_seconds",
        metrics::Unit::Seconds,
        "time to write one snapshot"
    );
    describe_counter!(
        "pricepool_snapshots_quarantined_total",
        "snapshot files moved aside at load, by reason"
    );
    describe_counter!(
        "pricepool_connections_refused_total",
        "connections answered 503 and closed because --max-connections were open"
    );
    describe_counter!(
        "pricepool_connections_timed_out_total",
        "connections closed for a slow request head (header_timeout) or no request (idle)"
    );
    describe_counter!(
        "pricepool_accept_errors_total",
        "failed accepts (e.g. out of file descriptors), each followed by a short backoff"
    );
}
