//! A feed's negative cache shared by every replica: ranges the upstream
//! answered without data (not published yet, or lacking), not asked again
//! before each entry's end by any replica. A sorted set per feed scored by
//! that end, so reading it drops what has run out.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Replicas, SharedError};

/// How long a feed's set outlives its last addition: longer than any entry.
const KEEP_SET_MS: i64 = 2 * 24 * 3600 * 1000;

/// One range the upstream had no data for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SharedNegative {
    /// Start of the range.
    pub start: DateTime<Utc>,
    /// End of the range (exclusive).
    pub end: DateTime<Utc>,
    /// Not asked again before this instant.
    pub retry_at: DateTime<Utc>,
    /// Not published yet (else: the upstream lacks it).
    pub not_published: bool,
}

impl Replicas {
    /// Adds `negatives` to `feed`'s shared negative cache.
    pub async fn add_negatives(
        &self,
        feed: &str,
        negatives: &[SharedNegative],
    ) -> Result<(), SharedError> {
        if negatives.is_empty() {
            return Ok(());
        }
        let mut connection = self.connection()?;
        let key = self.keys().negatives(feed);
        let mut pipe = redis::pipe();
        for negative in negatives {
            let member = serde_json::to_string(negative)
                .map_err(|e| SharedError::Unexpected(e.to_string()))?;
            pipe.cmd("ZADD")
                .arg(&key)
                .arg(negative.retry_at.timestamp_millis())
                .arg(member)
                .ignore();
        }
        pipe.cmd("PEXPIRE").arg(&key).arg(KEEP_SET_MS).ignore();
        self.observe(pipe.query_async::<()>(&mut connection).await)
    }
}

/// Decodes the members the pull script returned; a member this build
/// cannot read is skipped (it runs out on its own).
pub(super) fn decode_members(members: Vec<Vec<u8>>) -> Vec<SharedNegative> {
    members
        .iter()
        .filter_map(|member| serde_json::from_slice(member).ok())
        .collect()
}
