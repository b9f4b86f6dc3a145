//! The debounced saver on tokio's paused clock, and what a failing disk
//! does to it: each test drives real snapshot files in a temp directory
//! through the fault-injecting file system.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use pricepool::pool::{Pool, PoolConfig};
use pricepool::store::fixtures;
use pricepool::store::format;
use pricepool::store::fs::{FaultInjectingFileSystem, WriteStep};
use pricepool::store::{Saver, SaverConfig, SnapshotSource, Store};
use tempfile::TempDir;
use tokio::time::{Instant, sleep};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

const HOME: &str = "96a14971-525a-4420-aae9-e5aedaa129ff";
const ENOSPC: i32 = 28;
const EACCES: i32 = 13;
const EROFS: i32 = 30;
const EIO: i32 = 5;

fn config() -> SaverConfig {
    SaverConfig {
        save_delay: Duration::from_secs(3),
        save_max_delay: Duration::from_secs(30),
        shutdown_deadline: Duration::from_secs(10),
        retry_min_delay: Duration::from_secs(1),
        retry_max_delay: Duration::from_secs(4),
        max_concurrent_writes: 4,
        ..SaverConfig::default()
    }
}

/// One home's pool, the saver writing it, and the file it writes.
struct Rig {
    _dir: TempDir,
    fs: FaultInjectingFileSystem,
    pool: Arc<Mutex<Pool>>,
    saver: Saver,
    token: CancellationToken,
    tracker: TaskTracker,
    path: PathBuf,
}

/// Version `n` of the data: fetched `n` seconds after the fixture's base time.
fn fetched_at(version: u64) -> DateTime<Utc> {
    fixtures::day_start() + chrono::Duration::seconds(version as i64)
}

fn rig(config: SaverConfig) -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let fs = FaultInjectingFileSystem::real();
    let store = Store::open_with(dir.path(), Arc::new(fs.clone())).unwrap();
    let path = store.snapshot_path(HOME).unwrap();
    let pool = Arc::new(Mutex::new(fixtures::pool(HOME, 192, 0)));
    let source_pool = Arc::clone(&pool);
    let source: SnapshotSource = Arc::new(move |home_id: &str| {
        let pool = source_pool.lock().unwrap();
        (pool.home().id == home_id).then(|| (pool.home().clone(), pool.snapshot()))
    });
    let token = CancellationToken::new();
    let tracker = TaskTracker::new();
    let saver = pricepool::store::Saver::spawn(store, source, config, token.clone(), &tracker);
    Rig {
        _dir: dir,
        fs,
        pool,
        saver,
        token,
        tracker,
        path,
    }
}

impl Rig {
    /// Changes the pool to `version` without telling the saver.
    fn change_silently(&self, version: u64) {
        let mut pool = self.pool.lock().unwrap();
        let intervals = fixtures::quarter_hours(fixtures::day_start(), 8, version);
        pool.add(intervals, fetched_at(version), fixtures::day_start())
            .unwrap();
    }

    /// Changes the pool to `version` and marks the home dirty, as the fetch
    /// coordinator's change hook does.
    fn change(&self, version: u64) {
        self.change_silently(version);
        self.saver.mark_dirty(HOME);
    }

    /// The version the file on disk holds (`None`: no file yet).
    fn on_disk(&self) -> Option<u64> {
        let bytes = std::fs::read(&self.path).ok()?;
        let decoded = format::decode(&bytes).expect("the snapshot on disk always parses");
        let last_fetch = decoded.snapshot.last_fetch.expect("saved after a fetch");
        Some((last_fetch - fixtures::day_start()).num_seconds() as u64)
    }

    fn writes(&self) -> u64 {
        self.fs.renames_onto(&self.path)
    }

    fn temp_files(&self) -> usize {
        std::fs::read_dir(self.path.parent().unwrap())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .contains(".tmp-")
            })
            .count()
    }

    async fn shut_down(&self) {
        self.token.cancel();
        self.tracker.close();
        self.tracker.wait().await;
    }
}

#[tokio::test(start_paused = true)]
async fn a_hundred_changes_inside_one_window_cost_one_write_of_the_last() {
    let rig = rig(config());
    for version in 1..=100 {
        rig.change(version);
        sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        rig.writes(),
        0,
        "nothing is written while changes keep coming"
    );
    sleep(Duration::from_secs(10)).await;
    assert_eq!(rig.writes(), 1);
    assert_eq!(rig.on_disk(), Some(100));
    assert!(!rig.saver.status(HOME).dirty);
    assert!(rig.saver.status(HOME).last_save.is_some());
    rig.shut_down().await;
    assert_eq!(
        rig.writes(),
        1,
        "a clean home is not written again at shutdown"
    );
}

#[tokio::test(start_paused = true)]
async fn once_shutdown_begins_changes_are_written_at_once_without_the_debounce() {
    let rig = rig(config());
    rig.change(1);
    sleep(Duration::from_millis(100)).await;
    assert_eq!(rig.writes(), 0, "debounced before shutdown begins");
    rig.saver.flush_soon();
    sleep(Duration::from_millis(100)).await;
    assert_eq!(
        rig.writes(),
        1,
        "written when shutdown begins, not 3 s later"
    );
    assert_eq!(rig.on_disk(), Some(1));
    // A fetch that lands during the drain is written as it comes.
    rig.change(2);
    sleep(Duration::from_millis(100)).await;
    assert_eq!(rig.writes(), 2);
    assert_eq!(rig.on_disk(), Some(2));
    rig.shut_down().await;
    assert_eq!(rig.writes(), 2, "nothing left for the final flush");
}

#[tokio::test(start_paused = true)]
async fn the_write_comes_save_delay_after_the_latest_change() {
    let rig = rig(config());
    rig.change(1);
    sleep(Duration::from_secs(2)).await;
    rig.change(2);
    sleep(Duration::from_millis(2_900)).await;
    assert_eq!(rig.writes(), 0, "the second change restarted the delay");
    sleep(Duration::from_millis(200)).await;
    assert_eq!(rig.writes(), 1);
    assert_eq!(rig.on_disk(), Some(2));
    rig.shut_down().await;
}

#[tokio::test(start_paused = true)]
async fn steady_changes_cannot_postpone_the_write_past_save_max_delay() {
    let config = config();
    let rig = rig(config.clone());
    let half = config.save_delay / 2;
    let start = Instant::now();
    let mut version = 0;
    let mut first_write_at = None;
    while start.elapsed() < config.save_max_delay * 10 {
        version += 1;
        rig.change(version);
        sleep(half).await;
        if first_write_at.is_none() && rig.writes() > 0 {
            first_write_at = Some(start.elapsed());
        }
    }
    let first_write_at = first_write_at.expect("at least one write");
    assert!(
        first_write_at <= config.save_max_delay + half,
        "first write after {first_write_at:?}"
    );
    assert!(rig.writes() >= 9, "{} writes", rig.writes());
    rig.shut_down().await;
    assert_eq!(
        rig.on_disk(),
        Some(version),
        "shutdown flushed the last change"
    );
}

#[tokio::test(start_paused = true)]
async fn the_snapshot_is_taken_when_the_write_happens_not_when_it_was_scheduled() {
    let rig = rig(config());
    rig.change(1);
    sleep(Duration::from_millis(2_500)).await;
    // A change the saver was not told about, after the timer was armed.
    rig.change_silently(2);
    sleep(Duration::from_secs(1)).await;
    assert_eq!(rig.writes(), 1);
    assert_eq!(rig.on_disk(), Some(2));
    rig.shut_down().await;
}

#[tokio::test(start_paused = true)]
async fn shutdown_with_a_pending_timer_writes_once_without_waiting_for_it() {
    let rig = rig(config());
    rig.change(1);
    sleep(Duration::from_secs(1)).await;
    let before = Instant::now();
    rig.shut_down().await;
    assert!(
        before.elapsed() < Duration::from_secs(1),
        "shutdown waited {:?} for the timer",
        before.elapsed()
    );
    assert_eq!(rig.writes(), 1);
    assert_eq!(rig.on_disk(), Some(1));
    assert!(rig.saver.unsaved_homes().is_empty());
    sleep(Duration::from_secs(60)).await;
    assert_eq!(rig.writes(), 1, "no timer survives the shutdown");
}

#[tokio::test(start_paused = true)]
async fn a_shutdown_during_a_slow_write_waits_for_it_and_then_writes_the_rest() {
    let rig = rig(config());
    rig.fs.delay_writes(Duration::from_millis(300));
    rig.change(1);
    sleep(Duration::from_secs(3)).await;
    // The timer write is in progress now; change again and shut down.
    rig.change(2);
    rig.shut_down().await;
    assert_eq!(
        rig.fs.max_overlapping_writes(),
        1,
        "two writes of one home overlapped"
    );
    assert_eq!(rig.on_disk(), Some(2));
    assert!(!rig.saver.status(HOME).dirty);
    assert_eq!(rig.temp_files(), 0);
}

/// Each write step fails with each error a disk gives: the old snapshot
/// stays readable, the home stays dirty with the reason, nothing is left
/// behind, and the data is saved once the fault clears.
#[tokio::test(start_paused = true)]
async fn a_failing_write_keeps_the_old_snapshot_and_the_home_dirty_until_the_fault_clears() {
    let steps = [
        WriteStep::Create,
        WriteStep::Write,
        WriteStep::SyncFile,
        WriteStep::Rename,
        WriteStep::SyncDir,
    ];
    let errors = [
        (ENOSPC, "No space left on device"),
        (EACCES, "Permission denied"),
        (EROFS, "Read-only file system"),
        (EIO, "Input/output error"),
    ];
    for step in steps {
        for (errno, reason) in errors {
            let case = format!("{step:?} failing with {reason}");
            let rig = rig(config());
            rig.change(1);
            sleep(Duration::from_secs(4)).await;
            assert_eq!(rig.on_disk(), Some(1), "{case}: setup");

            rig.fs.fail(step, errno);
            rig.change(2);
            sleep(Duration::from_secs(20)).await;
            let status = rig.saver.status(HOME);
            assert!(status.dirty, "{case}: home clean after a failed write");
            assert!(
                status.consecutive_failures >= 2,
                "{case}: retried {status:?}"
            );
            let error = status.last_error.unwrap_or_default();
            assert!(error.contains(reason), "{case}: {error}");
            assert!(
                error.contains(&rig.path.parent().unwrap().display().to_string()),
                "{case}: the error names the path: {error}"
            );
            let on_disk = rig.on_disk();
            if step == WriteStep::SyncDir {
                // The rename happened; only its durability is in doubt.
                assert!(matches!(on_disk, Some(1 | 2)), "{case}: {on_disk:?}");
            } else {
                assert_eq!(on_disk, Some(1), "{case}: the old snapshot is intact");
            }
            assert_eq!(rig.temp_files(), 0, "{case}: temp file left behind");
            assert_eq!(rig.saver.failing_homes().len(), 1, "{case}");

            rig.fs.clear();
            sleep(Duration::from_secs(5)).await;
            let status = rig.saver.status(HOME);
            assert!(!status.dirty, "{case}: still dirty after the fault cleared");
            assert_eq!(status.last_error, None, "{case}");
            assert_eq!(
                rig.on_disk(),
                Some(2),
                "{case}: saved after the fault cleared"
            );
            rig.shut_down().await;
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_disk_that_stays_full_through_shutdown_gives_up_at_the_deadline_and_says_what_is_unsaved()
{
    let rig = rig(config());
    rig.change(1);
    sleep(Duration::from_secs(4)).await;
    rig.fs.fail(WriteStep::Write, ENOSPC);
    rig.change(2);
    let before = Instant::now();
    rig.shut_down().await;
    let took = before.elapsed();
    assert!(
        took >= config().shutdown_deadline
            && took < config().shutdown_deadline + Duration::from_secs(1),
        "{took:?}"
    );
    assert_eq!(rig.saver.unsaved_homes(), vec![HOME.to_owned()]);
    assert_eq!(rig.on_disk(), Some(1));
}

#[tokio::test(start_paused = true)]
async fn many_dirty_homes_are_all_flushed_at_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let ids: Vec<String> = (0..50).map(|n| format!("home-{n}")).collect();
    let pools: Arc<Vec<Pool>> = Arc::new(ids.iter().map(|id| fixtures::pool(id, 96, 1)).collect());
    let source_pools = Arc::clone(&pools);
    let source: SnapshotSource = Arc::new(move |home_id: &str| {
        source_pools
            .iter()
            .find(|p| p.home().id == home_id)
            .map(|p| (p.home().clone(), p.snapshot()))
    });
    let token = CancellationToken::new();
    let tracker = TaskTracker::new();
    let saver = pricepool::store::Saver::spawn(store, source, config(), token.clone(), &tracker);
    for id in &ids {
        saver.mark_dirty(id);
    }
    token.cancel();
    tracker.close();
    tracker.wait().await;
    assert!(saver.unsaved_homes().is_empty());
    let reopened = {
        drop(saver);
        // The saver task has returned and dropped its store: the lock is free.
        Store::open(dir.path()).unwrap()
    };
    let report = reopened.load_all(&PoolConfig::default(), fixtures::day_start());
    assert_eq!(report.pools.len(), ids.len());
}

#[tokio::test(start_paused = true)]
async fn absurd_delays_do_not_panic_and_shutdown_still_flushes() {
    let rig = rig(SaverConfig {
        save_delay: Duration::MAX,
        save_max_delay: Duration::MAX,
        max_concurrent_writes: 0,
        ..config()
    });
    rig.change(1);
    sleep(Duration::from_secs(3600)).await;
    assert_eq!(rig.writes(), 0);
    rig.shut_down().await;
    assert_eq!(rig.on_disk(), Some(1));
}
