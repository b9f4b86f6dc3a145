//! Rendered bodies of the range endpoints, kept so that the same answer is
//! not rendered again. Clients poll the same ranges (a dashboard's today,
//! evcc's upcoming rates, a scheduler's two days) far more often than the
//! prices change, and rendering 192 intervals is most of what a hot
//! request costs (see BENCHMARKS.md).
//!
//! An entry is reused only for the same view, home (id, zone, currency)
//! and range, and only while the home's pool is at the revision the body
//! was rendered from ([`crate::pool::Pool::revision`] changes with every
//! fetch and eviction). So nothing has to invalidate it, and a hit needs
//! neither the intervals nor a comparison of them. Only answers that are
//! the pool's content (complete, with a revision) are kept.
//!
//! An entry is a whole body, a day chunk (`day_chunks`: a local day's
//! interval objects, shared by every `/intervals` body over that day), or
//! the assembly of such a body (its head and weak references to its
//! chunks' entries), so a hot range over whole days is one lookup while
//! each chunk's bytes are kept and weighed once.
//!
//! Bounded two ways: at most `capacity_bytes` of entries (bodies plus their
//! keys), the least valuable going first (quick_cache's CLOCK-Pro: a new
//! entry is evicted before one asked for again, so a scan of once-asked
//! ranges does not push out the polled ones); and an entry nobody asked
//! for in [`IDLE_MINUTES`](idle::IDLE_MINUTES) goes (`idle`: a sweep at
//! most once a minute, by the first lookup or insert of a new minute and
//! by /metrics), so ranges that have moved on (yesterday's `today`, the
//! last quarter's `rates`) do not sit in memory until the capacity is
//! reached. What an entry weighs is in `weigh`, the cache's metrics in
//! `telemetry`, a rendered body and its hash in `rendered`.

use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::AtomicU32;
use std::sync::{Arc, Weak};
use std::time::Instant;

use axum::body::Bytes;
use chrono::{DateTime, Utc};

use crate::pool::HomeInfo;

mod idle;
mod rendered;
mod telemetry;
mod weigh;

#[cfg(test)]
use idle::IDLE_MINUTES;
pub(crate) use rendered::Rendered;
use telemetry::GAUGES;
pub(crate) use telemetry::count;
#[cfg(test)]
use weigh::ENTRY_OVERHEAD_BYTES;
use weigh::{TYPICAL_ENTRY_BYTES, Weigh};

/// Bytes of entries the cache holds at most, by default (`--render-cache-mib`).
/// Enough for one hot 2-day body (27 KB) per home for 10,000 homes; a
/// service with a handful of homes never comes near it. Measured on 10,000
/// homes of 960 intervals (~450 MiB of pools): resident memory peaks at
/// ~900 MiB with the cache full under churn (BENCHMARKS.md), so the two
/// together stay under 1 GiB.
pub(crate) const DEFAULT_CAPACITY_MIB: u64 = 288;

/// Which rendering of a range a body is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum View {
    /// `/intervals`: the full body with `home_id`, `intervals`, `complete`.
    Intervals,
    /// `/rates`: evcc's bare array.
    Rates,
    /// `/intervals?resolution=hour`: the body over each local hour's mean.
    IntervalsHourly,
    /// `/rates?resolution=hour`.
    RatesHourly,
    /// Not a body: the interval objects of one local day in the
    /// `/intervals` shape, shared by every `/intervals` body whose range
    /// is made of whole local days (see `day_chunks`).
    IntervalsDay,
}

impl View {
    /// This view over hourly means when `hourly`.
    pub(crate) fn hourly_if(self, hourly: bool) -> View {
        match (self, hourly) {
            (View::Intervals, true) => View::IntervalsHourly,
            (View::Rates, true) => View::RatesHourly,
            (view, _) => view,
        }
    }
}

/// Plain data, so a lookup neither allocates nor hashes a string: the
/// home is its id's hash, and an entry found is checked against the home
/// it was rendered for (ids whose hashes collide only miss).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Key {
    view: View,
    home: u64,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
}

/// A kept entry: a body or day chunk, or how a body over whole local days
/// is assembled.
#[derive(Debug)]
pub(crate) struct Entry {
    /// The home as it was when rendered (zone and currency are in the body).
    home: HomeInfo,
    /// The pool revision the body was rendered from.
    revision: u64,
    kept: Kept,
    /// The cache's minute ([`RenderCache::minute`]) it was last asked for
    /// (or kept) in; written at most once a minute, so a hit rarely dirties
    /// the entry.
    asked: AtomicU32,
}

#[derive(Debug)]
enum Kept {
    /// A whole body, or a day chunk.
    Body(Rendered),
    /// A body over whole local days (`day_chunks`): its head and the chunk
    /// entries it is made of, with their keys. The chunks are held weakly:
    /// their bytes belong to (and are weighed in) their own entries, so an
    /// assembly never keeps an evicted chunk alive; a chunk gone makes it
    /// a miss.
    Assembly {
        head: Bytes,
        chunks: Vec<(Key, Weak<Entry>)>,
        hash: u64,
    },
}

/// A day chunk's entry, kept or just inserted, to build an assembly from.
#[derive(Debug, Clone)]
pub(crate) struct Chunk {
    key: Key,
    entry: Arc<Entry>,
}

impl Chunk {
    /// The chunk's bytes and hash.
    pub(crate) fn rendered(&self) -> &Rendered {
        self.entry.chunk_body()
    }
}

impl Entry {
    /// The body of a day chunk's entry.
    fn chunk_body(&self) -> &Rendered {
        match &self.kept {
            Kept::Body(rendered) => rendered,
            // Chunks are kept as bodies (`keep_chunk`), found as bodies
            // (`lookup_chunk`), and assemblies refer only to those.
            Kept::Assembly { .. } => unreachable!("a chunk is a body"),
        }
    }
}

/// A kept body found by [`RenderCache::find`].
pub(crate) enum Found {
    /// Rendered whole.
    Body(Rendered),
    /// Assembled: the head, the day chunks in order, and the hash of the
    /// whole (its `ETag`).
    Assembly {
        head: Bytes,
        chunks: Vec<Rendered>,
        hash: u64,
    },
}

/// The entries: keys are plain data, so Fx hashes them.
type Entries =
    quick_cache::sync::Cache<Key, Arc<Entry>, Weigh, BuildHasherDefault<rustc_hash::FxHasher>>;

/// The cache. Shared by every request (an `Arc` in [`super::ApiState`]);
/// quick_cache locks internally, per shard, never across an `.await`.
pub(crate) struct RenderCache {
    entries: Entries,
    /// Minute 0 of the entries' `asked` stamps.
    epoch: Instant,
    /// The minute of the last idle sweep.
    swept: AtomicU32,
}

impl std::fmt::Debug for RenderCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RenderCache")
            .field("entries", &self.entries.len())
            .field("weighted_bytes", &self.entries.weight())
            .finish()
    }
}

impl Default for RenderCache {
    fn default() -> Self {
        RenderCache::new(DEFAULT_CAPACITY_MIB * 1024 * 1024)
    }
}

impl RenderCache {
    /// An empty cache holding at most `capacity_bytes` (0: keeps nothing).
    pub(crate) fn new(capacity_bytes: u64) -> RenderCache {
        // quick_cache splits the capacity between its shards (one lock
        // each; fewer when the cache holds few entries, so that a small
        // cache still holds whole bodies).
        let entries = Entries::with(
            usize::try_from(capacity_bytes / TYPICAL_ENTRY_BYTES)
                .unwrap_or(usize::MAX)
                .max(1),
            capacity_bytes,
            Weigh,
            BuildHasherDefault::default(),
            Default::default(),
        );
        RenderCache {
            entries,
            epoch: Instant::now(),
            swept: AtomicU32::new(0),
        }
    }

    fn key(view: View, home: &HomeInfo, (start, end): (DateTime<Utc>, DateTime<Utc>)) -> Key {
        let mut hasher = rustc_hash::FxHasher::default();
        hasher.write(home.id.as_bytes());
        Key {
            view,
            home: hasher.finish(),
            start,
            end,
        }
    }

    /// The kept body of `view` over the range of `home` at `revision`,
    /// whole or as an assembly whose chunks are all still kept. Not
    /// counted: the caller counts the answer with [`count`].
    pub(crate) fn find(
        &self,
        view: View,
        home: &HomeInfo,
        range: (DateTime<Utc>, DateTime<Utc>),
        revision: u64,
    ) -> Option<Found> {
        self.find_at(view, home, range, revision, self.now())
    }

    /// [`RenderCache::find`] in minute `now`, without the sweep. The chunks
    /// of an assembly found are asked for too (they are reached through
    /// it, not looked up), so a polled range does not lose its chunks to
    /// the idle sweep; and, once a minute, looked up, so that eviction
    /// sees them in use too (quick_cache marks an entry referenced on a
    /// lookup; never marked, they went before once-asked bodies).
    fn find_at(
        &self,
        view: View,
        home: &HomeInfo,
        range: (DateTime<Utc>, DateTime<Utc>),
        revision: u64,
        now: u32,
    ) -> Option<Found> {
        let entry = self.entry_at(Self::key(view, home, range), home, revision, now)?;
        match &entry.kept {
            Kept::Body(rendered) => Some(Found::Body(rendered.clone())),
            Kept::Assembly { head, chunks, hash } => {
                let chunks = chunks
                    .iter()
                    .map(|(key, chunk)| {
                        let entry = chunk.upgrade()?;
                        if entry.ask(now) {
                            self.entries.get(key);
                        }
                        Some(entry.chunk_body().clone())
                    })
                    .collect::<Option<Vec<Rendered>>>()?;
                Some(Found::Assembly {
                    head: head.clone(),
                    chunks,
                    hash: *hash,
                })
            }
        }
    }

    /// The kept chunk of `home` over `day` at `revision` (not counted).
    pub(crate) fn lookup_chunk(
        &self,
        home: &HomeInfo,
        day: (DateTime<Utc>, DateTime<Utc>),
        revision: u64,
    ) -> Option<Chunk> {
        let key = Self::key(View::IntervalsDay, home, day);
        self.entry_at(key, home, revision, self.now())
            .filter(|entry| matches!(entry.kept, Kept::Body(_)))
            .map(|entry| Chunk { key, entry })
    }

    /// The kept entry under `key` if it was rendered for `home` at
    /// `revision`, stamped as asked for in minute `now`.
    fn entry_at(&self, key: Key, home: &HomeInfo, revision: u64, now: u32) -> Option<Arc<Entry>> {
        let entry = self
            .entries
            .get(&key)
            .filter(|entry| entry.revision == revision && entry.home == *home)?;
        entry.ask(now);
        Some(entry)
    }

    /// Renders the body of `view` over the range of `home` with `render`
    /// (after [`RenderCache::find`] missed) and keeps it when the answer has
    /// a revision, i.e. it is the pool's own complete content.
    pub(crate) fn render_and_keep(
        &self,
        view: View,
        home: &HomeInfo,
        range: (DateTime<Utc>, DateTime<Utc>),
        revision: Option<u64>,
        render: impl FnOnce() -> Vec<u8>,
    ) -> Rendered {
        let mut body = render();
        // Kept bodies hold exactly their bytes (a renderer's estimate of the
        // capacity is a few percent high; shrinking in place is cheap).
        body.shrink_to_fit();
        let rendered = Rendered::new(body);
        if let Some(revision) = revision {
            self.keep(view, home, range, revision, &rendered);
        }
        rendered
    }

    /// Keeps `rendered` as the body of `view` over the range of `home` at
    /// `revision`.
    pub(crate) fn keep(
        &self,
        view: View,
        home: &HomeInfo,
        range: (DateTime<Utc>, DateTime<Utc>),
        revision: u64,
        rendered: &Rendered,
    ) {
        let key = Self::key(view, home, range);
        self.insert(key, home, revision, Kept::Body(rendered.clone()));
    }

    /// Keeps `rendered` as the chunk of `home` over `day` at `revision`,
    /// and hands it back for an assembly.
    pub(crate) fn keep_chunk(
        &self,
        home: &HomeInfo,
        day: (DateTime<Utc>, DateTime<Utc>),
        revision: u64,
        rendered: &Rendered,
    ) -> Chunk {
        let key = Self::key(View::IntervalsDay, home, day);
        let entry = self.insert(key, home, revision, Kept::Body(rendered.clone()));
        Chunk { key, entry }
    }

    /// Keeps how the `/intervals` body of `home` over `range` at
    /// `revision` is assembled: `head`, then `chunks` (weakly), and the
    /// whole's `hash`. A hit then costs one lookup, as a whole body does.
    pub(crate) fn keep_assembly(
        &self,
        home: &HomeInfo,
        range: (DateTime<Utc>, DateTime<Utc>),
        revision: u64,
        head: Bytes,
        chunks: &[Chunk],
        hash: u64,
    ) {
        let chunks = chunks
            .iter()
            .map(|chunk| (chunk.key, Arc::downgrade(&chunk.entry)))
            .collect();
        let kept = Kept::Assembly { head, chunks, hash };
        self.insert(
            Self::key(View::Intervals, home, range),
            home,
            revision,
            kept,
        );
    }

    /// Keeps `kept` under `key`, rendered for `home` at `revision`.
    fn insert(&self, key: Key, home: &HomeInfo, revision: u64, kept: Kept) -> Arc<Entry> {
        let now = self.now();
        let entry = Arc::new(Entry {
            home: home.clone(),
            revision,
            kept,
            asked: AtomicU32::new(now),
        });
        self.entries.insert(key, Arc::clone(&entry));
        self.set_gauges();
        entry
    }

    fn set_gauges(&self) {
        let [bytes, entries] = &*GAUGES;
        bytes.set(self.entries.weight() as f64);
        entries.set(self.entries.len() as f64);
    }

    /// Sweeps idle entries when a minute has passed and sets the
    /// `pricepool_render_cache_bytes`/`_entries` gauges: for /metrics,
    /// which would otherwise show the size as of the last insert.
    pub(crate) fn publish_gauges(&self) {
        let _ = self.now();
        self.set_gauges();
    }

    /// Bodies kept now (for tests and the curious; not a hot-path call).
    #[cfg(test)]
    pub(crate) fn len(&self) -> u64 {
        self.entries.len() as u64
    }

    /// Whether nothing is kept.
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes of entries kept now, as the capacity counts them.
    #[cfg(test)]
    pub(crate) fn weighted_bytes(&self) -> u64 {
        self.entries.weight()
    }
}

#[cfg(test)]
mod tests;
