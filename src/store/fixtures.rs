//! Realistic pools for the store's tests, benches and crash test: one
//! place that knows what a day of prices looks like, so every check of the
//! file format runs on the same shape of data the service saves.

use chrono::{DateTime, Duration, TimeZone, Utc};

use crate::pool::{HomeInfo, Interval, Pool, PoolConfig, PriceLevel, Resolution};

/// A home in Berlin pricing in EUR.
pub fn home(id: &str) -> HomeInfo {
    HomeInfo {
        id: id.to_owned(),
        zone: chrono_tz::Europe::Berlin,
        currency: "EUR".to_owned(),
    }
}

/// Midnight of 2025-10-26 in Berlin (the fall-back DST day), a UTC instant.
pub fn day_start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 10, 25, 22, 0, 0)
        .single()
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
}

/// `n` back-to-back quarter-hours from `start`. Prices follow a daily
/// curve and are computed in floating point, so most need all 17
/// significant digits (the worst case for file size); `seed` shifts them.
pub fn quarter_hours(start: DateTime<Utc>, n: usize, seed: u64) -> Vec<Interval> {
    let levels = [
        PriceLevel::VeryCheap,
        PriceLevel::Cheap,
        PriceLevel::Normal,
        PriceLevel::Expensive,
        PriceLevel::VeryExpensive,
    ];
    (0..n)
        .map(|pos| {
            let phase = (pos as f64 + seed as f64) / 96.0 * std::f64::consts::TAU;
            let energy = 0.18 + 0.09 * phase.sin() + 0.0001 * (seed % 97) as f64;
            let tax = 0.2 * energy + 0.0123;
            Interval::new(
                start + Duration::minutes(15 * pos as i64),
                Resolution::QuarterHour,
                energy + tax,
                energy,
                tax,
                Some(levels[(pos / 7 + seed as usize) % levels.len()]),
            )
        })
        .collect()
}

/// A pool holding `n_intervals` quarter-hours from [`day_start`], in
/// groups of one day (96) as the upstream returns them.
pub fn pool(id: &str, n_intervals: usize, seed: u64) -> Pool {
    let config = PoolConfig {
        max_intervals: n_intervals.max(960),
        ..PoolConfig::default()
    };
    let mut pool = Pool::new(home(id), config);
    let intervals = quarter_hours(day_start(), n_intervals, seed);
    let fetched_at = day_start() - Duration::hours(1);
    for (day, chunk) in intervals.chunks(96).enumerate() {
        // Adding cannot fail for on-grid, finite intervals; keep going if it did.
        let _ = pool.add(
            chunk.to_vec(),
            fetched_at + Duration::minutes(day as i64),
            day_start(),
        );
    }
    pool
}
