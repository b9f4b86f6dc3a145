//! Upstream price sources (Tibber GraphQL, the offline demo market) and the
//! fetch coordinator. Only this module does network I/O to the upstream.
//!
//! - [`source`]: the `PriceSource` trait and `Source` (demo | tibber).
//! - [`demo`]: the offline deterministic market.
//! - [`tibber`]: the GraphQL client (`tibber_answer` reads its answers).
//! - [`http`]: the bounded, non-redirecting HTTP exchange sources use.
//! - [`validate`]: what of an answer is trusted (applied in `Source::fetch`).
//! - [`gate`]: call budget, rate-limit cooldown, retries with backoff.
//! - [`registry`]: `Registry` and `Home` (single-flight, negative cache, stale-if-error).
//! - `prefetch`: today and tomorrow fetched after publication.

#![warn(missing_docs)]

pub mod config;
pub mod demo;
pub mod error;
pub mod gate;
pub mod http;
mod prefetch;
pub mod registry;
pub mod source;
pub mod tibber;
mod tibber_answer;
pub mod validate;

pub use config::{Secret, TIBBER_URL, TibberConfig, UpstreamConfig};
pub use demo::{DemoMarket, DemoZone};
pub use error::{FetchError, IncompleteReason, UpstreamError, UpstreamErrorKind};
pub use gate::CallGate;
pub use registry::{
    Answer, ChangeHook, Home, Registry, StatusError, UpstreamStatus, record_cache_hit,
};
pub use source::{DemoSource, FetchRequest, PriceSource, Source};
pub use tibber::TibberSource;
pub use validate::Trust;
