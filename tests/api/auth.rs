//! The optional API token: /v1 needs `Authorization: Bearer <token>`,
//! probes stay open.

use reqwest::StatusCode;

use crate::helpers::{assert_problem, spawn_app, spawn_app_with};

#[tokio::test]
async fn with_a_token_v1_needs_it_and_probes_stay_open() {
    let app = spawn_app_with(&["--api-token", "s3cret-token"]).await;
    let url = |path: &str| format!("{}{path}", app.address);

    let missing = app.get("/v1/homes").await;
    assert_eq!(missing.headers()["www-authenticate"], "Bearer");
    assert_problem(missing, StatusCode::UNAUTHORIZED).await;
    for wrong in [
        "Bearer s3cret-tokeN",
        "Bearer s3cret",
        "Basic s3cret-token",
        "s3cret-token",
    ] {
        let response = app
            .client
            .get(url("/v1/homes/demo/intervals?date=today"))
            .header("authorization", wrong)
            .send()
            .await
            .unwrap();
        assert_problem(response, StatusCode::UNAUTHORIZED).await;
    }
    let right = app
        .client
        .get(url("/v1/homes/demo/intervals?date=today"))
        .bearer_auth("s3cret-token")
        .send()
        .await
        .unwrap();
    assert_eq!(right.status(), StatusCode::OK);

    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
    assert_eq!(app.get("/readyz").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn without_a_token_v1_is_open() {
    let app = spawn_app().await;
    assert_eq!(app.get("/v1/homes").await.status(), StatusCode::OK);
}
