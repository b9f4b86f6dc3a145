//! `PriceSource`: what the coordinator needs from an upstream, and `Source`,
//! the closed set of implementations the service can run with.

use std::future::Future;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::time::Instant;

use super::config::TibberConfig;
use super::demo::DemoMarket;
use super::error::UpstreamError;
use super::gate::CallGate;
use super::tibber::TibberSource;
use crate::pool::{HomeInfo, Interval};

/// An upstream of prices. Implementations make their HTTP calls through the
/// `CallGate` they are handed (budget, cooldown, retries) and return
/// whatever intervals they got; the coordinator decides what to ask for.
pub trait PriceSource: Send + Sync {
    /// The homes this source prices, with their zones and currencies.
    fn homes(
        &self,
        gate: &CallGate,
        deadline: Instant,
    ) -> impl Future<Output = Result<Vec<HomeInfo>, UpstreamError>> + Send;

    /// The intervals the source has for `request`. May return intervals
    /// outside the range (they are cached too); returns no interval for
    /// what is not published.
    fn fetch(
        &self,
        request: &FetchRequest,
        gate: &CallGate,
    ) -> impl Future<Output = Result<Vec<Interval>, UpstreamError>> + Send;

    /// Whether calls cost something (count against the call budget).
    fn is_metered(&self) -> bool;
}

/// One fetch the coordinator asks a source for.
#[derive(Debug, Clone)]
pub struct FetchRequest {
    /// The home to fetch for (its id and zone).
    pub home: HomeInfo,
    /// Wanted intervals start in `[start, end)`.
    pub start: DateTime<Utc>,
    /// End of the wanted range (exclusive).
    pub end: DateTime<Utc>,
    /// The service's wall clock when the fetch began (decides what is "recent").
    pub now: DateTime<Utc>,
    /// Retries stop before this; the coordinator also cuts the fetch off here.
    pub deadline: Instant,
}

/// The offline demo market as a `PriceSource`: no I/O, never fails.
#[derive(Debug, Clone, Default)]
pub struct DemoSource {
    market: DemoMarket,
}

impl DemoSource {
    /// The default demo market.
    pub fn new() -> DemoSource {
        DemoSource::default()
    }

    /// The market behind it (for tests comparing prices).
    pub fn market(&self) -> &DemoMarket {
        &self.market
    }
}

impl PriceSource for DemoSource {
    async fn homes(
        &self,
        _gate: &CallGate,
        _deadline: Instant,
    ) -> Result<Vec<HomeInfo>, UpstreamError> {
        Ok(self.market.homes())
    }

    async fn fetch(
        &self,
        request: &FetchRequest,
        _gate: &CallGate,
    ) -> Result<Vec<Interval>, UpstreamError> {
        let zone = self
            .market
            .zone(&request.home.id)
            .ok_or_else(|| UpstreamError::HomeNotFound(request.home.id.clone()))?;
        metrics::counter!("pricepool_upstream_calls_total", "outcome" => "ok").increment(1);
        Ok(self
            .market
            .intervals(zone, request.start, request.end, request.now))
    }

    fn is_metered(&self) -> bool {
        false
    }
}

/// The source a registry runs with: the demo market (default) or Tibber.
/// Cheap to clone.
#[derive(Debug, Clone)]
pub enum Source {
    /// The offline demo market.
    Demo(Arc<DemoSource>),
    /// Tibber's GraphQL API.
    Tibber(Arc<TibberSource>),
}

impl Source {
    /// The offline demo market.
    pub fn demo() -> Source {
        Source::Demo(Arc::new(DemoSource::new()))
    }

    /// Tibber's GraphQL API (or the fake server) with `config`.
    pub fn tibber(config: TibberConfig) -> Result<Source, UpstreamError> {
        Ok(Source::Tibber(Arc::new(TibberSource::new(config)?)))
    }

    /// `demo` or `tibber`, for logs and status pages.
    pub fn name(&self) -> &'static str {
        match self {
            Source::Demo(_) => "demo",
            Source::Tibber(_) => "tibber",
        }
    }
}

impl PriceSource for Source {
    async fn homes(
        &self,
        gate: &CallGate,
        deadline: Instant,
    ) -> Result<Vec<HomeInfo>, UpstreamError> {
        match self {
            Source::Demo(source) => source.homes(gate, deadline).await,
            Source::Tibber(source) => source.homes(gate, deadline).await,
        }
    }

    async fn fetch(
        &self,
        request: &FetchRequest,
        gate: &CallGate,
    ) -> Result<Vec<Interval>, UpstreamError> {
        match self {
            Source::Demo(source) => source.fetch(request, gate).await,
            Source::Tibber(source) => source.fetch(request, gate).await,
        }
    }

    fn is_metered(&self) -> bool {
        match self {
            Source::Demo(source) => source.is_metered(),
            Source::Tibber(source) => source.is_metered(),
        }
    }
}
