//! The Energy-Charts client (Fraunhofer ISE, no token): day-ahead spot
//! prices of a bidding zone, in EUR per MWh.
//!
//! `GET {base}/price?bzn=DE-LU&start=<unix>&end=<unix>` answers
//! `{"license_info":…,"unix_seconds":[…],"price":[…],"unit":"EUR / MWh",
//! "deprecated":false}`: one start instant per slot and its price, which
//! may be `null` (a missing slot). `start` and `end` accept ISO dates
//! (read as Europe/Berlin days) or unix seconds; we send unix seconds so
//! the range is exact in every zone (a Helsinki day is not a Berlin day),
//! and cut the answer to `[start, end)`, whether the API treats `end` as
//! inclusive or not. A range with no data at all is HTTP 404.
//!
//! The answer carries no slot length: each slot lasts until the next
//! one starts; the last one as long as its predecessor, unless the
//! hourly-to-quarter-hourly switch lies between them.

use std::time::Duration;

use reqwest::StatusCode;
use serde::Deserialize;

use super::error::UpstreamError;
use super::gate::CallGate;
use super::http;
use super::source::{FetchRequest, PriceSource};
use crate::pool::days::expected_resolution;
use crate::pool::{Interval, Resolution};

/// The answer of `/price`, as far as we read it.
#[derive(Debug, Deserialize)]
struct PriceDocument {
    unix_seconds: Vec<i64>,
    price: Vec<Option<f64>>,
    #[serde(default)]
    unit: Option<String>,
}

/// The intervals of an Energy-Charts `/price` answer that start in
/// `[request.start, request.end)`, per kWh. An empty body is no data; a
/// `null` price is a missing slot; a body of another shape, prices in
/// another unit, unsorted instants or lists of different lengths are
/// `Malformed`.
pub fn parse(body: &[u8], request: &FetchRequest) -> Result<Vec<Interval>, UpstreamError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Vec::new());
    }
    // serde's messages may quote the answer; only the position is reported.
    let document: PriceDocument = serde_json::from_slice(body).map_err(|e| {
        UpstreamError::Malformed(format!(
            "not an Energy-Charts price document (line {}, column {})",
            e.line(),
            e.column()
        ))
    })?;
    if let Some(unit) = &document.unit {
        let unit: String = unit.split_whitespace().collect::<String>().to_lowercase();
        if unit != "eur/mwh" {
            return Err(UpstreamError::Malformed(
                "Energy-Charts quotes prices in a unit other than EUR / MWh".to_string(),
            ));
        }
    }
    if document.unix_seconds.len() != document.price.len() {
        return Err(UpstreamError::Malformed(format!(
            "Energy-Charts answered {} instants and {} prices",
            document.unix_seconds.len(),
            document.price.len()
        )));
    }
    let starts = document
        .unix_seconds
        .iter()
        .map(|&seconds| chrono::DateTime::from_timestamp(seconds, 0))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| UpstreamError::Malformed("an instant out of range".to_string()))?;
    if starts.windows(2).any(|pair| pair[0] >= pair[1]) {
        return Err(UpstreamError::Malformed(
            "Energy-Charts instants are not strictly increasing".to_string(),
        ));
    }
    let resolutions = slot_lengths(&starts, request);
    Ok(starts
        .into_iter()
        .zip(resolutions)
        .zip(document.price)
        .filter(|((starts_at, _), _)| request.start <= *starts_at && *starts_at < request.end)
        .filter_map(|((starts_at, resolution), price)| {
            let energy = price? / 1000.0;
            Some(Interval::new(
                starts_at, resolution, energy, energy, 0.0, None,
            ))
        })
        .collect())
}

/// Each slot's length: the time to the next start when that is 15 or 60
/// minutes; otherwise (the last slot, a hole) the previous slot's length
/// when the switch does not lie between them, else what the switch says.
fn slot_lengths(
    starts: &[chrono::DateTime<chrono::Utc>],
    request: &FetchRequest,
) -> Vec<Resolution> {
    let expected = |t| expected_resolution(request.home.zone, request.quarter_hourly_from, t);
    let mut lengths: Vec<Resolution> = Vec::with_capacity(starts.len());
    for (i, &start) in starts.iter().enumerate() {
        let spacing = starts
            .get(i + 1)
            .and_then(|next| Resolution::from_minutes((*next - start).num_minutes()).ok())
            .filter(|r| starts[i + 1] - start == r.duration());
        let length = match (spacing, lengths.last()) {
            (Some(length), _) => length,
            (None, Some(&previous)) if expected(starts[i - 1]) == expected(start) => previous,
            (None, _) => expected(start),
        };
        lengths.push(length);
    }
    lengths
}

/// Energy-Charts as a `PriceSource` for market feeds.
#[derive(Debug)]
pub struct EnergyChartsSource {
    /// `{base}/price`.
    url: String,
    client: reqwest::Client,
}

impl EnergyChartsSource {
    /// A client for the API at `base_url` (e.g. `https://api.energy-charts.info`),
    /// each attempt bounded by `request_timeout`.
    pub fn new(
        base_url: String,
        request_timeout: Duration,
    ) -> Result<EnergyChartsSource, UpstreamError> {
        let url = format!("{}/price", base_url.trim_end_matches('/'));
        reqwest::Url::parse(&url).map_err(|_| {
            UpstreamError::Malformed("the Energy-Charts url is not a url".to_string())
        })?;
        Ok(EnergyChartsSource {
            url,
            client: http::client(request_timeout)?,
        })
    }
}

impl PriceSource for EnergyChartsSource {
    async fn fetch(
        &self,
        request: &FetchRequest,
        gate: &CallGate,
    ) -> Result<Vec<Interval>, UpstreamError> {
        let market = request.market.ok_or_else(|| {
            UpstreamError::Malformed(format!(
                "energy-charts prices markets only; {} has none",
                request.home.id
            ))
        })?;
        let query = [
            ("bzn", market.name().to_string()),
            ("start", request.start.timestamp().to_string()),
            ("end", request.end.timestamp().to_string()),
        ];
        let body = gate
            .call(request.deadline, request.priority(), || {
                let call = self.client.get(&self.url).query(&query);
                http::get(&self.client, call, Some(StatusCode::NOT_FOUND))
            })
            .await?;
        match body {
            Some(body) => parse(&body, request),
            None => Ok(Vec::new()),
        }
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
    use crate::pool::days::local_day;
    use crate::upstream::market::Market;
    use chrono::{DateTime, NaiveDate, Utc};

    fn request(market: Market, start: DateTime<Utc>, end: DateTime<Utc>) -> FetchRequest {
        FetchRequest {
            home: HomeInfo {
                id: format!("{market}-EUR"),
                zone: market.zone(),
                currency: "EUR".to_string(),
            },
            market: Some(market),
            start,
            end,
            now: end,
            deadline: tokio::time::Instant::now(),
            quarter_hourly_from: EUROPE_QUARTER_HOURLY_FROM,
        }
    }

    fn day_request(market: Market, y: i32, m: u32, d: u32) -> FetchRequest {
        let (start, end) = local_day(market.zone(), NaiveDate::from_ymd_opt(y, m, d).unwrap());
        request(market, start, end)
    }

    /// A document shaped like the real one: one start every `step` seconds
    /// from `from` (inclusive) to `to` (inclusive, as the API answers a
    /// date range), prices from `price(i)`.
    fn document(
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        step: i64,
        price: impl Fn(usize) -> Option<f64>,
    ) -> Vec<u8> {
        let seconds: Vec<i64> = (from.timestamp()..=to.timestamp())
            .step_by(step as usize)
            .collect();
        let prices: Vec<Option<f64>> = (0..seconds.len()).map(price).collect();
        serde_json::json!({
            "license_info": "CC BY 4.0 (creativecommons.org/licenses/by/4.0) from Bundesnetzagentur | SMARD.de",
            "unix_seconds": seconds,
            "price": prices,
            "unit": "EUR / MWh",
            "deprecated": false
        })
        .to_string()
        .into_bytes()
    }

    #[test]
    fn a_quarter_hourly_day_is_96_slots_per_kwh_with_nulls_left_out() {
        let request = day_request(Market::DeLu, 2026, 1, 14);
        let body = document(request.start, request.end, 900, |i| {
            (i != 40).then_some(80.0 + i as f64)
        });
        let intervals = parse(&body, &request).unwrap();
        // 97 answered (end inclusive), one cut, one null.
        assert_eq!(intervals.len(), 95);
        assert!(
            intervals
                .iter()
                .all(|iv| iv.resolution == Resolution::QuarterHour)
        );
        assert_eq!(intervals[0].starts_at(), request.start);
        assert!((intervals[0].energy - 0.080).abs() < 1e-12);
        assert_eq!(intervals[0].total, intervals[0].energy);
        assert_eq!(intervals[0].tax, 0.0);
        assert!(intervals[0].level.is_none());
        let missing = request.start + chrono::Duration::minutes(15 * 40);
        assert!(intervals.iter().all(|iv| iv.starts_at() != missing));
        assert!(intervals.iter().all(|iv| iv.starts_at() < request.end));
    }

    #[test]
    fn dst_days_have_92_and_100_quarter_hours_and_old_days_24_or_23_hours() {
        for (date, step, count) in [
            ((2026, 3, 29), 900, 92),
            ((2025, 10, 26), 900, 100),
            ((2025, 9, 30), 3600, 24),
            ((2025, 3, 30), 3600, 23),
        ] {
            let request = day_request(Market::DeLu, date.0, date.1, date.2);
            let last = request.end - chrono::Duration::seconds(step);
            let body = document(request.start, last, step, |_| Some(50.0));
            let intervals = parse(&body, &request).unwrap();
            assert_eq!(intervals.len(), count, "{date:?}");
            // The last slot (no successor) takes its predecessor's length.
            assert_eq!(intervals.last().unwrap().ends_at(), request.end, "{date:?}");
        }
    }

    #[test]
    fn across_the_switch_hours_end_where_quarter_hours_begin() {
        let start: DateTime<Utc> = "2025-09-30T20:00:00Z".parse().unwrap();
        let switch: DateTime<Utc> = "2025-09-30T22:00:00Z".parse().unwrap();
        let end: DateTime<Utc> = "2025-10-01T00:00:00Z".parse().unwrap();
        let mut seconds: Vec<i64> = vec![start.timestamp(), start.timestamp() + 3600];
        seconds.extend((switch.timestamp()..end.timestamp()).step_by(900));
        let prices: Vec<f64> = seconds.iter().map(|_| 70.0).collect();
        let body =
            serde_json::json!({"unix_seconds": seconds, "price": prices, "unit": "EUR / MWh"});
        let intervals = parse(
            body.to_string().as_bytes(),
            &request(Market::DeLu, start, end),
        )
        .unwrap();
        assert_eq!(intervals.len(), 2 + 8);
        assert_eq!(intervals[1].resolution, Resolution::Hour);
        assert_eq!(intervals[1].ends_at(), switch);
        assert_eq!(intervals[9].resolution, Resolution::QuarterHour);
        // A last hourly slot right before the switch stays an hour; a lone
        // quarter-hour after it is a quarter-hour.
        let body = serde_json::json!({"unix_seconds": [start.timestamp() + 3600], "price": [1.0]});
        let lone = parse(
            body.to_string().as_bytes(),
            &request(Market::DeLu, start, end),
        )
        .unwrap();
        assert_eq!(lone[0].resolution, Resolution::Hour);
        let body = serde_json::json!({"unix_seconds": [start.timestamp() + 3600, switch.timestamp()], "price": [1.0, 2.0]});
        let pair = parse(
            body.to_string().as_bytes(),
            &request(Market::DeLu, start, end),
        )
        .unwrap();
        assert_eq!(pair[1].resolution, Resolution::QuarterHour);
    }

    #[test]
    fn a_short_or_empty_answer_is_what_there_is() {
        let request = day_request(Market::DeLu, 2026, 1, 14);
        let half = request.start + chrono::Duration::hours(12);
        let body = document(request.start, half, 900, |_| Some(-5.0));
        let intervals = parse(&body, &request).unwrap();
        assert_eq!(intervals.len(), 49);
        assert!((intervals[0].energy + 0.005).abs() < 1e-12);
        assert!(parse(b"", &request).unwrap().is_empty());
        let empty = br#"{"unix_seconds":[],"price":[],"unit":"EUR / MWh"}"#;
        assert!(parse(empty, &request).unwrap().is_empty());
    }

    #[test]
    fn documents_of_another_shape_are_malformed_and_never_quoted() {
        let request = day_request(Market::DeLu, 2026, 1, 14);
        let t = request.start.timestamp();
        for body in [
            "<html>secret-page</html>".to_string(),
            r#"{"unix_seconds":[1,2],"price":[1.0]}"#.to_string(),
            format!(r#"{{"unix_seconds":[{t}],"price":["secret-text"]}}"#),
            format!(r#"{{"unix_seconds":[{t}],"price":[1.0],"unit":"EUR / kWh"}}"#),
            format!(r#"{{"unix_seconds":[{},{t}],"price":[1.0,2.0]}}"#, t + 900),
        ] {
            let error = parse(body.as_bytes(), &request).unwrap_err();
            assert!(matches!(error, UpstreamError::Malformed(_)), "{body}");
            assert!(!error.to_string().contains("secret"), "{error}");
        }
    }
}
