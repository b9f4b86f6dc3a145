//! The evcc view: `/v1/homes/{home_id}/rates` parsed the way evcc's
//! `custom` tariff reads it (an array of start/end/value with RFC 3339 times).

use chrono::{DateTime, FixedOffset};
use reqwest::StatusCode;
use serde::Deserialize;

use crate::helpers::spawn_app;

/// evcc's `api.Rate`: exactly these fields; anything else would be ignored,
/// anything missing would fail its decoding.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Rate {
    start: DateTime<FixedOffset>,
    end: DateTime<FixedOffset>,
    value: f64,
}

#[tokio::test]
async fn rates_parse_as_evcc_reads_them_and_carry_the_total_price() {
    let app = spawn_app().await;
    let response = app.get("/v1/homes/demo/rates?date=today").await;
    assert_eq!(response.status(), StatusCode::OK);
    let rates: Vec<Rate> = response.json().await.expect("a bare array of rates");
    assert_eq!(rates.len(), 100);
    for pair in rates.windows(2) {
        assert_eq!(pair[0].end, pair[1].start, "rates tile the day");
    }
    let intervals = app
        .get_json("/v1/homes/demo/intervals?date=today", StatusCode::OK)
        .await;
    for (rate, interval) in rates.iter().zip(intervals["intervals"].as_array().unwrap()) {
        assert_eq!(Some(rate.value), interval["total"].as_f64());
        assert_eq!(
            rate.start.to_rfc3339(),
            interval["starts_at"].as_str().unwrap()
        );
    }
}

#[tokio::test]
async fn rates_without_a_range_start_at_the_current_interval() {
    let app = spawn_app().await;
    let rates: Vec<Rate> = app
        .get("/v1/homes/demo/rates")
        .await
        .json()
        .await
        .expect("a bare array of rates");
    assert_eq!(
        rates.first().map(|r| r.start.to_rfc3339()),
        Some("2025-10-26T10:00:00+01:00".to_string())
    );
}
