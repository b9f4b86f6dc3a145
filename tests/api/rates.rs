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

/// `/rates` twice, so the second is the kept rendering; its body and `ETag`.
async fn rates_rendered_whole(app: &crate::helpers::TestApp) -> (Vec<u8>, String) {
    app.get_json("/v1/homes/demo/rates", StatusCode::OK).await;
    let response = app.get("/v1/homes/demo/rates").await;
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();
    (response.bytes().await.unwrap().to_vec(), etag)
}

#[tokio::test]
async fn rates_copied_from_the_kept_days_are_the_rendered_bytes_and_etag() {
    // 26 October 2025 in Berlin has 25 hours; at 15:00 tomorrow is published.
    let after_publication = ["--now", "2025-10-26T14:00:00Z"];
    let rendered = crate::helpers::spawn_app_with(&after_publication).await;
    let (body, etag) = rates_rendered_whole(&rendered).await;

    // Another instance keeps today's and tomorrow's chunks through the
    // two-day range first; its `/rates` is then served from them.
    let app = crate::helpers::spawn_app_with(&after_publication).await;
    let two_days = "/v1/homes/demo/intervals?start=2025-10-25T22:00:00Z&end=2025-10-27T23:00:00Z";
    app.get_json(two_days, StatusCode::OK).await;
    let range = app.get_json(two_days, StatusCode::OK).await;
    assert_eq!(range["complete"], true);
    let hits = crate::caching::render_cache_hits(&app).await;
    let copied = app.get("/v1/homes/demo/rates").await;
    assert_eq!(copied.status(), StatusCode::OK);
    assert!(
        crate::caching::render_cache_hits(&app).await > hits,
        "served from the kept days, not rendered"
    );
    assert_eq!(copied.headers()["etag"], etag.as_str());
    assert_eq!(copied.bytes().await.unwrap(), body);
    let revalidated = app
        .client
        .get(format!("{}/v1/homes/demo/rates", app.address))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(revalidated.status(), StatusCode::NOT_MODIFIED);
    let rates: Vec<Rate> = serde_json::from_slice(&body).expect("evcc's rates");
    assert_eq!(
        rates.first().map(|rate| rate.start.to_rfc3339()),
        Some("2025-10-26T15:00:00+01:00".to_string())
    );
    assert_eq!(
        rates.len(),
        36 + 96,
        "the rest of today and all of tomorrow"
    );
}
