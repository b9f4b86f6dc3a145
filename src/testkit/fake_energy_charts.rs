//! A fake Energy-Charts API: real HTTP on a local port, its `/price`
//! wire format, the demo market's day shape per bidding zone, a call log
//! and scripted faults (see [`FakeMarket`](super::fake_market::FakeMarket)).
//!
//! What it understands: `GET /price?bzn=DE-LU&start=…&end=…` where `start`
//! and `end` are unix seconds, ISO dates (Europe/Berlin days; `end` is
//! the whole day) or RFC 3339 instants; `start` defaults to today, `end`
//! to the end of `start`'s day. Both ends are inclusive. It answers
//! `{"license_info","unix_seconds","price","unit":"EUR / MWh","deprecated"}`
//! with what is published at its own clock (tomorrow from 13:00 CET), and
//! HTTP 404 when nothing in the range is; an unknown zone or a bad
//! instant is a 422, as FastAPI answers.

use std::ops::Deref;

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Days, NaiveDate, Utc};
use chrono_tz::Europe::Berlin;
use serde_json::json;

use super::fake_market::{MarketServer, Shared};
use crate::pool::days::{local_date, local_midnight};
use crate::upstream::market::Market;

/// A running fake Energy-Charts server. Stops when dropped; derefs to its
/// [`MarketServer`] (URL) and through it to its [`FakeMarket`](super::fake_market::FakeMarket) (clock,
/// faults, call log, prices).
pub struct FakeEnergyCharts(MarketServer);

impl Deref for FakeEnergyCharts {
    type Target = MarketServer;

    fn deref(&self) -> &MarketServer {
        &self.0
    }
}

impl FakeEnergyCharts {
    /// A fake on 127.0.0.1 at a free port, its clock running from real time.
    pub async fn start() -> std::io::Result<FakeEnergyCharts> {
        MarketServer::start("/price", get(price), "energy-charts")
            .await
            .map(FakeEnergyCharts)
    }
}

fn unprocessable(detail: &str) -> Response {
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        Json(json!({ "detail": detail })),
    )
        .into_response()
}

async fn price(State(state): State<Shared>, RawQuery(query): RawQuery) -> Response {
    let query: Vec<(String, String)> = form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .into_owned()
        .collect();
    let nulls = match state.begin("/price", query.clone()).await {
        Ok(nulls) => nulls,
        Err(response) => return response,
    };
    let param = |name: &str| {
        query
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    };
    let Some(Ok(market)) = param("bzn").map(str::parse::<Market>) else {
        return unprocessable("unknown bidding zone");
    };
    let today = local_midnight(Berlin, local_date(Berlin, state.now()));
    let start = match param("start").map(|text| instant(text, false)) {
        None => today,
        Some(Some(start)) => start,
        Some(None) => return unprocessable("start is not a date"),
    };
    let end = match param("end").map(|text| instant(text, true)) {
        None => end_of_day(local_date(Berlin, start)),
        Some(Some(end)) => end,
        Some(None) => return unprocessable("end is not a date"),
    };
    let to = end.min(state.published_until() - chrono::Duration::seconds(1));
    let slots = state.slots_with_nulls(market, "EUR", start, to, nulls);
    if slots.is_empty() {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({ "detail": "No data for this request" })),
        )
            .into_response();
    }
    let seconds: Vec<i64> = slots
        .iter()
        .map(|slot| slot.starts_at.timestamp())
        .collect();
    let prices: Vec<Option<f64>> = slots.iter().map(|slot| slot.price).collect();
    Json(json!({
        "license_info": "CC BY 4.0 (creativecommons.org/licenses/by/4.0) from Bundesnetzagentur | SMARD.de",
        "unix_seconds": seconds,
        "price": prices,
        "unit": "EUR / MWh",
        "deprecated": false,
    }))
    .into_response()
}

/// The last second of the Berlin day `date`.
fn end_of_day(date: NaiveDate) -> DateTime<Utc> {
    let next = date.checked_add_days(Days::new(1)).unwrap_or(date);
    local_midnight(Berlin, next) - chrono::Duration::seconds(1)
}

/// `text` as unix seconds, an ISO date (its start, or its last second for
/// an `end`) or an RFC 3339 instant.
fn instant(text: &str, end: bool) -> Option<DateTime<Utc>> {
    if let Ok(seconds) = text.parse::<i64>() {
        return DateTime::from_timestamp(seconds, 0);
    }
    if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Some(if end {
            end_of_day(date)
        } else {
            local_midnight(Berlin, date)
        });
    }
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}
