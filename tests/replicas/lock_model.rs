//! The call lock against a real Redis, checked against a model: whoever
//! holds it, only the owner releases or extends it; after its expiry
//! another takes it, and the old owner can then release or extend nothing.

use std::time::Duration;

use chrono::{DateTime, Utc};
use pricepool::replicas::{FlightLock, Replicas};
use pricepool::testkit::RedisServer;
use proptest::prelude::*;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Far longer than a case takes, so only `Op::Expire` ends a lock, however
/// loaded the machine.
const TTL: Duration = Duration::from_secs(30);

#[derive(Debug, Clone)]
enum Op {
    /// Replica n tries to take the lock.
    Take(usize),
    /// Replica n releases what it holds (if anything).
    Release(usize),
    /// Replica n extends what it holds.
    Extend(usize),
    /// The lock's expiry runs out (its key is given 1 ms to live).
    Expire,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..3usize).prop_map(Op::Take),
        3 => (0..3usize).prop_map(Op::Release),
        2 => (0..3usize).prop_map(Op::Extend),
        1 => Just(Op::Expire),
    ]
}

fn call() -> (DateTime<Utc>, DateTime<Utc>) {
    let start = DateTime::from_timestamp(1_760_000_000, 0).unwrap();
    (start, start + chrono::Duration::hours(24))
}

async fn replicas(
    redis: &RedisServer,
    tracker: &TaskTracker,
    token: &CancellationToken,
) -> Vec<Replicas> {
    let url = pricepool::replicas::RedisUrl::from_arg(&redis.url()).unwrap();
    let mut all = Vec::new();
    for _ in 0..3 {
        let replicas = Replicas::new(&url, "model:", 3).unwrap();
        replicas.spawn(token.clone(), tracker);
        assert!(replicas.wait_connected(Duration::from_secs(5)).await);
        all.push(replicas);
    }
    all
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn only_the_owner_releases_and_an_expired_lock_is_taken_over(ops in prop::collection::vec(op(), 1..25)) {
        let redis = RedisServer::start();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let (tracker, token) = (TaskTracker::new(), CancellationToken::new());
            let replicas = replicas(&redis, &tracker, &token).await;
            // The model: who holds the lock, and each replica's handle.
            let mut holder: Option<usize> = None;
            let mut held: Vec<Option<FlightLock>> = vec![None, None, None];
            for op in ops {
                match op {
                    Op::Take(n) => {
                        let lock = replicas[n].try_lock("feed", call(), TTL).await.unwrap();
                        assert_eq!(lock.is_some(), holder.is_none(), "take by {n}, holder {holder:?}");
                        if lock.is_some() {
                            holder = Some(n);
                            held[n] = lock;
                        }
                    }
                    Op::Release(n) => {
                        if let Some(lock) = held[n].take() {
                            let released = replicas[n].release(lock).await.unwrap();
                            assert_eq!(released, holder == Some(n), "release by {n}, holder {holder:?}");
                            if released {
                                holder = None;
                            }
                        }
                    }
                    Op::Extend(n) => {
                        if let Some(lock) = &held[n] {
                            let extended = replicas[n].extend(lock, TTL).await.unwrap();
                            assert_eq!(extended, holder == Some(n), "extend by {n}, holder {holder:?}");
                        }
                    }
                    Op::Expire => {
                        let (start, end) = call();
                        let key = replicas[0].keys().lock("feed", start, end);
                        let _: i64 = redis::cmd("PEXPIRE")
                            .arg(&key)
                            .arg(1)
                            .query(&mut redis.connection())
                            .unwrap();
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        holder = None;
                    }
                }
            }
            token.cancel();
            tracker.close();
            tracker.wait().await;
        });
    }
}
