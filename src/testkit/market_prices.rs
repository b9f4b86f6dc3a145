//! The day-ahead prices the fake market sources (ENTSO-E, aWATTar) serve:
//! the demo market's shape in each market's own zone, per MWh, and when a
//! day counts as published (tomorrow from 13:00 CET/CEST, the European
//! auction's publication).

use chrono::{DateTime, Days, NaiveDate, Utc};

use crate::pool::Resolution;
use crate::pool::days::local_date;
use crate::upstream::Market;
use crate::upstream::calendar::publication_time;
use crate::upstream::demo::{DemoMarket, DemoZone};

/// One priced slot as a fake publishes it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Slot {
    /// Its start.
    pub starts_at: DateTime<Utc>,
    /// Its length.
    pub resolution: Resolution,
    /// Its price per MWh, with at most two decimals (as the platforms write it).
    pub mwh: f64,
}

/// The demo-shaped slots of `market`'s local day `date`: hourly before
/// 2025-10-01, quarter-hourly from then on.
pub fn day(market: Market, date: NaiveDate) -> Vec<Slot> {
    let zone = DemoZone {
        home_id: "market",
        zone: market.zone(),
        currency: "EUR",
        base_energy: 0.09,
        tax: 0.0,
    };
    DemoMarket::new()
        .day(&zone, date)
        .into_iter()
        .map(|interval| Slot {
            starts_at: interval.starts_at(),
            resolution: interval.resolution,
            mwh: (interval.energy * 100_000.0).round() / 100.0,
        })
        .collect()
}

/// Whether `market`'s local day `date` is published at `now`: every day
/// up to today, tomorrow from 13:00 CET/CEST today.
pub fn is_published(market: Market, date: NaiveDate, now: DateTime<Utc>) -> bool {
    let today = local_date(market.zone(), now);
    let cet = chrono_tz::Europe::Berlin;
    let tomorrow_out = now >= publication_time(cet, 13, local_date(cet, now));
    date <= today || (tomorrow_out && Some(date) == today.checked_add_days(Days::new(1)))
}

/// The local dates of `market` that `[start, end)` touches, in order.
pub fn dates(market: Market, start: DateTime<Utc>, end: DateTime<Utc>) -> Vec<NaiveDate> {
    let mut dates = Vec::new();
    if start >= end {
        return dates;
    }
    let last = local_date(market.zone(), end - chrono::Duration::seconds(1));
    let mut date = local_date(market.zone(), start);
    // At most a little over a year: the platforms' own limit.
    while date <= last && dates.len() < 400 {
        dates.push(date);
        match date.checked_add_days(Days::new(1)) {
            Some(next) => date = next,
            None => break,
        }
    }
    dates
}
