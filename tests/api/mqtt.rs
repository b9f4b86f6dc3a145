//! The push to Home Assistant over MQTT, against a real Mosquitto: what a
//! Home Assistant (or any subscriber) sees on the broker.

use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use pricepool::app::Application;
use pricepool::pool::{Pool, PoolConfig};
use pricepool::upstream::DemoMarket;
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{TestApp, spawn_app_with};
use crate::mosquitto::{Message, Mosquitto, Subscriber};

/// Generous: nothing here is a speed test.
pub const WITHIN: Duration = Duration::from_secs(15);

const SENSORS: [&str; 6] = [
    "current_price",
    "next_price",
    "today_min",
    "today_max",
    "today_mean",
    "cheapest_3h_start",
];

/// The demo homes as `/v1/homes` lists them: (id, currency).
async fn homes(app: &TestApp) -> Vec<(String, String)> {
    let body = app.get_json("/v1/homes", StatusCode::OK).await;
    body["homes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            let field = |name: &str| h[name].as_str().unwrap().to_string();
            (field("id"), field("currency"))
        })
        .collect()
}

pub fn config_topic(home_id: &str, sensor: &str) -> String {
    format!("homeassistant/sensor/pricepool_{home_id}/{sensor}/config")
}

pub fn is_online(message: &Message) -> bool {
    message.text() == "online"
}

#[tokio::test]
async fn every_demo_home_has_its_state_prices_and_sensors_retained() {
    let broker = Mosquitto::start();
    let app = spawn_app_with(&["--mqtt-url", &broker.url()]).await;
    let homes = homes(&app).await;
    assert_eq!(homes.len(), 3, "{homes:?}");
    wait_until_everything_is_published(&broker, &homes).await;
    // Subscribing after the fact: what we get is what the broker retained.
    let ha = Subscriber::connect(broker.port, &["pricepool/#", "homeassistant/#"]).await;
    let status = ha.wait_on("pricepool/status", WITHIN, is_online).await;
    assert!(status.retain, "status is retained");

    for (home_id, currency) in &homes {
        let state = ha
            .wait_on(&format!("pricepool/{home_id}/state"), WITHIN, |m| m.retain)
            .await
            .json();
        let current = app
            .get_json(
                &format!("/v1/homes/{home_id}/intervals/current"),
                StatusCode::OK,
            )
            .await;
        assert_eq!(
            state["current"]["total"], current["interval"]["total"],
            "{home_id}"
        );
        assert_eq!(
            state["current"]["starts_at"],
            current["interval"]["starts_at"]
        );
        assert_eq!(state["current"]["ends_at"], current["interval"]["ends_at"]);
        assert_eq!(state["next"]["starts_at"], current["interval"]["ends_at"]);
        assert_eq!(state["complete"], true, "today is published: {state}");

        let day = app
            .get_json(
                &format!("/v1/homes/{home_id}/intervals?date=today"),
                StatusCode::OK,
            )
            .await;
        let day = day["intervals"].as_array().unwrap();
        let totals: Vec<f64> = day.iter().map(|i| i["total"].as_f64().unwrap()).collect();
        let min = totals.iter().copied().fold(f64::INFINITY, f64::min);
        let max = totals.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        assert_eq!(state["today"]["min"].as_f64(), Some(min));
        assert_eq!(state["today"]["max"].as_f64(), Some(max));
        let cheapest = state["cheapest_3h_start"]
            .as_str()
            .expect("a cheapest window");
        assert!(DateTime::parse_from_rfc3339(cheapest).is_ok(), "{cheapest}");

        // Before 13:00 only today is known: [[unix_start, total], …].
        let prices = ha
            .wait_on(&format!("pricepool/{home_id}/prices"), WITHIN, |m| m.retain)
            .await;
        assert!(prices.payload.len() < 16 * 1024);
        let rows: Vec<(i64, f64)> = serde_json::from_slice(&prices.payload).unwrap();
        assert_eq!(rows.len(), day.len(), "{home_id}");
        for (row, interval) in rows.iter().zip(day) {
            let start = DateTime::parse_from_rfc3339(interval["starts_at"].as_str().unwrap());
            assert_eq!(
                *row,
                (
                    start.unwrap().timestamp(),
                    interval["total"].as_f64().unwrap()
                )
            );
        }

        for sensor in SENSORS {
            let config = ha
                .wait_on(&config_topic(home_id, sensor), WITHIN, |m| m.retain)
                .await
                .json();
            assert_home_assistant_accepts(&config, home_id, currency, sensor);
        }
    }
    // The fall-back day in Berlin: 100 quarter-hours, under the limit.
    let berlin = ha.last("pricepool/demo/prices").unwrap();
    let rows: Vec<(i64, f64)> = serde_json::from_slice(&berlin.payload).unwrap();
    assert_eq!(rows.len(), 100);
}

/// Waits until a subscriber has seen every home's state, prices and
/// sensor configs (published before or after it subscribed).
async fn wait_until_everything_is_published(broker: &Mosquitto, homes: &[(String, String)]) {
    let probe = Subscriber::connect(broker.port, &["pricepool/#", "homeassistant/#"]).await;
    let mut topics: Vec<String> = vec!["pricepool/status".to_string()];
    for (home_id, _) in homes {
        topics.push(format!("pricepool/{home_id}/state"));
        topics.push(format!("pricepool/{home_id}/prices"));
        topics.extend(SENSORS.iter().map(|sensor| config_topic(home_id, sensor)));
    }
    probe
        .wait_for(WITHIN, "every topic", |messages| {
            topics
                .iter()
                .all(|topic| messages.iter().any(|m| &m.topic == topic))
                .then_some(())
        })
        .await;
}

/// The keys Home Assistant's MQTT sensor discovery requires or we promise.
fn assert_home_assistant_accepts(config: &Value, home_id: &str, currency: &str, sensor: &str) {
    let context = format!("{home_id}/{sensor}: {config}");
    assert_eq!(
        config["state_topic"],
        format!("pricepool/{home_id}/state"),
        "{context}"
    );
    assert_eq!(
        config["unique_id"],
        format!("pricepool_{home_id}_{sensor}"),
        "{context}"
    );
    assert_eq!(
        config["availability_topic"], "pricepool/status",
        "{context}"
    );
    assert!(config["value_template"].as_str().is_some(), "{context}");
    assert!(config["name"].as_str().is_some(), "{context}");
    let device = &config["device"];
    assert_eq!(
        device["identifiers"][0],
        format!("pricepool_{home_id}"),
        "{context}"
    );
    assert_eq!(device["manufacturer"], "pricepool", "{context}");
    assert!(device["sw_version"].as_str().is_some(), "{context}");
    assert_eq!(config["origin"]["name"], "pricepool", "{context}");
    assert_ne!(config["device_class"], "monetary", "{context}");
    if sensor == "cheapest_3h_start" {
        assert_eq!(config["device_class"], "timestamp", "{context}");
        assert!(config.get("unit_of_measurement").is_none(), "{context}");
    } else {
        assert_eq!(
            config["unit_of_measurement"],
            format!("{currency}/kWh"),
            "{context}"
        );
        assert_eq!(config["state_class"], "measurement", "{context}");
    }
    if sensor == "current_price" {
        assert_eq!(
            config["json_attributes_topic"],
            format!("pricepool/{home_id}/prices")
        );
    }
}

#[tokio::test]
async fn home_assistant_coming_online_gets_the_sensors_announced_again() {
    let broker = Mosquitto::start();
    let app = spawn_app_with(&["--mqtt-url", &broker.url()]).await;
    wait_until_everything_is_published(&broker, &homes(&app).await).await;
    let ha = Subscriber::connect(broker.port, &["homeassistant/sensor/#"]).await;
    ha.wait_for(WITHIN, "every config, retained", |messages| {
        (messages.iter().filter(|m| m.retain).count() == 3 * SENSORS.len()).then_some(())
    })
    .await;
    assert!(ha.messages().iter().all(|m| m.retain), "announced once");

    ha.client
        .publish(
            "homeassistant/status",
            rumqttc::QoS::AtLeastOnce,
            false,
            "online",
        )
        .await
        .unwrap();
    // Announced again: live (not retained) copies of every config.
    ha.wait_for(WITHIN, "every config again", |messages| {
        (messages.iter().filter(|m| !m.retain).count() == 3 * SENSORS.len()).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_graceful_stop_leaves_offline_retained() {
    let broker = Mosquitto::start();
    let app = spawn_app_with(&["--mqtt-url", &broker.url()]).await;
    let watcher = Subscriber::connect(broker.port, &["pricepool/status"]).await;
    watcher.wait_on("pricepool/status", WITHIN, is_online).await;
    app.stop().await;
    // A client arriving later reads the retained status.
    let late = Subscriber::connect(broker.port, &["pricepool/status"]).await;
    let status = late
        .wait_on("pricepool/status", WITHIN, |m| m.text() == "offline")
        .await;
    assert!(status.retain);
}

#[tokio::test]
async fn the_state_moves_on_at_the_interval_boundary() {
    let broker = Mosquitto::start();
    // Three seconds before 10:15 on the service's clock.
    let app = spawn_app_with(&[
        "--mqtt-url",
        &broker.url(),
        "--now",
        "2025-10-26T10:14:57+01:00",
    ])
    .await;
    let ha = Subscriber::connect(broker.port, &["pricepool/demo/state"]).await;
    let at_10 = ha
        .wait_on("pricepool/demo/state", WITHIN, |_| true)
        .await
        .json();
    assert_eq!(at_10["current"]["starts_at"], "2025-10-26T10:00:00+01:00");
    let at_1015 = ha
        .wait_on("pricepool/demo/state", WITHIN, |m| {
            m.json()["current"]["starts_at"] == "2025-10-26T10:15:00+01:00"
        })
        .await
        .json();
    assert_eq!(at_1015["current"]["total"], at_10["next"]["total"]);
    let current = app
        .get_json("/v1/homes/demo/intervals/current", StatusCode::OK)
        .await;
    assert_eq!(at_1015["current"]["total"], current["interval"]["total"]);
}

#[tokio::test]
async fn tomorrow_published_at_13_is_pushed_without_a_restart() {
    let broker = Mosquitto::start();
    // Two seconds before publication on the service's clock, no jitter.
    let _app = spawn_app_with(&[
        "--mqtt-url",
        &broker.url(),
        "--now",
        "2026-01-14T12:59:58+01:00",
        "--publish-jitter",
        "0s",
    ])
    .await;
    let ha = Subscriber::connect(broker.port, &["pricepool/demo/prices"]).await;
    let rows = |m: &Message| {
        serde_json::from_slice::<Vec<(i64, f64)>>(&m.payload)
            .unwrap()
            .len()
    };
    let before = ha.wait_on("pricepool/demo/prices", WITHIN, |_| true).await;
    assert_eq!(rows(&before), 96, "before 13:00: today only");
    ha.wait_on("pricepool/demo/prices", Duration::from_secs(20), |m| {
        rows(m) == 2 * 96
    })
    .await;
    // And it is what a client connecting now is handed.
    let late = Subscriber::connect(broker.port, &["pricepool/demo/prices"]).await;
    let retained = late
        .wait_on("pricepool/demo/prices", WITHIN, |_| true)
        .await;
    assert!(retained.retain);
    assert_eq!(rows(&retained), 2 * 96);
}

#[tokio::test]
async fn a_change_of_a_homes_prices_is_pushed_without_a_restart() {
    let broker = Mosquitto::start();
    let data_dir = tempfile::tempdir().unwrap();
    let url = broker.url();
    let config = crate::helpers::config(data_dir.path(), &["--mqtt-url", &url]);
    let application = Application::build(config).await.unwrap();
    let registry = application.registry().clone();
    let (_stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(application.run_until(async {
        let _ = stopped.await;
    }));
    let ha = Subscriber::connect(broker.port, &["pricepool/demo/#"]).await;
    let rows = |m: &Message| {
        serde_json::from_slice::<Vec<(i64, f64)>>(&m.payload)
            .unwrap()
            .len()
    };
    let today_only = ha.wait_on("pricepool/demo/prices", WITHIN, |_| true).await;
    assert_eq!(
        rows(&today_only),
        100,
        "10:00, before publication: the fall-back day only"
    );

    // Tomorrow arrives (as a correction would): the home's pool changes.
    let market = DemoMarket::new();
    let zone = market.zone("demo").unwrap().clone();
    let home = registry.home("demo").unwrap().info();
    let now: DateTime<Utc> = "2025-10-26T09:00:00Z".parse().unwrap();
    let today = NaiveDate::from_ymd_opt(2025, 10, 26).unwrap();
    let mut intervals = market.day(&zone, today);
    intervals.extend(market.day(&zone, today.succ_opt().unwrap()));
    let mut pool = Pool::new(home, PoolConfig::default());
    pool.add(intervals, now, now).unwrap();
    registry.insert_pool(pool);

    // The fall-back day's 100 and tomorrow's 96 quarter-hours, under 16 KiB.
    let both = ha
        .wait_on("pricepool/demo/prices", WITHIN, |m| rows(m) == 196)
        .await;
    assert!(
        both.payload.len() < 16 * 1024,
        "{} bytes",
        both.payload.len()
    );
}
