//! The file-system seam and the atomic write built on it.
//!
//! Every file operation of the store goes through [`FileSystem`], so tests
//! can make a write, an fsync or a rename fail the way a full disk, a
//! read-only remount or a dying disk would (CI runs as root, where
//! permission tricks do not fail). [`RealFileSystem`] is what the service
//! uses; [`FaultInjectingFileSystem`] wraps it with switchable faults.

use std::collections::HashMap;
use std::ffi::OsString;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use super::regular_file::{ReadError, read_regular_file};

/// A file being written: bytes in, then an fsync.
pub trait WritableFile: Send {
    /// Writes all of `bytes`.
    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()>;
    /// Flushes the file's data and metadata to the disk (`fsync`).
    fn sync_all(&mut self) -> io::Result<()>;
}

/// The file operations the store needs, one method per fault point.
pub trait FileSystem: Send + Sync + fmt::Debug {
    /// `mkdir -p`.
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;
    /// The names of the entries in `dir`.
    fn list_dir(&self, dir: &Path) -> io::Result<Vec<OsString>>;
    /// The whole content of a file, following links and without a size
    /// limit. The store no longer calls it (it reads through
    /// [`FileSystem::read_snapshot`]); kept for implementations of the seam
    /// written before that existed.
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        fs::read(path)
    }
    /// The content of the snapshot file at `path`, if it is a regular file
    /// (not a link, FIFO, device, socket or directory) of at most
    /// `max_bytes` bytes. Never blocks on the file's type and never reads
    /// more than `max_bytes + 1` bytes. The default is the real file
    /// system's [`read_regular_file`].
    fn read_snapshot(&self, path: &Path, max_bytes: u64) -> Result<Vec<u8>, ReadError> {
        read_regular_file(path, max_bytes)
    }
    /// Whether anything (file, directory, dangling link) exists at `path`.
    fn exists(&self, path: &Path) -> io::Result<bool>;
    /// Creates a new file; fails if `path` exists.
    fn create_new(&self, path: &Path) -> io::Result<Box<dyn WritableFile>>;
    /// Renames `from` to `to`, replacing `to` atomically.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Removes a file.
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    /// Makes renames and creations in `dir` durable (`fsync` on the directory).
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
}

/// The operating system's file system.
#[derive(Debug, Default, Clone, Copy)]
pub struct RealFileSystem;

/// A file of the real file system (a newtype, so `File`'s own
/// `write_all` and `sync_all` stay unambiguous for everyone else).
struct RealFile(File);

impl WritableFile for RealFile {
    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.0.write_all(bytes)
    }
    fn sync_all(&mut self) -> io::Result<()> {
        self.0.sync_all()
    }
}

impl FileSystem for RealFileSystem {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        fs::create_dir_all(dir)
    }
    fn list_dir(&self, dir: &Path) -> io::Result<Vec<OsString>> {
        fs::read_dir(dir)?
            .map(|entry| entry.map(|e| e.file_name()))
            .collect()
    }
    fn exists(&self, path: &Path) -> io::Result<bool> {
        match fs::symlink_metadata(path) {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }
    fn create_new(&self, path: &Path) -> io::Result<Box<dyn WritableFile>> {
        let file = OpenOptions::new().write(true).create_new(true).open(path)?;
        Ok(Box::new(RealFile(file)))
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::rename(from, to)
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        fs::remove_file(path)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }
}

/// The steps of an atomic write, for error messages and fault injection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WriteStep {
    /// Creating the temp file.
    Create,
    /// Writing the bytes into it.
    Write,
    /// `fsync` of the temp file.
    SyncFile,
    /// Renaming it over the snapshot.
    Rename,
    /// `fsync` of the directory, so the rename survives a power cut.
    SyncDir,
}

impl fmt::Display for WriteStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            WriteStep::Create => "creating",
            WriteStep::Write => "writing",
            WriteStep::SyncFile => "syncing",
            WriteStep::Rename => "renaming into place",
            WriteStep::SyncDir => "syncing the directory of",
        })
    }
}

/// An atomic write that did not complete. The previous file is intact
/// unless `step` is `SyncDir` (then the new file is in place but maybe not
/// durable yet).
#[derive(Debug, thiserror::Error)]
#[error("{step} {path} failed: {source}")]
pub struct WriteError {
    /// The step that failed.
    pub step: WriteStep,
    /// The snapshot file (or, for `SyncDir`, its directory).
    pub path: PathBuf,
    /// What the operating system said (ENOSPC, EACCES, EROFS, EIO, …).
    #[source]
    pub source: io::Error,
}

/// The infix of temp files: `{name}.tmp-{pid}-{n}`. Anything holding it in
/// the homes directory is a leftover of a crash once we hold the lock.
pub const TEMP_INFIX: &str = ".tmp-";

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Replaces `dir/name` with `bytes` so that a crash at any moment leaves
/// either the old or the new content, never a mix: temp file in the same
/// directory, write, fsync, rename over the old one, fsync the directory.
/// On failure the temp file is removed (best effort).
pub fn write_atomically(
    fs: &dyn FileSystem,
    dir: &Path,
    name: &str,
    bytes: &[u8],
) -> Result<(), WriteError> {
    let target = dir.join(name);
    let temp = dir.join(format!(
        "{name}{TEMP_INFIX}{}-{}",
        std::process::id(),
        TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let fail = |step: WriteStep, source: io::Error| WriteError {
        step,
        path: if matches!(step, WriteStep::SyncDir) {
            dir.to_path_buf()
        } else {
            target.clone()
        },
        source,
    };
    let mut file = fs
        .create_new(&temp)
        .map_err(|e| fail(WriteStep::Create, e))?;
    let written = file
        .write_all(bytes)
        .map_err(|e| fail(WriteStep::Write, e))
        .and_then(|()| file.sync_all().map_err(|e| fail(WriteStep::SyncFile, e)));
    drop(file);
    if let Err(error) = written.and_then(|()| {
        fs.rename(&temp, &target)
            .map_err(|e| fail(WriteStep::Rename, e))
    }) {
        let _ = fs.remove_file(&temp);
        return Err(error);
    }
    fs.sync_dir(dir).map_err(|e| fail(WriteStep::SyncDir, e))
}

/// Wraps another file system and fails chosen steps with a chosen OS
/// error until told otherwise; counts completed operations. For tests,
/// benches and the crash test; the service never uses it.
#[derive(Debug, Clone)]
pub struct FaultInjectingFileSystem {
    inner: Arc<dyn FileSystem>,
    /// std Mutex: held only to read or flip a fault, never across I/O.
    state: Arc<Mutex<FaultState>>,
}

#[derive(Debug, Default)]
struct FaultState {
    /// Step → raw OS error (ENOSPC = 28, EACCES = 13, EROFS = 30, EIO = 5).
    faults: HashMap<WriteStep, i32>,
    /// Reads fail with this raw OS error.
    read_fault: Option<i32>,
    /// Completed renames per target file name.
    renames: HashMap<PathBuf, u64>,
    /// Temp files being written now, and the most ever open for one target.
    open_writes: HashMap<PathBuf, u32>,
    max_overlap: u32,
    /// How long each `write_all` sleeps first, to widen race windows.
    write_delay: Option<Duration>,
}

impl FaultInjectingFileSystem {
    /// No faults yet: behaves like `inner`.
    pub fn new(inner: Arc<dyn FileSystem>) -> FaultInjectingFileSystem {
        FaultInjectingFileSystem {
            inner,
            state: Arc::default(),
        }
    }

    /// Over the real file system.
    pub fn real() -> FaultInjectingFileSystem {
        FaultInjectingFileSystem::new(Arc::new(RealFileSystem))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, FaultState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// From now on `step` fails with the raw OS error `errno`.
    pub fn fail(&self, step: WriteStep, errno: i32) {
        self.lock().faults.insert(step, errno);
    }

    /// From now on reads fail with the raw OS error `errno`.
    pub fn fail_reads(&self, errno: i32) {
        self.lock().read_fault = Some(errno);
    }

    /// Removes every fault.
    pub fn clear(&self) {
        let mut state = self.lock();
        state.faults.clear();
        state.read_fault = None;
    }

    /// Makes every write sleep first (to widen race windows in tests).
    pub fn delay_writes(&self, delay: Duration) {
        self.lock().write_delay = Some(delay);
    }

    /// Renames that completed onto `target` (= atomic writes that reached it).
    pub fn renames_onto(&self, target: &Path) -> u64 {
        self.lock().renames.get(target).copied().unwrap_or(0)
    }

    /// Renames that completed, all targets.
    pub fn total_renames(&self) -> u64 {
        self.lock().renames.values().sum()
    }

    /// The most temp files ever open at once for one target.
    pub fn max_overlapping_writes(&self) -> u32 {
        self.lock().max_overlap
    }

    fn injected(&self, step: WriteStep) -> io::Result<()> {
        match self.lock().faults.get(&step) {
            Some(&errno) => Err(io::Error::from_raw_os_error(errno)),
            None => Ok(()),
        }
    }
}

/// The target a temp file will be renamed onto.
fn target_of(temp: &Path) -> PathBuf {
    let name = temp.file_name().unwrap_or_default().to_string_lossy();
    let stem = name.split(TEMP_INFIX).next().unwrap_or_default();
    temp.with_file_name(stem)
}

struct FaultInjectingFile {
    inner: Box<dyn WritableFile>,
    owner: FaultInjectingFileSystem,
    target: PathBuf,
}

impl WritableFile for FaultInjectingFile {
    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        let delay = self.owner.lock().write_delay;
        if let Some(delay) = delay {
            std::thread::sleep(delay);
        }
        self.owner.injected(WriteStep::Write)?;
        self.inner.write_all(bytes)
    }
    fn sync_all(&mut self) -> io::Result<()> {
        self.owner.injected(WriteStep::SyncFile)?;
        self.inner.sync_all()
    }
}

impl Drop for FaultInjectingFile {
    fn drop(&mut self) {
        let mut state = self.owner.lock();
        if let Some(open) = state.open_writes.get_mut(&self.target) {
            *open = open.saturating_sub(1);
        }
    }
}

impl FileSystem for FaultInjectingFileSystem {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        self.inner.create_dir_all(dir)
    }
    fn list_dir(&self, dir: &Path) -> io::Result<Vec<OsString>> {
        self.inner.list_dir(dir)
    }
    fn read_snapshot(&self, path: &Path, max_bytes: u64) -> Result<Vec<u8>, ReadError> {
        if let Some(errno) = self.lock().read_fault {
            return Err(io::Error::from_raw_os_error(errno).into());
        }
        self.inner.read_snapshot(path, max_bytes)
    }
    fn exists(&self, path: &Path) -> io::Result<bool> {
        self.inner.exists(path)
    }
    fn create_new(&self, path: &Path) -> io::Result<Box<dyn WritableFile>> {
        self.injected(WriteStep::Create)?;
        let inner = self.inner.create_new(path)?;
        let target = target_of(path);
        {
            let mut state = self.lock();
            let open = state.open_writes.entry(target.clone()).or_default();
            *open += 1;
            let open = *open;
            state.max_overlap = state.max_overlap.max(open);
        }
        Ok(Box::new(FaultInjectingFile {
            inner,
            owner: self.clone(),
            target,
        }))
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.injected(WriteStep::Rename)?;
        self.inner.rename(from, to)?;
        *self.lock().renames.entry(to.to_path_buf()).or_default() += 1;
        Ok(())
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.inner.remove_file(path)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.injected(WriteStep::SyncDir)?;
        self.inner.sync_dir(dir)
    }
}
