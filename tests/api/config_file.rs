//! `--config FILE`: the real binary reads its options from a TOML file,
//! flags and environment variables win over it, a bad file stops the start
//! with one line naming the file, the home and the key, and `--source`
//! decides which homes besides the declared ones are served.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use pricepool::testkit::Process;
use pricepool::testkit::process::{command, free_port, http};

const BINARY: &str = env!("CARGO_BIN_EXE_pricepool");

/// A config file holding `text` in a fresh directory (kept as long as the guard).
fn config_file(text: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pricepool.toml");
    std::fs::write(&path, text).unwrap();
    let path = path.to_str().unwrap().to_string();
    (dir, path)
}

/// The binary with `args`, nothing about the source inherited from the shell.
fn pricepool(args: &[&str]) -> Command {
    let mut command = command(BINARY, args);
    for variable in [
        "PRICEPOOL_SOURCE",
        "PRICEPOOL_TIBBER_TOKEN",
        "PRICEPOOL_CONFIG",
    ] {
        command.env_remove(variable);
    }
    command
}

/// Starts `command` and waits until `/readyz` on `port` answers 200.
fn ready(command: Command, port: u16) -> Process {
    let mut process = Process::spawn(command);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !http(port, "GET", "/readyz", None).is_ok_and(|a| a.status == 200) {
        if let Some(status) = process.try_wait() {
            panic!("exited ({status}) before ready: {}", process.stderr());
        }
        assert!(Instant::now() < deadline, "not ready: {}", process.stderr());
        std::thread::sleep(Duration::from_millis(20));
    }
    process
}

fn get(port: u16, path: &str) -> serde_json::Value {
    let answer = http(port, "GET", path, None).unwrap();
    assert_eq!(answer.status, 200, "{path}: {answer:?}");
    answer.json()
}

fn home_ids(port: u16) -> Vec<String> {
    let homes = get(port, "/v1/homes");
    let homes = homes["homes"].as_array().expect("a list of homes");
    homes
        .iter()
        .map(|h| h["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn the_files_listen_data_dir_and_max_intervals_are_honoured() {
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let (_dir, path) = config_file(&format!(
        "listen = \"127.0.0.1:{port}\"\ndata_dir = {:?}\nmax_intervals = 500\nno_prefetch = true\nsave_delay = \"60s\"\nsave_max_delay = \"120s\"\n",
        data.path().to_str().unwrap()
    ));
    let mut service = ready(pricepool(&["--config", &path]), port);
    assert_eq!(
        get(port, "/v1/homes/demo/stats")["pool"]["max_intervals"],
        500
    );
    get(port, "/v1/homes/demo/intervals?date=today");
    service.sigterm();
    assert_eq!(service.wait(Duration::from_secs(10)).code(), Some(0));
    assert!(Path::new(&data.path().join("homes").join("demo.json")).exists());
}

#[test]
fn a_flag_and_an_environment_variable_each_win_over_the_file() {
    let data = tempfile::tempdir().unwrap();
    // The file's address is not this machine's: serving at all shows the flag won.
    let (_dir, path) = config_file(&format!(
        "listen = \"192.0.2.1:8080\"\ndata_dir = {:?}\nmax_intervals = 500\n",
        data.path().to_str().unwrap()
    ));
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let args = ["--config", &path, "--listen", &listen, "--no-prefetch"];
    let flagged = [&args[..], &["--max-intervals", "300"]].concat();
    let service = ready(pricepool(&flagged), port);
    assert_eq!(
        get(port, "/v1/homes/demo/stats")["pool"]["max_intervals"],
        300
    );
    drop(service);

    let port = free_port();
    let mut with_variable = pricepool(&["--config", &path, "--no-prefetch"]);
    with_variable
        .env("PRICEPOOL_MAX_INTERVALS", "400")
        .env("PRICEPOOL_LISTEN", format!("127.0.0.1:{port}"));
    let _service = ready(with_variable, port);
    assert_eq!(
        get(port, "/v1/homes/demo/stats")["pool"]["max_intervals"],
        400
    );
}

#[test]
fn a_bad_file_stops_the_start_with_one_line_naming_file_home_and_key() {
    let cases = [
        (
            "[[homes]]\nid = \"flat\"\nmarket = \"DE-LU\"\n[homes.tariff]\nwindows = [{ from = \"17:00\", to = \"25:00\", charges = 0.05 }]\n",
            "home \"flat\": tariff.windows[0].to: \"25:00\" is not a time of day (HH:MM, or 24:00)",
        ),
        (
            "[[homes]]\nid = \"flat\"\nmarket = \"DE-LU\"\nsources = [\"energy-charts\", \"tibber\"]\n",
            "home \"flat\": sources[1]: unknown source \"tibber\"",
        ),
        (
            "[[homes]]\nid = \"flat\"\nmarket = \"Mordor\"\n",
            "home \"flat\": market: unknown market \"Mordor\"",
        ),
        ("save_dealy = \"3s\"\n", "save_dealy: unknown key"),
    ];
    for (text, named) in cases {
        let (_dir, path) = config_file(text);
        let mut child = Process::spawn(pricepool(&["--config", &path, "--listen", "127.0.0.1:0"]));
        let status = child.wait(Duration::from_secs(2));
        assert!(!status.success(), "{text}");
        let lines = child.stderr_lines();
        let expected = format!("pricepool: cannot start: invalid configuration: {path}: {named}");
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(
            lines[0].starts_with(&expected),
            "{lines:?}\nexpected {expected}"
        );
    }
}

#[test]
fn source_none_without_declared_homes_serves_no_homes() {
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let data_dir = data.path().to_str().unwrap();
    let args = [
        "--listen",
        &listen,
        "--data-dir",
        data_dir,
        "--source",
        "none",
    ];
    let _service = ready(pricepool(&args), port);
    assert_eq!(home_ids(port), Vec::<String>::new());
    let demo = http(port, "GET", "/v1/homes/demo/intervals?date=today", None).unwrap();
    assert_eq!(demo.status, 404, "{demo:?}");
}

#[test]
fn by_default_without_token_or_homes_the_demo_market_is_served() {
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let data_dir = data.path().to_str().unwrap();
    let _service = ready(
        pricepool(&["--listen", &listen, "--data-dir", data_dir]),
        port,
    );
    assert!(home_ids(port).contains(&"demo".to_string()));
    let today = get(port, "/v1/homes/demo/intervals?date=today");
    assert!(today.to_string().contains("starts_at"), "{today}");
}
