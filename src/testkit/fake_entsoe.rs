//! A fake ENTSO-E transparency platform: real HTTP on a local port, the
//! platform's A44 request and its XML answers (namespaces, element names,
//! `2025-10-25T22:00Z` instants, one `TimeSeries` per delivery day with one
//! `Period`, `curveType` A03 leaving out points that repeat the previous
//! price), the demo market's prices per MWh, a call log and scripted faults.
//!
//! What is published follows its own settable "now": every day up to
//! today, tomorrow from 13:00 CET/CEST. A request with no published day in
//! it gets the platform's `Acknowledgement_MarketDocument`, reason 999.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

use super::fake_server::{self, Running, Script, local_address, lock};
use crate::clock::Clock;
use crate::pool::Resolution;
use crate::upstream::{Market, Secret};

use super::market_prices::{self, Slot};

/// The token the fake accepts unless told otherwise.
pub const DEFAULT_ENTSOE_TOKEN: &str = "fake-entsoe-token-2b7e41";

/// What the fake adds to every price of the position-2 series of
/// [`EntsoeFault::DuplicateSeries`], so a parser that keeps it is seen.
pub const DUPLICATE_SURCHARGE: f64 = 500.0;

/// A scripted misbehaviour, applied to one call (`push_fault`) or to every
/// call (`set_fault`).
#[derive(Debug, Clone, PartialEq)]
pub enum EntsoeFault {
    /// HTTP 401 with the platform's HTML page, whatever the token.
    Unauthorized,
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
    /// The reason-999 acknowledgement, whatever is published.
    Acknowledgement,
    /// Prices held for three hours at a time, so the A03 curve leaves out
    /// most points, the last ones of each day too.
    RepeatedPrices,
    /// Each day twice: first a series at `classificationSequence` position
    /// 2 priced [`DUPLICATE_SURCHARGE`] higher, then the real one at 1.
    DuplicateSeries,
    /// Quarter-hourly days written as a PT60M period up to local noon
    /// (each hour at its first quarter's price) and a PT15M period after.
    MixedResolution,
}

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct EntsoeCall {
    /// When it arrived (Tokio's clock).
    pub at: tokio::time::Instant,
    /// Whether `securityToken` was the accepted one.
    pub authorized: bool,
    /// `in_Domain`, as sent.
    pub area: Option<String>,
    /// `periodStart`, as sent (`yyyyMMddHHmm`).
    pub period_start: Option<String>,
    /// `periodEnd`, as sent.
    pub period_end: Option<String>,
    /// The fault applied, if any.
    pub fault: Option<EntsoeFault>,
}

struct FakeState {
    token: String,
    /// The fake's own wall clock. std Mutex, never held across `.await`.
    clock: Mutex<Clock>,
    faults: Script<EntsoeFault>,
    calls: Mutex<Vec<EntsoeCall>>,
}

/// A running fake platform. Stops when dropped.
pub struct FakeEntsoe {
    url: String,
    state: Arc<FakeState>,
    _server: Running,
}

impl FakeEntsoe {
    /// A fake on 127.0.0.1 at a free port accepting [`DEFAULT_ENTSOE_TOKEN`].
    pub async fn start() -> std::io::Result<FakeEntsoe> {
        let address = local_address();
        let state = Arc::new(FakeState {
            token: DEFAULT_ENTSOE_TOKEN.to_string(),
            clock: Mutex::new(Clock::system()),
            faults: Script::new(),
            calls: Mutex::new(Vec::new()),
        });
        let app = Router::new()
            .route("/api", get(api))
            .with_state(state.clone());
        let server = fake_server::serve(address, app, "entso-e").await?;
        let address = server.address;
        Ok(FakeEntsoe {
            url: format!("http://{address}"),
            state,
            _server: server,
        })
    }

    /// The base URL (`--entsoe-url`); requests go to `{url}/api`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The accepted token, as a `Secret`.
    pub fn token(&self) -> Secret {
        Secret::new(self.state.token.clone())
    }

    /// What the fake publishes for `market`'s local day `date` under
    /// `fault` (the series at position 1): the truth to compare against.
    pub fn day(market: Market, date: NaiveDate, fault: Option<&EntsoeFault>) -> Vec<Slot> {
        let slots = market_prices::day(market, date);
        match fault {
            Some(EntsoeFault::RepeatedPrices) => held_for_three_hours(&slots),
            Some(EntsoeFault::MixedResolution) => hourly_until_noon(market, &slots),
            _ => slots,
        }
    }

    /// Sets the fake's "now" (it keeps running from there).
    pub fn set_now(&self, now: DateTime<Utc>) {
        *lock(&self.state.clock) = Clock::starting_at(now);
    }

    /// Applies `fault` to the next call that has no earlier scripted fault.
    pub fn push_fault(&self, fault: EntsoeFault) {
        self.state.faults.push(fault);
    }

    /// Applies `fault` to every call after the scripted ones; `None` heals.
    pub fn set_fault(&self, fault: Option<EntsoeFault>) {
        self.state.faults.set(fault);
    }

    /// Every call so far, in arrival order.
    pub fn calls(&self) -> Vec<EntsoeCall> {
        lock(&self.state.calls).clone()
    }

    /// How many calls arrived.
    pub fn call_count(&self) -> usize {
        lock(&self.state.calls).len()
    }
}

async fn api(
    State(state): State<Arc<FakeState>>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let authorized = query.get("securityToken") == Some(&state.token);
    let fault = state.faults.next();
    lock(&state.calls).push(EntsoeCall {
        at: tokio::time::Instant::now(),
        authorized,
        area: query.get("in_Domain").cloned(),
        period_start: query.get("periodStart").cloned(),
        period_end: query.get("periodEnd").cloned(),
        fault: fault.clone(),
    });
    match &fault {
        Some(EntsoeFault::Unauthorized) => return unauthorized(),
        Some(EntsoeFault::RateLimited { retry_after }) => {
            let mut response = (StatusCode::TOO_MANY_REQUESTS, "Too Many Requests").into_response();
            if let Some(seconds) = retry_after {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, (*seconds).into());
            }
            return response;
        }
        Some(EntsoeFault::Unavailable) => {
            return (StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable").into_response();
        }
        Some(EntsoeFault::Slow(wait)) => tokio::time::sleep(*wait).await,
        _ => {}
    }
    if !authorized {
        return unauthorized();
    }
    let now = lock(&state.clock).now();
    let (status, document) = match answer(&query, now, fault.as_ref()) {
        Ok(document) => (StatusCode::OK, document),
        Err(text) => (StatusCode::BAD_REQUEST, acknowledgement("A01", &text)),
    };
    let document = if fault == Some(EntsoeFault::Truncated) {
        document[..document.len() / 2].to_string()
    } else {
        document
    };
    (status, [(header::CONTENT_TYPE, "text/xml")], document).into_response()
}

fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(header::CONTENT_TYPE, "text/html")],
        "<html><head><title>Unauthorized</title></head><body><h1>Unauthorized</h1></body></html>",
    )
        .into_response()
}

/// The document for a well-formed request, or why it is refused.
fn answer(
    query: &HashMap<String, String>,
    now: DateTime<Utc>,
    fault: Option<&EntsoeFault>,
) -> Result<String, String> {
    if query.get("documentType").map(String::as_str) != Some("A44") {
        return Err("documentType must be A44".into());
    }
    let area = query.get("in_Domain").ok_or("in_Domain is missing")?;
    if query.get("out_Domain") != Some(area) {
        return Err("in_Domain and out_Domain must be equal for A44".into());
    }
    let market = Market::all()
        .find(|market| market.eic() == area)
        .ok_or("unknown area")?;
    let instant = |name: &str| {
        query
            .get(name)
            .and_then(|text| NaiveDateTime::parse_from_str(text, "%Y%m%d%H%M").ok())
            .map(|naive| naive.and_utc())
            .ok_or(format!("{name} is not yyyyMMddHHmm"))
    };
    let (start, end) = (instant("periodStart")?, instant("periodEnd")?);
    if end <= start || end - start > chrono::Duration::days(366) {
        return Err("The amount of requested data exceeds allowed limit".into());
    }
    let dates: Vec<NaiveDate> = market_prices::dates(market, start, end)
        .into_iter()
        .filter(|date| market_prices::is_published(market, *date, now))
        .collect();
    if dates.is_empty() || fault == Some(&EntsoeFault::Acknowledgement) {
        return Ok(acknowledgement(
            "999",
            &format!(
                "No matching data found for Data item Energy Prices [12.1.D] ({area}, {area})"
            ),
        ));
    }
    Ok(publication(market, &dates, fault))
}

fn publication(market: Market, dates: &[NaiveDate], fault: Option<&EntsoeFault>) -> String {
    let minute = |t: DateTime<Utc>| t.format("%Y-%m-%dT%H:%MZ").to_string();
    let mut doc = String::from(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<Publication_MarketDocument xmlns=\"urn:iec62325.351:tc57wg16:451-3:publicationdocument:7:3\">\n\
         \t<mRID>fake0000000000000000000000000001</mRID>\n\t<revisionNumber>1</revisionNumber>\n\t<type>A44</type>\n\
         \t<sender_MarketParticipant.mRID codingScheme=\"A01\">10X1001A1001A450</sender_MarketParticipant.mRID>\n\
         \t<sender_MarketParticipant.marketRole.type>A32</sender_MarketParticipant.marketRole.type>\n",
    );
    let mut n = 0;
    for &date in dates {
        let slots = FakeEntsoe::day(market, date, fault);
        if fault == Some(&EntsoeFault::DuplicateSeries) {
            let dearer: Vec<Slot> = slots
                .iter()
                .map(|s| Slot {
                    mwh: s.mwh + DUPLICATE_SURCHARGE,
                    ..*s
                })
                .collect();
            n += 1;
            write_series(&mut doc, market, n, 2, &dearer, &minute);
        }
        n += 1;
        write_series(&mut doc, market, n, 1, &slots, &minute);
    }
    doc.push_str("</Publication_MarketDocument>\n");
    doc
}

/// One `TimeSeries` with a `Period` per run of equal resolution.
fn write_series(
    doc: &mut String,
    market: Market,
    mrid: usize,
    rank: u32,
    slots: &[Slot],
    minute: &dyn Fn(DateTime<Utc>) -> String,
) {
    let eic = market.eic();
    let _ = write!(
        doc,
        "\t<TimeSeries>\n\t\t<mRID>{mrid}</mRID>\n\t\t<auction.type>A01</auction.type>\n\t\t<businessType>A62</businessType>\n\
         \t\t<in_Domain.mRID codingScheme=\"A01\">{eic}</in_Domain.mRID>\n\t\t<out_Domain.mRID codingScheme=\"A01\">{eic}</out_Domain.mRID>\n\
         \t\t<contract_MarketAgreement.type>A01</contract_MarketAgreement.type>\n\t\t<currency_Unit.name>EUR</currency_Unit.name>\n\
         \t\t<price_Measure_Unit.name>MWH</price_Measure_Unit.name>\n\
         \t\t<classificationSequence_AttributeInstanceComponent.position>{rank}</classificationSequence_AttributeInstanceComponent.position>\n\
         \t\t<curveType>A03</curveType>\n"
    );
    for run in slots.chunk_by(|a, b| a.resolution == b.resolution) {
        let (Some(first), Some(last)) = (run.first(), run.last()) else {
            continue;
        };
        let end = last.starts_at + last.resolution.duration();
        let resolution = match first.resolution {
            Resolution::Hour => "PT60M",
            Resolution::QuarterHour => "PT15M",
        };
        let _ = write!(
            doc,
            "\t\t<Period>\n\t\t\t<timeInterval>\n\t\t\t\t<start>{}</start>\n\t\t\t\t<end>{}</end>\n\t\t\t</timeInterval>\n\
             \t\t\t<resolution>{resolution}</resolution>\n",
            minute(first.starts_at),
            minute(end)
        );
        let mut previous = None;
        for (index, slot) in run.iter().enumerate() {
            // A03: a point that repeats the previous price is left out.
            if previous != Some(slot.mwh) {
                let _ = write!(
                    doc,
                    "\t\t\t<Point>\n\t\t\t\t<position>{}</position>\n\t\t\t\t<price.amount>{}</price.amount>\n\t\t\t</Point>\n",
                    index + 1,
                    slot.mwh
                );
            }
            previous = Some(slot.mwh);
        }
        doc.push_str("\t\t</Period>\n");
    }
    doc.push_str("\t</TimeSeries>\n");
}

fn acknowledgement(code: &str, text: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Acknowledgement_MarketDocument xmlns=\"urn:iec62325.351:tc57wg16:451-1:acknowledgementdocument:7:0\">\n\
         \t<mRID>fake-ack</mRID>\n\t<createdDateTime>2026-01-01T00:00:00Z</createdDateTime>\n\
         \t<sender_MarketParticipant.mRID codingScheme=\"A01\">10X1001A1001A450</sender_MarketParticipant.mRID>\n\
         \t<Reason>\n\t\t<code>{code}</code>\n\t\t<text>{text}</text>\n\t</Reason>\n</Acknowledgement_MarketDocument>\n"
    )
}

/// Every slot at the price of the first slot of its three-hour block.
fn held_for_three_hours(slots: &[Slot]) -> Vec<Slot> {
    let per_block = slots
        .first()
        .map_or(1, |s| (3 * 3600 / s.resolution.seconds()) as usize);
    slots
        .chunks(per_block.max(1))
        .flat_map(|block| {
            let price = block[0].mwh;
            block.iter().map(move |s| Slot { mwh: price, ..*s })
        })
        .collect()
}

/// Quarter-hours before local noon merged into hours at their first
/// quarter's price; the rest kept.
fn hourly_until_noon(market: Market, slots: &[Slot]) -> Vec<Slot> {
    use chrono::Timelike;
    let mut out: Vec<Slot> = Vec::new();
    for slot in slots {
        let local = slot.starts_at.with_timezone(&market.zone());
        if slot.resolution == Resolution::QuarterHour && local.hour() < 12 {
            if local.minute() == 0 {
                out.push(Slot {
                    resolution: Resolution::Hour,
                    ..*slot
                });
            }
        } else {
            out.push(*slot);
        }
    }
    out
}
