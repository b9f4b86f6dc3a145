//! The parameters of the answer endpoints beyond the range (`resolution`,
//! `duration`, `contiguous`, `highest`), parsed strictly like the range
//! (see `query`): every 400 names the parameter at fault.

use chrono::TimeDelta;

use super::problem::ApiError;

/// The value of `name` in pairs already split by `query::parse_pairs`.
pub(crate) fn value<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// `resolution=hour|native` (default native): whether the client wants
/// each local hour's mean instead of the slots as published.
pub(crate) fn wants_hourly(pairs: &[(String, String)]) -> Result<bool, ApiError> {
    match value(pairs, "resolution") {
        None | Some("native") => Ok(false),
        Some("hour") => Ok(true),
        Some(_) => Err(ApiError::bad_parameter(
            "resolution",
            "`resolution` must be `hour` (each local hour's mean) or `native` (the slots as published)",
        )),
    }
}

/// A `true`/`false` parameter with its default.
pub(crate) fn flag(
    pairs: &[(String, String)],
    name: &str,
    default: bool,
) -> Result<bool, ApiError> {
    match value(pairs, name) {
        None => Ok(default),
        Some("true") => Ok(true),
        Some("false") => Ok(false),
        Some(_) => Err(ApiError::bad_parameter(
            name,
            format!("`{name}` must be `true` or `false`"),
        )),
    }
}

/// The longest window a search takes: the longest range a request spans.
const MAX_DURATION_HOURS: i64 = 745;

/// The window a search takes when `duration` is left out: the three hours
/// a dishwasher or a washing machine runs, as the dashboard shows.
pub(crate) const DEFAULT_DURATION_HOURS: i64 = 3;

/// `duration` (default [`DEFAULT_DURATION_HOURS`]): ISO 8601 (`PT3H`, `PT45M`, `PT1H30M`, `P1D`) or
/// humantime (`3h`, `45m`, `1h 30m`), a positive whole number of minutes
/// that are a multiple of 15 (no slot is shorter); whether it is a multiple
/// of the slots actually published is checked against the prices.
pub(crate) fn duration(pairs: &[(String, String)]) -> Result<TimeDelta, ApiError> {
    let refused = |why: &str| {
        ApiError::bad_parameter(
            "duration",
            format!("`duration` {why}; write e.g. PT3H, PT45M or 3h"),
        )
    };
    let Some(text) = value(pairs, "duration") else {
        return Ok(TimeDelta::hours(DEFAULT_DURATION_HOURS));
    };
    let parsed = if text.starts_with('P') {
        parse_iso8601(text)
    } else {
        humantime::parse_duration(text)
            .ok()
            .and_then(|d| TimeDelta::from_std(d).ok())
    };
    let duration = parsed.ok_or_else(|| refused("is not a duration"))?;
    if duration <= TimeDelta::zero() {
        return Err(refused("must be longer than zero"));
    }
    if duration > TimeDelta::hours(MAX_DURATION_HOURS) {
        return Err(refused("is longer than any range (745 hours)"));
    }
    if duration.num_seconds() % 900 != 0 || duration.subsec_nanos() != 0 {
        return Err(refused(
            "must be a multiple of the slot length (15 minutes, or 60 before the quarter-hourly switch)",
        ));
    }
    Ok(duration)
}

/// An ISO 8601 duration of days, hours, minutes and seconds (`P1DT2H`,
/// `PT45M`); years, months and weeks are refused (their length depends on
/// the calendar), as are fractions.
fn parse_iso8601(text: &str) -> Option<TimeDelta> {
    let rest = text.strip_prefix('P')?;
    let (days, time) = match rest.split_once('T') {
        Some((days, time)) if !time.is_empty() => (days, time),
        Some(_) => return None,
        None => (rest, ""),
    };
    let mut total = TimeDelta::zero();
    if !days.is_empty() {
        let n: i64 = days.strip_suffix('D')?.parse().ok()?;
        total += TimeDelta::try_days(n)?;
    }
    let mut number = String::new();
    let mut last_unit = 0;
    for ch in time.chars() {
        if ch.is_ascii_digit() {
            number.push(ch);
            continue;
        }
        let (order, seconds) = match ch {
            'H' => (1, 3600),
            'M' => (2, 60),
            'S' => (3, 1),
            _ => return None,
        };
        if number.is_empty() || order <= last_unit || number.len() > 9 {
            return None;
        }
        let n: i64 = number.parse().ok()?;
        total += TimeDelta::try_seconds(n * seconds)?;
        number.clear();
        last_unit = order;
    }
    if !number.is_empty() || (days.is_empty() && time.is_empty()) {
        return None;
    }
    Some(total)
}

/// `duration` as ISO 8601 (`PT3H`, `PT1H30M`, `P1DT2H`), as the answer echoes it.
pub(crate) fn iso8601(duration: TimeDelta) -> String {
    let total = duration.num_minutes();
    let (days, hours, minutes) = (total / 1440, total % 1440 / 60, total % 60);
    let mut text = String::from("P");
    if days > 0 {
        text.push_str(&format!("{days}D"));
    }
    if hours > 0 || minutes > 0 || days == 0 {
        text.push('T');
        if hours > 0 {
            text.push_str(&format!("{hours}H"));
        }
        if minutes > 0 || (hours == 0 && days == 0) {
            text.push_str(&format!("{minutes}M"));
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> Result<TimeDelta, ApiError> {
        duration(&[("duration".into(), text.into())])
    }

    #[test]
    fn iso_and_humantime_durations_are_understood_and_echoed_in_iso() {
        for (text, minutes, echo) in [
            ("PT3H", 180, "PT3H"),
            ("PT45M", 45, "PT45M"),
            ("PT1H30M", 90, "PT1H30M"),
            ("P1DT2H", 1560, "P1DT2H"),
            ("P1D", 1440, "P1D"),
            ("3h", 180, "PT3H"),
            ("1h 15m", 75, "PT1H15M"),
            ("PT900S", 15, "PT15M"),
        ] {
            let duration = parsed(text).unwrap();
            assert_eq!(duration.num_minutes(), minutes, "{text}");
            assert_eq!(iso8601(duration), echo);
        }
    }

    #[test]
    fn anything_else_is_a_400_naming_duration() {
        for text in [
            "PT7M",
            "P",
            "PT",
            "PT3",
            "PTH",
            "P1Y",
            "PT3M3H",
            "3 parsecs",
            "",
            "PT0M",
            "P99999999D",
            "-PT3H",
            "PT1.5H",
        ] {
            match parsed(text) {
                Err(ApiError::BadParameter { parameter, .. }) => {
                    assert_eq!(parameter, "duration", "{text}")
                }
                other => panic!("{text}: {other:?}"),
            }
        }
        assert_eq!(duration(&[]), Ok(TimeDelta::hours(3)));
    }
}
