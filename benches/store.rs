//! Store benchmarks: what a save and a start cost.
//!
//! - `encode/{960,10000}`: serializing one home's snapshot.
//! - `decode/{960,10000}`, `restore/{960,10000}`: the two halves of a load.
//! - `save/{960,10000}`: serialize plus the atomic write (temp file, write,
//!   fsync, rename, directory fsync) on the real disk.
//! - `load_all/1000x960`: a start with 1,000 homes of 960 intervals
//!   (target ≤ 1 s).
//!
//! Also prints the JSON bytes per interval (target ≤ 80).
//! Run: `cargo bench --bench store`.

use std::hint::black_box;

use chrono::{TimeZone, Utc};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use pricepool::pool::PoolConfig;
use pricepool::store::{Store, fixtures, format};

fn saved_at() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 10, 26, 12, 0, 3)
        .single()
        .expect("valid date")
}

fn bytes_per_interval() {
    for n in [96, 960, 10_000] {
        let pool = fixtures::pool("96a14971-525a-4420-aae9-e5aedaa129ff", n, 3);
        let bytes = format::encode(pool.home(), &pool.snapshot(), saved_at()).expect("encode");
        println!(
            "snapshot of {n} intervals: {} bytes, {:.1} JSON bytes per interval (17-digit prices)",
            bytes.len(),
            bytes.len() as f64 / n as f64
        );
    }
    // Tibber sends prices with 4 decimals.
    let mut snapshot = fixtures::pool("96a14971-525a-4420-aae9-e5aedaa129ff", 960, 3).snapshot();
    for interval in snapshot
        .groups
        .iter_mut()
        .flat_map(|g| g.intervals.iter_mut())
    {
        for price in [&mut interval.total, &mut interval.energy, &mut interval.tax] {
            *price = (*price * 1e4).round() / 1e4;
        }
    }
    let bytes = format::encode(&fixtures::home("x"), &snapshot, saved_at()).expect("encode");
    println!(
        "snapshot of 960 intervals with 4-decimal prices: {:.1} JSON bytes per interval",
        bytes.len() as f64 / 960.0
    );
}

fn save(c: &mut Criterion) {
    bytes_per_interval();
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(dir.path()).expect("open");
    let mut group = c.benchmark_group("snapshot");
    for n in [960, 10_000] {
        let pool = fixtures::pool("bench", n, 1);
        group.bench_with_input(BenchmarkId::new("encode", n), &pool, |b, pool| {
            b.iter(|| format::encode(pool.home(), &pool.snapshot(), saved_at()).expect("encode"))
        });
        let bytes = format::encode(pool.home(), &pool.snapshot(), saved_at()).expect("encode");
        group.bench_with_input(BenchmarkId::new("decode", n), &bytes, |b, bytes| {
            b.iter(|| format::decode(bytes).expect("decode"))
        });
        let decoded = format::decode(&bytes).expect("decode");
        group.bench_with_input(BenchmarkId::new("restore", n), &decoded, |b, decoded| {
            b.iter(|| {
                pricepool::pool::Pool::restore(
                    decoded.home.clone(),
                    pool.config().clone(),
                    decoded.snapshot.clone(),
                    saved_at(),
                )
                .expect("restore")
            })
        });
        group.bench_with_input(BenchmarkId::new("save", n), &pool, |b, pool| {
            b.iter(|| {
                store
                    .save(pool.home(), &pool.snapshot(), saved_at())
                    .expect("save")
            })
        });
    }
    group.finish();
}

fn load(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    // `cargo test --all-targets` runs benches once in test mode: keep that quick.
    let measuring = std::env::args().any(|arg| arg == "--bench");
    let n_homes = if measuring { 1_000 } else { 20 };
    {
        let store = Store::open(dir.path()).expect("open");
        let pool = fixtures::pool("template", 960, 2);
        let snapshot = pool.snapshot();
        for n in 0..n_homes {
            let home = fixtures::home(&format!("home-{n:04}"));
            let bytes = format::encode(&home, &snapshot, saved_at()).expect("encode");
            let path = store.snapshot_path(&home.id).expect("valid id");
            // Setup only: no fsync needed, the load is what is measured.
            std::fs::write(path, bytes).expect("write");
        }
    }
    let store = Store::open(dir.path()).expect("open");
    let config = PoolConfig::default();
    let mut group = c.benchmark_group("load_all");
    group.sample_size(10);
    group.bench_function("1000x960", |b| {
        b.iter(|| {
            let report = store.load_all(&config, saved_at());
            assert_eq!(report.pools.len(), n_homes);
            black_box(report)
        })
    });
    group.finish();
}

criterion_group!(benches, save, load);
criterion_main!(benches);
