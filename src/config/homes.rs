//! The config file's `[[homes]]`: market homes, each priced by its market's
//! spot price through its tariff (DESIGN.md, "Configuration file"). Every
//! check happens here, before anything starts, and a refusal names the
//! home and the key so the one line on stderr says what to fix.

use std::collections::HashSet;

use chrono_tz::Tz;

use super::Config;
use super::file::{KeyError, expected};
use crate::tariff::{ClockTime, Tariff, TariffWindow};
use crate::upstream::{Market, Provider};

/// A market home as declared, with every default resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct HomeDecl {
    /// The home's id in URLs, `[A-Za-z0-9._-]{1,64}`, unique.
    pub id: String,
    /// The bidding zone whose spot price the home pays.
    pub market: Market,
    /// The sources to ask, in failover order: those listed that give the
    /// market in the currency, or by default the no-token ones that do.
    pub sources: Vec<Provider>,
    /// The home's zone (local days, tariff windows); default the market's.
    pub zone: Tz,
    /// ISO 4217 code of the prices; default `EUR`.
    pub currency: String,
    /// What the home pays on top of the spot price; default nothing.
    pub tariff: Tariff,
}

const HOME_KEYS: [&str; 6] = ["id", "market", "sources", "zone", "currency", "tariff"];
const TARIFF_KEYS: [&str; 3] = ["charges", "tax", "windows"];
const WINDOW_KEYS: [&str; 3] = ["from", "to", "charges"];

/// Checks the file's `homes` (absent: none) against the merged options.
pub(super) fn declare(
    homes: Option<toml::Value>,
    config: &Config,
) -> Result<Vec<HomeDecl>, KeyError> {
    let Some(homes) = homes else {
        return Ok(Vec::new());
    };
    let toml::Value::Array(homes) = homes else {
        return Err(KeyError::new(
            None,
            "homes",
            expected("[[homes]] tables", &homes),
        ));
    };
    let mut ids = HashSet::new();
    let mut declared = Vec::with_capacity(homes.len());
    for (i, home) in homes.iter().enumerate() {
        let table = home
            .as_table()
            .ok_or_else(|| KeyError::new(None, format!("homes[{i}]"), expected("a table", home)))?;
        let id = id_of(table, i)?;
        if !ids.insert(id.clone()) {
            return Err(KeyError::new(Some(&id), "id", "another home has this id"));
        }
        declared.push(home_decl(id, table, config)?);
    }
    Ok(declared)
}

/// The home's id, checked; errors name the entry by its place in the file.
fn id_of(table: &toml::Table, i: usize) -> Result<String, KeyError> {
    let key = format!("homes[{i}].id");
    let value = table
        .get("id")
        .ok_or_else(|| KeyError::new(None, &key, "missing: every home needs an id"))?;
    let id = value
        .as_str()
        .ok_or_else(|| KeyError::new(None, &key, expected("a string", value)))?;
    let valid = (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if !valid {
        let shown: String = id.chars().take(80).collect();
        return Err(KeyError::new(
            None,
            &key,
            format!("{shown:?} is not an id (1 to 64 of A-Z, a-z, 0-9, '.', '_', '-')"),
        ));
    }
    Ok(id.to_string())
}

fn home_decl(id: String, table: &toml::Table, config: &Config) -> Result<HomeDecl, KeyError> {
    let err = |key: &str, message: String| KeyError::new(Some(&id), key, message);
    known_keys(table, &HOME_KEYS).map_err(|key| err(&key, unknown(&HOME_KEYS)))?;
    let text = |key: &str| -> Result<Option<&str>, KeyError> {
        table
            .get(key)
            .map(|value| {
                value
                    .as_str()
                    .ok_or_else(|| err(key, expected("a string", value)))
            })
            .transpose()
    };
    let market: Market = text("market")?
        .ok_or_else(|| err("market", "missing: every home needs a market".into()))?
        .parse()
        .map_err(|e| err("market", format!("{e}")))?;
    let zone = match text("zone")? {
        None => market.zone(),
        Some(zone) => zone
            .parse::<Tz>()
            .map_err(|_| err("zone", format!("{zone:?} is not an IANA time zone")))?,
    };
    let currency = text("currency")?.unwrap_or("EUR");
    if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(err(
            "currency",
            format!("{currency:?} is not an ISO 4217 code like EUR"),
        ));
    }
    let sources = sources(table, market, currency, config).map_err(|(k, m)| err(&k, m))?;
    let tariff = match table.get("tariff") {
        None => Tariff::default(),
        Some(value) => tariff(value).map_err(|(k, m)| err(&k, m))?,
    };
    Ok(HomeDecl {
        id: id.clone(),
        market,
        sources,
        zone,
        currency: currency.to_string(),
        tariff,
    })
}

/// A key error inside a home: the key's path and what is wrong.
type Wrong = (String, String);

/// The listed sources that give `market` in `currency` (a listed source
/// that cannot is skipped), or the defaults; none at all is an error.
fn sources(
    table: &toml::Table,
    market: Market,
    currency: &str,
    config: &Config,
) -> Result<Vec<Provider>, Wrong> {
    let Some(value) = table.get("sources") else {
        let defaults = Provider::defaults_for(market, currency);
        if defaults.is_empty() {
            let message = format!("no source without a token gives {market} prices in {currency}");
            return Err(("currency".into(), message));
        }
        return Ok(defaults);
    };
    let listed = value.as_array().ok_or_else(|| {
        (
            "sources".to_string(),
            expected("a list of source names", value),
        )
    })?;
    if listed.is_empty() {
        let message = "lists no source (leave it out for the defaults)";
        return Err(("sources".into(), message.into()));
    }
    let mut providers: Vec<Provider> = Vec::with_capacity(listed.len());
    for (i, name) in listed.iter().enumerate() {
        let key = format!("sources[{i}]");
        let name = name
            .as_str()
            .ok_or_else(|| (key.clone(), expected("a source name", name)))?;
        let provider: Provider = name.parse().map_err(|e| (key.clone(), format!("{e}")))?;
        if providers.contains(&provider) {
            return Err((key, format!("{provider} is listed twice")));
        }
        if provider.needs_token() && config.entsoe_token.is_none() {
            let message = format!("{provider} needs --entsoe-token (or PRICEPOOL_ENTSOE_TOKEN)");
            return Err((key, message));
        }
        providers.push(provider);
    }
    providers.retain(|provider| provider.covers(market, currency));
    if providers.is_empty() {
        let message = format!("no listed source gives {market} prices in {currency}");
        return Err(("sources".into(), message));
    }
    Ok(providers)
}

/// `[homes.tariff]`, every key optional.
fn tariff(value: &toml::Value) -> Result<Tariff, Wrong> {
    let table = value
        .as_table()
        .ok_or_else(|| ("tariff".to_string(), expected("a table", value)))?;
    known_keys(table, &TARIFF_KEYS)
        .map_err(|key| (format!("tariff.{key}"), unknown(&TARIFF_KEYS)))?;
    let charges = optional_number(table, "charges").map_err(|m| ("tariff.charges".into(), m))?;
    let tax = optional_number(table, "tax").map_err(|m| ("tariff.tax".into(), m))?;
    let windows = match table.get("windows") {
        None => Vec::new(),
        Some(value) => {
            let list = value.as_array().ok_or_else(|| {
                (
                    "tariff.windows".to_string(),
                    expected("a list of windows", value),
                )
            })?;
            let windows = list.iter().enumerate().map(|(i, w)| {
                window(w).map_err(|(key, m)| (format!("tariff.windows[{i}]{key}"), m))
            });
            windows.collect::<Result<_, _>>()?
        }
    };
    Tariff::new(charges.unwrap_or(0.0), tax.unwrap_or(0.0), windows)
        .map_err(|e| (format!("tariff.{}", e.key()), e.to_string()))
}

/// One `{ from, to, charges }`; the key in an error starts with its separator.
fn window(value: &toml::Value) -> Result<TariffWindow, Wrong> {
    let table = value
        .as_table()
        .ok_or_else(|| (String::new(), expected("{ from, to, charges }", value)))?;
    known_keys(table, &WINDOW_KEYS).map_err(|key| (format!(".{key}"), unknown(&WINDOW_KEYS)))?;
    let time = |key: &str| -> Result<ClockTime, Wrong> {
        let value = table
            .get(key)
            .ok_or_else(|| (format!(".{key}"), "missing".to_string()))?;
        let text = value
            .as_str()
            .ok_or_else(|| (format!(".{key}"), expected("\"HH:MM\"", value)))?;
        text.parse()
            .map_err(|e| (format!(".{key}"), format!("{e}")))
    };
    let (from, to) = (time("from")?, time("to")?);
    let charges = optional_number(table, "charges")
        .map_err(|m| (".charges".to_string(), m))?
        .ok_or_else(|| (".charges".to_string(), "missing".to_string()))?;
    TariffWindow::new(from, to, charges).map_err(|e| (format!(".{}", e.key()), e.to_string()))
}

/// A number (integer or float) at `key`, if there.
fn optional_number(table: &toml::Table, key: &str) -> Result<Option<f64>, String> {
    match table.get(key) {
        None => Ok(None),
        Some(toml::Value::Float(x)) => Ok(Some(*x)),
        Some(toml::Value::Integer(n)) => Ok(Some(*n as f64)),
        Some(other) => Err(expected("a number", other)),
    }
}

/// The first key of `table` not in `known`.
fn known_keys(table: &toml::Table, known: &[&str]) -> Result<(), String> {
    match table.keys().find(|key| !known.contains(&key.as_str())) {
        Some(key) => Err(key.chars().take(64).collect()),
        None => Ok(()),
    }
}

fn unknown(known: &[&str]) -> String {
    format!("unknown key (known: {})", known.join(", "))
}
