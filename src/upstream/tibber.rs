//! The Tibber GraphQL client.

use tokio::time::Instant;

use super::config::TibberConfig;
use super::error::UpstreamError;
use super::gate::CallGate;
use super::source::{FetchRequest, PriceSource};
use crate::pool::{HomeInfo, Interval};

/// Tibber's API as a `PriceSource`.
#[derive(Debug)]
pub struct TibberSource {
    config: TibberConfig,
}

impl TibberSource {
    /// A client for `config`.
    pub fn new(config: TibberConfig) -> Result<TibberSource, UpstreamError> {
        Ok(TibberSource { config })
    }
}

impl PriceSource for TibberSource {
    async fn homes(
        &self,
        _gate: &CallGate,
        _deadline: Instant,
    ) -> Result<Vec<HomeInfo>, UpstreamError> {
        Err(UpstreamError::Transient(format!(
            "tibber client for {} not built yet",
            self.config.url
        )))
    }

    async fn fetch(
        &self,
        _request: &FetchRequest,
        _gate: &CallGate,
    ) -> Result<Vec<Interval>, UpstreamError> {
        Err(UpstreamError::Transient(
            "tibber client not built yet".to_string(),
        ))
    }

    fn is_metered(&self) -> bool {
        true
    }
}
