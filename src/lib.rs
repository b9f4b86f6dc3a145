//! pricepool caches energy-price intervals per home, fetches only the
//! missing ranges from the upstream price API, keeps memory bounded and
//! persists its state, so home-energy tools can share one rate-limited
//! upstream over REST.
//!
//! ```text
//! client ─GET /v1/homes/{id}/intervals─▶ api ─▶ registry: home ─▶ Pool
//!                                                  │ gaps (missing ranges)
//!                               fetch coordinator ─▶ upstream source (tibber | demo)
//!                                                  │ add group ─▶ GC ─▶ mark dirty
//!                                  debounced saver ─▶ {data_dir}/homes/{id}.json
//! ```
//!
//! Modules:
//! - [`pool`]: the pure, synchronous per-home cache (index, groups, gaps, GC).
//! - [`upstream`]: price sources and the fetch coordinator (single-flight,
//!   negative cache, retries, budget).
//! - [`store`]: snapshot files, atomic writes, the debounced saver.
//! - [`answers`]: hourly means, the cheapest window, day summaries, the chart.
//! - [`api`]: routes, problem+json errors, OpenAPI.
//! - [`clock`]: the wall clock (`--now`).
//! - [`mqtt`]: the push to Home Assistant (MQTT with discovery).
//! - [`app`]: `Application::build` wires everything; graceful shutdown.
//! - [`serve`]: the accept loop; connection timeouts, cap and shutdown.
//! - [`healthcheck`]: `pricepool healthcheck` for container probes.
//! - [`replicas`]: replicas sharing feeds, locks, cooldowns and the
//!   negative cache through Redis (`--redis-url`).
//! - [`config`]: flags with `PRICEPOOL_*` environment fallbacks.
//! - [`telemetry`]: the tracing subscriber and the Prometheus recorder.
//! - `testkit` (cargo feature `testkit`, on for tests and benches): the
//!   fake Tibber server and the harness that runs the real binary.
pub mod answers;
pub mod api;
pub mod app;
pub mod clock;
pub mod config;
pub mod healthcheck;
pub mod mqtt;
pub mod pool;
pub mod replicas;
pub(crate) mod serve;
pub mod shutdown;
pub mod store;
pub mod tariff;
pub mod telemetry;
#[cfg(feature = "testkit")]
pub mod testkit;
pub mod upstream;
