//! An interval's start packed into 6 bytes, so an `Interval` is 32 bytes
//! (see `interval`): the pool holds millions of them.

use chrono::{DateTime, Timelike, Utc};

/// An interval's start in 6 bytes: `2 × unix seconds`, plus 1 when the
/// instant had a sub-second fraction (which `validate` rejects as off the
/// grid), as a little-endian 48-bit two's-complement number. 47 bits of
/// seconds cover chrono's whole range (±262,143 years), so every
/// `DateTime<Utc>` a source can produce is kept, to the second.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) struct PackedStart([u8; 6]);

impl PackedStart {
    /// `instant`, to the second, with whether it had a fraction.
    pub(super) fn new(instant: DateTime<Utc>) -> PackedStart {
        PackedStart::pack(instant.timestamp() * 2 + i64::from(instant.nanosecond() != 0))
    }

    /// Whole `seconds`, which the caller keeps within chrono's range.
    pub(super) fn from_seconds(seconds: i64) -> PackedStart {
        PackedStart::pack(seconds * 2)
    }

    fn pack(packed: i64) -> PackedStart {
        let bytes = packed.to_le_bytes();
        PackedStart([bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5]])
    }

    #[inline]
    fn packed(self) -> i64 {
        let [a, b, c, d, e, f] = self.0;
        // Shift the sign bit of the 48-bit number into place, then back.
        (i64::from_le_bytes([a, b, c, d, e, f, 0, 0]) << 16) >> 16
    }

    /// The whole unix seconds.
    #[inline]
    pub(super) fn seconds(self) -> i64 {
        self.packed() >> 1
    }

    /// Whether the instant had a sub-second fraction.
    #[inline]
    pub(super) fn has_fraction(self) -> bool {
        self.packed() & 1 != 0
    }
}
