//! The pool's figures for `/stats`, the metrics and the benches:
//! `PoolStats` / `ProtectedStats` and `Pool::stats` / `Pool::heap_bytes`.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{FetchGroup, Interval, Pool, ceil_slot};

/// The pool's figures, for `/stats` and the metrics.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PoolStats {
    pub live_intervals: usize,
    pub dead_intervals: usize,
    pub groups: usize,
    pub max_intervals: usize,
    pub protected_window: ProtectedStats,
    pub oldest_starts_at: Option<DateTime<Utc>>,
    pub newest_starts_at: Option<DateTime<Utc>>,
    pub last_fetch: Option<DateTime<Utc>>,
    /// More live intervals than `max_intervals` remain because every group
    /// left holds an interval in the protected window.
    pub gc_blocked_by_protection: bool,
    /// Groups evicted since the pool was created.
    pub evicted_groups_total: u64,
}

/// How much of the protected window the pool holds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProtectedStats {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// Live intervals starting in the window.
    pub held: usize,
    /// Intervals the window has at the expected resolution (92/96/100 a day
    /// for quarter-hours, 23/24/25 for hours).
    pub expected: usize,
}

impl Pool {
    /// The pool's figures at `now`.
    pub fn stats(&self, now: DateTime<Utc>) -> PoolStats {
        let (start, end) = self.protected_window(now);
        let held = self
            .index
            .range(ceil_slot(start), ceil_slot(end) - 1)
            .count();
        let mut oldest: Option<DateTime<Utc>> = None;
        let mut newest: Option<DateTime<Utc>> = None;
        let mut n_stored = 0;
        for group in self.groups.iter().flatten() {
            n_stored += group.intervals.len();
            if let (Some(first), Some(last)) = (group.intervals.first(), group.intervals.last()) {
                oldest = Some(oldest.map_or(first.starts_at(), |t| t.min(first.starts_at())));
                newest = Some(newest.map_or(last.starts_at(), |t| t.max(last.starts_at())));
            }
        }
        PoolStats {
            live_intervals: self.len(),
            dead_intervals: n_stored - self.len(),
            groups: self.n_groups(),
            max_intervals: self.config.max_intervals,
            protected_window: ProtectedStats {
                start,
                end,
                held,
                expected: self.expected_count(start, end),
            },
            oldest_starts_at: oldest,
            newest_starts_at: newest,
            last_fetch: self.last_fetch,
            gc_blocked_by_protection: self.gc_blocked,
            evicted_groups_total: self.evicted_groups_total,
        }
    }

    /// Heap bytes held by groups and index (capacity, not just length), for
    /// the memory figures in benches.
    pub fn heap_bytes(&self) -> usize {
        let groups: usize = self
            .groups
            .iter()
            .flatten()
            .map(|g| g.intervals.capacity() * std::mem::size_of::<Interval>())
            .sum();
        groups
            + self.groups.capacity() * std::mem::size_of::<Option<FetchGroup>>()
            + self.free_slots.capacity() * std::mem::size_of::<usize>()
            + self.index.heap_bytes()
    }
}
