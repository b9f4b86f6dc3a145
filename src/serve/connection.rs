//! One connection: served by hyper-util's auto builder (HTTP/1.1 or h2c)
//! and watched for a slow head, idleness, a stalled answer and shutdown.

use std::convert::Infallible;
use std::future::poll_fn;
use std::io;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use super::ConnectionLimits;

/// What every connection of one server uses.
pub(super) struct Shared {
    router: Router,
    pub(super) limits: ConnectionLimits,
    builder: auto::Builder<TokioExecutor>,
}

impl Shared {
    /// The builder every connection is served with, set to `limits`.
    pub(super) fn new(router: Router, limits: ConnectionLimits) -> Shared {
        let mut builder = auto::Builder::new(TokioExecutor::new());
        // hyper's own header timeout would also close idle keep-alive
        // connections at the same short deadline; `Activity` times both.
        builder
            .http1()
            .max_buf_size(limits.max_header_bytes)
            .keep_alive(true);
        builder
            .http2()
            .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX));
        Shared {
            router,
            limits,
            builder,
        }
    }
}

/// Why a connection ended on our side.
enum Ending {
    /// It closed by itself (client gone, protocol error, keep-alive off).
    Closed,
    /// No whole request head within the header-read timeout.
    HeaderTimeout,
    /// No request within the idle timeout.
    Idle,
    /// A request in flight or an answer unwritten made no progress for the
    /// idle timeout (a client that stopped reading).
    Stalled,
    /// Shutdown, with no request in flight.
    Shutdown,
}

/// Serves one connection until it closes, times out, or shutdown finds it
/// without a request in flight; holds its slot under the cap meanwhile.
pub(super) async fn serve_connection(
    stream: std::net::TcpStream,
    shared: Arc<Shared>,
    stopping: CancellationToken,
    _slot: OwnedSemaphorePermit,
) {
    // Registered with the runtime of the thread serving it.
    let Ok(stream) = TcpStream::from_std(stream) else {
        return;
    };
    // Responses are written whole; don't let Nagle hold back a tail.
    let _ = stream.set_nodelay(true);
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(TrackedIo {
        stream,
        activity: Arc::clone(&activity),
    });
    let router = shared.router.clone();
    let service_activity = Arc::clone(&activity);
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let request_guard = service_activity.begin_request(request.version());
        let router = router.clone();
        async move {
            let response = router.oneshot(request).await?;
            // The guard lives as long as the body: the request counts as in
            // flight until its answer is written whole.
            Ok::<_, Infallible>(response.map(|body| {
                Body::new(body.map_frame(move |frame| {
                    let _in_flight = &request_guard;
                    frame
                }))
            }))
        }
    });
    let limits = &shared.limits;
    let mut connection = pin!(shared.builder.serve_connection(io, service));
    let mut timer = pin!(tokio::time::sleep(limits.idle_timeout));
    let mut stop = pin!(stopping.cancelled());
    let mut shutting_down = false;
    let ending = poll_fn(|cx: &mut Context<'_>| {
        if connection.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Ending::Closed);
        }
        if !shutting_down && stop.as_mut().poll(cx).is_ready() {
            shutting_down = true;
            connection.as_mut().graceful_shutdown();
            if connection.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Ending::Closed);
            }
        }
        let (deadline, ending) = activity.deadline(limits);
        if shutting_down && !matches!(ending, Ending::Stalled) {
            // Nothing in flight or unwritten: idle, or a head half-read.
            return Poll::Ready(Ending::Shutdown);
        }
        if timer.deadline() != deadline {
            timer.as_mut().reset(deadline);
        }
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(ending),
            Poll::Pending => Poll::Pending,
        }
    })
    .await;
    let reason = match ending {
        Ending::Closed | Ending::Shutdown => return,
        Ending::HeaderTimeout => "header_timeout",
        Ending::Idle => "idle",
        Ending::Stalled => "stalled",
    };
    tracing::debug!(reason, "closing a connection");
    metrics::counter!("pricepool_connections_timed_out_total", "reason" => reason).increment(1);
}

/// What a connection's timeouts look at, updated by its reads and its
/// requests (HTTP/2 serves requests on other tasks, hence atomics).
struct Activity {
    opened: Instant,
    /// Requests whose response has not been written whole yet.
    in_flight: AtomicUsize,
    /// Milliseconds after `opened` at which the last request finished
    /// (0: none yet).
    quiet_since_ms: AtomicU64,
    /// Milliseconds after `opened` of the first byte read since then;
    /// `NO_BYTE` when none. A new connection's first request is due from
    /// the accept (0), as if its first byte had arrived then.
    first_byte_ms: AtomicU64,
    /// The connection speaks HTTP/2, whose control frames are no request head.
    http2: AtomicBool,
    /// Milliseconds after `opened` of the last request start or write.
    progress_ms: AtomicU64,
    /// The last write found the socket full: hyper holds unwritten bytes.
    write_blocked: AtomicBool,
}

const NO_BYTE: u64 = u64::MAX;

impl Activity {
    fn new() -> Activity {
        Activity {
            opened: Instant::now(),
            in_flight: AtomicUsize::new(0),
            quiet_since_ms: AtomicU64::new(0),
            first_byte_ms: AtomicU64::new(0),
            http2: AtomicBool::new(false),
            progress_ms: AtomicU64::new(0),
            write_blocked: AtomicBool::new(false),
        }
    }

    fn elapsed_ms(&self) -> u64 {
        u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(NO_BYTE - 1)
    }

    fn bytes_read(&self) {
        if self.first_byte_ms.load(Ordering::Relaxed) == NO_BYTE {
            self.first_byte_ms
                .store(self.elapsed_ms(), Ordering::Relaxed);
        }
    }

    fn begin_request(self: &Arc<Self>, version: hyper::Version) -> RequestGuard {
        if version == hyper::Version::HTTP_2 {
            self.http2.store(true, Ordering::Relaxed);
        }
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.progress_ms.store(self.elapsed_ms(), Ordering::Relaxed);
        RequestGuard(Arc::clone(self))
    }

    /// Notes a write's outcome: progress, or a full socket.
    fn wrote<T>(&self, polled: &Poll<io::Result<T>>) {
        let blocked = polled.is_pending();
        if self.write_blocked.load(Ordering::Relaxed) != blocked {
            self.write_blocked.store(blocked, Ordering::Relaxed);
        }
        if !blocked {
            self.progress_ms.store(self.elapsed_ms(), Ordering::Relaxed);
        }
    }

    /// When the connection is to be closed unless something happens, and
    /// why ([`Ending::Stalled`] while a request or its answer is under way).
    fn deadline(&self, limits: &ConnectionLimits) -> (Instant, Ending) {
        if self.in_flight.load(Ordering::Relaxed) > 0 || self.write_blocked.load(Ordering::Relaxed)
        {
            let progress =
                self.opened + Duration::from_millis(self.progress_ms.load(Ordering::Relaxed));
            return (progress + limits.idle_timeout, Ending::Stalled);
        }
        let first_byte = self.first_byte_ms.load(Ordering::Relaxed);
        let http2_in_use = self.http2.load(Ordering::Relaxed);
        if first_byte != NO_BYTE && !http2_in_use {
            let started = self.opened + Duration::from_millis(first_byte);
            return (started + limits.header_read_timeout, Ending::HeaderTimeout);
        }
        let quiet_since =
            self.opened + Duration::from_millis(self.quiet_since_ms.load(Ordering::Relaxed));
        (quiet_since + limits.idle_timeout, Ending::Idle)
    }
}

/// Counts one request as in flight until dropped with its response body.
struct RequestGuard(Arc<Activity>);

impl Drop for RequestGuard {
    fn drop(&mut self) {
        let activity = &self.0;
        if activity.in_flight.fetch_sub(1, Ordering::Relaxed) == 1 {
            activity
                .quiet_since_ms
                .store(activity.elapsed_ms(), Ordering::Relaxed);
            activity.first_byte_ms.store(NO_BYTE, Ordering::Relaxed);
        }
    }
}

/// The socket, noting in `activity` when bytes arrive.
struct TrackedIo {
    stream: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for TrackedIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.bytes_read();
        }
        polled
    }
}

impl AsyncWrite for TrackedIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.stream).poll_write(cx, buf);
        self.activity.wrote(&polled);
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        self.activity.wrote(&polled);
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
