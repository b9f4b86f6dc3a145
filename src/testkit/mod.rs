//! Test support that needs real network behaviour: the fake Tibber server
//! (with its own cursor codec).
//! Behind the `testkit` cargo feature, so the production binary does not
//! contain it; the package's dev-dependency on itself turns it on for tests
//! and benches, and the `fake-tibber` binary requires it.

#![warn(missing_docs)]

mod cursor;
pub mod fake_tibber;

pub use fake_tibber::{Call, DEFAULT_TOKEN, FakeTibber, Fault};
