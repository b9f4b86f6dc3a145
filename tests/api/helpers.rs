//! `spawn_app()`: one service per test on 127.0.0.1:0 with its own data
//! directory and a fixed starting instant, plus small request helpers.

use std::time::Duration;

use pricepool::app::Application;
use pricepool::config::Config;
use reqwest::StatusCode;
use serde_json::Value;
use tokio::sync::oneshot;

/// 10:00 local on the fall-back day in Berlin (25 hours, 100 quarter-hours),
/// before tomorrow's prices are published at 13:00.
pub const FALL_BACK_MORNING: &str = "2025-10-26T10:00:00+01:00";

/// A running service and a client for it.
pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub data_dir: tempfile::TempDir,
    stop: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

/// The service on the demo source with the clock at [`FALL_BACK_MORNING`].
pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// The service with extra flags (they win over the defaults here).
pub async fn spawn_app_with(extra: &[&str]) -> TestApp {
    let data_dir = tempfile::tempdir().expect("temp dir");
    spawn_app_in(data_dir, extra).await
}

/// The service on an existing data directory.
pub async fn spawn_app_in(data_dir: tempfile::TempDir, extra: &[&str]) -> TestApp {
    let application = Application::build(config(data_dir.path(), extra))
        .await
        .expect("the service starts");
    let address = format!("http://127.0.0.1:{}", application.port());
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(application.run_until(async {
        let _ = stopped.await;
    }));
    TestApp {
        address,
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .build()
            .expect("client"),
        data_dir,
        stop: Some(stop),
        server: Some(server),
    }
}

/// The flags of a test service: loopback port 0, `data_dir`, the fixed
/// clock, no prefetch, quiet logs, then `extra`.
pub fn config(data_dir: &std::path::Path, extra: &[&str]) -> Config {
    let data_dir = data_dir.to_str().expect("utf-8 temp path");
    let mut args = vec![
        "pricepool",
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        data_dir,
        "--now",
        FALL_BACK_MORNING,
        "--no-prefetch",
        "--log",
        "warn",
    ];
    args.extend_from_slice(extra);
    Config::parse_from_args(args).expect("valid test flags")
}

impl TestApp {
    /// GET `path_and_query`.
    pub async fn get(&self, path_and_query: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{}", self.address, path_and_query))
            .send()
            .await
            .expect("the service answers")
    }

    /// GET and parse a JSON body, asserting the status.
    pub async fn get_json(&self, path_and_query: &str, status: StatusCode) -> Value {
        let response = self.get(path_and_query).await;
        assert_eq!(response.status(), status, "GET {path_and_query}");
        response.json().await.expect("a JSON body")
    }

    /// Stops the service gracefully, waits for it, and hands back its
    /// data directory (for a restart on it).
    pub async fn stop(mut self) -> tempfile::TempDir {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            server
                .await
                .expect("server task")
                .expect("graceful shutdown");
        }
        let placeholder = tempfile::tempdir().expect("temp dir");
        std::mem::replace(&mut self.data_dir, placeholder)
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Asserts a problem+json answer with `status` and returns its body.
pub async fn assert_problem(response: reqwest::Response, status: StatusCode) -> Value {
    assert_eq!(response.status(), status);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json",
        "error bodies are problem+json"
    );
    let body: Value = response.json().await.expect("a problem body");
    assert_eq!(body["status"], status.as_u16());
    for field in ["type", "title", "detail"] {
        assert!(body[field].is_string(), "problem has `{field}`: {body}");
    }
    body
}

/// A fake Tibber server whose clock reads [`FALL_BACK_MORNING`], like the
/// services the helpers start.
pub async fn start_fake_tibber() -> pricepool::testkit::FakeTibber {
    let fake = pricepool::testkit::FakeTibber::start()
        .await
        .expect("fake Tibber starts");
    fake.set_now(
        chrono::DateTime::parse_from_rfc3339(FALL_BACK_MORNING)
            .expect("valid instant")
            .to_utc(),
    );
    fake
}

/// The flags of `--source tibber` against `fake`, with short upstream
/// deadlines so failure tests finish quickly.
pub fn tibber_flags(fake: &pricepool::testkit::FakeTibber) -> Vec<&str> {
    vec![
        "--source",
        "tibber",
        "--tibber-url",
        fake.url(),
        "--tibber-token",
        fake.token(),
        "--fetch-deadline",
        "3s",
        "--upstream-timeout",
        "1s",
    ]
}

/// The service on `--source tibber` against `fake`.
pub async fn spawn_app_against(fake: &pricepool::testkit::FakeTibber) -> TestApp {
    spawn_app_with(&tibber_flags(fake)).await
}
