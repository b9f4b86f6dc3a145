//! The service's configuration: every option is a command-line flag with an
//! environment-variable fallback (DESIGN.md, "Service contract"), so the same
//! binary runs from a shell, a systemd unit or a container without a file;
//! `--config FILE` adds a TOML file of the same options and the market
//! homes (DESIGN.md, "Configuration file"), below flags and variables.
#![warn(missing_docs)]

mod file;
mod homes;
mod values;

pub use file::{FileError, LoadError};
pub use homes::HomeDecl;
pub use values::{parse_duration, parse_instant, parse_price_band, parse_secret, parse_token};

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand, ValueEnum};

use crate::upstream::Secret;

/// Energy-Charts' API (Fraunhofer ISE).
pub const ENERGY_CHARTS_URL: &str = "https://api.energy-charts.info";
/// Nord Pool's data portal API.
pub const NORDPOOL_URL: &str = "https://dataportal-api.nordpoolgroup.com";
/// aWATTar's API for `DE-LU`.
pub const AWATTAR_URL: &str = "https://api.awattar.de";
/// aWATTar's API for `AT`.
pub const AWATTAR_AT_URL: &str = "https://api.awattar.at";
/// The ENTSO-E transparency platform's API.
pub const ENTSOE_URL: &str = "https://web-api.tp.entsoe.eu";

/// The command line: the service's options, and an optional subcommand.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "pricepool",
    version,
    args_override_self = true,
    about = "Caches energy-price intervals per home and serves them over REST"
)]
pub struct Cli {
    /// What to do instead of serving; serving when absent.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// The service's options (they also tell `healthcheck` where to look).
    #[command(flatten)]
    pub config: Config,
}

/// Subcommands besides serving.
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Exits 0 when the service at `--listen` answers GET /healthz, 1
    /// otherwise; for container HEALTHCHECKs (the runtime image has no curl).
    Healthcheck {
        /// How long to wait for the answer.
        #[arg(long, default_value = "2s", value_parser = parse_duration)]
        timeout: Duration,
    },
}

/// Where the homes besides the declared market homes come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SourceKind {
    /// Tibber's homes when a token is given, plus the declared homes; the
    /// demo market only when there is neither, so a bare start still serves.
    Auto,
    /// The built-in, offline, deterministic day-ahead market (and the declared homes).
    Demo,
    /// Tibber's GraphQL API (needs `--tibber-token`), and the declared homes.
    Tibber,
    /// Only the declared homes.
    None,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// The options of a running service. Built by clap from flags and
/// `PRICEPOOL_*` variables; tests build it with [`Config::parse_from_args`].
#[derive(Debug, Clone, clap::Args)]
pub struct Config {
    /// A TOML file of these options (snake_case keys) and `[[homes]]`;
    /// flags and environment variables win over it.
    #[arg(long, env = "PRICEPOOL_CONFIG")]
    pub config: Option<PathBuf>,

    /// Address and port to serve on; port 0 picks a free one.
    #[arg(long, env = "PRICEPOOL_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Directory of the per-home snapshot files (locked by one instance).
    #[arg(long, env = "PRICEPOOL_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,

    /// Where homes besides the declared market homes come from.
    #[arg(long, env = "PRICEPOOL_SOURCE", value_enum, default_value = "auto")]
    pub source: SourceKind,

    /// Tibber's GraphQL endpoint.
    #[arg(long, env = "PRICEPOOL_TIBBER_URL", default_value = crate::upstream::TIBBER_URL)]
    pub tibber_url: String,

    /// Tibber API token (required with `--source tibber`).
    #[arg(long, env = "PRICEPOOL_TIBBER_TOKEN", hide_env_values = true, value_parser = parse_token)]
    pub tibber_token: Option<Secret>,

    /// Energy-Charts' base URL (market homes' `energy-charts` source).
    #[arg(long, env = "PRICEPOOL_ENERGY_CHARTS_URL", default_value = ENERGY_CHARTS_URL)]
    pub energy_charts_url: String,

    /// Nord Pool's base URL (market homes' `nordpool` source).
    #[arg(long, env = "PRICEPOOL_NORDPOOL_URL", default_value = NORDPOOL_URL)]
    pub nordpool_url: String,

    /// aWATTar's base URL for `DE-LU` (market homes' `awattar` source).
    #[arg(long, env = "PRICEPOOL_AWATTAR_URL", default_value = AWATTAR_URL)]
    pub awattar_url: String,

    /// aWATTar's base URL for `AT`.
    #[arg(long, env = "PRICEPOOL_AWATTAR_AT_URL", default_value = AWATTAR_AT_URL)]
    pub awattar_at_url: String,

    /// ENTSO-E's base URL (market homes' `entsoe` source).
    #[arg(long, env = "PRICEPOOL_ENTSOE_URL", default_value = ENTSOE_URL)]
    pub entsoe_url: String,

    /// ENTSO-E security token (required by homes that list `entsoe`).
    #[arg(long, env = "PRICEPOOL_ENTSOE_TOKEN", hide_env_values = true, value_parser = parse_secret)]
    pub entsoe_token: Option<Secret>,

    /// Hour (CET/CEST) the day-ahead auction's prices for tomorrow are
    /// published; a market source's "not published yet" is not asked again before.
    #[arg(long, env = "PRICEPOOL_PUBLISH_HOUR", default_value_t = 13, value_parser = clap::value_parser!(u8).range(0..24))]
    pub publish_hour: u8,

    /// Up to this long after publication, at random, before tomorrow is
    /// asked for, so instances do not all call at 13:00:00.
    #[arg(long, env = "PRICEPOOL_PUBLISH_JITTER", default_value = "5m", value_parser = parse_duration)]
    pub publish_jitter: Duration,

    /// Everything one upstream fetch may take, retries included; clients
    /// get what is cached (or a 504) by then.
    #[arg(long, env = "PRICEPOOL_FETCH_DEADLINE", default_value = "15s", value_parser = parse_duration)]
    pub fetch_deadline: Duration,

    /// Time allowed for one HTTP attempt to the upstream.
    #[arg(long, env = "PRICEPOOL_UPSTREAM_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub upstream_timeout: Duration,

    /// Upstream prices per kWh outside ± this make the answer malformed
    /// (not cached, not retried). Real day-ahead prices with taxes stay
    /// far inside 100 in every European currency; 1e308 or a per-MWh slip does not.
    #[arg(long, env = "PRICEPOOL_PRICE_BAND", default_value = "100", value_parser = parse_price_band)]
    pub price_band: f64,

    /// Live intervals per home above which GC evicts old fetch groups.
    #[arg(long, env = "PRICEPOOL_MAX_INTERVALS", default_value_t = 960, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_intervals: u32,

    /// Memory for rendered range bodies kept for reuse, in MiB (0: none).
    /// One hot 2-day body is ~27 KB; the default holds one for 10,000 homes.
    #[arg(long, env = "PRICEPOOL_RENDER_CACHE_MIB", default_value_t = crate::api::render_cache::DEFAULT_CAPACITY_MIB)]
    pub render_cache_mib: u64,

    /// Quiet time after a home's latest change before its snapshot is written.
    #[arg(long, env = "PRICEPOOL_SAVE_DELAY", default_value = "3s", value_parser = parse_duration)]
    pub save_delay: Duration,

    /// Longest time a change may stay unsaved, however often the home changes.
    #[arg(long, env = "PRICEPOOL_SAVE_MAX_DELAY", default_value = "30s", value_parser = parse_duration)]
    pub save_max_delay: Duration,

    /// Start the wall clock at this RFC 3339 instant and let it run (tests, replays).
    #[arg(long, env = "PRICEPOOL_NOW", value_parser = parse_instant)]
    pub now: Option<DateTime<Utc>>,

    /// When set, every /v1 request needs `Authorization: Bearer <token>`.
    #[arg(long, env = "PRICEPOOL_API_TOKEN", hide_env_values = true, value_parser = parse_token)]
    pub api_token: Option<Secret>,

    /// Do not fetch today's and tomorrow's prices ahead of requests.
    #[arg(long, env = "PRICEPOOL_NO_PREFETCH")]
    pub no_prefetch: bool,

    /// Log line format.
    #[arg(long, env = "PRICEPOOL_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,

    /// Log filter in `tracing` syntax, e.g. `info` or `pricepool=debug,info`.
    #[arg(long, env = "PRICEPOOL_LOG", default_value = "info")]
    pub log: String,

    /// Longest a request may take before it is answered 504.
    #[arg(long, env = "PRICEPOOL_REQUEST_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub request_timeout: Duration,

    /// How long shutdown waits for in-flight requests before it stops them,
    /// and then for the final flush of every dirty home.
    #[arg(long, env = "PRICEPOOL_SHUTDOWN_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub shutdown_timeout: Duration,

    /// A request head must arrive whole within this of its first byte (a new
    /// connection's first head: of the accept); slower clients are closed.
    #[arg(long, env = "PRICEPOOL_HEADER_READ_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub header_read_timeout: Duration,

    /// A keep-alive connection without a request for this long is closed;
    /// longer than reverse proxies keep theirs idle (nginx 60 s, Go/Traefik
    /// 90 s, Caddy 2 m), so they close first and never reuse a closed one.
    #[arg(long, env = "PRICEPOOL_IDLE_TIMEOUT", default_value = "3m", value_parser = parse_duration)]
    pub idle_timeout: Duration,

    /// Open connections at most; past it a new one gets a 503 and is closed.
    /// Lowered at start to fit the open-files limit.
    #[arg(long, env = "PRICEPOOL_MAX_CONNECTIONS", default_value_t = 4096, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,

    /// MQTT broker to push prices to, with Home Assistant discovery:
    /// `mqtt://[user:pass@]host:port` or `mqtts://…`; no MQTT when absent.
    #[arg(long, env = "PRICEPOOL_MQTT_URL", hide_env_values = true, value_parser = crate::mqtt::MqttUrl::from_arg)]
    pub mqtt_url: Option<crate::mqtt::MqttUrl>,

    /// Topic prefix of what pricepool publishes over MQTT.
    #[arg(long, env = "PRICEPOOL_MQTT_PREFIX", default_value = "pricepool")]
    pub mqtt_prefix: String,

    /// Home Assistant's MQTT discovery prefix.
    #[arg(
        long,
        env = "PRICEPOOL_HA_DISCOVERY_PREFIX",
        default_value = "homeassistant"
    )]
    pub ha_discovery_prefix: String,

    /// Redis (or Valkey) shared by the replicas of one pricepool:
    /// `redis://[user:password@]host:port/db`; alone when absent.
    #[arg(long, env = "PRICEPOOL_REDIS_URL", hide_env_values = true, value_parser = crate::replicas::RedisUrl::from_arg)]
    pub redis_url: Option<crate::replicas::RedisUrl>,

    /// Prefix of every key (and the events channel) pricepool keeps in Redis.
    #[arg(long, env = "PRICEPOOL_REDIS_PREFIX", default_value = "pricepool:")]
    pub redis_prefix: String,

    /// Replicas expected to share the upstream budget; each fetches with
    /// its share (the budget divided by this) when Redis is away.
    #[arg(long, env = "PRICEPOOL_REPLICAS", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub replicas: u32,

    /// Largest request head in bytes (request line and headers); larger
    /// ones are answered 431.
    #[arg(long, env = "PRICEPOOL_MAX_HEADER_BYTES", default_value_t = 32 * 1024, value_parser = clap::value_parser!(u32).range(8192..=1024 * 1024))]
    pub max_header_bytes: u32,

    /// The market homes declared in the config file, checked.
    #[arg(skip)]
    pub homes: Vec<HomeDecl>,
}

/// A configuration that cannot work, found before anything starts.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    /// `--source tibber` without a token.
    #[error("--source tibber needs a token: set --tibber-token or PRICEPOOL_TIBBER_TOKEN")]
    MissingTibberToken,
    /// A longest save delay shorter than the quiet time.
    #[error("--save-max-delay ({max:?}) must not be shorter than --save-delay ({delay:?})")]
    SaveDelays {
        /// `--save-delay`.
        delay: Duration,
        /// `--save-max-delay`.
        max: Duration,
    },
    /// An empty token would let every request through.
    #[error("--api-token must not be empty")]
    EmptyApiToken,
    /// The config file cannot be read, or says something that cannot work.
    #[error(transparent)]
    File(#[from] FileError),
}

impl Config {
    /// Parses options from `args` (the program name first) and the
    /// environment, as the binary does; for tests and embedding.
    pub fn parse_from_args<I, T>(args: I) -> Result<Config, LoadError>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        Ok(Cli::try_load_from(args)?.config)
    }

    /// Whether the demo market is served: asked for, or, with `auto`, when
    /// there is neither a Tibber token nor a declared home.
    pub fn serves_demo(&self) -> bool {
        match self.source {
            SourceKind::Demo => true,
            SourceKind::Auto => !self.has_tibber_token() && self.homes.is_empty(),
            SourceKind::Tibber | SourceKind::None => false,
        }
    }

    /// Whether Tibber's homes are served: asked for, or, with `auto`, when
    /// a token is given.
    pub fn serves_tibber(&self) -> bool {
        match self.source {
            SourceKind::Tibber => true,
            SourceKind::Auto => self.has_tibber_token(),
            SourceKind::Demo | SourceKind::None => false,
        }
    }

    fn has_tibber_token(&self) -> bool {
        self.tibber_token.as_ref().is_some_and(|t| !t.is_empty())
    }

    /// Checks what clap cannot: combinations of options.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.source == SourceKind::Tibber && !self.has_tibber_token() {
            return Err(ConfigError::MissingTibberToken);
        }
        if self.save_max_delay < self.save_delay {
            return Err(ConfigError::SaveDelays {
                delay: self.save_delay,
                max: self.save_max_delay,
            });
        }
        if self.api_token.as_ref().is_some_and(Secret::is_empty) {
            return Err(ConfigError::EmptyApiToken);
        }
        Ok(())
    }

    /// The address a local client reaches the service at: the listen
    /// address, with an unspecified host (`0.0.0.0`, `::`) replaced by loopback.
    pub fn local_address(&self) -> SocketAddr {
        let mut address = self.listen;
        if address.ip().is_unspecified() {
            address.set_ip(match address {
                SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            });
        }
        address
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod file_tests;
