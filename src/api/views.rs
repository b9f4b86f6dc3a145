//! The JSON shapes clients read (snake_case), and the rendering of UTC
//! instants in a home's local offset (`2025-10-26T02:00:00+01:00`), so a
//! client never has to know the home's zone rules to read a DST day.

use chrono::{DateTime, SecondsFormat, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use crate::pool::{Gap, Interval};

/// `instant` in `zone`'s offset at that instant, to the second.
pub fn local_rfc3339(instant: DateTime<Utc>, zone: Tz) -> String {
    instant
        .with_timezone(&zone)
        .fixed_offset()
        .to_rfc3339_opts(SecondsFormat::Secs, false)
}

/// One price interval as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct IntervalView {
    /// Start, in the home's offset at that instant.
    pub starts_at: String,
    /// End (the next interval's start), in the home's offset.
    pub ends_at: String,
    /// Price per kWh including taxes, in the home's currency.
    pub total: f64,
    /// The energy part of `total`.
    pub energy: f64,
    /// The taxes and fees in `total`.
    pub tax: f64,
    /// Tibber's level (`VERY_CHEAP` … `VERY_EXPENSIVE`); null where the source has none.
    pub level: Option<&'static str>,
}

impl IntervalView {
    /// Renders `interval` in `zone`.
    pub fn new(interval: &Interval, zone: Tz) -> IntervalView {
        IntervalView {
            starts_at: local_rfc3339(interval.starts_at, zone),
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
pub struct GapView {
    /// First missing instant, in the home's offset.
    pub start: String,
    /// End of the missing stretch (exclusive).
    pub end: String,
}

impl GapView {
    /// Renders `gap` in `zone`.
    pub fn new(gap: &Gap, zone: Tz) -> GapView {
        GapView {
            start: local_rfc3339(gap.start, zone),
            end: local_rfc3339(gap.end, zone),
        }
    }
}

/// The body of `/v1/homes/{home_id}/intervals`.
#[derive(Debug, Clone, Serialize)]
pub struct IntervalsBody {
    /// The home asked about.
    pub home_id: String,
    /// ISO 4217 code of the prices.
    pub currency: String,
    /// Start of the requested range, resolved in the home's zone.
    pub start: String,
    /// End of the requested range (exclusive).
    pub end: String,
    /// Every interval starting in the range that the upstream has, in order.
    pub intervals: Vec<IntervalView>,
    /// False when part of the range is missing.
    pub complete: bool,
    /// Why the answer is incomplete.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// When asking again may fill the missing part.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_at: Option<String>,
    /// The missing stretches.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub missing: Option<Vec<GapView>>,
}

/// The body of `/v1/homes/{home_id}/intervals/current`.
#[derive(Debug, Clone, Serialize)]
pub struct CurrentBody {
    /// The home asked about.
    pub home_id: String,
    /// ISO 4217 code of the prices.
    pub currency: String,
    /// The instant the answer is for (the service's clock).
    pub now: String,
    /// The interval whose span contains `now`.
    pub interval: IntervalView,
}

/// One element of the evcc view: evcc's `custom` tariff reads
/// `[{"start", "end", "value"}]` directly.
#[derive(Debug, Clone, Serialize)]
pub struct RateView {
    /// Start, in the home's offset.
    pub start: String,
    /// End (exclusive), in the home's offset.
    pub end: String,
    /// The interval's total price per kWh.
    pub value: f64,
}

impl RateView {
    /// Renders `interval` in `zone`.
    pub fn new(interval: &Interval, zone: Tz) -> RateView {
        RateView {
            start: local_rfc3339(interval.starts_at, zone),
            end: local_rfc3339(interval.ends_at(), zone),
            value: interval.total,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_two_two_oclocks_of_a_fall_back_day_render_with_their_own_offsets() {
        let zone: Tz = "Europe/Berlin".parse().unwrap();
        let first: DateTime<Utc> = "2025-10-26T00:00:00Z".parse().unwrap();
        let second: DateTime<Utc> = "2025-10-26T01:00:00Z".parse().unwrap();
        assert_eq!(local_rfc3339(first, zone), "2025-10-26T02:00:00+02:00");
        assert_eq!(local_rfc3339(second, zone), "2025-10-26T02:00:00+01:00");
    }
}
