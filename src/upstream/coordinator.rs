//! A feed's fetch coordination state, under one lock: the fetches in
//! flight (single-flight), the negative cache, the cooldown after a failed
//! fetch, and the status `/readyz` reports.
//!
//! Pure bookkeeping: it decides, for the missing stretches of a request,
//! what is not published yet, what the upstream is known to lack, what a
//! flight already brings and what must be fetched; the feed does the I/O.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::watch;

use super::answer::Unfetched;
use super::error::{FetchError, IncompleteReason, UpstreamErrorKind};
use super::failover::Attempt;
use super::gate::Cooldown;
use super::plan::{Call, split_at, subtract};
use crate::pool::{Gap, Interval};

/// What a flight ends with: the intervals it added, or why it failed.
pub(crate) type FlightResult = Result<Arc<Vec<Interval>>, FetchError>;

/// Where a request waits for a flight's result.
pub(crate) type FlightWait = watch::Receiver<Option<FlightResult>>;

/// A feed's upstream health, for `/v1/homes`, `/readyz` and `/stats`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct UpstreamStatus {
    /// When a fetch last succeeded.
    pub last_success: Option<DateTime<Utc>>,
    /// The last failure, if it came after the last success.
    pub last_error: Option<StatusError>,
    /// No fetch before this instant (the feed's cooldown after a failure,
    /// or the source's after a 429 or a refused token).
    pub next_retry: Option<DateTime<Utc>>,
}

/// One source's health within a feed, for `/v1/homes` and `/readyz`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SourceStatus {
    /// The source (`tibber`, `energy-charts`, …).
    pub name: &'static str,
    /// When it last answered.
    pub last_success: Option<DateTime<Utc>>,
    /// Its last failure, if it came after its last success.
    pub last_error: Option<StatusError>,
    /// It is not asked before this instant.
    pub next_retry: Option<DateTime<Utc>>,
}

/// A failure as [`UpstreamStatus`] reports it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatusError {
    /// What failed.
    pub kind: UpstreamErrorKind,
    /// Its description.
    pub message: String,
    /// When it failed.
    pub at: DateTime<Utc>,
}

/// A fetch in flight: requests needing any part of `[start, end)` wait for it.
struct Flight {
    id: u64,
    call: Call,
    done: FlightWait,
}

/// A planned call not started yet, and where its result goes.
pub(crate) struct NewFlight {
    pub(crate) id: u64,
    pub(crate) call: Call,
    pub(crate) result: watch::Sender<Option<FlightResult>>,
}

/// A range the upstream had no data for, not asked again before `retry_at`.
#[derive(Debug, Clone)]
pub(crate) struct NegativeEntry {
    pub(crate) start: DateTime<Utc>,
    pub(crate) end: DateTime<Utc>,
    pub(crate) retry_at: DateTime<Utc>,
    pub(crate) reason: IncompleteReason,
}

/// What the calendar and the gate say at the moment of a request.
pub(crate) struct Triage {
    pub(crate) now: DateTime<Utc>,
    /// Nothing from here on is published.
    pub(crate) horizon: DateTime<Utc>,
    /// When what lies past the horizon may be asked for.
    pub(crate) next_publication: DateTime<Utc>,
    /// The source's cooldown in force, if any (a 429, a refused token).
    pub(crate) source_cooldown: Option<Cooldown>,
}

/// The missing stretches of one request, sorted.
#[derive(Default)]
pub(crate) struct Triaged {
    /// To fetch now.
    pub(crate) to_fetch: Vec<Gap>,
    /// Flights already bringing part of it.
    pub(crate) waits: Vec<FlightWait>,
    /// Not fetched now, and why.
    pub(crate) unfetched: Vec<Unfetched>,
}

/// The coordination state of one feed.
#[derive(Default)]
pub(crate) struct Coordinator {
    flights: Vec<Flight>,
    negative: Vec<NegativeEntry>,
    status: UpstreamStatus,
    /// After a failed fetch, no new fetch before it ends.
    cooldown: Option<Cooldown>,
    next_flight_id: u64,
    /// Each source's health, in the feed's order.
    sources: Vec<SourceStatus>,
}

impl Coordinator {
    /// A coordinator whose last success is `last_success` (a restored
    /// pool's last fetch, so `/readyz` does not say "never" for a feed the
    /// cache can serve).
    pub(crate) fn new(last_success: Option<DateTime<Utc>>) -> Coordinator {
        Coordinator {
            status: UpstreamStatus {
                last_success,
                ..UpstreamStatus::default()
            },
            ..Coordinator::default()
        }
    }

    /// A pool was restored under this coordinator: its last fetch is the
    /// last success known.
    pub(crate) fn restored(&mut self, last_fetch: Option<DateTime<Utc>>) {
        if self.status.last_success < last_fetch {
            self.status.last_success = last_fetch;
        }
    }

    /// Sorts `gaps`: past the horizon (not published), known to be lacking
    /// (negative cache), being fetched (wait for that flight), held off by
    /// a cooldown, or to fetch now.
    pub(crate) fn triage(&mut self, gaps: Vec<Gap>, triage: Triage) -> Triaged {
        self.negative.retain(|entry| entry.retry_at > triage.now);
        // A flight whose task died without answering would be joined forever.
        self.flights
            .retain(|flight| flight.done.has_changed().is_ok());
        let blocked = triage
            .source_cooldown
            .or_else(|| self.cooldown.clone().filter(Cooldown::is_active))
            .map(|cooldown| cooldown.error);
        let mut out = Triaged::default();
        for gap in gaps {
            let (published, beyond) = split_at(gap, triage.horizon);
            if let Some(beyond) = beyond {
                out.unfetched.push(Unfetched {
                    gap: beyond,
                    reason: IncompleteReason::NotPublished,
                    retry_at: Some(triage.next_publication),
                });
            }
            let Some(gap) = published else { continue };
            let mut pieces = vec![gap];
            for entry in &self.negative {
                pieces = subtract(pieces, entry.start, entry.end, |removed| {
                    out.unfetched.push(Unfetched {
                        gap: removed,
                        reason: entry.reason,
                        retry_at: Some(entry.retry_at),
                    })
                });
            }
            for flight in &self.flights {
                pieces = subtract(pieces, flight.call.0, flight.call.1, |_| {
                    if !out.waits.iter().any(|w| w.same_channel(&flight.done)) {
                        out.waits.push(flight.done.clone());
                    }
                });
            }
            match &blocked {
                Some(error) => out
                    .unfetched
                    .extend(pieces.into_iter().map(|gap| Unfetched {
                        gap,
                        reason: IncompleteReason::UpstreamFailed(error.kind),
                        retry_at: error.retry_at,
                    })),
                None => out.to_fetch.extend(pieces),
            }
        }
        out
    }

    /// Adds entries another replica found (the shared negative cache),
    /// skipping those already known.
    pub(crate) fn shared_negatives(&mut self, entries: Vec<NegativeEntry>) {
        for entry in entries {
            let known = self.negative.iter().any(|held| {
                held.start == entry.start
                    && held.end == entry.end
                    && held.retry_at >= entry.retry_at
            });
            if !known {
                self.negative.push(entry);
            }
        }
    }

    /// Whether the negative cache explains every one of `gaps` at `now`
    /// (the upstream lacks them; nothing to fetch).
    pub(crate) fn explains(&self, gaps: Vec<Gap>, now: DateTime<Utc>) -> bool {
        let mut pieces = gaps;
        for entry in self.negative.iter().filter(|entry| entry.retry_at > now) {
            pieces = subtract(pieces, entry.start, entry.end, |_| {});
        }
        pieces.is_empty()
    }

    /// Registers a flight for each call; requests arriving meanwhile wait for them.
    pub(crate) fn begin(&mut self, calls: Vec<Call>) -> Vec<NewFlight> {
        calls
            .into_iter()
            .map(|call| {
                let (result, done) = watch::channel(None);
                let id = self.next_flight_id;
                self.next_flight_id += 1;
                self.flights.push(Flight { id, call, done });
                NewFlight { id, call, result }
            })
            .collect()
    }

    /// Ends flight `id` with success at `finished`; `negatives` are the
    /// stretches the upstream answered without data.
    pub(crate) fn succeeded(
        &mut self,
        id: u64,
        finished: DateTime<Utc>,
        negatives: Vec<NegativeEntry>,
    ) {
        self.flights.retain(|flight| flight.id != id);
        self.negative.extend(negatives);
        self.status = UpstreamStatus {
            last_success: Some(finished),
            last_error: None,
            next_retry: None,
        };
        self.cooldown = None;
    }

    /// Ends flight `id` with a failure at `finished`: no new fetch before
    /// `cooldown` ends. Returns the error the waiting requests get.
    pub(crate) fn failed(
        &mut self,
        id: u64,
        finished: DateTime<Utc>,
        cooldown: Cooldown,
    ) -> FetchError {
        self.flights.retain(|flight| flight.id != id);
        let error = cooldown.error.clone();
        self.status.last_error = Some(StatusError {
            kind: error.kind,
            message: error.message.clone(),
            at: finished,
        });
        self.status.next_retry = error.retry_at;
        if cooldown.holds_off_feed() {
            self.cooldown = Some(cooldown);
        }
        error
    }

    /// Records what each source did in a call that ended at `finished`.
    pub(crate) fn record_attempts(&mut self, attempts: &[Attempt], finished: DateTime<Utc>) {
        for attempt in attempts {
            let status = match self.sources.iter_mut().find(|s| s.name == attempt.source) {
                Some(status) => status,
                None => {
                    self.sources.push(SourceStatus {
                        name: attempt.source,
                        last_success: None,
                        last_error: None,
                        next_retry: None,
                    });
                    let last = self.sources.len() - 1;
                    &mut self.sources[last]
                }
            };
            match &attempt.failure {
                None => {
                    status.last_success = Some(finished);
                    status.last_error = None;
                    status.next_retry = None;
                }
                Some(cooldown) => {
                    status.last_error = Some(StatusError {
                        kind: cooldown.error.kind,
                        message: cooldown.error.message.clone(),
                        at: finished,
                    });
                    status.next_retry = cooldown.until();
                }
            }
        }
    }

    /// The sources this feed saw fail whose wait has not ended at `now`.
    pub(crate) fn resting_sources(&self, now: DateTime<Utc>) -> Vec<&'static str> {
        self.sources
            .iter()
            .filter(|status| status.last_error.is_some())
            .filter(|status| status.next_retry.is_some_and(|until| until > now))
            .map(|status| status.name)
            .collect()
    }

    /// Each source's health, `names` in the feed's order (a source not asked
    /// yet reports nothing but its name).
    pub(crate) fn source_statuses(&self, names: &[&'static str]) -> Vec<SourceStatus> {
        names
            .iter()
            .map(|name| {
                self.sources
                    .iter()
                    .find(|status| status.name == *name)
                    .cloned()
                    .unwrap_or(SourceStatus {
                        name,
                        last_success: None,
                        last_error: None,
                        next_retry: None,
                    })
            })
            .collect()
    }

    /// Why the upstream lacked `missing` after answering: the soonest
    /// negative entry overlapping it.
    pub(crate) fn lacking(&self, missing: &[Gap]) -> Option<(IncompleteReason, DateTime<Utc>)> {
        self.negative
            .iter()
            .filter(|entry| {
                missing
                    .iter()
                    .any(|gap| gap.start < entry.end && entry.start < gap.end)
            })
            .min_by_key(|entry| entry.retry_at)
            .map(|entry| (entry.reason, entry.retry_at))
    }

    /// The feed's status, with the source's cooldown (if any) as `next_retry`.
    pub(crate) fn status(&self, source_cooldown: Option<Cooldown>) -> UpstreamStatus {
        let mut status = self.status.clone();
        if let Some(until) = source_cooldown.and_then(|cooldown| cooldown.until()) {
            status.next_retry = Some(status.next_retry.map_or(until, |t| t.max(until)));
        }
        status
    }
}

/// The error a request gets when the flight it waited for vanished.
pub(crate) fn lost_flight() -> FetchError {
    FetchError {
        kind: UpstreamErrorKind::Transient,
        message: "the fetch task ended without an answer".to_string(),
        retry_at: None,
    }
}
