//! The range parameters of the interval endpoints (`start`+`end`, or
//! `date=today|tomorrow|YYYY-MM-DD`), parsed by hand so that every 400 names
//! the parameter at fault and unknown or repeated parameters are refused
//! instead of silently ignored.

use chrono::{DateTime, Days, NaiveDate, TimeDelta, Timelike, Utc};
use chrono_tz::Tz;

use super::problem::ApiError;
use crate::pool::days::{local_date, local_day};

/// The longest range one request may ask for, in local days: any calendar
/// month, including an October with its 25-hour day.
pub(crate) const MAX_SPAN_DAYS: i64 = 31;

/// [`MAX_SPAN_DAYS`] as a duration: 31 days of 24 hours plus the hour a
/// fall-back day adds (745 hours), so "all of October" in Europe fits.
pub(crate) fn max_span() -> TimeDelta {
    TimeDelta::days(MAX_SPAN_DAYS) + TimeDelta::hours(1)
}

/// Query parameters of the range endpoints.
pub(crate) const RANGE_PARAMETERS: &[&str] = &["start", "end", "date"];

/// The earliest instant a range may touch: no day-ahead market is older.
pub(crate) fn earliest_instant() -> DateTime<Utc> {
    DateTime::from_timestamp(946_684_800, 0).unwrap_or(DateTime::<Utc>::MIN_UTC) // 2000-01-01
}

/// The latest instant a range may touch.
pub(crate) fn latest_instant() -> DateTime<Utc> {
    DateTime::from_timestamp(4_102_444_800, 0).unwrap_or(DateTime::<Utc>::MAX_UTC) // 2100-01-01
}

/// A local day named by `date=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DayWord {
    /// The home's local today.
    Today,
    /// The home's local tomorrow.
    Tomorrow,
    /// A calendar date in the home's zone.
    On(NaiveDate),
}

/// What the client asked for, before the home's zone turns it into instants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RangeRequest {
    /// `start` and `end`.
    Between {
        /// Inclusive.
        start: DateTime<Utc>,
        /// Exclusive.
        end: DateTime<Utc>,
    },
    /// `date=`.
    Day(DayWord),
    /// No range parameter: the endpoint's default.
    Default,
}

/// A range resolved in the home's zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ResolvedRange {
    /// Inclusive.
    pub(crate) start: DateTime<Utc>,
    /// Exclusive.
    pub(crate) end: DateTime<Utc>,
    /// When the same request would resolve to another range (`today` at
    /// local midnight); `None` for explicit instants and dates.
    pub(crate) moves_at: Option<DateTime<Utc>>,
}

/// Splits `query` into pairs, refusing names outside `allowed` and repeats.
pub(crate) fn parse_pairs(
    query: Option<&str>,
    allowed: &[&str],
) -> Result<Vec<(String, String)>, ApiError> {
    let mut pairs: Vec<(String, String)> = Vec::new();
    for (name, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        if name.is_empty() && value.is_empty() {
            continue;
        }
        if !allowed.contains(&name.as_ref()) {
            let expected = if allowed.is_empty() {
                "this endpoint takes no query parameter".to_string()
            } else {
                format!("this endpoint takes only {}", allowed.join(", "))
            };
            return Err(ApiError::bad_parameter(
                truncate(&name),
                format!("unknown query parameter `{}`: {expected}", truncate(&name)),
            ));
        }
        if pairs.iter().any(|(seen, _)| *seen == name) {
            return Err(ApiError::bad_parameter(
                name.as_ref(),
                format!("query parameter `{name}` is given more than once"),
            ));
        }
        pairs.push((name.into_owned(), value.into_owned()));
    }
    Ok(pairs)
}

/// Cuts a client-chosen name short enough to echo in a problem body.
fn truncate(text: &str) -> String {
    text.chars().take(64).collect()
}

/// Parses an RFC 3339 instant, strictly: a four-digit year without a sign
/// and seconds from 00 to 59 (chrono also takes a leap second, `23:59:60`,
/// which clients would then see echoed as a time other parsers reject). A
/// `+` in an offset that arrived unencoded (decoded to a space by form
/// rules) is taken back.
pub(crate) fn parse_instant(parameter: &str, value: &str) -> Result<DateTime<Utc>, ApiError> {
    let refused = |why: String| {
        ApiError::bad_parameter(
            parameter,
            format!(
                "`{parameter}` is not an RFC 3339 instant ({why}); write e.g. 2025-10-26T00:00:00+02:00"
            ),
        )
    };
    if !starts_with_plain_date(value) {
        return Err(refused("it must open with a date like 2025-10-26".into()));
    }
    let parsed = DateTime::parse_from_rfc3339(value)
        .or_else(|e| DateTime::parse_from_rfc3339(&value.replace(' ', "+")).map_err(|_| e))
        .map_err(|e| refused(e.to_string()))?;
    if parsed.nanosecond() >= 1_000_000_000 {
        return Err(refused(
            "a leap second is not a time the service serves".into(),
        ));
    }
    let instant = parsed.with_timezone(&Utc);
    check_bounds(parameter, instant)?;
    Ok(instant)
}

/// Whether `text` opens with `YYYY-MM-DD` in ASCII digits: no sign, no
/// expanded year, no one-digit month or day.
fn starts_with_plain_date(text: &str) -> bool {
    let Some(date) = text.as_bytes().get(..10) else {
        return false;
    };
    date.iter().enumerate().all(|(at, byte)| match at {
        4 | 7 => *byte == b'-',
        _ => byte.is_ascii_digit(),
    })
}

fn check_bounds(parameter: &str, instant: DateTime<Utc>) -> Result<(), ApiError> {
    if instant < earliest_instant() || instant > latest_instant() {
        return Err(ApiError::bad_parameter(
            parameter,
            format!("`{parameter}` must lie between 2000-01-01 and 2100-01-01"),
        ));
    }
    Ok(())
}

/// Parses the range parameters of a query already split by [`parse_pairs`].
pub(crate) fn parse_range(pairs: &[(String, String)]) -> Result<RangeRequest, ApiError> {
    let get = |name: &str| {
        pairs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    match (get("start"), get("end"), get("date")) {
        (None, None, None) => Ok(RangeRequest::Default),
        (None, None, Some(word)) => Ok(RangeRequest::Day(parse_day(word)?)),
        (_, _, Some(_)) => Err(ApiError::bad_parameter(
            "date",
            "give either `date` or `start` and `end`, not both",
        )),
        (Some(_), None, None) => Err(ApiError::bad_parameter(
            "end",
            "`end` is missing: give `start` and `end` together",
        )),
        (None, Some(_), None) => Err(ApiError::bad_parameter(
            "start",
            "`start` is missing: give `start` and `end` together",
        )),
        (Some(start), Some(end), None) => {
            let start = parse_instant("start", start)?;
            let end = parse_instant("end", end)?;
            if end <= start {
                return Err(ApiError::bad_parameter(
                    "end",
                    "`end` must be later than `start`",
                ));
            }
            if end - start > max_span() {
                return Err(ApiError::bad_parameter(
                    "end",
                    format!(
                        "a request spans at most {MAX_SPAN_DAYS} local days (745 hours); split longer ranges"
                    ),
                ));
            }
            Ok(RangeRequest::Between { start, end })
        }
    }
}

fn parse_day(word: &str) -> Result<DayWord, ApiError> {
    match word {
        "today" => Ok(DayWord::Today),
        "tomorrow" => Ok(DayWord::Tomorrow),
        _ => {
            let plain = word.len() == 10 && starts_with_plain_date(word);
            let parsed = NaiveDate::parse_from_str(word, "%Y-%m-%d")
                .ok()
                .filter(|_| plain);
            let date = parsed.ok_or_else(|| {
                ApiError::bad_parameter(
                    "date",
                    "`date` must be `today`, `tomorrow` or a date like 2025-10-26",
                )
            })?;
            check_bounds("date", date.and_time(chrono::NaiveTime::MIN).and_utc())?;
            Ok(DayWord::On(date))
        }
    }
}

/// What an endpoint means when no range parameter is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DefaultRange {
    /// The home's local today.
    Today,
    /// From the start of the interval containing now to the end of local
    /// tomorrow: what a scheduler plans over.
    Upcoming,
    /// The home's local today and tomorrow, whole.
    TodayAndTomorrow,
}

impl RangeRequest {
    /// Turns the request into instants in `zone` at `now`.
    pub(crate) fn resolve(
        self,
        zone: Tz,
        now: DateTime<Utc>,
        default: DefaultRange,
    ) -> ResolvedRange {
        let today = local_date(zone, now);
        let tomorrow = today.checked_add_days(Days::new(1)).unwrap_or(today);
        let (_, next_midnight) = local_day(zone, today);
        let day = |date: NaiveDate| {
            let (start, end) = local_day(zone, date);
            ResolvedRange {
                start,
                end,
                moves_at: None,
            }
        };
        let today_range = ResolvedRange {
            moves_at: Some(next_midnight),
            ..day(today)
        };
        match self {
            RangeRequest::Between { start, end } => ResolvedRange {
                start,
                end,
                moves_at: None,
            },
            RangeRequest::Day(DayWord::On(date)) => day(date),
            RangeRequest::Day(DayWord::Today) => today_range,
            RangeRequest::Day(DayWord::Tomorrow) => ResolvedRange {
                moves_at: Some(next_midnight),
                ..day(tomorrow)
            },
            RangeRequest::Default => match default {
                DefaultRange::Today => today_range,
                DefaultRange::TodayAndTomorrow => ResolvedRange {
                    end: day(tomorrow).end,
                    ..today_range
                },
                DefaultRange::Upcoming => {
                    let quarter = crate::pool::QUARTER_SECONDS;
                    let floor = now.timestamp() - now.timestamp().rem_euclid(quarter);
                    let start = DateTime::from_timestamp(floor, 0).unwrap_or(now);
                    let (_, end) = local_day(zone, tomorrow);
                    ResolvedRange {
                        start,
                        end,
                        moves_at: Some(start + TimeDelta::seconds(quarter)),
                    }
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(query: &str) -> Result<RangeRequest, ApiError> {
        parse_range(&parse_pairs(Some(query), RANGE_PARAMETERS)?)
    }

    fn parameter_of(result: Result<RangeRequest, ApiError>) -> String {
        match result {
            Err(ApiError::BadParameter { parameter, .. }) => parameter,
            other => panic!("expected a bad parameter, got {other:?}"),
        }
    }

    #[test]
    fn every_refusal_names_the_parameter_at_fault() {
        assert_eq!(parameter_of(range("start=2025-10-26T00:00:00Z")), "end");
        assert_eq!(parameter_of(range("end=2025-10-26T00:00:00Z")), "start");
        assert_eq!(
            parameter_of(range("start=yesterday&end=2025-10-26T00:00:00Z")),
            "start"
        );
        assert_eq!(
            parameter_of(range("start=2025-10-26T00:00:00Z&end=2025-10-25T00:00:00Z")),
            "end"
        );
        assert_eq!(
            parameter_of(range("start=2025-10-01T00:00:00Z&end=2025-11-02T00:00:00Z")),
            "end"
        );
        assert_eq!(parameter_of(range("date=someday")), "date");
        assert_eq!(
            parameter_of(range("date=today&start=2025-10-26T00:00:00Z")),
            "date"
        );
        assert_eq!(parameter_of(range("limit=3")), "limit");
        assert_eq!(parameter_of(range("date=today&date=tomorrow")), "date");
        assert_eq!(parameter_of(range("date=1900-01-01")), "date");
    }

    #[test]
    fn a_leap_second_or_a_signed_expanded_or_short_year_is_refused() {
        for (query, parameter) in [
            (
                "start=2025-06-01T23:59:60Z&end=2025-06-02T01:00:00Z",
                "start",
            ),
            (
                "start=2025-06-01T00:00:00Z&end=2025-06-01T23:59:60%2B02:00",
                "end",
            ),
            (
                "start=%2B002025-06-01T00:00:00Z&end=2025-06-02T00:00:00Z",
                "start",
            ),
            (
                "start=%2B2025-06-01T00:00:00Z&end=2025-06-02T00:00:00Z",
                "start",
            ),
            (
                "start=-2025-06-01T00:00:00Z&end=2025-06-02T00:00:00Z",
                "start",
            ),
            ("date=%2B2025-06-01", "date"),
            ("date=+2025-06-01", "date"),
            ("date=2025-6-1", "date"),
            ("date=02025-06-01", "date"),
        ] {
            assert_eq!(parameter_of(range(query)), parameter, "{query}");
        }
        assert!(range("start=2025-06-01T23:59:59Z&end=2025-06-02 00:00:00z").is_ok());
    }

    #[test]
    fn an_unencoded_plus_in_an_offset_is_understood() {
        let request =
            range("start=2025-10-26T00:00:00+02:00&end=2025-10-27T00:00:00+01:00").unwrap();
        let RangeRequest::Between { start, end } = request else {
            panic!("expected a range")
        };
        assert_eq!(end - start, TimeDelta::hours(25));
    }

    #[test]
    fn date_words_follow_the_homes_zone_across_dst() {
        let zone: Tz = "Europe/Berlin".parse().unwrap();
        let now: DateTime<Utc> = "2025-10-25T22:30:00Z".parse().unwrap(); // 00:30 local on the 26th
        let today = range("date=today")
            .unwrap()
            .resolve(zone, now, DefaultRange::Today);
        assert_eq!(today.end - today.start, TimeDelta::hours(25));
        assert_eq!(today.moves_at, Some(today.end));
        let upcoming = RangeRequest::Default.resolve(zone, now, DefaultRange::Upcoming);
        assert_eq!(upcoming.start.to_rfc3339(), "2025-10-25T22:30:00+00:00");
        assert_eq!(upcoming.end, today.end + TimeDelta::hours(24));
    }
}
