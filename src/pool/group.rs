//! Fetch groups: what one upstream call returned, the unit of eviction.

use chrono::{DateTime, Utc};

use super::interval::Interval;

/// The intervals one upstream call returned, sorted by start, with when they
/// were fetched. An interval in a group is *live* while the pool's index
/// points at it; a fresher copy elsewhere makes it dead, and GC compacts it
/// away.
#[derive(Debug, Clone)]
pub struct FetchGroup {
    /// When the upstream answered.
    pub fetched_at: DateTime<Utc>,
    /// Order of arrival, to break ties between equal `fetched_at`.
    pub seq: u64,
    /// Sorted by `starts_at`, no two overlapping.
    pub intervals: Vec<Interval>,
}

impl FetchGroup {
    /// Whether any interval starts in `[start, end)`. O(log n): the intervals are sorted.
    pub fn holds_any_in(&self, start: DateTime<Utc>, end: DateTime<Utc>) -> bool {
        let first = self.intervals.partition_point(|iv| iv.starts_at() < start);
        self.intervals
            .get(first)
            .is_some_and(|iv| iv.starts_at() < end)
    }
}
