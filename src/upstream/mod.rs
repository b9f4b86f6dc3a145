//! Upstream price sources (Tibber GraphQL, the offline demo market) and the
//! fetch coordination in front of them. Only this module does network I/O
//! to the upstream.
//!
//! - `registry`: the home map and discovery.
//! - `home`: `Home`, what a client asks about; reads through a feed.
//! - `feed`: a feed's pool and coordinator; `intervals()` orchestrates.
//! - `failover`: a feed's sources asked in order, each with its gate.
//! - `coordinator`: flights (single-flight), negative cache, cooldown, status.
//! - `plan`: the pure arithmetic of gaps and calls.
//! - `answer`: `Answer`, complete or with what is missing and why.
//! - `calendar`: the recent window, publication time, the horizon.
//! - `gate`: the cooldown policy and retries with backoff; `budget`: a
//!   source's call budget with a share reserved for the recent window.
//! - `source`: the `PriceSource` trait and `Source` (demo | tibber |
//!   energy-charts | nordpool); `energy_charts`, `nordpool`: the market
//!   sources;
//!   `demo`: the offline market; `tibber`: the GraphQL client
//!   (`tibber_answer` reads its answers).
//! - `entsoe`: the ENTSO-E transparency platform (`entsoe_document` reads
//!   its XML); `awattar`: aWATTar's DE-LU and AT APIs.
//! - `provider`: the market price providers and what each covers.
//! - `market`: the bidding zones, their zones and ENTSO-E codes.
//! - `http`: the bounded, non-redirecting HTTP exchange sources use.
//! - `validate`: what of an answer is trusted (applied in `Source::fetch`).
//! - `error`, `config`.
//! - `prefetch`: today and tomorrow fetched after publication.

#![warn(missing_docs)]

pub(crate) mod answer;
pub(crate) mod awattar;
pub(crate) mod budget;
pub(crate) mod calendar;
pub(crate) mod config;
pub(crate) mod coordinator;
pub(crate) mod demo;
pub(crate) mod energy_charts;
pub(crate) mod entsoe;
pub(crate) mod entsoe_document;
pub(crate) mod error;
pub(crate) mod failover;
pub(crate) mod feed;
pub(crate) mod gate;
pub(crate) mod home;
pub(crate) mod home_map;
pub(crate) mod http;
pub(crate) mod market;
pub(crate) mod nordpool;
pub(crate) mod plan;
pub(crate) mod prefetch;
pub(crate) mod provider;
pub(crate) mod registry;
pub(crate) mod resync;
pub(crate) mod source;
pub(crate) mod tibber;
pub(crate) mod tibber_answer;
pub(crate) mod validate;

pub use answer::{Answer, Coverage, Shortfall};
pub use awattar::{AWATTAR_AT_URL, AWATTAR_DE_URL};
pub use budget::Priority;
pub use config::{Secret, TIBBER_URL, TibberConfig, UpstreamConfig};
pub use coordinator::{SourceStatus, StatusError, UpstreamStatus};
pub use demo::{DemoMarket, DemoZone};
pub use entsoe::ENTSOE_URL;
pub use error::{FetchError, IncompleteReason, UpstreamError, UpstreamErrorKind};
pub use feed::ChangeHook;
pub use gate::CallGate;
pub use home::Home;
pub use market::{Market, UnknownMarket};
pub use provider::{Provider, UnknownProvider};
pub use registry::{MarketHome, Registry, market_feed_id};
pub use source::{FetchRequest, PriceSource, ProviderUrls, Source};
