//! The offline demo market: deterministic day-ahead prices for a few zones,
//! so `cargo run` serves real-looking prices on any machine and tests and
//! the fake Tibber server can compare against known values.
//!
//! Shape of a day: a night trough, a morning peak around 08:00, a midday
//! solar dip, an evening peak around 18:30; weekends are cheaper, winter
//! dearer than summer. Every day is seeded by its zone and date, so two
//! processes (or a restart) produce the same prices. Hourly before local
//! 2025-10-01, quarter-hourly from then on. Tomorrow is published at
//! 13:00 local; later days never.

use chrono::{DateTime, Datelike, Days, NaiveDate, Timelike, Utc, Weekday};
use chrono_tz::Tz;
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};

use crate::pool::days::{expected_resolution, local_date, local_day, local_midnight};
use crate::pool::{EUROPE_QUARTER_HOURLY_FROM, HomeInfo, Interval, PriceLevel};

/// One zone of the demo market.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoZone {
    /// The home id that uses this zone.
    pub home_id: &'static str,
    /// The IANA zone.
    pub zone: Tz,
    /// ISO 4217 currency.
    pub currency: &'static str,
    /// Average spot price per kWh.
    pub base_energy: f64,
    /// Taxes and fees per kWh, added to the energy price.
    pub tax: f64,
}

/// The demo market: its zones and the hour at which tomorrow is published.
#[derive(Debug, Clone)]
pub struct DemoMarket {
    zones: Vec<DemoZone>,
    publish_hour: u32,
}

impl Default for DemoMarket {
    fn default() -> Self {
        DemoMarket::new()
    }
}

impl DemoMarket {
    /// Homes `demo` (Europe/Berlin, EUR), `demo-oslo` (Europe/Oslo, NOK) and
    /// `demo-helsinki` (Europe/Helsinki, EUR); publication at 13:00 local.
    pub fn new() -> DemoMarket {
        DemoMarket {
            zones: vec![
                DemoZone {
                    home_id: "demo",
                    zone: chrono_tz::Europe::Berlin,
                    currency: "EUR",
                    base_energy: 0.095,
                    tax: 0.19,
                },
                DemoZone {
                    home_id: "demo-oslo",
                    zone: chrono_tz::Europe::Oslo,
                    currency: "NOK",
                    base_energy: 0.65,
                    tax: 0.55,
                },
                DemoZone {
                    home_id: "demo-helsinki",
                    zone: chrono_tz::Europe::Helsinki,
                    currency: "EUR",
                    base_energy: 0.06,
                    tax: 0.08,
                },
            ],
            publish_hour: 13,
        }
    }

    /// The zones the market prices.
    pub fn zones(&self) -> &[DemoZone] {
        &self.zones
    }

    /// The homes, as a source reports them.
    pub fn homes(&self) -> Vec<HomeInfo> {
        self.zones
            .iter()
            .map(|zone| HomeInfo {
                id: zone.home_id.to_string(),
                zone: zone.zone,
                currency: zone.currency.to_string(),
            })
            .collect()
    }

    /// The zone of `home_id`, if the market prices it.
    pub fn zone(&self, home_id: &str) -> Option<&DemoZone> {
        self.zones.iter().find(|zone| zone.home_id == home_id)
    }

    /// The end (exclusive) of what is published at `now`: local midnight
    /// after tomorrow once tomorrow is out (13:00 local), else after today.
    pub fn published_until(&self, zone: Tz, now: DateTime<Utc>) -> DateTime<Utc> {
        let today = local_date(zone, now);
        let local_hour = now.with_timezone(&zone).hour();
        let days_ahead = if local_hour >= self.publish_hour {
            2
        } else {
            1
        };
        let until = today
            .checked_add_days(Days::new(days_ahead))
            .unwrap_or(today);
        local_midnight(zone, until)
    }

    /// All intervals of the local day `date` in `zone`, whether published or not.
    pub fn day(&self, zone: &DemoZone, date: NaiveDate) -> Vec<Interval> {
        let (start, end) = local_day(zone.zone, date);
        let resolution = expected_resolution(zone.zone, EUROPE_QUARTER_HOURLY_FROM, start);
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(day_seed(zone.zone, date));
        let day_factor = rng.random_range(0.8..1.25);
        let weekend = matches!(date.weekday(), Weekday::Sat | Weekday::Sun);
        let week_factor = if weekend { 0.85 } else { 1.0 };
        // Winter dearer: peaks in mid-January, lowest in mid-July.
        let day_of_year = f64::from(date.ordinal0());
        let season = 1.0 + 0.25 * (2.0 * std::f64::consts::PI * (day_of_year - 15.0) / 365.0).cos();

        let mut energies = Vec::new();
        let mut t = start;
        while t < end {
            let local = t.with_timezone(&zone.zone);
            let hour = f64::from(local.hour()) + f64::from(local.minute()) / 60.0;
            let shape = daily_shape(hour, weekend);
            let noise = rng.random_range(-0.04..0.04);
            let energy = zone.base_energy * day_factor * week_factor * season * (shape + noise);
            energies.push((t, energy.max(0.001)));
            t += resolution.duration();
        }
        let average = energies.iter().map(|(_, e)| e).sum::<f64>() / energies.len().max(1) as f64;
        energies
            .into_iter()
            .map(|(starts_at, energy)| {
                let energy = round4(energy);
                let tax = round4(zone.tax);
                Interval::new(
                    starts_at,
                    resolution,
                    round4(energy + tax),
                    energy,
                    tax,
                    Some(level_of(energy / average)),
                )
            })
            .collect()
    }

    /// The published intervals of `zone` starting in `[start, end)` at `now`, in order.
    pub fn intervals(
        &self,
        zone: &DemoZone,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Vec<Interval> {
        let end = end.min(self.published_until(zone.zone, now));
        if start >= end {
            return Vec::new();
        }
        let first = local_date(zone.zone, start);
        let last = local_date(zone.zone, end - chrono::Duration::seconds(1));
        let mut out = Vec::new();
        let mut date = first;
        while date <= last {
            out.extend(
                self.day(zone, date)
                    .into_iter()
                    .filter(|iv| iv.starts_at() >= start && iv.starts_at() < end),
            );
            match date.checked_add_days(Days::new(1)) {
                Some(next) => date = next,
                None => break,
            }
        }
        out
    }
}

/// Relative price over a day (1.0 = average): night trough, morning and
/// evening peaks, a midday dip from solar.
fn daily_shape(hour: f64, weekend: bool) -> f64 {
    let bump = |centre: f64, width: f64| (-((hour - centre).powi(2)) / (2.0 * width * width)).exp();
    let morning = if weekend { 0.15 } else { 0.35 };
    0.85 + morning * bump(8.0, 1.5) + 0.5 * bump(18.5, 2.0)
        - 0.3 * bump(13.0, 2.0)
        - 0.2 * bump(3.0, 2.0)
}

/// Tibber-like level from the price relative to the day's average.
fn level_of(ratio: f64) -> PriceLevel {
    match ratio {
        r if r < 0.7 => PriceLevel::VeryCheap,
        r if r < 0.9 => PriceLevel::Cheap,
        r if r < 1.1 => PriceLevel::Normal,
        r if r < 1.3 => PriceLevel::Expensive,
        _ => PriceLevel::VeryExpensive,
    }
}

fn round4(value: f64) -> f64 {
    (value * 10_000.0).round() / 10_000.0
}

/// A seed that depends only on the zone's name and the date (FNV-1a of the
/// name mixed with the day number), stable across processes and builds.
fn day_seed(zone: Tz, date: NaiveDate) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in zone.name().bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash ^ (i64::from(date.num_days_from_ce()) as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn berlin(market: &DemoMarket) -> &DemoZone {
        market.zone("demo").unwrap()
    }

    #[test]
    fn dst_days_have_100_and_92_quarter_hours_and_old_days_are_hourly() {
        let market = DemoMarket::new();
        assert_eq!(market.day(berlin(&market), date(2025, 10, 26)).len(), 100);
        assert_eq!(market.day(berlin(&market), date(2026, 3, 29)).len(), 92);
        assert_eq!(market.day(berlin(&market), date(2025, 3, 30)).len(), 23);
        assert_eq!(market.day(berlin(&market), date(2025, 9, 30)).len(), 24);
        assert_eq!(market.day(berlin(&market), date(2025, 10, 1)).len(), 96);
    }

    #[test]
    fn prices_are_the_same_in_every_process_and_differ_between_zones_and_days() {
        let market = DemoMarket::new();
        let a = market.day(berlin(&market), date(2026, 1, 14));
        let b = DemoMarket::new().day(berlin(&market), date(2026, 1, 14));
        assert_eq!(a, b);
        let other_day = market.day(berlin(&market), date(2026, 1, 15));
        assert_ne!(a[40].energy, other_day[40].energy);
        let oslo = market.day(market.zone("demo-oslo").unwrap(), date(2026, 1, 14));
        assert_ne!(a[40].energy, oslo[40].energy);
    }

    #[test]
    fn a_weekday_has_an_evening_peak_above_the_midday_dip_and_the_night() {
        let market = DemoMarket::new();
        // Wednesday 2026-01-14, quarter-hours from local midnight.
        let day = market.day(berlin(&market), date(2026, 1, 14));
        let at = |hour: usize| day[hour * 4].energy;
        assert!(at(18) > at(13), "evening {} vs midday {}", at(18), at(13));
        assert!(at(8) > at(3), "morning {} vs night {}", at(8), at(3));
        assert!(day.iter().any(|iv| iv.level == Some(PriceLevel::Expensive)
            || iv.level == Some(PriceLevel::VeryExpensive)));
        assert!(
            day.iter()
                .all(|iv| (iv.total - iv.energy - iv.tax).abs() < 1e-3)
        );
    }

    #[test]
    fn tomorrow_is_published_at_13_local() {
        let market = DemoMarket::new();
        let zone = berlin(&market);
        let (tomorrow_start, tomorrow_end) = local_day(zone.zone, date(2026, 1, 15));
        let before: DateTime<Utc> = "2026-01-14T11:59:00Z".parse().unwrap(); // 12:59 CET
        let after: DateTime<Utc> = "2026-01-14T12:00:00Z".parse().unwrap(); // 13:00 CET
        assert!(
            market
                .intervals(zone, tomorrow_start, tomorrow_end, before)
                .is_empty()
        );
        assert_eq!(
            market
                .intervals(zone, tomorrow_start, tomorrow_end, after)
                .len(),
            96
        );
        let (day_after_start, day_after_end) = local_day(zone.zone, date(2026, 1, 16));
        assert!(
            market
                .intervals(zone, day_after_start, day_after_end, after)
                .is_empty()
        );
    }
}
