//! Redis going away and coming back: the replicas serve what they hold,
//! fetch alone, log the loss and the return once each, and write their
//! feeds again into the empty Redis.

use std::time::Duration;

use pricepool::testkit::RedisServer;

use crate::helpers::{SNAPSHOT_KEY, Upstream, eventually, three};

#[test]
fn replicas_go_on_alone_without_redis_and_share_again_when_it_returns() {
    let mut redis = RedisServer::start();
    let upstream = Upstream::start();
    let replicas = three(&redis, &upstream, &[]);
    for replica in &replicas {
        assert_eq!(replica.day("2025-10-20").0, 200);
    }
    assert_eq!(upstream.price_calls(), 1);

    for replica in &replicas {
        assert_eq!(replica.redis_state(), "up");
    }
    redis.kill();
    for replica in &replicas {
        assert!(eventually(Duration::from_secs(5), || replica.redis_state() == "down"));
    }
    for _ in 0..3 {
        for replica in &replicas {
            let (status, body) = replica.day("2025-10-20");
            assert_eq!(status, 200, "cached ranges are answered from RAM: {body}");
        }
    }
    assert_eq!(upstream.price_calls(), 1);
    // A miss is fetched alone.
    let (status, body) = replicas[0].day("2025-10-19");
    assert_eq!(status, 200, "{body}");
    assert_eq!(upstream.price_calls(), 2);

    redis.restart();
    for replica in &replicas {
        assert!(eventually(Duration::from_secs(10), || replica
            .redis_state()
            == "up"));
    }
    let mut connection = redis.connection();
    assert!(
        eventually(Duration::from_secs(10), || {
            redis::cmd("EXISTS")
                .arg(SNAPSHOT_KEY)
                .query::<bool>(&mut connection)
                .unwrap_or(false)
        }),
        "the replicas wrote their feed into the empty Redis"
    );
    // Sharing resumed: what replica 0 fetched alone is served by the others.
    assert!(eventually(Duration::from_secs(5), || {
        let snapshot: Vec<u8> = redis::cmd("GET")
            .arg(SNAPSHOT_KEY)
            .query(&mut connection)
            .unwrap_or_default();
        pricepool::store::format::decode(&snapshot).is_ok_and(|decoded| {
            decoded
                .snapshot
                .groups
                .iter()
                .flat_map(|group| &group.intervals)
                .any(|interval| interval.starts_at().to_rfc3339().starts_with("2025-10-19"))
        })
    }));
    for replica in &replicas[1..] {
        assert_eq!(replica.day("2025-10-19").0, 200);
    }
    assert_eq!(
        upstream.price_calls(),
        2,
        "no call for what replica 0 brought"
    );

    for replica in replicas {
        let log = replica.stop();
        assert_eq!(log.matches("Redis lost").count(), 1, "{log}");
        assert_eq!(log.matches("Redis is reachable again").count(), 1, "{log}");
        assert!(!log.contains("redis://"), "{log}");
    }
}
