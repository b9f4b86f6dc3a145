//! How a flag's text (or a config file's value, which goes through the
//! same parsers) becomes a value, with an error that says how to write it.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::upstream::Secret;

/// Parses `3s`, `500ms`, `1m 30s` (humantime syntax).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim())
        .map_err(|e| format!("{e} (write durations like 3s, 500ms or 1m)"))
}

/// Parses the plausibility band of upstream prices: a finite number above 0.
pub fn parse_price_band(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(band) if band.is_finite() && band > 0.0 => Ok(band),
        _ => Err("write a price per kWh above 0, like 100".to_string()),
    }
}

/// Wraps a token so that it never shows in Debug output or logs.
pub fn parse_secret(text: &str) -> Result<Secret, String> {
    if text.trim().is_empty() {
        return Err("the token must not be empty".to_string());
    }
    Ok(Secret::new(text.trim()))
}

/// Wraps a token that may be empty (an empty `PRICEPOOL_TIBBER_TOKEN=` in a
/// compose file means "no token"; an empty API token is refused later with
/// its own message), so that it never shows in Debug output or logs.
pub fn parse_token(text: &str) -> Result<Secret, String> {
    Ok(Secret::new(text.trim()))
}

/// Parses an RFC 3339 instant with any offset into UTC.
pub fn parse_instant(text: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(text.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("{e} (write an RFC 3339 instant like 2025-10-26T12:00:00+01:00)"))
}
