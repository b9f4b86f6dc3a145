//! The HTML of `GET /`: one self-contained page (inline CSS and SVG, no
//! script, no external asset) with each home's current price, today's and
//! tomorrow's chart, the cheapest three hours and the upstream's health.
//! Pure: the handler in `dashboard` gathers [`HomePanel`]s, this writes
//! them; every string printed goes through `escape`.

use std::fmt::Write;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::answers::markup::escape;

/// The current slot as the page shows it.
#[derive(Debug, Clone)]
pub(crate) struct CurrentPrice {
    /// Total per kWh.
    pub(crate) total: f64,
    /// The level word, where the source has one.
    pub(crate) level: Option<&'static str>,
    /// When the slot ends.
    pub(crate) ends_at: DateTime<Utc>,
}

/// The cheapest window as the page shows it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CheapestWindow {
    /// Start of the window.
    pub(crate) start: DateTime<Utc>,
    /// End (exclusive).
    pub(crate) end: DateTime<Utc>,
    /// Mean total over it.
    pub(crate) mean: f64,
}

/// Everything the page shows of one home.
#[derive(Debug, Clone)]
pub(crate) struct HomePanel {
    /// The home's id.
    pub(crate) id: String,
    /// ISO 4217 code of its prices.
    pub(crate) currency: String,
    /// Its zone: every time on the page is local to the home.
    pub(crate) zone: Tz,
    /// The slot containing now, if known.
    pub(crate) current: Option<CurrentPrice>,
    /// The cheapest 3 h from now among what is known.
    pub(crate) cheapest: Option<CheapestWindow>,
    /// Today's chart (an SVG document).
    pub(crate) today_svg: Option<String>,
    /// Tomorrow's chart, once any of tomorrow is known.
    pub(crate) tomorrow_svg: Option<String>,
    /// Why the prices could not be read, when they could not.
    pub(crate) problem: Option<String>,
    /// When a fetch last succeeded.
    pub(crate) last_success: Option<DateTime<Utc>>,
    /// The last failure after it: kind, message, when.
    pub(crate) last_error: Option<(String, String, DateTime<Utc>)>,
}

const STYLE: &str = "body{font-family:sans-serif;margin:1.5rem;color:#222;max-width:78rem}\
section{border-top:1px solid #ccc;padding:.5rem 0 1rem}\
.charts{display:flex;flex-wrap:wrap;gap:1rem}figure{margin:0}\
figure svg{max-width:100%;height:auto}figcaption{font-size:.9rem;color:#555}\
.price{font-size:1.6rem;font-weight:bold}dl{display:grid;grid-template-columns:max-content auto;gap:.2rem 1rem}\
dt{color:#555}dd{margin:0}";

/// The whole page at `now` over `homes`.
pub(crate) fn render_page(now: DateTime<Utc>, homes: &[HomePanel]) -> String {
    let mut html = String::with_capacity(24 * 1024 * homes.len().max(1));
    let _ = write!(
        html,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>pricepool</title><style>{STYLE}</style></head><body>\
         <h1>pricepool</h1><p>Day-ahead prices as of {} UTC.</p>",
        escape(&now.format("%Y-%m-%d %H:%M").to_string())
    );
    if homes.is_empty() {
        html.push_str("<p>No homes are known yet.</p>");
    }
    for home in homes {
        write_home(&mut html, home);
    }
    html.push_str("</body></html>");
    html
}

/// `instant` in the home's zone, `2025-10-26 02:00 +01:00`.
fn local(home: &HomePanel, instant: DateTime<Utc>) -> String {
    instant
        .with_timezone(&home.zone)
        .format("%Y-%m-%d %H:%M %:z")
        .to_string()
}

fn write_home(html: &mut String, home: &HomePanel) {
    let id = escape(&home.id);
    let currency = escape(&home.currency);
    let _ = write!(
        html,
        "<section class=\"home\" id=\"home-{id}\"><h2>{id}</h2>"
    );
    if let Some(problem) = &home.problem {
        let _ = write!(html, "<p class=\"problem\">{}</p>", escape(problem));
    }
    match &home.current {
        Some(current) => {
            let level = current
                .level
                .map_or(String::new(), |l| format!(" ({})", escape(l)));
            let _ = write!(
                html,
                "<p class=\"current\">Now: <span class=\"price\">{} {currency}/kWh</span>{level}, until {}</p>",
                current.total,
                escape(&local(home, current.ends_at))
            );
        }
        None => html.push_str("<p class=\"current\">No price is known for now.</p>"),
    }
    match home.cheapest {
        Some(window) => {
            let _ = write!(
                html,
                "<p class=\"cheapest\">Cheapest 3 h: {} to {}, mean {} {currency}/kWh</p>",
                escape(&local(home, window.start)),
                escape(&local(home, window.end)),
                window.mean
            );
        }
        None => html.push_str("<p class=\"cheapest\">No 3 h window is known yet.</p>"),
    }
    html.push_str("<div class=\"charts\">");
    for (class, caption, svg) in [
        ("today", "Today", &home.today_svg),
        ("tomorrow", "Tomorrow", &home.tomorrow_svg),
    ] {
        match svg {
            // The charts are our own SVG, escaped where they print strings.
            Some(svg) => {
                let _ = write!(
                    html,
                    "<figure class=\"chart {class}\">{svg}<figcaption>{caption}</figcaption></figure>"
                );
            }
            None => {
                let _ = write!(
                    html,
                    "<p class=\"chart {class}\">{caption}: prices not published yet.</p>"
                );
            }
        }
    }
    html.push_str("</div><dl class=\"upstream\"><dt>Last success</dt><dd>");
    html.push_str(
        &home
            .last_success
            .map_or("never".to_string(), |t| escape(&local(home, t))),
    );
    html.push_str("</dd><dt>Last error</dt><dd>");
    match &home.last_error {
        Some((kind, message, at)) => {
            let _ = write!(
                html,
                "{} ({}) at {}",
                escape(message),
                escape(kind),
                escape(&local(home, *at))
            );
        }
        None => html.push_str("none"),
    }
    html.push_str("</dd></dl></section>");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_string_the_page_prints_is_escaped() {
        let hostile = "<img src=x onerror=alert(1)>\"'&";
        let now: DateTime<Utc> = "2025-10-26T09:00:00Z".parse().unwrap();
        let panel = HomePanel {
            id: hostile.to_string(),
            currency: hostile.to_string(),
            zone: "Europe/Berlin".parse().unwrap(),
            current: Some(CurrentPrice {
                total: 0.25,
                level: Some("CHEAP"),
                ends_at: now,
            }),
            cheapest: Some(CheapestWindow {
                start: now,
                end: now,
                mean: 0.2,
            }),
            today_svg: None,
            tomorrow_svg: None,
            problem: Some(hostile.to_string()),
            last_success: None,
            last_error: Some((hostile.to_string(), hostile.to_string(), now)),
        };
        let page = render_page(now, &[panel]);
        assert!(!page.contains("<img"), "{page}");
        assert!(!page.contains("\"'&<"));
        assert_eq!(
            page.matches("&lt;img src=x onerror=alert(1)&gt;&quot;&#39;&amp;")
                .count(),
            7
        );
        assert!(page.contains("2025-10-26 10:00 +01:00"));
    }
}
