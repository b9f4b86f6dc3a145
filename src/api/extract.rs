//! What the per-home handlers read from a request: the `{home_id}` path
//! segment, the raw query (parsed by hand, see `query`) and the one
//! request header they read (`If-None-Match`), and the home the id names.

use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};

use super::problem::ApiError;
use super::state::ApiState;
use crate::upstream::Home;

/// The parts of a per-home request a handler reads: the `{home_id}`
/// path segment, the raw query and `If-None-Match`.
pub(crate) struct HomeRequest {
    /// The `{home_id}` segment, percent-decoded.
    pub(crate) home_id: String,
    /// The raw query string, if any.
    pub(crate) query: Option<String>,
    /// The request's headers, reduced to its `If-None-Match` values: the
    /// only header the handlers read (through `caching`, which takes a
    /// header map). Copying every header per request cost more than the
    /// rest of the extraction (BENCHMARKS.md, fourth round); without the
    /// header, as most requests come, this map allocates nothing.
    pub(crate) if_none_match: HeaderMap,
}

impl<S: Send + Sync> FromRequestParts<S> for HomeRequest {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(home_id) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        Ok(HomeRequest {
            home_id,
            query: parts.uri.query().map(str::to_owned),
            if_none_match: if_none_match_of(&parts.headers),
        })
    }
}

/// A map holding only `headers`' `If-None-Match` values (the values share
/// their bytes with the request's).
fn if_none_match_of(headers: &HeaderMap) -> HeaderMap {
    let mut kept = HeaderMap::new();
    for value in headers.get_all(header::IF_NONE_MATCH) {
        kept.append(header::IF_NONE_MATCH, value.clone());
    }
    kept
}

/// The home `home_id` names, or a 404 quoting (at most 128 characters of) it.
pub(crate) fn find_home(state: &ApiState, home_id: &str) -> Result<Home, ApiError> {
    state
        .registry
        .home(home_id)
        .ok_or_else(|| ApiError::UnknownHome(home_id.chars().take(128).collect()))
}
