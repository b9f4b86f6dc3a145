//! Black-box tests of the HTTP service: each starts the real `Application`
//! on 127.0.0.1:0 (or the real binary) and talks to it over HTTP, as a
//! client would. They read as the service's specification.
//!
//! New tests go into the module of the resource or concern they specify;
//! `helpers` has `spawn_app()`, the process tests use
//! `pricepool::testkit::process`.

mod helpers;

mod access_log;
mod answers;
mod auth;
mod caching;
mod config_file;
mod conn_limits;
mod current;
mod dashboard_cache;
mod day_chunks;
mod errors;
mod intervals;
mod market_homes;
mod mosquitto;
mod mqtt;
mod mqtt_process;
mod operations;
mod pages;
mod persistence;
mod process;
mod rates;
mod strict_input;
mod telemetry;
mod upstream;
mod upstream_hardening;
