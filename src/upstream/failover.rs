//! Failover: a feed lists its sources in order; a call asks the first, and
//! when it fails (after its own retries) the next, for the same range,
//! inside the same fetch deadline (a source that is not the last may use
//! half of the time left, so a hanging one cannot starve the next). Each source keeps its own budget and
//! cooldowns (its provider's [`CallGate`]); a source cooling down, or whose
//! last fetch for this feed failed less than its cooldown ago, is skipped
//! while a later one may answer. An answer with holes (slots left out
//! between ones it gave: Energy-Charts' null prices, a lacking ENTSO-E
//! position) is completed from the next sources, in one call spanning the
//! holes, where they know more.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

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
                let rest = &sources[n + 1..];
                let intervals = fill_holes(
                    intervals,
                    rest,
                    resting,
                    request,
                    fetch_deadline,
                    &mut attempts,
                )
                .await;
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

/// `[start, end)` from the first hole of `intervals` (sorted) to the end of
/// its last: the slots left out between ones given. None without holes.
fn holes_span(intervals: &[Interval]) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let mut holes = intervals
        .windows(2)
        .filter(|pair| pair[0].ends_at() < pair[1].starts_at())
        .map(|pair| (pair[0].ends_at(), pair[1].starts_at()));
    let (start, mut end) = holes.next()?;
    if let Some((_, last_end)) = holes.next_back() {
        end = last_end;
    }
    Some((start, end))
}

/// Asks `rest` (the sources after the one that answered) for the holes in
/// `intervals`, with half of the time left so a hanging one delays the
/// answer by no more than that, and adds what they give for the holes.
/// What they cannot fill stays missing (the feed's negative cache).
async fn fill_holes(
    mut intervals: Vec<Interval>,
    rest: &[GatedSource],
    resting: &[&'static str],
    request: &FetchRequest,
    fetch_deadline: Duration,
    attempts: &mut Vec<Attempt>,
) -> Vec<Interval> {
    let Some((start, end)) = holes_span(&intervals) else {
        return intervals;
    };
    if rest.is_empty() {
        return intervals;
    }
    let mut ask = request.clone();
    (ask.start, ask.end) = (start, end);
    let now = tokio::time::Instant::now();
    ask.deadline = now + request.deadline.saturating_duration_since(now) / 2;
    let fetched = Box::pin(fetch(rest, resting, &ask, fetch_deadline)).await;
    attempts.extend(fetched.attempts);
    let Ok(found) = fetched.result else {
        return intervals;
    };
    let filling: Vec<Interval> = found
        .into_iter()
        .filter(|candidate| fills_a_hole(&intervals, (start, end), candidate))
        .collect();
    if !filling.is_empty() {
        tracing::info!(
            n_intervals = filling.len(),
            "holes in a source's answer filled from the next source"
        );
        intervals.extend(filling);
        intervals.sort_by_key(|interval| interval.starts_at());
    }
    intervals
}

/// Whether `candidate` lies within `span` and overlaps none of `given` (sorted).
fn fills_a_hole(
    given: &[Interval],
    (start, end): (DateTime<Utc>, DateTime<Utc>),
    candidate: &Interval,
) -> bool {
    let overlapping = given.binary_search_by(|known| {
        if known.ends_at() <= candidate.starts_at() {
            std::cmp::Ordering::Less
        } else if known.starts_at() >= candidate.ends_at() {
            std::cmp::Ordering::Greater
        } else {
            std::cmp::Ordering::Equal
        }
    });
    overlapping.is_err() && start <= candidate.starts_at() && candidate.ends_at() <= end
}
