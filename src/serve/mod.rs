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

use std::future::Future;
use std::io;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use connection::{Shared, serve_connection};
use threads::ConnectionThreads;

mod connection;
mod startup;
mod threads;

pub use startup::StartupServer;

/// File descriptors kept out of the connection cap: snapshot files, the
/// data directory's lock, upstream sockets, the listener, stdio.
const FD_RESERVE: u64 = 256;

/// The smallest header cap hyper's HTTP/1 read buffer allows.
pub const MIN_HEADER_BYTES: usize = 8192;

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
            // hyper's HTTP/1 read buffer cannot be smaller (it panics).
            max_header_bytes: max_header_bytes.max(MIN_HEADER_BYTES),
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
    let mut threads = ConnectionThreads::per_core()?;
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
                // Served on a connection thread from here on.
                let Ok(stream) = stream.into_std() else {
                    continue;
                };
                threads
                    .next()
                    .spawn(connections.track_future(serve_connection(
                        stream,
                        Arc::clone(&shared),
                        stopping.clone(),
                        permit,
                    )));
            }
            Err(_) => refuse(stream),
        }
    }
    drop(listener);
    stopping.cancel();
    connections.close();
    connections.wait().await;
    drop(threads);
    Ok(())
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
