//! The MQTT push from the real binary: logs, signals, kill -9, a broker
//! restart, a refused password, a bad URL.

use std::time::Duration;

use pricepool::testkit::Process;

use crate::helpers::spawn_app_with;
use crate::mosquitto::{Mosquitto, Subscriber};
use crate::mqtt::{WITHIN, config_topic, is_online};

const BINARY: &str = env!("CARGO_BIN_EXE_pricepool");

#[tokio::test]
async fn with_a_password_the_service_logs_in_and_never_shows_it() {
    let broker = Mosquitto::start_with_password("pricepool", "s3cret-pw");
    let url = format!("mqtt://pricepool:s3cret-pw@127.0.0.1:{}", broker.port);
    let _app = spawn_app_with(&["--mqtt-url", &url]).await;
    let ha = Subscriber::connect_as(
        broker.port,
        Some(("pricepool", "s3cret-pw")),
        &["pricepool/status"],
    )
    .await;
    ha.wait_on("pricepool/status", WITHIN, is_online).await;

    // A wrong password: the binary keeps serving and its log never holds it.
    let wrong = format!("mqtt://pricepool:wrong-pw-123@127.0.0.1:{}", broker.port);
    let data_dir = tempfile::tempdir().unwrap();
    let data = data_dir.path().to_str().unwrap().to_string();
    let mut service = tokio::task::spawn_blocking(move || {
        Process::serve(
            BINARY,
            &["--data-dir", &data, "--no-prefetch", "--mqtt-url", &wrong],
        )
    })
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(service.get("/healthz").unwrap().status, 200);
    service.sigterm();
    assert!(service.wait(Duration::from_secs(20)).success());
    let log = service.stderr();
    assert!(log.contains("MQTT broker"), "the refusal is logged: {log}");
    assert!(!log.contains("wrong-pw-123"), "{log}");
}

#[tokio::test]
async fn a_broker_restart_is_logged_once_each_way_and_everything_republished() {
    let mut broker = Mosquitto::start();
    let data_dir = tempfile::tempdir().unwrap();
    let url = broker.url();
    let data = data_dir.path().to_str().unwrap().to_string();
    let mut service = tokio::task::spawn_blocking(move || {
        Process::serve(
            BINARY,
            &[
                "--data-dir",
                &data,
                "--no-prefetch",
                "--log",
                "pricepool=info,warn",
                "--mqtt-url",
                &url,
            ],
        )
    })
    .await
    .unwrap();
    let first = Subscriber::connect(broker.port, &["pricepool/#"]).await;
    first
        .wait_on("pricepool/demo/state", WITHIN, |_| true)
        .await;
    drop(first);
    assert_eq!(mqtt_readiness(&service), (200, Some("up".to_string())));

    broker.kill();
    // HTTP goes on while the broker is away; /readyz says so, still ready.
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(700)).await;
        assert_eq!(
            service
                .get("/v1/homes/demo/intervals/current")
                .unwrap()
                .status,
            200
        );
    }
    assert_eq!(mqtt_readiness(&service), (200, Some("down".to_string())));
    broker.restart();
    // The restarted broker lost everything retained; the service puts it back.
    let again = Subscriber::connect(broker.port, &["pricepool/#", "homeassistant/#"]).await;
    let limit = Duration::from_secs(40);
    again.wait_on("pricepool/status", limit, is_online).await;
    again.wait_on("pricepool/demo/state", limit, |_| true).await;
    again
        .wait_on("pricepool/demo-oslo/prices", limit, |_| true)
        .await;
    again
        .wait_on(&config_topic("demo-helsinki", "today_mean"), limit, |_| {
            true
        })
        .await;

    assert_eq!(mqtt_readiness(&service), (200, Some("up".to_string())));

    service.sigterm();
    assert!(service.wait(Duration::from_secs(20)).success());
    let lines = service.stderr_lines();
    let count = |needle: &str| lines.iter().filter(|l| l.contains(needle)).count();
    assert_eq!(count("lost the MQTT broker"), 1, "{lines:#?}");
    assert_eq!(count("the MQTT broker is back"), 1, "{lines:#?}");
    again
        .wait_on("pricepool/status", WITHIN, |m| m.text() == "offline")
        .await;
}

/// `/readyz`'s status and its `mqtt` field.
fn mqtt_readiness(service: &Process) -> (u16, Option<String>) {
    let answer = service.get("/readyz").unwrap();
    let body: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
    let mqtt = body["mqtt"].as_str().map(str::to_string);
    (answer.status, mqtt)
}

#[tokio::test]
async fn a_killed_service_is_marked_offline_by_its_last_will() {
    let broker = Mosquitto::start();
    let data_dir = tempfile::tempdir().unwrap();
    let url = broker.url();
    let data = data_dir.path().to_str().unwrap().to_string();
    let mut service = tokio::task::spawn_blocking(move || {
        Process::serve(
            BINARY,
            &["--data-dir", &data, "--no-prefetch", "--mqtt-url", &url],
        )
    })
    .await
    .unwrap();
    let ha = Subscriber::connect(broker.port, &["pricepool/status"]).await;
    ha.wait_on("pricepool/status", WITHIN, is_online).await;
    service.kill();
    let status = ha
        .wait_on("pricepool/status", WITHIN, |m| m.text() == "offline")
        .await;
    assert!(!status.retain, "delivered live");
    let late = Subscriber::connect(broker.port, &["pricepool/status"]).await;
    assert!(
        late.wait_on("pricepool/status", WITHIN, |m| m.text() == "offline")
            .await
            .retain
    );
}

#[test]
fn a_bad_mqtt_url_stops_the_start_with_one_line_that_never_quotes_it() {
    let data_dir = tempfile::tempdir().unwrap();
    let mut child = Process::spawn(pricepool::testkit::process::command(
        BINARY,
        &[
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            data_dir.path().to_str().unwrap(),
            "--mqtt-url",
            "http://alice:hunter2@broker:1883",
        ],
    ));
    assert!(!child.wait(Duration::from_secs(20)).success());
    let log = child.stderr();
    assert!(log.contains("mqtt://"), "{log}");
    assert!(!log.contains("hunter2") && !log.contains("alice"), "{log}");
}
