//! Settings of the upstream sources and the fetch coordinator, with the
//! defaults the service runs with. Tests shorten the delays.

use std::time::Duration;

/// Tibber's public GraphQL endpoint.
pub const TIBBER_URL: &str = "https://api.tibber.com/v1-beta/gql";

/// A credential that must never appear in logs, errors, metrics or Debug
/// output. Only the Tibber client reads it, to build the `Authorization` header.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a token.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The raw value. Call only where the value is sent, never to format it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether no token was given.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

/// How to reach Tibber.
#[derive(Debug, Clone)]
pub struct TibberConfig {
    /// GraphQL endpoint; default [`TIBBER_URL`], the fake server's URL in tests.
    pub url: String,
    /// The personal access token, sent as `Authorization: Bearer`.
    pub token: Secret,
    /// Time allowed for one HTTP attempt (connect + answer). Default 10 s.
    pub request_timeout: Duration,
}

impl TibberConfig {
    /// Tibber's endpoint with `token` and the default timeout.
    pub fn new(token: Secret) -> TibberConfig {
        TibberConfig {
            url: TIBBER_URL.to_string(),
            token,
            request_timeout: Duration::from_secs(10),
        }
    }
}

/// Settings of the fetch coordinator, retries and the call budget.
#[derive(Debug, Clone)]
pub struct UpstreamConfig {
    /// Everything one fetch may take, retries included; the client is
    /// answered (stale or with an error) by then. Default 15 s.
    pub fetch_deadline: Duration,
    /// First transient retry waits up to this long (full jitter, doubling). Default 500 ms.
    pub backoff_floor: Duration,
    /// Transient retries never wait longer than this. Default 8 s.
    pub backoff_max: Duration,
    /// Attempts per fetch for transient failures, the first included. Default 4.
    pub max_attempts: usize,
    /// Wait after a 429/428 without `Retry-After`; also the least wait after
    /// one with it. Tibber bans an IP for ~10 minutes after 100 calls in 5
    /// minutes, so the default is 60 s.
    pub rate_limit_floor: Duration,
    /// After a fetch failed (retries spent), the home is not asked again
    /// before this passes; clients get the cache marked incomplete meanwhile. Default 30 s.
    pub error_cooldown: Duration,
    /// After an authentication failure, no call before this passes. Default 10 min.
    pub auth_cooldown: Duration,
    /// Upstream calls allowed in any window of `budget_period`, across all
    /// homes (half may go at once, the rest refills evenly). Default 60.
    pub budget_calls: u32,
    /// The budget's period. Default 5 min.
    pub budget_period: Duration,
    /// The share of the budget that calls for history (before the recent
    /// window) may spend; the rest is reserved for the recent window, the
    /// prefetch and discovery. One feed's history gets at most half of it.
    /// Default 2/3.
    pub history_share: f64,
    /// A range the upstream had no data for is not asked again before this
    /// passes (except unpublished days, which wait for publication). Default 5 min.
    pub negative_ttl: Duration,
    /// Local hour at which tomorrow's prices are published. Default 13.
    pub publish_hour: u32,
    /// Random delay added after publication before asking, so that
    /// instances do not all call at 13:00:00. Default 5 min.
    pub publish_jitter: Duration,
    /// Whether `Registry::spawn_prefetch` fetches today and tomorrow after
    /// publication. Default true.
    pub prefetch: bool,
    /// Retry interval of the prefetch while tomorrow is still missing. Default 5 min.
    pub prefetch_retry: Duration,
    /// An upstream price (`total`, `energy` or `tax`) per kWh outside
    /// `±price_band` makes the whole answer malformed. Default 100: the
    /// European day-ahead market is capped at +4 and -0.5 EUR/kWh (about
    /// 45 SEK/NOK), so with taxes and fees real prices stay far inside,
    /// while a price off by a unit (per MWh) or garbage like 1e308 does not.
    pub price_band: f64,
}

impl UpstreamConfig {
    /// When a range found lacking at `now` may be asked for again.
    pub fn negative_until(
        &self,
        now: chrono::DateTime<chrono::Utc>,
    ) -> chrono::DateTime<chrono::Utc> {
        now + chrono::Duration::from_std(self.negative_ttl).unwrap_or_default()
    }
}

impl Default for UpstreamConfig {
    fn default() -> Self {
        UpstreamConfig {
            fetch_deadline: Duration::from_secs(15),
            backoff_floor: Duration::from_millis(500),
            backoff_max: Duration::from_secs(8),
            max_attempts: 4,
            rate_limit_floor: Duration::from_secs(60),
            error_cooldown: Duration::from_secs(30),
            auth_cooldown: Duration::from_secs(600),
            budget_calls: 60,
            budget_period: Duration::from_secs(300),
            history_share: 2.0 / 3.0,
            negative_ttl: Duration::from_secs(300),
            publish_hour: 13,
            publish_jitter: Duration::from_secs(300),
            prefetch: true,
            prefetch_retry: Duration::from_secs(300),
            price_band: 100.0,
        }
    }
}
