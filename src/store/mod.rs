//! Persistence: versioned per-home snapshot files, atomic writes, the
//! data-directory lock and the debounced saver.
//!
//! Layout of the data directory:
//!
//! ```text
//! {data_dir}/.lock                          held by the running instance (flock)
//! {data_dir}/homes/{home}.json              one snapshot per home (see `format`)
//! {data_dir}/homes/{home}.json.tmp-{pid}-{n}   a write in progress; removed at open
//! {data_dir}/homes/{home}.json.corrupt-{UTC}   a file that could not be used, moved aside
//! {data_dir}/homes/{home}.json.unsupported-v{N} a file from a newer build, moved aside
//! {data_dir}/markets/{market}-{currency}.json  one snapshot per market feed, same rules
//! ```
//!
//! `{home}` is the home id made safe for a file name by [`names`].
//! Only this module touches the data directory.
//!
//! Odd files and a vanishing directory: the loader reads only regular
//! files of at most [`max_snapshot_bytes`] (no link followed, nothing that
//! can block), moving anything else aside. Each save re-creates `homes/`
//! if it is gone and first checks that `.lock` is still the file we hold
//! (also every second): if the data directory was deleted, it is locked
//! afresh, or, if another instance got there first, nothing is written.
//!
//! Wiring, as `app.rs` does it: the saver's handle exists before its
//! worker, so the registry's change hook can hold it, and the worker,
//! started once the registry exists, reads snapshots through it:
//!
//! ```text
//! let store = Store::open(&data_dir)?;                  // Err: print it, exit non-zero
//! let report = spawn_blocking(move || store.load_all(&pool_config, clock.now()));
//! let saver = Saver::new();
//! let registry = Registry::new(..., Arc::new(move |id| saver.mark_dirty(id)), ...);
//! for pool in report.pools { registry.insert_pool(pool) }
//! saver.spawn_worker(store, snapshots_of(registry), saver_config, token, &tracker);
//! // /stats: saver.status(id); /readyz: saver.failing_homes();
//! // shutdown: token.cancel(); tracker.close(); tracker.wait().await;
//! //           exit non-zero if !saver.unsaved_homes().is_empty()
//! ```

#![warn(missing_docs)]

mod error;
pub mod fixtures;
pub mod format;
pub mod fs;
mod load;
mod lock;
pub mod names;
mod regular_file;
mod saver;

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use chrono::{DateTime, Utc};

use crate::pool::{HomeInfo, PoolSnapshot};
use fs::{FileSystem, RealFileSystem, TEMP_INFIX, WriteError};
use lock::DataDirLock;
use names::HomeIdError;

pub use error::{SaveError, StoreError};
pub use load::{LoadReport, Migrated, QuarantineReason, Quarantined, max_snapshot_bytes};
pub use saver::{SaveStatus, Saver, SaverConfig, SnapshotSource};

/// The directory under `data_dir` that holds the homes' snapshot files.
pub const HOMES_DIR: &str = "homes";

/// The directory under `data_dir` that holds the market feeds' snapshots.
pub const MARKETS_DIR: &str = "markets";

/// The data directory: opened once, cheap to clone (an `Arc` inside), and
/// holding the directory lock until the last clone is dropped.
#[derive(Debug, Clone)]
pub struct Store {
    inner: Arc<StoreInner>,
    /// The directory of this store's snapshot files: `homes/`, or
    /// `markets/` for the store [`Store::markets`] returns. Both share the
    /// data directory's lock.
    dir: Arc<PathBuf>,
}

#[derive(Debug)]
struct StoreInner {
    data_dir: PathBuf,
    fs: Arc<dyn FileSystem>,
    /// One mutex per home, held for the whole of one write of its file so
    /// that two writes of one home never overlap, whoever calls. std
    /// Mutexes: writes run on blocking threads, never across an `.await`.
    /// The outer one is held only to look up or insert an entry.
    writers: Mutex<HashMap<String, Arc<Mutex<()>>>>,
    /// Snapshot files that could not be read nor moved aside; a save moves
    /// them first and fails if it still cannot. std Mutex, held briefly.
    blocked: Mutex<HashMap<PathBuf, QuarantineReason>>,
    /// The data-directory lock; replaced when it has to be taken again
    /// (see [`Store::ensure_locked`]). std Mutex, held for a `stat` (and,
    /// rarely, re-taking the lock), never during a write.
    lock: Mutex<DataDirLock>,
    /// Set while the lock is lost to another instance, so the periodic
    /// check logs the loss once, not every second.
    lock_lost: AtomicBool,
}

/// Maps an I/O error of `action` on `dir` to a [`StoreError::Io`] naming both.
fn io_error(dir: &Path, action: &'static str) -> impl FnOnce(std::io::Error) -> StoreError {
    let dir = dir.to_path_buf();
    move |source| StoreError::Io {
        dir,
        action,
        source,
    }
}

fn lock_ignoring_poison<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl Store {
    /// Opens `data_dir` on the real file system: creates it and `homes/`,
    /// takes the lock, removes temp files a crash left behind.
    pub fn open(data_dir: &Path) -> Result<Store, StoreError> {
        Store::open_with(data_dir, Arc::new(RealFileSystem))
    }

    /// [`Store::open`] over another file system (fault injection in tests).
    pub fn open_with(data_dir: &Path, fs: Arc<dyn FileSystem>) -> Result<Store, StoreError> {
        let data_dir = std::path::absolute(data_dir).unwrap_or_else(|_| data_dir.to_path_buf());
        let dir = data_dir.clone();
        let io_error = |action| io_error(&dir, action);
        fs.create_dir_all(&data_dir).map_err(io_error("create"))?;
        let lock = DataDirLock::acquire(&data_dir)?;
        let homes_dir = data_dir.join(HOMES_DIR);
        fs.create_dir_all(&homes_dir)
            .map_err(io_error("create homes/ in"))?;
        let store = Store {
            dir: Arc::new(homes_dir),
            inner: Arc::new(StoreInner {
                data_dir,
                fs,
                writers: Mutex::default(),
                blocked: Mutex::default(),
                lock: Mutex::new(lock),
                lock_lost: AtomicBool::new(false),
            }),
        };
        store.remove_temp_files().map_err(io_error("list"))?;
        Ok(store)
    }

    /// The data directory (absolute).
    pub fn data_dir(&self) -> &Path {
        &self.inner.data_dir
    }

    /// The directory holding this store's snapshot files.
    pub fn homes_dir(&self) -> &Path {
        &self.dir
    }

    /// The store of market feeds' snapshots, `{data_dir}/markets/`: the same
    /// lock, atomic writes and quarantine, one file per market feed
    /// (`DE-LU-EUR.json`).
    pub fn markets(&self) -> Result<Store, StoreError> {
        let dir = self.inner.data_dir.join(MARKETS_DIR);
        let markets = Store {
            inner: Arc::clone(&self.inner),
            dir: Arc::new(dir.clone()),
        };
        self.inner
            .fs
            .create_dir_all(&markets.dir)
            .map_err(io_error(&dir, "create"))?;
        markets
            .remove_temp_files()
            .map_err(io_error(&dir, "list"))?;
        Ok(markets)
    }

    /// Where the snapshot of `home_id` lives.
    pub fn snapshot_path(&self, home_id: &str) -> Result<PathBuf, HomeIdError> {
        Ok(self
            .dir
            .join(format!("{}.json", names::encode_home_id(home_id)?)))
    }

    /// Temp files are only ever ours, and we hold the lock: any left is
    /// from a process that died mid-write, and its target is intact.
    fn remove_temp_files(&self) -> io::Result<()> {
        let fs = &self.inner.fs;
        let mut n_removed = 0;
        for name in fs.list_dir(&self.dir)? {
            let Some(name) = name.to_str() else { continue };
            if !name.contains(TEMP_INFIX) {
                continue;
            }
            let path = self.dir.join(name);
            match fs.remove_file(&path) {
                Ok(()) => n_removed += 1,
                Err(error) => tracing::warn!(
                    path = %path.display(),
                    %error,
                    "cannot remove a temp file left by a crash; leaving it"
                ),
            }
        }
        if n_removed > 0 {
            tracing::info!(
                n_removed,
                dir = %self.dir.display(),
                "removed temp files left by an interrupted write"
            );
        }
        Ok(())
    }

    /// Writes the snapshot of `home` atomically. Blocking: call it from
    /// `spawn_blocking` (the saver does). Writes of one home are serialised.
    pub fn save(
        &self,
        home: &HomeInfo,
        snapshot: &PoolSnapshot,
        saved_at: DateTime<Utc>,
    ) -> Result<(), SaveError> {
        let started = Instant::now();
        let result = self.save_unmetered(home, snapshot, saved_at);
        let outcome = if result.is_ok() { "ok" } else { "failed" };
        metrics::counter!("pricepool_saves_total", "outcome" => outcome).increment(1);
        metrics::histogram!("pricepool_save_duration_seconds")
            .record(started.elapsed().as_secs_f64());
        result
    }

    fn save_unmetered(
        &self,
        home: &HomeInfo,
        snapshot: &PoolSnapshot,
        saved_at: DateTime<Utc>,
    ) -> Result<(), SaveError> {
        let stem = names::encode_home_id(&home.id).map_err(|source| SaveError::HomeId {
            home_id: home.id.clone(),
            source,
        })?;
        let name = format!("{stem}.json");
        let writer = {
            let mut writers = lock_ignoring_poison(&self.inner.writers);
            Arc::clone(writers.entry(home.id.clone()).or_default())
        };
        let _writing = lock_ignoring_poison(&writer);
        self.ensure_locked()?;
        let path = self.dir.join(&name);
        self.unblock(&path, saved_at)?;
        // `homes/` may have been deleted while we run: create it again
        // rather than fail every save until exit (one `stat` when it exists).
        let homes_dir = &self.dir;
        self.inner
            .fs
            .create_dir_all(homes_dir)
            .map_err(|source| WriteError {
                step: fs::WriteStep::Create,
                path: homes_dir.to_path_buf(),
                source,
            })?;
        let bytes =
            format::encode(home, snapshot, saved_at).map_err(|source| SaveError::Encode {
                home_id: home.id.clone(),
                source,
            })?;
        fs::write_atomically(&*self.inner.fs, homes_dir, &name, &bytes)?;
        Ok(())
    }

    /// Moves a file that could not be read nor moved aside at load out of
    /// the way before it is overwritten; fails while it cannot be moved.
    fn unblock(&self, path: &Path, now: DateTime<Utc>) -> Result<(), SaveError> {
        let blocked_reason = lock_ignoring_poison(&self.inner.blocked).get(path).copied();
        let Some(reason) = blocked_reason else {
            return Ok(());
        };
        match self.move_aside(path, reason, now) {
            Ok(_) => {
                tracing::warn!(path = %path.display(), "moved an unreadable snapshot aside before overwriting it");
            }
            // Gone already (removed by hand, or `homes/` was deleted).
            Err(error) if error.kind() == io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(SaveError::Blocked {
                    path: path.to_path_buf(),
                    source,
                });
            }
        }
        lock_ignoring_poison(&self.inner.blocked).remove(path);
        Ok(())
    }

    /// Makes sure this process still holds the data directory's lock, so
    /// that nothing is written into a directory another instance holds.
    /// `flock` locks an inode: if `.lock` is gone or replaced (the data
    /// directory was deleted or swapped), the directory is created again
    /// and the lock taken afresh, so a second instance started afterwards
    /// is refused; if another instance was quicker, every write fails with
    /// [`SaveError::LockLost`] until it lets go. Called before each write
    /// and every second by the saver. Blocking (a `stat`).
    pub fn ensure_locked(&self) -> Result<(), SaveError> {
        let dir = &self.inner.data_dir;
        let mut lock = lock_ignoring_poison(&self.inner.lock);
        let lost = |reason: String| SaveError::LockLost {
            dir: dir.clone(),
            reason,
        };
        match lock.is_current(dir) {
            Ok(true) => return Ok(()),
            Ok(false) => {}
            Err(error) => return Err(lost(format!("cannot check its lock file: {error}"))),
        }
        let retaken = self
            .inner
            .fs
            .create_dir_all(dir)
            .map_err(|error| format!("cannot create it again: {error}"))
            .and_then(|()| DataDirLock::acquire(dir).map_err(|error| error.to_string()));
        match retaken {
            Ok(retaken) => {
                *lock = retaken;
                self.inner.lock_lost.store(false, Ordering::Relaxed);
                tracing::warn!(
                    dir = %dir.display(),
                    "the data directory's lock file was gone or replaced (was the directory deleted?); \
                     created it again and took the lock, so another instance on it is refused"
                );
                Ok(())
            }
            Err(reason) => {
                if !self.inner.lock_lost.swap(true, Ordering::Relaxed) {
                    tracing::error!(
                        dir = %dir.display(),
                        %reason,
                        "the data directory's lock file was gone or replaced and the lock cannot be taken again; \
                         no snapshot is written until it can"
                    );
                }
                Err(lost(reason))
            }
        }
    }

    /// Renames `path` to a name that says why it was not used, never
    /// replacing an earlier quarantined file. Returns the new path.
    fn move_aside(
        &self,
        path: &Path,
        reason: QuarantineReason,
        now: DateTime<Utc>,
    ) -> io::Result<PathBuf> {
        let fs = &self.inner.fs;
        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let base = match reason {
            QuarantineReason::UnsupportedSchema { version } => {
                format!("{file_name}.unsupported-v{version}")
            }
            _ => format!("{file_name}.corrupt-{}", now.format("%Y%m%dT%H%M%SZ")),
        };
        let mut target = path.with_file_name(&base);
        let mut n = 1;
        while fs.exists(&target)? {
            n += 1;
            if n > 10_000 {
                return Err(io::Error::other("too many quarantined copies of one file"));
            }
            target = path.with_file_name(format!("{base}-{n}"));
        }
        fs.rename(path, &target)?;
        fs.sync_dir(&self.dir)?;
        Ok(target)
    }
}

#[cfg(test)]
mod hardening_tests;
#[cfg(test)]
mod tests;
