//! Test and benchmark helpers that need real network behaviour: the fake
//! Tibber server. Compiled into the library so integration tests, benches
//! and the `fake-tibber` binary share one implementation.

#![warn(missing_docs)]

pub mod fake_tibber;

pub use fake_tibber::{Call, DEFAULT_TOKEN, FakeTibber, Fault};
