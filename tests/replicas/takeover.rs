//! A replica killed (-9) while it holds a call's lock and the upstream
//! hangs: another replica takes the call over once the lock expires, and
//! nobody waits longer than the fetch deadline plus the lock's expiry.

use std::time::{Duration, Instant};

use pricepool::testkit::process::http;
use pricepool::testkit::{Fault, RedisServer};

use crate::helpers::{HOME, Upstream, eventually, three};

/// `--fetch-deadline` here; the lock lasts 2 s longer.
const FETCH_DEADLINE: Duration = Duration::from_secs(3);
const LOCK_TTL: Duration = Duration::from_secs(5);
/// Scheduling on a loaded machine.
const SLACK: Duration = Duration::from_secs(2);

#[test]
fn a_lock_holder_killed_mid_fetch_is_taken_over_after_the_lock_expires() {
    let redis = RedisServer::start();
    let upstream = Upstream::start();
    let mut replicas = three(&redis, &upstream, &["--fetch-deadline", "3s"]);
    let path = format!("/v1/homes/{HOME}/intervals?date=2025-10-20");
    upstream.set_fault(Some(Fault::Slow(Duration::from_secs(60))));

    let holder_port = replicas[0].process.port();
    let holder_path = path.clone();
    let _holder = std::thread::spawn(move || http(holder_port, "GET", &holder_path, None));
    assert!(
        eventually(Duration::from_secs(5), || upstream.price_calls() == 1),
        "the first replica is fetching"
    );
    let waiter_port = replicas[1].process.port();
    let waiter_path = path.clone();
    let started = Instant::now();
    let waiter = std::thread::spawn(move || {
        let answer = http(waiter_port, "GET", &waiter_path, None);
        (answer, started.elapsed())
    });
    std::thread::sleep(Duration::from_millis(300));
    replicas[0].process.kill();
    upstream.set_fault(None);

    let (answer, waited) = waiter.join().unwrap();
    let answer = answer.expect("the waiting replica answers");
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(answer.body.contains("\"complete\":true"), "{}", answer.body);
    assert_eq!(upstream.price_calls(), 2, "the second replica fetched once");
    // It waited for the dead holder's lock to expire, and not much longer.
    assert!(
        waited >= LOCK_TTL - SLACK && waited <= FETCH_DEADLINE + LOCK_TTL + SLACK,
        "waited {waited:?}"
    );
    // The third replica reads what the second one brought.
    assert_eq!(replicas[2].day("2025-10-20").0, 200);
    assert_eq!(upstream.price_calls(), 2);
}
