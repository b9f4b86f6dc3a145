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
