//! What the fake market-price servers (Energy-Charts, Nord Pool) share:
//! their prices (the demo market's day shape, per bidding zone, per MWh),
//! the day-ahead publication rule (tomorrow at 13:00 CET of the fake's
//! own clock), scripted faults and the call log.
//! Each fake speaks its own wire format on top of this.

use std::ops::Deref;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;
use chrono::{DateTime, Days, Utc};

use super::fake_server::{self, Running, Script, local_address, lock};
use crate::clock::Clock;
use crate::pool::Resolution;
use crate::pool::days::local_date;
use crate::upstream::demo::{DemoMarket, DemoZone};
use crate::upstream::market::Market;

/// A scripted misbehaviour, applied to one call (`push_fault`) or to every
/// call (`set_fault`).
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// HTTP 500.
    ServerError,
    /// HTTP 503.
    Unavailable,
    /// HTTP 429, with `Retry-After: {seconds}` when given.
    RateLimited {
        /// Seconds to send in `Retry-After`; `None` sends no header.
        retry_after: Option<u64>,
    },
    /// HTTP 401.
    Unauthorized,
    /// Waits this long, then answers normally.
    Slow(Duration),
    /// HTTP 200 with an HTML page.
    Garbage,
    /// Answers normally with the price of `count` slots from `from` null.
    NullPrices {
        /// Start of the first slot without a price.
        from: DateTime<Utc>,
        /// How many slots.
        count: usize,
    },
}

/// One request a fake received.
#[derive(Debug, Clone)]
pub struct Call {
    /// When it arrived (Tokio's clock).
    pub at: tokio::time::Instant,
    /// The request path.
    pub path: String,
    /// The query parameters, in order.
    pub query: Vec<(String, String)>,
    /// The fault applied, if any.
    pub fault: Option<Fault>,
}

impl Call {
    /// The value of query parameter `name`.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// One priced slot of a market, as a fake serves it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Slot {
    /// Its start.
    pub starts_at: DateTime<Utc>,
    /// Its length.
    pub resolution: Resolution,
    /// Its price per MWh (`None`: served as `null`).
    pub price: Option<f64>,
}

/// A fake's clock, faults and call log; both fakes deref to it.
pub struct FakeMarket {
    market: DemoMarket,
    /// The fake's own wall clock; decides what is published. std Mutex,
    /// never held across `.await`.
    clock: Mutex<Clock>,
    faults: Script<Fault>,
    calls: Mutex<Vec<Call>>,
}

impl FakeMarket {
    pub(crate) fn new() -> FakeMarket {
        FakeMarket {
            market: DemoMarket::new(),
            clock: Mutex::new(Clock::system()),
            faults: Script::new(),
            calls: Mutex::new(Vec::new()),
        }
    }

    /// Sets the fake's "now" (it keeps running from there).
    pub fn set_now(&self, now: DateTime<Utc>) {
        *lock(&self.clock) = Clock::starting_at(now);
    }

    /// The fake's "now".
    pub fn now(&self) -> DateTime<Utc> {
        lock(&self.clock).now()
    }

    /// Applies `fault` to the next call that has no earlier scripted fault.
    pub fn push_fault(&self, fault: Fault) {
        self.faults.push(fault);
    }

    /// Applies `fault` to every call after the scripted ones; `None` heals.
    pub fn set_fault(&self, fault: Option<Fault>) {
        self.faults.set(fault);
    }

    /// Every call so far, in arrival order.
    pub fn calls(&self) -> Vec<Call> {
        lock(&self.calls).clone()
    }

    /// How many calls arrived.
    pub fn call_count(&self) -> usize {
        lock(&self.calls).len()
    }

    /// Forgets the call log.
    pub fn clear_calls(&self) {
        lock(&self.calls).clear();
    }

    /// The end (exclusive) of what is published at the fake's now: CET
    /// midnight after tomorrow from 13:00 CET, after today before.
    pub fn published_until(&self) -> DateTime<Utc> {
        self.market
            .published_until(chrono_tz::Europe::Berlin, self.now())
    }

    /// Every slot of `market` starting in `[from, to]` (both ends
    /// included, as Energy-Charts answers), published or not, priced in
    /// `currency` per MWh: the demo market's day shape in the market's
    /// zone, hourly before its local 2025-10-01, quarter-hourly after.
    /// Prices are rounded to cents, as the providers publish them.
    pub fn slots(
        &self,
        market: Market,
        currency: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Vec<Slot> {
        self.slots_with_nulls(market, currency, from, to, None)
    }

    /// [`FakeMarket::slots`] with `nulls` (start, count) served as `null`.
    pub(crate) fn slots_with_nulls(
        &self,
        market: Market,
        currency: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        nulls: Option<(DateTime<Utc>, usize)>,
    ) -> Vec<Slot> {
        let zone = DemoZone {
            home_id: "market",
            zone: market.zone(),
            currency: "EUR",
            base_energy: 0.07 + 0.002 * (market as u8 as f64),
            tax: 0.0,
        };
        let rate = exchange_rate(currency);
        let mut slots = Vec::new();
        let mut date = local_date(zone.zone, from);
        while date <= local_date(zone.zone, to) {
            for interval in self.market.day(&zone, date) {
                if interval.starts_at() < from || interval.starts_at() > to {
                    continue;
                }
                let null = nulls.is_some_and(|(start, count)| {
                    let index = (interval.starts_at() - start).num_seconds()
                        / interval.resolution.seconds();
                    interval.starts_at() >= start && (index as usize) < count
                });
                let price = (interval.energy * 1000.0 * rate * 100.0).round() / 100.0;
                slots.push(Slot {
                    starts_at: interval.starts_at(),
                    resolution: interval.resolution,
                    price: (!null).then_some(price),
                });
            }
            let Some(next) = date.checked_add_days(Days::new(1)) else {
                break;
            };
            date = next;
        }
        slots
    }

    /// Records the call and applies its fault: `Err(response)` when the
    /// fault answers in place of the fake, else the slots to serve as
    /// `null` (after a `Slow` wait, none).
    pub(crate) async fn begin(
        &self,
        path: &str,
        query: Vec<(String, String)>,
    ) -> Result<Option<(DateTime<Utc>, usize)>, Response> {
        let fault = self.faults.next();
        lock(&self.calls).push(Call {
            at: tokio::time::Instant::now(),
            path: path.to_string(),
            query,
            fault: fault.clone(),
        });
        let Some(fault) = fault else {
            return Ok(None);
        };
        Err(match fault {
            Fault::ServerError => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
            Fault::Unavailable => StatusCode::SERVICE_UNAVAILABLE.into_response(),
            Fault::Unauthorized => StatusCode::UNAUTHORIZED.into_response(),
            Fault::RateLimited { retry_after } => {
                let mut response = StatusCode::TOO_MANY_REQUESTS.into_response();
                if let Some(seconds) = retry_after {
                    response
                        .headers_mut()
                        .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
                }
                response
            }
            Fault::Garbage => (
                [(header::CONTENT_TYPE, "text/html")],
                "<html><body>maintenance</body></html>",
            )
                .into_response(),
            Fault::Slow(wait) => {
                tokio::time::sleep(wait).await;
                return Ok(None);
            }
            Fault::NullPrices { from, count } => return Ok(Some((from, count))),
        })
    }
}

/// A fixed rate per EUR, so prices in other currencies are deterministic.
pub fn exchange_rate(currency: &str) -> f64 {
    match currency {
        "DKK" => 7.46,
        "NOK" => 11.5,
        "SEK" => 11.0,
        "PLN" => 4.3,
        "RON" => 5.0,
        _ => 1.0,
    }
}

/// The state a fake's handlers share.
pub(crate) type Shared = Arc<FakeMarket>;

/// A market fake's running server (each fake wraps one and adds its wire
/// format's route). Stops when dropped; derefs to its [`FakeMarket`]
/// (clock, faults, call log, prices).
pub struct MarketServer {
    url: String,
    state: Shared,
    _server: Running,
}

impl Deref for MarketServer {
    type Target = FakeMarket;

    fn deref(&self) -> &FakeMarket {
        &self.state
    }
}

impl MarketServer {
    /// Serves `path` with `handler` on 127.0.0.1 at a free port, the
    /// fake's clock running from real time; `name` for its warnings.
    pub(crate) async fn start(
        path: &str,
        handler: MethodRouter<Shared>,
        name: &'static str,
    ) -> std::io::Result<MarketServer> {
        let state = Arc::new(FakeMarket::new());
        let app = Router::new().route(path, handler).with_state(state.clone());
        let server = fake_server::serve(local_address(), app, name).await?;
        Ok(MarketServer {
            url: format!("http://{}", server.address),
            state,
            _server: server,
        })
    }

    /// The base URL (what `--energy-charts-url` or `--nordpool-url` takes).
    pub fn url(&self) -> &str {
        &self.url
    }
}
