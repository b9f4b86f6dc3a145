//! Market homes against the Energy-Charts and Nord Pool fakes over real
//! HTTP: a thousand homes on one market share one feed (one upstream call
//! for a day, one pool), each pays its own tariff on the spot price, and
//! when the first source fails the next one answers inside the same fetch.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Europe::Berlin;
use pricepool::clock::Clock;
use pricepool::pool::days::local_day;
use pricepool::pool::{HomeInfo, PoolConfig};
use pricepool::tariff::Tariff;
use pricepool::testkit::fake_market::Fault;
use pricepool::testkit::{FakeEnergyCharts, FakeNordPool};
use pricepool::upstream::{IncompleteReason, Market, MarketHome, Registry, Source};

use crate::helpers::fast_config;

/// A Wednesday afternoon: today and tomorrow are published.
const NOW: &str = "2026-01-14T14:00:00Z";

struct Setup {
    energy_charts: FakeEnergyCharts,
    nordpool: FakeNordPool,
    registry: Registry,
    changes: Arc<AtomicUsize>,
}

fn tariff(charges: f64, tax: f64) -> Tariff {
    Tariff {
        charges,
        tax,
        ..Tariff::default()
    }
}

/// `n_homes` homes `flat-0`… on DE-LU in EUR, priced by Energy-Charts then
/// Nord Pool, home `k` paying `k / 100` per kWh on top of spot, 19 % VAT.
async fn setup(n_homes: usize) -> Setup {
    let now: DateTime<Utc> = NOW.parse().unwrap();
    let energy_charts = FakeEnergyCharts::start().await.expect("fake binds");
    let nordpool = FakeNordPool::start().await.expect("fake binds");
    energy_charts.set_now(now);
    nordpool.set_now(now);
    let changes = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&changes);
    let config = pricepool::upstream::UpstreamConfig {
        fetch_deadline: Duration::from_secs(5),
        error_cooldown: Duration::from_secs(60),
        ..fast_config()
    };
    let registry = Registry::with_discovering(
        None,
        config,
        PoolConfig::default(),
        Clock::starting_at(now),
        Arc::new(move |_: &str| {
            counter.fetch_add(1, Ordering::SeqCst);
        }),
        Default::default(),
    );
    let timeout = Duration::from_secs(2);
    // One client per provider, shared by every home (Source is a handle).
    let sources = vec![
        Source::energy_charts(energy_charts.url().to_string(), timeout).unwrap(),
        Source::nordpool(nordpool.url().to_string(), timeout).unwrap(),
    ];
    for k in 0..n_homes {
        registry.add_market_home(MarketHome {
            info: HomeInfo {
                id: format!("flat-{k}"),
                zone: Berlin,
                currency: "EUR".to_string(),
            },
            market: Market::DeLu,
            sources: sources.clone(),
            tariff: tariff(k as f64 / 100.0, 0.19),
        });
    }
    Setup {
        energy_charts,
        nordpool,
        registry,
        changes,
    }
}

fn berlin_day(y: i32, m: u32, d: u32) -> (DateTime<Utc>, DateTime<Utc>) {
    local_day(Berlin, NaiveDate::from_ymd_opt(y, m, d).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_homes_on_one_market_cost_one_call_and_each_pays_its_tariff() {
    let setup = setup(1000).await;
    let (start, end) = berlin_day(2026, 1, 5);
    let asks: Vec<_> = (0..1000)
        .step_by(37)
        .map(|k| {
            let home = setup.registry.home(&format!("flat-{k}")).unwrap();
            tokio::spawn(async move { (k, home.intervals(start, end).await) })
        })
        .collect();
    let spot = setup.energy_charts.slots(Market::DeLu, "EUR", start, end);
    for ask in asks {
        let (k, answer) = ask.await.unwrap();
        let answer = answer.expect("answered");
        assert!(answer.is_complete(), "flat-{k}: {:?}", answer.shortfall());
        assert_eq!(answer.intervals.len(), 96);
        for (interval, slot) in answer.intervals.iter().zip(&spot) {
            let spot_per_kwh = slot.price.unwrap() / 1000.0;
            let expected = (spot_per_kwh + k as f64 / 100.0) * 1.19;
            assert!((interval.energy - spot_per_kwh).abs() < 1e-9);
            assert!((interval.total - expected).abs() < 1e-9, "flat-{k}");
            assert!((interval.tax - (expected - spot_per_kwh)).abs() < 1e-9);
        }
    }
    assert_eq!(
        setup.energy_charts.call_count(),
        1,
        "one call for every home"
    );
    assert_eq!(setup.nordpool.call_count(), 0);
    // One pool: every home reads the market feed's, and it changed once.
    let feed_id = |k: usize| {
        let home = setup.registry.home(&format!("flat-{k}")).unwrap();
        home.with_pool(|pool| pool.home().id.clone())
    };
    assert_eq!(feed_id(0), "DE-LU-EUR");
    assert_eq!(feed_id(999), "DE-LU-EUR");
    assert_eq!(setup.changes.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_first_source_fails_the_next_one_answers_the_same_fetch() {
    let setup = setup(2).await;
    setup.energy_charts.set_fault(Some(Fault::ServerError));
    let home = setup.registry.home("flat-1").unwrap();
    let (start, end) = berlin_day(2026, 1, 6);
    let answer = home.intervals(start, end).await.expect("answered");
    assert!(answer.is_complete(), "{:?}", answer.shortfall());
    assert_eq!(answer.intervals.len(), 96);
    assert!(setup.energy_charts.call_count() >= 1, "asked first");
    assert_eq!(setup.nordpool.call_count(), 1, "then the next source");
    let statuses = home.source_statuses();
    let names: Vec<&str> = statuses.iter().map(|s| s.name).collect();
    assert_eq!(names, ["energy-charts", "nordpool"]);
    assert_eq!(
        statuses[0].last_error.as_ref().map(|e| e.kind.as_str()),
        Some("transient")
    );
    assert!(statuses[0].next_retry.is_some());
    assert!(statuses[1].last_success.is_some() && statuses[1].last_error.is_none());

    // While Energy-Charts cools down, Nord Pool is asked directly.
    setup.energy_charts.clear_calls();
    let (start, end) = berlin_day(2026, 1, 7);
    assert!(home.intervals(start, end).await.unwrap().is_complete());
    assert_eq!(
        setup.energy_charts.call_count(),
        0,
        "a cooling source is skipped"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hole_in_the_first_sources_answer_is_filled_by_the_next_source() {
    let setup = setup(1).await;
    let (start, end) = berlin_day(2026, 1, 8);
    let from = start + chrono::Duration::hours(5);
    setup
        .energy_charts
        .push_fault(Fault::NullPrices { from, count: 4 });
    let home = setup.registry.home("flat-0").unwrap();
    let answer = home.intervals(start, end).await.expect("answered");
    assert!(answer.is_complete(), "{:?}", answer.shortfall());
    assert_eq!(answer.intervals.len(), 96);
    assert_eq!(setup.energy_charts.call_count(), 1);
    assert_eq!(setup.nordpool.call_count(), 1, "asked for the hole");
    let spot = setup.nordpool.slots(Market::DeLu, "EUR", start, end);
    for (interval, slot) in answer.intervals.iter().zip(&spot) {
        assert_eq!(interval.starts_at(), slot.starts_at);
        assert!((interval.energy - slot.price.unwrap() / 1000.0).abs() < 1e-9);
    }
    let statuses = home.source_statuses();
    assert!(
        statuses.iter().all(|s| s.last_error.is_none()),
        "{statuses:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tomorrow_before_publication_is_not_published_for_a_market_home() {
    let setup = setup(1).await;
    let morning: DateTime<Utc> = "2026-01-14T09:00:00Z".parse().unwrap();
    setup.energy_charts.set_now(morning);
    setup.nordpool.set_now(morning);
    let registry = Registry::with_discovering(
        None,
        fast_config(),
        PoolConfig::default(),
        Clock::starting_at(morning),
        Arc::new(|_: &str| {}),
        Default::default(),
    );
    registry.add_market_home(MarketHome {
        info: HomeInfo {
            id: "flat".to_string(),
            zone: Berlin,
            currency: "EUR".to_string(),
        },
        market: Market::DeLu,
        sources: vec![
            Source::energy_charts(
                setup.energy_charts.url().to_string(),
                Duration::from_secs(2),
            )
            .unwrap(),
        ],
        tariff: Tariff::default(),
    });
    let (start, end) = berlin_day(2026, 1, 15);
    let answer = registry
        .home("flat")
        .unwrap()
        .intervals(start, end)
        .await
        .expect("answered");
    assert!(!answer.is_complete());
    assert_eq!(answer.reason(), Some(IncompleteReason::NotPublished));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_every_source_fails_the_cache_is_served_and_an_uncached_range_is_an_error() {
    let setup = setup(1).await;
    let home = setup.registry.home("flat-0").unwrap();
    let (cached_start, cached_end) = berlin_day(2026, 1, 5);
    assert!(
        home.intervals(cached_start, cached_end)
            .await
            .unwrap()
            .is_complete()
    );
    setup.energy_charts.set_fault(Some(Fault::ServerError));
    setup.nordpool.set_fault(Some(Fault::Unavailable));

    // Cached day plus an uncached one: the cache, marked incomplete.
    let (_, next_end) = berlin_day(2026, 1, 6);
    let answer = home
        .intervals(cached_start, next_end)
        .await
        .expect("stale served");
    assert!(!answer.is_complete());
    assert_eq!(answer.intervals.len(), 96);
    assert!(matches!(
        answer.reason(),
        Some(IncompleteReason::UpstreamFailed(_))
    ));
    assert!(answer.retry_at().is_some());
    // Both were asked, each after its own retries.
    assert!(setup.energy_charts.call_count() >= 2);
    assert!(setup.nordpool.call_count() >= 1);

    // Nothing cached for the range: an error that says when to retry.
    let (start, end) = berlin_day(2026, 1, 8);
    let error = home
        .intervals(start, end)
        .await
        .expect_err("nothing to serve");
    assert!(error.retry_at.is_some(), "{error:?}");
    let statuses = home.source_statuses();
    assert!(
        statuses.iter().all(|status| status.last_error.is_some()),
        "{statuses:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_sources_fail_over_in_order_and_each_reports_its_own_failure() {
    use pricepool::testkit::{AwattarFault, FakeAwattar, FakeEntsoe};
    let setup = setup(0).await;
    let awattar = FakeAwattar::start().await.unwrap();
    let entsoe = FakeEntsoe::start().await.unwrap();
    let now: DateTime<Utc> = NOW.parse().unwrap();
    awattar.set_now(now);
    entsoe.set_now(now);
    setup.energy_charts.set_fault(Some(Fault::Garbage));
    setup.nordpool.set_fault(Some(Fault::Unauthorized));
    awattar.set_fault(Some(AwattarFault::RateLimited {
        retry_after: Some(600),
    }));
    let timeout = Duration::from_secs(2);
    setup.registry.add_market_home(MarketHome {
        info: HomeInfo {
            id: "four".to_string(),
            zone: Berlin,
            currency: "EUR".to_string(),
        },
        market: Market::DeLu,
        sources: vec![
            Source::energy_charts(setup.energy_charts.url().to_string(), timeout).unwrap(),
            Source::nordpool(setup.nordpool.url().to_string(), timeout).unwrap(),
            Source::awattar(awattar.de_url(), awattar.at_url(), timeout).unwrap(),
            Source::entsoe(entsoe.url().to_string(), entsoe.token(), timeout).unwrap(),
        ],
        tariff: Tariff::default(),
    });
    let home = setup.registry.home("four").unwrap();
    let (start, end) = berlin_day(2026, 1, 5);
    let answer = home.intervals(start, end).await.expect("ENTSO-E answers");
    assert!(answer.is_complete(), "{:?}", answer.shortfall());
    assert_eq!(answer.intervals.len(), 96);
    let statuses = home.source_statuses();
    let kinds: Vec<(&str, Option<&str>)> = statuses
        .iter()
        .map(|s| (s.name, s.last_error.as_ref().map(|e| e.kind.as_str())))
        .collect();
    assert_eq!(
        kinds,
        [
            ("energy-charts", Some("malformed")),
            ("nordpool", Some("auth")),
            ("awattar", Some("rate_limited")),
            ("entsoe", None),
        ]
    );
    assert!(statuses.iter().take(3).all(|s| s.next_retry.is_some()));
    assert!(statuses[3].last_success.is_some());
    // The 429's Retry-After holds aWATTar off for its ten minutes.
    let awattar_retry = statuses[2].next_retry.unwrap();
    assert!(
        awattar_retry >= now + chrono::Duration::seconds(590),
        "{awattar_retry}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_entsoe_token_is_an_auth_failure_that_never_shows_the_token() {
    use pricepool::testkit::FakeEntsoe;
    use pricepool::upstream::Secret;
    let setup = setup(0).await;
    let entsoe = FakeEntsoe::start().await.unwrap();
    entsoe.set_now(NOW.parse().unwrap());
    let wrong = "wrong-token-5f0c9d";
    setup.registry.add_market_home(MarketHome {
        info: HomeInfo {
            id: "entsoe-only".to_string(),
            zone: Berlin,
            currency: "EUR".to_string(),
        },
        market: Market::DeLu,
        sources: vec![
            Source::entsoe(
                entsoe.url().to_string(),
                Secret::new(wrong),
                Duration::from_secs(2),
            )
            .unwrap(),
        ],
        tariff: Tariff::default(),
    });
    let home = setup.registry.home("entsoe-only").unwrap();
    let (start, end) = berlin_day(2026, 1, 5);
    let error = home.intervals(start, end).await.expect_err("refused");
    assert_eq!(error.kind.as_str(), "auth");
    assert_eq!(entsoe.call_count(), 1, "never retried");
    let status = format!("{:?} {:?} {error:?}", home.status(), home.source_statuses());
    assert!(!status.contains(wrong), "the token leaked: {status}");
    assert_eq!(
        home.source_statuses()[0]
            .last_error
            .as_ref()
            .unwrap()
            .kind
            .as_str(),
        "auth"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_first_source_leaves_the_next_one_time_to_answer() {
    let setup = setup(1).await;
    setup
        .energy_charts
        .set_fault(Some(Fault::Slow(Duration::from_secs(30))));
    let home = setup.registry.home("flat-0").unwrap();
    let (start, end) = berlin_day(2026, 1, 5);
    let asked = std::time::Instant::now();
    let answer = home.intervals(start, end).await.expect("Nord Pool answers");
    assert!(answer.is_complete(), "{:?}", answer.shortfall());
    assert_eq!(setup.nordpool.call_count(), 1);
    // Within the fetch deadline (5 s here), not after the hang.
    assert!(
        asked.elapsed() < Duration::from_secs(6),
        "{:?}",
        asked.elapsed()
    );
    let statuses = home.source_statuses();
    assert!(statuses[0].last_error.is_some(), "{statuses:?}");
}
