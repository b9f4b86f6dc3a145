//! The pool's serde-friendly form: its live fetch groups, nothing derived.
//! The store layer decides the on-disk encoding; this is the lossless
//! exchange format between the pool and it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{HomeInfo, Interval, Pool, PoolConfig, PoolError};

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
        let mut pool = Pool::new(home, config);
        let mut groups = snapshot.groups;
        groups.sort_by_key(|g| g.fetched_at);
        for group in groups {
            pool.add(group.intervals, group.fetched_at, now)?;
        }
        pool.last_fetch = snapshot.last_fetch.or(pool.last_fetch);
        Ok(pool)
    }
}
