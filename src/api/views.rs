//! The JSON shapes clients read (snake_case), and the rendering of UTC
//! instants in a home's local offset (`2025-10-26T02:00:00+01:00`), so a
//! client never has to know the home's zone rules to read a DST day.

use chrono::{DateTime, Datelike, Offset, SecondsFormat, Timelike, Utc};
use chrono_tz::Tz;
use serde::Serialize;
use serde_json::ser::{CompactFormatter, Formatter};

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

/// The body of `/v1/homes/{home_id}/intervals`, rendered straight into
/// bytes: byte for byte what `serde_json` makes of the same answer as an
/// [`IntervalsBody`], but without a `String` per timestamp, so a hot
/// 2-day range (192 intervals) renders about three times faster. The range
/// endpoints are the hot path of the service (see BENCHMARKS.md); the
/// unit tests hold the two renderings equal.
#[derive(Debug, Clone, Copy)]
pub struct IntervalsJson<'a> {
    /// The home the answer is for.
    pub home_id: &'a str,
    /// The home's currency (ISO 4217).
    pub currency: &'a str,
    /// The home's zone: every instant is written in its offset.
    pub zone: Tz,
    /// The requested range, resolved.
    pub start: DateTime<Utc>,
    /// The requested range's end (exclusive).
    pub end: DateTime<Utc>,
    /// The answer's intervals, in order.
    pub intervals: &'a [Interval],
    /// False when part of the range is missing.
    pub complete: bool,
    /// Why the answer is incomplete (written only when it is).
    pub reason: Option<&'a str>,
    /// When asking again may fill the missing part (only when incomplete).
    pub retry_at: Option<DateTime<Utc>>,
    /// The missing stretches (only when incomplete).
    pub missing: Option<&'a [Gap]>,
}

impl IntervalsJson<'_> {
    /// The JSON body.
    pub fn render(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(160 + self.intervals.len() * 144);
        out.extend_from_slice(b"{\"home_id\":");
        write_str(&mut out, self.home_id);
        out.extend_from_slice(b",\"currency\":");
        write_str(&mut out, self.currency);
        out.extend_from_slice(b",\"start\":\"");
        write_local_rfc3339(&mut out, self.start, self.zone);
        out.extend_from_slice(b"\",\"end\":\"");
        write_local_rfc3339(&mut out, self.end, self.zone);
        out.extend_from_slice(b"\",\"intervals\":");
        write_interval_objects(
            &mut out,
            self.intervals,
            self.zone,
            ("starts_at", "ends_at"),
            |out, interval| {
                out.extend_from_slice(b",\"total\":");
                write_f64(out, interval.total);
                out.extend_from_slice(b",\"energy\":");
                write_f64(out, interval.energy);
                out.extend_from_slice(b",\"tax\":");
                write_f64(out, interval.tax);
                out.extend_from_slice(b",\"level\":");
                match interval.level {
                    // The levels' spellings are plain ASCII words: nothing to escape.
                    Some(level) => {
                        out.push(b'"');
                        out.extend_from_slice(level.as_str().as_bytes());
                        out.push(b'"');
                    }
                    None => out.extend_from_slice(b"null"),
                }
            },
        );
        out.extend_from_slice(b",\"complete\":");
        out.extend_from_slice(if self.complete { b"true" } else { b"false" });
        if let Some(reason) = self.reason {
            out.extend_from_slice(b",\"reason\":");
            write_str(&mut out, reason);
        }
        if let Some(retry_at) = self.retry_at {
            out.extend_from_slice(b",\"retry_at\":\"");
            write_local_rfc3339(&mut out, retry_at, self.zone);
            out.push(b'"');
        }
        if let Some(missing) = self.missing {
            out.extend_from_slice(b",\"missing\":[");
            for (n, gap) in missing.iter().enumerate() {
                if n > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(b"{\"start\":\"");
                write_local_rfc3339(&mut out, gap.start, self.zone);
                out.extend_from_slice(b"\",\"end\":\"");
                write_local_rfc3339(&mut out, gap.end, self.zone);
                out.extend_from_slice(b"\"}");
            }
            out.push(b']');
        }
        out.push(b'}');
        out
    }
}

/// The evcc view (`/rates`) of `intervals` in `zone`, rendered straight
/// into bytes: what `serde_json` makes of a `Vec<RateView>`, faster (see
/// [`IntervalsJson`]).
pub fn rates_json(intervals: &[Interval], zone: Tz) -> Vec<u8> {
    let mut out = Vec::with_capacity(2 + intervals.len() * 80);
    write_interval_objects(
        &mut out,
        intervals,
        zone,
        ("start", "end"),
        |out, interval| {
            out.extend_from_slice(b",\"value\":");
            write_f64(out, interval.total);
        },
    );
    out
}

/// Writes `intervals` as a JSON array of objects that open with each
/// interval's bounds under `keys` (plain ASCII names); `fields` writes the
/// rest of each object, from the comma after the end.
fn write_interval_objects(
    out: &mut Vec<u8>,
    intervals: &[Interval],
    zone: Tz,
    (start_key, end_key): (&str, &str),
    fields: impl Fn(&mut Vec<u8>, &Interval),
) {
    out.push(b'[');
    let mut timestamps = TimestampWriter::new(zone);
    for (n, interval) in intervals.iter().enumerate() {
        out.extend_from_slice(if n > 0 { b",{\"" } else { b"{\"" });
        out.extend_from_slice(start_key.as_bytes());
        out.extend_from_slice(b"\":\"");
        timestamps.write(out, interval.starts_at);
        out.extend_from_slice(b"\",\"");
        out.extend_from_slice(end_key.as_bytes());
        out.extend_from_slice(b"\":\"");
        timestamps.write(out, interval.ends_at());
        out.push(b'"');
        fields(out, interval);
        out.push(b'}');
    }
    out.push(b']');
}

/// Writes instants as [`local_rfc3339`] does, remembering the last one:
/// back-to-back intervals share a boundary (one's end is the next one's
/// start), so half the timestamps of a range are a copy of the previous.
struct TimestampWriter {
    zone: Tz,
    /// The last instant written and where its text lies in the buffer.
    last: Option<(DateTime<Utc>, std::ops::Range<usize>)>,
}

impl TimestampWriter {
    fn new(zone: Tz) -> TimestampWriter {
        TimestampWriter { zone, last: None }
    }

    fn write(&mut self, out: &mut Vec<u8>, instant: DateTime<Utc>) {
        let at = out.len();
        match &self.last {
            Some((last, text)) if *last == instant => out.extend_from_within(text.clone()),
            _ => write_local_rfc3339(out, instant, self.zone),
        }
        self.last = Some((instant, at..out.len()));
    }
}

/// Appends `instant` as [`local_rfc3339`] renders it, without allocating
/// for the usual case (years 0 to 9999, whole-minute offsets); anything
/// else goes through `local_rfc3339` itself.
pub fn write_local_rfc3339(out: &mut Vec<u8>, instant: DateTime<Utc>, zone: Tz) {
    let local = instant.with_timezone(&zone);
    let offset_seconds = local.offset().fix().local_minus_utc();
    let year = local.year();
    let leap_second = local.nanosecond() >= 1_000_000_000;
    if !(0..=9999).contains(&year) || offset_seconds % 60 != 0 || leap_second {
        out.extend_from_slice(local_rfc3339(instant, zone).as_bytes());
        return;
    }
    let two = |out: &mut Vec<u8>, value: u32| {
        out.push(b'0' + (value / 10 % 10) as u8);
        out.push(b'0' + (value % 10) as u8);
    };
    let year = year as u32;
    two(out, year / 100);
    two(out, year % 100);
    out.push(b'-');
    two(out, local.month());
    out.push(b'-');
    two(out, local.day());
    out.push(b'T');
    two(out, local.hour());
    out.push(b':');
    two(out, local.minute());
    out.push(b':');
    two(out, local.second());
    out.push(if offset_seconds < 0 { b'-' } else { b'+' });
    let offset_minutes = offset_seconds.unsigned_abs() / 60;
    two(out, offset_minutes / 60);
    out.push(b':');
    two(out, offset_minutes % 60);
}

/// A JSON number as `serde_json` writes an `f64` (shortest round-trip
/// digits; `null` for NaN and infinities).
fn write_f64(out: &mut Vec<u8>, value: f64) {
    if value.is_finite() {
        // Writing into a Vec cannot fail.
        let _ = CompactFormatter.write_f64(out, value);
    } else {
        out.extend_from_slice(b"null");
    }
}

/// A JSON string, escaped as `serde_json` escapes it.
fn write_str(out: &mut Vec<u8>, text: &str) {
    // Serializing a str into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, text);
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

    use crate::pool::{PriceLevel, Resolution};
    use crate::store::fixtures;

    /// The reference rendering: serde_json over the documented shapes.
    fn serde_intervals_body(json: &IntervalsJson<'_>) -> Vec<u8> {
        let zone = json.zone;
        serde_json::to_vec(&IntervalsBody {
            home_id: json.home_id.to_owned(),
            currency: json.currency.to_owned(),
            start: local_rfc3339(json.start, zone),
            end: local_rfc3339(json.end, zone),
            intervals: json
                .intervals
                .iter()
                .map(|interval| IntervalView::new(interval, zone))
                .collect(),
            complete: json.complete,
            reason: json.reason.map(str::to_owned),
            retry_at: json.retry_at.map(|t| local_rfc3339(t, zone)),
            missing: json
                .missing
                .map(|gaps| gaps.iter().map(|gap| GapView::new(gap, zone)).collect()),
        })
        .unwrap()
    }

    fn serde_rates(intervals: &[Interval], zone: Tz) -> Vec<u8> {
        let views: Vec<RateView> = intervals.iter().map(|iv| RateView::new(iv, zone)).collect();
        serde_json::to_vec(&views).unwrap()
    }

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    /// Intervals that exercise the renderer: the fall-back day (two 02:00s),
    /// hourly slots, no level, negative, tiny and many-digit prices.
    fn awkward_intervals() -> Vec<Interval> {
        let mut intervals = fixtures::quarter_hours(fixtures::day_start(), 100, 7);
        intervals[3].level = None;
        intervals[4].total = -0.0;
        intervals[5].energy = -12.345_678_901_234_5;
        intervals[6].tax = 1e-7;
        intervals[7].total = 123_456_789.125;
        intervals[8].level = Some(PriceLevel::VeryExpensive);
        let hourly_start = fixtures::day_start() - chrono::TimeDelta::days(30);
        intervals.extend((0..3).map(|n| Interval {
            starts_at: hourly_start + chrono::TimeDelta::hours(n),
            resolution: Resolution::Hour,
            total: 0.3,
            energy: 0.2,
            tax: 0.1,
            level: Some(PriceLevel::Cheap),
        }));
        intervals
    }

    #[test]
    fn hand_rendered_bodies_are_byte_for_byte_what_serde_renders() {
        let intervals = awkward_intervals();
        let gaps = [Gap {
            start: at("2025-10-26T05:00:00+01:00"),
            end: at("2025-10-26T07:15:00+01:00"),
            resolution: Resolution::QuarterHour,
        }];
        // Zones with summer time, negative, half-hour and 45-minute offsets, and UTC.
        for zone_name in [
            "Europe/Berlin",
            "America/St_Johns",
            "Asia/Kathmandu",
            "Australia/Lord_Howe",
            "UTC",
        ] {
            let zone: Tz = zone_name.parse().unwrap();
            for complete in [true, false] {
                let json = IntervalsJson {
                    home_id: "home \"quoted\" \u{e9}\u{1F50C}\\ \n",
                    currency: "EUR",
                    zone,
                    start: at("2025-10-25T22:00:00.250Z"),
                    end: at("2025-10-26T23:00:00Z"),
                    intervals: &intervals,
                    complete,
                    reason: (!complete).then_some("upstream failed (timeout); cached data served"),
                    retry_at: (!complete).then(|| at("2025-10-26T13:05:07.5Z")),
                    missing: (!complete).then_some(&gaps[..]),
                };
                assert_eq!(
                    String::from_utf8(json.render()).unwrap(),
                    String::from_utf8(serde_intervals_body(&json)).unwrap(),
                    "{zone_name}, complete {complete}"
                );
            }
            assert_eq!(
                String::from_utf8(rates_json(&intervals, zone)).unwrap(),
                String::from_utf8(serde_rates(&intervals, zone)).unwrap(),
                "{zone_name}"
            );
        }
    }

    #[test]
    fn instants_outside_the_fast_path_render_as_chrono_renders_them() {
        // A leap second, a local-mean-time offset with seconds, years at the edges.
        let leap = chrono::NaiveDate::from_ymd_opt(2016, 12, 31)
            .unwrap()
            .and_hms_milli_opt(23, 59, 59, 1_500)
            .unwrap()
            .and_utc();
        let cases = [
            (leap, "Europe/Berlin"),
            (at("1890-06-01T12:00:00Z"), "Europe/Amsterdam"),
            (at("0001-01-01T00:00:00Z"), "UTC"),
            (at("9999-12-31T22:00:00Z"), "Europe/Berlin"),
            (at("2100-01-01T00:00:00Z"), "Pacific/Kiritimati"),
        ];
        for (instant, zone_name) in cases {
            let zone: Tz = zone_name.parse().unwrap();
            let mut out = Vec::new();
            write_local_rfc3339(&mut out, instant, zone);
            assert_eq!(
                String::from_utf8(out).unwrap(),
                local_rfc3339(instant, zone),
                "{instant:?} in {zone_name}"
            );
        }
    }

    #[test]
    fn an_empty_range_renders_an_empty_list() {
        let json = IntervalsJson {
            home_id: "demo",
            currency: "NOK",
            zone: chrono_tz::Europe::Oslo,
            start: at("2025-10-26T00:00:00Z"),
            end: at("2025-10-26T00:00:00Z"),
            intervals: &[],
            complete: true,
            reason: None,
            retry_at: None,
            missing: None,
        };
        assert_eq!(json.render(), serde_intervals_body(&json));
        assert_eq!(rates_json(&[], json.zone), b"[]");
    }
}
