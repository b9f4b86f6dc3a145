//! The link to the broker: a deadline loop that connects, serves the
//! connection (keep-alive, Home Assistant's birth message), and when the
//! broker goes away waits a jittered, growing delay before trying again.
//! Each edge is logged once: lost (or unreachable at start) as a warning,
//! back as info; the retries between are debug lines.

use std::sync::Arc;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use rumqttc::{AsyncClient, ConnectionError, Event, EventLoop, Outgoing, Packet, QoS};
use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;

use super::broker::{Broker, offline_will};
use super::topics::Topics;
use super::{OFFLINE, ONLINE, Session};

/// First and longest pause between connection attempts.
const RETRY_MIN: Duration = Duration::from_secs(1);
const RETRY_MAX: Duration = Duration::from_secs(60);

/// Requests the publisher may queue ahead of the connection.
const REQUEST_CAPACITY: usize = 256;

/// How long a clean stop may take to get `offline` and DISCONNECT out.
const GOODBYE_DEADLINE: Duration = Duration::from_secs(3);

/// The link's state, for logging each edge once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Edge {
    /// Never connected yet.
    Starting,
    Up,
    Down,
}

/// How one connection ended.
enum Ended {
    /// Shutdown: `offline` was published (when connected) and the link stops.
    Stopped,
    /// The broker went away or refused us; `was_up` when it had accepted us.
    Lost {
        error: ConnectionError,
        was_up: bool,
    },
}

/// The connection loop's parts; [`Link::run`] consumes it.
pub(super) struct Link {
    pub(super) broker: Broker,
    pub(super) topics: Topics,
    /// The current session for the publisher: Some while connected.
    pub(super) sessions: watch::Sender<Option<Session>>,
    /// Woken when Home Assistant announces itself `online`.
    pub(super) ha_online: Arc<Notify>,
}

impl Link {
    /// Connects and reconnects until `token` is cancelled.
    pub(super) async fn run(self, token: CancellationToken) {
        let mut edge = Edge::Starting;
        let mut backoff = retry_delays();
        loop {
            let options = match self
                .broker
                .options(client_id(), offline_will(&self.topics.status()))
            {
                Ok(options) => options,
                Err(error) => {
                    // Checked at start; only the OS's roots changing could do this.
                    tracing::error!(%error, "cannot set up the MQTT connection; MQTT is off");
                    return;
                }
            };
            let (client, eventloop) = AsyncClient::new(options, REQUEST_CAPACITY);
            let ended = self.serve(client, eventloop, &mut edge, &token).await;
            self.sessions.send_replace(None);
            let Ended::Lost { error, was_up } = ended else {
                return;
            };
            if was_up {
                backoff = retry_delays();
            }
            let retry_in = backoff.next().unwrap_or(RETRY_MAX);
            match edge {
                Edge::Up => {
                    tracing::warn!(broker = %self.broker.host, %error, ?retry_in, "lost the MQTT broker; reconnecting with backoff")
                }
                Edge::Starting => {
                    tracing::warn!(broker = %self.broker.host, %error, ?retry_in, "the MQTT broker is unreachable; retrying with backoff")
                }
                Edge::Down => {
                    tracing::debug!(%error, ?retry_in, "the MQTT broker is still unreachable")
                }
            }
            edge = Edge::Down;
            tokio::select! {
                () = token.cancelled() => return,
                () = tokio::time::sleep(retry_in) => {}
            }
        }
    }

    /// One connection: from the attempt until it is lost or shutdown.
    async fn serve(
        &self,
        client: AsyncClient,
        mut eventloop: EventLoop,
        edge: &mut Edge,
        token: &CancellationToken,
    ) -> Ended {
        let mut up = false;
        let discovery_status = self.topics.discovery_status();
        loop {
            let event = tokio::select! {
                () = token.cancelled() => {
                    if up {
                        self.say_goodbye(&client, &mut eventloop).await;
                    }
                    return Ended::Stopped;
                }
                event = eventloop.poll() => event,
            };
            match event {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    self.greet(&client);
                    up = true;
                    match edge {
                        Edge::Starting => {
                            tracing::info!(broker = %self.broker.host, port = self.broker.port, "connected to the MQTT broker; publishing every home")
                        }
                        Edge::Down => {
                            metrics::counter!("pricepool_mqtt_reconnects_total").increment(1);
                            tracing::info!(broker = %self.broker.host, port = self.broker.port, "the MQTT broker is back; republishing every home");
                        }
                        Edge::Up => {}
                    }
                    *edge = Edge::Up;
                    self.sessions.send_replace(Some(Session {
                        client: client.clone(),
                    }));
                }
                Ok(Event::Incoming(Packet::Publish(publish))) => {
                    if publish.topic == discovery_status
                        && publish.payload.as_ref() == ONLINE.as_bytes()
                    {
                        tracing::debug!("Home Assistant is online; announcing the sensors again");
                        self.ha_online.notify_one();
                    }
                }
                Ok(_) => {}
                Err(error) => return Ended::Lost { error, was_up: up },
            }
        }
    }

    /// On connect: `online` (retained) and a subscription to Home
    /// Assistant's status. Queued ahead of the publisher's messages (the
    /// channel is fresh, so there is room).
    fn greet(&self, client: &AsyncClient) {
        let online = client.try_publish(self.topics.status(), QoS::AtLeastOnce, true, ONLINE);
        let subscribed = client.try_subscribe(self.topics.discovery_status(), QoS::AtLeastOnce);
        if let Err(error) = online.and(subscribed) {
            tracing::warn!(%error, "could not queue the MQTT online status");
        }
    }

    /// A clean stop: `offline` (retained; a clean DISCONNECT discards the
    /// will), then DISCONNECT, both flushed before returning.
    async fn say_goodbye(&self, client: &AsyncClient, eventloop: &mut EventLoop) {
        let offline = client.try_publish(self.topics.status(), QoS::AtLeastOnce, true, OFFLINE);
        if offline.and(client.try_disconnect()).is_err() {
            return;
        }
        let flushed = tokio::time::timeout(GOODBYE_DEADLINE, async {
            loop {
                match eventloop.poll().await {
                    Ok(Event::Outgoing(Outgoing::Disconnect)) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        })
        .await;
        if flushed.is_err() {
            tracing::warn!("the MQTT broker did not take the offline status in time");
        } else {
            tracing::info!("published offline to the MQTT broker and disconnected");
        }
    }
}

/// Jittered exponential delays between connection attempts.
fn retry_delays() -> impl Iterator<Item = Duration> {
    ExponentialBuilder::default()
        .with_min_delay(RETRY_MIN)
        .with_max_delay(RETRY_MAX)
        .with_factor(2.0)
        .with_jitter()
        .without_max_times()
        .build()
}

/// A client id of its own per connection (a clean session each time), so
/// two instances on one broker never take over each other's connection.
fn client_id() -> String {
    format!("pricepool-{:08x}", rand::random::<u32>())
}
