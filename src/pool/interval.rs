//! One price slot and its validation.

use std::fmt;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::packed_start::PackedStart;

/// The length of one price slot. Day-ahead markets price hours (before
/// 2025-10-01 in Europe) or quarter-hours; nothing else is representable, so a
/// duration of, say, 30 minutes is rejected where it is parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(into = "u8", try_from = "u8")]
pub enum Resolution {
    /// 15 minutes.
    QuarterHour,
    /// 60 minutes.
    Hour,
}

impl Resolution {
    /// The slot length in minutes (15 or 60).
    pub const fn minutes(self) -> u8 {
        match self {
            Resolution::QuarterHour => 15,
            Resolution::Hour => 60,
        }
    }

    /// The slot length in seconds.
    pub const fn seconds(self) -> i64 {
        self.minutes() as i64 * 60
    }

    /// The slot length as a chrono duration.
    pub fn duration(self) -> Duration {
        Duration::seconds(self.seconds())
    }

    /// Parses a length in minutes; anything but 15 or 60 is an error.
    pub fn from_minutes(minutes: i64) -> Result<Self, IntervalError> {
        match minutes {
            15 => Ok(Resolution::QuarterHour),
            60 => Ok(Resolution::Hour),
            other => Err(IntervalError::Duration { minutes: other }),
        }
    }
}

impl From<Resolution> for u8 {
    fn from(resolution: Resolution) -> u8 {
        resolution.minutes()
    }
}

impl TryFrom<u8> for Resolution {
    type Error = IntervalError;
    fn try_from(minutes: u8) -> Result<Self, IntervalError> {
        Resolution::from_minutes(i64::from(minutes))
    }
}

/// Tibber's price level, relative to the trailing average. Sources without
/// levels leave it out (`Interval::level` is `None`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PriceLevel {
    VeryCheap,
    Cheap,
    Normal,
    Expensive,
    VeryExpensive,
}

impl PriceLevel {
    /// The wire spelling (`VERY_CHEAP` …), as Tibber and our API write it.
    pub const fn as_str(self) -> &'static str {
        match self {
            PriceLevel::VeryCheap => "VERY_CHEAP",
            PriceLevel::Cheap => "CHEAP",
            PriceLevel::Normal => "NORMAL",
            PriceLevel::Expensive => "EXPENSIVE",
            PriceLevel::VeryExpensive => "VERY_EXPENSIVE",
        }
    }

    /// Parses the wire spelling; unknown words are `None` (a new level
    /// upstream must not make a whole answer unreadable).
    pub fn parse(word: &str) -> Option<Self> {
        Some(match word {
            "VERY_CHEAP" => PriceLevel::VeryCheap,
            "CHEAP" => PriceLevel::Cheap,
            "NORMAL" => PriceLevel::Normal,
            "EXPENSIVE" => PriceLevel::Expensive,
            "VERY_EXPENSIVE" => PriceLevel::VeryExpensive,
            _ => return None,
        })
    }
}

/// One price slot: prices per kWh in the home's currency for
/// `[starts_at, starts_at + resolution)`.
///
/// Kept at 32 bytes: the pool holds up to tens of thousands per home (10,000
/// homes × 960 intervals are 9.6 M of them) and the memory budget is 64 bytes
/// per live interval including the index. The start is therefore not a
/// 12-byte `DateTime<Utc>` but whole unix seconds packed into 6 bytes
/// (`PackedStart`), read through `starts_at()`; serde reads and writes the
/// same JSON as a `DateTime<Utc>` field did.
#[derive(Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(into = "IntervalFields", from = "IntervalFields")]
pub struct Interval {
    /// Start, a UTC instant on the 15-minute grid once validated.
    start: PackedStart,
    /// Slot length.
    pub resolution: Resolution,
    /// Energy plus tax.
    pub total: f64,
    /// Energy price (spot plus markup).
    pub energy: f64,
    /// Taxes and fees.
    pub tax: f64,
    /// Price level, where the source has one.
    pub level: Option<PriceLevel>,
}

/// The serde form of an `Interval`: the fields and their order as they were
/// when the start was a `DateTime<Utc>` field, so JSON bodies and snapshot
/// files are unchanged.
#[derive(Serialize, Deserialize)]
struct IntervalFields {
    starts_at: DateTime<Utc>,
    resolution: Resolution,
    total: f64,
    energy: f64,
    tax: f64,
    level: Option<PriceLevel>,
}

impl From<Interval> for IntervalFields {
    fn from(interval: Interval) -> IntervalFields {
        IntervalFields {
            starts_at: interval.starts_at(),
            resolution: interval.resolution,
            total: interval.total,
            energy: interval.energy,
            tax: interval.tax,
            level: interval.level,
        }
    }
}

impl From<IntervalFields> for Interval {
    fn from(f: IntervalFields) -> Interval {
        Interval::new(f.starts_at, f.resolution, f.total, f.energy, f.tax, f.level)
    }
}

impl fmt::Debug for Interval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Interval")
            .field("starts_at", &self.starts_at())
            .field("resolution", &self.resolution)
            .field("total", &self.total)
            .field("energy", &self.energy)
            .field("tax", &self.tax)
            .field("level", &self.level)
            .finish()
    }
}

/// Seconds in one quarter-hour: the grid every interval start lies on.
pub const QUARTER_SECONDS: i64 = 900;

/// The earliest start the pool accepts, 1000-01-01T00:00:00Z (unix seconds).
/// Bounding starts to four-digit years keeps every instant derived from one
/// (its end, local midnights, the protected window, gap bounds) inside
/// chrono's range and renderable as RFC 3339, so no arithmetic can overflow.
pub const EARLIEST_START_SECONDS: i64 = -30_610_224_000;

/// The first start the pool no longer accepts, 9999-01-01T00:00:00Z (unix
/// seconds); see `EARLIEST_START_SECONDS`.
pub const END_OF_STARTS_SECONDS: i64 = 253_370_764_800;

impl Interval {
    /// An interval with these fields; `validate` says whether the pool takes it.
    pub fn new(
        starts_at: DateTime<Utc>,
        resolution: Resolution,
        total: f64,
        energy: f64,
        tax: f64,
        level: Option<PriceLevel>,
    ) -> Interval {
        Interval {
            start: PackedStart::new(starts_at),
            resolution,
            total,
            energy,
            tax,
            level,
        }
    }

    /// An interval starting `seconds` after the Unix epoch, or `None` past
    /// the instants a `DateTime<Utc>` can hold. Snapshot decoding builds
    /// every start this way: adding to a `DateTime` per row cost more than
    /// the row's numbers.
    pub fn at_seconds(
        seconds: i64,
        resolution: Resolution,
        total: f64,
        energy: f64,
        tax: f64,
        level: Option<PriceLevel>,
    ) -> Option<Interval> {
        let representable =
            DateTime::<Utc>::MIN_UTC.timestamp()..=DateTime::<Utc>::MAX_UTC.timestamp();
        representable.contains(&seconds).then(|| Interval {
            start: PackedStart::from_seconds(seconds),
            resolution,
            total,
            energy,
            tax,
            level,
        })
    }

    /// The start of the slot, to the second (a sub-second fraction, which
    /// `validate` rejects, is dropped here).
    #[inline]
    pub fn starts_at(&self) -> DateTime<Utc> {
        // Every packed value came from a `DateTime<Utc>`, so it is in range.
        DateTime::from_timestamp(self.start.seconds(), 0).unwrap_or_default()
    }

    /// The start as unix seconds: what the index and comparisons need,
    /// without building a `DateTime`.
    #[inline]
    pub fn start_seconds(&self) -> i64 {
        self.start.seconds()
    }

    /// Moves the slot to start at `starts_at`.
    pub fn set_starts_at(&mut self, starts_at: DateTime<Utc>) {
        self.start = PackedStart::new(starts_at);
    }

    /// The end of the slot (exclusive).
    pub fn ends_at(&self) -> DateTime<Utc> {
        self.starts_at() + self.resolution.duration()
    }

    /// Checks what the pool relies on: a start on the 15-minute grid (whole
    /// seconds, no fraction) in years 1000 through 9998, and finite prices.
    pub fn validate(&self) -> Result<(), IntervalError> {
        let secs = self.start.seconds();
        if !(EARLIEST_START_SECONDS..END_OF_STARTS_SECONDS).contains(&secs) {
            return Err(IntervalError::OutOfRange {
                starts_at: self.starts_at(),
            });
        }
        if secs.rem_euclid(QUARTER_SECONDS) != 0 || self.start.has_fraction() {
            return Err(IntervalError::OffGrid {
                starts_at: self.starts_at(),
            });
        }
        for (field, value) in [
            ("total", self.total),
            ("energy", self.energy),
            ("tax", self.tax),
        ] {
            if !value.is_finite() {
                return Err(IntervalError::NonFinite {
                    starts_at: self.starts_at(),
                    field,
                });
            }
        }
        Ok(())
    }
}

/// Why an interval cannot enter the pool.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum IntervalError {
    #[error("interval at {starts_at} does not start on the 15-minute grid")]
    OffGrid { starts_at: DateTime<Utc> },
    #[error("interval at {starts_at} has a non-finite {field} price")]
    NonFinite {
        starts_at: DateTime<Utc>,
        field: &'static str,
    },
    #[error("interval at {starts_at} lies outside the years 1000 through 9998")]
    OutOfRange { starts_at: DateTime<Utc> },
    #[error("interval duration of {minutes} minutes is neither 15 nor 60")]
    Duration { minutes: i64 },
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(h: u32, m: u32, s: u32) -> Interval {
        Interval::new(
            Utc.with_ymd_and_hms(2025, 10, 26, h, m, s).unwrap(),
            Resolution::QuarterHour,
            0.3,
            0.2,
            0.1,
            Some(PriceLevel::Normal),
        )
    }

    #[test]
    fn interval_stays_within_its_memory_budget() {
        assert!(
            std::mem::size_of::<Interval>() <= 32,
            "{}",
            std::mem::size_of::<Interval>()
        );
    }

    #[test]
    fn serde_reads_and_writes_the_json_of_a_datetime_field() {
        // What the derive wrote while `starts_at` was a `DateTime<Utc>` field:
        // API bodies and schema-0 snapshot files hold exactly this.
        let json = r#"{"starts_at":"2025-10-26T14:45:00Z","resolution":15,"total":0.3,"energy":0.2,"tax":0.1,"level":"NORMAL"}"#;
        assert_eq!(serde_json::to_string(&at(14, 45, 0)).unwrap(), json);
        assert_eq!(
            serde_json::from_str::<Interval>(json).unwrap(),
            at(14, 45, 0)
        );
        let mut hour = at(14, 0, 0);
        hour.resolution = Resolution::Hour;
        hour.level = None;
        let json = r#"{"starts_at":"2025-10-26T14:00:00Z","resolution":60,"total":0.3,"energy":0.2,"tax":0.1,"level":null}"#;
        assert_eq!(serde_json::to_string(&hour).unwrap(), json);
        assert_eq!(serde_json::from_str::<Interval>(json).unwrap(), hour);
    }

    #[test]
    fn the_packed_start_keeps_every_second_of_chronos_range() {
        for secs in [
            EARLIEST_START_SECONDS,
            END_OF_STARTS_SECONDS - 900,
            -1,
            0,
            DateTime::<Utc>::MIN_UTC.timestamp(),
            DateTime::<Utc>::MAX_UTC.timestamp(),
        ] {
            let mut interval = at(0, 0, 0);
            interval.set_starts_at(DateTime::from_timestamp(secs, 0).unwrap());
            assert_eq!(interval.start_seconds(), secs);
            assert_eq!(interval.starts_at().timestamp(), secs);
            let same =
                Interval::at_seconds(secs, interval.resolution, 0.3, 0.2, 0.1, interval.level);
            assert_eq!(same, Some(interval));
        }
        let max = DateTime::<Utc>::MAX_UTC.timestamp();
        assert_eq!(
            Interval::at_seconds(max + 1, Resolution::Hour, 0.0, 0.0, 0.0, None),
            None
        );
        let mut fraction = at(14, 45, 0);
        fraction.set_starts_at(fraction.starts_at() + Duration::nanoseconds(1));
        assert!(matches!(
            fraction.validate(),
            Err(IntervalError::OffGrid { .. })
        ));
    }

    #[test]
    fn off_grid_and_non_finite_intervals_are_rejected() {
        assert!(at(14, 45, 0).validate().is_ok());
        assert!(matches!(
            at(14, 47, 0).validate(),
            Err(IntervalError::OffGrid { .. })
        ));
        assert!(matches!(
            at(14, 45, 1).validate(),
            Err(IntervalError::OffGrid { .. })
        ));
        let mut nan = at(1, 0, 0);
        nan.tax = f64::NAN;
        assert!(matches!(
            nan.validate(),
            Err(IntervalError::NonFinite { field: "tax", .. })
        ));
        let mut inf = at(1, 0, 0);
        inf.total = f64::INFINITY;
        assert!(matches!(
            inf.validate(),
            Err(IntervalError::NonFinite { field: "total", .. })
        ));
    }

    #[test]
    fn starts_outside_four_digit_years_are_rejected() {
        let mut early = at(0, 0, 0);
        early.set_starts_at(DateTime::from_timestamp(EARLIEST_START_SECONDS - 900, 0).unwrap());
        assert!(matches!(
            early.validate(),
            Err(IntervalError::OutOfRange { .. })
        ));
        early.set_starts_at(DateTime::from_timestamp(EARLIEST_START_SECONDS, 0).unwrap());
        assert!(early.validate().is_ok());
        let mut late = at(0, 0, 0);
        late.set_starts_at(DateTime::from_timestamp(END_OF_STARTS_SECONDS, 0).unwrap());
        assert!(matches!(
            late.validate(),
            Err(IntervalError::OutOfRange { .. })
        ));
        late.set_starts_at(DateTime::from_timestamp(END_OF_STARTS_SECONDS - 900, 0).unwrap());
        assert!(late.validate().is_ok());
    }

    #[test]
    fn only_15_and_60_minute_durations_exist() {
        assert_eq!(Resolution::from_minutes(15), Ok(Resolution::QuarterHour));
        assert_eq!(Resolution::from_minutes(60), Ok(Resolution::Hour));
        assert!(Resolution::from_minutes(30).is_err());
        assert!(Resolution::from_minutes(0).is_err());
        assert!(serde_json::from_str::<Resolution>("30").is_err());
        assert_eq!(serde_json::to_string(&Resolution::Hour).unwrap(), "60");
    }
}
