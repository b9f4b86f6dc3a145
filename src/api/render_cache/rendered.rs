//! A rendered body (or day chunk) and its hash.

use axum::body::Bytes;

use crate::api::caching::{EtagText, body_hash};

/// A body (or a day chunk) ready to send, with its hash.
#[derive(Debug, Clone)]
pub(crate) struct Rendered {
    /// The JSON bytes; cloning them shares them.
    pub(crate) body: Bytes,
    /// Their [`body_hash`]: the `ETag` of a whole body, a part of the
    /// `ETag` of a body assembled from chunks.
    pub(crate) hash: u64,
}

impl Rendered {
    /// `bytes` with their hash.
    pub(crate) fn new(bytes: Vec<u8>) -> Rendered {
        Rendered {
            hash: body_hash(&bytes),
            body: Bytes::from(bytes),
        }
    }

    /// The strong validator of a whole body, quoted.
    pub(crate) fn etag(&self) -> EtagText {
        EtagText::of(self.hash)
    }
}
