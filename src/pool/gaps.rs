//! Gap detection: the minimal missing ranges of a query.
//!
//! The walk visits the cached intervals starting in `[start, end)` in order
//! (through the index's range); the missing slots between them, and before
//! the first and after the last, are *runs*. A run becomes a gap when it contains at least one whole expected
//! interval: quarter-hours need one missing slot, hours need a whole local
//! hour whose start lies in the query. The expected resolution of a run is
//! its cached neighbour's (on the same side of the switch date), else the
//! switch date's: hourly before local midnight of `quarter_hourly_from`,
//! quarter-hourly after. Runs never cross the switch.
//!
//! Cost: that of a `range` over the query (O(intervals cached in it), or
//! O(pages) for a query wider than the pool), independent of the pool size.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use super::days::{align_down_to_local_hour, align_up_to_local_hour, local_midnight};
use super::index::slot_of_seconds;
use super::{Pool, PoolError, Resolution, ceil_slot, clamp_to_starts, slot_start, span_slots};

/// A missing stretch: fetching `[start, end)` fills it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Gap {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// The resolution expected inside the gap.
    pub resolution: Resolution,
}

/// A run of missing slots `[first, end_slot)` with what borders it.
struct Run {
    first: i64,
    end_slot: i64,
    /// Resolution of the cached interval ending where the run begins.
    before: Option<Resolution>,
    /// Resolution of the cached interval starting where the run ends.
    after: Option<Resolution>,
    /// Whether `end_slot` is a real border (a cached interval or the switch)
    /// rather than the end of the query.
    bounded: bool,
}

impl Pool {
    /// The minimal missing ranges of `[start, end)`, in order. Leading, inner
    /// and trailing gaps; no gap shorter than one expected interval; correct
    /// across DST days, the hourly → quarter-hourly switch, and bounds off
    /// the grid. Bounds beyond the years 1000..9998 (where no interval can
    /// start) are clamped to them.
    pub fn gaps(&self, start: DateTime<Utc>, end: DateTime<Utc>) -> Result<Vec<Gap>, PoolError> {
        if start >= end {
            return Err(PoolError::EmptyRange { start, end });
        }
        // No interval starts outside the years 1000..9998, so nothing there can
        // be fetched: gaps are reported inside that span only.
        let (start, end) = (clamp_to_starts(start), clamp_to_starts(end));
        if start >= end {
            return Ok(Vec::new());
        }
        let switch_slot = slot_of_seconds(
            local_midnight(self.home.zone, self.config.quarter_hourly_from).timestamp(),
        );
        let end_slot = ceil_slot(end);
        let mut slot = ceil_slot(start);
        let mut gaps = Vec::new();

        // An interval that began before the first slot may still cover it.
        let mut before = None;
        if let Some(interval) = self.covering(slot_start(slot))
            && interval.starts_at() < slot_start(slot)
        {
            slot = slot_of_seconds(interval.ends_at().timestamp());
            before = Some(interval.resolution);
        }
        if before.is_none() {
            before = self.ending_at(slot);
        }

        // Walk the cached intervals in order; what lies between them is missing.
        let mut cursor = slot;
        for (cached_slot, loc) in self.index.range(cursor, end_slot - 1) {
            let interval = self.at(loc);
            if cached_slot > cursor {
                let run = Run {
                    first: cursor,
                    end_slot: cached_slot,
                    before,
                    after: Some(interval.resolution),
                    bounded: true,
                };
                self.push_runs(run, switch_slot, end, &mut gaps);
            }
            before = Some(interval.resolution);
            cursor = cached_slot + span_slots(interval.resolution);
        }
        if cursor < end_slot {
            let run = Run {
                first: cursor,
                end_slot,
                before,
                after: None,
                bounded: false,
            };
            self.push_runs(run, switch_slot, end, &mut gaps);
        }
        Ok(gaps)
    }

    /// Adds the gaps of one run of missing slots, split in two at the switch
    /// when it crosses it (the part after the switch has no `before`, the
    /// part before it no `after`).
    fn push_runs(&self, run: Run, switch_slot: i64, query_end: DateTime<Utc>, gaps: &mut Vec<Gap>) {
        if run.first < switch_slot && switch_slot < run.end_slot {
            let before_switch = Run {
                first: run.first,
                end_slot: switch_slot,
                before: run.before,
                after: None,
                bounded: true,
            };
            gaps.extend(self.gap_of(before_switch, switch_slot, query_end));
            let from_switch = Run {
                first: switch_slot,
                before: None,
                ..run
            };
            gaps.extend(self.gap_of(from_switch, switch_slot, query_end));
        } else {
            gaps.extend(self.gap_of(run, switch_slot, query_end));
        }
    }

    /// The resolution of a cached interval ending exactly at `slot`, if any.
    fn ending_at(&self, slot: i64) -> Option<Resolution> {
        [1, span_slots(Resolution::Hour)]
            .into_iter()
            .find_map(|back| {
                let interval = self.at(self.index.get(slot - back)?);
                (slot_of_seconds(interval.ends_at().timestamp()) == slot)
                    .then_some(interval.resolution)
            })
    }

    /// Turns a run of missing slots into a gap, or nothing when it holds no
    /// whole expected interval.
    fn gap_of(&self, run: Run, switch_slot: i64, query_end: DateTime<Utc>) -> Option<Gap> {
        let by_switch = if run.first < switch_slot {
            Resolution::Hour
        } else {
            Resolution::QuarterHour
        };
        let before = run.before.filter(|_| run.first != switch_slot);
        let after = run.after.filter(|_| run.end_slot != switch_slot);
        let resolution = before.or(after).unwrap_or(by_switch);
        let (run_start, run_end) = (slot_start(run.first), slot_start(run.end_slot));
        match resolution {
            Resolution::QuarterHour => Some(Gap {
                start: run_start,
                end: run_end,
                resolution,
            }),
            Resolution::Hour => {
                let first_hour = align_up_to_local_hour(self.home.zone, run_start);
                // The last hour that fits: it must end by the border, or start before the query's end.
                let limit = if run.bounded {
                    run_end - Duration::hours(1)
                } else {
                    query_end - Duration::nanoseconds(1)
                };
                let last_hour = align_down_to_local_hour(self.home.zone, limit);
                (first_hour <= last_hour).then(|| Gap {
                    start: first_hour,
                    end: last_hour + Duration::hours(1),
                    resolution,
                })
            }
        }
    }
}
