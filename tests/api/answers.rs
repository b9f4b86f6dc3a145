//! The answer endpoints on the demo source with the clock at 10:00 on the
//! fall-back day in Berlin (tomorrow not yet published): what a user would
//! check by hand against `/intervals`.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{assert_problem, spawn_app, spawn_app_with};

fn totals(intervals: &Value) -> Vec<(String, String, f64)> {
    intervals
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["starts_at"].as_str().unwrap().to_string(),
                i["ends_at"].as_str().unwrap().to_string(),
                i["total"].as_f64().unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn the_hourly_view_has_25_hours_on_a_fall_back_day_and_23_on_a_spring_forward_day() {
    let app = spawn_app().await;
    let day = app
        .get_json(
            "/v1/homes/demo/intervals?date=today&resolution=hour",
            StatusCode::OK,
        )
        .await;
    let hours = totals(&day["intervals"]);
    assert_eq!(hours.len(), 25);
    assert_eq!(hours[2].0, "2025-10-26T02:00:00+02:00");
    assert_eq!(hours[3].0, "2025-10-26T02:00:00+01:00");
    let quarters = app
        .get_json("/v1/homes/demo/intervals?date=today", StatusCode::OK)
        .await;
    let quarters = totals(&quarters["intervals"]);
    let first_hour: f64 = quarters[..4].iter().map(|q| q.2).sum::<f64>() / 4.0;
    assert!((hours[0].2 - first_hour).abs() < 1e-12);
    let rates = app
        .get_json(
            "/v1/homes/demo/rates?date=today&resolution=hour",
            StatusCode::OK,
        )
        .await;
    assert_eq!(rates.as_array().unwrap().len(), 25);

    let spring = spawn_app_with(&["--now", "2026-03-29T18:00:00+02:00"]).await;
    let day = spring
        .get_json(
            "/v1/homes/demo/intervals?date=today&resolution=hour",
            StatusCode::OK,
        )
        .await;
    assert_eq!(day["intervals"].as_array().unwrap().len(), 23);
    let bad = app.get("/v1/homes/demo/intervals?resolution=minute").await;
    assert_eq!(
        assert_problem(bad, StatusCode::BAD_REQUEST).await["parameter"],
        "resolution"
    );
}

#[tokio::test]
async fn the_cheapest_three_hours_of_a_day_are_what_a_brute_force_pick_over_intervals_finds() {
    let app = spawn_app().await;
    let day = app
        .get_json("/v1/homes/demo/intervals?date=today", StatusCode::OK)
        .await;
    let quarters = totals(&day["intervals"]);
    assert_eq!(quarters.len(), 100);
    // Every run of 12 back-to-back quarters; the earliest of equal sums wins.
    let mut best: Option<(f64, usize)> = None;
    for start in 0..=quarters.len() - 12 {
        let sum: f64 = quarters[start..start + 12].iter().map(|q| q.2).sum();
        if best.is_none_or(|(b, _)| sum < b - 1e-9) {
            best = Some((sum, start));
        }
    }
    let (sum, start) = best.unwrap();
    for (query, expected_start, expected_mean) in [
        ("duration=PT3H", start, sum / 12.0),
        ("duration=3h", start, sum / 12.0),
    ] {
        let pick = app
            .get_json(
                &format!("/v1/homes/demo/cheapest?date=today&{query}"),
                StatusCode::OK,
            )
            .await;
        assert_eq!(pick["complete"], true);
        assert_eq!(pick["duration"], "PT3H");
        let windows = pick["windows"].as_array().unwrap();
        assert_eq!(windows.len(), 1);
        assert_eq!(
            windows[0]["start"].as_str().unwrap(),
            quarters[expected_start].0
        );
        assert_eq!(
            windows[0]["end"].as_str().unwrap(),
            quarters[expected_start + 11].1
        );
        assert!((pick["mean"].as_f64().unwrap() - expected_mean).abs() < 1e-9);
        assert_eq!(pick["slots"].as_array().unwrap().len(), 12);
    }

    // The dearest hour and the cheapest two scattered hours, by hand.
    let dearest = app
        .get_json(
            "/v1/homes/demo/cheapest?date=today&duration=PT15M&highest=true",
            StatusCode::OK,
        )
        .await;
    let max = quarters.iter().map(|q| q.2).fold(f64::MIN, f64::max);
    assert_eq!(dearest["mean"].as_f64(), Some(max));
    let scattered = app
        .get_json(
            "/v1/homes/demo/cheapest?date=today&duration=PT2H&contiguous=false",
            StatusCode::OK,
        )
        .await;
    let mut sorted: Vec<f64> = quarters.iter().map(|q| q.2).collect();
    sorted.sort_by(f64::total_cmp);
    let expected: f64 = sorted[..8].iter().sum::<f64>() / 8.0;
    assert!((scattered["mean"].as_f64().unwrap() - expected).abs() < 1e-9);
}

#[tokio::test]
async fn the_cheapest_window_before_tomorrow_is_published_is_over_today_and_says_so() {
    let app = spawn_app().await;
    let response = app.get("/v1/homes/demo/cheapest?duration=PT3H").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers().contains_key("etag"));
    let pick: Value = response.json().await.unwrap();
    assert_eq!(pick["complete"], false);
    assert_eq!(pick["start"], "2025-10-26T10:00:00+01:00");
    assert_eq!(pick["end"], "2025-10-28T00:00:00+01:00");
    let retry_at = pick["retry_at"].as_str().expect("retry_at when incomplete");
    assert!(chrono::DateTime::parse_from_rfc3339(retry_at).is_ok());
    let window_end = pick["windows"][0]["end"].as_str().unwrap();
    assert!(window_end <= "2025-10-27T00:00:00+01:00", "{window_end}");
}

#[tokio::test]
async fn a_duration_of_partial_slots_or_longer_than_the_range_is_a_400_naming_duration() {
    let app = spawn_app().await;
    for query in [
        "date=today&duration=PT7M",
        "date=today&duration=PT26H",
        "date=today&duration=soon",
        "date=today&duration=",
        "date=2025-09-29&duration=PT45M",
    ] {
        let response = app.get(&format!("/v1/homes/demo/cheapest?{query}")).await;
        let problem = assert_problem(response, StatusCode::BAD_REQUEST).await;
        assert_eq!(problem["parameter"], "duration", "{query}: {problem}");
    }
    let response = app
        .get("/v1/homes/demo/cheapest?duration=PT1H&contiguous=yes")
        .await;
    assert_eq!(
        assert_problem(response, StatusCode::BAD_REQUEST).await["parameter"],
        "contiguous"
    );
}

#[tokio::test]
async fn day_summaries_count_100_quarters_on_a_fall_back_day_and_92_on_a_spring_forward_day() {
    let app = spawn_app().await;
    let summary = app.get_json("/v1/homes/demo/summary", StatusCode::OK).await;
    let days = summary["days"].as_array().unwrap();
    assert_eq!(days.len(), 2, "today and tomorrow");
    assert_eq!(days[0]["date"], "2025-10-26");
    assert_eq!(
        (days[0]["count"].as_u64(), days[0]["complete"].as_bool()),
        (Some(100), Some(true))
    );
    assert_eq!(
        (days[1]["count"].as_u64(), days[1]["complete"].as_bool()),
        (Some(0), Some(false))
    );
    assert!(days[1]["min"].is_null());
    assert_eq!(summary["complete"], false);

    let quarters = app
        .get_json("/v1/homes/demo/intervals?date=today", StatusCode::OK)
        .await;
    let quarters = totals(&quarters["intervals"]);
    let min = quarters.iter().map(|q| q.2).fold(f64::MAX, f64::min);
    let first_min = quarters.iter().find(|q| q.2 == min).unwrap();
    assert_eq!(days[0]["min"]["total"].as_f64(), Some(min));
    assert_eq!(
        days[0]["min"]["starts_at"].as_str(),
        Some(first_min.0.as_str())
    );
    let mean = quarters.iter().map(|q| q.2).sum::<f64>() / 100.0;
    assert!((days[0]["mean"].as_f64().unwrap() - mean).abs() < 1e-9);

    let spring = spawn_app_with(&["--now", "2026-03-29T18:00:00+02:00"]).await;
    let summary = spring
        .get_json("/v1/homes/demo/summary?date=today", StatusCode::OK)
        .await;
    assert_eq!(summary["days"][0]["count"], 92);
    assert_eq!(summary["days"][0]["complete"], true);
}
