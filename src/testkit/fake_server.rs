//! What every fake upstream shares: the local HTTP server that stops when
//! its handle is dropped, the scripted faults (one per call in order, then
//! a persistent one), and a poison-tolerant lock.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Mutex, MutexGuard};

use axum::Router;
use tokio_util::sync::CancellationToken;

/// A fake's running server: its address; it stops when this is dropped.
pub(crate) struct Running {
    /// Where it listens.
    pub(crate) address: SocketAddr,
    stop: CancellationToken,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Serves `app` on `address` (port 0 picks a free one) until the returned
/// handle is dropped; `name` tells the fakes apart in a warning.
pub(crate) async fn serve(
    address: SocketAddr,
    app: Router,
    name: &'static str,
) -> std::io::Result<Running> {
    let listener = tokio::net::TcpListener::bind(address).await?;
    let address = listener.local_addr()?;
    let stop = CancellationToken::new();
    let stopped = stop.clone();
    tokio::spawn(async move {
        let serve = axum::serve(listener, app).with_graceful_shutdown(stopped.cancelled_owned());
        if let Err(error) = serve.await {
            tracing::warn!(%error, fake = name, "fake server stopped");
        }
    });
    Ok(Running { address, stop })
}

/// 127.0.0.1 on a free port.
pub(crate) fn local_address() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// Faults a test scripts: each pushed one applies to one call, in order;
/// then the persistent one, if set, to every call.
pub(crate) struct Script<F> {
    scripted: Mutex<VecDeque<F>>,
    persistent: Mutex<Option<F>>,
}

impl<F: Clone> Script<F> {
    /// No fault.
    pub(crate) fn new() -> Script<F> {
        Script {
            scripted: Mutex::new(VecDeque::new()),
            persistent: Mutex::new(None),
        }
    }

    /// Applies `fault` to the next call that has no earlier scripted fault.
    pub(crate) fn push(&self, fault: F) {
        lock(&self.scripted).push_back(fault);
    }

    /// Applies `fault` to every call after the scripted ones; `None` heals.
    pub(crate) fn set(&self, fault: Option<F>) {
        *lock(&self.persistent) = fault;
    }

    /// The fault for the call arriving now.
    pub(crate) fn next(&self) -> Option<F> {
        let scripted = lock(&self.scripted).pop_front();
        scripted.or_else(|| lock(&self.persistent).clone())
    }
}

/// Locks `mutex`, going on after a test thread panicked while holding it.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}
