//! Upstream price sources (Tibber GraphQL, the offline demo market) and the
//! fetch coordination in front of them. Only this module does network I/O
//! to the upstream.
//!
//! - [`registry`]: the home map and discovery.
//! - [`home`]: `Home`, what a client asks about; reads through a feed.
//! - `feed`: a feed's pool and coordinator; `intervals()` orchestrates.
//! - `coordinator`: flights (single-flight), negative cache, cooldown, status.
//! - `plan`: the pure arithmetic of gaps and calls.
//! - [`answer`]: `Answer`, complete or with what is missing and why.
//! - [`calendar`]: the recent window, publication time, the horizon.
//! - [`gate`]: the cooldown policy and retries with backoff; [`budget`]: a
//!   source's call budget with a share reserved for the recent window.
//! - [`source`]: the `PriceSource` trait and `Source` (demo | tibber);
//!   [`demo`]: the offline market; [`tibber`]: the GraphQL client
//!   (`tibber_answer` reads its answers).
//! - [`http`]: the bounded, non-redirecting HTTP exchange sources use.
//! - [`validate`]: what of an answer is trusted (applied in `Source::fetch`).
//! - [`error`], [`config`].
//! - `prefetch`: today and tomorrow fetched after publication.

#![warn(missing_docs)]

pub mod answer;
pub mod budget;
pub mod calendar;
pub mod config;
mod coordinator;
pub mod demo;
pub mod error;
mod feed;
pub mod gate;
pub mod home;
pub mod http;
mod plan;
mod prefetch;
pub mod registry;
pub mod source;
pub mod tibber;
mod tibber_answer;
pub mod validate;

pub use answer::{Answer, Coverage, Shortfall};
pub use budget::Priority;
pub use config::{Secret, TIBBER_URL, TibberConfig, UpstreamConfig};
pub use coordinator::{StatusError, UpstreamStatus};
pub use demo::{DemoMarket, DemoZone};
pub use error::{FetchError, IncompleteReason, UpstreamError, UpstreamErrorKind};
pub use feed::ChangeHook;
pub use gate::CallGate;
pub use home::Home;
pub use registry::Registry;
pub use source::{DemoSource, FetchRequest, PriceSource, Source};
pub use tibber::TibberSource;
pub use validate::Trust;
