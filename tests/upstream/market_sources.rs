//! The Energy-Charts and Nord Pool sources against their fakes over real
//! HTTP on 127.0.0.1: whole days with the right slot counts (DST days,
//! hourly days before the 2025-10-01 switch, a Helsinki day across two
//! CET delivery days), prices equal to the fake's per MWh / 1000, null
//! prices left out, tomorrow before 13:00 CET empty, and the failure
//! taxonomy (5xx and 429 retried, 401 and garbage not).

use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use pricepool::clock::Clock;
use pricepool::pool::days::local_day;
use pricepool::pool::{EUROPE_QUARTER_HOURLY_FROM, HomeInfo, Interval, Resolution};
use pricepool::testkit::fake_market::{FakeMarket, Fault};
use pricepool::testkit::{FakeEnergyCharts, FakeNordPool};
use pricepool::upstream::{
    CallGate, FetchRequest, Market, PriceSource, Source, UpstreamError, UpstreamErrorKind,
};

use crate::helpers::fast_config;

const NOW: &str = "2026-04-01T12:00:00Z";

fn at(text: &str) -> DateTime<Utc> {
    text.parse().expect("instant")
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("date")
}

/// A request of the `{market}-{currency}` feed for `[start, end)` at `now`.
fn request(
    market: Market,
    currency: &str,
    (start, end): (DateTime<Utc>, DateTime<Utc>),
    now: DateTime<Utc>,
) -> FetchRequest {
    FetchRequest {
        home: HomeInfo {
            id: format!("{market}-{currency}"),
            zone: market.zone(),
            currency: currency.to_string(),
        },
        market: Some(market),
        start,
        end,
        now,
        deadline: tokio::time::Instant::now() + Duration::from_secs(5),
        quarter_hourly_from: EUROPE_QUARTER_HOURLY_FROM,
    }
}

fn gate(now: DateTime<Utc>) -> CallGate {
    CallGate::new(&fast_config(), Clock::starting_at(now), true)
}

async fn energy_charts(now: &str) -> (FakeEnergyCharts, Source) {
    let fake = FakeEnergyCharts::start().await.expect("fake binds");
    fake.set_now(at(now));
    let source = Source::energy_charts(fake.url().to_string(), Duration::from_secs(2))
        .expect("client builds");
    (fake, source)
}

async fn nordpool(now: &str) -> (FakeNordPool, Source) {
    let fake = FakeNordPool::start().await.expect("fake binds");
    fake.set_now(at(now));
    let source =
        Source::nordpool(fake.url().to_string(), Duration::from_secs(2)).expect("client builds");
    (fake, source)
}

async fn fetch(source: &Source, request: &FetchRequest) -> Result<Vec<Interval>, UpstreamError> {
    source.fetch(request, &gate(request.now)).await
}

/// The intervals cover `request`'s range without a gap and carry the
/// fake's prices per kWh, `total` = `energy`, no tax.
fn assert_matches_fake(intervals: &[Interval], fake: &FakeMarket, request: &FetchRequest) {
    let market = request.market.expect("market request");
    let last = request.end - chrono::Duration::seconds(1);
    let slots = fake.slots(market, &request.home.currency, request.start, last);
    assert_eq!(intervals.len(), slots.len());
    assert_eq!(
        intervals.first().map(|iv| iv.starts_at()),
        Some(request.start)
    );
    assert_eq!(intervals.last().map(Interval::ends_at), Some(request.end));
    for pair in intervals.windows(2) {
        assert_eq!(
            pair[0].ends_at(),
            pair[1].starts_at(),
            "a gap at {}",
            pair[0].starts_at()
        );
    }
    for (interval, slot) in intervals.iter().zip(&slots) {
        assert_eq!(interval.starts_at(), slot.starts_at);
        assert_eq!(interval.resolution, slot.resolution);
        let price = slot.price.expect("priced");
        assert!((interval.energy - price / 1000.0).abs() < 1e-9);
        assert_eq!(interval.total, interval.energy);
        assert_eq!(interval.tax, 0.0);
        assert!(interval.level.is_none());
    }
}

const DAYS: [((i32, u32, u32), usize, Resolution); 5] = [
    ((2026, 1, 14), 96, Resolution::QuarterHour),
    ((2025, 10, 26), 100, Resolution::QuarterHour),
    ((2026, 3, 29), 92, Resolution::QuarterHour),
    ((2025, 9, 30), 24, Resolution::Hour),
    ((2025, 3, 30), 23, Resolution::Hour),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn energy_charts_answers_whole_de_lu_days_with_the_right_slots_in_one_call_each() {
    let (fake, source) = energy_charts(NOW).await;
    for ((y, m, d), count, resolution) in DAYS {
        fake.clear_calls();
        let day = local_day(Market::DeLu.zone(), date(y, m, d));
        let request = request(Market::DeLu, "EUR", day, at(NOW));
        let intervals = fetch(&source, &request).await.expect("fetched");
        assert_eq!(intervals.len(), count, "{y}-{m}-{d}");
        assert!(intervals.iter().all(|iv| iv.resolution == resolution));
        assert_matches_fake(&intervals, &fake, &request);
        let calls = fake.calls();
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].param("bzn"), Some("DE-LU"));
        assert_eq!(
            calls[0].param("start"),
            Some(day.0.timestamp().to_string().as_str())
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nordpool_answers_whole_de_lu_days_with_the_right_slots_in_one_call_each() {
    let (fake, source) = nordpool(NOW).await;
    for ((y, m, d), count, resolution) in DAYS {
        fake.clear_calls();
        let day = local_day(Market::DeLu.zone(), date(y, m, d));
        let request = request(Market::DeLu, "EUR", day, at(NOW));
        let intervals = fetch(&source, &request).await.expect("fetched");
        assert_eq!(intervals.len(), count, "{y}-{m}-{d}");
        assert!(intervals.iter().all(|iv| iv.resolution == resolution));
        assert_matches_fake(&intervals, &fake, &request);
        let calls = fake.calls();
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].param("deliveryArea"), Some("GER"));
        assert_eq!(
            calls[0].param("date"),
            Some(format!("{y}-{m:02}-{d:02}").as_str())
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_helsinki_day_is_two_cet_delivery_days_and_oslo_is_priced_in_nok() {
    let (fake, source) = nordpool(NOW).await;
    let day = local_day(Market::Fi.zone(), date(2026, 1, 14));
    let request_fi = request(Market::Fi, "EUR", day, at(NOW));
    let intervals = fetch(&source, &request_fi).await.expect("fetched");
    assert_eq!(intervals.len(), 96);
    assert_matches_fake(&intervals, &fake, &request_fi);
    let dates: Vec<String> = fake
        .calls()
        .iter()
        .map(|call| call.param("date").unwrap_or_default().to_string())
        .collect();
    assert_eq!(dates, ["2026-01-13", "2026-01-14"]);

    fake.clear_calls();
    let day = local_day(Market::No1.zone(), date(2026, 1, 14));
    let request_no = request(Market::No1, "NOK", day, at(NOW));
    let intervals = fetch(&source, &request_no).await.expect("fetched");
    assert_matches_fake(&intervals, &fake, &request_no);
    assert_eq!(fake.calls()[0].param("currency"), Some("NOK"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_range_across_the_quarter_hour_switch_has_no_false_gap() {
    let range = (at("2025-09-30T10:00:00Z"), at("2025-10-01T10:00:00Z"));
    let (fake, source) = energy_charts(NOW).await;
    let request_ec = request(Market::DeLu, "EUR", range, at(NOW));
    let intervals = fetch(&source, &request_ec).await.expect("fetched");
    assert_eq!(intervals.len(), 12 + 12 * 4);
    assert_matches_fake(&intervals, &fake, &request_ec);
    let (fake, source) = nordpool(NOW).await;
    let intervals = fetch(&source, &request_ec).await.expect("fetched");
    assert_eq!(intervals.len(), 12 + 12 * 4);
    assert_matches_fake(&intervals, &fake, &request_ec);
    assert_eq!(fake.call_count(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tomorrow_before_13_cet_is_empty_and_after_it_is_whole() {
    let before = "2026-01-14T11:30:00Z"; // 12:30 CET
    let tomorrow = local_day(Market::DeLu.zone(), date(2026, 1, 15));
    let (ec_fake, ec) = energy_charts(before).await;
    let (np_fake, np) = nordpool(before).await;
    let early = request(Market::DeLu, "EUR", tomorrow, at(before));
    assert!(fetch(&ec, &early).await.expect("404 is no data").is_empty());
    assert!(fetch(&np, &early).await.expect("204 is no data").is_empty());
    // Not published is an answer, not a failure: no retries.
    assert_eq!((ec_fake.call_count(), np_fake.call_count()), (1, 1));

    let after = "2026-01-14T12:05:00Z"; // 13:05 CET
    ec_fake.set_now(at(after));
    np_fake.set_now(at(after));
    let late = request(Market::DeLu, "EUR", tomorrow, at(after));
    assert_eq!(fetch(&ec, &late).await.expect("published").len(), 96);
    assert_eq!(fetch(&np, &late).await.expect("published").len(), 96);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn null_prices_are_missing_slots_never_numbers() {
    let day = local_day(Market::DeLu.zone(), date(2026, 1, 14));
    let hole = day.0 + chrono::Duration::hours(5);
    let request = request(Market::DeLu, "EUR", day, at(NOW));
    let (ec_fake, ec) = energy_charts(NOW).await;
    let (np_fake, np) = nordpool(NOW).await;
    for fake in [&*ec_fake, &*np_fake] {
        fake.push_fault(Fault::NullPrices {
            from: hole,
            count: 4,
        });
    }
    for source in [&ec, &np] {
        let intervals = fetch(source, &request).await.expect("fetched");
        assert_eq!(intervals.len(), 92, "{}", source.name());
        let in_hole = |iv: &Interval| {
            hole <= iv.starts_at() && iv.starts_at() < hole + chrono::Duration::hours(1)
        };
        assert!(!intervals.iter().any(in_hole), "{}", source.name());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_5xx_and_a_429_are_retried_and_a_401_and_garbage_are_not() {
    let day = local_day(Market::DeLu.zone(), date(2026, 1, 14));
    let request = request(Market::DeLu, "EUR", day, at(NOW));
    let (ec_fake, ec) = energy_charts(NOW).await;
    let (np_fake, np) = nordpool(NOW).await;
    for (fake, source) in [(&*ec_fake, &ec), (&*np_fake, &np)] {
        let name = source.name();
        fake.clear_calls();
        fake.push_fault(Fault::Unavailable);
        fake.push_fault(Fault::ServerError);
        assert_eq!(fetch(source, &request).await.expect(name).len(), 96);
        assert_eq!(fake.call_count(), 3, "{name}");

        fake.clear_calls();
        fake.push_fault(Fault::RateLimited {
            retry_after: Some(1),
        });
        assert_eq!(fetch(source, &request).await.expect(name).len(), 96);
        let calls = fake.calls();
        assert_eq!(calls.len(), 2, "{name}");
        assert!(
            calls[1].at - calls[0].at >= Duration::from_secs(1),
            "{name}"
        );

        fake.clear_calls();
        fake.push_fault(Fault::Unauthorized);
        let error = fetch(source, &request).await.expect_err(name);
        assert_eq!(error.kind(), UpstreamErrorKind::Auth, "{name}");
        assert_eq!(fake.call_count(), 1, "{name}");

        fake.clear_calls();
        fake.push_fault(Fault::Garbage);
        let error = fetch(source, &request).await.expect_err(name);
        assert_eq!(error.kind(), UpstreamErrorKind::Malformed, "{name}");
        assert!(!error.to_string().contains("maintenance"), "{error}");
        assert_eq!(fake.call_count(), 1, "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_source_times_out_within_the_deadline() {
    let day = local_day(Market::DeLu.zone(), date(2026, 1, 14));
    let mut request = request(Market::DeLu, "EUR", day, at(NOW));
    request.deadline = tokio::time::Instant::now() + Duration::from_millis(1500);
    let fake = FakeEnergyCharts::start().await.expect("fake binds");
    fake.set_now(at(NOW));
    fake.set_fault(Some(Fault::Slow(Duration::from_secs(30))));
    let source = Source::energy_charts(fake.url().to_string(), Duration::from_millis(300))
        .expect("client builds");
    let error = fetch(&source, &request).await.expect_err("hangs");
    assert_eq!(error.kind(), UpstreamErrorKind::Transient);
    assert!(fake.call_count() >= 2, "timeouts are retried");
}
