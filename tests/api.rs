//! Black-box tests of the HTTP service: each starts the real `Application`
//! on 127.0.0.1:0 (or the real binary) and talks to it over HTTP, as a
//! client would. They read as the service's specification.

#[path = "api/helpers.rs"]
mod helpers;

#[path = "api/auth.rs"]
mod auth;
#[path = "api/caching.rs"]
mod caching;
#[path = "api/current.rs"]
mod current;
#[path = "api/errors.rs"]
mod errors;
#[path = "api/intervals.rs"]
mod intervals;
#[path = "api/operations.rs"]
mod operations;
#[path = "api/persistence.rs"]
mod persistence;
#[path = "api/process.rs"]
mod process;
#[path = "api/rates.rs"]
mod rates;
#[path = "api/strict_input.rs"]
mod strict_input;
#[path = "api/telemetry.rs"]
mod telemetry;
#[path = "api/upstream.rs"]
mod upstream;
