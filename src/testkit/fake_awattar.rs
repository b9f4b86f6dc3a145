//! A fake aWATTar: real HTTP on a local port serving both APIs,
//! `/de/v1/marketdata` (DE-LU) and `/at/v1/marketdata` (AT), in aWATTar's
//! JSON (`{"object":"list","data":[{start_timestamp, end_timestamp,
//! marketprice, unit:"Eur/MWh"}],"url":…}`, millisecond timestamps), the
//! demo market's prices, a call log and scripted faults.
//!
//! Like the real one it publishes hours (each the mean of the demo's
//! quarter-hours, rounded to cents) until a settable switch date, and
//! answers only what is published at its own settable "now" (tomorrow
//! from 13:00 CET/CEST): fewer entries than asked for.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, NaiveDate, Timelike, Utc};
use serde_json::json;

use super::fake_server::{self, Running, Script, local_address, lock};
use crate::clock::Clock;
use crate::pool::Resolution;
use crate::upstream::Market;

use super::market_prices::{self, Slot};

/// A scripted misbehaviour, applied to one call (`push_fault`) or to every
/// call (`set_fault`).
#[derive(Debug, Clone, PartialEq)]
pub enum AwattarFault {
    /// HTTP 429, with `Retry-After: {seconds}` when given.
    RateLimited {
        /// Seconds to send in `Retry-After`; `None` sends no header.
        retry_after: Option<u64>,
    },
    /// HTTP 503.
    Unavailable,
    /// Waits this long, then answers normally.
    Slow(Duration),
    /// The normal answer cut off halfway.
    Truncated,
}

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct AwattarCall {
    /// `de` or `at`.
    pub country: String,
    /// `start`, as sent (milliseconds).
    pub start: Option<String>,
    /// `end`, as sent.
    pub end: Option<String>,
    /// The fault applied, if any.
    pub fault: Option<AwattarFault>,
}

struct FakeState {
    clock: Mutex<Clock>,
    /// The first local day priced per quarter-hour; `None`: hours only.
    quarter_hourly_from: Mutex<Option<NaiveDate>>,
    faults: Script<AwattarFault>,
    calls: Mutex<Vec<AwattarCall>>,
}

/// A running fake aWATTar. Stops when dropped.
pub struct FakeAwattar {
    base: String,
    state: Arc<FakeState>,
    _server: Running,
}

impl FakeAwattar {
    /// A fake on 127.0.0.1 at a free port, publishing hours only.
    pub async fn start() -> std::io::Result<FakeAwattar> {
        let address = local_address();
        let state = Arc::new(FakeState {
            clock: Mutex::new(Clock::system()),
            quarter_hourly_from: Mutex::new(None),
            faults: Script::new(),
            calls: Mutex::new(Vec::new()),
        });
        let app = Router::new()
            .route("/{country}/v1/marketdata", get(marketdata))
            .with_state(state.clone());
        let server = fake_server::serve(address, app, "awattar").await?;
        let address = server.address;
        Ok(FakeAwattar {
            base: format!("http://{address}"),
            state,
            _server: server,
        })
    }

    /// The German API's base URL (`--awattar-url`).
    pub fn de_url(&self) -> String {
        format!("{}/de", self.base)
    }

    /// The Austrian API's base URL (`--awattar-at-url`).
    pub fn at_url(&self) -> String {
        format!("{}/at", self.base)
    }

    /// Prices quarter-hours from local midnight of `date` on (`None`: hours only).
    pub fn set_quarter_hourly_from(&self, date: Option<NaiveDate>) {
        *lock(&self.state.quarter_hourly_from) = date;
    }

    /// What the fake publishes for `market`'s local day `date`.
    pub fn day(&self, market: Market, date: NaiveDate) -> Vec<Slot> {
        let switch = *lock(&self.state.quarter_hourly_from);
        day(market, date, switch)
    }

    /// Sets the fake's "now" (it keeps running from there).
    pub fn set_now(&self, now: DateTime<Utc>) {
        *lock(&self.state.clock) = Clock::starting_at(now);
    }

    /// Applies `fault` to the next call that has no earlier scripted fault.
    pub fn push_fault(&self, fault: AwattarFault) {
        self.state.faults.push(fault);
    }

    /// Applies `fault` to every call after the scripted ones; `None` heals.
    pub fn set_fault(&self, fault: Option<AwattarFault>) {
        self.state.faults.set(fault);
    }

    /// Every call so far, in arrival order.
    pub fn calls(&self) -> Vec<AwattarCall> {
        lock(&self.state.calls).clone()
    }
}

/// `market`'s day as aWATTar prices it: the hour means before `switch`.
fn day(market: Market, date: NaiveDate, switch: Option<NaiveDate>) -> Vec<Slot> {
    let slots = market_prices::day(market, date);
    if switch.is_some_and(|switch| date >= switch) {
        return slots;
    }
    slots
        .chunk_by(|a, b| {
            let local = |s: &Slot| s.starts_at.with_timezone(&market.zone());
            a.resolution == Resolution::QuarterHour && local(b).minute() != 0
        })
        .map(|hour| Slot {
            starts_at: hour[0].starts_at,
            resolution: Resolution::Hour,
            mwh: (hour.iter().map(|s| s.mwh).sum::<f64>() / hour.len() as f64 * 100.0).round()
                / 100.0,
        })
        .collect()
}

async fn marketdata(
    State(state): State<Arc<FakeState>>,
    Path(country): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let fault = state.faults.next();
    lock(&state.calls).push(AwattarCall {
        country: country.clone(),
        start: query.get("start").cloned(),
        end: query.get("end").cloned(),
        fault: fault.clone(),
    });
    match &fault {
        Some(AwattarFault::RateLimited { retry_after }) => {
            let mut response = (StatusCode::TOO_MANY_REQUESTS, "Too Many Requests").into_response();
            if let Some(seconds) = retry_after {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, (*seconds).into());
            }
            return response;
        }
        Some(AwattarFault::Unavailable) => {
            return (StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable").into_response();
        }
        Some(AwattarFault::Slow(wait)) => tokio::time::sleep(*wait).await,
        _ => {}
    }
    let market = match country.as_str() {
        "de" => Market::DeLu,
        "at" => Market::At,
        _ => return (StatusCode::NOT_FOUND, "Not Found").into_response(),
    };
    let now = lock(&state.clock).now();
    let millis = |name: &str| {
        query
            .get(name)
            .and_then(|v| v.parse::<i64>().ok())
            .and_then(DateTime::from_timestamp_millis)
    };
    // Without parameters aWATTar answers the next 24 hours.
    let start = millis("start").unwrap_or(now);
    let end = millis("end").unwrap_or(start + chrono::Duration::hours(24));
    let switch = *lock(&state.quarter_hourly_from);
    let data: Vec<_> = market_prices::dates(market, start, end)
        .into_iter()
        .filter(|date| market_prices::is_published(market, *date, now))
        .flat_map(|date| day(market, date, switch))
        .filter(|slot| start <= slot.starts_at && slot.starts_at < end)
        .map(|slot| {
            json!({
                "start_timestamp": slot.starts_at.timestamp_millis(),
                "end_timestamp": (slot.starts_at + slot.resolution.duration()).timestamp_millis(),
                "marketprice": slot.mwh,
                "unit": "Eur/MWh",
            })
        })
        .collect();
    let body = json!({"object": "list", "data": data, "url": format!("/{country}/v1/marketdata")})
        .to_string();
    let body = if fault == Some(AwattarFault::Truncated) {
        body[..body.len() / 2].to_string()
    } else {
        body
    };
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}
