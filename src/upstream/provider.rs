//! The providers a market home can be priced by, by the names the config
//! file uses, and which market and currency each of them covers. The
//! config checks a home against this table; a home without `sources`
//! gets the no-token providers that cover its market and currency.

use std::fmt;
use std::str::FromStr;

use super::market::Market;

/// A provider of day-ahead market prices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Provider {
    /// Fraunhofer ISE's Energy-Charts API (no token, EUR).
    EnergyCharts,
    /// Nord Pool's data portal (no token; EUR, DKK, NOK, SEK, PLN, RON).
    NordPool,
    /// aWATTar (no token, EUR; DE-LU and AT).
    Awattar,
    /// The ENTSO-E transparency platform (free token, EUR).
    Entsoe,
}

impl Provider {
    /// Every provider, in the order a home without `sources` asks them.
    pub const ALL: [Provider; 4] = [
        Provider::EnergyCharts,
        Provider::NordPool,
        Provider::Awattar,
        Provider::Entsoe,
    ];

    /// The name in the config file and in status reports.
    pub fn name(self) -> &'static str {
        match self {
            Provider::EnergyCharts => "energy-charts",
            Provider::NordPool => "nordpool",
            Provider::Awattar => "awattar",
            Provider::Entsoe => "entsoe",
        }
    }

    /// Whether the provider needs a token (ENTSO-E's security token).
    pub fn needs_token(self) -> bool {
        self == Provider::Entsoe
    }

    /// Whether the provider publishes `market`'s prices in `currency`.
    pub fn covers(self, market: Market, currency: &str) -> bool {
        use Market::*;
        match self {
            Provider::EnergyCharts => {
                currency == "EUR"
                    && matches!(
                        market,
                        DeLu | At | Be | Ch | Dk1 | Dk2 | Fr | Nl | No2 | Pl | Se4
                    )
            }
            Provider::NordPool => {
                let area = matches!(
                    market,
                    DeLu | At
                        | Be
                        | Fr
                        | Nl
                        | Pl
                        | Dk1
                        | Dk2
                        | No1
                        | No2
                        | No3
                        | No4
                        | No5
                        | Se1
                        | Se2
                        | Se3
                        | Se4
                        | Fi
                        | Ee
                        | Lv
                        | Lt
                );
                area && matches!(currency, "EUR" | "DKK" | "NOK" | "SEK" | "PLN" | "RON")
            }
            Provider::Awattar => currency == "EUR" && matches!(market, DeLu | At),
            Provider::Entsoe => currency == "EUR",
        }
    }

    /// The no-token providers that cover `market` in `currency`, in order:
    /// what a home that lists no `sources` is priced by.
    pub fn defaults_for(market: Market, currency: &str) -> Vec<Provider> {
        Provider::ALL
            .into_iter()
            .filter(|provider| !provider.needs_token() && provider.covers(market, currency))
            .collect()
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A source name that is not one of [`Provider::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown source {0:?} (known: energy-charts, nordpool, awattar, entsoe)")]
pub struct UnknownProvider(pub String);

impl FromStr for Provider {
    type Err = UnknownProvider;

    fn from_str(text: &str) -> Result<Provider, UnknownProvider> {
        Provider::ALL
            .into_iter()
            .find(|provider| provider.name() == text)
            .ok_or_else(|| UnknownProvider(text.chars().take(32).collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_defaults_skip_token_providers() {
        for provider in Provider::ALL {
            assert_eq!(provider.name().parse::<Provider>(), Ok(provider));
        }
        assert!("tibber".parse::<Provider>().is_err());
        assert_eq!(
            Provider::defaults_for(Market::DeLu, "EUR"),
            vec![
                Provider::EnergyCharts,
                Provider::NordPool,
                Provider::Awattar
            ]
        );
        assert_eq!(
            Provider::defaults_for(Market::No1, "NOK"),
            vec![Provider::NordPool]
        );
        // No provider quotes Swiss francs; ENTSO-E covers every market in EUR.
        assert!(Provider::defaults_for(Market::Ch, "CHF").is_empty());
        assert!(Provider::Entsoe.covers(Market::Lv, "EUR"));
    }
}
