//! The HTTP API: the router and its layers, the handlers by resource, the
//! response shapes and their byte encoder, problem+json errors, query
//! parsing, HTTP caching, the API token and request metrics. Handlers read
//! through the upstream `Registry`; they never touch the upstream or the
//! data directory directly.
#![warn(missing_docs)]

pub(crate) mod answer_query;
pub(crate) mod answers;
pub mod caching;
pub(crate) mod chart;
pub(crate) mod dashboard;
pub(crate) mod day_chunks;
pub(crate) mod dto;
pub(crate) mod evcc;
pub(crate) mod extract;
pub(crate) mod homes;
pub(crate) mod intervals;
pub(crate) mod middleware;
pub(crate) mod page;
pub(crate) mod page_cache;
pub(crate) mod parts_body;
pub(crate) mod probes;
pub(crate) mod problem;
pub(crate) mod query;
pub(crate) mod rates_chunks;
pub mod render;
pub(crate) mod render_cache;
pub(crate) mod request_id;
pub(crate) mod router;
pub(crate) mod spans;
pub(crate) mod state;

pub use router::route_paths;
pub(crate) use router::{router, startup_router};
pub(crate) use state::ApiState;
