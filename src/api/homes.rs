//! The handlers of the homes resource: `/v1/homes` (every home with its
//! pool figures) and `/v1/homes/{home_id}/stats` (one home's figures with
//! its save status).

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::caching::uncached_json;
use super::dto::{HomeEntry, HomesBody, StatsBody};
use super::extract::{HomeRequest, find_home};
use super::problem::respond;
use super::query::parse_pairs;
use super::state::ApiState;

/// `GET /v1/homes`.
pub(crate) async fn list_homes(
    State(state): State<ApiState>,
    RawQuery(query): RawQuery,
) -> Response {
    let now = state.clock.now();
    respond(now, {
        parse_pairs(query.as_deref(), &[]).map(|_| {
            let mut homes: Vec<HomeEntry> = state
                .registry
                .homes()
                .into_iter()
                .map(|home| {
                    let info = home.info();
                    HomeEntry {
                        id: info.id,
                        time_zone: info.zone.name().to_string(),
                        currency: info.currency,
                        pool: home.with_pool(|pool| pool.stats(now)),
                        upstream: home.status(),
                        sources: home.source_statuses(),
                    }
                })
                .collect();
            homes.sort_by(|a, b| a.id.cmp(&b.id));
            uncached_json(StatusCode::OK, &HomesBody { homes })
        })
    })
}

/// `GET /v1/homes/{home_id}/stats`.
pub(crate) async fn stats(State(state): State<ApiState>, request: HomeRequest) -> Response {
    let now = state.clock.now();
    let result = find_home(&state, &request.home_id).and_then(|home| {
        parse_pairs(request.query.as_deref(), &[])?;
        let info = home.info();
        Ok(uncached_json(
            StatusCode::OK,
            &StatsBody {
                persistence: (state.save_status)(&info.id),
                home_id: info.id,
                time_zone: info.zone.name().to_string(),
                currency: info.currency,
                pool: home.with_pool(|pool| pool.stats(now)),
                upstream: home.status(),
            },
        ))
    });
    respond(now, result)
}
