//! Test support that needs real network or process behaviour: the fake
//! Tibber server (with its own cursor codec), the fake Energy-Charts and
//! Nord Pool servers (`fake_market` holds what they share), the fake
//! ENTSO-E and aWATTar servers, the harness that runs the real binary, and
//! a real `redis-server` for the replica tests.
//! Behind the `testkit` cargo feature, so the production binary does not
//! contain it; the package's dev-dependency on itself turns it on for tests
//! and benches, and the `fake-tibber` binary requires it.

#![warn(missing_docs)]

mod cursor;
pub mod fake_awattar;
pub mod fake_energy_charts;
pub mod fake_entsoe;
pub mod fake_market;
pub mod fake_nordpool;
mod fake_server;
pub mod fake_tibber;
mod market_prices;
pub mod process;
pub mod redis_server;

pub use fake_awattar::{AwattarCall, AwattarFault, FakeAwattar};
pub use fake_energy_charts::FakeEnergyCharts;
pub use fake_entsoe::{DEFAULT_ENTSOE_TOKEN, EntsoeCall, EntsoeFault, FakeEntsoe};
pub use fake_nordpool::FakeNordPool;
pub use fake_tibber::{Call, DEFAULT_TOKEN, FakeTibber, Fault};
pub use market_prices::Slot;
pub use process::{Answer, Process};
pub use redis_server::RedisServer;
