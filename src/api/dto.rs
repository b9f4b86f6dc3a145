//! Every JSON shape a client reads (snake_case), as serde structs: the
//! documented answers of each endpoint, and the rendering of UTC instants in
//! a home's local offset (`2025-10-26T02:00:00+01:00`), so a client never
//! has to know the home's zone rules to read a DST day. The hot range
//! bodies are written by `render` byte for byte as serde writes these.
//! (Problem bodies live beside their error type in `problem`.)

use chrono::{DateTime, SecondsFormat, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use crate::pool::{Gap, Interval, PoolStats};
use crate::upstream::{SourceStatus, UpstreamStatus};

/// `instant` in `zone`'s offset at that instant, to the second.
pub(crate) fn local_rfc3339(instant: DateTime<Utc>, zone: Tz) -> String {
    instant
        .with_timezone(&zone)
        .fixed_offset()
        .to_rfc3339_opts(SecondsFormat::Secs, false)
}

/// One price interval as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct IntervalView {
    /// Start, in the home's offset at that instant.
    pub(crate) starts_at: String,
    /// End (the next interval's start), in the home's offset.
    pub(crate) ends_at: String,
    /// Price per kWh including taxes, in the home's currency.
    pub(crate) total: f64,
    /// The energy part of `total`.
    pub(crate) energy: f64,
    /// The taxes and fees in `total`.
    pub(crate) tax: f64,
    /// Tibber's level (`VERY_CHEAP` … `VERY_EXPENSIVE`); null where the source has none.
    pub(crate) level: Option<&'static str>,
}

impl IntervalView {
    /// Renders `interval` in `zone`.
    pub(crate) fn new(interval: &Interval, zone: Tz) -> IntervalView {
        IntervalView {
            starts_at: local_rfc3339(interval.starts_at(), zone),
            ends_at: local_rfc3339(interval.ends_at(), zone),
            total: interval.total,
            energy: interval.energy,
            tax: interval.tax,
            level: interval.level.map(|level| level.as_str()),
        }
    }
}

/// A missing stretch of an incomplete answer.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct GapView {
    /// First missing instant, in the home's offset.
    pub(crate) start: String,
    /// End of the missing stretch (exclusive).
    pub(crate) end: String,
}

impl GapView {
    /// Renders `gap` in `zone`.
    pub(crate) fn new(gap: &Gap, zone: Tz) -> GapView {
        GapView {
            start: local_rfc3339(gap.start, zone),
            end: local_rfc3339(gap.end, zone),
        }
    }
}

/// The body of `/v1/homes/{home_id}/intervals`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct IntervalsBody {
    /// The home asked about.
    pub(crate) home_id: String,
    /// ISO 4217 code of the prices.
    pub(crate) currency: String,
    /// Start of the requested range, resolved in the home's zone.
    pub(crate) start: String,
    /// End of the requested range (exclusive).
    pub(crate) end: String,
    /// Every interval starting in the range that the upstream has, in order.
    pub(crate) intervals: Vec<IntervalView>,
    /// False when part of the range is missing.
    pub(crate) complete: bool,
    /// Why the answer is incomplete.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) reason: Option<String>,
    /// When asking again may fill the missing part.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) retry_at: Option<String>,
    /// The missing stretches.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) missing: Option<Vec<GapView>>,
}

/// The body of `/v1/homes/{home_id}/intervals/current`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct CurrentBody {
    /// The home asked about.
    pub(crate) home_id: String,
    /// ISO 4217 code of the prices.
    pub(crate) currency: String,
    /// The instant the answer is for (the service's clock).
    pub(crate) now: String,
    /// The interval whose span contains `now`.
    pub(crate) interval: IntervalView,
}

/// One element of the evcc view: evcc's `custom` tariff reads
/// `[{"start", "end", "value"}]` directly.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct RateView {
    /// Start, in the home's offset.
    pub(crate) start: String,
    /// End (exclusive), in the home's offset.
    pub(crate) end: String,
    /// The interval's total price per kWh.
    pub(crate) value: f64,
}

impl RateView {
    /// Renders `interval` in `zone`.
    pub(crate) fn new(interval: &Interval, zone: Tz) -> RateView {
        RateView {
            start: local_rfc3339(interval.starts_at(), zone),
            end: local_rfc3339(interval.ends_at(), zone),
            value: interval.total,
        }
    }
}

/// One home in `/v1/homes`.
#[derive(Debug, Serialize)]
pub(crate) struct HomeEntry {
    /// The home's id, as the paths take it.
    pub(crate) id: String,
    /// Its IANA zone (`Europe/Berlin`): what `date=` and local days mean.
    pub(crate) time_zone: String,
    /// ISO 4217 code of its prices.
    pub(crate) currency: String,
    /// What its pool holds now.
    pub(crate) pool: PoolStats,
    /// Its upstream's health.
    pub(crate) upstream: UpstreamStatus,
    /// Each of its sources' health, in failover order.
    pub(crate) sources: Vec<SourceStatus>,
}

/// The body of `/v1/homes`.
#[derive(Debug, Serialize)]
pub(crate) struct HomesBody {
    /// Every known home, by id.
    pub(crate) homes: Vec<HomeEntry>,
}

/// The body of `/v1/homes/{home_id}/stats`.
#[derive(Debug, Serialize)]
pub(crate) struct StatsBody {
    /// The home asked about.
    pub(crate) home_id: String,
    /// Its IANA zone.
    pub(crate) time_zone: String,
    /// ISO 4217 code of its prices.
    pub(crate) currency: String,
    /// What its pool holds now.
    pub(crate) pool: PoolStats,
    /// Its save status (dirty, last save), as the saver reports it.
    pub(crate) persistence: serde_json::Value,
    /// Its upstream's health.
    pub(crate) upstream: UpstreamStatus,
}

/// One home in `/readyz`.
#[derive(Debug, Serialize)]
pub(crate) struct ReadyHome {
    /// The home's id.
    pub(crate) id: String,
    /// Its upstream's health.
    pub(crate) upstream: UpstreamStatus,
    /// Each of its sources' health, in failover order.
    pub(crate) sources: Vec<SourceStatus>,
}

/// The body of `/readyz`.
#[derive(Debug, Serialize)]
pub(crate) struct ReadyBody {
    /// Whether snapshots are loaded and the homes known.
    pub(crate) ready: bool,
    /// Every known home, by id.
    pub(crate) homes: Vec<ReadyHome>,
    /// With `--redis-url`: `up` or `down` (readiness does not depend on it:
    /// without Redis a replica serves alone).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) redis: Option<&'static str>,
    /// With `--mqtt-url`: `up` while connected to the broker, else `down`
    /// (readiness does not depend on it either).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) mqtt: Option<&'static str>,
}

/// One window of `/cheapest`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct WindowView {
    /// Its first slot's start, in the home's offset.
    pub(crate) start: String,
    /// Its last slot's end (exclusive).
    pub(crate) end: String,
    /// The mean total over it, weighted by slot duration.
    pub(crate) mean: f64,
}

/// One picked slot of `/cheapest`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct SlotView {
    /// Start, in the home's offset.
    pub(crate) starts_at: String,
    /// End (exclusive).
    pub(crate) ends_at: String,
    /// Price per kWh including taxes.
    pub(crate) total: f64,
}

/// The body of `/v1/homes/{home_id}/cheapest`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct CheapestBody {
    /// The home asked about.
    pub(crate) home_id: String,
    /// ISO 4217 code of the prices.
    pub(crate) currency: String,
    /// Start of the range searched.
    pub(crate) start: String,
    /// End of the range searched (exclusive).
    pub(crate) end: String,
    /// The window's length, ISO 8601 (`PT3H`).
    pub(crate) duration: String,
    /// False when part of the range is missing: the pick is over what is known.
    pub(crate) complete: bool,
    /// The mean total over the picked slots; null when nothing of that length fits.
    pub(crate) mean: Option<f64>,
    /// The picked stretches, in order (one when contiguous; none when nothing fits).
    pub(crate) windows: Vec<WindowView>,
    /// The picked slots, in order.
    pub(crate) slots: Vec<SlotView>,
    /// Why the range is incomplete.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) reason: Option<String>,
    /// When asking again may fill the missing part.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) retry_at: Option<String>,
}

/// A day's cheapest or dearest slot in `/summary`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ExtremeView {
    /// Its total price.
    pub(crate) total: f64,
    /// Its start (the earliest slot with that price).
    pub(crate) starts_at: String,
}

/// One local day of `/summary`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct DayView {
    /// The local date, `YYYY-MM-DD`.
    pub(crate) date: String,
    /// Whether every slot of the whole local day is known.
    pub(crate) complete: bool,
    /// How many slots of the day are known.
    pub(crate) count: usize,
    /// The cheapest slot; null without slots.
    pub(crate) min: Option<ExtremeView>,
    /// The dearest slot; null without slots.
    pub(crate) max: Option<ExtremeView>,
    /// The mean total weighted by slot duration; null without slots.
    pub(crate) mean: Option<f64>,
    /// The median total; null without slots.
    pub(crate) median: Option<f64>,
}

/// The body of `/v1/homes/{home_id}/summary`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct SummaryBody {
    /// The home asked about.
    pub(crate) home_id: String,
    /// ISO 4217 code of the prices.
    pub(crate) currency: String,
    /// Start of the range summarised.
    pub(crate) start: String,
    /// End of the range (exclusive).
    pub(crate) end: String,
    /// False when part of the range is missing.
    pub(crate) complete: bool,
    /// Why the range is incomplete.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) reason: Option<String>,
    /// When asking again may fill the missing part.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) retry_at: Option<String>,
    /// One entry per local day the range touches.
    pub(crate) days: Vec<DayView>,
}
