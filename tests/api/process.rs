//! The real binary: startup failures are one clear line and a non-zero
//! exit; SIGTERM is a graceful shutdown with exit 0.

use std::time::{Duration, Instant};

use pricepool::testkit::Process;
use pricepool::testkit::process::command;

const BINARY: &str = env!("CARGO_BIN_EXE_pricepool");

/// Starts the binary on a free port and waits until it is ready, with
/// saves far enough away that only a shutdown flush writes a snapshot.
fn start_serving(data_dir: &std::path::Path, extra: &[&str]) -> Process {
    let mut args = vec![
        "--data-dir",
        data_dir.to_str().unwrap(),
        "--now",
        "2025-10-26T10:00:00+01:00",
        "--no-prefetch",
        "--save-delay",
        "60s",
        "--save-max-delay",
        "120s",
    ];
    args.extend_from_slice(extra);
    Process::serve(BINARY, &args)
}

/// Runs the binary with `args` (no waiting).
fn pricepool(args: &[&str]) -> Process {
    Process::spawn(command(BINARY, args))
}

#[test]
fn sigterm_exits_0_after_flushing_the_homes_changed_since_the_last_save() {
    let data_dir = tempfile::tempdir().unwrap();
    let mut child = start_serving(data_dir.path(), &[]);
    let answer = child.get("/v1/homes/demo/intervals?date=today").unwrap();
    assert_eq!(answer.status, 200, "{answer:?}");
    let snapshot = data_dir.path().join("homes").join("demo.json");
    assert!(!snapshot.exists(), "the 60 s save delay has not passed yet");

    child.sigterm();
    let status = child.wait(Duration::from_secs(10));
    assert_eq!(status.code(), Some(0));
    let saved = std::fs::read_to_string(&snapshot).expect("the dirty home was flushed");
    let saved: serde_json::Value = serde_json::from_str(&saved).expect("a JSON snapshot");
    assert_eq!(saved["home_id"], "demo");
    assert!(!saved["groups"].as_array().expect("fetch groups").is_empty());
}

#[test]
fn every_stop_signal_exits_0_after_flushing_the_homes_changed_since_the_last_save() {
    // SIGHUP (a closed terminal or session), SIGQUIT and SIGUSR1 ended the
    // process by their default action, losing what was not saved yet.
    for signal in ["INT", "HUP", "QUIT", "USR1"] {
        let data_dir = tempfile::tempdir().unwrap();
        let mut child = start_serving(data_dir.path(), &[]);
        let answer = child.get("/v1/homes/demo/intervals?date=today").unwrap();
        assert_eq!(answer.status, 200, "{answer:?}");
        let snapshot = data_dir.path().join("homes").join("demo.json");
        assert!(!snapshot.exists(), "the 60 s save delay has not passed yet");

        child.signal(signal);
        let status = child.wait(Duration::from_secs(10));
        assert_eq!(status.code(), Some(0), "SIG{signal}");
        let saved = std::fs::read_to_string(&snapshot)
            .unwrap_or_else(|_| panic!("SIG{signal}: the dirty home was not flushed"));
        let saved: serde_json::Value = serde_json::from_str(&saved).expect("a JSON snapshot");
        assert_eq!(saved["home_id"], "demo", "SIG{signal}");
    }
}

#[test]
fn sigterm_when_idle_exits_within_a_second() {
    let data_dir = tempfile::tempdir().unwrap();
    let mut child = start_serving(data_dir.path(), &[]);
    let sent = Instant::now();
    child.sigterm();
    let status = child.wait(Duration::from_secs(5));
    assert_eq!(status.code(), Some(0));
    assert!(
        sent.elapsed() < Duration::from_secs(1),
        "took {:?}",
        sent.elapsed()
    );
}

#[test]
fn a_second_instance_on_a_locked_data_dir_exits_with_one_line_naming_it() {
    let data_dir = tempfile::tempdir().unwrap();
    let mut first = start_serving(data_dir.path(), &[]);
    let started = Instant::now();
    let mut second = pricepool(&[
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        data_dir.path().to_str().unwrap(),
    ]);
    let status = second.wait(Duration::from_secs(5));
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "took {:?}",
        started.elapsed()
    );
    assert_ne!(status.code(), Some(0));
    let lines = second.stderr_lines();
    assert_eq!(lines.len(), 1, "one line: {lines:?}");
    assert!(
        lines[0].contains(data_dir.path().to_str().unwrap()),
        "{lines:?}"
    );
    first.sigterm();
    assert_eq!(first.wait(Duration::from_secs(10)).code(), Some(0));
}

#[test]
fn a_port_in_use_is_one_clear_line_and_a_non_zero_exit() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let data_dir = tempfile::tempdir().unwrap();
    let mut child = pricepool(&[
        "--listen",
        &address,
        "--data-dir",
        data_dir.path().to_str().unwrap(),
    ]);
    let status = child.wait(Duration::from_secs(10));
    assert_ne!(status.code(), Some(0));
    let lines = child.stderr_lines();
    assert_eq!(lines.len(), 1, "one line: {lines:?}");
    assert!(
        lines[0].contains(&address) && lines[0].contains("in use"),
        "{lines:?}"
    );
}

#[test]
fn a_bad_flag_value_is_one_clear_line_and_a_non_zero_exit() {
    let mut child = pricepool(&["--save-delay", "soon"]);
    child.wait(Duration::from_secs(10));
    let lines = child.stderr_lines();
    assert_eq!(lines.len(), 1, "one line: {lines:?}");
    assert!(lines[0].contains("--save-delay"), "{lines:?}");
    let mut without_token = command(BINARY, &["--source", "tibber"]);
    without_token.env_remove("PRICEPOOL_TIBBER_TOKEN");
    let mut child = Process::spawn(without_token);
    assert_ne!(child.wait(Duration::from_secs(5)).code(), Some(0));
    let lines = child.stderr_lines();
    assert_eq!(lines.len(), 1, "one line: {lines:?}");
    assert!(lines[0].contains("tibber-token"), "{lines:?}");
}

#[test]
fn healthcheck_exits_0_when_the_service_answers_and_1_when_it_does_not() {
    let data_dir = tempfile::tempdir().unwrap();
    let mut child = start_serving(data_dir.path(), &[]);
    let listen = child.listen();
    let healthy = command(BINARY, &["--listen", &listen, "healthcheck"])
        .status()
        .unwrap();
    assert_eq!(healthy.code(), Some(0));
    child.sigterm();
    assert_eq!(child.wait(Duration::from_secs(10)).code(), Some(0));
    let unhealthy = command(
        BINARY,
        &["--listen", &listen, "healthcheck", "--timeout", "500ms"],
    )
    .status()
    .unwrap();
    assert_eq!(unhealthy.code(), Some(1));
}

#[test]
fn a_log_pipe_that_went_away_neither_stops_serving_nor_the_graceful_shutdown() {
    let data_dir = tempfile::tempdir().unwrap();
    let mut child = start_serving(data_dir.path(), &["--log", "info"]);
    child.close_stderr();
    for _ in 0..3 {
        let answer = child.get("/v1/homes/demo/intervals?date=today").unwrap();
        assert_eq!(answer.status, 200, "{answer:?}");
    }
    child.sigterm();
    assert_eq!(child.wait(Duration::from_secs(10)).code(), Some(0));
    assert!(data_dir.path().join("homes").join("demo.json").exists());
}
