//! Shutdown: the signals that ask for it, the one root token, the task
//! trackers, and the order in which the service stops.
//!
//! Order, after a stop signal:
//! 1. serving stops (the `serving` child token): no new connections,
//!    in-flight requests get `--shutdown-timeout`; the saver is told to
//!    write dirty homes at once;
//! 2. upstream fetches already running land (bounded by the fetch
//!    deadline), so what they bring is in the final flush;
//! 3. the root token is cancelled: every background worker stops, the
//!    saver writes every dirty home and returns;
//! 4. both trackers are waited for.

use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How long each of steps 2 and 3 may take before shutdown goes on without it.
const STEP_DEADLINE: Duration = Duration::from_secs(20);

/// The service's shutdown state, made once by `Application::build`.
#[derive(Debug, Clone, Default)]
pub struct Shutdown {
    /// Cancelled last: every background worker holds a child.
    root: CancellationToken,
    /// Cancelled first, when the stop signal arrives: the servers.
    serving: CancellationToken,
    /// Background workers (saver, prefetch, discovery, the signal watch).
    background: TaskTracker,
    /// Upstream fetches, which outlive the request that started them.
    fetches: TaskTracker,
}

impl Shutdown {
    /// A fresh shutdown state; nothing is cancelled.
    pub fn new() -> Shutdown {
        let root = CancellationToken::new();
        Shutdown {
            serving: root.child_token(),
            root,
            background: TaskTracker::new(),
            fetches: TaskTracker::new(),
        }
    }

    /// A token for a background worker: cancelled in step 3.
    pub fn worker_token(&self) -> CancellationToken {
        self.root.child_token()
    }

    /// A token for background work that starts upstream fetches (the
    /// prefetch, the MQTT publisher): cancelled in step 1 with serving, so
    /// no fetch starts after step 2 began draining them.
    pub fn fetching_token(&self) -> CancellationToken {
        self.serving.child_token()
    }

    /// The token the servers stop on: cancelled in step 1.
    pub fn serving(&self) -> &CancellationToken {
        &self.serving
    }

    /// Where background workers are spawned.
    pub fn background(&self) -> &TaskTracker {
        &self.background
    }

    /// Where upstream fetches are spawned.
    pub fn fetches(&self) -> &TaskTracker {
        &self.fetches
    }

    /// Step 1: stop serving.
    pub fn stop_serving(&self) {
        self.serving.cancel();
    }

    /// Steps 2 to 4, once the servers returned. False when a step did not
    /// finish in time (what it would have saved may be lost).
    pub async fn finish(&self) -> bool {
        self.stop_serving();
        self.fetches.close();
        if tokio::time::timeout(STEP_DEADLINE, self.fetches.wait())
            .await
            .is_err()
        {
            tracing::warn!("upstream fetches still running at shutdown; their results are dropped");
        }
        self.root.cancel();
        self.background.close();
        if tokio::time::timeout(STEP_DEADLINE, self.background.wait())
            .await
            .is_err()
        {
            tracing::error!("background work did not stop in time; unsaved changes may be lost");
            return false;
        }
        true
    }
}

/// The signals that stop the service gracefully, registered when
/// installed: `main` installs them before building, so a signal that
/// arrives while the service starts is not lost (nor kills it). SIGINT
/// (Ctrl-C), SIGTERM (container stop), and SIGHUP (terminal or session
/// closed), SIGQUIT and SIGUSR1, whose default action would end the
/// process without the final flush; none of them has another use here.
pub struct StopSignals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
    #[cfg(unix)]
    hangup: tokio::signal::unix::Signal,
    #[cfg(unix)]
    quit: tokio::signal::unix::Signal,
    #[cfg(unix)]
    user1: tokio::signal::unix::Signal,
}

impl StopSignals {
    /// Registers the handlers now.
    pub fn install() -> std::io::Result<StopSignals> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(StopSignals {
                interrupt: signal(SignalKind::interrupt())?,
                terminate: signal(SignalKind::terminate())?,
                hangup: signal(SignalKind::hangup())?,
                quit: signal(SignalKind::quit())?,
                user1: signal(SignalKind::user_defined1())?,
            })
        }
        #[cfg(not(unix))]
        Ok(StopSignals {})
    }

    /// Completes on the first of the signals.
    pub async fn received(mut self) {
        #[cfg(unix)]
        {
            let name = tokio::select! {
                _ = self.interrupt.recv() => "SIGINT",
                _ = self.terminate.recv() => "SIGTERM",
                _ = self.hangup.recv() => "SIGHUP",
                _ = self.quit.recv() => "SIGQUIT",
                _ = self.user1.recv() => "SIGUSR1",
            };
            tracing::info!(signal = name, "stop signal received");
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
