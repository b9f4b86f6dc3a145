//! The gate every upstream HTTP call passes: the global call budget (a
//! token bucket), the global cooldown after rate limiting, and retries with
//! full-jitter exponential backoff inside the fetch deadline.
//!
//! Rate limiting is global because Tibber limits the token and the IP, not a
//! home: after a 429 no home calls before the cooldown ends.

use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use chrono::{DateTime, Utc};
use rand::RngExt;
use tokio::time::Instant;

use super::budget::{Budget, Priority, shared_limits};
use super::config::UpstreamConfig;
use super::error::{FetchError, UpstreamError, UpstreamErrorKind};
use crate::clock::Clock;
use crate::replicas::{Replicas, SharedCooldown};

/// A wait during which no upstream call is made, and why: a feed's after
/// its fetch failed, or a whole source's after a 429 or a refused token.
#[derive(Debug, Clone, PartialEq)]
pub struct Cooldown {
    /// The failure that started it; its `retry_at` is when the wait ends.
    pub error: FetchError,
    /// Tokio's view of the same instant, so waits work under a paused clock.
    until_instant: Instant,
}

impl Cooldown {
    /// A wait of `wait` from `now` (the service clock) after `error`.
    pub fn lasting(error: &UpstreamError, wait: Duration, now: DateTime<Utc>) -> Cooldown {
        Cooldown {
            error: FetchError {
                kind: error.kind(),
                message: error.to_string(),
                retry_at: Some(now + chrono::Duration::from_std(wait).unwrap_or_default()),
            },
            until_instant: Instant::now() + wait,
        }
    }

    /// The wait another replica shared, seen at `now` (the service clock).
    pub(crate) fn shared(shared: &SharedCooldown, now: DateTime<Utc>) -> Cooldown {
        let wait = (shared.until - now).to_std().unwrap_or_default();
        Cooldown {
            error: FetchError {
                kind: UpstreamErrorKind::from_wire(&shared.kind),
                message: shared.message.clone(),
                retry_at: Some(shared.until),
            },
            until_instant: Instant::now() + wait,
        }
    }

    /// Whether the wait is still running.
    pub fn is_active(&self) -> bool {
        self.until_instant > Instant::now()
    }

    /// When the wait ends.
    pub fn until(&self) -> Option<DateTime<Utc>> {
        self.error.retry_at
    }

    /// Whether the failing feed makes no fetch at all until the wait ends.
    /// Not after a budget refusal: it cost no upstream call, and it may
    /// have refused only the history share while the feed's recent days
    /// still have theirs; the budget itself holds the feed off.
    pub fn holds_off_feed(&self) -> bool {
        self.error.kind != UpstreamErrorKind::BudgetExhausted
    }
}

/// Budget, cooldown and retry policy shared by every upstream call of one
/// registry. Cheap to share behind the registry's `Arc`.
pub struct CallGate {
    /// `None` for unmetered sources (the offline demo market).
    budget: Option<Budget>,
    /// Set after a 429/428 or an authentication failure. std Mutex: read and
    /// written in short sections, never across `.await`.
    cooldown: Mutex<Option<Cooldown>>,
    config: UpstreamConfig,
    clock: Clock,
    /// With `--redis-url`: the replicas and this gate's source name, whose
    /// shared cooldown (another replica's 429) holds this gate off too.
    shared: Option<(Replicas, &'static str)>,
}

impl std::fmt::Debug for CallGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallGate")
            .field("metered", &self.budget.is_some())
            .field("cooldown", &self.cooldown())
            .finish()
    }
}

impl CallGate {
    /// A gate with the budget and retry policy of `config`; `metered` is
    /// false for sources that cost nothing to ask.
    pub fn new(config: &UpstreamConfig, clock: Clock, metered: bool) -> CallGate {
        let budget = metered.then(|| Budget::new(config));
        CallGate {
            budget,
            cooldown: Mutex::new(None),
            config: config.clone(),
            clock,
            shared: None,
        }
    }

    /// This gate, also held off by the cooldowns other replicas share for
    /// `source` (read from the replicas' mirror: no round trip).
    /// Its budget is then the one shared in Redis, and while Redis is away
    /// a local one of this replica's share (the budget divided by
    /// `--replicas`), so the replicas together stay within it either way.
    pub(crate) fn shared_with(mut self, replicas: Replicas, source: &'static str) -> CallGate {
        if self.budget.is_some() {
            let mut share = self.config.clone();
            share.budget_calls = (share.budget_calls / replicas.n_replicas()).max(1);
            self.budget = Some(Budget::new(&share));
        }
        self.shared = Some((replicas, source));
        self
    }

    /// The cooldown in force now, if any.
    pub fn cooldown(&self) -> Option<Cooldown> {
        let local = {
            let guard = self.cooldown.lock().unwrap_or_else(|e| e.into_inner());
            guard.clone().filter(Cooldown::is_active)
        };
        let Some((replicas, source)) = &self.shared else {
            return local;
        };
        let now = self.clock.now();
        let Some(shared) = replicas.cooldown_of(source, now) else {
            return local;
        };
        let shared = Cooldown::shared(&shared, now);
        match local {
            Some(local) if local.until_instant >= shared.until_instant => Some(local),
            _ => Some(shared),
        }
    }

    /// The one policy of how long no call is made after `error`: the auth
    /// cooldown after a refused token, the upstream's `Retry-After` (at
    /// least the rate-limit floor) after a 429, until the budget refills
    /// when it is spent, the error cooldown after anything else.
    pub fn cooldown_after(&self, error: &UpstreamError) -> Cooldown {
        let now = self.clock.now();
        let wait = match error {
            UpstreamError::Auth(_) => self.config.auth_cooldown,
            UpstreamError::RateLimited { retry_after, .. } => retry_after
                .unwrap_or_default()
                .max(self.config.rate_limit_floor),
            UpstreamError::BudgetExhausted { retry_at } => {
                (*retry_at - now).to_std().unwrap_or_default()
            }
            _ => self.config.error_cooldown,
        };
        Cooldown::lasting(error, wait, now)
    }

    /// Holds every call of this gate off during `cooldown`; never shortens
    /// one already in force.
    fn hold_off(&self, cooldown: Cooldown) {
        let mut guard = self.cooldown.lock().unwrap_or_else(|e| e.into_inner());
        if guard
            .as_ref()
            .is_none_or(|c| c.until_instant < cooldown.until_instant)
        {
            *guard = Some(cooldown);
        }
    }

    /// Takes one call from the budget for `priority` (the shared one while
    /// Redis answers), or says when the next is available.
    async fn take_budget(&self, priority: Priority<'_>) -> Result<(), UpstreamError> {
        let Some(budget) = &self.budget else {
            return Ok(());
        };
        let shared = match &self.shared {
            Some((replicas, source)) => replicas
                .take_budget(source, &shared_limits(&self.config, priority))
                .await
                .ok(),
            None => None,
        };
        shared
            .unwrap_or_else(|| budget.take(priority))
            .map_err(|wait| {
                metrics::counter!("pricepool_upstream_calls_total", "outcome" => "budget_exhausted")
                .increment(1);
                UpstreamError::BudgetExhausted {
                    retry_at: self.clock.now()
                        + chrono::Duration::from_std(wait).unwrap_or_default(),
                }
            })
    }

    /// Runs `attempt` (one HTTP call) until it succeeds, fails in a way not
    /// worth retrying, or the next wait would end after `deadline`. Every
    /// attempt takes a call from the budget for `priority`; none is made
    /// during a cooldown.
    pub async fn call<T, F, Fut>(
        &self,
        deadline: Instant,
        priority: Priority<'_>,
        attempt: F,
    ) -> Result<T, UpstreamError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, UpstreamError>>,
    {
        let backoff = ExponentialBuilder::new()
            .with_min_delay(self.config.backoff_floor)
            .with_max_delay(self.config.backoff_max)
            .with_max_times(self.config.max_attempts.saturating_sub(1));
        // A std Mutex so each retry can make its attempt after the async
        // budget check; locked only to build the future, never across `.await`.
        let attempt = Mutex::new(attempt);
        let attempt = &attempt;
        let mut attempt_no = 0usize;
        let gated = || {
            attempt_no += 1;
            let attempt_no = attempt_no;
            async move {
                self.before_attempt(priority).await?;
                let fut = {
                    let mut make = attempt.lock().unwrap_or_else(|e| e.into_inner());
                    (*make)()
                };
                let result = fut.await;
                let outcome = match &result {
                    Ok(_) => "ok",
                    Err(e) => e.kind().as_str(),
                };
                metrics::counter!("pricepool_upstream_calls_total", "outcome" => outcome)
                    .increment(1);
                if let Err(e) = &result {
                    tracing::warn!(attempt = attempt_no, kind = %e.kind(), error = %e, "upstream call failed");
                    self.after_failure(e);
                }
                result
            }
        };
        gated
            .retry(backoff)
            .sleep(tokio::time::sleep)
            .when(|e: &UpstreamError| {
                e.kind().is_retryable() || e.kind() == UpstreamErrorKind::RateLimited
            })
            .adjust(|e: &UpstreamError, next: Option<Duration>| {
                let wait = match e {
                    UpstreamError::RateLimited { .. } => self
                        .cooldown()
                        .map(|c| c.until_instant.saturating_duration_since(Instant::now()))
                        .unwrap_or(self.config.rate_limit_floor),
                    _ => {
                        let base = next?;
                        // Full jitter: anywhere between nothing and the exponential step.
                        let millis = u64::try_from(base.as_millis()).unwrap_or(u64::MAX);
                        Duration::from_millis(rand::rng().random_range(0..=millis))
                    }
                };
                // Do not start a wait that ends after the deadline: report the failure instead.
                (Instant::now() + wait < deadline).then_some(wait)
            })
            .notify(|e: &UpstreamError, wait: Duration| {
                tracing::info!(kind = %e.kind(), wait_ms = wait.as_millis() as u64, "retrying upstream call");
            })
            .await
    }

    /// Refuses an attempt during a cooldown or when the budget is spent.
    async fn before_attempt(&self, priority: Priority<'_>) -> Result<(), UpstreamError> {
        if let Some(cooldown) = self.cooldown() {
            let until = cooldown.until().unwrap_or_else(|| self.clock.now());
            return Err(match cooldown.error.kind {
                UpstreamErrorKind::Auth => {
                    UpstreamError::Auth(format!("still cooling down until {until}"))
                }
                _ => UpstreamError::RateLimited {
                    message: format!("cooling down until {until}"),
                    retry_after: Some(
                        cooldown
                            .until_instant
                            .saturating_duration_since(Instant::now()),
                    ),
                },
            });
        }
        self.take_budget(priority).await
    }

    /// A 429 or a refused token holds off every call of this gate, not
    /// only the failing feed's: the upstream limits the token and the IP.
    fn after_failure(&self, error: &UpstreamError) {
        if matches!(
            error,
            UpstreamError::RateLimited { .. } | UpstreamError::Auth(_)
        ) {
            self.hold_off(self.cooldown_after(error));
        }
    }
}
