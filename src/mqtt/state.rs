//! The per-home payloads, computed from a home's intervals of today and
//! tomorrow without I/O: the state JSON (`{prefix}/{home}/state`) and the
//! compact prices (`{prefix}/{home}/prices`).

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use crate::answers::cheapest_upcoming;
use crate::api::dto::local_rfc3339;
use crate::pool::Interval;

/// Home Assistant drops a state's attributes above 16 KiB; the prices
/// become the current-price sensor's attributes wrapped as
/// `{"prices": …}`, so the payload keeps a margin below it.
pub const PRICES_LIMIT_BYTES: usize = 16 * 1024 - 64;

/// The cheapest window the state names.
const CHEAPEST_WINDOW: Duration = Duration::hours(3);

/// `{prefix}/{home}/state`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HomeState {
    /// The interval running now.
    pub current: Option<Slot>,
    /// The first interval starting after now.
    pub next: Option<Slot>,
    /// Today's (local day) prices; None when nothing of today is known.
    pub today: Option<DayStats>,
    /// Start of the cheapest 3 h of contiguous known prices from the
    /// current interval on.
    pub cheapest_3h_start: Option<String>,
    /// The current interval's level, where the source gives one.
    pub level: Option<&'static str>,
    /// Whether every interval of today is known (today's stats are whole).
    pub complete: bool,
}

/// One interval in the state.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Slot {
    /// Price per kWh, taxes included.
    pub total: f64,
    /// RFC 3339 in the home's offset.
    pub starts_at: String,
    /// RFC 3339 in the home's offset.
    pub ends_at: String,
}

/// Today's lowest, highest and time-weighted mean total.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DayStats {
    /// Lowest total.
    pub min: f64,
    /// Highest total.
    pub max: f64,
    /// Mean total, each interval weighted by its length.
    pub mean: f64,
}

/// What the state is computed from: the home's intervals in order, and
/// where today ends.
pub struct StateInput<'a> {
    /// Intervals of today and tomorrow, in order.
    pub intervals: &'a [Interval],
    /// The home's zone, for the instants' offsets.
    pub zone: Tz,
    /// Now.
    pub now: DateTime<Utc>,
    /// Local midnight ending today.
    pub today_end: DateTime<Utc>,
    /// Whether nothing of today is missing.
    pub today_complete: bool,
}

impl HomeState {
    /// The state at `input.now`.
    pub fn at(input: &StateInput<'_>) -> HomeState {
        let StateInput {
            intervals,
            zone,
            now,
            ..
        } = *input;
        let slot = |interval: &Interval| Slot {
            total: interval.total,
            starts_at: local_rfc3339(interval.starts_at(), zone),
            ends_at: local_rfc3339(interval.ends_at(), zone),
        };
        let current = intervals
            .iter()
            .find(|i| i.starts_at() <= now && now < i.ends_at());
        let next = intervals.iter().find(|i| i.starts_at() > now);
        let today: Vec<&Interval> = intervals
            .iter()
            .filter(|i| i.starts_at() < input.today_end)
            .collect();
        HomeState {
            current: current.map(slot),
            next: next.map(slot),
            today: day_stats(&today),
            cheapest_3h_start: cheapest_upcoming(intervals, now, CHEAPEST_WINDOW)
                .map(|window| local_rfc3339(window.start, zone)),
            level: current.and_then(|i| i.level).map(|level| level.as_str()),
            complete: input.today_complete,
        }
    }
}

/// When the state next changes by itself: the current interval's end, or
/// the next interval's start when none runs now.
pub fn next_boundary(intervals: &[Interval], now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    intervals
        .iter()
        .map(|i| {
            if i.starts_at() > now {
                i.starts_at()
            } else {
                i.ends_at()
            }
        })
        .find(|&boundary| boundary > now)
}

fn day_stats(intervals: &[&Interval]) -> Option<DayStats> {
    let first = intervals.first()?;
    let (mut min, mut max) = (first.total, first.total);
    let (mut weighted, mut seconds) = (0.0, 0.0);
    for interval in intervals {
        min = min.min(interval.total);
        max = max.max(interval.total);
        let length = interval.resolution.seconds() as f64;
        weighted += interval.total * length;
        seconds += length;
    }
    Some(DayStats {
        min,
        max,
        mean: weighted / seconds,
    })
}

/// `[[unix_start, total], …]` for `intervals`; slots at the end are left
/// out (with a warning) if the payload would pass [`PRICES_LIMIT_BYTES`].
pub fn prices_payload(home_id: &str, intervals: &[Interval]) -> Vec<u8> {
    let rows: Vec<(i64, f64)> = intervals
        .iter()
        .map(|i| (i.starts_at().timestamp(), i.total))
        .collect();
    let mut n_rows = rows.len();
    loop {
        let payload = serde_json::to_vec(&rows[..n_rows]).unwrap_or_else(|_| b"[]".to_vec());
        if payload.len() <= PRICES_LIMIT_BYTES || n_rows == 0 {
            if n_rows < rows.len() {
                tracing::warn!(
                    home_id,
                    published = n_rows,
                    left_out = rows.len() - n_rows,
                    "the prices message would pass Home Assistant's 16 KiB attribute limit; the last intervals are left out"
                );
            }
            return payload;
        }
        n_rows -= 1;
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::pool::{PriceLevel, Resolution};

    fn quarter(start: DateTime<Utc>, total: f64) -> Interval {
        Interval::new(start, Resolution::QuarterHour, total, total, 0.0, None)
    }

    fn day(start: DateTime<Utc>, totals: &[f64]) -> Vec<Interval> {
        totals
            .iter()
            .enumerate()
            .map(|(n, &total)| quarter(start + Duration::minutes(15 * n as i64), total))
            .collect()
    }

    fn utc(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    #[test]
    fn the_state_names_current_next_today_and_the_cheapest_window() {
        // 2025-10-26 00:00 Berlin is 22:00 UTC the day before; 48 quarters.
        let start = utc("2025-10-25T22:00:00Z");
        let mut totals = vec![0.30; 48];
        totals[2] = 0.10;
        for total in &mut totals[20..32] {
            *total = 0.05; // 3 h from 03:00 UTC: 04:00 CET, after the fall-back
        }
        let mut intervals = day(start, &totals);
        intervals[1].level = Some(PriceLevel::Cheap);
        let state = HomeState::at(&StateInput {
            intervals: &intervals,
            zone: chrono_tz::Europe::Berlin,
            now: start + Duration::minutes(20),
            today_end: start + Duration::hours(12),
            today_complete: false,
        });
        let current = state.current.unwrap();
        assert_eq!(current.total, 0.30);
        assert_eq!(current.starts_at, "2025-10-26T00:15:00+02:00");
        assert_eq!(current.ends_at, "2025-10-26T00:30:00+02:00");
        assert_eq!(state.next.unwrap().total, 0.10);
        assert_eq!(state.level, Some("CHEAP"));
        let today = state.today.unwrap();
        assert_eq!((today.min, today.max), (0.05, 0.30));
        let expected_mean = (36.0 * 0.30 + 0.10 - 0.30 + 12.0 * 0.05) / 48.0;
        assert!((today.mean - expected_mean).abs() < 1e-12);
        assert_eq!(
            state.cheapest_3h_start.as_deref(),
            Some("2025-10-26T04:00:00+01:00")
        );
        assert!(!state.complete);
    }

    #[test]
    fn a_window_never_spans_a_gap_or_the_past() {
        let start = utc("2025-10-26T00:00:00Z");
        let mut intervals = day(start, &[0.01; 12]);
        intervals.extend(day(start + Duration::hours(4), &[0.2; 8]));
        // 3 h of 0.01 ends at 03:00; nothing after the gap is 3 h long.
        let window_start =
            |now| cheapest_upcoming(&intervals, now, CHEAPEST_WINDOW).map(|w| w.start);
        assert_eq!(window_start(start), Some(start));
        assert_eq!(window_start(start + Duration::minutes(15)), None);
    }

    #[test]
    fn the_next_boundary_is_the_current_end_or_the_next_start() {
        let start = utc("2025-10-26T00:00:00Z");
        let intervals = day(start, &[0.1, 0.2]);
        assert_eq!(
            next_boundary(&intervals, start),
            Some(start + Duration::minutes(15))
        );
        let before = start - Duration::minutes(5);
        assert_eq!(next_boundary(&intervals, before), Some(start));
        assert_eq!(
            next_boundary(&intervals, start + Duration::minutes(30)),
            None
        );
    }

    #[test]
    fn a_fall_back_day_and_tomorrow_fit_under_the_attribute_limit() {
        // 100 quarters of the fall-back day and 96 of the next, with
        // prices as long as an f64 prints.
        let start = Utc.with_ymd_and_hms(2025, 10, 25, 22, 0, 0).unwrap();
        let totals: Vec<f64> = (0..196)
            .map(|n| 0.123_456_789_012_345_6 + n as f64 / 7.0)
            .collect();
        let intervals = day(start, &totals);
        let payload = prices_payload("demo", &intervals);
        assert!(
            payload.len() < PRICES_LIMIT_BYTES,
            "{} bytes",
            payload.len()
        );
        let rows: Vec<(i64, f64)> = serde_json::from_slice(&payload).unwrap();
        assert_eq!(rows.len(), 196);
        assert_eq!(rows[0], (start.timestamp(), totals[0]));
    }

    #[test]
    fn prices_past_the_limit_are_cut_not_published_whole() {
        let start = Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap();
        let intervals = day(start, &vec![0.123_456_789_012_345_6; 1000]);
        let payload = prices_payload("demo", &intervals);
        assert!(payload.len() <= PRICES_LIMIT_BYTES);
        let rows: Vec<(i64, f64)> = serde_json::from_slice(&payload).unwrap();
        assert!(rows.len() > 100 && rows.len() < 1000);
    }
}
