//! The token never appears in a captured log line, an error message, a
//! status or Debug output, across successes and every kind of failure.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::helpers::{berlin_day, fast_config, setup_with};
use pricepool::testkit::{FakeTibber, Fault};
use pricepool::upstream::{Secret, Source, UpstreamConfig};

/// Collects everything the subscriber writes.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_appears_in_no_log_line_error_status_or_debug_output() {
    let captured = Captured::default();
    let writer = captured.clone();
    tracing_subscriber::fmt()
        .with_env_filter("trace")
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .init();

    let fake = FakeTibber::start().await.unwrap();
    let token = fake.token().to_string();
    let config = UpstreamConfig {
        fetch_deadline: Duration::from_millis(800),
        ..fast_config()
    };
    let setup = setup_with(fake, "2026-01-14T13:30:00Z", config.clone(), None).await;
    let home = setup.home("demo");
    let mut seen = Vec::new();
    let (start, end) = berlin_day(2026, 1, 14);
    seen.push(format!("{:?}", home.intervals(start, end).await));
    for (day, fault) in [
        (1, Fault::ServerError),
        (2, Fault::NonJson),
        (3, Fault::Malformed),
        (4, Fault::RateLimited { retry_after: None }),
        (
            5,
            Fault::GraphqlError {
                code: "UNAUTHENTICATED".into(),
                message: "no".into(),
            },
        ),
    ] {
        setup.fake.set_fault(Some(fault));
        let (start, end) = berlin_day(2025, 12, day);
        seen.push(format!("{:?}", home.intervals(start, end).await));
        seen.push(format!("{:?}", home.status()));
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    seen.push(format!("{:?}", setup.registry));
    seen.push(format!("{:?}", setup.fake.tibber_config()));
    seen.push(format!(
        "{:?}",
        Source::tibber(setup.fake.tibber_config()).unwrap()
    ));
    seen.push(format!("{:?}", Secret::new(token.clone())));

    // A wrong token: its value must not leak either.
    let wrong = "wrong-token-3b7e1f";
    let fake = FakeTibber::start().await.unwrap();
    let mut tibber = fake.tibber_config();
    tibber.token = Secret::new(wrong);
    let failing = setup_with(fake, "2026-01-14T13:30:00Z", config, Some(tibber)).await;
    seen.push(format!("{:?}", failing.registry.discover().await));

    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        log.contains("upstream call failed"),
        "the failures were logged"
    );
    assert!(log.lines().count() > 10);
    for secret in [token.as_str(), wrong] {
        assert!(!log.contains(secret), "token in the log");
        for text in &seen {
            assert!(!text.contains(secret), "token in {text}");
        }
    }
}
