//! A fake Nord Pool data portal: real HTTP on a local port, its
//! `DayAheadPrices` wire format, the demo market's day shape per delivery
//! area, a call log and scripted faults (see [`FakeMarket`](super::fake_market::FakeMarket)).
//!
//! What it understands: `GET /api/DayAheadPrices?date=YYYY-MM-DD&market=DayAhead&deliveryArea=GER&currency=EUR`,
//! one CET delivery day per call, areas `GER`, `AT`, `NL`, `BE`, `FR`,
//! `PL`, `DK1`, `DK2`, `NO1`…`NO5`, `SE1`…`SE4`, `FI`, `EE`, `LV`, `LT`,
//! currencies EUR, DKK, NOK, SEK, PLN, RON (fixed rates). A day not
//! published at its own clock (tomorrow from 13:00 CET) is HTTP 204 with
//! no body; a bad parameter is a 400.

use std::ops::Deref;

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{NaiveDate, SecondsFormat};
use chrono_tz::Europe::Berlin;
use serde_json::{Value, json};

use super::fake_market::{self, MarketServer, Shared};
use crate::pool::days::local_day;
use crate::upstream::market::Market;

/// A running fake Nord Pool server. Stops when dropped; derefs to its
/// [`MarketServer`] (URL) and through it to its [`FakeMarket`](super::fake_market::FakeMarket) (clock,
/// faults, call log, prices).
pub struct FakeNordPool(MarketServer);

impl Deref for FakeNordPool {
    type Target = MarketServer;

    fn deref(&self) -> &MarketServer {
        &self.0
    }
}

impl FakeNordPool {
    /// A fake on 127.0.0.1 at a free port, its clock running from real time.
    pub async fn start() -> std::io::Result<FakeNordPool> {
        MarketServer::start("/api/DayAheadPrices", get(day_ahead_prices), "nordpool")
            .await
            .map(FakeNordPool)
    }
}

/// The market of a Nord Pool delivery area code.
fn market_of_area(area: &str) -> Option<Market> {
    const AREAS: [&str; 21] = [
        "AT", "NL", "BE", "FR", "PL", "DK1", "DK2", "NO1", "NO2", "NO3", "NO4", "NO5", "SE1",
        "SE2", "SE3", "SE4", "FI", "EE", "LV", "LT", "GER",
    ];
    match area {
        "GER" => Some(Market::DeLu),
        _ if AREAS.contains(&area) => area.parse().ok(),
        _ => None,
    }
}

fn bad_request(message: &str) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({ "message": message }))).into_response()
}

async fn day_ahead_prices(State(state): State<Shared>, RawQuery(query): RawQuery) -> Response {
    let query: Vec<(String, String)> = form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .into_owned()
        .collect();
    let nulls = match state.begin("/api/DayAheadPrices", query.clone()).await {
        Ok(nulls) => nulls,
        Err(response) => return response,
    };
    let param = |name: &str| {
        query
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
            .unwrap_or("")
    };
    let Ok(date) = NaiveDate::parse_from_str(param("date"), "%Y-%m-%d") else {
        return bad_request("date must be YYYY-MM-DD");
    };
    if param("market") != "DayAhead" {
        return bad_request("unknown market");
    }
    let area = param("deliveryArea");
    let Some(market) = market_of_area(area) else {
        return bad_request("unknown delivery area");
    };
    let currency = param("currency");
    if !["EUR", "DKK", "NOK", "SEK", "PLN", "RON"].contains(&currency) {
        return bad_request("unknown currency");
    }
    let (start, end) = local_day(Berlin, date);
    if start >= state.published_until() {
        return StatusCode::NO_CONTENT.into_response();
    }
    let last = end - chrono::Duration::seconds(1);
    let slots = state.slots_with_nulls(market, currency, start, last, nulls);
    let stamp = |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(SecondsFormat::Secs, true);
    let entries: Vec<Value> = slots
        .iter()
        .map(|slot| {
            json!({
                "deliveryStart": stamp(slot.starts_at),
                "deliveryEnd": stamp(slot.starts_at + slot.resolution.duration()),
                "entryPerArea": { area: slot.price },
            })
        })
        .collect();
    let priced: Vec<f64> = slots.iter().filter_map(|slot| slot.price).collect();
    let average = priced.iter().sum::<f64>() / priced.len().max(1) as f64;
    Json(json!({
        "deliveryDateCET": date.to_string(),
        "version": 3,
        "updatedAt": stamp(start - chrono::Duration::hours(11)),
        "deliveryAreas": [area],
        "market": "DayAhead",
        "multiAreaEntries": entries,
        "blockPriceAggregates": [],
        "currency": currency,
        "exchangeRate": fake_market::exchange_rate(currency),
        "areaStates": [{ "state": "Final", "areas": [area] }],
        "areaAverages": [{ "areaCode": area, "price": (average * 100.0).round() / 100.0 }],
    }))
    .into_response()
}
