//! The answers over two local days of quarter-hours (192 slots, what
//! `/cheapest` searches by default the afternoon tomorrow is published):
//! the contiguous cheapest 3 h (target ≤ 5 µs), the scattered pick, the
//! hourly means and the day summaries.
//!
//! Run: `cargo bench --bench answers -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

use chrono::TimeDelta;
use criterion::{Criterion, criterion_group, criterion_main};

use pricepool::answers::{WindowQuery, cheapest, hourly_means, summarize};
use pricepool::pool::Interval;
use pricepool::store::fixtures;

fn two_days() -> Vec<Interval> {
    let start = fixtures::day_start() + TimeDelta::days(30);
    fixtures::quarter_hours(start, 192, 7)
}

fn answers(c: &mut Criterion) {
    let intervals = two_days();
    let start = intervals[0].starts_at();
    let end = intervals[intervals.len() - 1].ends_at();
    let zone = chrono_tz::Europe::Berlin;
    for (name, contiguous) in [
        ("cheapest_3h_2_days", true),
        ("cheapest_3h_scattered_2_days", false),
    ] {
        let query = WindowQuery {
            duration: TimeDelta::hours(3),
            contiguous,
            highest: false,
        };
        c.bench_function(name, |b| {
            b.iter(|| cheapest(black_box(&intervals), start, end, query))
        });
    }
    c.bench_function("hourly_means_2_days", |b| {
        b.iter(|| hourly_means(black_box(&intervals), zone))
    });
    c.bench_function("summarize_2_days", |b| {
        b.iter(|| summarize(black_box(&intervals), zone, start, end))
    });
}

criterion_group!(benches, answers);
criterion_main!(benches);
