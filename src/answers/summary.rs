//! Day summaries: the spread of each local day (min and max with when they
//! start, the duration-weighted mean, the median, how many slots) — what a
//! dashboard or an automation checks before planning the day.

use chrono::{DateTime, Days, NaiveDate, Utc};
use chrono_tz::Tz;

use super::seconds;
use crate::pool::Interval;
use crate::pool::days::{local_date, local_day};

/// A day's cheapest or dearest slot: its price and where it starts (the
/// earliest slot with that price).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Extreme {
    /// The slot's total price.
    pub total: f64,
    /// The slot's start.
    pub starts_at: DateTime<Utc>,
}

/// What one local day's known prices come to.
#[derive(Debug, Clone, PartialEq)]
pub struct DaySummary {
    /// The local calendar date.
    pub date: NaiveDate,
    /// Whether every slot of the whole local day is known (92, 96 or 100
    /// quarter-hours; 23, 24 or 25 hours).
    pub complete: bool,
    /// How many slots of the day are known.
    pub count: usize,
    /// The cheapest slot (None without slots).
    pub min: Option<Extreme>,
    /// The dearest slot (None without slots).
    pub max: Option<Extreme>,
    /// The mean total, each slot weighted by its duration.
    pub mean: Option<f64>,
    /// The median total over slots; the mean of the two middle values for
    /// an even count.
    pub median: Option<f64>,
}

/// One summary per local day in `zone` that `[start, end)` touches, over
/// `intervals` (in order; those outside the range are ignored).
pub fn summarize(
    intervals: &[Interval],
    zone: Tz,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Vec<DaySummary> {
    let mut days = Vec::new();
    if end <= start {
        return days;
    }
    let last = local_date(zone, end - chrono::TimeDelta::seconds(1));
    let mut date = local_date(zone, start);
    while date <= last {
        let (day_start, day_end) = local_day(zone, date);
        let lo = day_start.max(start);
        let hi = day_end.min(end);
        let from = intervals.partition_point(|interval| interval.starts_at() < lo);
        let to = intervals.partition_point(|interval| interval.starts_at() < hi);
        let slots = &intervals[from..to];
        let known_seconds: i64 = slots.iter().map(seconds).sum();
        let mut summary = summarize_slots(date, slots);
        summary.complete = known_seconds == (day_end - day_start).num_seconds();
        days.push(summary);
        match date.checked_add_days(Days::new(1)) {
            Some(next) => date = next,
            None => break,
        }
    }
    days
}

/// The figures of one day's `slots` (in order); `complete` left false.
fn summarize_slots(date: NaiveDate, slots: &[Interval]) -> DaySummary {
    let mut min: Option<Extreme> = None;
    let mut max: Option<Extreme> = None;
    for slot in slots {
        let here = Extreme {
            total: slot.total,
            starts_at: slot.starts_at(),
        };
        if min.is_none_or(|m| slot.total < m.total) {
            min = Some(here);
        }
        if max.is_none_or(|m| slot.total > m.total) {
            max = Some(here);
        }
    }
    let weight: i64 = slots.iter().map(seconds).sum();
    let weighted: f64 = slots
        .iter()
        .map(|slot| slot.total * seconds(slot) as f64)
        .sum();
    let mean = (weight > 0).then(|| super::tidy(weighted / weight as f64));
    DaySummary {
        date,
        complete: false,
        count: slots.len(),
        min,
        max,
        mean,
        median: median(slots.iter().map(|slot| slot.total).collect()),
    }
}

/// The median of `values`; the mean of the two middle ones for an even count.
fn median(mut values: Vec<f64>) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(values[n / 2]),
        _ => Some(super::tidy((values[n / 2 - 1] + values[n / 2]) / 2.0)),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::pool::Resolution;
    use chrono::TimeDelta;
    use proptest::prelude::*;

    pub(crate) fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    pub(crate) fn berlin() -> Tz {
        "Europe/Berlin".parse().unwrap()
    }

    /// Quarter-hours from `start` with `totals`.
    pub(crate) fn quarters(start: DateTime<Utc>, totals: &[f64]) -> Vec<Interval> {
        totals
            .iter()
            .zip(0..)
            .map(|(total, n)| {
                Interval::new(
                    start + TimeDelta::minutes(15 * n),
                    Resolution::QuarterHour,
                    *total,
                    *total,
                    0.0,
                    None,
                )
            })
            .collect()
    }

    /// Slots from `start` as a source publishes them: hourly before local
    /// midnight of 2025-10-01 in `zone`, quarter-hourly from then on.
    pub(crate) fn published(zone: Tz, start: DateTime<Utc>, totals: &[f64]) -> Vec<Interval> {
        let switch = crate::pool::days::local_midnight(zone, "2025-10-01".parse().unwrap());
        let mut at = start;
        let mut slots = Vec::new();
        for total in totals {
            let resolution = if at < switch {
                Resolution::Hour
            } else {
                Resolution::QuarterHour
            };
            slots.push(Interval::new(at, resolution, *total, *total, 0.0, None));
            at += resolution.duration();
        }
        slots
    }

    /// Random two-day stretches: DST days, the switch, ordinary days, in a
    /// whole-hour zone and a half-hour one; four-decimal prices from a
    /// small set (ties) including negatives; some slots dropped (gaps).
    pub(crate) fn any_day() -> impl Strategy<Value = (Tz, Vec<Interval>)> {
        let zones = prop::sample::select(vec!["Europe/Berlin", "Asia/Kolkata", "UTC"]);
        let dates = prop::sample::select(vec![
            "2025-10-25",
            "2025-03-29",
            "2025-09-30",
            "2025-06-10",
            "2025-03-30",
        ]);
        let totals = prop::collection::vec((-20i32..30, 0u8..20), 20..200);
        (zones, dates, totals).prop_map(|(zone, date, totals)| {
            let zone: Tz = zone.parse().unwrap();
            let (start, _) = local_day(zone, date.parse().unwrap());
            let prices: Vec<f64> = totals.iter().map(|(p, _)| f64::from(*p) / 100.0).collect();
            let slots = published(zone, start, &prices);
            let kept = slots
                .into_iter()
                .zip(totals)
                .filter(|(_, (_, drop))| *drop != 0)
                .map(|(slot, _)| slot)
                .collect();
            (zone, kept)
        })
    }

    #[test]
    fn dst_days_count_92_and_100_quarter_hours_and_are_complete() {
        for (date, n) in [("2025-03-30", 92), ("2025-10-26", 100)] {
            let date: NaiveDate = date.parse().unwrap();
            let (start, end) = local_day(berlin(), date);
            let day = quarters(start, &vec![0.2; n]);
            let summary = summarize(&day, berlin(), start, end);
            assert_eq!(summary.len(), 1);
            assert_eq!((summary[0].count, summary[0].complete), (n, true));
            let short = summarize(&day[1..], berlin(), start, end);
            assert!(!short[0].complete);
        }
    }

    #[test]
    fn min_and_max_point_at_the_earliest_slot_and_the_median_averages_the_middle_two() {
        let start = at("2025-11-02T23:00:00Z");
        let day = quarters(start, &[0.3, -0.1, 0.5, -0.1, 0.5, 0.2]);
        let summary = &summarize(&day, berlin(), start, start + TimeDelta::hours(2))[0];
        assert_eq!(
            summary.min.unwrap().starts_at,
            start + TimeDelta::minutes(15)
        );
        assert_eq!(
            summary.max.unwrap().starts_at,
            start + TimeDelta::minutes(30)
        );
        assert_eq!(summary.median, Some((0.2 + 0.3) / 2.0));
        assert!(!summary.complete);
    }

    #[test]
    fn the_switch_day_weighs_hours_four_times_a_quarter() {
        // 30 September 2025 in Berlin: hourly; 1 October: quarter-hourly.
        let (start, _) = local_day(berlin(), "2025-09-30".parse().unwrap());
        let mut prices = vec![1.0; 24];
        prices.extend(vec![0.0; 96]);
        let slots = published(berlin(), start, &prices);
        let summary = summarize(&slots, berlin(), start, start + TimeDelta::hours(48));
        assert_eq!(summary.len(), 2);
        assert_eq!((summary[0].count, summary[1].count), (24, 96));
        assert!(summary.iter().all(|day| day.complete));
        // A range straddling the switch: 2 hourly slots at 1.0 (120 min) and 8 quarters at 0.0.
        let mixed = summarize(
            &slots[22..34],
            berlin(),
            slots[22].starts_at(),
            slots[34].starts_at(),
        );
        assert_eq!(mixed[0].mean, Some(1.0));
        assert_eq!(
            summarize_slots(mixed[0].date, &quarters(slots[0].starts_at(), &[0.1, 0.2])).median,
            Some(0.15)
        );
        assert_eq!(mixed[1].mean, Some(0.0));
        let across = summarize_slots(mixed[0].date, &slots[22..34]);
        let expected = 2.0 * 3600.0 / (2.0 * 3600.0 + 10.0 * 900.0);
        assert!((across.mean.unwrap() - expected).abs() < 1e-9);
    }

    proptest! {
        #[test]
        fn summaries_equal_a_naive_computation(day in any_day()) {
            let (zone, slots) = day;
            let Some(first) = slots.first() else { return Ok(()) };
            let start = first.starts_at();
            let end = slots.last().unwrap().ends_at();
            for summary in summarize(&slots, zone, start, end) {
                let mine: Vec<&Interval> = slots
                    .iter()
                    .filter(|s| local_date(zone, s.starts_at()) == summary.date)
                    .collect();
                prop_assert_eq!(summary.count, mine.len());
                let lowest = mine.iter().map(|s| s.total).fold(f64::INFINITY, f64::min);
                let first_lowest = mine.iter().find(|s| s.total == lowest).map(|s| s.starts_at());
                prop_assert_eq!(summary.min.map(|m| m.starts_at), first_lowest);
                let minutes: f64 = mine.iter().map(|s| f64::from(s.resolution.minutes())).sum();
                let weighted: f64 = mine
                    .iter()
                    .map(|s| s.total * f64::from(s.resolution.minutes()))
                    .sum();
                if let Some(mean) = summary.mean {
                    prop_assert!((mean - weighted / minutes).abs() < 1e-9);
                }
                let mut sorted: Vec<f64> = mine.iter().map(|s| s.total).collect();
                sorted.sort_by(f64::total_cmp);
                let below = sorted.iter().filter(|v| Some(**v) < summary.median).count();
                let above = sorted.iter().filter(|v| Some(**v) > summary.median).count();
                prop_assert!(below <= sorted.len() / 2 && above <= sorted.len() / 2);
            }
        }
    }
}
