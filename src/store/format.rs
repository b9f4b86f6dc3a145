//! The snapshot file format, its versions and the migration from older ones.
//!
//! Schema 1 (current) is compact but still readable JSON, about 30 to 65
//! bytes per interval depending on how many digits the prices need:
//!
//! ```json
//! {"schema":1,"home_id":"demo","zone":"Europe/Berlin","currency":"EUR",
//!  "saved_at":"2025-10-26T12:00:03Z","last_fetch":"2025-10-26T12:00:00Z",
//!  "row":["total","energy","tax","level"],
//!  "groups":[{"fetched_at":"2025-10-26T12:00:00Z","runs":[
//!    {"start":"2025-10-25T22:00:00Z","minutes":15,
//!     "rows":[[0.2861,0.2101,0.076,"N"],[0.2799,0.2049,0.075,"C"]]}]}]}
//! ```
//!
//! A run is a stretch of back-to-back intervals of one resolution: its
//! `start` and `minutes` give every row's start, so no per-interval
//! timestamp is stored. A row is `[total, energy, tax]` plus the level code
//! (`VC`, `C`, `N`, `E`, `VE`) when the source has one. Prices are written
//! with the shortest digits that read back to the same `f64` and read with
//! `float_roundtrip`, so a save and load is lossless.
//!
//! Schema 0 is the pool's exchange form written verbatim
//! (`{"schema":0,"home":{"id","zone","currency"},"snapshot":PoolSnapshot}`,
//! one object with a timestamp per interval, about 190 bytes each). Files
//! in it are read, migrated to schema 1 and saved again.

use std::fmt;

use chrono::{DateTime, Timelike, Utc};
use chrono_tz::Tz;
use serde::de::{self, IgnoredAny, SeqAccess, Visitor};
use serde::ser::SerializeSeq;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::pool::{GroupSnapshot, HomeInfo, Interval, PoolSnapshot, PriceLevel, Resolution};

/// The schema this build writes and the newest it reads.
pub const SCHEMA_VERSION: u32 = 1;

/// The row layout, written into every file so a reader needs no docs.
const ROW_LAYOUT: [&str; 4] = ["total", "energy", "tax", "level"];

/// What a snapshot file holds once decoded, whatever its schema.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedSnapshot {
    /// The schema the file was written in (older ones need a re-save).
    pub schema: u32,
    /// Who the snapshot prices (the id must match the file name).
    pub home: HomeInfo,
    /// When it was written (schema 0 did not record it).
    pub saved_at: Option<DateTime<Utc>>,
    /// The live fetch groups, for `Pool::restore`.
    pub snapshot: PoolSnapshot,
}

/// Why a file's bytes are not a snapshot we can use. Each variant maps to
/// a quarantine reason.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// No bytes, or only whitespace.
    #[error("file is empty")]
    Empty,
    /// Valid JSON up to where it stops.
    #[error("file ends early: {0}")]
    Truncated(serde_json::Error),
    /// Not JSON (NUL bytes, binary, text, NaN literals, numbers out of range).
    #[error("file is not JSON: {0}")]
    NotJson(serde_json::Error),
    /// JSON, but not a snapshot of any schema we know.
    #[error("file is not a snapshot: {0}")]
    WrongShape(String),
    /// A schema newer than this build's.
    #[error("file has schema {found}, this build reads up to {SCHEMA_VERSION}")]
    UnsupportedSchema {
        /// The schema the file says it has.
        found: u64,
    },
}

impl DecodeError {
    fn from_json(error: serde_json::Error) -> DecodeError {
        match error.classify() {
            serde_json::error::Category::Eof => DecodeError::Truncated(error),
            serde_json::error::Category::Syntax | serde_json::error::Category::Io => {
                DecodeError::NotJson(error)
            }
            serde_json::error::Category::Data => DecodeError::WrongShape(error.to_string()),
        }
    }
}

/// Encodes `snapshot` of `home` as a schema-1 file.
pub fn encode(
    home: &HomeInfo,
    snapshot: &PoolSnapshot,
    saved_at: DateTime<Utc>,
) -> Result<Vec<u8>, serde_json::Error> {
    let file = FileV1 {
        schema: SCHEMA_VERSION,
        home_id: home.id.clone(),
        zone: home.zone,
        currency: home.currency.clone(),
        saved_at,
        last_fetch: snapshot.last_fetch,
        row: ROW_LAYOUT.iter().map(|s| (*s).to_owned()).collect(),
        groups: snapshot.groups.iter().map(GroupV1::from_group).collect(),
    };
    let n_intervals: usize = snapshot.groups.iter().map(|g| g.intervals.len()).sum();
    let mut bytes = Vec::with_capacity(256 + n_intervals * 48);
    serde_json::to_writer(&mut bytes, &file)?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// Decodes a snapshot file of any schema this build knows. Checks the
/// shape only; the caller checks the home id and lets `Pool::restore`
/// validate the intervals.
pub fn decode(bytes: &[u8]) -> Result<DecodedSnapshot, DecodeError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(DecodeError::Empty);
    }
    // The current schema is the hot path (1,000 homes at start): parse once.
    match serde_json::from_slice::<FileV1>(bytes) {
        Ok(file) if file.schema == SCHEMA_VERSION => file.into_decoded(),
        Ok(file) if file.schema > SCHEMA_VERSION => Err(DecodeError::UnsupportedSchema {
            found: u64::from(file.schema),
        }),
        Ok(file) => Err(DecodeError::WrongShape(format!(
            "schema {} file in the layout of schema {SCHEMA_VERSION}",
            file.schema
        ))),
        // Syntax and truncation errors do not depend on the schema.
        Err(error) if !error.is_data() => Err(DecodeError::from_json(error)),
        Err(v1_error) => {
            // Only broken or foreign files get here: a second parse is fine.
            let value: serde_json::Value =
                serde_json::from_slice(bytes).map_err(DecodeError::from_json)?;
            let Some(schema) = value.get("schema").and_then(serde_json::Value::as_u64) else {
                return Err(DecodeError::WrongShape(
                    "no numeric \"schema\" field at the top level".to_owned(),
                ));
            };
            match schema {
                0 => serde_json::from_slice::<FileV0>(bytes)
                    .map(FileV0::into_decoded)
                    .map_err(DecodeError::from_json),
                1 => Err(DecodeError::WrongShape(v1_error.to_string())),
                found => Err(DecodeError::UnsupportedSchema { found }),
            }
        }
    }
}

#[derive(Serialize, Deserialize)]
struct FileV1 {
    schema: u32,
    home_id: String,
    zone: Tz,
    currency: String,
    saved_at: DateTime<Utc>,
    last_fetch: Option<DateTime<Utc>>,
    row: Vec<String>,
    groups: Vec<GroupV1>,
}

#[derive(Serialize, Deserialize)]
struct GroupV1 {
    fetched_at: DateTime<Utc>,
    runs: Vec<RunV1>,
}

#[derive(Serialize, Deserialize)]
struct RunV1 {
    start: DateTime<Utc>,
    minutes: Resolution,
    rows: Vec<Row>,
}

/// One interval without its start: `[total, energy, tax]` or
/// `[total, energy, tax, level]`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Row {
    total: f64,
    energy: f64,
    tax: f64,
    level: Option<PriceLevel>,
}

fn level_code(level: PriceLevel) -> &'static str {
    match level {
        PriceLevel::VeryCheap => "VC",
        PriceLevel::Cheap => "C",
        PriceLevel::Normal => "N",
        PriceLevel::Expensive => "E",
        PriceLevel::VeryExpensive => "VE",
    }
}

fn level_from_code(code: &[u8]) -> Option<PriceLevel> {
    Some(match code {
        b"VC" => PriceLevel::VeryCheap,
        b"C" => PriceLevel::Cheap,
        b"N" => PriceLevel::Normal,
        b"E" => PriceLevel::Expensive,
        b"VE" => PriceLevel::VeryExpensive,
        _ => return None,
    })
}

/// A row's level code, read as the string's bytes: matching them needs no
/// UTF-8 check and no allocation (a check per row was 2.5 % of start-up).
struct LevelCode(PriceLevel);

impl<'de> Deserialize<'de> for LevelCode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<LevelCode, D::Error> {
        struct CodeVisitor;
        impl Visitor<'_> for CodeVisitor {
            type Value = LevelCode;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a level code (VC, C, N, E or VE)")
            }
            fn visit_bytes<E: de::Error>(self, code: &[u8]) -> Result<LevelCode, E> {
                level_from_code(code).map(LevelCode).ok_or_else(|| {
                    de::Error::unknown_variant(
                        &String::from_utf8_lossy(code),
                        &["VC", "C", "N", "E", "VE"],
                    )
                })
            }
            fn visit_str<E: de::Error>(self, code: &str) -> Result<LevelCode, E> {
                self.visit_bytes(code.as_bytes())
            }
        }
        deserializer.deserialize_bytes(CodeVisitor)
    }
}

impl Serialize for Row {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(3 + usize::from(self.level.is_some())))?;
        seq.serialize_element(&self.total)?;
        seq.serialize_element(&self.energy)?;
        seq.serialize_element(&self.tax)?;
        if let Some(level) = self.level {
            seq.serialize_element(level_code(level))?;
        }
        seq.end()
    }
}

impl<'de> Deserialize<'de> for Row {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Row, D::Error> {
        struct RowVisitor;
        impl<'de> Visitor<'de> for RowVisitor {
            type Value = Row;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an array [total, energy, tax] with an optional level code")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Row, A::Error> {
                let total = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::invalid_length(0, &self))?;
                let energy = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::invalid_length(1, &self))?;
                let tax = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::invalid_length(2, &self))?;
                let level = seq.next_element::<LevelCode>()?.map(|code| code.0);
                if seq.next_element::<IgnoredAny>()?.is_some() {
                    return Err(de::Error::invalid_length(5, &self));
                }
                Ok(Row {
                    total,
                    energy,
                    tax,
                    level,
                })
            }
        }
        deserializer.deserialize_seq(RowVisitor)
    }
}

impl GroupV1 {
    /// Splits a group into runs of back-to-back intervals of one resolution.
    fn from_group(group: &GroupSnapshot) -> GroupV1 {
        let mut runs: Vec<RunV1> = Vec::new();
        let mut run_end: Option<DateTime<Utc>> = None;
        for interval in &group.intervals {
            let row = Row {
                total: interval.total,
                energy: interval.energy,
                tax: interval.tax,
                level: interval.level,
            };
            match runs.last_mut() {
                Some(run)
                    if run.minutes == interval.resolution
                        && run_end == Some(interval.starts_at()) =>
                {
                    run.rows.push(row);
                }
                _ => runs.push(RunV1 {
                    start: interval.starts_at(),
                    minutes: interval.resolution,
                    rows: vec![row],
                }),
            }
            run_end = Some(interval.ends_at());
        }
        GroupV1 {
            fetched_at: group.fetched_at,
            runs,
        }
    }

    fn into_group(self) -> Result<GroupSnapshot, DecodeError> {
        let n_rows = self.runs.iter().map(|r| r.rows.len()).sum();
        let mut intervals = Vec::with_capacity(n_rows);
        for run in self.runs {
            let step = run.minutes.seconds();
            let start = run.start.timestamp();
            // A start with a fraction of a second keeps it, so the pool
            // rejects the file as off the grid as it always did.
            let fraction = run.start.nanosecond() != 0;
            for (pos, row) in run.rows.into_iter().enumerate() {
                // Checked: a start near the end of time must not panic.
                let seconds = i64::try_from(pos)
                    .ok()
                    .and_then(|pos| pos.checked_mul(step))
                    .and_then(|offset| start.checked_add(offset));
                let (total, energy, tax, level) = (row.total, row.energy, row.tax, row.level);
                let interval = seconds.and_then(|seconds| {
                    Interval::at_seconds(seconds, run.minutes, total, energy, tax, level)
                });
                let Some(mut interval) = interval else {
                    return Err(DecodeError::WrongShape(format!(
                        "run starting at {} runs past the representable time",
                        run.start
                    )));
                };
                if fraction {
                    let seconds = interval.start_seconds();
                    if let Some(starts_at) =
                        DateTime::from_timestamp(seconds, run.start.nanosecond())
                    {
                        interval.set_starts_at(starts_at);
                    }
                }
                intervals.push(interval);
            }
        }
        Ok(GroupSnapshot {
            fetched_at: self.fetched_at,
            intervals,
        })
    }
}

impl FileV1 {
    fn into_decoded(self) -> Result<DecodedSnapshot, DecodeError> {
        if self.row != ROW_LAYOUT {
            return Err(DecodeError::WrongShape(format!(
                "row layout {:?} is not {ROW_LAYOUT:?}",
                self.row
            )));
        }
        let groups = self
            .groups
            .into_iter()
            .map(GroupV1::into_group)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(DecodedSnapshot {
            schema: self.schema,
            home: HomeInfo {
                id: self.home_id,
                zone: self.zone,
                currency: self.currency,
            },
            saved_at: Some(self.saved_at),
            snapshot: PoolSnapshot {
                groups,
                last_fetch: self.last_fetch,
            },
        })
    }
}

/// Schema 0: the exchange form written verbatim. Read-only.
#[derive(Serialize, Deserialize)]
struct FileV0 {
    schema: u32,
    home: HomeV0,
    snapshot: PoolSnapshot,
}

#[derive(Serialize, Deserialize)]
struct HomeV0 {
    id: String,
    zone: Tz,
    currency: String,
}

impl FileV0 {
    fn into_decoded(self) -> DecodedSnapshot {
        DecodedSnapshot {
            schema: self.schema,
            home: HomeInfo {
                id: self.home.id,
                zone: self.home.zone,
                currency: self.home.currency,
            },
            saved_at: None,
            snapshot: self.snapshot,
        }
    }
}

/// Writes a schema-0 file, for migration tests and for tools that need an
/// old file to try a build against.
pub fn encode_v0(home: &HomeInfo, snapshot: &PoolSnapshot) -> Result<Vec<u8>, serde_json::Error> {
    serde_json::to_vec(&FileV0 {
        schema: 0,
        home: HomeV0 {
            id: home.id.clone(),
            zone: home.zone,
            currency: home.currency.clone(),
        },
        snapshot: snapshot.clone(),
    })
}
