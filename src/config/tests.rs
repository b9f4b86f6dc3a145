//! The flags: parsing, durations, combinations refused before start.

use super::*;

fn parse(args: &[&str]) -> Result<Config, LoadError> {
    Config::parse_from_args(std::iter::once("pricepool").chain(args.iter().copied()))
}

#[test]
fn the_price_band_is_a_positive_finite_number() {
    assert_eq!(parse(&[]).unwrap().price_band, 100.0);
    assert_eq!(parse(&["--price-band", "7.5"]).unwrap().price_band, 7.5);
    for bad in ["0", "-3", "inf", "NaN", "lots"] {
        assert!(parse(&["--price-band", bad]).is_err(), "{bad}");
    }
}

#[test]
fn durations_are_read_as_people_write_them() {
    let config = parse(&["--save-delay", "500ms", "--save-max-delay", "2m"]).unwrap();
    assert_eq!(config.save_delay, Duration::from_millis(500));
    assert_eq!(config.save_max_delay, Duration::from_secs(120));
    assert!(parse(&["--save-delay", "soon"]).is_err());
}

#[test]
fn now_accepts_any_offset_and_rejects_non_rfc3339() {
    let config = parse(&["--now", "2025-10-26T02:30:00+01:00"]).unwrap();
    assert_eq!(
        config.now.unwrap().to_rfc3339(),
        "2025-10-26T01:30:00+00:00"
    );
    assert!(parse(&["--now", "2025-10-26 02:30"]).is_err());
}

#[test]
fn tibber_without_a_token_is_refused_before_start() {
    let config = parse(&["--source", "tibber"]).unwrap();
    if std::env::var_os("PRICEPOOL_TIBBER_TOKEN").is_none() {
        assert_eq!(config.validate(), Err(ConfigError::MissingTibberToken));
    }
    let config = parse(&["--source", "tibber", "--tibber-token", "t"]).unwrap();
    assert_eq!(config.validate(), Ok(()));
}

#[test]
fn a_max_delay_shorter_than_the_delay_is_refused() {
    let config = parse(&["--save-delay", "10s", "--save-max-delay", "5s"]).unwrap();
    assert!(matches!(
        config.validate(),
        Err(ConfigError::SaveDelays { .. })
    ));
}

#[test]
fn connection_limits_have_flags_and_refuse_a_header_cap_hyper_cannot_hold() {
    let config = parse(&[
        "--header-read-timeout",
        "2s",
        "--idle-timeout",
        "5s",
        "--max-connections",
        "10",
    ])
    .unwrap();
    assert_eq!(config.header_read_timeout, Duration::from_secs(2));
    assert_eq!(config.idle_timeout, Duration::from_secs(5));
    assert_eq!(config.max_connections, 10);
    assert!(parse(&["--max-connections", "0"]).is_err());
    assert!(parse(&["--max-header-bytes", "4096"]).is_err());
}

#[test]
fn the_redis_flags_are_read_and_the_url_never_shown() {
    let config = parse(&[
        "--redis-url",
        "redis://:hunter2@cache:6379/0",
        "--replicas",
        "3",
    ])
    .unwrap();
    assert_eq!(config.replicas, 3);
    assert_eq!(config.redis_prefix, "pricepool:");
    assert!(!format!("{config:?}").contains("hunter2"));
    assert!(parse(&["--replicas", "0"]).is_err());
}

#[test]
fn the_healthcheck_reaches_an_unspecified_listen_address_over_loopback() {
    let config = parse(&["--listen", "0.0.0.0:9000"]).unwrap();
    assert_eq!(config.local_address().to_string(), "127.0.0.1:9000");
}
