use chrono::{Duration, TimeZone, Utc};

use super::fixtures;
use super::format::{self, DecodeError, SCHEMA_VERSION};
use super::*;
use crate::pool::{Interval, Pool, PoolConfig, PriceLevel, Resolution};

fn saved_at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 10, 26, 12, 0, 3).unwrap()
}

#[test]
fn a_snapshot_reads_back_exactly_as_it_was_written() {
    let mut pool = fixtures::pool("home-1", 300, 7);
    // An hourly day before the switch, a gap, no levels, odd prices.
    let hourly: Vec<Interval> = (0..24)
        .map(|h| {
            Interval::new(
                Utc.with_ymd_and_hms(2025, 9, 29, 22, 0, 0).unwrap() + Duration::hours(h),
                Resolution::Hour,
                -0.0123456789012345 * h as f64,
                1e-17,
                123456.789,
                if h % 2 == 0 {
                    None
                } else {
                    Some(PriceLevel::VeryExpensive)
                },
            )
        })
        .filter(|iv| iv.starts_at().timestamp() % 7200 != 0 || iv.total == 0.0)
        .collect();
    pool.add(hourly, saved_at(), saved_at()).unwrap();
    let snapshot = pool.snapshot();
    let bytes = format::encode(pool.home(), &snapshot, saved_at()).unwrap();
    let decoded = format::decode(&bytes).unwrap();
    assert_eq!(decoded.schema, SCHEMA_VERSION);
    assert_eq!(&decoded.home, pool.home());
    assert_eq!(decoded.saved_at, Some(saved_at()));
    assert_eq!(decoded.snapshot, snapshot);
    let restored = Pool::restore(
        decoded.home,
        pool.config().clone(),
        decoded.snapshot,
        saved_at(),
    )
    .unwrap();
    assert_eq!(restored.snapshot(), snapshot);
}

#[test]
fn a_day_of_quarter_hours_costs_at_most_80_bytes_per_interval() {
    for n in [96, 960, 10_000] {
        let pool = fixtures::pool("96a14971-525a-4420-aae9-e5aedaa129ff", n, 3);
        let bytes = format::encode(pool.home(), &pool.snapshot(), saved_at()).unwrap();
        let per_interval = bytes.len() as f64 / n as f64;
        assert!(
            per_interval <= 80.0,
            "{n} intervals: {per_interval:.1} bytes each"
        );
    }
}

#[test]
fn the_file_is_readable_json_with_the_fields_a_person_looks_for() {
    let pool = fixtures::pool("demo", 4, 0);
    let bytes = format::encode(pool.home(), &pool.snapshot(), saved_at()).unwrap();
    let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(value["schema"], 1);
    assert_eq!(value["home_id"], "demo");
    assert_eq!(value["zone"], "Europe/Berlin");
    assert_eq!(value["currency"], "EUR");
    assert_eq!(value["saved_at"], "2025-10-26T12:00:03Z");
    let run = &value["groups"][0]["runs"][0];
    assert_eq!(run["start"], "2025-10-25T22:00:00Z");
    assert_eq!(run["minutes"], 15);
    assert_eq!(run["rows"].as_array().unwrap().len(), 4);
}

#[test]
fn broken_files_are_told_apart() {
    let pool = fixtures::pool("demo", 96, 0);
    let good = format::encode(pool.home(), &pool.snapshot(), saved_at()).unwrap();
    type Case = (&'static str, Vec<u8>, fn(&DecodeError) -> bool);
    let cases: Vec<Case> = vec![
        ("empty", vec![], |e| matches!(e, DecodeError::Empty)),
        ("blank", b"  \n".to_vec(), |e| {
            matches!(e, DecodeError::Empty)
        }),
        ("truncated", good[..good.len() / 2].to_vec(), |e| {
            matches!(e, DecodeError::Truncated(_))
        }),
        ("nul-filled", vec![0; 4096], |e| {
            matches!(e, DecodeError::NotJson(_))
        }),
        ("text", b"hello".to_vec(), |e| {
            matches!(e, DecodeError::NotJson(_))
        }),
        ("array", b"[1,2,3]".to_vec(), |e| {
            matches!(e, DecodeError::WrongShape(_))
        }),
        ("no schema", b"{\"home_id\":\"demo\"}".to_vec(), |e| {
            matches!(e, DecodeError::WrongShape(_))
        }),
        (
            "schema 1, wrong fields",
            b"{\"schema\":1,\"groups\":7}".to_vec(),
            |e| matches!(e, DecodeError::WrongShape(_)),
        ),
        (
            "newer schema",
            b"{\"schema\":7,\"anything\":[]}".to_vec(),
            |e| matches!(e, DecodeError::UnsupportedSchema { found: 7 }),
        ),
        (
            "newer schema in today's layout",
            String::from_utf8(good.clone())
                .unwrap()
                .replacen("\"schema\":1", "\"schema\":2", 1)
                .into_bytes(),
            |e| matches!(e, DecodeError::UnsupportedSchema { found: 2 }),
        ),
        (
            "null price",
            String::from_utf8(good.clone())
                .unwrap()
                .replacen("\"rows\":[[", "\"rows\":[[null,", 1)
                .into_bytes(),
            |e| matches!(e, DecodeError::WrongShape(_)),
        ),
        (
            "unknown level code",
            String::from_utf8(good.clone())
                .unwrap()
                .replacen(",\"N\"]", ",\"X\"]", 1)
                .into_bytes(),
            |e| matches!(e, DecodeError::WrongShape(_)),
        ),
        (
            "level code as a number",
            String::from_utf8(good.clone())
                .unwrap()
                .replacen(",\"N\"]", ",78]", 1)
                .into_bytes(),
            |e| matches!(e, DecodeError::WrongShape(_)),
        ),
        (
            "level code as an array of its bytes",
            String::from_utf8(good.clone())
                .unwrap()
                .replacen(",\"N\"]", ",[78]]", 1)
                .into_bytes(),
            |e| matches!(e, DecodeError::WrongShape(_)),
        ),
    ];
    for (name, bytes, expected) in cases {
        match format::decode(&bytes) {
            Ok(_) => panic!("{name}: decoded"),
            Err(error) => assert!(expected(&error), "{name}: {error}"),
        }
    }
}

#[test]
fn a_run_reaching_past_the_end_of_time_is_an_error_not_a_panic() {
    let text = r#"{"schema":1,"home_id":"demo","zone":"UTC","currency":"EUR",
        "saved_at":"2025-10-26T12:00:03Z","last_fetch":null,"row":["total","energy","tax","level"],
        "groups":[{"fetched_at":"2025-10-26T12:00:00Z","runs":[
        {"start":"+262142-12-31T23:45:00Z","minutes":60,"rows":[[1,1,1],[1,1,1]]}]}]}"#;
    assert!(matches!(
        format::decode(text.as_bytes()),
        Err(DecodeError::WrongShape(_))
    ));
}

#[test]
fn schema_0_files_decode_to_the_same_snapshot() {
    let pool = fixtures::pool("demo", 200, 1);
    let bytes = format::encode_v0(pool.home(), &pool.snapshot()).unwrap();
    let decoded = format::decode(&bytes).unwrap();
    assert_eq!(decoded.schema, 0);
    assert_eq!(&decoded.home, pool.home());
    assert_eq!(decoded.snapshot, pool.snapshot());
}

#[test]
fn a_second_open_of_the_same_directory_fails_with_one_line_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let first = Store::open(dir.path()).unwrap();
    let error = Store::open(dir.path()).unwrap_err();
    let message = error.to_string();
    assert!(matches!(error, StoreError::Locked { .. }), "{message}");
    assert!(
        message.contains(&dir.path().display().to_string()),
        "{message}"
    );
    assert!(
        message.contains(&format!("pid {}", std::process::id())),
        "{message}"
    );
    assert!(!message.contains('\n'));
    drop(first);
    Store::open(dir.path()).expect("the lock is released with the store");
}

#[test]
fn temp_files_left_by_a_crash_are_removed_at_open_and_nothing_else_is() {
    let dir = tempfile::tempdir().unwrap();
    let homes = dir.path().join(HOMES_DIR);
    std::fs::create_dir_all(&homes).unwrap();
    let kept = [
        "demo.json",
        "demo.json.corrupt-20251026T120000Z",
        "demo.json.unsupported-v2",
        "notes.txt",
    ];
    for name in kept {
        std::fs::write(homes.join(name), b"x").unwrap();
    }
    std::fs::write(homes.join("demo.json.tmp-123-4"), b"{\"sche").unwrap();
    std::fs::write(homes.join("x.json.tmp-9-0"), b"").unwrap();
    let _store = Store::open(dir.path()).unwrap();
    let mut left: Vec<String> = std::fs::read_dir(&homes)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    left.sort();
    let mut expected: Vec<String> = kept.iter().map(|s| s.to_string()).collect();
    expected.sort();
    assert_eq!(left, expected);
}

#[test]
fn a_saved_home_loads_back_and_hostile_ids_stay_inside_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let ids = ["demo", "../escape", "a/b", ".."];
    for id in ids {
        let pool = fixtures::pool(id, 96, 2);
        store
            .save(pool.home(), &pool.snapshot(), saved_at())
            .unwrap();
    }
    assert!(!dir.path().join("escape.json").exists());
    let report = store.load_all(&PoolConfig::default(), saved_at());
    assert!(report.quarantined.is_empty(), "{:?}", report.quarantined);
    let mut loaded: Vec<&str> = report.pools.iter().map(|p| p.home().id.as_str()).collect();
    loaded.sort();
    let mut expected = ids.to_vec();
    expected.sort();
    assert_eq!(loaded, expected);
    for pool in &report.pools {
        assert_eq!(
            pool.snapshot(),
            fixtures::pool(&pool.home().id, 96, 2).snapshot()
        );
    }
}

mod properties {
    use super::*;
    use crate::pool::{GroupSnapshot, PoolSnapshot};
    use proptest::prelude::*;

    fn any_level() -> impl Strategy<Value = Option<PriceLevel>> {
        prop_oneof![
            Just(None),
            Just(Some(PriceLevel::VeryCheap)),
            Just(Some(PriceLevel::Cheap)),
            Just(Some(PriceLevel::Normal)),
            Just(Some(PriceLevel::Expensive)),
            Just(Some(PriceLevel::VeryExpensive)),
        ]
    }

    fn any_price() -> impl Strategy<Value = f64> {
        prop_oneof![
            -1e6f64..1e6,
            Just(0.0),
            Just(-0.0),
            Just(f64::MIN_POSITIVE),
            Just(5e-324),
            Just(f64::MAX),
            Just(f64::MIN),
            any::<f64>().prop_filter("finite", |v| v.is_finite()),
        ]
    }

    /// Intervals in start order with random gaps and resolutions: what a
    /// group holds after touches removed some of its intervals.
    fn any_group() -> impl Strategy<Value = GroupSnapshot> {
        (
            0i64..2_000_000,
            prop::collection::vec(
                (
                    0i64..3,
                    any::<bool>(),
                    any_price(),
                    any_price(),
                    any_price(),
                    any_level(),
                ),
                0..60,
            ),
        )
            .prop_map(|(first_slot, rows)| {
                let mut start = fixtures::day_start() + Duration::minutes(15 * first_slot);
                let intervals = rows
                    .into_iter()
                    .map(|(skip, hourly, total, energy, tax, level)| {
                        start += Duration::minutes(15 * skip);
                        let resolution = if hourly {
                            Resolution::Hour
                        } else {
                            Resolution::QuarterHour
                        };
                        let interval = Interval::new(start, resolution, total, energy, tax, level);
                        start = interval.ends_at();
                        interval
                    })
                    .collect();
                GroupSnapshot {
                    fetched_at: fixtures::day_start() + Duration::seconds(first_slot),
                    intervals,
                }
            })
    }

    proptest! {
        #[test]
        fn encoding_is_lossless_for_any_prices_gaps_and_resolutions(
            groups in prop::collection::vec(any_group(), 0..5),
            id in "[a-z0-9./ -]{1,20}",
        ) {
            let snapshot = PoolSnapshot { groups, last_fetch: Some(saved_at()) };
            let home = fixtures::home(&id);
            let bytes = format::encode(&home, &snapshot, saved_at()).unwrap();
            let decoded = format::decode(&bytes).unwrap();
            prop_assert_eq!(decoded.home, home);
            prop_assert_eq!(decoded.snapshot, snapshot);
        }

        #[test]
        fn damaged_bytes_never_panic_the_loader(
            edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        ) {
            let pool = fixtures::pool("demo", 96, 4);
            let mut bytes = format::encode(pool.home(), &pool.snapshot(), saved_at()).unwrap();
            for (index, byte) in edits {
                let at = index.index(bytes.len());
                bytes[at] = byte;
            }
            if let Ok(decoded) = format::decode(&bytes) {
                let _ = Pool::restore(decoded.home, PoolConfig::default(), decoded.snapshot, saved_at());
            }
        }
    }
}

#[test]
fn a_run_starting_off_the_grid_decodes_but_does_not_restore() {
    let pool = fixtures::pool("home-1", 3, 7);
    let bytes = format::encode(pool.home(), &pool.snapshot(), saved_at()).unwrap();
    let text = String::from_utf8(bytes).unwrap();
    for (start, why) in [
        ("2025-10-25T22:00:00.5Z", "a fraction of a second"),
        ("2025-10-25T22:07:00Z", "seven minutes"),
    ] {
        let moved = text.replace(
            r#""start":"2025-10-25T22:00:00Z""#,
            &format!(r#""start":"{start}""#),
        );
        assert_ne!(moved, text);
        let decoded = format::decode(moved.as_bytes()).unwrap();
        let starts: Vec<_> = decoded.snapshot.groups[0]
            .intervals
            .iter()
            .map(Interval::starts_at)
            .collect();
        let first: DateTime<Utc> = start.parse().unwrap();
        assert_eq!(starts[1] - starts[0], Duration::minutes(15), "{why}");
        assert_eq!(starts[0].timestamp(), first.timestamp(), "{why}");
        let restored = Pool::restore(
            decoded.home,
            pool.config().clone(),
            decoded.snapshot,
            saved_at(),
        );
        assert!(
            matches!(
                restored,
                Err(crate::pool::PoolError::Interval(
                    crate::pool::IntervalError::OffGrid { .. }
                ))
            ),
            "{why}: {restored:?}"
        );
    }
}
