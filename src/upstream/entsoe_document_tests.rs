//! `parse` against documents shaped like the platform's: the samples in
//! `tests/data/entsoe/` and documents written here per case.

use chrono::Duration;
use chrono_tz::Tz;
use proptest::prelude::*;

use super::*;
use crate::pool::HomeInfo;
use crate::upstream::UpstreamErrorKind;
use crate::upstream::market::Market;

const DE_LU: &str = "10Y1001A1001A82H";

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().to_utc()
}

fn request(market: Market) -> FetchRequest {
    FetchRequest {
        home: HomeInfo {
            id: format!("{}-EUR", market.name()),
            zone: market.zone(),
            currency: "EUR".into(),
        },
        market: Some(market),
        start: at("2020-01-01T00:00:00Z"),
        end: at("2030-01-01T00:00:00Z"),
        now: at("2026-11-30T12:00:00Z"),
        deadline: tokio::time::Instant::now(),
        quarter_hourly_from: crate::pool::EUROPE_QUARTER_HOURLY_FROM,
    }
}

/// One period as the platform writes it; `points` are `(position, price)`.
fn period(start: &str, end: &str, resolution: &str, points: &[(i64, f64)]) -> String {
    let points: String = points
        .iter()
        .map(|(p, price)| {
            format!("<Point><position>{p}</position><price.amount>{price}</price.amount></Point>")
        })
        .collect();
    format!(
        "<Period><timeInterval><start>{start}</start><end>{end}</end></timeInterval>\
         <resolution>{resolution}</resolution>{points}</Period>"
    )
}

fn series(rank: u32, curve: &str, periods: &[String]) -> String {
    format!(
        "<TimeSeries><mRID>1</mRID><businessType>A62</businessType>\
         <in_Domain.mRID codingScheme=\"A01\">{DE_LU}</in_Domain.mRID>\
         <out_Domain.mRID codingScheme=\"A01\">{DE_LU}</out_Domain.mRID>\
         <currency_Unit.name>EUR</currency_Unit.name><price_Measure_Unit.name>MWH</price_Measure_Unit.name>\
         <classificationSequence_AttributeInstanceComponent.position>{rank}</classificationSequence_AttributeInstanceComponent.position>\
         <curveType>{curve}</curveType>{}</TimeSeries>",
        periods.concat()
    )
}

fn document(series: &[String]) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\
         <Publication_MarketDocument xmlns=\"urn:iec62325.351:tc57wg16:451-3:publicationdocument:7:3\">\
         <mRID>x</mRID><type>A44</type>{}</Publication_MarketDocument>",
        series.concat()
    )
}

fn parse_de(doc: &str) -> Result<Vec<Interval>, UpstreamError> {
    parse(doc.as_bytes(), &request(Market::DeLu))
}

fn totals(intervals: &[Interval]) -> Vec<f64> {
    intervals.iter().map(|i| i.total).collect()
}

#[test]
fn an_a03_fall_back_day_has_25_hours_with_omitted_repeats_carried_forward() {
    let doc = include_str!("../../tests/data/entsoe/de_lu_a03_fall_back_2024-10-27.xml");
    let intervals = parse_de(doc).unwrap();
    assert_eq!(
        intervals.len(),
        25,
        "positions 3, 6, 7, 24 and 25 are omitted"
    );
    assert_eq!(intervals[0].starts_at(), at("2024-10-26T22:00:00Z"));
    assert_eq!(intervals[24].starts_at(), at("2024-10-27T22:00:00Z"));
    assert!(intervals.iter().all(|i| i.resolution == Resolution::Hour));
    // Omitted position 3 repeats position 2; 6 and 7 repeat 5; the trailing 24, 25 repeat 23.
    assert_eq!(intervals[2].total, intervals[1].total);
    assert_eq!(intervals[6].total, 75.2 / 1000.0);
    assert_eq!(intervals[24].total, 91.2 / 1000.0);
    let first = intervals[0];
    assert_eq!((first.energy, first.tax, first.level), (0.08807, 0.0, None));
}

#[test]
fn a_999_acknowledgement_is_an_empty_answer() {
    let doc = include_str!("../../tests/data/entsoe/acknowledgement_999.xml");
    assert_eq!(parse_de(doc), Ok(Vec::new()));
}

#[test]
fn an_acknowledgement_about_the_token_is_an_auth_failure_and_others_are_malformed() {
    let ack = |code: &str, text: &str| {
        format!(
            "<Acknowledgement_MarketDocument xmlns=\"urn:iec62325.351:tc57wg16:451-1:acknowledgementdocument:7:0\">\
             <Reason><code>{code}</code><text>{text}</text></Reason></Acknowledgement_MarketDocument>"
        )
    };
    let auth = parse_de(&ack("A01", "Invalid security token")).unwrap_err();
    assert_eq!(auth.kind(), UpstreamErrorKind::Auth);
    let other = parse_de(&ack("A01", "Too many")).unwrap_err();
    assert_eq!(other.kind(), UpstreamErrorKind::Malformed);
}

#[test]
fn a01_slots_without_a_point_are_missing_not_priced() {
    let doc = document(&[series(
        1,
        "A01",
        &[period(
            "2026-01-14T23:00Z",
            "2026-01-15T00:00Z",
            "PT15M",
            &[(1, 10.0), (2, 20.0), (4, 40.0)],
        )],
    )]);
    let intervals = parse_de(&doc).unwrap();
    assert_eq!(totals(&intervals), vec![0.01, 0.02, 0.04]);
    assert_eq!(intervals[2].starts_at(), at("2026-01-14T23:45:00Z"));
}

#[test]
fn the_position_1_series_wins_wherever_it_has_a_slot() {
    // The position-2 series comes first in the document and prices the
    // whole hour; position 1 prices the first three quarters only.
    let hour = ("2026-01-14T23:00Z", "2026-01-15T00:00Z");
    let second = series(
        2,
        "A01",
        &[period(
            hour.0,
            hour.1,
            "PT15M",
            &[(1, 900.0), (2, 900.0), (3, 900.0), (4, 900.0)],
        )],
    );
    let first = series(
        1,
        "A01",
        &[period(
            hour.0,
            hour.1,
            "PT15M",
            &[(1, 1.0), (2, 2.0), (3, 3.0)],
        )],
    );
    let intervals = parse_de(&document(&[second, first])).unwrap();
    assert_eq!(totals(&intervals), vec![0.001, 0.002, 0.003, 0.9]);
}

#[test]
fn a_day_split_between_pt60m_and_pt15m_periods_has_no_false_gaps() {
    let doc = document(&[series(
        1,
        "A03",
        &[
            period(
                "2025-09-30T22:00Z",
                "2025-10-01T10:00Z",
                "PT60M",
                &[(1, 50.0)],
            ),
            period(
                "2025-10-01T10:00Z",
                "2025-10-01T22:00Z",
                "PT15M",
                &[(1, 60.0), (48, 61.0)],
            ),
        ],
    )]);
    let intervals = parse_de(&doc).unwrap();
    assert_eq!(intervals.len(), 12 + 48);
    for pair in intervals.windows(2) {
        assert_eq!(pair[0].ends_at(), pair[1].starts_at(), "no gap, no overlap");
    }
    assert_eq!(intervals[11].resolution, Resolution::Hour);
    assert_eq!(intervals[12].resolution, Resolution::QuarterHour);
    assert_eq!(intervals.last().unwrap().total, 0.061);
}

#[test]
fn an_hourly_and_a_quarter_hourly_series_of_one_rank_keep_the_quarter_hours() {
    let day = ("2025-10-01T22:00Z", "2025-10-02T22:00Z");
    let hourly = series(1, "A03", &[period(day.0, day.1, "PT60M", &[(1, 70.0)])]);
    let quarters = series(1, "A03", &[period(day.0, day.1, "PT15M", &[(1, 71.0)])]);
    let intervals = parse_de(&document(&[hourly, quarters])).unwrap();
    assert_eq!(intervals.len(), 96);
    assert!(intervals.iter().all(|i| i.total == 0.071));
}

#[test]
fn dst_days_have_92_and_100_quarter_hours_in_de_lu_and_fi() {
    for (market, spring, fall) in [
        (
            Market::DeLu,
            ("2026-03-28T23:00Z", "2026-03-29T22:00Z"),
            ("2025-10-25T22:00Z", "2025-10-26T23:00Z"),
        ),
        (
            Market::Fi,
            ("2026-03-28T22:00Z", "2026-03-29T21:00Z"),
            ("2025-10-25T21:00Z", "2025-10-26T22:00Z"),
        ),
    ] {
        let doc = |(start, end): (&str, &str)| {
            document(&[series(
                1,
                "A03",
                &[period(start, end, "PT15M", &[(1, 5.0), (3, 6.0)])],
            )])
            .replace(DE_LU, market.eic())
        };
        let count = |bounds| {
            parse(doc(bounds).as_bytes(), &request(market))
                .unwrap()
                .len()
        };
        assert_eq!(count(spring), 92, "{market} spring forward");
        assert_eq!(count(fall), 100, "{market} fall back");
    }
}

#[test]
fn broken_documents_are_malformed_never_a_panic() {
    let good = document(&[series(
        1,
        "A03",
        &[period(
            "2026-01-14T23:00Z",
            "2026-01-15T00:00Z",
            "PT15M",
            &[(1, 1.0)],
        )],
    )]);
    let cases: Vec<(&str, String)> = vec![
        ("truncated", good[..good.len() / 2].to_string()),
        (
            "wrong namespace",
            good.replace("publicationdocument:7:3", "elsewhere"),
        ),
        (
            "non-numeric price",
            good.replace(
                "<price.amount>1</price.amount>",
                "<price.amount>n/a</price.amount>",
            ),
        ),
        (
            "position out of range",
            good.replace("<position>1</position>", "<position>5</position>"),
        ),
        (
            "position zero",
            good.replace("<position>1</position>", "<position>0</position>"),
        ),
        (
            "negative span",
            good.replace("2026-01-15T00:00Z", "2026-01-14T22:00Z"),
        ),
        ("unknown resolution", good.replace("PT15M", "PT30M")),
        (
            "off the grid",
            good.replace("2026-01-14T23:00Z", "2026-01-14T23:07Z"),
        ),
        ("another area", good.replace(DE_LU, "10YAT-APG------L")),
        ("another currency", good.replace(">EUR<", ">SEK<")),
        ("unknown curve", good.replace("A03", "A99")),
        (
            "infinite price",
            good.replace(
                "<price.amount>1</price.amount>",
                "<price.amount>inf</price.amount>",
            ),
        ),
        ("html", "<html><body>Unauthorized</body></html>".to_string()),
        (
            "not utf-8",
            String::from_utf8_lossy(&[0xff, 0xfe]).into_owned(),
        ),
        ("empty", String::new()),
    ];
    for (case, doc) in cases {
        let error = parse_de(&doc).expect_err(case);
        assert_eq!(
            error.kind(),
            UpstreamErrorKind::Malformed,
            "{case}: {error}"
        );
    }
    assert_eq!(
        parse(&[0xff, 0xfe, 0x00], &request(Market::DeLu))
            .unwrap_err()
            .kind(),
        UpstreamErrorKind::Malformed
    );
}

/// A generated day: its zone-local bounds, resolution and one price per slot.
#[derive(Debug, Clone)]
struct Day {
    zone: Tz,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    resolution: Resolution,
    prices: Vec<f64>,
    /// Which slots' points the A03 document omits when it may.
    omit: Vec<bool>,
}

fn day() -> impl Strategy<Value = Day> {
    let dates = prop::sample::select(vec![
        chrono::NaiveDate::from_ymd_opt(2025, 10, 26).unwrap(),
        chrono::NaiveDate::from_ymd_opt(2026, 3, 29).unwrap(),
        chrono::NaiveDate::from_ymd_opt(2026, 1, 14).unwrap(),
    ]);
    let zones = prop::sample::select(vec![chrono_tz::Europe::Berlin, chrono_tz::Europe::Helsinki]);
    let resolutions = prop::sample::select(vec![Resolution::Hour, Resolution::QuarterHour]);
    (dates, zones, resolutions).prop_flat_map(|(date, zone, resolution)| {
        let (start, end) = crate::pool::days::local_day(zone, date);
        let slots = ((end - start).num_seconds() / resolution.seconds()) as usize;
        // Few distinct prices, so repeats (and omissions) are common.
        let prices =
            prop::collection::vec(prop::sample::select(vec![-5.5, 0.0, 42.0, 99.9]), slots);
        let omit = prop::collection::vec(any::<bool>(), slots);
        (prices, omit).prop_map(move |(prices, omit)| Day {
            zone,
            start,
            end,
            resolution,
            prices,
            omit,
        })
    })
}

proptest! {
    /// Any A03 document (points omitted where they repeat the previous
    /// price, at random, trailing ones too) reads as the naive expansion:
    /// one interval per slot of the period, at that slot's price.
    #[test]
    fn a03_documents_read_as_the_naive_expansion(day in day()) {
        let minute = |t: DateTime<Utc>| t.format("%Y-%m-%dT%H:%MZ").to_string();
        let points: Vec<(i64, f64)> = day
            .prices
            .iter()
            .enumerate()
            .filter(|&(i, price)| i == 0 || !(day.omit[i] && day.prices[i - 1] == *price))
            .map(|(i, price)| (i as i64 + 1, *price))
            .collect();
        let resolution = if day.resolution == Resolution::Hour { "PT60M" } else { "PT15M" };
        let doc = document(&[series(1, "A03", &[period(&minute(day.start), &minute(day.end), resolution, &points)])]);
        let market = if day.zone == chrono_tz::Europe::Berlin { Market::DeLu } else { Market::Fi };
        let doc = doc.replace(DE_LU, market.eic());
        let parsed = parse(doc.as_bytes(), &request(market)).unwrap();
        let naive: Vec<(DateTime<Utc>, f64)> = day
            .prices
            .iter()
            .enumerate()
            .map(|(i, price)| (day.start + Duration::seconds(i as i64 * day.resolution.seconds()), price / 1000.0))
            .collect();
        let got: Vec<(DateTime<Utc>, f64)> = parsed.iter().map(|i| (i.starts_at(), i.total)).collect();
        prop_assert_eq!(got, naive);
        prop_assert!(parsed.iter().all(|i| i.resolution == day.resolution));
        prop_assert_eq!(parsed.last().map(Interval::ends_at), Some(day.end));
    }
}
