//! Scheduled prefetch: each home's today and tomorrow fetched shortly after
//! publication (13:00 on the publication clock plus jitter: the home's own
//! for a Tibber or demo home, CET for a market home, whose auction
//! publishes at 13:00 CET, 14:00 in Helsinki) and retried until present, so
//! the day's first client query is a hit. On start every home is prefetched at
//! once, which also fills the cache of a fresh instance.
//!
//! A deadline loop: sleep until the earliest home is due (or cancellation),
//! prefetch the due homes through the normal coordinator (single-flight,
//! negative cache and budget apply), schedule each home's next run.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Days, NaiveDate, Utc};
use chrono_tz::Tz;
use tokio_util::sync::CancellationToken;

use super::calendar::{jitter_up_to, publication_time, publication_zone};
use super::error::IncompleteReason;
use super::home::Home;
use super::market::Market;
use super::registry::Registry;
use crate::pool::days::{local_date, local_midnight};

/// Longest single sleep, so a wall clock that jumps is noticed.
const MAX_SLEEP: Duration = Duration::from_secs(600);

/// The prefetch loop; returns when `token` is cancelled.
pub(crate) async fn run(registry: Registry, token: CancellationToken) {
    let mut due: HashMap<String, DateTime<Utc>> = HashMap::new();
    loop {
        let now = registry.clock().now();
        for home in registry.homes() {
            due.entry(home.info().id).or_insert(now);
        }
        let due_now: Vec<Home> = registry
            .homes()
            .into_iter()
            .filter(|home| due.get(&home.info().id).is_some_and(|t| *t <= now))
            .collect();
        for home in due_now {
            let next = tokio::select! {
                () = token.cancelled() => return,
                next = prefetch_home(&registry, &home) => next,
            };
            tracing::debug!(home = %home.info().id, %next, "next prefetch");
            due.insert(home.info().id, next);
        }
        let now = registry.clock().now();
        let wait = due
            .values()
            .min()
            .map(|next| (*next - now).to_std().unwrap_or(Duration::ZERO))
            .unwrap_or(MAX_SLEEP)
            .min(MAX_SLEEP);
        tokio::select! {
            () = token.cancelled() => return,
            () = tokio::time::sleep(wait) => {}
        }
    }
}

/// Fetches today and tomorrow of `home`; returns when to run again.
async fn prefetch_home(registry: &Registry, home: &Home) -> DateTime<Utc> {
    let info = home.info();
    let config = registry.config();
    let now = registry.clock().now();
    let today = local_date(info.zone, now);
    let tomorrow = today.checked_add_days(Days::new(1)).unwrap_or(today);
    let after_tomorrow = tomorrow.checked_add_days(Days::new(1)).unwrap_or(tomorrow);
    let start = local_midnight(info.zone, today);
    let end = local_midnight(info.zone, after_tomorrow);
    let retry = now + chrono::Duration::from_std(config.prefetch_retry).unwrap_or_default();
    match home.intervals(start, end).await {
        Ok(answer) => match answer.shortfall() {
            None => {
                // A revision means the cache already held both days: nothing
                // was fetched, which is no news (10,000 restored homes would
                // log 10,000 lines at start).
                if answer.revision().is_some() {
                    tracing::debug!(home = %info.id, "today and tomorrow already cached");
                } else {
                    tracing::info!(home = %info.id, n_intervals = answer.intervals.len(), "prefetched today and tomorrow");
                }
                next_publication(info.zone, home.market(), config.publish_hour, tomorrow)
                    + jitter_up_to(config.publish_jitter)
            }
            // Not out yet: come back when it should be.
            Some(shortfall) => match (shortfall.reason, shortfall.retry_at) {
                (IncompleteReason::NotPublished, Some(retry_at)) => retry_at.max(now),
                (_, retry_at) => retry_at.map_or(retry, |t| t.max(retry)),
            },
        },
        Err(error) => {
            tracing::warn!(home = %info.id, kind = %error.kind, error = %error.message, "prefetch failed; will retry");
            error.retry_at.map_or(retry, |t| t.max(retry))
        }
    }
}

/// When the day after `tomorrow` (the home's local date) is published:
/// `publish_hour` on `tomorrow` on the publication clock of the home's feed
/// ([`publication_zone`]: CET for a market, the home's zone otherwise).
fn next_publication(
    zone: Tz,
    market: Option<Market>,
    publish_hour: u32,
    tomorrow: NaiveDate,
) -> DateTime<Utc> {
    publication_time(publication_zone(zone, market), publish_hour, tomorrow)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    #[test]
    fn a_finnish_market_home_is_prefetched_at_13_cet_which_is_14_in_helsinki() {
        let helsinki = chrono_tz::Europe::Helsinki;
        let tomorrow = NaiveDate::from_ymd_opt(2026, 1, 15).unwrap();
        // 13:00 Berlin = 14:00 Helsinki = 12:00 UTC, not 13:00 Helsinki.
        assert_eq!(
            next_publication(helsinki, Some(Market::Fi), 13, tomorrow),
            at("2026-01-15T12:00:00Z")
        );
        // Summer: 13:00 CEST = 11:00 UTC.
        let july = NaiveDate::from_ymd_opt(2026, 7, 15).unwrap();
        assert_eq!(
            next_publication(helsinki, Some(Market::Fi), 13, july),
            at("2026-07-15T11:00:00Z")
        );
    }

    #[test]
    fn a_tibber_home_in_helsinki_keeps_its_own_clock() {
        let helsinki = chrono_tz::Europe::Helsinki;
        let tomorrow = NaiveDate::from_ymd_opt(2026, 1, 15).unwrap();
        assert_eq!(
            next_publication(helsinki, None, 13, tomorrow),
            at("2026-01-15T11:00:00Z")
        );
    }
}
