//! Accepting and serving connections: the accept loop, and per connection
//! the limits that keep hostile or forgetful clients from holding the
//! service's memory and file descriptors (axum::serve has none of them).
//!
//! - a **header-read timeout**: a request head must arrive whole within it
//!   of its first byte, and a new connection's first one within it of the
//!   accept (slowloris, silent connections);
//! - an **idle timeout**: a keep-alive connection with no request for that
//!   long is closed (well above what reverse proxies and Home Assistant keep
//!   idle, so they close first);
//! - a **connection cap**: past it a new connection is answered a fixed 503
//!   with `Connection: close` and closed at once, without reading the request;
//! - a **stall timeout**: a response the client stops reading (or a request
//!   making no progress) is dropped after the idle timeout;
//! - a **header size cap** (hyper's read buffer; HTTP/2's header list);
//! - **shutdown** closes idle and half-read connections at once and lets
//!   requests in flight finish (the caller bounds that with its deadline).
//!
//! HTTP/1.1 and HTTP/2 with prior knowledge (h2c) are both served.
#![warn(missing_docs)]

use std::convert::Infallible;
use std::future::{Future, poll_fn};
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
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

/// File descriptors kept out of the connection cap: snapshot files, the
/// data directory's lock, upstream sockets, the listener, stdio.
const FD_RESERVE: u64 = 256;

/// First pause after a failed accept (e.g. EMFILE); doubled per failure.
const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(10);

/// Longest pause between accepts while accepting fails.
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_millis(250);

/// The whole answer past the connection cap: written in one non-blocking
/// write, so refusing costs no more than accepting did.
const REFUSAL: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
content-type: application/problem+json\r\n\
content-length: 162\r\n\
retry-after: 1\r\n\
cache-control: no-store\r\n\
connection: close\r\n\
\r\n\
{\"type\":\"urn:pricepool:problem:too-many-connections\",\"title\":\"too many connections\",\"status\":503,\"detail\":\"the service has as many connections open as it allows\"}";

/// How connections are limited; one value shared by every server on the
/// listener (the start-up server and the service), so they share the cap.
#[derive(Clone)]
pub struct ConnectionLimits {
    /// A request head must arrive whole within this of its first byte.
    pub header_read_timeout: Duration,
    /// A connection without a request in flight is closed after this long.
    pub idle_timeout: Duration,
    /// Largest request head (HTTP/1 read buffer, HTTP/2 header list), bytes.
    pub max_header_bytes: usize,
    /// One permit per open connection.
    slots: Arc<Semaphore>,
    max_connections: usize,
}

impl ConnectionLimits {
    /// Limits allowing up to `max_connections` open at once, lowered to
    /// fit `open_files` (the soft RLIMIT_NOFILE, see
    /// [`raise_open_files_limit`]) minus a reserve for files and upstream
    /// sockets, so the cap, not EMFILE, is what a flood meets.
    pub fn new(
        header_read_timeout: Duration,
        idle_timeout: Duration,
        max_header_bytes: usize,
        max_connections: usize,
        open_files: Option<u64>,
    ) -> ConnectionLimits {
        let fitting = open_files.map_or(max_connections, |limit| {
            let usable = usize::try_from(limit.saturating_sub(FD_RESERVE)).unwrap_or(usize::MAX);
            max_connections.min(usable.max(1))
        });
        if fitting < max_connections {
            tracing::warn!(
                asked = max_connections,
                open_files_limit = open_files,
                max_connections = fitting,
                "the open-files limit is too low for --max-connections; serving fewer"
            );
        }
        ConnectionLimits {
            header_read_timeout,
            idle_timeout,
            max_header_bytes,
            slots: Arc::new(Semaphore::new(fitting)),
            max_connections: fitting,
        }
    }

    /// The cap in force (after fitting it to the open-files limit).
    pub fn max_connections(&self) -> usize {
        self.max_connections
    }
}

/// Raises the soft open-files limit to the hard one (a container's default
/// soft limit of 1,024 would cap the service far below what it can serve)
/// and returns the limit now in force; `None` when unlimited.
pub fn raise_open_files_limit() -> Option<u64> {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    let (Some(soft), Some(hard)) = (limit.current, limit.maximum) else {
        return limit.current;
    };
    if hard <= soft {
        return Some(soft);
    }
    let raised = rustix::process::Rlimit {
        current: Some(hard),
        maximum: Some(hard),
    };
    match setrlimit(Resource::Nofile, raised) {
        Ok(()) => {
            tracing::info!(from = soft, to = hard, "raised the open-files limit");
            Some(hard)
        }
        Err(error) => {
            tracing::warn!(%error, limit = soft, "cannot raise the open-files limit; keeping it");
            Some(soft)
        }
    }
}

/// Serves `router` on `listener` within `limits` until `stop` completes;
/// then stops accepting, closes idle and half-read connections and returns
/// once the requests in flight are answered (bound that wait from outside).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    stop: impl Future<Output = ()>,
) -> io::Result<()> {
    let shared = Arc::new(Shared::new(router, limits));
    let stopping = CancellationToken::new();
    let connections = TaskTracker::new();
    let mut failures = AcceptFailures::default();
    let mut stop = pin!(stop);
    loop {
        let accepted = tokio::select! {
            () = &mut stop => break,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _peer)) => stream,
            Err(error) if is_connection_error(&error) => continue,
            Err(error) => {
                let pause = failures.failed(&error);
                tokio::select! {
                    () = &mut stop => break,
                    () = tokio::time::sleep(pause) => continue,
                }
            }
        };
        failures.succeeded();
        match Arc::clone(&shared.limits.slots).try_acquire_owned() {
            Ok(permit) => {
                connections.spawn(serve_connection(
                    stream,
                    Arc::clone(&shared),
                    stopping.clone(),
                    permit,
                ));
            }
            Err(_) => refuse(stream),
        }
    }
    drop(listener);
    stopping.cancel();
    connections.close();
    connections.wait().await;
    Ok(())
}

/// What every connection of one server uses.
struct Shared {
    router: Router,
    limits: ConnectionLimits,
    builder: auto::Builder<TokioExecutor>,
}

impl Shared {
    fn new(router: Router, limits: ConnectionLimits) -> Shared {
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

/// Answers a fixed 503 and closes, without reading the request: a client
/// or proxy sees why (if the close does not reset the answer away first),
/// and the descriptor is free again at once.
fn refuse(stream: TcpStream) {
    metrics::counter!("pricepool_connections_refused_total").increment(1);
    // A request already received is drained (never waited for), so the
    // close is a FIN after the answer rather than a reset that loses it.
    let mut scratch = [0_u8; 2048];
    let _ = stream.try_read(&mut scratch);
    let _ = stream.try_write(REFUSAL);
}

/// Accept errors that concern one connection (it went away before it was
/// accepted): skip it and accept the next at once.
fn is_connection_error(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
    )
}

/// A run of failed accepts (EMFILE, ENFILE, ENOBUFS): logged once when it
/// starts and once when it ends, with a growing pause in between so the
/// loop does not spin.
#[derive(Default)]
struct AcceptFailures {
    n_failed: u32,
}

impl AcceptFailures {
    /// Records a failure; returns how long to pause before the next accept.
    fn failed(&mut self, error: &io::Error) -> Duration {
        if self.n_failed == 0 {
            tracing::error!(
                %error,
                "accepting connections fails; retrying with backoff until it works again"
            );
        }
        self.n_failed = self.n_failed.saturating_add(1);
        metrics::counter!("pricepool_accept_errors_total").increment(1);
        ACCEPT_BACKOFF_MIN
            .saturating_mul(1 << self.n_failed.min(8))
            .min(ACCEPT_BACKOFF_MAX)
    }

    fn succeeded(&mut self) {
        if self.n_failed > 0 {
            tracing::warn!(
                failed_accepts = self.n_failed,
                "accepting connections works again"
            );
            self.n_failed = 0;
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
async fn serve_connection(
    stream: TcpStream,
    shared: Arc<Shared>,
    stopping: CancellationToken,
    _slot: OwnedSemaphorePermit,
) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_refusal_is_one_well_formed_answer() {
        let text = std::str::from_utf8(REFUSAL).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let length: usize = head
            .lines()
            .find_map(|line| line.strip_prefix("content-length: "))
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(length, body.len());
        let problem: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(problem["status"], 503);
    }

    #[test]
    fn failing_accepts_back_off_up_to_a_bound_and_start_over_after_a_success() {
        let mut failures = AcceptFailures::default();
        let emfile = io::Error::from_raw_os_error(24);
        let pauses: Vec<Duration> = (0..12).map(|_| failures.failed(&emfile)).collect();
        assert!(pauses.windows(2).all(|pair| pair[0] <= pair[1]));
        assert!(pauses[0] >= ACCEPT_BACKOFF_MIN);
        assert_eq!(pauses[11], ACCEPT_BACKOFF_MAX);
        failures.succeeded();
        assert_eq!(failures.failed(&emfile), pauses[0]);
    }

    #[test]
    fn the_cap_is_lowered_to_fit_the_open_files_limit() {
        let second = Duration::from_secs(1);
        let limits = ConnectionLimits::new(second, second, 8192, 4096, Some(1024));
        assert_eq!(limits.max_connections(), 1024 - FD_RESERVE as usize);
        let limits = ConnectionLimits::new(second, second, 8192, 4096, None);
        assert_eq!(limits.max_connections(), 4096);
    }
}
