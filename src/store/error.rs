//! The store's errors: why the data directory could not be opened, and
//! why one snapshot was not saved.

use std::io;
use std::path::PathBuf;

use super::fs::WriteError;
use super::names::HomeIdError;

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
    /// The data directory's lock file is gone or replaced (the directory
    /// was deleted) and the lock could not be taken again, maybe because
    /// another instance holds it now: nothing is written into a directory
    /// this process does not hold.
    #[error("not writing into data directory {}: this instance no longer holds its lock ({reason})", .dir.display())]
    LockLost {
        /// The data directory, absolute.
        dir: PathBuf,
        /// Why the lock could not be taken again.
        reason: String,
    },
}
