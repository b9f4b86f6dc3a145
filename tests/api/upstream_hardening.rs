//! Hostile or broken upstream answers (issue 17, findings 2, 5 and 8 and
//! the upstream "lesser" items): the service, on `--source tibber` against
//! the fake Tibber server, caches only what it asked for, refuses answers
//! that cannot be real without retrying them, never quotes them to
//! clients, follows no redirect and holds no answer beyond its size cap.

use std::time::Instant;

use crate::helpers::{TestApp, assert_problem, start_fake_tibber};
use chrono::{DateTime, Utc};
use pricepool::testkit::{FakeTibber, Fault, Process};
use reqwest::StatusCode;
use serde_json::Value;

/// The helpers' clock reads 2025-10-26 10:00 in Berlin: before 13:00, so
/// tomorrow (27 Oct) is not published; the horizon is 28 Oct 00:00 local.
const TOMORROW_START: &str = "2025-10-26T23:00:00Z";
const HORIZON: &str = "2025-10-27T23:00:00Z";
/// A day of history, outside the recent window.
const OLD_DAY: &str = "/v1/homes/demo/intervals?date=2025-10-10";

fn at(text: &str) -> DateTime<Utc> {
    text.parse().expect("instant")
}

/// The service against `fake`, with an upstream timeout long enough for
/// the debug-built fake to render 100,000 nodes (a timeout is retried).
async fn spawn_patient_app(fake: &FakeTibber) -> TestApp {
    let mut flags = crate::helpers::tibber_flags(fake);
    flags.extend(["--upstream-timeout", "20s", "--fetch-deadline", "30s"]);
    crate::helpers::spawn_app_with(&flags).await
}

/// A service against a fresh fake, today's recent window fetched (so the
/// negative cache knows tomorrow is unpublished) and the call log cleared.
async fn warmed_up() -> (FakeTibber, TestApp) {
    let fake = start_fake_tibber().await;
    let app = spawn_patient_app(&fake).await;
    let today = app
        .get_json("/v1/homes/demo/intervals?date=today", StatusCode::OK)
        .await;
    assert_eq!(today["complete"], true);
    fake.clear_calls();
    (fake, app)
}

async fn live_intervals(app: &TestApp) -> u64 {
    let stats = app.get_json("/v1/homes/demo/stats", StatusCode::OK).await;
    stats["pool"]["live_intervals"]
        .as_u64()
        .expect("live count")
}

/// `date=…` is answered incomplete because it is not published, and holds
/// no interval priced `poison`.
async fn assert_not_published(app: &TestApp, date: &str, poison: f64) {
    let body = app
        .get_json(
            &format!("/v1/homes/demo/intervals?date={date}"),
            StatusCode::OK,
        )
        .await;
    assert_eq!(body["complete"], false, "{date}: {body}");
    assert_eq!(body["reason"], "prices not published yet", "{date}");
    let intervals = body["intervals"].as_array().expect("intervals");
    assert!(
        intervals
            .iter()
            .all(|iv| iv["total"].as_f64() != Some(poison)),
        "{date} serves the injected price"
    );
}

/// A 502 problem saying the answer was malformed, quoting none of `raw`.
async fn assert_malformed(response: reqwest::Response, raw: &[&str]) -> Value {
    let body = assert_problem(response, StatusCode::BAD_GATEWAY).await;
    let text = body.to_string();
    assert!(text.contains("malformed"), "{text}");
    for bytes in raw {
        assert!(
            !text.contains(bytes),
            "the problem quotes {bytes:?}: {text}"
        );
    }
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tomorrow_carried_by_an_answer_for_an_old_day_stays_unpublished() {
    let (fake, app) = warmed_up().await;
    fake.push_fault(Fault::ExtraNodes {
        from: at(TOMORROW_START),
        count: 96,
        total: 9.99,
    });
    // The page asked for 97 nodes and got 193: not a page Tibber sends.
    assert_malformed(app.get(OLD_DAY).await, &["9.99"]).await;
    assert_not_published(&app, "tomorrow", 9.99).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tomorrow_or_later_days_in_a_recent_answer_before_publication_are_not_cached() {
    for (from, date) in [(TOMORROW_START, "tomorrow"), (HORIZON, "2025-10-28")] {
        let fake = start_fake_tibber().await;
        let app = spawn_patient_app(&fake).await;
        fake.push_fault(Fault::ExtraNodes {
            from: at(from),
            count: 96,
            total: 9.99,
        });
        let today = app
            .get_json("/v1/homes/demo/intervals?date=today", StatusCode::OK)
            .await;
        assert_eq!(today["complete"], true, "today is served as usual");
        assert_not_published(&app, date, 9.99).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_with_far_too_many_nodes_is_malformed_and_leaves_the_pool_unchanged() {
    // 2,000 nodes fit under the size cap (the count is refused); 100,000
    // do not (the size is refused). Either way nothing is cached.
    for count in [2_000, 100_000] {
        let (fake, app) = warmed_up().await;
        let before = live_intervals(&app).await;
        fake.push_fault(Fault::ExtraNodes {
            from: at("2026-01-01T00:00:00Z"),
            count,
            total: 0.2,
        });
        assert_malformed(app.get(OLD_DAY).await, &[]).await;
        assert_eq!(fake.call_count(), 1, "malformed answers are not retried");
        assert_eq!(live_intervals(&app).await, before, "{count} nodes");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inconsistent_answers_are_malformed_not_cached_and_not_quoted() {
    let cases = [
        (Fault::DuplicateNode(10.2583), "10.2583"),
        (Fault::Currency("SEK".into()), "SEK"),
        (Fault::CorrectedPrices(1e308), "e+308"),
        (Fault::CorrectedPrices(-268.5), "268"),
    ];
    for (fault, raw) in cases {
        let (fake, app) = warmed_up().await;
        let before = live_intervals(&app).await;
        fake.push_fault(fault.clone());
        assert_malformed(app.get(OLD_DAY).await, &[raw]).await;
        assert_eq!(fake.call_count(), 1, "{fault:?} is not retried");
        assert_eq!(live_intervals(&app).await, before, "{fault:?} cached");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_json_200_is_malformed_after_one_call_and_never_quoted() {
    let (fake, app) = warmed_up().await;
    fake.set_fault(Some(Fault::NonJson));
    let raw = ["<html", "Bad Gateway", "body>"];
    assert_malformed(app.get(OLD_DAY).await, &raw).await;
    assert_eq!(fake.call_count(), 1, "not retried");
    let homes = app.get_json("/v1/homes", StatusCode::OK).await.to_string();
    for bytes in raw {
        assert!(!homes.contains(bytes), "/v1/homes quotes {bytes:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_are_not_followed() {
    let (fake, app) = warmed_up().await;
    let elsewhere = FakeTibber::start().await.expect("second fake");
    fake.push_fault(Fault::Redirect(elsewhere.url().to_string()));
    assert_malformed(app.get(OLD_DAY).await, &[]).await;
    assert_eq!(fake.call_count(), 1);
    assert_eq!(elsewhere.call_count(), 0, "the redirect target saw a call");

    // A redirect loop costs one call, not dozens.
    let (fake, app) = warmed_up().await;
    fake.set_fault(Some(Fault::Redirect(fake.url().to_string())));
    assert_malformed(app.get(OLD_DAY).await, &[]).await;
    assert_eq!(fake.call_count(), 1);
}

/// The binary against `fake` on a free port, once ready. Blocking, so run
/// on a blocking thread: the fake answers on the runtime meanwhile.
async fn serve_binary(fake: &FakeTibber, data_dir: &std::path::Path) -> Process {
    let mut args = vec![
        "--data-dir".to_string(),
        data_dir.to_str().expect("UTF-8 path").to_string(),
        "--now".to_string(),
        crate::helpers::FALL_BACK_MORNING.to_string(),
        "--no-prefetch".to_string(),
    ];
    args.extend(
        crate::helpers::tibber_flags(fake)
            .into_iter()
            .map(String::from),
    );
    args.extend(["--upstream-timeout", "20s", "--fetch-deadline", "30s"].map(String::from));
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        Process::serve(env!("CARGO_BIN_EXE_pricepool"), &args)
    })
    .await
    .expect("start the binary")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_400_mb_answer_is_refused_after_the_cap_with_bounded_memory() {
    for declared in [false, true] {
        let fake = start_fake_tibber().await;
        let data_dir = tempfile::tempdir().expect("temp dir");
        let mut service = serve_binary(&fake, data_dir.path()).await;
        let client = reqwest::Client::new();
        let url = format!("http://127.0.0.1:{}", service.port());
        fake.clear_calls();
        fake.set_fault(Some(Fault::Oversized {
            bytes: 400 << 20,
            declared,
        }));
        let started = Instant::now();
        let response = client
            .get(format!("{url}{OLD_DAY}"))
            .send()
            .await
            .expect("answer");
        let elapsed = started.elapsed();
        let body = assert_malformed(response, &[]).await;
        let peak = service.peak_rss_kib() / 1024;
        println!(
            "400 MiB answer ({}): refused in {elapsed:?}, {} upstream call(s), peak RSS {peak} MiB: {}",
            if declared {
                "Content-Length"
            } else {
                "chunked"
            },
            fake.call_count(),
            body["detail"]
        );
        assert_eq!(fake.call_count(), 1, "an oversized answer is not retried");
        assert!(
            peak < 120,
            "peak RSS {peak} MiB while refusing a 400 MiB answer"
        );
        service.kill();
    }
}
