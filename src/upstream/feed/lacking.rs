//! What a feed's upstream lacked: the stretches of a call's range a
//! successful answer left empty, and why (not published yet, or no data).

use chrono::{DateTime, Utc};

use super::Feed;
use crate::pool::{Gap, Interval, Pool, Resolution};
use crate::upstream::calendar;
use crate::upstream::coordinator::NegativeEntry;
use crate::upstream::error::IncompleteReason;

impl Feed {
    /// Ranges of a successful call `[start, end)` the upstream had no data
    /// for: not published yet (tomorrow before publication) or lacking.
    pub(super) fn negatives_of(
        &self,
        intervals: &[Interval],
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Vec<NegativeEntry> {
        let config = &self.inner.context.config;
        let zone = self.inner.info.zone;
        let in_range: Vec<Interval> = intervals
            .iter()
            .filter(|iv| iv.starts_at() >= start && iv.starts_at() < end)
            .copied()
            .collect();
        let tomorrow_start = calendar::tomorrow_start(zone, now);
        let publication_zone = calendar::publication_zone(zone, self.inner.market);
        let before_publication =
            calendar::before_publication(publication_zone, config.publish_hour, now);
        self.missing_of(&in_range, start, end)
            .into_iter()
            .map(|gap| {
                let (reason, retry_at) = if gap.end > tomorrow_start && before_publication {
                    (
                        IncompleteReason::NotPublished,
                        calendar::next_publication(publication_zone, config, now),
                    )
                } else {
                    (IncompleteReason::NoData, config.negative_until(now))
                };
                NegativeEntry {
                    start: gap.start,
                    end: gap.end,
                    retry_at,
                    reason,
                }
            })
            .collect()
    }

    /// Gaps of `[start, end)` that `intervals` leave, by the pool's own
    /// rules (a scratch pool without a size limit holds them).
    pub(super) fn missing_of(
        &self,
        intervals: &[Interval],
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Vec<Gap> {
        let mut config = self.inner.context.pool_config.clone();
        config.max_intervals = usize::MAX;
        let mut scratch = Pool::new(self.inner.info.clone(), config);
        if !intervals.is_empty() && scratch.add(intervals.to_vec(), start, start).is_err() {
            // Cannot happen for intervals the pool accepted; report the range missing rather than panic.
            return vec![Gap {
                start,
                end,
                resolution: Resolution::QuarterHour,
            }];
        }
        scratch.gaps(start, end).unwrap_or_default()
    }
}
