//! One bounded HTTP exchange with an upstream: the client every source
//! builds (no redirects, no `Referer`), a body read that stops at a size
//! cap while it streams, and failure descriptions that never quote what
//! the upstream sent.
//!
//! Why each bound exists: an upstream (or whatever answers in its place: a
//! captive portal, a misconfigured proxy, an attacker on the path) must not
//! be able to make us hold an answer of any size, send our query and token
//! to another host, or put its bytes into our problem bodies and status pages.

use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, HeaderMap};

use super::error::UpstreamError;

/// The largest answer body accepted from an upstream: 8 MiB.
///
/// The largest legitimate answer is one `priceInfoRange` page of 672
/// quarter-hours (about 80 KB of JSON; the recent window is about 50 KB).
/// 8 MiB is a hundred times that, so pretty-printing, `edges` next to
/// `nodes`, or new fields never trip it, while a hostile or broken answer
/// costs at most 8 MiB of buffer per call (calls are budgeted, 60 per 5
/// minutes by default) instead of whatever it chooses to send.
pub const MAX_BODY_BYTES: usize = 8 << 20;

/// The HTTP client of an upstream source: rustls, `User-Agent:
/// pricepool/<version>`, `timeout` per attempt, redirects not followed and
/// no `Referer` sent.
///
/// Redirects are refused because following one sends the query (and,
/// for a same-host hop, the token) wherever the answer points, and a
/// redirect loop multiplies the calls of one fetch; an API endpoint that
/// moved is a configuration to fix, reported by [`describe_redirect`].
pub fn client(timeout: Duration) -> Result<reqwest::Client, UpstreamError> {
    reqwest::Client::builder()
        .user_agent(concat!("pricepool/", env!("CARGO_PKG_VERSION")))
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .redirect(reqwest::redirect::Policy::none())
        .referer(false)
        .build()
        .map_err(|e| {
            UpstreamError::Transient(format!("cannot build the http client: {}", e.without_url()))
        })
}

/// The body of `response`, read chunk by chunk and abandoned as soon as
/// it would exceed `cap` bytes (or at once when `Content-Length` already
/// says so). An oversized answer is `Malformed`: asking again would get
/// the same answer, so it is not retried.
pub async fn read_body(
    mut response: reqwest::Response,
    cap: usize,
) -> Result<Vec<u8>, UpstreamError> {
    let status = response.status();
    let content_type = content_type_of(response.headers());
    let too_large = |length: &str| {
        UpstreamError::Malformed(format!(
            "http {} ({content_type}): the answer {length} the {} MiB accepted; not read further",
            status.as_u16(),
            cap >> 20,
        ))
    };
    let declared = response.content_length();
    if let Some(length) = declared.filter(|&n| n > cap as u64) {
        return Err(too_large(&format!("announces {length} bytes, more than")));
    }
    let mut body = Vec::with_capacity(declared.map_or(0, |n| n as usize));
    while let Some(chunk) = response.chunk().await.map_err(transport_error)? {
        if body.len() + chunk.len() > cap {
            return Err(too_large("is longer than"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// What an answer we could not use looked like, in our words: its status,
/// content type and length (`None`: not known), never its bytes.
pub fn describe(status: reqwest::StatusCode, headers: &HeaderMap, length: Option<u64>) -> String {
    let length = length.map_or_else(|| "length unknown".to_string(), |n| format!("{n} bytes"));
    format!(
        "http {} ({}, {length})",
        status.as_u16(),
        content_type_of(headers)
    )
}

/// A 3xx answer: not followed (see [`client`]); reported as `Malformed`,
/// since asking the same URL again gets the same redirect and only the
/// operator can fix the URL.
pub fn describe_redirect(status: reqwest::StatusCode) -> UpstreamError {
    UpstreamError::Malformed(format!(
        "http {}: the upstream redirects, which is not followed; check the configured url",
        status.as_u16()
    ))
}

/// The media type of `headers` when it is a plain token like
/// `application/json` (parameters dropped), else a placeholder: a header
/// value is upstream bytes too.
fn content_type_of(headers: &HeaderMap) -> String {
    let media_type = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::trim)
        .unwrap_or("");
    let plain = !media_type.is_empty()
        && media_type.len() <= 64
        && media_type
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/+.-_".contains(&b));
    if plain {
        media_type.to_ascii_lowercase()
    } else if media_type.is_empty() {
        "no content type".to_string()
    } else {
        "unusual content type".to_string()
    }
}

/// A transport failure (connect, reset, timeout) as a transient error,
/// without the URL.
pub fn transport_error(error: reqwest::Error) -> UpstreamError {
    if error.is_timeout() {
        UpstreamError::Transient("request timed out".to_string())
    } else {
        UpstreamError::Transient(format!("request failed: {}", error.without_url()))
    }
}

/// One GET to a market source, classified: `Ok(None)` when the status is
/// the source's "no data yet" (`no_data`: Energy-Charts' 404, Nord Pool's
/// 204; ENTSO-E and aWATTar have none), `Ok(Some(body))` for another 2xx (read up to [`MAX_BODY_BYTES`]);
/// 401/403 are `Auth`, 429 is `RateLimited` with its `Retry-After`, 5xx
/// and transport failures are `Transient`, a redirect or any other status
/// is `Malformed`. Error bodies are not read. No retries here.
pub async fn get(
    client: &reqwest::Client,
    request: reqwest::RequestBuilder,
    no_data: Option<reqwest::StatusCode>,
) -> Result<Option<Vec<u8>>, UpstreamError> {
    let request = request.build().map_err(|e| {
        UpstreamError::Malformed(format!("cannot build the request: {}", e.without_url()))
    })?;
    let response = client.execute(request).await.map_err(transport_error)?;
    let status = response.status();
    if Some(status) == no_data {
        return Ok(None);
    }
    if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
        return Err(UpstreamError::Auth(format!("http {}", status.as_u16())));
    }
    if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, chrono::Utc::now()));
        return Err(UpstreamError::RateLimited {
            message: format!("http {}", status.as_u16()),
            retry_after,
        });
    }
    if status.is_redirection() {
        return Err(describe_redirect(status));
    }
    let declared = response.content_length();
    if status.is_server_error() {
        return Err(UpstreamError::Transient(describe(
            status,
            response.headers(),
            declared,
        )));
    }
    if !status.is_success() {
        return Err(UpstreamError::Malformed(describe(
            status,
            response.headers(),
            declared,
        )));
    }
    read_body(response, MAX_BODY_BYTES).await.map(Some)
}

/// The longest wait a `Retry-After` can impose: Tibber's ban lasts about
/// ten minutes, and a larger value is more likely a bug than a plan.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// Reads a `Retry-After` value in either form RFC 9110 allows: delay
/// seconds (`120`) or an HTTP date (`Wed, 21 Oct 2026 07:28:00 GMT`),
/// relative to `now`. A date in the past means "now"; the wait is capped
/// at [`MAX_RETRY_AFTER`]. Anything else is `None` (the configured floor applies).
pub fn parse_retry_after(value: &str, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
    let value = value.trim();
    let wait = match value.parse::<u64>() {
        Ok(seconds) => Duration::from_secs(seconds),
        Err(_) => {
            let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
            (at.with_timezone(&chrono::Utc) - now)
                .to_std()
                .unwrap_or(Duration::ZERO)
        }
    };
    Some(wait.min(MAX_RETRY_AFTER))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn retry_after_reads_seconds_and_http_dates_and_caps_the_wait() {
        let now: chrono::DateTime<chrono::Utc> = "2026-10-21T07:27:30Z".parse().unwrap();
        assert_eq!(parse_retry_after(" 2 ", now), Some(Duration::from_secs(2)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2026 07:28:00 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2026 07:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("99999999999", now), Some(MAX_RETRY_AFTER));
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-5", now), None);
    }

    #[test]
    fn descriptions_name_a_plain_media_type_and_never_echo_an_odd_one() {
        let mut headers = HeaderMap::new();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("Text/HTML; charset=utf-8"),
        );
        assert_eq!(
            describe(reqwest::StatusCode::OK, &headers, Some(43)),
            "http 200 (text/html, 43 bytes)"
        );
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("<script>alert(1)</script>"),
        );
        let text = describe(reqwest::StatusCode::OK, &headers, Some(1));
        assert!(!text.contains("script"), "{text}");
        assert_eq!(
            describe(reqwest::StatusCode::NOT_FOUND, &HeaderMap::new(), None),
            "http 404 (no content type, length unknown)"
        );
    }
}
