//! Parts: an organisation run cut into shards, as typed rows in Parquet.
//!
//! `backup-audit plan` fixes the run (its `now`, window and every expected account and region)
//! in `_plan.json`; each `backup-audit shard` evaluates some accounts and regions and writes
//! their rows, not rendered reports, one Parquet file per table and scope:
//!
//! ```text
//! PARTS/_plan.json
//! PARTS/<table>/account=<id>/region=<region>/part-0.parquet
//! PARTS/_done/account=<id>/region=<region>/_DONE.json      (written last)
//! ```
//!
//! `backup-audit merge` checks every expected `_DONE.json` (and every file's SHA-256 in it), then
//! renders the report plans from the parts with the same writers as `run`
//! (`pipeline/merge.rs`). Job tables are partitioned by the job's own account and region
//! (organisation-wide job lists hold many accounts); the compliance tables, report plans and
//! frameworks by the scope that was evaluated.

pub mod facts;
pub mod store;

use std::io::Cursor;

use polars::prelude::*;
use serde::{Deserialize, Serialize};

pub use store::PartsStore;

use crate::estate::ScopeId;
use crate::sinks::SinkError;
use crate::time::Millis;

/// The version of the tables' columns and of `_DONE.json`. A merge refuses parts of another
/// version instead of misreading them.
pub const SCHEMA_VERSION: u32 = 1;

/// The run plan's key.
pub const PLAN_KEY: &str = "_plan.json";

/// The Map items' key: one `{"accounts": …, "regions": …, "now": …}` per scope.
pub const ITEMS_KEY: &str = "_items.json";

/// The tables of a shard, in the order they are written.
pub const TABLES: [Table; 7] = [
    Table::BackupJobs,
    Table::CopyJobs,
    Table::RestoreJobs,
    Table::ResourceVerdicts,
    Table::ControlResults,
    Table::ReportPlans,
    Table::Frameworks,
];

/// One table of the parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Table {
    BackupJobs,
    CopyJobs,
    RestoreJobs,
    ResourceVerdicts,
    ControlResults,
    ReportPlans,
    Frameworks,
}

impl Table {
    /// The table's folder name; the job tables are named after their report frames.
    pub fn name(self) -> &'static str {
        match self {
            Table::BackupJobs => "backup_jobs",
            Table::CopyJobs => "copy_jobs",
            Table::RestoreJobs => "restore_jobs",
            Table::ResourceVerdicts => "resource_verdicts",
            Table::ControlResults => "control_results",
            Table::ReportPlans => "report_plans",
            Table::Frameworks => "frameworks",
        }
    }

    /// The table whose folder is `name`.
    pub fn from_name(name: &str) -> Option<Table> {
        TABLES.into_iter().find(|t| t.name() == name)
    }
}

/// `<table>/account=<id>/region=<region>/part-0.parquet`.
pub fn table_key(table: Table, scope: &ScopeId) -> String {
    format!("{}/account={}/region={}/part-0.parquet", table.name(), scope.account, scope.region)
}

/// `_done/account=<id>/region=<region>/_DONE.json`.
pub fn done_key(scope: &ScopeId) -> String {
    format!("_done/account={}/region={}/_DONE.json", scope.account, scope.region)
}

/// Errors of reading and writing parts.
#[derive(Debug, thiserror::Error)]
pub enum PartsError {
    #[error(transparent)]
    Store(#[from] SinkError),
    /// An expected scope has no `_DONE.json`: its shard did not run or did not finish.
    #[error(
        "{location}: no `_DONE.json` for account {account} region {region}: its shard did not finish (run `backup-audit shard --accounts {account} --regions {region}` again)"
    )]
    Missing { location: String, account: String, region: String },
    /// A scope's collect step has not finished (live runs).
    #[error(
        "{location}: the collect step of account {account} region {region} has not finished (run `backup-audit shard --step collect --accounts {account} --regions {region}` again)"
    )]
    NotCollected { location: String, account: String, region: String },
    /// A part differs from what its `_DONE.json` says (a shard rewritten while it was read, or
    /// a file changed by hand).
    #[error("{location}: {message}")]
    Mismatch { location: String, message: String },
    /// A part or plan file cannot be read.
    #[error("{location}: {message}")]
    Bad { location: String, message: String },
    #[error("{location}: Parquet")]
    Parquet {
        location: String,
        #[source]
        source: PolarsError,
    },
}

impl PartsError {
    /// A missing or unfinished shard is missing data (exit 4); the rest is bad input.
    pub fn kind(&self) -> crate::problem::Kind {
        match self {
            PartsError::Missing { .. } | PartsError::NotCollected { .. } | PartsError::Mismatch { .. } => {
                crate::problem::Kind::NotCollected
            }
            PartsError::Store(e) => e.kind(),
            PartsError::Bad { .. } | PartsError::Parquet { .. } => crate::problem::Kind::BadInput,
        }
    }
}

/// One account and region, as `_plan.json` and the Map items spell it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ScopeEntry {
    pub account: String,
    pub region: String,
}

impl From<&ScopeEntry> for ScopeId {
    fn from(s: &ScopeEntry) -> ScopeId {
        ScopeId { account: s.account.clone(), region: s.region.clone() }
    }
}

/// `_plan.json`: what one organisation run is, fixed before any shard runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunPlan {
    pub schema: u32,
    /// The run's `now` (RFC 3339) and in milliseconds.
    pub now: String,
    pub now_ms: Millis,
    /// The report window `[start, end)` in milliseconds.
    pub window: (Millis, Millis),
    /// Every expected account and region, sorted.
    pub scopes: Vec<ScopeEntry>,
    /// Whether the shards collect live (`shard --step collect`, then `--step evaluate`).
    pub live: bool,
}

/// A Map item: one shard of the run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Item {
    pub accounts: String,
    pub regions: String,
    pub now: String,
}

/// One file a shard wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DoneFile {
    pub table: String,
    pub key: String,
    pub rows: usize,
    pub bytes: usize,
    pub sha256: String,
}

/// `_DONE.json`: a scope's shard finished; written after every file it lists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Done {
    pub schema: u32,
    pub account: String,
    pub region: String,
    pub now_ms: Millis,
    pub window: (Millis, Millis),
    pub files: Vec<DoneFile>,
    /// The commands this scope lacks: (command, why).
    pub not_collected: Vec<(String, String)>,
    /// Other problems the shard met, recorded with its first scope: (kind, message), the kind
    /// as [`crate::problem::Kind::name`] spells it.
    pub problems: Vec<(String, String)>,
    pub warnings: Vec<String>,
    /// The snapshot files read for this scope: how many, how many bytes.
    pub input_files: usize,
    pub input_bytes: u64,
    /// The facts bundles of other scopes the shard read (live runs): key and SHA-256.
    pub facts: Vec<(String, String)>,
    /// Whether a control of this scope is NON_COMPLIANT.
    pub non_compliant: bool,
}

/// `snapshot/_collected/…`: a scope's collect step finished; written after its snapshot and
/// facts bundles.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Collected {
    pub schema: u32,
    pub account: String,
    pub region: String,
    pub now_ms: Millis,
    /// The collector's `snapshot.json` (failures, commands left out).
    pub snapshot_json: String,
    /// The scope's snapshot bundle: key and SHA-256.
    pub snapshot: (String, String),
    /// The facts bundles written for other scopes: key and SHA-256.
    pub facts: Vec<(String, String)>,
}

/// A JSON file of the parts (`_plan.json`, `_DONE.json`, …): pretty, with a final newline.
pub fn to_json<T: Serialize>(value: &T) -> Vec<u8> {
    let mut v = serde_json::to_vec_pretty(value).expect("the parts' files serialise");
    v.push(b'\n');
    v
}

/// Parses a JSON file of the parts, naming it in the error.
pub fn parse<T: for<'de> Deserialize<'de>>(location: &str, bytes: &[u8]) -> Result<T, PartsError> {
    serde_json::from_slice(bytes)
        .map_err(|e| PartsError::Bad { location: location.to_string(), message: format!("not a valid file: {e}") })
}

/// Rows per Parquet row group, and per slice the merge reads: a window of rows, not a whole
/// scope of a million verdicts, is ever decoded at once.
pub const ROW_GROUP: usize = 65_536;

fn writer<W: std::io::Write>(w: W) -> ParquetWriter<W> {
    ParquetWriter::new(w)
        .with_compression(ParquetCompression::Snappy)
        .with_statistics(StatisticsOptions::empty())
        .with_row_group_size(Some(ROW_GROUP))
}

/// Parquet bytes of a frame (Snappy; the same frame gives the same bytes).
pub fn to_parquet(df: &mut DataFrame, location: &str) -> Result<Vec<u8>, PartsError> {
    let mut out = Vec::new();
    writer(&mut out).finish(df).map_err(|source| PartsError::Parquet { location: location.to_string(), source })?;
    Ok(out)
}

/// The frame in Parquet `bytes`.
pub fn from_parquet(bytes: Vec<u8>, location: &str) -> Result<DataFrame, PartsError> {
    ParquetReader::new(Cursor::new(bytes))
        .finish()
        .map_err(|source| PartsError::Parquet { location: location.to_string(), source })
}

/// Rows `offset..offset + len` of the frame in Parquet `bytes` (only the row groups they lie
/// in are decoded).
pub fn parquet_slice(bytes: &[u8], offset: usize, len: usize, location: &str) -> Result<DataFrame, PartsError> {
    ParquetReader::new(Cursor::new(bytes))
        .with_slice(Some((offset, len)))
        .finish()
        .map_err(|source| PartsError::Parquet { location: location.to_string(), source })
}

/// A table written as its rows arrive (a scope's verdicts while the controls run), in row
/// groups of [`ROW_GROUP`] rows, so that the rows are never all in memory as a frame.
pub struct TableWriter {
    buffer: SharedBuffer,
    writer: polars::io::parquet::write::BatchedWriter<SharedBuffer>,
    pending: Vec<DataFrame>,
    pending_rows: usize,
    rows: usize,
    location: String,
}

/// The Parquet bytes a [`TableWriter`] writes, shared with it.
#[derive(Clone, Default)]
struct SharedBuffer(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for SharedBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl TableWriter {
    /// A writer of frames shaped like `empty`.
    pub fn new(empty: &DataFrame, location: &str) -> Result<TableWriter, PartsError> {
        let buffer = SharedBuffer::default();
        let err = |source| PartsError::Parquet { location: location.to_string(), source };
        let writer = writer(buffer.clone()).batched(empty.schema()).map_err(err)?;
        Ok(TableWriter { buffer, writer, pending: Vec::new(), pending_rows: 0, rows: 0, location: location.into() })
    }

    /// Appends rows; a full row group is encoded at once.
    pub fn push(&mut self, df: DataFrame) -> Result<(), PartsError> {
        self.pending_rows += df.height();
        self.pending.push(df);
        if self.pending_rows >= ROW_GROUP { self.flush() } else { Ok(()) }
    }

    fn flush(&mut self) -> Result<(), PartsError> {
        let err = |source| PartsError::Parquet { location: self.location.clone(), source };
        let mut frames = std::mem::take(&mut self.pending).into_iter();
        let Some(mut df) = frames.next() else { return Ok(()) };
        for f in frames {
            df.vstack_mut_owned(f).map_err(err)?;
        }
        self.rows += df.height();
        self.pending_rows = 0;
        self.writer.write_batch(&df).map_err(err)
    }

    /// The Parquet bytes and the number of rows.
    pub fn finish(mut self) -> Result<(Vec<u8>, usize), PartsError> {
        self.flush()?;
        let location = self.location.clone();
        self.writer.finish().map_err(|source| PartsError::Parquet { location, source })?;
        drop(self.writer);
        let bytes = std::mem::take(&mut *self.buffer.0.lock().unwrap_or_else(|e| e.into_inner()));
        Ok((bytes, self.rows))
    }
}

/// Lower-case hex SHA-256.
pub fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}
