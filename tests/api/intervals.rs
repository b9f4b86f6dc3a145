//! `/v1/homes/{home_id}/intervals`: ranges, local days across DST, and
//! instants in the home's offset.

use chrono::{DateTime, FixedOffset};
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{FALL_BACK_MORNING, spawn_app, spawn_app_with};

fn instants(body: &Value, field: &str) -> Vec<DateTime<FixedOffset>> {
    body["intervals"]
        .as_array()
        .expect("intervals array")
        .iter()
        .map(|interval| DateTime::parse_from_rfc3339(interval[field].as_str().unwrap()).unwrap())
        .collect()
}

#[tokio::test]
async fn the_fall_back_day_has_100_quarter_hours_with_both_two_oclocks() {
    let app = spawn_app().await;
    let body = app
        .get_json("/v1/homes/demo/intervals?date=2025-10-26", StatusCode::OK)
        .await;
    assert_eq!(body["home_id"], "demo");
    assert_eq!(body["currency"], "EUR");
    assert_eq!(body["complete"], true);
    assert_eq!(body["intervals"].as_array().unwrap().len(), 100);
    let starts: Vec<String> = body["intervals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["starts_at"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(starts[0], "2025-10-26T00:00:00+02:00");
    assert!(starts.contains(&"2025-10-26T02:00:00+02:00".to_string()));
    assert!(starts.contains(&"2025-10-26T02:00:00+01:00".to_string()));
    assert_eq!(starts[99], "2025-10-26T23:45:00+01:00");
    for interval in body["intervals"].as_array().unwrap() {
        for field in ["total", "energy", "tax"] {
            assert!(interval[field].is_f64(), "{field} is a number: {interval}");
        }
        assert!(interval.get("level").is_some());
    }
}

#[tokio::test]
async fn the_spring_forward_day_has_92_quarter_hours() {
    let app = spawn_app_with(&["--now", "2026-04-02T12:00:00+02:00"]).await;
    let body = app
        .get_json("/v1/homes/demo/intervals?date=2026-03-29", StatusCode::OK)
        .await;
    assert_eq!(body["intervals"].as_array().unwrap().len(), 92);
    let starts = instants(&body, "starts_at");
    assert_eq!(starts[8].to_rfc3339(), "2026-03-29T03:00:00+02:00");
}

#[tokio::test]
async fn today_is_the_homes_local_day_and_intervals_tile_it() {
    let app = spawn_app().await;
    let body = app
        .get_json("/v1/homes/demo/intervals?date=today", StatusCode::OK)
        .await;
    assert_eq!(body["start"], "2025-10-26T00:00:00+02:00");
    assert_eq!(body["end"], "2025-10-27T00:00:00+01:00");
    let starts = instants(&body, "starts_at");
    let ends = instants(&body, "ends_at");
    assert_eq!(starts.len(), 100);
    for pair in starts.windows(2).zip(ends.iter()) {
        assert_eq!(
            pair.0[1], *pair.1,
            "each interval starts where the previous ended"
        );
    }
}

#[tokio::test]
async fn a_start_end_range_holds_exactly_the_intervals_starting_in_it() {
    let app = spawn_app().await;
    let body = app
        .get_json(
            "/v1/homes/demo/intervals?start=2025-10-20T10:07:00%2B02:00&end=2025-10-20T12:00:00%2B02:00",
            StatusCode::OK,
        )
        .await;
    let starts = instants(&body, "starts_at");
    assert_eq!(starts.len(), 7, "10:15 … 11:45");
    assert_eq!(starts[0].to_rfc3339(), "2025-10-20T10:15:00+02:00");
    assert_eq!(body["complete"], true);
    assert!(body.get("missing").is_none());
}

#[tokio::test]
async fn spring_forward_before_the_quarter_hour_switch_has_23_hours() {
    let app = spawn_app().await;
    let body = app
        .get_json("/v1/homes/demo/intervals?date=2025-03-30", StatusCode::OK)
        .await;
    let starts = instants(&body, "starts_at");
    assert_eq!(starts.len(), 23, "hourly prices before 2025-10-01");
    assert_eq!(starts[2].to_rfc3339(), "2025-03-30T03:00:00+02:00");
}

/// At `now` (before 13:00 local), `date=tomorrow` is incomplete, says why,
/// lists the missing day, and is retried no earlier than `publication`.
async fn assert_tomorrow_waits_for_publication(now: &str, publication: &str) {
    let app = spawn_app_with(&["--now", now]).await;
    let body = app
        .get_json("/v1/homes/demo/intervals?date=tomorrow", StatusCode::OK)
        .await;
    assert_eq!(body["complete"], false);
    assert!(body["reason"].is_string());
    assert!(!body["missing"].as_array().unwrap().is_empty());
    let retry_at = DateTime::parse_from_rfc3339(body["retry_at"].as_str().unwrap()).unwrap();
    let publication = DateTime::parse_from_rfc3339(publication).unwrap();
    assert!(
        retry_at >= publication,
        "not before 13:00 local: {retry_at}"
    );
}

#[tokio::test]
async fn tomorrow_before_publication_is_incomplete_with_a_retry_time() {
    assert_tomorrow_waits_for_publication("2025-10-20T10:00:00+02:00", "2025-10-20T13:00:00+02:00")
        .await;
}

#[tokio::test]
async fn on_the_fall_back_day_tomorrow_is_retried_at_13_local_not_12() {
    assert_tomorrow_waits_for_publication(FALL_BACK_MORNING, "2025-10-26T13:00:00+01:00").await;
}

#[tokio::test]
async fn a_home_in_another_zone_gets_its_own_local_day_and_offsets() {
    let app = spawn_app().await;
    let homes = app.get_json("/v1/homes", StatusCode::OK).await;
    let other = homes["homes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|home| home["time_zone"] != "Europe/Berlin")
        .expect("the demo has a home outside Berlin");
    let id = other["id"].as_str().unwrap();
    let zone: chrono_tz::Tz = other["time_zone"].as_str().unwrap().parse().unwrap();
    let body = app
        .get_json(
            &format!("/v1/homes/{id}/intervals?date=2025-10-20"),
            StatusCode::OK,
        )
        .await;
    let first = instants(&body, "starts_at")[0];
    let expected_midnight = chrono::NaiveDate::from_ymd_opt(2025, 10, 20)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_local_timezone(zone)
        .unwrap();
    assert_eq!(first, expected_midnight.fixed_offset());
}
