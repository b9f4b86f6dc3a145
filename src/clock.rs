//! The service's wall clock. Real time by default; `--now` starts it at a
//! given instant and lets it run, so tests and replays see a chosen day
//! (a DST day, 12:59 before publication) with time still moving.

use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};

/// A cheap-to-clone wall clock. Only the edges (API handlers, the fetch
/// coordinator, the saver) read it; the pool is handed `now`.
#[derive(Debug, Clone)]
pub struct Clock {
    inner: Arc<Inner>,
}

#[derive(Debug)]
enum Inner {
    System,
    /// Starts at `start` when the process reached `origin`, then runs at real speed.
    Offset {
        start: DateTime<Utc>,
        origin: Instant,
    },
}

impl Clock {
    /// Real time.
    pub fn system() -> Clock {
        Clock {
            inner: Arc::new(Inner::System),
        }
    }

    /// A clock that reads `start` now and runs on from there.
    pub fn starting_at(start: DateTime<Utc>) -> Clock {
        Clock {
            inner: Arc::new(Inner::Offset {
                start,
                origin: Instant::now(),
            }),
        }
    }

    /// The current instant.
    pub fn now(&self) -> DateTime<Utc> {
        match &*self.inner {
            Inner::System => Utc::now(),
            Inner::Offset { start, origin } => {
                *start + Duration::from_std(origin.elapsed()).unwrap_or(Duration::zero())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clock_started_in_the_past_runs_on_from_there() {
        let start: DateTime<Utc> = "2025-10-26T00:59:59Z".parse().unwrap();
        let clock = Clock::starting_at(start);
        let first = clock.now();
        std::thread::sleep(std::time::Duration::from_millis(20));
        let second = clock.now();
        assert!(first >= start && first < start + Duration::seconds(1));
        assert!(second > first);
    }
}
