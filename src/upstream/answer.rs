//! What a feed answers for a range, and how the answer is assembled from
//! what was cached, what was fetched and what could not be fetched.
//!
//! An [`Answer`] is either complete or says what is missing, why, and when
//! to ask again; the type does not allow a complete answer with a missing
//! stretch, or an incomplete one without a reason.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::error::{FetchError, IncompleteReason, UpstreamErrorKind};
use crate::pool::{Gap, Interval};

/// Every interval of a range the upstream has (cached or just fetched), and
/// whether anything of the range is missing.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// Intervals starting in the range, in order.
    pub intervals: Vec<Interval>,
    /// Whether the range is whole, and if not, what is missing.
    pub coverage: Coverage,
}

/// Whether an answer covers its whole range.
#[derive(Debug, Clone, PartialEq)]
pub enum Coverage {
    /// Nothing of the range is missing.
    Complete {
        /// The pool's revision when the intervals are exactly its content
        /// over the range (a cache hit); None when the answer was assembled
        /// around a fetch. What is derived from a `Some` answer stays exact
        /// while [`crate::upstream::Home::revision`] reports the same revision.
        revision: Option<u64>,
    },
    /// Part of the range is missing.
    Incomplete(Shortfall),
}

/// What an incomplete answer lacks, why, and when asking again may fill it.
#[derive(Debug, Clone, PartialEq)]
pub struct Shortfall {
    /// The missing stretches, in order (never empty).
    pub missing: Vec<Gap>,
    /// Why they are missing.
    pub reason: IncompleteReason,
    /// When asking again may fill them.
    pub retry_at: Option<DateTime<Utc>>,
}

impl Answer {
    /// A complete answer; `revision` as [`Coverage::Complete`] says.
    pub fn complete(intervals: Vec<Interval>, revision: Option<u64>) -> Answer {
        Answer {
            intervals,
            coverage: Coverage::Complete { revision },
        }
    }

    /// Whether nothing of the range is missing.
    pub fn is_complete(&self) -> bool {
        matches!(self.coverage, Coverage::Complete { .. })
    }

    /// What is missing, for an incomplete answer.
    pub fn shortfall(&self) -> Option<&Shortfall> {
        match &self.coverage {
            Coverage::Complete { .. } => None,
            Coverage::Incomplete(shortfall) => Some(shortfall),
        }
    }

    /// The pool revision a complete cache hit stands for (see [`Coverage::Complete`]).
    pub fn revision(&self) -> Option<u64> {
        match self.coverage {
            Coverage::Complete { revision } => revision,
            Coverage::Incomplete(_) => None,
        }
    }

    /// The missing stretches (none when complete).
    pub fn missing(&self) -> &[Gap] {
        self.shortfall()
            .map_or(&[], |shortfall| shortfall.missing.as_slice())
    }

    /// Why something is missing (None when complete).
    pub fn reason(&self) -> Option<IncompleteReason> {
        self.shortfall().map(|shortfall| shortfall.reason)
    }

    /// When asking again may fill what is missing (None when complete).
    pub fn retry_at(&self) -> Option<DateTime<Utc>> {
        self.shortfall().and_then(|shortfall| shortfall.retry_at)
    }
}

/// A missing piece of a request that will not be fetched now, and why.
#[derive(Debug, Clone)]
pub(crate) struct Unfetched {
    pub(crate) gap: Gap,
    pub(crate) reason: IncompleteReason,
    pub(crate) retry_at: Option<DateTime<Utc>>,
}

/// What one request gathered for `[start, end)`: the cached intervals, the
/// results of the fetches it waited for, and the pieces nobody fetched.
#[derive(Debug, Default)]
pub(crate) struct Gathered {
    pub(crate) cached: Vec<Interval>,
    pub(crate) fetched: Vec<Arc<Vec<Interval>>>,
    pub(crate) errors: Vec<FetchError>,
    pub(crate) unfetched: Vec<Unfetched>,
}

impl Gathered {
    /// Merges cached and fetched intervals of `[start, end)` (fetched copies
    /// win), in order.
    pub(crate) fn merged(&self, start: DateTime<Utc>, end: DateTime<Utc>) -> Vec<Interval> {
        let mut by_start: BTreeMap<DateTime<Utc>, Interval> =
            self.cached.iter().map(|iv| (iv.starts_at(), *iv)).collect();
        for interval in self
            .fetched
            .iter()
            .flat_map(|batch| batch.iter())
            .filter(|iv| iv.starts_at() >= start && iv.starts_at() < end)
        {
            by_start.insert(interval.starts_at(), *interval);
        }
        by_start.into_values().collect()
    }

    /// The answer over `intervals` (from [`Gathered::merged`]) with
    /// `missing` stretches. The reason is the first fetch error, else the
    /// soonest-retried unfetched piece overlapping what is missing, else
    /// `fetched_without_data` (what the upstream said it lacked). An error
    /// instead of an answer when the upstream failed and nothing is known.
    pub(crate) fn answer(
        self,
        intervals: Vec<Interval>,
        missing: Vec<Gap>,
        fetched_without_data: impl FnOnce(&[Gap]) -> (IncompleteReason, Option<DateTime<Utc>>),
    ) -> Result<Answer, FetchError> {
        if missing.is_empty() {
            return Ok(Answer::complete(intervals, None));
        }
        let nothing_known = intervals.is_empty();
        let (reason, retry_at) = if let Some(error) = self.errors.into_iter().next() {
            if nothing_known {
                return Err(error);
            }
            (IncompleteReason::UpstreamFailed(error.kind), error.retry_at)
        } else if let Some(piece) = self
            .unfetched
            .iter()
            .filter(|piece| missing.iter().any(|gap| overlaps(gap, &piece.gap)))
            .min_by_key(|piece| piece.retry_at)
        {
            if nothing_known && let IncompleteReason::UpstreamFailed(kind) = piece.reason {
                return Err(nothing_cached(kind, piece.retry_at));
            }
            (piece.reason, piece.retry_at)
        } else {
            fetched_without_data(&missing)
        };
        Ok(Answer {
            intervals,
            coverage: Coverage::Incomplete(Shortfall {
                missing,
                reason,
                retry_at,
            }),
        })
    }
}

/// Whether two stretches share an instant.
pub(crate) fn overlaps(a: &Gap, b: &Gap) -> bool {
    a.start < b.end && b.start < a.end
}

fn nothing_cached(kind: UpstreamErrorKind, retry_at: Option<DateTime<Utc>>) -> FetchError {
    FetchError {
        kind,
        message: format!("upstream unavailable ({kind}) and nothing cached for the range"),
        retry_at,
    }
}
