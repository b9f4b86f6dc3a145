//! What an entry weighs against the cache's capacity.

use std::sync::{Arc, Weak};

use super::{Entry, Kept, Key};

/// What an entry costs, for the capacity: its body, ETag and strings, plus
/// a fixed allowance for the key, the `Arc`s, the allocator's rounding and
/// the cache's own bookkeeping. Measured as resident memory grown by one
/// pass over 10,003 homes' two-day ranges (30,009 entries: two day chunks
/// and an assembly each) beyond their bytes: ~220 B per entry (moka, before:
/// ~480 B; the allowance was 1 KiB then, so the default capacity did not
/// quite hold those ranges, 303 MB weighed).
fn weight(entry: &Entry) -> u64 {
    let kept = match &entry.kept {
        Kept::Body(rendered) => rendered.body.len(),
        Kept::Assembly { head, chunks, .. } => {
            head.len() + chunks.len() * std::mem::size_of::<(Key, Weak<Entry>)>()
        }
    };
    let bytes = kept + entry.home.id.len() + entry.home.currency.len() + ENTRY_OVERHEAD_BYTES;
    u64::try_from(bytes).unwrap_or(u64::MAX)
}

/// [`weight`] as quick_cache asks for it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Weigh;

impl quick_cache::Weighter<Key, Arc<Entry>> for Weigh {
    fn weight(&self, _key: &Key, entry: &Arc<Entry>) -> u64 {
        weight(entry)
    }
}

/// A typical entry's weight, to size the cache's tables (and its memory of
/// recently evicted keys): a 2-day range is two day chunks of ~14 KB and an
/// assembly of ~0.4 KB, ~9.5 KB an entry with their allowances.
pub(super) const TYPICAL_ENTRY_BYTES: u64 = 10 * 1024;

/// See [`weight`].
pub(super) const ENTRY_OVERHEAD_BYTES: usize = 256;
