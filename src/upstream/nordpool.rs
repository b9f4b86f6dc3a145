//! The Nord Pool data portal client (no token): day-ahead prices of a
//! delivery area per MWh, in EUR, DKK, NOK, SEK, PLN or RON.
//!
//! `GET {base}/api/DayAheadPrices?date=2026-01-14&market=DayAhead&deliveryArea=GER&currency=EUR`
//! answers one **CET delivery day** (`date` is the day in Central European
//! time, 23:00Z–23:00Z in winter): `{"deliveryDateCET", "currency",
//! "multiAreaEntries":[{"deliveryStart","deliveryEnd","entryPerArea":{"GER":…}}],
//! "areaStates", …}`; HTTP 204 (no body) while the day is not published.
//! A range is asked for day by day: every CET day it touches (a Helsinki
//! day spans two), results merged. Each slot's length is its own
//! `deliveryEnd − deliveryStart`; a missing or `null` area entry is a
//! missing slot.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Days, NaiveDate, Utc};
use chrono_tz::Tz;
use reqwest::StatusCode;
use serde::Deserialize;

use super::error::UpstreamError;
use super::gate::CallGate;
use super::http;
use super::market::Market;
use super::source::{FetchRequest, PriceSource};
use crate::pool::days::{local_date, local_day};
use crate::pool::{Interval, Resolution};

/// The zone of Nord Pool's delivery days (CET/CEST).
const DELIVERY_ZONE: Tz = chrono_tz::Europe::Berlin;

/// The currencies Nord Pool quotes day-ahead prices in.
pub const CURRENCIES: [&str; 6] = ["EUR", "DKK", "NOK", "SEK", "PLN", "RON"];

/// The most delivery days one fetch asks for (a history page is a month
/// at most; a larger range is a caller's bug, not 400 calls).
const MAX_DAYS: usize = 62;

/// Nord Pool's delivery area of `market`: its own name, `GER` for DE-LU;
/// `None` for CH, which Nord Pool does not price.
pub fn delivery_area(market: Market) -> Option<&'static str> {
    match market {
        Market::DeLu => Some("GER"),
        Market::Ch => None,
        other => Some(other.name()),
    }
}

/// The CET delivery days that cover `[start, end)`, in order.
pub fn delivery_days(start: DateTime<Utc>, end: DateTime<Utc>) -> Vec<NaiveDate> {
    if start >= end {
        return Vec::new();
    }
    let last = local_date(DELIVERY_ZONE, end - chrono::Duration::seconds(1));
    let mut days = Vec::new();
    let mut day = local_date(DELIVERY_ZONE, start);
    while day <= last {
        days.push(day);
        match day.checked_add_days(Days::new(1)) {
            Some(next) => day = next,
            None => break,
        }
    }
    days
}

/// One delivery day's answer, as far as we read it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DayAheadPrices {
    #[serde(default)]
    multi_area_entries: Vec<AreaEntry>,
    #[serde(default)]
    currency: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AreaEntry {
    delivery_start: DateTime<Utc>,
    delivery_end: DateTime<Utc>,
    #[serde(default)]
    entry_per_area: HashMap<String, Option<f64>>,
}

/// The intervals of one `DayAheadPrices` answer that start in
/// `[request.start, request.end)`, per kWh, for the request's market. An
/// empty body is no data; a missing or `null` area entry is a missing
/// slot; another shape, another currency than asked for, or a slot that
/// is neither 15 nor 60 minutes long is `Malformed`.
pub fn parse(body: &[u8], request: &FetchRequest) -> Result<Vec<Interval>, UpstreamError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Vec::new());
    }
    let area = area_of(request)?;
    // serde's messages may quote the answer; only the position is reported.
    let document: DayAheadPrices = serde_json::from_slice(body).map_err(|e| {
        UpstreamError::Malformed(format!(
            "not a Nord Pool DayAheadPrices document (line {}, column {})",
            e.line(),
            e.column()
        ))
    })?;
    if let Some(currency) = &document.currency
        && *currency != request.home.currency
    {
        return Err(UpstreamError::Malformed(format!(
            "Nord Pool answered another currency than {}",
            request.home.currency
        )));
    }
    let mut intervals = Vec::with_capacity(document.multi_area_entries.len());
    for entry in document.multi_area_entries {
        let length = entry.delivery_end - entry.delivery_start;
        let resolution = Resolution::from_minutes(length.num_minutes())
            .ok()
            .filter(|r| r.duration() == length)
            .ok_or_else(|| {
                UpstreamError::Malformed(format!(
                    "a Nord Pool slot of {} seconds",
                    length.num_seconds()
                ))
            })?;
        let starts_at = entry.delivery_start;
        if starts_at < request.start || starts_at >= request.end {
            continue;
        }
        let Some(Some(price)) = entry.entry_per_area.get(area) else {
            continue;
        };
        let energy = price / 1000.0;
        intervals.push(Interval::new(
            starts_at, resolution, energy, energy, 0.0, None,
        ));
    }
    Ok(intervals)
}

/// The delivery area of the request's market, or why there is none.
fn area_of(request: &FetchRequest) -> Result<&'static str, UpstreamError> {
    let market = request.market.ok_or_else(|| {
        UpstreamError::Malformed(format!(
            "nordpool prices markets only; {} has none",
            request.home.id
        ))
    })?;
    delivery_area(market).ok_or_else(|| {
        UpstreamError::Malformed(format!("nordpool does not price the {market} market"))
    })
}

/// Nord Pool as a `PriceSource` for market feeds.
#[derive(Debug)]
pub struct NordPoolSource {
    /// `{base}/api/DayAheadPrices`.
    url: String,
    client: reqwest::Client,
}

impl NordPoolSource {
    /// A client for the API at `base_url` (e.g.
    /// `https://dataportal-api.nordpoolgroup.com`), each attempt bounded by
    /// `request_timeout`.
    pub fn new(
        base_url: String,
        request_timeout: Duration,
    ) -> Result<NordPoolSource, UpstreamError> {
        let url = format!("{}/api/DayAheadPrices", base_url.trim_end_matches('/'));
        reqwest::Url::parse(&url)
            .map_err(|_| UpstreamError::Malformed("the Nord Pool url is not a url".to_string()))?;
        Ok(NordPoolSource {
            url,
            client: http::client(request_timeout)?,
        })
    }

    /// One delivery day: its body, or `None` while it is not published.
    async fn day(
        &self,
        request: &FetchRequest,
        area: &str,
        day: NaiveDate,
        gate: &CallGate,
    ) -> Result<Option<Vec<u8>>, UpstreamError> {
        let (day_start, day_end) = local_day(DELIVERY_ZONE, day);
        let query = [
            ("date", day.format("%Y-%m-%d").to_string()),
            ("market", "DayAhead".to_string()),
            ("deliveryArea", area.to_string()),
            ("currency", request.home.currency.clone()),
        ];
        let priority = request.priority_of(day_start, day_end);
        gate.call(request.deadline, priority, || {
            let call = self.client.get(&self.url).query(&query);
            http::get(&self.client, call, Some(StatusCode::NO_CONTENT))
        })
        .await
    }
}

impl PriceSource for NordPoolSource {
    /// Every CET delivery day of the range, one call each. A day not
    /// published yet ends the fetch when it is today or later (the days
    /// after it are not published either).
    async fn fetch(
        &self,
        request: &FetchRequest,
        gate: &CallGate,
    ) -> Result<Vec<Interval>, UpstreamError> {
        let area = area_of(request)?;
        if !CURRENCIES.contains(&request.home.currency.as_str()) {
            return Err(UpstreamError::Malformed(format!(
                "nordpool does not quote {}",
                request.home.currency
            )));
        }
        let days = delivery_days(request.start, request.end);
        if days.len() > MAX_DAYS {
            return Err(UpstreamError::Malformed(format!(
                "a range of {} delivery days; at most {MAX_DAYS} are asked for at once",
                days.len()
            )));
        }
        let today = local_date(DELIVERY_ZONE, request.now);
        let mut intervals = Vec::new();
        for day in days {
            match self.day(request, area, day, gate).await? {
                Some(body) => intervals.extend(parse(&body, request)?),
                None if day >= today => break,
                None => {}
            }
        }
        Ok(intervals)
    }

    fn is_metered(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pool::EUROPE_QUARTER_HOURLY_FROM;
    use crate::pool::HomeInfo;
    use serde_json::{Value, json};

    fn request(market: Market, currency: &str, start: &str, end: &str) -> FetchRequest {
        let end: DateTime<Utc> = end.parse().unwrap();
        FetchRequest {
            home: HomeInfo {
                id: format!("{market}-{currency}"),
                zone: market.zone(),
                currency: currency.to_string(),
            },
            market: Some(market),
            start: start.parse().unwrap(),
            end,
            now: end,
            deadline: tokio::time::Instant::now(),
            quarter_hourly_from: EUROPE_QUARTER_HOURLY_FROM,
        }
    }

    /// A CET delivery day shaped like the real answer, slots of `minutes`,
    /// `price(i)` for the area (`None`: the area's entry is absent).
    fn delivery_day(
        day: NaiveDate,
        area: &str,
        currency: &str,
        minutes: i64,
        price: impl Fn(usize) -> Option<Value>,
    ) -> Vec<u8> {
        let (start, end) = local_day(DELIVERY_ZONE, day);
        let mut entries = Vec::new();
        let mut t = start;
        while t < end {
            let next = t + chrono::Duration::minutes(minutes);
            let mut per_area = serde_json::Map::new();
            if let Some(value) = price(entries.len()) {
                per_area.insert(area.to_string(), value);
            }
            entries.push(json!({
                "deliveryStart": t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                "deliveryEnd": next.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                "entryPerArea": per_area,
            }));
            t = next;
        }
        json!({
            "deliveryDateCET": day.to_string(),
            "version": 3,
            "updatedAt": "2026-01-13T12:15:03.8832404Z",
            "deliveryAreas": [area],
            "market": "DayAhead",
            "multiAreaEntries": entries,
            "blockPriceAggregates": [],
            "currency": currency,
            "exchangeRate": 1,
            "areaStates": [{"state": "Final", "areas": [area]}],
            "areaAverages": [{"areaCode": area, "price": 77.38}]
        })
        .to_string()
        .into_bytes()
    }

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn areas_and_delivery_days_follow_the_cet_day() {
        assert_eq!(delivery_area(Market::DeLu), Some("GER"));
        assert_eq!(delivery_area(Market::No3), Some("NO3"));
        assert_eq!(delivery_area(Market::Ch), None);
        // A Berlin day is one CET day; a Helsinki day spans two.
        let (start, end) = local_day(Market::DeLu.zone(), date(2026, 1, 14));
        assert_eq!(delivery_days(start, end), vec![date(2026, 1, 14)]);
        let (start, end) = local_day(Market::Fi.zone(), date(2026, 1, 14));
        assert_eq!(
            delivery_days(start, end),
            vec![date(2026, 1, 13), date(2026, 1, 14)]
        );
        assert!(delivery_days(end, end).is_empty());
    }

    #[test]
    fn a_quarter_hourly_day_is_96_slots_per_kwh_with_missing_entries_left_out() {
        let request = request(
            Market::DeLu,
            "EUR",
            "2026-01-13T23:00:00Z",
            "2026-01-14T23:00:00Z",
        );
        let body = delivery_day(date(2026, 1, 14), "GER", "EUR", 15, |i| match i {
            10 => Some(Value::Null),
            11 => None,
            _ => Some(json!(100.0 + i as f64)),
        });
        let intervals = parse(&body, &request).unwrap();
        assert_eq!(intervals.len(), 94);
        assert_eq!(intervals[0].starts_at(), request.start);
        assert!((intervals[0].energy - 0.1).abs() < 1e-12);
        assert_eq!(intervals[0].total, intervals[0].energy);
        assert_eq!(intervals[0].tax, 0.0);
        assert!(
            intervals
                .iter()
                .all(|iv| iv.resolution == Resolution::QuarterHour)
        );
    }

    #[test]
    fn dst_days_and_hourly_days_come_out_with_their_own_slot_lengths() {
        for (day, minutes, count) in [
            (date(2026, 3, 29), 15, 92),
            (date(2025, 10, 26), 15, 100),
            (date(2025, 9, 30), 60, 24),
            (date(2025, 10, 26), 60, 25),
        ] {
            let (start, end) = local_day(DELIVERY_ZONE, day);
            let request = FetchRequest {
                start,
                end,
                now: end,
                ..request(
                    Market::DeLu,
                    "EUR",
                    "2026-01-01T00:00:00Z",
                    "2026-01-02T00:00:00Z",
                )
            };
            let body = delivery_day(day, "GER", "EUR", minutes, |_| Some(json!(42.5)));
            let intervals = parse(&body, &request).unwrap();
            assert_eq!(intervals.len(), count, "{day}");
            assert_eq!(intervals.last().unwrap().ends_at(), end, "{day}");
        }
    }

    #[test]
    fn a_helsinki_day_takes_its_part_of_each_cet_day_in_nok_too() {
        let request = request(
            Market::Fi,
            "EUR",
            "2026-01-13T22:00:00Z",
            "2026-01-14T22:00:00Z",
        );
        let first = delivery_day(date(2026, 1, 13), "FI", "EUR", 15, |_| Some(json!(1.0)));
        let second = delivery_day(date(2026, 1, 14), "FI", "EUR", 15, |_| Some(json!(2.0)));
        let a = parse(&first, &request).unwrap();
        let b = parse(&second, &request).unwrap();
        assert_eq!((a.len(), b.len()), (4, 92));
        let oslo = self::request(
            Market::No1,
            "NOK",
            "2026-01-13T23:00:00Z",
            "2026-01-14T23:00:00Z",
        );
        let body = delivery_day(date(2026, 1, 14), "NO1", "NOK", 15, |_| Some(json!(900.0)));
        assert_eq!(parse(&body, &oslo).unwrap().len(), 96);
    }

    #[test]
    fn empty_and_short_answers_are_what_there_is_and_odd_ones_are_malformed() {
        let request = request(
            Market::DeLu,
            "EUR",
            "2026-01-13T23:00:00Z",
            "2026-01-14T23:00:00Z",
        );
        assert!(parse(b"", &request).unwrap().is_empty());
        assert!(
            parse(br#"{"multiAreaEntries":[]}"#, &request)
                .unwrap()
                .is_empty()
        );
        let short = delivery_day(date(2026, 1, 14), "GER", "EUR", 15, |i| {
            (i < 40).then(|| json!(3.0))
        });
        assert_eq!(parse(&short, &request).unwrap().len(), 40);
        let sek = delivery_day(date(2026, 1, 14), "GER", "SEK", 15, |_| Some(json!(1.0)));
        assert!(matches!(
            parse(&sek, &request),
            Err(UpstreamError::Malformed(_))
        ));
        let odd = br#"{"multiAreaEntries":[{"deliveryStart":"2026-01-14T00:00:00Z","deliveryEnd":"2026-01-14T00:30:00Z","entryPerArea":{"GER":1.0}}]}"#;
        assert!(matches!(
            parse(odd, &request),
            Err(UpstreamError::Malformed(_))
        ));
        let error = parse(b"<html>secret-page</html>", &request).unwrap_err();
        assert!(!error.to_string().contains("secret"));
        let text = br#"{"multiAreaEntries":[{"deliveryStart":"2026-01-14T00:00:00Z","deliveryEnd":"2026-01-14T00:15:00Z","entryPerArea":{"GER":"secret-text"}}]}"#;
        let error = parse(text, &request).unwrap_err();
        assert!(!error.to_string().contains("secret"), "{error}");
    }
}
