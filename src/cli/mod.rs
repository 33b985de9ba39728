//! The `backup-audit` command's front door (part of the binary, not the library): arguments
//! ([`args`]) in, one [`Config`], [`Goal`] and [`Delivery`] out; and what the command prints
//! from the [`Outcome`].

pub mod args;

use std::io::Write;

use backup_audit::collect::{Progress, Quiet, TerminalProgress};
use backup_audit::parts::PartsStore;
use backup_audit::pipeline::{EvaluateFormat, Goal, Outcome, ShardScopes, ShardStep};
use backup_audit::problem::{DisplayChain, Kind};
use backup_audit::sinks::{self, Delivery, LocalDir, Stdout};
use backup_audit::time::Millis;
use backup_audit::{AwsSource, Config, Source};

use args::{AwsArgs, Command, ControlsAction, S3Args, SourceArgs};

/// A failure before the pipeline runs: the exit code and the message.
pub type Failure = (u8, String);

/// What one command asks the pipeline for.
pub struct Job {
    pub config: Config,
    pub goal: Goal,
    pub delivery: Delivery,
    pub fail_on_noncompliant: bool,
    /// List every object written (`run --verbose`).
    pub verbose: bool,
    /// The tokio runtime that S3 uploads block on, kept alive as long as the delivery.
    pub _runtime: Option<tokio::runtime::Runtime>,
    /// The runtime that the parts' S3 requests block on (`merge` from S3).
    pub _parts_runtime: Option<tokio::runtime::Runtime>,
}

/// Translates a command into a pipeline job; `Ok(None)` when the command is not a pipeline run
/// (`controls`, `generate`) and has already done its work.
pub fn job(command: Command) -> Result<Option<Job>, Failure> {
    let mut verbose = false;
    let mut parts_rt = None;
    let (config, goal, (delivery, runtime), fail) = match command {
        Command::Run(a) => {
            verbose = a.reports.verbose;
            let mut config = config(&a.source)?;
            let delivery = delivery(a.reports.out.as_deref(), &a.s3, &a.source.aws)?;
            reports(&mut config, a.reports);
            (config, Goal::Reports, delivery, a.fail_on_noncompliant)
        }
        Command::Report(a) => {
            let to: Delivery = if a.out == "-" { Delivery::to(Stdout) } else { Delivery::to(LocalDir::new(&a.out)) };
            let goal = Goal::Report { template: a.template, format: a.format.into() };
            (config(&a.source)?, goal, (to, None), false)
        }
        Command::Evaluate(a) => {
            let format = match a.format {
                args::EvaluateFormat::Table => EvaluateFormat::Table,
                args::EvaluateFormat::Json => EvaluateFormat::Json,
                args::EvaluateFormat::Csv => EvaluateFormat::Csv,
            };
            (config(&a.source)?, Goal::Evaluate(format), (Delivery::to(Stdout), None), a.fail_on_noncompliant)
        }
        Command::Summary(a) => {
            let (to, key): (Delivery, String) = if a.out == "-" {
                (Delivery::to(Stdout), "-".into())
            } else {
                let path = std::path::Path::new(&a.out);
                let bad = || (2, format!("--out `{}`: expected a file name such as summary.html, or `-`", a.out));
                if a.out.ends_with(std::path::MAIN_SEPARATOR) || path.is_dir() {
                    return Err(bad());
                }
                let name = path.file_name().and_then(|n| n.to_str()).filter(|n| !n.is_empty()).ok_or_else(bad)?;
                let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
                (Delivery::to(LocalDir::beside(dir)), name.to_string())
            };
            (config(&a.source)?, Goal::Summary { key }, (to, None), false)
        }
        Command::Snapshot(a) => {
            let aws = AwsSource { collect: a.aws.collect(0), snapshot_dir: Some(a.out) };
            let config = Config { now: a.now, ..Config::new(Source::Aws(aws)) };
            (config, Goal::Snapshot, (Delivery::to(Stdout), None), false)
        }
        Command::Plan(a) => {
            let (parts, runtime) = parts_store(&a.parts, &a.s3, &a.source.aws)?;
            (config(&a.source)?, Goal::Plan { parts }, (Delivery::to(Stdout), runtime), false)
        }
        Command::Shard(a) => {
            let (parts, runtime) = parts_store(&a.parts, &a.s3, &a.source.aws)?;
            let scopes = match a.shard {
                Some((index, count)) => ShardScopes::Modulo { index, count },
                None => ShardScopes::Listed {
                    accounts: a.source.aws.accounts.clone(),
                    regions: a.source.aws.regions.clone(),
                },
            };
            let step = match a.step {
                None => ShardStep::Whole,
                Some(args::Step::Collect) => ShardStep::Collect,
                Some(args::Step::Evaluate) => ShardStep::Evaluate,
            };
            (config(&a.source)?, Goal::Shard { parts, scopes, step }, (Delivery::to(Stdout), runtime), false)
        }
        Command::Merge(a) => {
            verbose = a.reports.verbose;
            let (parts, parts_runtime) = parts_store(&a.parts, &a.s3, &a.aws)?;
            let mut config = Config::new(Source::Snapshot(a.parts.clone().into()));
            let (delivery, runtime) = delivery(a.reports.out.as_deref(), &a.s3, &a.aws)?;
            reports(&mut config, a.reports);
            parts_rt = parts_runtime;
            (config, Goal::Merge { parts }, (delivery, runtime), false)
        }
        Command::Controls(a) => return controls(a.action).map(|()| None),
        Command::Generate(a) => return generate(a).map(|()| None),
    };
    Ok(Some(Job {
        config,
        goal,
        delivery,
        fail_on_noncompliant: fail,
        verbose,
        _runtime: runtime,
        _parts_runtime: parts_rt,
    }))
}

/// The report plans of `run` and `merge` into the configuration.
fn reports(config: &mut Config, a: args::ReportsArgs) {
    config.report_plan_files = a.report_plan_files;
    config.report_plan_names = a.report_plans;
    config.max_object_bytes = a.max_object_bytes.max(1);
}

/// The run configuration of the source arguments.
fn config(s: &SourceArgs) -> Result<Config, Failure> {
    let source = if s.source.as_os_str() == "aws" {
        let mut collect = s.aws.collect(0);
        if collect.regions.is_empty() {
            collect.regions.extend(s.region.clone());
        }
        // A framework file may have the restore-time control in any account and region.
        collect.all_details |= !s.framework_files.is_empty();
        Source::Aws(AwsSource { collect, snapshot_dir: s.aws.snapshot_dir.clone() })
    } else {
        Source::Snapshot(s.source.clone())
    };
    let mut config = Config::new(source);
    config.now = s.now;
    config.window = s.window().map_err(|m| (2, m))?;
    config.encode = s.encode();
    config.account = s.account.clone();
    config.region = s.region.clone();
    config.framework_names = s.frameworks.clone();
    config.framework_files = s.framework_files.clone();
    Ok(config)
}

/// The parts of `--parts` (a folder or `s3://bucket/prefix`), and the runtime S3 blocks on.
fn parts_store(
    parts: &str,
    s3: &S3Args,
    aws: &AwsArgs,
) -> Result<(PartsStore, Option<tokio::runtime::Runtime>), Failure> {
    match sinks::s3::parse_url(parts) {
        None => Ok((PartsStore::local(parts), None)),
        Some(Err(message)) => Err((2, format!("--parts {message}"))),
        Some(Ok((bucket, prefix))) => {
            let (sinks, runtime) = s3_sinks(s3, aws)?;
            Ok((PartsStore::s3(sinks.bucket(&bucket, &prefix)), Some(runtime)))
        }
    }
}

/// An S3 client for the S3 arguments, and the runtime it blocks on.
fn s3_sinks(s3: &S3Args, aws: &AwsArgs) -> Result<(sinks::S3Sinks, tokio::runtime::Runtime), Failure> {
    let options = s3.options().map_err(|m| (2, m))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| (1, format!("cannot start the async runtime: {e}")))?;
    let client = runtime.block_on(sinks::s3::client(&s3.aws(aws)));
    if client.config().region().is_none() {
        return Err((2, "delivering to S3 needs a region: set AWS_REGION, a profile region, or --s3-region".into()));
    }
    Ok((sinks::S3Sinks::new(client, runtime.handle().clone(), options), runtime))
}

/// The delivery of `--out`, and the tokio runtime that S3 uploads block on.
fn delivery(
    out: Option<&str>,
    s3: &S3Args,
    aws: &AwsArgs,
) -> Result<(Delivery, Option<tokio::runtime::Runtime>), Failure> {
    let s3_target = match out.map(|o| (o, sinks::s3::parse_url(o))) {
        Some((out, None)) => return Ok((Delivery::to(LocalDir::new(out)), None)),
        Some((_, Some(Err(message)))) => return Err((2, format!("--out {message}"))),
        Some((_, Some(Ok(target)))) => Some(target),
        None => None,
    };
    let (sinks, runtime) = s3_sinks(s3, aws)?;
    let delivery = match s3_target {
        Some((bucket, prefix)) => Delivery::to(sinks.bucket(&bucket, &prefix)),
        None => Delivery::to_plan_buckets(sinks),
    };
    Ok((delivery, Some(runtime)))
}

/// Progress bars only on a terminal; elsewhere (cron, Lambda, pipes) the tracing lines.
pub fn progress() -> std::sync::Arc<dyn Progress> {
    if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        std::sync::Arc::new(TerminalProgress::default())
    } else {
        std::sync::Arc::new(Quiet)
    }
}

/// Prints what the command reports on standard output and its problems on standard error.
///
/// `run` prints the summary's short table and where the summary and manifest went; the list of
/// objects only with `--verbose` (the manifest lists them all).
pub fn print(goal: &Goal, outcome: &Outcome, verbose: bool) {
    let mut out = std::io::stdout().lock();
    match goal {
        Goal::Plan { .. } | Goal::Shard { .. } => {
            for p in &outcome.parts {
                let _ = writeln!(out, "wrote {p}");
            }
        }
        Goal::Reports | Goal::Report { .. } | Goal::Merge { .. } => {
            let list = verbose || matches!(goal, Goal::Report { .. });
            for d in outcome.delivered.iter().filter(|d| d.location != "-" && list) {
                let _ = writeln!(out, "{:>7} rows {:>10} bytes  {}", d.rows, d.bytes, d.location);
            }
            if let Some(s) = &outcome.summary {
                let _ = write!(out, "{}", s.terminal());
                let bytes: usize = outcome.delivered.iter().map(|d| d.bytes).sum();
                let _ = writeln!(out, "reports: {} objects, {bytes} bytes", outcome.delivered.len());
            }
            for m in &outcome.summaries {
                let _ = writeln!(out, "summary   {m}");
            }
            for m in &outcome.manifests {
                let _ = writeln!(out, "manifest  {m}");
            }
        }
        Goal::Summary { .. } => {
            for m in outcome.summaries.iter().filter(|m| *m != "-") {
                let _ = writeln!(out, "summary   {m}");
            }
        }
        Goal::Snapshot => {
            let c = outcome.collected.clone().unwrap_or_default();
            let (files, bytes, scopes, requests) = (c.files, c.bytes, c.scopes, c.requests);
            let dir = outcome.source.location.display();
            let _ = writeln!(
                out,
                "wrote {files} files, {bytes} bytes from {scopes} account/region(s) in {requests} requests to {dir}"
            );
        }
        Goal::Evaluate(_) => {}
    }
    for p in &outcome.problems {
        let label = if p.kind() == Kind::NotCollected { "warning" } else { "error" };
        eprintln!("{label}: {}", DisplayChain(p));
    }
    let partial = outcome.problems.iter().filter(|p| p.kind() == Kind::NotCollected).count();
    if partial > 0 && matches!(goal, Goal::Reports | Goal::Merge { .. }) {
        eprintln!(
            "warning: partial data: {partial} part(s) of the estate were not collected; controls report INSUFFICIENT_DATA for them and the manifest lists them"
        );
    }
    let t = outcome.timings;
    let jobs = |name: &str| {
        let tiles = outcome.summary.as_ref().map(|s| &s.tiles.jobs);
        tiles.and_then(|j| j.iter().find(|c| c.name == name)).map(|c| c.count)
    };
    tracing::info!(
        reports = outcome.delivered.len(),
        window_start = %backup_audit::time::format_seconds(outcome.window.start),
        window_end = %backup_audit::time::format_seconds(outcome.window.end),
        jobs_completed = jobs("completed"),
        jobs_completed_with_issues = jobs("completed_with_issues"),
        jobs_failed = jobs("failed"),
        jobs_aborted = jobs("aborted"),
        jobs_expired = jobs("expired"),
        jobs_running = jobs("running"),
        collect_ms = t.collect.as_millis() as u64,
        load_ms = t.load.as_millis() as u64,
        frames_ms = t.frames.as_millis() as u64,
        evaluate_ms = t.evaluate.as_millis() as u64,
        render_ms = t.render.as_millis() as u64,
        write_ms = t.write.as_millis() as u64,
        "run finished"
    );
}

/// `backup-audit controls`: lists the built-in controls, or checks definition files.
fn controls(action: Option<ControlsAction>) -> Result<(), Failure> {
    use backup_audit::controls::spec;
    let specs = match &action {
        None | Some(ControlsAction::Check { dir: None }) => spec::built_in(),
        Some(ControlsAction::Check { dir: Some(d) }) => spec::read_dir(d),
    }
    .map_err(|e| (2, DisplayChain(&e).to_string()))?;
    let text = match action {
        None => backup_audit::reports::assessment::controls(&specs),
        Some(_) => format!("{} control definitions are valid\n", specs.len()),
    };
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
    Ok(())
}

/// `backup-audit generate`: a synthetic estate snapshot.
fn generate(a: args::GenerateArgs) -> Result<(), Failure> {
    use backup_audit::generate::{self, GenerateOptions};
    let opts = GenerateOptions {
        out: a.out,
        accounts: a.accounts,
        regions: a.regions,
        resources: a.resources,
        days: a.days,
        seed: a.seed,
        now: a.now.unwrap_or(generate::DEMO_NOW),
        backup_jobs: a.backup_jobs,
        copy_jobs: a.copy_jobs,
        restore_jobs: a.restore_jobs,
        max_recovery_points: a.max_recovery_points,
        recovery_points: a.recovery_points,
        frameworks: a.frameworks,
        page_size: a.page_size,
    };
    let s =
        generate::generate(&opts).map_err(|e| (2, format!("cannot generate into `{}`: {e}", opts.out.display())))?;
    println!(
        "wrote {} files, {} bytes: {} backup, {} copy, {} restore jobs",
        s.files, s.bytes, s.backup_jobs, s.copy_jobs, s.restore_jobs
    );
    Ok(())
}

/// The one place the command reads the wall clock.
#[expect(clippy::disallowed_methods, reason = "the front door is where the clock becomes an input")]
pub fn clock() -> Millis {
    chrono::Utc::now().timestamp_millis()
}
