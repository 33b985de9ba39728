//! backup-audit: AWS Backup Audit Manager's reports, computed from an estate snapshot.
//!
//! The stages run in one direction, and only [`run`] knows their order:
//!
//! 1. **collect** ([`collect`] for `--source aws`: AWS into an estate snapshot; [`estate`]:
//!    read the snapshot into typed records);
//! 2. **frames** ([`frames`]): turn the records into Polars DataFrames;
//! 3. **evaluate** ([`controls`]): the frameworks' controls over the frames, in parallel;
//! 4. **render** ([`reports`]): report plans to CSV and JSON bodies in the key layout;
//! 5. **deliver** ([`sinks`]): write the bodies, atomically, to a folder or to S3, then the
//!    run [`manifest`].
//!
//! The clock is an input ([`RunConfig::now`]): the same estate and `now` give the same bytes.

pub mod cleanup;
pub mod cli;
pub mod collect;
pub mod controls;
pub mod estate;
pub mod frames;
pub mod generate;
pub mod lambda;
pub mod manifest;
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
use reports::{EncodeOptions, Format, PlanError, RenderError, ReportFile, Template, TemplateKind};
use sinks::{Delivery, Sink, SinkError};
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
    /// Run only the report plans with these names (all when empty).
    pub report_plan_names: Vec<String>,
    /// Report plans given inline (the Lambda's direct invoke), run like the estate's own.
    pub report_plans: Vec<estate::model::ReportPlan>,
    /// Reports larger than this are split into `_1`, `_2`, … objects.
    pub max_object_bytes: usize,
    /// Whether `source` was just collected from AWS (`--source aws`), for the manifest.
    pub live: bool,
}

/// Audit Manager splits reports over 50 MB; we read that as 50 MiB.
pub const DEFAULT_MAX_OBJECT_BYTES: usize = 50 * 1024 * 1024;

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
            report_plan_names: Vec::new(),
            report_plans: Vec::new(),
            max_object_bytes: DEFAULT_MAX_OBJECT_BYTES,
            live: false,
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

/// One object that was delivered.
#[derive(Debug, Clone)]
pub struct Delivered {
    pub plan: String,
    pub template: String,
    pub format: Format,
    pub key: String,
    pub location: String,
    /// Part number (from 1) and part count; 1 of 1 for a report that was not split.
    pub part: usize,
    pub parts: usize,
    pub rows: usize,
    pub bytes: usize,
    pub sha256: String,
}

/// What became of one report plan.
#[derive(Debug, Clone)]
pub struct PlanOutcome {
    pub name: String,
    /// The key's account segment (an account id or `crossaccount`; empty for invalid plans).
    pub account: String,
    /// The key's region segment (a region or `crossregion`; empty for invalid plans).
    pub region: String,
    pub template: Option<String>,
    pub status: PlanStatus,
    /// Objects delivered.
    pub objects: usize,
    pub errors: Vec<String>,
}

/// The status of one report plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlanStatus {
    /// Every report of the plan was delivered.
    Delivered,
    /// Some report could not be rendered or written.
    Failed,
    /// The plan is wrong (template, format, scope) and did not run.
    Invalid,
    /// Every report was delivered, but an input it is built from was not collected for an
    /// account and region it covers.
    Incomplete,
}

impl PlanStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PlanStatus::Delivered => "delivered",
            PlanStatus::Failed => "failed",
            PlanStatus::Invalid => "invalid",
            PlanStatus::Incomplete => "incomplete",
        }
    }
}

/// What a run did.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub now: Millis,
    pub window: Window,
    pub plans: Vec<PlanOutcome>,
    pub delivered: Vec<Delivered>,
    /// Report plans that could not run because of their own content (bad template, format).
    pub plan_errors: Vec<String>,
    /// Framework controls that could not be evaluated (unknown control, bad parameter).
    pub evaluation_errors: Vec<String>,
    /// Reports (or manifests) that were rendered but could not be written.
    pub delivery_errors: Vec<String>,
    /// Parts of the estate the live collector could not read: the run is partial.
    pub collection_failures: Vec<String>,
    /// Commands of the layout the snapshot lacks for some account and region: the run is
    /// partial.
    pub not_collected: Vec<estate::NotCollected>,
    pub warnings: Vec<String>,
    pub timings: Timings,
    /// Jobs kept by the window, per template family.
    pub job_rows: (usize, usize, usize),
    /// Whether any evaluated control is NON_COMPLIANT.
    pub non_compliant: bool,
    /// The files the estate was read from.
    pub inputs: estate::Inputs,
    /// Where the run manifest was written (one per root the run wrote to).
    pub manifests: Vec<String>,
    /// Whether the estate was collected live (`--source aws`).
    pub live: bool,
}

impl Outcome {
    /// 1 when a write failed, 2 when a plan or framework was invalid, 3 when a control is
    /// NON_COMPLIANT and `fail_on_noncompliant` is set, 4 when part of the estate could not be
    /// collected, else 0. The lowest non-zero code wins.
    pub fn exit_code(&self, fail_on_noncompliant: bool) -> u8 {
        if !self.delivery_errors.is_empty() {
            1
        } else if !self.plan_errors.is_empty() || !self.evaluation_errors.is_empty() {
            2
        } else if fail_on_noncompliant && self.non_compliant {
            3
        } else if !self.collection_failures.is_empty() || !self.not_collected.is_empty() {
            4
        } else {
            0
        }
    }

    /// Whether every planned report was delivered from a fully collected estate.
    pub fn complete(&self) -> bool {
        self.delivery_errors.is_empty()
            && self.collection_failures.is_empty()
            && self.not_collected.is_empty()
            && self.plans.iter().all(|p| p.status == PlanStatus::Delivered)
    }

    /// The run manifest.
    pub fn manifest(&self, source: &std::path::Path) -> manifest::Manifest {
        let t = self.timings;
        let ms = |d: Duration| d.as_millis() as u64;
        manifest::Manifest {
            tool: manifest::Tool::default(),
            status: if self.complete() { "complete" } else { "incomplete" },
            now: time::format_millis(self.now),
            window: manifest::window_info((self.window.start, self.window.end)),
            source: manifest::Source {
                kind: if self.live { "aws" } else { "snapshot" },
                location: source.display().to_string(),
                files: self.inputs.files,
                bytes: self.inputs.bytes,
                sha256: self.inputs.sha256.clone(),
            },
            plans: self
                .plans
                .iter()
                .map(|p| manifest::PlanStatus {
                    name: p.name.clone(),
                    account: p.account.clone(),
                    region: p.region.clone(),
                    template: p.template.clone(),
                    status: p.status.as_str(),
                    objects: p.objects,
                    errors: p.errors.clone(),
                })
                .collect(),
            objects: self
                .delivered
                .iter()
                .map(|d| manifest::Object {
                    location: d.location.clone(),
                    key: d.key.clone(),
                    plan: d.plan.clone(),
                    template: d.template.clone(),
                    format: d.format.extension().to_uppercase(),
                    part: d.part,
                    parts: d.parts,
                    rows: d.rows,
                    bytes: d.bytes,
                    sha256: d.sha256.clone(),
                })
                .collect(),
            not_collected: self
                .not_collected
                .iter()
                .map(|n| manifest::NotCollected {
                    account: n.account.clone(),
                    region: n.region.clone(),
                    command: n.dataset.command().to_string(),
                    reason: n.reason.clone(),
                })
                .collect(),
            failures: self
                .collection_failures
                .iter()
                .chain(&self.plan_errors)
                .chain(&self.evaluation_errors)
                .chain(&self.delivery_errors)
                .cloned()
                .collect(),
            warnings: self.warnings.clone(),
            timings_ms: manifest::TimingsMs {
                load: ms(t.load),
                frames: ms(t.frames),
                evaluate: ms(t.evaluate),
                render: ms(t.render),
                write: ms(t.write),
            },
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

/// The plans a run executes: the estate's own, the plan files and the inline plans, narrowed
/// to `cfg.report_plan_names`. A name that matches no plan is a plan error.
fn select_plans(
    cfg: &RunConfig,
    estate: &estate::Estate,
) -> Result<(Vec<reports::PlannedReport>, Vec<PlanError>), Error> {
    let mut extra = cfg
        .report_plan_files
        .iter()
        .map(|p| reports::plan::read_plan_file(p).map(|plan| (p.clone(), plan)))
        .collect::<Result<Vec<_>, _>>()?;
    extra.extend(cfg.report_plans.iter().map(|p| (PathBuf::from("<inline>"), p.clone())));
    let (mut planned, mut errors) = reports::plan::plan_all(estate, &extra);
    if !cfg.report_plan_names.is_empty() {
        let wanted = |name: &str| cfg.report_plan_names.iter().any(|n| n == name);
        planned.retain(|p| wanted(&p.plan.report_plan_name));
        errors.retain(|e| wanted(e.plan()));
        for name in &cfg.report_plan_names {
            let known =
                planned.iter().any(|p| &p.plan.report_plan_name == name) || errors.iter().any(|e| e.plan() == name);
            if !known {
                errors.push(PlanError::Unknown { plan: name.clone() });
            }
        }
    }
    Ok((planned, errors))
}

/// The inputs of a plan's template that were not collected for an account and region the
/// plan covers, one line each.
fn missing_inputs(p: &reports::PlannedReport, not_collected: &[estate::NotCollected]) -> Vec<String> {
    not_collected
        .iter()
        .filter(|n| p.accounts.contains(&n.account) && p.regions.contains(&n.region))
        .filter(|n| p.template.reads(n.dataset))
        .map(|n| format!("input not collected: {n}"))
        .collect()
}

/// Where a plan comes from, to tell two plans of one name apart in messages.
fn plan_origin(p: &reports::PlannedReport) -> String {
    match (&p.plan.report_plan_arn, &p.account_segment) {
        (Some(arn), _) => arn.clone(),
        (None, Some(account)) => format!("account {account}"),
        (None, None) => "a plan file or request".into(),
    }
}

/// Finds plans that would write the same object (same destination root and key) and takes
/// them out of the run, each with a [`PlanError::Collision`] naming the other: without this,
/// the later one would silently replace the earlier one's report.
fn remove_colliding(
    planned: &mut Vec<reports::PlannedReport>,
    delivery: &Delivery,
    period: (Millis, Millis),
) -> Vec<PlanError> {
    use std::collections::BTreeMap;
    let mut owner: BTreeMap<(String, String), usize> = BTreeMap::new();
    let mut clashes: BTreeMap<usize, (usize, String)> = BTreeMap::new();
    for (i, p) in planned.iter().enumerate() {
        // A plan without a destination fails on its own later; it writes nothing.
        let Ok(sink) = delivery.sink_for(&p.plan) else { continue };
        for format in &p.formats {
            let key = p.key(*format, period);
            let location = sink.location(&key);
            match owner.get(&(sink.root(), key.clone())) {
                Some(&first) if first != i => {
                    clashes.entry(i).or_insert((first, location.clone()));
                    clashes.entry(first).or_insert((i, location));
                }
                _ => {
                    owner.insert((sink.root(), key), i);
                }
            }
        }
    }
    let errors = clashes
        .iter()
        .map(|(&i, (other, location))| PlanError::Collision {
            plan: planned[i].plan.report_plan_name.clone(),
            this: plan_origin(&planned[i]),
            other_plan: planned[*other].plan.report_plan_name.clone(),
            other: plan_origin(&planned[*other]),
            key: location.clone(),
        })
        .collect();
    let mut index = 0;
    planned.retain(|_| {
        index += 1;
        !clashes.contains_key(&(index - 1))
    });
    errors
}

/// Runs every report plan of the estate (and of `cfg.report_plan_files` and
/// `cfg.report_plans`), delivers the reports, then writes the run manifest to every root it
/// wrote to. One plan's failure does not stop the others.
pub fn run(cfg: &RunConfig, delivery: &Delivery) -> Result<Outcome, Error> {
    let window = cfg.window.resolve(cfg.now);
    let mut timings = Timings::default();

    let t = Instant::now();
    let estate = read_estate(cfg, Some(&window))?;
    timings.load = t.elapsed();
    // A fixed destination is made ready once the estate is known to be readable (bad input
    // writes nothing, not even the folder): a second run into the same folder stops here,
    // before it has written anything.
    if let Some(sink) = delivery.fixed() {
        sink.prepare()?;
    }
    info!(
        scopes = estate.scopes.len(),
        files = estate.inputs.files,
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

    let (mut planned, mut plan_errors) = select_plans(cfg, &estate)?;
    plan_errors.extend(remove_colliding(&mut planned, delivery, (window.start, window.end)));
    let mut plans: Vec<PlanOutcome> = plan_errors
        .iter()
        .map(|e| PlanOutcome {
            name: e.plan().to_string(),
            account: String::new(),
            region: String::new(),
            template: None,
            status: PlanStatus::Invalid,
            objects: 0,
            errors: vec![e.to_string()],
        })
        .collect();
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
    let inputs = estate.inputs.clone();
    let collection_failures = estate.collection_failures.clone();
    let not_collected = estate.not_collected.clone();
    let missing_inputs: Vec<Vec<String>> = planned.iter().map(|p| missing_inputs(p, &not_collected)).collect();
    // The report frames hold all that is printed from here on: free the rest before rendering.
    drop((evaluation, frames, estate));
    for e in collection_failures.iter().chain(&plan_errors).chain(&evaluation_errors) {
        warn!("{e}");
    }
    for n in &not_collected {
        warn!("{n}");
    }
    for w in &warnings {
        warn!("{w}");
    }

    // Plan by plan: each file is rendered in parallel chunks, then the plan's objects are
    // written, then dropped, so at most one plan's reports are in memory at a time.
    let period = (window.start, window.end);
    let mut delivered = Vec::new();
    let mut delivery_errors = Vec::new();
    let mut roots: Vec<std::sync::Arc<dyn Sink>> = delivery.fixed().into_iter().collect();
    for (p, missing) in planned.iter().zip(missing_inputs) {
        let mut outcome = PlanOutcome {
            name: p.plan.report_plan_name.clone(),
            account: p.account_segment.clone().unwrap_or_else(|| "crossaccount".into()),
            region: p.region_segment.clone().unwrap_or_else(|| "crossregion".into()),
            template: Some(p.template.name.clone()),
            status: PlanStatus::Delivered,
            objects: 0,
            errors: Vec::new(),
        };
        match deliver_plan(cfg, p, &report_frames, period, delivery, &mut timings) {
            Ok((sink, objects, errors)) => {
                if !roots.iter().any(|r| r.root() == sink.root()) {
                    roots.push(sink);
                }
                outcome.objects = objects.len();
                delivered.extend(objects);
                if !missing.is_empty() {
                    outcome.status = PlanStatus::Incomplete;
                    outcome.errors.extend(missing);
                }
                if !errors.is_empty() {
                    outcome.status = PlanStatus::Failed;
                    outcome.errors.extend(errors.iter().cloned());
                    delivery_errors.extend(errors);
                }
            }
            Err(e) => {
                let message = DisplayChain(&e).to_string();
                outcome.status = PlanStatus::Failed;
                outcome.errors.push(message.clone());
                match e {
                    Error::Sink(_) => delivery_errors.push(message),
                    _ => return Err(e),
                }
            }
        }
        plans.push(outcome);
    }
    plans.sort_by(|a, b| (&a.name, &a.account, &a.region).cmp(&(&b.name, &b.account, &b.region)));
    delivered.sort_by(|a, b| a.location.cmp(&b.location));
    let mut outcome = Outcome {
        now: cfg.now,
        window,
        plans,
        delivered,
        plan_errors,
        evaluation_errors,
        delivery_errors,
        collection_failures,
        not_collected,
        warnings,
        timings,
        job_rows,
        non_compliant,
        inputs,
        manifests: Vec::new(),
        live: cfg.live,
    };

    // The manifest goes last, to every root, so its presence means the run finished.
    let t = Instant::now();
    let manifest = outcome.manifest(&cfg.source).to_json();
    let key = manifest::key(period);
    let body = reports::encode::Body { slices: vec![&manifest], rows: 0 };
    for sink in roots {
        match sink.put(&key, &body, sinks::content_type("json")) {
            Ok(()) => outcome.manifests.push(sink.location(&key)),
            Err(e) => outcome.delivery_errors.push(DisplayChain(&e).to_string()),
        }
    }
    outcome.timings.write += t.elapsed();
    Ok(outcome)
}

/// Delivered objects of one plan and the errors of the ones that could not be written.
type PlanDelivery = (std::sync::Arc<dyn Sink>, Vec<Delivered>, Vec<String>);

/// Renders one plan's reports, splits them into objects and writes them to the plan's sink.
fn deliver_plan(
    cfg: &RunConfig,
    p: &reports::PlannedReport,
    report_frames: &ReportFrames,
    period: (Millis, Millis),
    delivery: &Delivery,
    timings: &mut Timings,
) -> Result<PlanDelivery, Error> {
    let sink = delivery.sink_for(&p.plan)?;
    let t = Instant::now();
    let frame = frameworks_of(report_frames.get(&p.template.frame), &p.plan.report_setting.framework_arns)
        .map_err(|source| RenderError::Polars { template: p.template.name.clone(), source })?;
    let files = reports::render_planned(p, &frame, period, cfg.encode)?;
    drop(frame);
    let objects: Vec<(&ReportFile, String, usize, usize, reports::encode::Body<'_>)> = files
        .iter()
        .flat_map(|f| {
            let bodies = f.rendered.split(cfg.max_object_bytes);
            let parts = bodies.len();
            bodies.into_iter().enumerate().map(move |(i, body)| {
                let key = if parts == 1 { f.key.clone() } else { reports::key::part_key(&f.key, i + 1) };
                (f, key, i + 1, parts, body)
            })
        })
        .collect();
    timings.render += t.elapsed();
    let t = Instant::now();
    let results: Vec<Result<Delivered, String>> = objects
        .par_iter()
        .map(|(f, key, part, parts, body)| {
            let sha256 = sha256_of(body);
            sink.put(key, body, sinks::content_type(f.format.extension()))
                .map_err(|e| DisplayChain(&e).to_string())
                .map(|()| Delivered {
                    plan: f.plan.clone(),
                    template: f.template.clone(),
                    format: f.format,
                    key: key.clone(),
                    location: sink.location(key),
                    part: *part,
                    parts: *parts,
                    rows: body.rows,
                    bytes: body.len(),
                    sha256,
                })
        })
        .collect();
    timings.write += t.elapsed();
    let (mut ok, mut errors) = (Vec::new(), Vec::new());
    for r in results {
        match r {
            Ok(d) => ok.push(d),
            Err(e) => errors.push(e),
        }
    }
    Ok((sink, ok, errors))
}

/// Hex SHA-256 of a body.
fn sha256_of(body: &reports::encode::Body<'_>) -> String {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    for s in &body.slices {
        h.update(s);
    }
    manifest::hex(&h.finalize())
}

/// An ad-hoc report: one template over every account and region of the estate, and the
/// inputs of the template that were not collected for some account and region (the report
/// is partial when there are any).
pub fn report(
    cfg: &RunConfig,
    template: &str,
    format: Format,
) -> Result<(ReportFile, Vec<estate::NotCollected>), Error> {
    let template = Template::built_in(template)?;
    let window = cfg.window.resolve(cfg.now);
    let compliance = template.kind == TemplateKind::Compliance;
    let estate = read_estate(cfg, (!compliance).then_some(&window))?;
    let not_collected: Vec<estate::NotCollected> =
        estate.not_collected.iter().filter(|n| template.reads(n.dataset)).cloned().collect();
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
    Ok((ReportFile { plan: String::new(), template: template.name, format, key, rendered }, not_collected))
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
