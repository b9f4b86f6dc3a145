//! The start-up server: answers probes on the listening socket while the
//! service is being built, then hands the socket to the real server.

use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::{ConnectionLimits, serve};

/// The listener's server while the service is being built (the app gives
/// it the start-up router: healthz 200, readyz 503): it accepts on a
/// duplicate of the listening socket, so the real server takes over the
/// same socket afterwards. Both count against the same connection cap.
pub struct StartupServer {
    stop: CancellationToken,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl StartupServer {
    /// Starts serving `router` on a clone of `listener`; returns the
    /// listener for the real server.
    pub fn spawn(
        listener: TcpListener,
        router: Router,
        limits: ConnectionLimits,
    ) -> std::io::Result<(TcpListener, StartupServer)> {
        let listener = listener.into_std()?;
        let for_startup = TcpListener::from_std(listener.try_clone()?)?;
        let listener = TcpListener::from_std(listener)?;
        let stop = CancellationToken::new();
        let task = tokio::spawn(serve(
            for_startup,
            router,
            limits,
            stop.clone().cancelled_owned(),
        ));
        Ok((
            listener,
            StartupServer {
                stop,
                task: Some(task),
            },
        ))
    }

    /// Stops accepting, closes its idle and half-read connections and lets
    /// the others finish their current request (those answers are
    /// immediate); waits a second at most. New connections go to the real
    /// server.
    pub async fn stop(mut self) {
        self.stop.cancel();
        if let Some(task) = self.task.take() {
            let abort = task.abort_handle();
            if tokio::time::timeout(Duration::from_secs(1), task)
                .await
                .is_err()
            {
                abort.abort();
                tracing::debug!("a startup connection is still open; new ones go to the service");
            }
        }
    }
}

impl Drop for StartupServer {
    fn drop(&mut self) {
        self.stop.cancel();
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}
