//! The upstream failure taxonomy. Each kind is told apart because each is
//! handled differently: authentication is never retried, rate limiting backs
//! off for a long time, transient failures are retried with jitter, and
//! malformed answers are reported rather than retried.

use chrono::{DateTime, Utc};
use serde::Serialize;

/// What went wrong with the upstream, as a stable machine-readable word.
/// The API maps it to a status code and problem type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UpstreamErrorKind {
    /// The token was refused (HTTP 401/403 or GraphQL `UNAUTHENTICATED`). Never retried.
    Auth,
    /// The upstream asked us to slow down (HTTP 429/428).
    RateLimited,
    /// Our own call budget is spent; no call was made.
    BudgetExhausted,
    /// 5xx, connection errors, non-JSON bodies: retried with backoff.
    Transient,
    /// The upstream did not answer within the fetch deadline.
    Timeout,
    /// The known outage mode: `current: null, today: []`. Retried like a transient failure.
    EmptyData,
    /// JSON of the wrong shape. Not retried.
    Malformed,
    /// The upstream does not know the home.
    HomeNotFound,
    /// The home has no active subscription, so it has no prices.
    NoSubscription,
}

impl UpstreamErrorKind {
    /// The wire spelling (`rate_limited` …), for problem bodies, logs and metric labels.
    pub const fn as_str(self) -> &'static str {
        match self {
            UpstreamErrorKind::Auth => "auth",
            UpstreamErrorKind::RateLimited => "rate_limited",
            UpstreamErrorKind::BudgetExhausted => "budget_exhausted",
            UpstreamErrorKind::Transient => "transient",
            UpstreamErrorKind::Timeout => "timeout",
            UpstreamErrorKind::EmptyData => "empty_data",
            UpstreamErrorKind::Malformed => "malformed",
            UpstreamErrorKind::HomeNotFound => "home_not_found",
            UpstreamErrorKind::NoSubscription => "no_subscription",
        }
    }

    /// The kind spelled `wire` (see [`UpstreamErrorKind::as_str`]), as
    /// another replica shared it; a word this build does not know reads
    /// as a transient failure.
    pub fn from_wire(wire: &str) -> UpstreamErrorKind {
        [
            UpstreamErrorKind::Auth,
            UpstreamErrorKind::RateLimited,
            UpstreamErrorKind::BudgetExhausted,
            UpstreamErrorKind::Transient,
            UpstreamErrorKind::Timeout,
            UpstreamErrorKind::EmptyData,
            UpstreamErrorKind::Malformed,
            UpstreamErrorKind::HomeNotFound,
            UpstreamErrorKind::NoSubscription,
        ]
        .into_iter()
        .find(|kind| kind.as_str() == wire)
        .unwrap_or(UpstreamErrorKind::Transient)
    }

    /// Whether trying the same call again soon may succeed.
    pub const fn is_retryable(self) -> bool {
        matches!(
            self,
            UpstreamErrorKind::Transient
                | UpstreamErrorKind::Timeout
                | UpstreamErrorKind::EmptyData
        )
    }
}

impl std::fmt::Display for UpstreamErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One failed upstream call, as the sources report it. Messages never hold
/// the token (sources only format status codes, URLs without credentials and
/// shortened bodies).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum UpstreamError {
    /// HTTP 401/403 or GraphQL `UNAUTHENTICATED`.
    #[error("upstream refused the token: {0}")]
    Auth(String),
    /// HTTP 429/428 or a GraphQL rate-limit error.
    #[error("upstream rate limited us: {message}")]
    RateLimited {
        /// What the upstream said (status code or GraphQL message).
        message: String,
        /// From `Retry-After`, when the upstream sent one.
        retry_after: Option<std::time::Duration>,
    },
    /// Our own budget is spent; no call was made.
    #[error("upstream call budget exhausted until {retry_at}")]
    BudgetExhausted {
        /// When the budget has a call again.
        retry_at: DateTime<Utc>,
    },
    /// 5xx, connection errors, non-JSON bodies, GraphQL errors without data.
    #[error("upstream failed transiently: {0}")]
    Transient(String),
    /// The fetch deadline passed.
    #[error("upstream did not answer within {0:?}")]
    Timeout(std::time::Duration),
    /// `current: null, today: []`.
    #[error("upstream answered with no price data (known outage mode)")]
    EmptyData,
    /// JSON of the wrong shape, or a query the upstream rejected.
    #[error("upstream answer has an unexpected shape: {0}")]
    Malformed(String),
    /// `viewer.home` is null.
    #[error("upstream does not know home {0}")]
    HomeNotFound(String),
    /// `currentSubscription` is null.
    #[error("home {0} has no active subscription")]
    NoSubscription(String),
}

impl UpstreamError {
    /// The kind, for handling and reporting.
    pub fn kind(&self) -> UpstreamErrorKind {
        match self {
            UpstreamError::Auth(_) => UpstreamErrorKind::Auth,
            UpstreamError::RateLimited { .. } => UpstreamErrorKind::RateLimited,
            UpstreamError::BudgetExhausted { .. } => UpstreamErrorKind::BudgetExhausted,
            UpstreamError::Transient(_) => UpstreamErrorKind::Transient,
            UpstreamError::Timeout(_) => UpstreamErrorKind::Timeout,
            UpstreamError::EmptyData => UpstreamErrorKind::EmptyData,
            UpstreamError::Malformed(_) => UpstreamErrorKind::Malformed,
            UpstreamError::HomeNotFound(_) => UpstreamErrorKind::HomeNotFound,
            UpstreamError::NoSubscription(_) => UpstreamErrorKind::NoSubscription,
        }
    }
}

/// Why a `Home::intervals` call could not answer at all: nothing useful was
/// cached and the upstream failed. Carries when asking again makes sense.
#[derive(Debug, Clone, PartialEq, Serialize, thiserror::Error)]
#[error("{kind}: {message}")]
pub struct FetchError {
    /// What failed, for the status code and problem type.
    pub kind: UpstreamErrorKind,
    /// A human-readable description (never holds the token).
    pub message: String,
    /// When asking again may succeed.
    pub retry_at: Option<DateTime<Utc>>,
}

/// Why an answer is incomplete, so clients know whether and when to ask again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "type", content = "kind")]
pub enum IncompleteReason {
    /// The prices are not published yet (tomorrow before ~13:00 local, or later days).
    NotPublished,
    /// The upstream answered but had no data for part of the range.
    NoData,
    /// The upstream failed; what is cached was served.
    UpstreamFailed(UpstreamErrorKind),
}

impl IncompleteReason {
    /// A short human-readable reason for problem and answer bodies.
    pub fn describe(&self) -> String {
        match self {
            IncompleteReason::NotPublished => "prices not published yet".to_string(),
            IncompleteReason::NoData => "upstream has no data for part of the range".to_string(),
            IncompleteReason::UpstreamFailed(kind) => {
                format!("upstream failed ({kind}); cached data served")
            }
        }
    }
}
