//! backup-audit: AWS Backup Audit Manager's reports, computed from an estate snapshot.
//!
//! The stages run in one direction, and only [`run`] knows their order:
//!
//! 1. **collect** ([`estate`]): read the estate snapshot into typed records;
//! 2. **frames** ([`frames`]): turn the records into Polars DataFrames;
//! 3. **evaluate**: controls over the frames (not in this version);
//! 4. **render** ([`reports`]): report plans to CSV and JSON bodies in the key layout;
//! 5. **deliver** ([`sinks`]): write the bodies, atomically.
//!
//! The clock is an input ([`RunConfig::now`]): the same estate and `now` give the same bytes.

pub mod cli;
pub mod controls;
pub mod estate;
pub mod frames;
pub mod generate;
pub mod reports;
pub mod sinks;
pub mod time;
pub mod window;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use rayon::prelude::*;
use tracing::{info, warn};

use estate::{CollectError, ReadOptions};
use frames::FrameError;
use reports::{EncodeOptions, Format, RenderError, ReportFile, Template};
use sinks::{Sink, SinkError};
use time::Millis;
use window::{Window, WindowSpec};

/// Everything a run needs to know.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// The estate snapshot folder.
    pub source: PathBuf,
    /// The run's clock.
    pub now: Millis,
    /// The job report window.
    pub window: WindowSpec,
    /// Report plans to run in addition to the estate's own (`describe-report-plan` shape).
    pub report_plan_files: Vec<PathBuf>,
    /// Writer options.
    pub encode: EncodeOptions,
    /// Account of a flat snapshot.
    pub account: Option<String>,
    /// Region of a flat snapshot.
    pub region: Option<String>,
}

/// A failure of one run, by stage.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Collect(#[from] CollectError),
    #[error(transparent)]
    Frames(#[from] FrameError),
    #[error(transparent)]
    Render(#[from] RenderError),
    #[error(transparent)]
    Sink(#[from] SinkError),
    #[error(transparent)]
    Template(#[from] reports::template::TemplateError),
}

impl Error {
    /// The process exit code: 2 for bad input, 1 for everything else.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Collect(_) | Error::Template(_) => 2,
            _ => 1,
        }
    }
}

/// How long each stage took.
#[derive(Debug, Clone, Copy, Default)]
pub struct Timings {
    pub load: Duration,
    pub frames: Duration,
    pub render: Duration,
    pub write: Duration,
}

/// A report file that was delivered.
#[derive(Debug, Clone)]
pub struct Delivered {
    pub plan: String,
    pub template: String,
    pub format: Format,
    pub key: String,
    pub location: String,
    pub rows: usize,
    pub bytes: usize,
}

/// What a run did.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub window: Window,
    pub delivered: Vec<Delivered>,
    /// Report plans that could not run because of their own content (bad template, format).
    pub plan_errors: Vec<String>,
    /// Reports that were rendered but could not be written.
    pub delivery_errors: Vec<String>,
    pub warnings: Vec<String>,
    pub timings: Timings,
    /// Jobs kept by the window, per template family.
    pub job_rows: (usize, usize, usize),
}

impl Outcome {
    /// 0 when everything was delivered, 1 when a write failed, 2 when a plan was invalid.
    pub fn exit_code(&self) -> u8 {
        if !self.delivery_errors.is_empty() {
            1
        } else if !self.plan_errors.is_empty() {
            2
        } else {
            0
        }
    }
}

fn read_estate(cfg: &RunConfig, window: &Window) -> Result<estate::Estate, CollectError> {
    estate::read(
        &cfg.source,
        &ReadOptions { jobs: Some(window.job_filter()), account: cfg.account.clone(), region: cfg.region.clone() },
    )
}

/// Runs every report plan of the estate (and of `cfg.report_plan_files`) and delivers the
/// reports to `sink`. One plan's failure does not stop the others.
pub fn run(cfg: &RunConfig, sink: &dyn Sink) -> Result<Outcome, Error> {
    let window = cfg.window.resolve(cfg.now);
    let mut timings = Timings::default();

    let t = Instant::now();
    let extra = cfg
        .report_plan_files
        .iter()
        .map(|p| reports::plan::read_plan_file(p).map(|plan| (p.clone(), plan)))
        .collect::<Result<Vec<_>, _>>()?;
    let estate = read_estate(cfg, &window)?;
    timings.load = t.elapsed();
    info!(
        scopes = estate.scopes.len(),
        backup_jobs = estate.backup_jobs.len(),
        copy_jobs = estate.copy_jobs.len(),
        restore_jobs = estate.restore_jobs.len(),
        recovery_points = estate.recovery_points.len(),
        elapsed_ms = timings.load.as_millis() as u64,
        "read the estate"
    );

    let t = Instant::now();
    let frames = frames::build(&estate)?;
    let job_frames = reports::job_report::build(&frames)?;
    timings.frames = t.elapsed();

    let t = Instant::now();
    let (planned, plan_errors) = reports::plan::plan_all(&estate, &extra);
    let plan_errors: Vec<String> = plan_errors.iter().map(|e| e.to_string()).collect();
    for e in &plan_errors {
        warn!("{e}");
    }
    let warnings: Vec<String> = planned.iter().flat_map(|p| p.warnings.clone()).collect();
    for w in &warnings {
        warn!("{w}");
    }
    let period = (window.start, window.end);
    let files: Vec<ReportFile> = planned
        .par_iter()
        .map(|p| {
            let frame = match p.template.frame.as_str() {
                "backup_jobs" => &job_frames.backup_jobs,
                "copy_jobs" => &job_frames.copy_jobs,
                _ => &job_frames.restore_jobs,
            };
            reports::render_planned(p, frame, period, cfg.encode)
        })
        .collect::<Result<Vec<Vec<_>>, _>>()?
        .into_iter()
        .flatten()
        .collect();
    timings.render = t.elapsed();

    let t = Instant::now();
    let results: Vec<Result<Delivered, String>> = files
        .par_iter()
        .map(|f| {
            sink.put(&f.key, &f.rendered.bytes).map_err(|e| format!("{:#}", DisplayChain(&e))).map(|()| Delivered {
                plan: f.plan.clone(),
                template: f.template.clone(),
                format: f.format,
                key: f.key.clone(),
                location: sink.location(&f.key),
                rows: f.rendered.rows,
                bytes: f.rendered.bytes.len(),
            })
        })
        .collect();
    timings.write = t.elapsed();
    let mut delivered = Vec::new();
    let mut delivery_errors = Vec::new();
    for r in results {
        match r {
            Ok(d) => delivered.push(d),
            Err(e) => delivery_errors.push(e),
        }
    }
    delivered.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(Outcome {
        window,
        delivered,
        plan_errors,
        delivery_errors,
        warnings,
        timings,
        job_rows: (frames.backup_jobs.height(), frames.copy_jobs.height(), frames.restore_jobs.height()),
    })
}

/// An ad-hoc report: one template over every account and region of the estate.
pub fn report(cfg: &RunConfig, template: &str, format: Format) -> Result<ReportFile, Error> {
    let template = Template::built_in(template)?;
    if template.kind != reports::TemplateKind::Job {
        return Err(Error::Template(reports::template::TemplateError::Parse {
            name: template.name,
            message: "needs the controls engine, which this version does not have yet".into(),
        }));
    }
    let window = cfg.window.resolve(cfg.now);
    let estate = read_estate(cfg, &window)?;
    let frames = frames::build(&estate)?;
    let job_frames = reports::job_report::build(&frames)?;
    let frame = match template.frame.as_str() {
        "backup_jobs" => job_frames.backup_jobs,
        "copy_jobs" => job_frames.copy_jobs,
        _ => job_frames.restore_jobs,
    };
    let polars = |source| RenderError::Polars { template: template.name.clone(), source };
    let sorted = reports::sort_for(frame, &template).map_err(polars)?;
    let rendered = reports::encode::render(&sorted, &template, format, (window.start, window.end), cfg.encode)?;
    let key = format!(
        "{}_{}_{}.{}",
        template.name,
        time::format_seconds(window.start),
        time::format_seconds(window.end),
        format.extension()
    );
    Ok(ReportFile { plan: String::new(), template: template.name, format, key, rendered })
}

/// Prints an error with its chain of sources: `outer: inner: innermost`.
pub struct DisplayChain<'a>(pub &'a dyn std::error::Error);

impl std::fmt::Display for DisplayChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(s) = source {
            write!(f, ": {s}")?;
            source = s.source();
        }
        Ok(())
    }
}
