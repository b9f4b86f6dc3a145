//! A response body sent as several shared byte parts: a range body
//! assembled from a head, kept day chunks and a tail (`day_chunks`) goes
//! out without copying the chunks into one buffer. Its length is exact, so
//! hyper still sends `Content-Length` (not chunked encoding) and queues
//! the parts for one vectored write, as it does with a single `Bytes`.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use hyper::body::{Frame, SizeHint};

/// The parts of a body, in order; empty parts are left out.
#[derive(Debug, Default)]
pub(crate) struct PartsBody {
    parts: VecDeque<Bytes>,
    remaining: u64,
}

impl PartsBody {
    /// An empty body with room for `parts` parts.
    pub(crate) fn with_capacity(parts: usize) -> PartsBody {
        PartsBody {
            parts: VecDeque::with_capacity(parts),
            remaining: 0,
        }
    }

    /// Appends `part` to the body.
    pub(crate) fn push(&mut self, part: Bytes) {
        if !part.is_empty() {
            self.remaining += part.len() as u64;
            self.parts.push_back(part);
        }
    }

    /// The whole body in one buffer (tests).
    #[cfg(test)]
    pub(crate) fn concatenated(&self) -> Vec<u8> {
        self.parts
            .iter()
            .flat_map(|part| part.iter().copied())
            .collect()
    }
}

impl From<PartsBody> for Body {
    fn from(parts: PartsBody) -> Body {
        Body::new(parts)
    }
}

impl hyper::body::Body for PartsBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        Poll::Ready(this.parts.pop_front().map(|part| {
            this.remaining -= part.len() as u64;
            Ok(Frame::data(part))
        }))
    }

    fn is_end_stream(&self) -> bool {
        self.parts.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}
