//! The pure pool under generated input: against a naive model (`props`)
//! and under garbage answers (`bad_input`).

use proptest::test_runner::{Config, FileFailurePersistence};

mod bad_input;
mod props;

/// The proptest configuration of this binary: `default_cases` cases unless
/// `PROPTEST_CASES` says otherwise, and the seeds of past failures kept
/// beside each module's source (`props.proptest-regressions`, …) and
/// replayed before new cases. (Proptest's default would look for them in
/// `tests/proptest-regressions/`, because this directory has a `main.rs`.)
fn config(default_cases: u32) -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default_cases);
    Config {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        ..Config::default()
    }
}
