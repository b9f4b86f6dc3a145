//! The call budget shared in Redis: replicas together get what one
//! instance would, and a refused call spends from no limit.

use std::time::Duration;

use pricepool::replicas::{Limit, RedisUrl, Replicas};
use pricepool::testkit::RedisServer;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

fn limit(name: &str, calls: u32) -> Limit {
    Limit {
        name: name.to_string(),
        calls,
        period: Duration::from_secs(300),
    }
}

#[tokio::test]
async fn three_replicas_together_get_one_budgets_burst() {
    let redis = RedisServer::start();
    let (tracker, token) = (TaskTracker::new(), CancellationToken::new());
    let url = RedisUrl::from_arg(&redis.url()).unwrap();
    let mut replicas = Vec::new();
    for _ in 0..3 {
        let handle = Replicas::new(&url, "budget:", 3).unwrap();
        handle.spawn(token.clone(), &tracker);
        assert!(handle.wait_connected(Duration::from_secs(5)).await);
        replicas.push(handle);
    }
    // 10 calls per 5 minutes: 5 at once, then one every minute.
    let all = [limit("all", 10)];
    let mut passed = 0;
    let mut waits = Vec::new();
    for n in 0..12 {
        match replicas[n % 3].take_budget("tibber", &all).await.unwrap() {
            Ok(()) => passed += 1,
            Err(wait) => waits.push(wait),
        }
    }
    assert_eq!(passed, 5, "the burst is shared, not per replica");
    assert!(
        waits
            .iter()
            .all(|w| *w > Duration::from_secs(50) && *w <= Duration::from_secs(60)),
        "{waits:?}"
    );

    // A call refused by a feed's own limit spends nothing of the others.
    let history = [limit("all", 100), limit("history:a", 2)];
    let mut taken = 0;
    for _ in 0..4 {
        if replicas[0]
            .take_budget("nordpool", &history)
            .await
            .unwrap()
            .is_ok()
        {
            taken += 1;
        }
    }
    assert_eq!(taken, 1, "2 calls per period: a burst of 1");
    let recent = [limit("all", 100)];
    let mut recent_passed = 0;
    for _ in 0..60 {
        if replicas[1]
            .take_budget("nordpool", &recent)
            .await
            .unwrap()
            .is_ok()
        {
            recent_passed += 1;
        }
    }
    assert_eq!(
        recent_passed, 49,
        "only the one history call came out of the 50"
    );
    token.cancel();
    tracker.close();
    tracker.wait().await;
}
