//! The fetch coordinator against the fake Tibber server over real HTTP:
//! single-flight, the negative cache, the fewest calls, the call budget and
//! DST days.

use std::collections::HashSet;
use std::time::Duration;

use crate::helpers::{berlin_day, fast_config, setup};
use chrono::{DateTime, NaiveDate, Utc};
use pricepool::pool::days::local_day;
use pricepool::testkit::{FakeTibber, Fault};
use pricepool::upstream::{Answer, FetchError, Home};
use pricepool::upstream::{IncompleteReason, UpstreamConfig, UpstreamErrorKind};
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};

/// `n` concurrent requests for `[start, end)`, their answers in order.
async fn concurrently(
    home: &Home,
    n: usize,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Vec<Result<Answer, FetchError>> {
    let requests: Vec<_> = (0..n)
        .map(|_| {
            let home = home.clone();
            tokio::spawn(async move { home.intervals(start, end).await })
        })
        .collect();
    let mut answers = Vec::new();
    for request in requests {
        answers.push(request.await.expect("request task"));
    }
    answers
}

// 2026-01-14 is a Wednesday; 10:00 UTC is 11:00 in Berlin, before publication.
const BEFORE_PUBLICATION: &str = "2026-01-14T10:00:00Z";
const AFTER_PUBLICATION: &str = "2026-01-14T13:30:00Z";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_hundred_concurrent_cold_requests_for_the_same_day_make_one_upstream_call() {
    let setup = setup(AFTER_PUBLICATION, fast_config()).await;
    let home = setup.home("demo");
    let (start, end) = berlin_day(2026, 1, 14);
    for answer in concurrently(&home, 100, start, end).await {
        let answer = answer.unwrap();
        assert!(answer.is_complete());
        assert_eq!(answer.intervals.len(), 96);
    }
    assert_eq!(setup.fake.call_count(), 1);
    let call = &setup.fake.calls()[0];
    assert!(call.query.contains("priceInfo(resolution: QUARTER_HOURLY)"));
    assert!(
        call.query
            .contains("priceInfoRange(resolution: QUARTER_HOURLY")
    );
    assert_eq!(
        call.user_agent.as_deref(),
        Some(concat!("pricepool/", env!("CARGO_PKG_VERSION")))
    );
    assert_eq!(call.content_type.as_deref(), Some("application/json"));
    // The whole recent window came with that call: yesterday and tomorrow are hits.
    let (yesterday, _) = berlin_day(2026, 1, 12);
    let (_, tomorrow_end) = berlin_day(2026, 1, 15);
    let window = home.intervals(yesterday, tomorrow_end).await.unwrap();
    assert!(window.is_complete());
    assert_eq!(window.intervals.len(), 4 * 96);
    assert_eq!(setup.fake.call_count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_for_an_unpublished_tomorrow_make_one_call_within_the_negative_cache_time() {
    let setup = setup(BEFORE_PUBLICATION, fast_config()).await;
    let home = setup.home("demo");
    let (start, end) = berlin_day(2026, 1, 15);
    for answer in concurrently(&home, 100, start, end).await {
        let answer = answer.unwrap();
        assert!(!answer.is_complete());
        assert!(answer.intervals.is_empty());
        assert_eq!(answer.reason(), Some(IncompleteReason::NotPublished));
        let publication: DateTime<Utc> = "2026-01-14T12:00:00Z".parse().unwrap();
        assert!(answer.retry_at().unwrap() >= publication);
    }
    for _ in 0..10 {
        let answer = home.intervals(start, end).await.unwrap();
        assert_eq!(answer.reason(), Some(IncompleteReason::NotPublished));
    }
    assert_eq!(setup.fake.call_count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_first_requester_does_not_fail_the_others() {
    let setup = setup(AFTER_PUBLICATION, fast_config()).await;
    let home = setup.home("demo");
    // Long enough that the first requester is surely still waiting when it
    // is cancelled, even on a loaded machine; shorter than the 2 s deadline.
    setup.fake.push_fault(Fault::Slow(Duration::from_secs(1)));
    let (start, end) = berlin_day(2026, 1, 14);
    let first = {
        let home = home.clone();
        tokio::spawn(async move { home.intervals(start, end).await })
    };
    wait_for_calls(&setup.fake, 1).await;
    let second = {
        let home = home.clone();
        tokio::spawn(async move { home.intervals(start, end).await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    first.abort();
    assert!(first.await.unwrap_err().is_cancelled());
    let answer = second.await.unwrap().unwrap();
    assert!(answer.is_complete());
    assert_eq!(answer.intervals.len(), 96);
    assert_eq!(setup.fake.call_count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seeded_workload_of_random_ranges_costs_no_more_calls_than_missing_stretches() {
    // Thirty days up to tomorrow; the default pool limit makes GC evict, so
    // stretches can go missing again, and each such stretch counts.
    let config = UpstreamConfig {
        budget_calls: 100_000,
        ..fast_config()
    };
    let setup = setup(AFTER_PUBLICATION, config).await;
    let home = setup.home("demo");
    let zone = chrono_tz::Europe::Berlin;
    let (first_day, _) = local_day(zone, NaiveDate::from_ymd_opt(2025, 12, 17).unwrap());
    let (_, horizon) = berlin_day(2026, 1, 15);
    let n_slots = (horizon - first_day).num_minutes() / 15;
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(20260114);
    let mut missing_stretches = 0usize;
    for _ in 0..1000 {
        let length = rng.random_range(1..=(3 * 96));
        let first = rng.random_range(0..(n_slots - length));
        let start = first_day + chrono::Duration::minutes(15 * first);
        let end = start + chrono::Duration::minutes(15 * length);
        missing_stretches += home.with_pool(|pool| pool.gaps(start, end).unwrap().len());
        let answer = home.intervals(start, end).await.unwrap();
        assert!(
            answer.is_complete(),
            "{start}..{end}: {:?}",
            answer.missing()
        );
        assert_eq!(answer.intervals.len() as i64, length);
    }
    let calls = setup.fake.call_count();
    println!("workload: {calls} upstream calls for {missing_stretches} distinct missing stretches");
    assert!(
        calls <= missing_stretches,
        "{calls} calls > {missing_stretches} stretches"
    );
    assert!(calls > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn neighbouring_historical_gaps_share_one_call() {
    let setup = setup(AFTER_PUBLICATION, fast_config()).await;
    let home = setup.home("demo");
    let (day_one, _) = berlin_day(2026, 1, 1);
    let (day_two, day_two_end) = berlin_day(2026, 1, 2);
    // Cache the middle of Jan 1, then ask for Jan 1 and 2: two gaps, one page.
    let noon = day_one + chrono::Duration::hours(12);
    home.intervals(noon, noon + chrono::Duration::hours(2))
        .await
        .unwrap();
    setup.fake.clear_calls();
    let answer = home.intervals(day_one, day_two_end).await.unwrap();
    assert!(answer.is_complete());
    assert_eq!(answer.intervals.len(), 2 * 96);
    assert_eq!(setup.fake.call_count(), 1);
    assert!(day_two > day_one);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dst_days_come_from_the_fake_whole_in_order_and_are_cached() {
    let setup = setup("2026-04-01T10:00:00Z", fast_config()).await;
    let home = setup.home("demo");
    let market_zone = setup.fake.market().zone("demo").unwrap().clone();
    for (date, expected) in [
        ((2025, 10, 26), 100),
        ((2026, 3, 29), 92),
        ((2025, 3, 30), 23),
    ] {
        let (start, end) = berlin_day(date.0, date.1, date.2);
        setup.fake.clear_calls();
        let answer = home.intervals(start, end).await.unwrap();
        assert!(answer.is_complete(), "{date:?}");
        assert_eq!(answer.intervals.len(), expected, "{date:?}");
        assert!(
            answer
                .intervals
                .windows(2)
                .all(|w| w[0].ends_at() == w[1].starts_at())
        );
        let market = setup.fake.market().day(
            &market_zone,
            NaiveDate::from_ymd_opt(date.0, date.1, date.2).unwrap(),
        );
        assert_eq!(
            answer.intervals, market,
            "{date:?}: prices as the market has them"
        );
        assert_eq!(setup.fake.call_count(), 1, "{date:?}");
        let again = home.intervals(start, end).await.unwrap();
        assert_eq!(again.intervals, answer.intervals);
        assert_eq!(setup.fake.call_count(), 1, "{date:?} served from cache");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn either_reading_of_the_cursor_yields_the_whole_range() {
    for inclusive in [false, true] {
        let setup = setup(AFTER_PUBLICATION, fast_config()).await;
        setup.fake.set_after_inclusive(inclusive);
        let home = setup.home("demo-oslo");
        let (start, end) = local_day(
            chrono_tz::Europe::Oslo,
            NaiveDate::from_ymd_opt(2025, 12, 1).unwrap(),
        );
        let answer = home.intervals(start, end).await.unwrap();
        assert!(answer.is_complete(), "inclusive {inclusive}");
        assert_eq!(answer.intervals.len(), 96);
        assert_eq!(answer.intervals[0].starts_at(), start);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_month_of_history_is_paged_and_the_switch_to_quarter_hours_is_kept() {
    let setup = setup(AFTER_PUBLICATION, fast_config()).await;
    let home = setup.home("demo");
    let (start, _) = berlin_day(2025, 9, 20);
    let (_, end) = berlin_day(2025, 10, 20);
    let answer = home.intervals(start, end).await.unwrap();
    assert!(answer.is_complete(), "{:?}", answer.missing());
    assert_eq!(answer.intervals.len(), 11 * 24 + 20 * 96);
    let calls = setup.fake.calls();
    assert!(
        calls.len() >= 3,
        "more than 672 intervals need several pages"
    );
    let firsts: HashSet<bool> = calls.iter().map(|c| c.query.contains("after:")).collect();
    assert_eq!(firsts, HashSet::from([true]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exhausted_budget_serves_the_cache_marked_incomplete_with_a_retry_time() {
    // Half of a budget of 6 may go at once: discovery and two price calls.
    // The whole budget may go to history here: this test is about what an
    // exhausted budget serves, not about the share kept for recent days.
    let config = UpstreamConfig {
        budget_calls: 6,
        budget_period: Duration::from_secs(300),
        history_share: 1.0,
        ..fast_config()
    };
    let setup = setup(AFTER_PUBLICATION, config).await;
    let home = setup.home("demo");
    setup.fake.clear_calls();
    let mut outcomes = Vec::new();
    for day in 1..=4 {
        let (start, end) = berlin_day(2025, 12, day);
        outcomes.push(home.intervals(start, end).await);
    }
    assert!(outcomes[0].as_ref().unwrap().is_complete());
    let exhausted = outcomes[3].as_ref().unwrap_err();
    assert_eq!(exhausted.kind, UpstreamErrorKind::BudgetExhausted);
    assert!(exhausted.retry_at.is_some());
    // Partly cached: the cache is served, marked incomplete.
    let (start, _) = berlin_day(2025, 12, 1);
    let (_, end) = berlin_day(2025, 12, 5);
    let partial = home.intervals(start, end).await.unwrap();
    assert!(!partial.is_complete());
    let (dec_3, _) = berlin_day(2025, 12, 3);
    assert!(
        partial.intervals.len() >= 2 * 96,
        "Dec 1 and 2 were fetched"
    );
    assert!(partial.missing().first().unwrap().start >= dec_3);
    assert!(matches!(
        partial.reason(),
        Some(IncompleteReason::UpstreamFailed(_))
    ));
    assert!(partial.retry_at().is_some());
    assert_eq!(setup.fake.call_count(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_inside_a_range_being_fetched_waits_for_that_call() {
    let setup = setup(AFTER_PUBLICATION, fast_config()).await;
    let home = setup.home("demo");
    setup
        .fake
        .push_fault(Fault::Slow(Duration::from_millis(300)));
    let (wide_start, _) = berlin_day(2025, 12, 1);
    let (_, wide_end) = berlin_day(2025, 12, 4);
    let (inner_start, inner_end) = berlin_day(2025, 12, 2);
    let wide = {
        let home = home.clone();
        tokio::spawn(async move { home.intervals(wide_start, wide_end).await })
    };
    // The wide call is in flight (the fake logs a call as it arrives).
    wait_for_calls(&setup.fake, 1).await;
    let inner = home.intervals(inner_start, inner_end).await.unwrap();
    assert!(inner.is_complete());
    assert_eq!(inner.intervals.len(), 96);
    assert_eq!(wide.await.unwrap().unwrap().intervals.len(), 4 * 96);
    assert_eq!(setup.fake.call_count(), 1);
}

/// Waits until the fake has received `n` calls (at most 10 s), instead of
/// guessing with a sleep how long a loaded machine takes to send them.
async fn wait_for_calls(fake: &FakeTibber, n: usize) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while fake.call_count() < n {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the fake never received {n} calls"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_history_flood_leaves_every_home_the_budget_for_its_recent_days() {
    // 6 calls may go at once; history (2/3 of the budget) at most 4 of them,
    // one home's history at most 2.
    let config = UpstreamConfig {
        budget_calls: 12,
        budget_period: Duration::from_secs(300),
        ..fast_config()
    };
    let setup = setup(AFTER_PUBLICATION, config).await;
    let flooded = setup.home("demo");
    // Four clients ask for five old days each, all distinct: 20 calls wanted.
    let flood: Vec<_> = (0..4)
        .map(|client| {
            let home = flooded.clone();
            tokio::spawn(async move {
                for day in 1..=5 {
                    let (start, end) = berlin_day(2025, 11, client * 5 + day);
                    let _ = home.intervals(start, end).await;
                }
            })
        })
        .collect();
    for client in flood {
        client.await.expect("flood client");
    }
    let history_calls = setup.fake.call_count();
    assert!(
        history_calls <= 2,
        "one home's history spent {history_calls} calls"
    );
    // After publication every home still gets its tomorrow.
    for home in setup.registry.homes() {
        let tomorrow = NaiveDate::from_ymd_opt(2026, 1, 15).unwrap();
        let (start, end) = local_day(home.info().zone, tomorrow);
        let answer = home.intervals(start, end).await;
        let answer = answer.unwrap_or_else(|e| panic!("{}: {e}", home.info().id));
        assert!(
            answer.is_complete(),
            "{}: {:?}",
            home.info().id,
            answer.shortfall()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_fetched_before_the_budget_ran_out_are_kept_and_not_asked_again() {
    // One home's history may spend one call at once (half of 2/3 of 6, burst 1).
    let config = UpstreamConfig {
        budget_calls: 6,
        budget_period: Duration::from_secs(300),
        ..fast_config()
    };
    let setup = setup(AFTER_PUBLICATION, config).await;
    let home = setup.home("demo");
    setup.fake.clear_calls();
    // Fourteen days of quarter-hours: 1,344 intervals, more than two pages.
    let (start, _) = berlin_day(2025, 12, 1);
    let (_, end) = berlin_day(2025, 12, 14);
    let answer = home
        .intervals(start, end)
        .await
        .expect("the first page is served");
    assert!(!answer.is_complete());
    assert!(
        answer.intervals.len() >= 600,
        "the first page is kept: {} intervals",
        answer.intervals.len()
    );
    assert!(matches!(
        answer.reason(),
        Some(IncompleteReason::UpstreamFailed(
            UpstreamErrorKind::BudgetExhausted
        ))
    ));
    let first_missing = answer.missing()[0].start;
    assert_eq!(first_missing, answer.intervals.last().unwrap().ends_at());
    assert_eq!(setup.fake.call_count(), 1);
    // Asked again, the kept page is served from the cache and is not asked for.
    let again = home.intervals(start, end).await.expect("served again");
    assert_eq!(again.intervals, answer.intervals);
    assert_eq!(setup.fake.call_count(), 1, "no call repeats the kept page");
}
