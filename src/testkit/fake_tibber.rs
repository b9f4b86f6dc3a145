//! A fake Tibber GraphQL server: real HTTP on a local port, Tibber's wire
//! format, the demo market's prices, a call log and scripted faults.
//!
//! What it understands: `POST` with a JSON body `{"query": …}` or a
//! form-encoded `query=…`; `Authorization: Bearer {token}`; the discovery
//! query (`viewer { homes … }`) and home queries (`viewer { home(id: …) }`)
//! with `priceInfo` (current/today/tomorrow) and `priceInfoRange(first, after
//! | last)` with base64 cursors and `pageInfo`. It always answers every
//! price field; GraphQL selection sets are not interpreted. What is
//! published follows its own settable "now": tomorrow from 13:00 local.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use chrono::{DateTime, Days, Utc};
use serde_json::{Value, json};

use super::fake_server::{self, Running, Script, lock};
use crate::clock::Clock;
use crate::pool::Interval;
use crate::pool::days::{local_date, local_midnight};
use crate::upstream::config::{Secret, TibberConfig};
use crate::upstream::demo::{DemoMarket, DemoZone};

use super::cursor;

/// Tibber's largest page: `first`/`last` above it are capped (one week of
/// quarter-hours). The server's own figure, not the client's.
const PAGE_CAP: usize = 672;

/// The token the fake accepts unless told otherwise.
pub const DEFAULT_TOKEN: &str = "fake-token-5f3c9a";

/// A scripted misbehaviour, applied to one call (`push_fault`) or to every
/// call (`set_fault`).
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// HTTP 429, with `Retry-After: {seconds}` when given.
    RateLimited {
        /// Seconds to send in `Retry-After`; `None` sends no header.
        retry_after: Option<u64>,
    },
    /// HTTP 428, as Tibber sends when it throttles.
    PreconditionRequired,
    /// HTTP 500.
    ServerError,
    /// HTTP 503.
    Unavailable,
    /// HTTP 401.
    Unauthorized,
    /// Waits this long, then answers normally.
    Slow(Duration),
    /// HTTP 200 with an HTML body.
    NonJson,
    /// HTTP 200 with `errors: [{message, extensions: {code}}]` and `data: null`.
    GraphqlError {
        /// `extensions.code`, e.g. `UNAUTHENTICATED`.
        code: String,
        /// The error's message.
        message: String,
    },
    /// The outage mode: `current: null, today: [], tomorrow: []`.
    EmptyData,
    /// HTTP 200 with JSON of the wrong shape.
    Malformed,
    /// Answers normally with every price (total, energy) raised by this
    /// much: the upstream correcting prices it had published.
    CorrectedPrices(f64),
    /// Answers normally plus `count` quarter-hour nodes from `from` priced
    /// `total`, in `priceInfo.tomorrow` when the answer has `priceInfo`,
    /// else in `priceInfoRange.nodes`: intervals nobody asked for.
    ExtraNodes {
        /// Start of the first extra node.
        from: DateTime<Utc>,
        /// How many extra nodes.
        count: usize,
        /// Their `total` (and `energy`).
        total: f64,
    },
    /// Answers normally with the first node of every node list repeated,
    /// the copy priced at this `total`.
    DuplicateNode(f64),
    /// Answers normally with every node's `currency` set to this.
    Currency(String),
    /// The normal answer after `bytes` of leading whitespace (valid JSON),
    /// streamed chunk by chunk; `Content-Length` is sent when `declared`,
    /// else the body is chunked.
    Oversized {
        /// Bytes of padding before the answer.
        bytes: u64,
        /// Whether to announce the length up front.
        declared: bool,
    },
    /// HTTP 307 to this URL.
    Redirect(String),
}

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct Call {
    /// When it arrived (Tokio's clock, real time unless paused).
    pub at: tokio::time::Instant,
    /// The GraphQL query text (empty when the body was unreadable).
    pub query: String,
    /// Whether the bearer token was the accepted one.
    pub authorized: bool,
    /// Value of the `User-Agent` header.
    pub user_agent: Option<String>,
    /// Value of the `Content-Type` header.
    pub content_type: Option<String>,
    /// The fault applied, if any.
    pub fault: Option<Fault>,
}

struct FakeState {
    market: DemoMarket,
    token: String,
    /// The fake's own wall clock; decides what is published. std Mutex,
    /// never held across `.await`.
    clock: Mutex<Clock>,
    /// Scripted faults, one per call, then `persistent`.
    faults: Script<Fault>,
    /// Whether `after` includes the cursor's own instant.
    after_inclusive: Mutex<bool>,
    calls: Mutex<Vec<Call>>,
}

/// A running fake server. Stops when dropped.
pub struct FakeTibber {
    url: String,
    address: SocketAddr,
    state: Arc<FakeState>,
    _server: Running,
}

impl FakeTibber {
    /// A fake on 127.0.0.1 at a free port, accepting [`DEFAULT_TOKEN`], its
    /// clock running from the real time.
    pub async fn start() -> std::io::Result<FakeTibber> {
        FakeTibber::start_on(fake_server::local_address(), DEFAULT_TOKEN).await
    }

    /// A fake listening on `address`, accepting `token`.
    pub async fn start_on(address: SocketAddr, token: &str) -> std::io::Result<FakeTibber> {
        let state = Arc::new(FakeState {
            market: DemoMarket::new(),
            token: token.to_string(),
            clock: Mutex::new(Clock::system()),
            faults: Script::new(),
            after_inclusive: Mutex::new(false),
            calls: Mutex::new(Vec::new()),
        });
        let app = Router::new()
            .route("/", post(graphql))
            .route("/v1-beta/gql", post(graphql))
            .with_state(state.clone());
        let server = fake_server::serve(address, app, "tibber").await?;
        let address = server.address;
        Ok(FakeTibber {
            url: format!("http://{address}/v1-beta/gql"),
            address,
            state,
            _server: server,
        })
    }

    /// The GraphQL endpoint URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The bound address.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The accepted token.
    pub fn token(&self) -> &str {
        &self.state.token
    }

    /// A `TibberConfig` pointing at this fake with its token and a 5 s request timeout.
    pub fn tibber_config(&self) -> TibberConfig {
        TibberConfig {
            url: self.url.clone(),
            token: Secret::new(self.state.token.clone()),
            request_timeout: Duration::from_secs(5),
        }
    }

    /// The market whose prices it serves.
    pub fn market(&self) -> &DemoMarket {
        &self.state.market
    }

    /// Sets the fake's "now" (it keeps running from there).
    pub fn set_now(&self, now: DateTime<Utc>) {
        *lock(&self.state.clock) = Clock::starting_at(now);
    }

    /// The fake's "now".
    pub fn now(&self) -> DateTime<Utc> {
        lock(&self.state.clock).now()
    }

    /// Applies `fault` to the next call that has no earlier scripted fault.
    pub fn push_fault(&self, fault: Fault) {
        self.state.faults.push(fault);
    }

    /// Applies `fault` to every call after the scripted ones; `None` heals.
    pub fn set_fault(&self, fault: Option<Fault>) {
        self.state.faults.set(fault);
    }

    /// Chooses the reading of `after`: inclusive (the cursor's own instant
    /// is returned again) or exclusive (default).
    pub fn set_after_inclusive(&self, inclusive: bool) {
        *lock(&self.state.after_inclusive) = inclusive;
    }

    /// Every call so far, in arrival order.
    pub fn calls(&self) -> Vec<Call> {
        lock(&self.state.calls).clone()
    }

    /// How many calls arrived.
    pub fn call_count(&self) -> usize {
        lock(&self.state.calls).len()
    }

    /// Forgets the call log.
    pub fn clear_calls(&self) {
        lock(&self.state.calls).clear();
    }
}

async fn graphql(State(state): State<Arc<FakeState>>, headers: HeaderMap, body: Bytes) -> Response {
    let header_text = |name: header::HeaderName| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let content_type = header_text(header::CONTENT_TYPE);
    let query = query_of(&body, content_type.as_deref());
    let authorized =
        header_text(header::AUTHORIZATION).is_some_and(|v| v == format!("Bearer {}", state.token));
    let fault = state.faults.next();
    lock(&state.calls).push(Call {
        at: tokio::time::Instant::now(),
        query: query.clone().unwrap_or_default(),
        authorized,
        user_agent: header_text(header::USER_AGENT),
        content_type,
        fault: fault.clone(),
    });

    let mut empty_data = false;
    let mut reshape = None;
    match fault {
        Some(Fault::RateLimited { retry_after }) => {
            let mut response = (StatusCode::TOO_MANY_REQUESTS, "too many requests").into_response();
            if let Some(seconds) = retry_after {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, seconds.into());
            }
            return response;
        }
        Some(Fault::PreconditionRequired) => {
            return (StatusCode::PRECONDITION_REQUIRED, "slow down").into_response();
        }
        Some(Fault::ServerError) => {
            return (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response();
        }
        Some(Fault::Unavailable) => {
            return (StatusCode::SERVICE_UNAVAILABLE, "unavailable").into_response();
        }
        Some(Fault::Unauthorized) => {
            return (StatusCode::UNAUTHORIZED, "unauthorized").into_response();
        }
        Some(Fault::NonJson) => {
            return (
                [(header::CONTENT_TYPE, "text/html")],
                "<html><body>502 Bad Gateway</body></html>",
            )
                .into_response();
        }
        Some(Fault::GraphqlError { code, message }) => {
            return axum::Json(json!({"errors": [{"message": message, "extensions": {"code": code}}], "data": null}))
                .into_response();
        }
        Some(Fault::Malformed) => {
            return axum::Json(json!({"data": {"viewer": 42}})).into_response();
        }
        Some(Fault::Redirect(location)) => {
            return (
                StatusCode::TEMPORARY_REDIRECT,
                [(header::LOCATION, location)],
            )
                .into_response();
        }
        Some(Fault::Slow(delay)) => tokio::time::sleep(delay).await,
        Some(Fault::EmptyData) => empty_data = true,
        Some(other) => reshape = Some(other),
        None => {}
    }
    if !authorized {
        return axum::Json(json!({
            "errors": [{"message": "invalid token", "extensions": {"code": "UNAUTHENTICATED"}}],
            "data": null
        }))
        .into_response();
    }
    let Some(query) = query else {
        return (StatusCode::BAD_REQUEST, axum::Json(json!({"errors": [{"message": "no query", "extensions": {"code": "GRAPHQL_PARSE_FAILED"}}]}))).into_response();
    };
    let now = lock(&state.clock).now();
    let after_inclusive = *lock(&state.after_inclusive);
    let mut answer = answer(&state.market, &query, now, after_inclusive, empty_data);
    match reshape {
        Some(Fault::CorrectedPrices(add)) => correct_prices(&mut answer, add),
        Some(Fault::ExtraNodes { from, count, total }) => {
            add_nodes(&mut answer, from, count, total)
        }
        Some(Fault::DuplicateNode(total)) => duplicate_first_nodes(&mut answer, total),
        Some(Fault::Currency(currency)) => set_currency(&mut answer, &currency),
        Some(Fault::Oversized { bytes, declared }) => return padded(&answer, bytes, declared),
        _ => {}
    }
    axum::Json(answer).into_response()
}

/// The node lists of an answer: `priceInfo.today`/`tomorrow` and `priceInfoRange.nodes`.
fn node_lists(answer: &mut Value) -> Vec<&mut Vec<Value>> {
    let Some(Value::Object(subscription)) =
        answer.pointer_mut("/data/viewer/home/currentSubscription")
    else {
        return Vec::new();
    };
    let mut lists = Vec::new();
    for (key, value) in subscription.iter_mut() {
        let parent = match key.as_str() {
            "priceInfo" | "priceInfoRange" => value,
            _ => continue,
        };
        if let Value::Object(fields) = parent {
            for (name, list) in fields.iter_mut() {
                if let ("today" | "tomorrow" | "nodes", Value::Array(nodes)) = (name.as_str(), list)
                {
                    lists.push(nodes);
                }
            }
        }
    }
    lists
}

/// Appends `count` quarter-hour nodes from `from` (see [`Fault::ExtraNodes`]).
fn add_nodes(answer: &mut Value, from: DateTime<Utc>, count: usize, total: f64) {
    let target = if answer
        .pointer("/data/viewer/home/currentSubscription/priceInfo/tomorrow")
        .is_some()
    {
        "/data/viewer/home/currentSubscription/priceInfo/tomorrow"
    } else {
        "/data/viewer/home/currentSubscription/priceInfoRange/nodes"
    };
    if let Some(Value::Array(nodes)) = answer.pointer_mut(target) {
        let currency = nodes
            .first()
            .map_or(json!("EUR"), |n| n["currency"].clone());
        nodes.extend((0..count).map(|i| {
            let starts_at = from + chrono::Duration::minutes(15 * i as i64);
            json!({"startsAt": starts_at.to_rfc3339(), "total": total, "energy": total,
                   "tax": 0.0, "level": "NORMAL", "currency": currency})
        }));
    }
}

/// Repeats the first node of every list, the copy priced at `total`.
fn duplicate_first_nodes(answer: &mut Value, total: f64) {
    for nodes in node_lists(answer) {
        if let Some(first) = nodes.first() {
            let mut copy = first.clone();
            copy["total"] = json!(total);
            nodes.push(copy);
        }
    }
}

/// Sets every node's `currency`.
fn set_currency(answer: &mut Value, currency: &str) {
    for nodes in node_lists(answer) {
        for node in nodes.iter_mut() {
            node["currency"] = json!(currency);
        }
    }
}

/// `answer` after `bytes` of whitespace, streamed without holding it.
fn padded(answer: &Value, bytes: u64, declared: bool) -> Response {
    use tokio::io::AsyncReadExt;
    let tail = answer.to_string().into_bytes();
    let length = bytes + tail.len() as u64;
    let reader = tokio::io::repeat(b' ')
        .take(bytes)
        .chain(std::io::Cursor::new(tail));
    let body = axum::body::Body::from_stream(tokio_util::io::ReaderStream::with_capacity(
        reader,
        64 * 1024,
    ));
    let mut response = ([(header::CONTENT_TYPE, "application/json")], body).into_response();
    if declared {
        response
            .headers_mut()
            .insert(header::CONTENT_LENGTH, length.into());
    }
    response
}

/// Raises `total` and `energy` of every price node in `value` by `add`.
fn correct_prices(value: &mut Value, add: f64) {
    match value {
        Value::Object(object) => {
            if object.contains_key("startsAt") {
                for field in ["total", "energy"] {
                    if let Some(price) = object.get(field).and_then(Value::as_f64) {
                        object.insert(field.into(), json!(price + add));
                    }
                }
            }
            object.values_mut().for_each(|v| correct_prices(v, add));
        }
        Value::Array(items) => items.iter_mut().for_each(|v| correct_prices(v, add)),
        _ => {}
    }
}

/// The query of a JSON body or a form-encoded `query=`.
fn query_of(body: &[u8], content_type: Option<&str>) -> Option<String> {
    let from_json = || {
        serde_json::from_slice::<Value>(body)
            .ok()?
            .get("query")?
            .as_str()
            .map(str::to_string)
    };
    let from_form = || {
        serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
            .ok()?
            .into_iter()
            .find(|(k, _)| k == "query")
            .map(|(_, v)| v)
    };
    if content_type.is_some_and(|c| c.starts_with("application/x-www-form-urlencoded")) {
        from_form().or_else(from_json)
    } else {
        from_json().or_else(from_form)
    }
}

fn answer(
    market: &DemoMarket,
    query: &str,
    now: DateTime<Utc>,
    after_inclusive: bool,
    empty_data: bool,
) -> Value {
    if query.contains("homes") {
        let homes: Vec<Value> = market
            .zones()
            .iter()
            .map(|zone| {
                json!({
                    "id": zone.home_id,
                    "timeZone": zone.zone.name(),
                    "currentSubscription": {"status": "running", "priceInfo": {"current": {"currency": zone.currency}}}
                })
            })
            .collect();
        return json!({"data": {"viewer": {"homes": homes}}});
    }
    let Some(home_id) = string_arg(query, "home(", "id") else {
        return json!({"errors": [{"message": "unsupported query", "extensions": {"code": "GRAPHQL_VALIDATION_FAILED"}}], "data": null});
    };
    let Some(zone) = market.zone(&home_id) else {
        return json!({
            "errors": [{"message": "Could not find home", "extensions": {"code": "NOT_FOUND"}}],
            "data": {"viewer": {"home": null}}
        });
    };
    let mut subscription = serde_json::Map::new();
    subscription.insert("status".into(), json!("running"));
    if query.contains("priceInfo(") || query.contains("priceInfo {") || query.contains("priceInfo{")
    {
        subscription.insert(
            "priceInfo".into(),
            price_info(market, zone, now, empty_data),
        );
    }
    if query.contains("priceInfoRange") {
        subscription.insert(
            "priceInfoRange".into(),
            price_info_range(market, zone, query, now, after_inclusive),
        );
    }
    json!({"data": {"viewer": {"home": {"id": zone.home_id, "timeZone": zone.zone.name(), "currentSubscription": subscription}}}})
}

fn price_info(market: &DemoMarket, zone: &DemoZone, now: DateTime<Utc>, empty_data: bool) -> Value {
    if empty_data {
        return json!({"current": null, "today": [], "tomorrow": []});
    }
    let today = local_date(zone.zone, now);
    let tomorrow = today.checked_add_days(Days::new(1)).unwrap_or(today);
    let today_prices = market.day(zone, today);
    let current = today_prices
        .iter()
        .find(|iv| iv.starts_at() <= now && now < iv.ends_at())
        .map(|iv| node(iv, zone));
    let tomorrow_prices = market.intervals(
        zone,
        local_midnight(zone.zone, tomorrow),
        local_midnight(
            zone.zone,
            tomorrow.checked_add_days(Days::new(1)).unwrap_or(tomorrow),
        ),
        now,
    );
    json!({
        "current": current,
        "today": today_prices.iter().map(|iv| node(iv, zone)).collect::<Vec<_>>(),
        "tomorrow": tomorrow_prices.iter().map(|iv| node(iv, zone)).collect::<Vec<_>>(),
    })
}

/// `priceInfoRange(first: N, after: C)` or `(last: N)`, capped at 672, over
/// what is published at `now`.
fn price_info_range(
    market: &DemoMarket,
    zone: &DemoZone,
    query: &str,
    now: DateTime<Utc>,
    after_inclusive: bool,
) -> Value {
    let published_until = market.published_until(zone.zone, now);
    let first = number_arg(query, "priceInfoRange(", "first");
    let last = number_arg(query, "priceInfoRange(", "last");
    let after = string_arg(query, "priceInfoRange(", "after").and_then(|c| cursor::decode(&c));
    let mut nodes: Vec<Interval> = Vec::new();
    let mut has_next = false;
    if let Some(last) = last.filter(|_| first.is_none()) {
        let today_start = local_midnight(zone.zone, local_date(zone.zone, now));
        let wanted = last.min(PAGE_CAP);
        let mut date = local_date(zone.zone, today_start - chrono::Duration::seconds(1));
        while nodes.len() < wanted {
            let mut day = market.day(zone, date);
            day.retain(|iv| iv.starts_at() < today_start);
            day.append(&mut nodes);
            nodes = day;
            match date.checked_sub_days(Days::new(1)) {
                Some(previous) => date = previous,
                None => break,
            }
        }
        let surplus = nodes.len().saturating_sub(wanted);
        nodes.drain(..surplus);
    } else {
        let wanted = first.unwrap_or(PAGE_CAP).min(PAGE_CAP);
        let from = after.unwrap_or(local_midnight(zone.zone, local_date(zone.zone, now)));
        let mut date = local_date(zone.zone, from);
        while nodes.len() <= wanted && local_midnight(zone.zone, date) < published_until {
            nodes.extend(market.day(zone, date).into_iter().filter(|iv| {
                (if after_inclusive || after.is_none() {
                    iv.starts_at() >= from
                } else {
                    iv.starts_at() > from
                }) && iv.starts_at() < published_until
            }));
            match date.checked_add_days(Days::new(1)) {
                Some(next) => date = next,
                None => break,
            }
        }
        if nodes.len() > wanted {
            nodes.truncate(wanted);
            has_next = true;
        }
    }
    let end_cursor = nodes
        .last()
        .map(|iv| cursor::encode(iv.starts_at(), zone.zone));
    let rendered: Vec<Value> = nodes.iter().map(|iv| node(iv, zone)).collect();
    let mut range = json!({"pageInfo": {"endCursor": end_cursor, "hasNextPage": has_next}});
    // Connections offer `edges { node }` as well as `nodes`; render what was asked.
    if query.contains("edges") {
        range["edges"] = rendered
            .iter()
            .map(|n| json!({"node": n}))
            .collect::<Vec<_>>()
            .into();
    }
    range["nodes"] = rendered.into();
    range
}

fn node(interval: &Interval, zone: &DemoZone) -> Value {
    json!({
        "startsAt": interval.starts_at().with_timezone(&zone.zone).format("%Y-%m-%dT%H:%M:%S%.3f%:z").to_string(),
        "total": interval.total,
        "energy": interval.energy,
        "tax": interval.tax,
        "level": interval.level.map(|l| l.as_str()),
        "currency": zone.currency,
    })
}

/// The text of `name: …` inside the first `(…)` after `call`.
fn arg_text<'q>(query: &'q str, call: &str, name: &str) -> Option<&'q str> {
    let open = query.find(call)? + call.len();
    let close = open + query[open..].find(')')?;
    let args = &query[open..close];
    let mut rest = args;
    loop {
        let at = rest.find(name)?;
        let before_ok = at == 0 || !rest.as_bytes()[at - 1].is_ascii_alphanumeric();
        let after = rest[at + name.len()..].trim_start();
        if before_ok && let Some(value) = after.strip_prefix(':') {
            return Some(value.trim_start());
        }
        rest = &rest[at + name.len()..];
    }
}

fn string_arg(query: &str, call: &str, name: &str) -> Option<String> {
    let text = arg_text(query, call, name)?;
    let body = text.strip_prefix('"')?;
    let end = body.find('"')?;
    Some(body[..end].to_string())
}

fn number_arg(query: &str, call: &str, name: &str) -> Option<usize> {
    let text = arg_text(query, call, name)?;
    let digits: String = text.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_are_read_from_the_named_call() {
        let query = r#"{ viewer { home(id: "demo") { currentSubscription { priceInfoRange(resolution: QUARTER_HOURLY, first: 193, after: "abc=") { nodes { total } } } } } }"#;
        assert_eq!(string_arg(query, "home(", "id").as_deref(), Some("demo"));
        assert_eq!(number_arg(query, "priceInfoRange(", "first"), Some(193));
        assert_eq!(
            string_arg(query, "priceInfoRange(", "after").as_deref(),
            Some("abc=")
        );
        assert_eq!(number_arg(query, "priceInfoRange(", "last"), None);
    }

    #[test]
    fn form_encoded_and_json_bodies_carry_the_query() {
        assert_eq!(
            query_of(br#"{"query":"{ viewer }"}"#, Some("application/json")).as_deref(),
            Some("{ viewer }")
        );
        assert_eq!(
            query_of(
                b"query=%7B+viewer+%7D",
                Some("application/x-www-form-urlencoded")
            )
            .as_deref(),
            Some("{ viewer }")
        );
    }
}
