//! Every client error is a problem+json body with the right status; a 400
//! names the parameter at fault. Nothing a client sends gets a 500.

use reqwest::StatusCode;

use crate::helpers::{assert_problem, spawn_app};

#[tokio::test]
async fn each_bad_range_is_a_400_naming_its_parameter() {
    let app = spawn_app().await;
    let cases = [
        ("start=yesterday&end=2025-10-26T00:00:00Z", "start"),
        ("start=2025-10-26T00:00:00Z&end=noon", "end"),
        ("start=2025-10-26T00:00:00Z", "end"),
        ("end=2025-10-26T00:00:00Z", "start"),
        ("start=2025-10-26T00:00:00Z&end=2025-10-25T00:00:00Z", "end"),
        ("start=2025-10-01T00:00:00Z&end=2025-11-02T00:00:00Z", "end"),
        ("date=someday", "date"),
        ("date=2025-02-30", "date"),
        (
            "date=today&start=2025-10-26T00:00:00Z&end=2025-10-27T00:00:00Z",
            "date",
        ),
        ("date=today&date=tomorrow", "date"),
        ("limit=10", "limit"),
        (
            "start=1800-01-01T00:00:00Z&end=1800-01-02T00:00:00Z",
            "start",
        ),
    ];
    for endpoint in ["intervals", "rates"] {
        for (query, parameter) in cases {
            let response = app.get(&format!("/v1/homes/demo/{endpoint}?{query}")).await;
            let problem = assert_problem(response, StatusCode::BAD_REQUEST).await;
            assert_eq!(
                problem["parameter"], parameter,
                "{endpoint}?{query}: {problem}"
            );
        }
    }
}

#[tokio::test]
async fn a_whole_october_with_its_25_hour_day_is_allowed_and_one_second_more_is_not() {
    let app = spawn_app().await;
    // October in Berlin: 31 local days, 745 hours.
    let ok = app
        .get("/v1/homes/demo/rates?start=2025-10-01T00:00:00%2B02:00&end=2025-11-01T00:00:00%2B01:00")
        .await;
    assert_eq!(ok.status(), StatusCode::OK);
    let too_long = app
        .get("/v1/homes/demo/rates?start=2025-10-01T00:00:00%2B02:00&end=2025-11-01T00:00:01%2B01:00")
        .await;
    let problem = assert_problem(too_long, StatusCode::BAD_REQUEST).await;
    assert_eq!(problem["parameter"], "end");
}

#[tokio::test]
async fn an_unknown_home_is_a_404() {
    let app = spawn_app().await;
    for path in [
        "/v1/homes/nowhere/intervals?date=today",
        "/v1/homes/nowhere/intervals/current",
        "/v1/homes/nowhere/rates",
        "/v1/homes/nowhere/stats",
    ] {
        let problem = assert_problem(app.get(path).await, StatusCode::NOT_FOUND).await;
        assert!(problem["detail"].as_str().unwrap().contains("nowhere"));
    }
}

#[tokio::test]
async fn an_unknown_route_is_a_404_problem() {
    let app = spawn_app().await;
    assert_problem(app.get("/v2/homes").await, StatusCode::NOT_FOUND).await;
    assert_problem(
        app.get("/v1/homes/demo/prices").await,
        StatusCode::NOT_FOUND,
    )
    .await;
}

#[tokio::test]
async fn another_method_than_get_is_a_405_with_allow() {
    let app = spawn_app().await;
    let response = app
        .client
        .delete(format!("{}/v1/homes/demo/intervals", app.address))
        .send()
        .await
        .unwrap();
    assert!(
        response.headers()["allow"]
            .to_str()
            .unwrap()
            .contains("GET")
    );
    assert_problem(response, StatusCode::METHOD_NOT_ALLOWED).await;
}

#[tokio::test]
async fn an_oversize_body_is_a_413() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(format!("{}/v1/homes", app.address))
        .body(vec![b'x'; 64 * 1024])
        .send()
        .await
        .unwrap();
    assert_problem(response, StatusCode::PAYLOAD_TOO_LARGE).await;
}

#[tokio::test]
async fn an_oversize_request_target_is_a_414() {
    let app = spawn_app().await;
    let long = "x".repeat(10 * 1024);
    let response = app
        .get(&format!("/v1/homes/demo/intervals?date={long}"))
        .await;
    assert_problem(response, StatusCode::URI_TOO_LONG).await;
}

#[tokio::test]
async fn hostile_home_ids_and_queries_never_get_a_500() {
    let app = spawn_app().await;
    for path in [
        "/v1/homes/%FF%FE/intervals",
        "/v1/homes/..%2F..%2Fetc/stats",
        "/v1/homes/demo/intervals?start=%00&end=%00",
        "/v1/homes/demo/intervals?=&&&=x",
        "/v1/homes/demo/intervals?date=9999-12-31",
        "/v1/homes/demo/intervals?start=2099-12-31T23:00:00Z&end=2100-01-01T00:00:00Z",
        "/v1/homes/demo/intervals/current?x=1",
    ] {
        let response = app.get(path).await;
        assert!(
            response.status().is_client_error() || response.status().is_success(),
            "{path}: {}",
            response.status()
        );
    }
}

#[tokio::test]
async fn every_response_carries_a_request_id_and_echoes_the_clients() {
    let app = spawn_app().await;
    let generated = app.get("/healthz").await;
    assert!(!generated.headers()["x-request-id"].is_empty());
    let echoed = app
        .client
        .get(format!("{}/v1/homes/nowhere/stats", app.address))
        .header("x-request-id", "trace-me-42")
        .send()
        .await
        .unwrap();
    assert_eq!(echoed.headers()["x-request-id"], "trace-me-42");
}
