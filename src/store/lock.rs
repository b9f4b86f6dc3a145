//! The data-directory lock: one pricepool per data directory, or two
//! processes would overwrite each other's snapshots and clean up each
//! other's temp files.
//!
//! `flock` locks an inode, not a path: if the data directory is deleted
//! (or its `.lock` removed) while we run, a second instance would create a
//! new `.lock` and lock it too. So the holder checks that the path still
//! names the inode it holds ([`DataDirLock::is_current`]) and, if not,
//! takes the lock afresh or stops writing (see `Store::ensure_locked`).

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{self, Read, Seek, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::{Store, StoreError};

/// The lock file's name inside the data directory.
pub const LOCK_FILE: &str = ".lock";

/// An exclusive advisory lock on `{data_dir}/.lock` (`flock`), held until
/// dropped. The kernel releases it when the process dies, even by `kill -9`,
/// so a crash never leaves a stale lock behind.
#[derive(Debug)]
pub struct DataDirLock {
    _file: File,
    /// (device, inode) of the locked file.
    identity: (u64, u64),
}

impl DataDirLock {
    /// Takes the lock without waiting; a second instance gets
    /// `StoreError::Locked` naming the directory. A `.lock` that is a
    /// symbolic link is refused (`O_NOFOLLOW`): truncating it to write our
    /// pid would truncate whatever it points at.
    pub fn acquire(data_dir: &Path) -> Result<DataDirLock, StoreError> {
        let path = data_dir.join(LOCK_FILE);
        let io_error = |source| StoreError::Io {
            dir: data_dir.to_path_buf(),
            action: "open the lock file of",
            source,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY)
            .open(&path)
            .map_err(io_error)?;
        let metadata = file.metadata().map_err(io_error)?;
        if !metadata.is_file() {
            return Err(io_error(io::Error::other(
                "the lock file is not a regular file",
            )));
        }
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = (&mut file).take(64).read_to_string(&mut holder);
                let holder = holder.trim();
                return Err(StoreError::Locked {
                    dir: data_dir.to_path_buf(),
                    holder: (!holder.is_empty() && holder.len() < 32).then(|| holder.to_owned()),
                });
            }
            Err(TryLockError::Error(source)) => return Err(io_error(source)),
        }
        // The holder's pid, for the message a second instance prints.
        let _ = file
            .set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| write!(file, "{}", std::process::id()));
        Ok(DataDirLock {
            _file: file,
            identity: (metadata.dev(), metadata.ino()),
        })
    }

    /// Whether `{data_dir}/.lock` is still the file this lock holds. `false`
    /// when it is gone or another file took its name (the data directory
    /// was deleted or replaced): the lock then protects nothing. Our open
    /// file keeps its inode alive, so the number cannot be reused meanwhile.
    pub fn is_current(&self, data_dir: &Path) -> io::Result<bool> {
        match std::fs::symlink_metadata(data_dir.join(LOCK_FILE)) {
            Ok(metadata) => Ok((metadata.dev(), metadata.ino()) == self.identity),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(error) => Err(error),
        }
    }
}

/// Checks the data-directory lock every `every` until `token` is
/// cancelled, re-taking it if the directory was deleted (the check logs
/// what it finds; the writes report their own failures).
pub async fn watch(store: Store, every: Duration, token: CancellationToken) {
    let every = every.max(Duration::from_millis(10));
    loop {
        tokio::select! {
            () = token.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
        let store = store.clone();
        let _ = tokio::task::spawn_blocking(move || store.ensure_locked()).await;
    }
}
