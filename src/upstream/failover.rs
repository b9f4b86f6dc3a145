//! Failover: a feed lists its sources in order; a call asks the first, and
//! when it fails (after its own retries) the next, for the same range,
//! inside the same fetch deadline (a source that is not the last may use
//! half of the time left, so a hanging one cannot starve the next). Each source keeps its own budget and
//! cooldowns (its provider's [`CallGate`]); a source cooling down, or whose
//! last fetch for this feed failed less than its cooldown ago, is skipped
//! while a later one may answer.

use std::sync::Arc;
use std::time::Duration;

use super::error::UpstreamError;
use super::gate::{CallGate, Cooldown};
use super::source::{FetchRequest, PriceSource, Source};
use crate::pool::Interval;

/// A source with the gate of its provider, shared by every feed it prices.
#[derive(Clone)]
pub(crate) struct GatedSource {
    pub(crate) source: Source,
    pub(crate) gate: Arc<CallGate>,
}

impl GatedSource {
    /// The source's name (`tibber`, `energy-charts`, …).
    pub(crate) fn name(&self) -> &'static str {
        self.source.name()
    }
}

/// What one source did in a call: answered, or failed and cools down.
pub(crate) struct Attempt {
    pub(crate) source: &'static str,
    pub(crate) failure: Option<Cooldown>,
}

/// What a call brought: the intervals of the first source that answered,
/// or the failure whose cooldown ends first; and every attempt made.
pub(crate) struct Fetched {
    pub(crate) result: Result<Vec<Interval>, (UpstreamError, Cooldown)>,
    pub(crate) attempts: Vec<Attempt>,
}

/// The source cooldown that holds a feed off: when every source cools
/// down, the one that ends first; otherwise none (some source may answer).
pub(crate) fn all_cooling(sources: &[GatedSource]) -> Option<Cooldown> {
    let mut soonest: Option<Cooldown> = None;
    for upstream in sources {
        let cooldown = upstream.gate.cooldown()?;
        if soonest
            .as_ref()
            .is_none_or(|current| cooldown.until() < current.until())
        {
            soonest = Some(cooldown);
        }
    }
    soonest
}

/// Asks `sources` in order for `request` until one answers or the
/// request's deadline passes (`fetch_deadline` is that deadline's length,
/// for the timeout's message). A source named in `resting` (this feed saw
/// it fail less than its cooldown ago) or whose gate cools down is skipped
/// while a later one may answer.
pub(crate) async fn fetch(
    sources: &[GatedSource],
    resting: &[&'static str],
    request: &FetchRequest,
    fetch_deadline: Duration,
) -> Fetched {
    let mut attempts = Vec::new();
    let mut failure: Option<(UpstreamError, Cooldown)> = None;
    for (n, upstream) in sources.iter().enumerate() {
        let last = n + 1 == sources.len();
        let cooling = upstream.gate.cooldown().is_some() || resting.contains(&upstream.name());
        if !last && cooling {
            continue;
        }
        // A source that is not the last may use half of the time left, so
        // one that hangs still leaves the next one time to answer.
        let mut attempt = request.clone();
        if !last {
            let now = tokio::time::Instant::now();
            attempt.deadline = now + request.deadline.saturating_duration_since(now) / 2;
        }
        let call = upstream.source.fetch(&attempt, &upstream.gate);
        let outcome = match tokio::time::timeout_at(attempt.deadline, call).await {
            Ok(result) => result,
            Err(_) => Err(UpstreamError::Timeout(fetch_deadline)),
        };
        let error = match outcome {
            Ok(intervals) => {
                attempts.push(Attempt {
                    source: upstream.name(),
                    failure: None,
                });
                return Fetched {
                    result: Ok(intervals),
                    attempts,
                };
            }
            Err(error) => error,
        };
        let cooldown = upstream.gate.cooldown_after(&error);
        if !last {
            tracing::warn!(source = upstream.name(), kind = %error.kind(), error = %error, "source failed; asking the next");
        }
        attempts.push(Attempt {
            source: upstream.name(),
            failure: Some(cooldown.clone()),
        });
        if failure
            .as_ref()
            .is_none_or(|(_, soonest)| cooldown.until() < soonest.until())
        {
            failure = Some((error, cooldown));
        }
        if tokio::time::Instant::now() >= request.deadline {
            break;
        }
    }
    let failure = failure.unwrap_or_else(|| {
        let error = UpstreamError::Transient("the feed has no source".to_string());
        let cooldown = Cooldown::lasting(&error, fetch_deadline, request.now);
        (error, cooldown)
    });
    Fetched {
        result: Err(failure),
        attempts,
    }
}
