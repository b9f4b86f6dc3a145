//! `/rates` bodies copied out of the `/intervals` day chunks.
//!
//! evcc's view of a home (`[{"start","end","value"}]` from the current
//! quarter to the end of tomorrow) carries, per interval, the same three
//! texts as the `/intervals` object of that interval: its `starts_at`,
//! its `ends_at` and its `total`, written by the same renderer. When the
//! day chunks of the days it spans are kept at the home's revision (the
//! range and `date=today` views keep them), the body is those texts
//! copied into evcc's shape: a few copies an interval instead of two
//! timestamps and a float rendered, and nothing more for the render
//! cache's budget to hold (the chunks are weighed once, in their own
//! entries). Without them, `/rates` is rendered and kept whole as before.
//! Same bytes either way (tests below), so the same `ETag`.

use chrono::{DateTime, NaiveDate, Utc};

use super::day_chunks::{self, Day};
use super::query::ResolvedRange;
use super::render_cache::{RenderCache, Rendered};
use crate::pool::HomeInfo;
use crate::pool::days::{local_date, local_midnight};

/// The `/rates` body of `home` over `range` from the day chunks kept at
/// `revision`, or None when one of them is not kept (or `range` does not
/// end at a local midnight within [`day_chunks::MAX_DAYS`] of its start's).
pub(crate) fn rates_from_chunks(
    cache: &RenderCache,
    home: &HomeInfo,
    range: &ResolvedRange,
    revision: u64,
) -> Option<Rendered> {
    let first_midnight = local_midnight(home.zone, local_date(home.zone, range.start));
    let days: Vec<Day> = day_chunks::local_days(home.zone, first_midnight, range.end)?;
    let chunks = days
        .iter()
        .map(|&day| cache.lookup_chunk(home, day, revision))
        .collect::<Option<Vec<_>>>()?;
    let parts: Vec<&[u8]> = chunks
        .iter()
        .map(|chunk| chunk.rendered().body.as_ref())
        .collect();
    rates_of(&parts, range.start).map(Rendered::new)
}

/// What a `/rates` object takes from an `/intervals` object: the texts
/// of its start and end (without quotes) and of its total.
struct Rate<'a> {
    start: &'a [u8],
    end: &'a [u8],
    total: &'a [u8],
}

/// evcc's array of the objects in `chunks` (each the comma-separated
/// `/intervals` objects of a day, in order) that start at or after
/// `from`; None when a chunk is not what `write_intervals_objects` writes.
fn rates_of(chunks: &[&[u8]], from: DateTime<Utc>) -> Option<Vec<u8>> {
    let size: usize = chunks.iter().map(|chunk| chunk.len()).sum();
    let mut out = Vec::with_capacity(size * 2 / 3 + 2);
    out.push(b'[');
    let mut started = false;
    for chunk in chunks {
        let mut rest = *chunk;
        while !rest.is_empty() {
            let (rate, after) = next_rate(rest)?;
            rest = after;
            if !started {
                if seconds_of(rate.start)? < from.timestamp() {
                    continue;
                }
                started = true;
            } else {
                out.push(b',');
            }
            out.extend_from_slice(b"{\"start\":\"");
            out.extend_from_slice(rate.start);
            out.extend_from_slice(b"\",\"end\":\"");
            out.extend_from_slice(rate.end);
            out.extend_from_slice(b"\",\"value\":");
            out.extend_from_slice(rate.total);
            out.push(b'}');
        }
    }
    out.push(b']');
    Some(out)
}

/// The first object of `objects` and what follows it (past its comma).
fn next_rate(objects: &[u8]) -> Option<(Rate<'_>, &[u8])> {
    let rest = objects.strip_prefix(b"{\"starts_at\":\"")?;
    let (start, rest) = split_at_byte(rest, b'"')?;
    let rest = rest.strip_prefix(b"\",\"ends_at\":\"")?;
    let (end, rest) = split_at_byte(rest, b'"')?;
    let rest = rest.strip_prefix(b"\",\"total\":")?;
    let (total, rest) = split_at_byte(rest, b',')?;
    // The rest of the object holds numbers, a level word or null: no
    // brace, no comma inside a string.
    let (_, rest) = split_at_byte(rest, b'}')?;
    let rest = &rest[1..];
    let rest = match rest.first() {
        None => rest,
        Some(b',') => &rest[1..],
        Some(_) => return None,
    };
    Some((Rate { start, end, total }, rest))
}

/// `bytes` split before the first `byte`; None without one.
fn split_at_byte(bytes: &[u8], byte: u8) -> Option<(&[u8], &[u8])> {
    let at = bytes.iter().position(|&b| b == byte)?;
    Some(bytes.split_at(at))
}

/// Unix seconds of a timestamp as the renderer writes it: the fixed
/// `YYYY-MM-DDTHH:MM:SS±HH:MM` by hand, anything else through chrono.
fn seconds_of(text: &[u8]) -> Option<i64> {
    let fixed = text.len() == 25
        && text[4] == b'-'
        && text[7] == b'-'
        && text[10] == b'T'
        && text[13] == b':'
        && text[16] == b':'
        && text[22] == b':';
    if !fixed {
        let text = std::str::from_utf8(text).ok()?;
        return DateTime::parse_from_rfc3339(text)
            .ok()
            .map(|at| at.timestamp());
    }
    let number = |range: std::ops::Range<usize>| -> Option<u32> {
        text[range].iter().try_fold(0_u32, |n, &digit| {
            digit
                .is_ascii_digit()
                .then(|| n * 10 + u32::from(digit - b'0'))
        })
    };
    let date = NaiveDate::from_ymd_opt(
        i32::try_from(number(0..4)?).ok()?,
        number(5..7)?,
        number(8..10)?,
    )?;
    let local = date.and_hms_opt(number(11..13)?, number(14..16)?, number(17..19)?)?;
    let offset = i64::from(number(20..22)? * 3600 + number(23..25)? * 60);
    let offset = match text[19] {
        b'+' => offset,
        b'-' => -offset,
        _ => return None,
    };
    Some(local.and_utc().timestamp() - offset)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::render::{rates_json_with_serde, write_intervals_objects};
    use crate::pool::Interval;
    use crate::pool::days::local_day;
    use crate::store::fixtures;
    use chrono::TimeDelta;
    use chrono_tz::Tz;

    /// The day chunks of `intervals` over `days` local days from `first`.
    fn chunks_of(intervals: &[Interval], zone: Tz, first: NaiveDate, days: i64) -> Vec<Vec<u8>> {
        (0..days)
            .map(|n| {
                let (start, end) = local_day(zone, first + TimeDelta::days(n));
                let of_day: Vec<Interval> = intervals
                    .iter()
                    .filter(|interval| start <= interval.starts_at() && interval.starts_at() < end)
                    .copied()
                    .collect();
                let mut bytes = Vec::new();
                write_intervals_objects(&mut bytes, &of_day, zone);
                bytes
            })
            .collect()
    }

    #[test]
    fn rates_from_day_chunks_are_byte_for_byte_what_serde_renders() {
        // Fall-back and spring-forward days, a half-hour switch, a
        // negative offset, UTC; starts at midnight, mid-day, in the
        // repeated hour, after the last interval.
        let cases = [
            ("Europe/Berlin", (2025, 10, 26)),
            ("Europe/Berlin", (2026, 3, 29)),
            ("Australia/Lord_Howe", (2025, 10, 5)),
            ("America/St_Johns", (2025, 11, 2)),
            ("UTC", (2025, 11, 20)),
        ];
        for (zone_name, (y, m, d)) in cases {
            let zone: Tz = zone_name.parse().unwrap();
            let first = NaiveDate::from_ymd_opt(y, m, d).unwrap();
            let start = local_midnight(zone, first);
            let mut intervals = fixtures::quarter_hours(start, 2 * 100, 7);
            intervals[3].level = None;
            intervals[4].total = -0.0;
            intervals[5].total = 1e-7;
            let end = local_midnight(zone, first + TimeDelta::days(2));
            intervals.retain(|interval| interval.starts_at() < end);
            let chunks = chunks_of(&intervals, zone, first, 2);
            let parts: Vec<&[u8]> = chunks.iter().map(Vec::as_slice).collect();
            for minutes in [0, 15, 120, 165, 180, 600, 1425, 1440 + 60, 2 * 1500] {
                let from = start + TimeDelta::minutes(minutes);
                let upcoming: Vec<Interval> = intervals
                    .iter()
                    .filter(|interval| from <= interval.starts_at())
                    .copied()
                    .collect();
                assert_eq!(
                    String::from_utf8(rates_of(&parts, from).unwrap()).unwrap(),
                    String::from_utf8(rates_json_with_serde(&upcoming, zone)).unwrap(),
                    "{zone_name} {first}, from {from}"
                );
            }
        }
    }

    #[test]
    fn bytes_that_are_not_interval_objects_are_refused() {
        let from = DateTime::UNIX_EPOCH;
        for chunk in [
            &b"{\"start\":\"2025-11-20T00:00:00+01:00\"}"[..],
            b"{\"starts_at\":\"2025-11-20T00:00:00+01:00\",\"ends_at\":\"x",
            b"{\"starts_at\":\"not a time\",\"ends_at\":\"x\",\"total\":1,\"level\":null}",
            b"{\"starts_at\":\"a\",\"ends_at\":\"b\",\"total\":1}{",
        ] {
            assert_eq!(
                rates_of(&[chunk], from),
                None,
                "{}",
                String::from_utf8_lossy(chunk)
            );
        }
        assert_eq!(rates_of(&[b""], from), Some(b"[]".to_vec()));
    }

    #[test]
    fn timestamps_read_back_as_the_instants_they_render() {
        for (text, expected) in [
            ("2025-10-26T02:00:00+02:00", "2025-10-26T00:00:00Z"),
            ("2025-10-26T02:00:00+01:00", "2025-10-26T01:00:00Z"),
            ("2025-11-02T00:00:00-03:30", "2025-11-02T03:30:00Z"),
            ("1969-12-31T23:59:59+00:00", "1969-12-31T23:59:59Z"),
            ("2025-11-20T14:00:00+05:45", "2025-11-20T08:15:00Z"),
        ] {
            let expected: DateTime<Utc> = expected.parse().unwrap();
            assert_eq!(
                seconds_of(text.as_bytes()),
                Some(expected.timestamp()),
                "{text}"
            );
        }
        assert_eq!(seconds_of(b"2025-13-01T00:00:00+00:00"), None);
        assert_eq!(seconds_of(b"2025-11-01T00:00:00*00:00"), None);
    }
}
