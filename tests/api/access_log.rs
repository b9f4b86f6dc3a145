//! The access line of the real binary: one line per request at the
//! default log level, written through the non-blocking log writer, naming
//! method, route, home, status, latency and request id, and written out
//! before the process exits.

use std::io::{BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

use pricepool::testkit::Process;
use pricepool::testkit::process::read_answer;

const BINARY: &str = env!("CARGO_BIN_EXE_pricepool");

/// Asks `path` on `process` with `X-Request-Id: request_id`; the status.
fn get_with_request_id(process: &Process, path: &str, request_id: &str) -> u16 {
    let mut stream = TcpStream::connect(("127.0.0.1", process.port())).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Request-Id: {request_id}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    read_answer(BufReader::new(stream)).unwrap().status
}

#[test]
fn every_request_leaves_one_access_line_with_method_route_home_status_latency_and_request_id() {
    let data_dir = tempfile::tempdir().unwrap();
    let mut child = Process::serve(
        BINARY,
        &[
            "--data-dir",
            data_dir.path().to_str().unwrap(),
            "--now",
            "2025-10-26T10:00:00+01:00",
            "--no-prefetch",
            // The default level (the harness runs the binary at warn).
            "--log",
            "info",
        ],
    );
    let ok = get_with_request_id(&child, "/v1/homes/demo/intervals?date=today", "access-ok-1");
    assert_eq!(ok, 200);
    let unknown = get_with_request_id(&child, "/v1/homes/nobody/rates", "access-404-2");
    assert_eq!(unknown, 404);
    child.sigterm();
    assert_eq!(child.wait(Duration::from_secs(10)).code(), Some(0));

    let lines = child.stderr_lines();
    let line_of = |request_id: &str| -> String {
        let found: Vec<&String> = lines
            .iter()
            .filter(|line| line.contains(request_id) && line.contains("answered"))
            .collect();
        assert_eq!(
            found.len(),
            1,
            "one access line for {request_id}:\n{lines:#?}"
        );
        found[0].clone()
    };
    let ok_line = line_of("access-ok-1");
    // The whole line as operators read it today, the timestamp aside.
    let (time, rest) = ok_line.split_once(' ').unwrap();
    assert!(
        chrono::DateTime::parse_from_rfc3339(time).is_ok() && time.ends_with('Z'),
        "{ok_line}"
    );
    assert!(
        rest.starts_with(
            " INFO request{request_id=\"access-ok-1\"}: pricepool::api::spans: answered \
             method=\"GET\" route=\"/v1/homes/{home_id}/intervals\" home_id=\"demo\" status=200 latency_ms="
        ),
        "{ok_line}"
    );
    for part in [
        "INFO",
        "method=\"GET\"",
        "route=\"/v1/homes/{home_id}/intervals\"",
        "home_id=\"demo\"",
        "status=200",
        "latency_ms=",
    ] {
        assert!(ok_line.contains(part), "{part} missing in {ok_line}");
    }
    let unknown_line = line_of("access-404-2");
    for part in [
        "route=\"/v1/homes/{home_id}/rates\"",
        "home_id=\"nobody\"",
        "status=404",
    ] {
        assert!(
            unknown_line.contains(part),
            "{part} missing in {unknown_line}"
        );
    }
}

/// Serves with `flags` added, asks for one known and one unknown home,
/// stops the process and returns its stderr lines.
fn lines_after_two_requests(flags: &[&str]) -> Vec<String> {
    let data_dir = tempfile::tempdir().unwrap();
    let mut args = vec![
        "--data-dir",
        data_dir.path().to_str().unwrap(),
        "--now",
        "2025-10-26T10:00:00+01:00",
        "--no-prefetch",
    ];
    args.extend_from_slice(flags);
    let mut child = Process::serve(BINARY, &args);
    let ok = get_with_request_id(&child, "/v1/homes/demo/intervals?date=today", "access-ok-3");
    assert_eq!(ok, 200);
    let unknown = get_with_request_id(&child, "/v1/homes/nobody/rates", "access-404-4");
    assert_eq!(unknown, 404);
    child.sigterm();
    assert_eq!(child.wait(Duration::from_secs(10)).code(), Some(0));
    child.stderr_lines()
}

#[test]
fn the_json_access_line_carries_the_same_fields() {
    let lines = lines_after_two_requests(&["--log", "info", "--log-format", "json"]);
    let access: Vec<serde_json::Value> = lines
        .iter()
        .filter(|line| line.contains("access-ok-3"))
        .map(|line| serde_json::from_str(line).unwrap())
        .filter(|line: &serde_json::Value| line["message"] == "answered")
        .collect();
    assert_eq!(access.len(), 1, "{lines:#?}");
    let line = &access[0];
    assert!(line["timestamp"].as_str().is_some(), "{line}");
    assert_eq!(line["level"], "INFO", "{line}");
    assert_eq!(line["target"], "pricepool::api::spans", "{line}");
    assert_eq!(line["method"], "GET", "{line}");
    assert_eq!(line["route"], "/v1/homes/{home_id}/intervals", "{line}");
    assert_eq!(line["home_id"], "demo", "{line}");
    assert_eq!(line["status"], 200, "{line}");
    assert!(line["latency_ms"].as_f64().is_some(), "{line}");
    assert_eq!(line["span"]["request_id"], "access-ok-3", "{line}");
    assert_eq!(line["span"]["name"], "request", "{line}");
}

#[test]
fn a_log_level_above_info_silences_the_access_line() {
    let lines = lines_after_two_requests(&["--log", "warn"]);
    // (A 503 from /readyz while starting is a server error, at warn.)
    let access_of_the_requests = |lines: &[String]| {
        lines
            .iter()
            .filter(|line| line.contains("answered") && !line.contains("/readyz"))
            .count()
    };
    assert_eq!(access_of_the_requests(&lines), 0, "{lines:#?}");
    // The filter in `tracing` syntax silences just the access line, too.
    let lines = lines_after_two_requests(&["--log", "info,pricepool::api::spans=warn"]);
    assert_eq!(access_of_the_requests(&lines), 0, "{lines:#?}");
    assert!(
        lines.iter().any(|line| line.contains("INFO")),
        "other info lines still written: {lines:#?}"
    );
}
