//! Answers beyond the raw prices: what people ask of day-ahead prices
//! ("when is it cheapest for three hours?", "what is today's spread?",
//! "what does each hour cost on an hourly bill?"), computed once here
//! instead of by every client, exactly and correctly on DST days and across
//! the switch from hourly to quarter-hourly prices.
//!
//! Like [`crate::pool`], everything here is pure and synchronous: functions
//! over a home's intervals (in order, as an `Answer` carries them) and its
//! zone, no clock reads, no I/O. The API's handlers only parse, call and
//! render.
//!
//! - [`hourly`]: the mean of each local clock hour.
//! - [`cheapest`]: the cheapest (or dearest) window of a duration.
//! - [`summary`]: min, max, mean and median per local day.
//! - [`chart`]: a day's prices as an SVG step chart.
//! - [`markup`]: escaping for the SVG and HTML the service writes.

pub mod chart;
pub mod cheapest;
pub mod hourly;
pub mod markup;
pub mod summary;

pub use chart::DayChart;
pub use cheapest::{CheapestError, Pick, Window, WindowQuery, cheapest, cheapest_upcoming};
pub use hourly::hourly_means;
pub use summary::{DaySummary, Extreme, summarize};

use crate::pool::Interval;

/// The slot's length in seconds: its weight in every duration-weighted mean.
fn seconds(interval: &Interval) -> i64 {
    interval.resolution.seconds()
}

/// A computed mean without the binary noise of its sum: rounded to ten
/// decimals (prices carry at most four, so a mean of quarter-hours at most
/// six), so the mean of 0.2415 and its neighbours reads 0.2415, not
/// 0.24150000000000002.
fn tidy(mean: f64) -> f64 {
    let rounded = (mean * 1e10).round() / 1e10;
    if rounded.is_finite() { rounded } else { mean }
}
