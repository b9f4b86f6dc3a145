//! What a market home pays per kWh, from its market's spot price:
//! `total = (spot + charges + window charges) × (1 + tax)`.

use chrono::NaiveTime;
use chrono_tz::Tz;

use crate::pool::Interval;

/// A home's tariff. The default prices every slot at the spot price.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tariff {
    /// Added to the spot price per kWh, in the home's currency.
    pub charges: f64,
    /// VAT as a fraction (0.19), applied to spot plus charges.
    pub tax: f64,
    /// Charges added in local clock-time stretches.
    pub windows: Vec<TariffWindow>,
}

/// Charges added while the local clock is in `[from, to)`; `from > to`
/// wraps past midnight; `to` of `None` is the day's end (24:00).
#[derive(Debug, Clone, PartialEq)]
pub struct TariffWindow {
    pub from: NaiveTime,
    pub to: Option<NaiveTime>,
    pub charges: f64,
}

impl TariffWindow {
    fn contains(&self, time: NaiveTime) -> bool {
        match self.to {
            None => time >= self.from,
            Some(to) if self.from <= to => time >= self.from && time < to,
            Some(to) => time >= self.from || time < to,
        }
    }
}

impl Tariff {
    /// The home's price of a market slot whose `total` is the spot price
    /// per kWh: `energy` = spot, `total` = the tariff's, `tax` = the rest.
    pub fn apply(&self, spot: &Interval, zone: Tz) -> Interval {
        let local = spot.starts_at.with_timezone(&zone).time();
        let windows: f64 = self
            .windows
            .iter()
            .filter(|window| window.contains(local))
            .map(|window| window.charges)
            .sum();
        let energy = spot.total;
        let total = (energy + self.charges + windows) * (1.0 + self.tax);
        Interval {
            total,
            energy,
            tax: total - energy,
            ..*spot
        }
    }
}
