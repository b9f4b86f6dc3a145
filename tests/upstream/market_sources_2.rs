//! The ENTSO-E and aWATTar sources against their fakes over real HTTP on
//! 127.0.0.1, driven through `Source::fetch` with a metered `CallGate`:
//! whole days with the right slot counts (DST days, the hourly →
//! quarter-hourly switch), A03 omissions, duplicate series, mixed
//! resolutions, not-yet-published days, and each failure kind.

use chrono::{DateTime, NaiveDate, Utc};
use pricepool::clock::Clock;
use pricepool::pool::days::local_day;
use pricepool::pool::{EUROPE_QUARTER_HOURLY_FROM, HomeInfo, Interval, Resolution};
use pricepool::testkit::{AwattarFault, EntsoeFault, FakeAwattar, FakeEntsoe, Slot};
use pricepool::upstream::{
    CallGate, FetchRequest, Market, PriceSource, Secret, Source, UpstreamErrorKind,
};

use crate::helpers::fast_config;

fn at(text: &str) -> DateTime<Utc> {
    text.parse().expect("instant")
}

fn date(text: &str) -> NaiveDate {
    text.parse().expect("date")
}

/// A request for `market`'s local days `first..=last` at `now`.
fn request(market: Market, first: &str, last: &str, now: DateTime<Utc>) -> FetchRequest {
    let zone = market.zone();
    FetchRequest {
        home: HomeInfo {
            id: format!("{}-EUR", market.name()),
            zone,
            currency: "EUR".into(),
        },
        market: Some(market),
        start: local_day(zone, date(first)).0,
        end: local_day(zone, date(last)).1,
        now,
        deadline: tokio::time::Instant::now() + fast_config().fetch_deadline,
        quarter_hourly_from: EUROPE_QUARTER_HOURLY_FROM,
    }
}

fn gate(now: DateTime<Utc>) -> CallGate {
    CallGate::new(&fast_config(), Clock::starting_at(now), true)
}

/// The intervals a source must make of `slots`: price per MWh / 1000.
fn expected(slots: &[Slot]) -> Vec<(DateTime<Utc>, Resolution, f64)> {
    slots
        .iter()
        .map(|s| (s.starts_at, s.resolution, s.mwh / 1000.0))
        .collect()
}

fn got(intervals: &[Interval]) -> Vec<(DateTime<Utc>, Resolution, f64)> {
    for i in intervals {
        assert_eq!((i.energy, i.tax, i.level), (i.total, 0.0, None));
    }
    intervals
        .iter()
        .map(|i| (i.starts_at(), i.resolution, i.total))
        .collect()
}

async fn entsoe() -> (FakeEntsoe, Source) {
    let fake = FakeEntsoe::start().await.expect("fake binds");
    let source = Source::entsoe(
        fake.url().to_string(),
        fake.token(),
        std::time::Duration::from_secs(5),
    )
    .expect("client builds");
    (fake, source)
}

const LATER: &str = "2026-06-01T12:00:00Z";

#[tokio::test]
async fn entsoe_days_arrive_whole_on_dst_days_and_across_the_quarter_hour_switch() {
    let (fake, source) = entsoe().await;
    let now = at(LATER);
    fake.set_now(now);
    let days = [
        (Market::DeLu, "2026-01-14", 96),
        (Market::DeLu, "2025-10-26", 100),
        (Market::DeLu, "2026-03-29", 92),
        (Market::Fi, "2025-10-26", 100),
        (Market::Fi, "2026-03-29", 92),
        (Market::DeLu, "2025-09-30", 24),
        (Market::DeLu, "2025-10-01", 96),
    ];
    for (market, day, count) in days {
        let intervals = source
            .fetch(&request(market, day, day, now), &gate(now))
            .await
            .expect("fetch succeeds");
        assert_eq!(intervals.len(), count, "{market} {day}");
        let truth = FakeEntsoe::day(market, date(day), None);
        assert_eq!(got(&intervals), expected(&truth), "{market} {day}");
    }
    let calls = fake.calls();
    assert_eq!(calls.len(), days.len(), "one call per day, none retried");
    assert!(calls.iter().all(|c| c.authorized));
    assert_eq!(calls[0].area.as_deref(), Some(Market::DeLu.eic()));
    assert_eq!(calls[0].period_start.as_deref(), Some("202601132300"));
    assert_eq!(calls[0].period_end.as_deref(), Some("202601142300"));
}

#[tokio::test]
async fn entsoe_a03_omissions_duplicate_series_and_mixed_resolutions_read_right() {
    let (fake, source) = entsoe().await;
    let now = at(LATER);
    fake.set_now(now);
    let day = "2026-01-14";
    for fault in [
        EntsoeFault::RepeatedPrices,
        EntsoeFault::DuplicateSeries,
        EntsoeFault::MixedResolution,
    ] {
        fake.push_fault(fault.clone());
        let intervals = source
            .fetch(&request(Market::DeLu, day, day, now), &gate(now))
            .await
            .expect("fetch succeeds");
        let truth = FakeEntsoe::day(Market::DeLu, date(day), Some(&fault));
        assert_eq!(got(&intervals), expected(&truth), "{fault:?}");
        let (start, end) = local_day(Market::DeLu.zone(), date(day));
        assert_eq!(intervals.first().map(|i| i.starts_at()), Some(start));
        for pair in intervals.windows(2) {
            assert_eq!(pair[0].ends_at(), pair[1].starts_at(), "{fault:?}: no gap");
        }
        assert_eq!(intervals.last().map(Interval::ends_at), Some(end));
    }
    // The repeated-price day is 96 slots from 8 points; mixed is 12 hours and 48 quarters.
    let repeated = FakeEntsoe::day(Market::DeLu, date(day), Some(&EntsoeFault::RepeatedPrices));
    assert_eq!(repeated.len(), 96);
    let mixed = FakeEntsoe::day(Market::DeLu, date(day), Some(&EntsoeFault::MixedResolution));
    assert_eq!(mixed.len(), 12 + 48);
}

#[tokio::test]
async fn entsoe_tomorrow_is_empty_before_13_cet_and_whole_after() {
    let (fake, source) = entsoe().await;
    let before = at("2026-01-14T11:30:00Z"); // 12:30 CET
    fake.set_now(before);
    let tomorrow = "2026-01-15";
    let early = source
        .fetch(
            &request(Market::DeLu, tomorrow, tomorrow, before),
            &gate(before),
        )
        .await
        .expect("an acknowledgement is no error");
    assert!(early.is_empty());
    assert_eq!(fake.call_count(), 1, "not retried");
    let after = at("2026-01-14T12:05:00Z"); // 13:05 CET
    fake.set_now(after);
    let published = source
        .fetch(
            &request(Market::DeLu, tomorrow, tomorrow, after),
            &gate(after),
        )
        .await
        .expect("published");
    assert_eq!(published.len(), 96);
}

#[tokio::test]
async fn entsoe_a_refused_token_is_auth_not_retried_and_never_echoed() {
    let fake = FakeEntsoe::start().await.expect("fake binds");
    let now = at(LATER);
    fake.set_now(now);
    let token = "wrong-token-0d9f8e7c";
    let source = Source::entsoe(
        fake.url().to_string(),
        Secret::new(token),
        std::time::Duration::from_secs(5),
    )
    .expect("client builds");
    let gate = gate(now);
    let error = source
        .fetch(
            &request(Market::DeLu, "2026-01-14", "2026-01-14", now),
            &gate,
        )
        .await
        .expect_err("refused");
    assert_eq!(error.kind(), UpstreamErrorKind::Auth);
    assert_eq!(fake.call_count(), 1, "auth is never retried");
    assert!(!fake.calls()[0].authorized);
    for text in [
        error.to_string(),
        format!("{error:?}"),
        format!("{source:?}"),
        format!("{gate:?}"),
    ] {
        assert!(!text.contains(token), "token leaked: {text}");
    }
}

#[tokio::test]
async fn entsoe_5xx_is_retried_truncated_xml_is_not_and_429_cools_the_source_down() {
    let (fake, source) = entsoe().await;
    let now = at(LATER);
    fake.set_now(now);
    let day = request(Market::DeLu, "2026-01-14", "2026-01-14", now);
    fake.push_fault(EntsoeFault::Unavailable);
    fake.push_fault(EntsoeFault::Unavailable);
    let intervals = source.fetch(&day, &gate(now)).await.expect("third try");
    assert_eq!((intervals.len(), fake.call_count()), (96, 3));

    fake.push_fault(EntsoeFault::Truncated);
    let error = source.fetch(&day, &gate(now)).await.expect_err("truncated");
    assert_eq!(error.kind(), UpstreamErrorKind::Malformed);
    assert_eq!(fake.call_count(), 4, "a malformed answer is not retried");

    fake.set_fault(Some(EntsoeFault::RateLimited {
        retry_after: Some(600),
    }));
    let gate = gate(now);
    let error = source.fetch(&day, &gate).await.expect_err("rate limited");
    assert_eq!(error.kind(), UpstreamErrorKind::RateLimited);
    assert_eq!(
        fake.call_count(),
        5,
        "the ten-minute wait is not waited out"
    );
    let until = gate
        .cooldown()
        .and_then(|c| c.until())
        .expect("cooling down");
    assert!(until >= now + chrono::Duration::seconds(590), "{until}");
}

#[tokio::test]
async fn entsoe_asks_at_most_a_year_per_call() {
    let (fake, source) = entsoe().await;
    let now = at(LATER);
    fake.set_now(now);
    let range = request(Market::DeLu, "2023-01-01", "2024-05-31", now);
    let intervals = source.fetch(&range, &gate(now)).await.expect("fetched");
    let hours = (range.end - range.start).num_hours() as usize;
    assert_eq!(intervals.len(), hours);
    let calls = fake.calls();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].period_end, calls[1].period_start);
}

async fn awattar() -> (FakeAwattar, Source) {
    let fake = FakeAwattar::start().await.expect("fake binds");
    let source = Source::awattar(
        fake.de_url(),
        fake.at_url(),
        std::time::Duration::from_secs(5),
    )
    .expect("client builds");
    (fake, source)
}

#[tokio::test]
async fn awattar_serves_de_lu_and_at_hourly_then_whatever_the_feed_gives() {
    let (fake, source) = awattar().await;
    let now = at(LATER);
    fake.set_now(now);
    fake.set_quarter_hourly_from(Some(date("2026-01-15")));
    for market in [Market::DeLu, Market::At] {
        let intervals = source
            .fetch(
                &request(market, "2026-01-14", "2026-01-15", now),
                &gate(now),
            )
            .await
            .expect("fetched");
        let mut truth = fake.day(market, date("2026-01-14"));
        truth.extend(fake.day(market, date("2026-01-15")));
        assert_eq!(intervals.len(), 24 + 96, "{market}");
        assert_eq!(got(&intervals), expected(&truth), "{market}");
        assert_eq!(intervals[23].resolution, Resolution::Hour);
        assert_eq!(intervals[24].resolution, Resolution::QuarterHour);
    }
    let calls = fake.calls();
    assert_eq!(
        calls.iter().map(|c| c.country.as_str()).collect::<Vec<_>>(),
        ["de", "at"]
    );
    let (start, _) = local_day(Market::At.zone(), date("2026-01-14"));
    assert_eq!(
        calls[1].start.as_deref(),
        Some(start.timestamp_millis().to_string().as_str())
    );
}

#[tokio::test]
async fn awattar_a_short_answer_is_the_rest_not_published_and_5xx_is_retried() {
    let (fake, source) = awattar().await;
    let now = at("2026-01-14T10:00:00Z"); // 11:00 CET: tomorrow not out
    fake.set_now(now);
    fake.push_fault(AwattarFault::Unavailable);
    let intervals = source
        .fetch(
            &request(Market::DeLu, "2026-01-14", "2026-01-15", now),
            &gate(now),
        )
        .await
        .expect("second try");
    assert_eq!(intervals.len(), 24, "today only");
    assert_eq!(fake.calls().len(), 2);

    fake.push_fault(AwattarFault::Truncated);
    let error = source
        .fetch(
            &request(Market::At, "2026-01-14", "2026-01-14", now),
            &gate(now),
        )
        .await
        .expect_err("truncated");
    assert_eq!(error.kind(), UpstreamErrorKind::Malformed);
}
