//! Shared setup of the upstream integration tests: a fake Tibber server on
//! 127.0.0.1:0 and a registry pointed at it, both clocks at the same instant.
#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use pricepool::clock::Clock;
use pricepool::pool::PoolConfig;
use pricepool::pool::days::local_day;
use pricepool::testkit::FakeTibber;
use pricepool::upstream::{Home, Registry, Source, TibberConfig, UpstreamConfig};

/// Short delays so failure tests stay fast.
pub fn fast_config() -> UpstreamConfig {
    UpstreamConfig {
        fetch_deadline: Duration::from_secs(2),
        backoff_floor: Duration::from_millis(50),
        backoff_max: Duration::from_millis(200),
        max_attempts: 4,
        rate_limit_floor: Duration::from_millis(50),
        error_cooldown: Duration::from_millis(200),
        auth_cooldown: Duration::from_secs(60),
        prefetch: false,
        ..UpstreamConfig::default()
    }
}

pub struct Setup {
    pub fake: FakeTibber,
    pub registry: Registry,
    pub changes: Arc<AtomicUsize>,
}

impl Setup {
    pub fn home(&self, id: &str) -> Home {
        self.registry.home(id).expect("home discovered")
    }
}

/// A fake at `now`, a registry with `config` at the same `now`, homes
/// discovered and the discovery call cleared from the log.
pub async fn setup(now: &str, config: UpstreamConfig) -> Setup {
    let fake = FakeTibber::start().await.expect("fake binds");
    setup_with(fake, now, config, None).await
}

pub async fn setup_with(
    fake: FakeTibber,
    now: &str,
    config: UpstreamConfig,
    tibber: Option<TibberConfig>,
) -> Setup {
    let now: DateTime<Utc> = now.parse().expect("instant");
    fake.set_now(now);
    let changes = Arc::new(AtomicUsize::new(0));
    let counter = changes.clone();
    let source =
        Source::tibber(tibber.unwrap_or_else(|| fake.tibber_config())).expect("client builds");
    let registry = Registry::new(
        source,
        config,
        PoolConfig::default(),
        Clock::starting_at(now),
        Arc::new(move |_home: &str| {
            counter.fetch_add(1, Ordering::SeqCst);
        }),
        Default::default(),
    );
    if registry.discover().await.is_ok() {
        fake.clear_calls();
    }
    Setup {
        fake,
        registry,
        changes,
    }
}

/// `[start, end)` of a local day in Berlin.
pub fn berlin_day(y: i32, m: u32, d: u32) -> (DateTime<Utc>, DateTime<Utc>) {
    local_day(
        chrono_tz::Europe::Berlin,
        NaiveDate::from_ymd_opt(y, m, d).expect("date"),
    )
}
