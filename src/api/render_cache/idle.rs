//! Idle expiry: entries are stamped with the minute they were last asked
//! for, and the first lookup or insert of a new minute drops those nobody
//! asked for in [`IDLE_MINUTES`].

use std::sync::atomic::Ordering;

use super::{Entry, RenderCache};

/// An entry not asked for in this many minutes is dropped (entries are
/// stamped with whole minutes, so after 15 to 16 minutes idle).
pub(super) const IDLE_MINUTES: u32 = 15;

impl Entry {
    /// Stamps the entry as asked for in minute `now` (a write only when the
    /// minute changed); whether it did change.
    pub(super) fn ask(&self, now: u32) -> bool {
        let new_minute = self.asked.load(Ordering::Relaxed) != now;
        if new_minute {
            self.asked.store(now, Ordering::Relaxed);
        }
        new_minute
    }
}

impl RenderCache {
    /// Whole minutes since the cache was made: the clock of idle expiry.
    pub(super) fn minute(&self) -> u32 {
        u32::try_from(self.epoch.elapsed().as_secs() / 60).unwrap_or(u32::MAX)
    }

    /// The current minute, having dropped the entries not asked for in
    /// [`IDLE_MINUTES`] when it is a new one (the first caller in a new
    /// minute sweeps): every lookup and insert reads the clock through it.
    pub(super) fn now(&self) -> u32 {
        let now = self.minute();
        let swept = self.swept.load(Ordering::Relaxed);
        if swept != now
            && self
                .swept
                .compare_exchange(swept, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.sweep_idle(now);
        }
        now
    }

    /// Drops the entries whose last ask is [`IDLE_MINUTES`] or more before
    /// minute `now`.
    pub(super) fn sweep_idle(&self, now: u32) {
        self.entries.retain(|_, entry| {
            now.saturating_sub(entry.asked.load(Ordering::Relaxed)) < IDLE_MINUTES
        });
    }
}
