//! Feed snapshots in Redis, in the files' schema-versioned format
//! (`store::format`), each with a revision bumped on every write. A read
//! sends the revision the replica knows and gets the value only when it
//! changed (one round trip, no transfer when nothing did). A write is a
//! compare-and-set on the revision: a replica writes the union of what it
//! read and what it fetched, never over a value it has not seen. A value
//! that is not a usable snapshot (corrupt, a future schema, another feed's)
//! is moved aside under a quarantine key of its own, never overwritten.

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use redis::{Script, Value};

use super::negatives::{SharedNegative, decode_members};
use super::notify::Event;
use super::{Replicas, SharedError};
use crate::pool::{HomeInfo, PoolSnapshot};
use crate::store::format::{self, DecodedSnapshot};

/// KEYS: revision, snapshot, negatives. ARGV: known revision, now (ms).
/// Returns {revision, negatives} or {revision, negatives, snapshot}.
static PULL: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"local rev = redis.call('GET', KEYS[1]) or '0'
          redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', ARGV[2])
          local negatives = redis.call('ZRANGEBYSCORE', KEYS[3], '(' .. ARGV[2], '+inf')
          if rev == ARGV[1] then return {rev, negatives} end
          local snapshot = redis.call('GET', KEYS[2])
          if snapshot then return {rev, negatives, snapshot} end
          return {rev, negatives}",
    )
});

/// KEYS: revision, snapshot. ARGV: expected revision, value.
/// Returns the new revision, or -1 when the revision was not the expected one.
static PUSH: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"local rev = redis.call('GET', KEYS[1]) or '0'
          if rev ~= ARGV[1] then return -1 end
          redis.call('SET', KEYS[2], ARGV[2])
          return redis.call('INCR', KEYS[1])",
    )
});

/// KEYS: snapshot, quarantine. ARGV: the bad value. Moves it aside if it
/// is still there and the quarantine key is free.
static QUARANTINE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
          if redis.call('SET', KEYS[2], ARGV[1], 'NX') then
            redis.call('DEL', KEYS[1])
            return 1
          end
          return 0",
    )
});

/// What a read of a feed's shared state found.
#[derive(Debug)]
pub struct Pulled {
    /// The feed's revision in Redis (0: never written, or Redis restarted).
    pub revision: u64,
    /// The snapshot, when the revision is not the one the reader knew and
    /// a usable value is there.
    pub snapshot: Option<DecodedSnapshot>,
    /// The shared negative cache entries still running.
    pub negatives: Vec<SharedNegative>,
}

impl Replicas {
    /// Reads `feed`'s shared state; the snapshot only if its revision is
    /// not `known`. An unusable value is quarantined and reported absent.
    pub async fn pull(
        &self,
        feed: &HomeInfo,
        known: u64,
        now: DateTime<Utc>,
    ) -> Result<Pulled, SharedError> {
        let mut connection = self.connection()?;
        let keys = self.keys();
        let reply: Vec<Value> = self.observe(
            PULL.key(keys.revision(&feed.id))
                .key(keys.snapshot(&feed.id))
                .key(keys.negatives(&feed.id))
                .arg(known)
                .arg(now.timestamp_millis())
                .invoke_async(&mut connection)
                .await,
        )?;
        let mut reply = reply.into_iter();
        let revision = reply
            .next()
            .and_then(|v| redis::from_redis_value::<u64>(&v).ok())
            .ok_or_else(|| SharedError::Unexpected("a revision that is not a number".into()))?;
        let negatives = reply
            .next()
            .and_then(|v| redis::from_redis_value::<Vec<Vec<u8>>>(&v).ok())
            .map(decode_members)
            .unwrap_or_default();
        let snapshot = match reply.next() {
            Some(value) => {
                let bytes: Vec<u8> = redis::from_redis_value(&value)
                    .map_err(|e| SharedError::Unexpected(e.to_string()))?;
                self.usable(feed, bytes, now).await?
            }
            None => None,
        };
        Ok(Pulled {
            revision,
            snapshot,
            negatives,
        })
    }

    /// The snapshot `bytes` hold if it is `feed`'s and valid; otherwise
    /// moves them aside and says why in the log.
    async fn usable(
        &self,
        feed: &HomeInfo,
        bytes: Vec<u8>,
        now: DateTime<Utc>,
    ) -> Result<Option<DecodedSnapshot>, SharedError> {
        let reason = match format::decode(&bytes) {
            Ok(decoded) if decoded.home.id != feed.id => "another feed's snapshot".to_string(),
            Ok(decoded) => match invalid_interval(&decoded.snapshot) {
                Some(reason) => reason,
                None => return Ok(Some(decoded)),
            },
            Err(error) => error.to_string(),
        };
        let tag = format!("{}-{}", now.timestamp_millis(), self.new_token());
        let quarantine = self.keys().quarantine(&feed.id, &tag);
        let mut connection = self.connection()?;
        let moved: i64 = self.observe(
            QUARANTINE
                .key(self.keys().snapshot(&feed.id))
                .key(&quarantine)
                .arg(bytes)
                .invoke_async(&mut connection)
                .await,
        )?;
        if moved == 1 {
            metrics::counter!("pricepool_snapshots_quarantined_total", "reason" => "redis")
                .increment(1);
            tracing::warn!(feed = %feed.id, %reason, moved_to = %quarantine, "a shared snapshot could not be used and was moved aside");
        }
        Ok(None)
    }

    /// Writes `snapshot` as `feed`'s if its revision is still `expected`;
    /// the new revision, or `None` when another replica wrote first (read
    /// again, merge, and write again).
    pub async fn push(
        &self,
        feed: &HomeInfo,
        snapshot: &PoolSnapshot,
        expected: u64,
        now: DateTime<Utc>,
    ) -> Result<Option<u64>, SharedError> {
        let value = format::encode(feed, snapshot, now)
            .map_err(|e| SharedError::Unexpected(e.to_string()))?;
        let mut connection = self.connection()?;
        let keys = self.keys();
        let revision: i64 = self.observe(
            PUSH.key(keys.revision(&feed.id))
                .key(keys.snapshot(&feed.id))
                .arg(expected)
                .arg(value)
                .invoke_async(&mut connection)
                .await,
        )?;
        let Ok(revision) = u64::try_from(revision) else {
            return Ok(None);
        };
        self.publish(&Event::Revision {
            feed: feed.id.clone(),
            revision,
        })
        .await?;
        Ok(Some(revision))
    }
}

/// Why a decoded snapshot cannot be restored, if it cannot.
fn invalid_interval(snapshot: &PoolSnapshot) -> Option<String> {
    snapshot
        .groups
        .iter()
        .flat_map(|group| &group.intervals)
        .find_map(|interval| interval.validate().err())
        .map(|error| error.to_string())
}
