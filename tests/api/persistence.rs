//! What a restart keeps: a graceful stop flushes, and the next instance on
//! the same data directory serves the restored homes before any fetch.

use reqwest::StatusCode;

use crate::helpers::{spawn_app, spawn_app_in, spawn_app_with};

#[tokio::test]
async fn a_restart_serves_what_the_previous_run_fetched() {
    let app = spawn_app().await;
    app.get_json("/v1/homes/demo/intervals?date=today", StatusCode::OK)
        .await;
    let before = app.get_json("/v1/homes/demo/stats", StatusCode::OK).await;
    assert_eq!(
        before["persistence"]["dirty"], true,
        "saved only after the delay"
    );
    let data_dir = app.stop().await;
    // Stamped by the service's clock (`--now` on the fall-back day), like
    // every other instant it reports, not by the machine's.
    let file = std::fs::read_to_string(data_dir.path().join("homes/demo.json")).unwrap();
    let saved: serde_json::Value = serde_json::from_str(&file).unwrap();
    assert!(
        saved["saved_at"]
            .as_str()
            .unwrap()
            .starts_with("2025-10-26T"),
        "{}",
        saved["saved_at"]
    );

    let restarted = spawn_app_in(data_dir, &[]).await;
    let stats = restarted
        .get_json("/v1/homes/demo/stats", StatusCode::OK)
        .await;
    assert!(stats["pool"]["live_intervals"].as_u64().unwrap() >= 100);
    assert_eq!(stats["pool"]["last_fetch"], before["pool"]["last_fetch"]);
}

#[tokio::test]
async fn a_shutdown_that_cannot_save_a_dirty_home_is_an_error_naming_it() {
    let mut app = spawn_app_with(&["--shutdown-timeout", "500ms"]).await;
    app.get_json("/v1/homes/demo/intervals?date=today", StatusCode::OK)
        .await;
    // The snapshot directory becomes a plain file: every write fails (as
    // root, permissions would not), like a disk that went away.
    let homes = app.data_dir.path().join("homes");
    std::fs::rename(&homes, app.data_dir.path().join("homes.moved")).unwrap();
    std::fs::write(&homes, b"not a directory").unwrap();

    let error = app
        .stop_result()
        .await
        .expect_err("unsaved homes fail the shutdown");
    let message = error.to_string();
    assert!(message.contains("could not be saved"), "{message}");
    assert!(message.contains("demo"), "{message}");
}
