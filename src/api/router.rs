//! The router: every route with its handler, the API token on `/v1`, the
//! start-up router served while snapshots load, and the tower layers every
//! route gets.

use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::{from_fn, from_fn_with_state, map_request};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get};
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;

use super::answers::{cheapest_window, summary};
use super::chart::chart_svg;
use super::dashboard::dashboard;
use super::evcc::tariff_grid;
use super::homes::{list_homes, stats};
use super::intervals::{current, intervals, rates};
use super::middleware::{
    MAX_BODY_BYTES, drop_unfit_request_id, limit_uri_length, panic_to_problem,
    problem_for_bare_errors, require_token,
};
use super::probes::{healthz, not_ready_yet, openapi, readyz, render_metrics};
use super::problem::ApiError;
use super::request_id::MakeRequestUuidFast;
use super::state::ApiState;

/// Every route the service serves, with its handler. The OpenAPI spec must
/// list exactly these paths (a test compares them).
fn routes() -> Vec<(&'static str, MethodRouter<ApiState>)> {
    vec![
        ("/v1/homes", get(list_homes)),
        ("/v1/homes/{home_id}/intervals", get(intervals)),
        ("/v1/homes/{home_id}/intervals/current", get(current)),
        ("/v1/homes/{home_id}/rates", get(rates)),
        ("/v1/homes/{home_id}/stats", get(stats)),
        ("/v1/homes/{home_id}/cheapest", get(cheapest_window)),
        ("/v1/homes/{home_id}/summary", get(summary)),
        ("/v1/homes/{home_id}/chart.svg", get(chart_svg)),
        ("/", get(dashboard)),
        ("/api/tariff/grid", get(tariff_grid)),
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
pub(crate) fn router(state: ApiState, request_timeout: Duration) -> Router {
    let token = state.api_token.clone();
    let router = routes()
        .into_iter()
        .fold(Router::new(), |router, (path, method_router)| {
            // The page and the evcc view show the same prices as /v1, so they need the token too.
            let method_router =
                if path.starts_with("/v1/") || path == "/" || path.starts_with("/api/") {
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
pub(crate) fn startup_router(request_timeout: Duration) -> Router {
    let router = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(not_ready_yet))
        .fallback(|| async { ApiError::Starting.into_response() });
    with_layers(router, request_timeout)
}

/// The layers every route gets, outermost first: request id (an inbound
/// one adopted only when short and printable, else a fresh one; echoed in
/// `x-request-id`), the URI length limit, problem bodies for bare error
/// statuses, the request span with its access line and metrics (one line
/// per request, failed or not: `spans::observe`), catch-panic (a problem 500),
/// compression, the body limit and the request timeout (504).
fn with_layers(router: Router, request_timeout: Duration) -> Router {
    router.layer(
        ServiceBuilder::new()
            .layer(map_request(drop_unfit_request_id))
            .layer(SetRequestIdLayer::x_request_id(MakeRequestUuidFast))
            .layer(PropagateRequestIdLayer::x_request_id())
            .layer(from_fn(limit_uri_length))
            .layer(from_fn(problem_for_bare_errors))
            .layer(from_fn(super::spans::observe))
            .layer(CatchPanicLayer::custom(panic_to_problem))
            .layer(CompressionLayer::new())
            .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
            .layer(TimeoutLayer::with_status_code(
                StatusCode::GATEWAY_TIMEOUT,
                request_timeout,
            )),
    )
}

/// The fallback: a 404 problem quoting (at most 256 characters of) the path.
async fn unknown_route(request: Request) -> Response {
    let path: String = request.uri().path().chars().take(256).collect();
    ApiError::UnknownRoute(path).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::header;
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
