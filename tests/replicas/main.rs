//! Replicas of the real binary sharing one Redis (a real `redis-server`
//! on a free loopback port) in front of the fake Tibber: single-flight
//! across replicas, restarts that cost nothing, shared cooldowns, Redis
//! outages, a lock holder killed mid-fetch, a corrupt shared snapshot, and
//! the lock's model test.

mod helpers;

mod limiter;
mod lock_model;
mod outage;
mod sharing;
mod startup;
mod takeover;
