//! The Tibber GraphQL client.
//!
//! Two kinds of call: the recent window (local midnight of the day before
//! yesterday up to the end of tomorrow) in one request, `priceInfo` for
//! today and tomorrow plus `priceInfoRange` for the two days before; and
//! older history with `priceInfoRange` paging (`first`/`after`, at most
//! 672 intervals a page). Cursors are base64 of an ISO-8601 instant; it is
//! not documented whether `after` includes the cursor's own instant, so we
//! ask from one interval before the wanted start and either reading yields
//! the whole range (the surplus interval is simply cached).
//!
//! Every HTTP request passes the registry's `CallGate`. Failures are
//! classified into `UpstreamError` kinds here; the token only ever goes
//! into the `Authorization` header (marked sensitive).

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use reqwest::header::{AUTHORIZATION, HeaderValue, RETRY_AFTER};
use serde_json::Value;
use tokio::time::Instant;

use super::budget::Priority;
use super::calendar;
use super::config::TibberConfig;
use super::error::UpstreamError;
use super::gate::CallGate;
use super::http;
use super::source::{FetchRequest, PriceSource};
use super::tibber_answer::{
    check_graphql_errors, parse_nodes, price_info_of, range_nodes, subscription_of,
};
use crate::pool::days::{expected_count, expected_resolution, local_date, local_midnight};
use crate::pool::{HomeInfo, Interval};

/// Tibber's cap on `first` in one `priceInfoRange` page.
pub const MAX_PAGE: usize = 672;

/// The wanted intervals one history call returns whole: a page less the
/// interval before the wanted start that the cursor points at.
pub const INTERVALS_PER_CALL: usize = MAX_PAGE - 1;

/// Pages one history fetch may take at most (a month of quarter-hours is 5).
const MAX_PAGES: usize = 64;

/// The most price nodes of one local day (`today`, `tomorrow`): a 25-hour
/// fall-back day of quarter-hours.
const MAX_DAY_NODES: usize = 100;

/// The price fields we read from every price node.
const PRICE_FIELDS: &str = "startsAt total energy tax level currency";

/// Tibber's API as a `PriceSource`.
pub struct TibberSource {
    config: TibberConfig,
    client: reqwest::Client,
    /// `Bearer {token}`, marked sensitive so it is never printed.
    authorization: HeaderValue,
}

impl std::fmt::Debug for TibberSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TibberSource")
            .field("url", &self.config.url)
            .field("token", &self.config.token)
            .finish()
    }
}

impl TibberSource {
    /// A client for `config`: rustls, `User-Agent: pricepool/<version>`,
    /// the per-request timeout of the config.
    pub fn new(config: TibberConfig) -> Result<TibberSource, UpstreamError> {
        let mut authorization = HeaderValue::from_str(&format!("Bearer {}", config.token.expose()))
            .map_err(|_| {
                UpstreamError::Auth(
                    "the token holds characters not allowed in a header".to_string(),
                )
            })?;
        authorization.set_sensitive(true);
        let client = http::client(config.request_timeout)?;
        Ok(TibberSource {
            config,
            client,
            authorization,
        })
    }

    /// One GraphQL request; classifies every failure. No retries here.
    /// The body is read up to [`http::MAX_BODY_BYTES`]; error messages
    /// describe the answer (status, content type, length), never quote it.
    async fn post(&self, query: &str) -> Result<Value, UpstreamError> {
        let response = self
            .client
            .post(&self.config.url)
            .header(AUTHORIZATION, self.authorization.clone())
            .json(&serde_json::json!({ "query": query }))
            .send()
            .await
            .map_err(http::transport_error)?;
        let status = response.status();
        if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
            return Err(UpstreamError::Auth(format!("http {}", status.as_u16())));
        }
        if status == reqwest::StatusCode::TOO_MANY_REQUESTS
            || status == reqwest::StatusCode::PRECONDITION_REQUIRED
        {
            let retry_after = response
                .headers()
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| http::parse_retry_after(v, chrono::Utc::now()));
            return Err(UpstreamError::RateLimited {
                message: format!("http {}", status.as_u16()),
                retry_after,
            });
        }
        if status.is_redirection() {
            return Err(http::describe_redirect(status));
        }
        let headers = response.headers().clone();
        let declared = response.content_length();
        // Failures are told by their status; their bodies are not read.
        if status.is_server_error() {
            return Err(UpstreamError::Transient(http::describe(
                status, &headers, declared,
            )));
        }
        if !status.is_success() {
            return Err(UpstreamError::Malformed(http::describe(
                status, &headers, declared,
            )));
        }
        let body = http::read_body(response, http::MAX_BODY_BYTES).await?;
        // A 200 that is not JSON is the same answer next time: not retried.
        let value: Value = serde_json::from_slice(&body).map_err(|_| {
            let length = Some(body.len() as u64);
            UpstreamError::Malformed(format!(
                "answer is not json: {}",
                http::describe(status, &headers, length)
            ))
        })?;
        check_graphql_errors(&value)?;
        Ok(value)
    }

    /// The recent window in one call: `priceInfo` today/tomorrow plus
    /// `priceInfoRange` from one interval before `window_start` up to today.
    async fn fetch_recent(
        &self,
        request: &FetchRequest,
        window_start: DateTime<Utc>,
        gate: &CallGate,
    ) -> Result<Vec<Interval>, UpstreamError> {
        let (home, switch) = (&request.home, request.quarter_hourly_from);
        let today_start = local_midnight(home.zone, local_date(home.zone, request.now));
        let cursor_at = one_interval_before(home.zone, switch, window_start);
        let first = expected_count(home.zone, switch, cursor_at, today_start).clamp(1, MAX_PAGE);
        let query = format!(
            "{{ viewer {{ home(id: {id}) {{ id timeZone currentSubscription {{ status \
             priceInfo(resolution: QUARTER_HOURLY) {{ current {{ {PRICE_FIELDS} }} today {{ {PRICE_FIELDS} }} tomorrow {{ {PRICE_FIELDS} }} }} \
             priceInfoRange(resolution: QUARTER_HOURLY, first: {first}, after: {cursor}) {{ pageInfo {{ endCursor hasNextPage }} nodes {{ {PRICE_FIELDS} }} }} }} }} }} }}",
            id = graphql_string(&home.id),
            cursor = graphql_string(&encode_cursor(cursor_at, home.zone)),
        );
        // The empty-data check runs per attempt, so the outage is retried like a 5xx.
        let value = gate
            .call(request.deadline, Priority::Recent, || async {
                let value = self.post(&query).await?;
                price_info_of(&value, &home.id)?;
                Ok(value)
            })
            .await?;
        let subscription = subscription_of(&value, &home.id)?;
        let price_info = price_info_of(&value, &home.id)?;
        let mut intervals = Vec::new();
        for list in ["today", "tomorrow"] {
            match price_info.get(list) {
                Some(Value::Array(nodes)) => {
                    intervals.extend(parse_nodes(nodes, home, switch, MAX_DAY_NODES)?);
                }
                Some(Value::Null) | None => {}
                Some(_) => {
                    return Err(UpstreamError::Malformed(format!(
                        "priceInfo.{list} is not a list"
                    )));
                }
            }
        }
        let (nodes, _) = range_nodes(subscription)?;
        intervals.extend(parse_nodes(nodes, home, switch, first + 1)?);
        Ok(intervals)
    }

    /// History in `[start, end)` with `priceInfoRange` paging.
    async fn fetch_history(
        &self,
        request: &FetchRequest,
        end: DateTime<Utc>,
        gate: &CallGate,
    ) -> Result<Vec<Interval>, UpstreamError> {
        let (home, switch) = (&request.home, request.quarter_hourly_from);
        let mut cursor_at = one_interval_before(home.zone, switch, request.start);
        let mut cursor = encode_cursor(cursor_at, home.zone);
        let mut intervals: Vec<Interval> = Vec::new();
        for _ in 0..MAX_PAGES {
            // From the cursor on: the exclusive reading yields [start, end), the inclusive one one more.
            let first = expected_count(home.zone, switch, cursor_at, end).clamp(1, MAX_PAGE);
            let query = format!(
                "{{ viewer {{ home(id: {id}) {{ id currentSubscription {{ status \
                 priceInfoRange(resolution: QUARTER_HOURLY, first: {first}, after: {cursor}) {{ pageInfo {{ endCursor hasNextPage }} nodes {{ {PRICE_FIELDS} }} }} }} }} }} }}",
                id = graphql_string(&home.id),
                cursor = graphql_string(&cursor),
            );
            let priority = Priority::History { feed: &home.id };
            let value = gate
                .call(request.deadline, priority, || self.post(&query))
                .await?;
            let subscription = subscription_of(&value, &home.id)?;
            let (nodes, page_info) = range_nodes(subscription)?;
            let page = parse_nodes(nodes, home, switch, first + 1)?;
            let Some(last) = page.iter().map(Interval::ends_at).max() else {
                break;
            };
            intervals.extend(page);
            let has_next = page_info
                .get("hasNextPage")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            let end_cursor = page_info.get("endCursor").and_then(Value::as_str);
            match end_cursor {
                Some(next) if has_next && last < end => {
                    // A cursor that does not move would loop forever.
                    let next_at = decode_cursor(next).ok_or_else(|| {
                        UpstreamError::Malformed(
                            "endCursor is not base64 of an instant".to_string(),
                        )
                    })?;
                    if next_at <= cursor_at {
                        return Err(UpstreamError::Malformed(
                            "endCursor does not advance".to_string(),
                        ));
                    }
                    cursor_at = next_at;
                    cursor = next.to_string();
                }
                _ => break,
            }
        }
        Ok(intervals)
    }
}

impl PriceSource for TibberSource {
    async fn homes(
        &self,
        gate: &CallGate,
        deadline: Instant,
    ) -> Result<Vec<HomeInfo>, UpstreamError> {
        let query = "{ viewer { homes { id timeZone currentSubscription { status priceInfo { current { currency } } } } } }";
        let value = gate
            .call(deadline, Priority::Recent, || self.post(query))
            .await?;
        let homes = value
            .pointer("/data/viewer/homes")
            .and_then(Value::as_array)
            .ok_or_else(|| UpstreamError::Malformed("viewer.homes missing".to_string()))?;
        let mut out = Vec::new();
        for home in homes {
            let Some(id) = home.get("id").and_then(Value::as_str) else {
                return Err(UpstreamError::Malformed("a home without id".to_string()));
            };
            let zone: Tz = match home.get("timeZone").and_then(Value::as_str).map(str::parse) {
                Some(Ok(zone)) => zone,
                _ => {
                    tracing::warn!(home = id, "home has no known time zone; skipped");
                    continue;
                }
            };
            let currency = home
                .pointer("/currentSubscription/priceInfo/current/currency")
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| currency_of_zone(zone).to_string());
            out.push(HomeInfo {
                id: id.to_string(),
                zone,
                currency,
            });
        }
        Ok(out)
    }

    async fn fetch(
        &self,
        request: &FetchRequest,
        gate: &CallGate,
    ) -> Result<Vec<Interval>, UpstreamError> {
        let home = &request.home;
        let (recent_start, _) = calendar::recent_window(home.zone, request.now);
        let mut intervals = Vec::new();
        if request.start < recent_start {
            let history_end = request.end.min(recent_start);
            intervals.extend(self.fetch_history(request, history_end, gate).await?);
        }
        if request.end > recent_start {
            intervals.extend(self.fetch_recent(request, recent_start, gate).await?);
        }
        Ok(intervals)
    }

    fn is_metered(&self) -> bool {
        true
    }
}

/// The start of the interval just before `t` (one hour or quarter-hour earlier).
fn one_interval_before(zone: Tz, switch: NaiveDate, t: DateTime<Utc>) -> DateTime<Utc> {
    let before = t - chrono::Duration::seconds(1);
    t - expected_resolution(zone, switch, before).duration()
}

/// A cursor: base64 of the instant in ISO-8601 with the home's offset.
pub fn encode_cursor(t: DateTime<Utc>, zone: Tz) -> String {
    BASE64.encode(
        t.with_timezone(&zone)
            .format("%Y-%m-%dT%H:%M:%S%.3f%:z")
            .to_string(),
    )
}

/// The instant inside a cursor, if it is base64 of an RFC 3339 instant.
pub fn decode_cursor(cursor: &str) -> Option<DateTime<Utc>> {
    let bytes = BASE64.decode(cursor.trim()).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    DateTime::parse_from_rfc3339(text.trim())
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// A GraphQL string literal (JSON escaping is valid GraphQL escaping).
fn graphql_string(text: &str) -> String {
    Value::String(text.to_string()).to_string()
}

fn currency_of_zone(zone: Tz) -> &'static str {
    match zone.name() {
        "Europe/Oslo" => "NOK",
        "Europe/Stockholm" => "SEK",
        "Europe/Copenhagen" => "DKK",
        _ => "EUR",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::Europe::Berlin;

    #[test]
    fn cursors_round_trip_through_base64_iso_8601() {
        let t: DateTime<Utc> = "2025-10-25T22:00:00Z".parse().unwrap();
        let cursor = encode_cursor(t, Berlin);
        assert_eq!(
            String::from_utf8(BASE64.decode(&cursor).unwrap()).unwrap(),
            "2025-10-26T00:00:00.000+02:00"
        );
        assert_eq!(decode_cursor(&cursor), Some(t));
        assert_eq!(decode_cursor("not base64!"), None);
    }

    #[test]
    fn history_counts_hours_before_the_switch_and_quarters_after() {
        let from: DateTime<Utc> = "2025-09-30T20:00:00Z".parse().unwrap(); // 22:00 Berlin
        let to: DateTime<Utc> = "2025-09-30T23:00:00Z".parse().unwrap(); // 01:00 on Oct 1
        let switch = crate::pool::EUROPE_QUARTER_HOURLY_FROM;
        assert_eq!(expected_count(Berlin, switch, from, to), 2 + 4);
        let start: DateTime<Utc> = "2025-09-30T22:00:00Z".parse().unwrap();
        assert_eq!(
            one_interval_before(Berlin, switch, start),
            "2025-09-30T21:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
    }
}
