//! Rendered bodies of the range endpoints, kept so that the same answer is
//! not rendered again. Clients poll the same ranges (a dashboard's today,
//! evcc's upcoming rates, a scheduler's two days) far more often than the
//! prices change, and rendering 192 intervals is most of what a hot
//! request costs (see BENCHMARKS.md).
//!
//! An entry is reused only when everything its body was rendered from is
//! equal: the view, the home (id, zone, currency), the range and every
//! interval of the answer. So nothing has to invalidate it: a fetch, a
//! touch or GC that changes the answer makes the comparison fail and the
//! body is rendered afresh. Only complete answers are kept (an incomplete
//! one also depends on the time of asking). The cache holds at most
//! `capacity_bytes` of bodies and intervals; the oldest entries go first.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use chrono::{DateTime, Utc};

use super::caching::etag_of;
use crate::pool::{HomeInfo, Interval};

/// Bodies and intervals the cache holds at most, by default: about 900
/// two-day ranges. Small next to the pools (10,000 homes take ~450 MiB).
pub const DEFAULT_CAPACITY_BYTES: usize = 32 * 1024 * 1024;

/// Which rendering of a range a body is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum View {
    /// `/intervals`: the full body with `home_id`, `intervals`, `complete`.
    Intervals,
    /// `/rates`: evcc's bare array.
    Rates,
}

/// A body ready to send, with its `ETag`.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// The JSON body; cloning it shares the bytes.
    pub body: Bytes,
    /// Its strong validator, quoted (see `caching::etag_of`).
    pub etag: Arc<str>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    view: View,
    home_id: String,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
}

#[derive(Debug)]
struct Entry {
    home: HomeInfo,
    intervals: Vec<Interval>,
    rendered: Rendered,
}

impl Entry {
    fn size(&self) -> usize {
        self.rendered.body.len()
            + self.intervals.len() * std::mem::size_of::<Interval>()
            + self.home.id.len() * 2
            + 128
    }
}

#[derive(Debug, Default)]
struct Entries {
    by_key: HashMap<Key, Arc<Entry>>,
    /// Keys in insertion order, for eviction.
    order: VecDeque<Key>,
    used_bytes: usize,
}

/// The cache. Shared by every request (an `Arc` in a router extension).
#[derive(Debug)]
pub struct RenderCache {
    /// std Mutex: held only to look up, insert or evict (no rendering, no
    /// comparison, never across an `.await`).
    entries: Mutex<Entries>,
    capacity_bytes: usize,
}

impl Default for RenderCache {
    fn default() -> Self {
        RenderCache::new(DEFAULT_CAPACITY_BYTES)
    }
}

impl RenderCache {
    /// An empty cache holding at most `capacity_bytes`.
    pub fn new(capacity_bytes: usize) -> RenderCache {
        RenderCache {
            entries: Mutex::new(Entries::default()),
            capacity_bytes,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The body of `view` over `[start, end)` of `home` with `intervals`:
    /// the kept one when it was rendered from exactly these, else
    /// `render()`'s (kept when `keep` is true, i.e. the answer is complete).
    pub fn get_or_render(
        &self,
        view: View,
        home: &HomeInfo,
        (start, end): (DateTime<Utc>, DateTime<Utc>),
        intervals: &[Interval],
        keep: bool,
        render: impl FnOnce() -> Vec<u8>,
    ) -> Rendered {
        let key = Key {
            view,
            home_id: home.id.clone(),
            start,
            end,
        };
        let kept = self.lock().by_key.get(&key).cloned();
        if let Some(entry) = kept
            && entry.home == *home
            && entry.intervals == intervals
        {
            return entry.rendered.clone();
        }
        let body = render();
        let rendered = Rendered {
            etag: Arc::from(etag_of(&body)),
            body: Bytes::from(body),
        };
        if keep {
            self.insert(
                key,
                Entry {
                    home: home.clone(),
                    intervals: intervals.to_vec(),
                    rendered: rendered.clone(),
                },
            );
        }
        rendered
    }

    fn insert(&self, key: Key, entry: Entry) {
        let size = entry.size();
        if size > self.capacity_bytes {
            return;
        }
        let mut entries = self.lock();
        if let Some(old) = entries.by_key.insert(key.clone(), Arc::new(entry)) {
            entries.used_bytes -= old.size();
        } else {
            entries.order.push_back(key);
        }
        entries.used_bytes += size;
        while entries.used_bytes > self.capacity_bytes {
            let Some(oldest) = entries.order.pop_front() else {
                break;
            };
            if let Some(evicted) = entries.by_key.remove(&oldest) {
                entries.used_bytes -= evicted.size();
            }
        }
    }

    /// Bodies kept now (for tests and the curious).
    pub fn len(&self) -> usize {
        self.lock().by_key.len()
    }

    /// Whether nothing is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::fixtures;
    use std::cell::Cell;

    fn range() -> (DateTime<Utc>, DateTime<Utc>) {
        let start = fixtures::day_start();
        (start, start + chrono::TimeDelta::days(1))
    }

    #[test]
    fn the_same_answer_is_rendered_once_and_a_changed_one_again() {
        let cache = RenderCache::default();
        let home = fixtures::home("a");
        let mut intervals = fixtures::quarter_hours(range().0, 96, 1);
        let renders = Cell::new(0);
        let render = |text: &'static str| {
            renders.set(renders.get() + 1);
            text.as_bytes().to_vec()
        };
        let first = cache.get_or_render(View::Intervals, &home, range(), &intervals, true, || {
            render("one")
        });
        let again = cache.get_or_render(View::Intervals, &home, range(), &intervals, true, || {
            render("never")
        });
        assert_eq!(renders.get(), 1);
        assert_eq!(again.body, first.body);
        assert_eq!(again.etag, first.etag);

        // A fetch that touched one price: rendered afresh, new ETag.
        intervals[40].total += 0.01;
        let changed =
            cache.get_or_render(View::Intervals, &home, range(), &intervals, true, || {
                render("two")
            });
        assert_eq!(renders.get(), 2);
        assert_eq!(&changed.body[..], b"two");
        assert_ne!(changed.etag, first.etag);

        // Another view, home or range of the same intervals is another body.
        cache.get_or_render(View::Rates, &home, range(), &intervals, true, || {
            render("r")
        });
        let other_home = HomeInfo {
            zone: chrono_tz::Europe::Oslo,
            ..home.clone()
        };
        cache.get_or_render(View::Rates, &other_home, range(), &intervals, true, || {
            render("o")
        });
        assert_eq!(renders.get(), 4);
    }

    #[test]
    fn incomplete_answers_are_not_kept() {
        let cache = RenderCache::default();
        let home = fixtures::home("a");
        let intervals = fixtures::quarter_hours(range().0, 50, 1);
        cache.get_or_render(View::Intervals, &home, range(), &intervals, false, || {
            b"partial".to_vec()
        });
        assert!(cache.is_empty());
    }

    #[test]
    fn the_cache_stays_within_its_capacity_by_dropping_the_oldest() {
        let home = fixtures::home("a");
        let intervals = fixtures::quarter_hours(range().0, 96, 1);
        let one_entry = 1000 + 96 * std::mem::size_of::<Interval>() + 2 + 128;
        let cache = RenderCache::new(3 * one_entry);
        let day = chrono::TimeDelta::days(1);
        for n in 0..5 {
            let start = range().0 + day * n;
            cache.get_or_render(
                View::Intervals,
                &home,
                (start, start + day),
                &intervals,
                true,
                || vec![b' '; 1000],
            );
        }
        assert_eq!(cache.len(), 3);
        assert!(cache.lock().used_bytes <= 3 * one_entry);
        // The two oldest went; the newest is still there.
        let newest = range().0 + day * 4;
        let mut rendered_again = false;
        cache.get_or_render(
            View::Intervals,
            &home,
            (newest, newest + day),
            &intervals,
            true,
            || {
                rendered_again = true;
                Vec::new()
            },
        );
        assert!(!rendered_again);
        cache.get_or_render(View::Intervals, &home, range(), &intervals, true, || {
            rendered_again = true;
            Vec::new()
        });
        assert!(rendered_again);
    }
}
