//! The link to Redis: a deadline loop that connects, probes with PING,
//! and logs the edges once each (lost, back); a command failing on a dead
//! link marks it lost at once, so no request waits for Redis while it is
//! away. Each (re)connection bumps the generation: feeds resynchronise.

use std::sync::atomic::Ordering;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio_util::sync::CancellationToken;

use super::{RESPONSE_TIMEOUT, Replicas};

/// Pause between probes.
const PROBE_EVERY: Duration = Duration::from_millis(500);

/// The link loop; returns when `token` is cancelled.
pub(super) async fn run(replicas: Replicas, token: CancellationToken) {
    let mut connected_once = false;
    loop {
        let healthy = tokio::select! {
            () = token.cancelled() => return,
            healthy = probe(&replicas) => healthy,
        };
        if healthy && !replicas.shared.up.swap(true, Ordering::AcqRel) {
            if connected_once {
                tracing::info!("Redis is reachable again; resynchronising the feeds and sharing");
            } else {
                tracing::info!(
                    prefix = replicas.keys().prefix(),
                    replicas = replicas.n_replicas(),
                    "connected to Redis; sharing feeds with the other replicas"
                );
            }
            connected_once = true;
            replicas
                .shared
                .generation
                .send_modify(|n| *n = n.wrapping_add(1));
            replicas.bump_events();
        } else if !healthy && replicas.is_up() {
            mark_lost(&replicas, "it did not answer a probe");
        }
        tokio::select! {
            () = token.cancelled() => return,
            () = tokio::time::sleep(PROBE_EVERY) => {}
        }
    }
}

/// A command failed because the link is gone.
pub(super) fn lost(replicas: &Replicas, error: &redis::RedisError) {
    let reason = error.to_string();
    mark_lost(replicas, &reason);
}

fn mark_lost(replicas: &Replicas, reason: &str) {
    if replicas.shared.up.swap(false, Ordering::AcqRel) {
        tracing::warn!(
            reason,
            "Redis lost; going on alone (serving RAM, fetching with this replica's share of the budget)"
        );
        // Lock waiters stop waiting for a release they would not hear of.
        replicas.bump_events();
    }
}

/// Whether Redis answers PING, connecting first when needed.
async fn probe(replicas: &Replicas) -> bool {
    let existing = replicas
        .shared
        .connection
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let mut connection = match existing {
        Some(connection) => connection,
        None => match connect(replicas).await {
            Some(connection) => {
                *replicas
                    .shared
                    .connection
                    .write()
                    .unwrap_or_else(|e| e.into_inner()) = Some(connection.clone());
                connection
            }
            None => return false,
        },
    };
    let ping_command = redis::cmd("PING");
    let ping = ping_command.query_async::<String>(&mut connection);
    matches!(
        tokio::time::timeout(RESPONSE_TIMEOUT, ping).await,
        Ok(Ok(_))
    )
}

async fn connect(replicas: &Replicas) -> Option<ConnectionManager> {
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(RESPONSE_TIMEOUT)
        .set_response_timeout(RESPONSE_TIMEOUT)
        .set_number_of_retries(1)
        .set_max_delay(200);
    let connecting = ConnectionManager::new_with_config(replicas.shared.client.clone(), config);
    match tokio::time::timeout(RESPONSE_TIMEOUT * 2, connecting).await {
        Ok(Ok(connection)) => Some(connection),
        _ => None,
    }
}
