//! What is published, and when: on a new session everything (discovery
//! for every home, then each home's state and prices); then a home again
//! at its next interval boundary or when its pool's revision moved
//! (tomorrow published, a correction): the registry's change signal wakes
//! it, and a slow poll backs that up;
//! discovery again when Home Assistant says `online`; a home that went
//! away has its retained topics cleared.

use std::collections::{BTreeSet, HashMap};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rumqttc::QoS;
use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;

use super::Session;
use super::discovery::{SENSORS, sensor_config};
use super::state::{HomeState, StateInput, next_boundary, prices_payload};
use super::topics::Topics;
use crate::clock::Clock;
use crate::pool::days::{local_date, local_day};
use crate::upstream::{Home, Registry};

/// How often homes' revisions are compared without a change signal (a
/// lock and a load per home): a safety net, since every change of a pool
/// wakes the publisher through `Registry::changes`.
const REVISION_POLL: Duration = Duration::from_secs(30);

/// When a home has no known interval boundary ahead, look again after this.
const IDLE_RECHECK: chrono::Duration = chrono::Duration::minutes(15);

/// After a failed read, the earliest next try.
const MIN_RETRY: chrono::Duration = chrono::Duration::seconds(1);

/// What was last published for a home in this session.
#[derive(Debug, Clone, Copy)]
struct Tracked {
    /// The pool revision the payloads were computed at.
    revision: u64,
    /// When the state changes by itself (interval boundary, retry).
    due: DateTime<Utc>,
    state_hash: Option<u64>,
    prices_hash: Option<u64>,
}

/// Why publishing stopped.
enum Stop {
    /// Shutdown.
    Cancelled,
    /// The session ended (its client's event loop is gone).
    SessionEnded,
}

/// What woke the serving loop.
enum Wake {
    Cancelled,
    SessionChanged,
    HaOnline,
    Tick,
}

/// The publishing task's state; [`Publisher::run`] consumes it.
pub(super) struct Publisher {
    registry: Registry,
    clock: Clock,
    topics: Topics,
    sessions: watch::Receiver<Option<Session>>,
    ha_online: Arc<Notify>,
    /// Changes of any feed's pool (`Registry::changes`).
    changes: watch::Receiver<u64>,
    /// Per home id, what this session published.
    tracked: HashMap<String, Tracked>,
    /// Homes whose discovery configs we published (retained on the broker
    /// across sessions), so a home that goes away can be cleared.
    announced: BTreeSet<String>,
}

impl Publisher {
    pub(super) fn new(
        registry: Registry,
        clock: Clock,
        topics: Topics,
        sessions: watch::Receiver<Option<Session>>,
        ha_online: Arc<Notify>,
    ) -> Publisher {
        Publisher {
            changes: registry.changes(),
            registry,
            clock,
            topics,
            sessions,
            ha_online,
            tracked: HashMap::new(),
            announced: BTreeSet::new(),
        }
    }

    /// Publishes for each session until `token` is cancelled.
    pub(super) async fn run(mut self, token: CancellationToken) {
        loop {
            let session = tokio::select! {
                () = token.cancelled() => return,
                session = next_session(&mut self.sessions) => session,
            };
            let Some(session) = session else { return };
            // A new connection: the broker may have lost what was retained.
            self.tracked.clear();
            if let Stop::Cancelled = self.serve(&session, &token).await {
                return;
            }
        }
    }

    /// Publishes on one session until it ends or shutdown.
    async fn serve(&mut self, session: &Session, token: &CancellationToken) -> Stop {
        if let Err(stop) = self.announce_all(session, token).await {
            return stop;
        }
        loop {
            if let Err(stop) = self.refresh(session, token).await {
                return stop;
            }
            let sleep = self.next_sleep();
            let wake = tokio::select! {
                () = token.cancelled() => Wake::Cancelled,
                _ = self.sessions.changed() => Wake::SessionChanged,
                () = self.ha_online.notified() => Wake::HaOnline,
                _ = self.changes.changed() => Wake::Tick,
                () = tokio::time::sleep(sleep) => Wake::Tick,
            };
            match wake {
                Wake::Cancelled => return Stop::Cancelled,
                Wake::SessionChanged => return Stop::SessionEnded,
                Wake::HaOnline => {
                    if let Err(stop) = self.announce_all(session, token).await {
                        return stop;
                    }
                }
                Wake::Tick => {}
            }
        }
    }

    /// How long until the earliest due home, at most [`REVISION_POLL`].
    fn next_sleep(&self) -> Duration {
        let now = self.clock.now();
        self.tracked
            .values()
            .map(|tracked| (tracked.due - now).to_std().unwrap_or(Duration::ZERO))
            .fold(REVISION_POLL, Duration::min)
    }

    /// Discovery configs for every home; cleared for homes gone.
    async fn announce_all(
        &mut self,
        session: &Session,
        token: &CancellationToken,
    ) -> Result<(), Stop> {
        let homes = self.registry.homes();
        for home in &homes {
            let info = home.info();
            for sensor in &SENSORS {
                let config = sensor_config(&self.topics, &info, sensor);
                let topic = self.topics.sensor_config(&info.id, sensor.object_id);
                send(
                    session,
                    token,
                    topic,
                    config.to_string().into_bytes(),
                    "discovery",
                )
                .await?;
            }
            self.announced.insert(info.id);
        }
        self.clear_gone(session, token, &homes).await
    }

    /// Empty retained payloads for every topic of homes announced but gone.
    async fn clear_gone(
        &mut self,
        session: &Session,
        token: &CancellationToken,
        homes: &[Home],
    ) -> Result<(), Stop> {
        let present: BTreeSet<String> = homes.iter().map(|h| h.info().id).collect();
        let gone: Vec<String> = self.announced.difference(&present).cloned().collect();
        for home_id in gone {
            for sensor in &SENSORS {
                let topic = self.topics.sensor_config(&home_id, sensor.object_id);
                send(session, token, topic, Vec::new(), "clear").await?;
            }
            send(
                session,
                token,
                self.topics.state(&home_id),
                Vec::new(),
                "clear",
            )
            .await?;
            send(
                session,
                token,
                self.topics.prices(&home_id),
                Vec::new(),
                "clear",
            )
            .await?;
            tracing::info!(home_id, "a home went away; its MQTT topics were cleared");
            self.announced.remove(&home_id);
            self.tracked.remove(&home_id);
        }
        Ok(())
    }

    /// Publishes every home that is new, due, or whose prices changed.
    async fn refresh(&mut self, session: &Session, token: &CancellationToken) -> Result<(), Stop> {
        let homes = self.registry.homes();
        if homes
            .iter()
            .any(|home| !self.announced.contains(&home.info().id))
            || homes.len() < self.announced.len()
        {
            self.announce_all(session, token).await?;
        }
        for home in &homes {
            let id = home.info().id;
            let now = self.clock.now();
            let stale = self
                .tracked
                .get(&id)
                .is_none_or(|tracked| tracked.due <= now || tracked.revision != home.revision());
            if stale {
                self.publish_home(session, token, home).await?;
            }
        }
        Ok(())
    }

    /// Reads the home's today and tomorrow and publishes its state and
    /// prices where they differ from what this session published.
    async fn publish_home(
        &mut self,
        session: &Session,
        token: &CancellationToken,
        home: &Home,
    ) -> Result<(), Stop> {
        let info = home.info();
        let revision = home.revision();
        let now = self.clock.now();
        let today = local_date(info.zone, now);
        let (today_start, today_end) = local_day(info.zone, today);
        let tomorrow_end = local_day(info.zone, today.succ_opt().unwrap_or(today)).1;
        let previous = self.tracked.get(&info.id).copied();
        let answer = match home.intervals(today_start, tomorrow_end).await {
            Ok(answer) => answer,
            Err(error) => {
                tracing::debug!(home_id = %info.id, %error, "prices unavailable for MQTT; trying again later");
                let due = error
                    .retry_at
                    .unwrap_or(now + IDLE_RECHECK)
                    .max(now + MIN_RETRY);
                let tracked = previous.map_or(
                    Tracked {
                        revision,
                        due,
                        state_hash: None,
                        prices_hash: None,
                    },
                    |p| Tracked { revision, due, ..p },
                );
                self.tracked.insert(info.id, tracked);
                return Ok(());
            }
        };
        let shortfall = answer.shortfall();
        let state = HomeState::at(&StateInput {
            intervals: &answer.intervals,
            zone: info.zone,
            now,
            today_end,
            today_complete: shortfall
                .is_none_or(|s| s.missing.iter().all(|gap| gap.start >= today_end)),
        });
        let state = serde_json::to_vec(&state).unwrap_or_default();
        let prices = prices_payload(&info.id, &answer.intervals);
        let (state_hash, prices_hash) = (hash(&state), hash(&prices));
        if previous.and_then(|p| p.state_hash) != Some(state_hash) {
            send(session, token, self.topics.state(&info.id), state, "state").await?;
        }
        if previous.and_then(|p| p.prices_hash) != Some(prices_hash) {
            send(
                session,
                token,
                self.topics.prices(&info.id),
                prices,
                "prices",
            )
            .await?;
        }
        let retry_at = shortfall
            .and_then(|s| s.retry_at)
            .map(|at| at.max(now + MIN_RETRY));
        let due = [next_boundary(&answer.intervals, now), retry_at]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(now + IDLE_RECHECK);
        self.tracked.insert(
            info.id,
            Tracked {
                revision,
                due,
                state_hash: Some(state_hash),
                prices_hash: Some(prices_hash),
            },
        );
        Ok(())
    }
}

/// Publishes `payload` retained at least once; waits while the request
/// queue is full, stops on shutdown or when the session's event loop is gone.
async fn send(
    session: &Session,
    token: &CancellationToken,
    topic: String,
    payload: Vec<u8>,
    kind: &'static str,
) -> Result<(), Stop> {
    let published = tokio::select! {
        () = token.cancelled() => return Err(Stop::Cancelled),
        published = session.client.publish(topic, QoS::AtLeastOnce, true, payload) => published,
    };
    match published {
        Ok(()) => {
            metrics::counter!("pricepool_mqtt_publishes_total", "kind" => kind).increment(1);
            Ok(())
        }
        Err(_) => Err(Stop::SessionEnded),
    }
}

/// The next session, waiting while there is none; None when the link is gone.
async fn next_session(sessions: &mut watch::Receiver<Option<Session>>) -> Option<Session> {
    loop {
        if let Some(session) = sessions.borrow_and_update().clone() {
            return Some(session);
        }
        if sessions.changed().await.is_err() {
            return None;
        }
    }
}

fn hash(payload: &[u8]) -> u64 {
    let mut hasher = DefaultHasher::new();
    payload.hash(&mut hasher);
    hasher.finish()
}
