//! The cheapest (or dearest) window of a duration: "when should the
//! dishwasher run for three hours?", exactly, not by heuristic.
//!
//! Contiguous: a sliding sum over the slots, each weighted by its duration
//! (hourly and quarter-hourly slots mix across the 2025 switch), over runs
//! of back-to-back slots only, so a window never spans a missing stretch.
//! Non-contiguous: the cheapest slots by total, then by time, merged into
//! windows where they touch. Ties go to the earliest in both.

use chrono::{DateTime, TimeDelta, Utc};

use super::seconds;
use crate::pool::Interval;

/// What a window search asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowQuery {
    /// How long the window is (the sum of its slots' durations).
    pub duration: TimeDelta,
    /// One unbroken window (true) or the cheapest slots wherever they are.
    pub contiguous: bool,
    /// The dearest instead of the cheapest.
    pub highest: bool,
}

/// Why a duration cannot be searched for: each is the client's `duration`
/// at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheapestError {
    /// Zero or negative.
    #[error("`duration` must be longer than zero")]
    NotPositive,
    /// Not made of whole slots.
    #[error("`duration` must be a multiple of the slot length ({slot_minutes} minutes)")]
    NotWholeSlots {
        /// The shortest slot in the range, in minutes.
        slot_minutes: i64,
    },
    /// Longer than the range searched.
    #[error(
        "`duration` ({duration_minutes} minutes) is longer than the range ({range_minutes} minutes)"
    )]
    LongerThanRange {
        /// What was asked for.
        duration_minutes: i64,
        /// The range's length.
        range_minutes: i64,
    },
}

/// One unbroken stretch of a pick.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Window {
    /// Its first slot's start.
    pub start: DateTime<Utc>,
    /// Its last slot's end (exclusive).
    pub end: DateTime<Utc>,
    /// The mean total over it, weighted by slot duration.
    pub mean: f64,
}

/// The slots a search picked, and the windows they form.
#[derive(Debug, Clone, PartialEq)]
pub struct Pick {
    /// The stretches (one when contiguous), in order.
    pub windows: Vec<Window>,
    /// The picked slots, in order.
    pub slots: Vec<Interval>,
    /// The mean total over all picked slots, weighted by duration.
    pub mean: f64,
}

/// Checks `query.duration` against the slots of `intervals` and the range
/// `[start, end)`: positive, whole slots of the shortest length present
/// (15 minutes when nothing is known), no longer than the range.
pub fn check_duration(
    intervals: &[Interval],
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    duration: TimeDelta,
) -> Result<(), CheapestError> {
    if duration <= TimeDelta::zero() {
        return Err(CheapestError::NotPositive);
    }
    let slot_seconds = intervals.iter().map(seconds).min().unwrap_or(900);
    if duration.num_seconds() % slot_seconds != 0 || duration.subsec_nanos() != 0 {
        return Err(CheapestError::NotWholeSlots {
            slot_minutes: slot_seconds / 60,
        });
    }
    if duration > end - start {
        return Err(CheapestError::LongerThanRange {
            duration_minutes: duration.num_minutes(),
            range_minutes: (end - start).num_minutes(),
        });
    }
    Ok(())
}

/// The cheapest (dearest with `highest`) pick of `query.duration` among
/// `intervals` (in order, within `[start, end)`); None when no pick of that
/// duration fits what is known. The duration is checked first.
pub fn cheapest(
    intervals: &[Interval],
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    query: WindowQuery,
) -> Result<Option<Pick>, CheapestError> {
    check_duration(intervals, start, end, query.duration)?;
    let target = query.duration.num_seconds();
    let picked = if query.contiguous {
        best_window(intervals, target, query.highest).map(|(from, to)| intervals[from..to].to_vec())
    } else {
        best_slots(intervals, target, query.highest)
    };
    Ok(picked.map(pick_of))
}

/// The cheapest contiguous `duration` of known slots from the slot running
/// at `now` on (it may start with that slot): the dashboard's shaded window
/// and MQTT's `cheapest_3h_start`. None when no run that long is known.
pub fn cheapest_upcoming(
    intervals: &[Interval],
    now: DateTime<Utc>,
    duration: TimeDelta,
) -> Option<Window> {
    let upcoming = &intervals[intervals.partition_point(|i| i.ends_at() <= now)..];
    let (start, end) = (upcoming.first()?.starts_at(), upcoming.last()?.ends_at());
    let query = WindowQuery {
        duration,
        contiguous: true,
        highest: false,
    };
    let pick = cheapest(upcoming, start, end, query).ok().flatten()?;
    pick.windows.first().copied()
}

/// Whether `candidate` beats `best` (sums in the search's direction): by
/// more than rounding noise, so equal windows tie and the earliest stays.
fn beats(candidate: f64, best: f64) -> bool {
    candidate < best - 1e-9 * best.abs().max(1.0)
}

/// The slot's price times its duration in quarter-hours, negated for the
/// dearest search so that lower is always better.
fn weight(interval: &Interval, highest: bool) -> f64 {
    let cost = interval.total * (seconds(interval) as f64 / 900.0);
    if highest { -cost } else { cost }
}

/// `[from, to)` of the best run of back-to-back slots lasting exactly
/// `target` seconds: a two-pointer sliding sum, O(n).
fn best_window(intervals: &[Interval], target: i64, highest: bool) -> Option<(usize, usize)> {
    let mut best: Option<(f64, usize, usize)> = None;
    let (mut to, mut sum, mut covered) = (0usize, 0.0f64, 0i64);
    for from in 0..intervals.len() {
        if to <= from {
            (to, sum, covered) = (from, 0.0, 0);
        }
        while covered < target
            && to < intervals.len()
            && (to == from || intervals[to].starts_at() == intervals[to - 1].ends_at())
        {
            sum += weight(&intervals[to], highest);
            covered += seconds(&intervals[to]);
            to += 1;
        }
        if covered == target && best.is_none_or(|(best_sum, _, _)| beats(sum, best_sum)) {
            best = Some((sum, from, to));
        }
        if to > from {
            sum -= weight(&intervals[from], highest);
            covered -= seconds(&intervals[from]);
        }
    }
    best.map(|(_, from, to)| (from, to))
}

/// The best slots by total (then time) whose durations add up to exactly
/// `target` seconds, in time order; a slot that would overshoot is skipped.
fn best_slots(intervals: &[Interval], target: i64, highest: bool) -> Option<Vec<Interval>> {
    let mut order: Vec<&Interval> = intervals.iter().collect();
    order.sort_by(|a, b| {
        let by_price = if highest {
            b.total.total_cmp(&a.total)
        } else {
            a.total.total_cmp(&b.total)
        };
        by_price.then(a.starts_at().cmp(&b.starts_at()))
    });
    let mut remaining = target;
    let mut picked = Vec::new();
    for slot in order {
        if remaining == 0 {
            break;
        }
        if seconds(slot) <= remaining {
            remaining -= seconds(slot);
            picked.push(*slot);
        }
    }
    if remaining != 0 {
        return None;
    }
    picked.sort_by_key(|slot| slot.starts_at());
    Some(picked)
}

/// The mean of `slots` weighted by duration.
fn mean_of(slots: &[Interval]) -> f64 {
    let covered: i64 = slots.iter().map(seconds).sum();
    let weighted: f64 = slots.iter().map(|s| s.total * seconds(s) as f64).sum();
    super::tidy(weighted / covered.max(1) as f64)
}

/// The pick of `slots` (in time order): touching slots merged into windows.
fn pick_of(slots: Vec<Interval>) -> Pick {
    let mut windows = Vec::new();
    let mut run_start = 0;
    for at in 1..=slots.len() {
        if at == slots.len() || slots[at].starts_at() != slots[at - 1].ends_at() {
            let run = &slots[run_start..at];
            windows.push(Window {
                start: run[0].starts_at(),
                end: run[run.len() - 1].ends_at(),
                mean: mean_of(run),
            });
            run_start = at;
        }
    }
    Pick {
        mean: mean_of(&slots),
        windows,
        slots,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::answers::summary::tests::{any_day, at, berlin, published, quarters};
    use proptest::prelude::*;

    fn query(minutes: i64, contiguous: bool, highest: bool) -> WindowQuery {
        WindowQuery {
            duration: TimeDelta::minutes(minutes),
            contiguous,
            highest,
        }
    }

    fn search(slots: &[Interval], q: WindowQuery) -> Result<Option<Pick>, CheapestError> {
        let start = slots[0].starts_at();
        cheapest(slots, start, slots[slots.len() - 1].ends_at(), q)
    }

    fn bounds(pick: &Pick) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
        pick.windows.iter().map(|w| (w.start, w.end)).collect()
    }

    #[test]
    fn the_cheapest_window_goes_to_the_earliest_of_equal_ones_and_highest_finds_the_dearest() {
        let start = at("2025-11-03T00:00:00Z");
        let slots = quarters(start, &[0.5, 0.1, 0.1, 0.9, 0.1, 0.1, 0.9, 0.9]);
        let pick = search(&slots, query(30, true, false)).unwrap().unwrap();
        let minute = |n| start + TimeDelta::minutes(n);
        assert_eq!(bounds(&pick), vec![(minute(15), minute(45))]);
        assert!((pick.mean - 0.1).abs() < 1e-12);
        let dearest = search(&slots, query(30, true, true)).unwrap().unwrap();
        assert_eq!(bounds(&dearest), vec![(minute(90), minute(120))]);
        let scattered = search(&slots, query(60, false, false)).unwrap().unwrap();
        assert_eq!(
            bounds(&scattered),
            vec![(minute(15), minute(45)), (minute(60), minute(90))]
        );
    }

    #[test]
    fn a_window_never_spans_a_missing_stretch() {
        let start = at("2025-11-03T00:00:00Z");
        let mut slots = quarters(start, &[0.0, 0.0, 5.0, 0.0, 1.0, 1.0]);
        slots.remove(2);
        let pick = search(&slots, query(30, true, false)).unwrap().unwrap();
        assert_eq!(pick.windows[0].start, start);
        slots.remove(1);
        let pick = search(&slots, query(30, true, false)).unwrap().unwrap();
        assert_eq!(pick.windows[0].start, start + TimeDelta::minutes(45));
        let pick = search(&slots, query(75, true, false)).unwrap();
        assert_eq!(pick, None, "no 75 minutes run back to back");
    }

    #[test]
    fn across_the_switch_hours_weigh_four_quarters() {
        // 30 Sep 22:00 and 23:00 local are hours, 1 Oct from midnight quarters.
        let start = at("2025-09-30T20:00:00Z");
        let slots = published(berlin(), start, &[0.3, 0.1, 0.4, 0.2, 0.2, 0.2, 0.9]);
        let pick = search(&slots, query(120, true, false)).unwrap().unwrap();
        // 23:00 (0.1 for an hour) + four quarters (0.4, 0.2, 0.2, 0.2): mean 0.175.
        assert_eq!(pick.windows[0].start, start + TimeDelta::hours(1));
        assert!((pick.mean - 0.175).abs() < 1e-12);
        assert_eq!(pick.slots.len(), 5);
    }

    #[test]
    fn a_duration_of_partial_slots_or_longer_than_the_range_is_refused() {
        let start = at("2025-11-03T00:00:00Z");
        let slots = quarters(start, &[0.1; 8]);
        assert_eq!(
            search(&slots, query(7, true, false)),
            Err(CheapestError::NotWholeSlots { slot_minutes: 15 })
        );
        assert!(matches!(
            search(&slots, query(135, true, false)),
            Err(CheapestError::LongerThanRange { .. })
        ));
        assert_eq!(
            search(&slots, query(0, true, false)),
            Err(CheapestError::NotPositive)
        );
        let hours = published(berlin(), at("2025-09-29T00:00:00Z"), &[0.1; 5]);
        assert_eq!(
            search(&hours, query(45, true, false)),
            Err(CheapestError::NotWholeSlots { slot_minutes: 60 })
        );
    }

    /// The O(n²) model: every start, its window summed afresh; a later
    /// window wins only when strictly cheaper beyond rounding noise.
    fn brute_force(slots: &[Interval], target: i64, highest: bool) -> Option<(usize, usize)> {
        let mut best: Option<(f64, usize, usize)> = None;
        for from in 0..slots.len() {
            let mut covered = 0;
            for to in from..slots.len() {
                if to > from && slots[to].starts_at() != slots[to - 1].ends_at() {
                    break;
                }
                covered += seconds(&slots[to]);
                if covered >= target {
                    if covered == target {
                        let sum: f64 = slots[from..=to].iter().map(|s| weight(s, highest)).sum();
                        if best.is_none_or(|(b, _, _)| beats(sum, b)) {
                            best = Some((sum, from, to + 1));
                        }
                    }
                    break;
                }
            }
        }
        best.map(|(_, from, to)| (from, to))
    }

    /// The naive non-contiguous model for uniform slots: take the minimum
    /// (by price, then time) again and again.
    fn naive_slots(slots: &[Interval], count: usize, highest: bool) -> Vec<DateTime<Utc>> {
        let mut left: Vec<Interval> = slots.to_vec();
        let mut taken = Vec::new();
        while taken.len() < count && !left.is_empty() {
            let mut at = 0;
            for n in 1..left.len() {
                let better = if highest {
                    left[n].total > left[at].total
                } else {
                    left[n].total < left[at].total
                };
                if better {
                    at = n;
                }
            }
            taken.push(left.remove(at).starts_at());
        }
        taken.sort();
        taken
    }

    proptest! {
        #[test]
        fn the_contiguous_window_equals_an_exhaustive_search(
            day in any_day(),
            quarters_long in 1i64..16,
            highest in any::<bool>(),
        ) {
            let (_, slots) = day;
            prop_assume!(!slots.is_empty());
            let target = quarters_long * 900;
            let shortest = slots.iter().map(seconds).min().unwrap();
            prop_assume!(target % shortest == 0);
            let expected = brute_force(&slots, target, highest);
            let found = best_window(&slots, target, highest);
            prop_assert_eq!(found, expected);
        }

        #[test]
        fn the_scattered_pick_equals_a_naive_selection(
            prices in prop::collection::vec(-5i32..5, 1..120),
            count in 1usize..30,
            highest in any::<bool>(),
        ) {
            let totals: Vec<f64> = prices.iter().map(|p| f64::from(*p) / 10.0).collect();
            let slots = quarters(at("2025-11-03T00:00:00Z"), &totals);
            let found = best_slots(&slots, count as i64 * 900, highest);
            let expected = naive_slots(&slots, count, highest);
            if count > slots.len() {
                prop_assert_eq!(found, None);
            } else {
                let found: Vec<DateTime<Utc>> = found.unwrap().iter().map(|s| s.starts_at()).collect();
                prop_assert_eq!(found, expected);
            }
        }
    }
}
