//! The dashboard resource: `GET /`, one server-rendered HTML page over
//! every home (see `page` for what it shows). Each home's today and
//! tomorrow are asked for once; a home whose upstream fails with nothing
//! cached is shown with the failure instead of failing the page. The
//! rendered page is reused while nothing it shows can change (`page_cache`).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::Response;
use chrono::{DateTime, Days, TimeDelta, Utc};

use super::caching::{cached_body, etag_of, max_age};
use super::chart::marker_now;
use super::page::{CheapestWindow, CurrentPrice, HomePanel, render_page};
use super::page_cache::{PageKey, RenderedPage};
use super::problem::{ApiError, respond};
use super::query::parse_pairs;
use super::state::ApiState;
use crate::answers::chart::SHADED_HOURS;
use crate::answers::{DayChart, cheapest_upcoming};
use crate::pool::Interval;
use crate::pool::days::{local_date, local_day};
use crate::upstream::Home;

/// `GET /`: the cached page when nothing it shows has changed (see
/// `page_cache`), else rendered and kept.
pub(crate) async fn dashboard(
    State(state): State<ApiState>,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Response {
    let now = state.clock.now();
    let result = async {
        parse_pairs(uri.query(), &[])?;
        let mut homes = state.registry.homes();
        homes.sort_by(|a, b| a.info().id.cmp(&b.info().id));
        let key = PageKey::of(&homes, now);
        let page = match state.page_cache.get(&key, now) {
            Some(page) => {
                homes.iter().for_each(Home::record_reuse);
                page
            }
            None => {
                let (page, reusable) = render(&homes, now).await;
                let page = Arc::new(page);
                if reusable {
                    state.page_cache.put(key, Arc::clone(&page));
                }
                page
            }
        };
        Ok::<Response, ApiError>(cached_body(
            &headers,
            page.body.clone(),
            &page.etag,
            HeaderValue::from_static("text/html; charset=utf-8"),
            max_age(now, Some(page.changes_at)),
        ))
    }
    .await;
    respond(now, result)
}

/// The page over `homes` at `now`, and whether it may be reused: not when
/// a home's prices could not be read. Such a page is rendered per request
/// as before the page was cached (the negative cache and cooldowns keep
/// that from reaching the upstream), so it shows each failure as it is.
async fn render(homes: &[Home], now: DateTime<Utc>) -> (RenderedPage, bool) {
    let mut panels = Vec::with_capacity(homes.len());
    let marker = marker_now(now);
    let mut changes_at = marker + TimeDelta::seconds(300);
    for home in homes {
        let (panel, retry_at) = panel_of(home, now, marker).await;
        if let Some(retry_at) = retry_at {
            changes_at = changes_at.min(retry_at);
        }
        panels.push(panel);
    }
    let reusable = panels.iter().all(|panel| panel.problem.is_none());
    let body = Bytes::from(render_page(now, &panels).into_bytes());
    let etag = etag_of(&body);
    let page = RenderedPage {
        body,
        etag,
        changes_at,
    };
    (page, reusable)
}

/// What the page shows of `home` at `now` (the now marker at `marker`),
/// and when asking again may fill what is missing.
async fn panel_of(
    home: &Home,
    now: DateTime<Utc>,
    marker: DateTime<Utc>,
) -> (HomePanel, Option<DateTime<Utc>>) {
    let info = home.info();
    let status = home.status();
    let today = local_date(info.zone, now);
    let tomorrow = today.checked_add_days(Days::new(1)).unwrap_or(today);
    let (start, midnight) = local_day(info.zone, today);
    let (_, end) = local_day(info.zone, tomorrow);
    let mut panel = HomePanel {
        id: info.id.clone(),
        currency: info.currency.clone(),
        zone: info.zone,
        current: None,
        cheapest: None,
        today_svg: None,
        tomorrow_svg: None,
        problem: None,
        last_success: status.last_success,
        last_error: status
            .last_error
            .map(|e| (e.kind.to_string(), e.message, e.at)),
    };
    let answer = match home.intervals(start, end).await {
        Ok(answer) => answer,
        Err(error) => {
            panel.problem = Some(format!("prices unavailable: {}", error.message));
            return (panel, error.retry_at);
        }
    };
    let intervals = &answer.intervals;
    let split = intervals.partition_point(|i| i.starts_at() < midnight);
    let chart = |date, day: &[Interval]| {
        DayChart {
            home_id: &info.id,
            currency: &info.currency,
            zone: info.zone,
            date,
            intervals: day,
            now: marker,
        }
        .render()
    };
    panel.today_svg = Some(chart(today, &intervals[..split]));
    if split < intervals.len() {
        panel.tomorrow_svg = Some(chart(tomorrow, &intervals[split..]));
    }
    panel.current = intervals
        .iter()
        .find(|i| i.starts_at() <= now && now < i.ends_at())
        .map(|i| CurrentPrice {
            total: i.total,
            level: i.level.map(|level| level.as_str()),
            ends_at: i.ends_at(),
        });
    panel.cheapest =
        cheapest_upcoming(intervals, now, TimeDelta::hours(SHADED_HOURS)).map(|w| CheapestWindow {
            start: w.start,
            end: w.end,
            mean: w.mean,
        });
    (panel, answer.retry_at())
}
