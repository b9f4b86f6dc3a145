//! What a restart keeps: a graceful stop flushes, and the next instance on
//! the same data directory serves the restored homes before any fetch.

use reqwest::StatusCode;

use crate::helpers::{spawn_app, spawn_app_in};

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

    let restarted = spawn_app_in(data_dir, &[]).await;
    let stats = restarted
        .get_json("/v1/homes/demo/stats", StatusCode::OK)
        .await;
    assert!(stats["pool"]["live_intervals"].as_u64().unwrap() >= 100);
    assert_eq!(stats["pool"]["last_fetch"], before["pool"]["last_fetch"]);
}
