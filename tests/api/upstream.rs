//! Against the fake Tibber server: prices come from the upstream, cold
//! requests share one fetch, and upstream failures are 502/503/504 only when
//! nothing useful is cached (otherwise the cache is served, marked incomplete).

use pricepool::testkit::Fault;
use reqwest::StatusCode;

use crate::helpers::{
    assert_problem, spawn_app_against, spawn_app_in, start_fake_tibber, tibber_flags,
};

const PAST_DAY: &str = "/v1/homes/demo/intervals?date=2025-10-20";

#[tokio::test]
async fn concurrent_cold_requests_share_the_upstream_calls_and_a_repeat_costs_none() {
    let fake = start_fake_tibber().await;
    let app = spawn_app_against(&fake).await;
    fake.clear_calls();
    let requests = (0..8).map(|_| {
        let client = app.client.clone();
        let url = format!("{}{PAST_DAY}", app.address);
        async move { client.get(url).send().await.expect("answer") }
    });
    for response in futures_join_all(requests).await {
        assert_eq!(response.status(), StatusCode::OK);
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["intervals"].as_array().unwrap().len(), 96);
        assert_eq!(body["complete"], true);
    }
    let concurrent_calls = fake.call_count();

    let single_fake = start_fake_tibber().await;
    let single_app = spawn_app_against(&single_fake).await;
    single_fake.clear_calls();
    assert_eq!(single_app.get(PAST_DAY).await.status(), StatusCode::OK);
    assert_eq!(
        concurrent_calls,
        single_fake.call_count(),
        "8 requests cost what 1 does"
    );

    fake.clear_calls();
    assert_eq!(app.get(PAST_DAY).await.status(), StatusCode::OK);
    assert_eq!(
        fake.call_count(),
        0,
        "a cached day is served without the upstream"
    );
}

/// Awaits all futures concurrently.
async fn futures_join_all<F>(futures: impl Iterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut outputs = Vec::new();
    for handle in handles {
        outputs.push(handle.await.expect("request task"));
    }
    outputs
}

#[tokio::test]
async fn a_refused_token_with_nothing_cached_is_a_502() {
    let fake = start_fake_tibber().await;
    let app = spawn_app_against(&fake).await;
    fake.set_fault(Some(Fault::Unauthorized));
    let problem = assert_problem(app.get(PAST_DAY).await, StatusCode::BAD_GATEWAY).await;
    assert!(
        problem["detail"].as_str().unwrap().contains("auth"),
        "{problem}"
    );
}

#[tokio::test]
async fn rate_limiting_with_nothing_cached_is_a_503_with_retry_after() {
    let fake = start_fake_tibber().await;
    let app = spawn_app_against(&fake).await;
    fake.set_fault(Some(Fault::RateLimited {
        retry_after: Some(120),
    }));
    let response = app.get(PAST_DAY).await;
    let retry_after: i64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after >= 60, "Retry-After {retry_after}");
    assert_problem(response, StatusCode::SERVICE_UNAVAILABLE).await;
}

#[tokio::test]
async fn an_upstream_that_never_answers_in_time_is_a_504() {
    let fake = start_fake_tibber().await;
    // One attempt outlasts the whole fetch deadline, so the deadline is what ends it.
    let mut flags = tibber_flags(&fake);
    flags.extend(["--upstream-timeout", "20s", "--fetch-deadline", "1s"]);
    let app = crate::helpers::spawn_app_with(&flags).await;
    fake.set_fault(Some(Fault::Slow(std::time::Duration::from_secs(10))));
    let response = app.get(PAST_DAY).await;
    assert!(response.headers().contains_key("retry-after"));
    assert_problem(response, StatusCode::GATEWAY_TIMEOUT).await;
}

#[tokio::test]
async fn when_the_upstream_fails_the_cache_is_served_marked_incomplete() {
    let fake = start_fake_tibber().await;
    let app = spawn_app_against(&fake).await;
    assert_eq!(app.get(PAST_DAY).await.status(), StatusCode::OK);
    fake.set_fault(Some(Fault::ServerError));
    let body = app
        .get_json(
            "/v1/homes/demo/intervals?start=2025-10-20T00:00:00%2B02:00&end=2025-10-22T00:00:00%2B02:00",
            StatusCode::OK,
        )
        .await;
    assert_eq!(body["complete"], false);
    // The cached day, and possibly a surplus interval the first fetch returned.
    assert!(body["intervals"].as_array().unwrap().len() >= 96);
    assert!(
        body["reason"].as_str().unwrap().contains("upstream"),
        "{body}"
    );
    let missing_from = body["missing"][0]["start"].as_str().unwrap();
    assert!(missing_from.starts_with("2025-10-21T"), "{missing_from}");

    // Each source's health: it answered once, then failed, and waits.
    let homes = app.get_json("/v1/homes", StatusCode::OK).await;
    let home = homes["homes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|home| home["id"] == "demo")
        .expect("the demo home");
    let sources = home["sources"].as_array().expect("sources");
    assert_eq!(sources.len(), 1, "{home}");
    assert_eq!(sources[0]["name"], "tibber");
    assert!(sources[0]["last_success"].is_string(), "{home}");
    assert_eq!(sources[0]["last_error"]["kind"], "transient", "{home}");
    assert!(sources[0]["next_retry"].is_string(), "{home}");
    let ready = app.get_json("/readyz", StatusCode::OK).await;
    assert_eq!(ready["homes"][0]["sources"][0]["name"], "tibber", "{ready}");
}

#[tokio::test]
async fn not_ready_while_no_home_is_known_and_ready_from_snapshots_while_upstream_is_down() {
    let fake = start_fake_tibber().await;
    fake.set_fault(Some(Fault::Unauthorized));
    let cold = spawn_app_against(&fake).await;
    let body = cold
        .get_json("/readyz", StatusCode::SERVICE_UNAVAILABLE)
        .await;
    assert_eq!(body["ready"], false);
    assert_eq!(cold.get("/healthz").await.status(), StatusCode::OK);
    drop(cold);

    fake.set_fault(None);
    let warm = spawn_app_against(&fake).await;
    assert_eq!(warm.get(PAST_DAY).await.status(), StatusCode::OK);
    let data_dir = warm.stop().await;

    fake.set_fault(Some(Fault::ServerError));
    let restarted = spawn_app_in(data_dir, &tibber_flags(&fake)).await;
    let ready = restarted.get_json("/readyz", StatusCode::OK).await;
    assert_eq!(ready["ready"], true);
    let day = restarted.get_json(PAST_DAY, StatusCode::OK).await;
    assert_eq!(day["complete"], true, "served from the restored snapshot");
}

#[tokio::test]
async fn a_request_over_the_request_timeout_is_a_504_problem() {
    let fake = start_fake_tibber().await;
    let mut flags = tibber_flags(&fake);
    flags.extend(["--fetch-deadline", "10s", "--request-timeout", "300ms"]);
    let app = crate::helpers::spawn_app_with(&flags).await;
    fake.set_fault(Some(Fault::Slow(std::time::Duration::from_secs(3))));
    assert_problem(app.get(PAST_DAY).await, StatusCode::GATEWAY_TIMEOUT).await;
}

#[tokio::test]
async fn a_fetch_that_outlives_its_request_lands_before_the_final_flush() {
    // The request gives up at 300 ms; the fetch it started goes on (it is
    // the service's, not the connection's) and lands during the stop.
    let fake = start_fake_tibber().await;
    let mut flags = tibber_flags(&fake);
    flags.extend(["--fetch-deadline", "10s", "--upstream-timeout", "5s"]);
    flags.extend(["--request-timeout", "300ms"]);
    let app = crate::helpers::spawn_app_with(&flags).await;
    fake.clear_calls();
    fake.push_fault(Fault::Slow(std::time::Duration::from_millis(1500)));
    assert_problem(app.get(PAST_DAY).await, StatusCode::GATEWAY_TIMEOUT).await;
    assert_eq!(fake.call_count(), 1, "the fetch is under way");
    let data_dir = app.stop().await;

    // Restarted with the upstream refusing: the day comes from the snapshot.
    fake.set_fault(Some(Fault::Unauthorized));
    let restarted = spawn_app_in(data_dir, &tibber_flags(&fake)).await;
    let body: serde_json::Value = restarted.get_json(PAST_DAY, StatusCode::OK).await;
    assert_eq!(body["complete"], true);
    assert_eq!(body["intervals"].as_array().unwrap().len(), 96);
}

#[tokio::test]
async fn a_graceful_stop_lets_the_request_in_flight_finish() {
    let fake = start_fake_tibber().await;
    let app = spawn_app_against(&fake).await;
    fake.clear_calls();
    fake.push_fault(Fault::Slow(std::time::Duration::from_millis(700)));
    let in_flight = {
        let client = app.client.clone();
        let url = format!("{}{PAST_DAY}", app.address);
        tokio::spawn(async move { client.get(url).send().await })
    };
    while fake.call_count() == 0 {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let data_dir = app.stop().await;
    let response = in_flight.await.unwrap().expect("answered, not dropped");
    assert_eq!(response.status(), StatusCode::OK);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["intervals"].as_array().unwrap().len(), 96);
    assert!(
        data_dir.path().join("homes").join("demo.json").exists(),
        "what the in-flight fetch added was flushed"
    );
}
