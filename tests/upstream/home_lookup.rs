//! The registry's homes by id: every home found by its id, none by another,
//! and listed in id order whatever order they came in (the listings of
//! `/v1/homes`, the dashboard and MQTT depend on it).

use std::sync::Arc;

use pricepool::clock::Clock;
use pricepool::pool::{HomeInfo, Pool, PoolConfig};
use pricepool::upstream::{Registry, Source, UpstreamConfig};

#[test]
fn homes_are_found_by_id_and_listed_in_id_order() {
    let registry = Registry::new(
        Source::demo(),
        UpstreamConfig::default(),
        PoolConfig::default(),
        Clock::starting_at("2026-01-14T10:00:00Z".parse().unwrap()),
        Arc::new(|_: &str| {}),
        Default::default(),
    );
    // 500 ids in a scrambled order (7919 is prime to 500), one of them twice.
    let ids: Vec<String> = (0..500)
        .map(|i| format!("home-{:03}", (i * 7919) % 500))
        .chain(["home-042".to_string()])
        .collect();
    for id in &ids {
        registry.insert_pool(Pool::new(
            HomeInfo {
                id: id.clone(),
                zone: chrono_tz::Europe::Berlin,
                currency: "EUR".into(),
            },
            PoolConfig::default(),
        ));
    }
    let listed: Vec<String> = registry
        .homes()
        .iter()
        .map(|h| h.info().id.clone())
        .collect();
    let expected: Vec<String> = (0..500).map(|i| format!("home-{i:03}")).collect();
    assert_eq!(listed, expected);
    for id in &ids {
        assert_eq!(
            registry.home(id).map(|h| h.info().id.clone()),
            Some(id.clone())
        );
    }
    assert!(registry.home("home-500").is_none());
    assert!(registry.home("home-04").is_none());
}
