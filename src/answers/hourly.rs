//! Hourly means: each local clock hour's mean of its quarter-hours, for
//! users billed by the hour (Norway, Estonia, Belgium) whose source
//! publishes quarter-hours since the 2025 switch.
//!
//! Hours are UTC instants, so both 02:00 hours of a fall-back day stay two
//! hours; an hour is whole only with all four quarters (a missing quarter
//! makes the hour missing, never a mean of three); hourly slots pass
//! through unchanged.

use chrono::{DateTime, TimeDelta, Timelike, Utc};
use chrono_tz::Tz;

use crate::pool::{Interval, Resolution};

/// The start of the local clock hour containing `instant` in `zone`: the
/// instant minus the local minutes and seconds past the hour. In zones
/// whose offset is not whole hours (India, Nepal) local hours are not UTC
/// hours, and this follows the local clock.
pub fn local_hour_start(instant: DateTime<Utc>, zone: Tz) -> DateTime<Utc> {
    let local = instant.with_timezone(&zone);
    instant - TimeDelta::seconds(i64::from(local.minute() * 60 + local.second()))
}

/// The hourly view of `intervals` (in order) in `zone`: one hourly
/// interval per local clock hour whose four quarter-hours are all there,
/// with the mean of their `total`, `energy` and `tax`, and their level when
/// all four share it; hourly intervals as they are.
pub fn hourly_means(intervals: &[Interval], zone: Tz) -> Vec<Interval> {
    let mut hours = Vec::with_capacity(intervals.len() / 4 + 1);
    let mut at = 0;
    while at < intervals.len() {
        let first = intervals[at];
        if first.resolution == Resolution::Hour {
            hours.push(first);
            at += 1;
            continue;
        }
        let hour = local_hour_start(first.starts_at(), zone);
        // The run of quarter-hours that belong to this local hour.
        let run = intervals[at..]
            .iter()
            .take_while(|interval| {
                interval.resolution == Resolution::QuarterHour
                    && local_hour_start(interval.starts_at(), zone) == hour
            })
            .count();
        let quarters = &intervals[at..at + run];
        if let Some(mean) = whole_hour_mean(hour, quarters) {
            hours.push(mean);
        }
        at += run;
    }
    hours
}

/// The hourly interval of `quarters` when they are exactly the four
/// quarter-hours of the hour starting at `hour`.
fn whole_hour_mean(hour: DateTime<Utc>, quarters: &[Interval]) -> Option<Interval> {
    let whole = quarters.len() == 4
        && quarters
            .iter()
            .zip(0..)
            .all(|(quarter, n)| quarter.starts_at() == hour + TimeDelta::minutes(15 * n));
    if !whole {
        return None;
    }
    let mean =
        |part: fn(&Interval) -> f64| super::tidy(quarters.iter().map(part).sum::<f64>() / 4.0);
    let level = quarters[0].level;
    Some(Interval::new(
        hour,
        Resolution::Hour,
        mean(|q| q.total),
        mean(|q| q.energy),
        mean(|q| q.tax),
        level.filter(|_| quarters.iter().all(|q| q.level == level)),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::answers::summary::tests::{at, berlin, quarters};
    use proptest::prelude::*;

    #[test]
    fn a_fall_back_day_has_25_hours_with_both_two_oclocks_distinct() {
        let (start, _) = crate::pool::days::local_day(berlin(), "2025-10-26".parse().unwrap());
        let day = quarters(start, &vec![0.25; 100]);
        let hours = hourly_means(&day, berlin());
        assert_eq!(hours.len(), 25);
        assert_eq!(hours[2].starts_at(), at("2025-10-26T00:00:00Z"));
        assert_eq!(hours[3].starts_at(), at("2025-10-26T01:00:00Z"));
        assert!(hours.iter().all(|h| h.resolution == Resolution::Hour));
    }

    #[test]
    fn a_spring_forward_day_has_23_hours() {
        let (start, _) = crate::pool::days::local_day(berlin(), "2025-03-30".parse().unwrap());
        let day = quarters(start, &vec![0.25; 92]);
        assert_eq!(hourly_means(&day, berlin()).len(), 23);
    }

    #[test]
    fn an_hour_missing_a_quarter_is_missing_and_hourly_slots_pass_through() {
        let start = at("2025-09-30T20:00:00Z"); // 22:00 in Berlin, hourly until midnight
        let mut slots = vec![
            Interval::new(start, Resolution::Hour, 0.5, 0.5, 0.0, None),
            Interval::new(
                start + TimeDelta::hours(1),
                Resolution::Hour,
                0.7,
                0.7,
                0.0,
                None,
            ),
        ];
        let midnight = start + TimeDelta::hours(2);
        let mut day = quarters(midnight, &[0.5, 0.25, 0.25, 1.0, 1.0, 1.0, 1.0, 1.0]);
        day.remove(5); // 01:15 local is missing
        slots.extend(day);
        let hours = hourly_means(&slots, berlin());
        let got: Vec<(DateTime<Utc>, f64)> =
            hours.iter().map(|h| (h.starts_at(), h.total)).collect();
        assert_eq!(
            got,
            vec![
                (start, 0.5),
                (start + TimeDelta::hours(1), 0.7),
                (midnight, 0.5)
            ]
        );
    }

    /// The naive model: group the quarter-hours by their local wall-clock
    /// hour and offset (so the two 02:00 hours differ) and keep the groups
    /// of four; hourly slots as they are.
    fn naive(intervals: &[Interval], zone: Tz) -> Vec<(DateTime<Utc>, f64)> {
        use chrono::{NaiveDate, Offset};
        type Key = (NaiveDate, u32, i32);
        let mut groups: std::collections::BTreeMap<Key, (DateTime<Utc>, Vec<f64>)> =
            Default::default();
        let mut out = Vec::new();
        for interval in intervals {
            if interval.resolution == Resolution::Hour {
                out.push((interval.starts_at(), interval.total));
                continue;
            }
            let local = interval.starts_at().with_timezone(&zone);
            let key = (
                local.date_naive(),
                local.hour(),
                local.offset().fix().local_minus_utc(),
            );
            let group = groups
                .entry(key)
                .or_insert((interval.starts_at(), Vec::new()));
            group.0 = group.0.min(interval.starts_at());
            group.1.push(interval.total);
        }
        for (_, (first, totals)) in groups {
            let minute = first.with_timezone(&zone).minute();
            if totals.len() == 4 && minute == 0 {
                out.push((first, totals.iter().sum::<f64>() / 4.0));
            }
        }
        out.sort_by_key(|(start, _)| *start);
        out
    }

    proptest! {
        #[test]
        fn hourly_means_equal_a_naive_grouping(
            day in crate::answers::summary::tests::any_day(),
        ) {
            let (zone, intervals) = day;
            let got: Vec<(DateTime<Utc>, f64)> = hourly_means(&intervals, zone)
                .iter()
                .map(|h| (h.starts_at(), h.total))
                .collect();
            let expected = naive(&intervals, zone);
            prop_assert_eq!(got.len(), expected.len());
            for ((start, mean), (naive_start, naive_mean)) in got.iter().zip(&expected) {
                prop_assert_eq!(start, naive_start);
                prop_assert!((mean - naive_mean).abs() < 1e-9);
            }
        }
    }
}
