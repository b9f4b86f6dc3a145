//! The evcc-compatible resource: `GET /api/tariff/grid?home=ID`, the
//! upcoming rates in the body evcc's own `/api/tariff/{tariff}` answers
//! (`{"rates":[{"start","end","value"}]}`, evcc's `tariffHandler` in
//! `server/http_site_handler.go` over `api.Rates`), so tools that read
//! prices from evcc (EOS_connect, batcontrol) can point at pricepool
//! unchanged.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Uri};
use axum::response::Response;

use super::answer_query::value;
use super::caching::{cached_body, etag_of, max_age};
use super::extract::find_home;
use super::intervals::next_change;
use super::problem::{ApiError, respond};
use super::query::{DefaultRange, RangeRequest, parse_pairs};
use super::render::rates_json;
use super::state::ApiState;
use crate::upstream::Home;

/// The home `home=` names, or the only home when it is left out.
fn chosen_home(state: &ApiState, pairs: &[(String, String)]) -> Result<Home, ApiError> {
    if let Some(id) = value(pairs, "home") {
        return find_home(state, id);
    }
    let mut homes = state.registry.homes();
    match homes.len() {
        1 => Ok(homes.remove(0)),
        0 => Err(ApiError::Unavailable {
            detail: "no home is known yet".to_string(),
            retry_at: None,
        }),
        _ => Err(ApiError::bad_parameter(
            "home",
            "`home` is required when the service has more than one home; /v1/homes lists them",
        )),
    }
}

/// `GET /api/tariff/grid`: from the interval containing now to the end of
/// local tomorrow, as evcc lists its grid tariff's rates.
pub(crate) async fn tariff_grid(
    State(state): State<ApiState>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let now = state.clock.now();
    let result = async {
        let pairs = parse_pairs(uri.query(), &["home"])?;
        let home = chosen_home(&state, &pairs)?;
        let info = home.info();
        let range = RangeRequest::Default.resolve(info.zone, now, DefaultRange::Upcoming);
        let answer = home.intervals(range.start, range.end).await?;
        let rates = rates_json(&answer.intervals, info.zone);
        let mut body = Vec::with_capacity(rates.len() + 12);
        body.extend_from_slice(b"{\"rates\":");
        body.extend_from_slice(&rates);
        body.push(b'}');
        let body = Bytes::from(body);
        let etag = etag_of(&body);
        let changes_at = next_change(now, &range, answer.is_complete(), answer.retry_at());
        Ok::<Response, ApiError>(cached_body(
            &headers,
            body,
            &etag,
            HeaderValue::from_static("application/json"),
            max_age(now, Some(changes_at)),
        ))
    }
    .await;
    respond(now, result)
}
