//! The dashboard page kept rendered. `GET /` costs two charts and a window
//! search per home to render, and wall displays and browser tabs poll it;
//! the page is reused while nothing it shows can have changed:
//!
//! - the same minute: the page prints now to the minute, the now marker
//!   moves in five-minute steps and the current slot on quarter-hours;
//! - every home (the same ones) at the same pool revision: the prices,
//!   charts and cheapest window are the home's intervals of that revision;
//! - every home with the same upstream health (last success, last error),
//!   which changes without a new revision when a fetch fails;
//! - before the moment asking again may fill what was missing (tomorrow's
//!   publication, a cooldown's end): a cached page asks nothing upstream.
//!
//! One slot: the page takes no parameters. Apart from `render_cache`,
//! which keeps the JSON range bodies per home and range.

use std::sync::{Arc, Mutex, MutexGuard};

use axum::body::Bytes;
use chrono::{DateTime, Utc};

use crate::upstream::{Home, StatusError};

/// What a rendered page depends on besides the clock's minute.
#[derive(Debug, Clone, PartialEq)]
struct HomeKey {
    id: String,
    revision: u64,
    last_success: Option<DateTime<Utc>>,
    last_error: Option<StatusError>,
}

/// Everything the page shows is a function of: equal keys, equal pages
/// (until the page's `changes_at`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PageKey {
    /// Minutes since the epoch.
    minute: i64,
    /// The homes in the page's order.
    homes: Vec<HomeKey>,
}

impl PageKey {
    /// The key of the page over `homes` (in the page's order) at `now`.
    /// Read before rendering: what a render fetches changes the key, so
    /// the next request renders again rather than reusing an older view.
    pub(crate) fn of(homes: &[Home], now: DateTime<Utc>) -> PageKey {
        PageKey {
            minute: now.timestamp().div_euclid(60),
            homes: homes
                .iter()
                .map(|home| {
                    let status = home.status();
                    HomeKey {
                        id: home.info().id,
                        revision: home.revision(),
                        last_success: status.last_success,
                        last_error: status.last_error,
                    }
                })
                .collect(),
        }
    }
}

/// A rendered page and its validator.
#[derive(Debug)]
pub(crate) struct RenderedPage {
    /// The HTML.
    pub(crate) body: Bytes,
    /// Its `ETag`.
    pub(crate) etag: String,
    /// When asking again may change it (the now marker's next step, a
    /// home's retry time): its max-age ends there, and so does its reuse.
    pub(crate) changes_at: DateTime<Utc>,
}

/// The last rendered page and its key.
#[derive(Debug, Default)]
pub(crate) struct PageCache {
    /// std Mutex: held for a comparison and an `Arc` clone, never across
    /// `.await`.
    slot: Mutex<Option<(PageKey, Arc<RenderedPage>)>>,
}

impl PageCache {
    /// The page rendered under `key`, unless `now` has reached its
    /// `changes_at`.
    pub(crate) fn get(&self, key: &PageKey, now: DateTime<Utc>) -> Option<Arc<RenderedPage>> {
        match &*self.lock() {
            Some((cached, page)) if cached == key && now < page.changes_at => {
                Some(Arc::clone(page))
            }
            _ => None,
        }
    }

    /// Keeps `page`, rendered under `key`, in place of the last one.
    pub(crate) fn put(&self, key: PageKey, page: Arc<RenderedPage>) {
        *self.lock() = Some((key, page));
    }

    fn lock(&self) -> MutexGuard<'_, Option<(PageKey, Arc<RenderedPage>)>> {
        self.slot.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    fn key(minute_of: &str, revision: u64) -> PageKey {
        PageKey {
            minute: at(minute_of).timestamp().div_euclid(60),
            homes: vec![HomeKey {
                id: "demo".to_string(),
                revision,
                last_success: Some(at("2025-10-26T09:00:00Z")),
                last_error: None,
            }],
        }
    }

    fn page(changes_at: &str) -> Arc<RenderedPage> {
        Arc::new(RenderedPage {
            body: Bytes::from_static(b"<html>"),
            etag: "\"1\"".to_string(),
            changes_at: at(changes_at),
        })
    }

    #[test]
    fn a_page_is_reused_only_under_the_same_key_before_it_changes() {
        let cache = PageCache::default();
        cache.put(key("2025-10-26T09:00:10Z", 7), page("2025-10-26T09:05:00Z"));
        let now = at("2025-10-26T09:00:50Z");
        assert!(cache.get(&key("2025-10-26T09:00:50Z", 7), now).is_some());
        // A new revision, a new minute: rendered again.
        assert!(cache.get(&key("2025-10-26T09:00:50Z", 8), now).is_none());
        assert!(cache.get(&key("2025-10-26T09:01:00Z", 7), now).is_none());
        // A new failure on the same revision.
        let mut failed = key("2025-10-26T09:00:50Z", 7);
        failed.homes[0].last_error = Some(StatusError {
            kind: crate::upstream::UpstreamErrorKind::Transient,
            message: "503".to_string(),
            at: now,
        });
        assert!(cache.get(&failed, now).is_none());
    }

    #[test]
    fn a_page_is_not_reused_once_asking_again_may_fill_it() {
        let cache = PageCache::default();
        cache.put(key("2025-10-26T11:59:10Z", 7), page("2025-10-26T11:59:30Z"));
        let key = key("2025-10-26T11:59:40Z", 7);
        assert!(cache.get(&key, at("2025-10-26T11:59:29Z")).is_some());
        assert!(cache.get(&key, at("2025-10-26T11:59:30Z")).is_none());
    }
}
