//! Replicas that act as one pricepool through Redis (DESIGN.md, "More than
//! one machine: Redis"): feed snapshots and their revisions (`snapshots`),
//! a lock per planned call so single-flight spans replicas (`lock`), source
//! cooldowns (`cooldowns`), the call budget (`limiter`) and the negative
//! cache (`negatives`) shared by every replica, change and release events
//! over pub/sub (`notify`), the connection and its lost/back edges
//! (`link`), key names with a hash tag per feed so the same code runs on a
//! cluster (`keys`).
//!
//! Chosen once at start-up by `--redis-url`; without it nothing here runs.
//! A hit never touches Redis: only misses, fetches and the link's probe do.
//! When Redis is unreachable every call here answers
//! [`SharedError::Unavailable`] at once and the replica goes on alone.
#![warn(missing_docs)]

mod cooldowns;
mod keys;
mod limiter;
mod link;
mod lock;
mod negatives;
mod notify;
mod snapshots;

pub use cooldowns::SharedCooldown;
pub use keys::Keys;
pub use limiter::Limit;
pub use lock::FlightLock;
pub use negatives::SharedNegative;
pub use snapshots::Pulled;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use redis::aio::ConnectionManager;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How long one Redis command may take before the replica counts Redis as
/// lost: far below a request's patience, far above a loopback round trip.
pub const RESPONSE_TIMEOUT: Duration = Duration::from_millis(1000);

/// `--redis-url`. May hold a password: Debug and every message show only
/// that a URL was given, never its text.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisUrl(String);

impl RedisUrl {
    /// Clap's value parser: takes any text, checked by [`Replicas::new`].
    pub fn from_arg(text: &str) -> Result<RedisUrl, std::convert::Infallible> {
        Ok(RedisUrl(text.to_string()))
    }
}

impl std::fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RedisUrl([redacted])")
    }
}

/// Why the Redis flags cannot be used; never quotes the URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplicasError {
    /// Not a URL redis-rs accepts.
    #[error("--redis-url is not a Redis URL (write redis://[:password@]host:port/db)")]
    BadUrl,
    /// A prefix with a brace would take over the per-feed hash tags.
    #[error("--redis-prefix must not contain '{{' or '}}'")]
    BadPrefix,
}

/// Why a shared operation did not happen. The replica then acts alone.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SharedError {
    /// Redis is unreachable (or was a moment ago); the link probes it.
    #[error("redis is unavailable")]
    Unavailable,
    /// Redis answered, but not as expected (a script error, a wrong type).
    #[error("redis answered unexpectedly: {0}")]
    Unexpected(String),
}

/// The replica's handle on the shared state. Cheap to clone.
#[derive(Clone)]
pub struct Replicas {
    shared: Arc<Shared>,
}

struct Shared {
    client: redis::Client,
    keys: Keys,
    /// `--replicas`: how many replicas share the budget.
    n_replicas: u32,
    /// This replica's name in lock tokens: random, never reused.
    owner: String,
    next_token: AtomicU64,
    /// The multiplexed connection once made (it reconnects by itself).
    /// std RwLock: cloned out in a moment, never held across `.await`.
    connection: RwLock<Option<ConnectionManager>>,
    /// Whether Redis answered lately; false makes every call answer
    /// `Unavailable` without a round trip. The link sets it back.
    up: AtomicBool,
    /// Bumped on every event from another replica and every (re)connection,
    /// so lock waiters wake and look again.
    events: watch::Sender<u64>,
    /// Bumped on every (re)connection, so feeds resynchronise.
    generation: watch::Sender<u64>,
    /// Source cooldowns other replicas announced, by source name. std
    /// Mutex, short sections only.
    cooldowns: Mutex<HashMap<String, SharedCooldown>>,
}

impl std::fmt::Debug for Replicas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replicas")
            .field("url", &"[redacted]")
            .field("prefix", &self.shared.keys.prefix())
            .field("replicas", &self.shared.n_replicas)
            .field("up", &self.is_up())
            .finish()
    }
}

impl Replicas {
    /// A handle for `url` with keys under `prefix`, `n_replicas` sharing
    /// the budget. Connects nothing yet: see [`Replicas::spawn`].
    pub fn new(url: &RedisUrl, prefix: &str, n_replicas: u32) -> Result<Replicas, ReplicasError> {
        if prefix.contains(['{', '}']) {
            return Err(ReplicasError::BadPrefix);
        }
        let client = redis::Client::open(url.0.as_str()).map_err(|_| ReplicasError::BadUrl)?;
        let owner = format!("{:016x}", rand::random::<u64>());
        Ok(Replicas {
            shared: Arc::new(Shared {
                client,
                keys: Keys::new(prefix),
                n_replicas: n_replicas.max(1),
                owner,
                next_token: AtomicU64::new(0),
                connection: RwLock::new(None),
                up: AtomicBool::new(false),
                events: watch::Sender::new(0),
                generation: watch::Sender::new(0),
                cooldowns: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// Starts the link (connect, probe, log the edges) and the event
    /// subscriber on `tracker`; both stop on `token`.
    pub fn spawn(&self, token: CancellationToken, tracker: &TaskTracker) {
        tracker.spawn(link::run(self.clone(), token.clone()));
        tracker.spawn(notify::run(self.clone(), token));
    }

    /// Waits up to `limit` for the first connection, so a replica that
    /// starts next to a running Redis shares from its first request.
    pub async fn wait_connected(&self, limit: Duration) -> bool {
        let mut generation = self.shared.generation.subscribe();
        tokio::time::timeout(limit, generation.wait_for(|n| *n > 0))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// Whether Redis answered lately (for `/readyz`).
    pub fn is_up(&self) -> bool {
        self.shared.up.load(Ordering::Acquire)
    }

    /// `--replicas`.
    pub fn n_replicas(&self) -> u32 {
        self.shared.n_replicas
    }

    /// The key names.
    pub fn keys(&self) -> &Keys {
        &self.shared.keys
    }

    /// Changes each time the replica (re)connects to Redis.
    pub fn generation(&self) -> watch::Receiver<u64> {
        self.shared.generation.subscribe()
    }

    /// Changes on every event from another replica (a lock released, a
    /// revision written) and on every reconnection.
    pub fn events(&self) -> watch::Receiver<u64> {
        self.shared.events.subscribe()
    }

    fn bump_events(&self) {
        self.shared.events.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// The connection, or `Unavailable` at once when Redis is down.
    fn connection(&self) -> Result<ConnectionManager, SharedError> {
        if !self.is_up() {
            return Err(SharedError::Unavailable);
        }
        let guard = self
            .shared
            .connection
            .read()
            .unwrap_or_else(|e| e.into_inner());
        guard.clone().ok_or(SharedError::Unavailable)
    }

    /// Sorts a command's failure: one that says the link is gone marks
    /// Redis lost (logged once, by the link's edge); anything else is
    /// Redis answering unexpectedly.
    fn observe<T>(&self, result: redis::RedisResult<T>) -> Result<T, SharedError> {
        result.map_err(|error| {
            if error.is_io_error()
                || error.is_timeout()
                || error.is_connection_dropped()
                || error.is_connection_refusal()
                || error.is_unrecoverable_error()
            {
                link::lost(self, &error);
                SharedError::Unavailable
            } else {
                SharedError::Unexpected(error.to_string())
            }
        })
    }

    /// A token no other lock holder ever has.
    fn new_token(&self) -> String {
        let n = self.shared.next_token.fetch_add(1, Ordering::Relaxed);
        format!("{}:{n}", self.shared.owner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_and_its_password_never_show() {
        let url = RedisUrl::from_arg("redis://:hunter2@cache:6379/0").unwrap();
        assert!(!format!("{url:?}").contains("hunter2"));
        let replicas = Replicas::new(&url, "pricepool:", 3).unwrap();
        let shown = format!("{replicas:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("cache"),
            "{shown}"
        );
        let bad = RedisUrl::from_arg("http://:hunter2@cache").unwrap();
        let error = Replicas::new(&bad, "pricepool:", 1).unwrap_err();
        assert!(!error.to_string().contains("hunter2"), "{error}");
    }

    #[test]
    fn a_prefix_with_a_brace_is_refused() {
        let url = RedisUrl::from_arg("redis://127.0.0.1:6379").unwrap();
        assert_eq!(
            Replicas::new(&url, "pp{x}:", 1).unwrap_err(),
            ReplicasError::BadPrefix
        );
    }
}
