//! HTTP caching: ETag + If-None-Match → 304, and max-age that ends no later
//! than the next moment the answer can change.

use reqwest::StatusCode;

use crate::helpers::spawn_app;

fn max_age(response: &reqwest::Response) -> i64 {
    let value = response.headers()["cache-control"].to_str().unwrap();
    value
        .strip_prefix("max-age=")
        .and_then(|seconds| seconds.parse().ok())
        .unwrap_or_else(|| panic!("cache-control with max-age, got {value}"))
}

#[tokio::test]
async fn a_matching_if_none_match_gets_a_bodiless_304() {
    let app = spawn_app().await;
    let path = format!("{}/v1/homes/demo/intervals?date=2025-10-20", app.address);
    let first = app.client.get(&path).send().await.unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    let etag = first.headers()["etag"].to_str().unwrap().to_string();
    let again = app
        .client
        .get(&path)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(again.headers()["etag"], etag.as_str());
    assert!(again.bytes().await.unwrap().is_empty());

    let other_day = app
        .client
        .get(format!(
            "{}/v1/homes/demo/intervals?date=2025-10-21",
            app.address
        ))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(
        other_day.status(),
        StatusCode::OK,
        "another body, another tag"
    );
}

#[tokio::test]
async fn today_is_cacheable_at_most_until_local_midnight() {
    let app = spawn_app().await;
    let response = app.get("/v1/homes/demo/intervals?date=today").await;
    assert_eq!(response.status(), StatusCode::OK);
    // 10:00 local (+01:00) to midnight is 14 h; capped lower is fine, longer is not.
    assert!(max_age(&response) <= 14 * 3600);
    assert!(max_age(&response) > 0);
}

#[tokio::test]
async fn an_incomplete_answer_is_cacheable_at_most_until_its_retry_time() {
    let app = spawn_app().await;
    let response = app.get("/v1/homes/demo/intervals?date=tomorrow").await;
    assert_eq!(response.status(), StatusCode::OK);
    let age = max_age(&response);
    let body: serde_json::Value = response.json().await.unwrap();
    let retry_at =
        chrono::DateTime::parse_from_rfc3339(body["retry_at"].as_str().unwrap()).unwrap();
    let now = chrono::DateTime::parse_from_rfc3339(crate::helpers::FALL_BACK_MORNING).unwrap();
    assert!(
        age <= (retry_at - now).num_seconds() + 1,
        "max-age {age} past retry_at {retry_at}"
    );
}

#[tokio::test]
async fn answers_are_compressed_when_the_client_asks() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(format!(
            "{}/v1/homes/demo/intervals?date=today",
            app.address
        ))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-encoding"], "gzip");
}

/// `pricepool_render_cache_requests_total{result="hit"}` as /metrics shows it.
pub(crate) async fn render_cache_hits(app: &crate::helpers::TestApp) -> u64 {
    let text = app.get("/metrics").await.text().await.unwrap();
    text.lines()
        .find_map(|line| {
            line.strip_prefix("pricepool_render_cache_requests_total{result=\"hit\"} ")
        })
        .and_then(|value| value.trim().parse::<f64>().ok())
        .map_or(0, |value| value as u64)
}

#[tokio::test]
async fn a_kept_body_is_never_served_after_the_prices_behind_it_changed() {
    // One day fits the pool (150; no prefetch fills the protected window):
    // asking another evicts the first.
    let fake = crate::helpers::start_fake_tibber().await;
    let mut flags = crate::helpers::tibber_flags(&fake);
    flags.extend(["--max-intervals", "150", "--no-prefetch"]);
    let app = crate::helpers::spawn_app_with(&flags).await;
    let first_day = "/v1/homes/demo/intervals?date=2025-10-10";
    let total_at_noon = |body: &serde_json::Value| body["intervals"][48]["total"].as_f64().unwrap();

    app.get_json(first_day, StatusCode::OK).await;
    // The next asks are hits: the body is kept under the pool's revision,
    // and the third is served from it (the counter is process-wide and
    // other tests only add to it, so it is compared as at least).
    let calls = fake.call_count();
    let original = app.get_json(first_day, StatusCode::OK).await;
    let kept_hits_before = render_cache_hits(&app).await;
    let kept = app.get(first_day).await;
    let kept_etag = kept.headers()["etag"].to_str().unwrap().to_owned();
    assert_eq!(fake.call_count(), calls, "hits cost no upstream call");
    assert!(
        render_cache_hits(&app).await > kept_hits_before,
        "served the kept body"
    );

    // The upstream corrects its prices; another day evicts the first, which
    // is fetched again, corrected.
    fake.set_fault(Some(pricepool::testkit::Fault::CorrectedPrices(1.0)));
    app.get_json("/v1/homes/demo/intervals?date=2025-10-12", StatusCode::OK)
        .await;
    let calls = fake.call_count();
    for attempt in 0..3 {
        let response = app.get(first_day).await;
        assert_ne!(
            response.headers()["etag"],
            kept_etag.as_str(),
            "ask {attempt}"
        );
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["complete"], true);
        let corrected = total_at_noon(&body);
        assert!(
            (corrected - total_at_noon(&original) - 1.0).abs() < 1e-9,
            "ask {attempt}: {corrected} is not the corrected price"
        );
    }
    assert_eq!(
        fake.call_count(),
        calls + 1,
        "fetched again once, then hits"
    );
}
