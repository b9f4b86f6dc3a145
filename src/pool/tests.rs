//! Unit tests for each rule of the pool, on real DST days in Europe/Berlin.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Europe::Berlin;

use super::days::local_day;
use super::*;

fn home() -> HomeInfo {
    HomeInfo {
        id: "home-1".into(),
        zone: Berlin,
        currency: "EUR".into(),
    }
}

fn pool(max_intervals: usize) -> Pool {
    Pool::new(
        home(),
        PoolConfig {
            max_intervals,
            ..PoolConfig::default()
        },
    )
}

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn date(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

/// A price that differs per instant and per `salt`, so a stale copy is visible.
fn price(start: DateTime<Utc>, salt: f64) -> f64 {
    (start.timestamp() / 900 % 97) as f64 / 100.0 + salt
}

/// Intervals over `[start, end)` at the resolution the market had then.
fn market(start: DateTime<Utc>, end: DateTime<Utc>, salt: f64) -> Vec<Interval> {
    let switch = days::local_midnight(Berlin, EUROPE_QUARTER_HOURLY_FROM);
    let mut out = Vec::new();
    let mut at = start;
    while at < end {
        let resolution = if at < switch {
            Resolution::Hour
        } else {
            Resolution::QuarterHour
        };
        out.push(Interval::new(
            at,
            resolution,
            price(at, salt),
            price(at, salt) * 0.7,
            price(at, salt) * 0.3,
            Some(PriceLevel::Normal),
        ));
        at += resolution.duration();
    }
    out
}

fn day(pool: &mut Pool, d: &str, fetched_at: &str, now: &str) -> AddOutcome {
    let (s, e) = local_day(Berlin, date(d));
    pool.add(market(s, e, 0.0), t(fetched_at), t(now)).unwrap()
}

#[test]
fn fall_back_day_holds_100_distinct_quarter_hours_in_order() {
    let mut p = pool(960);
    day(
        &mut p,
        "2025-10-26",
        "2025-10-25T12:00:00Z",
        "2025-10-26T08:00:00Z",
    );
    let (s, e) = local_day(Berlin, date("2025-10-26"));
    let got: Vec<Interval> = p.range(s, e).unwrap().copied().collect();
    assert_eq!(got.len(), 100);
    assert!(got.windows(2).all(|w| w[1].starts_at() == w[0].ends_at()));
    let two_am: Vec<String> = got
        .iter()
        .map(|iv| iv.starts_at().with_timezone(&Berlin).to_rfc3339())
        .filter(|s| s.starts_with("2025-10-26T02:00:00"))
        .collect();
    assert_eq!(
        two_am,
        vec!["2025-10-26T02:00:00+02:00", "2025-10-26T02:00:00+01:00"]
    );
    assert_eq!(p.gaps(s, e).unwrap(), vec![]);
    p.check_invariants().unwrap();
}

#[test]
fn spring_forward_day_holds_92_with_no_false_gap_at_two() {
    let mut p = pool(960);
    day(
        &mut p,
        "2026-03-29",
        "2026-03-28T12:00:00Z",
        "2026-03-29T08:00:00Z",
    );
    let (s, e) = local_day(Berlin, date("2026-03-29"));
    assert_eq!(p.range(s, e).unwrap().count(), 92);
    assert_eq!(p.gaps(s, e).unwrap(), vec![]);
    assert_eq!(p.expected_count(s, e), 92);
}

/// Adds 2025-09-30 (hourly) and 2025-10-01 (quarter-hourly) in Berlin as
/// one answer; returns the two days' span.
fn add_switch_days(pool: &mut Pool) -> (DateTime<Utc>, DateTime<Utc>) {
    let (s, _) = local_day(Berlin, date("2025-09-30"));
    let (_, e) = local_day(Berlin, date("2025-10-01"));
    let fetched_at = t("2025-10-01T00:00:00Z");
    pool.add(market(s, e, 0.0), fetched_at, fetched_at).unwrap();
    (s, e)
}

#[test]
fn the_switch_to_quarter_hours_mixes_24_hourly_and_96_quarter_hourly_without_false_gaps() {
    let mut p = pool(960);
    let (s, e) = add_switch_days(&mut p);
    let got: Vec<&Interval> = p.range(s, e).unwrap().collect();
    assert_eq!(
        got.iter()
            .filter(|iv| iv.resolution == Resolution::Hour)
            .count(),
        24
    );
    assert_eq!(
        got.iter()
            .filter(|iv| iv.resolution == Resolution::QuarterHour)
            .count(),
        96
    );
    assert_eq!(p.gaps(s, e).unwrap(), vec![]);
    // Without data, the switch date alone says where hours end and quarter-hours begin.
    let empty = pool(960);
    let gaps = empty.gaps(s, e).unwrap();
    assert_eq!(
        gaps,
        vec![
            Gap {
                start: s,
                end: t("2025-09-30T22:00:00Z"),
                resolution: Resolution::Hour
            },
            Gap {
                start: t("2025-09-30T22:00:00Z"),
                end: e,
                resolution: Resolution::QuarterHour
            },
        ]
    );
}

#[test]
fn a_start_off_the_grid_returns_the_next_slot_first_and_no_leading_gap() {
    let mut p = pool(960);
    day(
        &mut p,
        "2026-01-15",
        "2026-01-14T12:00:00Z",
        "2026-01-15T08:00:00Z",
    );
    let start = t("2026-01-15T14:47:00.167+01:00");
    let end = t("2026-01-15T16:00:00+01:00");
    let first = p.range(start, end).unwrap().next().unwrap();
    assert_eq!(first.starts_at(), t("2026-01-15T15:00:00+01:00"));
    assert_eq!(p.range(start, end).unwrap().count(), 4);
    assert_eq!(p.gaps(start, end).unwrap(), vec![]);
    // The slot containing the start is not requested, so its absence is no gap either.
    let mut sparse = pool(960);
    let only_15 = market(t("2026-01-15T15:00:00+01:00"), end, 0.0);
    sparse
        .add(
            only_15,
            t("2026-01-15T00:00:00Z"),
            t("2026-01-15T00:00:00Z"),
        )
        .unwrap();
    assert_eq!(sparse.gaps(start, end).unwrap(), vec![]);
}

#[test]
fn gaps_are_leading_inner_and_trailing_and_minimal() {
    let mut p = pool(960);
    let a = market(t("2026-01-15T10:00:00Z"), t("2026-01-15T11:00:00Z"), 0.0);
    let b = market(t("2026-01-15T12:00:00Z"), t("2026-01-15T12:30:00Z"), 0.0);
    p.add(a, t("2026-01-15T00:00:00Z"), t("2026-01-15T00:00:00Z"))
        .unwrap();
    p.add(b, t("2026-01-15T00:00:01Z"), t("2026-01-15T00:00:00Z"))
        .unwrap();
    let gaps = p
        .gaps(t("2026-01-15T09:30:00Z"), t("2026-01-15T13:07:00Z"))
        .unwrap();
    let q = Resolution::QuarterHour;
    assert_eq!(
        gaps,
        vec![
            Gap {
                start: t("2026-01-15T09:30:00Z"),
                end: t("2026-01-15T10:00:00Z"),
                resolution: q
            },
            Gap {
                start: t("2026-01-15T11:00:00Z"),
                end: t("2026-01-15T12:00:00Z"),
                resolution: q
            },
            Gap {
                start: t("2026-01-15T12:30:00Z"),
                end: t("2026-01-15T13:15:00Z"),
                resolution: q
            },
        ]
    );
}

#[test]
fn an_hourly_hole_shorter_than_an_hour_is_no_gap() {
    let mut p = pool(960);
    let hours = market(t("2025-06-01T10:00:00Z"), t("2025-06-01T14:00:00Z"), 0.0);
    p.add(hours, t("2025-06-02T00:00:00Z"), t("2025-06-02T00:00:00Z"))
        .unwrap();
    // [10:30, 13:45): every hour starting inside is cached; 10:00 covers 10:30.
    assert_eq!(
        p.gaps(t("2025-06-01T10:30:00Z"), t("2025-06-01T13:45:00Z"))
            .unwrap(),
        vec![]
    );
    // Past the data, only whole hours count: [14:00, 14:40) needs the 14:00 hour.
    let gaps = p
        .gaps(t("2025-06-01T13:30:00Z"), t("2025-06-01T14:40:00Z"))
        .unwrap();
    assert_eq!(
        gaps,
        vec![Gap {
            start: t("2025-06-01T14:00:00Z"),
            end: t("2025-06-01T15:00:00Z"),
            resolution: Resolution::Hour
        }]
    );
    // A query starting at 14:10 does not include the 14:00 hour, and no other hour starts before 14:40.
    assert_eq!(
        p.gaps(t("2025-06-01T14:10:00Z"), t("2025-06-01T14:40:00Z"))
            .unwrap(),
        vec![]
    );
}

#[test]
fn re_adding_touches_instead_of_duplicating_and_the_fresh_price_wins() {
    let mut p = pool(960);
    let (s, e) = local_day(Berlin, date("2026-01-15"));
    let first = p
        .add(
            market(s, e, 0.0),
            t("2026-01-14T12:00:00Z"),
            t("2026-01-15T08:00:00Z"),
        )
        .unwrap();
    assert_eq!((first.added, first.touched), (96, 0));
    let second = p
        .add(
            market(s, e, 1.0),
            t("2026-01-15T12:00:00Z"),
            t("2026-01-15T12:00:00Z"),
        )
        .unwrap();
    assert_eq!(
        (second.added, second.touched, second.dead_dropped),
        (0, 96, 96)
    );
    assert_eq!(p.len(), 96);
    assert_eq!(p.n_groups(), 1, "the old group emptied and was dropped");
    assert!(
        p.range(s, e)
            .unwrap()
            .all(|iv| iv.total == price(iv.starts_at(), 1.0))
    );
    p.check_invariants().unwrap();
}

#[test]
fn a_partial_overlap_moves_only_the_touched_intervals() {
    let mut p = pool(960);
    p.add(
        market(t("2026-01-15T00:00:00Z"), t("2026-01-15T02:00:00Z"), 0.0),
        t("2026-01-15T00:00:00Z"),
        t("2026-01-15T00:00:00Z"),
    )
    .unwrap();
    let out = p
        .add(
            market(t("2026-01-15T01:00:00Z"), t("2026-01-15T03:00:00Z"), 1.0),
            t("2026-01-15T01:00:00Z"),
            t("2026-01-15T00:00:00Z"),
        )
        .unwrap();
    assert_eq!((out.added, out.touched), (4, 4));
    assert_eq!(p.len(), 12);
    assert_eq!(p.n_groups(), 2);
    assert_eq!(
        p.get(t("2026-01-15T00:45:00Z")).unwrap().total,
        price(t("2026-01-15T00:45:00Z"), 0.0)
    );
    assert_eq!(
        p.get(t("2026-01-15T01:00:00Z")).unwrap().total,
        price(t("2026-01-15T01:00:00Z"), 1.0)
    );
    p.check_invariants().unwrap();
}

#[test]
fn fresh_quarter_hours_replace_an_overlapping_cached_hour() {
    let mut p = pool(960);
    let mut hour = market(t("2026-01-15T10:00:00Z"), t("2026-01-15T10:15:00Z"), 0.0)[0];
    hour.resolution = Resolution::Hour;
    p.add(
        vec![hour],
        t("2026-01-15T00:00:00Z"),
        t("2026-01-15T00:00:00Z"),
    )
    .unwrap();
    let quarter = market(t("2026-01-15T10:30:00Z"), t("2026-01-15T10:45:00Z"), 1.0);
    let out = p
        .add(
            quarter,
            t("2026-01-15T01:00:00Z"),
            t("2026-01-15T00:00:00Z"),
        )
        .unwrap();
    assert_eq!((out.added, out.touched), (1, 1));
    assert_eq!(p.len(), 1);
    assert_eq!(p.current(t("2026-01-15T10:05:00Z")), None);
    assert_eq!(
        p.current(t("2026-01-15T10:35:00Z")).unwrap().starts_at(),
        t("2026-01-15T10:30:00Z")
    );
    p.check_invariants().unwrap();
}

#[test]
fn current_respects_each_intervals_own_duration() {
    let mut p = pool(960);
    let (_, e) = add_switch_days(&mut p);
    let hourly = p.current(t("2025-09-30T14:59:59+02:00")).unwrap();
    assert_eq!(
        (hourly.starts_at(), hourly.resolution),
        (t("2025-09-30T14:00:00+02:00"), Resolution::Hour)
    );
    let quarter = p.current(t("2025-10-01T14:59:59.999+02:00")).unwrap();
    assert_eq!(
        (quarter.starts_at(), quarter.resolution),
        (t("2025-10-01T14:45:00+02:00"), Resolution::QuarterHour)
    );
    assert!(p.current(e).is_none());
    assert!(p.get(t("2025-10-01T14:50:00+02:00")).is_none());
}

#[test]
fn eviction_on_a_dst_day_spares_the_whole_protected_window() {
    // now: Monday 2025-10-27 local; window Saturday 25th 00:00 to Wednesday 29th 00:00, Sunday has 25 hours.
    let now = "2025-10-27T09:00:00Z";
    let mut p = pool(96 * 2);
    for (i, d) in ["2025-10-10", "2025-10-11", "2025-10-12"]
        .iter()
        .enumerate()
    {
        day(&mut p, d, &format!("2025-10-20T0{i}:00:00Z"), now);
    }
    for (i, d) in ["2025-10-25", "2025-10-26", "2025-10-27", "2025-10-28"]
        .iter()
        .enumerate()
    {
        day(&mut p, d, &format!("2025-10-2{i}T01:00:00Z"), now);
    }
    let (ws, we) = p.protected_window(t(now));
    assert_eq!(p.range(ws, we).unwrap().count(), 96 + 100 + 96 + 96);
    assert_eq!(p.len(), 388, "every unprotected group went, oldest first");
    let stats = p.stats(t(now));
    assert!(stats.gc_blocked_by_protection);
    assert_eq!(
        (stats.protected_window.held, stats.protected_window.expected),
        (388, 388)
    );
    assert_eq!(stats.evicted_groups_total, 3);
    p.check_invariants().unwrap();
}

#[test]
fn eviction_takes_oldest_fetched_first_and_stops_at_the_limit() {
    let now = "2026-02-20T09:00:00Z";
    let mut p = pool(96 * 2);
    day(&mut p, "2026-01-12", "2026-01-13T00:00:00Z", now);
    day(&mut p, "2026-01-10", "2026-01-14T00:00:00Z", now);
    day(&mut p, "2026-01-11", "2026-01-15T00:00:00Z", now);
    let (s, e) = local_day(Berlin, date("2026-01-12"));
    assert_eq!(
        p.range(s, e).unwrap().count(),
        0,
        "the oldest fetch went first, not the oldest day"
    );
    assert_eq!(p.len(), 192);
    assert!(!p.stats(t(now)).gc_blocked_by_protection);
    p.check_invariants().unwrap();
}

#[test]
fn a_pool_whose_groups_are_all_protected_stays_above_the_limit_and_says_so() {
    let now = "2026-01-15T09:00:00Z";
    let mut p = pool(10);
    let out = day(&mut p, "2026-01-15", "2026-01-15T08:00:00Z", now);
    assert_eq!(out.evicted_intervals, 0);
    assert_eq!(p.len(), 96);
    assert!(p.stats(t(now)).gc_blocked_by_protection);
    p.check_invariants().unwrap();
}

#[test]
fn bad_input_is_a_typed_error_and_loses_nothing() {
    let mut p = pool(960);
    day(
        &mut p,
        "2026-01-15",
        "2026-01-14T12:00:00Z",
        "2026-01-15T08:00:00Z",
    );
    let before = p.snapshot();
    let (s, e) = local_day(Berlin, date("2026-01-16"));
    let mut nan = market(s, e, 0.0);
    nan[5].total = f64::NAN;
    assert!(matches!(
        p.add(nan, t("2026-01-15T12:00:00Z"), t("2026-01-15T12:00:00Z")),
        Err(PoolError::Interval(IntervalError::NonFinite { .. }))
    ));
    let mut off_grid = market(s, e, 0.0);
    let moved = off_grid[3].starts_at() + Duration::minutes(7);
    off_grid[3].set_starts_at(moved);
    assert!(matches!(
        p.add(
            off_grid,
            t("2026-01-15T12:00:00Z"),
            t("2026-01-15T12:00:00Z")
        ),
        Err(PoolError::Interval(IntervalError::OffGrid { .. }))
    ));
    assert!(matches!(p.range(e, s), Err(PoolError::EmptyRange { .. })));
    assert!(matches!(p.gaps(s, s), Err(PoolError::EmptyRange { .. })));
    assert_eq!(p.snapshot(), before);
    p.check_invariants().unwrap();
}

#[test]
fn duplicate_instants_in_one_answer_keep_the_last() {
    let mut p = pool(960);
    let mut answer = market(t("2026-01-15T10:00:00Z"), t("2026-01-15T11:00:00Z"), 0.0);
    let mut again = answer[1];
    again.total = 9.0;
    answer.push(again);
    let out = p
        .add(answer, t("2026-01-15T12:00:00Z"), t("2026-01-15T12:00:00Z"))
        .unwrap();
    assert_eq!((out.added, out.duplicates_in_answer), (4, 1));
    assert_eq!(p.get(t("2026-01-15T10:15:00Z")).unwrap().total, 9.0);
}

#[test]
fn snapshot_round_trips_losslessly() {
    let now = t("2026-01-15T09:00:00Z");
    let mut p = pool(960);
    day(
        &mut p,
        "2026-01-14",
        "2026-01-14T12:00:00Z",
        "2026-01-15T09:00:00Z",
    );
    p.add(
        market(
            t("2026-01-15T10:00:00Z"),
            t("2026-01-15T20:00:00Z"),
            0.123_456_789_012_3,
        ),
        t("2026-01-15T08:00:00Z"),
        now,
    )
    .unwrap();
    let snapshot = p.snapshot();
    let json = serde_json::to_string(&snapshot).unwrap();
    let back: PoolSnapshot = serde_json::from_str(&json).unwrap();
    assert_eq!(back, snapshot);
    let restored = Pool::restore(home(), p.config().clone(), back, now).unwrap();
    assert_eq!(restored.snapshot(), snapshot);
    assert_eq!(restored.n_groups(), 2);
    assert_eq!(restored.stats(now), p.stats(now));
}

#[test]
fn stats_report_the_protected_window_and_the_oldest_and_newest() {
    let now = t("2025-10-27T09:00:00Z");
    let mut p = pool(960);
    day(
        &mut p,
        "2025-10-26",
        "2025-10-26T10:00:00Z",
        "2025-10-27T09:00:00Z",
    );
    let stats = p.stats(now);
    assert_eq!(stats.live_intervals, 100);
    assert_eq!(stats.dead_intervals, 0);
    assert_eq!(stats.protected_window.held, 100);
    assert_eq!(stats.protected_window.expected, 96 + 100 + 96 + 96);
    assert_eq!(stats.oldest_starts_at, Some(t("2025-10-26T00:00:00+02:00")));
    assert_eq!(stats.newest_starts_at, Some(t("2025-10-26T23:45:00+01:00")));
    assert_eq!(stats.last_fetch, Some(t("2025-10-26T10:00:00Z")));
}

#[test]
fn lowering_the_limit_evicts_the_oldest_unprotected_groups_at_once() {
    let mut p = pool(2000);
    for (d, fetched) in [
        ("2026-01-05", "2026-01-04T12:00:00Z"),
        ("2026-01-06", "2026-01-05T12:00:00Z"),
        ("2026-01-14", "2026-01-13T12:00:00Z"),
        ("2026-01-15", "2026-01-14T12:00:00Z"),
    ] {
        day(&mut p, d, fetched, "2026-01-15T12:00:00Z");
    }
    assert_eq!(p.len(), 4 * 96);
    let outcome = p.set_max_intervals(100, t("2026-01-15T12:00:00Z"));
    assert_eq!(
        (outcome.evicted_groups, outcome.evicted_intervals),
        (2, 192)
    );
    let (s, _) = local_day(Berlin, date("2026-01-14"));
    assert_eq!(p.range(s, s + Duration::days(2)).unwrap().count(), 192);
    assert!(p.stats(t("2026-01-15T12:00:00Z")).gc_blocked_by_protection);
    p.check_invariants().unwrap();
}

#[test]
fn the_revision_changes_with_the_live_intervals_and_only_then() {
    let mut pool = pool(192);
    let empty = pool.revision();
    assert_ne!(
        empty,
        self::pool(192).revision(),
        "two pools never share one"
    );

    day(
        &mut pool,
        "2025-11-10",
        "2025-11-18T12:00:00Z",
        "2025-11-20T12:00:00Z",
    );
    let one_day = pool.revision();
    assert_ne!(one_day, empty);

    // Reads and a limit change that evicts nothing leave it alone.
    let (start, end) = (t("2025-11-09T23:00:00Z"), t("2025-11-10T23:00:00Z"));
    let _ = pool.range(start, end).map(|it| it.count());
    let _ = pool.gaps(start, end);
    let _ = pool.stats(t("2025-11-20T12:00:00Z"));
    pool.set_max_intervals(500, t("2025-11-20T12:00:00Z"));
    assert_eq!(pool.revision(), one_day);

    // An answer that only touches (same prices again) may have changed
    // nothing, but counts: the revision is a "may have changed".
    day(
        &mut pool,
        "2025-11-10",
        "2025-11-19T12:00:00Z",
        "2025-11-20T12:00:00Z",
    );
    let touched = pool.revision();
    assert_ne!(touched, one_day);

    // Eviction by a lower limit changes it.
    day(
        &mut pool,
        "2025-11-11",
        "2025-11-19T13:00:00Z",
        "2025-11-20T12:00:00Z",
    );
    let two_days = pool.revision();
    let outcome = pool.set_max_intervals(96, t("2025-11-20T12:00:00Z"));
    assert!(outcome.evicted_groups > 0);
    assert_ne!(pool.revision(), two_days);

    // A clone starts at the same revision (same content) and diverges on change.
    let mut clone = pool.clone();
    assert_eq!(clone.revision(), pool.revision());
    day(
        &mut clone,
        "2025-11-12",
        "2025-11-20T13:00:00Z",
        "2025-11-20T12:00:00Z",
    );
    day(
        &mut pool,
        "2025-11-12",
        "2025-11-20T13:00:00Z",
        "2025-11-20T12:00:00Z",
    );
    assert_ne!(clone.revision(), pool.revision());
}

/// Runs of quarter-hours or hours, one per group, that may overlap each
/// other (or, with `scramble`, be out of order inside a group).
fn snapshot_strategy() -> impl proptest::strategy::Strategy<Value = (PoolSnapshot, usize, i64)> {
    use proptest::prelude::*;
    let group = (
        0_i64..600,
        1_usize..150,
        any::<bool>(),
        0_i64..4,
        any::<bool>(),
        any::<u8>(),
    );
    (
        proptest::collection::vec(group, 0..7),
        1_usize..700,
        0_i64..700,
    )
        .prop_map(|(groups, max_intervals, now_slot)| {
            let base = t("2026-01-05T00:00:00Z");
            let groups = groups
                .into_iter()
                .map(|(start_slot, n, hourly, fetched_hours, scramble, salt)| {
                    let resolution = if hourly {
                        Resolution::Hour
                    } else {
                        Resolution::QuarterHour
                    };
                    let start = base + Duration::minutes(15 * start_slot);
                    let mut intervals: Vec<Interval> = (0..n as i32)
                        .map(|k| {
                            let starts_at = start + resolution.duration() * k;
                            Interval::new(
                                starts_at,
                                resolution,
                                price(starts_at, f64::from(salt)),
                                0.1,
                                0.2,
                                None,
                            )
                        })
                        .collect();
                    if scramble {
                        intervals.reverse();
                    }
                    GroupSnapshot {
                        fetched_at: base + Duration::hours(fetched_hours),
                        intervals,
                    }
                })
                .collect();
            let snapshot = PoolSnapshot {
                groups,
                last_fetch: None,
            };
            (snapshot, max_intervals, now_slot)
        })
}

proptest::proptest! {
    #[test]
    fn direct_restore_matches_restoring_by_adding(
        (snapshot, max_intervals, now_slot) in snapshot_strategy()
    ) {
        let config = PoolConfig { max_intervals, ..PoolConfig::default() };
        let now = t("2026-01-05T00:00:00Z") + Duration::minutes(15 * now_slot);
        let direct = Pool::restore(home(), config.clone(), snapshot.clone(), now).unwrap();
        let added = Pool::restore_by_adding(home(), config, snapshot, now).unwrap();
        direct.check_invariants().map_err(proptest::test_runner::TestCaseError::fail)?;
        proptest::prop_assert_eq!(direct.snapshot(), added.snapshot());
        proptest::prop_assert_eq!(direct.stats(now), added.stats(now));
        proptest::prop_assert_eq!(direct.next_seq, added.next_seq);
        proptest::prop_assert_eq!(direct.gc_blocked, added.gc_blocked);
        proptest::prop_assert_eq!(direct.evicted_groups_total, added.evicted_groups_total);
        proptest::prop_assert_eq!(direct.last_fetch(), added.last_fetch());
    }
}

#[test]
fn snapshots_the_pool_writes_take_the_direct_restore() {
    // Several fetches over the same days (touches, partial overlaps) and a
    // lower limit: whatever the pool holds is disjoint and in order.
    let mut pool = pool(300);
    for (d, fetched) in [
        ("2026-01-05", "2026-01-05T12:00:00Z"),
        ("2026-01-06", "2026-01-06T12:00:00Z"),
        ("2026-01-05", "2026-01-07T12:00:00Z"),
        ("2026-01-07", "2026-01-07T13:00:00Z"),
    ] {
        day(&mut pool, d, fetched, "2026-01-07T13:00:00Z");
    }
    let mut groups = pool.snapshot().groups;
    assert!(groups.len() >= 2);
    assert!(snapshot::is_disjoint_and_in_order(&groups));
    // A hand-made overlap or a group out of order is not.
    let mut reversed = groups.clone();
    reversed[0].intervals.reverse();
    assert!(!snapshot::is_disjoint_and_in_order(&reversed));
    let copy = groups[0].clone();
    groups.push(copy);
    assert!(!snapshot::is_disjoint_and_in_order(&groups));
}
