//! Pool benchmarks: the hot paths the HTTP API and the fetch coordinator hit
//! on every request, each beside a `BTreeMap<i64, Interval>` baseline
//! measured in the same run so figures can be read as ratios, plus the
//! memory per live interval measured with a counting global allocator.
//!
//! Run: `cargo bench --bench pool -- --warm-up-time 1 --measurement-time 3`
//! Targets (2-core machine): 192-interval range ≤ 2 µs and the 10,000 pool
//! within 1.2× of the 960 one; point lookup ≤ 50 ns; add+GC of 384 ≤ 100 µs;
//! ≤ 64 bytes per live interval including the index.

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::atomic::{AtomicIsize, Ordering};

use chrono::{DateTime, Duration, Utc};
use criterion::{BatchSize, Criterion, criterion_group};

use pricepool::pool::{
    EUROPE_QUARTER_HOURLY_FROM, HomeInfo, Interval, Pool, PoolConfig, PriceLevel, Resolution,
};

/// Counts bytes currently allocated, so the memory figure is what the pool
/// really holds (capacity slack, boxes and hash tables included).
struct CountingAllocator;

/// Bytes allocated and not yet freed, across all threads.
static LIVE_BYTES: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator; the
// counter is only bookkeeping.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE_BYTES.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE_BYTES.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// Midnight UTC, 2026-01-05: quarter-hourly prices, no DST nearby.
const QUARTER_ERA: i64 = 1_767_571_200;
/// Midnight UTC, 2024-01-01: hourly prices.
const HOURLY_ERA: i64 = 1_704_067_200;

fn instant(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(secs, 0).expect("bench instants are in range")
}

fn interval(secs: i64, resolution: Resolution) -> Interval {
    let price = (secs / 900 % 97) as f64 / 100.0;
    Interval::new(
        instant(secs),
        resolution,
        price,
        price * 0.7,
        price * 0.3,
        Some(PriceLevel::Normal),
    )
}

/// `n` consecutive intervals of `resolution` from `from`.
fn series(from: i64, n: usize, resolution: Resolution) -> Vec<Interval> {
    (0..n as i64)
        .map(|i| interval(from + i * resolution.seconds(), resolution))
        .collect()
}

fn home() -> HomeInfo {
    HomeInfo {
        id: "bench-home".into(),
        zone: chrono_tz::Europe::Berlin,
        currency: "EUR".into(),
    }
}

/// A pool of `n` consecutive intervals from `from`, added one day's worth per
/// group (as the coordinator fetches them), with `max_intervals` = `n` and
/// `now` on its last day.
fn pool_of(from: i64, n: usize, resolution: Resolution) -> (Pool, DateTime<Utc>) {
    let mut pool = Pool::new(
        home(),
        PoolConfig {
            max_intervals: n,
            quarter_hourly_from: EUROPE_QUARTER_HOURLY_FROM,
        },
    );
    let per_day = (86_400 / resolution.seconds()) as usize;
    let all = series(from, n, resolution);
    let now = all.last().expect("n > 0").starts_at();
    for (day, chunk) in all.chunks(per_day).enumerate() {
        let fetched_at = instant(from + day as i64 * 86_400);
        pool.add(chunk.to_vec(), fetched_at, now)
            .expect("valid bench data");
    }
    assert_eq!(pool.len(), n);
    (pool, now)
}

fn baseline_of(pool: &Pool) -> BTreeMap<i64, Interval> {
    pool.range(instant(0), instant(4_000_000_000))
        .expect("non-empty range")
        .map(|iv| (iv.starts_at().timestamp(), *iv))
        .collect()
}

/// Bytes the pool holds per live interval, by the counting allocator.
fn measured_bytes_per_interval(from: i64, n: usize, resolution: Resolution) -> (f64, f64) {
    let before = LIVE_BYTES.load(Ordering::Relaxed);
    let (pool, _) = pool_of(from, n, resolution);
    let held = LIVE_BYTES.load(Ordering::Relaxed) - before;
    let per_interval = held as f64 / pool.len() as f64;
    let estimate = pool.heap_bytes() as f64 / pool.len() as f64;
    drop(pool);
    (per_interval, estimate)
}

fn report_memory() {
    for (label, from, n, resolution) in [
        (
            "quarter-hourly 960",
            QUARTER_ERA,
            960,
            Resolution::QuarterHour,
        ),
        (
            "quarter-hourly 10000",
            QUARTER_ERA,
            10_000,
            Resolution::QuarterHour,
        ),
        ("hourly-only 960", HOURLY_ERA, 960, Resolution::Hour),
        ("hourly-only 10000", HOURLY_ERA, 10_000, Resolution::Hour),
    ] {
        let (measured, estimate) = measured_bytes_per_interval(from, n, resolution);
        let verdict = if measured <= 64.0 { "ok" } else { "OVER" };
        println!(
            "memory {label}: {measured:.1} bytes per live interval (allocator), \
             heap_bytes() estimate {estimate:.1}; target <= 64: {verdict}"
        );
    }
}

/// Start of the 2-day (192 quarter-hours) range read from the middle of a
/// pool starting at `QUARTER_ERA`; off UTC midnight so it spans three pages.
fn two_days_in_middle(n: usize) -> (DateTime<Utc>, DateTime<Utc>) {
    let start = QUARTER_ERA + (n as i64 / 2 / 96) * 86_400 - 10 * 3600;
    (instant(start), instant(start + 2 * 86_400))
}

fn bench_range(c: &mut Criterion) {
    let mut group = c.benchmark_group("range_192");
    for n in [960, 10_000] {
        let (pool, _) = pool_of(QUARTER_ERA, n, Resolution::QuarterHour);
        let baseline = baseline_of(&pool);
        let (start, end) = two_days_in_middle(n);
        assert_eq!(pool.range(start, end).unwrap().count(), 192);
        group.bench_function(format!("pool_{n}"), |b| {
            b.iter(|| {
                pool.range(black_box(start), black_box(end))
                    .expect("non-empty range")
                    .map(|iv| iv.total)
                    .sum::<f64>()
            })
        });
        let (start_secs, end_secs) = (start.timestamp(), end.timestamp());
        group.bench_function(format!("btreemap_{n}"), |b| {
            b.iter(|| {
                baseline
                    .range(black_box(start_secs)..black_box(end_secs))
                    .map(|(_, iv)| iv.total)
                    .sum::<f64>()
            })
        });
    }
    group.finish();
}

fn bench_point(c: &mut Criterion) {
    let mut group = c.benchmark_group("point");
    let (pool, _) = pool_of(QUARTER_ERA, 960, Resolution::QuarterHour);
    let baseline = baseline_of(&pool);
    // Cycle through every cached instant so the lookup is not one hot address.
    let instants: Vec<DateTime<Utc>> = baseline.values().map(|iv| iv.starts_at()).collect();
    let mut i = 0;
    group.bench_function("get_960", |b| {
        b.iter(|| {
            i = (i + 7) % instants.len();
            pool.get(black_box(instants[i])).map(|iv| iv.total)
        })
    });
    group.bench_function("current_960", |b| {
        b.iter(|| {
            i = (i + 7) % instants.len();
            pool.current(black_box(instants[i] + Duration::minutes(7)))
                .map(|iv| iv.total)
        })
    });
    group.bench_function("btreemap_get_960", |b| {
        b.iter(|| {
            i = (i + 7) % instants.len();
            baseline
                .get(&black_box(instants[i].timestamp()))
                .map(|iv| iv.total)
        })
    });
    group.finish();
}

fn bench_gaps(c: &mut Criterion) {
    let mut group = c.benchmark_group("gaps_7d");
    let (full, _) = pool_of(QUARTER_ERA, 960, Resolution::QuarterHour);
    let (start, end) = (
        instant(QUARTER_ERA + 86_400),
        instant(QUARTER_ERA + 8 * 86_400),
    );
    assert!(full.gaps(start, end).unwrap().is_empty());
    group.bench_function("fully_cached", |b| {
        b.iter(|| full.gaps(black_box(start), black_box(end)))
    });
    // Every other UTC day cached: 3 inner gaps plus a trailing one.
    let mut holes = Pool::new(home(), PoolConfig::default());
    for day in (0..10).step_by(2) {
        let from = QUARTER_ERA + day * 86_400;
        holes
            .add(
                series(from, 96, Resolution::QuarterHour),
                instant(from),
                instant(from),
            )
            .expect("valid bench data");
    }
    assert_eq!(holes.gaps(start, end).unwrap().len(), 4);
    group.bench_function("every_other_day_missing", |b| {
        b.iter(|| holes.gaps(black_box(start), black_box(end)))
    });
    group.finish();
}

fn bench_add_and_gc(c: &mut Criterion) {
    let mut group = c.benchmark_group("add_gc");
    // A pool at its limit of 960; adding 4 new days (384) evicts the 4 oldest.
    let (pool, now) = pool_of(QUARTER_ERA, 960, Resolution::QuarterHour);
    let fresh = series(QUARTER_ERA + 10 * 86_400, 384, Resolution::QuarterHour);
    let later = now + Duration::days(4);
    {
        let mut check = pool.clone();
        let outcome = check.add(fresh.clone(), later, later).unwrap();
        assert_eq!((outcome.added, outcome.evicted_intervals), (384, 384));
    }
    group.bench_function("add_384_at_limit_960", |b| {
        b.iter_batched(
            || (pool.clone(), fresh.clone()),
            |(mut pool, fresh)| pool.add(fresh, later, later).map(|o| o.evicted_intervals),
            BatchSize::SmallInput,
        )
    });
    // Re-adding 384 cached intervals: every one is touched, 4 groups die.
    let refetch = series(QUARTER_ERA + 2 * 86_400, 384, Resolution::QuarterHour);
    group.bench_function("touch_384_of_960", |b| {
        b.iter_batched(
            || (pool.clone(), refetch.clone()),
            |(mut pool, fresh)| pool.add(fresh, later, now).map(|o| o.touched),
            BatchSize::SmallInput,
        )
    });
    // 12,000 live with the limit lowered to 10,000: GC evicts 2,000.
    let (big, now) = pool_of(QUARTER_ERA, 12_000, Resolution::QuarterHour);
    {
        let mut check = big.clone();
        assert!(check.set_max_intervals(10_000, now).evicted_intervals >= 2_000);
    }
    group.bench_function("gc_2000_over_limit_of_10000", |b| {
        b.iter_batched(
            || big.clone(),
            |mut pool| pool.set_max_intervals(10_000, now).evicted_intervals,
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(
    benches,
    bench_point,
    bench_range,
    bench_gaps,
    bench_add_and_gc
);

fn main() {
    report_memory();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
