//! The fake Tibber server's wire format, spoken to directly over HTTP:
//! JSON and form-encoded bodies, bearer tokens, cursors and pageInfo.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use pricepool::testkit::FakeTibber;
use serde_json::Value;

async fn post_json(fake: &FakeTibber, token: &str, query: &str) -> Value {
    reqwest::Client::new()
        .post(fake.url())
        .bearer_auth(token)
        .json(&serde_json::json!({ "query": query }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn homes_are_answered_to_json_and_form_encoded_queries_with_a_valid_token_only() {
    let fake = FakeTibber::start().await.unwrap();
    let query = "{ viewer { homes { id timeZone } } }";
    let json = post_json(&fake, fake.token(), query).await;
    let form: Value = reqwest::Client::new()
        .post(fake.url())
        .bearer_auth(fake.token())
        .form(&[("query", query)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(json, form);
    assert_eq!(
        json.pointer("/data/viewer/homes/0/id"),
        Some(&Value::from("demo"))
    );
    assert_eq!(
        json.pointer("/data/viewer/homes/0/timeZone"),
        Some(&Value::from("Europe/Berlin"))
    );

    let refused = post_json(&fake, "someone-else", query).await;
    assert_eq!(
        refused.pointer("/errors/0/extensions/code"),
        Some(&Value::from("UNAUTHENTICATED"))
    );
    assert_eq!(fake.call_count(), 3);
    assert!(!fake.calls()[2].authorized);
}

#[tokio::test]
async fn price_info_range_pages_with_base64_cursors_and_caps_a_page_at_672() {
    let fake = FakeTibber::start().await.unwrap();
    fake.set_now("2026-01-14T13:30:00Z".parse().unwrap());
    let cursor = BASE64.encode("2025-12-01T00:00:00.000+01:00");
    let query = format!(
        r#"{{ viewer {{ home(id: "demo") {{ currentSubscription {{ priceInfoRange(resolution: QUARTER_HOURLY, first: 1000, after: "{cursor}") {{ pageInfo {{ endCursor hasNextPage }} nodes {{ startsAt total }} }} }} }} }} }}"#
    );
    let answer = post_json(&fake, fake.token(), &query).await;
    let range = answer
        .pointer("/data/viewer/home/currentSubscription/priceInfoRange")
        .unwrap();
    let nodes = range["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 672);
    assert_eq!(nodes[0]["startsAt"], "2025-12-01T00:15:00.000+01:00");
    assert_eq!(range["pageInfo"]["hasNextPage"], true);
    let end_cursor = range["pageInfo"]["endCursor"].as_str().unwrap();
    let decoded = String::from_utf8(BASE64.decode(end_cursor).unwrap()).unwrap();
    assert_eq!(decoded, nodes[671]["startsAt"].as_str().unwrap());
}

#[tokio::test]
async fn tomorrow_is_empty_before_13_local_and_the_fall_back_day_has_100_quarter_hours() {
    let fake = FakeTibber::start().await.unwrap();
    fake.set_now("2025-10-26T10:00:00Z".parse().unwrap()); // 11:00 CET on the fall-back day
    let query = r#"{ viewer { home(id: "demo") { currentSubscription { priceInfo(resolution: QUARTER_HOURLY) { current { startsAt } today { startsAt total } tomorrow { startsAt total } } } } } }"#;
    let answer = post_json(&fake, fake.token(), query).await;
    let info = answer
        .pointer("/data/viewer/home/currentSubscription/priceInfo")
        .unwrap();
    let today = info["today"].as_array().unwrap();
    assert_eq!(today.len(), 100);
    assert_eq!(today[8]["startsAt"], "2025-10-26T02:00:00.000+02:00");
    assert_eq!(today[12]["startsAt"], "2025-10-26T02:00:00.000+01:00");
    assert!(info["tomorrow"].as_array().unwrap().is_empty());
    assert_eq!(info["current"]["startsAt"], "2025-10-26T11:00:00.000+01:00");
}
