//! The upstream side against the fake Tibber server over real HTTP on
//! 127.0.0.1 (and the offline demo market): the coordinator, the failure
//! taxonomy, prefetch, secrets in logs, and the fake's own wire format;
//! the market sources (Energy-Charts, Nord Pool) against their fakes.
//!
//! `logs` installs the process-wide tracing subscriber (trace level, into a
//! buffer), so it also sees what the other tests here log; no other test
//! in this binary may install one.

mod helpers;

mod coordinator;
mod demo;
mod failures;
mod fake;
mod home_lookup;
mod logs;
mod market_homes;
mod market_sources;
mod market_sources_2;
mod prefetch;
