//! The topic names pricepool publishes and listens on, in one place.
//!
//! Ours: `{prefix}/status`, `{prefix}/{home_id}/state`,
//! `{prefix}/{home_id}/prices`. Home Assistant's:
//! `{discovery}/status` (its birth message) and
//! `{discovery}/sensor/{node_id}/{object_id}/config`, where node and object
//! ids may only hold `[A-Za-z0-9_-]` ([`topic_id`] escapes the rest).

/// The topic prefixes, checked at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topics {
    prefix: String,
    discovery: String,
}

/// A prefix MQTT cannot publish under.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{flag} must be a non-empty MQTT topic without wildcards (+, #), a leading or trailing /, or a NUL"
)]
pub struct PrefixError {
    /// The flag whose value is wrong.
    pub flag: &'static str,
}

impl Topics {
    /// Checks both prefixes: non-empty, no wildcard, no NUL, no slash at either end.
    pub fn new(prefix: &str, discovery: &str) -> Result<Topics, PrefixError> {
        let check = |value: &str, flag: &'static str| {
            let bad = value.is_empty()
                || value.contains(['+', '#', '\0'])
                || value.starts_with('/')
                || value.ends_with('/');
            if bad {
                Err(PrefixError { flag })
            } else {
                Ok(value.to_string())
            }
        };
        Ok(Topics {
            prefix: check(prefix, "--mqtt-prefix")?,
            discovery: check(discovery, "--ha-discovery-prefix")?,
        })
    }

    /// Our prefix (`--mqtt-prefix`).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// `{prefix}/status`: `online` / `offline`, retained; the last will.
    pub fn status(&self) -> String {
        format!("{}/status", self.prefix)
    }

    /// `{prefix}/{home_id}/state`: the home's state JSON.
    pub fn state(&self, home_id: &str) -> String {
        format!("{}/{home_id}/state", self.prefix)
    }

    /// `{prefix}/{home_id}/prices`: today and tomorrow, compact.
    pub fn prices(&self, home_id: &str) -> String {
        format!("{}/{home_id}/prices", self.prefix)
    }

    /// `{discovery}/status`: Home Assistant says `online` when it (re)starts.
    pub fn discovery_status(&self) -> String {
        format!("{}/status", self.discovery)
    }

    /// The node id of a home's device: prefix and home id, escaped.
    pub fn node_id(&self, home_id: &str) -> String {
        format!("{}_{}", topic_id(&self.prefix), topic_id(home_id))
    }

    /// `{discovery}/sensor/{node_id}/{sensor}/config`.
    pub fn sensor_config(&self, home_id: &str, sensor: &str) -> String {
        format!(
            "{}/sensor/{}/{sensor}/config",
            self.discovery,
            self.node_id(home_id)
        )
    }
}

/// `text` as a discovery id (`[A-Za-z0-9_-]+`), one to one: ASCII letters,
/// digits and `-` stay, every other byte becomes `_` and two hex digits
/// (`.` → `_2e`, `_` → `_5f`), so two home ids never share a topic.
pub fn topic_id(text: &str) -> String {
    let mut id = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || byte == b'-' {
            id.push(char::from(byte));
        } else {
            id.push_str(&format!("_{byte:02x}"));
        }
    }
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_follow_the_contract() {
        let topics = Topics::new("pricepool", "homeassistant").unwrap();
        assert_eq!(topics.status(), "pricepool/status");
        assert_eq!(topics.state("demo"), "pricepool/demo/state");
        assert_eq!(topics.prices("demo"), "pricepool/demo/prices");
        assert_eq!(topics.discovery_status(), "homeassistant/status");
        assert_eq!(
            topics.sensor_config("flat.2", "current_price"),
            "homeassistant/sensor/pricepool_flat_2e2/current_price/config"
        );
    }

    #[test]
    fn escaped_ids_are_discovery_ids_and_never_collide() {
        let ids = ["a.b", "a_b", "a_2eb", "a-b", "Ab9"].map(topic_id);
        for id in &ids {
            assert!(
                id.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            );
        }
        let unique: std::collections::BTreeSet<_> = ids.iter().collect();
        assert_eq!(unique.len(), ids.len(), "{ids:?}");
    }

    #[test]
    fn prefixes_mqtt_cannot_publish_under_are_refused() {
        for bad in ["", "a/+", "#", "/a", "a/", "a\0"] {
            assert!(Topics::new(bad, "homeassistant").is_err(), "{bad:?}");
            assert!(Topics::new("pricepool", bad).is_err(), "{bad:?}");
        }
        assert!(Topics::new("site/pricepool", "ha").is_ok());
    }
}
