//! The pipeline: the one place that knows the order of the stages.
//!
//! ```text
//! source → estate → frames → evaluate → render → deliver → summary → manifest
//! ```
//!
//! 1. **source**: a snapshot folder as it is, or AWS collected live into one ([`crate::collect`]);
//!    the run's `now` is fixed here;
//! 2. **estate**: the snapshot read into typed records ([`crate::estate`]);
//! 3. **frames**: the job records as Polars DataFrames, when a job report is planned
//!    ([`crate::frames`]);
//! 4. **evaluate**: the frameworks' controls, in parallel ([`crate::controls`]);
//! 5. **render**: report plans to CSV and JSON rows in the key layout ([`crate::reports`]);
//! 6. **deliver**: the rows, cut into objects, each stored atomically in a folder, S3 or
//!    standard output ([`crate::sinks`]);
//! 7. **summary**: the one-page HTML summary of the run, to every root written to
//!    ([`crate::summary`]);
//! 8. **manifest**: the run's evidence, last, to every root written to ([`crate::manifest`]).
//!
//! For `run` and `report`, stages 4 to 6 overlap (see `pipeline/deliver.rs`): the controls are judged,
//! their rows encoded and the objects written while the evaluation goes on, so that no report
//! is ever whole in memory. The order of the data is still the one above.
//!
//! Every command and the Lambda build a [`Config`], pick a [`Goal`] and call [`Pipeline::run`].
//! A goal only decides where the run stops and what it renders; the order is [`Pipeline::run`]'s.
//!
//! An organisation run cut into shards ([`crate::parts`]) splits the same order in two:
//! `shard` runs source → estate → frames → evaluate for some accounts and regions and writes
//! their typed rows as parts (`pipeline/shard.rs`); `merge` reads every shard's parts and runs
//! render → deliver → manifest over them (`pipeline/merge.rs`), with the writers of `run`.

mod deliver;
mod merge;
mod outcome;
mod shard;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use tracing::{info, warn};

pub use outcome::{Delivered, Outcome, PlanOutcome, PlanStatus, Problem, SourceInfo, Timings};
pub use shard::{ShardScopes, ShardStep};

use crate::cleanup::TemporarySnapshot;
use crate::collect::{self, Collected, Progress};
use crate::config::{Config, Source};
use crate::controls::{self, Evaluator};
use crate::estate::{self, ReadOptions};
use crate::frames;
use crate::parts::PartsStore;
use crate::problem::Kind;
use crate::reports::{self, Format, PlanError, PlannedReport, Template, TemplateKind};
use crate::sinks::{Delivery, Sink};
use crate::summary::{self, Findings};
use crate::time::{self, Millis};

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
    /// The one-page HTML summary only, every framework's controls evaluated, to one
    /// destination under `key` (`backup-audit summary`).
    Summary { key: String },
    /// The live collection only; the snapshot is kept (`backup-audit snapshot`).
    Snapshot,
    /// An organisation run's plan: its scopes, `now` and window, and the Map items, to the
    /// parts (`backup-audit plan`).
    Plan { parts: PartsStore },
    /// Some scopes' typed rows, evaluated, to the parts as Parquet (`backup-audit shard`).
    Shard { parts: PartsStore, scopes: ShardScopes, step: ShardStep },
    /// Every report plan, rendered from the parts of all scopes, then the manifest
    /// (`backup-audit merge`).
    Merge { parts: PartsStore },
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
        // The organisation run's steps have their own order (`shard.rs`, `merge.rs`).
        match goal {
            Goal::Plan { parts } => return self.plan(parts),
            Goal::Shard { parts, scopes, step } => return self.shard(parts, scopes, *step),
            Goal::Merge { parts } => return self.merge(parts, delivery),
            _ => {}
        }
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
            Goal::Reports | Goal::Summary { .. } => true,
            _ => adhoc.as_ref().is_some_and(|t| t.kind == TemplateKind::Job),
        };
        let estate = estate::read(
            &source.dir,
            &ReadOptions {
                // The job history (every day of the job lists) is counted only for the summary.
                jobs: jobs
                    .then(|| estate::JobFilter::of(&window, matches!(goal, Goal::Reports | Goal::Summary { .. }))),
                account: cfg.account.clone(),
                region: cfg.region.clone(),
                ..ReadOptions::default()
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

        // 3. frames: only the job reports read them (Polars joins the job windows with plan
        // rules, vaults and recovery points); the controls read the typed estate.
        let t = Instant::now();
        let needs_jobs = match goal {
            Goal::Reports => planned.iter().any(|p| p.template.kind == TemplateKind::Job),
            _ => adhoc.as_ref().is_some_and(|t| t.kind == TemplateKind::Job),
        };
        let job_frames = match needs_jobs {
            true => Some(reports::job_report::build(&frames::build(&estate)?)?),
            false => None,
        };
        timings.frames = t.elapsed();

        // 4. evaluate: frameworks checked and the estate indexed here; the controls themselves
        // run while the reports stream (5 and 6), or at once for `evaluate`.
        let t = Instant::now();
        let needs_controls = match goal {
            Goal::Reports => planned.iter().any(|p| p.template.kind == TemplateKind::Compliance),
            Goal::Report { .. } => adhoc.as_ref().is_some_and(|t| t.kind == TemplateKind::Compliance),
            _ => true,
        };
        let specs = if needs_controls { controls::spec::built_in()? } else { Vec::new() };
        let (runs, framework_errors) = match needs_controls {
            true => controls::frameworks_to_run(&estate, &cfg.framework_names, &cfg.framework_files)?,
            false => (Vec::new(), Vec::new()),
        };
        timings.evaluate = t.elapsed();

        // Resources no plan selects, for the summary: read off the controls' index.
        let mut coverage = None;
        let evaluation = match goal {
            Goal::Summary { .. } => {
                let t = Instant::now();
                let evaluator = Evaluator::new(&estate, &runs, &specs, source.now);
                coverage = Some(summary::coverage(evaluator.index()));
                let mut findings = Findings::default();
                let evaluation = evaluator.stream(|_, _, v| Findings::pick(&v), |i, unit, p| findings.add(i, unit, p));
                timings.evaluate += t.elapsed();
                Some((evaluation, findings))
            }
            Goal::Evaluate(format) => {
                let t = Instant::now();
                let (evaluation, verdicts) = controls::evaluate(&estate, &runs, &specs, source.now);
                timings.evaluate += t.elapsed();
                let t = Instant::now();
                let ctx = (&estate, source.now, window.period());
                let text = match format {
                    EvaluateFormat::Table => {
                        reports::assessment::table(&estate, &evaluation, &verdicts, 10).into_bytes()
                    }
                    EvaluateFormat::Json => reports::assessment::json(ctx, &evaluation, &verdicts, cfg.encode)?,
                    EvaluateFormat::Csv => reports::assessment::csv(ctx, &evaluation, &verdicts, cfg.encode)?,
                };
                timings.render = t.elapsed();
                let sink = delivery.fixed().ok_or_else(|| Problem::setup("evaluate needs one destination"))?;
                let body = reports::encode::Body { slices: vec![&text], rows: 0 };
                sink.put("evaluate", &body, "text/plain; charset=utf-8")?;
                Some((evaluation, Findings::default()))
            }
            Goal::Reports | Goal::Report { .. } => {
                // 5. render and 6. deliver, streamed: one target per plan (or the ad-hoc report).
                let mut targets = Vec::new();
                let mut owners = Vec::new();
                let mut plan_outcomes: Vec<PlanOutcome> = planned.iter().map(PlanOutcome::planned).collect();
                match &adhoc {
                    Some(template) => {
                        let format = match goal {
                            Goal::Report { format, .. } => *format,
                            _ => unreachable!("an ad-hoc template comes with Goal::Report"),
                        };
                        let sink =
                            delivery.fixed().ok_or_else(|| Problem::setup("an ad-hoc report needs one destination"))?;
                        let key = format!(
                            "{}_{}_{}.{}",
                            template.name,
                            time::format_seconds(window.start),
                            time::format_seconds(window.end),
                            format.extension()
                        );
                        targets.push(deliver::Target {
                            plan: None,
                            template,
                            files: vec![(format, key)],
                            sink,
                            max_bytes: usize::MAX,
                        });
                    }
                    None => {
                        for (i, p) in planned.iter().enumerate() {
                            match delivery.sink_for(&p.plan) {
                                Ok(sink) => {
                                    let files = p.formats.iter().map(|&f| (f, p.key(f, window.period()))).collect();
                                    targets.push(deliver::Target {
                                        plan: Some(p),
                                        template: &p.template,
                                        files,
                                        sink,
                                        max_bytes: cfg.max_object_bytes,
                                    });
                                    owners.extend(p.formats.iter().map(|_| i));
                                }
                                Err(e) => {
                                    let plan = &mut plan_outcomes[i];
                                    plan.status = PlanStatus::Failed;
                                    plan.errors.push(crate::problem::DisplayChain(&e).to_string());
                                    outcome.problems.push(Problem::Deliver(e));
                                }
                            }
                        }
                    }
                }
                let evaluator = needs_controls.then(|| Evaluator::new(&estate, &runs, &specs, source.now));
                coverage = evaluator.as_ref().map(|e| summary::coverage(e.index()));
                let cx =
                    deliver::Context { estate: &estate, now: source.now, period: window.period(), encode: cfg.encode };
                let t = Instant::now();
                let before = (timings.evaluate, timings.render);
                let (evaluation, files) = crate::sinks::stream::with_writers(|w| {
                    deliver::stream(w, &cx, &targets, job_frames.as_ref(), evaluator, &mut timings)
                });
                let evaluation = evaluation?;
                // The writers run beside rendering; `write` is what was left after the last row.
                timings.write = t.elapsed().saturating_sub((timings.evaluate - before.0) + (timings.render - before.1));
                // Objects, by plan (or the ad-hoc report).
                record_files(files, &owners, &mut plan_outcomes, &mut outcome)?;
                for (plan, p) in plan_outcomes.iter_mut().zip(&planned) {
                    let missing = missing_inputs(p, &estate.not_collected);
                    if !missing.is_empty() && plan.status == PlanStatus::Delivered {
                        plan.status = PlanStatus::Incomplete;
                    }
                    plan.errors.extend(missing);
                }
                outcome.plans.extend(plan_outcomes);
                outcome.plans.sort_by(|a, b| (&a.name, &a.account, &a.region).cmp(&(&b.name, &b.account, &b.region)));
                outcome.delivered.sort_by(|a, b| a.location.cmp(&b.location));
                evaluation
            }
            Goal::Snapshot | Goal::Plan { .. } | Goal::Shard { .. } | Goal::Merge { .. } => {
                unreachable!("these goals returned before the estate stage")
            }
        };

        let mut evaluation = evaluation;
        if let Some((evaluation, _)) = evaluation.as_mut() {
            evaluation.errors.splice(0..0, framework_errors);
            outcome.non_compliant = evaluation.any_non_compliant();
            outcome.warnings.extend(evaluation.warnings.iter().cloned());
            outcome.problems.extend(std::mem::take(&mut evaluation.errors).into_iter().map(Problem::Evaluate));
            // A command the collector left out is missing evidence once a control that needs it
            // is evaluated in that account and region (a framework file added after collection).
            for k in &estate.skipped {
                let needed = evaluation.results.iter().any(|r| {
                    let id = &estate.scopes[r.unit.scope].id;
                    id.account == k.account && id.region == k.region && r.unit.control.needs(k.dataset)
                });
                if needed {
                    outcome.problems.push(Problem::NotCollected(k.clone()));
                }
            }
        } else {
            outcome.problems.extend(framework_errors.into_iter().map(Problem::Evaluate));
        }
        // Problems are the front doors' to report (the command prints them, the Lambda returns
        // them); warnings are only logged.
        for w in &outcome.warnings {
            warn!("{w}");
        }

        // 7. summary (for `run` and `summary`), from what the stages produced.
        if matches!(goal, Goal::Reports | Goal::Summary { .. }) {
            let t = Instant::now();
            let coverage = match coverage {
                Some(c) => c,
                None => summary::coverage(&controls::index::Index::build(&estate, source.now)),
            };
            let not_collected = outcome
                .problems
                .iter()
                .filter(|p| p.kind() == Kind::NotCollected)
                .map(|p| crate::problem::DisplayChain(p).to_string())
                .collect();
            let s = summary::build(&estate, &window, evaluation.as_ref().map(|(e, f)| (e, f)), coverage, not_collected);
            let page = summary::html::render(&s);
            outcome.summary = Some(s);
            timings.render += t.elapsed();
            let t = Instant::now();
            let body = reports::encode::Body { slices: vec![page.as_bytes()], rows: 0 };
            let (key, roots) = match goal {
                Goal::Summary { key } => {
                    let sink = delivery.fixed().ok_or_else(|| Problem::setup("a summary needs one destination"))?;
                    (key.clone(), vec![sink])
                }
                _ => (summary::key(window.period()), roots(delivery, &planned)),
            };
            for sink in roots {
                match sink.put(&key, &body, crate::sinks::content_type("html")) {
                    Ok(()) => outcome.summaries.push(sink.location(&key)),
                    Err(e) => match goal {
                        Goal::Summary { .. } => return Err(Problem::Deliver(e)),
                        _ => outcome.problems.push(Problem::Deliver(e)),
                    },
                }
            }
            timings.write += t.elapsed();
        }

        // 8. manifest (for `run`), last, to every root, so its presence means the run finished.
        if let Goal::Reports = goal {
            outcome.timings = timings;
            write_manifest(&mut outcome, delivery, &planned, window);
            timings = outcome.timings;
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

    /// Runs `future` on the caller's tokio runtime (the Lambda's) or a new one.
    fn block_on<F: std::future::Future>(&self, future: F) -> Result<F::Output, Problem> {
        Ok(match tokio::runtime::Handle::try_current() {
            Ok(handle) => handle.block_on(future),
            Err(_) => tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .map_err(|e| Problem::setup(format!("cannot start the async runtime: {e}")))?
                .block_on(future),
        })
    }

    /// Collects the estate into `dir`, on the caller's tokio runtime (the Lambda's) or a new one.
    fn collect(&self, opts: &collect::CollectOptions, dir: &Path) -> Result<Collected, Problem> {
        let started = Instant::now();
        let collected = self.block_on(collect::collect(opts, dir, self.progress.clone()))??;
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
}

/// Records the objects of `files` (streamed in plan order, `owners[n]` the plan of file `n`)
/// in the outcome and in their plans' outcomes. A file without a plan (an ad-hoc report)
/// that failed stops the run.
fn record_files(
    files: Vec<crate::sinks::stream::FileWritten>,
    owners: &[usize],
    plan_outcomes: &mut [PlanOutcome],
    outcome: &mut Outcome,
) -> Result<(), Problem> {
    for (n, file) in files.into_iter().enumerate() {
        let parts = file.parts.len();
        let mut delivered = Vec::new();
        let mut errors = Vec::new();
        for part in file.parts {
            match part {
                Ok(w) => delivered.push(Delivered {
                    plan: file.info.plan.clone(),
                    template: file.info.template.clone(),
                    format: file.info.format,
                    key: w.key,
                    location: w.location,
                    part: w.part,
                    parts,
                    rows: w.rows,
                    bytes: w.bytes,
                    sha256: w.sha256,
                }),
                Err(e) => errors.push(e),
            }
        }
        match owners.get(n) {
            Some(&i) => {
                let plan = &mut plan_outcomes[i];
                plan.objects += delivered.len();
                if !errors.is_empty() {
                    plan.status = PlanStatus::Failed;
                    plan.errors.extend(errors.iter().map(|e| crate::problem::DisplayChain(e).to_string()));
                    outcome.problems.extend(errors.into_iter().map(Problem::Deliver));
                }
            }
            None => {
                if let Some(e) = errors.into_iter().next() {
                    return Err(Problem::Deliver(e));
                }
            }
        }
        outcome.delivered.extend(delivered);
    }
    Ok(())
}

/// Stage 8: the run manifest, last, to every root the run wrote to.
fn write_manifest(
    outcome: &mut Outcome,
    delivery: &Delivery,
    planned: &[PlannedReport],
    window: crate::window::Window,
) {
    let t = Instant::now();
    let manifest = outcome.manifest().to_json();
    let key = crate::manifest::key(window.period());
    let body = reports::encode::Body { slices: vec![&manifest], rows: 0 };
    for sink in roots(delivery, planned) {
        match sink.put(&key, &body, crate::sinks::content_type("json")) {
            Ok(()) => outcome.manifests.push(sink.location(&key)),
            Err(e) => outcome.problems.push(Problem::Deliver(e)),
        }
    }
    outcome.timings.write += t.elapsed();
}

/// Every root a run writes to: the fixed destination, then each plan's, once each.
fn roots(delivery: &Delivery, planned: &[PlannedReport]) -> Vec<Arc<dyn Sink>> {
    let mut roots: Vec<Arc<dyn Sink>> = delivery.fixed().into_iter().collect();
    for p in planned {
        if let Ok(sink) = delivery.sink_for(&p.plan)
            && !roots.iter().any(|r| r.root() == sink.root())
        {
            roots.push(sink);
        }
    }
    roots
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
