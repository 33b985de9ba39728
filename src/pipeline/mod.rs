//! The pipeline: the one place that knows the order of the stages.
//!
//! ```text
//! source → estate → frames → evaluate → render → deliver → manifest
//! ```
//!
//! 1. **source**: a snapshot folder as it is, or AWS collected live into one ([`crate::collect`]);
//!    the run's `now` is fixed here;
//! 2. **estate**: the snapshot read into typed records ([`crate::estate`]);
//! 3. **frames**: the records as Polars DataFrames ([`crate::frames`]);
//! 4. **evaluate**: the frameworks' controls, in parallel ([`crate::controls`]);
//! 5. **render**: report plans to CSV and JSON bodies in the key layout ([`crate::reports`]);
//! 6. **deliver**: the bodies, atomically, to a folder, S3 or standard output ([`crate::sinks`]);
//! 7. **manifest**: the run's evidence, last, to every root written to ([`crate::manifest`]).
//!
//! Every command and the Lambda build a [`Config`], pick a [`Goal`] and call [`Pipeline::run`].
//! A goal only decides where the run stops and what it renders; the order is [`Pipeline::run`]'s.

mod outcome;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use rayon::prelude::*;
use tracing::{info, warn};

pub use outcome::{Delivered, Outcome, PlanOutcome, PlanStatus, Problem, SourceInfo, Timings};

use crate::cleanup::TemporarySnapshot;
use crate::collect::{self, Collected, Progress};
use crate::config::{Config, Source};
use crate::controls::{self, Evaluation};
use crate::estate::{self, Estate, ReadOptions};
use crate::frames::{self, Frames};
use crate::reports::{self, Format, PlanError, PlannedReport, RenderError, Template, TemplateKind};
use crate::sinks::{Delivery, Sink};
use crate::time::{self, Millis};
use crate::window::Window;

/// What a run is for: which stages it reaches and what it renders.
#[derive(Debug, Clone)]
pub enum Goal {
    /// Every report plan, delivered in the report-plan key layout, then the run manifest
    /// (`backup-audit run`, the Lambda).
    Reports,
    /// One template over every account and region of the estate (`backup-audit report`).
    Report { template: String, format: Format },
    /// The frameworks' controls with a reason for every verdict (`backup-audit evaluate`).
    Evaluate(EvaluateFormat),
    /// The live collection only; the snapshot is kept (`backup-audit snapshot`).
    Snapshot,
}

/// What `evaluate` renders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvaluateFormat {
    /// Framework, control, counts, and the failing resources with reasons (at most 10 each).
    Table,
    /// `{"controls": …, "resources": …}` with the compliance report keys.
    Json,
    /// The RESOURCE_COMPLIANCE_REPORT as CSV.
    Csv,
}

/// One run of the stages for one [`Config`].
pub struct Pipeline<'c> {
    config: &'c Config,
    clock: Millis,
    progress: Arc<dyn Progress>,
}

/// The snapshot a run reads, and the run's clock.
struct Prepared {
    dir: PathBuf,
    now: Millis,
    live: bool,
    collected: Option<Collected>,
    /// Removed when the run ends.
    _temporary: Option<TemporarySnapshot>,
}

impl<'c> Pipeline<'c> {
    /// A pipeline for `config`. `clock` is the front door's reading of the wall clock, used
    /// only when neither the configuration nor the snapshot fixes `now`.
    pub fn new(config: &'c Config, clock: Millis) -> Pipeline<'c> {
        Pipeline { config, clock, progress: Arc::new(collect::Quiet) }
    }

    /// Shows live collection's progress through `progress` (bars on a terminal).
    pub fn with_progress(mut self, progress: Arc<dyn Progress>) -> Pipeline<'c> {
        self.progress = progress;
        self
    }

    /// Runs the stages in order for `goal`, delivering through `delivery`. A problem that
    /// stops the run is the error; problems that leave the other plans, accounts and regions
    /// running are in [`Outcome::problems`].
    pub fn run(&self, goal: &Goal, delivery: &Delivery) -> Result<Outcome, Problem> {
        let cfg = self.config;
        let mut timings = Timings::default();
        // An ad-hoc report's template, loaded once and first: an unknown name stops the run
        // before anything is collected or read.
        let adhoc = match goal {
            Goal::Report { template, .. } => Some(Template::built_in(template)?),
            _ => None,
        };

        // 1. source
        let t = Instant::now();
        let source = self.source()?;
        timings.collect = t.elapsed();
        let window = cfg.window.resolve(source.now);
        let mut outcome =
            Outcome::new(source.now, window, SourceInfo { live: source.live, location: source.dir.clone() });
        if let Goal::Snapshot = goal {
            let collected = source.collected.unwrap_or_default();
            outcome.problems.extend(collected.failures.iter().map(|f| Problem::CollectionFailure(f.to_string())));
            outcome.collected = Some(collected);
            outcome.timings = timings;
            return Ok(outcome);
        }
        outcome.collected = source.collected;

        // 2. estate
        let t = Instant::now();
        let jobs = match goal {
            Goal::Reports => true,
            _ => adhoc.as_ref().is_some_and(|t| t.kind == TemplateKind::Job),
        };
        let estate = estate::read(
            &source.dir,
            &ReadOptions {
                jobs: jobs.then(|| estate::JobFilter::of(&window)),
                account: cfg.account.clone(),
                region: cfg.region.clone(),
            },
        )?;
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
        outcome.inputs = estate.inputs.clone();
        outcome.problems.extend(estate.collection_failures.iter().cloned().map(Problem::CollectionFailure));
        outcome.problems.extend(
            estate
                .not_collected
                .iter()
                .filter(|n| adhoc.as_ref().is_none_or(|t| t.reads(n.dataset)))
                .cloned()
                .map(Problem::NotCollected),
        );
        if estate.undated_jobs > 0 {
            let n = estate.undated_jobs;
            let (jobs, have) = if n == 1 { ("job", "has") } else { ("jobs", "have") };
            outcome
                .warnings
                .push(format!("{n} finished {jobs} {have} no CompletionDate, so no report window can show them"));
        }

        // Report plans (for `run`): known before the frames, so the controls are evaluated only
        // when a plan asks for a compliance report.
        let mut planned = Vec::new();
        if let Goal::Reports = goal {
            let (mut plans, mut errors) =
                reports::plan::select(&estate, &cfg.report_plan_files, &cfg.report_plans, &cfg.report_plan_names)?;
            errors.extend(remove_colliding(&mut plans, delivery, window.period()));
            outcome.plans.extend(errors.iter().map(PlanOutcome::invalid));
            outcome.problems.extend(errors.into_iter().map(Problem::Plan));
            outcome.warnings.extend(plans.iter().flat_map(|p| p.warnings.clone()));
            planned = plans;
        }

        // 3. frames
        let t = Instant::now();
        let frames = frames::build(&estate)?;
        timings.frames = t.elapsed();

        // 4. evaluate
        let t = Instant::now();
        let needs_controls = match goal {
            Goal::Reports => planned.iter().any(|p| p.template.kind == TemplateKind::Compliance),
            Goal::Report { .. } => adhoc.as_ref().is_some_and(|t| t.kind == TemplateKind::Compliance),
            _ => true,
        };
        let mut evaluation =
            if needs_controls { self.evaluate(&estate, &frames, source.now)? } else { Evaluation::default() };
        timings.evaluate = t.elapsed();
        outcome.non_compliant = evaluation.any_non_compliant();
        outcome.warnings.extend(evaluation.warnings.iter().cloned());
        outcome.problems.extend(std::mem::take(&mut evaluation.errors).into_iter().map(Problem::Evaluate));
        // A command the collector left out is missing evidence once a control that needs it is
        // evaluated in that account and region (a framework file added after collection).
        for k in &estate.skipped {
            let needed = evaluation.results.iter().any(|r| {
                let id = &estate.scopes[r.scope].id;
                id.account == k.account && id.region == k.region && r.control.needs(k.dataset)
            });
            if needed {
                outcome.problems.push(Problem::NotCollected(k.clone()));
            }
        }
        // Problems are the front doors' to report (the command prints them, the Lambda returns
        // them); warnings are only logged.
        for w in &outcome.warnings {
            warn!("{w}");
        }

        // 5. render and 6. deliver
        let t = Instant::now();
        let report_frames = ReportFrames::build(&estate, &frames, &evaluation, source.now)?;
        timings.evaluate += t.elapsed();
        match goal {
            Goal::Reports => {
                let missing: Vec<Vec<String>> =
                    planned.iter().map(|p| missing_inputs(p, &estate.not_collected)).collect();
                // The report frames hold all that is printed from here on: free the rest.
                drop((evaluation, frames, estate));
                self.deliver_plans(&planned, missing, &report_frames, window, delivery, &mut outcome, &mut timings)?;
            }
            Goal::Report { format, .. } => {
                drop((frames, estate));
                let template = adhoc.expect("loaded above for an ad-hoc report");
                let t = Instant::now();
                let frame = report_frames.get(&template.frame).clone();
                let polars = |source| RenderError::Polars { template: template.name.clone(), source };
                let sorted = reports::sort_for(frame, &template).map_err(polars)?;
                let rendered = reports::encode::render(&sorted, &template, *format, window.period(), cfg.encode)?;
                let key = format!(
                    "{}_{}_{}.{}",
                    template.name,
                    time::format_seconds(window.start),
                    time::format_seconds(window.end),
                    format.extension()
                );
                timings.render = t.elapsed();
                let sink = delivery.fixed().ok_or_else(|| Problem::setup("an ad-hoc report needs one destination"))?;
                let t = Instant::now();
                let file = reports::ReportFile {
                    plan: String::new(),
                    template: template.name,
                    format: *format,
                    key,
                    rendered,
                };
                let delivered = put(&*sink, &file, file.key.clone(), 1, 1, &file.rendered.body())?;
                outcome.delivered.push(delivered);
                timings.write = t.elapsed();
            }
            Goal::Evaluate(format) => {
                let t = Instant::now();
                let text = match format {
                    EvaluateFormat::Table => reports::assessment::table(&estate, &evaluation, 10).into_bytes(),
                    EvaluateFormat::Json => reports::assessment::json(
                        &report_frames.control_results,
                        &report_frames.resource_results,
                        cfg.encode,
                    )?,
                    EvaluateFormat::Csv => reports::assessment::csv(&report_frames.resource_results, cfg.encode)?,
                };
                timings.render = t.elapsed();
                let sink = delivery.fixed().ok_or_else(|| Problem::setup("evaluate needs one destination"))?;
                let body = reports::encode::Body { slices: vec![&text], rows: 0 };
                sink.put("evaluate", &body, "text/plain; charset=utf-8")?;
            }
            Goal::Snapshot => unreachable!("the snapshot goal returned after the source stage"),
        }

        // 7. manifest (for `run`), last, to every root, so its presence means the run finished.
        if let Goal::Reports = goal {
            let t = Instant::now();
            outcome.timings = timings;
            let manifest = outcome.manifest().to_json();
            let key = crate::manifest::key(window.period());
            let body = reports::encode::Body { slices: vec![&manifest], rows: 0 };
            let mut roots: Vec<Arc<dyn Sink>> = delivery.fixed().into_iter().collect();
            for p in &planned {
                if let Ok(sink) = delivery.sink_for(&p.plan)
                    && !roots.iter().any(|r| r.root() == sink.root())
                {
                    roots.push(sink);
                }
            }
            for sink in roots {
                match sink.put(&key, &body, crate::sinks::content_type("json")) {
                    Ok(()) => outcome.manifests.push(sink.location(&key)),
                    Err(e) => outcome.problems.push(Problem::Deliver(e)),
                }
            }
            timings.write += t.elapsed();
        }
        outcome.timings = timings;
        Ok(outcome)
    }

    /// Stage 1: the snapshot to read and the run's `now`. With `Source::Aws` the estate is
    /// first collected into `snapshot_dir` (new or empty) or a temporary folder.
    fn source(&self) -> Result<Prepared, Problem> {
        let aws = match &self.config.source {
            Source::Snapshot(dir) => {
                let now = match self.config.now {
                    Some(t) => t,
                    None => estate::snapshot::collected_at(dir)?.unwrap_or(self.clock),
                };
                return Ok(Prepared { dir: dir.clone(), now, live: false, collected: None, _temporary: None });
            }
            Source::Aws(aws) => aws,
        };
        let now = self.config.now.unwrap_or(self.clock);
        let (dir, temporary) = match &aws.snapshot_dir {
            Some(d) => {
                if std::fs::read_dir(d).is_ok_and(|mut d| d.next().is_some()) {
                    return Err(Problem::BadInput(format!(
                        "`{}` is not empty; a snapshot goes into a new or empty folder",
                        d.display()
                    )));
                }
                (d.clone(), None)
            }
            None => {
                let t = TemporarySnapshot::create()
                    .map_err(|e| Problem::setup(format!("cannot create a temporary snapshot folder: {e}")))?;
                (t.path().to_path_buf(), Some(t))
            }
        };
        let mut opts = aws.collect.clone();
        opts.now = now;
        let collected = self.collect(&opts, &dir)?;
        Ok(Prepared { dir, now, live: true, collected: Some(collected), _temporary: temporary })
    }

    /// Collects the estate into `dir`, on the caller's tokio runtime (the Lambda's) or a new one.
    fn collect(&self, opts: &collect::CollectOptions, dir: &Path) -> Result<Collected, Problem> {
        let started = Instant::now();
        let future = collect::collect(opts, dir, self.progress.clone());
        let collected = match tokio::runtime::Handle::try_current() {
            Ok(handle) => handle.block_on(future),
            Err(_) => tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .map_err(|e| Problem::setup(format!("cannot start the async runtime: {e}")))?
                .block_on(future),
        }?;
        info!(
            scopes = collected.scopes,
            files = collected.files,
            bytes = collected.bytes,
            requests = collected.requests,
            retries = collected.retries,
            throttled = collected.throttled,
            failures = collected.failures.len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            snapshot = %dir.display(),
            "collected the estate"
        );
        Ok(collected)
    }

    /// Stage 4: the frameworks of the estate and of the framework files, in parallel. Results
    /// come out in (account, region, framework, control name) order.
    fn evaluate(&self, estate: &Estate, frames: &Frames, now: Millis) -> Result<Evaluation, Problem> {
        let cfg = self.config;
        let specs = controls::spec::built_in()?;
        let (runs, errors) = controls::frameworks_to_run(estate, &cfg.framework_names, &cfg.framework_files)?;
        let mut evaluation = controls::evaluate(estate, frames, &runs, &specs, now);
        evaluation.errors.splice(0..0, errors);
        // INVARIANT: results in (account, region, framework, control name) order, and verdicts
        // in resource id order (see the engine), are the compliance reports' row order, so the
        // reports need no sort. Scopes are discovered in (account, region) order.
        evaluation.results.sort_by(|a, b| {
            (a.scope, &a.framework_name, a.control.name()).cmp(&(b.scope, &b.framework_name, b.control.name()))
        });
        Ok(evaluation)
    }

    /// Stages 5 and 6 for `run`: plan by plan, each file is rendered in parallel chunks, then
    /// the plan's objects are written, then dropped, so at most one plan's reports are in
    /// memory at a time. One plan's failure does not stop the others.
    #[allow(clippy::too_many_arguments)]
    fn deliver_plans(
        &self,
        planned: &[PlannedReport],
        missing: Vec<Vec<String>>,
        report_frames: &ReportFrames,
        window: Window,
        delivery: &Delivery,
        outcome: &mut Outcome,
        timings: &mut Timings,
    ) -> Result<(), Problem> {
        for (p, missing) in planned.iter().zip(missing) {
            let mut plan = PlanOutcome::planned(p);
            match self.deliver_plan(p, report_frames, window, delivery, timings) {
                Ok((objects, errors)) => {
                    plan.objects = objects.len();
                    outcome.delivered.extend(objects);
                    if !missing.is_empty() {
                        plan.status = PlanStatus::Incomplete;
                        plan.errors.extend(missing);
                    }
                    if !errors.is_empty() {
                        plan.status = PlanStatus::Failed;
                        plan.errors.extend(errors.iter().map(|e| crate::problem::DisplayChain(e).to_string()));
                        outcome.problems.extend(errors.into_iter().map(Problem::Deliver));
                    }
                }
                Err(e @ Problem::Deliver(_)) => {
                    plan.status = PlanStatus::Failed;
                    plan.errors.push(crate::problem::DisplayChain(&e).to_string());
                    outcome.problems.push(e);
                }
                Err(e) => return Err(e),
            }
            outcome.plans.push(plan);
        }
        outcome.plans.sort_by(|a, b| (&a.name, &a.account, &a.region).cmp(&(&b.name, &b.account, &b.region)));
        outcome.delivered.sort_by(|a, b| a.location.cmp(&b.location));
        Ok(())
    }

    /// Renders one plan's reports, splits them into objects and writes them to the plan's sink.
    fn deliver_plan(
        &self,
        p: &PlannedReport,
        report_frames: &ReportFrames,
        window: Window,
        delivery: &Delivery,
        timings: &mut Timings,
    ) -> Result<(Vec<Delivered>, Vec<crate::sinks::SinkError>), Problem> {
        let cfg = self.config;
        let sink = delivery.sink_for(&p.plan)?;
        let t = Instant::now();
        let frame = report_frames.of_frameworks(&p.template, &p.plan.report_setting.framework_arns)?;
        let files = reports::render_planned(p, &frame, window.period(), cfg.encode)?;
        drop(frame);
        let objects: Vec<(&reports::ReportFile, String, usize, usize, reports::encode::Body<'_>)> = files
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
        let results: Vec<Result<Delivered, crate::sinks::SinkError>> = objects
            .par_iter()
            .map(|(f, key, part, parts, body)| put(&*sink, f, key.clone(), *part, *parts, body))
            .collect();
        timings.write += t.elapsed();
        let (mut ok, mut errors) = (Vec::new(), Vec::new());
        for r in results {
            match r {
                Ok(d) => ok.push(d),
                Err(e) => errors.push(e),
            }
        }
        Ok((ok, errors))
    }
}

/// Writes one object of a report file and says what was delivered.
fn put(
    sink: &dyn Sink,
    f: &reports::ReportFile,
    key: String,
    part: usize,
    parts: usize,
    body: &reports::encode::Body<'_>,
) -> Result<Delivered, crate::sinks::SinkError> {
    let sha256 = body.sha256();
    sink.put(&key, body, crate::sinks::content_type(f.format.extension()))?;
    Ok(Delivered {
        plan: f.plan.clone(),
        template: f.template.clone(),
        format: f.format,
        location: sink.location(&key),
        key,
        part,
        parts,
        rows: body.rows,
        bytes: body.len(),
        sha256,
    })
}

/// The frames every template prints from.
struct ReportFrames {
    jobs: reports::job_report::JobReportFrames,
    control_results: polars::prelude::DataFrame,
    resource_results: polars::prelude::DataFrame,
}

impl ReportFrames {
    fn build(estate: &Estate, frames: &Frames, evaluation: &Evaluation, now: Millis) -> Result<ReportFrames, Problem> {
        Ok(ReportFrames {
            jobs: reports::job_report::build(frames)?,
            control_results: reports::compliance_report::control_results(estate, &evaluation.results, now)?,
            resource_results: reports::compliance_report::resource_results(estate, &evaluation.results, now)?,
        })
    }

    fn get(&self, frame: &str) -> &polars::prelude::DataFrame {
        match frame {
            "backup_jobs" => &self.jobs.backup_jobs,
            "copy_jobs" => &self.jobs.copy_jobs,
            "restore_jobs" => &self.jobs.restore_jobs,
            "control_results" => &self.control_results,
            _ => &self.resource_results,
        }
    }

    /// The template's frame, keeping the result rows of the frameworks a compliance plan
    /// names (all when none).
    fn of_frameworks(&self, template: &Template, arns: &[String]) -> Result<polars::prelude::DataFrame, RenderError> {
        let df = self.get(&template.frame);
        if arns.is_empty() {
            return Ok(df.clone());
        }
        let polars = |source| RenderError::Polars { template: template.name.clone(), source };
        let mask: polars::prelude::BooleanChunked = df
            .column("framework_arn")
            .and_then(|c| c.str().cloned())
            .map_err(polars)?
            .iter()
            .map(|a| Some(a.is_some_and(|a| arns.iter().any(|x| x == a))))
            .collect();
        df.filter(&mask).map_err(polars)
    }
}

/// The inputs of a plan's template that were not collected for an account and region the
/// plan covers, one line each.
fn missing_inputs(p: &PlannedReport, not_collected: &[estate::NotCollected]) -> Vec<String> {
    not_collected
        .iter()
        .filter(|n| p.accounts.contains(&n.account) && p.regions.contains(&n.region))
        .filter(|n| p.template.reads(n.dataset))
        .map(|n| format!("input not collected: {n}"))
        .collect()
}

/// Where a plan comes from, to tell two plans of one name apart in messages.
fn plan_origin(p: &PlannedReport) -> String {
    match (&p.plan.report_plan_arn, &p.account_segment) {
        (Some(arn), _) => arn.clone(),
        (None, Some(account)) => format!("account {account}"),
        (None, None) => "a plan file or request".into(),
    }
}

/// Finds plans that would write the same object (same destination root and key) and takes
/// them out of the run, each with a [`PlanError::Collision`] naming the other: without this,
/// the later one would silently replace the earlier one's report.
fn remove_colliding(planned: &mut Vec<PlannedReport>, delivery: &Delivery, period: (Millis, Millis)) -> Vec<PlanError> {
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
