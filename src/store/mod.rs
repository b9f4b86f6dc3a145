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
//! ```
//!
//! `{home}` is the home id made safe for a file name by [`names`].
//! Only this module touches the data directory.
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

pub mod fixtures;
pub mod format;
pub mod fs;
mod lock;
pub mod names;
mod saver;

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use chrono::{DateTime, Utc};

use crate::pool::{HomeInfo, Pool, PoolConfig, PoolSnapshot};
use format::DecodeError;
use fs::{FileSystem, RealFileSystem, TEMP_INFIX, WriteError};
use lock::DataDirLock;
use names::HomeIdError;

pub use saver::{SaveStatus, Saver, SaverConfig, SnapshotSource};

/// The directory under `data_dir` that holds the snapshot files.
pub const HOMES_DIR: &str = "homes";

/// Why the store could not be opened. The app prints it as one line and
/// exits non-zero.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another process holds `{data_dir}/.lock`.
    #[error(
        "data directory {} is locked by another pricepool instance{}",
        .dir.display(),
        holder_suffix(.holder)
    )]
    Locked {
        /// The data directory, absolute.
        dir: PathBuf,
        /// The holder's pid, as it wrote it into the lock file.
        holder: Option<String>,
    },
    /// The directory cannot be created, locked or listed.
    #[error("cannot {action} data directory {}: {source}", .dir.display())]
    Io {
        /// The data directory, absolute.
        dir: PathBuf,
        /// What was being done, as a verb phrase for the message.
        action: &'static str,
        /// What the operating system said.
        #[source]
        source: io::Error,
    },
}

fn holder_suffix(holder: &Option<String>) -> String {
    holder
        .as_ref()
        .map(|pid| format!(" (pid {pid})"))
        .unwrap_or_default()
}

/// Why one home's snapshot was not saved. The previous file is intact
/// (see [`WriteError`] for the one exception) and the home stays dirty.
#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    /// The upstream's id cannot be a file name (empty or far too long).
    #[error("home id {home_id:?} cannot be saved: {source}")]
    HomeId {
        /// The id as the upstream sent it.
        home_id: String,
        /// Why it cannot be a file name.
        #[source]
        source: HomeIdError,
    },
    /// Serializing failed (cannot happen for a valid pool; kept typed).
    #[error("cannot encode the snapshot of home {home_id}: {source}")]
    Encode {
        /// The home.
        home_id: String,
        /// serde_json's reason.
        #[source]
        source: serde_json::Error,
    },
    /// A step of the atomic write failed.
    #[error(transparent)]
    Write(#[from] WriteError),
    /// A file that could not be read is still in the way and could not be
    /// moved aside; it is never overwritten.
    #[error("{} could not be read and cannot be moved aside, so it is not overwritten: {source}", .path.display())]
    Blocked {
        /// The unreadable file.
        path: PathBuf,
        /// Why moving it aside failed.
        #[source]
        source: io::Error,
    },
    /// The snapshot source panicked while taking the snapshot.
    #[error("taking the snapshot of home {home_id} panicked")]
    SourcePanicked {
        /// The home.
        home_id: String,
    },
}

/// Why a snapshot file was moved aside; the label of
/// `pricepool_snapshots_quarantined_total{reason}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QuarantineReason {
    /// Zero bytes, or only whitespace.
    Empty,
    /// Valid JSON up to where it stops (a torn write from another tool).
    Truncated,
    /// Not JSON at all (NUL-filled, binary, text).
    NotJson,
    /// JSON, but not a snapshot of a schema we know.
    WrongShape,
    /// A snapshot of another home than its file name says.
    WrongHome,
    /// An interval off the grid or with a non-finite price (`Pool::restore` refused it).
    InvalidIntervals,
    /// Written by a newer build; kept as `.unsupported-v{version}` for a roll-forward.
    UnsupportedSchema {
        /// The schema the file says it has.
        version: u64,
    },
    /// A `.json` file whose name is not one we write.
    BadName,
    /// The file could not be read (I/O error).
    Unreadable,
}

impl QuarantineReason {
    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            QuarantineReason::Empty => "empty",
            QuarantineReason::Truncated => "truncated",
            QuarantineReason::NotJson => "not_json",
            QuarantineReason::WrongShape => "wrong_shape",
            QuarantineReason::WrongHome => "wrong_home",
            QuarantineReason::InvalidIntervals => "invalid_intervals",
            QuarantineReason::UnsupportedSchema { .. } => "unsupported_schema",
            QuarantineReason::BadName => "bad_name",
            QuarantineReason::Unreadable => "unreadable",
        }
    }

    fn from_decode(error: &DecodeError) -> QuarantineReason {
        match error {
            DecodeError::Empty => QuarantineReason::Empty,
            DecodeError::Truncated(_) => QuarantineReason::Truncated,
            DecodeError::NotJson(_) => QuarantineReason::NotJson,
            DecodeError::WrongShape(_) => QuarantineReason::WrongShape,
            DecodeError::UnsupportedSchema { found } => {
                QuarantineReason::UnsupportedSchema { version: *found }
            }
        }
    }
}

impl fmt::Display for QuarantineReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A snapshot file that was not loaded.
#[derive(Debug, Clone, PartialEq)]
pub struct Quarantined {
    /// The home the file name says it holds, if the name is one of ours.
    pub home_id: Option<String>,
    /// Where the file was.
    pub path: PathBuf,
    /// Where it is now; `None` when moving it failed (it then blocks
    /// saves of that home until it can be moved).
    pub moved_to: Option<PathBuf>,
    /// Why it was not loaded.
    pub reason: QuarantineReason,
    /// What exactly was wrong, for the log and the report.
    pub detail: String,
}

/// A file in an older schema that was loaded and written again in the current one.
#[derive(Debug, Clone, PartialEq)]
pub struct Migrated {
    /// The home.
    pub home_id: String,
    /// The schema the file had.
    pub from_schema: u32,
    /// The re-save's error, if it failed (the home should then be marked dirty).
    pub resave_error: Option<String>,
}

/// What `Store::load_all` found.
#[derive(Debug, Default)]
pub struct LoadReport {
    /// One restored pool per good snapshot file, in file-name order.
    pub pools: Vec<Pool>,
    /// Files that could not be used, each moved aside (or blocked).
    pub quarantined: Vec<Quarantined>,
    /// Files migrated from an older schema.
    pub migrated: Vec<Migrated>,
    /// Set when the homes directory could not even be listed.
    pub listing_error: Option<String>,
}

/// The data directory: opened once, cheap to clone (an `Arc` inside), and
/// holding the directory lock until the last clone is dropped.
#[derive(Debug, Clone)]
pub struct Store {
    inner: Arc<StoreInner>,
}

#[derive(Debug)]
struct StoreInner {
    data_dir: PathBuf,
    homes_dir: PathBuf,
    fs: Arc<dyn FileSystem>,
    /// One mutex per home, held for the whole of one write of its file so
    /// that two writes of one home never overlap, whoever calls. std
    /// Mutexes: writes run on blocking threads, never across an `.await`.
    /// The outer one is held only to look up or insert an entry.
    writers: Mutex<HashMap<String, Arc<Mutex<()>>>>,
    /// Snapshot files that could not be read nor moved aside; a save moves
    /// them first and fails if it still cannot. std Mutex, held briefly.
    blocked: Mutex<HashMap<PathBuf, QuarantineReason>>,
    _lock: DataDirLock,
}

/// One file's load: the pool and its schema, or why it cannot be used.
type LoadResult = Result<(Pool, u32), (QuarantineReason, String)>;

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
        let io_error = |action: &'static str| {
            let dir = dir.clone();
            move |source| StoreError::Io {
                dir,
                action,
                source,
            }
        };
        fs.create_dir_all(&data_dir).map_err(io_error("create"))?;
        let lock = DataDirLock::acquire(&data_dir)?;
        let homes_dir = data_dir.join(HOMES_DIR);
        fs.create_dir_all(&homes_dir)
            .map_err(io_error("create homes/ in"))?;
        let store = Store {
            inner: Arc::new(StoreInner {
                data_dir,
                homes_dir,
                fs,
                writers: Mutex::default(),
                blocked: Mutex::default(),
                _lock: lock,
            }),
        };
        store.remove_temp_files().map_err(io_error("list"))?;
        Ok(store)
    }

    /// The data directory (absolute).
    pub fn data_dir(&self) -> &Path {
        &self.inner.data_dir
    }

    /// The directory holding the snapshot files.
    pub fn homes_dir(&self) -> &Path {
        &self.inner.homes_dir
    }

    /// Where the snapshot of `home_id` lives.
    pub fn snapshot_path(&self, home_id: &str) -> Result<PathBuf, HomeIdError> {
        Ok(self
            .inner
            .homes_dir
            .join(format!("{}.json", names::encode_home_id(home_id)?)))
    }

    /// Temp files are only ever ours, and we hold the lock: any left is
    /// from a process that died mid-write, and its target is intact.
    fn remove_temp_files(&self) -> io::Result<()> {
        let fs = &self.inner.fs;
        let mut n_removed = 0;
        for name in fs.list_dir(&self.inner.homes_dir)? {
            let Some(name) = name.to_str() else { continue };
            if !name.contains(TEMP_INFIX) {
                continue;
            }
            let path = self.inner.homes_dir.join(name);
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
                dir = %self.inner.homes_dir.display(),
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
        let path = self.inner.homes_dir.join(&name);
        let blocked_reason = lock_ignoring_poison(&self.inner.blocked)
            .get(&path)
            .copied();
        if let Some(reason) = blocked_reason {
            self.move_aside(&path, reason, saved_at)
                .map_err(|source| SaveError::Blocked {
                    path: path.clone(),
                    source,
                })?;
            lock_ignoring_poison(&self.inner.blocked).remove(&path);
            tracing::warn!(path = %path.display(), "moved an unreadable snapshot aside before overwriting it");
        }
        let bytes =
            format::encode(home, snapshot, saved_at).map_err(|source| SaveError::Encode {
                home_id: home.id.clone(),
                source,
            })?;
        fs::write_atomically(&*self.inner.fs, &self.inner.homes_dir, &name, &bytes)?;
        Ok(())
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
        fs.sync_dir(&self.inner.homes_dir)?;
        Ok(target)
    }

    /// Loads every snapshot file. A file that cannot be used is moved
    /// aside with one warning and listed in the report; loading goes on.
    /// Files in an older schema are migrated and written again.
    pub fn load_all(&self, pool_config: &PoolConfig, now: DateTime<Utc>) -> LoadReport {
        let mut report = LoadReport::default();
        let names = match self.inner.fs.list_dir(&self.inner.homes_dir) {
            Ok(names) => names,
            Err(error) => {
                tracing::error!(
                    dir = %self.inner.homes_dir.display(),
                    %error,
                    "cannot list the snapshot directory; starting without snapshots"
                );
                report.listing_error = Some(error.to_string());
                return report;
            }
        };
        let mut names: Vec<String> = names
            .into_iter()
            .filter_map(|n| n.into_string().ok())
            .filter(|n| n.ends_with(".json") && !n.contains(TEMP_INFIX))
            .collect();
        names.sort();
        let loaded = self.load_files(&names, pool_config, now);
        for (name, result) in names.iter().zip(loaded) {
            let path = self.inner.homes_dir.join(name);
            let home_id = names::decode_home_id(name.trim_end_matches(".json"));
            match result {
                Ok((pool, schema)) => {
                    if schema < format::SCHEMA_VERSION {
                        let home = pool.home().clone();
                        let resave_error = self
                            .save(&home, &pool.snapshot(), now)
                            .err()
                            .map(|e| e.to_string());
                        tracing::info!(
                            home_id = %home.id,
                            from_schema = schema,
                            resave_error = resave_error.as_deref().unwrap_or("none"),
                            "migrated a snapshot to schema {}",
                            format::SCHEMA_VERSION
                        );
                        report.migrated.push(Migrated {
                            home_id: home.id,
                            from_schema: schema,
                            resave_error,
                        });
                    }
                    report.pools.push(pool);
                }
                Err((reason, detail)) => {
                    report
                        .quarantined
                        .push(self.quarantine(path, home_id, reason, detail, now));
                }
            }
        }
        tracing::info!(
            homes = report.pools.len(),
            quarantined = report.quarantined.len(),
            migrated = report.migrated.len(),
            "loaded snapshots"
        );
        report
    }

    /// Reads, decodes and restores `names` on all cores (decoding and
    /// rebuilding the index is CPU-bound: 1,000 homes must load in well
    /// under a second). Results come back in the order of `names`.
    fn load_files(
        &self,
        names: &[String],
        pool_config: &PoolConfig,
        now: DateTime<Utc>,
    ) -> Vec<LoadResult> {
        let load = |name: &String| -> LoadResult {
            let path = self.inner.homes_dir.join(name);
            let home_id = names::decode_home_id(name.trim_end_matches(".json"));
            // A file must not be able to take the process down, even
            // through a bug in a decoder: a panic quarantines the file.
            catch_unwind(AssertUnwindSafe(|| {
                self.load_one(&path, home_id.as_deref(), pool_config, now)
            }))
            .unwrap_or_else(|_| {
                Err((
                    QuarantineReason::WrongShape,
                    "loading the file panicked".to_owned(),
                ))
            })
        };
        let n_threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .clamp(1, 8)
            .min(names.len());
        if n_threads <= 1 {
            return names.iter().map(load).collect();
        }
        let next = AtomicUsize::new(0);
        let mut results: Vec<Option<LoadResult>> =
            std::iter::repeat_with(|| None).take(names.len()).collect();
        let done: Vec<(usize, LoadResult)> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..n_threads)
                .map(|_| {
                    scope.spawn(|| {
                        let mut done = Vec::new();
                        loop {
                            let index = next.fetch_add(1, Ordering::Relaxed);
                            let Some(name) = names.get(index) else { break };
                            done.push((index, load(name)));
                        }
                        done
                    })
                })
                .collect();
            workers
                .into_iter()
                .flat_map(|worker| worker.join().unwrap_or_default())
                .collect()
        });
        for (index, result) in done {
            results[index] = Some(result);
        }
        results
            .into_iter()
            .map(|result| {
                result.unwrap_or_else(|| {
                    Err((
                        QuarantineReason::WrongShape,
                        "the loader thread died".to_owned(),
                    ))
                })
            })
            .collect()
    }

    fn load_one(
        &self,
        path: &Path,
        home_id: Option<&str>,
        pool_config: &PoolConfig,
        now: DateTime<Utc>,
    ) -> LoadResult {
        let Some(home_id) = home_id else {
            return Err((
                QuarantineReason::BadName,
                "the file name is not one pricepool writes".to_owned(),
            ));
        };
        let bytes = self
            .inner
            .fs
            .read(path)
            .map_err(|e| (QuarantineReason::Unreadable, e.to_string()))?;
        let decoded = format::decode(&bytes)
            .map_err(|e| (QuarantineReason::from_decode(&e), e.to_string()))?;
        if decoded.home.id != home_id {
            return Err((
                QuarantineReason::WrongHome,
                format!("the file holds home {:?}", decoded.home.id),
            ));
        }
        let schema = decoded.schema;
        let pool = Pool::restore(decoded.home, pool_config.clone(), decoded.snapshot, now)
            .map_err(|e| (QuarantineReason::InvalidIntervals, e.to_string()))?;
        Ok((pool, schema))
    }

    fn quarantine(
        &self,
        path: PathBuf,
        home_id: Option<String>,
        reason: QuarantineReason,
        detail: String,
        now: DateTime<Utc>,
    ) -> Quarantined {
        metrics::counter!("pricepool_snapshots_quarantined_total", "reason" => reason.as_str())
            .increment(1);
        let moved_to = match self.move_aside(&path, reason, now) {
            Ok(target) => {
                tracing::warn!(
                    file = %path.display(),
                    moved_to = %target.display(),
                    %reason,
                    %detail,
                    "snapshot file cannot be used; moved it aside, the home's prices will be fetched again"
                );
                Some(target)
            }
            Err(error) => {
                tracing::warn!(
                    file = %path.display(),
                    %reason,
                    %detail,
                    move_error = %error,
                    "snapshot file cannot be used nor moved aside; it will not be overwritten until it can be moved"
                );
                lock_ignoring_poison(&self.inner.blocked).insert(path.clone(), reason);
                None
            }
        };
        Quarantined {
            home_id,
            path,
            moved_to,
            reason,
            detail,
        }
    }
}

#[cfg(test)]
mod tests;
