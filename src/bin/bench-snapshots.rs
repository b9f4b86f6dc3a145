//! Writes snapshot files for many homes into a data directory, through the
//! store's real writer (`pricepool::store::Store::save`), so the load
//! benchmark (`benches/load/run.sh`) starts pricepool on files in exactly
//! the format the service writes, at a scale no test reaches (10,000 homes).
//!
//! Each home `{prefix}{n:05}` is priced in Europe/Berlin in EUR with the
//! demo market's prices for `demo`, one fetch group per local day (as the
//! upstream returns them), holding the `--intervals` quarter-hours that end
//! at local midnight after tomorrow: today, tomorrow and the days before.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use chrono::{DateTime, Days, NaiveDate, TimeDelta, Utc};
use clap::Parser;
use pricepool::pool::days::local_date;
use pricepool::pool::{HomeInfo, Interval, Pool, PoolConfig};
use pricepool::store::Store;
use pricepool::upstream::DemoMarket;

/// Generates per-home snapshot files for the load benchmark.
#[derive(Debug, Parser)]
#[command(name = "bench-snapshots", version)]
struct Args {
    /// The data directory to write `homes/*.json` into (created; must not be in use).
    #[arg(long)]
    data_dir: PathBuf,
    /// How many homes to write.
    #[arg(long, default_value_t = 10_000)]
    homes: usize,
    /// Live intervals per home (quarter-hours ending at midnight after tomorrow).
    #[arg(long, default_value_t = 960)]
    intervals: usize,
    /// Home ids are this prefix and a five-digit number from 00000.
    #[arg(long, default_value = "bench-")]
    prefix: String,
    /// The instant "today" and "tomorrow" are taken from (the service's `--now`).
    #[arg(long)]
    now: DateTime<Utc>,
    /// Writer threads.
    #[arg(long, default_value_t = 4)]
    threads: usize,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("bench-snapshots: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<(), String> {
    let market = DemoMarket::new();
    let zone = market
        .zone("demo")
        .ok_or_else(|| "the demo market has no home `demo`".to_owned())?;
    let today = local_date(zone.zone, args.now);
    let days = days_ending_after_tomorrow(&market, today, args.intervals)?;
    let store = Store::open(&args.data_dir).map_err(|e| e.to_string())?;
    let config = PoolConfig {
        max_intervals: args.intervals.max(1),
        ..PoolConfig::default()
    };
    let started = Instant::now();
    let next_home = AtomicUsize::new(0);
    let failures = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..args.threads.max(1))
            .map(|_| {
                scope.spawn(|| {
                    let mut failures = Vec::new();
                    loop {
                        let n = next_home.fetch_add(1, Ordering::Relaxed);
                        if n >= args.homes {
                            return failures;
                        }
                        let home = HomeInfo {
                            id: format!("{}{n:05}", args.prefix),
                            zone: zone.zone,
                            currency: zone.currency.to_owned(),
                        };
                        if let Err(error) = write_home(&store, home, &config, &days, args.now) {
                            failures.push(error);
                        }
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|worker| {
                worker
                    .join()
                    .unwrap_or_else(|_| vec!["a writer panicked".into()])
            })
            .collect::<Vec<String>>()
    });
    if let Some(first) = failures.first() {
        return Err(format!(
            "{} homes not written; first: {first}",
            failures.len()
        ));
    }
    eprintln!(
        "bench-snapshots: wrote {} homes x {} intervals to {} in {:.1} s",
        args.homes,
        args.intervals,
        store.homes_dir().display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The local days (one fetch group each) holding the last `n_intervals`
/// quarter-hours before local midnight after tomorrow, oldest first.
fn days_ending_after_tomorrow(
    market: &DemoMarket,
    today: NaiveDate,
    n_intervals: usize,
) -> Result<Vec<Vec<Interval>>, String> {
    let zone = market
        .zone("demo")
        .ok_or_else(|| "the demo market has no home `demo`".to_owned())?;
    let mut days: Vec<Vec<Interval>> = Vec::new();
    let mut n_collected = 0;
    let mut date = today
        .checked_add_days(Days::new(1))
        .ok_or_else(|| "tomorrow is out of range".to_owned())?;
    while n_collected < n_intervals {
        let mut day = market.day(zone, date);
        let surplus = (n_collected + day.len()).saturating_sub(n_intervals);
        day.drain(..surplus);
        n_collected += day.len();
        days.push(day);
        date = date
            .checked_sub_days(Days::new(1))
            .ok_or_else(|| "ran out of dates".to_owned())?;
    }
    days.reverse();
    Ok(days)
}

fn write_home(
    store: &Store,
    home: HomeInfo,
    config: &PoolConfig,
    days: &[Vec<Interval>],
    now: DateTime<Utc>,
) -> Result<(), String> {
    let mut pool = Pool::new(home.clone(), config.clone());
    for (n, day) in days.iter().enumerate() {
        // Older days were fetched earlier, as they would have been.
        let fetched_at = now - TimeDelta::hours((days.len() - n) as i64);
        pool.add(day.clone(), fetched_at, now)
            .map_err(|e| format!("home {}: {e}", home.id))?;
    }
    store
        .save(&home, &pool.snapshot(), now)
        .map_err(|e| e.to_string())
}
