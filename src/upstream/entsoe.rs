//! The ENTSO-E transparency platform as a source of market feeds: A44
//! (day-ahead prices) for a market's EIC area, in EUR per MWh.
//!
//! `GET {base}/api?securityToken=…&documentType=A44&in_Domain=EIC&out_Domain=EIC
//! &periodStart=yyyyMMddHHmm&periodEnd=…` in UTC, at most one year per call
//! (the platform's limit); longer ranges are split. The answer is read by
//! [`entsoe_document`](super::entsoe_document).
//!
//! Failures: 401/403 or an acknowledgement about the token = `Auth` (never
//! retried); 429 = `RateLimited` with the `Retry-After` it gives (the
//! platform bans for ten minutes past 400 requests a minute; the call
//! budget keeps us far below); 5xx and timeouts = `Transient`; an
//! acknowledgement with reason 999 = an empty answer (not published).
//!
//! The token goes only into the request URL: reqwest's errors are stripped
//! of it (`without_url`), no message formats the URL, and `Debug` redacts it.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::budget::Priority;
use super::calendar;
use super::config::Secret;
use super::entsoe_document;
use super::error::UpstreamError;
use super::gate::CallGate;
use super::http;
use super::source::{FetchRequest, PriceSource};
use crate::pool::Interval;

/// The platform's API base URL (the `--entsoe-url` default).
pub const ENTSOE_URL: &str = "https://web-api.tp.entsoe.eu";

/// The longest range one call may ask for: the platform answers at most a
/// year of day-ahead prices per request.
pub const MAX_CALL_SPAN: chrono::Duration = chrono::Duration::days(365);

/// ENTSO-E's REST API as a `PriceSource`.
pub struct EntsoeSource {
    base_url: String,
    token: Secret,
    client: reqwest::Client,
}

impl std::fmt::Debug for EntsoeSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EntsoeSource")
            .field("base_url", &self.base_url)
            .field("token", &self.token)
            .finish()
    }
}

impl EntsoeSource {
    /// A client of the platform at `base_url` (no trailing `/api`) with
    /// `token`, each attempt bounded by `request_timeout`.
    pub fn new(
        base_url: String,
        token: Secret,
        request_timeout: Duration,
    ) -> Result<EntsoeSource, UpstreamError> {
        if token.is_empty() {
            return Err(UpstreamError::Auth(
                "no ENTSO-E security token is configured".to_string(),
            ));
        }
        Ok(EntsoeSource {
            base_url: base_url.trim_end_matches('/').to_string(),
            token,
            client: http::client(request_timeout)?,
        })
    }

    /// The A44 URL for `eic` over `[start, end)`, token included.
    fn url(&self, eic: &str, start: DateTime<Utc>, end: DateTime<Utc>) -> String {
        let stamp = |t: DateTime<Utc>| t.format("%Y%m%d%H%M").to_string();
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("securityToken", self.token.expose())
            .append_pair("documentType", "A44")
            .append_pair("in_Domain", eic)
            .append_pair("out_Domain", eic)
            .append_pair("periodStart", &stamp(start))
            .append_pair("periodEnd", &stamp(end))
            .finish();
        format!("{}/api?{query}", self.base_url)
    }

    /// One request, its failures classified, its answer read. No retries here.
    async fn get(&self, url: &str, request: &FetchRequest) -> Result<Vec<Interval>, UpstreamError> {
        let body = http::get(&self.client, self.client.get(url), None).await?;
        entsoe_document::parse(&body.unwrap_or_default(), request)
    }
}

impl PriceSource for EntsoeSource {
    async fn fetch(
        &self,
        request: &FetchRequest,
        gate: &CallGate,
    ) -> Result<Vec<Interval>, UpstreamError> {
        let Some(market) = request.market else {
            return Err(UpstreamError::HomeNotFound(request.home.id.clone()));
        };
        let priority = priority_of(request);
        let mut intervals = Vec::new();
        for (start, end) in call_ranges(request.start, request.end) {
            let url = self.url(market.eic(), start, end);
            let answer = gate
                .call(request.deadline, priority, || self.get(&url, request))
                .await?;
            // The platform answers whole delivery days; keep what was asked
            // (a few asked hours must not look like an oversized answer).
            intervals.extend(answer.into_iter().filter(|i| asked(request, i)));
        }
        Ok(intervals)
    }

    fn is_metered(&self) -> bool {
        true
    }
}

/// `Recent` when the range touches the feed's recent window (so history
/// can never spend what today and tomorrow need), else the feed's history.
pub(crate) fn priority_of(request: &FetchRequest) -> Priority<'_> {
    let (recent_start, recent_end) = calendar::recent_window(request.home.zone, request.now);
    if request.end > recent_start && request.start < recent_end {
        Priority::Recent
    } else {
        Priority::History {
            feed: &request.home.id,
        }
    }
}

/// Whether `interval` starts in the asked `[start, end)`.
pub(crate) fn asked(request: &FetchRequest, interval: &Interval) -> bool {
    request.start <= interval.starts_at() && interval.starts_at() < request.end
}

/// `[start, end)` cut into consecutive pieces of at most [`MAX_CALL_SPAN`].
fn call_ranges(start: DateTime<Utc>, end: DateTime<Utc>) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    let mut ranges = Vec::new();
    let mut from = start;
    while from < end {
        let to = (from + MAX_CALL_SPAN).min(end);
        ranges.push((from, to));
        from = to;
    }
    ranges
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    #[test]
    fn ranges_longer_than_a_year_are_split_into_calls_of_at_most_a_year() {
        let ranges = call_ranges(at("2023-01-01T00:00:00Z"), at("2025-06-01T00:00:00Z"));
        assert_eq!(ranges.len(), 3);
        assert_eq!(ranges[0].0, at("2023-01-01T00:00:00Z"));
        assert_eq!(ranges[2].1, at("2025-06-01T00:00:00Z"));
        for pair in ranges.windows(2) {
            assert_eq!(pair[0].1, pair[1].0);
        }
        assert!(ranges.iter().all(|(a, b)| *b - *a <= MAX_CALL_SPAN));
        assert!(call_ranges(at("2023-01-01T00:00:00Z"), at("2023-01-01T00:00:00Z")).is_empty());
    }

    #[test]
    fn the_url_asks_a44_in_utc_minutes_and_debug_hides_the_token() {
        let source = EntsoeSource::new(
            "http://127.0.0.1:1/".into(),
            Secret::new("s3cr3t-token"),
            Duration::from_secs(1),
        )
        .unwrap();
        let url = source.url(
            "10Y1001A1001A82H",
            at("2025-10-25T22:00:00Z"),
            at("2025-10-26T23:00:00Z"),
        );
        assert_eq!(
            url,
            "http://127.0.0.1:1/api?securityToken=s3cr3t-token&documentType=A44\
             &in_Domain=10Y1001A1001A82H&out_Domain=10Y1001A1001A82H\
             &periodStart=202510252200&periodEnd=202510262300"
        );
        assert!(!format!("{source:?}").contains("s3cr3t"));
        let empty = EntsoeSource::new("http://x".into(), Secret::new(""), Duration::from_secs(1));
        assert!(matches!(empty, Err(UpstreamError::Auth(_))));
    }
}
