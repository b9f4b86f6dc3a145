//! Local days in a home's zone: midnights, day ranges and the protected
//! window. DST days are 23 or 25 hours long; everything here works on UTC
//! instants so both 02:00 slots of a fall-back day stay distinct.

use chrono::{DateTime, Days, LocalResult, NaiveDate, NaiveTime, Offset, TimeZone, Utc};
use chrono_tz::Tz;

use super::interval::Resolution;

/// The first instant of `date` in `zone`. Where midnight itself does not
/// exist (zones that spring forward at 00:00), the day starts at the first
/// local time that does; where it happens twice, at the earlier one.
pub fn local_midnight(zone: Tz, date: NaiveDate) -> DateTime<Utc> {
    let mut local = date.and_time(NaiveTime::MIN);
    // A DST gap is at most a few hours; step forward in quarter-hours until the wall-clock time exists.
    for _ in 0..(4 * 24) {
        match zone.from_local_datetime(&local) {
            LocalResult::Single(t) => return t.with_timezone(&Utc),
            LocalResult::Ambiguous(earliest, _) => return earliest.with_timezone(&Utc),
            LocalResult::None => local += chrono::Duration::minutes(15),
        }
    }
    // Unreachable for real zones; fall back to the zone's offset at UTC midnight.
    date.and_time(NaiveTime::MIN).and_utc()
}

/// `[start, end)` of the local day `date` in `zone` (23, 24 or 25 hours).
pub fn local_day(zone: Tz, date: NaiveDate) -> (DateTime<Utc>, DateTime<Utc>) {
    let next = date.checked_add_days(Days::new(1)).unwrap_or(date);
    (local_midnight(zone, date), local_midnight(zone, next))
}

/// The local calendar date of `instant` in `zone`.
pub fn local_date(zone: Tz, instant: DateTime<Utc>) -> NaiveDate {
    instant.with_timezone(&zone).date_naive()
}

/// The window GC never evicts from: local midnight of the day before
/// yesterday up to local midnight after tomorrow (four local days).
pub fn protected_window(zone: Tz, now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    let today = local_date(zone, now);
    let first = today.checked_sub_days(Days::new(2)).unwrap_or(today);
    let after_tomorrow = today.checked_add_days(Days::new(2)).unwrap_or(today);
    (
        local_midnight(zone, first),
        local_midnight(zone, after_tomorrow),
    )
}

/// Which resolution a source publishes for a given instant: hourly before
/// local midnight of `quarter_hourly_from` in the home's zone, quarter-hourly
/// from then on.
pub fn expected_resolution(
    zone: Tz,
    quarter_hourly_from: NaiveDate,
    instant: DateTime<Utc>,
) -> Resolution {
    if instant < local_midnight(zone, quarter_hourly_from) {
        Resolution::Hour
    } else {
        Resolution::QuarterHour
    }
}

/// How many intervals start in `[start, end)` at the expected resolution:
/// hours before local midnight of `quarter_hourly_from`, quarter-hours
/// from then on (a part of a slot counts as a slot).
pub fn expected_count(
    zone: Tz,
    quarter_hourly_from: NaiveDate,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> usize {
    if start >= end {
        return 0;
    }
    let switch = local_midnight(zone, quarter_hourly_from);
    let hourly_end = end.min(switch).max(start);
    let quarter_start = start.max(switch).min(end);
    let hours = (hourly_end - start)
        .num_seconds()
        .max(0)
        .unsigned_abs()
        .div_ceil(3600);
    let quarters = (end - quarter_start)
        .num_seconds()
        .max(0)
        .unsigned_abs()
        .div_ceil(900);
    usize::try_from(hours + quarters).unwrap_or(usize::MAX)
}

/// The last instant at or before `t` that starts a local hour in `zone`
/// (a whole UTC hour for zones with whole-hour offsets), by the zone's
/// offset at `t`.
pub fn align_down_to_local_hour(zone: Tz, t: DateTime<Utc>) -> DateTime<Utc> {
    let offset = i64::from(
        zone.offset_from_utc_datetime(&t.naive_utc())
            .fix()
            .local_minus_utc(),
    );
    let local = t.timestamp() + offset;
    DateTime::from_timestamp(local.div_euclid(3600) * 3600 - offset, 0).unwrap_or(t)
}

/// The first instant at or after `t` that starts a local hour in `zone`.
pub fn align_up_to_local_hour(zone: Tz, t: DateTime<Utc>) -> DateTime<Utc> {
    let down = align_down_to_local_hour(zone, t);
    if down == t {
        t
    } else {
        down + chrono::Duration::hours(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::Europe::Berlin;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn dst_days_are_23_and_25_hours_long() {
        let (s, e) = local_day(Berlin, date(2025, 10, 26));
        assert_eq!((e - s).num_hours(), 25);
        let (s, e) = local_day(Berlin, date(2026, 3, 29));
        assert_eq!((e - s).num_hours(), 23);
        let (s, e) = local_day(Berlin, date(2026, 1, 15));
        assert_eq!((e - s).num_hours(), 24);
        assert_eq!(s.to_rfc3339(), "2026-01-14T23:00:00+00:00");
    }

    #[test]
    fn midnight_that_does_not_exist_starts_the_day_at_the_first_valid_time() {
        // America/Santiago springs forward at 00:00 local on 2025-09-07.
        let zone: Tz = "America/Santiago".parse().unwrap();
        let start = local_midnight(zone, date(2025, 9, 7));
        assert_eq!(
            start.with_timezone(&zone).format("%H:%M").to_string(),
            "01:00"
        );
    }

    #[test]
    fn protected_window_spans_four_local_days_across_dst() {
        // now on Monday 2025-10-27: window from Saturday 25th to Wednesday 29th local midnight, one 25h day inside.
        let now = "2025-10-27T12:00:00Z".parse().unwrap();
        let (s, e) = protected_window(Berlin, now);
        assert_eq!(s, local_midnight(Berlin, date(2025, 10, 25)));
        assert_eq!(e, local_midnight(Berlin, date(2025, 10, 29)));
        assert_eq!((e - s).num_hours(), 97);
    }

    #[test]
    fn resolution_switches_at_local_midnight() {
        let switch = date(2025, 10, 1);
        let before = "2025-09-30T21:00:00Z".parse().unwrap();
        let after = "2025-09-30T22:00:00Z".parse().unwrap();
        assert_eq!(
            expected_resolution(Berlin, switch, before),
            Resolution::Hour
        );
        assert_eq!(
            expected_resolution(Berlin, switch, after),
            Resolution::QuarterHour
        );
    }

    #[test]
    fn local_hours_follow_the_zone_offset() {
        let kolkata: Tz = "Asia/Kolkata".parse().unwrap();
        let t = "2025-10-01T10:05:00Z".parse().unwrap();
        assert_eq!(
            align_up_to_local_hour(kolkata, t).to_rfc3339(),
            "2025-10-01T10:30:00+00:00"
        );
        assert_eq!(
            align_up_to_local_hour(Berlin, t).to_rfc3339(),
            "2025-10-01T11:00:00+00:00"
        );
        let on = "2025-10-01T11:00:00Z".parse().unwrap();
        assert_eq!(align_up_to_local_hour(Berlin, on), on);
        assert_eq!(align_down_to_local_hour(Berlin, on), on);
        assert_eq!(
            align_down_to_local_hour(kolkata, t).to_rfc3339(),
            "2025-10-01T09:30:00+00:00"
        );
        let just_after: DateTime<Utc> = "2025-10-01T11:00:00.5Z".parse().unwrap();
        assert_eq!(align_down_to_local_hour(Berlin, just_after), on);
        assert_eq!(
            align_up_to_local_hour(Berlin, just_after).to_rfc3339(),
            "2025-10-01T12:00:00+00:00"
        );
    }
}
