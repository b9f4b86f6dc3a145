//! Property tests: the pool against a naive model.
//!
//! The model is a `BTreeMap` from start instant (unix seconds) to the latest
//! interval cached there and the fetch group (arrival number) that holds it.
//! It is written from the rules in DESIGN.md and the module docs, by brute
//! force, sharing no code with the pool:
//!
//! - **add**: inside one answer a later interval replaces any earlier one it
//!   overlaps; each fresh interval then replaces every cached interval it
//!   overlaps (touched), and counts as added when nothing was cached at its
//!   own start.
//! - **GC** (after every add): while more than `max_intervals` live
//!   intervals remain, evict whole groups, oldest `(fetched_at, arrival)`
//!   first, skipping every group that holds an interval starting in the
//!   protected window (local midnight of the day before yesterday up to
//!   local midnight after tomorrow, found here by stepping quarter-hours
//!   until the local date changes).
//! - **gaps**: the "expected slots" of `src/pool/gaps.rs`'s module doc. The
//!   missing slots of `[start, end)` (15-minute grid slots starting in the
//!   query and covered by no cached interval) form runs, split at the
//!   hourly → quarter-hourly switch (local midnight of `quarter_hourly_from`).
//!   A run's expected resolution is that of the cached interval ending where
//!   it starts (unless it starts at the switch), else that of the cached
//!   interval starting where it ends inside the query (unless it ends at the
//!   switch), else hourly before the switch and quarter-hourly from it. A
//!   quarter-hourly run is a gap as it stands; an hourly run yields the
//!   whole local hours (local minute 0) that start in the run and the query
//!   and end by the run's border (a cached interval or the switch; a run
//!   that reaches the query's end has no border). No whole expected
//!   interval, no gap.
//!
//!
//! After each case the pool's snapshot, through JSON, must restore the same
//! groups and intervals. Bad input is covered in `bad_input.rs`.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Days, Duration, NaiveDate, Timelike, Utc};
use chrono_tz::Tz;
use proptest::prelude::*;

use pricepool::pool::{
    AddOutcome, EUROPE_QUARTER_HOURLY_FROM, Gap, HomeInfo, Interval, Pool, PoolConfig, PriceLevel,
    Resolution,
};

const QUARTER: i64 = 900;
const HOUR: i64 = 3600;

/// Zones with 23/25-hour days on different dates (Berlin and London on
/// 2025-10-26 and 2026-03-29, New York on 2025-11-02 and 2026-03-08,
/// Adelaide on 2025-10-05 and 2026-04-05, with half-hour offsets) and one
/// without DST but with a half-hour offset (Kolkata).
const ZONES: [Tz; 5] = [
    chrono_tz::Europe::Berlin,
    chrono_tz::Europe::London,
    chrono_tz::America::New_York,
    chrono_tz::Asia::Kolkata,
    chrono_tz::Australia::Adelaide,
];

/// The stretches of time the generated data lives in: around the switch to
/// quarter-hours and the autumn DST days, and around the spring DST days.
const WINDOWS: [(&str, i64); 2] = [
    ("2025-09-22T00:00:00Z", 48 * 96),
    ("2026-03-02T00:00:00Z", 40 * 96),
];

fn instant(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(secs, 0).expect("test instants are in chrono's range")
}

/// The first quarter-hour instant whose local date in `zone` is `date` or
/// later, found by stepping (independent of the pool's `local_midnight`).
fn naive_local_midnight(zone: Tz, date: NaiveDate) -> i64 {
    let mut secs = date.and_hms_opt(0, 0, 0).unwrap().and_utc().timestamp() - 2 * 86_400;
    while instant(secs).with_timezone(&zone).date_naive() < date {
        secs += QUARTER;
    }
    secs
}

fn naive_protected_window(zone: Tz, now: i64) -> (i64, i64) {
    let today = instant(now).with_timezone(&zone).date_naive();
    (
        naive_local_midnight(zone, today - Days::new(2)),
        naive_local_midnight(zone, today + Days::new(2)),
    )
}

fn is_local_hour_start(zone: Tz, secs: i64) -> bool {
    instant(secs).with_timezone(&zone).minute() == 0
}

fn end_of(interval: &Interval) -> i64 {
    interval.starts_at().timestamp() + interval.resolution.seconds()
}

/// One cached interval in the model and the group (arrival number) holding it.
#[derive(Debug, Clone, Copy)]
struct Cached {
    interval: Interval,
    arrival: u64,
}

/// The naive model of one home's pool.
struct Model {
    zone: Tz,
    max_intervals: usize,
    switch: i64,
    by_start: BTreeMap<i64, Cached>,
    fetched_at_of: HashMap<u64, i64>,
    next_arrival: u64,
    gc_blocked: bool,
}

impl Model {
    fn new(zone: Tz, max_intervals: usize) -> Model {
        Model {
            zone,
            max_intervals,
            switch: naive_local_midnight(zone, EUROPE_QUARTER_HOURLY_FROM),
            by_start: BTreeMap::new(),
            fetched_at_of: HashMap::new(),
            next_arrival: 0,
            gc_blocked: false,
        }
    }

    /// Cached starts whose interval overlaps `[start, end)`.
    fn overlapping(map: &BTreeMap<i64, Interval>, start: i64, end: i64) -> Vec<i64> {
        map.range(start - HOUR + 1..end)
            .filter(|(s, iv)| **s < end && start < end_of(iv))
            .map(|(s, _)| *s)
            .collect()
    }

    fn add(&mut self, answer: &[Interval], fetched_at: i64, now: i64) -> AddOutcome {
        let mut fresh: BTreeMap<i64, Interval> = BTreeMap::new();
        for interval in answer {
            let start = interval.starts_at().timestamp();
            for s in Self::overlapping(&fresh, start, end_of(interval)) {
                fresh.remove(&s);
            }
            fresh.insert(start, *interval);
        }
        let mut outcome = AddOutcome {
            duplicates_in_answer: answer.len() - fresh.len(),
            ..AddOutcome::default()
        };
        let arrival = self.next_arrival;
        if !fresh.is_empty() {
            self.next_arrival += 1;
            self.fetched_at_of.insert(arrival, fetched_at);
        }
        for (start, interval) in fresh {
            let cached: BTreeMap<i64, Interval> = self
                .by_start
                .range(start - HOUR + 1..end_of(&interval))
                .map(|(s, c)| (*s, c.interval))
                .collect();
            let replaced = Self::overlapping(&cached, start, end_of(&interval));
            outcome.touched += replaced.len();
            outcome.dead_dropped += replaced.len();
            if !replaced.contains(&start) {
                outcome.added += 1;
            }
            for s in replaced {
                self.by_start.remove(&s);
            }
            self.by_start.insert(start, Cached { interval, arrival });
        }
        self.gc(now, &mut outcome);
        outcome
    }

    fn gc(&mut self, now: i64, outcome: &mut AddOutcome) {
        if self.by_start.len() <= self.max_intervals {
            self.gc_blocked = false;
            return;
        }
        let (window_start, window_end) = naive_protected_window(self.zone, now);
        let mut live_groups: BTreeSet<(i64, u64)> = BTreeSet::new();
        let mut protected: BTreeSet<u64> = BTreeSet::new();
        for (start, cached) in &self.by_start {
            live_groups.insert((self.fetched_at_of[&cached.arrival], cached.arrival));
            if (window_start..window_end).contains(start) {
                protected.insert(cached.arrival);
            }
        }
        for (_, arrival) in live_groups {
            if self.by_start.len() <= self.max_intervals {
                break;
            }
            if protected.contains(&arrival) {
                continue;
            }
            let before = self.by_start.len();
            self.by_start.retain(|start, cached| {
                let evict = cached.arrival == arrival;
                assert!(
                    !(evict && (window_start..window_end).contains(start)),
                    "model evicted a protected interval"
                );
                !evict
            });
            outcome.evicted_groups += 1;
            outcome.evicted_intervals += before - self.by_start.len();
        }
        self.gc_blocked = self.by_start.len() > self.max_intervals;
    }

    fn range(&self, start: DateTime<Utc>, end: DateTime<Utc>) -> Vec<Interval> {
        self.by_start
            .values()
            .map(|c| c.interval)
            .filter(|iv| start <= iv.starts_at() && iv.starts_at() < end)
            .collect()
    }

    fn containing(&self, secs: i64) -> Option<&Interval> {
        self.by_start
            .range(..=secs)
            .next_back()
            .map(|(_, c)| &c.interval)
            .filter(|iv| end_of(iv) > secs)
    }

    fn ending_at(&self, secs: i64) -> Option<Resolution> {
        self.by_start
            .values()
            .find(|c| end_of(&c.interval) == secs)
            .map(|c| c.interval.resolution)
    }

    /// The gaps of `[start, end)` per the rules in this file's doc.
    fn gaps(&self, start: DateTime<Utc>, end: DateTime<Utc>) -> Vec<Gap> {
        let ceil = |t: DateTime<Utc>| {
            let secs = t.timestamp();
            let floor = secs.div_euclid(QUARTER) * QUARTER;
            if floor == secs && t.timestamp_subsec_nanos() == 0 {
                floor
            } else {
                floor + QUARTER
            }
        };
        let (first_slot, end_slot) = (ceil(start), ceil(end));
        // Runs of missing slots as [first, end) in seconds, split at the switch.
        let mut runs: Vec<(i64, i64)> = Vec::new();
        let mut slot = first_slot;
        while slot < end_slot {
            let missing = self.containing(slot).is_none();
            if missing {
                match runs.last_mut() {
                    Some((_, run_end)) if *run_end == slot && slot != self.switch => {
                        *run_end += QUARTER
                    }
                    _ => runs.push((slot, slot + QUARTER)),
                }
            }
            slot += QUARTER;
        }
        let mut gaps = Vec::new();
        for (run_first, run_end) in runs {
            let bounded = run_end < end_slot;
            let before = self
                .ending_at(run_first)
                .filter(|_| run_first != self.switch);
            let after = self
                .by_start
                .get(&run_end)
                .map(|c| c.interval.resolution)
                .filter(|_| run_end < end_slot && run_end != self.switch);
            let by_switch = if run_first < self.switch {
                Resolution::Hour
            } else {
                Resolution::QuarterHour
            };
            match before.or(after).unwrap_or(by_switch) {
                Resolution::QuarterHour => gaps.push(Gap {
                    start: instant(run_first),
                    end: instant(run_end),
                    resolution: Resolution::QuarterHour,
                }),
                Resolution::Hour => {
                    let hours: Vec<i64> = (run_first..run_end.max(end.timestamp() + 1))
                        .step_by(QUARTER as usize)
                        .filter(|&h| is_local_hour_start(self.zone, h))
                        .filter(|&h| instant(h) < end)
                        .filter(|&h| !bounded || h + HOUR <= run_end)
                        .collect();
                    if let (Some(first), Some(last)) = (hours.first(), hours.last()) {
                        gaps.push(Gap {
                            start: instant(*first),
                            end: instant(last + HOUR),
                            resolution: Resolution::Hour,
                        });
                    }
                }
            }
        }
        gaps
    }
}

/// How an answer's resolutions are chosen.
#[derive(Debug, Clone, Copy)]
enum Shape {
    /// What the market had: local hours before the switch, quarter-hours after.
    Market,
    /// Quarter-hours only, even before the switch.
    Quarters,
    /// Hours stepping from any grid instant, even after the switch.
    Hours,
    /// Whole local days (as the fetch coordinator asks for them) from the
    /// local date of the start, at the market's resolution.
    Days(u64),
}

/// One upstream answer to add; slots count quarter-hours from the window's start.
#[derive(Debug, Clone)]
struct AddOp {
    start_slot: i64,
    n_intervals: usize,
    shape: Shape,
    salt: u16,
    /// (position in the answer, salt) of extra copies appended at the end.
    duplicates: Vec<(usize, u16)>,
    reversed: bool,
    fetched_at_slot: i64,
    now_slot: i64,
}

#[derive(Debug, Clone)]
enum Op {
    Add(AddOp),
    /// An empty answer: only GC runs, at a new `now`.
    Gc {
        now_slot: i64,
    },
    Query {
        start_secs: i64,
        /// Seconds after `start_secs`, at least 1.
        end_secs: i64,
    },
    Point {
        secs: i64,
    },
}

/// A slot in the window; a third of them near 2025-10-01, where every zone's
/// switch to quarter-hours lies in the first window.
fn slot_strategy(window_slots: i64) -> impl Strategy<Value = i64> {
    prop_oneof![2 => 0..window_slots, 1 => 8 * 96..10 * 96i64]
}

/// A unit to snap a query bound to: none, the quarter-hour grid, or whole and
/// half UTC hours (local hours in every test zone).
fn unit_strategy() -> impl Strategy<Value = i64> {
    prop_oneof![Just(1i64), Just(QUARTER), Just(HOUR / 2), Just(HOUR)]
}

/// Seconds snapped to a random unit.
fn snapped(range: std::ops::Range<i64>) -> impl Strategy<Value = i64> {
    (range, unit_strategy()).prop_map(|(secs, unit)| secs.div_euclid(unit) * unit)
}

fn op_strategy(window_slots: i64) -> impl Strategy<Value = Op> {
    let shape = prop_oneof![
        6 => Just(Shape::Market),
        1 => Just(Shape::Quarters),
        1 => Just(Shape::Hours),
        4 => (1u64..4).prop_map(Shape::Days),
    ];
    let window_secs = window_slots * QUARTER;
    prop_oneof![
        6 => (
            slot_strategy(window_slots),
            1usize..500,
            shape,
            any::<u16>(),
            prop::collection::vec((any::<usize>(), any::<u16>()), 0..4),
            prop::bool::weighted(0.1),
            0..window_slots,
            0..window_slots,
        )
            .prop_map(
                |(start_slot, n_intervals, shape, salt, duplicates, reversed, fetched_at_slot, now_slot)| {
                    Op::Add(AddOp {
                        start_slot,
                        n_intervals,
                        shape,
                        salt,
                        duplicates,
                        reversed,
                        fetched_at_slot,
                        now_slot,
                    })
                }
            ),
        1 => (0..window_slots).prop_map(|now_slot| Op::Gc { now_slot }),
        6 => (
            prop_oneof![
                2 => snapped(-86_400..window_secs),
                1 => snapped(7 * 86_400..10 * 86_400),
            ],
            prop_oneof![1i64..10 * 86_400, 1i64..86_400],
            unit_strategy(),
        )
            .prop_map(|(start_secs, length, unit)| {
                let end_secs = (start_secs + length).div_euclid(unit) * unit;
                Op::Query { start_secs, end_secs: end_secs.max(start_secs + 1) }
            }),
        2 => (-86_400..window_secs).prop_map(|secs| Op::Point { secs }),
    ]
}

fn price(secs: i64, salt: u16) -> f64 {
    (secs / QUARTER % 89) as f64 / 100.0 + f64::from(salt) / 1000.0
}

fn interval(secs: i64, resolution: Resolution, salt: u16) -> Interval {
    Interval::new(
        instant(secs),
        resolution,
        price(secs, salt),
        price(secs, salt) * 0.75,
        price(secs, salt) * 0.25,
        (!salt.is_multiple_of(3)).then_some(PriceLevel::Normal),
    )
}

/// The answer an `Op::Add` stands for, in the order the upstream sends it.
fn answer(model: &Model, base: i64, op: &AddOp) -> Vec<Interval> {
    let mut at = base + op.start_slot * QUARTER;
    let (mut n_left, mut stop) = (op.n_intervals, i64::MAX);
    if let Shape::Days(n_days) = op.shape {
        let first_day = instant(at).with_timezone(&model.zone).date_naive();
        at = naive_local_midnight(model.zone, first_day);
        stop = naive_local_midnight(model.zone, first_day + Days::new(n_days));
        n_left = usize::MAX;
    }
    let mut out = Vec::new();
    while out.len() < n_left && at < stop {
        let resolution = match op.shape {
            Shape::Quarters => Resolution::QuarterHour,
            Shape::Hours => Resolution::Hour,
            Shape::Market | Shape::Days(_) if at >= model.switch => Resolution::QuarterHour,
            Shape::Market | Shape::Days(_) => {
                if !is_local_hour_start(model.zone, at) {
                    at += QUARTER;
                    continue;
                }
                Resolution::Hour
            }
        };
        out.push(interval(at, resolution, op.salt));
        at += resolution.seconds();
    }
    if op.reversed {
        out.reverse();
    }
    for (position, dup_salt) in &op.duplicates {
        let original = out[position % out.len()];
        out.push(interval(
            original.starts_at().timestamp(),
            original.resolution,
            *dup_salt,
        ));
    }
    out
}

fn home(zone: Tz) -> HomeInfo {
    HomeInfo {
        id: "prop-home".into(),
        zone,
        currency: "EUR".into(),
    }
}

fn everything(pool: &Pool) -> Vec<Interval> {
    pool.range(instant(0), instant(4_000_000_000))
        .expect("non-empty range")
        .copied()
        .collect()
}

/// Asserts the pool agrees with the model in content and figures.
fn assert_agrees(pool: &Pool, model: &Model, now: i64) -> Result<(), TestCaseError> {
    pool.check_invariants().map_err(TestCaseError::fail)?;
    let expected: Vec<Interval> = model.by_start.values().map(|c| c.interval).collect();
    prop_assert_eq!(everything(pool), expected);
    let stats = pool.stats(instant(now));
    prop_assert_eq!(stats.live_intervals, model.by_start.len());
    let n_groups = model
        .by_start
        .values()
        .map(|c| c.arrival)
        .collect::<BTreeSet<_>>()
        .len();
    prop_assert_eq!(stats.groups, n_groups);
    prop_assert_eq!(stats.dead_intervals, 0);
    prop_assert_eq!(stats.gc_blocked_by_protection, model.gc_blocked);
    let (window_start, window_end) = naive_protected_window(model.zone, now);
    prop_assert_eq!(
        (stats.protected_window.start, stats.protected_window.end),
        (instant(window_start), instant(window_end))
    );
    prop_assert_eq!(
        stats.protected_window.held,
        model.by_start.range(window_start..window_end).count()
    );
    prop_assert!(pool.len() <= model.max_intervals || stats.gc_blocked_by_protection);
    Ok(())
}

fn run_ops(
    zone: Tz,
    max_intervals: usize,
    window: usize,
    ops: Vec<Op>,
) -> Result<(), TestCaseError> {
    let (base_text, _) = WINDOWS[window];
    let base = DateTime::parse_from_rfc3339(base_text).unwrap().timestamp();
    let mut pool = Pool::new(
        home(zone),
        PoolConfig {
            max_intervals,
            quarter_hourly_from: EUROPE_QUARTER_HOURLY_FROM,
        },
    );
    let mut model = Model::new(zone, max_intervals);
    let mut now = base;
    // Every revision seen, with the content it stood for: a revision must
    // never stand for two different contents (the render cache relies on it).
    let mut contents_by_revision: BTreeMap<u64, Vec<Interval>> = BTreeMap::new();
    for op in ops {
        match &op {
            Op::Add(add) => {
                now = base + add.now_slot * QUARTER;
                let answer = answer(&model, base, add);
                let fetched_at = base + add.fetched_at_slot * QUARTER;
                let before: BTreeMap<i64, Cached> = model.by_start.clone();
                let (window_start, window_end) = naive_protected_window(zone, now);
                let got = pool
                    .add(answer.clone(), instant(fetched_at), instant(now))
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                let want = model.add(&answer, fetched_at, now);
                prop_assert_eq!(got, want, "outcome of {:?}", op);
                // Nothing in the protected window disappears unless a fresh copy replaced it.
                for (start, cached) in before.range(window_start..window_end) {
                    let kept = pool.get(instant(*start)).is_some();
                    let replaced = answer.iter().any(|fresh| {
                        fresh.starts_at() < cached.interval.ends_at()
                            && cached.interval.starts_at() < fresh.ends_at()
                    });
                    prop_assert!(kept || replaced, "protected interval at {} evicted", start);
                }
            }
            Op::Gc { now_slot } => {
                now = base + now_slot * QUARTER;
                let got = pool
                    .add(Vec::new(), instant(now), instant(now))
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                let want = model.add(&[], now, now);
                prop_assert_eq!(got, want);
            }
            Op::Query {
                start_secs,
                end_secs,
            } => {
                // Off-grid bounds, down to the millisecond.
                let start = instant(base + start_secs)
                    + Duration::milliseconds(i64::from(start_secs % QUARTER != 0) * 167);
                let end = instant(base + end_secs).max(start + Duration::seconds(1));
                let got: Vec<Interval> = pool.range(start, end).unwrap().copied().collect();
                prop_assert_eq!(got, model.range(start, end), "range {} .. {}", start, end);
                let gaps = pool.gaps(start, end).unwrap();
                prop_assert_eq!(&gaps, &model.gaps(start, end), "gaps {} .. {}", start, end);
                for gap in &gaps {
                    prop_assert!(gap.start < gap.end);
                    prop_assert!(gap.end - gap.start >= gap.resolution.duration());
                }
                for pair in gaps.windows(2) {
                    prop_assert!(pair[0].end <= pair[1].start, "gaps overlap: {:?}", pair);
                }
            }
            Op::Point { secs } => {
                let at = base + secs;
                let want_get = model.by_start.get(&at).map(|c| c.interval);
                prop_assert_eq!(pool.get(instant(at)).copied(), want_get);
                prop_assert_eq!(
                    pool.current(instant(at)).copied(),
                    model.containing(at).copied()
                );
            }
        }
        assert_agrees(&pool, &model, now)?;
        let content = everything(&pool);
        let seen = contents_by_revision
            .entry(pool.revision())
            .or_insert_with(|| content.clone());
        prop_assert_eq!(
            &*seen,
            &content,
            "revision {} after {:?}",
            pool.revision(),
            op
        );
    }
    // The snapshot, through JSON, restores the same intervals in the same groups.
    let json = serde_json::to_string(&pool.snapshot()).expect("snapshot serialises");
    let snapshot = serde_json::from_str(&json).expect("snapshot parses");
    let config = pool.config().clone();
    let restored = Pool::restore(home(zone), config, snapshot, instant(now))
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    restored.check_invariants().map_err(TestCaseError::fail)?;
    prop_assert_eq!(restored.snapshot(), pool.snapshot());
    prop_assert_eq!(everything(&restored), everything(&pool));
    Ok(())
}

fn case_strategy() -> impl Strategy<Value = (usize, usize, usize, Vec<Op>)> {
    (0..ZONES.len(), 0..WINDOWS.len(), 20usize..1200).prop_flat_map(|(zone, window, max)| {
        (
            Just(zone),
            Just(max),
            Just(window),
            prop::collection::vec(op_strategy(WINDOWS[window].1), 1..32),
        )
    })
}

proptest! {
    #![proptest_config(crate::config(64))]

    /// Random adds (overlapping ranges, both resolutions, duplicates inside an
    /// answer, random `fetched_at` and `now`), GC and queries agree with the
    /// naive model in every zone, and the pool's invariants hold after each step.
    #[test]
    fn pool_agrees_with_the_naive_model((zone, max, window, ops) in case_strategy()) {
        run_ops(ZONES[zone], max, window, ops)?;
    }
}
