//! Bad input never panics the pool and never loses what it caches.
//!
//! Garbage answers (NaN or infinite prices, starts off the 15-minute grid or
//! with a fraction of a second, instants in 1900, 9000 or at the ends of
//! chrono's range), garbage `now`s and garbage queries (start ≥ end, bounds
//! off the grid, spans of thousands of years) are fed to a pool that already
//! holds a few days. An answer with an invalid interval (off the grid, a
//! non-finite price, a start outside the years 1000..9998) must be a typed
//! error with the pool unchanged; a valid one, however odd (1900, 9000), must
//! keep the pool's invariants; a query must answer or give a typed error.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use proptest::prelude::*;

use pricepool::pool::{
    EARLIEST_START_SECONDS, END_OF_STARTS_SECONDS, HomeInfo, Interval, IntervalError, Pool,
    PoolConfig, PoolError, PriceLevel, Resolution,
};

/// 2026-01-05T00:00:00Z, where the pool's cached days start.
const CACHED_FROM: i64 = 1_767_571_200;

fn home() -> HomeInfo {
    HomeInfo {
        id: "garbage-home".into(),
        zone: chrono_tz::Europe::Berlin,
        currency: "EUR".into(),
    }
}

fn valid(secs: i64, resolution: Resolution) -> Interval {
    Interval::new(
        DateTime::from_timestamp(secs, 0).expect("in range"),
        resolution,
        0.25,
        0.2,
        0.05,
        Some(PriceLevel::Cheap),
    )
}

/// Five cached days, the last two in the protected window of `CACHED_NOW`.
fn cached_pool(max_intervals: usize) -> Pool {
    let mut pool = Pool::new(
        home(),
        PoolConfig {
            max_intervals,
            ..PoolConfig::default()
        },
    );
    for day in 0..5 {
        let from = CACHED_FROM + day * 86_400;
        let answer = (0..96)
            .map(|i| valid(from + i * 900, Resolution::QuarterHour))
            .collect();
        let at = DateTime::from_timestamp(from, 0).expect("in range");
        pool.add(answer, at, at).expect("valid answer");
    }
    pool
}

/// Instants a broken upstream or client might send, whole seconds.
fn wild_seconds() -> impl Strategy<Value = i64> {
    let min = DateTime::<Utc>::MIN_UTC.timestamp();
    let max = DateTime::<Utc>::MAX_UTC.timestamp();
    let year = |y: i32| {
        NaiveDate::from_ymd_opt(y, 1, 1)
            .expect("valid year")
            .and_hms_opt(0, 0, 0)
            .expect("valid time")
            .and_utc()
            .timestamp()
    };
    prop_oneof![
        3 => CACHED_FROM - 86_400..CACHED_FROM + 6 * 86_400,
        1 => year(1900)..year(1901),
        1 => year(9000)..year(9001),
        1 => min..min + 10 * 86_400,
        1 => max - 10 * 86_400..=max,
        1 => max - 2 * 3600..=max,
        1 => 0i64..86_400,
        // Both sides of the span the pool accepts starts in.
        1 => EARLIEST_START_SECONDS - 2 * 3600..EARLIEST_START_SECONDS + 2 * 3600,
        1 => END_OF_STARTS_SECONDS - 2 * 3600..END_OF_STARTS_SECONDS + 2 * 3600,
    ]
}

#[derive(Debug, Clone, Copy)]
enum Flaw {
    None,
    OffGrid,
    Fraction,
    NonFinite(usize, f64),
}

fn flaw() -> impl Strategy<Value = Flaw> {
    prop_oneof![
        6 => Just(Flaw::None),
        1 => Just(Flaw::OffGrid),
        1 => Just(Flaw::Fraction),
        1 => (0usize..3, prop_oneof![Just(f64::NAN), Just(f64::INFINITY), Just(f64::NEG_INFINITY)])
            .prop_map(|(field, value)| Flaw::NonFinite(field, value)),
    ]
}

/// One interval of a garbage answer: a start near the cache or far away,
/// either resolution, and maybe one flaw.
fn garbage_interval(flaw: impl Strategy<Value = Flaw>) -> impl Strategy<Value = Interval> {
    (wild_seconds(), any::<bool>(), flaw, -1e6f64..1e6).prop_map(|(secs, hourly, flaw, price)| {
        let resolution = if hourly {
            Resolution::Hour
        } else {
            Resolution::QuarterHour
        };
        let on_grid = secs.div_euclid(900) * 900;
        let mut interval = valid(on_grid, resolution);
        interval.total = price;
        match flaw {
            Flaw::None => {}
            Flaw::OffGrid => {
                let moved = DateTime::from_timestamp(on_grid + 1 + secs.rem_euclid(899), 0)
                    .unwrap_or(interval.starts_at() + Duration::seconds(1));
                interval.set_starts_at(moved);
            }
            Flaw::Fraction => {
                interval
                    .set_starts_at(DateTime::from_timestamp(on_grid, 1_000_000).expect("in range"));
            }
            Flaw::NonFinite(field, value) => match field {
                0 => interval.total = value,
                1 => interval.energy = value,
                _ => interval.tax = value,
            },
        }
        interval
    })
}

fn everything(pool: &Pool) -> Vec<Interval> {
    pool.range(DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC)
        .expect("non-empty range")
        .copied()
        .collect()
}

fn instant(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(secs, 0).expect("wild_seconds stays in range")
}

proptest! {
    #![proptest_config(crate::config(256))]

    /// A garbage answer is a typed error that leaves the pool as it was, or,
    /// when every interval is valid (however far in the past or future), an
    /// add that keeps the pool's invariants.
    #[test]
    fn garbage_answers_never_panic_and_never_lose_the_cache(
        valid_part in prop::collection::vec(garbage_interval(Just(Flaw::None)), 0..40),
        flawed in prop::option::of((any::<prop::sample::Index>(), garbage_interval(flaw()))),
        fetched_at in wild_seconds(),
        now in wild_seconds(),
        max_intervals in 0usize..1000,
    ) {
        let mut answer = valid_part;
        if let Some((position, interval)) = flawed {
            answer.insert(position.index(answer.len() + 1), interval);
        }
        let mut pool = cached_pool(max_intervals.max(480));
        pool.set_max_intervals(max_intervals, instant(CACHED_FROM + 4 * 86_400));
        let before = everything(&pool);
        let snapshot_before = pool.snapshot();
        let first_invalid = answer.iter().find_map(|iv| iv.validate().err());
        match pool.add(answer.clone(), instant(fetched_at), instant(now)) {
            Ok(_) => {
                prop_assert!(first_invalid.is_none(), "accepted an invalid interval");
                pool.check_invariants().map_err(TestCaseError::fail)?;
                // Everything in the answer survived unless GC evicted its group.
                let evicted_all = answer.iter().all(|iv| pool.current(iv.starts_at()).is_none());
                let kept_any = answer.iter().any(|iv| pool.get(iv.starts_at()).is_some());
                prop_assert!(answer.is_empty() || kept_any || evicted_all);
                // Every query around what was just cached answers.
                for iv in &answer {
                    let _ = pool.current(iv.starts_at());
                    let around = (iv.starts_at(), iv.starts_at() + Duration::minutes(1));
                    prop_assert!(pool.gaps(around.0, around.1).is_ok());
                    prop_assert!(pool.gaps(around.0, DateTime::<Utc>::MAX_UTC).is_ok());
                    prop_assert!(pool.gaps(DateTime::<Utc>::MIN_UTC, around.1).is_ok());
                }
                let stats = pool.stats(instant(now));
                prop_assert_eq!(stats.live_intervals, pool.len());
            }
            Err(error) => {
                prop_assert!(
                    matches!(
                        error,
                        PoolError::Interval(
                            IntervalError::OffGrid { .. }
                                | IntervalError::NonFinite { .. }
                                | IntervalError::OutOfRange { .. }
                        )
                    ),
                    "unexpected error {error:?}"
                );
                prop_assert!(first_invalid.is_some(), "rejected a valid answer: {error}");
                prop_assert_eq!(everything(&pool), before);
                prop_assert_eq!(pool.snapshot(), snapshot_before);
                pool.check_invariants().map_err(TestCaseError::fail)?;
            }
        }
    }

    /// Garbage queries answer or give `EmptyRange`; none changes the pool.
    #[test]
    fn garbage_queries_never_panic(
        start in wild_seconds(),
        end in wild_seconds(),
        start_nanos in prop_oneof![Just(0u32), 1u32..1_000_000_000],
        now in wild_seconds(),
    ) {
        let pool = cached_pool(960);
        let before = everything(&pool);
        let start = DateTime::from_timestamp(start, start_nanos).expect("in range");
        let end = instant(end);
        let span_years = (end - start).num_days() / 365;
        match pool.range(start, end) {
            Ok(found) => {
                prop_assert!(start < end);
                let found: Vec<&Interval> = found.collect();
                prop_assert!(found.iter().all(|iv| start <= iv.starts_at() && iv.starts_at() < end));
                prop_assert!(found.windows(2).all(|p| p[0].starts_at() < p[1].starts_at()));
            }
            Err(error) => {
                prop_assert!(start >= end);
                prop_assert!(matches!(error, PoolError::EmptyRange { .. }), "unexpected error {error:?}");
            }
        }
        // Gap detection walks the query; spans of thousands of years must still answer.
        match pool.gaps(start, end) {
            Ok(gaps) => {
                prop_assert!(start < end);
                prop_assert!(gaps.windows(2).all(|p| p[0].end <= p[1].start), "span {} years", span_years);
            }
            Err(error) => {
                prop_assert!(start >= end);
                prop_assert!(matches!(error, PoolError::EmptyRange { .. }), "unexpected error {:?}", error);
            }
        }
        let _ = pool.get(start);
        let _ = pool.current(start);
        let _ = pool.stats(instant(now));
        let _ = pool.expected_count(start, end.max(start));
        prop_assert_eq!(everything(&pool), before);
    }
}
