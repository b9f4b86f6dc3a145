//! The call budget shared by every replica: GCRA evaluated in one Lua
//! script on Redis' own clock, so the replicas together let no more calls
//! through than one instance would. A call may be checked against several
//! limits at once (the whole budget, the history share, one feed's half
//! of it): it passes all of them or spends from none.

use std::sync::LazyLock;
use std::time::Duration;

use redis::Script;

use super::{Replicas, SharedError};

/// KEYS: one per limit. ARGV: per limit, its emission interval and burst
/// tolerance in microseconds. Returns 0 when the call passes (every
/// limit's theoretical arrival time moves on), else the microseconds to
/// wait (nothing is spent).
static GCRA: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"local clock = redis.call('TIME')
          local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
          local wait = 0
          local next_tat = {}
          for i, key in ipairs(KEYS) do
            local interval = tonumber(ARGV[2 * i - 1])
            local tolerance = tonumber(ARGV[2 * i])
            local tat = tonumber(redis.call('GET', key) or now)
            if tat < now then tat = now end
            local over = tat - now - tolerance
            if over > wait then wait = over end
            next_tat[i] = tat + interval
          end
          if wait > 0 then return math.ceil(wait) end
          for i, key in ipairs(KEYS) do
            local ttl = math.ceil((next_tat[i] - now) / 1000) + 1
            redis.call('SET', key, string.format('%.0f', next_tat[i]), 'PX', ttl)
          end
          return 0",
    )
});

/// One limit: `calls` in any window of `period`, half of them (rounded up)
/// at once and the rest evenly over the period, as the local budget
/// (`upstream::budget::budget_quota`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limit {
    /// What it limits, in the key: `all`, `history`, `history:<feed>`.
    pub name: String,
    /// Calls per period.
    pub calls: u32,
    /// The period.
    pub period: Duration,
}

impl Limit {
    /// Emission interval and burst tolerance, in microseconds.
    fn gcra(&self) -> (u64, u64) {
        let calls = self.calls.max(1);
        let burst = calls.div_ceil(2);
        let refilled = (calls - burst).max(1);
        let interval = (self.period / refilled).max(Duration::from_micros(1));
        let interval = u64::try_from(interval.as_micros()).unwrap_or(u64::MAX);
        (interval, interval.saturating_mul(u64::from(burst - 1)))
    }
}

impl Replicas {
    /// Takes one call of `source` from every one of `limits`, or says how
    /// long until all of them have one.
    pub async fn take_budget(
        &self,
        source: &str,
        limits: &[Limit],
    ) -> Result<Result<(), Duration>, SharedError> {
        let mut connection = self.connection()?;
        let mut invocation = GCRA.prepare_invoke();
        for limit in limits {
            let (interval, tolerance) = limit.gcra();
            invocation
                .key(self.keys().budget(source, &limit.name))
                .arg(interval)
                .arg(tolerance);
        }
        let wait_us: u64 = self.observe(invocation.invoke_async(&mut connection).await)?;
        Ok(match wait_us {
            0 => Ok(()),
            wait => Err(Duration::from_micros(wait)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shared_limit_has_the_local_budgets_burst_and_refill() {
        // 60 calls per 5 minutes: 30 at once, then one every 10 s.
        let limit = Limit {
            name: "all".into(),
            calls: 60,
            period: Duration::from_secs(300),
        };
        assert_eq!(limit.gcra(), (10_000_000, 290_000_000));
    }
}
