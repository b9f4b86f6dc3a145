//! The request span, the access line and the request metrics, in one
//! middleware (`observe`): one clock read at each end, one span, one line.
//!
//! The span carries the request id only, so every log line written while
//! a request is answered (an upstream failure, a warning) names it; the
//! access line (`answered`, at info; `answered with a server error` at
//! warn) adds method, matched route, home id, status and latency. At tens
//! of thousands of requests a second the line is most of what a hot
//! request costs beyond the kernel (BENCHMARKS.md), so its fields are
//! borrowed, not copied, and formatted once, in the event: a span's fields
//! are formatted when it opens, whether or not anything is logged in it.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{LazyLock, RwLock};
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use metrics::{Counter, Histogram};
use tracing::Instrument;

/// Answers the request inside its span, then writes the access line and
/// records `pricepool_http_requests_total` and
/// `pricepool_http_request_duration_seconds` by matched route and status.
pub(crate) async fn observe(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|value| value.to_str().ok())
        .unwrap_or("");
    let span = tracing::info_span!("request", request_id);
    let method = request.method().clone();
    let route = request.extensions().get::<MatchedPath>().cloned();
    let uri = request.uri().clone();
    let response = next.run(request).instrument(span.clone()).await;
    let elapsed = started.elapsed();
    let status = response.status();
    let route = route.as_ref().map_or("unmatched", MatchedPath::as_str);
    let handles = handles(route, status.as_u16());
    handles.requests.increment(1);
    handles.duration.record(elapsed.as_secs_f64());

    let _in_span = span.enter();
    let home_id = home_id_of(route, uri.path());
    let home_id = home_id.as_deref().unwrap_or("");
    let latency_ms = elapsed.as_secs_f64() * 1000.0;
    let method = method.as_str();
    let status = status.as_u16();
    if response.status().is_server_error() {
        tracing::warn!(
            method,
            route,
            home_id,
            status,
            latency_ms,
            "answered with a server error"
        );
    } else {
        tracing::info!(method, route, home_id, status, latency_ms, "answered");
    }
    response
}

/// The metric handles of one route and status.
#[derive(Clone)]
struct Handles {
    requests: Counter,
    duration: Histogram,
}

/// Metric handles by status, then route.
type HandleMap = HashMap<u16, HashMap<Box<str>, Handles>>;

/// Handles by status, then route: registered once, so a request costs two
/// atomic updates instead of building, hashing and looking up two label
/// sets in the recorder's registry. Routes are the router's (a fixed set,
/// plus "unmatched"), statuses a few dozen: the map stays small.
static HANDLES: LazyLock<RwLock<HandleMap>> = LazyLock::new(RwLock::default);

fn handles(route: &str, status: u16) -> Handles {
    let known = HANDLES
        .read()
        .ok()
        .and_then(|map| map.get(&status)?.get(route).cloned());
    if let Some(handles) = known {
        return handles;
    }
    // The recorder must be installed before a handle is kept (the start-up
    // router answers before the application builds its state).
    let _recorder = crate::telemetry::prometheus();
    let labels = [("route", route.to_string()), ("status", status.to_string())];
    let handles = Handles {
        requests: metrics::counter!("pricepool_http_requests_total", &labels),
        duration: metrics::histogram!("pricepool_http_request_duration_seconds", &labels),
    };
    if let Ok(mut map) = HANDLES.write() {
        map.entry(status)
            .or_default()
            .insert(route.into(), handles.clone());
    }
    handles
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
