//! Home ids come from the upstream, so they cannot be trusted as file
//! names. This module maps them reversibly onto a safe alphabet: ASCII
//! letters, digits, `-` and `_` stay as they are (a Tibber id, a UUID, is
//! unchanged); every other byte becomes `%XX`. No `/`, no `.`, no `..`,
//! no NUL can reach the file system, and the id can be read back from the
//! name (the file also stores the real id, and the two must agree).

/// The longest encoded stem we accept: with `.json` and a temp or
/// quarantine suffix it stays under the usual 255-byte name limit.
pub const MAX_STEM_BYTES: usize = 180;

/// Why a home id cannot be used as a file name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HomeIdError {
    /// An empty id has no file name.
    #[error("home id is empty")]
    Empty,
    /// The escaped id would not fit in a file name.
    #[error("home id encodes to {bytes} bytes, more than the {MAX_STEM_BYTES} a file name allows")]
    TooLong {
        /// Length of the escaped id.
        bytes: usize,
    },
}

fn is_plain(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_'
}

/// The file-name stem for `home_id` (without `.json`).
pub fn encode_home_id(home_id: &str) -> Result<String, HomeIdError> {
    if home_id.is_empty() {
        return Err(HomeIdError::Empty);
    }
    let mut stem = String::with_capacity(home_id.len());
    for &byte in home_id.as_bytes() {
        if is_plain(byte) {
            stem.push(char::from(byte));
        } else {
            stem.push_str(&format!("%{byte:02X}"));
        }
    }
    if stem.len() > MAX_STEM_BYTES {
        return Err(HomeIdError::TooLong { bytes: stem.len() });
    }
    Ok(stem)
}

/// The home id a stem encodes, or `None` when the stem is not one that
/// [`encode_home_id`] produces (someone else's file).
pub fn decode_home_id(stem: &str) -> Option<String> {
    let bytes = stem.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut pos = 0;
    while pos < bytes.len() {
        let byte = bytes[pos];
        if is_plain(byte) {
            decoded.push(byte);
            pos += 1;
        } else if byte == b'%' {
            let hex = stem.get(pos + 1..pos + 3)?;
            if !hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b))
            {
                return None;
            }
            let value = u8::from_str_radix(hex, 16).ok()?;
            if is_plain(value) {
                // encode_home_id never escapes a plain byte: one id, one name.
                return None;
            }
            decoded.push(value);
            pos += 3;
        } else {
            return None;
        }
    }
    if decoded.is_empty() {
        return None;
    }
    String::from_utf8(decoded).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_tibber_id_is_its_own_file_name() {
        let id = "96a14971-525a-4420-aae9-e5aedaa129ff";
        assert_eq!(encode_home_id(id).unwrap(), id);
    }

    #[test]
    fn ids_that_could_escape_the_directory_become_plain_names() {
        for id in [
            "..",
            "../etc/passwd",
            "a/b",
            ".hidden",
            "nul\0byte",
            "x.json",
        ] {
            let stem = encode_home_id(id).unwrap();
            assert!(
                !stem.contains('/') && !stem.contains('.') && !stem.contains('\0'),
                "{stem}"
            );
            assert_eq!(decode_home_id(&stem).as_deref(), Some(id));
        }
        assert_eq!(encode_home_id("..").unwrap(), "%2E%2E");
    }

    #[test]
    fn empty_and_overlong_ids_are_refused() {
        assert_eq!(encode_home_id(""), Err(HomeIdError::Empty));
        assert!(matches!(
            encode_home_id(&"/".repeat(100)),
            Err(HomeIdError::TooLong { .. })
        ));
    }

    #[test]
    fn names_we_never_write_do_not_decode() {
        for stem in ["", "a b", "%2", "%zz", "%41", "%2e", "a.b"] {
            assert_eq!(decode_home_id(stem), None, "{stem}");
        }
    }

    proptest! {
        #[test]
        fn encoding_is_reversible_and_safe(id in "\\PC{1,12}") {
            let stem = encode_home_id(&id).unwrap();
            prop_assert!(stem.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'%'));
            prop_assert_eq!(decode_home_id(&stem), Some(id));
        }
    }
}
