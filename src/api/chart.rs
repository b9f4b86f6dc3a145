//! The chart resource: `GET /v1/homes/{home_id}/chart.svg?date=…`, a local
//! day's prices as an SVG step chart (drawn by `crate::answers::chart`),
//! with an `ETag` and a max-age that ends when the now marker moves.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderValue;
use axum::response::Response;
use chrono::{DateTime, TimeDelta, Utc};

use super::caching::{MAX_AGE_CAP_SECONDS, cached_body, etag_of, max_age};
use super::extract::{HomeRequest, find_home};
use super::problem::{ApiError, respond};
use super::query::{DefaultRange, parse_pairs, parse_range};
use super::state::ApiState;
use crate::answers::DayChart;
use crate::pool::days::local_date;

/// How often the now marker moves: it is drawn at now rounded down to
/// this many seconds, so a chart of today stays cacheable that long.
const NOW_STEP_SECONDS: i64 = 300;

/// `now` rounded down to [`NOW_STEP_SECONDS`].
pub(crate) fn marker_now(now: DateTime<Utc>) -> DateTime<Utc> {
    let floor = now.timestamp() - now.timestamp().rem_euclid(NOW_STEP_SECONDS);
    DateTime::from_timestamp(floor, 0).unwrap_or(now)
}

/// `GET /v1/homes/{home_id}/chart.svg`: `date=today|tomorrow|YYYY-MM-DD`,
/// today by default.
pub(crate) async fn chart_svg(State(state): State<ApiState>, request: HomeRequest) -> Response {
    let now = state.clock.now();
    let result = async {
        let home = find_home(&state, &request.home_id)?;
        let pairs = parse_pairs(request.query.as_deref(), &["date"])?;
        let info = home.info();
        // Only `date` is allowed, so the range is one local day.
        let range = parse_range(&pairs)?.resolve(info.zone, now, DefaultRange::Today);
        let answer = home.intervals(range.start, range.end).await?;
        let marker = marker_now(now);
        let svg = DayChart {
            home_id: &info.id,
            currency: &info.currency,
            zone: info.zone,
            date: local_date(info.zone, range.start),
            intervals: &answer.intervals,
            now: marker,
        }
        .render();
        let mut changes_at = now + TimeDelta::seconds(MAX_AGE_CAP_SECONDS);
        if (range.start..range.end).contains(&now) {
            changes_at = changes_at.min(marker + TimeDelta::seconds(NOW_STEP_SECONDS));
        }
        if let Some(moves_at) = range.moves_at {
            changes_at = changes_at.min(moves_at);
        }
        if !answer.is_complete() {
            changes_at = changes_at.min(answer.retry_at().unwrap_or(now + TimeDelta::seconds(60)));
        }
        let body = Bytes::from(svg.into_bytes());
        let etag = etag_of(&body);
        Ok::<Response, ApiError>(cached_body(
            &request.if_none_match,
            body,
            &etag,
            HeaderValue::from_static("image/svg+xml"),
            max_age(now, Some(changes_at)),
        ))
    }
    .await;
    respond(now, result)
}
