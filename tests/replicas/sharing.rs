//! What sharing buys: one upstream call for a range however many replicas
//! are asked, none after a restart of all of them, and a 429 that holds
//! every replica off.

use std::sync::{Arc, Barrier};

use pricepool::testkit::{Fault, RedisServer};

use crate::helpers::{Replica, Upstream, redis_commands, three};

const DAY: &str = "2025-10-20";

#[test]
fn sixty_cold_requests_over_three_replicas_cost_one_upstream_call_and_a_restart_none() {
    let redis = RedisServer::start();
    let upstream = Upstream::start();
    let replicas = Arc::new(three(&redis, &upstream, &[]));

    let barrier = Arc::new(Barrier::new(60));
    let answers: Vec<(u16, serde_json::Value)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..60)
            .map(|n| {
                let (replicas, barrier) = (Arc::clone(&replicas), Arc::clone(&barrier));
                scope.spawn(move || {
                    barrier.wait();
                    replicas[n % 3].day(DAY)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let first = &answers[0].1;
    for (status, body) in &answers {
        assert_eq!(*status, 200, "{body}");
        assert_eq!(body["complete"], true, "{body}");
        assert_eq!(body["intervals"], first["intervals"]);
    }
    assert_eq!(
        upstream.price_calls(),
        1,
        "one call for 60 requests over 3 replicas"
    );

    for replica in replicas.iter() {
        assert_eq!(replica.day(DAY).0, 200);
    }
    assert_eq!(
        upstream.price_calls(),
        1,
        "a repeat on every replica costs nothing"
    );
    // Ranges inside the day, each new to the render cache: the pool answers.
    let before = redis_commands(&redis);
    for hour in 0..21 {
        let path = format!(
            "/v1/homes/demo/intervals?start={DAY}T{hour:02}:00:00Z&end={DAY}T{:02}:00:00Z",
            hour + 2
        );
        let answer = replicas[hour % 3].process.get(&path).unwrap();
        assert_eq!(answer.status, 200, "{}", answer.body);
    }
    assert_eq!(redis_commands(&redis), before, "a hit never touches Redis");

    // Every replica restarts, with an empty data directory: Redis has the day.
    let replicas = Arc::into_inner(replicas).unwrap();
    for replica in replicas {
        replica.stop();
    }
    let replicas = three(&redis, &upstream, &[]);
    for replica in &replicas {
        let (status, body) = replica.day(DAY);
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["intervals"], first["intervals"]);
    }
    assert_eq!(
        upstream.price_calls(),
        1,
        "restarted replicas read Redis, not the upstream"
    );
}

#[test]
fn a_429_answered_to_one_replica_holds_off_the_others() {
    let redis = RedisServer::start();
    let upstream = Upstream::start();
    let replicas = three(&redis, &upstream, &[]);
    upstream.push_fault(Fault::RateLimited {
        retry_after: Some(600),
    });
    let (status, _) = replicas[0].day(DAY);
    assert_ne!(status, 200);
    assert_eq!(upstream.price_calls(), 1);

    // The fake would answer now; the others must not ask before the Retry-After.
    for (replica, date) in replicas[1..].iter().zip(["2025-10-19", "2025-10-18"]) {
        let (status, body) = replica.day(date);
        assert_ne!(status, 200, "{body}");
    }
    assert_eq!(
        upstream.price_calls(),
        1,
        "no replica called during the cooldown"
    );
}

#[test]
fn a_corrupt_shared_snapshot_is_moved_aside_and_the_feed_refetched() {
    let redis = RedisServer::start();
    let upstream = Upstream::start();
    let mut connection = redis.connection();
    let _: () = redis::cmd("SET")
        .arg(crate::helpers::SNAPSHOT_KEY)
        .arg("{\"schema\":1,\"home_id\":\"demo\",\"zo")
        .query(&mut connection)
        .unwrap();
    let replica = Replica::start(&redis, &upstream, &[]);
    let (status, body) = replica.day(DAY);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["complete"], true, "{body}");
    assert_eq!(upstream.price_calls(), 1);

    let quarantined: Vec<String> = redis::cmd("KEYS")
        .arg("pricepool:{feed:demo}:quarantine:*")
        .query(&mut connection)
        .unwrap();
    assert_eq!(quarantined.len(), 1, "{quarantined:?}");
    let kept: String = redis::cmd("GET")
        .arg(&quarantined[0])
        .query(&mut connection)
        .unwrap();
    assert!(
        kept.ends_with("\"zo"),
        "the bad value is kept as it was: {kept}"
    );
    let snapshot: Option<Vec<u8>> = redis::cmd("GET")
        .arg(crate::helpers::SNAPSHOT_KEY)
        .query(&mut connection)
        .unwrap();
    let snapshot = snapshot.expect("the refetched day was written");
    let decoded = pricepool::store::format::decode(&snapshot).unwrap();
    assert_eq!(decoded.home.id, "demo");
}

#[test]
fn a_fetch_that_failed_on_one_replica_is_not_tried_again_by_the_waiting_others() {
    let redis = RedisServer::start();
    let upstream = Upstream::start();
    let replicas = Arc::new(three(&redis, &upstream, &[]));
    upstream.set_fault(Some(Fault::ServerError));
    let barrier = Arc::new(Barrier::new(30));
    let statuses: Vec<u16> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..30)
            .map(|n| {
                let (replicas, barrier) = (Arc::clone(&replicas), Arc::clone(&barrier));
                scope.spawn(move || {
                    barrier.wait();
                    replicas[n % 3].day(DAY).0
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(statuses.iter().all(|s| *s >= 500), "{statuses:?}");
    // One fetch with its retries (4 attempts at most), not one per replica.
    let calls = upstream.price_calls();
    assert!((1..=4).contains(&calls), "{calls} calls");
}

#[test]
fn what_the_upstream_lacked_on_one_replica_is_not_asked_for_by_the_others() {
    let redis = RedisServer::start();
    let upstream = Upstream::start();
    // The service's clock is past 13:00 and its jitter; the upstream is
    // late and has not published tomorrow yet.
    upstream.set_now("2025-10-20T09:00:00Z");
    let replicas = three(&redis, &upstream, &["--now", "2025-10-20T12:30:00Z"]);
    let (status, body) = replicas[0].day("2025-10-21");
    assert_ne!(body["complete"], true, "{status} {body}");
    assert_eq!(upstream.price_calls(), 1);
    for replica in &replicas[1..] {
        let (_, body) = replica.day("2025-10-21");
        assert_ne!(body["complete"], true, "{body}");
    }
    assert_eq!(
        upstream.price_calls(),
        1,
        "the shared negative cache answers the others"
    );
}
