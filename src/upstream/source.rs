//! `PriceSource`: what the coordinator needs from an upstream, and `Source`,
//! the closed set of implementations the service can run with. `Source`
//! is also the one choke point where every answer is judged (`validate`)
//! before the coordinator sees it.

use std::future::Future;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::time::Instant;

use super::awattar::AwattarSource;
use super::config::{Secret, TibberConfig};
use super::demo::DemoMarket;
use super::entsoe::EntsoeSource;
use super::error::UpstreamError;
use super::gate::CallGate;
use super::market::Market;
use super::tibber::TibberSource;
use super::validate::{self, Trust};
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
    /// outside the range (`Source::fetch` keeps only what `validate`
    /// trusts); returns no interval for what is not published.
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
    /// The feed to fetch for: its id, zone and currency (a Tibber home, or
    /// a market feed such as `DE-LU-EUR` in its market's zone).
    pub home: HomeInfo,
    /// The bidding zone of a market feed; `None` for a Tibber or demo home.
    pub market: Option<Market>,
    /// Wanted intervals start in `[start, end)`.
    pub start: DateTime<Utc>,
    /// End of the wanted range (exclusive).
    pub end: DateTime<Utc>,
    /// The service's wall clock when the fetch began (decides what is "recent").
    pub now: DateTime<Utc>,
    /// Retries stop before this; the coordinator also cuts the fetch off here.
    pub deadline: Instant,
    /// Local midnight of this date starts quarter-hourly prices; hourly
    /// before (the pool's [`crate::pool::PoolConfig::quarter_hourly_from`]).
    pub quarter_hourly_from: chrono::NaiveDate,
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

/// The source a registry runs with: the demo market (default) or Tibber,
/// and the [`Trust`] its answers are judged by. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Source {
    provider: Provider,
    trust: Trust,
}

/// The closed set of implementations.
#[derive(Debug, Clone)]
enum Provider {
    /// The offline demo market.
    Demo(Arc<DemoSource>),
    /// Tibber's GraphQL API.
    Tibber(Arc<TibberSource>),
    /// The ENTSO-E transparency platform (market feeds).
    Entsoe(Arc<EntsoeSource>),
    /// aWATTar's DE-LU and AT APIs (market feeds).
    Awattar(Arc<AwattarSource>),
}

impl Source {
    /// The offline demo market, judged by the default [`Trust`].
    pub fn demo() -> Source {
        Source {
            provider: Provider::Demo(Arc::new(DemoSource::new())),
            trust: Trust::default(),
        }
    }

    /// Tibber's GraphQL API (or the fake server) with `config`, judged by
    /// the default [`Trust`].
    pub fn tibber(config: TibberConfig) -> Result<Source, UpstreamError> {
        Ok(Source {
            provider: Provider::Tibber(Arc::new(TibberSource::new(config)?)),
            trust: Trust::default(),
        })
    }

    /// The ENTSO-E transparency platform at `base_url` with `token`, each
    /// attempt bounded by `request_timeout`, judged by the default [`Trust`].
    pub fn entsoe(
        base_url: String,
        token: Secret,
        request_timeout: std::time::Duration,
    ) -> Result<Source, UpstreamError> {
        Ok(Source {
            provider: Provider::Entsoe(Arc::new(EntsoeSource::new(
                base_url,
                token,
                request_timeout,
            )?)),
            trust: Trust::default(),
        })
    }

    /// aWATTar: `de_url` for DE-LU, `at_url` for AT, each attempt bounded
    /// by `request_timeout`, judged by the default [`Trust`].
    pub fn awattar(
        de_url: String,
        at_url: String,
        request_timeout: std::time::Duration,
    ) -> Result<Source, UpstreamError> {
        Ok(Source {
            provider: Provider::Awattar(Arc::new(AwattarSource::new(
                de_url,
                at_url,
                request_timeout,
            )?)),
            trust: Trust::default(),
        })
    }

    /// The same source, its answers judged by `trust` (the service passes
    /// `Trust::of(&upstream_config)`).
    pub fn trusting(self, trust: Trust) -> Source {
        Source { trust, ..self }
    }

    /// `demo` or `tibber`, for logs and status pages.
    pub fn name(&self) -> &'static str {
        match self.provider {
            Provider::Demo(_) => "demo",
            Provider::Tibber(_) => "tibber",
            Provider::Entsoe(_) => "entsoe",
            Provider::Awattar(_) => "awattar",
        }
    }
}

impl PriceSource for Source {
    async fn homes(
        &self,
        gate: &CallGate,
        deadline: Instant,
    ) -> Result<Vec<HomeInfo>, UpstreamError> {
        match &self.provider {
            Provider::Demo(source) => source.homes(gate, deadline).await,
            Provider::Tibber(source) => source.homes(gate, deadline).await,
            Provider::Entsoe(source) => source.homes(gate, deadline).await,
            Provider::Awattar(source) => source.homes(gate, deadline).await,
        }
    }

    /// The provider's answer, judged: malformed answers fail here (so
    /// nothing of them is cached), and only what was asked for is returned.
    async fn fetch(
        &self,
        request: &FetchRequest,
        gate: &CallGate,
    ) -> Result<Vec<Interval>, UpstreamError> {
        let answer = match &self.provider {
            Provider::Demo(source) => source.fetch(request, gate).await?,
            Provider::Tibber(source) => source.fetch(request, gate).await?,
            Provider::Entsoe(source) => source.fetch(request, gate).await?,
            Provider::Awattar(source) => source.fetch(request, gate).await?,
        };
        let n_answered = answer.len();
        let trusted = validate::trusted(request, answer, &self.trust)?;
        if trusted.dropped > 0 {
            tracing::warn!(
                n_answered,
                n_dropped = trusted.dropped,
                "upstream answered intervals that were not asked for or are not published yet; dropped"
            );
        }
        Ok(trusted.intervals)
    }

    fn is_metered(&self) -> bool {
        match &self.provider {
            Provider::Demo(source) => source.is_metered(),
            Provider::Tibber(source) => source.is_metered(),
            Provider::Entsoe(source) => source.is_metered(),
            Provider::Awattar(source) => source.is_metered(),
        }
    }
}
