//! Starting with Redis away, and with a bad URL.

use std::time::Duration;

use pricepool::testkit::process::{command, free_port};
use pricepool::testkit::{Process, RedisServer};

use crate::helpers::{BINARY, Replica, Upstream, eventually};

#[test]
fn a_replica_starts_and_serves_alone_while_redis_is_away_and_shares_once_it_comes() {
    let upstream = Upstream::start();
    let mut redis = RedisServer::start();
    redis.kill();
    let replica = Replica::start(&redis, &upstream, &[]);
    assert_eq!(replica.redis_state(), "down", "ready without Redis");
    let (status, body) = replica.day("2025-10-20");
    assert_eq!(status, 200, "{body}");

    redis.restart();
    assert!(eventually(Duration::from_secs(10), || replica
        .redis_state()
        == "up"));
    let mut connection = redis.connection();
    assert!(
        eventually(Duration::from_secs(5), || {
            redis::cmd("EXISTS")
                .arg(crate::helpers::SNAPSHOT_KEY)
                .query::<bool>(&mut connection)
                .unwrap_or(false)
        }),
        "what it fetched alone is shared once Redis is there"
    );
    let log = replica.stop();
    assert!(log.contains("Redis is not reachable yet"), "{log}");
}

#[test]
fn a_bad_redis_url_stops_the_start_with_one_line_that_never_shows_it() {
    let data = tempfile::tempdir().unwrap();
    let listen = format!("127.0.0.1:{}", free_port());
    let mut process = Process::spawn(command(
        BINARY,
        &[
            "--listen",
            &listen,
            "--data-dir",
            data.path().to_str().unwrap(),
            "--redis-url",
            "rediss-nope://:hunter2@cache:6379",
        ],
    ));
    let status = process.wait(Duration::from_secs(20));
    assert!(!status.success());
    let log = process.stderr();
    assert!(log.contains("--redis-url"), "{log}");
    assert!(!log.contains("hunter2"), "{log}");
}
