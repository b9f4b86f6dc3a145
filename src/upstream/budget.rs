//! A source's call budget, with priorities: calls for the recent window
//! (today, tomorrow, the two days before; the scheduled prefetch, home
//! discovery) may spend all of it; calls for older history only their
//! share, so a flood of history requests cannot keep any home from getting
//! tomorrow's prices after publication. Within the history share, one feed
//! may spend at most half, so one home's history cannot starve another's.
//!
//! Each limit is a token bucket (GCRA, the `governor` crate) that lets no
//! more than its calls through in any window of the period. Replicas
//! sharing Redis check the same limits there (`shared_limits`, evaluated
//! by `replicas::limiter`); while Redis is away each falls back to a local
//! budget of its share (the budget divided by `--replicas`).

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, NotUntil, Quota, RateLimiter};

use super::config::UpstreamConfig;
use crate::replicas::Limit;

/// Whom an upstream call serves, for the budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority<'a> {
    /// The recent window, the prefetch, discovery: may spend the whole budget.
    Recent,
    /// Older history of feed `feed`: only the history share, half of it per feed.
    History {
        /// The feed asking (its id).
        feed: &'a str,
    },
}

/// A token bucket that lets no more than `calls` through in any window of
/// `period`: half the budget (rounded up) may go at once, the rest refills
/// evenly over the period, so a burst followed by steady demand still stays
/// within `calls` per `period` (Tibber bans after 100 calls in 5 minutes).
pub(crate) fn budget_quota(calls: u32, period: Duration) -> Quota {
    let calls = calls.max(1);
    let burst = calls.div_ceil(2);
    let refilled = (calls - burst).max(1);
    let interval = (period / refilled).max(Duration::from_nanos(1));
    let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
    Quota::with_period(interval)
        .unwrap_or_else(|| Quota::per_second(burst))
        .allow_burst(burst)
}

/// The budget of one source.
pub(crate) struct Budget {
    /// Every call.
    all: DefaultDirectRateLimiter,
    /// History calls, all feeds together: `history_share` of the budget.
    history: DefaultDirectRateLimiter,
    /// History calls per feed: half the history share.
    history_per_feed: DefaultKeyedRateLimiter<String>,
}

/// The budget's calls per period, and the history share's.
fn calls_of(config: &UpstreamConfig) -> (u32, u32) {
    let calls = config.budget_calls.max(1);
    let history_calls =
        ((f64::from(calls) * config.history_share.clamp(0.0, 1.0)).floor() as u32).max(1);
    (calls, history_calls)
}

/// The limits a call for `priority` spends from when the replicas share
/// the budget through Redis: the same limits as [`Budget`]'s, checked
/// together (a refused call spends from none).
pub(crate) fn shared_limits(config: &UpstreamConfig, priority: Priority<'_>) -> Vec<Limit> {
    let (calls, history_calls) = calls_of(config);
    let limit = |name: String, calls: u32| Limit {
        name,
        calls,
        period: config.budget_period,
    };
    let mut limits = vec![limit("all".to_string(), calls)];
    if let Priority::History { feed } = priority {
        limits.push(limit("history".to_string(), history_calls));
        limits.push(limit(format!("history:{feed}"), history_calls.div_ceil(2)));
    }
    limits
}

impl Budget {
    /// The budget of `config`: `budget_calls` per `budget_period`, of which
    /// history may spend `history_share`.
    pub(crate) fn new(config: &UpstreamConfig) -> Budget {
        let (calls, history_calls) = calls_of(config);
        Budget {
            all: RateLimiter::direct(budget_quota(calls, config.budget_period)),
            history: RateLimiter::direct(budget_quota(history_calls, config.budget_period)),
            history_per_feed: RateLimiter::keyed(budget_quota(
                history_calls.div_ceil(2),
                config.budget_period,
            )),
        }
    }

    /// Takes one call for `priority`, or says how long until one is there.
    /// A history call takes from its own limits before the shared one, so
    /// a refused history call never spends what the recent window needs.
    pub(crate) fn take(&self, priority: Priority<'_>) -> Result<(), Duration> {
        if let Priority::History { feed } = priority {
            self.history_per_feed
                .check_key(&feed.to_owned())
                .map_err(wait_of)?;
            self.history.check().map_err(wait_of)?;
        }
        self.all.check().map_err(wait_of)
    }
}

fn wait_of(not_until: NotUntil<<DefaultClock as governor::clock::Clock>::Instant>) -> Duration {
    not_until.wait_time_from(DefaultClock::default().now())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_lets_no_more_than_its_calls_through_in_one_period() {
        // Burst of 30, then one call per 10 s: at most 60 in any 5 minutes.
        let quota = budget_quota(60, Duration::from_secs(300));
        assert_eq!(quota.burst_size().get(), 30);
        assert_eq!(quota.replenish_interval(), Duration::from_secs(10));
        let limiter = RateLimiter::direct(quota);
        let passed = (0..100).filter(|_| limiter.check().is_ok()).count();
        assert_eq!(passed, 30);
    }

    #[test]
    fn history_cannot_spend_what_the_recent_window_has_reserved() {
        let budget = Budget::new(&UpstreamConfig::default());
        // Four feeds flood history: they get at most the history share's burst.
        let history = (0..100)
            .filter(|n| {
                let feed = format!("home-{}", n % 4);
                budget.take(Priority::History { feed: &feed }).is_ok()
            })
            .count();
        assert!(history > 0 && history < 30, "history took {history} of 30");
        // The recent window still has the rest of the burst.
        let recent = (0..100)
            .filter(|_| budget.take(Priority::Recent).is_ok())
            .count();
        assert_eq!(history + recent, 30, "history {history}, recent {recent}");
        assert!(recent >= 10, "recent got {recent}");
    }

    #[test]
    fn one_feed_cannot_spend_the_whole_history_share() {
        let budget = Budget::new(&UpstreamConfig::default());
        let greedy = (0..100)
            .filter(|_| budget.take(Priority::History { feed: "greedy" }).is_ok())
            .count();
        let other = (0..100)
            .filter(|_| budget.take(Priority::History { feed: "other" }).is_ok())
            .count();
        assert!(other > 0, "the greedy feed took {greedy} and left none");
    }
}
