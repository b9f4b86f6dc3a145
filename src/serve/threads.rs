//! The connection threads: one single-threaded runtime per core, each
//! serving the connections handed to it from accept to close, as nginx's
//! workers do. A connection's socket events, its request and its answer
//! stay on one thread, so serving a request wakes no other thread (with a
//! work-stealing runtime, the reader's wake-up, the stealing and the
//! reschedule interrupts between cores were a fifth of the hot path's
//! time, BENCHMARKS.md).
//!
//! What a request starts that must outlive it (an upstream fetch) runs on
//! the service's runtime, not here: these runtimes stop with the server.

use std::io;
use std::num::NonZero;

use tokio::runtime::Handle;
use tokio_util::sync::CancellationToken;

/// The threads of one server; they stop when this is dropped (tasks still
/// on them are dropped with their runtime).
pub(super) struct ConnectionThreads {
    runtimes: Vec<Handle>,
    next: usize,
    stop: CancellationToken,
}

impl ConnectionThreads {
    /// One thread per core the process may use (cgroup quotas included).
    pub(super) fn per_core() -> io::Result<ConnectionThreads> {
        let cores = std::thread::available_parallelism().map_or(1, NonZero::get);
        ConnectionThreads::start(cores)
    }

    /// Starts `count` threads (at least one). They log to the caller's
    /// tracing dispatcher (the global one unless the caller set its own).
    pub(super) fn start(count: usize) -> io::Result<ConnectionThreads> {
        let dispatch = tracing::dispatcher::get_default(Clone::clone);
        let mut threads = ConnectionThreads {
            runtimes: Vec::with_capacity(count.max(1)),
            next: 0,
            stop: CancellationToken::new(),
        };
        for index in 0..count.max(1) {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let handle = runtime.handle().clone();
            let stop = threads.stop.clone();
            let dispatch = dispatch.clone();
            std::thread::Builder::new()
                .name(format!("pricepool-conn-{index}"))
                .spawn(move || {
                    let _logging = tracing::dispatcher::set_default(&dispatch);
                    runtime.block_on(stop.cancelled());
                })?;
            threads.runtimes.push(handle);
        }
        Ok(threads)
    }

    /// The runtime for the next connection, in turn.
    pub(super) fn next(&mut self) -> &Handle {
        let index = self.next % self.runtimes.len();
        self.next = index + 1;
        &self.runtimes[index]
    }
}

impl Drop for ConnectionThreads {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}
