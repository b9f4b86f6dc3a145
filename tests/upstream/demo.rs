//! The coordinator over the offline demo market: answers, completeness,
//! publication and the change hook, through the public `Registry` API.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, NaiveDate, Utc};
use pricepool::clock::Clock;
use pricepool::pool::PoolConfig;
use pricepool::pool::days::local_day;
use pricepool::upstream::{IncompleteReason, Registry, Source, UpstreamConfig};

fn registry_at(now: &str) -> (Registry, Arc<Mutex<Vec<String>>>) {
    let changes = Arc::new(Mutex::new(Vec::new()));
    let seen = changes.clone();
    let registry = Registry::new(
        Source::demo(),
        UpstreamConfig::default(),
        PoolConfig::default(),
        Clock::starting_at(now.parse().unwrap()),
        Arc::new(move |home: &str| seen.lock().unwrap().push(home.to_string())),
        Default::default(),
    );
    (registry, changes)
}

fn day(y: i32, m: u32, d: u32) -> (DateTime<Utc>, DateTime<Utc>) {
    local_day(
        chrono_tz::Europe::Berlin,
        NaiveDate::from_ymd_opt(y, m, d).unwrap(),
    )
}

#[tokio::test]
async fn demo_homes_are_discovered_in_their_zones() {
    let (registry, _) = registry_at("2026-01-14T10:00:00Z");
    registry.discover().await.unwrap();
    let demo = registry.home("demo").unwrap().info();
    assert_eq!(demo.zone, chrono_tz::Europe::Berlin);
    assert_eq!(demo.currency, "EUR");
    let oslo = registry.home("demo-oslo").unwrap().info();
    assert_eq!(oslo.zone, chrono_tz::Europe::Oslo);
    assert_eq!(oslo.currency, "NOK");
}

#[tokio::test]
async fn a_cold_day_is_fetched_once_cached_and_reported_to_the_hook() {
    let (registry, changes) = registry_at("2026-01-14T10:00:00Z");
    registry.discover().await.unwrap();
    let home = registry.home("demo").unwrap();
    let (start, end) = day(2026, 1, 14);
    let first = home.intervals(start, end).await.unwrap();
    assert!(first.is_complete());
    assert_eq!(first.intervals.len(), 96);
    assert!(
        first
            .intervals
            .windows(2)
            .all(|w| w[0].starts_at() < w[1].starts_at())
    );
    assert_eq!(changes.lock().unwrap().as_slice(), ["demo".to_string()]);

    let again = home.intervals(start, end).await.unwrap();
    assert_eq!(again.intervals, first.intervals);
    assert!(again.is_complete());
    // A hit is the pool's own content, at the revision it reports.
    assert_eq!(first.revision(), None);
    assert_eq!(again.revision(), Some(home.revision()));
    assert_eq!(
        changes.lock().unwrap().len(),
        1,
        "a cache hit changes nothing"
    );
    assert!(home.status().last_success.is_some());
}

#[tokio::test]
async fn tomorrow_before_publication_is_incomplete_with_a_retry_after_13_local() {
    let (registry, _) = registry_at("2026-01-14T10:00:00Z"); // 11:00 in Berlin
    registry.discover().await.unwrap();
    let home = registry.home("demo").unwrap();
    let (start, end) = day(2026, 1, 15);
    let answer = home.intervals(start, end).await.unwrap();
    assert!(!answer.is_complete());
    assert!(answer.intervals.is_empty());
    assert_eq!(answer.reason(), Some(IncompleteReason::NotPublished));
    let publication: DateTime<Utc> = "2026-01-14T12:00:00Z".parse().unwrap();
    let retry_at = answer.retry_at().unwrap();
    assert!(retry_at >= publication && retry_at <= publication + chrono::Duration::minutes(5));
    assert_eq!(answer.missing().first().map(|g| g.start), Some(start));
}

#[tokio::test]
async fn dst_days_and_the_hourly_past_come_back_whole() {
    let (registry, _) = registry_at("2026-04-01T10:00:00Z");
    registry.discover().await.unwrap();
    let home = registry.home("demo").unwrap();
    for ((start, end), expected) in [
        (day(2025, 10, 26), 100),
        (day(2026, 3, 29), 92),
        (day(2025, 3, 30), 23),
    ] {
        let answer = home.intervals(start, end).await.unwrap();
        assert!(answer.is_complete(), "{start}");
        assert_eq!(answer.intervals.len(), expected, "{start}");
    }
}

#[tokio::test]
async fn a_range_larger_than_the_pool_limit_is_answered_whole() {
    let (registry, _) = registry_at("2026-01-31T10:00:00Z");
    registry.discover().await.unwrap();
    let home = registry.home("demo").unwrap();
    let (start, _) = day(2026, 1, 1);
    let (_, end) = day(2026, 1, 30);
    let answer = home.intervals(start, end).await.unwrap();
    assert!(answer.is_complete());
    assert_eq!(answer.intervals.len(), 30 * 96);
    assert!(home.with_pool(|pool| pool.len()) <= 960 + 4 * 96);
}
