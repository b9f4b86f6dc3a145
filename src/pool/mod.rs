//! The interval pool: a pure, synchronous per-home cache of price intervals.
//!
//! No I/O, no clock reads (callers pass `now`), no async: the fetch
//! coordinator, the HTTP API and the saver all build on it, and properties
//! and benches can drive it directly.
//!
//! Invariants, checked by `Pool::check_invariants` in the tests:
//! - an interval is live exactly when the index points at it;
//! - live intervals never overlap, and every one starts on the 15-minute grid;
//! - after `add` returns there is no dead interval and no empty group;
//! - live intervals exceed `max_intervals` only when every remaining group
//!   holds an interval in the protected window (`gc_blocked`).

mod config;
pub mod days;
mod gaps;
mod gc;
pub mod group;
pub mod index;
pub mod interval;
mod invariants;
mod packed_start;
mod snapshot;
mod stats;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use serde::Serialize;

pub use config::{EUROPE_QUARTER_HOURLY_FROM, HomeInfo, PoolConfig};
pub use gaps::Gap;
pub use group::FetchGroup;
pub use index::TimestampIndex;
pub use interval::{
    EARLIEST_START_SECONDS, END_OF_STARTS_SECONDS, Interval, IntervalError, PriceLevel,
    QUARTER_SECONDS, Resolution,
};
pub use snapshot::{GroupSnapshot, PoolSnapshot};
pub use stats::{PoolStats, ProtectedStats};

use index::{Loc, MAX_GROUP_LEN, MAX_GROUPS, slot_of_seconds};

/// Why the pool refused a call. The pool is unchanged after any error.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PoolError {
    #[error("range start {start} is not before its end {end}")]
    EmptyRange {
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    },
    #[error(transparent)]
    Interval(#[from] IntervalError),
    #[error("the pool cannot hold more than {MAX_GROUPS} fetch groups")]
    TooManyGroups,
}

/// What an `add` changed, so the caller knows whether the home is dirty.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct AddOutcome {
    /// Intervals at instants the pool did not hold.
    pub added: usize,
    /// Cached intervals replaced by a fresh copy (same start, or overlapping).
    pub touched: usize,
    /// Intervals in the answer that a later one at the same start replaced.
    pub duplicates_in_answer: usize,
    /// Dead intervals dropped by GC.
    pub dead_dropped: usize,
    /// Whole groups GC evicted to stay under `max_intervals`.
    pub evicted_groups: usize,
    /// Live intervals those groups held.
    pub evicted_intervals: usize,
}

impl AddOutcome {
    /// Whether the pool's content changed (the home must be saved).
    pub fn changed(&self) -> bool {
        self.added + self.touched + self.dead_dropped + self.evicted_intervals > 0
    }
}

/// One home's cache. See the module doc for its invariants.
#[derive(Debug, Clone)]
pub struct Pool {
    home: HomeInfo,
    config: PoolConfig,
    /// Group table; `None` marks a free slot listed in `free_slots`.
    groups: Vec<Option<FetchGroup>>,
    free_slots: Vec<usize>,
    index: TimestampIndex,
    next_seq: u64,
    last_fetch: Option<DateTime<Utc>>,
    gc_blocked: bool,
    evicted_groups_total: u64,
    /// See [`Pool::revision`].
    revision: u64,
}

/// The next revision any pool takes: one counter for the process, so that
/// two pools (a home's pool replaced, or a clone changed) never show the
/// same revision for different content.
static NEXT_REVISION: AtomicU64 = AtomicU64::new(1);

fn next_revision() -> u64 {
    NEXT_REVISION.fetch_add(1, Ordering::Relaxed)
}

fn slot_of(t: DateTime<Utc>) -> i64 {
    slot_of_seconds(t.timestamp())
}

/// The first slot whose start is at or after `t`.
fn ceil_slot(t: DateTime<Utc>) -> i64 {
    let secs = t.timestamp();
    let floor = slot_of_seconds(secs);
    if secs.rem_euclid(QUARTER_SECONDS) == 0 && t.timestamp_subsec_nanos() == 0 {
        floor
    } else {
        floor + 1
    }
}

/// `t` moved into `[EARLIEST_START_SECONDS, END_OF_STARTS_SECONDS]`, the
/// span any cached interval starts in (plus its end bound).
fn clamp_to_starts(t: DateTime<Utc>) -> DateTime<Utc> {
    let secs = t.timestamp();
    if secs < EARLIEST_START_SECONDS {
        slot_start(EARLIEST_START_SECONDS / QUARTER_SECONDS)
    } else if secs >= END_OF_STARTS_SECONDS {
        slot_start(END_OF_STARTS_SECONDS / QUARTER_SECONDS)
    } else {
        t
    }
}

fn slot_start(slot: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(slot * QUARTER_SECONDS, 0).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// Slots an interval occupies in time (1 for a quarter-hour, 4 for an hour).
fn span_slots(resolution: Resolution) -> i64 {
    resolution.seconds() / QUARTER_SECONDS
}

impl Pool {
    /// An empty pool for `home`.
    pub fn new(home: HomeInfo, config: PoolConfig) -> Pool {
        Pool {
            home,
            config,
            groups: Vec::new(),
            free_slots: Vec::new(),
            index: TimestampIndex::default(),
            next_seq: 0,
            last_fetch: None,
            gc_blocked: false,
            evicted_groups_total: 0,
            revision: next_revision(),
        }
    }

    /// A stamp of the live intervals: it changes whenever they may have
    /// changed (an answer added, even one that only touched; an eviction)
    /// and is never reused, by this pool or any other in the process. So
    /// anything derived from the pool's content at one revision (a rendered
    /// body) is still exact while the revision is the same, and readers can
    /// check that without comparing intervals.
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// The home this pool prices.
    pub fn home(&self) -> &HomeInfo {
        &self.home
    }

    /// The pool's settings.
    pub fn config(&self) -> &PoolConfig {
        &self.config
    }

    /// Number of live intervals.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Whether the pool holds no interval.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Number of fetch groups.
    pub fn n_groups(&self) -> usize {
        self.groups.len() - self.free_slots.len()
    }

    /// When the last upstream answer was added.
    pub fn last_fetch(&self) -> Option<DateTime<Utc>> {
        self.last_fetch
    }

    #[inline]
    fn at(&self, loc: Loc) -> &Interval {
        // The index only ever points into occupied group slots at valid positions.
        &self.groups[loc.group()]
            .as_ref()
            .expect("index points at a live group")
            .intervals[loc.pos()]
    }

    /// Appends what one upstream call returned as a new fetch group.
    ///
    /// Every interval is validated first; any invalid one rejects the whole
    /// answer and leaves the pool unchanged (`PoolError::Interval`). Inside
    /// one answer, a later interval at the same start (or overlapping an
    /// earlier one) wins. Cached intervals at the same instants, or
    /// overlapping the fresh ones, are touched: the fresh copy wins and the
    /// old one is dropped. GC runs before returning.
    pub fn add(
        &mut self,
        intervals: Vec<Interval>,
        fetched_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<AddOutcome, PoolError> {
        for interval in &intervals {
            interval.validate()?;
        }
        let n_in = intervals.len();
        let fresh = normalise(intervals);
        let mut outcome = AddOutcome {
            duplicates_in_answer: n_in - fresh.len(),
            ..AddOutcome::default()
        };
        let n_chunks = fresh.len().div_ceil(MAX_GROUP_LEN);
        let free_after = self.free_slots.len() + (MAX_GROUPS - self.groups.len());
        if n_chunks > free_after {
            return Err(PoolError::TooManyGroups);
        }
        self.last_fetch = Some(self.last_fetch.map_or(fetched_at, |t| t.max(fetched_at)));
        self.revision = next_revision();

        let mut stale_groups: Vec<usize> = Vec::new();
        for chunk in fresh.chunks(MAX_GROUP_LEN) {
            let group_slot = self.push_group(fetched_at, chunk);
            for (pos, interval) in chunk.iter().enumerate() {
                let first = slot_of_seconds(interval.start_seconds());
                let last = first + span_slots(interval.resolution) - 1;
                // Anything cached that overlaps [start, end): an hour starts at most 3 slots
                // earlier, so at most 3 + 4 entries; kept on the stack (this loop is the add's hot path).
                let mut overlapping = [(0_i64, Loc::new(0, 0)); 7];
                let mut n_overlapping = 0;
                for (slot, loc) in self.index.range(first - 3, last) {
                    if slot >= first || slot + span_slots(self.at(loc).resolution) > first {
                        overlapping[n_overlapping] = (slot, loc);
                        n_overlapping += 1;
                    }
                }
                let mut replaced_same_start = false;
                for &(slot, loc) in &overlapping[..n_overlapping] {
                    self.index.remove_if(slot, loc);
                    stale_groups.push(loc.group());
                    outcome.touched += 1;
                    replaced_same_start |= slot == first;
                }
                if !replaced_same_start {
                    outcome.added += 1;
                }
                self.index.insert(first, Loc::new(group_slot, pos));
            }
        }
        stale_groups.sort_unstable();
        stale_groups.dedup();
        for group_slot in stale_groups {
            outcome.dead_dropped += self.compact(group_slot);
        }
        let (evicted_groups, evicted_intervals) = self.evict(now);
        outcome.evicted_groups = evicted_groups;
        outcome.evicted_intervals = evicted_intervals;
        Ok(outcome)
    }

    /// Stores `chunk` as the next fetch group (the next sequence number);
    /// returns its slot. Indexing its intervals is the caller's.
    fn push_group(&mut self, fetched_at: DateTime<Utc>, chunk: &[Interval]) -> usize {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.alloc_group(FetchGroup {
            fetched_at,
            seq,
            intervals: chunk.to_vec(),
        })
    }

    fn alloc_group(&mut self, group: FetchGroup) -> usize {
        if let Some(slot) = self.free_slots.pop() {
            self.groups[slot] = Some(group);
            slot
        } else {
            self.groups.push(Some(group));
            self.groups.len() - 1
        }
    }

    /// Intervals whose start lies in `[start, end)`, in order. Bounds off the
    /// grid are fine. Cost: O(slots in the range), never the pool size.
    pub fn range(
        &self,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<impl Iterator<Item = &Interval> + '_, PoolError> {
        if start >= end {
            return Err(PoolError::EmptyRange { start, end });
        }
        Ok(self
            .index
            .range(ceil_slot(start), ceil_slot(end) - 1)
            .map(|(_, loc)| self.at(loc)))
    }

    /// The interval starting exactly at `instant`. O(1).
    pub fn get(&self, instant: DateTime<Utc>) -> Option<&Interval> {
        if instant.timestamp().rem_euclid(QUARTER_SECONDS) != 0
            || instant.timestamp_subsec_nanos() != 0
        {
            return None;
        }
        self.index.get(slot_of(instant)).map(|loc| self.at(loc))
    }

    /// The interval containing `instant`: `[starts_at, ends_at)` holds it. O(1).
    pub fn current(&self, instant: DateTime<Utc>) -> Option<&Interval> {
        self.covering(instant)
    }

    /// The live interval whose span contains `t`, if any.
    fn covering(&self, t: DateTime<Utc>) -> Option<&Interval> {
        // Live intervals never overlap, so only the nearest start at or before
        // `t` can contain it; an hour starts at most 3 slots back.
        let slot = slot_of(t);
        let (start_slot, loc) = self.index.nearest_at_or_before(slot, 3)?;
        let interval = self.at(loc);
        (slot < start_slot + span_slots(interval.resolution)).then_some(interval)
    }

    /// The protected window for `now` in the home's zone. A `now` outside
    /// the span intervals can start in is clamped into it (no local date
    /// computation can then overflow).
    pub fn protected_window(&self, now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
        days::protected_window(self.home.zone, clamp_to_starts(now))
    }

    /// How many intervals `[start, end)` has at the expected resolution.
    pub fn expected_count(&self, start: DateTime<Utc>, end: DateTime<Utc>) -> usize {
        days::expected_count(self.home.zone, self.config.quarter_hourly_from, start, end)
    }
}

/// Sorts one upstream answer by start and resolves collisions inside it: a
/// later interval replaces an earlier one at the same start or overlapping it.
fn normalise(intervals: Vec<Interval>) -> Vec<Interval> {
    // The usual answer is already sorted with no overlap: keep it as it is.
    let in_order = intervals.windows(2).all(|pair| {
        slot_of_seconds(pair[0].start_seconds()) + span_slots(pair[0].resolution)
            <= slot_of_seconds(pair[1].start_seconds())
    });
    if in_order {
        return intervals;
    }
    let mut by_slot: BTreeMap<i64, Interval> = BTreeMap::new();
    for interval in intervals {
        let first = slot_of_seconds(interval.start_seconds());
        let last = first + span_slots(interval.resolution) - 1;
        let overlapping: Vec<i64> = by_slot
            .range(first - 3..=last)
            .filter(|(slot, iv)| **slot >= first || iv.ends_at() > interval.starts_at())
            .map(|(slot, _)| *slot)
            .collect();
        for slot in overlapping {
            by_slot.remove(&slot);
        }
        by_slot.insert(first, interval);
    }
    by_slot.into_values().collect()
}

#[cfg(test)]
mod tests;
