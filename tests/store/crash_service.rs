//! The crash test against the real binary, through the API: the service
//! fetches from a fake Tibber server (real HTTP on 127.0.0.1), clients
//! load days of prices, and the process is killed with SIGKILL at random
//! moments (or stopped with SIGTERM). After each restart, every day that
//! was served at least `save_max_delay` (plus slack) before the kill must
//! be served again, identically, without one price call to the upstream.
//!
//! `PRICEPOOL_SERVICE_CRASH_CYCLES` (default 15) and
//! `PRICEPOOL_SERVICE_SIGTERM_RUNS` (default 5) scale it.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{DateTime, Duration as Days, NaiveDate, Utc};
use pricepool::store::format;
use pricepool::testkit::{FakeTibber, Process};

use crate::helpers::Xorshift;

const BINARY: &str = env!("CARGO_BIN_EXE_pricepool");
const NOW: &str = "2025-10-26T12:00:00Z";
const SAVE_DELAY: &str = "20ms";
const SAVE_MAX_DELAY: Duration = Duration::from_millis(100);
/// Scheduling and write time on a loaded 2-core machine.
const SLACK: Duration = Duration::from_millis(1000);

fn env_count(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

struct Upstream {
    runtime: tokio::runtime::Runtime,
    tibber: FakeTibber,
}

impl Upstream {
    fn start() -> Upstream {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let tibber = runtime.block_on(FakeTibber::start()).unwrap();
        tibber.set_now(NOW.parse().unwrap());
        Upstream { runtime, tibber }
    }

    /// Price queries received so far (home discovery is not counted).
    fn price_calls(&self) -> usize {
        let _guard = self.runtime.enter();
        self.tibber
            .calls()
            .iter()
            .filter(|call| call.query.contains("priceInfo"))
            .count()
    }
}

/// GET on the service: status and body; `None` when the server is gone.
fn get(service: &Process, path: &str) -> Option<(u16, String)> {
    let answer = service.get(path).ok()?;
    Some((answer.status, answer.body))
}

fn start_service(data_dir: &Path, upstream: &Upstream) -> Process {
    let save_max_delay = format!("{}ms", SAVE_MAX_DELAY.as_millis());
    Process::serve(
        BINARY,
        &[
            "--data-dir",
            data_dir.to_str().unwrap(),
            "--source",
            "tibber",
            "--tibber-url",
            upstream.tibber.url(),
            "--tibber-token",
            upstream.tibber.token(),
            "--no-prefetch",
            "--now",
            NOW,
            "--max-intervals",
            "100000",
            "--save-delay",
            SAVE_DELAY,
            "--save-max-delay",
            &save_max_delay,
        ],
    )
}

fn homes(service: &Process) -> Vec<String> {
    let (status, body) = get(service, "/v1/homes").expect("homes");
    assert_eq!(status, 200, "{body}");
    let value: serde_json::Value = serde_json::from_str(&body).unwrap();
    let list = value
        .as_array()
        .or_else(|| value["homes"].as_array())
        .cloned()
        .unwrap_or_default();
    list.iter()
        .filter_map(|home| home["id"].as_str().or(home["home_id"].as_str()))
        .map(str::to_owned)
        .collect()
}

/// One day served to a client, and when.
struct Served {
    intervals: serde_json::Value,
    at: Instant,
    /// The cycle that first served it.
    cycle: usize,
}

fn intervals_of(service: &Process, home: &str, date: NaiveDate) -> Option<serde_json::Value> {
    let (status, body) = get(service, &format!("/v1/homes/{home}/intervals?date={date}"))?;
    if status != 200 {
        return None;
    }
    let value: serde_json::Value = serde_json::from_str(&body).ok()?;
    (value["complete"] == true).then(|| value["intervals"].clone())
}

fn check_files(data_dir: &Path) -> usize {
    let mut n_temp = 0;
    for entry in std::fs::read_dir(data_dir.join("homes")).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.contains(".tmp-") {
            n_temp += 1;
        } else if name.ends_with(".json") {
            let bytes = std::fs::read(entry.path()).unwrap();
            format::decode(&bytes).unwrap_or_else(|e| panic!("{name} is torn or unparseable: {e}"));
        } else {
            panic!("unexpected file {name}: a snapshot was quarantined");
        }
    }
    n_temp
}

/// Re-reads every day served long enough before `stop`; all must come
/// from the restored snapshots.
fn verify_restored(
    service: &Process,
    upstream: &Upstream,
    served: &HashMap<(String, NaiveDate), Served>,
    stop: Instant,
    cycle: usize,
) -> usize {
    let mut n_checked = 0;
    let mut refetched = Vec::new();
    for ((home, date), day) in served {
        if day.at + SAVE_MAX_DELAY + SLACK > stop {
            continue;
        }
        let calls_before = upstream.price_calls();
        let again = intervals_of(service, home, *date)
            .unwrap_or_else(|| panic!("cycle {cycle}: {home} {date} not served after restart"));
        assert_eq!(again, day.intervals, "cycle {cycle}: {home} {date} changed");
        if upstream.price_calls() != calls_before {
            refetched.push(format!("{home} {date} (served in cycle {})", day.cycle));
        }
        n_checked += 1;
    }
    assert!(
        refetched.is_empty(),
        "cycle {cycle}: days saved before the kill were fetched again: {refetched:?}"
    );
    n_checked
}

fn day_within_a_month(rng: &mut Xorshift) -> NaiveDate {
    let now: DateTime<Utc> = NOW.parse().unwrap();
    (now - Days::days(1 + rng.below(30) as i64)).date_naive()
}

#[test]
fn the_service_killed_at_random_moments_serves_every_saved_day_without_refetching() {
    let upstream = Upstream::start();
    let data_dir = tempfile::tempdir().unwrap();
    let cycles = env_count("PRICEPOOL_SERVICE_CRASH_CYCLES", 15);
    let (mut rng, seed) = Xorshift::from_env();
    let mut served: HashMap<(String, NaiveDate), Served> = HashMap::new();
    let mut last_kill: Option<Instant> = None;
    let (mut n_checked, mut n_temp) = (0, 0);
    let started = Instant::now();
    for cycle in 0..cycles {
        let mut service = start_service(data_dir.path(), &upstream);
        let home_ids = homes(&service);
        assert!(!home_ids.is_empty());
        if let Some(killed) = last_kill {
            n_checked += verify_restored(&service, &upstream, &served, killed, cycle);
        }
        // Clients load days until the kill, which comes at a random moment.
        // Half the kills come early (start-up, first saves), half after
        // some days had time to be saved.
        let kill_after = Duration::from_millis(if rng.below(2) == 0 {
            rng.below(300)
        } else {
            1200 + rng.below(800)
        });
        let began = Instant::now();
        while began.elapsed() < kill_after {
            let home = home_ids[rng.below(home_ids.len() as u64) as usize].clone();
            let date = day_within_a_month(&mut rng);
            if let Some(intervals) = intervals_of(&service, &home, date) {
                served.entry((home, date)).or_insert(Served {
                    intervals,
                    at: Instant::now(),
                    cycle,
                });
            }
        }
        service.kill();
        let killed = Instant::now();
        // Days served too shortly before the kill may or may not be on
        // disk: no longer required (a later cycle may serve them again).
        served.retain(|_, day| day.cycle != cycle || day.at + SAVE_MAX_DELAY + SLACK <= killed);
        last_kill = Some(killed);
        n_temp += check_files(data_dir.path());
    }
    let mut service = start_service(data_dir.path(), &upstream);
    n_checked += verify_restored(&service, &upstream, &served, last_kill.unwrap(), cycles);
    service.kill();
    assert_eq!(
        check_files(data_dir.path()),
        0,
        "temp files after the last start"
    );
    eprintln!(
        "service crash test: {cycles} kill -9 cycles in {:?} (seed {seed}): 0 failed loads, \
         0 torn files, {n_temp} temp files left by kills (none after the next start), \
         {} days served, {n_checked} day re-reads after restarts, 0 upstream price calls for them",
        started.elapsed(),
        served.len()
    );
}

#[test]
fn the_service_stopped_with_sigterm_exits_0_and_loses_nothing() {
    let upstream = Upstream::start();
    let data_dir = tempfile::tempdir().unwrap();
    let runs = env_count("PRICEPOOL_SERVICE_SIGTERM_RUNS", 5);
    let (mut rng, _seed) = Xorshift::from_env();
    let mut served: HashMap<(String, NaiveDate), Served> = HashMap::new();
    let mut n_checked = 0;
    for run in 0..=runs {
        let mut service = start_service(data_dir.path(), &upstream);
        // Everything served before a graceful stop must be back.
        let stop = Instant::now() + SAVE_MAX_DELAY + SLACK;
        n_checked += verify_restored(&service, &upstream, &served, stop, run);
        if run == runs {
            service.kill();
            break;
        }
        let home_ids = homes(&service);
        for _ in 0..1 + rng.below(6) {
            let home = home_ids[rng.below(home_ids.len() as u64) as usize].clone();
            let date = day_within_a_month(&mut rng);
            if let Some(intervals) = intervals_of(&service, &home, date) {
                served.entry((home, date)).or_insert(Served {
                    intervals,
                    at: Instant::now() - SAVE_MAX_DELAY - SLACK,
                    cycle: run,
                });
            }
        }
        service.sigterm();
        let exit = service.wait(Duration::from_secs(30));
        assert_eq!(exit.code(), Some(0), "run {run}");
        assert_eq!(check_files(data_dir.path()), 0);
    }
    eprintln!(
        "service sigterm test: {runs} runs, exit 0 each, {} days served, {n_checked} re-reads, 0 lost",
        served.len()
    );
}
