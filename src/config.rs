//! The one configuration of a run. The front doors (the `backup-audit` command's arguments, the
//! Lambda's environment and event) translate into a [`Config`]; the [`crate::pipeline`] reads
//! nothing else.

use std::path::PathBuf;

use crate::collect::CollectOptions;
use crate::estate::model::ReportPlan;
use crate::reports::EncodeOptions;
use crate::time::Millis;
use crate::window::WindowSpec;

/// Audit Manager splits reports over 50 MB; we read that as 50 MiB.
pub const DEFAULT_MAX_OBJECT_BYTES: usize = 50 * 1024 * 1024;

/// Where the estate comes from.
#[derive(Debug, Clone)]
pub enum Source {
    /// An estate snapshot folder (the README's "Estate layout").
    Snapshot(PathBuf),
    /// Collected live from AWS into a snapshot first.
    Aws(AwsSource),
}

/// How a live collection runs and where its snapshot goes.
#[derive(Debug, Clone)]
pub struct AwsSource {
    /// What to collect; its `now` is the run's clock, set by the pipeline.
    pub collect: CollectOptions,
    /// Keep the snapshot in this new or empty folder; `None`: a temporary folder, removed
    /// when the run ends (and on SIGINT or SIGTERM).
    pub snapshot_dir: Option<PathBuf>,
}

/// Everything a run needs to know.
#[derive(Debug, Clone)]
pub struct Config {
    pub source: Source,
    /// The run's clock. `None`: a snapshot's `snapshot.json` `CollectedAt`, else the front
    /// door's clock.
    pub now: Option<Millis>,
    /// The job report window.
    pub window: WindowSpec,
    /// Account of a flat snapshot.
    pub account: Option<String>,
    /// Region of a flat snapshot.
    pub region: Option<String>,
    /// Evaluate only the frameworks with these names (all when empty).
    pub framework_names: Vec<String>,
    /// Frameworks to evaluate in addition to the estate's own (`describe-framework` shape),
    /// in every account and region of the estate.
    pub framework_files: Vec<PathBuf>,
    /// Run only the report plans with these names (all when empty).
    pub report_plan_names: Vec<String>,
    /// Report plans to run in addition to the estate's own (`describe-report-plan` shape).
    pub report_plan_files: Vec<PathBuf>,
    /// Report plans given inline (the Lambda's direct invoke), run like the estate's own.
    pub report_plans: Vec<ReportPlan>,
    /// Writer options.
    pub encode: EncodeOptions,
    /// Reports larger than this are split into `_1`, `_2`, … objects.
    pub max_object_bytes: usize,
}

impl Config {
    /// A configuration with defaults for everything but the source.
    pub fn new(source: Source) -> Config {
        Config {
            source,
            now: None,
            window: WindowSpec::Daily,
            account: None,
            region: None,
            framework_names: Vec::new(),
            framework_files: Vec::new(),
            report_plan_names: Vec::new(),
            report_plan_files: Vec::new(),
            report_plans: Vec::new(),
            encode: EncodeOptions::default(),
            max_object_bytes: DEFAULT_MAX_OBJECT_BYTES,
        }
    }

    /// A configuration that reads the snapshot folder `dir` as of `now`.
    pub fn snapshot(dir: impl Into<PathBuf>, now: Millis) -> Config {
        Config { now: Some(now), ..Config::new(Source::Snapshot(dir.into())) }
    }
}
