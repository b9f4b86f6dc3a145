//! Scheduled prefetch against the fake Tibber server: today on start,
//! tomorrow right after publication, so the first query of the day is a hit;
//! stops on cancellation; can be disabled.

use std::time::Duration;

use crate::helpers::{berlin_day, fast_config, setup};
use chrono::NaiveDate;
use pricepool::pool::days::local_day;
use pricepool::upstream::UpstreamConfig;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

// A second before 13:00 in Berlin.
const JUST_BEFORE_PUBLICATION: &str = "2026-01-14T11:59:59Z";

fn prefetching() -> UpstreamConfig {
    UpstreamConfig {
        prefetch: true,
        publish_jitter: Duration::ZERO,
        prefetch_retry: Duration::from_millis(200),
        ..fast_config()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tomorrow_is_prefetched_after_publication_so_the_first_query_is_a_hit() {
    let setup = setup(JUST_BEFORE_PUBLICATION, prefetching()).await;
    let token = CancellationToken::new();
    let tracker = TaskTracker::new();
    setup.registry.spawn_prefetch(token.clone(), &tracker);

    // Give the prefetch time to run on start and again after 13:00, until
    // every home holds its tomorrow.
    let tomorrow_of = |home: &pricepool::upstream::Home| {
        let zone = home.info().zone;
        local_day(zone, NaiveDate::from_ymd_opt(2026, 1, 15).unwrap())
    };
    let all_held = || {
        setup.registry.homes().iter().all(|home| {
            let (start, end) = tomorrow_of(home);
            home.with_pool(|pool| pool.range(start, end).unwrap().count()) == 96
        })
    };
    for _ in 0..40 {
        if all_held() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(all_held(), "tomorrow prefetched for every home");
    let home = setup.home("demo");
    let (tomorrow_start, tomorrow_end) = berlin_day(2026, 1, 15);
    let calls = setup.fake.call_count();
    // Berlin and Oslo: one call on start, one after 13:00 (one in all if a
    // loaded machine started the prefetch after 13:00). Helsinki is an hour
    // ahead, its tomorrow was out already: one call.
    assert_eq!(setup.registry.homes().len(), 3);
    assert!((3..=5).contains(&calls), "{calls} calls");
    let answer = home.intervals(tomorrow_start, tomorrow_end).await.unwrap();
    assert!(answer.is_complete());
    assert_eq!(
        setup.fake.call_count(),
        calls,
        "the first query of tomorrow is a hit"
    );

    token.cancel();
    tracker.close();
    tokio::time::timeout(Duration::from_secs(1), tracker.wait())
        .await
        .expect("prefetch stops on cancellation");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_prefetch_makes_no_call() {
    let config = UpstreamConfig {
        prefetch: false,
        ..prefetching()
    };
    let setup = setup(JUST_BEFORE_PUBLICATION, config).await;
    let token = CancellationToken::new();
    let tracker = TaskTracker::new();
    setup.registry.spawn_prefetch(token.clone(), &tracker);
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(setup.fake.call_count(), 0);
    tracker.close();
    tracker.wait().await;
}
