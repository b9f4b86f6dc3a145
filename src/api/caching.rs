//! HTTP caching for clients: a strong `ETag` over the body, `If-None-Match`
//! answered 304, and a `Cache-Control` max-age that ends no later than the
//! next moment the answer can change, so dashboards polling every few
//! seconds cost the service a hash and nothing else.

use std::hash::Hasher;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// The longest max-age the service hands out, even for settled history:
/// upstreams occasionally correct published prices.
pub(crate) const MAX_AGE_CAP_SECONDS: i64 = 3600;

/// A strong validator of `body`: 64 bits of a deterministic hash, quoted.
pub fn etag_of(body: &[u8]) -> String {
    EtagText::of(body_hash(body)).as_str().to_owned()
}

/// The 64-bit hash behind [`etag_of`]: what the render cache keeps of a
/// body or a day chunk, so an `ETag` is written without hashing again.
pub(crate) fn body_hash(body: &[u8]) -> u64 {
    let mut hasher = rustc_hash::FxHasher::default();
    hasher.write(body);
    hasher.write_usize(body.len());
    hasher.finish()
}

/// The hash of a body sent as parts, from each part's [`body_hash`] in
/// order: the same parts give the same hash, and a byte changed in any
/// part changes that part's hash and so this one. A body assembled from
/// day chunks is validated by it without hashing the chunks' bytes again;
/// it differs from the [`body_hash`] of the same bytes in one piece, which
/// no client can tell (a given request is always split the same way).
#[derive(Default)]
pub(crate) struct PartsHasher {
    hasher: rustc_hash::FxHasher,
    parts: usize,
}

impl std::fmt::Debug for PartsHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartsHasher")
            .field("parts", &self.parts)
            .finish_non_exhaustive()
    }
}

impl PartsHasher {
    /// Adds the next part's [`body_hash`].
    pub(crate) fn push(&mut self, part_hash: u64) {
        self.hasher.write_u64(part_hash);
        self.parts += 1;
    }

    /// The hash of the parts pushed, in their order.
    pub(crate) fn finish(mut self) -> u64 {
        self.hasher.write_usize(self.parts);
        self.hasher.finish()
    }
}

/// An `ETag` as text (`"` 16 hex digits `"`), without allocating.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct EtagText([u8; 18]);

impl EtagText {
    /// The quoted validator of a [`body_hash`] or [`PartsHasher`].
    pub(crate) fn of(hash: u64) -> EtagText {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut text = [b'"'; 18];
        for (n, digit) in text[1..17].iter_mut().enumerate() {
            *digit = HEX[(hash >> (60 - 4 * n) & 0xf) as usize];
        }
        EtagText(text)
    }

    /// The text, quotes included.
    pub(crate) fn as_str(&self) -> &str {
        // Quotes and hex digits only.
        std::str::from_utf8(&self.0).unwrap_or("\"\"")
    }
}

/// Whether an `If-None-Match` header matches `etag` (weak comparison, `*`).
pub(crate) fn if_none_match_matches(headers: &HeaderMap, etag: &str) -> bool {
    let bare = etag.trim_start_matches("W/");
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .any(|candidate| candidate == "*" || candidate.trim_start_matches("W/") == bare)
}

/// Seconds from `now` until `changes_at`, capped and never negative.
pub(crate) fn max_age(now: DateTime<Utc>, changes_at: Option<DateTime<Utc>>) -> i64 {
    changes_at
        .map(|t| (t - now).num_seconds())
        .unwrap_or(MAX_AGE_CAP_SECONDS)
        .clamp(0, MAX_AGE_CAP_SECONDS)
}

/// A JSON answer that changes all the time (statistics, readiness):
/// `Cache-Control: no-cache`, no validator.
pub(crate) fn uncached_json<T: Serialize>(status: StatusCode, value: &T) -> Response {
    let mut response = (status, axum::Json(value)).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// A JSON 200 with `ETag` and `Cache-Control: max-age`, or a bodiless 304
/// when the client already holds this body.
pub(crate) fn cached_json<T: Serialize>(
    request_headers: &HeaderMap,
    value: &T,
    max_age_seconds: i64,
) -> Response {
    let body = match serde_json::to_vec(value) {
        Ok(body) => body,
        Err(error) => {
            tracing::error!(%error, "could not serialize an answer");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    cached_json_bytes(request_headers, body, max_age_seconds)
}

/// [`cached_json`] for a body already rendered as JSON.
pub(crate) fn cached_json_bytes(
    request_headers: &HeaderMap,
    body: Vec<u8>,
    max_age_seconds: i64,
) -> Response {
    let etag = etag_of(&body);
    cached_json_with_etag(request_headers, Bytes::from(body), &etag, max_age_seconds)
}

/// [`cached_json`] for a rendered body whose `ETag` is known (the range
/// endpoints keep both, see `render_cache`).
pub(crate) fn cached_json_with_etag(
    request_headers: &HeaderMap,
    body: impl Into<Body>,
    etag: &str,
    max_age_seconds: i64,
) -> Response {
    cached_body(
        request_headers,
        body,
        etag,
        HeaderValue::from_static("application/json"),
        max_age_seconds,
    )
}

/// A 200 of `content_type` with `ETag` and `Cache-Control: max-age`, or a
/// bodiless 304 when the client already holds it: the JSON views, the SVG
/// chart and the HTML page alike.
pub(crate) fn cached_body(
    request_headers: &HeaderMap,
    body: impl Into<Body>,
    etag: &str,
    content_type: HeaderValue,
    max_age_seconds: i64,
) -> Response {
    let cache_control = format!("max-age={max_age_seconds}");
    let matched = if_none_match_matches(request_headers, etag);
    let mut response = if matched {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut response = Response::new(body.into());
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, content_type);
        response
    };
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(etag) {
        headers.insert(header::ETAG, value);
    }
    if let Ok(value) = HeaderValue::from_str(&cache_control) {
        headers.insert(header::CACHE_CONTROL, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_matching_if_none_match_is_recognised_in_lists_and_weak_form() {
        let etag = etag_of(b"[1,2,3]");
        let mut headers = HeaderMap::new();
        headers.insert(
            header::IF_NONE_MATCH,
            HeaderValue::from_str(&format!("\"other\", W/{etag}")).unwrap(),
        );
        assert!(if_none_match_matches(&headers, &etag));
        assert!(!if_none_match_matches(&headers, &etag_of(b"[1,2,4]")));
    }

    #[test]
    fn etag_text_is_the_quoted_hash_in_sixteen_hex_digits() {
        for hash in [0, 1, 0xdead_beef, u64::MAX, 0x0123_4567_89ab_cdef] {
            assert_eq!(EtagText::of(hash).as_str(), format!("\"{hash:016x}\""));
        }
    }

    #[test]
    fn max_age_never_reaches_past_the_next_change() {
        let now: DateTime<Utc> = "2025-10-26T12:07:00Z".parse().unwrap();
        let end_of_interval: DateTime<Utc> = "2025-10-26T12:15:00Z".parse().unwrap();
        assert_eq!(max_age(now, Some(end_of_interval)), 480);
        assert_eq!(max_age(now, Some(now - chrono::TimeDelta::seconds(5))), 0);
        assert_eq!(max_age(now, None), MAX_AGE_CAP_SECONDS);
    }
}
