//! The timestamp index: UTC start instant → where the interval lives.
//!
//! Every start lies on the 15-minute grid, so an instant is a *slot number*
//! (`unix seconds / 900`). Slots are grouped into pages of one UTC day (96
//! slots, the same count on every UTC day, DST or not), held in a hash map
//! keyed by day number. A point lookup is one hash probe plus an array read;
//! a range walks the pages it spans, so its cost is the number of slots in
//! the range, never the size of the pool.

use rustc_hash::FxHashMap;

use super::interval::QUARTER_SECONDS;

/// Slots per page: the quarter-hours of one UTC day.
pub const SLOTS_PER_PAGE: i64 = 96;

/// Where an interval lives: its group's slot in the pool's group table and
/// its position inside that group, packed in 32 bits to keep the index at 4
/// bytes per slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Loc(u32);

/// Bits for the position inside a group; groups are split at this size.
pub const POS_BITS: u32 = 14;
/// The largest number of intervals one group can hold.
pub const MAX_GROUP_LEN: usize = 1 << POS_BITS;
/// The largest number of group slots (one value is kept free as the empty marker).
pub const MAX_GROUPS: usize = (1 << (32 - POS_BITS)) - 1;

impl Loc {
    const EMPTY: u32 = u32::MAX;

    /// Packs a group slot and a position; callers keep both below the limits above.
    pub fn new(group: usize, pos: usize) -> Loc {
        debug_assert!(group < MAX_GROUPS && pos < MAX_GROUP_LEN);
        Loc(((group as u32) << POS_BITS) | pos as u32)
    }

    /// The group's slot in the pool's group table.
    #[inline]
    pub fn group(self) -> usize {
        (self.0 >> POS_BITS) as usize
    }

    /// The interval's position inside its group.
    #[inline]
    pub fn pos(self) -> usize {
        (self.0 & ((1 << POS_BITS) - 1)) as usize
    }
}

/// One UTC day of slots.
#[derive(Debug, Clone)]
struct Page {
    locs: [u32; SLOTS_PER_PAGE as usize],
    n_used: u8,
}

/// Maps slot numbers to locations.
#[derive(Debug, Clone, Default)]
pub struct TimestampIndex {
    pages: FxHashMap<i64, Box<Page>>,
    n_entries: usize,
}

/// A slot number: whole quarter-hours since the Unix epoch.
pub fn slot_of_seconds(seconds: i64) -> i64 {
    seconds.div_euclid(QUARTER_SECONDS)
}

fn split(slot: i64) -> (i64, usize) {
    (
        slot.div_euclid(SLOTS_PER_PAGE),
        slot.rem_euclid(SLOTS_PER_PAGE) as usize,
    )
}

impl TimestampIndex {
    /// The location stored for `slot`, if any. O(1).
    #[inline]
    pub fn get(&self, slot: i64) -> Option<Loc> {
        let (day, idx) = split(slot);
        let page = self.pages.get(&day)?;
        let raw = page.locs[idx];
        (raw != Loc::EMPTY).then_some(Loc(raw))
    }

    /// The occupied slot nearest at or before `slot`, looking back at most
    /// `max_back` slots. One probe per page touched (one, or two across
    /// UTC midnight), instead of one per slot.
    #[inline]
    pub fn nearest_at_or_before(&self, slot: i64, max_back: i64) -> Option<(i64, Loc)> {
        let (day, idx) = split(slot);
        let lowest = slot - max_back;
        if let Some(page) = self.pages.get(&day) {
            let from = (idx as i64 - max_back).max(0) as usize;
            if let Some(i) = page.locs[from..=idx]
                .iter()
                .rposition(|&raw| raw != Loc::EMPTY)
            {
                let i = from + i;
                return Some((day * SLOTS_PER_PAGE + i as i64, Loc(page.locs[i])));
            }
        }
        if lowest >= day * SLOTS_PER_PAGE {
            return None;
        }
        let page = self.pages.get(&(day - 1))?;
        let from = (lowest - (day - 1) * SLOTS_PER_PAGE) as usize;
        let i = page.locs[from..]
            .iter()
            .rposition(|&raw| raw != Loc::EMPTY)?
            + from;
        Some(((day - 1) * SLOTS_PER_PAGE + i as i64, Loc(page.locs[i])))
    }

    /// Stores `loc` for `slot` and returns what was there before.
    pub fn insert(&mut self, slot: i64, loc: Loc) -> Option<Loc> {
        let (day, idx) = split(slot);
        let page = self.pages.entry(day).or_insert_with(|| {
            Box::new(Page {
                locs: [Loc::EMPTY; SLOTS_PER_PAGE as usize],
                n_used: 0,
            })
        });
        let old = page.locs[idx];
        page.locs[idx] = loc.0;
        if old == Loc::EMPTY {
            page.n_used += 1;
            self.n_entries += 1;
            None
        } else {
            Some(Loc(old))
        }
    }

    /// Clears `slot` if it holds exactly `loc` (a stale entry is left to
    /// whoever owns the slot now). Pages that become empty are freed.
    pub fn remove_if(&mut self, slot: i64, loc: Loc) -> bool {
        let (day, idx) = split(slot);
        let Some(page) = self.pages.get_mut(&day) else {
            return false;
        };
        if page.locs[idx] != loc.0 {
            return false;
        }
        page.locs[idx] = Loc::EMPTY;
        page.n_used -= 1;
        self.n_entries -= 1;
        if page.n_used == 0 {
            self.pages.remove(&day);
        }
        true
    }

    /// Every stored location whose slot lies in `[first, last]`, in slot order.
    /// Cost: one probe per UTC day spanned plus one read per slot; a span of
    /// more days than the index has pages (a client asking for centuries)
    /// walks the pages instead, so the cost never exceeds O(pages · log pages
    /// + slots returned).
    pub fn range(&self, first: i64, last: i64) -> impl Iterator<Item = (i64, Loc)> + '_ {
        let (first_day, first_idx) = split(first);
        let (last_day, last_idx) = split(last.max(first));
        let days = if last < first {
            DaySpan::Sorted(Vec::new().into_iter())
        } else if last_day - first_day >= 2 * self.pages.len() as i64 + 8 {
            let mut days: Vec<i64> = self
                .pages
                .keys()
                .copied()
                .filter(|day| (first_day..=last_day).contains(day))
                .collect();
            days.sort_unstable();
            DaySpan::Sorted(days.into_iter())
        } else {
            DaySpan::Contiguous(first_day..=last_day)
        };
        days.filter_map(move |day| self.pages.get(&day).map(|page| (day, page)))
            .flat_map(move |(day, page)| {
                let lo = if day == first_day { first_idx } else { 0 };
                let hi = if day == last_day {
                    last_idx
                } else {
                    SLOTS_PER_PAGE as usize - 1
                };
                page.locs[lo..=hi]
                    .iter()
                    .enumerate()
                    .filter(|(_, raw)| **raw != Loc::EMPTY)
                    .map(move |(i, raw)| (day * SLOTS_PER_PAGE + (lo + i) as i64, Loc(*raw)))
            })
    }

    /// Number of occupied slots.
    pub fn len(&self) -> usize {
        self.n_entries
    }

    /// Whether no slot is occupied.
    pub fn is_empty(&self) -> bool {
        self.n_entries == 0
    }

    /// Heap bytes held by the index (pages and the map's table), for the
    /// memory figures in stats and benches.
    pub fn heap_bytes(&self) -> usize {
        self.pages.len() * std::mem::size_of::<Page>()
            + self.pages.capacity() * (std::mem::size_of::<(i64, Box<Page>)>() + 1)
    }
}

/// The UTC days a range visits: all of them for a short range, or only the
/// occupied ones, sorted, for a range longer than the index is wide.
enum DaySpan {
    Contiguous(std::ops::RangeInclusive<i64>),
    Sorted(std::vec::IntoIter<i64>),
}

impl Iterator for DaySpan {
    type Item = i64;

    #[inline]
    fn next(&mut self) -> Option<i64> {
        match self {
            DaySpan::Contiguous(days) => days.next(),
            DaySpan::Sorted(days) => days.next(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loc_round_trips_its_parts() {
        let loc = Loc::new(MAX_GROUPS - 1, MAX_GROUP_LEN - 2);
        assert_eq!(
            (loc.group(), loc.pos()),
            (MAX_GROUPS - 1, MAX_GROUP_LEN - 2)
        );
        assert_ne!(Loc::new(MAX_GROUPS - 1, MAX_GROUP_LEN - 1).0, Loc::EMPTY);
    }

    #[test]
    fn range_crosses_pages_and_skips_empty_slots() {
        let mut index = TimestampIndex::default();
        for slot in [-1_i64, 0, 95, 96, 200, 1000] {
            index.insert(slot, Loc::new(1, slot.rem_euclid(100) as usize));
        }
        let slots: Vec<i64> = index.range(-1, 200).map(|(s, _)| s).collect();
        assert_eq!(slots, vec![-1, 0, 95, 96, 200]);
        assert_eq!(index.range(97, 199).count(), 0);
        assert_eq!(index.range(5, 4).count(), 0);
        // A span far wider than the index walks its pages, in order.
        let all: Vec<i64> = index
            .range(i64::MIN / 2, i64::MAX / 2)
            .map(|(s, _)| s)
            .collect();
        assert_eq!(all, vec![-1, 0, 95, 96, 200, 1000]);
        // Nearest occupied slot looking back, within a page and across midnight.
        assert_eq!(index.nearest_at_or_before(97, 3).map(|(s, _)| s), Some(96));
        assert_eq!(index.nearest_at_or_before(98, 3).map(|(s, _)| s), Some(96));
        assert_eq!(index.nearest_at_or_before(1, 3).map(|(s, _)| s), Some(0));
        assert_eq!(index.nearest_at_or_before(202, 1), None);
        assert_eq!(index.nearest_at_or_before(199, 3), None);
        assert!(index.remove_if(0, Loc::new(1, 0)));
        assert!(
            !index.remove_if(95, Loc::new(2, 0)),
            "a stale loc does not clear the slot"
        );
        assert_eq!(index.len(), 5);
    }
}
