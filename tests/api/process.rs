//! The real binary: startup failures are one clear line and a non-zero
//! exit; SIGTERM is a graceful shutdown with exit 0.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BINARY: &str = env!("CARGO_BIN_EXE_pricepool");

fn pricepool(args: &[&str]) -> Command {
    let mut command = Command::new(BINARY);
    command
        .args(args)
        .env_remove("PRICEPOOL_API_TOKEN")
        .env("PRICEPOOL_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    command
}

/// Waits for `child` to exit within `limit`, or kills it and fails.
fn wait_exit(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("pricepool did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn stderr_lines(child: Child) -> Vec<String> {
    let output = child.wait_with_output().expect("output");
    String::from_utf8_lossy(&output.stderr)
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(str::to_string)
        .collect()
}

/// Starts the binary on a free port and waits until /healthz answers.
fn start_serving(data_dir: &std::path::Path, extra: &[&str]) -> (Child, u16) {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = probe.local_addr().unwrap().port();
    drop(probe);
    let listen = format!("127.0.0.1:{port}");
    let mut args = vec![
        "--listen",
        &listen,
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
    let child = pricepool(&args).spawn().expect("spawn pricepool");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(&listen).is_err() {
        assert!(
            Instant::now() < deadline,
            "pricepool did not start listening"
        );
        std::thread::sleep(Duration::from_millis(25));
    }
    (child, port)
}

fn http_get(port: u16, path: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

fn sigterm(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill(1)");
    assert!(status.success());
}

#[test]
fn sigterm_exits_0_after_flushing_the_homes_changed_since_the_last_save() {
    let data_dir = tempfile::tempdir().unwrap();
    let (mut child, port) = start_serving(data_dir.path(), &[]);
    let answer = http_get(port, "/v1/homes/demo/intervals?date=today");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let snapshot = data_dir.path().join("homes").join("demo.json");
    assert!(!snapshot.exists(), "the 60 s save delay has not passed yet");

    sigterm(&child);
    let status = wait_exit(&mut child, Duration::from_secs(10));
    assert_eq!(status.code(), Some(0));
    let saved = std::fs::read_to_string(&snapshot).expect("the dirty home was flushed");
    let saved: serde_json::Value = serde_json::from_str(&saved).expect("a JSON snapshot");
    assert_eq!(saved["home_id"], "demo");
    assert!(!saved["groups"].as_array().expect("fetch groups").is_empty());
}

#[test]
fn sigterm_when_idle_exits_within_a_second() {
    let data_dir = tempfile::tempdir().unwrap();
    let (mut child, _port) = start_serving(data_dir.path(), &[]);
    let sent = Instant::now();
    sigterm(&child);
    let status = wait_exit(&mut child, Duration::from_secs(5));
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
    let (mut first, _port) = start_serving(data_dir.path(), &[]);
    let started = Instant::now();
    let mut second = pricepool(&[
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        data_dir.path().to_str().unwrap(),
    ])
    .spawn()
    .unwrap();
    let status = wait_exit(&mut second, Duration::from_secs(5));
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "took {:?}",
        started.elapsed()
    );
    assert_ne!(status.code(), Some(0));
    let lines = stderr_lines(second);
    assert_eq!(lines.len(), 1, "one line: {lines:?}");
    assert!(
        lines[0].contains(data_dir.path().to_str().unwrap()),
        "{lines:?}"
    );
    sigterm(&first);
    assert_eq!(
        wait_exit(&mut first, Duration::from_secs(10)).code(),
        Some(0)
    );
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
    ])
    .spawn()
    .unwrap();
    let status = wait_exit(&mut child, Duration::from_secs(10));
    assert_ne!(status.code(), Some(0));
    let lines = stderr_lines(child);
    assert_eq!(lines.len(), 1, "one line: {lines:?}");
    assert!(
        lines[0].contains(&address) && lines[0].contains("in use"),
        "{lines:?}"
    );
}

#[test]
fn a_bad_flag_value_is_one_clear_line_and_a_non_zero_exit() {
    let child = pricepool(&["--save-delay", "soon"]).spawn().unwrap();
    let lines = stderr_lines(child);
    assert_eq!(lines.len(), 1, "one line: {lines:?}");
    assert!(lines[0].contains("--save-delay"), "{lines:?}");
    let mut child = pricepool(&["--source", "tibber"])
        .env_remove("PRICEPOOL_TIBBER_TOKEN")
        .spawn()
        .unwrap();
    assert_ne!(
        wait_exit(&mut child, Duration::from_secs(5)).code(),
        Some(0)
    );
    let lines = stderr_lines(child);
    assert_eq!(lines.len(), 1, "one line: {lines:?}");
    assert!(lines[0].contains("tibber-token"), "{lines:?}");
}

#[test]
fn healthcheck_exits_0_when_the_service_answers_and_1_when_it_does_not() {
    let data_dir = tempfile::tempdir().unwrap();
    let (mut child, port) = start_serving(data_dir.path(), &[]);
    let listen = format!("127.0.0.1:{port}");
    let healthy = pricepool(&["--listen", &listen, "healthcheck"])
        .status()
        .unwrap();
    assert_eq!(healthy.code(), Some(0));
    sigterm(&child);
    assert_eq!(
        wait_exit(&mut child, Duration::from_secs(10)).code(),
        Some(0)
    );
    let unhealthy = pricepool(&["--listen", &listen, "healthcheck", "--timeout", "500ms"])
        .status()
        .unwrap();
    assert_eq!(unhealthy.code(), Some(1));
}

#[test]
fn a_log_pipe_that_went_away_neither_stops_serving_nor_the_graceful_shutdown() {
    let data_dir = tempfile::tempdir().unwrap();
    let (mut child, port) = start_serving(data_dir.path(), &["--log", "info"]);
    drop(child.stderr.take());
    for _ in 0..3 {
        let answer = http_get(port, "/v1/homes/demo/intervals?date=today");
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }
    sigterm(&child);
    assert_eq!(
        wait_exit(&mut child, Duration::from_secs(10)).code(),
        Some(0)
    );
    assert!(data_dir.path().join("homes").join("demo.json").exists());
}
