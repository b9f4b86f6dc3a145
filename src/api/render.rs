//! The hand-written JSON byte encoder of the hot range bodies
//! (`/intervals`, `/rates`): byte for byte what `serde_json` makes of the
//! shapes in `dto`, without a `String` per timestamp.

use chrono::{DateTime, Datelike, NaiveDate, Offset, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use serde_json::ser::{CompactFormatter, Formatter};

use super::dto::{GapView, IntervalView, IntervalsBody, RateView, local_rfc3339};
use crate::pool::{Gap, Interval};

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
    /// The reference rendering: serde_json over the documented shape
    /// ([`IntervalsBody`]). Slow; kept so tests and benches can hold
    /// [`IntervalsJson::render`] to it byte for byte.
    pub fn render_with_serde(&self) -> Vec<u8> {
        let zone = self.zone;
        serde_json::to_vec(&IntervalsBody {
            home_id: self.home_id.to_owned(),
            currency: self.currency.to_owned(),
            start: local_rfc3339(self.start, zone),
            end: local_rfc3339(self.end, zone),
            intervals: self
                .intervals
                .iter()
                .map(|interval| IntervalView::new(interval, zone))
                .collect(),
            complete: self.complete,
            reason: self.reason.map(str::to_owned),
            retry_at: self.retry_at.map(|t| local_rfc3339(t, zone)),
            missing: self
                .missing
                .map(|gaps| gaps.iter().map(|gap| GapView::new(gap, zone)).collect()),
        })
        .unwrap_or_default()
    }

    /// The JSON body.
    pub fn render(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(160 + self.intervals.len() * 144);
        self.write_head(&mut out);
        write_intervals_objects(&mut out, self.intervals, self.zone);
        self.write_tail(&mut out);
        out
    }

    /// The body up to its first interval object: `{"home_id":…,"intervals":[`.
    /// [`IntervalsJson::render`] is this, [`write_intervals_objects`] over
    /// the intervals, then [`IntervalsJson::write_tail`]; a body assembled
    /// from day chunks (`day_chunks`) is the same bytes.
    pub(crate) fn write_head(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"home_id\":");
        write_str(out, self.home_id);
        out.extend_from_slice(b",\"currency\":");
        write_str(out, self.currency);
        out.extend_from_slice(b",\"start\":\"");
        write_local_rfc3339(out, self.start, self.zone);
        out.extend_from_slice(b"\",\"end\":\"");
        write_local_rfc3339(out, self.end, self.zone);
        out.extend_from_slice(b"\",\"intervals\":[");
    }

    /// The body after its last interval object: `],"complete":…}`.
    pub(crate) fn write_tail(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"],\"complete\":");
        out.extend_from_slice(if self.complete { b"true" } else { b"false" });
        if let Some(reason) = self.reason {
            out.extend_from_slice(b",\"reason\":");
            write_str(out, reason);
        }
        if let Some(retry_at) = self.retry_at {
            out.extend_from_slice(b",\"retry_at\":\"");
            write_local_rfc3339(out, retry_at, self.zone);
            out.push(b'"');
        }
        if let Some(missing) = self.missing {
            out.extend_from_slice(b",\"missing\":[");
            for (n, gap) in missing.iter().enumerate() {
                if n > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(b"{\"start\":\"");
                write_local_rfc3339(out, gap.start, self.zone);
                out.extend_from_slice(b"\",\"end\":\"");
                write_local_rfc3339(out, gap.end, self.zone);
                out.extend_from_slice(b"\"}");
            }
            out.push(b']');
        }
        out.push(b'}');
    }
}

/// The interval objects of `/intervals` for `intervals` in `zone`, comma
/// separated, without the brackets: the part of the body a local day's
/// intervals make, which `day_chunks` keeps once and shares between every
/// range body that covers the day.
pub(crate) fn write_intervals_objects(out: &mut Vec<u8>, intervals: &[Interval], zone: Tz) {
    write_interval_objects(
        out,
        intervals,
        zone,
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
}

/// The evcc view (`/rates`) of `intervals` in `zone`, rendered straight
/// into bytes: what `serde_json` makes of a `Vec<RateView>`, faster (see
/// [`IntervalsJson`]).
pub fn rates_json(intervals: &[Interval], zone: Tz) -> Vec<u8> {
    // ~87 bytes an object (`{"start":…,"end":…,"value":0.2911}`): an
    // estimate below it would grow, i.e. copy, the body once.
    let mut out = Vec::with_capacity(2 + intervals.len() * 96);
    out.push(b'[');
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
    out.push(b']');
    out
}

/// The reference rendering of `/rates`: serde_json over [`RateView`]s.
/// Slow; kept so tests and benches can hold [`rates_json`] to it.
pub fn rates_json_with_serde(intervals: &[Interval], zone: Tz) -> Vec<u8> {
    let views: Vec<RateView> = intervals
        .iter()
        .map(|interval| RateView::new(interval, zone))
        .collect();
    serde_json::to_vec(&views).unwrap_or_default()
}

/// Writes `intervals` as JSON objects separated by commas (the inside of
/// an array) that open with each interval's bounds under `keys` (plain
/// ASCII names); `fields` writes the rest of each object, from the comma
/// after the end.
fn write_interval_objects(
    out: &mut Vec<u8>,
    intervals: &[Interval],
    zone: Tz,
    (start_key, end_key): (&str, &str),
    fields: impl Fn(&mut Vec<u8>, &Interval),
) {
    let mut timestamps = TimestampWriter::new(zone);
    for (n, interval) in intervals.iter().enumerate() {
        out.extend_from_slice(if n > 0 { b",{\"" } else { b"{\"" });
        out.extend_from_slice(start_key.as_bytes());
        out.extend_from_slice(b"\":\"");
        timestamps.write(out, interval.starts_at());
        out.extend_from_slice(b"\",\"");
        out.extend_from_slice(end_key.as_bytes());
        out.extend_from_slice(b"\":\"");
        timestamps.write(out, interval.ends_at());
        out.push(b'"');
        fields(out, interval);
        out.push(b'}');
    }
}

/// Writes instants as [`local_rfc3339`] does, for a run of instants in one
/// zone, reusing what the previous instant already worked out: back-to-back
/// intervals share a boundary (one's end is the next one's start), and the
/// instants of a range mostly share their local date and offset, so only
/// the zone's offset is looked up and only the time of day is written for
/// most of them. A render of 192 intervals writes 193 distinct instants.
struct TimestampWriter {
    zone: Tz,
    /// The last instant written (Unix seconds) and its text.
    last: Option<(i64, [u8; TIMESTAMP_LEN])>,
    /// Local days since 1970-01-01 of `date` (`YYYY-MM-DDT`), if any yet.
    day: Option<(i64, [u8; 11])>,
    /// Offset from UTC in seconds, and its text (`+01:00`), if any yet.
    offset: Option<(i32, [u8; 6])>,
}

/// `2025-10-26T02:00:00+01:00`: the length of every instant this writer
/// renders itself (years 0 to 9999, whole-minute offsets).
const TIMESTAMP_LEN: usize = 25;

const SECONDS_PER_DAY: i64 = 86_400;

/// Days from 0001-01-01 (day 1 of the common era) to 1970-01-01.
const UNIX_EPOCH_DAYS_FROM_CE: i64 = 719_163;

/// `00` … `99`, for writing two digits at once.
const TWO_DIGITS: &[u8; 200] = b"\
0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

fn two_digits(value: u32) -> [u8; 2] {
    let at = (value % 100) as usize * 2;
    [TWO_DIGITS[at], TWO_DIGITS[at + 1]]
}

impl TimestampWriter {
    fn new(zone: Tz) -> TimestampWriter {
        TimestampWriter {
            zone,
            last: None,
            day: None,
            offset: None,
        }
    }

    fn write(&mut self, out: &mut Vec<u8>, instant: DateTime<Utc>) {
        let seconds = instant.timestamp();
        if let Some((last, text)) = &self.last
            && *last == seconds
            && instant.nanosecond() < 1_000_000_000
        {
            out.extend_from_slice(text);
            return;
        }
        match self.render(instant) {
            Some(text) => {
                out.extend_from_slice(&text);
                self.last = Some((seconds, text));
            }
            // Outside what the fixed-width text covers: chrono writes it.
            None => out.extend_from_slice(local_rfc3339(instant, self.zone).as_bytes()),
        }
    }

    /// The text of `instant`, or None when it is not 25 bytes long (a year
    /// outside 0..=9999, an offset with seconds) or falls in a leap second.
    fn render(&mut self, instant: DateTime<Utc>) -> Option<[u8; TIMESTAMP_LEN]> {
        if instant.nanosecond() >= 1_000_000_000 {
            return None;
        }
        let offset_seconds = self
            .zone
            .offset_from_utc_datetime(&instant.naive_utc())
            .fix()
            .local_minus_utc();
        let local = instant.timestamp().checked_add(i64::from(offset_seconds))?;
        let (day, second_of_day) = (
            local.div_euclid(SECONDS_PER_DAY),
            local.rem_euclid(SECONDS_PER_DAY) as u32,
        );
        let date = match self.day {
            Some((known, text)) if known == day => text,
            _ => {
                let text = date_text(day)?;
                self.day = Some((day, text));
                text
            }
        };
        let offset = match self.offset {
            Some((known, text)) if known == offset_seconds => text,
            _ => {
                let text = offset_text(offset_seconds)?;
                self.offset = Some((offset_seconds, text));
                text
            }
        };
        let [h0, h1] = two_digits(second_of_day / 3600);
        let [m0, m1] = two_digits(second_of_day / 60 % 60);
        let [s0, s1] = two_digits(second_of_day % 60);
        let mut text = [0u8; TIMESTAMP_LEN];
        text[..11].copy_from_slice(&date);
        text[11..19].copy_from_slice(&[h0, h1, b':', m0, m1, b':', s0, s1]);
        text[19..].copy_from_slice(&offset);
        Some(text)
    }
}

/// `YYYY-MM-DDT` of a count of days since 1970-01-01, for years 0 to 9999.
fn date_text(days_since_epoch: i64) -> Option<[u8; 11]> {
    let days_from_ce =
        i32::try_from(days_since_epoch.checked_add(UNIX_EPOCH_DAYS_FROM_CE)?).ok()?;
    let date = NaiveDate::from_num_days_from_ce_opt(days_from_ce)?;
    let year = u32::try_from(date.year())
        .ok()
        .filter(|year| *year <= 9999)?;
    let [y0, y1] = two_digits(year / 100);
    let [y2, y3] = two_digits(year);
    let [mo0, mo1] = two_digits(date.month());
    let [d0, d1] = two_digits(date.day());
    Some([y0, y1, y2, y3, b'-', mo0, mo1, b'-', d0, d1, b'T'])
}

/// `+01:00` of an offset in seconds; None when it has seconds (LMT).
fn offset_text(offset_seconds: i32) -> Option<[u8; 6]> {
    if offset_seconds % 60 != 0 {
        return None;
    }
    let sign = if offset_seconds < 0 { b'-' } else { b'+' };
    let minutes = offset_seconds.unsigned_abs() / 60;
    let [h0, h1] = two_digits(minutes / 60);
    let [m0, m1] = two_digits(minutes % 60);
    Some([sign, h0, h1, b':', m0, m1])
}

/// Appends `instant` as [`local_rfc3339`] renders it, without allocating
/// for the usual case (years 0 to 9999, whole-minute offsets).
pub(crate) fn write_local_rfc3339(out: &mut Vec<u8>, instant: DateTime<Utc>, zone: Tz) {
    TimestampWriter::new(zone).write(out, instant);
}

/// A JSON number as `serde_json` writes an `f64` (shortest round-trip
/// digits; `null` for NaN and infinities).
///
/// Prices as upstreams publish them have at most four decimals (Tibber's
/// `0.2911`); those are written from their integer count of 1/10,000ths,
/// about three times faster than the general shortest-digits search,
/// which every other value goes through. Why the two agree: when
/// `n / 10^4` (an exact division of exact doubles, so correctly rounded)
/// is `value`, `value` is the double nearest the decimal `n / 10^4`; with
/// at most 15 significant digits, no other decimal that short maps to the
/// same double, so it is the shortest round-trip text. Between 1e-4 and
/// 1e11 serde_json writes such numbers positionally, with `.0` for whole
/// ones (checked against serde_json by `tests::four_decimal_prices_*`).
fn write_f64(out: &mut Vec<u8>, value: f64) {
    let magnitude = value.abs();
    if (1e-4..1e11).contains(&magnitude) {
        let ten_thousandths = (magnitude * 1e4).round();
        if ten_thousandths / 1e4 == magnitude {
            // Below 1e15: exact as an integer.
            let ten_thousandths = ten_thousandths as u64;
            if value < 0.0 {
                out.push(b'-');
            }
            let mut digits = itoa::Buffer::new();
            out.extend_from_slice(digits.format(ten_thousandths / 10_000).as_bytes());
            let fraction = (ten_thousandths % 10_000) as u32;
            if fraction == 0 {
                out.extend_from_slice(b".0");
                return;
            }
            // Four digits, leading zeros kept, trailing zeros dropped.
            let [a, b] = two_digits(fraction / 100);
            let [c, d] = two_digits(fraction);
            let text = [b'.', a, b, c, d];
            let mut len = text.len();
            while text[len - 1] == b'0' {
                len -= 1;
            }
            out.extend_from_slice(&text[..len]);
            return;
        }
    }
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

    fn serde_intervals_body(json: &IntervalsJson<'_>) -> Vec<u8> {
        json.render_with_serde()
    }

    fn serde_rates(intervals: &[Interval], zone: Tz) -> Vec<u8> {
        rates_json_with_serde(intervals, zone)
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
        intervals.extend((0..3).map(|n| {
            Interval::new(
                hourly_start + chrono::TimeDelta::hours(n),
                Resolution::Hour,
                0.3,
                0.2,
                0.1,
                Some(PriceLevel::Cheap),
            )
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

    fn serde_f64(value: f64) -> String {
        serde_json::to_string(&value).unwrap()
    }

    fn written_f64(value: f64) -> String {
        let mut out = Vec::new();
        write_f64(&mut out, value);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn four_decimal_prices_render_as_serde_json_does() {
        // Every price from -30.0000 to 30.0000 in steps of 0.0001 (both
        // signs, whole numbers, leading and trailing zeros of the fraction)…
        for n in -300_000..=300_000_i64 {
            let value = n as f64 / 1e4;
            assert_eq!(written_f64(value), serde_f64(value), "{n} / 10^4");
        }
        // …then the fast path's edges and magnitudes up to 1e11, where
        // serde_json switches to exponents, and just outside them.
        let mut cases = vec![
            1e-4,
            9.9999e-5,
            1e-5,
            1e11,
            99_999_999_999.999_9,
            1e15,
            0.0,
            -0.0,
        ];
        for exponent in 0..16 {
            let scale = 10_f64.powi(exponent);
            for n in [1_i64, 7, 10, 12_345, 99_999, 100_001, 31_415_926] {
                cases.extend([n as f64 * scale / 1e4, -(n as f64) * scale / 1e4]);
                cases.push((n as f64 * scale + 0.5) / 1e4);
            }
        }
        for value in cases {
            assert_eq!(written_f64(value), serde_f64(value), "{value:e}");
        }
    }

    proptest::proptest! {
        #[test]
        fn any_f64_renders_as_serde_json_does(bits in proptest::prelude::any::<u64>()) {
            let value = f64::from_bits(bits);
            let expected = if value.is_finite() { serde_f64(value) } else { "null".to_owned() };
            proptest::prop_assert_eq!(written_f64(value), expected);
        }

        #[test]
        fn any_price_like_f64_renders_as_serde_json_does(
            n in -10_000_000_000_i64..10_000_000_000,
            decimals in 0_i32..9,
        ) {
            let value = n as f64 / 10_f64.powi(decimals);
            proptest::prop_assert_eq!(written_f64(value), serde_f64(value));
        }
    }

    #[test]
    fn runs_of_instants_render_as_chrono_renders_them_in_every_zone() {
        // Every zone chrono-tz knows, each quarter-hour around every
        // transition from 2024 to 2027 (and a sample of plain days), written
        // by one writer in order as a range render does, then a few
        // instants out of order, so the remembered day and offset are
        // exercised in both directions.
        let first = at("2024-01-01T00:00:00Z");
        let last = at("2027-12-31T00:00:00Z");
        for zone in chrono_tz::TZ_VARIANTS {
            let mut writer = TimestampWriter::new(zone);
            let mut day = first;
            while day < last {
                let offset_at = |t: DateTime<Utc>| {
                    zone.offset_from_utc_datetime(&t.naive_utc())
                        .fix()
                        .local_minus_utc()
                };
                let next = day + chrono::TimeDelta::days(1);
                // Days with a transition, and every 29th day.
                let plain = (day - first).num_days() % 29 != 0;
                if offset_at(day) != offset_at(next) || !plain {
                    let mut instant = day - chrono::TimeDelta::hours(2);
                    while instant < next + chrono::TimeDelta::hours(2) {
                        let mut out = Vec::new();
                        writer.write(&mut out, instant);
                        assert_eq!(
                            String::from_utf8(out).unwrap(),
                            local_rfc3339(instant, zone),
                            "{instant:?} in {zone:?}"
                        );
                        instant += chrono::TimeDelta::minutes(15);
                    }
                }
                day = next;
            }
            for instant in [last, first, last - chrono::TimeDelta::minutes(15), first] {
                let mut out = Vec::new();
                writer.write(&mut out, instant);
                assert_eq!(
                    String::from_utf8(out).unwrap(),
                    local_rfc3339(instant, zone)
                );
            }
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
