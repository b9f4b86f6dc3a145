//! Input a client controls is taken only in its strict form: a request id
//! only when short and printable, dates and instants only as RFC 3339
//! writes them (no leap second, no signed or expanded year), so nothing is
//! echoed or logged in a form other clients would reject.

use reqwest::StatusCode;

use crate::helpers::{assert_problem, spawn_app};

#[tokio::test]
async fn a_request_id_that_is_long_or_not_printable_is_replaced_by_a_fresh_one() {
    let app = spawn_app().await;
    // Longer than the header cap: refused before it reaches the API, never echoed.
    let huge = "a".repeat(200 * 1024);
    let response = app
        .client
        .get(format!("{}/healthz", app.address))
        .header("x-request-id", &huge)
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
    );
    assert!(
        response
            .headers()
            .get("x-request-id")
            .is_none_or(|id| id != huge.as_str())
    );
    let long = "a".repeat(4 * 1024);
    for unfit in [long.as_str(), "two words", &"x".repeat(65)] {
        let response = app
            .client
            .get(format!("{}/healthz", app.address))
            .header("x-request-id", unfit)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let echoed = response.headers()["x-request-id"].to_str().unwrap();
        assert!(
            echoed != unfit,
            "an unfit id ({} bytes) is echoed",
            unfit.len()
        );
        assert!(
            !echoed.is_empty() && echoed.len() <= 64,
            "a fresh id instead: {echoed:?}"
        );
    }
    let fitting = "x".repeat(64);
    let response = app
        .client
        .get(format!("{}/healthz", app.address))
        .header("x-request-id", &fitting)
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], fitting.as_str());
}

#[tokio::test]
async fn a_leap_second_or_a_signed_year_is_a_400_naming_its_parameter() {
    let app = spawn_app().await;
    let cases = [
        ("date=%2B2025-06-01", "date"),
        ("date=+2025-06-01", "date"),
        ("date=-2025-06-01", "date"),
        ("date=2025-6-1", "date"),
        (
            "start=2025-06-01T23:59:60Z&end=2025-06-02T01:00:00Z",
            "start",
        ),
        (
            "start=2025-06-01T00:00:00Z&end=2025-06-01T23:59:60%2B02:00",
            "end",
        ),
        (
            "start=%2B002025-06-01T00:00:00Z&end=2025-06-02T00:00:00Z",
            "start",
        ),
        (
            "start=2025-06-01T00:00:00Z&end=%2B2025-06-02T00:00:00Z",
            "end",
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
