//! Market homes end to end: the real binary with a config file declaring
//! two homes on DE-LU (Energy-Charts first, Nord Pool second), against the
//! fakes over HTTP. Each home pays its tariff on the shared spot price, one
//! upstream call serves both, the market feed's snapshot is one file in
//! `markets/`, and after a restart with both upstreams down the homes are
//! served from it.

use std::time::Duration;

use pricepool::testkit::fake_market::Fault;
use pricepool::testkit::process::command;
use pricepool::testkit::{FakeEnergyCharts, FakeNordPool, Process};

const BINARY: &str = env!("CARGO_BIN_EXE_pricepool");
const NOW: &str = "2026-01-14T14:00:00Z";
const DAY: &str = "/intervals?date=2026-01-12";

fn config(dir: &std::path::Path, energy_charts: &str, nordpool: &str) -> String {
    let text = format!(
        r#"
data_dir = "{data}"
source = "none"
now = "{NOW}"
no_prefetch = true
energy_charts_url = "{energy_charts}"
nordpool_url = "{nordpool}"

[[homes]]
id = "flat"
market = "DE-LU"
sources = ["energy-charts", "nordpool"]
[homes.tariff]
charges = 0.152
tax = 0.19
windows = [{{ from = "17:00", to = "20:00", charges = 0.05 }}]

[[homes]]
id = "garage"
market = "DE-LU"
"#,
        data = dir.join("data").display(),
    );
    let path = dir.join("pricepool.toml");
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

fn serve(config: &str) -> Process {
    let mut command = command(BINARY, &["--config", config]);
    command.env_remove("PRICEPOOL_SOURCE");
    Process::serve_command(command)
}

fn intervals(process: &Process, home: &str) -> serde_json::Value {
    let answer = process.get(&format!("/v1/homes/{home}{DAY}")).unwrap();
    assert_eq!(answer.status, 200, "{answer:?}");
    answer.json()
}

#[test]
fn declared_market_homes_share_one_feed_pay_their_tariff_and_survive_a_restart() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let energy_charts = runtime.block_on(FakeEnergyCharts::start()).unwrap();
    let nordpool = runtime.block_on(FakeNordPool::start()).unwrap();
    energy_charts.set_now(NOW.parse().unwrap());
    nordpool.set_now(NOW.parse().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), energy_charts.url(), nordpool.url());

    let mut service = serve(&config);
    let flat = intervals(&service, "flat");
    let garage = intervals(&service, "garage");
    assert_eq!(flat["complete"], true, "{flat}");
    let (flat, garage) = (
        flat["intervals"].as_array().unwrap().clone(),
        garage["intervals"].as_array().unwrap().clone(),
    );
    assert_eq!(flat.len(), 96);
    assert_eq!(garage.len(), 96);
    for (mine, theirs) in flat.iter().zip(&garage) {
        let spot = theirs["total"].as_f64().unwrap();
        assert_eq!(mine["energy"].as_f64(), Some(spot), "same spot price");
        let local_hour: u32 = mine["starts_at"].as_str().unwrap()[11..13].parse().unwrap();
        let window = if (17..20).contains(&local_hour) {
            0.05
        } else {
            0.0
        };
        let expected = (spot + 0.152 + window) * 1.19;
        let total = mine["total"].as_f64().unwrap();
        assert!(
            (total - expected).abs() < 1e-9,
            "{mine}: {total} != {expected}"
        );
    }
    assert_eq!(energy_charts.call_count(), 1, "one call for both homes");
    assert_eq!(nordpool.call_count(), 0);
    let homes = service.get("/v1/homes").unwrap().json();
    let flat_home = &homes["homes"][0];
    assert_eq!(flat_home["id"], "flat");
    assert_eq!(flat_home["sources"][0]["name"], "energy-charts");
    assert_eq!(flat_home["sources"][1]["name"], "nordpool");
    // The home's save status is its market feed's: changed, not saved yet.
    let stats = service.get("/v1/homes/garage/stats").unwrap().json();
    assert_eq!(stats["persistence"]["dirty"], true, "{stats}");
    // A home that listed no sources reads the same feed, so the same list.
    assert_eq!(homes["homes"][1]["sources"][0]["name"], "energy-charts");

    service.sigterm();
    assert_eq!(service.wait(Duration::from_secs(10)).code(), Some(0));
    let snapshot = dir.path().join("data/markets/DE-LU-EUR.json");
    assert!(
        snapshot.exists(),
        "the market feed is saved once, as DE-LU-EUR"
    );
    assert!(!dir.path().join("data/homes/flat.json").exists());

    // Both upstreams down: the saved market serves both homes.
    energy_charts.set_fault(Some(Fault::ServerError));
    nordpool.set_fault(Some(Fault::ServerError));
    energy_charts.clear_calls();
    let service = serve(&config);
    let again = intervals(&service, "flat");
    assert_eq!(again["complete"], true);
    assert_eq!(again["intervals"].as_array().unwrap(), &flat);
    assert_eq!(energy_charts.call_count(), 0, "served from the snapshot");

    // Nothing cached and every source failing: a problem that says when to retry.
    let uncached = service
        .get("/v1/homes/flat/intervals?date=2026-01-06")
        .unwrap();
    assert!([502, 503, 504].contains(&uncached.status), "{uncached:?}");
    assert!(uncached.header("retry-after").is_some(), "{uncached:?}");
    assert_eq!(
        uncached.header("content-type"),
        Some("application/problem+json")
    );
}
