//! Events between replicas over pub/sub: a feed's new revision, a lock
//! released, a source's cooldown. A subscriber task wakes the lock waiters
//! on every event (they also poll, so a lost message costs a poll
//! interval, not a hang) and mirrors announced cooldowns, so a gate knows
//! of another replica's 429 without a round trip. Reconnects with backoff.

use std::time::Duration;

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use super::cooldowns::SharedCooldown;
use super::{Replicas, SharedError};

/// Pause before subscribing again after the subscription broke.
const RESUBSCRIBE_AFTER: Duration = Duration::from_millis(500);

/// One message on the events channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum Event {
    /// A feed's snapshot was written at `revision`.
    Revision {
        /// The feed.
        feed: String,
        /// Its new revision.
        revision: u64,
    },
    /// A lock of the feed was given up.
    Released {
        /// The feed.
        feed: String,
    },
    /// A source cools down.
    Cooldown(SharedCooldown),
}

impl Replicas {
    /// Sends `event` to every replica (this one included).
    pub(super) async fn publish(&self, event: &Event) -> Result<(), SharedError> {
        let mut connection = self.connection()?;
        let payload =
            serde_json::to_string(event).map_err(|e| SharedError::Unexpected(e.to_string()))?;
        let _: i64 = self.observe(
            redis::cmd("PUBLISH")
                .arg(self.keys().channel())
                .arg(payload)
                .query_async(&mut connection)
                .await,
        )?;
        Ok(())
    }

    fn receive(&self, payload: &[u8]) {
        match serde_json::from_slice::<Event>(payload) {
            Ok(Event::Cooldown(cooldown)) => self.mirror_cooldown(cooldown),
            Ok(_) => {}
            // A newer replica's event this build does not know: waking is all it costs.
            Err(error) => {
                tracing::debug!(%error, "an event from another replica was not understood")
            }
        }
        self.bump_events();
    }
}

/// The subscriber loop; returns when `token` is cancelled.
pub(super) async fn run(replicas: Replicas, token: CancellationToken) {
    loop {
        tokio::select! {
            () = token.cancelled() => return,
            () = subscribe_and_listen(&replicas) => {}
        }
        tokio::select! {
            () = token.cancelled() => return,
            () = tokio::time::sleep(RESUBSCRIBE_AFTER) => {}
        }
    }
}

/// Subscribes and handles messages until the subscription breaks.
async fn subscribe_and_listen(replicas: &Replicas) {
    let Ok(Ok(mut pubsub)) = tokio::time::timeout(
        super::RESPONSE_TIMEOUT * 2,
        replicas.shared.client.get_async_pubsub(),
    )
    .await
    else {
        return;
    };
    if pubsub.subscribe(replicas.keys().channel()).await.is_err() {
        return;
    }
    // Anything missed while unsubscribed is looked up by the waiters' next poll.
    replicas.bump_events();
    let mut messages = pubsub.into_on_message();
    while let Some(message) = messages.next().await {
        replicas.receive(message.get_payload_bytes());
    }
}
