//! The request span: method, matched route, home id and request id when
//! the request starts; status and latency when it is answered, so every log
//! line of a request can be found by any of them.

use std::time::Duration;

use axum::body::Body;
use axum::extract::MatchedPath;
use axum::http::{Request, Response};
use tracing::Span;

/// Opens the span of one request.
pub(crate) fn make_span(request: &Request<Body>) -> Span {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|path| path.as_str().to_string());
    let home_id = route
        .as_deref()
        .and_then(|route| home_id_of(route, request.uri().path()));
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|value| value.to_str().ok())
        .unwrap_or("");
    tracing::info_span!(
        "request",
        method = %request.method(),
        route = route.as_deref().unwrap_or("unmatched"),
        home_id = home_id.as_deref().unwrap_or(""),
        request_id,
        status = tracing::field::Empty,
        latency_ms = tracing::field::Empty,
    )
}

/// Records the answer in the span and logs one line per request.
pub(crate) fn on_response(response: &Response<Body>, latency: Duration, span: &Span) {
    let status = response.status().as_u16();
    let latency_ms = latency.as_secs_f64() * 1000.0;
    span.record("status", status);
    span.record("latency_ms", latency_ms);
    if response.status().is_server_error() {
        tracing::warn!("answered with a server error");
    } else {
        tracing::info!("answered");
    }
}

/// The `{home_id}` segment of `path`, found at its position in `route`.
fn home_id_of(route: &str, path: &str) -> Option<String> {
    let position = route
        .split('/')
        .position(|segment| segment == "{home_id}")?;
    path.split('/').nth(position).map(percent_decode)
}

fn percent_decode(segment: &str) -> String {
    form_urlencoded::parse(format!("x={}", segment.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, value)| value.into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_home_id_is_taken_from_its_place_in_the_route() {
        assert_eq!(
            home_id_of(
                "/v1/homes/{home_id}/intervals",
                "/v1/homes/demo%20x/intervals"
            )
            .as_deref(),
            Some("demo x")
        );
        assert_eq!(home_id_of("/v1/homes", "/v1/homes"), None);
    }
}
