//! A day's prices as an SVG step chart, written by our own small writer:
//! the chart is a few dozen elements of string formatting, and the same
//! [`escape`] serves it and the HTML page it is inlined into. (The `svg`
//! crate only began escaping text nodes in 0.15, bodoni/svg#76; with our
//! own writer there is one escape function to audit, not two.)
//!
//! The hour axis is in local time (23 or 25 hours on DST days, both 02:00
//! hours shown), the price axis includes zero so negative prices fall below
//! the zero line, now is marked, and the cheapest three hours are shaded.

use std::fmt::Write;

use chrono::{DateTime, NaiveDate, TimeDelta, Timelike, Utc};
use chrono_tz::Tz;

use super::cheapest::{WindowQuery, cheapest};
use super::markup::escape;
use crate::pool::Interval;
use crate::pool::days::local_day;

/// What a day's chart shows.
#[derive(Debug, Clone, Copy)]
pub struct DayChart<'a> {
    /// The home, for the title.
    pub home_id: &'a str,
    /// The prices' currency (ISO 4217), on the price axis.
    pub currency: &'a str,
    /// The home's zone: the hour axis is local.
    pub zone: Tz,
    /// The local day drawn.
    pub date: NaiveDate,
    /// The day's intervals, in order.
    pub intervals: &'a [Interval],
    /// The instant marked as now (drawn only when it falls in the day).
    pub now: DateTime<Utc>,
}

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 260.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 28.0;
const BOTTOM: f64 = 36.0;

/// The hours the shaded window lasts.
pub const SHADED_HOURS: i64 = 3;

/// Maps instants and prices of one day to the drawing.
struct Scale {
    start: DateTime<Utc>,
    seconds: f64,
    low: f64,
    high: f64,
}

impl Scale {
    fn x(&self, instant: DateTime<Utc>) -> f64 {
        let offset = (instant - self.start).num_seconds() as f64;
        LEFT + offset / self.seconds * (WIDTH - LEFT - RIGHT)
    }

    fn y(&self, price: f64) -> f64 {
        let span = (self.high - self.low).max(1e-9);
        TOP + (self.high - price) / span * (HEIGHT - TOP - BOTTOM)
    }
}

impl DayChart<'_> {
    /// The SVG document.
    pub fn render(&self) -> String {
        let (start, end) = local_day(self.zone, self.date);
        let (low, high) = self.price_bounds();
        let scale = Scale {
            start,
            seconds: (end - start).num_seconds().max(1) as f64,
            low,
            high,
        };
        let window = cheapest(
            self.intervals,
            start,
            end,
            WindowQuery {
                duration: TimeDelta::hours(SHADED_HOURS),
                contiguous: true,
                highest: false,
            },
        )
        .ok()
        .flatten()
        .and_then(|pick| pick.windows.first().copied());
        let mut svg = String::with_capacity(8 * 1024);
        let _ = write!(
            svg,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" \
             width=\"{WIDTH}\" height=\"{HEIGHT}\" role=\"img\" \
             font-family=\"sans-serif\" font-size=\"11\">"
        );
        let _ = write!(
            svg,
            "<title>{}</title><desc>{}</desc>",
            escape(&format!("Prices of {} on {}", self.home_id, self.date)),
            escape(&self.describe(window.map(|w| (w.start, w.end, w.mean))))
        );
        if let Some(window) = window {
            let (x0, x1) = (scale.x(window.start), scale.x(window.end));
            let _ = write!(
                svg,
                "<rect class=\"cheapest\" x=\"{x0:.1}\" y=\"{TOP}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"#c8ecc8\"><title>{}</title></rect>",
                x1 - x0,
                HEIGHT - TOP - BOTTOM,
                escape(&format!(
                    "cheapest {SHADED_HOURS} h: {}–{}",
                    self.clock(window.start),
                    self.clock(window.end)
                ))
            );
        }
        self.axes(&mut svg, &scale, end);
        self.steps(&mut svg, &scale);
        if self.intervals.is_empty() {
            let _ = write!(
                svg,
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">no prices known for this day yet</text>",
                WIDTH / 2.0,
                HEIGHT / 2.0
            );
        }
        if (start..end).contains(&self.now) {
            let x = scale.x(self.now);
            let _ = write!(
                svg,
                "<line class=\"now\" x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{TOP}\" y2=\"{:.1}\" stroke=\"#d33\" stroke-dasharray=\"4 3\"><title>{}</title></line>",
                HEIGHT - BOTTOM,
                escape(&format!("now, {}", self.clock(self.now)))
            );
        }
        svg.push_str("</svg>");
        svg
    }

    /// The price range drawn: the day's prices and zero, with some room.
    fn price_bounds(&self) -> (f64, f64) {
        let totals = self
            .intervals
            .iter()
            .map(|i| i.total)
            .filter(|t| t.is_finite());
        let (low, high) = totals.fold((0.0f64, 0.0f64), |(lo, hi), t| (lo.min(t), hi.max(t)));
        let room = ((high - low) * 0.08).max(0.01);
        (if low < 0.0 { low - room } else { 0.0 }, high + room)
    }

    /// Local wall-clock time of `instant` with its offset (`02:00+01:00`),
    /// so both 02:00s of a fall-back day read differently.
    fn clock(&self, instant: DateTime<Utc>) -> String {
        instant
            .with_timezone(&self.zone)
            .format("%H:%M%:z")
            .to_string()
    }

    /// The text a screen reader gets: range, extremes, the cheapest window.
    fn describe(&self, window: Option<(DateTime<Utc>, DateTime<Utc>, f64)>) -> String {
        let currency = self.currency;
        let mut text = format!("{} price slots", self.intervals.len());
        let min = self
            .intervals
            .iter()
            .min_by(|a, b| a.total.total_cmp(&b.total));
        let max = self
            .intervals
            .iter()
            .max_by(|a, b| a.total.total_cmp(&b.total));
        if let (Some(min), Some(max)) = (min, max) {
            let _ = write!(
                text,
                "; lowest {} {currency}/kWh at {}, highest {} {currency}/kWh at {}",
                min.total,
                self.clock(min.starts_at()),
                max.total,
                self.clock(max.starts_at())
            );
        }
        if let Some((start, end, mean)) = window {
            let _ = write!(
                text,
                "; cheapest {SHADED_HOURS} hours {} to {} at a mean of {mean} {currency}/kWh",
                self.clock(start),
                self.clock(end)
            );
        }
        text
    }

    /// The hour axis (a tick every local hour, labelled every third) and
    /// the price axis (five labelled lines and the zero line).
    fn axes(&self, svg: &mut String, scale: &Scale, end: DateTime<Utc>) {
        let bottom = HEIGHT - BOTTOM;
        let mut hour = scale.start;
        let mut n = 0;
        while hour < end && n < 30 {
            let x = scale.x(hour);
            let _ = write!(
                svg,
                "<line x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{bottom}\" y2=\"{:.1}\" stroke=\"#888\"/>",
                bottom + 4.0
            );
            if n % 3 == 0 {
                let local = hour.with_timezone(&self.zone).hour();
                let _ = write!(
                    svg,
                    "<text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{local:02}</text>",
                    bottom + 16.0
                );
            }
            hour += TimeDelta::hours(1);
            n += 1;
        }
        let _ = write!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            (LEFT + WIDTH - RIGHT) / 2.0,
            HEIGHT - 4.0,
            escape(&format!("{} ({} hours, local time)", self.date, n))
        );
        for step in 0..=4 {
            let price = scale.low + (scale.high - scale.low) * f64::from(step) / 4.0;
            let y = scale.y(price);
            let _ = write!(
                svg,
                "<line x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#eee\"/>\
                 <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{price:.3}</text>",
                WIDTH - RIGHT,
                LEFT - 4.0,
                y + 4.0
            );
        }
        let zero = scale.y(0.0);
        let _ = write!(
            svg,
            "<line class=\"zero\" x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{zero:.1}\" y2=\"{zero:.1}\" stroke=\"#444\"/>\
             <text x=\"4\" y=\"{:.1}\">{}</text>",
            WIDTH - RIGHT,
            TOP - 10.0,
            escape(&format!("{}/kWh", self.currency))
        );
    }

    /// The prices as steps: one horizontal run per slot, joined where slots
    /// touch, broken where one is missing.
    fn steps(&self, svg: &mut String, scale: &Scale) {
        if self.intervals.is_empty() {
            return;
        }
        svg.push_str(
            "<path class=\"prices\" fill=\"none\" stroke=\"#1f5fbf\" stroke-width=\"2\" d=\"",
        );
        let mut previous_end: Option<DateTime<Utc>> = None;
        for interval in self.intervals {
            let (x0, x1, y) = (
                scale.x(interval.starts_at()),
                scale.x(interval.ends_at()),
                scale.y(interval.total),
            );
            let verb = if previous_end == Some(interval.starts_at()) {
                'L'
            } else {
                'M'
            };
            let _ = write!(svg, "{verb}{x0:.1} {y:.1}H{x1:.1}");
            previous_end = Some(interval.ends_at());
        }
        svg.push_str("\"/>");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::answers::summary::tests::{berlin, quarters};

    fn chart(date: &str, totals: &[f64], now: &str, home_id: &str) -> String {
        let date: NaiveDate = date.parse().unwrap();
        let (start, _) = local_day(berlin(), date);
        let intervals = quarters(start, totals);
        DayChart {
            home_id,
            currency: "EUR",
            zone: berlin(),
            date,
            intervals: &intervals,
            now: now.parse().unwrap(),
        }
        .render()
    }

    #[test]
    fn a_fall_back_day_has_25_hour_ticks_and_negative_prices_fall_below_zero() {
        let mut totals = vec![0.2; 100];
        totals[10] = -0.1;
        let svg = chart("2025-10-26", &totals, "2025-10-26T09:00:00Z", "demo");
        assert!(svg.contains("(25 hours, local time)"), "{svg}");
        assert!(svg.contains("class=\"now\""));
        assert!(svg.contains("class=\"cheapest\""));
        assert!(svg.contains("<title>Prices of demo on 2025-10-26</title><desc>"));
        // The zero line lies above the lowest step: y grows downwards.
        let zero_y: f64 = between(&svg, "class=\"zero\" x1=\"64\" x2=\"708.0\" y1=\"", "\"");
        let negative_y = {
            let scale_low = -0.1 - (0.3 * 0.08);
            let scale_high = 0.2 + 0.3 * 0.08;
            TOP + (scale_high + 0.1) / (scale_high - scale_low) * (HEIGHT - TOP - BOTTOM)
        };
        assert!(negative_y > zero_y);
        let spring = chart("2025-03-30", &vec![0.2; 92], "2025-01-01T00:00:00Z", "demo");
        assert!(spring.contains("(23 hours, local time)"));
        assert!(!spring.contains("class=\"now\""));
    }

    fn between(text: &str, open: &str, close: &str) -> f64 {
        let from = text.find(open).unwrap() + open.len();
        let to = from + text[from..].find(close).unwrap();
        text[from..to].parse().unwrap()
    }

    #[test]
    fn a_hostile_home_id_is_escaped() {
        let svg = chart(
            "2025-11-03",
            &[0.1; 96],
            "2025-11-03T09:00:00Z",
            "<script>&\"'",
        );
        assert!(!svg.contains("<script>"));
        assert!(svg.contains("&lt;script&gt;&amp;&quot;&#39;"));
    }
}
