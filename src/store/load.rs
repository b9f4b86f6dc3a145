//! Loading at start: every snapshot file is read (only regular files, of
//! a bounded size), decoded and restored on all cores; a file that cannot
//! be used is moved aside with a reason, never deleted, and loading goes on.

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::{DateTime, Utc};

use super::format::{self, DecodeError};
use super::fs::{ReadError, TEMP_INFIX};
use super::{Store, lock_ignoring_poison, names};
use crate::pool::{Pool, PoolConfig};

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
    /// A symbolic link, FIFO, socket, device or directory: not opened for
    /// reading (a link is moved aside itself; its target is not touched).
    NotARegularFile,
    /// Larger than [`max_snapshot_bytes`]: not read.
    TooLarge,
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
            QuarantineReason::NotARegularFile => "not_a_regular_file",
            QuarantineReason::TooLarge => "too_large",
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

    fn from_read(error: &ReadError) -> QuarantineReason {
        match error {
            ReadError::NotRegular { .. } => QuarantineReason::NotARegularFile,
            ReadError::TooLarge { .. } => QuarantineReason::TooLarge,
            ReadError::Io(_) => QuarantineReason::Unreadable,
        }
    }
}

/// The floor of the snapshot size cap: far above any real snapshot (a home
/// at the default limit of 960 intervals is about 60 KB, 180 KB in the old
/// schema 0), small enough that eight loader threads reading hostile files
/// at once stay within a few hundred MiB.
pub const MIN_SNAPSHOT_CAP_BYTES: u64 = 16 * 1024 * 1024;

/// Bytes allowed per interval of `max_intervals` above the floor: schema 0
/// (the largest form we read) takes about 190 bytes per interval; 512
/// leaves room for long ids and prices with many digits.
const SNAPSHOT_BYTES_PER_INTERVAL: u64 = 512;

/// The largest snapshot file the loader reads: 16 MiB, or 512 bytes per
/// interval the pool may hold when `--max-intervals` is raised that far,
/// so a file this service wrote is never refused. Larger files (a sparse
/// 2 GB file, garbage) are moved aside without being read. Derived, not a
/// flag: the one setting that makes snapshots grow already sets it.
pub fn max_snapshot_bytes(pool_config: &PoolConfig) -> u64 {
    (pool_config.max_intervals as u64)
        .saturating_mul(SNAPSHOT_BYTES_PER_INTERVAL)
        .max(MIN_SNAPSHOT_CAP_BYTES)
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

/// One file's load: the pool and its schema, or why it cannot be used.
type LoadResult = Result<(Pool, u32), (QuarantineReason, String)>;

impl Store {
    /// Loads every snapshot file. A file that cannot be used is moved
    /// aside with one warning and listed in the report; loading goes on.
    /// Files in an older schema are migrated and written again.
    pub fn load_all(&self, pool_config: &PoolConfig, now: DateTime<Utc>) -> LoadReport {
        let mut report = LoadReport::default();
        let names = match self.inner.fs.list_dir(&self.dir) {
            Ok(names) => names,
            Err(error) => {
                tracing::error!(
                    dir = %self.dir.display(),
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
            let path = self.dir.join(name);
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
            let path = self.dir.join(name);
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
            .read_snapshot(path, max_snapshot_bytes(pool_config))
            .map_err(|e| (QuarantineReason::from_read(&e), e.to_string()))?;
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
