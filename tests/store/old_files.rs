//! Files written by earlier builds still load, unchanged: a schema-1 file
//! saved by the service at e3f4ac0 (the demo market's Helsinki home, hours
//! until 2025-10-01 then quarter-hours, every level code), before the
//! interval's in-memory form shrank to 32 bytes.

use chrono::{DateTime, TimeZone, Utc};
use pricepool::pool::{PoolConfig, PriceLevel, Resolution};
use pricepool::store::{Store, format};

const SCHEMA1_E3F4AC0: &[u8] = include_bytes!("files/schema1-demo-helsinki-e3f4ac0.json");

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

#[test]
fn a_schema1_file_of_an_earlier_build_loads_and_saves_back_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let homes = dir.path().join("homes");
    std::fs::create_dir_all(&homes).unwrap();
    std::fs::write(homes.join("demo-helsinki.json"), SCHEMA1_E3F4AC0).unwrap();
    let now = Utc.with_ymd_and_hms(2025, 10, 1, 10, 0, 5).unwrap();

    let report = Store::open(dir.path())
        .unwrap()
        .load_all(&PoolConfig::default(), now);

    assert!(report.quarantined.is_empty(), "{:?}", report.quarantined);
    assert!(report.migrated.is_empty(), "{:?}", report.migrated);
    let [pool] = report.pools.as_slice() else {
        panic!("one pool expected, got {}", report.pools.len());
    };
    let intervals: Vec<_> = pool
        .range(at("2025-09-28T21:00:00Z"), at("2025-10-02T21:00:00Z"))
        .unwrap()
        .collect();
    assert_eq!(intervals.len(), 48 + 192);
    let first = &intervals[0];
    assert_eq!(first.starts_at(), at("2025-09-28T21:00:00Z"));
    assert_eq!(first.resolution, Resolution::Hour);
    assert_eq!(
        (first.total, first.energy, first.tax),
        (0.1337, 0.0537, 0.08)
    );
    assert_eq!(first.level, Some(PriceLevel::Cheap));
    let quarter = &intervals[48];
    assert_eq!(quarter.starts_at(), at("2025-09-30T21:00:00Z"));
    assert_eq!(quarter.resolution, Resolution::QuarterHour);
    assert_eq!(quarter.ends_at(), at("2025-09-30T21:15:00Z"));

    // Saving what was loaded writes the very same bytes.
    let saved_at = at("2025-10-01T10:00:02.022579835Z");
    let again = format::encode(pool.home(), &pool.snapshot(), saved_at).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&again),
        String::from_utf8_lossy(SCHEMA1_E3F4AC0)
    );
}
