//! The lock of one planned call, so single-flight spans replicas: set if
//! absent with an expiry longer than the fetch deadline and a token only
//! its owner knows; released and extended by the owner only (a script
//! compares the token and acts in one step), so a holder whose lock
//! expired and was taken over cannot release the next holder's. A holder
//! that dies lets the next replica in when the expiry runs out.

use std::sync::LazyLock;
use std::time::Duration;

use chrono::{DateTime, Utc};
use redis::Script;

use super::notify::Event;
use super::{Replicas, SharedError};

/// Deletes the lock if it is still the caller's.
static RELEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"if redis.call('GET', KEYS[1]) == ARGV[1] then
            return redis.call('DEL', KEYS[1])
          end
          return 0",
    )
});

/// Sets a new expiry if the lock is still the caller's.
static EXTEND: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"if redis.call('GET', KEYS[1]) == ARGV[1] then
            return redis.call('PEXPIRE', KEYS[1], ARGV[2])
          end
          return 0",
    )
});

/// A lock this replica holds. Release it with [`FlightLock::release`];
/// one dropped unreleased expires on its own.
#[derive(Debug)]
pub struct FlightLock {
    key: String,
    token: String,
    feed: String,
}

impl Replicas {
    /// Takes the lock of `feed`'s call `[start, end)` for `ttl`, or `None`
    /// when another replica holds it.
    pub async fn try_lock(
        &self,
        feed: &str,
        (start, end): (DateTime<Utc>, DateTime<Utc>),
        ttl: Duration,
    ) -> Result<Option<FlightLock>, SharedError> {
        let mut connection = self.connection()?;
        let key = self.keys().lock(feed, start, end);
        let token = self.new_token();
        let set: Option<String> = self.observe(
            redis::cmd("SET")
                .arg(&key)
                .arg(&token)
                .arg("NX")
                .arg("PX")
                .arg(millis(ttl))
                .query_async(&mut connection)
                .await,
        )?;
        Ok(set.map(|_| FlightLock {
            key,
            token,
            feed: feed.to_string(),
        }))
    }

    /// Gives `lock` up and tells the waiters; false when it was no longer
    /// this replica's (it expired, and maybe another took it).
    pub async fn release(&self, lock: FlightLock) -> Result<bool, SharedError> {
        let mut connection = self.connection()?;
        let released: i64 = self.observe(
            RELEASE
                .key(&lock.key)
                .arg(&lock.token)
                .invoke_async(&mut connection)
                .await,
        )?;
        self.publish(&Event::Released { feed: lock.feed }).await?;
        Ok(released == 1)
    }

    /// Makes `lock` last `ttl` from now; false when it was no longer this
    /// replica's.
    pub async fn extend(&self, lock: &FlightLock, ttl: Duration) -> Result<bool, SharedError> {
        let mut connection = self.connection()?;
        let extended: i64 = self.observe(
            EXTEND
                .key(&lock.key)
                .arg(&lock.token)
                .arg(millis(ttl))
                .invoke_async(&mut connection)
                .await,
        )?;
        Ok(extended == 1)
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis())
        .unwrap_or(u64::MAX)
        .max(1)
}
