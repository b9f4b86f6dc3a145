//! Three replicas, one Redis, one fake Tibber.

use std::path::Path;
use std::time::{Duration, Instant};

use pricepool::testkit::{FakeTibber, Fault, Process, RedisServer};
use tempfile::TempDir;

pub const BINARY: &str = env!("CARGO_BIN_EXE_pricepool");
pub const NOW: &str = "2025-10-26T12:00:00Z";
/// The fake's Berlin home.
pub const HOME: &str = "demo";
/// The shared snapshot of [`HOME`]'s feed under the default prefix.
pub const SNAPSHOT_KEY: &str = "pricepool:{feed:demo}:snapshot";

/// The fake Tibber on a runtime of its own (the tests are blocking).
pub struct Upstream {
    runtime: tokio::runtime::Runtime,
    pub tibber: FakeTibber,
}

impl Upstream {
    pub fn start() -> Upstream {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let tibber = runtime.block_on(FakeTibber::start()).unwrap();
        tibber.set_now(NOW.parse().unwrap());
        Upstream { runtime, tibber }
    }

    /// Price queries received so far: one home's (discovery, which asks
    /// for every home, is not counted).
    pub fn price_calls(&self) -> usize {
        let _guard = self.runtime.enter();
        self.tibber
            .calls()
            .iter()
            .filter(|call| call.query.contains("home("))
            .count()
    }

    /// Sets the fake's clock, which decides what it has published.
    pub fn set_now(&self, now: &str) {
        let _guard = self.runtime.enter();
        self.tibber.set_now(now.parse().unwrap());
    }

    pub fn push_fault(&self, fault: Fault) {
        let _guard = self.runtime.enter();
        self.tibber.push_fault(fault);
    }

    pub fn set_fault(&self, fault: Option<Fault>) {
        let _guard = self.runtime.enter();
        self.tibber.set_fault(fault);
    }
}

/// One replica and its (own, empty) data directory.
pub struct Replica {
    pub process: Process,
    _data: TempDir,
}

impl Replica {
    /// A replica of the binary sharing `redis`, pricing from `upstream`.
    pub fn start(redis: &RedisServer, upstream: &Upstream, extra: &[&str]) -> Replica {
        let data = tempfile::tempdir().unwrap();
        let process = start_in(data.path(), &redis.url(), upstream, extra);
        Replica {
            process,
            _data: data,
        }
    }

    /// GET an intervals day: status and body.
    pub fn day(&self, date: &str) -> (u16, serde_json::Value) {
        let answer = self
            .process
            .get(&format!("/v1/homes/{HOME}/intervals?date={date}"))
            .expect("the replica answers");
        let body = serde_json::from_str(&answer.body).unwrap_or_default();
        (answer.status, body)
    }

    /// Redis' state as `/readyz` reports it.
    pub fn redis_state(&self) -> String {
        let answer = self.process.get("/readyz").expect("the replica answers");
        let body: serde_json::Value = serde_json::from_str(&answer.body).unwrap_or_default();
        body["redis"].as_str().unwrap_or_default().to_string()
    }

    /// Stops it (SIGTERM) and returns its log.
    pub fn stop(mut self) -> String {
        self.process.sigterm();
        self.process.wait(Duration::from_secs(20));
        self.process.stderr()
    }
}

fn start_in(data: &Path, redis_url: &str, upstream: &Upstream, extra: &[&str]) -> Process {
    let mut args = vec![
        "--data-dir",
        data.to_str().unwrap(),
        "--source",
        "tibber",
        "--tibber-url",
        upstream.tibber.url(),
        "--tibber-token",
        upstream.tibber.token(),
        "--no-prefetch",
        "--now",
        NOW,
        "--redis-url",
        redis_url,
        "--replicas",
        "3",
        "--log",
        "pricepool::replicas=info,pricepool::upstream::resync=info,warn",
    ];
    args.extend_from_slice(extra);
    Process::serve(BINARY, &args)
}

/// Three replicas.
pub fn three(redis: &RedisServer, upstream: &Upstream, extra: &[&str]) -> Vec<Replica> {
    (0..3)
        .map(|_| Replica::start(redis, upstream, extra))
        .collect()
}

/// Waits up to `limit` for `condition`.
pub fn eventually(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if condition() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    condition()
}

/// Commands Redis has run, but for the links' probes (PING) and this
/// count's own INFO: what the replicas asked of it.
pub fn redis_commands(redis: &RedisServer) -> u64 {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query(&mut redis.connection())
        .unwrap();
    info.lines()
        .filter_map(|line| line.strip_prefix("cmdstat_"))
        .filter(|line| !line.starts_with("ping:") && !line.starts_with("info:"))
        .filter_map(|line| {
            line.split("calls=")
                .nth(1)?
                .split(',')
                .next()?
                .parse::<u64>()
                .ok()
        })
        .sum()
}
