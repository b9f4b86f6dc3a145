//! What of an upstream answer is trusted. Every source's answer passes
//! here (in `Source::fetch`) before the coordinator sees it, so nothing an
//! upstream invents reaches the pool, the protected window or a snapshot.
//!
//! An answer is *malformed* (not cached, not retried) when it contradicts
//! itself or cannot be real: two different prices for one instant, a
//! price that is not finite or outside the plausibility band, or more
//! intervals than the asked range can hold. Otherwise it is trusted only
//! for what was asked: intervals starting in `[start, end)`, plus the one
//! surplus interval on either side that the cursor ambiguity allows
//! (DESIGN.md: whether `after` includes the cursor's own instant), and
//! never beyond what can be published at `now`: nothing from local midnight
//! after tomorrow on, nothing of tomorrow before its publication hour. The
//! rest is dropped and counted.
//!
//! Pure: no I/O, no clock (the request carries `now`).

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::calendar;
use super::config::UpstreamConfig;
use super::error::UpstreamError;
use super::source::FetchRequest;
use crate::pool::Interval;

/// The settings an answer is judged by, taken from [`UpstreamConfig`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Trust {
    /// Prices (`total`, `energy`, `tax`) per kWh outside `±price_band` are
    /// implausible. See [`UpstreamConfig::price_band`].
    pub price_band: f64,
    /// Local hour at which tomorrow's prices are published; before it, an
    /// answer's intervals for tomorrow are not trusted.
    pub publish_hour: u32,
}

impl Trust {
    /// The trust settings of `config`.
    pub fn of(config: &UpstreamConfig) -> Trust {
        Trust {
            price_band: config.price_band,
            publish_hour: config.publish_hour,
        }
    }
}

impl Default for Trust {
    fn default() -> Trust {
        Trust::of(&UpstreamConfig::default())
    }
}

/// A trusted answer: the intervals to cache, sorted by start, each
/// instant once, and how many were dropped as not asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct Trusted {
    /// What the coordinator may cache.
    pub intervals: Vec<Interval>,
    /// Intervals outside the asked range or not publishable yet.
    pub dropped: usize,
}

/// Judges one source answer to `request`: `Malformed` when it cannot be
/// real, else the part of it that was asked for (see the module doc).
pub fn trusted(
    request: &FetchRequest,
    mut intervals: Vec<Interval>,
    trust: &Trust,
) -> Result<Trusted, UpstreamError> {
    for interval in &intervals {
        check_prices(interval, trust.price_band)?;
    }
    intervals.sort_by_key(|interval| interval.starts_at());
    let unique = without_duplicates(intervals)?;

    let (span_start, span_end) = answer_span(request);
    let most = quarter_hours(span_start, span_end).saturating_add(1);
    if unique.len() > most {
        return Err(UpstreamError::Malformed(format!(
            "{} intervals for a range that holds at most {most}",
            unique.len()
        )));
    }

    let (start, end) = (request.start, request.end);
    let zone = request.home.zone;
    let publication_zone = calendar::publication_zone(zone, request.market);
    let publishable_until = publishable_until(zone, publication_zone, request.now, trust);
    let n_unique = unique.len();
    let intervals: Vec<Interval> = unique
        .into_iter()
        .filter(|interval| {
            let asked = (start <= interval.starts_at() && interval.starts_at() < end)
                || interval.ends_at() == start
                || interval.starts_at() == end;
            asked && interval.starts_at() < publishable_until
        })
        .collect();
    Ok(Trusted {
        dropped: n_unique - intervals.len(),
        intervals,
    })
}

/// Every price finite and within `±band`.
fn check_prices(interval: &Interval, band: f64) -> Result<(), UpstreamError> {
    for (field, price) in [
        ("total", interval.total),
        ("energy", interval.energy),
        ("tax", interval.tax),
    ] {
        if !price.is_finite() || price.abs() > band {
            return Err(UpstreamError::Malformed(format!(
                "{field} of the interval at {} is not a plausible price (outside ±{band} per kWh)",
                interval.starts_at().to_rfc3339()
            )));
        }
    }
    Ok(())
}

/// `sorted` with each instant once: identical repeats (the interval at a
/// page boundary that both readings of a cursor may return) are dropped,
/// different prices for one instant are malformed.
fn without_duplicates(sorted: Vec<Interval>) -> Result<Vec<Interval>, UpstreamError> {
    let mut unique: Vec<Interval> = Vec::with_capacity(sorted.len());
    for interval in sorted {
        match unique.last() {
            Some(last) if last.starts_at() == interval.starts_at() => {
                let same = last.total == interval.total
                    && last.energy == interval.energy
                    && last.tax == interval.tax
                    && last.resolution == interval.resolution;
                if !same {
                    return Err(UpstreamError::Malformed(format!(
                        "two different prices for the interval at {}",
                        interval.starts_at().to_rfc3339()
                    )));
                }
            }
            _ => unique.push(interval),
        }
    }
    Ok(unique)
}

/// The range an answer to `request` may legitimately cover: the asked
/// range, widened to the whole recent window when it touches it (a source
/// may answer the recent window in one piece, as Tibber does).
fn answer_span(request: &FetchRequest) -> (DateTime<Utc>, DateTime<Utc>) {
    let (recent_start, horizon) = calendar::recent_window(request.home.zone, request.now);
    if request.end > recent_start && request.start < horizon {
        (request.start.min(recent_start), request.end.max(horizon))
    } else {
        (request.start, request.end)
    }
}

/// Quarter-hours in `[from, to)`, rounded up: the most intervals the range
/// can hold at the finest resolution any source uses.
fn quarter_hours(from: DateTime<Utc>, to: DateTime<Utc>) -> usize {
    let seconds = (to - from).num_seconds().max(0).unsigned_abs();
    usize::try_from(seconds.div_ceil(900)).unwrap_or(usize::MAX)
}

/// The first instant no answer at `now` can truthfully hold: the
/// publication horizon, or tomorrow's midnight before today's publication
/// (on the clock of `publication_zone`: CET for a market).
fn publishable_until(
    zone: Tz,
    publication_zone: Tz,
    now: DateTime<Utc>,
    trust: &Trust,
) -> DateTime<Utc> {
    if calendar::before_publication(publication_zone, trust.publish_hour, now) {
        calendar::tomorrow_start(zone, now)
    } else {
        calendar::publication_horizon(zone, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pool::{HomeInfo, PriceLevel, Resolution};
    use crate::upstream::UpstreamErrorKind;
    use chrono_tz::Europe::Berlin;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    /// A request for `[start, end)` of the `demo` home at `now`.
    fn request(start: &str, end: &str, now: &str) -> FetchRequest {
        FetchRequest {
            quarter_hourly_from: crate::pool::EUROPE_QUARTER_HOURLY_FROM,
            market: None,
            home: HomeInfo {
                id: "demo".into(),
                zone: Berlin,
                currency: "EUR".into(),
            },
            start: at(start),
            end: at(end),
            now: at(now),
            deadline: tokio::time::Instant::now(),
        }
    }

    fn quarter(starts_at: DateTime<Utc>, total: f64) -> Interval {
        Interval::new(
            starts_at,
            Resolution::QuarterHour,
            total,
            total * 0.8,
            total * 0.2,
            Some(PriceLevel::Normal),
        )
    }

    /// `n` quarter-hours from `from`, priced 0.25.
    fn quarters(from: &str, n: usize) -> Vec<Interval> {
        let from = at(from);
        (0..n)
            .map(|i| quarter(from + chrono::Duration::minutes(15 * i as i64), 0.25))
            .collect()
    }

    fn malformed(result: Result<Trusted, UpstreamError>) -> String {
        match result {
            Err(error) => {
                assert_eq!(error.kind(), UpstreamErrorKind::Malformed);
                assert!(!error.kind().is_retryable());
                error.to_string()
            }
            Ok(trusted) => panic!("trusted {} intervals", trusted.intervals.len()),
        }
    }

    // A history day, asked for on 2025-11-20 at 10:00 Berlin (before publication).
    const DAY_START: &str = "2025-11-09T23:00:00Z";
    const DAY_END: &str = "2025-11-10T23:00:00Z";
    const MORNING: &str = "2025-11-20T09:00:00Z";

    #[test]
    fn the_asked_range_and_the_surplus_interval_of_either_cursor_reading_are_kept() {
        let request = request(DAY_START, DAY_END, MORNING);
        // Inclusive reading: the cursor's own interval, just before the start.
        let inclusive = quarters("2025-11-09T22:45:00Z", 97);
        // Exclusive reading: one interval past the end.
        let exclusive = quarters(DAY_START, 97);
        for answer in [inclusive, exclusive] {
            let trusted = trusted(&request, answer.clone(), &Trust::default()).unwrap();
            assert_eq!(trusted.intervals, answer);
            assert_eq!(trusted.dropped, 0);
        }
    }

    #[test]
    fn intervals_outside_the_asked_range_are_dropped_and_counted() {
        let request = request(DAY_START, DAY_END, MORNING);
        let mut answer = quarters("2025-11-09T22:00:00Z", 4); // an hour before: 3 too early
        answer.extend(quarters(DAY_START, 89));
        answer.extend(quarters("2025-11-20T23:00:00Z", 4)); // tomorrow
        let trusted = trusted(&request, answer, &Trust::default()).unwrap();
        assert_eq!(trusted.intervals.len(), 1 + 89);
        assert_eq!(trusted.intervals[0].starts_at(), at("2025-11-09T22:45:00Z"));
        assert_eq!(trusted.dropped, 3 + 4);
    }

    #[test]
    fn tomorrow_is_trusted_only_after_publication_and_nothing_past_the_horizon() {
        // The recent window as the coordinator asks for it: 18 Nov 00:00 to 22 Nov 00:00 Berlin.
        let window = ("2025-11-17T23:00:00Z", "2025-11-21T23:00:00Z");
        let tomorrow = quarters("2025-11-20T23:00:00Z", 96);
        let after_horizon = quarters("2025-11-21T23:00:00Z", 1);
        let mut answer = quarters(window.0, 3 * 96);
        answer.extend(tomorrow.iter().copied());
        answer.extend(after_horizon.iter().copied());

        let before = request(window.0, window.1, "2025-11-20T11:59:00Z"); // 12:59 Berlin
        let trusted_before = trusted(&before, answer.clone(), &Trust::default()).unwrap();
        assert_eq!(trusted_before.intervals.len(), 3 * 96);
        assert_eq!(trusted_before.dropped, 96 + 1);

        let after = request(window.0, window.1, "2025-11-20T12:00:00Z"); // 13:00 Berlin
        let trusted_after = trusted(&after, answer, &Trust::default()).unwrap();
        assert_eq!(trusted_after.intervals.len(), 4 * 96);
        assert!(trusted_after.intervals.ends_with(&tomorrow));
        assert_eq!(trusted_after.dropped, 1, "nothing past the horizon");

        let late = Trust {
            publish_hour: 14,
            ..Trust::default()
        };
        let after_13 = request(window.0, window.1, "2025-11-20T12:30:00Z");
        let answer = quarters(window.0, 4 * 96);
        assert_eq!(trusted(&after_13, answer, &late).unwrap().dropped, 96);
    }

    #[test]
    fn a_finnish_market_feed_gets_tomorrow_at_13_cet_not_13_helsinki() {
        let helsinki = chrono_tz::Europe::Helsinki;
        // 19 Nov 00:00 to 23 Nov 00:00 Helsinki; tomorrow is 21 Nov.
        let window = ("2025-11-18T22:00:00Z", "2025-11-22T22:00:00Z");
        let tomorrow = quarters("2025-11-20T22:00:00Z", 96);
        let mut answer = quarters(window.0, 2 * 96);
        answer.extend(tomorrow.iter().copied());
        let at_1330_helsinki = FetchRequest {
            market: Some(crate::upstream::Market::Fi),
            home: HomeInfo {
                id: "FI-EUR".into(),
                zone: helsinki,
                currency: "EUR".into(),
            },
            ..request(window.0, window.1, "2025-11-20T11:30:00Z") // 12:30 CET
        };
        let early = trusted(&at_1330_helsinki, answer.clone(), &Trust::default()).unwrap();
        assert_eq!(early.dropped, 96, "tomorrow before the auction's 13:00 CET");
        let after_auction = FetchRequest {
            now: at("2025-11-20T12:05:00Z"),
            ..at_1330_helsinki
        };
        let after = trusted(&after_auction, answer, &Trust::default()).unwrap();
        assert!(after.intervals.ends_with(&tomorrow));
    }

    #[test]
    fn identical_repeats_are_merged_and_different_prices_for_one_instant_are_malformed() {
        let request = request(DAY_START, DAY_END, MORNING);
        let mut answer = quarters(DAY_START, 96);
        answer.push(answer[40]);
        let trusted = trusted(&request, answer.clone(), &Trust::default()).unwrap();
        assert_eq!(trusted.intervals.len(), 96);

        answer.push(quarter(answer[7].starts_at(), 10.2583));
        let message = malformed(super::trusted(&request, answer, &Trust::default()));
        assert!(message.contains("two different prices"), "{message}");
        assert!(!message.contains("10.2583"), "{message}");
    }

    #[test]
    fn prices_outside_the_band_or_not_finite_are_malformed() {
        let request = request(DAY_START, DAY_END, MORNING);
        for price in [1e308, -268.3, f64::NAN, f64::INFINITY, 100.01] {
            let mut answer = quarters(DAY_START, 96);
            answer[50] = quarter(answer[50].starts_at(), price);
            malformed(trusted(&request, answer, &Trust::default()));
        }
        let mut answer = quarters(DAY_START, 96);
        answer[50] = quarter(answer[50].starts_at(), -99.0);
        assert!(trusted(&request, answer.clone(), &Trust::default()).is_ok());
        let narrow = Trust {
            price_band: 5.0,
            ..Trust::default()
        };
        malformed(trusted(&request, answer, &narrow));
    }

    #[test]
    fn more_intervals_than_the_range_can_hold_are_malformed() {
        let request = request(DAY_START, DAY_END, MORNING);
        assert!(trusted(&request, quarters(DAY_START, 97), &Trust::default()).is_ok());
        let message = malformed(trusted(
            &request,
            quarters(DAY_START, 98),
            &Trust::default(),
        ));
        assert!(message.contains("at most 97"), "{message}");
        // 100,000 intervals far from the asked day are not quietly dropped.
        malformed(trusted(
            &request,
            quarters("2026-01-01T00:00:00Z", 100_000),
            &Trust::default(),
        ));
    }

    #[test]
    fn a_part_of_the_recent_window_may_be_answered_with_the_whole_window() {
        // Asked for today only; the source answers the four recent days.
        let request = request(
            "2025-11-19T23:00:00Z",
            "2025-11-20T23:00:00Z",
            "2025-11-20T14:00:00Z",
        );
        let answer = quarters("2025-11-17T22:45:00Z", 4 * 96 + 1);
        let trusted = trusted(&request, answer, &Trust::default()).unwrap();
        assert_eq!(trusted.intervals.len(), 96 + 2);
        assert_eq!(trusted.dropped, 4 * 96 + 1 - 98);
    }
}
