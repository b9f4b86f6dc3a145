//! Day-ahead bidding zones ("markets"), named as ENTSO-E names them. A
//! market home is priced by its market's spot price; every home on one
//! market (and currency) shares one market feed.

use std::fmt;
use std::str::FromStr;

use chrono_tz::Tz;

/// A day-ahead bidding zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Market {
    /// Germany and Luxembourg.
    DeLu,
    /// Austria.
    At,
    /// The Netherlands.
    Nl,
    /// Belgium.
    Be,
    /// France.
    Fr,
    /// Switzerland.
    Ch,
    /// Poland.
    Pl,
    /// Denmark west.
    Dk1,
    /// Denmark east.
    Dk2,
    /// Norway, south-east (Oslo).
    No1,
    /// Norway, south-west (Kristiansand).
    No2,
    /// Norway, middle (Trondheim).
    No3,
    /// Norway, north (Tromsø).
    No4,
    /// Norway, west (Bergen).
    No5,
    /// Sweden, Luleå.
    Se1,
    /// Sweden, Sundsvall.
    Se2,
    /// Sweden, Stockholm.
    Se3,
    /// Sweden, Malmö.
    Se4,
    /// Finland.
    Fi,
    /// Estonia.
    Ee,
    /// Latvia.
    Lv,
    /// Lithuania.
    Lt,
}

/// Every market, with its name, zone and ENTSO-E area code (EIC).
const MARKETS: [(Market, &str, Tz, &str); 22] = {
    use chrono_tz::Europe;
    [
        (Market::DeLu, "DE-LU", Europe::Berlin, "10Y1001A1001A82H"),
        (Market::At, "AT", Europe::Vienna, "10YAT-APG------L"),
        (Market::Nl, "NL", Europe::Amsterdam, "10YNL----------L"),
        (Market::Be, "BE", Europe::Brussels, "10YBE----------2"),
        (Market::Fr, "FR", Europe::Paris, "10YFR-RTE------C"),
        (Market::Ch, "CH", Europe::Zurich, "10YCH-SWISSGRIDZ"),
        (Market::Pl, "PL", Europe::Warsaw, "10YPL-AREA-----S"),
        (Market::Dk1, "DK1", Europe::Copenhagen, "10YDK-1--------W"),
        (Market::Dk2, "DK2", Europe::Copenhagen, "10YDK-2--------M"),
        (Market::No1, "NO1", Europe::Oslo, "10YNO-1--------2"),
        (Market::No2, "NO2", Europe::Oslo, "10YNO-2--------T"),
        (Market::No3, "NO3", Europe::Oslo, "10YNO-3--------J"),
        (Market::No4, "NO4", Europe::Oslo, "10YNO-4--------9"),
        (Market::No5, "NO5", Europe::Oslo, "10Y1001A1001A48H"),
        (Market::Se1, "SE1", Europe::Stockholm, "10Y1001A1001A44P"),
        (Market::Se2, "SE2", Europe::Stockholm, "10Y1001A1001A45N"),
        (Market::Se3, "SE3", Europe::Stockholm, "10Y1001A1001A46L"),
        (Market::Se4, "SE4", Europe::Stockholm, "10Y1001A1001A47J"),
        (Market::Fi, "FI", Europe::Helsinki, "10YFI-1--------U"),
        (Market::Ee, "EE", Europe::Tallinn, "10Y1001A1001A39I"),
        (Market::Lv, "LV", Europe::Riga, "10YLV-1001A00074"),
        (Market::Lt, "LT", Europe::Vilnius, "10YLT-1001A0008Q"),
    ]
};

impl Market {
    /// Every market, in the order DESIGN.md lists them.
    pub fn all() -> impl Iterator<Item = Market> {
        MARKETS.iter().map(|(market, ..)| *market)
    }

    fn entry(self) -> &'static (Market, &'static str, Tz, &'static str) {
        // Every variant is in MARKETS (a unit test checks it).
        MARKETS
            .iter()
            .find(|(market, ..)| *market == self)
            .unwrap_or(&MARKETS[0])
    }

    /// The name ENTSO-E gives it (`DE-LU`, `NO2`, …).
    pub fn name(self) -> &'static str {
        self.entry().1
    }

    /// The zone its homes live in by default (and its feed's days are cut in).
    pub fn zone(self) -> Tz {
        self.entry().2
    }

    /// Its ENTSO-E area code (EIC), for `in_Domain`/`out_Domain`.
    pub fn eic(self) -> &'static str {
        self.entry().3
    }
}

impl fmt::Display for Market {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A market name that is not one of [`Market::all`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown market {0:?} (known: DE-LU, AT, NL, BE, FR, CH, PL, DK1, DK2, NO1…NO5, SE1…SE4, FI, EE, LV, LT)"
)]
pub struct UnknownMarket(pub String);

impl FromStr for Market {
    type Err = UnknownMarket;

    fn from_str(text: &str) -> Result<Market, UnknownMarket> {
        MARKETS
            .iter()
            .find(|(_, name, ..)| name.eq_ignore_ascii_case(text))
            .map(|(market, ..)| *market)
            .ok_or_else(|| UnknownMarket(text.chars().take(32).collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_market_round_trips_through_its_name_and_has_its_own_entry() {
        let all: Vec<Market> = Market::all().collect();
        assert_eq!(all.len(), 22);
        for market in all {
            assert_eq!(market.name().parse::<Market>(), Ok(market));
            assert_eq!(market.entry().0, market);
            assert_eq!(market.eic().len(), 16);
        }
        assert_eq!("de-lu".parse::<Market>(), Ok(Market::DeLu));
        assert!("XX".parse::<Market>().is_err());
        assert_eq!(Market::No2.zone(), chrono_tz::Europe::Oslo);
    }
}
