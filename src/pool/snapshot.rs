//! The pool's serde-friendly form: its live fetch groups, nothing derived.
//! The store layer decides the on-disk encoding; this is the lossless
//! exchange format between the pool and it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::index::{Loc, MAX_GROUP_LEN, MAX_GROUPS, slot_of_seconds};
use super::{HomeInfo, Interval, Pool, PoolConfig, PoolError, span_slots};

/// One fetch group's live intervals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupSnapshot {
    pub fetched_at: DateTime<Utc>,
    pub intervals: Vec<Interval>,
}

/// Every live group of a pool, oldest `fetched_at` first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct PoolSnapshot {
    pub groups: Vec<GroupSnapshot>,
    /// When the last upstream answer was added, if ever.
    pub last_fetch: Option<DateTime<Utc>>,
}

impl Pool {
    /// The live content, oldest group first. Restoring it yields a pool with
    /// the same intervals, groups and `fetched_at` times.
    pub fn snapshot(&self) -> PoolSnapshot {
        let mut groups: Vec<(&DateTime<Utc>, u64, GroupSnapshot)> = self
            .groups
            .iter()
            .flatten()
            .map(|group| {
                (
                    &group.fetched_at,
                    group.seq,
                    GroupSnapshot {
                        fetched_at: group.fetched_at,
                        intervals: group.intervals.clone(),
                    },
                )
            })
            .collect();
        groups.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
        PoolSnapshot {
            groups: groups.into_iter().map(|(_, _, g)| g).collect(),
            last_fetch: self.last_fetch,
        }
    }

    /// Rebuilds a pool from a snapshot, validating every interval (a bad one
    /// fails the whole restore with a typed error, so the caller can
    /// quarantine the file). GC runs as after any add, so a smaller
    /// `max_intervals` than when it was saved is honoured.
    ///
    /// A snapshot the pool wrote has no overlapping intervals and each
    /// group in order: those are rebuilt directly (the start-up of 10,000
    /// homes spends most of its restore time in `add`'s overlap handling
    /// otherwise). Anything else, such as a hand-edited file, is restored
    /// through `add`, group by group in `fetched_at` order; both give the
    /// same pool (`tests::direct_restore_matches_restoring_by_adding`).
    pub fn restore(
        home: HomeInfo,
        config: PoolConfig,
        snapshot: PoolSnapshot,
        now: DateTime<Utc>,
    ) -> Result<Pool, PoolError> {
        for group in &snapshot.groups {
            for interval in &group.intervals {
                interval.validate()?;
            }
        }
        let mut groups = snapshot.groups;
        groups.sort_by_key(|g| g.fetched_at);
        let mut pool = Pool::new(home, config);
        if is_disjoint_and_in_order(&groups) {
            pool.rebuild(groups, now);
        } else {
            pool.add_groups(groups, now)?;
        }
        pool.last_fetch = snapshot.last_fetch.or(pool.last_fetch);
        Ok(pool)
    }

    /// Adds `groups` (oldest `fetched_at` first) one by one.
    fn add_groups(
        &mut self,
        groups: Vec<GroupSnapshot>,
        now: DateTime<Utc>,
    ) -> Result<(), PoolError> {
        for group in groups {
            self.add(group.intervals, group.fetched_at, now)?;
        }
        Ok(())
    }

    /// Restores by adding each group in `fetched_at` order: the reference
    /// the direct rebuild is held to in the tests.
    #[cfg(test)]
    pub(super) fn restore_by_adding(
        home: HomeInfo,
        config: PoolConfig,
        snapshot: PoolSnapshot,
        now: DateTime<Utc>,
    ) -> Result<Pool, PoolError> {
        let mut pool = Pool::new(home, config);
        let mut groups = snapshot.groups;
        groups.sort_by_key(|g| g.fetched_at);
        pool.add_groups(groups, now)?;
        pool.last_fetch = snapshot.last_fetch.or(pool.last_fetch);
        Ok(pool)
    }

    /// What `add` of each group in turn does when nothing overlaps: the
    /// same groups (split at `MAX_GROUP_LEN`), sequence numbers, index
    /// entries and last fetch, then one GC at `now`. One GC at the end
    /// evicts what GC after each add would: groups arrive oldest first and
    /// GC evicts the oldest first, so both drop the shortest run of oldest
    /// unprotected groups that brings the pool under its limit.
    fn rebuild(&mut self, groups: Vec<GroupSnapshot>, now: DateTime<Utc>) {
        for group in groups {
            let fetched_at = group.fetched_at;
            self.last_fetch = Some(self.last_fetch.map_or(fetched_at, |t| t.max(fetched_at)));
            for chunk in group.intervals.chunks(MAX_GROUP_LEN) {
                let group_slot = self.push_group(fetched_at, chunk);
                for (pos, interval) in chunk.iter().enumerate() {
                    self.index.insert(
                        slot_of_seconds(interval.start_seconds()),
                        Loc::new(group_slot, pos),
                    );
                }
            }
        }
        self.revision = super::next_revision();
        self.evict(now);
    }
}

/// Whether no two intervals of `groups` overlap, each group is in order
/// (what `add` would keep as it is), and the groups fit the group table.
pub(super) fn is_disjoint_and_in_order(groups: &[GroupSnapshot]) -> bool {
    let mut spans: Vec<(i64, i64)> = Vec::new();
    let mut n_chunks = 0;
    for group in groups {
        n_chunks += group.intervals.len().div_ceil(MAX_GROUP_LEN);
        let mut previous_end = i64::MIN;
        for interval in &group.intervals {
            let first = slot_of_seconds(interval.start_seconds());
            if first < previous_end {
                return false;
            }
            previous_end = first + span_slots(interval.resolution);
            spans.push((first, previous_end));
        }
    }
    spans.sort_unstable();
    n_chunks <= MAX_GROUPS && spans.windows(2).all(|pair| pair[0].1 <= pair[1].0)
}
