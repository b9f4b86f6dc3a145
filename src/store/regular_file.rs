//! Reading a snapshot file without trusting it: only a regular file, of a
//! bounded size, and nothing on the way can block (a FIFO), follow a link
//! out of the directory, or fill the memory (`/dev/zero`, a sparse file).

use std::fs::{self, FileType, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

/// Why a snapshot file was not read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// A symbolic link, FIFO, socket, device or directory: never opened
    /// for reading (a FIFO would block the start for ever, a link to
    /// `/dev/zero` would fill the memory, a link may point anywhere).
    #[error("not a regular file but a {kind}; it was not read")]
    NotRegular {
        /// What it is, for the message.
        kind: &'static str,
    },
    /// Larger than any snapshot this service writes; not read.
    #[error("at least {size} bytes, over the {max_bytes}-byte cap for a snapshot; it was not read")]
    TooLarge {
        /// Its size as far as known (the `fstat` size, or the bytes read).
        size: u64,
        /// The cap.
        max_bytes: u64,
    },
    /// What the operating system said.
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// What a file type is when it is not a regular file.
fn non_regular_kind(file_type: FileType) -> Option<&'static str> {
    Some(if file_type.is_file() {
        return None;
    } else if file_type.is_symlink() {
        "symbolic link"
    } else if file_type.is_dir() {
        "directory"
    } else if file_type.is_fifo() {
        "FIFO"
    } else if file_type.is_socket() {
        "socket"
    } else if file_type.is_char_device() {
        "character device"
    } else if file_type.is_block_device() {
        "block device"
    } else {
        "special file"
    })
}

/// Reads a regular file of at most `max_bytes`, refusing anything else
/// without blocking: `lstat` first, so a device or FIFO is not even opened
/// (opening some devices has effects); then `open` with `O_NOFOLLOW`
/// (a link swapped in meanwhile fails with `ELOOP`), `O_NONBLOCK` (a FIFO
/// swapped in does not wait for a writer) and `O_NOCTTY`; then `fstat` of
/// the opened file decides, and at most `max_bytes + 1` bytes are read
/// (a file growing after the `fstat` is caught too).
pub fn read_regular_file(path: &Path, max_bytes: u64) -> Result<Vec<u8>, ReadError> {
    if let Some(kind) = non_regular_kind(fs::symlink_metadata(path)?.file_type()) {
        return Err(ReadError::NotRegular { kind });
    }
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(|error| match error.raw_os_error() {
            Some(libc::ELOOP) => ReadError::NotRegular {
                kind: "symbolic link",
            },
            _ => ReadError::Io(error),
        })?;
    let metadata = file.metadata()?;
    if let Some(kind) = non_regular_kind(metadata.file_type()) {
        return Err(ReadError::NotRegular { kind });
    }
    if metadata.len() > max_bytes {
        return Err(ReadError::TooLarge {
            size: metadata.len(),
            max_bytes,
        });
    }
    let mut bytes = Vec::with_capacity(usize::try_from(metadata.len()).unwrap_or(0));
    file.take(max_bytes.saturating_add(1))
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max_bytes {
        return Err(ReadError::TooLarge {
            size: bytes.len() as u64,
            max_bytes,
        });
    }
    Ok(bytes)
}
