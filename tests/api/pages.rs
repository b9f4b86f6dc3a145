//! The pages a person looks at: the SVG chart of a day and the dashboard
//! at `/`, on the demo source at 10:00 on the fall-back day in Berlin.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{assert_problem, spawn_app, spawn_app_with};

/// The body of a 200 of `content_type` with an ETag and a max-age.
async fn text(app: &crate::helpers::TestApp, path: &str, content_type: &str) -> (String, i64) {
    let response = app.get(path).await;
    assert_eq!(response.status(), StatusCode::OK, "GET {path}");
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with(content_type)
    );
    assert!(response.headers().contains_key("etag"));
    let cache_control = response.headers()["cache-control"]
        .to_str()
        .unwrap()
        .to_string();
    let seconds: i64 = cache_control
        .trim_start_matches("max-age=")
        .parse()
        .unwrap();
    (response.text().await.unwrap(), seconds)
}

#[tokio::test]
async fn the_chart_of_a_fall_back_day_spans_25_local_hours_with_now_and_the_cheapest_3_h() {
    let app = spawn_app().await;
    let (svg, max_age) = text(&app, "/v1/homes/demo/chart.svg?date=today", "image/svg+xml").await;
    assert!(
        (0..=300).contains(&max_age),
        "the now marker moves within 5 minutes"
    );
    assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
    assert!(svg.contains("(25 hours, local time)"));
    assert!(svg.contains("<title>Prices of demo on 2025-10-26</title><desc>"));
    assert!(svg.contains("EUR/kWh"));
    assert!(svg.contains("class=\"now\""));
    // The shaded window is the one /cheapest names for the day.
    let pick: Value = app
        .get_json(
            "/v1/homes/demo/cheapest?date=today&duration=PT3H",
            StatusCode::OK,
        )
        .await;
    let start = &pick["windows"][0]["start"].as_str().unwrap()[11..16];
    assert!(svg.contains(&format!("cheapest 3 h: {start}")), "{start}");

    let (tomorrow, _) = text(
        &app,
        "/v1/homes/demo/chart.svg?date=tomorrow",
        "image/svg+xml",
    )
    .await;
    assert!(tomorrow.contains("no prices known for this day yet"));
    assert!(!tomorrow.contains("class=\"now\""));
    let response = app
        .get("/v1/homes/demo/chart.svg?start=2025-10-26T00:00:00Z")
        .await;
    assert_problem(response, StatusCode::BAD_REQUEST).await;
}

#[tokio::test]
async fn the_dashboard_shows_each_homes_price_charts_cheapest_window_and_upstream_health() {
    let app = spawn_app().await;
    let (page, max_age) = text(&app, "/", "text/html").await;
    assert!(
        (0..=300).contains(&max_age),
        "the now marker moves within 5 minutes"
    );
    let current: Value = app
        .get_json("/v1/homes/demo/intervals/current", StatusCode::OK)
        .await;
    let total = current["interval"]["total"].as_f64().unwrap();
    assert!(page.contains("<section class=\"home\" id=\"home-demo\"><h2>demo</h2>"));
    assert!(page.contains(&format!("<span class=\"price\">{total} EUR/kWh</span>")));
    assert!(page.contains("<figure class=\"chart today\"><svg"));
    assert!(page.contains("Tomorrow: prices not published yet."));
    assert!(page.contains("<p class=\"cheapest\">Cheapest 3 h: 2025-10-26 "));
    assert!(page.contains("<dt>Last success</dt>"));
    for home in ["demo-helsinki", "demo-oslo"] {
        assert!(page.contains(&format!("<h2>{home}</h2>")), "{home}");
    }
    assert!(!page.contains("<script"), "readable without JavaScript");
    assert!(
        !page.contains("http://") || !page.contains("src=\"http"),
        "no external assets"
    );
}

#[tokio::test]
async fn the_dashboard_needs_the_api_token_when_one_is_set() {
    let app = spawn_app_with(&["--api-token", "a-long-enough-test-token-0123456789"]).await;
    let response = app.get("/").await;
    assert_problem(response, StatusCode::UNAUTHORIZED).await;
}

/// evcc's `api.Rate`, as its `/api/tariff/{tariff}` writes them.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct EvccRate {
    start: chrono::DateTime<chrono::FixedOffset>,
    end: chrono::DateTime<chrono::FixedOffset>,
    value: f64,
}

/// evcc's tariff body: `{"rates": [...]}` and nothing else.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct EvccTariff {
    rates: Vec<EvccRate>,
}

#[tokio::test]
async fn the_evcc_tariff_view_lists_the_upcoming_rates_as_evcc_itself_answers() {
    let app = spawn_app().await;
    let response = app.get("/api/tariff/grid").await;
    // The demo has three homes: which one is for the client to say.
    assert_eq!(
        assert_problem(response, StatusCode::BAD_REQUEST).await["parameter"],
        "home"
    );
    for path in ["/api/tariff/grid?home=demo"] {
        let response = app.get(path).await;
        assert_eq!(response.status(), StatusCode::OK);
        let tariff: EvccTariff = response.json().await.expect("evcc's tariff body");
        // 10:00 to the end of the 25-hour day: 14 hours of quarters; tomorrow unpublished.
        assert_eq!(tariff.rates.len(), 56);
        assert_eq!(
            tariff.rates[0].start.to_rfc3339(),
            "2025-10-26T10:00:00+01:00"
        );
        assert_eq!(tariff.rates[0].end, tariff.rates[1].start);
        let rates: Value = app.get_json("/v1/homes/demo/rates", StatusCode::OK).await;
        assert_eq!(Some(tariff.rates[0].value), rates[0]["value"].as_f64());
    }
    let response = app.get("/api/tariff/grid?home=nowhere").await;
    assert_problem(response, StatusCode::NOT_FOUND).await;
    let response = app.get("/api/tariff/grid?house=demo").await;
    assert_eq!(
        assert_problem(response, StatusCode::BAD_REQUEST).await["parameter"],
        "house"
    );
}
