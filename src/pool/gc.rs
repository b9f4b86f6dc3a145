//! Garbage collection: dead intervals, empty groups, and eviction of whole
//! groups (oldest `fetched_at` first) above `max_intervals`, sparing every
//! group that holds an interval in the protected window.

use chrono::{DateTime, Utc};

use super::index::{Loc, slot_of_seconds};
use super::{AddOutcome, Pool};

impl Pool {
    /// Drops the dead intervals of one group (those the index no longer
    /// points at), re-indexes the survivors, and frees the group if nothing
    /// is left. Returns how many were dropped. O(group size).
    pub(super) fn compact(&mut self, group_slot: usize) -> usize {
        let Some(group) = self.groups[group_slot].as_mut() else {
            return 0;
        };
        let before = group.intervals.len();
        let mut kept = Vec::with_capacity(before);
        for (pos, interval) in group.intervals.iter().enumerate() {
            let slot = slot_of_seconds(interval.start_seconds());
            if self.index.get(slot) == Some(Loc::new(group_slot, pos)) {
                kept.push((slot, *interval));
            }
        }
        let dropped = before - kept.len();
        if dropped == 0 {
            return 0;
        }
        if kept.is_empty() {
            self.groups[group_slot] = None;
            self.free_slots.push(group_slot);
            return dropped;
        }
        for (new_pos, (slot, _)) in kept.iter().enumerate() {
            self.index.insert(*slot, Loc::new(group_slot, new_pos));
        }
        group.intervals = kept.into_iter().map(|(_, interval)| interval).collect();
        dropped
    }

    /// Changes the GC limit (a configuration reload, or a bench that needs a
    /// pool over its limit) and runs GC at `now` right away, so the pool's
    /// invariants hold when this returns. Returns what GC evicted.
    pub fn set_max_intervals(&mut self, max_intervals: usize, now: DateTime<Utc>) -> AddOutcome {
        self.config.max_intervals = max_intervals;
        let (evicted_groups, evicted_intervals) = self.evict(now);
        AddOutcome {
            evicted_groups,
            evicted_intervals,
            ..AddOutcome::default()
        }
    }

    /// Evicts whole unprotected groups, oldest first, while more than
    /// `max_intervals` live intervals remain. Returns (groups, intervals)
    /// evicted and records whether protection kept the pool over the limit.
    pub(super) fn evict(&mut self, now: DateTime<Utc>) -> (usize, usize) {
        if self.len() <= self.config.max_intervals {
            self.gc_blocked = false;
            return (0, 0);
        }
        let (window_start, window_end) = self.protected_window(now);
        let mut candidates: Vec<(DateTime<Utc>, u64, usize)> = self
            .groups
            .iter()
            .enumerate()
            .filter_map(|(slot, group)| group.as_ref().map(|g| (slot, g)))
            .filter(|(_, group)| !group.holds_any_in(window_start, window_end))
            .map(|(slot, group)| (group.fetched_at, group.seq, slot))
            .collect();
        candidates.sort_unstable();
        let (mut n_groups, mut n_intervals) = (0, 0);
        for (_, _, group_slot) in candidates {
            if self.len() <= self.config.max_intervals {
                break;
            }
            n_intervals += self.remove_group(group_slot);
            n_groups += 1;
        }
        if n_groups > 0 {
            self.revision = super::next_revision();
        }
        self.gc_blocked = self.len() > self.config.max_intervals;
        self.evicted_groups_total += n_groups as u64;
        (n_groups, n_intervals)
    }

    /// Removes a group and its index entries; returns how many were live.
    fn remove_group(&mut self, group_slot: usize) -> usize {
        let Some(group) = self.groups[group_slot].take() else {
            return 0;
        };
        self.free_slots.push(group_slot);
        group
            .intervals
            .iter()
            .enumerate()
            .filter(|(pos, interval)| {
                let slot = slot_of_seconds(interval.start_seconds());
                self.index.remove_if(slot, Loc::new(group_slot, *pos))
            })
            .count()
    }
}
