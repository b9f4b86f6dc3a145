//! What a market home pays per kWh, from its market's spot price
//! (DESIGN.md, "Markets, sources, tariffs" → Tariff):
//! `total = (spot + charges + window charges) × (1 + tax)`. Windows add
//! charges in local clock-time stretches (time-variable grid fees). Pure:
//! the answer path applies a home's tariff to the shared market pool's
//! spot intervals, so ten thousand homes on one market keep one pool.

use std::fmt;
use std::str::FromStr;

use chrono::Timelike;
use chrono_tz::Tz;
use serde::Deserialize;

use crate::pool::Interval;

/// Minutes in a day: `24:00`, the end of the day.
const DAY_MINUTES: u16 = 24 * 60;

/// A local clock time on the minute, `00:00` to `24:00` (the day's end).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClockTime(u16);

impl ClockTime {
    /// Midnight at the day's start.
    pub const MIDNIGHT: ClockTime = ClockTime(0);
    /// `24:00`, the day's end (only meaningful as a window's `to`).
    pub const END_OF_DAY: ClockTime = ClockTime(DAY_MINUTES);

    /// The time `hour:minute`; `None` past `24:00` or with minutes ≥ 60.
    pub fn new(hour: u8, minute: u8) -> Option<ClockTime> {
        let minutes = u16::from(hour) * 60 + u16::from(minute);
        (minute < 60 && minutes <= DAY_MINUTES).then_some(ClockTime(minutes))
    }

    /// Minutes since the day's start (0..=1440).
    pub fn minutes(self) -> u16 {
        self.0
    }
}

impl fmt::Display for ClockTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.0 / 60, self.0 % 60)
    }
}

/// A text that is not `HH:MM` between `00:00` and `24:00`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a time of day (HH:MM, or 24:00)")]
pub struct BadClockTime(pub String);

impl FromStr for ClockTime {
    type Err = BadClockTime;

    fn from_str(text: &str) -> Result<ClockTime, BadClockTime> {
        let bad = || BadClockTime(text.chars().take(16).collect());
        let (hour, minute) = text.split_once(':').ok_or_else(bad)?;
        let two_digits = |part: &str| {
            (part.len() == 2 && part.bytes().all(|b| b.is_ascii_digit()))
                .then(|| part.parse::<u8>().ok())
                .flatten()
        };
        let (hour, minute) = two_digits(hour).zip(two_digits(minute)).ok_or_else(bad)?;
        ClockTime::new(hour, minute).ok_or_else(bad)
    }
}

impl<'de> Deserialize<'de> for ClockTime {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<ClockTime, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// A window or tariff that cannot be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TariffError {
    /// `from = "24:00"`: nothing starts at the day's end.
    #[error("a window cannot start at 24:00 (the day's end)")]
    FromEndOfDay,
    /// `from == to`: empty, or the whole day; neither is what anyone means.
    #[error("from and to are both {0}: the window is empty (for the whole day, raise charges)")]
    EmptyWindow(ClockTime),
    /// A charge or tax that is not a finite number, or a negative tax.
    #[error("{value} is not a usable {key} (a finite number; a tax is not negative)")]
    BadNumber {
        /// `charges` or `tax`.
        key: &'static str,
        /// The number as written.
        value: String,
    },
}

impl TariffError {
    fn bad_number(key: &'static str, value: f64) -> TariffError {
        TariffError::BadNumber {
            key,
            value: value.to_string(),
        }
    }

    /// The key of the window or tariff the error is about (`from`, `to`,
    /// `charges`, `tax`), so the config can name it.
    pub fn key(&self) -> &'static str {
        match self {
            TariffError::FromEndOfDay => "from",
            TariffError::EmptyWindow(_) => "to",
            TariffError::BadNumber { key, .. } => key,
        }
    }
}

/// A local clock-time stretch with its own extra charge per kWh.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, try_from = "WindowForm")]
pub struct TariffWindow {
    /// Start, local clock time (inclusive).
    pub from: ClockTime,
    /// End, local clock time (exclusive); before `from` wraps past midnight.
    pub to: ClockTime,
    /// Added to the spot price per kWh for slots starting inside.
    pub charges: f64,
}

/// The TOML form of a window, checked into a [`TariffWindow`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WindowForm {
    from: ClockTime,
    to: ClockTime,
    charges: f64,
}

impl TryFrom<WindowForm> for TariffWindow {
    type Error = TariffError;

    fn try_from(form: WindowForm) -> Result<TariffWindow, TariffError> {
        TariffWindow::new(form.from, form.to, form.charges)
    }
}

impl TariffWindow {
    /// A checked window: it starts before the day's end, is not empty, and
    /// its charge is a finite number.
    pub fn new(from: ClockTime, to: ClockTime, charges: f64) -> Result<TariffWindow, TariffError> {
        if from == ClockTime::END_OF_DAY {
            return Err(TariffError::FromEndOfDay);
        }
        let same = from == to || (from == ClockTime::MIDNIGHT && to == ClockTime::END_OF_DAY);
        if same {
            return Err(TariffError::EmptyWindow(from));
        }
        if !charges.is_finite() {
            return Err(TariffError::bad_number("charges", charges));
        }
        Ok(TariffWindow { from, to, charges })
    }

    /// Whether a slot starting `minute` minutes after local midnight is in
    /// the window; `from > to` wraps past midnight.
    pub fn contains(&self, minute: u16) -> bool {
        let (from, to) = (self.from.0, self.to.0);
        if from < to {
            from <= minute && minute < to
        } else {
            minute >= from || minute < to
        }
    }
}

/// A home's price per kWh as a function of the spot price.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, try_from = "TariffForm")]
pub struct Tariff {
    /// Added to every slot's spot price, per kWh in the home's currency.
    pub charges: f64,
    /// A fraction (VAT): 0.19 for 19 %.
    pub tax: f64,
    /// Extra charges in local clock-time stretches; overlapping ones add up.
    pub windows: Vec<TariffWindow>,
}

/// The TOML form of a tariff: every key optional.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TariffForm {
    #[serde(default)]
    charges: f64,
    #[serde(default)]
    tax: f64,
    #[serde(default)]
    windows: Vec<TariffWindow>,
}

impl TryFrom<TariffForm> for Tariff {
    type Error = TariffError;

    fn try_from(form: TariffForm) -> Result<Tariff, TariffError> {
        Tariff::new(form.charges, form.tax, form.windows)
    }
}

impl Default for Tariff {
    /// The total is the spot price.
    fn default() -> Tariff {
        Tariff {
            charges: 0.0,
            tax: 0.0,
            windows: Vec::new(),
        }
    }
}

impl Tariff {
    /// A checked tariff: finite charges, a finite tax that is not negative.
    pub fn new(charges: f64, tax: f64, windows: Vec<TariffWindow>) -> Result<Tariff, TariffError> {
        if !charges.is_finite() {
            return Err(TariffError::bad_number("charges", charges));
        }
        if !tax.is_finite() || tax < 0.0 {
            return Err(TariffError::bad_number("tax", tax));
        }
        Ok(Tariff {
            charges,
            tax,
            windows,
        })
    }

    /// The home's interval for a spot interval whose `total` is the spot
    /// price per kWh: `energy` = spot, `total` = the tariff's price, `tax`
    /// = `total − energy`; start, resolution and level kept. Windows are
    /// read on `zone`'s local clock at the slot's start.
    pub fn apply(&self, spot: &Interval, zone: Tz) -> Interval {
        let energy = spot.total;
        let window_charges: f64 = if self.windows.is_empty() {
            0.0
        } else {
            let local = spot.starts_at().with_timezone(&zone);
            // Both 02:00s of a fall-back day read 02:00: the clock is what a grid fee follows.
            let minute = (local.hour() * 60 + local.minute()) as u16;
            self.windows
                .iter()
                .filter(|window| window.contains(minute))
                .map(|window| window.charges)
                .sum()
        };
        let total = (energy + self.charges + window_charges) * (1.0 + self.tax);
        Interval::new(
            spot.starts_at(),
            spot.resolution,
            total,
            energy,
            total - energy,
            spot.level,
        )
    }
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
    use chrono_tz::Europe::Berlin;

    use super::*;
    use crate::pool::{PriceLevel, Resolution};

    fn spot(starts_at: DateTime<Utc>, price: f64) -> Interval {
        Interval::new(
            starts_at,
            Resolution::QuarterHour,
            price,
            price,
            0.0,
            Some(PriceLevel::Cheap),
        )
    }

    fn at(text: &str) -> ClockTime {
        text.parse().unwrap()
    }

    fn window(from: &str, to: &str, charges: f64) -> TariffWindow {
        TariffWindow::new(at(from), at(to), charges).unwrap()
    }

    /// Every quarter-hour start of a local day in Berlin.
    fn berlin_day(date: (i32, u32, u32)) -> Vec<DateTime<Utc>> {
        let day = NaiveDate::from_ymd_opt(date.0, date.1, date.2).unwrap();
        let local_midnight = |d: NaiveDate| {
            Berlin
                .from_local_datetime(&d.and_hms_opt(0, 0, 0).unwrap())
                .unwrap()
                .with_timezone(&Utc)
        };
        let (start, end) = (local_midnight(day), local_midnight(day.succ_opt().unwrap()));
        let n = (end - start).num_minutes() / 15;
        (0..n).map(|i| start + Duration::minutes(15 * i)).collect()
    }

    /// How many of the day's quarter-hours pay the window charge.
    fn in_window(tariff: &Tariff, day: &[DateTime<Utc>]) -> usize {
        day.iter()
            .filter(|&&t| tariff.apply(&spot(t, 0.0), Berlin).total > 0.0)
            .count()
    }

    fn windows_only(windows: Vec<TariffWindow>) -> Tariff {
        Tariff::new(0.0, 0.0, windows).unwrap()
    }

    #[test]
    fn the_default_tariff_passes_the_spot_price_through() {
        let t = Utc.with_ymd_and_hms(2025, 6, 10, 10, 0, 0).unwrap();
        let out = Tariff::default().apply(&spot(t, 0.0873), Berlin);
        assert_eq!((out.total, out.energy, out.tax), (0.0873, 0.0873, 0.0));
        assert_eq!(out.starts_at(), t);
        assert_eq!(out.resolution, Resolution::QuarterHour);
        assert_eq!(out.level, Some(PriceLevel::Cheap));
    }

    #[test]
    fn total_is_spot_plus_charges_and_window_charges_times_one_plus_tax() {
        let tariff = Tariff::new(0.152, 0.19, vec![window("17:00", "20:00", 0.05)]).unwrap();
        // 2025-06-10 in Berlin is UTC+2: 16:45, 17:00, 19:45 and 20:00 local.
        let cases = [(14, 45, 0.0), (15, 0, 0.05), (17, 45, 0.05), (18, 0, 0.0)];
        for (hour, minute, window_charges) in cases {
            let t = Utc.with_ymd_and_hms(2025, 6, 10, hour, minute, 0).unwrap();
            let out = tariff.apply(&spot(t, 0.1), Berlin);
            let expected = (0.1 + 0.152 + window_charges) * 1.19;
            assert!((out.total - expected).abs() < 1e-12, "{t}: {}", out.total);
            assert_eq!(out.energy, 0.1);
            assert!((out.tax - (out.total - 0.1)).abs() < 1e-15);
        }
    }

    #[test]
    fn negative_spot_prices_go_through_the_same_formula() {
        let tariff = Tariff::new(0.152, 0.19, Vec::new()).unwrap();
        let t = Utc.with_ymd_and_hms(2025, 5, 11, 11, 0, 0).unwrap();
        let out = tariff.apply(&spot(t, -0.5), Berlin);
        assert!((out.total - (-0.348 * 1.19)).abs() < 1e-12);
        assert_eq!(out.energy, -0.5);
        assert!((out.tax - (out.total + 0.5)).abs() < 1e-15);
    }

    #[test]
    fn windows_follow_the_local_clock_on_an_ordinary_and_both_dst_days() {
        let evening = windows_only(vec![window("17:00", "20:00", 0.05)]);
        let night = windows_only(vec![window("01:00", "04:00", 0.05)]);
        let ordinary = berlin_day((2025, 6, 10));
        let spring = berlin_day((2026, 3, 29));
        let fall = berlin_day((2025, 10, 26));
        assert_eq!((ordinary.len(), spring.len(), fall.len()), (96, 92, 100));
        for day in [&ordinary, &spring, &fall] {
            assert_eq!(in_window(&evening, day), 12);
        }
        assert_eq!(in_window(&night, &ordinary), 12);
        // 02:00–03:00 does not exist on the spring day, and comes twice in the fall.
        assert_eq!(in_window(&night, &spring), 8);
        assert_eq!(in_window(&night, &fall), 16);
    }

    #[test]
    fn both_two_oclocks_of_a_fall_back_day_are_in_a_two_oclock_window() {
        let tariff = windows_only(vec![window("02:00", "03:00", 0.05)]);
        let first = Utc.with_ymd_and_hms(2025, 10, 26, 0, 0, 0).unwrap(); // 02:00 CEST
        let second = Utc.with_ymd_and_hms(2025, 10, 26, 1, 0, 0).unwrap(); // 02:00 CET
        let after = Utc.with_ymd_and_hms(2025, 10, 26, 2, 0, 0).unwrap(); // 03:00 CET
        assert_eq!(tariff.apply(&spot(first, 0.0), Berlin).total, 0.05);
        assert_eq!(tariff.apply(&spot(second, 0.0), Berlin).total, 0.05);
        assert_eq!(tariff.apply(&spot(after, 0.0), Berlin).total, 0.0);
    }

    #[test]
    fn a_window_wraps_past_midnight_and_24_00_is_the_days_end() {
        let wrap = windows_only(vec![window("22:00", "06:00", 0.05)]);
        let evening = windows_only(vec![window("20:00", "24:00", 0.05)]);
        let day = berlin_day((2025, 6, 10));
        assert_eq!(in_window(&wrap, &day), 32);
        assert_eq!(in_window(&evening, &day), 16);
        assert!(wrap.windows[0].contains(23 * 60 + 45) && wrap.windows[0].contains(0));
        assert!(!wrap.windows[0].contains(6 * 60) && !wrap.windows[0].contains(21 * 60 + 45));
        assert!(evening.windows[0].contains(23 * 60 + 45) && !evening.windows[0].contains(0));
    }

    #[test]
    fn overlapping_windows_add_up() {
        let tariff = windows_only(vec![
            window("17:00", "20:00", 0.05),
            window("18:00", "19:00", 0.02),
        ]);
        let t = Utc.with_ymd_and_hms(2025, 6, 10, 16, 30, 0).unwrap(); // 18:30 local
        assert!((tariff.apply(&spot(t, 0.0), Berlin).total - 0.07).abs() < 1e-15);
    }

    #[test]
    fn the_toml_form_reads_and_refuses_what_cannot_be_meant() {
        let tariff: Tariff = toml::from_str(
            "charges = 0.152\ntax = 0.19\nwindows = [{ from = \"17:00\", to = \"24:00\", charges = 0.05 }]",
        )
        .unwrap();
        assert_eq!(tariff.windows, vec![window("17:00", "24:00", 0.05)]);
        assert_eq!(toml::from_str::<Tariff>("").unwrap(), Tariff::default());
        let refused = [
            (
                "windows = [{ from = \"17:00\", to = \"25:00\", charges = 0.05 }]",
                "25:00",
            ),
            (
                "windows = [{ from = \"24:00\", to = \"02:00\", charges = 0.05 }]",
                "24:00",
            ),
            (
                "windows = [{ from = \"17:00\", to = \"17:00\", charges = 0.05 }]",
                "empty",
            ),
            (
                "windows = [{ from = \"7:00\", to = \"8:00\", charges = 0.05 }]",
                "7:00",
            ),
            ("tax = -0.1", "tax"),
            ("charges = nan", "charges"),
            ("vat = 0.19", "vat"),
        ];
        for (text, named) in refused {
            let error = toml::from_str::<Tariff>(text).unwrap_err().to_string();
            assert!(error.contains(named), "{text}: {error}");
        }
    }
}
