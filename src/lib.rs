//! backup-audit: AWS Backup Audit Manager's reports, computed from an estate snapshot.
//!
//! The stages run in one direction, and only [`run`] knows their order:
//!
//! 1. **collect** ([`estate`]): read the estate snapshot into typed records;
//! 2. **frames** ([`frames`]): turn the records into Polars DataFrames;
//! 3. **evaluate** ([`controls`]): the frameworks' controls over the frames, in parallel;
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

use controls::{EvalError, Evaluation, FrameworkRun};
use estate::{CollectError, ReadOptions};
use frames::FrameError;
use polars::prelude::DataFrame;
use reports::{EncodeOptions, Format, RenderError, ReportFile, Template, TemplateKind};
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
    /// Frameworks to evaluate in addition to the estate's own (`describe-framework` shape),
    /// in every account and region of the estate.
    pub framework_files: Vec<PathBuf>,
    /// Evaluate only the frameworks with these names (all when empty).
    pub framework_names: Vec<String>,
    /// Writer options.
    pub encode: EncodeOptions,
    /// Account of a flat snapshot.
    pub account: Option<String>,
    /// Region of a flat snapshot.
    pub region: Option<String>,
}

impl RunConfig {
    /// A configuration with defaults for everything but the source and the clock.
    pub fn new(source: impl Into<PathBuf>, now: Millis) -> RunConfig {
        RunConfig {
            source: source.into(),
            now,
            window: WindowSpec::Daily,
            report_plan_files: Vec::new(),
            framework_files: Vec::new(),
            framework_names: Vec::new(),
            encode: EncodeOptions::default(),
            account: None,
            region: None,
        }
    }
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
    #[error(transparent)]
    ControlSpec(#[from] controls::ControlSpecError),
}

impl Error {
    /// The process exit code: 2 for bad input, 1 for everything else.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Collect(_) | Error::Template(_) | Error::ControlSpec(_) => 2,
            _ => 1,
        }
    }
}

/// How long each stage took.
#[derive(Debug, Clone, Copy, Default)]
pub struct Timings {
    pub load: Duration,
    pub frames: Duration,
    pub evaluate: Duration,
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
    /// Framework controls that could not be evaluated (unknown control, bad parameter).
    pub evaluation_errors: Vec<String>,
    /// Reports that were rendered but could not be written.
    pub delivery_errors: Vec<String>,
    pub warnings: Vec<String>,
    pub timings: Timings,
    /// Jobs kept by the window, per template family.
    pub job_rows: (usize, usize, usize),
    /// Whether any evaluated control is NON_COMPLIANT.
    pub non_compliant: bool,
}

impl Outcome {
    /// 0 when everything was delivered, 1 when a write failed, 2 when a plan or framework
    /// was invalid.
    pub fn exit_code(&self) -> u8 {
        if !self.delivery_errors.is_empty() {
            1
        } else if !self.plan_errors.is_empty() || !self.evaluation_errors.is_empty() {
            2
        } else {
            0
        }
    }
}

fn read_estate(cfg: &RunConfig, jobs: Option<&Window>) -> Result<estate::Estate, CollectError> {
    estate::read(
        &cfg.source,
        &ReadOptions { jobs: jobs.map(Window::job_filter), account: cfg.account.clone(), region: cfg.region.clone() },
    )
}

/// The frameworks to evaluate: the estate's own (each in its account and region) and the
/// framework files (in every account and region), filtered by name.
fn framework_runs(cfg: &RunConfig, estate: &estate::Estate) -> Result<(Vec<FrameworkRun>, Vec<EvalError>), Error> {
    let wanted = |name: &str| cfg.framework_names.is_empty() || cfg.framework_names.iter().any(|n| n == name);
    let mut runs = Vec::new();
    let mut errors = Vec::new();
    for f in estate.frameworks.iter().filter(|f| wanted(&f.name)) {
        match &f.detail {
            Some(detail) => runs.push(FrameworkRun { framework: detail.clone(), scopes: vec![f.scope] }),
            None => errors.push(EvalError::FrameworkNotCollected {
                framework: f.name.clone(),
                account: estate.scopes[f.scope].id.account.clone(),
                region: estate.scopes[f.scope].id.region.clone(),
            }),
        }
    }
    for path in &cfg.framework_files {
        let bytes = std::fs::read(path).map_err(|source| CollectError::Io { path: path.clone(), source })?;
        let framework: estate::model::Framework = estate::snapshot::parse_json(path, &bytes)?;
        if wanted(&framework.framework_name) {
            runs.push(FrameworkRun { framework, scopes: (0..estate.scopes.len()).collect() });
        }
    }
    Ok((runs, errors))
}

/// Evaluates the frameworks of `cfg` against an estate already read.
fn evaluate_estate(cfg: &RunConfig, estate: &estate::Estate, frames: &frames::Frames) -> Result<Evaluation, Error> {
    let specs = controls::spec::built_in()?;
    let (runs, errors) = framework_runs(cfg, estate)?;
    let mut evaluation = controls::evaluate(estate, frames, &runs, &specs, cfg.now);
    evaluation.errors.splice(0..0, errors);
    // INVARIANT: results in (account, region, framework, control name) order, and verdicts in
    // resource id order (see the engine), are the compliance reports' row order, so the
    // reports need no sort. Scopes are discovered in (account, region) order.
    evaluation.results.sort_by(|a, b| {
        (a.scope, &a.framework_name, a.control.name()).cmp(&(b.scope, &b.framework_name, b.control.name()))
    });
    Ok(evaluation)
}

/// The frames every template prints from.
struct ReportFrames {
    jobs: reports::job_report::JobReportFrames,
    control_results: DataFrame,
    resource_results: DataFrame,
}

impl ReportFrames {
    fn get(&self, frame: &str) -> &DataFrame {
        match frame {
            "backup_jobs" => &self.jobs.backup_jobs,
            "copy_jobs" => &self.jobs.copy_jobs,
            "restore_jobs" => &self.jobs.restore_jobs,
            "control_results" => &self.control_results,
            _ => &self.resource_results,
        }
    }
}

/// Keeps the result rows of the frameworks a compliance plan names (all when none).
fn frameworks_of(df: &DataFrame, arns: &[String]) -> polars::prelude::PolarsResult<DataFrame> {
    if arns.is_empty() {
        return Ok(df.clone());
    }
    let mask: polars::prelude::BooleanChunked = df
        .column("framework_arn")?
        .str()?
        .iter()
        .map(|a| Some(a.is_some_and(|a| arns.iter().any(|x| x == a))))
        .collect();
    df.filter(&mask)
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
    let estate = read_estate(cfg, Some(&window))?;
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
    let jobs = reports::job_report::build(&frames)?;
    timings.frames = t.elapsed();

    let (planned, plan_errors) = reports::plan::plan_all(&estate, &extra);
    let plan_errors: Vec<String> = plan_errors.iter().map(|e| e.to_string()).collect();
    let mut warnings: Vec<String> = planned.iter().flat_map(|p| p.warnings.clone()).collect();
    if estate.undated_jobs > 0 {
        let n = estate.undated_jobs;
        let (jobs, have) = if n == 1 { ("job", "has") } else { ("jobs", "have") };
        warnings.push(format!("{n} finished {jobs} {have} no CompletionDate, so no report window can show them"));
    }

    // Controls are evaluated only when a plan asks for a compliance report.
    let t = Instant::now();
    let needs_controls = planned.iter().any(|p| p.template.kind == TemplateKind::Compliance);
    let evaluation = if needs_controls { evaluate_estate(cfg, &estate, &frames)? } else { Evaluation::default() };
    let report_frames = ReportFrames {
        jobs,
        control_results: reports::compliance_report::control_results(&estate, &evaluation.results, cfg.now)?,
        resource_results: reports::compliance_report::resource_results(&estate, &evaluation.results, cfg.now)?,
    };
    timings.evaluate = t.elapsed();
    let evaluation_errors: Vec<String> = evaluation.errors.iter().map(ToString::to_string).collect();
    warnings.extend(evaluation.warnings.iter().cloned());
    let non_compliant = evaluation.any_non_compliant();
    let job_rows = (frames.backup_jobs.height(), frames.copy_jobs.height(), frames.restore_jobs.height());
    // The report frames hold all that is printed from here on: free the rest before rendering.
    drop((evaluation, frames, estate));
    for e in plan_errors.iter().chain(&evaluation_errors) {
        warn!("{e}");
    }
    for w in &warnings {
        warn!("{w}");
    }

    // Plan by plan: each file is rendered in parallel chunks, then the plan's files are
    // written, then dropped, so at most one plan's reports are in memory at a time.
    let period = (window.start, window.end);
    let mut delivered = Vec::new();
    let mut delivery_errors = Vec::new();
    for p in &planned {
        let t = Instant::now();
        let frame = frameworks_of(report_frames.get(&p.template.frame), &p.plan.report_setting.framework_arns)
            .map_err(|source| RenderError::Polars { template: p.template.name.clone(), source })?;
        let files = reports::render_planned(p, &frame, period, cfg.encode)?;
        drop(frame);
        timings.render += t.elapsed();
        let t = Instant::now();
        let results: Vec<Result<Delivered, String>> = files
            .par_iter()
            .map(|f| {
                sink.put(&f.key, &f.rendered.parts).map_err(|e| DisplayChain(&e).to_string()).map(|()| Delivered {
                    plan: f.plan.clone(),
                    template: f.template.clone(),
                    format: f.format,
                    key: f.key.clone(),
                    location: sink.location(&f.key),
                    rows: f.rendered.rows,
                    bytes: f.rendered.len(),
                })
            })
            .collect();
        timings.write += t.elapsed();
        for r in results {
            match r {
                Ok(d) => delivered.push(d),
                Err(e) => delivery_errors.push(e),
            }
        }
    }
    delivered.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(Outcome {
        window,
        delivered,
        plan_errors,
        evaluation_errors,
        delivery_errors,
        warnings,
        timings,
        job_rows,
        non_compliant,
    })
}

/// An ad-hoc report: one template over every account and region of the estate.
pub fn report(cfg: &RunConfig, template: &str, format: Format) -> Result<ReportFile, Error> {
    let template = Template::built_in(template)?;
    let window = cfg.window.resolve(cfg.now);
    let compliance = template.kind == TemplateKind::Compliance;
    let estate = read_estate(cfg, (!compliance).then_some(&window))?;
    let frames = frames::build(&estate)?;
    let frame = if compliance {
        let evaluation = evaluate_estate(cfg, &estate, &frames)?;
        for e in &evaluation.errors {
            warn!("{e}");
        }
        if template.frame == "control_results" {
            reports::compliance_report::control_results(&estate, &evaluation.results, cfg.now)?
        } else {
            reports::compliance_report::resource_results(&estate, &evaluation.results, cfg.now)?
        }
    } else {
        let jobs = reports::job_report::build(&frames)?;
        match template.frame.as_str() {
            "backup_jobs" => jobs.backup_jobs,
            "copy_jobs" => jobs.copy_jobs,
            _ => jobs.restore_jobs,
        }
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

/// The result of `evaluate`: the evaluation and the two compliance report frames.
pub struct Assessment {
    pub estate: estate::Estate,
    pub evaluation: Evaluation,
    pub control_results: DataFrame,
    pub resource_results: DataFrame,
}

/// Evaluates the frameworks of the estate (and `cfg.framework_files`) without writing reports.
pub fn assess(cfg: &RunConfig) -> Result<Assessment, Error> {
    let estate = read_estate(cfg, None)?;
    let frames = frames::build(&estate)?;
    let evaluation = evaluate_estate(cfg, &estate, &frames)?;
    let control_results = reports::compliance_report::control_results(&estate, &evaluation.results, cfg.now)?;
    let resource_results = reports::compliance_report::resource_results(&estate, &evaluation.results, cfg.now)?;
    Ok(Assessment { estate, evaluation, control_results, resource_results })
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
