//! Home Assistant MQTT discovery: one device per home, six sensors read
//! from the home's state topic, each config retained at
//! `{discovery}/sensor/{node_id}/{sensor}/config`. Keys as Home
//! Assistant's MQTT sensor schema names them (`homeassistant/components/mqtt`:
//! the device needs an identifier, the origin a name; node and object ids
//! `[A-Za-z0-9_-]+`).

use serde_json::{Value, json};

use super::topics::Topics;
use crate::pool::HomeInfo;

/// The version Home Assistant shows for the device and the origin.
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// One sensor of a home's device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sensor {
    /// Object id in the config topic, and the unique id's tail.
    pub object_id: &'static str,
    /// Entity name (Home Assistant prefixes the device name).
    pub name: &'static str,
    /// Jinja template over the state JSON; `None` (unknown) when absent.
    pub value_template: &'static str,
    /// A price per kWh (unit, measurement) or an instant (timestamp).
    pub kind: SensorKind,
}

/// What a sensor's value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SensorKind {
    /// `{currency}/kWh`, `state_class: measurement` (no `device_class:
    /// monetary`, which Home Assistant allows only with total states).
    Price,
    /// `device_class: timestamp`.
    Timestamp,
}

/// Every sensor of a home, in the order announced.
pub const SENSORS: [Sensor; 6] = [
    Sensor {
        object_id: "current_price",
        name: "Current price",
        value_template: "{{ value_json.current.total if value_json.current else None }}",
        kind: SensorKind::Price,
    },
    Sensor {
        object_id: "next_price",
        name: "Next price",
        value_template: "{{ value_json.next.total if value_json.next else None }}",
        kind: SensorKind::Price,
    },
    Sensor {
        object_id: "today_min",
        name: "Today's lowest price",
        value_template: "{{ value_json.today.min if value_json.today else None }}",
        kind: SensorKind::Price,
    },
    Sensor {
        object_id: "today_max",
        name: "Today's highest price",
        value_template: "{{ value_json.today.max if value_json.today else None }}",
        kind: SensorKind::Price,
    },
    Sensor {
        object_id: "today_mean",
        name: "Today's mean price",
        value_template: "{{ value_json.today.mean if value_json.today else None }}",
        kind: SensorKind::Price,
    },
    Sensor {
        object_id: "cheapest_3h_start",
        name: "Cheapest 3 h start",
        value_template: "{{ value_json.cheapest_3h_start }}",
        kind: SensorKind::Timestamp,
    },
];

/// The discovery config of `sensor` for `home`.
pub fn sensor_config(topics: &Topics, home: &HomeInfo, sensor: &Sensor) -> Value {
    let node_id = topics.node_id(&home.id);
    let mut config = json!({
        "name": sensor.name,
        "unique_id": format!("{node_id}_{}", sensor.object_id),
        "state_topic": topics.state(&home.id),
        "value_template": sensor.value_template,
        "availability_topic": topics.status(),
        "payload_available": super::ONLINE,
        "payload_not_available": super::OFFLINE,
        "device": {
            "identifiers": [node_id],
            "name": format!("pricepool {}", home.id),
            "manufacturer": "pricepool",
            "model": format!("energy prices ({})", home.currency),
            "sw_version": VERSION,
        },
        "origin": {
            "name": "pricepool",
            "sw_version": VERSION,
        },
    });
    let fields = config.as_object_mut().expect("a JSON object literal");
    match sensor.kind {
        SensorKind::Price => {
            fields.insert(
                "unit_of_measurement".into(),
                json!(format!("{}/kWh", home.currency)),
            );
            fields.insert("state_class".into(), json!("measurement"));
            fields.insert("suggested_display_precision".into(), json!(4));
        }
        SensorKind::Timestamp => {
            fields.insert("device_class".into(), json!("timestamp"));
        }
    }
    if sensor.object_id == "current_price" {
        // The prices message is a JSON array; attributes must be an object.
        fields.insert(
            "json_attributes_topic".into(),
            json!(topics.prices(&home.id)),
        );
        fields.insert(
            "json_attributes_template".into(),
            json!("{{ {'prices': value_json} | tojson }}"),
        );
    }
    config
}

#[cfg(test)]
mod tests {
    use super::*;

    fn home(id: &str, currency: &str) -> HomeInfo {
        HomeInfo {
            id: id.to_string(),
            zone: chrono_tz::Europe::Oslo,
            currency: currency.to_string(),
        }
    }

    #[test]
    fn a_price_sensor_has_the_currency_unit_and_a_measurement_state() {
        let topics = Topics::new("pricepool", "homeassistant").unwrap();
        let config = sensor_config(&topics, &home("demo-oslo", "NOK"), &SENSORS[0]);
        assert_eq!(config["unit_of_measurement"], "NOK/kWh");
        assert_eq!(config["state_class"], "measurement");
        assert!(config.get("device_class").is_none());
        assert_eq!(config["state_topic"], "pricepool/demo-oslo/state");
        assert_eq!(config["availability_topic"], "pricepool/status");
        assert_eq!(
            config["json_attributes_topic"],
            "pricepool/demo-oslo/prices"
        );
        assert_eq!(config["unique_id"], "pricepool_demo-oslo_current_price");
        assert_eq!(config["device"]["identifiers"][0], "pricepool_demo-oslo");
        assert_eq!(config["device"]["manufacturer"], "pricepool");
        assert_eq!(config["origin"]["name"], "pricepool");
    }

    #[test]
    fn the_cheapest_start_is_a_timestamp_without_unit_and_ids_are_unique() {
        let topics = Topics::new("pricepool", "homeassistant").unwrap();
        let demo = home("demo", "EUR");
        let config = sensor_config(&topics, &demo, &SENSORS[5]);
        assert_eq!(config["device_class"], "timestamp");
        assert!(config.get("unit_of_measurement").is_none());
        assert!(config.get("state_class").is_none());
        let ids: std::collections::BTreeSet<String> = SENSORS
            .iter()
            .map(|s| {
                sensor_config(&topics, &demo, s)["unique_id"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert_eq!(ids.len(), SENSORS.len());
    }
}
