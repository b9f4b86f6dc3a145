//! The routes and their handlers. Each handler reads the clock once, asks
//! the registry, and renders; errors become problem bodies at that instant
//! (so `Retry-After` agrees with `--now`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::{FromRequestParts, Path, RawQuery, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get};
use chrono::{DateTime, TimeDelta, Utc};
use metrics_exporter_prometheus::PrometheusHandle;
use serde::Serialize;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use super::caching::{cached_json, cached_json_with_etag, max_age};
use super::middleware::{
    ApiToken, MAX_BODY_BYTES, limit_uri_length, panic_to_problem, problem_for_bare_errors,
    record_metrics, require_token,
};
use super::problem::ApiError;
use super::query::{DefaultRange, RANGE_PARAMETERS, ResolvedRange, parse_pairs, parse_range};
use super::render_cache::{RenderCache, View};
use super::views::{CurrentBody, IntervalView, IntervalsJson, local_rfc3339, rates_json};
use crate::clock::Clock;
use crate::pool::{HomeInfo, Interval, PoolStats, QUARTER_SECONDS};
use crate::upstream::{Answer, FetchError, Home, Registry, UpstreamErrorKind, UpstreamStatus};

/// The spec served at /openapi.json (the file in `openapi/`).
pub const OPENAPI_JSON: &str = include_str!("../../openapi/openapi.json");

/// Looks up a home's persistence status; the app wires it to the saver,
/// so the API does not depend on the store's types.
pub type SaveStatusSource = Arc<dyn Fn(&str) -> serde_json::Value + Send + Sync>;

/// What every handler shares. Cheap to clone: handles over `Arc`s.
#[derive(Clone)]
pub struct ApiState {
    /// The homes and their pools; the only way to prices.
    pub registry: Registry,
    /// Save status per home (dirty, last save), for /stats.
    pub save_status: SaveStatusSource,
    /// The service's wall clock (`--now`).
    pub clock: Clock,
    /// Set once snapshots are loaded and the homes are known (/readyz).
    /// An atomic: written once by the startup task, read by every probe.
    pub ready: Arc<AtomicBool>,
    /// Renders /metrics.
    pub prometheus: PrometheusHandle,
    /// The bearer token /v1 requires, when configured.
    pub api_token: Option<Arc<ApiToken>>,
    /// Rendered range bodies, reused while the pool is at the revision
    /// they were rendered from (see `render_cache`); bounded in bytes.
    pub render_cache: Arc<RenderCache>,
}

/// Every route the service serves, with its handler. The OpenAPI spec must
/// list exactly these paths (a test compares them).
fn routes() -> Vec<(&'static str, MethodRouter<ApiState>)> {
    vec![
        ("/v1/homes", get(list_homes)),
        ("/v1/homes/{home_id}/intervals", get(intervals)),
        ("/v1/homes/{home_id}/intervals/current", get(current)),
        ("/v1/homes/{home_id}/rates", get(rates)),
        ("/v1/homes/{home_id}/stats", get(stats)),
        ("/healthz", get(healthz)),
        ("/readyz", get(readyz)),
        ("/metrics", get(render_metrics)),
        ("/openapi.json", get(openapi)),
    ]
}

/// The paths of [`routes`], for the test that holds the spec to them.
pub fn route_paths() -> Vec<&'static str> {
    routes().into_iter().map(|(path, _)| path).collect()
}

/// The whole HTTP surface with its layers; `Application` serves it and
/// tests can `oneshot` it. `/v1` routes need the API token when one is set.
pub fn router(state: ApiState, request_timeout: Duration) -> Router {
    let token = state.api_token.clone();
    let router = routes()
        .into_iter()
        .fold(Router::new(), |router, (path, method_router)| {
            let method_router = if path.starts_with("/v1/") {
                method_router.route_layer(from_fn_with_state(token.clone(), require_token))
            } else {
                method_router
            };
            router.route(path, method_router)
        })
        .fallback(unknown_route)
        .with_state(state);
    with_layers(router, request_timeout)
}

/// What the listener serves while `Application::build` loads snapshots and
/// discovers homes (seconds with many homes or a slow upstream): `/healthz`
/// answers 200 (the process is alive), `/readyz` 503 with no homes yet,
/// any other path (`/v1`, `/metrics`, unknown ones) a 503 `starting`
/// problem with `Retry-After: 1`. Probes get an answer instead of a
/// connection that hangs in the accept queue.
pub fn startup_router(request_timeout: Duration) -> Router {
    let router = Router::new()
        .route("/healthz", get(healthz))
        .route(
            "/readyz",
            get(|| async {
                uncached_json(
                    StatusCode::SERVICE_UNAVAILABLE,
                    &ReadyBody {
                        ready: false,
                        homes: Vec::new(),
                    },
                )
            }),
        )
        .fallback(|| async { ApiError::Starting.into_response() });
    with_layers(router, request_timeout)
}

/// The layers every route gets, outermost first: request id (set and echoed
/// in `x-request-id`), the URI length limit, problem bodies for bare error
/// statuses, the trace span, request metrics, catch-panic (a problem 500),
/// compression, the body limit and the request timeout (504).
pub fn with_layers(router: Router, request_timeout: Duration) -> Router {
    router.layer(
        ServiceBuilder::new()
            .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
            .layer(PropagateRequestIdLayer::x_request_id())
            .layer(from_fn(limit_uri_length))
            .layer(from_fn(problem_for_bare_errors))
            .layer(
                TraceLayer::new_for_http()
                    .make_span_with(super::spans::make_span)
                    .on_response(super::spans::on_response),
            )
            .layer(from_fn(record_metrics))
            .layer(CatchPanicLayer::custom(panic_to_problem))
            .layer(CompressionLayer::new())
            .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
            .layer(TimeoutLayer::with_status_code(
                StatusCode::GATEWAY_TIMEOUT,
                request_timeout,
            )),
    )
}

/// Renders a handler's outcome, errors as problems at `now`.
fn respond(now: DateTime<Utc>, result: Result<Response, ApiError>) -> Response {
    result.unwrap_or_else(|error| error.into_response_at(now))
}

/// A JSON answer that changes all the time (statistics, readiness).
fn uncached_json<T: Serialize>(status: StatusCode, value: &T) -> Response {
    let mut response = (status, axum::Json(value)).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// What every per-home handler reads from its request: the `{home_id}`
/// path segment, the raw query (parsed by hand, see `query`) and the
/// headers (`If-None-Match`).
struct HomeRequest {
    home_id: String,
    query: Option<String>,
    headers: HeaderMap,
}

impl<S: Send + Sync> FromRequestParts<S> for HomeRequest {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(home_id) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        Ok(HomeRequest {
            home_id,
            query: parts.uri.query().map(str::to_owned),
            headers: parts.headers.clone(),
        })
    }
}

fn find_home(state: &ApiState, home_id: &str) -> Result<Home, ApiError> {
    state
        .registry
        .home(home_id)
        .ok_or_else(|| ApiError::UnknownHome(home_id.chars().take(128).collect()))
}

/// The API's reading of an upstream failure with nothing useful cached.
pub fn fetch_error_to_api(error: FetchError) -> ApiError {
    let detail = format!("{} ({})", error.message, error.kind);
    let retry_at = error.retry_at;
    match error.kind {
        UpstreamErrorKind::RateLimited | UpstreamErrorKind::BudgetExhausted => {
            ApiError::Unavailable { detail, retry_at }
        }
        UpstreamErrorKind::Timeout => ApiError::GatewayTimeout { detail, retry_at },
        _ => ApiError::BadGateway { detail, retry_at },
    }
}

/// One home in `/v1/homes`.
#[derive(Debug, Serialize)]
struct HomeEntry {
    id: String,
    time_zone: String,
    currency: String,
    pool: PoolStats,
    upstream: UpstreamStatus,
}

#[derive(Debug, Serialize)]
struct HomesBody {
    homes: Vec<HomeEntry>,
}

async fn list_homes(State(state): State<ApiState>, RawQuery(query): RawQuery) -> Response {
    let now = state.clock.now();
    respond(now, {
        parse_pairs(query.as_deref(), &[]).map(|_| {
            let mut homes: Vec<HomeEntry> = state
                .registry
                .homes()
                .into_iter()
                .map(|home| {
                    let info = home.info();
                    HomeEntry {
                        id: info.id,
                        time_zone: info.zone.name().to_string(),
                        currency: info.currency,
                        pool: home.with_pool(|pool| pool.stats(now)),
                        upstream: home.status(),
                    }
                })
                .collect();
            homes.sort_by(|a, b| a.id.cmp(&b.id));
            uncached_json(StatusCode::OK, &HomesBody { homes })
        })
    })
}

/// Answers a range endpoint: resolves the home and range of `request` at
/// `now`, then serves the kept rendering of `view` when the home's pool is
/// still at the revision it was rendered from (a complete answer then, as
/// the content is the same: no copy of the intervals, no upstream), else
/// asks the home (fetching what is missing) and renders the answer with
/// `render`. An upstream failure with nothing cached is an error.
async fn range_response(
    state: &ApiState,
    request: &HomeRequest,
    now: DateTime<Utc>,
    default: DefaultRange,
    view: View,
    render: impl FnOnce(&HomeInfo, &ResolvedRange, &Answer) -> Vec<u8>,
) -> Result<Response, ApiError> {
    let home = find_home(state, &request.home_id)?;
    let pairs = parse_pairs(request.query.as_deref(), RANGE_PARAMETERS)?;
    let info = home.info();
    let range = parse_range(&pairs)?.resolve(info.zone, now, default);
    let span = (range.start, range.end);
    let kept = state.render_cache.get(view, &info, span, home.revision());
    let (rendered, complete, retry_at) = match kept {
        Some(rendered) => {
            home.record_reuse();
            (rendered, true, None)
        }
        None => {
            let answer = answer_for(&home, range).await?;
            // Only a complete answer is what a kept body may stand for.
            let revision = answer.revision();
            let rendered = state
                .render_cache
                .render_and_keep(view, &info, span, revision, || {
                    render(&info, &range, &answer)
                });
            (rendered, answer.is_complete(), answer.retry_at())
        }
    };
    let max_age_seconds = max_age(now, Some(next_change(now, &range, complete, retry_at)));
    Ok(cached_json_with_etag(
        &request.headers,
        rendered.body,
        &rendered.etag,
        max_age_seconds,
    ))
}

/// Asks the home for `range`; an upstream failure with nothing cached is an error.
async fn answer_for(home: &Home, range: ResolvedRange) -> Result<Answer, ApiError> {
    home.intervals(range.start, range.end)
        .await
        .map_err(fetch_error_to_api)
}

/// The next moment an answer over `range` can change, as seen at `now`:
/// when the range moves, and for an incomplete answer when asking again
/// may fill it.
fn next_change(
    now: DateTime<Utc>,
    range: &ResolvedRange,
    complete: bool,
    retry_at: Option<DateTime<Utc>>,
) -> DateTime<Utc> {
    let mut next = now + TimeDelta::seconds(super::caching::MAX_AGE_CAP_SECONDS);
    if let Some(moves_at) = range.moves_at {
        next = next.min(moves_at);
    }
    if !complete {
        // Unknown retry time: a minute, so a poller notices new data soon.
        next = next.min(retry_at.unwrap_or(now + TimeDelta::seconds(60)));
    }
    next
}

async fn intervals(State(state): State<ApiState>, request: HomeRequest) -> Response {
    let now = state.clock.now();
    let result = range_response(
        &state,
        &request,
        now,
        DefaultRange::Today,
        View::Intervals,
        |info, range, answer| {
            let shortfall = answer.shortfall();
            let reason = shortfall.map(|shortfall| shortfall.reason.describe());
            IntervalsJson {
                home_id: &info.id,
                currency: &info.currency,
                zone: info.zone,
                start: range.start,
                end: range.end,
                intervals: &answer.intervals,
                complete: shortfall.is_none(),
                reason: reason.as_deref(),
                retry_at: answer.retry_at(),
                missing: shortfall.map(|shortfall| shortfall.missing.as_slice()),
            }
            .render()
        },
    )
    .await;
    respond(now, result)
}

async fn rates(State(state): State<ApiState>, request: HomeRequest) -> Response {
    let now = state.clock.now();
    let result = range_response(
        &state,
        &request,
        now,
        DefaultRange::Upcoming,
        View::Rates,
        |info, _, answer| rates_json(&answer.intervals, info.zone),
    )
    .await;
    respond(now, result)
}

async fn current(State(state): State<ApiState>, request: HomeRequest) -> Response {
    let now = state.clock.now();
    let result = async {
        let home = find_home(&state, &request.home_id)?;
        parse_pairs(request.query.as_deref(), &[])?;
        // An hourly interval containing now starts at most 45 minutes before now's quarter.
        let quarter_start = now.timestamp() - now.timestamp().rem_euclid(QUARTER_SECONDS);
        let quarter_start = DateTime::from_timestamp(quarter_start, 0).unwrap_or(now);
        let range = ResolvedRange {
            start: quarter_start - TimeDelta::minutes(45),
            end: quarter_start + TimeDelta::minutes(15),
            moves_at: None,
        };
        let answer = answer_for(&home, range).await?;
        let found: Option<&Interval> = answer
            .intervals
            .iter()
            .find(|interval| interval.starts_at <= now && now < interval.ends_at());
        let Some(interval) = found else {
            return Err(match answer.shortfall() {
                None => ApiError::NoCurrentInterval(now),
                Some(shortfall) => ApiError::Unavailable {
                    detail: shortfall.reason.describe(),
                    retry_at: shortfall.retry_at,
                },
            });
        };
        let info = home.info();
        let body = CurrentBody {
            home_id: info.id,
            currency: info.currency,
            now: local_rfc3339(now, info.zone),
            interval: IntervalView::new(interval, info.zone),
        };
        let seconds = max_age(now, Some(interval.ends_at()));
        Ok(cached_json(&request.headers, &body, seconds))
    }
    .await;
    respond(now, result)
}

#[derive(Debug, Serialize)]
struct StatsBody {
    home_id: String,
    time_zone: String,
    currency: String,
    pool: PoolStats,
    persistence: serde_json::Value,
    upstream: UpstreamStatus,
}

async fn stats(State(state): State<ApiState>, request: HomeRequest) -> Response {
    let now = state.clock.now();
    let result = find_home(&state, &request.home_id).and_then(|home| {
        parse_pairs(request.query.as_deref(), &[])?;
        let info = home.info();
        Ok(uncached_json(
            StatusCode::OK,
            &StatsBody {
                persistence: (state.save_status)(&info.id),
                home_id: info.id,
                time_zone: info.zone.name().to_string(),
                currency: info.currency,
                pool: home.with_pool(|pool| pool.stats(now)),
                upstream: home.status(),
            },
        ))
    });
    respond(now, result)
}

async fn healthz() -> Response {
    uncached_json(StatusCode::OK, &serde_json::json!({ "status": "ok" }))
}

#[derive(Debug, Serialize)]
struct ReadyHome {
    id: String,
    upstream: UpstreamStatus,
}

#[derive(Debug, Serialize)]
struct ReadyBody {
    ready: bool,
    homes: Vec<ReadyHome>,
}

async fn readyz(State(state): State<ApiState>) -> Response {
    let ready = state.ready.load(Ordering::Acquire);
    let mut homes: Vec<ReadyHome> = state
        .registry
        .homes()
        .into_iter()
        .map(|home| ReadyHome {
            id: home.info().id,
            upstream: home.status(),
        })
        .collect();
    homes.sort_by(|a, b| a.id.cmp(&b.id));
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    uncached_json(status, &ReadyBody { ready, homes })
}

async fn render_metrics(State(state): State<ApiState>) -> Response {
    for home in state.registry.homes() {
        let live = home.with_pool(|pool| pool.len());
        metrics::gauge!("pricepool_pool_live_intervals", "home" => home.info().id).set(live as f64);
    }
    state.render_cache.publish_gauges();
    state.prometheus.run_upkeep();
    let mut response = state.prometheus.render().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

async fn openapi() -> Response {
    let mut response = OPENAPI_JSON.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

async fn unknown_route(request: Request) -> Response {
    let path: String = request.uri().path().chars().take(256).collect();
    ApiError::UnknownRoute(path).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use tower::ServiceExt;

    #[tokio::test]
    async fn a_panicking_handler_answers_a_problem_500_instead_of_dropping_the_connection() {
        let router = with_layers(
            Router::new().route(
                "/boom",
                get(|| async {
                    let slots: Vec<&str> = Vec::new();
                    let index = slots.len() + 1;
                    slots[index]
                }),
            ),
            Duration::from_secs(5),
        );
        let response = router
            .oneshot(Request::builder().uri("/boom").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "application/problem+json"
        );
        let body = axum::body::to_bytes(response.into_body(), 10_000)
            .await
            .unwrap();
        let problem: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(problem["status"], 500);
        assert!(
            !problem["detail"]
                .as_str()
                .unwrap()
                .contains("out of bounds")
        );
    }
}
