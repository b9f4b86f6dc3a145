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

use crate::telemetry::ACCESS_TARGET;

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
    let span = request_span(request_id);
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
    write_access_line(
        response.status().is_server_error(),
        method.as_str(),
        route,
        home_id,
        status.as_u16(),
        latency_ms,
    );
    response
}

/// The request's span: its target is [`ACCESS_TARGET`] like the access
/// line's (the JSON format recognises it by both).
fn request_span(request_id: &str) -> tracing::Span {
    tracing::info_span!(target: ACCESS_TARGET, "request", request_id)
}

/// Writes the access line (at warn for a server error) in the current
/// span. Its target is [`ACCESS_TARGET`], which the text format writes
/// without the default's styling machinery (`telemetry::access_format`).
fn write_access_line(
    server_error: bool,
    method: &str,
    route: &str,
    home_id: &str,
    status: u16,
    latency_ms: f64,
) {
    if server_error {
        tracing::warn!(
            target: ACCESS_TARGET,
            method,
            route,
            home_id,
            status,
            latency_ms,
            "answered with a server error"
        );
    } else {
        tracing::info!(target: ACCESS_TARGET, method, route, home_id, status, latency_ms, "answered");
    }
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

/// The `{home_id}` segment of `path`, found at its position in `route`;
/// percent-decoded only when it holds a `%` (ids seldom do).
fn home_id_of<'a>(route: &str, path: &'a str) -> Option<Cow<'a, str>> {
    let before = &route[..route.find("/{home_id}")?];
    let position = before.bytes().filter(|&byte| byte == b'/').count() + 1;
    let segment = path.split('/').nth(position)?;
    Some(if segment.contains('%') {
        percent_encoding::percent_decode_str(segment).decode_utf8_lossy()
    } else {
        Cow::Borrowed(segment)
    })
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
        assert_eq!(
            home_id_of("/v1/homes/{home_id}", "/v1/homes/bench-00001").as_deref(),
            Some("bench-00001")
        );
        assert_eq!(home_id_of("/v1/homes", "/v1/homes"), None);
    }

    /// Collects what a subscriber writes.
    #[derive(Clone, Default)]
    struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// The lines `subscriber` writes for a few access lines in a request
    /// span (ids, routes and homes that need escaping among them).
    fn access_lines(make: impl FnOnce(Captured) -> tracing::Dispatch) -> Vec<String> {
        let captured = Captured::default();
        let dispatch = make(captured.clone());
        // Interest per thread and per event, whatever other tests of this
        // binary installed (see tests/api/telemetry.rs).
        let _second = tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default());
        tracing::callsite::rebuild_interest_cache();
        tracing::dispatcher::with_default(&dispatch, || {
            for (request_id, home_id, status, latency_ms) in [
                (
                    "0fe8282e-dae9-450c-8f7b-793a6559a81c",
                    "demo",
                    200,
                    0.351878,
                ),
                ("quote\"and\\back", "demo \"x\"+y\\z", 404, 12.5),
                ("", "h\u{e9}me\ttab", 503, 0.00001),
                ("4", "back\\slash", 200, 1.0),
                ("5", "only\"quote", 200, 1e16),
            ] {
                let span = request_span(request_id);
                let _in_span = span.enter();
                write_access_line(
                    status >= 500,
                    "GET",
                    "/v1/homes/{home_id}/intervals",
                    home_id,
                    status,
                    latency_ms,
                );
            }
            tracing::info!(target: ACCESS_TARGET, "answered outside a span");
        });
        let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        text.lines().map(str::to_string).collect()
    }

    /// Each line split at `after_time` (the end of its timestamp) into the
    /// rest of the line and the timestamp.
    fn without_times(lines: Vec<String>, after_time: &str) -> (Vec<String>, Vec<String>) {
        lines
            .iter()
            .map(|line| line.split_once(after_time).unwrap())
            .map(|(time, rest)| (rest.to_string(), time.to_string()))
            .unzip()
    }

    #[test]
    fn the_text_access_line_is_what_the_default_format_writes() {
        let default = access_lines(|writer| {
            tracing_subscriber::fmt()
                .with_ansi(false)
                .with_writer(move || writer.clone())
                .finish()
                .into()
        });
        let ours = access_lines(|writer| {
            tracing_subscriber::fmt()
                .with_ansi(false)
                .event_format(crate::telemetry::TextLines::default())
                .fmt_fields(crate::telemetry::TextFields::default())
                .with_writer(move || writer.clone())
                .finish()
                .into()
        });
        let (ours, our_times) = without_times(ours, " ");
        let (default, default_times) = without_times(default, " ");
        assert_eq!(ours, default);
        assert_eq!(ours.len(), 6, "{ours:#?}");
        assert!(ours[0].starts_with(" INFO request{request_id=\"0fe8282e"));
        assert!(ours[2].starts_with(
            " WARN request{request_id=\"\"}: pricepool::api::spans: answered with a server error"
        ));
        // Same timestamp format: RFC 3339, UTC, microseconds, and close.
        let parse = |time: &String| {
            assert_eq!(time.len(), "2026-11-30T18:27:50.890277Z".len(), "{time}");
            chrono::DateTime::parse_from_rfc3339(time).unwrap()
        };
        let first = parse(&default_times[0]);
        for time in our_times.iter().chain(&default_times) {
            assert!((parse(time) - first).num_seconds().abs() < 60, "{time}");
        }
    }

    #[test]
    fn the_json_access_line_is_what_the_default_json_format_writes() {
        let default = access_lines(|writer| {
            tracing_subscriber::fmt()
                .json()
                .flatten_event(true)
                .with_writer(move || writer.clone())
                .finish()
                .into()
        });
        let ours = access_lines(|writer| {
            tracing_subscriber::fmt()
                .json()
                .flatten_event(true)
                .event_format(crate::telemetry::JsonLines::default())
                .with_writer(move || writer.clone())
                .finish()
                .into()
        });
        // Lines start `{"timestamp":"…Z",`: compare what follows.
        assert_eq!(
            without_times(ours.clone(), "Z\",").0,
            without_times(default, "Z\",").0
        );
        assert_eq!(ours.len(), 6, "{ours:#?}");
        let lines: Vec<serde_json::Value> = ours
            .iter()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        assert_eq!(
            lines[0]["span"]["request_id"],
            "0fe8282e-dae9-450c-8f7b-793a6559a81c"
        );
        assert_eq!(lines[0]["message"], "answered");
        assert_eq!(lines[0]["status"], 200);
        for line in &lines {
            let time = line["timestamp"].as_str().unwrap();
            assert_eq!(time.len(), "2026-11-30T18:27:50.890277Z".len(), "{time}");
            assert!(chrono::DateTime::parse_from_rfc3339(time).is_ok(), "{time}");
        }
    }
}
