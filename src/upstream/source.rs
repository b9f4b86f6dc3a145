//! `PriceSource`: what the coordinator needs from an upstream, and `Source`,
//! the closed set of implementations the service can run with. `Source`
//! is also the one choke point where every answer is judged (`validate`)
//! before the coordinator sees it.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::time::Instant;

use super::awattar::AwattarSource;
use super::budget::Priority;
use super::calendar;
use super::config::{Secret, TibberConfig};
use super::demo::DemoMarket;
use super::energy_charts::EnergyChartsSource;
use super::entsoe::EntsoeSource;
use super::error::UpstreamError;
use super::gate::CallGate;
use super::market::Market;
use super::nordpool::NordPoolSource;
use super::provider::Provider as ProviderName;
use super::tibber::TibberSource;
use super::validate::{self, Trust};
use crate::pool::{HomeInfo, Interval};

/// An upstream of prices. Implementations make their HTTP calls through the
/// `CallGate` they are handed (budget, cooldown, retries) and return
/// whatever intervals they got; the coordinator decides what to ask for.
pub trait PriceSource: Send + Sync {
    /// The homes this source prices, with their zones and currencies. None
    /// by default: a market source's homes are declared in the config.
    fn homes(
        &self,
        _gate: &CallGate,
        _deadline: Instant,
    ) -> impl Future<Output = Result<Vec<HomeInfo>, UpstreamError>> + Send {
        async { Ok(Vec::new()) }
    }

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

impl FetchRequest {
    /// The budget priority of a call for the whole request.
    pub fn priority(&self) -> Priority<'_> {
        self.priority_of(self.start, self.end)
    }

    /// The budget priority of a call for `[start, end)` of this request:
    /// `Recent` when it touches the feed's recent window, else `History`.
    pub fn priority_of(&self, start: DateTime<Utc>, end: DateTime<Utc>) -> Priority<'_> {
        let (recent_start, recent_end) = calendar::recent_window(self.home.zone, self.now);
        if end > recent_start && start < recent_end {
            Priority::Recent
        } else {
            Priority::History {
                feed: &self.home.id,
            }
        }
    }
}

/// The base URLs of the market price providers (the `--energy-charts-url`,
/// `--nordpool-url`, … flags), so `Source::for_provider` can build any of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderUrls {
    /// Energy-Charts' API.
    pub energy_charts: String,
    /// Nord Pool's data portal API.
    pub nordpool: String,
    /// aWATTar's API for DE-LU.
    pub awattar: String,
    /// aWATTar's API for AT.
    pub awattar_at: String,
    /// The ENTSO-E transparency platform's API.
    pub entsoe: String,
}

impl Default for ProviderUrls {
    /// The providers' public APIs (DESIGN.md's defaults).
    fn default() -> ProviderUrls {
        ProviderUrls {
            energy_charts: "https://api.energy-charts.info".to_string(),
            nordpool: "https://dataportal-api.nordpoolgroup.com".to_string(),
            awattar: "https://api.awattar.de".to_string(),
            awattar_at: "https://api.awattar.at".to_string(),
            entsoe: "https://web-api.tp.entsoe.eu".to_string(),
        }
    }
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
    /// Energy-Charts (market feeds).
    EnergyCharts(Arc<EnergyChartsSource>),
    /// Nord Pool's data portal (market feeds).
    NordPool(Arc<NordPoolSource>),
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

    /// Energy-Charts at `base_url` (or its fake), each attempt bounded by
    /// `request_timeout`, judged by the default [`Trust`].
    pub fn energy_charts(
        base_url: String,
        request_timeout: Duration,
    ) -> Result<Source, UpstreamError> {
        let source = EnergyChartsSource::new(base_url, request_timeout)?;
        Ok(Source {
            provider: Provider::EnergyCharts(Arc::new(source)),
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

    /// Nord Pool's data portal at `base_url` (or its fake), each attempt
    /// bounded by `request_timeout`, judged by the default [`Trust`].
    pub fn nordpool(base_url: String, request_timeout: Duration) -> Result<Source, UpstreamError> {
        let source = NordPoolSource::new(base_url, request_timeout)?;
        Ok(Source {
            provider: Provider::NordPool(Arc::new(source)),
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

    /// The source of a market provider named in the config, at its URL in
    /// `urls`; `token` is for providers that need one (ENTSO-E).
    pub fn for_provider(
        provider: ProviderName,
        urls: &ProviderUrls,
        token: Option<Secret>,
        request_timeout: Duration,
    ) -> Result<Source, UpstreamError> {
        match provider {
            ProviderName::EnergyCharts => {
                Source::energy_charts(urls.energy_charts.clone(), request_timeout)
            }
            ProviderName::NordPool => Source::nordpool(urls.nordpool.clone(), request_timeout),
            ProviderName::Awattar => Source::awattar(
                urls.awattar.clone(),
                urls.awattar_at.clone(),
                request_timeout,
            ),
            ProviderName::Entsoe => match token {
                Some(token) => Source::entsoe(urls.entsoe.clone(), token, request_timeout),
                None => Err(UpstreamError::Auth(
                    "entsoe needs a security token (--entsoe-token)".to_string(),
                )),
            },
        }
    }

    /// The same source, its answers judged by `trust` (the service passes
    /// `Trust::of(&upstream_config)`).
    pub fn trusting(self, trust: Trust) -> Source {
        Source { trust, ..self }
    }

    /// `demo`, `tibber` or the provider's config name, for logs and status pages.
    pub fn name(&self) -> &'static str {
        match self.provider {
            Provider::Demo(_) => "demo",
            Provider::Tibber(_) => "tibber",
            Provider::EnergyCharts(_) => ProviderName::EnergyCharts.name(),
            Provider::NordPool(_) => ProviderName::NordPool.name(),
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
            Provider::EnergyCharts(source) => source.homes(gate, deadline).await,
            Provider::NordPool(source) => source.homes(gate, deadline).await,
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
            Provider::EnergyCharts(source) => source.fetch(request, gate).await?,
            Provider::NordPool(source) => source.fetch(request, gate).await?,
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
            Provider::EnergyCharts(source) => source.is_metered(),
            Provider::NordPool(source) => source.is_metered(),
            Provider::Entsoe(source) => source.is_metered(),
            Provider::Awattar(source) => source.is_metered(),
        }
    }
}
