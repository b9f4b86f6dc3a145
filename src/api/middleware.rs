//! Request-level behaviour shared by every route: the optional API token,
//! the check of an inbound request id, the request-target
//! length limit, and turning any bare error status from a layer (405, 413,
//! 504 …) into a problem body.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use super::problem::ApiError;

/// The longest request target (path and query) the service reads. The
/// longest real query is two RFC 3339 instants; 8 KiB is far beyond that.
pub(crate) const MAX_URI_BYTES: usize = 8 * 1024;

/// The largest request body accepted. No endpoint reads a body.
pub(crate) const MAX_BODY_BYTES: usize = 16 * 1024;

/// The longest inbound `X-Request-Id` the service adopts: a UUID (36) or a
/// W3C trace id (32) with room to spare.
pub(crate) const MAX_REQUEST_ID_BYTES: usize = 64;

/// The request id header, set (or adopted) and echoed by the router's layers.
const REQUEST_ID: &str = "x-request-id";

/// Removes an inbound `X-Request-Id` that is not one short run of visible
/// ASCII (`!` to `~`, at most [`MAX_REQUEST_ID_BYTES`]), so the next layer
/// makes a fresh one. An adopted id is echoed in the answer and written in
/// every log line of the request: a client must not be able to make those
/// lines huge (a 200 KB id per request) or put control and non-ASCII bytes
/// into them. A repeated header is not adopted either.
pub(crate) async fn drop_unfit_request_id(mut request: Request) -> Request {
    let values = request.headers().get_all(REQUEST_ID);
    let mut values = values.iter();
    let fits = match (values.next(), values.next()) {
        (Some(value), None) => is_fit_request_id(value.as_bytes()),
        (None, _) => true,
        (Some(_), Some(_)) => false,
    };
    if !fits {
        request.headers_mut().remove(REQUEST_ID);
    }
    request
}

/// Whether `id` is 1 to [`MAX_REQUEST_ID_BYTES`] bytes of visible ASCII.
fn is_fit_request_id(id: &[u8]) -> bool {
    (1..=MAX_REQUEST_ID_BYTES).contains(&id.len()) && id.iter().all(u8::is_ascii_graphic)
}

/// The API token `/v1` requires, kept as its SHA-256 digest: a presented
/// token is hashed and the two digests compared in constant time, so the
/// comparison reveals neither how much of the token matched nor its length
/// (comparing the raw bytes stops at a length mismatch). The token itself
/// is not kept, so no Debug output or core dump of the state shows it.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct ApiToken {
    digest: [u8; 32],
}

impl ApiToken {
    /// The token clients must present as `Authorization: Bearer <token>`.
    pub(crate) fn new(token: &str) -> ApiToken {
        ApiToken {
            digest: sha256(token),
        }
    }

    /// Whether `presented` is the token, in time that depends only on
    /// `presented`'s length.
    pub(crate) fn accepts(&self, presented: &str) -> bool {
        bool::from(sha256(presented).ct_eq(&self.digest))
    }
}

impl std::fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiToken(<redacted>)")
    }
}

fn sha256(text: &str) -> [u8; 32] {
    let mut digest = [0u8; 32];
    digest.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, text.as_bytes()).as_ref());
    digest
}

/// Refuses `/v1` requests without the configured bearer token (see
/// [`ApiToken`]).
pub(crate) async fn require_token(
    State(expected): State<Option<std::sync::Arc<ApiToken>>>,
    request: Request,
    next: Next,
) -> Response {
    let Some(expected) = expected else {
        return next.run(request).await;
    };
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| {
            let (scheme, token) = value.split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then_some(token.trim())
        });
    match presented {
        Some(token) if expected.accepts(token) => next.run(request).await,
        _ => ApiError::Unauthorized.into_response(),
    }
}

/// Answers 414 with a problem body before routing when the target is too long.
pub(crate) async fn limit_uri_length(request: Request, next: Next) -> Response {
    let length = request
        .uri()
        .path_and_query()
        .map_or(0, |target| target.as_str().len());
    if length > MAX_URI_BYTES {
        return ApiError::UriTooLong(MAX_URI_BYTES).into_response();
    }
    next.run(request).await
}

/// Gives every error answer that a layer or the router produced without a
/// body of ours (405, 413, 504 from the timeout, an axum rejection …) a
/// problem body, keeping its status and headers (`Allow` on 405). Answers
/// whose body a handler wrote (JSON, problem+json) pass untouched.
pub(crate) async fn problem_for_bare_errors(request: Request, next: Next) -> Response {
    let method = request.method().to_string();
    let response = next.run(request).await;
    let status = response.status();
    let written_by_a_handler = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|value| !value.as_bytes().starts_with(b"text/plain"));
    if !(status.is_client_error() || status.is_server_error()) || written_by_a_handler {
        return response;
    }
    let error = match status {
        StatusCode::BAD_REQUEST => {
            ApiError::bad_parameter("home_id", "the request path could not be decoded")
        }
        StatusCode::NOT_FOUND => ApiError::UnknownRoute(String::new()),
        StatusCode::METHOD_NOT_ALLOWED => ApiError::MethodNotAllowed(method),
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge(MAX_BODY_BYTES),
        StatusCode::URI_TOO_LONG => ApiError::UriTooLong(MAX_URI_BYTES),
        StatusCode::REQUEST_TIMEOUT | StatusCode::GATEWAY_TIMEOUT => ApiError::GatewayTimeout {
            detail: "the request took longer than the service allows".to_string(),
            retry_at: None,
        },
        StatusCode::INTERNAL_SERVER_ERROR => ApiError::Internal,
        _ => return response,
    };
    let (mut parts, _) = response.into_parts();
    let (problem_parts, body) = error.into_response().into_parts();
    parts.status = problem_parts.status;
    for (name, value) in problem_parts.headers.iter() {
        parts.headers.insert(name, value.clone());
    }
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, body)
}

/// The catch-panic handler: logs the panic and answers a problem 500.
pub(crate) fn panic_to_problem(panic: Box<dyn std::any::Any + Send + 'static>) -> Response<Body> {
    let message = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("unknown panic payload");
    tracing::error!(panic = message, "a handler panicked; answered 500");
    ApiError::Internal.into_response()
}

#[cfg(test)]
mod tests {
    use super::{ApiToken, is_fit_request_id};

    #[test]
    fn only_short_visible_ascii_request_ids_fit() {
        assert!(is_fit_request_id(b"trace-me-42"));
        assert!(is_fit_request_id(&[b'x'; 64]));
        assert!(!is_fit_request_id(&[b'x'; 65]));
        assert!(!is_fit_request_id(b""));
        assert!(!is_fit_request_id(b"two words"));
        assert!(!is_fit_request_id(b"tab\there"));
        assert!(!is_fit_request_id("caf\u{e9}".as_bytes()));
    }

    #[test]
    fn only_the_token_itself_is_accepted_and_debug_hides_it() {
        let token = ApiToken::new("s3cret-token");
        assert!(token.accepts("s3cret-token"));
        for wrong in [
            "",
            "s",
            "s3cret",
            "s3cret-tokeN",
            "s3cret-token ",
            "s3cret-token-longer",
        ] {
            assert!(!token.accepts(wrong), "{wrong:?}");
        }
        assert!(!format!("{token:?}").contains("s3cret"));
    }
}
