//! The request span and the access line: method, matched route, home id
//! and request id when the request starts, so every log line of a request
//! can be found by any of them; the access line (`answered`) adds status
//! and latency when it is answered. One line per request at tens of
//! thousands a second: the fields are borrowed from the request (no copy
//! unless the home id needs percent-decoding) and written once, in the
//! event, not recorded into the span first.

use std::borrow::Cow;
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
        .map(MatchedPath::as_str);
    let home_id = route.and_then(|route| home_id_of(route, request.uri().path()));
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|value| value.to_str().ok())
        .unwrap_or("");
    tracing::info_span!(
        "request",
        method = request.method().as_str(),
        route = route.unwrap_or("unmatched"),
        home_id = home_id.as_deref().unwrap_or(""),
        request_id,
    )
}

/// Logs the one access line of a request, in its span: status and
/// latency; at warn for a server error.
pub(crate) fn on_response(response: &Response<Body>, latency: Duration, _span: &Span) {
    let status = response.status().as_u16();
    let latency_ms = latency.as_secs_f64() * 1000.0;
    if response.status().is_server_error() {
        tracing::warn!(status, latency_ms, "answered with a server error");
    } else {
        tracing::info!(status, latency_ms, "answered");
    }
}

/// The `{home_id}` segment of `path`, found at its position in `route`.
fn home_id_of<'a>(route: &str, path: &'a str) -> Option<Cow<'a, str>> {
    let position = route
        .split('/')
        .position(|segment| segment == "{home_id}")?;
    path.split('/')
        .nth(position)
        .map(|segment| percent_encoding::percent_decode_str(segment).decode_utf8_lossy())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_home_id_is_taken_from_its_place_in_the_route() {
        assert_eq!(
            home_id_of(
                "/v1/homes/{home_id}/intervals",
                "/v1/homes/demo%20x+y/intervals"
            )
            .as_deref(),
            Some("demo x+y")
        );
        assert_eq!(home_id_of("/v1/homes", "/v1/homes"), None);
    }
}
