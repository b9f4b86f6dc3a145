//! The real binary against clients that open connections and then do not
//! use them: idle keep-alive connections and slow or silent request heads
//! are closed after their timeouts, the connection cap refuses newcomers
//! fast while established connections are served, oversize heads are
//! refused, shutdown does not wait for half-sent requests, and HTTP/2 with
//! prior knowledge is served.

use std::io::{BufReader, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use pricepool::testkit::process::{command, read_answer};
use pricepool::testkit::{FakeTibber, Fault, Process};

const BINARY: &str = env!("CARGO_BIN_EXE_pricepool");

/// Starts the binary with `extra` flags on `data_dir` and waits until it
/// is ready. Its stderr goes to the test's: nothing here reads it, and an
/// unread pipe would block a child that logs much.
fn start(data_dir: &Path, extra: &[&str]) -> Process {
    let mut args = vec![
        "--data-dir",
        data_dir.to_str().unwrap(),
        "--now",
        "2025-10-26T10:00:00+01:00",
        "--no-prefetch",
    ];
    args.extend_from_slice(extra);
    let mut command = command(BINARY, &args);
    command.stderr(Stdio::inherit());
    Process::serve_command(command)
}

/// A raw connection to the service, for tests about sockets.
fn connect(service: &Process) -> TcpStream {
    let stream = TcpStream::connect(("127.0.0.1", service.port())).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
}

/// Sends GET `path` on `stream` (kept alive) and reads one answer; its status.
fn get_on(stream: &mut TcpStream, path: &str) -> std::io::Result<u16> {
    write!(stream, "GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n")?;
    read_answer(BufReader::new(stream)).map(|answer| answer.status)
}

/// A kept-alive connection that was served once, retried while a slot
/// freed by an earlier client is not yet noticed free.
fn connect_served(service: &Process) -> TcpStream {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut stream = connect(service);
        if let Ok(200) = get_on(&mut stream, "/healthz") {
            return stream;
        }
        assert!(Instant::now() < deadline, "no slot for a connection");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn healthz_answers(service: &Process) -> bool {
    service
        .get("/healthz")
        .is_ok_and(|answer| answer.status == 200)
}

/// Whether the server has closed `stream` (end of file or a reset),
/// waiting up to `within` for it.
fn closed_by_server(stream: &mut TcpStream, within: Duration) -> bool {
    stream.set_read_timeout(Some(within)).unwrap();
    let mut scratch = [0_u8; 512];
    loop {
        match stream.read(&mut scratch) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return false;
            }
            Err(_) => return true,
        }
    }
}

/// The test process needs a descriptor per connection it opens.
fn raise_own_open_files_limit() {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    let _ = setrlimit(
        Resource::Nofile,
        Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        },
    );
}

#[test]
fn two_thousand_idle_keep_alive_connections_are_closed_after_the_idle_timeout() {
    raise_own_open_files_limit();
    let data_dir = tempfile::tempdir().unwrap();
    let service = start(
        data_dir.path(),
        &["--idle-timeout", "4s", "--header-read-timeout", "2s"],
    );
    let rss_before = service.rss_kib();
    let opened = Instant::now();
    let mut idle: Vec<TcpStream> = (0..2000)
        .map(|_| {
            let mut stream = connect(&service);
            assert_eq!(get_on(&mut stream, "/healthz").unwrap(), 200);
            stream
        })
        .collect();
    let rss_idle = service.rss_kib();
    eprintln!(
        "RSS {rss_before} KiB before, {rss_idle} KiB with 2,000 idle connections (opened in {:?})",
        opened.elapsed()
    );
    // Kept alive meanwhile: a second request on an idle connection works.
    assert_eq!(get_on(&mut idle[0], "/healthz").unwrap(), 200);

    let deadline = Instant::now() + Duration::from_secs(30);
    let mut n_open = idle.len();
    while n_open > 0 {
        assert!(
            Instant::now() < deadline,
            "{n_open} idle connections still open 30 s after a 4 s idle timeout"
        );
        assert!(healthz_answers(&service), "/healthz not answered");
        idle.retain_mut(|stream| !closed_by_server(stream, Duration::from_millis(1)));
        n_open = idle.len();
        std::thread::sleep(Duration::from_millis(200));
    }
    eprintln!(
        "all closed {:?} after they were opened; RSS then {} KiB",
        opened.elapsed(),
        service.rss_kib()
    );
    assert!(healthz_answers(&service));
}

#[test]
fn a_slow_or_silent_request_head_is_closed_after_the_header_timeout() {
    let data_dir = tempfile::tempdir().unwrap();
    let service = start(
        data_dir.path(),
        &["--header-read-timeout", "2s", "--idle-timeout", "60s"],
    );
    let mut silent = connect(&service);
    let mut slow = connect(&service);
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
        .unwrap();
    let started = Instant::now();
    // One byte every 200 ms: every read makes progress, the head never ends.
    let slow_closed = loop {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "a head trickling in was kept open for 15 s against a 2 s header timeout"
        );
        if slow.write_all(b"a").is_err() || closed_by_server(&mut slow, Duration::from_millis(200))
        {
            break started.elapsed();
        }
    };
    assert!(
        closed_by_server(&mut silent, Duration::from_secs(10)),
        "a connection that never sent a byte was kept open"
    );
    eprintln!("slow head closed after {slow_closed:?}");
    assert!(healthz_answers(&service));
}

#[test]
fn past_the_cap_new_connections_are_refused_at_once_and_established_ones_are_served() {
    let data_dir = tempfile::tempdir().unwrap();
    let service = start(data_dir.path(), &["--max-connections", "20"]);
    let mut established: Vec<TcpStream> = (0..20).map(|_| connect_served(&service)).collect();

    for _ in 0..5 {
        let asked = Instant::now();
        let mut extra = connect(&service);
        // Refused: a 503 or a close, either way at once and not served.
        match get_on(&mut extra, "/healthz") {
            Ok(status) => assert_eq!(status, 503),
            Err(error) => assert_ne!(error.kind(), ErrorKind::WouldBlock, "{error}"),
        }
        assert!(
            asked.elapsed() < Duration::from_secs(2),
            "refusing took {:?}",
            asked.elapsed()
        );
    }
    for stream in &mut established {
        assert_eq!(get_on(stream, "/v1/homes").unwrap(), 200);
    }

    // A freed slot serves a newcomer again.
    established.pop();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !healthz_answers(&service) {
        assert!(Instant::now() < deadline, "a freed slot was not reused");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_client_that_stops_reading_loses_its_connection_after_the_idle_timeout() {
    let data_dir = tempfile::tempdir().unwrap();
    let service = start(
        data_dir.path(),
        &["--max-connections", "1", "--idle-timeout", "2s"],
    );
    let mut reader = connect_served(&service);
    // Pipelined requests for ~13 KB bodies, never read: the server's writes
    // fill both socket buffers and stall.
    reader
        .set_write_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let request = b"GET /v1/homes/demo/intervals?date=today HTTP/1.1\r\nHost: localhost\r\n\r\n";
    for _ in 0..20_000 {
        if reader.write_all(request).is_err() {
            break;
        }
    }
    let stalled = Instant::now();
    // The only slot is held until the stalled connection is dropped.
    let deadline = stalled + Duration::from_secs(20);
    while !healthz_answers(&service) {
        assert!(
            Instant::now() < deadline,
            "a stalled connection held its slot 20 s against a 2 s idle timeout"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!("stalled connection dropped after {:?}", stalled.elapsed());
}

#[test]
fn a_request_head_larger_than_the_cap_is_answered_431() {
    let data_dir = tempfile::tempdir().unwrap();
    let service = start(data_dir.path(), &["--max-header-bytes", "16384"]);
    let mut stream = connect(&service);
    let filler = "x".repeat(40 * 1024);
    let sent = write!(
        stream,
        "GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Filler: {filler}\r\n\r\n"
    );
    // The server may answer and close before it has read everything.
    let status = read_answer(BufReader::new(&mut stream)).map(|answer| answer.status);
    assert!(
        matches!(status, Ok(431)) || (sent.is_err() && status.is_err()),
        "{status:?}"
    );
    // A long request target within the cap still reaches the API's 414.
    let mut stream = connect(&service);
    let long = "x".repeat(10 * 1024);
    let status = get_on(
        &mut stream,
        &format!("/v1/homes/demo/intervals?date={long}"),
    );
    assert_eq!(status.unwrap(), 414);
}

#[test]
fn sigterm_with_a_half_sent_request_exits_0_at_once() {
    let data_dir = tempfile::tempdir().unwrap();
    let mut service = start(data_dir.path(), &["--shutdown-timeout", "20s"]);
    let mut half_sent = connect(&service);
    half_sent
        .write_all(b"GET /v1/homes HTTP/1.1\r\nHost: loc")
        .unwrap();
    let mut idle = connect(&service);
    assert_eq!(get_on(&mut idle, "/healthz").unwrap(), 200);
    std::thread::sleep(Duration::from_millis(200));

    let sent = Instant::now();
    service.sigterm();
    let exit = service
        .exited_within(Duration::from_secs(15))
        .expect("still running 15 s after SIGTERM (shutdown timeout 20 s)");
    assert_eq!(exit.code(), Some(0));
    assert!(
        sent.elapsed() < Duration::from_secs(5),
        "exit took {:?}",
        sent.elapsed()
    );
    assert!(closed_by_server(&mut half_sent, Duration::from_secs(1)));
}

#[test]
fn sigterm_with_200_requests_in_flight_answers_them_all() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let tibber = runtime.block_on(FakeTibber::start()).unwrap();
    let data_dir = tempfile::tempdir().unwrap();
    let mut service = start(
        data_dir.path(),
        &[
            "--source",
            "tibber",
            "--tibber-url",
            tibber.url(),
            "--tibber-token",
            tibber.token(),
        ],
    );
    tibber.set_now("2025-10-26T09:00:00Z".parse().unwrap());
    // Ready once the homes are discovered.
    let deadline = Instant::now() + Duration::from_secs(20);
    let homes = loop {
        match service.get("/v1/homes").unwrap() {
            answer if answer.status == 200 => break answer.json(),
            answer => assert!(
                Instant::now() < deadline,
                "/v1/homes still {}",
                answer.status
            ),
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let homes = homes.as_array().or_else(|| homes["homes"].as_array());
    let home = homes.and_then(|homes| homes.first()?["id"].as_str());
    let home = home.expect("a home id").to_owned();
    tibber.set_fault(Some(Fault::Slow(Duration::from_secs(2))));

    // Every request is sent before SIGTERM (a connection without one is
    // closed at shutdown); the answers are read on threads. Eight distinct
    // old days: within one home's share of the history budget.
    let clients: Vec<_> = (0..200)
        .map(|n| {
            let mut stream = connect(&service);
            let path = format!("/v1/homes/{home}/intervals?date=2025-10-{:02}", 1 + n % 8);
            write!(stream, "GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
            std::thread::spawn(move || {
                read_answer(BufReader::new(&mut stream)).map(|answer| answer.status)
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(700));
    let sent = Instant::now();
    service.sigterm();
    for client in clients {
        assert_eq!(client.join().unwrap().expect("answered, not dropped"), 200);
    }
    // The limit only turns a hang into a failure (shutdown timeout 10 s).
    let exit = service.wait(Duration::from_secs(60));
    assert_eq!(exit.code(), Some(0));
    eprintln!(
        "200 in-flight requests answered; exit 0 {:?} after SIGTERM",
        sent.elapsed()
    );
}

#[test]
fn http2_with_prior_knowledge_is_served() {
    let data_dir = tempfile::tempdir().unwrap();
    let service = start(data_dir.path(), &[]);
    let mut stream = connect(&service);
    let mut request = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    // An empty SETTINGS frame.
    request.extend_from_slice(&[0, 0, 0, 0x4, 0, 0, 0, 0, 0]);
    // HEADERS on stream 1, END_STREAM | END_HEADERS: GET http /healthz (HPACK:
    // indexed :method GET, :scheme http, then :path as a literal).
    let mut block = vec![0x82, 0x86, 0x44, 8];
    block.extend_from_slice(b"/healthz");
    request.extend_from_slice(&[0, 0, block.len() as u8, 0x1, 0x5, 0, 0, 0, 1]);
    request.extend_from_slice(&block);
    stream.write_all(&request).unwrap();

    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        assert!(Instant::now() < deadline, "no answer on stream 1");
        let mut header = [0_u8; 9];
        stream
            .read_exact(&mut header)
            .expect("an HTTP/2 frame, not a reset");
        let length =
            usize::from(header[0]) << 16 | usize::from(header[1]) << 8 | usize::from(header[2]);
        let mut payload = vec![0_u8; length];
        stream.read_exact(&mut payload).unwrap();
        let (kind, stream_id) = (
            header[3],
            u32::from_be_bytes([header[5], header[6], header[7], header[8]]),
        );
        if kind == 0x1 && stream_id == 1 {
            // HPACK static index 8 is `:status 200`.
            assert_eq!(payload.first(), Some(&0x88), "{payload:?}");
            break;
        }
        assert_ne!(kind, 0x7, "GOAWAY instead of an answer: {payload:?}");
    }
}
