//! `/v1/homes/{home_id}/intervals/current` under the `--now` clock.

use chrono::DateTime;
use reqwest::StatusCode;

use crate::helpers::{spawn_app, spawn_app_with};

#[tokio::test]
async fn current_is_the_interval_containing_the_services_now() {
    let app = spawn_app().await;
    let response = app.get("/v1/homes/demo/intervals/current").await;
    assert_eq!(response.status(), StatusCode::OK);
    let max_age: i64 = response.headers()["cache-control"]
        .to_str()
        .unwrap()
        .trim_start_matches("max-age=")
        .parse()
        .unwrap();
    assert!(
        max_age <= 15 * 60,
        "cacheable at most until the interval ends"
    );
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["interval"]["starts_at"], "2025-10-26T10:00:00+01:00");
    assert_eq!(body["interval"]["ends_at"], "2025-10-26T10:15:00+01:00");

    // The same instant is in /intervals with the same price.
    let day = app
        .get_json("/v1/homes/demo/intervals?date=today", StatusCode::OK)
        .await;
    let same = day["intervals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["starts_at"] == "2025-10-26T10:00:00+01:00")
        .unwrap();
    assert_eq!(same["total"], body["interval"]["total"]);
}

#[tokio::test]
async fn current_follows_the_clock_on_the_second_two_oclock() {
    let app = spawn_app_with(&["--now", "2025-10-26T02:20:00+01:00"]).await;
    let body = app
        .get_json("/v1/homes/demo/intervals/current", StatusCode::OK)
        .await;
    assert_eq!(body["interval"]["starts_at"], "2025-10-26T02:15:00+01:00");
    let now = DateTime::parse_from_rfc3339(body["now"].as_str().unwrap()).unwrap();
    assert_eq!(now.offset().local_minus_utc(), 3600);
}
