//! The data-directory lock: one pricepool per data directory, or two
//! processes would overwrite each other's snapshots and clean up each
//! other's temp files.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::Path;

use super::StoreError;

/// The lock file's name inside the data directory.
pub const LOCK_FILE: &str = ".lock";

/// An exclusive advisory lock on `{data_dir}/.lock` (`flock`), held until
/// dropped. The kernel releases it when the process dies, even by `kill -9`,
/// so a crash never leaves a stale lock behind.
#[derive(Debug)]
pub struct DataDirLock {
    _file: File,
}

impl DataDirLock {
    /// Takes the lock without waiting; a second instance gets
    /// `StoreError::Locked` naming the directory.
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
            .open(&path)
            .map_err(io_error)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
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
        Ok(DataDirLock { _file: file })
    }
}
