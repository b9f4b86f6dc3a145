//! `/intervals` bodies over whole local days, assembled from day chunks.
//!
//! The range endpoints are polled per home as several views over the same
//! days: a scheduler's two days (today and tomorrow) and a dashboard's
//! `date=today` carry the same interval objects for today, byte for byte.
//! Kept as whole bodies they took the render cache ~40 KB a home, and at
//! 10,000 homes about half of them did not fit (BENCHMARKS.md, fourth
//! round). So a body whose range starts and ends at local midnights is
//! sent as parts: a head (`{"home_id":…,"intervals":[`), each day's
//! interval objects (a chunk kept once per home, local day and pool
//! revision in the [`RenderCache`](super::render_cache::RenderCache),
//! under its budget), commas between them, and the tail
//! (`],"complete":true}`). The parts concatenated are exactly the body
//! [`IntervalsJson::render`] writes; the `ETag` combines the parts'
//! hashes (`caching::PartsHasher`), so unchanged content keeps its `ETag`
//! and a changed byte in any part changes it.
//!
//! Only complete answers are assembled: an incomplete one (its reason,
//! retry time and gaps in the tail) is handed back to be rendered whole.

use std::sync::LazyLock;

use axum::body::Bytes;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::caching::{EtagText, PartsHasher, body_hash};
use super::parts_body::PartsBody;
use super::problem::ApiError;
use super::query::ResolvedRange;
use super::render::{IntervalsJson, write_intervals_objects};
use super::render_cache::{Chunk, RenderCache, Rendered, count};
use super::state::ApiState;
use crate::pool::days::{local_date, local_midnight};
use crate::pool::{HomeInfo, Interval};
use crate::upstream::{Answer, Home};

/// The longest range assembled from chunks, in local days; a longer one
/// is rendered whole (rare, and hyper writes at most 16 parts at once).
pub(crate) const MAX_DAYS: usize = 7;

/// A local day as UTC instants: `[start, end)`.
pub(crate) type Day = (DateTime<Utc>, DateTime<Utc>);

/// The local days of `zone` that make up `[start, end)` when it starts and
/// ends at local midnights and spans 1 to [`MAX_DAYS`] days; else None.
pub(crate) fn local_days(zone: Tz, start: DateTime<Utc>, end: DateTime<Utc>) -> Option<Vec<Day>> {
    let mut date = local_date(zone, start);
    if local_midnight(zone, date) != start || end <= start {
        return None;
    }
    let mut days = Vec::with_capacity(2);
    let mut day_start = start;
    while day_start < end && days.len() < MAX_DAYS {
        date = date.succ_opt()?;
        let day_end = local_midnight(zone, date);
        days.push((day_start, day_end));
        day_start = day_end;
    }
    (day_start == end).then_some(days)
}

/// What [`serve`] made of a request.
pub(crate) enum Served {
    /// The body as parts, with its `ETag`.
    Body(PartsBody, EtagText),
    /// The answer was incomplete: render it whole (nothing was kept).
    Incomplete(Answer),
}

/// The `/intervals` body of `home` over `range`, made of `days` (from
/// [`local_days`]), when the cache found no assembly of it
/// ([`RenderCache::find`](super::render_cache::RenderCache::find)): from
/// the kept chunks when every day's is kept at the pool's revision (a hit,
/// as nothing is rendered), else asks the home and renders the chunks that
/// were not kept, keeping them. Keeps the assembly, so the next request
/// for this range costs one lookup. Counted once in
/// `pricepool_render_cache_requests_total`.
pub(crate) async fn serve(
    state: &ApiState,
    home: &Home,
    info: &HomeInfo,
    range: &ResolvedRange,
    days: &[Day],
) -> Result<Served, ApiError> {
    let cache = &state.render_cache;
    let revision = home.revision();
    let mut kept: Vec<Option<Chunk>> = days
        .iter()
        .map(|&day| cache.lookup_chunk(info, day, revision))
        .collect();
    if kept.iter().all(Option::is_some) {
        count(true);
        home.record_reuse();
        let chunks = kept
            .iter()
            .flatten()
            .map(|chunk| chunk.rendered().clone())
            .collect();
        return Ok(served(cache, info, range, Some(revision), &kept, chunks));
    }
    count(false);
    let answer = home.intervals(range.start, range.end).await?;
    if !answer.is_complete() {
        return Ok(Served::Incomplete(answer));
    }
    let kept_at = answer.revision();
    if kept_at != Some(revision) {
        // The pool changed since the lookups: those chunks are not this
        // answer's. Without a revision nothing is kept.
        kept.iter_mut().for_each(|chunk| *chunk = None);
    }
    let mut chunks = Vec::with_capacity(days.len());
    for (chunk, &day) in kept.iter().zip(days) {
        let rendered = match chunk {
            Some(chunk) => chunk.rendered().clone(),
            None => render_day(&answer.intervals, day, info.zone),
        };
        chunks.push(rendered);
    }
    if let Some(revision) = kept_at {
        for ((chunk, &day), rendered) in kept.iter_mut().zip(days).zip(&chunks) {
            chunk.get_or_insert_with(|| cache.keep_chunk(info, day, revision, rendered));
        }
    }
    Ok(served(cache, info, range, kept_at, &kept, chunks))
}

/// The body made of `chunks`, its assembly kept when every chunk is kept
/// at `revision`.
fn served(
    cache: &RenderCache,
    info: &HomeInfo,
    range: &ResolvedRange,
    revision: Option<u64>,
    kept: &[Option<Chunk>],
    chunks: Vec<Rendered>,
) -> Served {
    let (head, hash) = head_and_hash(info, range, &chunks);
    if let Some(revision) = revision
        && let Some(kept) = kept.iter().cloned().collect::<Option<Vec<Chunk>>>()
    {
        let span = (range.start, range.end);
        cache.keep_assembly(info, span, revision, head.clone(), &kept, hash);
    }
    Served::Body(body_of(head, chunks), EtagText::of(hash))
}

/// The chunk of `day`: the objects of the `intervals` (in order) that
/// start in it.
fn render_day(intervals: &[Interval], (start, end): Day, zone: Tz) -> Rendered {
    let from = intervals.partition_point(|interval| interval.starts_at() < start);
    let to = intervals.partition_point(|interval| interval.starts_at() < end);
    let of_day = &intervals[from..to.max(from)];
    let mut bytes = Vec::with_capacity(of_day.len() * 144);
    write_intervals_objects(&mut bytes, of_day, zone);
    // Kept chunks hold exactly their bytes.
    bytes.shrink_to_fit();
    Rendered::new(bytes)
}

/// The `/intervals` body of a complete answer over `range` (head and
/// tail) around no intervals: the chunks go between (and the handler's
/// answer, complete or not, fills in the rest).
pub(crate) fn frame<'a>(info: &'a HomeInfo, range: &ResolvedRange) -> IntervalsJson<'a> {
    IntervalsJson {
        home_id: &info.id,
        currency: &info.currency,
        zone: info.zone,
        start: range.start,
        end: range.end,
        intervals: &[],
        complete: true,
        reason: None,
        retry_at: None,
        missing: None,
    }
}

/// A part written once, with its hash: the tail of every complete body
/// (it names no home, instant or zone), and the comma between two chunks.
struct StaticPart {
    bytes: Bytes,
    hash: u64,
}

impl StaticPart {
    fn new(bytes: Vec<u8>) -> StaticPart {
        StaticPart {
            hash: body_hash(&bytes),
            bytes: Bytes::from(bytes),
        }
    }
}

static TAIL: LazyLock<StaticPart> = LazyLock::new(|| {
    let info = HomeInfo {
        id: String::new(),
        zone: Tz::UTC,
        currency: String::new(),
    };
    let mut tail = Vec::new();
    frame(
        &info,
        &ResolvedRange {
            start: DateTime::UNIX_EPOCH,
            end: DateTime::UNIX_EPOCH,
            moves_at: None,
        },
    )
    .write_tail(&mut tail);
    StaticPart::new(tail)
});

static COMMA: LazyLock<StaticPart> = LazyLock::new(|| StaticPart::new(b",".to_vec()));

/// The head of the body over `range`, and the hash of the whole: the
/// head, the non-empty `chunks` with commas between, the tail (its `ETag`).
fn head_and_hash<'a>(
    info: &HomeInfo,
    range: &ResolvedRange,
    chunks: impl IntoIterator<Item = &'a Rendered>,
) -> (Bytes, u64) {
    let mut head = Vec::with_capacity(160);
    frame(info, range).write_head(&mut head);
    let mut hashes = PartsHasher::default();
    hashes.push(body_hash(&head));
    let mut first = true;
    for chunk in chunks.into_iter().filter(|chunk| !chunk.body.is_empty()) {
        if !first {
            hashes.push(COMMA.hash);
        }
        first = false;
        hashes.push(chunk.hash);
    }
    hashes.push(TAIL.hash);
    (Bytes::from(head), hashes.finish())
}

/// The body: `head`, the non-empty `chunks` with commas between, the tail.
pub(crate) fn body_of(head: Bytes, chunks: impl IntoIterator<Item = Rendered>) -> PartsBody {
    let mut body = PartsBody::with_capacity(2 + 2 * MAX_DAYS);
    body.push(head);
    let mut first = true;
    for chunk in chunks.into_iter().filter(|chunk| !chunk.body.is_empty()) {
        if !first {
            body.push(COMMA.bytes.clone());
        }
        first = false;
        body.push(chunk.body);
    }
    body.push(TAIL.bytes.clone());
    body
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pool::days::local_day;
    use crate::store::fixtures;
    use chrono::{NaiveDate, TimeDelta};

    fn range(start: DateTime<Utc>, end: DateTime<Utc>) -> ResolvedRange {
        ResolvedRange {
            start,
            end,
            moves_at: None,
        }
    }

    /// The body of `intervals` over `range` as `serve` assembles it from
    /// day chunks, concatenated, and its `ETag`.
    fn chunked(info: &HomeInfo, range: &ResolvedRange, intervals: &[Interval]) -> (String, String) {
        let days = local_days(info.zone, range.start, range.end).expect("whole local days");
        let chunks: Vec<Rendered> = days
            .iter()
            .map(|&day| render_day(intervals, day, info.zone))
            .collect();
        let (head, hash) = head_and_hash(info, range, &chunks);
        let body = body_of(head, chunks);
        (
            String::from_utf8(body.concatenated()).unwrap(),
            EtagText::of(hash).as_str().to_owned(),
        )
    }

    fn serde_body(info: &HomeInfo, range: &ResolvedRange, intervals: &[Interval]) -> String {
        let of_range: Vec<Interval> = intervals
            .iter()
            .filter(|interval| {
                range.start <= interval.starts_at() && interval.starts_at() < range.end
            })
            .copied()
            .collect();
        let json = IntervalsJson {
            intervals: &of_range,
            ..frame(info, range)
        };
        String::from_utf8(json.render_with_serde()).unwrap()
    }

    #[test]
    fn bodies_from_day_chunks_are_byte_for_byte_what_serde_renders() {
        // Fall-back (25 h) and spring-forward (23 h) days, a half-hour
        // switch, a negative offset, and UTC.
        let cases = [
            ("Europe/Berlin", (2025, 10, 25)),
            ("Europe/Berlin", (2026, 3, 28)),
            ("Australia/Lord_Howe", (2025, 10, 4)),
            ("America/St_Johns", (2025, 11, 1)),
            ("UTC", (2025, 11, 20)),
        ];
        for (zone_name, (y, m, d)) in cases {
            let zone: Tz = zone_name.parse().unwrap();
            let first = NaiveDate::from_ymd_opt(y, m, d).unwrap();
            let start = local_midnight(zone, first);
            let info = HomeInfo {
                zone,
                ..fixtures::home("home \"quoted\" \u{e9}")
            };
            let mut intervals = fixtures::quarter_hours(start, 4 * 96, 3);
            intervals[5].level = None;
            intervals[6].total = -0.0;
            for days in 1..=3 {
                let end = local_midnight(zone, first + TimeDelta::days(days));
                let range = range(start, end);
                assert_eq!(
                    chunked(&info, &range, &intervals).0,
                    serde_body(&info, &range, &intervals),
                    "{zone_name} from {first}, {days} days"
                );
            }
            // A day without intervals between two with: no stray comma.
            let second = local_day(zone, first + TimeDelta::days(1));
            let holed: Vec<Interval> = intervals
                .iter()
                .filter(|interval| {
                    !(second.0 <= interval.starts_at() && interval.starts_at() < second.1)
                })
                .copied()
                .collect();
            let three = range(start, local_midnight(zone, first + TimeDelta::days(3)));
            assert_eq!(
                chunked(&info, &three, &holed).0,
                serde_body(&info, &three, &holed),
                "{zone_name}: empty middle day"
            );
            let only_second = range(second.0, second.1);
            assert_eq!(
                chunked(&info, &only_second, &holed).0,
                serde_body(&info, &only_second, &holed)
            );
        }
    }

    #[test]
    fn the_etag_of_a_chunked_body_is_stable_and_changes_with_any_byte() {
        let info = fixtures::home("a");
        let start = fixtures::day_start();
        let two_days = range(
            start,
            local_midnight(info.zone, NaiveDate::from_ymd_opt(2025, 10, 28).unwrap()),
        );
        let intervals = fixtures::quarter_hours(start, 2 * 96 + 4, 1);
        let (body, etag) = chunked(&info, &two_days, &intervals);
        assert_eq!(chunked(&info, &two_days, &intervals), (body, etag.clone()));

        // One price of the second day, one level of the first, the home's id.
        let mut price = intervals.clone();
        price[150].total += 0.0001;
        let mut level = intervals.clone();
        level[3].level = None;
        let other_home = fixtures::home("b");
        for (what, (_, changed)) in [
            ("a price", chunked(&info, &two_days, &price)),
            ("a level", chunked(&info, &two_days, &level)),
            ("the home", chunked(&other_home, &two_days, &intervals)),
        ] {
            assert_ne!(changed, etag, "{what} changed");
        }
        // The first day alone is another body.
        let first_day = range(start, two_days.start + TimeDelta::hours(25));
        assert_ne!(chunked(&info, &first_day, &intervals).1, etag);
    }

    #[test]
    fn ranges_of_whole_local_days_and_only_those_are_split_into_days() {
        let zone = chrono_tz::Europe::Berlin;
        let date = |day| NaiveDate::from_ymd_opt(2025, 10, day).unwrap();
        let midnight = |day| local_midnight(zone, date(day));
        // 26 October has 25 hours.
        assert_eq!(
            local_days(zone, midnight(26), midnight(28)),
            Some(vec![
                (midnight(26), midnight(27)),
                (midnight(27), midnight(28))
            ])
        );
        assert_eq!(midnight(27) - midnight(26), TimeDelta::hours(25));
        assert_eq!(
            local_days(zone, midnight(1), midnight(8)).map(|days| days.len()),
            Some(MAX_DAYS)
        );
        let hour = TimeDelta::hours(1);
        for (start, end) in [
            (midnight(1), midnight(9)),
            (midnight(26) + hour, midnight(27)),
            (midnight(26), midnight(27) - hour),
            (midnight(26), midnight(26)),
            (midnight(27), midnight(26)),
        ] {
            assert_eq!(local_days(zone, start, end), None, "{start} to {end}");
        }
    }
}
