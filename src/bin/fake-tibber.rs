//! Runs the fake Tibber server (see `pricepool::testkit::fake_tibber`) on a
//! given address and prints its URL, for the load benchmark and manual tests.

use std::net::SocketAddr;

use chrono::{DateTime, Utc};
use clap::Parser;
use pricepool::testkit::{DEFAULT_TOKEN, FakeTibber};

/// A fake Tibber GraphQL API serving the demo market's prices.
#[derive(Debug, Parser)]
#[command(name = "fake-tibber", version)]
struct Args {
    /// Address to listen on; port 0 picks a free one.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// The bearer token the fake accepts.
    #[arg(long, default_value = DEFAULT_TOKEN)]
    token: String,
    /// Start the fake's clock at this RFC 3339 instant (decides what is published).
    #[arg(long)]
    now: Option<DateTime<Utc>>,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let fake = match FakeTibber::start_on(args.listen, &args.token).await {
        Ok(fake) => fake,
        Err(error) => {
            eprintln!("fake-tibber: cannot listen on {}: {error}", args.listen);
            std::process::exit(1);
        }
    };
    if let Some(now) = args.now {
        fake.set_now(now);
    }
    println!("{}", fake.url());
    if tokio::signal::ctrl_c().await.is_err() {
        eprintln!("fake-tibber: cannot wait for ctrl-c; stopping");
    }
}
