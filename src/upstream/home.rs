//! `Home`: what a client asks about. A home has an identity (id, zone,
//! currency) and reads its prices through a [`Feed`]: a feed of its own (its
//! Tibber subscription, its demo-market zone), or its market's feed, shared
//! by every home on that market and currency, with the home's tariff
//! applied to the spot prices.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::answer::Answer;
use super::coordinator::{SourceStatus, UpstreamStatus};
use super::error::FetchError;
use super::feed::{Feed, record_cache_hit};
use super::market::Market;
use crate::pool::{HomeInfo, Pool};
use crate::tariff::Tariff;

/// One home. Cheap to clone.
#[derive(Clone)]
pub struct Home {
    info: HomeInfo,
    feed: Feed,
    /// A market home's tariff; `None` for a home its source prices whole.
    tariff: Option<Arc<Tariff>>,
}

impl std::fmt::Debug for Home {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Home").field("id", &self.info.id).finish()
    }
}

impl Home {
    pub(crate) fn new(info: HomeInfo, feed: Feed, tariff: Option<Arc<Tariff>>) -> Home {
        Home { info, feed, tariff }
    }

    /// Whether the home is priced by its market (a declared market home).
    pub fn is_market(&self) -> bool {
        self.tariff.is_some()
    }

    /// The market a market home is priced by; `None` for a home its source
    /// prices whole (Tibber, demo).
    pub fn market(&self) -> Option<Market> {
        self.feed.market()
    }

    /// The feed the home reads.
    pub(crate) fn feed(&self) -> &Feed {
        &self.feed
    }

    /// The id of the feed the home reads (its own id, or its market's
    /// feed id such as `DE-LU-EUR`): what the saver knows it by.
    pub fn feed_id(&self) -> String {
        self.feed.with_pool(|pool| pool.home().id.clone())
    }

    /// Who the home is: id, zone, currency.
    pub fn info(&self) -> HomeInfo {
        self.info.clone()
    }

    /// The pool's revision now ([`Pool::revision`]): a reader holding what
    /// it derived from a complete [`Answer`] of the same revision (same
    /// range) may reuse it without asking for the intervals again: the
    /// content, and so the completeness, is what it was. Counts nothing;
    /// a reader that reuses calls [`Home::record_reuse`].
    pub fn revision(&self) -> u64 {
        self.feed.with_pool(Pool::revision)
    }

    /// Counts a range served from what a reader derived at the current
    /// [`Home::revision`], as a cache hit.
    pub fn record_reuse(&self) {
        record_cache_hit();
    }

    /// Runs `f` on the home's pool under its lock (stats, snapshots). Keep `f` short.
    pub fn with_pool<R>(&self, f: impl FnOnce(&Pool) -> R) -> R {
        self.feed.with_pool(f)
    }

    /// The upstream health of the home's feed.
    pub fn status(&self) -> UpstreamStatus {
        self.feed.status()
    }

    /// The health of each of the feed's sources, in failover order.
    pub fn source_statuses(&self) -> Vec<SourceStatus> {
        self.feed.source_statuses()
    }

    /// Every interval starting in `[start, end)` that the upstream has, from
    /// the cache or fetched; what is missing and why when incomplete. An
    /// error only when the upstream failed and nothing of the range is cached.
    pub async fn intervals(
        &self,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Answer, FetchError> {
        let mut answer = self.feed.intervals(start, end).await?;
        if let Some(tariff) = &self.tariff {
            for interval in &mut answer.intervals {
                *interval = tariff.apply(interval, self.info.zone);
            }
        }
        Ok(answer)
    }
}
