//! The dashboard at `/` is kept rendered (see `src/api/page_cache.rs`):
//! what is served again is the page as rendered, byte for byte, and a kept
//! page is never shown after what it shows has changed: a failure, or
//! tomorrow's prices at publication.

use std::time::Duration;

use reqwest::StatusCode;

use crate::helpers::{spawn_app, spawn_app_with, start_fake_tibber, tibber_flags};

/// The page once the first fetch is in: the first page is rendered before
/// that fetch's success is known, the second after; the next is reused.
async fn warm_page(app: &crate::helpers::TestApp) -> String {
    page(app).await;
    page(app).await.0
}

/// The section of home `demo` (Berlin) in `page`.
fn berlin_section(page: &str) -> &str {
    let start = page.find("id=\"home-demo\"").expect("demo's section");
    let len = page[start..].find("</section>").expect("section ends");
    &page[start..start + len]
}

/// The page's body and ETag.
async fn page(app: &crate::helpers::TestApp) -> (String, String) {
    let response = app.get("/").await;
    assert_eq!(response.status(), StatusCode::OK);
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();
    (response.text().await.unwrap(), etag)
}

#[tokio::test]
async fn the_page_served_again_is_the_page_rendered_and_a_304_with_its_etag() {
    let app = spawn_app().await;
    warm_page(&app).await;
    let (rendered, etag) = page(&app).await;
    let (kept, kept_etag) = page(&app).await;
    assert_eq!(kept, rendered);
    assert_eq!(kept_etag, etag);
    let response = app
        .client
        .get(format!("{}/", app.address))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(response.headers()["etag"], etag.as_str());
}

#[tokio::test]
async fn an_upstream_failure_shows_on_the_page_at_once() {
    let fake = start_fake_tibber().await;
    let app = spawn_app_with(&tibber_flags(&fake)).await;
    let before = warm_page(&app).await;
    assert!(!berlin_section(&before).contains("http 503"), "{before}");
    // Another client's request fails upstream: same prices, same
    // revision, but the page's health line is news.
    fake.set_fault(Some(pricepool::testkit::Fault::Unavailable));
    let response = app.get("/v1/homes/demo/intervals?date=2025-10-01").await;
    assert!(response.status().is_server_error(), "{}", response.status());
    let (after, _) = page(&app).await;
    assert!(
        berlin_section(&after)
            .contains("<dt>Last error</dt><dd>upstream failed transiently: http 503"),
        "the kept page was served after a failure: {after}"
    );
}

#[tokio::test]
async fn tomorrow_shows_on_the_page_at_publication() {
    let fake = start_fake_tibber().await;
    // Three seconds before 13:00 in Berlin; tomorrow is asked for at 13:00
    // sharp.
    let now = "2025-10-26T12:59:57+01:00";
    fake.set_now(chrono::DateTime::parse_from_rfc3339(now).unwrap().to_utc());
    let mut flags = tibber_flags(&fake);
    flags.extend(["--now", now, "--publish-jitter", "0s"]);
    let app = spawn_app_with(&flags).await;
    let before = warm_page(&app).await;
    assert!(berlin_section(&before).contains("Tomorrow: prices not published yet."));
    let mut after = String::new();
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        (after, _) = page(&app).await;
        if berlin_section(&after).contains("<figure class=\"chart tomorrow\">") {
            break;
        }
    }
    assert!(
        berlin_section(&after).contains("<figure class=\"chart tomorrow\">"),
        "tomorrow's chart after publication: {after}"
    );
}
