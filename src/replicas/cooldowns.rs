//! Cooldowns shared by every replica. A source's: a 429 or a refused token
//! seen by one holds off all; written with the remaining wait as the key's
//! expiry (never shortened), announced over pub/sub and mirrored in RAM,
//! so a gate asks its mirror, not Redis; a replica about to fetch reads
//! the keys too, in case it missed the announcement. A feed's: after a
//! failed fetch, the replicas waiting for that call do not each try again
//! before the failing one's cooldown ends (read on the claim path only).

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use redis::Script;
use serde::{Deserialize, Serialize};

use super::notify::Event;
use super::{Replicas, SharedError};

/// Sets the cooldown unless one lasting longer is in force.
static SET_LONGER: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[2]) then
            redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
            return 1
          end
          return 0",
    )
});

/// A cooldown as the replicas share it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SharedCooldown {
    /// The source (`tibber`, …) or, for a feed's, the feed.
    pub source: String,
    /// No call before this instant.
    pub until: DateTime<Utc>,
    /// The failure's kind, as the API spells it (`rate_limited`, `auth`, …).
    pub kind: String,
    /// The failure's description.
    pub message: String,
}

impl Replicas {
    /// Holds every replica off `cooldown.source` until `cooldown.until`
    /// (`now` is this replica's clock); never shortens a longer one.
    pub async fn share_cooldown(
        &self,
        cooldown: SharedCooldown,
        now: DateTime<Utc>,
    ) -> Result<(), SharedError> {
        self.mirror_cooldown(cooldown.clone());
        let key = self.keys().cooldown(&cooldown.source);
        if self.set_longer(&key, &cooldown, now).await? {
            self.publish(&Event::Cooldown(cooldown)).await?;
        }
        Ok(())
    }

    /// Holds every replica off fetching for `feed` until `cooldown.until`.
    pub async fn share_feed_failure(
        &self,
        feed: &str,
        cooldown: &SharedCooldown,
        now: DateTime<Utc>,
    ) -> Result<(), SharedError> {
        self.set_longer(&self.keys().failure(feed), cooldown, now)
            .await
            .map(|_| ())
    }

    /// The failure cooldown another replica shared for `feed`, if it lasts past `now`.
    pub async fn feed_failure(
        &self,
        feed: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<SharedCooldown>, SharedError> {
        let mut connection = self.connection()?;
        let value: Option<String> = self.observe(
            redis::cmd("GET")
                .arg(self.keys().failure(feed))
                .query_async(&mut connection)
                .await,
        )?;
        Ok(value
            .and_then(|v| serde_json::from_str::<SharedCooldown>(&v).ok())
            .filter(|cooldown| cooldown.until > now))
    }

    /// Writes `cooldown` under `key` unless a longer one is there; whether it did.
    async fn set_longer(
        &self,
        key: &str,
        cooldown: &SharedCooldown,
        now: DateTime<Utc>,
    ) -> Result<bool, SharedError> {
        let wait_ms = (cooldown.until - now).num_milliseconds();
        if wait_ms <= 0 {
            return Ok(false);
        }
        let mut connection = self.connection()?;
        let value =
            serde_json::to_string(cooldown).map_err(|e| SharedError::Unexpected(e.to_string()))?;
        let set: i64 = self.observe(
            SET_LONGER
                .key(key)
                .arg(value)
                .arg(wait_ms)
                .invoke_async(&mut connection)
                .await,
        )?;
        Ok(set == 1)
    }

    /// Reads the shared cooldowns of `sources` into the mirror.
    pub async fn refresh_cooldowns(&self, sources: &[&str]) -> Result<(), SharedError> {
        let mut connection = self.connection()?;
        for source in sources {
            let value: Option<String> = self.observe(
                redis::cmd("GET")
                    .arg(self.keys().cooldown(source))
                    .query_async(&mut connection)
                    .await,
            )?;
            if let Some(cooldown) = value.and_then(|v| serde_json::from_str(&v).ok()) {
                self.mirror_cooldown(cooldown);
            }
        }
        Ok(())
    }

    /// The cooldown another replica (or this one) shared for `source`, if
    /// it lasts past `now`. No round trip.
    pub fn cooldown_of(&self, source: &str, now: DateTime<Utc>) -> Option<SharedCooldown> {
        let mirror = self
            .shared
            .cooldowns
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        mirror.get(source).filter(|c| c.until > now).cloned()
    }

    /// Keeps the longer of `cooldown` and the one mirrored for its source.
    pub(super) fn mirror_cooldown(&self, cooldown: SharedCooldown) {
        let mut mirror = self
            .shared
            .cooldowns
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let entry = mirror.entry(cooldown.source.clone());
        match entry {
            std::collections::hash_map::Entry::Occupied(mut held) => {
                if held.get().until < cooldown.until {
                    held.insert(cooldown);
                }
            }
            std::collections::hash_map::Entry::Vacant(free) => {
                free.insert(cooldown);
            }
        }
    }
}
