//! aWATTar's market data API as a source of the DE-LU and AT market feeds
//! (EUR per MWh, no token): `GET {url}/v1/marketdata?start=<ms>&end=<ms>`
//! → `{"data":[{start_timestamp, end_timestamp, marketprice, unit}]}`,
//! `api.awattar.de` for DE-LU and `api.awattar.at` for AT.
//!
//! Each slot's length is taken from its own timestamps: aWATTar still
//! publishes hours where the exchange prices quarter-hours, and may switch
//! on a day of its choosing. Fewer entries than asked means the rest is not
//! published; a null price is a missing slot.

use std::time::Duration;

use chrono::DateTime;
use serde::Deserialize;

use super::entsoe::{asked, priority_of};
use super::error::UpstreamError;
use super::gate::CallGate;
use super::http;
use super::market::Market;
use super::source::{FetchRequest, PriceSource};
use crate::pool::{Interval, Resolution};

/// aWATTar Germany (the `--awattar-url` default): the DE-LU market.
pub const AWATTAR_DE_URL: &str = "https://api.awattar.de";

/// aWATTar Austria (the `--awattar-at-url` default): the AT market.
pub const AWATTAR_AT_URL: &str = "https://api.awattar.at";

/// The longest range one call asks for: a month of quarter-hours is about
/// 300 KB of JSON, well inside [`http::MAX_BODY_BYTES`].
pub const MAX_CALL_SPAN: chrono::Duration = chrono::Duration::days(31);

/// aWATTar's two APIs as one `PriceSource`, picked by the feed's market.
#[derive(Debug)]
pub struct AwattarSource {
    de_url: String,
    at_url: String,
    client: reqwest::Client,
}

/// The answer's shape; fields we do not read are ignored.
#[derive(Deserialize)]
struct Answer {
    data: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    start_timestamp: i64,
    end_timestamp: i64,
    marketprice: Option<f64>,
    unit: Option<String>,
}

impl AwattarSource {
    /// A client of the German API at `de_url` and the Austrian one at
    /// `at_url` (base URLs, without `/v1/marketdata`).
    pub fn new(
        de_url: String,
        at_url: String,
        request_timeout: Duration,
    ) -> Result<AwattarSource, UpstreamError> {
        Ok(AwattarSource {
            de_url: de_url.trim_end_matches('/').to_string(),
            at_url: at_url.trim_end_matches('/').to_string(),
            client: http::client(request_timeout)?,
        })
    }

    /// One request, its failures classified, its answer read. No retries here.
    async fn get(&self, url: &str, request: &FetchRequest) -> Result<Vec<Interval>, UpstreamError> {
        let body = http::get(&self.client, self.client.get(url), None).await?;
        parse(&body.unwrap_or_default(), request)
    }
}

impl PriceSource for AwattarSource {
    async fn fetch(
        &self,
        request: &FetchRequest,
        gate: &CallGate,
    ) -> Result<Vec<Interval>, UpstreamError> {
        let base = match request.market {
            Some(Market::DeLu) => &self.de_url,
            Some(Market::At) => &self.at_url,
            _ => return Err(UpstreamError::HomeNotFound(request.home.id.clone())),
        };
        let priority = priority_of(request);
        let mut intervals = Vec::new();
        let mut from = request.start;
        while from < request.end {
            let to = (from + MAX_CALL_SPAN).min(request.end);
            let url = format!(
                "{base}/v1/marketdata?start={}&end={}",
                from.timestamp_millis(),
                to.timestamp_millis()
            );
            let answer = gate
                .call(request.deadline, priority, || self.get(&url, request))
                .await?;
            intervals.extend(answer.into_iter().filter(|i| asked(request, i)));
            from = to;
        }
        Ok(intervals)
    }

    fn is_metered(&self) -> bool {
        true
    }
}

/// The intervals of one `marketdata` answer: each entry's slot from its own
/// timestamps, its price per MWh / 1000; a null price is no interval.
pub fn parse(body: &[u8], request: &FetchRequest) -> Result<Vec<Interval>, UpstreamError> {
    if request.home.currency != "EUR" {
        return Err(malformed(format!(
            "prices are in EUR, the feed wants {}",
            request.home.currency
        )));
    }
    let answer: Answer = serde_json::from_slice(body).map_err(|e| {
        malformed(format!(
            "the answer is not marketdata JSON (line {}, column {})",
            e.line(),
            e.column()
        ))
    })?;
    let mut intervals = Vec::with_capacity(answer.data.len());
    for entry in answer.data {
        if entry
            .unit
            .as_deref()
            .is_some_and(|unit| !unit.eq_ignore_ascii_case("Eur/MWh"))
        {
            return Err(malformed("a price is not in EUR per MWh".to_string()));
        }
        let Some(mwh) = entry.marketprice else {
            continue;
        };
        let start = DateTime::from_timestamp_millis(entry.start_timestamp)
            .filter(|t| entry.start_timestamp.rem_euclid(900_000) == 0 && t.timestamp() > 0)
            .ok_or_else(|| {
                malformed("a start_timestamp is not on the quarter-hour grid".to_string())
            })?;
        let length = entry.end_timestamp.saturating_sub(entry.start_timestamp);
        let resolution = Resolution::from_minutes(length / 60_000)
            .ok()
            .filter(|_| length % 60_000 == 0)
            .ok_or_else(|| {
                malformed(format!(
                    "the slot at {} is neither 15 nor 60 minutes long",
                    start.to_rfc3339()
                ))
            })?;
        if !mwh.is_finite() {
            return Err(malformed("a marketprice is not finite".to_string()));
        }
        intervals.push(Interval::new(
            start,
            resolution,
            mwh / 1000.0,
            mwh / 1000.0,
            0.0,
            None,
        ));
    }
    Ok(intervals)
}

fn malformed(message: String) -> UpstreamError {
    UpstreamError::Malformed(format!("awattar: {message}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pool::HomeInfo;
    use crate::upstream::UpstreamErrorKind;

    fn request(market: Market) -> FetchRequest {
        FetchRequest {
            home: HomeInfo {
                id: format!("{}-EUR", market.name()),
                zone: market.zone(),
                currency: "EUR".into(),
            },
            market: Some(market),
            start: "2025-09-30T22:00:00Z".parse().unwrap(),
            end: "2025-10-02T22:00:00Z".parse().unwrap(),
            now: "2025-10-01T14:00:00Z".parse().unwrap(),
            deadline: tokio::time::Instant::now(),
            quarter_hourly_from: crate::pool::EUROPE_QUARTER_HOURLY_FROM,
        }
    }

    /// An answer shaped like aWATTar's: `object`, `url`, entries in order.
    fn answer(entries: &[(i64, i64, &str)]) -> String {
        let data: Vec<String> = entries
            .iter()
            .map(|(start, end, price)| {
                format!(
                    "{{\"start_timestamp\":{start},\"end_timestamp\":{end},\"marketprice\":{price},\"unit\":\"Eur/MWh\"}}"
                )
            })
            .collect();
        format!(
            "{{\"object\":\"list\",\"data\":[{}],\"url\":\"/de/v1/marketdata\"}}",
            data.join(",")
        )
    }

    const T0: i64 = 1_759_269_600_000; // 2025-09-30T22:00:00Z

    #[test]
    fn each_slot_takes_its_length_from_its_own_timestamps() {
        let hour = 3_600_000;
        let quarter = 900_000;
        let body = answer(&[
            (T0, T0 + hour, "103.21"),
            (T0 + hour, T0 + hour + quarter, "-1.5"),
            (T0 + hour + quarter, T0 + hour + 2 * quarter, "null"),
        ]);
        let intervals = parse(body.as_bytes(), &request(Market::DeLu)).unwrap();
        assert_eq!(intervals.len(), 2, "the null price is a missing slot");
        assert_eq!(intervals[0].resolution, Resolution::Hour);
        assert_eq!(intervals[0].total, 0.10321);
        assert_eq!((intervals[0].energy, intervals[0].tax), (0.10321, 0.0));
        assert_eq!(intervals[1].resolution, Resolution::QuarterHour);
        assert_eq!(intervals[1].starts_at().timestamp_millis(), T0 + hour);
        assert_eq!(intervals[1].total, -0.0015);
    }

    #[test]
    fn broken_answers_are_malformed_never_a_panic() {
        let good = answer(&[(T0, T0 + 3_600_000, "50.0")]);
        let cases = [
            ("truncated", good[..good.len() / 2].to_string()),
            ("non-numeric price", good.replace("50.0", "\"cheap\"")),
            (
                "thirty minutes",
                good.replace("1759273200000", "1759271400000"),
            ),
            (
                "negative length",
                good.replace("1759273200000", "1759266000000"),
            ),
            (
                "off the grid",
                good.replace("1759269600000", "1759269600001"),
            ),
            ("another unit", good.replace("Eur/MWh", "Eur/kWh")),
            ("no data", "{\"object\":\"list\"}".to_string()),
            ("html", "<html></html>".to_string()),
        ];
        for (case, body) in cases {
            let error = parse(body.as_bytes(), &request(Market::At)).expect_err(case);
            assert_eq!(
                error.kind(),
                UpstreamErrorKind::Malformed,
                "{case}: {error}"
            );
        }
        assert_eq!(
            parse(b"{\"data\":[]}", &request(Market::At)),
            Ok(Vec::new())
        );
    }
}
