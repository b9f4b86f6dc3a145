//! `Pool::check_invariants`: verifies the invariants listed in the pool's
//! module doc, for the unit tests and the property tests.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::index::{Loc, slot_of_seconds};
use super::{Interval, Pool};

impl Pool {
    /// Verifies the invariants in the module doc; for tests and proptests.
    /// Returns a description of the first violation.
    pub fn check_invariants(&self) -> Result<(), String> {
        let mut n_live = 0;
        let mut previous_end: Option<DateTime<Utc>> = None;
        let mut all: BTreeMap<i64, Interval> = BTreeMap::new();
        for (group_slot, group) in self.groups.iter().enumerate() {
            let Some(group) = group else { continue };
            if group.intervals.is_empty() {
                return Err(format!("group {group_slot} is empty"));
            }
            for (pos, interval) in group.intervals.iter().enumerate() {
                interval.validate().map_err(|e| e.to_string())?;
                match self.index.get(slot_of_seconds(interval.start_seconds())) {
                    Some(loc) if loc == Loc::new(group_slot, pos) => {
                        n_live += 1;
                        all.insert(slot_of_seconds(interval.start_seconds()), *interval);
                    }
                    _ => {
                        return Err(format!(
                            "dead interval at {} in group {group_slot}",
                            interval.starts_at()
                        ));
                    }
                }
            }
        }
        if n_live != self.index.len() {
            return Err(format!(
                "index holds {} entries, groups {n_live} live",
                self.index.len()
            ));
        }
        for interval in all.values() {
            if previous_end.is_some_and(|end| interval.starts_at() < end) {
                return Err(format!(
                    "interval at {} overlaps the previous one",
                    interval.starts_at()
                ));
            }
            previous_end = Some(interval.ends_at());
        }
        if self.len() > self.config.max_intervals && !self.gc_blocked {
            return Err(format!(
                "{} live intervals over the limit without protection",
                self.len()
            ));
        }
        Ok(())
    }
}
