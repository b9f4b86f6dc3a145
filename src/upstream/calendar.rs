//! The day-ahead publication calendar, in a feed's local zone: what counts
//! as recent, when tomorrow's prices are published, and the horizon past
//! which nothing is published yet.
//!
//! These are upstream facts, kept apart from the pool's protected window
//! (a GC rule) even though the recent window spans the same four days.

use chrono::{DateTime, Days, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

use super::config::UpstreamConfig;
use super::market::Market;
use crate::pool::days::{local_date, local_midnight};

/// Local midnight of the day before yesterday up to local midnight after
/// tomorrow: what one Tibber call returns whole (`priceInfo` today and
/// tomorrow plus the two days before), so a gap in it costs one call for all of it.
pub fn recent_window(zone: Tz, now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    let today = local_date(zone, now);
    let first = today.checked_sub_days(Days::new(2)).unwrap_or(today);
    (local_midnight(zone, first), publication_horizon(zone, now))
}

/// Local midnight after tomorrow: nothing from there on is published yet,
/// so nothing from there on is asked for or accepted.
pub fn publication_horizon(zone: Tz, now: DateTime<Utc>) -> DateTime<Utc> {
    let today = local_date(zone, now);
    local_midnight(zone, today.checked_add_days(Days::new(2)).unwrap_or(today))
}

/// The zone whose clock the publication hour is read on: Central European
/// time for a market feed (the European day-ahead auction publishes at
/// 13:00 CET/CEST, whatever the market's own zone: 14:00 in Helsinki), the
/// home's own zone for a Tibber or demo home.
pub fn publication_zone(zone: Tz, market: Option<Market>) -> Tz {
    if market.is_some() {
        chrono_tz::Europe::Berlin
    } else {
        zone
    }
}

/// Local midnight starting tomorrow.
pub fn tomorrow_start(zone: Tz, now: DateTime<Utc>) -> DateTime<Utc> {
    let today = local_date(zone, now);
    local_midnight(zone, today.checked_add_days(Days::new(1)).unwrap_or(today))
}

/// The instant of publication on `date`: `publish_hour` local.
pub fn publication_time(zone: Tz, publish_hour: u32, date: NaiveDate) -> DateTime<Utc> {
    let hours = chrono::Duration::hours(i64::from(publish_hour));
    match zone
        .from_local_datetime(&(date.and_time(NaiveTime::MIN) + hours))
        .earliest()
    {
        Some(instant) => instant.with_timezone(&Utc),
        // The hour does not exist locally (a DST gap): count hours from midnight.
        None => local_midnight(zone, date) + hours,
    }
}

/// Whether tomorrow's prices are not out yet at `now`.
pub fn before_publication(zone: Tz, publish_hour: u32, now: DateTime<Utc>) -> bool {
    now < publication_time(zone, publish_hour, local_date(zone, now))
}

/// When to ask for tomorrow again: today's publication plus a jitter, or,
/// if that has passed, a negative-cache TTL from now.
pub fn next_publication(zone: Tz, config: &UpstreamConfig, now: DateTime<Utc>) -> DateTime<Utc> {
    let published = publication_time(zone, config.publish_hour, local_date(zone, now));
    if now < published {
        published + jitter_up_to(config.publish_jitter)
    } else {
        config.negative_until(now)
    }
}

/// A random delay in `[0, max]`, so instances do not all call at once.
pub fn jitter_up_to(max: std::time::Duration) -> chrono::Duration {
    use rand::RngExt;
    let millis = i64::try_from(max.as_millis()).unwrap_or(i64::MAX);
    chrono::Duration::milliseconds(if millis > 0 {
        rand::rng().random_range(0..=millis)
    } else {
        0
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    #[test]
    fn publication_is_13_local_on_both_sides_of_dst() {
        let zone = chrono_tz::Europe::Berlin;
        let config = UpstreamConfig::default();
        let date = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
        assert_eq!(
            publication_time(zone, config.publish_hour, date(2026, 1, 14)),
            at("2026-01-14T12:00:00Z")
        );
        assert_eq!(
            publication_time(zone, config.publish_hour, date(2026, 7, 14)),
            at("2026-07-14T11:00:00Z")
        );
        assert_eq!(
            publication_time(zone, config.publish_hour, date(2026, 3, 29)),
            at("2026-03-29T11:00:00Z")
        );
    }

    #[test]
    fn a_market_publishes_at_13_cet_even_where_the_clock_says_14() {
        let helsinki = chrono_tz::Europe::Helsinki;
        let zone = publication_zone(helsinki, Some(Market::Fi));
        // 12:30 CET is 13:30 in Helsinki: not published yet for the auction.
        assert!(before_publication(zone, 13, at("2026-01-14T11:30:00Z")));
        assert!(!before_publication(zone, 13, at("2026-01-14T12:05:00Z")));
        // A Tibber home in Helsinki keeps its own clock.
        assert!(!before_publication(
            publication_zone(helsinki, None),
            13,
            at("2026-01-14T11:30:00Z")
        ));
    }

    #[test]
    fn the_recent_window_is_four_local_days_ending_at_the_horizon() {
        let zone = chrono_tz::Europe::Berlin;
        // The fall-back day is inside: the window is 4 days and one hour long.
        let now = at("2025-10-26T10:00:00Z");
        let (start, end) = recent_window(zone, now);
        assert_eq!(start, at("2025-10-23T22:00:00Z"));
        assert_eq!(end, at("2025-10-27T23:00:00Z"));
        assert_eq!(end, publication_horizon(zone, now));
        assert_eq!(tomorrow_start(zone, now), at("2025-10-26T23:00:00Z"));
    }
}
