//! The operations endpoints: `/healthz` (alive), `/readyz` (snapshots
//! loaded and homes known), `/metrics` (Prometheus text) and
//! `/openapi.json` (the spec in `openapi/`).

use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::caching::uncached_json;
use super::dto::{ReadyBody, ReadyHome};
use super::state::ApiState;

/// The spec served at /openapi.json (the file in `openapi/`).
const OPENAPI_JSON: &str = include_str!("../../openapi/openapi.json");

/// `GET /healthz`: the process is alive.
pub(crate) async fn healthz() -> Response {
    uncached_json(StatusCode::OK, &serde_json::json!({ "status": "ok" }))
}

/// `GET /readyz`: 200 once snapshots are loaded and the homes are known,
/// with each home's upstream status and, with `--redis-url` and
/// `--mqtt-url`, whether Redis and the MQTT broker are reachable;
/// 503 before.
pub(crate) async fn readyz(State(state): State<ApiState>) -> Response {
    let ready = state.ready.load(Ordering::Acquire);
    let mut homes: Vec<ReadyHome> = state
        .registry
        .homes()
        .into_iter()
        .map(|home| ReadyHome {
            id: home.info().id,
            upstream: home.status(),
            sources: home.source_statuses(),
        })
        .collect();
    homes.sort_by(|a, b| a.id.cmp(&b.id));
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let redis = state
        .registry
        .replicas()
        .map(|replicas| if replicas.is_up() { "up" } else { "down" });
    let mqtt = state
        .mqtt
        .as_ref()
        .map(|mqtt| if mqtt.is_connected() { "up" } else { "down" });
    uncached_json(
        status,
        &ReadyBody {
            ready,
            homes,
            redis,
            mqtt,
        },
    )
}

/// `GET /readyz` while the service starts: 503 with no homes yet.
pub(crate) async fn not_ready_yet() -> Response {
    uncached_json(
        StatusCode::SERVICE_UNAVAILABLE,
        &ReadyBody {
            ready: false,
            homes: Vec::new(),
            redis: None,
            mqtt: None,
        },
    )
}

/// `GET /metrics`: the Prometheus text of every metric recorded so far.
pub(crate) async fn render_metrics(State(state): State<ApiState>) -> Response {
    state.render_cache.publish_gauges();
    crate::telemetry::report_dropped_log_lines();
    state.prometheus.run_upkeep();
    let mut response = state.prometheus.render().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

/// `GET /openapi.json`.
pub(crate) async fn openapi() -> Response {
    let mut response = OPENAPI_JSON.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}
