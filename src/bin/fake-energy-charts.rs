//! Runs the fake Energy-Charts server (see
//! `pricepool::testkit::fake_energy_charts`) on a free local port and
//! prints its URL, for the load benchmark's market workloads and manual
//! tests.

use chrono::{DateTime, Utc};
use clap::Parser;
use pricepool::testkit::FakeEnergyCharts;

/// A fake Energy-Charts `/price` API serving the demo market's day shape
/// for every bidding zone.
#[derive(Debug, Parser)]
#[command(name = "fake-energy-charts", version)]
struct Args {
    /// Start the fake's clock at this RFC 3339 instant (decides what is
    /// published: tomorrow from 13:00 CET).
    #[arg(long)]
    now: Option<DateTime<Utc>>,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let fake = match FakeEnergyCharts::start().await {
        Ok(fake) => fake,
        Err(error) => {
            eprintln!("fake-energy-charts: cannot listen on 127.0.0.1: {error}");
            std::process::exit(1);
        }
    };
    if let Some(now) = args.now {
        fake.set_now(now);
    }
    println!("{}", fake.url());
    if tokio::signal::ctrl_c().await.is_err() {
        eprintln!("fake-energy-charts: cannot wait for ctrl-c; stopping");
    }
}
