//! The handlers of the answer resources: `/v1/homes/{home_id}/cheapest`
//! and `/summary`. Each parses its parameters strictly, asks the home for
//! the range (fetching what is missing), hands the intervals to the pure
//! computations in `crate::answers`, and renders in the home's offset with
//! an `ETag` and a max-age that ends when the answer can change.

use axum::extract::State;
use axum::response::Response;
use chrono::{DateTime, Utc};

use super::answer_query::{duration, flag, iso8601};
use super::caching::{cached_json, max_age};
use super::dto::{
    CheapestBody, DayView, ExtremeView, SlotView, SummaryBody, WindowView, local_rfc3339,
};
use super::extract::{HomeRequest, find_home};
use super::intervals::next_change;
use super::problem::{ApiError, respond};
use super::query::{DefaultRange, RANGE_PARAMETERS, ResolvedRange, parse_pairs, parse_range};
use super::state::ApiState;
use crate::answers::cheapest::check_duration;
use crate::answers::{CheapestError, DaySummary, Extreme, WindowQuery, cheapest, summarize};
use crate::pool::HomeInfo;
use crate::upstream::{Answer, Home};

/// Query parameters of `/cheapest`.
const CHEAPEST_PARAMETERS: &[&str] = &["start", "end", "date", "duration", "contiguous", "highest"];

/// Query parameters of `/summary`: the range.
const SUMMARY_PARAMETERS: &[&str] = RANGE_PARAMETERS;

/// A parsed per-home request: the home, its identity, the query pairs and
/// the range resolved in its zone.
struct Asked {
    home: Home,
    info: HomeInfo,
    pairs: Vec<(String, String)>,
    range: ResolvedRange,
}

/// Resolves the home and range of `request` at `now`, refusing any
/// parameter outside `allowed`.
fn parse_request(
    state: &ApiState,
    request: &HomeRequest,
    now: DateTime<Utc>,
    allowed: &[&str],
    default: DefaultRange,
) -> Result<Asked, ApiError> {
    let home = find_home(state, &request.home_id)?;
    let pairs = parse_pairs(request.query.as_deref(), allowed)?;
    let info = home.info();
    let range = parse_range(&pairs)?.resolve(info.zone, now, default);
    Ok(Asked {
        home,
        info,
        pairs,
        range,
    })
}

/// A search that cannot run is the client's `duration` at fault.
fn duration_refused(error: CheapestError) -> ApiError {
    ApiError::bad_parameter("duration", error.to_string())
}

/// Seconds a client may keep an answer over `range` computed at `now`.
fn answer_max_age(now: DateTime<Utc>, range: &ResolvedRange, answer: &Answer) -> i64 {
    max_age(
        now,
        Some(next_change(
            now,
            range,
            answer.is_complete(),
            answer.retry_at(),
        )),
    )
}

/// `GET /v1/homes/{home_id}/cheapest`: the cheapest (or dearest) window of
/// `duration`, by default from now to the end of local tomorrow.
pub(crate) async fn cheapest_window(
    State(state): State<ApiState>,
    request: HomeRequest,
) -> Response {
    let now = state.clock.now();
    let result = async {
        let asked = parse_request(
            &state,
            &request,
            now,
            CHEAPEST_PARAMETERS,
            DefaultRange::Upcoming,
        )?;
        let Asked {
            home,
            info,
            pairs,
            range,
        } = asked;
        let query = WindowQuery {
            duration: duration(&pairs)?,
            contiguous: flag(&pairs, "contiguous", true)?,
            highest: flag(&pairs, "highest", false)?,
        };
        // What can be refused without the prices is refused before asking the upstream.
        check_duration(&[], range.start, range.end, query.duration).map_err(duration_refused)?;
        let answer = home.intervals(range.start, range.end).await?;
        let pick =
            cheapest(&answer.intervals, range.start, range.end, query).map_err(duration_refused)?;
        let zone = info.zone;
        let (windows, slots, mean) = match pick {
            Some(pick) => (pick.windows, pick.slots, Some(pick.mean)),
            None => (Vec::new(), Vec::new(), None),
        };
        let body = CheapestBody {
            home_id: info.id,
            currency: info.currency,
            start: local_rfc3339(range.start, zone),
            end: local_rfc3339(range.end, zone),
            duration: iso8601(query.duration),
            complete: answer.is_complete(),
            mean,
            windows: windows
                .iter()
                .map(|window| WindowView {
                    start: local_rfc3339(window.start, zone),
                    end: local_rfc3339(window.end, zone),
                    mean: window.mean,
                })
                .collect(),
            slots: slots
                .iter()
                .map(|slot| SlotView {
                    starts_at: local_rfc3339(slot.starts_at(), zone),
                    ends_at: local_rfc3339(slot.ends_at(), zone),
                    total: slot.total,
                })
                .collect(),
            reason: answer.reason().map(|reason| reason.describe()),
            retry_at: answer.retry_at().map(|t| local_rfc3339(t, zone)),
        };
        Ok(cached_json(
            &request.if_none_match,
            &body,
            answer_max_age(now, &range, &answer),
        ))
    }
    .await;
    respond(now, result)
}

/// `GET /v1/homes/{home_id}/summary`: min, max, mean and median per local
/// day, by default today and tomorrow.
pub(crate) async fn summary(State(state): State<ApiState>, request: HomeRequest) -> Response {
    let now = state.clock.now();
    let result = async {
        let Asked {
            home, info, range, ..
        } = parse_request(
            &state,
            &request,
            now,
            SUMMARY_PARAMETERS,
            DefaultRange::TodayAndTomorrow,
        )?;
        let answer = home.intervals(range.start, range.end).await?;
        let zone = info.zone;
        let days = summarize(&answer.intervals, zone, range.start, range.end);
        let extreme = |extreme: Option<Extreme>| {
            extreme.map(|e| ExtremeView {
                total: e.total,
                starts_at: local_rfc3339(e.starts_at, zone),
            })
        };
        let day_view = |day: DaySummary| DayView {
            date: day.date.format("%Y-%m-%d").to_string(),
            complete: day.complete,
            count: day.count,
            min: extreme(day.min),
            max: extreme(day.max),
            mean: day.mean,
            median: day.median,
        };
        let body = SummaryBody {
            home_id: info.id,
            currency: info.currency,
            start: local_rfc3339(range.start, zone),
            end: local_rfc3339(range.end, zone),
            complete: answer.is_complete(),
            reason: answer.reason().map(|reason| reason.describe()),
            retry_at: answer.retry_at().map(|t| local_rfc3339(t, zone)),
            days: days.into_iter().map(day_view).collect(),
        };
        Ok(cached_json(
            &request.if_none_match,
            &body,
            answer_max_age(now, &range, &answer),
        ))
    }
    .await;
    respond(now, result)
}
