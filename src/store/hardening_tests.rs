//! Odd files and a data directory that vanishes: the loader reads only
//! regular files of a bounded size, without blocking; the saver creates
//! `homes/` again and keeps (or re-takes) the data-directory lock.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::{Duration, Instant};

use chrono::TimeZone;

use super::fixtures;
use super::fs::{ReadError, read_regular_file};
use super::*;
use crate::pool::PoolConfig;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 10, 26, 12, 0, 3).unwrap()
}

fn mkfifo(path: &Path) {
    let c_path = CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path; mkfifo only reads it.
    let rc = unsafe { libc::mkfifo(c_path.as_ptr(), 0o644) };
    assert_eq!(rc, 0, "mkfifo: {}", io::Error::last_os_error());
}

#[test]
fn only_regular_files_are_read_and_nothing_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo.json");
    mkfifo(&fifo);
    let link = dir.path().join("zero.json");
    std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
    let link_to_file = dir.path().join("link.json");
    std::fs::write(dir.path().join("real"), b"{}").unwrap();
    std::os::unix::fs::symlink(dir.path().join("real"), &link_to_file).unwrap();
    let subdir = dir.path().join("dir.json");
    std::fs::create_dir(&subdir).unwrap();
    let socket = dir.path().join("socket.json");
    let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();

    let started = Instant::now();
    for (path, kind) in [
        (&fifo, "FIFO"),
        (&link, "symbolic link"),
        (&link_to_file, "symbolic link"),
        (&subdir, "directory"),
        (&socket, "socket"),
        (&PathBuf::from("/dev/zero"), "character device"),
    ] {
        match read_regular_file(path, 1024) {
            Err(ReadError::NotRegular { kind: found }) => assert_eq!(found, kind, "{path:?}"),
            other => panic!("{path:?}: {other:?}"),
        }
    }
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(
        read_regular_file(&dir.path().join("real"), 1024).unwrap(),
        b"{}"
    );
}

#[test]
fn a_file_over_the_cap_is_refused_without_being_read() {
    let dir = tempfile::tempdir().unwrap();
    let sparse = dir.path().join("big.json");
    // Costs no disk; reading it would cost 2 GB of memory.
    std::fs::File::create(&sparse)
        .unwrap()
        .set_len(2 << 30)
        .unwrap();
    match read_regular_file(&sparse, 16 << 20) {
        Err(ReadError::TooLarge { size, max_bytes }) => {
            assert_eq!((size, max_bytes), (2 << 30, 16 << 20));
        }
        other => panic!("{other:?}"),
    }
    let exact = dir.path().join("exact.json");
    std::fs::write(&exact, [b' '; 100]).unwrap();
    assert_eq!(read_regular_file(&exact, 100).unwrap().len(), 100);
    assert!(matches!(
        read_regular_file(&exact, 99),
        Err(ReadError::TooLarge { size: 100, .. })
    ));
}

#[test]
fn the_cap_is_16_mib_or_grows_with_max_intervals() {
    let config = |max_intervals| PoolConfig {
        max_intervals,
        ..PoolConfig::default()
    };
    assert_eq!(max_snapshot_bytes(&config(960)), 16 << 20);
    assert_eq!(max_snapshot_bytes(&config(1_000_000)), 512_000_000);
    // A full pool of the largest allowed size fits under its cap, whatever the schema.
    let pool = fixtures::pool("demo", 10_000, 1);
    let bytes = format::encode(pool.home(), &pool.snapshot(), now()).unwrap();
    assert!((bytes.len() as u64) < 10_000 * 512 / 2);
}

#[test]
fn odd_files_are_moved_aside_the_link_target_untouched_and_the_good_ones_load() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let homes = store.homes_dir().to_path_buf();
    let good = fixtures::pool("good", 96, 1);
    store.save(good.home(), &good.snapshot(), now()).unwrap();
    mkfifo(&homes.join("fifo.json"));
    let outside = dir.path().join("outside.txt");
    std::fs::write(&outside, b"not yours").unwrap();
    std::os::unix::fs::symlink(&outside, homes.join("link.json")).unwrap();
    std::fs::File::create(homes.join("big.json"))
        .unwrap()
        .set_len(2 << 30)
        .unwrap();

    let report = store.load_all(&PoolConfig::default(), now());
    assert_eq!(report.pools.len(), 1);
    let mut reasons: Vec<(String, QuarantineReason)> = report
        .quarantined
        .iter()
        .map(|q| (q.home_id.clone().unwrap(), q.reason))
        .collect();
    reasons.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        reasons,
        [
            ("big".to_owned(), QuarantineReason::TooLarge),
            ("fifo".to_owned(), QuarantineReason::NotARegularFile),
            ("link".to_owned(), QuarantineReason::NotARegularFile),
        ]
    );
    for q in &report.quarantined {
        let moved_to = q.moved_to.as_ref().expect("moved aside");
        assert!(std::fs::symlink_metadata(moved_to).is_ok(), "{moved_to:?}");
        assert!(!q.path.exists());
    }
    assert_eq!(std::fs::read(&outside).unwrap(), b"not yours");
    let link = report
        .quarantined
        .iter()
        .find(|q| {
            q.reason == QuarantineReason::NotARegularFile && q.home_id.as_deref() == Some("link")
        })
        .unwrap();
    let moved = link.moved_to.as_ref().unwrap();
    assert!(
        std::fs::symlink_metadata(moved)
            .unwrap()
            .file_type()
            .is_symlink()
    );
}

#[test]
fn a_deleted_homes_directory_is_created_again_at_the_next_save() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let pool = fixtures::pool("demo", 96, 1);
    std::fs::remove_dir_all(store.homes_dir()).unwrap();
    store.save(pool.home(), &pool.snapshot(), now()).unwrap();
    assert!(store.snapshot_path("demo").unwrap().is_file());
}

#[test]
fn a_deleted_data_directory_is_locked_again_and_a_second_instance_refused() {
    let parent = tempfile::tempdir().unwrap();
    let data_dir = parent.path().join("data");
    let store = Store::open(&data_dir).unwrap();
    std::fs::remove_dir_all(&data_dir).unwrap();
    store.ensure_locked().unwrap();
    let second = Store::open(&data_dir).unwrap_err();
    assert!(matches!(second, StoreError::Locked { .. }), "{second}");
    let pool = fixtures::pool("demo", 96, 1);
    store.save(pool.home(), &pool.snapshot(), now()).unwrap();
    assert!(store.snapshot_path("demo").unwrap().is_file());
}

#[test]
fn an_instance_that_lost_its_lock_to_another_writes_nothing() {
    let parent = tempfile::tempdir().unwrap();
    let data_dir = parent.path().join("data");
    let first = Store::open(&data_dir).unwrap();
    std::fs::remove_dir_all(&data_dir).unwrap();
    // Another instance starts before the first one checks its lock.
    let second = Store::open(&data_dir).unwrap();
    let pool = fixtures::pool("demo", 96, 1);
    let error = first
        .save(pool.home(), &pool.snapshot(), now())
        .unwrap_err();
    assert!(matches!(error, SaveError::LockLost { .. }), "{error}");
    assert!(error.to_string().contains("locked by another"), "{error}");
    assert!(!first.snapshot_path("demo").unwrap().exists());
    // Once the other one is gone, the first takes the directory back.
    drop(second);
    first.save(pool.home(), &pool.snapshot(), now()).unwrap();
    assert!(first.snapshot_path("demo").unwrap().is_file());
}
