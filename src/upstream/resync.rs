//! After every (re)connection to Redis, each feed reads what the other
//! replicas shared and writes what this replica holds: Redis may have come
//! back empty (the feeds are written again) or others fetched meanwhile.
//! A deadline loop on the replicas' generation and the cancellation token.

use tokio_util::sync::CancellationToken;

use super::registry::Registry;
use crate::replicas::Replicas;

/// The resync loop; returns when `token` is cancelled.
pub(crate) async fn run(registry: Registry, replicas: Replicas, token: CancellationToken) {
    let mut generation = replicas.generation();
    // The first pass writes what the snapshots restored, if Redis is there.
    generation.mark_changed();
    loop {
        tokio::select! {
            () = token.cancelled() => return,
            changed = generation.changed() => if changed.is_err() { return },
        }
        let feeds = registry.feeds();
        for feed in &feeds {
            if token.is_cancelled() {
                return;
            }
            feed.resync().await;
        }
        tracing::info!(feeds = feeds.len(), "feeds resynchronised with Redis");
    }
}
