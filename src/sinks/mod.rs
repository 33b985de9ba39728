//! Deliver stage: where rendered reports go.
//!
//! A [`Sink`] stores objects by key, each completely or not at all: [`LocalDir`] below a
//! folder, [`S3Bucket`] below an S3 prefix. [`Delivery`] decides which sink a report plan's
//! reports go to: one fixed sink (`--out DIR` or `--out s3://bucket/prefix`), or each plan's own
//! `ReportDeliveryChannel` bucket, as Audit Manager does.

pub mod local_dir;
pub mod s3;
pub mod stream;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

pub use local_dir::LocalDir;
pub use s3::{S3Bucket, S3Options, S3Sinks};

use crate::estate::model::ReportPlan;
use crate::reports::encode::Body;

/// Errors of the deliver stage.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// Writing a report file failed; no partial file is left behind.
    #[error("cannot write `{path}`")]
    Io {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Writing to standard output failed.
    #[error("cannot write the report to standard output")]
    Stdout(#[source] std::io::Error),
    /// An S3 request failed after the SDK's retries; no object was created.
    #[error("cannot upload `{location}`: {message}")]
    S3 { location: String, message: String },
    /// Another run holds the output folder's lock, or the lock could not be taken.
    #[error("cannot write to `{root}`: {message}")]
    Locked { root: std::path::PathBuf, message: String },
    /// A path below the output folder is not safe to write through (a symbolic link).
    #[error("`{path}` {message}")]
    Unsafe { path: std::path::PathBuf, message: String },
    /// A report plan names no place to deliver to.
    #[error("report plan `{plan}`: {message}")]
    Destination { plan: String, message: String },
}

impl SinkError {
    /// Every sink error means something rendered was not delivered.
    pub fn kind(&self) -> crate::problem::Kind {
        crate::problem::Kind::DeliveryFailed
    }
}

/// A destination for report objects, addressed by key.
pub trait Sink: Send + Sync {
    /// Makes the sink ready before the first report (a local folder takes its lock and removes
    /// what interrupted runs left there). Idempotent; `put` calls it too.
    fn prepare(&self) -> Result<(), SinkError> {
        Ok(())
    }
    /// Stores `body` under `key`, completely or not at all.
    fn put(&self, key: &str, body: &Body<'_>, content_type: &str) -> Result<(), SinkError>;
    /// A writer for an object written piece by piece, whose key is decided when it is
    /// committed and lies in the same folder as `key`; `None` when the sink stores whole
    /// bodies only (S3 uploads each part whole, as a multipart upload when it is large).
    fn writer(&self, _key: &str) -> Option<Result<Box<dyn ObjectWriter>, SinkError>> {
        None
    }
    /// Where `key` ends up, for logs, summaries and the manifest.
    fn location(&self, key: &str) -> String;
    /// Where the sink's keys start (a folder or `s3://bucket/prefix/`): one manifest per root.
    fn root(&self) -> String;
}

/// An object being written piece by piece (see [`Sink::writer`]): stored under its key only
/// by [`ObjectWriter::commit`], completely or not at all; dropped uncommitted, it leaves
/// nothing.
pub trait ObjectWriter: Send {
    fn write(&mut self, bytes: &[u8]) -> Result<(), SinkError>;
    fn commit(self: Box<Self>, key: &str) -> Result<(), SinkError>;
}

/// Which sink each report plan's reports go to.
pub struct Delivery {
    fixed: Option<Arc<dyn Sink>>,
    s3: Option<S3Sinks>,
    buckets: Mutex<BTreeMap<String, Arc<dyn Sink>>>,
}

impl Delivery {
    /// Every report to one sink (`--out DIR`, `--out s3://bucket/prefix`).
    pub fn to(sink: impl Sink + 'static) -> Delivery {
        Delivery { fixed: Some(Arc::new(sink)), s3: None, buckets: Mutex::default() }
    }

    /// Each plan's reports to its `ReportDeliveryChannel.S3BucketName`; the keys already start
    /// with its `S3KeyPrefix`.
    pub fn to_plan_buckets(s3: S3Sinks) -> Delivery {
        Delivery { fixed: None, s3: Some(s3), buckets: Mutex::default() }
    }

    /// The sink of one plan.
    pub fn sink_for(&self, plan: &ReportPlan) -> Result<Arc<dyn Sink>, SinkError> {
        if let Some(sink) = &self.fixed {
            return Ok(sink.clone());
        }
        let bucket = plan.report_delivery_channel.s3_bucket_name.as_str();
        let missing = |message: &str| SinkError::Destination {
            plan: plan.report_plan_name.clone(),
            message: message.to_string(),
        };
        if bucket.is_empty() {
            return Err(missing("ReportDeliveryChannel.S3BucketName is empty; give --out"));
        }
        let s3 = self.s3.as_ref().ok_or_else(|| missing("no S3 client is configured"))?;
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let sink = buckets.entry(bucket.to_string()).or_insert_with(|| Arc::new(s3.bucket(bucket, "")));
        Ok(sink.clone())
    }

    /// The fixed sink, if there is one (where the manifest goes even when no plan ran).
    pub fn fixed(&self) -> Option<Arc<dyn Sink>> {
        self.fixed.clone()
    }
}

/// Standard output: where `report --out -` and `evaluate` deliver. Keys are not printed.
pub struct Stdout;

/// Standard output written piece by piece: a report printed there is not held in memory.
struct StdoutWriter(std::io::BufWriter<std::io::Stdout>);

impl ObjectWriter for StdoutWriter {
    fn write(&mut self, bytes: &[u8]) -> Result<(), SinkError> {
        use std::io::Write;
        self.0.write_all(bytes).map_err(SinkError::Stdout)
    }

    fn commit(mut self: Box<Self>, _key: &str) -> Result<(), SinkError> {
        use std::io::Write;
        self.0.flush().map_err(SinkError::Stdout)
    }
}

impl Sink for Stdout {
    fn writer(&self, _key: &str) -> Option<Result<Box<dyn ObjectWriter>, SinkError>> {
        Some(Ok(Box::new(StdoutWriter(std::io::BufWriter::with_capacity(1 << 20, std::io::stdout())))))
    }

    fn put(&self, _key: &str, body: &Body<'_>, _content_type: &str) -> Result<(), SinkError> {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        body.slices.iter().try_for_each(|s| out.write_all(s)).and_then(|()| out.flush()).map_err(SinkError::Stdout)
    }

    fn location(&self, _key: &str) -> String {
        "-".into()
    }

    fn root(&self) -> String {
        "-".into()
    }
}

/// The `Content-Type` of a report or manifest object.
pub fn content_type(extension: &str) -> &'static str {
    match extension {
        "csv" => "text/csv; charset=utf-8",
        "json" => "application/json",
        "html" => "text/html; charset=utf-8",
        _ => "application/octet-stream",
    }
}
