//! Push to Home Assistant (DESIGN.md, "Push: MQTT with Home Assistant
//! discovery"): with `--mqtt-url`, pricepool publishes each home's state
//! and prices, retained, and announces them to Home Assistant's MQTT
//! discovery, so prices appear as sensors without a line of YAML.
//!
//! Two background tasks, both on `Shutdown`'s background tracker:
//! - the [`link`]: a deadline loop that connects, serves the connection,
//!   backs off with jitter when the broker goes away, and logs each edge
//!   (lost / back) once; on shutdown it publishes `offline` and
//!   disconnects cleanly. Each connection is a fresh *session* handed to
//!   the publisher through a watch channel.
//! - the [`publisher`]: on every new session publishes everything
//!   (discovery, then each home's state and prices); then each home again
//!   at its next interval boundary and when its prices change
//!   ([`Home::revision`](crate::upstream::Home::revision)), on the service
//!   clock (`--now` works); discovery again when Home Assistant says `online`.
//!
//! The HTTP service never waits for either: nothing in `api/` touches them.

pub mod broker;
pub mod discovery;
mod link;
mod publisher;
pub mod state;
pub mod topics;

use std::sync::Arc;

use tokio::sync::{Notify, watch};

use crate::clock::Clock;
use crate::shutdown::Shutdown;
use crate::upstream::Registry;

pub use broker::{Broker, BrokerError, MqttUrl};
pub use topics::{PrefixError, Topics};

/// The status payload while pricepool is connected (retained).
pub const ONLINE: &str = "online";
/// The status payload after a clean stop, and the last will (retained).
pub const OFFLINE: &str = "offline";

/// Everything the MQTT push needs from the configuration, checked at start.
#[derive(Debug, Clone)]
pub struct MqttSettings {
    /// The broker and how to log in.
    pub broker: Broker,
    /// Our prefix and Home Assistant's discovery prefix.
    pub topics: Topics,
}

/// Why the MQTT flags cannot be used; start-up stops with this line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MqttError {
    /// `--mqtt-url` is wrong.
    #[error(transparent)]
    Broker(#[from] BrokerError),
    /// A topic prefix is wrong.
    #[error(transparent)]
    Prefix(#[from] PrefixError),
}

impl MqttSettings {
    /// Reads the three flags.
    pub fn new(url: &MqttUrl, prefix: &str, discovery: &str) -> Result<MqttSettings, MqttError> {
        let broker = Broker::parse(url)?;
        // A TLS setup that cannot work fails the start, not every retry.
        if broker.tls {
            broker.options("check".into(), broker::offline_will("check"))?;
        }
        Ok(MqttSettings {
            broker,
            topics: Topics::new(prefix, discovery)?,
        })
    }
}

/// One connection to the broker, as the publisher sees it: a client whose
/// requests the link's event loop carries while the connection lasts.
#[derive(Clone)]
struct Session {
    client: rumqttc::AsyncClient,
}

/// Whether the link has a session with the broker now: what `/readyz`
/// reports as `mqtt`.
#[derive(Clone)]
pub struct MqttStatus(watch::Receiver<Option<Session>>);

impl MqttStatus {
    /// True while connected to the broker.
    pub fn is_connected(&self) -> bool {
        self.0.borrow().is_some()
    }
}

/// Starts the link and the publisher on `shutdown`'s background tracker;
/// both stop on a worker token (the link publishing `offline` first).
/// Returns the connection's status for `/readyz`.
pub fn spawn(
    settings: MqttSettings,
    registry: Registry,
    clock: Clock,
    shutdown: &Shutdown,
) -> MqttStatus {
    let (sessions_tx, sessions_rx) = watch::channel(None);
    let status = MqttStatus(sessions_rx.clone());
    let ha_online = Arc::new(Notify::new());
    let link = link::Link {
        broker: settings.broker,
        topics: settings.topics.clone(),
        sessions: sessions_tx,
        ha_online: Arc::clone(&ha_online),
    };
    shutdown
        .background()
        .spawn(link.run(shutdown.worker_token()));
    let publisher =
        publisher::Publisher::new(registry, clock, settings.topics, sessions_rx, ha_online);
    shutdown
        .background()
        .spawn(publisher.run(shutdown.fetching_token()));
    status
}
