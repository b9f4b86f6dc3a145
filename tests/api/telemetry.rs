//! What an operator reads: the help text of every metric /metrics shows,
//! and one log line per failed request, carrying its request id.

use std::io::Write;
use std::sync::{Arc, Mutex};

use pricepool::testkit::Fault;
use reqwest::StatusCode;

use crate::helpers::{assert_problem, spawn_app, spawn_app_against, start_fake_tibber};

#[tokio::test]
async fn metrics_show_help_text_for_the_render_cache() {
    let app = spawn_app().await;
    app.get("/v1/homes/demo/intervals?date=2025-10-20").await;
    app.get("/v1/homes/demo/intervals?date=2025-10-20").await;
    let text = app.get("/metrics").await.text().await.unwrap();
    for name in [
        "pricepool_render_cache_requests_total",
        "pricepool_render_cache_bytes",
        "pricepool_render_cache_entries",
    ] {
        assert!(
            text.contains(&format!("# HELP {name} ")),
            "no help line for {name}:\n{text}"
        );
    }
}

/// Collects everything a subscriber writes.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

// A current-thread runtime: the service's tasks run on this test's thread
// (and its connection threads log to the dispatcher of the thread that
// started the server), so the thread's default subscriber sees their logs
// (and no other test's).
#[tokio::test(flavor = "current_thread")]
async fn a_failed_request_is_logged_once_with_its_request_id() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    // While a process has exactly one dispatcher, tracing caches a
    // callsite's interest from whichever thread hits it first; other tests
    // of this binary run on other threads without a subscriber, so a
    // second, silent dispatcher keeps interest per thread (and per event).
    let _second = tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default());
    tracing::callsite::rebuild_interest_cache();

    let fake = start_fake_tibber().await;
    let app = spawn_app_against(&fake).await;
    fake.set_fault(Some(Fault::Unauthorized));
    let response = app
        .client
        .get(format!(
            "{}/v1/homes/demo/intervals?date=2025-10-20",
            app.address
        ))
        .header("x-request-id", "failed-once-7")
        .send()
        .await
        .unwrap();
    assert_problem(response, StatusCode::BAD_GATEWAY).await;

    let log = captured.text();
    let about_the_answer: Vec<&str> = log
        .lines()
        .filter(|line| line.contains("failed-once-7") && line.contains("502"))
        .collect();
    assert_eq!(
        about_the_answer.len(),
        1,
        "one line for the failed answer, with its request id:\n{log}"
    );
}
