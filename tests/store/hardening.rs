//! Odd files and a vanishing data directory, against the real binary: a
//! FIFO or a link to `/dev/zero` in place of a snapshot is moved aside and
//! the service gets ready; a 2 GB sparse file is moved aside unread; a
//! deleted `homes/` is created again at the next save; a data directory
//! deleted under a running instance is locked again, so a second instance
//! on the same path is refused.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use pricepool::testkit::Process;
use pricepool::testkit::process::command;

const BINARY: &str = env!("CARGO_BIN_EXE_pricepool");

/// The binary on `data_dir` with `extra` flags, once ready; with the time
/// it took from spawn to ready, which the tests print.
fn serve(data_dir: &Path, extra: &[&str]) -> (Process, Duration) {
    let mut args = vec![
        "--data-dir",
        data_dir.to_str().unwrap(),
        "--now",
        "2025-10-26T10:00:00+01:00",
        "--no-prefetch",
    ];
    args.extend_from_slice(extra);
    let spawned = Instant::now();
    let service = Process::serve(BINARY, &args);
    (service, spawned.elapsed())
}

fn get_ok(service: &Process, path: &str) {
    let status = service.get(path).ok().map(|answer| answer.status);
    assert_eq!(status, Some(200), "GET {path}");
}

/// SIGTERM, then the exit code (within 10 s).
fn stop(mut service: Process) -> Option<i32> {
    service.sigterm();
    let status = service
        .exited_within(Duration::from_secs(10))
        .expect("no exit within 10 s of SIGTERM");
    status.code()
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
    let (service, ready) = serve(data_dir.path(), &[]);
    println!("FIFO snapshot: ready {ready:?} after spawn");
    let aside = names_starting(&homes, "demo.json.corrupt-");
    assert_eq!(aside.len(), 1, "moved aside: {aside:?}");
    let moved = std::fs::symlink_metadata(homes.join(&aside[0])).unwrap();
    assert!(std::os::unix::fs::FileTypeExt::is_fifo(&moved.file_type()));
    get_ok(&service, "/v1/homes/demo/intervals?date=today");
    assert_eq!(stop(service), Some(0));
}

#[test]
fn a_link_to_dev_zero_is_moved_aside_unread_and_its_target_untouched() {
    let data_dir = tempfile::tempdir().unwrap();
    let homes = homes_dir(data_dir.path());
    std::os::unix::fs::symlink("/dev/zero", homes.join("demo.json")).unwrap();
    let (service, ready) = serve(data_dir.path(), &[]);
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
    assert_eq!(stop(service), Some(0));
}

#[test]
fn a_2_gb_sparse_file_is_moved_aside_without_being_read() {
    let data_dir = tempfile::tempdir().unwrap();
    let homes = homes_dir(data_dir.path());
    std::fs::File::create(homes.join("demo.json"))
        .unwrap()
        .set_len(2 << 30)
        .unwrap();
    let (service, ready) = serve(data_dir.path(), &[]);
    let peak = service.peak_rss_kib();
    println!("2 GB sparse snapshot: ready {ready:?} after spawn, peak RSS {peak} KiB");
    assert!(peak < 256 * 1024, "peak RSS {peak} KiB");
    let aside = names_starting(&homes, "demo.json.corrupt-");
    assert_eq!(aside.len(), 1, "moved aside: {aside:?}");
    assert_eq!(
        std::fs::metadata(homes.join(&aside[0])).unwrap().len(),
        2 << 30
    );
    assert_eq!(stop(service), Some(0));
}

#[test]
fn a_deleted_homes_directory_is_created_again_at_the_next_save() {
    let data_dir = tempfile::tempdir().unwrap();
    let homes = data_dir.path().join("homes");
    let snapshot = homes.join("demo.json");
    let fast_saves = ["--save-delay", "20ms", "--save-max-delay", "100ms"];
    let (service, _) = serve(data_dir.path(), &fast_saves);
    get_ok(&service, "/v1/homes/demo/intervals?date=today");
    wait_for("the first save", Duration::from_secs(10), || {
        snapshot.exists()
    });

    std::fs::remove_dir_all(&homes).unwrap();
    // Another day changes the pool, so the home is saved again.
    get_ok(&service, "/v1/homes/demo/intervals?date=2025-10-20");
    let took = wait_for(
        "the save after homes/ was deleted",
        Duration::from_secs(10),
        || snapshot.exists(),
    );
    println!("homes/ deleted: the next save wrote the snapshot {took:?} after the change");
    assert_eq!(stop(service), Some(0), "every dirty home was saved");
}

#[test]
fn a_data_directory_deleted_under_a_running_instance_stays_locked_against_a_second() {
    let parent = tempfile::tempdir().unwrap();
    let data_dir = parent.path().join("data");
    let fast_saves = ["--save-delay", "20ms", "--save-max-delay", "100ms"];
    let (first, _) = serve(&data_dir, &fast_saves);

    std::fs::remove_dir_all(&data_dir).unwrap();
    // No request needed: the first instance checks its lock every second.
    let took = wait_for(
        "the first instance locking the directory again",
        Duration::from_secs(5),
        || data_dir.join(".lock").exists(),
    );
    println!("data dir deleted: locked again {took:?} later");

    let mut second = Process::spawn(command(
        BINARY,
        &[
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            data_dir.to_str().unwrap(),
        ],
    ));
    let status = second
        .exited_within(Duration::from_secs(10))
        .expect("the second instance started on a directory the first one uses");
    assert_ne!(status.code(), Some(0));
    let lines = second.stderr_lines();
    assert_eq!(lines.len(), 1, "one line: {lines:?}");
    assert!(lines[0].contains("locked"), "{lines:?}");
    assert!(lines[0].contains(data_dir.to_str().unwrap()), "{lines:?}");

    // The first instance still saves, into the directory it holds again.
    get_ok(&first, "/v1/homes/demo/intervals?date=today");
    wait_for(
        "a save after the directory was deleted",
        Duration::from_secs(10),
        || data_dir.join("homes").join("demo.json").exists(),
    );
    assert_eq!(stop(first), Some(0));
}
