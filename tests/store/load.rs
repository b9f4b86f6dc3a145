//! Loading snapshots at start: the corruption corpus. Every bad file must
//! leave the service starting with the good homes, be moved aside
//! untouched (never deleted, never overwritten), be named in the report
//! and counted in `pricepool_snapshots_quarantined_total{reason}`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use pricepool::pool::PoolConfig;
use pricepool::store::fixtures;
use pricepool::store::format;
use pricepool::store::fs::{FaultInjectingFileSystem, WriteStep};
use pricepool::store::{LoadReport, QuarantineReason, SaveError, Store};

const EIO: i32 = 5;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 10, 26, 12, 0, 0).unwrap()
}

/// A real schema-1 snapshot of `id` with `n` quarter-hours.
fn snapshot_bytes(id: &str, n: usize) -> Vec<u8> {
    let pool = fixtures::pool(id, n, 5);
    format::encode(pool.home(), &pool.snapshot(), now()).unwrap()
}

/// A data directory holding a good `other` home and `demo.json` = `bytes`.
fn data_dir_with(bytes: &[u8]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let homes = dir.path().join("homes");
    std::fs::create_dir_all(&homes).unwrap();
    std::fs::write(homes.join("other.json"), snapshot_bytes("other", 96)).unwrap();
    let path = homes.join("demo.json");
    std::fs::write(&path, bytes).unwrap();
    (dir, path)
}

fn load(dir: &Path) -> LoadReport {
    Store::open(dir)
        .unwrap()
        .load_all(&PoolConfig::default(), now())
}

/// Asserts what every bad-file case must show; returns where it went.
fn assert_quarantined(case: &str, report: &LoadReport, path: &Path, original: &[u8]) -> PathBuf {
    let ids: Vec<&str> = report.pools.iter().map(|p| p.home().id.as_str()).collect();
    assert_eq!(
        ids,
        ["other"],
        "{case}: the good home loads, the bad one not"
    );
    assert_eq!(
        report.quarantined.len(),
        1,
        "{case}: {:?}",
        report.quarantined
    );
    let entry = &report.quarantined[0];
    assert_eq!(entry.path, path, "{case}");
    assert_eq!(entry.home_id.as_deref(), Some("demo"), "{case}");
    let moved_to = entry.moved_to.clone().expect("moved aside");
    assert!(!path.exists(), "{case}: still in place");
    assert_eq!(
        std::fs::read(&moved_to).unwrap(),
        original,
        "{case}: content changed"
    );
    moved_to
}

#[test]
fn each_kind_of_bad_file_is_moved_aside_and_the_rest_loads() {
    let good = snapshot_bytes("demo", 96);
    let good_text = String::from_utf8(good.clone()).unwrap();
    let mut nul_tail = good.clone();
    let len = nul_tail.len();
    nul_tail[len / 2..].fill(0);
    let cases: Vec<(&str, Vec<u8>, QuarantineReason)> = vec![
        ("empty", vec![], QuarantineReason::Empty),
        ("nul-filled", vec![0; 4096], QuarantineReason::NotJson),
        ("nul-filled tail", nul_tail, QuarantineReason::NotJson),
        (
            "binary",
            (0..=255u8).cycle().take(3000).collect(),
            QuarantineReason::NotJson,
        ),
        (
            "text",
            b"prices: cheap\n".to_vec(),
            QuarantineReason::NotJson,
        ),
        ("array", b"[]".to_vec(), QuarantineReason::WrongShape),
        (
            "other object",
            b"{\"schema\":1,\"hello\":1}".to_vec(),
            QuarantineReason::WrongShape,
        ),
        (
            "NaN literal",
            good_text
                .replacen("\"rows\":[[", "\"rows\":[[NaN,", 1)
                .into_bytes(),
            QuarantineReason::NotJson,
        ),
        (
            "price out of range",
            good_text
                .replacen("\"rows\":[[", "\"rows\":[[1e999,", 1)
                .into_bytes(),
            QuarantineReason::NotJson,
        ),
        (
            "null price",
            good_text
                .replacen("\"rows\":[[", "\"rows\":[[null,", 1)
                .into_bytes(),
            QuarantineReason::WrongShape,
        ),
        (
            "unknown zone",
            good_text
                .replacen("Europe/Berlin", "Mars/Olympus", 1)
                .into_bytes(),
            QuarantineReason::WrongShape,
        ),
        (
            "another home's file",
            snapshot_bytes("other", 96),
            QuarantineReason::WrongHome,
        ),
        (
            "off the 15-minute grid",
            good_text
                .replacen(
                    "\"start\":\"2025-10-25T22:00:00Z\"",
                    "\"start\":\"2025-10-25T22:07:00Z\"",
                    1,
                )
                .into_bytes(),
            QuarantineReason::InvalidIntervals,
        ),
    ];
    for (case, bytes, reason) in cases {
        let (dir, path) = data_dir_with(&bytes);
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        let report = metrics::with_local_recorder(&recorder, || load(dir.path()));
        let moved_to = assert_quarantined(case, &report, &path, &bytes);
        assert_eq!(
            report.quarantined[0].reason, reason,
            "{case}: {:?}",
            report.quarantined[0]
        );
        let name = moved_to.file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.starts_with("demo.json.corrupt-2025"), "{case}: {name}");
        let counted: Vec<_> = snapshotter
            .snapshot()
            .into_vec()
            .into_iter()
            .filter(|(key, _, _, _)| key.key().name() == "pricepool_snapshots_quarantined_total")
            .collect();
        assert_eq!(counted.len(), 1, "{case}");
        let (key, _, _, value) = &counted[0];
        assert!(
            key.key()
                .labels()
                .any(|l| l.key() == "reason" && l.value() == reason.as_str()),
            "{case}: {key:?}"
        );
        assert_eq!(value, &DebugValue::Counter(1), "{case}");
    }
}

#[test]
fn a_snapshot_truncated_at_any_byte_is_never_loaded_half() {
    let full = snapshot_bytes("demo", 8);
    let expected = fixtures::pool("demo", 8, 5).snapshot();
    let dir = tempfile::tempdir().unwrap();
    let homes = dir.path().join("homes");
    let store = Store::open(dir.path()).unwrap();
    let path = homes.join("demo.json");
    let mut n_loaded = 0;
    for cut in 0..full.len() {
        std::fs::write(&path, &full[..cut]).unwrap();
        let report = store.load_all(&PoolConfig::default(), now());
        match (report.pools.as_slice(), report.quarantined.as_slice()) {
            ([pool], []) => {
                // Only the trailing newline may be missing.
                assert_eq!(cut, full.len() - 1, "a prefix of {cut} bytes loaded");
                assert_eq!(pool.snapshot(), expected);
                n_loaded += 1;
                std::fs::remove_file(&path).unwrap();
            }
            ([], [entry]) => {
                let moved_to = entry.moved_to.as_ref().expect("moved aside");
                assert_eq!(std::fs::read(moved_to).unwrap(), &full[..cut]);
                assert!(!path.exists());
                std::fs::remove_file(moved_to).unwrap();
            }
            _ => panic!("prefix of {cut} bytes: {report:?}"),
        }
    }
    assert_eq!(n_loaded, 1);
    // Every prefix of a day's snapshot as well, decoded without the disk.
    let large = snapshot_bytes("demo", 96);
    for cut in 0..large.len() - 1 {
        assert!(format::decode(&large[..cut]).is_err(), "prefix {cut}");
    }
}

#[test]
fn a_snapshot_from_a_newer_build_is_kept_for_a_roll_forward() {
    let newer = String::from_utf8(snapshot_bytes("demo", 96))
        .unwrap()
        .replacen("\"schema\":1", "\"schema\":2", 1)
        .into_bytes();
    let (dir, path) = data_dir_with(&newer);
    let report = load(dir.path());
    let moved_to = assert_quarantined("newer schema", &report, &path, &newer);
    assert_eq!(
        report.quarantined[0].reason,
        QuarantineReason::UnsupportedSchema { version: 2 }
    );
    assert_eq!(moved_to.file_name().unwrap(), "demo.json.unsupported-v2");
}

#[test]
fn quarantining_twice_never_replaces_the_first_copy() {
    let dir = tempfile::tempdir().unwrap();
    let homes = dir.path().join("homes");
    std::fs::create_dir_all(&homes).unwrap();
    let store = Store::open(dir.path()).unwrap();
    for round in 0..3u8 {
        std::fs::write(homes.join("demo.json"), [b'x', b'0' + round]).unwrap();
        let report = store.load_all(&PoolConfig::default(), now());
        assert_eq!(report.quarantined.len(), 1);
    }
    let mut kept: Vec<Vec<u8>> = std::fs::read_dir(&homes)
        .unwrap()
        .map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .collect();
    kept.sort();
    assert_eq!(kept, [b"x0".to_vec(), b"x1".to_vec(), b"x2".to_vec()]);
}

#[test]
fn a_file_whose_name_we_never_write_is_moved_aside_and_other_files_are_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let homes = dir.path().join("homes");
    std::fs::create_dir_all(&homes).unwrap();
    std::fs::write(homes.join("my notes.json"), b"{}").unwrap();
    std::fs::write(homes.join("README"), b"hello").unwrap();
    let report = load(dir.path());
    assert_eq!(report.quarantined.len(), 1);
    assert_eq!(report.quarantined[0].reason, QuarantineReason::BadName);
    assert_eq!(report.quarantined[0].home_id, None);
    assert!(homes.join("README").exists());
}

#[test]
fn an_older_schema_is_migrated_and_saved_again() {
    let pool = fixtures::pool("demo", 300, 9);
    let v0 = format::encode_v0(pool.home(), &pool.snapshot()).unwrap();
    let (dir, path) = data_dir_with(&v0);
    let report = load(dir.path());
    assert!(report.quarantined.is_empty(), "{:?}", report.quarantined);
    assert_eq!(report.migrated.len(), 1);
    assert_eq!(report.migrated[0].home_id, "demo");
    assert_eq!(report.migrated[0].from_schema, 0);
    assert_eq!(report.migrated[0].resave_error, None);
    let loaded = report.pools.iter().find(|p| p.home().id == "demo").unwrap();
    assert_eq!(loaded.snapshot(), pool.snapshot());
    let resaved = format::decode(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(resaved.schema, format::SCHEMA_VERSION);
    assert_eq!(resaved.snapshot, pool.snapshot());
    assert!(std::fs::read(&path).unwrap().len() < v0.len() / 2);
    // The next start finds nothing left to migrate.
    let report = load(dir.path());
    assert!(report.migrated.is_empty());
    assert_eq!(report.pools.len(), 2);
}

#[test]
fn an_unreadable_file_that_cannot_be_moved_is_never_overwritten() {
    let original = b"{\"schema\":1,\"half".to_vec();
    let (dir, path) = data_dir_with(&original);
    let fs = FaultInjectingFileSystem::real();
    let store = Store::open_with(dir.path(), Arc::new(fs.clone())).unwrap();
    fs.fail_reads(EIO);
    fs.fail(WriteStep::Rename, EIO);
    let report = store.load_all(&PoolConfig::default(), now());
    assert!(report.pools.is_empty(), "reads fail for every file");
    let entry = report
        .quarantined
        .iter()
        .find(|q| q.path == path)
        .expect("listed");
    assert_eq!(entry.reason, QuarantineReason::Unreadable);
    assert_eq!(entry.moved_to, None);

    // The home is fetched again and saved: the save must not replace the file.
    let pool = fixtures::pool("demo", 96, 1);
    let error = store
        .save(pool.home(), &pool.snapshot(), now())
        .unwrap_err();
    assert!(matches!(error, SaveError::Blocked { .. }), "{error}");
    assert!(error.to_string().contains("demo.json"), "{error}");
    assert_eq!(std::fs::read(&path).unwrap(), original);

    // Once the rename works, the save moves it aside first, then writes.
    fs.clear();
    store.save(pool.home(), &pool.snapshot(), now()).unwrap();
    let names: Vec<String> = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    let aside = names
        .iter()
        .find(|n| n.starts_with("demo.json.corrupt-"))
        .expect("moved aside before the write");
    assert_eq!(std::fs::read(path.with_file_name(aside)).unwrap(), original);
    let saved = format::decode(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(saved.snapshot, pool.snapshot());
}

#[test]
fn saves_are_counted_by_outcome() {
    let dir = tempfile::tempdir().unwrap();
    let fs = FaultInjectingFileSystem::real();
    let store = Store::open_with(dir.path(), Arc::new(fs.clone())).unwrap();
    let pool = fixtures::pool("demo", 96, 1);
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        store.save(pool.home(), &pool.snapshot(), now()).unwrap();
        fs.fail(WriteStep::SyncFile, 28);
        assert!(store.save(pool.home(), &pool.snapshot(), now()).is_err());
        assert!(store.save(pool.home(), &pool.snapshot(), now()).is_err());
    });
    let mut by_outcome: Vec<(String, u64)> = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .filter(|(key, _, _, _)| key.key().name() == "pricepool_saves_total")
        .map(|(key, _, _, value)| {
            let outcome = key
                .key()
                .labels()
                .find(|l| l.key() == "outcome")
                .map(|l| l.value().to_owned())
                .unwrap_or_default();
            let DebugValue::Counter(n) = value else {
                panic!("not a counter")
            };
            (outcome, n)
        })
        .collect();
    by_outcome.sort();
    assert_eq!(by_outcome, [("failed".to_owned(), 2), ("ok".to_owned(), 1)]);
}
