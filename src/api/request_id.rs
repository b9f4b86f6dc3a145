//! Fresh request ids: random (version 4) UUIDs, as tower-http's
//! `MakeRequestUuid` makes them, but drawn from the thread's
//! cryptographically seeded generator instead of one `getrandom` system
//! call per request (a system call on every request of the hot path; see
//! BENCHMARKS.md).

use axum::http::{HeaderValue, Request};
use tower_http::request_id::{MakeRequestId, RequestId};

/// Makes a fresh UUID v4 for every request without an adopted id.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct MakeRequestUuidFast;

impl MakeRequestId for MakeRequestUuidFast {
    fn make_request_id<B>(&mut self, _request: &Request<B>) -> Option<RequestId> {
        let uuid = uuid::Builder::from_random_bytes(rand::random()).into_uuid();
        let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
        let text = uuid.hyphenated().encode_lower(&mut text);
        HeaderValue::from_str(text).ok().map(RequestId::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_distinct_version_4_uuids() {
        let request = Request::new(());
        let mut make = MakeRequestUuidFast;
        let ids: Vec<uuid::Uuid> = (0..100)
            .map(|_| {
                let id = make.make_request_id(&request).unwrap();
                uuid::Uuid::parse_str(id.header_value().to_str().unwrap()).unwrap()
            })
            .collect();
        assert!(ids.iter().all(|id| id.get_version_num() == 4));
        let distinct: std::collections::HashSet<_> = ids.iter().collect();
        assert_eq!(distinct.len(), ids.len());
    }
}
