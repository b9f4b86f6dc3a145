//! The HTTP API: routes, problem+json errors, query parsing, HTTP caching,
//! the API token and request metrics. Handlers read through the upstream
//! `Registry`; they never touch the upstream or the data directory directly.
#![warn(missing_docs)]

pub mod caching;
pub mod middleware;
pub mod problem;
pub mod query;
pub mod render_cache;
pub mod views;

pub use problem::{ApiError, Problem};
pub mod routes;
pub mod spans;

pub use routes::{ApiState, SaveStatusSource, route_paths, router, startup_router, with_layers};
