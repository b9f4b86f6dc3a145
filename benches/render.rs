//! Rendering benchmarks: what a range request costs when its body is not
//! in the render cache (the first ask, or more hot bodies than the cache
//! holds). Each is measured beside `serde_json` rendering the documented
//! shapes in the same run, so figures read as ratios.
//!
//! Run: `cargo bench --bench render -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

use chrono::TimeDelta;
use criterion::{Criterion, criterion_group, criterion_main};

use pricepool::api::caching::etag_of;
use pricepool::api::render::{IntervalsJson, rates_json, rates_json_with_serde};
use pricepool::pool::Interval;
use pricepool::store::fixtures;

/// Two local days of quarter-hours in Berlin (192), priced as Tibber
/// publishes them (four decimals), or at full precision.
fn two_days(tibber_prices: bool) -> Vec<Interval> {
    let start = fixtures::day_start() + TimeDelta::days(30);
    let mut intervals = fixtures::quarter_hours(start, 192, 7);
    if tibber_prices {
        let four = |value: f64| (value * 1e4).round() / 1e4;
        for interval in &mut intervals {
            interval.energy = four(interval.energy);
            interval.tax = four(interval.tax);
            interval.total = four(interval.energy + interval.tax);
        }
    }
    intervals
}

fn json_of(intervals: &[Interval]) -> IntervalsJson<'_> {
    IntervalsJson {
        home_id: "bench-00042",
        currency: "EUR",
        zone: chrono_tz::Europe::Berlin,
        start: intervals[0].starts_at(),
        end: intervals[intervals.len() - 1].ends_at(),
        intervals,
        complete: true,
        reason: None,
        retry_at: None,
        missing: None,
    }
}

fn render(c: &mut Criterion) {
    for (name, tibber_prices) in [("tibber_prices", true), ("full_precision", false)] {
        let intervals = two_days(tibber_prices);
        let json = json_of(&intervals);
        let mut group = c.benchmark_group(format!("render_192/{name}"));
        group.bench_function("intervals", |b| b.iter(|| black_box(json).render()));
        group.bench_function("intervals_serde_baseline", |b| {
            b.iter(|| black_box(json).render_with_serde())
        });
        group.bench_function("rates", |b| {
            b.iter(|| rates_json(black_box(&intervals), chrono_tz::Europe::Berlin))
        });
        group.bench_function("rates_serde_baseline", |b| {
            b.iter(|| rates_json_with_serde(black_box(&intervals), chrono_tz::Europe::Berlin))
        });
        group.finish();
    }
    let body = json_of(&two_days(true)).render();
    c.bench_function("etag_of_2_day_body", |b| {
        b.iter(|| etag_of(black_box(&body)))
    });
}

criterion_group!(benches, render);
criterion_main!(benches);
