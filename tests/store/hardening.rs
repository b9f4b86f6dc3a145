//! Odd files and a vanishing data directory, against the real binary: a
//! FIFO or a link to `/dev/zero` in place of a snapshot is moved aside and
//! the service gets ready; a 2 GB sparse file is moved aside unread; a
//! deleted `homes/` is created again at the next save; a data directory
//! deleted under a running instance is locked again, so a second instance
//! on the same path is refused.

use std::ffi::CString;
use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BINARY: &str = env!("CARGO_BIN_EXE_pricepool");

/// Generous: a debug binary on a loaded 2-core machine. The figures the
/// tests print are what to look at.
const STARTUP_LIMIT: Duration = Duration::from_secs(15);

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

/// A running service; killed if a test fails before stopping it.
struct Service {
    child: Child,
    port: u16,
    spawned: Instant,
}

impl Drop for Service {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn spawn(data_dir: &Path, extra: &[&str]) -> Service {
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
    ];
    args.extend_from_slice(extra);
    let child = pricepool(&args).spawn().expect("spawn pricepool");
    Service {
        child,
        port,
        spawned: Instant::now(),
    }
}

/// GET on the service: the status code, `None` when nothing answers.
fn get_status(port: u16, path: &str) -> Option<u16> {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    answer.get(9..12)?.parse().ok()
}

impl Service {
    /// Waits for `/readyz` to answer 200; returns the time since spawn.
    fn wait_ready(&mut self) -> Duration {
        let deadline = self.spawned + STARTUP_LIMIT;
        loop {
            if get_status(self.port, "/readyz") == Some(200) {
                return self.spawned.elapsed();
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("pricepool exited before it was ready: {status}");
            }
            assert!(
                Instant::now() < deadline,
                "not ready within {STARTUP_LIMIT:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn get_ok(&self, path: &str) {
        assert_eq!(get_status(self.port, path), Some(200), "GET {path}");
    }

    /// The peak resident set size so far (`VmHWM`), in KiB.
    fn peak_rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmHWM in /proc/PID/status")
    }

    /// SIGTERM, then the exit code (within 10 s).
    fn stop(mut self) -> Option<i32> {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill(1)");
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status.code();
            }
            assert!(Instant::now() < deadline, "no exit within 10 s of SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn mkfifo(path: &Path) {
    let c_path = CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path; mkfifo only reads it.
    let rc = unsafe { libc::mkfifo(c_path.as_ptr(), 0o644) };
    assert_eq!(rc, 0, "mkfifo: {}", std::io::Error::last_os_error());
}

fn homes_dir(data_dir: &Path) -> PathBuf {
    let homes = data_dir.join("homes");
    std::fs::create_dir_all(&homes).unwrap();
    homes
}

/// The names in `dir` starting with `prefix`.
fn names_starting(dir: &Path, prefix: &str) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|name| name.starts_with(prefix))
                .collect()
        })
        .unwrap_or_default()
}

fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) -> Duration {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
    started.elapsed()
}

#[test]
fn a_fifo_in_place_of_a_snapshot_is_moved_aside_and_sigterm_still_exits_0() {
    let data_dir = tempfile::tempdir().unwrap();
    let homes = homes_dir(data_dir.path());
    mkfifo(&homes.join("demo.json"));
    let mut service = spawn(data_dir.path(), &[]);
    let ready = service.wait_ready();
    println!("FIFO snapshot: ready {ready:?} after spawn");
    let aside = names_starting(&homes, "demo.json.corrupt-");
    assert_eq!(aside.len(), 1, "moved aside: {aside:?}");
    let moved = std::fs::symlink_metadata(homes.join(&aside[0])).unwrap();
    assert!(std::os::unix::fs::FileTypeExt::is_fifo(&moved.file_type()));
    service.get_ok("/v1/homes/demo/intervals?date=today");
    assert_eq!(service.stop(), Some(0));
}

#[test]
fn a_link_to_dev_zero_is_moved_aside_unread_and_its_target_untouched() {
    let data_dir = tempfile::tempdir().unwrap();
    let homes = homes_dir(data_dir.path());
    std::os::unix::fs::symlink("/dev/zero", homes.join("demo.json")).unwrap();
    let mut service = spawn(data_dir.path(), &[]);
    let ready = service.wait_ready();
    let peak = service.peak_rss_kib();
    println!("symlink to /dev/zero: ready {ready:?} after spawn, peak RSS {peak} KiB");
    assert!(peak < 256 * 1024, "peak RSS {peak} KiB");
    let aside = names_starting(&homes, "demo.json.corrupt-");
    assert_eq!(aside.len(), 1, "moved aside: {aside:?}");
    // The link itself was moved; it still points where it did.
    assert_eq!(
        std::fs::read_link(homes.join(&aside[0])).unwrap(),
        Path::new("/dev/zero")
    );
    assert_eq!(service.stop(), Some(0));
}

#[test]
fn a_2_gb_sparse_file_is_moved_aside_without_being_read() {
    let data_dir = tempfile::tempdir().unwrap();
    let homes = homes_dir(data_dir.path());
    std::fs::File::create(homes.join("demo.json"))
        .unwrap()
        .set_len(2 << 30)
        .unwrap();
    let mut service = spawn(data_dir.path(), &[]);
    let ready = service.wait_ready();
    let peak = service.peak_rss_kib();
    println!("2 GB sparse snapshot: ready {ready:?} after spawn, peak RSS {peak} KiB");
    assert!(peak < 256 * 1024, "peak RSS {peak} KiB");
    let aside = names_starting(&homes, "demo.json.corrupt-");
    assert_eq!(aside.len(), 1, "moved aside: {aside:?}");
    assert_eq!(
        std::fs::metadata(homes.join(&aside[0])).unwrap().len(),
        2 << 30
    );
    assert_eq!(service.stop(), Some(0));
}

#[test]
fn a_deleted_homes_directory_is_created_again_at_the_next_save() {
    let data_dir = tempfile::tempdir().unwrap();
    let homes = data_dir.path().join("homes");
    let snapshot = homes.join("demo.json");
    let fast_saves = ["--save-delay", "20ms", "--save-max-delay", "100ms"];
    let mut service = spawn(data_dir.path(), &fast_saves);
    service.wait_ready();
    service.get_ok("/v1/homes/demo/intervals?date=today");
    wait_for("the first save", Duration::from_secs(10), || {
        snapshot.exists()
    });

    std::fs::remove_dir_all(&homes).unwrap();
    // Another day changes the pool, so the home is saved again.
    service.get_ok("/v1/homes/demo/intervals?date=2025-10-20");
    let took = wait_for(
        "the save after homes/ was deleted",
        Duration::from_secs(10),
        || snapshot.exists(),
    );
    println!("homes/ deleted: the next save wrote the snapshot {took:?} after the change");
    assert_eq!(service.stop(), Some(0), "every dirty home was saved");
}

#[test]
fn a_data_directory_deleted_under_a_running_instance_stays_locked_against_a_second() {
    let parent = tempfile::tempdir().unwrap();
    let data_dir = parent.path().join("data");
    let fast_saves = ["--save-delay", "20ms", "--save-max-delay", "100ms"];
    let mut first = spawn(&data_dir, &fast_saves);
    first.wait_ready();

    std::fs::remove_dir_all(&data_dir).unwrap();
    // No request needed: the first instance checks its lock every second.
    let took = wait_for(
        "the first instance locking the directory again",
        Duration::from_secs(5),
        || data_dir.join(".lock").exists(),
    );
    println!("data dir deleted: locked again {took:?} later");

    let mut second = pricepool(&[
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        data_dir.to_str().unwrap(),
    ])
    .spawn()
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = second.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = second.kill();
            let _ = second.wait();
            panic!("the second instance started on a directory the first one uses");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_ne!(status.code(), Some(0));
    let output = second.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line: {lines:?}");
    assert!(lines[0].contains("locked"), "{lines:?}");
    assert!(lines[0].contains(data_dir.to_str().unwrap()), "{lines:?}");

    // The first instance still saves, into the directory it holds again.
    first.get_ok("/v1/homes/demo/intervals?date=today");
    wait_for(
        "a save after the directory was deleted",
        Duration::from_secs(10),
        || data_dir.join("homes").join("demo.json").exists(),
    );
    assert_eq!(first.stop(), Some(0));
}
