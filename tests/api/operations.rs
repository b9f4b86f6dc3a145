//! The operational endpoints: homes, stats, health, readiness, metrics and
//! the OpenAPI document (which must list exactly the served routes).

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::spawn_app;

#[tokio::test]
async fn homes_lists_each_home_with_zone_currency_and_pool_figures() {
    let app = spawn_app().await;
    app.get_json("/v1/homes/demo/intervals?date=today", StatusCode::OK)
        .await;
    let body = app.get_json("/v1/homes", StatusCode::OK).await;
    let homes = body["homes"].as_array().unwrap();
    assert!(homes.len() >= 2, "demo has homes in at least two zones");
    let demo = homes.iter().find(|home| home["id"] == "demo").unwrap();
    assert_eq!(demo["time_zone"], "Europe/Berlin");
    assert_eq!(demo["currency"], "EUR");
    assert!(demo["pool"]["live_intervals"].as_u64().unwrap() >= 100);
    assert!(demo["upstream"]["last_success"].is_string());
}

#[tokio::test]
async fn stats_report_pool_persistence_and_upstream() {
    let app = spawn_app().await;
    app.get_json("/v1/homes/demo/intervals?date=today", StatusCode::OK)
        .await;
    let stats = app.get_json("/v1/homes/demo/stats", StatusCode::OK).await;
    assert_eq!(stats["home_id"], "demo");
    assert!(stats["pool"]["live_intervals"].as_u64().unwrap() >= 100);
    assert!(
        stats["pool"]["protected_window"]["expected"]
            .as_u64()
            .unwrap()
            > 0
    );
    assert!(stats["pool"]["last_fetch"].is_string());
    assert!(stats["persistence"].is_object());
    assert!(stats["upstream"].is_object());
}

#[tokio::test]
async fn health_and_readiness_answer_once_homes_are_known() {
    let app = spawn_app().await;
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
    let ready = app.get_json("/readyz", StatusCode::OK).await;
    assert_eq!(ready["ready"], true);
    assert!(
        ready["homes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|home| home["id"] == "demo" && home["upstream"].is_object())
    );
}

#[tokio::test]
async fn metrics_count_requests_by_route_and_status() {
    let app = spawn_app().await;
    app.get("/v1/homes/demo/intervals?date=today").await;
    app.get("/v1/homes/nowhere/stats").await;
    let response = app.get("/metrics").await;
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.unwrap();
    assert!(
        text.contains(
            r#"pricepool_http_requests_total{route="/v1/homes/{home_id}/intervals",status="200"}"#
        ),
        "{text}"
    );
    assert!(text.contains(r#"route="/v1/homes/{home_id}/stats",status="404""#));
    assert!(text.contains("pricepool_http_request_duration_seconds_bucket"));
    assert!(text.contains(r#"pricepool_pool_live_intervals{home="demo"}"#));
    assert!(text.contains(r#"pricepool_upstream_calls_total{outcome="ok"}"#));
    assert!(text.contains(r#"pricepool_cache_requests_total{result="miss"}"#));
}

#[tokio::test]
async fn gc_keeps_a_small_pool_bounded_and_reports_evictions() {
    let app = crate::helpers::spawn_app_with(&["--max-intervals", "200"]).await;
    for day in ["2025-10-10", "2025-10-11", "2025-10-12", "2025-10-13"] {
        let body = app
            .get_json(
                &format!("/v1/homes/demo/intervals?date={day}"),
                StatusCode::OK,
            )
            .await;
        assert_eq!(
            body["intervals"].as_array().unwrap().len(),
            96,
            "{day} answered whole"
        );
    }
    let stats = app.get_json("/v1/homes/demo/stats", StatusCode::OK).await;
    assert!(
        stats["pool"]["live_intervals"].as_u64().unwrap() <= 200,
        "{stats}"
    );
    assert!(stats["pool"]["evicted_groups_total"].as_u64().unwrap() >= 1);
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(metrics.contains(r#"pricepool_gc_evicted_groups_total{home="demo"}"#));
}

#[tokio::test]
async fn the_served_spec_is_the_committed_file_and_lists_exactly_the_served_routes() {
    let app = spawn_app().await;
    let served: Value = app.get_json("/openapi.json", StatusCode::OK).await;
    let committed: Value =
        serde_json::from_str(include_str!("../../openapi/openapi.json")).unwrap();
    assert_eq!(served, committed);

    let mut spec_paths: Vec<&str> = committed["paths"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    spec_paths.sort_unstable();
    let mut routes = pricepool::api::route_paths();
    routes.sort_unstable();
    assert_eq!(spec_paths, routes, "the spec and the router disagree");

    for (path, item) in committed["paths"].as_object().unwrap() {
        let methods: Vec<&String> = item.as_object().unwrap().keys().collect();
        assert_eq!(methods, ["get"], "{path}: the service serves GET only");
        let mut concrete = path.replace("{home_id}", "demo");
        if path == "/api/tariff/grid" {
            // `home` may be left out only when there is one home; the demo has three.
            concrete.push_str("?home=demo");
        }
        let response = app.get(&concrete).await;
        let documented = item["get"]["responses"]
            .as_object()
            .unwrap()
            .contains_key(response.status().as_str());
        assert!(
            documented,
            "{path} answered {} which the spec does not list",
            response.status()
        );
        assert!(
            response.status().is_success(),
            "{path}: {}",
            response.status()
        );
    }
}

#[tokio::test]
async fn while_the_service_starts_probes_answer_and_the_api_says_it_is_starting() {
    // Discovery is held up for 2 s by a slow upstream, so `build` is still
    // running when the probes ask.
    let fake = crate::helpers::start_fake_tibber().await;
    fake.push_fault(pricepool::testkit::Fault::Slow(
        std::time::Duration::from_secs(2),
    ));
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let listen = format!("127.0.0.1:{port}");
    let data_dir = tempfile::tempdir().expect("temp dir");
    let mut flags = crate::helpers::tibber_flags(&fake);
    flags.extend(["--listen", listen.as_str()]);
    let config = crate::helpers::config(data_dir.path(), &flags);
    let building = tokio::spawn(pricepool::app::Application::build(config));

    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_millis(500))
        .build()
        .unwrap();
    let url = |path: &str| format!("http://{listen}{path}");
    let mut healthz = None;
    for _ in 0..100 {
        if let Ok(response) = client.get(url("/healthz")).send().await {
            healthz = Some(response.status());
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(
        !building.is_finished(),
        "the probes must ask while the service starts"
    );
    assert_eq!(healthz, Some(StatusCode::OK));
    let ready = client.get(url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(ready.json::<Value>().await.unwrap()["ready"], false);
    for path in [
        "/v1/homes",
        "/v1/homes/demo/intervals?date=today",
        "/metrics",
    ] {
        let response = client.get(url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE, "{path}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
        assert_eq!(response.headers()["retry-after"], "1");
        let problem: Value = response.json().await.unwrap();
        assert_eq!(problem["type"], "urn:pricepool:problem:starting", "{path}");
    }

    // Once built, the same socket serves the real service.
    let application = building.await.unwrap().expect("the service starts");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(application.run_until(async {
        let _ = stopped.await;
    }));
    let ready = client.get(url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    let homes: Value = client
        .get(url("/v1/homes"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(homes["homes"].as_array().map(Vec::len), Some(3));
    let _ = stop.send(());
    server.await.unwrap().expect("clean shutdown");
}
