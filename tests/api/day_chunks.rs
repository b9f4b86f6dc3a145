//! `/intervals` bodies over whole local days are assembled from day chunks
//! kept once per home and day: what a client receives is the same whole
//! body, with its length, `ETag` and 304, whichever view asked first.

use reqwest::StatusCode;

use crate::caching::render_cache_hits;
use crate::helpers::spawn_app;

#[tokio::test]
async fn a_two_day_range_and_today_share_their_day_and_arrive_as_whole_bodies() {
    let app = spawn_app().await;
    // The first ask fetches; an answer from the upstream is not kept, the
    // pool's own answer (the next ask) is.
    // Berlin's 25 October 2025 and the 26th (25 hours, the clock's today).
    let two_days = "/v1/homes/demo/intervals?start=2025-10-24T22:00:00Z&end=2025-10-26T23:00:00Z";
    app.get_json(two_days, StatusCode::OK).await;
    let first = app.get(two_days).await;
    assert_eq!(first.status(), StatusCode::OK);
    let etag = first.headers()["etag"].to_str().unwrap().to_owned();
    let length = first.headers()["content-length"]
        .to_str()
        .unwrap()
        .to_owned();
    let bytes = first.bytes().await.unwrap();
    assert_eq!(
        length,
        bytes.len().to_string(),
        "Content-Length, not chunked"
    );
    let range: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(range["complete"], true);
    assert_eq!(range["intervals"].as_array().unwrap().len(), 96 + 100);

    // Today is served from the day the range kept: no rendering, and the
    // same interval objects.
    let hits = render_cache_hits(&app).await;
    let today = app
        .get_json("/v1/homes/demo/intervals?date=today", StatusCode::OK)
        .await;
    assert!(render_cache_hits(&app).await > hits, "today was a hit");
    assert_eq!(
        today["intervals"].as_array().unwrap()[..],
        range["intervals"].as_array().unwrap()[96..]
    );
    assert_eq!(today["end"], "2025-10-27T00:00:00+01:00");

    // The range again, now wholly from kept chunks: the same bytes and tag,
    // and a client holding the tag gets a 304.
    let again = app.get(two_days).await;
    assert_eq!(again.headers()["etag"], etag.as_str());
    assert_eq!(again.bytes().await.unwrap(), bytes);
    let revalidated = app
        .client
        .get(format!("{}{two_days}", app.address))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(revalidated.status(), StatusCode::NOT_MODIFIED);
    assert!(revalidated.bytes().await.unwrap().is_empty());
}
