//! Who a pool prices and how: the home (`HomeInfo`) and the per-home
//! settings (`PoolConfig`, with the European switch to quarter-hourly prices).

use chrono::NaiveDate;
use chrono_tz::Tz;

/// Per-home settings of the pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolConfig {
    /// GC evicts unprotected groups while more live intervals than this remain.
    pub max_intervals: usize,
    /// The local date from which the source publishes quarter-hourly prices
    /// (hourly before). Tibber and the European day-ahead market: 2025-10-01.
    pub quarter_hourly_from: NaiveDate,
}

/// The switch to quarter-hourly day-ahead prices in Europe.
pub const EUROPE_QUARTER_HOURLY_FROM: NaiveDate = match NaiveDate::from_ymd_opt(2025, 10, 1) {
    Some(date) => date,
    None => panic!("valid date"),
};

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            max_intervals: 960,
            quarter_hourly_from: EUROPE_QUARTER_HOURLY_FROM,
        }
    }
}

/// Who the pool prices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HomeInfo {
    /// The upstream's home id.
    pub id: String,
    /// The home's IANA zone: local days, `date=` and the protected window use it.
    pub zone: Tz,
    /// ISO 4217 code of the prices, e.g. `EUR`.
    pub currency: String,
}
