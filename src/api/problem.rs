//! The API's one error type and its RFC 9457 `application/problem+json`
//! rendering, so every client sees the same shape for every failure and
//! learns which parameter was at fault.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::upstream::{FetchError, UpstreamErrorKind};

/// The media type of error bodies.
pub(crate) const PROBLEM_JSON: &str = "application/problem+json";

/// Everything a request can fail with. The status each variant answers
/// with is on its doc line; messages are lowercase without a trailing period
/// and never carry internal causes (those are logged).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub(crate) enum ApiError {
    /// 400: a query parameter is missing, malformed, unknown, repeated or out of range.
    #[error("{detail}")]
    BadParameter {
        /// The parameter's name, as the client wrote it.
        parameter: String,
        /// What is wrong and what would be right.
        detail: String,
    },
    /// 401: an API token is configured and the request lacks it or carries another one.
    #[error(
        "this endpoint needs the header `Authorization: Bearer <api token>` with the service's token"
    )]
    Unauthorized,
    /// 404: no home has this id.
    #[error("no home with id `{0}`")]
    UnknownHome(String),
    /// 404: no route has this path.
    #[error("no route matches `{0}`")]
    UnknownRoute(String),
    /// 404: the prices cover no interval containing the instant.
    #[error("no price interval contains {0}")]
    NoCurrentInterval(DateTime<Utc>),
    /// 405: the path exists but not for this method.
    #[error("method {0} is not allowed on this route")]
    MethodNotAllowed(String),
    /// 413: the request body is larger than the service accepts.
    #[error("the request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    /// 414: the request target is longer than the service accepts.
    #[error("the request target is longer than {0} bytes")]
    UriTooLong(usize),
    /// 502: the upstream failed (refused our credentials, answered malformed
    /// data or errors) and nothing useful is cached.
    #[error("{detail}")]
    BadGateway {
        /// What failed, for the client.
        detail: String,
        /// When asking again may succeed.
        retry_at: Option<DateTime<Utc>>,
    },
    /// 503: the upstream cannot be asked right now (rate limited, no data
    /// published yet) and nothing useful is cached.
    #[error("{detail}")]
    Unavailable {
        /// What failed, for the client.
        detail: String,
        /// When asking again may succeed.
        retry_at: Option<DateTime<Utc>>,
    },
    /// 503: the service is still loading snapshots and discovering homes.
    #[error("the service is starting: loading snapshots and discovering homes")]
    Starting,
    /// 504: the upstream or the request ran out of time and nothing useful is cached.
    #[error("{detail}")]
    GatewayTimeout {
        /// What failed, for the client.
        detail: String,
        /// When asking again may succeed.
        retry_at: Option<DateTime<Utc>>,
    },
    /// 500: a bug (a handler panicked); the cause is logged, not returned.
    #[error("the service failed on this request; the cause is in its log")]
    Internal,
}

/// The problem body (RFC 9457), with our `parameter` and `retry_at` extensions.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Problem {
    /// A URI naming the kind of problem.
    #[serde(rename = "type")]
    pub(crate) kind: String,
    /// A short summary of the kind.
    pub(crate) title: &'static str,
    /// The HTTP status, repeated for clients that only keep the body.
    pub(crate) status: u16,
    /// What went wrong with this request.
    pub(crate) detail: String,
    /// The query parameter at fault, for 400s.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) parameter: Option<String>,
    /// When asking again may succeed (also in `Retry-After`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) retry_at: Option<String>,
}

impl ApiError {
    /// A 400 naming `parameter`.
    pub(crate) fn bad_parameter(
        parameter: impl Into<String>,
        detail: impl Into<String>,
    ) -> ApiError {
        ApiError::BadParameter {
            parameter: parameter.into(),
            detail: detail.into(),
        }
    }

    /// The HTTP status this error answers with.
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            ApiError::BadParameter { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::UnknownHome(_)
            | ApiError::UnknownRoute(_)
            | ApiError::NoCurrentInterval(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UriTooLong(_) => StatusCode::URI_TOO_LONG,
            ApiError::BadGateway { .. } => StatusCode::BAD_GATEWAY,
            ApiError::Unavailable { .. } | ApiError::Starting => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::GatewayTimeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The problem type's slug and title.
    fn kind(&self) -> (&'static str, &'static str) {
        match self {
            ApiError::BadParameter { .. } => ("bad-parameter", "invalid query parameter"),
            ApiError::Unauthorized => ("unauthorized", "missing or wrong api token"),
            ApiError::UnknownHome(_) => ("unknown-home", "unknown home"),
            ApiError::UnknownRoute(_) => ("unknown-route", "unknown route"),
            ApiError::NoCurrentInterval(_) => ("no-current-interval", "no current interval"),
            ApiError::MethodNotAllowed(_) => ("method-not-allowed", "method not allowed"),
            ApiError::PayloadTooLarge(_) => ("payload-too-large", "request body too large"),
            ApiError::UriTooLong(_) => ("uri-too-long", "request target too long"),
            ApiError::BadGateway { .. } => ("upstream-failed", "upstream failed"),
            ApiError::Unavailable { .. } => ("unavailable", "prices unavailable for now"),
            ApiError::Starting => ("starting", "the service is starting"),
            ApiError::GatewayTimeout { .. } => ("timeout", "timed out"),
            ApiError::Internal => ("internal", "internal error"),
        }
    }

    fn retry_at(&self) -> Option<DateTime<Utc>> {
        match self {
            ApiError::BadGateway { retry_at, .. }
            | ApiError::Unavailable { retry_at, .. }
            | ApiError::GatewayTimeout { retry_at, .. } => *retry_at,
            _ => None,
        }
    }

    /// The body this error renders as.
    pub(crate) fn problem(&self) -> Problem {
        let (slug, title) = self.kind();
        Problem {
            kind: format!("urn:pricepool:problem:{slug}"),
            title,
            status: self.status().as_u16(),
            detail: self.to_string(),
            parameter: match self {
                ApiError::BadParameter { parameter, .. } => Some(parameter.clone()),
                _ => None,
            },
            retry_at: self
                .retry_at()
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        }
    }

    /// Renders the error at `now` (which sets `Retry-After`).
    pub(crate) fn into_response_at(self, now: DateTime<Utc>) -> Response {
        let retry_after = self
            .retry_at()
            .map(|t| (t - now).num_seconds().max(1))
            .or(match self {
                ApiError::Unavailable { .. } | ApiError::GatewayTimeout { .. } => Some(5),
                ApiError::Starting => Some(1),
                _ => None,
            });
        let mut response = (self.status(), Json(self.problem())).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(seconds) = retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if matches!(self, ApiError::Unauthorized) {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.into_response_at(Utc::now())
    }
}

/// The API's reading of an upstream failure with nothing useful cached:
/// rate limits and a spent budget are 503s, timeouts 504s, the rest 502s.
impl From<FetchError> for ApiError {
    fn from(error: FetchError) -> ApiError {
        let detail = format!("{} ({})", error.message, error.kind);
        let retry_at = error.retry_at;
        match error.kind {
            UpstreamErrorKind::RateLimited | UpstreamErrorKind::BudgetExhausted => {
                ApiError::Unavailable { detail, retry_at }
            }
            UpstreamErrorKind::Timeout => ApiError::GatewayTimeout { detail, retry_at },
            _ => ApiError::BadGateway { detail, retry_at },
        }
    }
}

/// Renders a handler's outcome, errors as problems at `now` (the instant
/// the handler read, so `Retry-After` agrees with `--now`).
pub(crate) fn respond(now: DateTime<Utc>, result: Result<Response, ApiError>) -> Response {
    result.unwrap_or_else(|error| error.into_response_at(now))
}
