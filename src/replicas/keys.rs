//! Key names. Everything one feed keeps shares the hash tag `{feed:<id>}`,
//! so a feed's keys live in one cluster slot and its scripts (which touch
//! several of them) run on a cluster as on one server; a source's keys
//! share `{source:<name>}`. All start with `--redis-prefix`.

use chrono::{DateTime, Utc};

/// The key names under one prefix.
#[derive(Debug, Clone)]
pub struct Keys {
    prefix: String,
}

impl Keys {
    /// Names under `prefix` (`pricepool:` by default).
    pub fn new(prefix: &str) -> Keys {
        Keys {
            prefix: prefix.to_string(),
        }
    }

    /// The prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    fn feed(&self, feed: &str, what: &str) -> String {
        format!("{}{{feed:{feed}}}:{what}", self.prefix)
    }

    /// A feed's snapshot, in the files' schema-versioned format.
    pub fn snapshot(&self, feed: &str) -> String {
        self.feed(feed, "snapshot")
    }

    /// A feed's revision: bumped by every snapshot written.
    pub fn revision(&self, feed: &str) -> String {
        self.feed(feed, "revision")
    }

    /// A feed's negative cache: a sorted set scored by when each entry ends.
    pub fn negatives(&self, feed: &str) -> String {
        self.feed(feed, "negatives")
    }

    /// A feed's cooldown after a failed fetch.
    pub fn failure(&self, feed: &str) -> String {
        self.feed(feed, "failure")
    }

    /// The lock of one planned call `[start, end)` of a feed.
    pub fn lock(&self, feed: &str, start: DateTime<Utc>, end: DateTime<Utc>) -> String {
        self.feed(
            feed,
            &format!(
                "lock:{}-{}",
                start.timestamp_millis(),
                end.timestamp_millis()
            ),
        )
    }

    /// Where an unusable snapshot value is moved aside (`tag` makes the
    /// name unique, so a quarantined value is never overwritten).
    pub fn quarantine(&self, feed: &str, tag: &str) -> String {
        self.feed(feed, &format!("quarantine:{tag}"))
    }

    /// A source's cooldown after a 429 or a refused token.
    pub fn cooldown(&self, source: &str) -> String {
        format!("{}{{source:{source}}}:cooldown", self.prefix)
    }

    /// One of a source's call budget limits (`all`, `history`, `history:<feed>`).
    pub fn budget(&self, source: &str, limit: &str) -> String {
        format!("{}{{source:{source}}}:budget:{limit}", self.prefix)
    }

    /// The pub/sub channel of events between replicas.
    pub fn channel(&self) -> String {
        format!("{}events", self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_feeds_keys_share_one_hash_tag() {
        let keys = Keys::new("pricepool:");
        let start = DateTime::from_timestamp(0, 0).unwrap();
        for key in [
            keys.snapshot("DE-LU-EUR"),
            keys.revision("DE-LU-EUR"),
            keys.negatives("DE-LU-EUR"),
            keys.lock("DE-LU-EUR", start, start),
            keys.quarantine("DE-LU-EUR", "x"),
        ] {
            assert!(key.starts_with("pricepool:{feed:DE-LU-EUR}:"), "{key}");
        }
        assert_eq!(
            keys.cooldown("tibber"),
            "pricepool:{source:tibber}:cooldown"
        );
    }
}
