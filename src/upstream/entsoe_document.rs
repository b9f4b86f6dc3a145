//! Reading ENTSO-E's answers to an A44 (day-ahead prices) request: the
//! `Publication_MarketDocument` with its `TimeSeries` and `Period`s, or the
//! `Acknowledgement_MarketDocument` the platform sends instead when it has
//! nothing (reason 999) or refuses the request.
//!
//! What real documents contain, and how each is read:
//! - `curveType` A01: one `Point` per slot. A03: a point is left out when
//!   it repeats the previous price, the period's last positions too; such a
//!   point's slot takes the previous point's price, up to the period's end.
//! - Several `TimeSeries` for one area (a second classification of the same
//!   day): the one at `classificationSequence` position 1 (the lowest) wins;
//!   a slot of another series is kept only where no better one overlaps it.
//! - A period's slot length is its own `resolution` (PT60M or PT15M): one
//!   document may hold both, one day may be split between both.
//! - A period spans its `timeInterval`: 23 or 25 hours on DST days.
//!
//! Pure: the bytes and the request in, intervals or a typed error out.
//! Error messages describe what is wrong in our words and never quote the
//! document.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDateTime, Utc};
use roxmltree::{Document, Node};

use super::error::UpstreamError;
use super::source::FetchRequest;
use crate::pool::{Interval, Resolution};

/// The namespace of publication documents, before its version (`7:0`, `7:3`).
const PUBLICATION_NS: &str = "urn:iec62325.351:tc57wg16:451-3:publicationdocument:";

/// The namespace of acknowledgement documents, before its version.
const ACKNOWLEDGEMENT_NS: &str = "urn:iec62325.351:tc57wg16:451-1:acknowledgementdocument:";

/// The acknowledgement reason "no matching data found".
const NO_DATA: &str = "999";

/// The most slots one period may span: a leap year of quarter-hours and a
/// DST hour's more. One call asks for at most a year.
const MAX_PERIOD_SLOTS: i64 = 366 * 96 + 4;

/// The intervals of an A44 answer for `request`: empty when the platform
/// acknowledges that it has no data (not published yet, or never).
pub fn parse(body: &[u8], request: &FetchRequest) -> Result<Vec<Interval>, UpstreamError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| malformed("the answer is not UTF-8 text".to_string()))?;
    let document = Document::parse(text).map_err(|e| {
        let at = e.pos();
        malformed(format!(
            "the answer is not well-formed XML (line {}, column {})",
            at.row, at.col
        ))
    })?;
    let root = document.root_element();
    let namespace = root.tag_name().namespace().unwrap_or("");
    match root.tag_name().name() {
        "Acknowledgement_MarketDocument" if namespace.starts_with(ACKNOWLEDGEMENT_NS) => {
            acknowledgement(root)
        }
        "Publication_MarketDocument" if namespace.starts_with(PUBLICATION_NS) => {
            publication(root, request)
        }
        _ => Err(malformed(
            "the answer is neither a publication nor an acknowledgement document of the expected namespace"
                .to_string(),
        )),
    }
}

/// Reason 999 is "no data" (an empty answer); a reason about the token is
/// an authentication failure; anything else is a request the platform
/// will refuse again.
fn acknowledgement(root: Node<'_, '_>) -> Result<Vec<Interval>, UpstreamError> {
    let reasons: Vec<Node<'_, '_>> = children(root, "Reason").collect();
    if reasons
        .iter()
        .any(|reason| text_of(*reason, "code") == Some(NO_DATA))
    {
        return Ok(Vec::new());
    }
    let about_token = reasons.iter().any(|reason| {
        text_of(*reason, "text").is_some_and(|text| {
            let text = text.to_ascii_lowercase();
            text.contains("token") || text.contains("unauthori")
        })
    });
    if about_token {
        return Err(UpstreamError::Auth(
            "the platform refused the security token".to_string(),
        ));
    }
    Err(malformed(
        "the platform acknowledged the request without data and without reason 999".to_string(),
    ))
}

/// One series' intervals and what ranks it against the others.
struct Series {
    /// `classificationSequence` position: lower wins.
    rank: u32,
    /// The finest resolution of its periods: finer wins among equal ranks.
    minutes: u8,
    intervals: Vec<Interval>,
}

fn publication(root: Node<'_, '_>, request: &FetchRequest) -> Result<Vec<Interval>, UpstreamError> {
    let mut all = Vec::new();
    for node in children(root, "TimeSeries") {
        all.push(series(node, request)?);
    }
    // Stable: among equal ranks and resolutions, document order decides.
    all.sort_by_key(|series| (series.rank, series.minutes));
    let mut kept: BTreeMap<DateTime<Utc>, Interval> = BTreeMap::new();
    for series in all {
        for interval in series.intervals {
            if !overlaps_kept(&kept, &interval) {
                kept.insert(interval.starts_at(), interval);
            }
        }
    }
    Ok(kept.into_values().collect())
}

/// Whether a kept interval shares any instant with `interval`.
fn overlaps_kept(kept: &BTreeMap<DateTime<Utc>, Interval>, interval: &Interval) -> bool {
    let before = kept
        .range(..=interval.starts_at())
        .next_back()
        .is_some_and(|(_, k)| k.ends_at() > interval.starts_at());
    let after = kept
        .range(interval.starts_at()..)
        .next()
        .is_some_and(|(start, _)| *start < interval.ends_at());
    before || after
}

fn series(node: Node<'_, '_>, request: &FetchRequest) -> Result<Series, UpstreamError> {
    if let (Some(market), Some(area)) = (request.market, text_of(node, "in_Domain.mRID"))
        && area != market.eic()
    {
        return Err(malformed(format!(
            "a time series is for another area than {market}"
        )));
    }
    if let Some(currency) = text_of(node, "currency_Unit.name")
        && currency != request.home.currency
    {
        return Err(malformed(format!(
            "a time series is priced in another currency than {}",
            request.home.currency
        )));
    }
    if text_of(node, "price_Measure_Unit.name").is_some_and(|unit| unit != "MWH") {
        return Err(malformed(
            "a time series is priced per another unit than MWh".to_string(),
        ));
    }
    let rank = match text_of(
        node,
        "classificationSequence_AttributeInstanceComponent.position",
    ) {
        None => 1,
        Some(text) => text.parse::<u32>().map_err(|_| {
            malformed("a classificationSequence position is not a number".to_string())
        })?,
    };
    let curve = match text_of(node, "curveType") {
        None | Some("A01") => Curve::Points,
        Some("A03") => Curve::Blocks,
        Some(_) => return Err(malformed("a curveType other than A01 or A03".to_string())),
    };
    let mut intervals = Vec::new();
    let mut minutes = u8::MAX;
    for period in children(node, "Period") {
        let (resolution, slots) = period_slots(period, curve)?;
        minutes = minutes.min(resolution.minutes());
        intervals.extend(slots);
    }
    Ok(Series {
        rank,
        minutes,
        intervals,
    })
}

/// How a period's points map onto its slots.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Curve {
    /// A01: a point per slot; a slot without a point has no price.
    Points,
    /// A03: a point holds until the next one (or the period's end).
    Blocks,
}

/// A period's resolution and its priced slots.
fn period_slots(
    period: Node<'_, '_>,
    curve: Curve,
) -> Result<(Resolution, Vec<Interval>), UpstreamError> {
    let interval = child(period, "timeInterval")
        .ok_or_else(|| malformed("a period without timeInterval".to_string()))?;
    let start = instant(text_of(interval, "start"))?;
    let end = instant(text_of(interval, "end"))?;
    let resolution = match text_of(period, "resolution") {
        Some("PT15M") => Resolution::QuarterHour,
        Some("PT60M" | "PT1H") => Resolution::Hour,
        _ => {
            return Err(malformed(
                "a period's resolution is neither PT15M nor PT60M".to_string(),
            ));
        }
    };
    let step = resolution.seconds();
    let span = (end - start).num_seconds();
    if start.timestamp().rem_euclid(900) != 0
        || span <= 0
        || span % step != 0
        || span / step > MAX_PERIOD_SLOTS
    {
        return Err(malformed(format!(
            "a period from {} to {} is not a whole number of {}-minute slots on the quarter-hour grid",
            start.to_rfc3339(),
            end.to_rfc3339(),
            resolution.minutes()
        )));
    }
    let slots = span / step;
    let points = points(period, slots)?;
    let slot = |position: i64, mwh: f64| {
        Interval::new(
            start + chrono::Duration::seconds((position - 1) * step),
            resolution,
            mwh / 1000.0,
            mwh / 1000.0,
            0.0,
            None,
        )
    };
    let mut out = Vec::with_capacity(usize::try_from(slots).unwrap_or(0));
    for (index, &(position, mwh)) in points.iter().enumerate() {
        let until = match curve {
            Curve::Points => position,
            Curve::Blocks => points.get(index + 1).map_or(slots, |next| next.0 - 1),
        };
        out.extend((position..=until).map(|p| slot(p, mwh)));
    }
    Ok((resolution, out))
}

/// A period's points `(position, price per MWh)`, sorted by position, each
/// position once and inside `1..=slots`.
fn points(period: Node<'_, '_>, slots: i64) -> Result<Vec<(i64, f64)>, UpstreamError> {
    let mut points = Vec::new();
    for point in children(period, "Point") {
        let position = text_of(point, "position")
            .and_then(|text| text.parse::<i64>().ok())
            .ok_or_else(|| malformed("a point without a numeric position".to_string()))?;
        if !(1..=slots).contains(&position) {
            return Err(malformed(format!(
                "point position {position} lies outside its period's {slots} slots"
            )));
        }
        let mwh = text_of(point, "price.amount")
            .and_then(|text| text.parse::<f64>().ok())
            .filter(|price| price.is_finite())
            .ok_or_else(|| malformed(format!("the price of point {position} is not a number")))?;
        points.push((position, mwh));
    }
    points.sort_by_key(|(position, _)| *position);
    if points.windows(2).any(|pair| pair[0].0 == pair[1].0) {
        return Err(malformed("a period names one position twice".to_string()));
    }
    Ok(points)
}

/// An instant as ENTSO-E writes it: `2025-10-25T22:00Z` (no seconds), or
/// full RFC 3339.
fn instant(text: Option<&str>) -> Result<DateTime<Utc>, UpstreamError> {
    let text = text.ok_or_else(|| malformed("a timeInterval without start or end".to_string()))?;
    if let Ok(instant) = DateTime::parse_from_rfc3339(text) {
        return Ok(instant.to_utc());
    }
    NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%MZ")
        .map(|naive| naive.and_utc())
        .map_err(|_| malformed("a timeInterval bound is not an instant".to_string()))
}

fn children<'a, 'input>(
    node: Node<'a, 'input>,
    name: &'static str,
) -> impl Iterator<Item = Node<'a, 'input>> {
    node.children()
        .filter(move |child| child.is_element() && child.tag_name().name() == name)
}

fn child<'a, 'input>(node: Node<'a, 'input>, name: &'static str) -> Option<Node<'a, 'input>> {
    children(node, name).next()
}

/// The trimmed text of `node`'s first child element called `name`.
fn text_of<'a>(node: Node<'a, '_>, name: &'static str) -> Option<&'a str> {
    child(node, name).and_then(|c| c.text()).map(str::trim)
}

fn malformed(message: String) -> UpstreamError {
    UpstreamError::Malformed(format!("entso-e: {message}"))
}

#[cfg(test)]
#[path = "entsoe_document_tests.rs"]
mod tests;
