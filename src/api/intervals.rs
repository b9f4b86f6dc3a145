//! The handlers of the range resource: `/v1/homes/{home_id}/intervals`,
//! `/intervals/current` and `/rates`. Each reads the clock once, resolves
//! the range in the home's zone, serves a kept rendering or asks the home
//! (which fetches what is missing), and renders; errors become problem
//! bodies at that instant (so `Retry-After` agrees with `--now`).

use axum::body::Body;
use axum::extract::State;
use axum::response::Response;
use chrono::{DateTime, TimeDelta, Utc};

use super::answer_query::wants_hourly;
use super::caching::EtagText;
use super::caching::{MAX_AGE_CAP_SECONDS, cached_json, cached_json_with_etag, max_age};
use super::day_chunks::{self, Day, Served};
use super::dto::{CurrentBody, IntervalView, local_rfc3339};
use super::extract::{HomeRequest, find_home};
use super::problem::{ApiError, respond};
use super::query::{DefaultRange, ResolvedRange, parse_pairs, parse_range};
use super::rates_chunks::rates_from_chunks;
use super::render::{IntervalsJson, rates_json};
use super::render_cache::{Found, Rendered, View, count};
use super::state::ApiState;
use crate::answers::hourly_means;
use crate::pool::{HomeInfo, Interval, QUARTER_SECONDS};

/// Query parameters of `/intervals` and `/rates`: the range and `resolution`.
const INTERVAL_PARAMETERS: &[&str] = &["start", "end", "date", "resolution"];
use crate::upstream::{Answer, Home};

/// Renders an answer's body with a range endpoint's `render`: over the
/// intervals, or over each local hour's mean when `hourly`.
type RenderAnswer<'r> =
    &'r (dyn Fn(&HomeInfo, &ResolvedRange, &Answer, &[Interval]) -> Vec<u8> + Sync);

/// Answers a range endpoint: resolves the home and range of `request` at
/// `now`, then serves the kept rendering of `view` when the home's pool is
/// still at the revision it was rendered from (a complete answer then, as
/// the content is the same: no copy of the intervals, no upstream), else
/// asks the home (fetching what is missing) and renders the answer with
/// `render`. An `/intervals` body over whole local days is assembled from
/// day chunks instead (`day_chunks`). An upstream failure with nothing
/// cached is an error.
async fn range_response(
    state: &ApiState,
    request: &HomeRequest,
    now: DateTime<Utc>,
    default: DefaultRange,
    view: View,
    render: RenderAnswer<'_>,
) -> Result<Response, ApiError> {
    let home = find_home(state, &request.home_id)?;
    let pairs = parse_pairs(request.query.as_deref(), INTERVAL_PARAMETERS)?;
    let info = home.info();
    let range = parse_range(&pairs)?.resolve(info.zone, now, default);
    let hourly = wants_hourly(&pairs)?;
    let view = view.hourly_if(hourly);
    let (body, etag, complete, retry_at) = match kept(state, &home, &info, &range, view) {
        Some(hit) => hit,
        None => match day_chunks_of(view, &info, &range) {
            Some(days) => match day_chunks::serve(state, &home, &info, &range, &days).await? {
                Served::Body(body, etag) => (Body::from(body), etag, true, None),
                Served::Incomplete(answer) => {
                    let rendered =
                        Rendered::new(render_answer(&info, &range, &answer, hourly, render));
                    let etag = rendered.etag();
                    (Body::from(rendered.body), etag, false, answer.retry_at())
                }
            },
            None => {
                let (rendered, complete, retry_at) =
                    whole_body(state, &home, (&info, &range), view, hourly, render).await?;
                let etag = rendered.etag();
                (Body::from(rendered.body), etag, complete, retry_at)
            }
        },
    };
    let max_age_seconds = max_age(now, Some(next_change(now, &range, complete, retry_at)));
    Ok(cached_json_with_etag(
        &request.if_none_match,
        body,
        etag.as_str(),
        max_age_seconds,
    ))
}

/// The kept body of `view` over `range` (whole or assembled from day
/// chunks; `/rates` also copied out of the kept day chunks) at the home's
/// revision: a complete answer, found with a lookup per part. Counted as
/// a hit; a miss is counted where it is rendered.
fn kept(
    state: &ApiState,
    home: &Home,
    info: &HomeInfo,
    range: &ResolvedRange,
    view: View,
) -> Option<(Body, EtagText, bool, Option<DateTime<Utc>>)> {
    let revision = home.revision();
    let cache = &state.render_cache;
    let found = match cache.find(view, info, (range.start, range.end), revision) {
        Some(found) => found,
        None if view == View::Rates => {
            Found::Body(rates_from_chunks(cache, info, range, revision)?)
        }
        None => return None,
    };
    count(true);
    home.record_reuse();
    Some(match found {
        Found::Body(rendered) => {
            let etag = rendered.etag();
            (Body::from(rendered.body), etag, true, None)
        }
        Found::Assembly { head, chunks, hash } => (
            Body::from(day_chunks::body_of(head, chunks)),
            EtagText::of(hash),
            true,
            None,
        ),
    })
}

/// The local days an `/intervals` body over `range` is assembled from,
/// when it is one over whole local days (`day_chunks`).
fn day_chunks_of(view: View, info: &HomeInfo, range: &ResolvedRange) -> Option<Vec<Day>> {
    match view {
        View::Intervals => day_chunks::local_days(info.zone, range.start, range.end),
        _ => None,
    }
}

/// A range body rendered whole (after [`kept`] missed), kept when the
/// answer is complete. With whether it is complete and when asking again
/// may fill it.
async fn whole_body(
    state: &ApiState,
    home: &Home,
    (info, range): (&HomeInfo, &ResolvedRange),
    view: View,
    hourly: bool,
    render: RenderAnswer<'_>,
) -> Result<(Rendered, bool, Option<DateTime<Utc>>), ApiError> {
    count(false);
    let answer = home.intervals(range.start, range.end).await?;
    // Only a complete cache hit is what a kept body may stand for.
    let span = (range.start, range.end);
    let rendered = state
        .render_cache
        .render_and_keep(view, info, span, answer.revision(), || {
            render_answer(info, range, &answer, hourly, render)
        });
    Ok((rendered, answer.is_complete(), answer.retry_at()))
}

/// `render` over the answer's intervals, or their hourly means.
fn render_answer(
    info: &HomeInfo,
    range: &ResolvedRange,
    answer: &Answer,
    hourly: bool,
    render: RenderAnswer<'_>,
) -> Vec<u8> {
    if hourly {
        let hours = hourly_means(&answer.intervals, info.zone);
        render(info, range, answer, &hours)
    } else {
        render(info, range, answer, &answer.intervals)
    }
}

/// The next moment an answer over `range` can change, as seen at `now`:
/// when the range moves, and for an incomplete answer when asking again
/// may fill it.
pub(crate) fn next_change(
    now: DateTime<Utc>,
    range: &ResolvedRange,
    complete: bool,
    retry_at: Option<DateTime<Utc>>,
) -> DateTime<Utc> {
    let mut next = now + TimeDelta::seconds(MAX_AGE_CAP_SECONDS);
    if let Some(moves_at) = range.moves_at {
        next = next.min(moves_at);
    }
    if !complete {
        // Unknown retry time: a minute, so a poller notices new data soon.
        next = next.min(retry_at.unwrap_or(now + TimeDelta::seconds(60)));
    }
    next
}

/// `GET /v1/homes/{home_id}/intervals` (`resolution=hour`: each local hour's mean).
pub(crate) async fn intervals(State(state): State<ApiState>, request: HomeRequest) -> Response {
    let now = state.clock.now();
    let result = range_response(
        &state,
        &request,
        now,
        DefaultRange::Today,
        View::Intervals,
        &|info, range, answer, intervals| {
            let shortfall = answer.shortfall();
            let reason = shortfall.map(|s| s.reason.describe());
            IntervalsJson {
                intervals,
                complete: shortfall.is_none(),
                reason: reason.as_deref(),
                retry_at: answer.retry_at(),
                missing: shortfall.map(|s| s.missing.as_slice()),
                ..day_chunks::frame(info, range)
            }
            .render()
        },
    )
    .await;
    respond(now, result)
}

/// `GET /v1/homes/{home_id}/rates`: the evcc view.
pub(crate) async fn rates(State(state): State<ApiState>, request: HomeRequest) -> Response {
    let now = state.clock.now();
    let result = range_response(
        &state,
        &request,
        now,
        DefaultRange::Upcoming,
        View::Rates,
        &|info, _, _, intervals| rates_json(intervals, info.zone),
    )
    .await;
    respond(now, result)
}

/// `GET /v1/homes/{home_id}/intervals/current`: the interval containing now.
pub(crate) async fn current(State(state): State<ApiState>, request: HomeRequest) -> Response {
    let now = state.clock.now();
    let result = async {
        let home = find_home(&state, &request.home_id)?;
        parse_pairs(request.query.as_deref(), &[])?;
        // An hourly interval containing now starts at most 45 minutes before now's quarter.
        let quarter_start = now.timestamp() - now.timestamp().rem_euclid(QUARTER_SECONDS);
        let quarter_start = DateTime::from_timestamp(quarter_start, 0).unwrap_or(now);
        let range = ResolvedRange {
            start: quarter_start - TimeDelta::minutes(45),
            end: quarter_start + TimeDelta::minutes(15),
            moves_at: None,
        };
        let answer = home.intervals(range.start, range.end).await?;
        let found: Option<&Interval> = answer
            .intervals
            .iter()
            .find(|interval| interval.starts_at() <= now && now < interval.ends_at());
        let Some(interval) = found else {
            return Err(match answer.shortfall() {
                None => ApiError::NoCurrentInterval(now),
                Some(shortfall) => ApiError::Unavailable {
                    detail: shortfall.reason.describe(),
                    retry_at: shortfall.retry_at,
                },
            });
        };
        let info = home.info();
        let body = CurrentBody {
            home_id: info.id,
            currency: info.currency,
            now: local_rfc3339(now, info.zone),
            interval: IntervalView::new(interval, info.zone),
        };
        let seconds = max_age(now, Some(interval.ends_at()));
        Ok(cached_json(&request.if_none_match, &body, seconds))
    }
    .await;
    respond(now, result)
}
