//! The fake Tibber server's side of `priceInfoRange` cursors, written
//! independently of the client's (`upstream::tibber`), so that a cursor bug
//! in the client is not mirrored by the fake and tests can catch it.
//!
//! On the wire a cursor is the standard base64 (with padding) of an
//! ISO-8601 timestamp. Tibber writes it in the home's local offset with
//! milliseconds, as it writes `startsAt`: `2025-10-26T00:00:00.000+02:00`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, SecondsFormat, Utc};
use chrono_tz::Tz;

/// The cursor Tibber sends for the interval starting at `starts_at` in a
/// home in `zone`.
pub fn encode(starts_at: DateTime<Utc>, zone: Tz) -> String {
    let local = starts_at
        .with_timezone(&zone)
        .to_rfc3339_opts(SecondsFormat::Millis, false);
    STANDARD.encode(local)
}

/// The instant a client's `after:` cursor names, or `None` when it is not
/// base64 of an ISO-8601 timestamp with an offset.
pub fn decode(cursor: &str) -> Option<DateTime<Utc>> {
    let text = STANDARD.decode(cursor).ok()?;
    let text = std::str::from_utf8(&text).ok()?;
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|instant| instant.to_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    // The literals below were produced outside Rust:
    // `printf '2025-10-26T00:00:00.000+02:00' | base64`.
    const MIDNIGHT_BERLIN_SUMMER: &str = "MjAyNS0xMC0yNlQwMDowMDowMC4wMDArMDI6MDA=";
    const LAST_QUARTER_BERLIN_WINTER: &str = "MjAyNi0wMS0xNFQyMzo0NTowMC4wMDArMDE6MDA=";

    #[test]
    fn cursors_are_base64_of_the_local_time_with_millis_and_offset() {
        let midnight: DateTime<Utc> = "2025-10-25T22:00:00Z".parse().unwrap();
        assert_eq!(
            encode(midnight, chrono_tz::Europe::Berlin),
            MIDNIGHT_BERLIN_SUMMER
        );
        let late: DateTime<Utc> = "2026-01-14T22:45:00Z".parse().unwrap();
        assert_eq!(
            encode(late, chrono_tz::Europe::Berlin),
            LAST_QUARTER_BERLIN_WINTER
        );
    }

    #[test]
    fn a_cursor_decodes_to_the_instant_it_names() {
        assert_eq!(
            decode(LAST_QUARTER_BERLIN_WINTER),
            Some("2026-01-14T22:45:00Z".parse().unwrap())
        );
        // Any offset names the same instant; UTC `Z` too.
        let utc = STANDARD.encode("2026-01-14T22:45:00Z");
        assert_eq!(decode(&utc), decode(LAST_QUARTER_BERLIN_WINTER));
    }

    #[test]
    fn what_is_not_base64_of_a_timestamp_is_no_cursor() {
        for bad in [
            "not base64!",
            "",
            // base64, but of a date without a time and offset
            "MjAyNi0wMS0xNA==",
            // a timestamp without its offset
            &STANDARD.encode("2026-01-14T22:45:00"),
        ] {
            assert_eq!(decode(bad), None, "{bad:?}");
        }
    }
}
