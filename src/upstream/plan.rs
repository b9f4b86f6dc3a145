//! Call planning: the pure arithmetic of missing stretches. Which pieces of
//! a gap lie past the publication horizon, which are already asked for,
//! and the fewest calls that fetch the rest.

use chrono::{DateTime, Utc};

use crate::pool::{Gap, Interval, Pool};

/// A planned upstream call: the intervals starting in `[start, end)`.
pub(crate) type Call = (DateTime<Utc>, DateTime<Utc>);

/// Splits `gap` at `at` into the part before and the part from `at` on.
pub(crate) fn split_at(gap: Gap, at: DateTime<Utc>) -> (Option<Gap>, Option<Gap>) {
    if gap.end <= at {
        (Some(gap), None)
    } else if gap.start >= at {
        (None, Some(gap))
    } else {
        (Some(Gap { end: at, ..gap }), Some(Gap { start: at, ..gap }))
    }
}

/// Removes `[start, end)` from each piece; `on_removed` sees each removed part.
pub(crate) fn subtract(
    pieces: Vec<Gap>,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    mut on_removed: impl FnMut(Gap),
) -> Vec<Gap> {
    let mut out = Vec::with_capacity(pieces.len() + 1);
    for piece in pieces {
        if piece.end <= start || piece.start >= end {
            out.push(piece);
            continue;
        }
        on_removed(Gap {
            start: piece.start.max(start),
            end: piece.end.min(end),
            ..piece
        });
        if piece.start < start {
            out.push(Gap {
                end: start,
                ..piece
            });
        }
        if piece.end > end {
            out.push(Gap {
                start: end,
                ..piece
            });
        }
    }
    out
}

/// The fewest calls that fetch `gaps`: everything in the `recent` window
/// (which one call returns whole) is one call for the window; older gaps
/// are cut into pieces of at most one page (`page_intervals` intervals) and
/// merged with their neighbours while the merged range fits in one page.
/// A call is one page, so a long range costs several calls that each land
/// on their own: when a later one fails (a spent budget), the pages before
/// it are kept and the next request asks only for what is still missing.
pub(crate) fn plan_calls(gaps: &[Gap], recent: Call, page_intervals: usize) -> Vec<Call> {
    let (recent_start, recent_end) = recent;
    let page_intervals = i32::try_from(page_intervals.max(1)).unwrap_or(i32::MAX);
    let mut calls = Vec::new();
    let mut historical: Vec<Gap> = Vec::new();
    let mut wants_recent = false;
    for gap in gaps {
        if gap.end > recent_start {
            wants_recent = true;
        }
        if gap.start < recent_start {
            let page = gap.resolution.duration() * page_intervals;
            let mut start = gap.start;
            let end = gap.end.min(recent_start);
            while start < end {
                let piece_end = (start + page).min(end);
                historical.push(Gap {
                    start,
                    end: piece_end,
                    ..*gap
                });
                start = piece_end;
            }
        }
    }
    historical.sort_by_key(|gap| gap.start);
    let mut current: Option<Call> = None;
    for gap in historical {
        let page = gap.resolution.duration() * page_intervals;
        current = match current {
            Some((s, e)) if gap.end - s <= page => Some((s, e.max(gap.end))),
            Some(call) => {
                calls.push(call);
                Some((gap.start, gap.end))
            }
            None => Some((gap.start, gap.end)),
        };
    }
    calls.extend(current);
    if wants_recent {
        calls.push((recent_start, recent_end));
    }
    calls
}

/// Whether `intervals` (sorted, as [`collect_range`] returns them) cover
/// `[start, end)` back to back from `start` on: then no slot of the range
/// is missing and the pool would report no gap.
pub(crate) fn tiles(intervals: &[Interval], start: DateTime<Utc>, end: DateTime<Utc>) -> bool {
    let (Some(first), Some(last)) = (intervals.first(), intervals.last()) else {
        return false;
    };
    first.starts_at() == start
        && last.ends_at() >= end
        && intervals
            .windows(2)
            .all(|pair| pair[0].ends_at() == pair[1].starts_at())
}

/// The pool's intervals starting in `[start, end)`, in order.
pub(crate) fn collect_range(
    pool: &Pool,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Vec<Interval> {
    pool.range(start, end)
        .map(|it| it.copied().collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pool::Resolution;

    const PAGE: usize = 672;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    fn gap(start: &str, end: &str) -> Gap {
        Gap {
            start: at(start),
            end: at(end),
            resolution: Resolution::QuarterHour,
        }
    }

    fn recent() -> Call {
        // Berlin, now 2026-01-14T10:00Z: the day before yesterday to the end of tomorrow.
        (at("2026-01-11T23:00:00Z"), at("2026-01-15T23:00:00Z"))
    }

    #[test]
    fn gaps_in_the_recent_window_cost_one_call_for_the_whole_window() {
        let calls = plan_calls(
            &[
                gap("2026-01-12T05:00:00Z", "2026-01-12T06:00:00Z"),
                gap("2026-01-14T08:00:00Z", "2026-01-14T09:00:00Z"),
                gap("2026-01-15T00:00:00Z", "2026-01-15T23:00:00Z"),
            ],
            recent(),
            PAGE,
        );
        assert_eq!(calls, vec![recent()]);
    }

    #[test]
    fn neighbouring_historical_gaps_share_a_call_while_they_fit_in_a_page() {
        let calls = plan_calls(
            &[
                gap("2025-12-01T00:00:00Z", "2025-12-01T06:00:00Z"),
                gap("2025-12-03T00:00:00Z", "2025-12-04T00:00:00Z"),
                // Seven days of quarter-hours later: does not fit the first page.
                gap("2025-12-09T00:00:00Z", "2025-12-09T01:00:00Z"),
                // Straddles the recent window: its old part is history, the rest the window call.
                gap("2026-01-11T20:00:00Z", "2026-01-12T02:00:00Z"),
            ],
            recent(),
            PAGE,
        );
        assert_eq!(
            calls,
            vec![
                (at("2025-12-01T00:00:00Z"), at("2025-12-04T00:00:00Z")),
                (at("2025-12-09T00:00:00Z"), at("2025-12-09T01:00:00Z")),
                (at("2026-01-11T20:00:00Z"), at("2026-01-11T23:00:00Z")),
                recent(),
            ]
        );
    }

    #[test]
    fn a_history_gap_longer_than_a_page_is_one_call_per_page() {
        // Fourteen days of quarter-hours: 1,344 intervals, two pages and a bit of a third.
        let long = gap("2025-12-01T00:00:00Z", "2025-12-15T00:00:00Z");
        let calls = plan_calls(&[long], recent(), 600);
        let quarter = chrono::Duration::minutes(15);
        assert_eq!(
            calls,
            vec![
                (long.start, long.start + quarter * 600),
                (long.start + quarter * 600, long.start + quarter * 1200),
                (long.start + quarter * 1200, long.end),
            ]
        );
    }

    #[test]
    fn subtracting_a_range_keeps_both_sides_and_reports_the_middle() {
        let mut removed = Vec::new();
        let left = subtract(
            vec![gap("2026-01-01T00:00:00Z", "2026-01-01T10:00:00Z")],
            at("2026-01-01T02:00:00Z"),
            at("2026-01-01T03:00:00Z"),
            |g| removed.push(g),
        );
        assert_eq!(
            left,
            vec![
                gap("2026-01-01T00:00:00Z", "2026-01-01T02:00:00Z"),
                gap("2026-01-01T03:00:00Z", "2026-01-01T10:00:00Z"),
            ]
        );
        assert_eq!(
            removed,
            vec![gap("2026-01-01T02:00:00Z", "2026-01-01T03:00:00Z")]
        );
        let (before, after) = split_at(
            gap("2026-01-01T00:00:00Z", "2026-01-01T10:00:00Z"),
            at("2026-01-01T12:00:00Z"),
        );
        assert!(before.is_some() && after.is_none());
    }

    #[test]
    fn ranges_the_fast_path_calls_tiled_are_ranges_without_gaps() {
        // Three days from the fall-back day on, with a hole of 5 quarter-hours.
        let mut pool = crate::store::fixtures::pool("a", 3 * 96, 3);
        let all = collect_range(
            &pool,
            at("2025-01-01T00:00:00Z"),
            at("2030-01-01T00:00:00Z"),
        );
        let mut holed: Vec<Interval> = all.clone();
        holed.drain(130..135);
        pool = Pool::new(pool.home().clone(), pool.config().clone());
        pool.add(holed, all[0].starts_at(), all[0].starts_at())
            .unwrap();
        let first = all[0].starts_at();
        let quarter = chrono::Duration::minutes(15);
        let mut n_tiled = 0;
        for from in (0..300).step_by(7) {
            for length in [1, 4, 37, 96, 100, 192] {
                for offset in [0, 5] {
                    let start = first + quarter * from + chrono::Duration::minutes(offset);
                    let end = start + quarter * length;
                    let intervals = collect_range(&pool, start, end);
                    if tiles(&intervals, start, end) {
                        n_tiled += 1;
                        assert_eq!(pool.gaps(start, end).unwrap(), vec![], "{start}..{end}");
                    } else if offset == 0 && end <= all[all.len() - 1].ends_at() {
                        // On the grid and inside the cached days: only the hole can miss.
                        assert!(!pool.gaps(start, end).unwrap().is_empty(), "{start}..{end}");
                    }
                }
            }
        }
        assert!(
            n_tiled > 50,
            "the fast path should apply to most ranges, applied to {n_tiled}"
        );
    }
}
