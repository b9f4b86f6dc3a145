//! The config file: merged under flags and variables, homes resolved, and
//! every refusal one line naming the file, the home and the key.

use std::io::Write;

use super::*;
use crate::upstream::{Market, Provider};

/// A config file holding `text`, and the options read with `args` after it.
fn load(text: &str, args: &[&str]) -> (tempfile::NamedTempFile, Result<Config, LoadError>) {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(text.as_bytes()).unwrap();
    let path = file.path().to_str().unwrap().to_string();
    let all = ["pricepool", "--config", &path]
        .into_iter()
        .chain(args.iter().copied());
    let config = Config::parse_from_args(all);
    (file, config)
}

/// The one line a refused file gives.
fn refusal(text: &str) -> (String, String) {
    let (file, config) = load(text, &["--entsoe-token", "t"]);
    let path = file.path().display().to_string();
    match config {
        Err(LoadError::Config(error)) => (path, error.to_string()),
        other => panic!("{text:?} was not refused: {other:?}"),
    }
}

#[test]
fn file_keys_are_the_flags_and_flags_win_over_the_file() {
    let text = "listen = \"127.0.0.1:9999\"\nsave_delay = \"5s\"\nmax_intervals = 100\nno_prefetch = true\nnow = 2025-10-26T02:30:00+01:00\n";
    let (_file, config) = load(text, &[]);
    let config = config.unwrap();
    assert_eq!(config.listen.to_string(), "127.0.0.1:9999");
    assert_eq!(config.save_delay, Duration::from_secs(5));
    assert_eq!(config.max_intervals, 100);
    assert!(config.no_prefetch);
    assert_eq!(
        config.now.unwrap().to_rfc3339(),
        "2025-10-26T01:30:00+00:00"
    );
    let (_file, config) = load(text, &["--max-intervals", "7", "--save-delay", "1s"]);
    let config = config.unwrap();
    assert_eq!(
        (config.max_intervals, config.save_delay),
        (7, Duration::from_secs(1))
    );
    assert_eq!(config.listen.to_string(), "127.0.0.1:9999");
}

#[test]
fn a_subcommand_keeps_the_files_options() {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(b"listen = \"0.0.0.0:9001\"\n").unwrap();
    let path = file.path().to_str().unwrap();
    let cli = Cli::try_load_from(["pricepool", "--config", path, "healthcheck"]).unwrap();
    assert!(matches!(cli.command, Some(Command::Healthcheck { .. })));
    assert_eq!(cli.config.local_address().to_string(), "127.0.0.1:9001");
}

#[test]
fn a_home_gets_the_markets_zone_eur_and_the_no_token_sources_by_default() {
    let (_file, config) = load("[[homes]]\nid = \"flat\"\nmarket = \"DE-LU\"\n", &[]);
    let home = &config.unwrap().homes[0];
    assert_eq!((home.id.as_str(), home.market), ("flat", Market::DeLu));
    assert_eq!(home.zone, chrono_tz::Europe::Berlin);
    assert_eq!(home.currency, "EUR");
    assert_eq!(home.sources, Provider::defaults_for(Market::DeLu, "EUR"));
    assert_eq!(home.tariff, crate::tariff::Tariff::default());
}

#[test]
fn the_design_example_reads_whole() {
    let text = r#"
[[homes]]
id = "flat"
market = "DE-LU"
sources = ["energy-charts", "nordpool"]
zone = "Europe/Berlin"
currency = "EUR"
[homes.tariff]
charges = 0.152
tax = 0.19
windows = [{ from = "17:00", to = "20:00", charges = 0.05 }]

[[homes]]
id = "hytta"
market = "NO1"
currency = "NOK"
sources = ["energy-charts", "nordpool"]
"#;
    let (_file, config) = load(text, &[]);
    let homes = config.unwrap().homes;
    assert_eq!(
        homes[0].sources,
        vec![Provider::EnergyCharts, Provider::NordPool]
    );
    assert_eq!(homes[0].tariff.charges, 0.152);
    assert_eq!(homes[0].tariff.tax, 0.19);
    assert_eq!(homes[0].tariff.windows[0].to.to_string(), "20:00");
    // Energy-Charts quotes no NOK: skipped, Nord Pool stays.
    assert_eq!(homes[1].sources, vec![Provider::NordPool]);
    assert_eq!(homes[1].zone, chrono_tz::Europe::Oslo);
}

#[test]
fn every_refusal_names_the_file_the_home_and_the_key() {
    let home = "[[homes]]\nid = \"flat\"\nmarket = \"DE-LU\"\n";
    let cases: Vec<(String, &str)> = vec![
        ("lisen = \"x\"\n".into(), ": lisen: unknown key"),
        (
            "max_intervals = 0\n".into(),
            ": max_intervals: 0 is not valid",
        ),
        (
            "source = \"sometimes\"\n".into(),
            ": source: \"sometimes\" is not one of auto",
        ),
        (
            "no_prefetch = 1\n".into(),
            ": no_prefetch: expected true or false",
        ),
        ("homes = 3\n".into(), ": homes: expected"),
        (
            "[[homes]]\nmarket = \"FR\"\n".into(),
            ": homes[0].id: missing",
        ),
        (
            "[[homes]]\nid = \"a/b\"\nmarket = \"FR\"\n".into(),
            ": homes[0].id: \"a/b\" is not an id",
        ),
        (format!("{home}{home}"), ": home \"flat\": id: another home"),
        (
            format!("{home}colour = 1\n"),
            ": home \"flat\": colour: unknown key",
        ),
        (
            "[[homes]]\nid = \"flat\"\nmarket = \"DE\"\n".into(),
            ": home \"flat\": market: unknown market",
        ),
        (
            format!("{home}sources = [\"tibber\"]\n"),
            ": home \"flat\": sources[0]: unknown source",
        ),
        (
            format!("{home}sources = [\"awattar\"]\ncurrency = \"NOK\"\n"),
            ": home \"flat\": sources: no listed source gives DE-LU prices in NOK",
        ),
        (
            "[[homes]]\nid = \"flat\"\nmarket = \"CH\"\ncurrency = \"CHF\"\n".into(),
            ": home \"flat\": currency: no source",
        ),
        (
            format!("{home}currency = \"euro\"\n"),
            ": home \"flat\": currency: \"euro\" is not an ISO 4217 code",
        ),
        (
            format!("{home}zone = \"Europe/Atlantis\"\n"),
            ": home \"flat\": zone: \"Europe/Atlantis\" is not an IANA time zone",
        ),
        (
            format!("{home}[homes.tariff]\ntax = -0.2\n"),
            ": home \"flat\": tariff.tax: -0.2 is not a usable tax",
        ),
        (
            format!("{home}[homes.tariff]\nvat = 0.2\n"),
            ": home \"flat\": tariff.vat: unknown key",
        ),
        (
            format!(
                "{home}[homes.tariff]\nwindows = [{{ from = \"17:00\", to = \"25:00\", charges = 0.05 }}]\n"
            ),
            ": home \"flat\": tariff.windows[0].to: \"25:00\" is not a time of day (HH:MM, or 24:00)",
        ),
        (
            format!("{home}[homes.tariff]\nwindows = [{{ from = \"08:00\", to = \"09:00\" }}]\n"),
            ": home \"flat\": tariff.windows[0].charges: missing",
        ),
        (
            format!(
                "{home}[homes.tariff]\nwindows = [{{ from = \"24:00\", to = \"09:00\", charges = 1 }}]\n"
            ),
            ": home \"flat\": tariff.windows[0].from: a window cannot start at 24:00",
        ),
        ("x = [\n".into(), ": line 1, column 6: not TOML"),
    ];
    for (text, named) in cases {
        let (path, line) = refusal(&text);
        assert!(
            line.starts_with(&format!("{path}{named}")),
            "{text:?}: {line}"
        );
        assert!(!line.contains('\n'), "{line}");
    }
}

#[test]
fn entsoe_needs_its_token_and_the_token_never_shows() {
    let text = "[[homes]]\nid = \"flat\"\nmarket = \"LV\"\nsources = [\"entsoe\"]\n";
    let (file, config) = load(text, &[]);
    if std::env::var_os("PRICEPOOL_ENTSOE_TOKEN").is_none() {
        let Err(LoadError::Config(error)) = config else {
            panic!("{config:?}")
        };
        let expected = format!(
            "{}: home \"flat\": sources[0]: entsoe needs --entsoe-token",
            file.path().display()
        );
        assert!(error.to_string().starts_with(&expected), "{error}");
    }
    let (_file, config) = load(text, &["--entsoe-token", "s3cr3t-token"]);
    let config = config.unwrap();
    assert_eq!(config.homes[0].sources, vec![Provider::Entsoe]);
    assert!(!format!("{config:?}").contains("s3cr3t-token"));
}

#[test]
fn the_tibber_and_api_tokens_never_show_in_debug_output() {
    let (_file, config) = load(
        "",
        &[
            "--tibber-token",
            "tibber-s3cr3t",
            "--api-token",
            "api-s3cr3t",
        ],
    );
    let config = config.unwrap();
    assert!(config.serves_tibber());
    let printed = format!("{config:?}");
    assert!(!printed.contains("tibber-s3cr3t"), "{printed}");
    assert!(!printed.contains("api-s3cr3t"), "{printed}");
}

#[test]
fn an_unreadable_file_is_one_line_naming_it() {
    let result = Config::parse_from_args(["pricepool", "--config", "/nonexistent/pricepool.toml"]);
    let Err(LoadError::Config(error)) = result else {
        panic!("{result:?}")
    };
    assert!(
        error
            .to_string()
            .starts_with("/nonexistent/pricepool.toml: cannot be read"),
        "{error}"
    );
}

#[test]
fn auto_serves_tibber_with_a_token_and_the_demo_only_without_token_or_homes() {
    let flags = |args: &[&str]| {
        let config =
            Config::parse_from_args(std::iter::once("pricepool").chain(args.iter().copied()))
                .unwrap();
        (config.serves_tibber(), config.serves_demo())
    };
    if std::env::var_os("PRICEPOOL_TIBBER_TOKEN").is_none()
        && std::env::var_os("PRICEPOOL_SOURCE").is_none()
    {
        assert_eq!(flags(&[]), (false, true));
    }
    assert_eq!(flags(&["--tibber-token", "t"]), (true, false));
    assert_eq!(
        flags(&["--source", "none", "--tibber-token", "t"]),
        (false, false)
    );
    assert_eq!(
        flags(&["--source", "demo", "--tibber-token", "t"]),
        (false, true)
    );
    assert_eq!(
        flags(&["--source", "tibber", "--tibber-token", "t"]),
        (true, false)
    );
    let (_file, config) = load(
        "source = \"auto\"\n[[homes]]\nid = \"flat\"\nmarket = \"NL\"\n",
        &[],
    );
    let config = config.unwrap();
    if std::env::var_os("PRICEPOOL_TIBBER_TOKEN").is_none() {
        assert_eq!(
            (config.serves_tibber(), config.serves_demo()),
            (false, false)
        );
    }
}
