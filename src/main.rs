//! The `backup-audit` command: parses arguments, reads the clock once, calls the library.

use std::io::Write;
use std::process::ExitCode;

use backup_audit::cli::{self, AwsArgs, Cli, Command, ControlsAction, EvaluateFormat, LogFormat, S3Args, SourceArgs};
use backup_audit::{DisplayChain, RunConfig, collect, estate, generate, sinks};
use clap::Parser;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format, &cli.log_level);
    if let Err(e) = backup_audit::cleanup::install_signal_handler() {
        tracing::warn!("cannot install the SIGINT/SIGTERM handler: {e}");
    }
    match dispatch(cli.command) {
        Ok(code) => ExitCode::from(code),
        Err((code, message)) => {
            eprintln!("error: {message}");
            ExitCode::from(code)
        }
    }
}

fn init_logging(format: LogFormat, level: &str) {
    let filter =
        tracing_subscriber::EnvFilter::try_new(level).unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false);
    match format {
        LogFormat::Text => builder.with_ansi(colour(std::env::var_os("NO_COLOR"))).init(),
        LogFormat::Json => builder.with_ansi(false).json().init(),
    }
}

/// Colour only on a terminal, and not when `NO_COLOR` is set to anything (no-color.org): cron
/// mail, journald and CloudWatch get plain text.
fn colour(no_color: Option<std::ffi::OsString>) -> bool {
    std::io::IsTerminal::is_terminal(&std::io::stderr()) && no_color.is_none_or(|v| v.is_empty())
}

type Failure = (u8, String);

/// The delivery of `--out`, and the tokio runtime that S3 uploads block on (kept alive as long
/// as the delivery).
fn delivery(
    out: Option<&str>,
    s3: &S3Args,
    aws: &AwsArgs,
) -> Result<(sinks::Delivery, Option<tokio::runtime::Runtime>), Failure> {
    let s3_target = match out {
        Some(out) => match sinks::s3::parse_url(out) {
            None => return Ok((sinks::Delivery::to(sinks::LocalDir::new(out)), None)),
            Some(Err(message)) => return Err((2, format!("--out {message}"))),
            Some(Ok(target)) => Some(target),
        },
        None => None,
    };
    let options = s3.options().map_err(|m| (2, m))?;
    let runtime = runtime()?;
    let client = runtime.block_on(sinks::s3::client(&s3.aws(aws)));
    if client.config().region().is_none() {
        return Err((2, "delivering to S3 needs a region: set AWS_REGION, a profile region, or --s3-region".into()));
    }
    let sinks = sinks::S3Sinks::new(client, runtime.handle().clone(), options);
    let delivery = match s3_target {
        Some((bucket, prefix)) => sinks::Delivery::to(sinks.bucket(&bucket, &prefix)),
        None => sinks::Delivery::to_plan_buckets(sinks),
    };
    Ok((delivery, Some(runtime)))
}

fn fail(e: &backup_audit::Error) -> Failure {
    (e.exit_code(), DisplayChain(e).to_string())
}

/// The one place that reads the system clock.
#[expect(clippy::disallowed_methods, reason = "main.rs is where the clock becomes an input")]
fn clock() -> backup_audit::time::Millis {
    chrono::Utc::now().timestamp_millis()
}

/// A run's configuration, and the temporary snapshot of a live collection (deleted on drop,
/// and on SIGINT or SIGTERM through its registration).
struct Configured {
    cfg: RunConfig,
    _temporary: Option<backup_audit::cleanup::TemporarySnapshot>,
}

/// The run configuration. With `--source aws` the estate is first collected into a snapshot
/// folder (`--snapshot-dir`, or a temporary one), which the run then reads.
fn config(s: &SourceArgs) -> Result<Configured, Failure> {
    if !cli::is_live(&s.source) {
        let now = match s.now {
            Some(t) => t,
            None => estate::snapshot::collected_at(&s.source)
                .map_err(|e| (2, DisplayChain(&e).to_string()))?
                .unwrap_or_else(clock),
        };
        return Ok(Configured { cfg: s.config(now).map_err(|m| (2, m))?, _temporary: None });
    }
    let now = s.now.unwrap_or_else(clock);
    let (dir, temporary) = match &s.aws.snapshot_dir {
        Some(d) => (d.clone(), None),
        None => {
            let t = backup_audit::cleanup::TemporarySnapshot::create()
                .map_err(|e| (1, format!("cannot create a temporary snapshot folder: {e}")))?;
            (t.path().to_path_buf(), Some(t))
        }
    };
    let mut opts = s.aws.collect(now);
    if opts.regions.is_empty() {
        opts.regions.extend(s.region.clone());
    }
    collect_into(&opts, &dir)?;
    let mut cfg = s.config(now).map_err(|m| (2, m))?;
    cfg.source = dir;
    cfg.live = true;
    Ok(Configured { cfg, _temporary: temporary })
}

/// Collects the estate into `dir` (new or empty) and reports what happened.
fn collect_into(opts: &collect::CollectOptions, dir: &std::path::Path) -> Result<collect::Collected, Failure> {
    if std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_some()) {
        return Err((2, format!("`{}` is not empty; a snapshot goes into a new or empty folder", dir.display())));
    }
    let runtime = runtime()?;
    let started = std::time::Instant::now();
    // Progress bars only on a terminal; elsewhere (cron, Lambda, pipes) the tracing lines.
    let progress: std::sync::Arc<dyn collect::Progress> = if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        std::sync::Arc::new(collect::TerminalProgress::default())
    } else {
        std::sync::Arc::new(collect::Quiet)
    };
    let collected = runtime.block_on(collect::collect(opts, dir, progress)).map_err(|e| {
        let code = match e {
            collect::LiveError::Io { .. } => 1,
            _ => 2,
        };
        (code, DisplayChain(&e).to_string())
    })?;
    tracing::info!(
        scopes = collected.scopes,
        files = collected.files,
        bytes = collected.bytes,
        requests = collected.requests,
        retries = collected.retries,
        failures = collected.failures.len(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        snapshot = %dir.display(),
        "collected the estate"
    );
    for f in &collected.failures {
        eprintln!("warning: {f}");
    }
    Ok(collected)
}

fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| (1, format!("cannot start the async runtime: {e}")))
}

fn dispatch(command: Command) -> Result<u8, Failure> {
    match command {
        Command::Run(args) => {
            let configured = config(&args.source)?;
            let mut cfg = configured.cfg;
            cfg.report_plan_files = args.report_plan_files;
            cfg.report_plan_names = args.report_plans;
            cfg.max_object_bytes = args.max_object_bytes.max(1);
            let delivery = delivery(args.out.as_deref(), &args.s3, &args.source.aws)?;
            let outcome = backup_audit::run(&cfg, &delivery.0).map_err(|e| fail(&e))?;
            let mut out = std::io::stdout().lock();
            for d in &outcome.delivered {
                let _ = writeln!(out, "{:>7} rows {:>10} bytes  {}", d.rows, d.bytes, d.location);
            }
            for m in &outcome.manifests {
                let _ = writeln!(out, "manifest                    {m}");
            }
            for e in outcome.plan_errors.iter().chain(&outcome.evaluation_errors).chain(&outcome.delivery_errors) {
                eprintln!("error: {e}");
            }
            let partial = outcome.collection_failures.len() + outcome.not_collected.len();
            if partial > 0 {
                eprintln!(
                    "warning: partial data: {partial} part(s) of the estate were not collected; controls report INSUFFICIENT_DATA for them and the manifest lists them"
                );
            }
            let t = outcome.timings;
            tracing::info!(
                reports = outcome.delivered.len(),
                window_start = %backup_audit::time::format_seconds(outcome.window.start),
                window_end = %backup_audit::time::format_seconds(outcome.window.end),
                load_ms = t.load.as_millis() as u64,
                frames_ms = t.frames.as_millis() as u64,
                evaluate_ms = t.evaluate.as_millis() as u64,
                render_ms = t.render.as_millis() as u64,
                write_ms = t.write.as_millis() as u64,
                "run finished"
            );
            Ok(outcome.exit_code(args.fail_on_noncompliant))
        }
        Command::Report(args) => {
            let configured = config(&args.source)?;
            let cfg = &configured.cfg;
            let (file, not_collected) =
                backup_audit::report(cfg, &args.template, args.format.into()).map_err(|e| fail(&e))?;
            for n in &not_collected {
                eprintln!("warning: {n}");
            }
            if args.out == "-" {
                let mut out = std::io::stdout().lock();
                for slice in &file.rendered.body().slices {
                    out.write_all(slice).map_err(|e| (1, format!("cannot write to standard output: {e}")))?;
                }
            } else {
                use backup_audit::sinks::Sink;
                let sink = sinks::LocalDir::new(&args.out);
                let content_type = sinks::content_type(file.format.extension());
                sink.put(&file.key, &file.rendered.body(), content_type)
                    .map_err(|e| (1, DisplayChain(&e).to_string()))?;
                println!(
                    "{:>7} rows {:>10} bytes  {}",
                    file.rendered.rows,
                    file.rendered.len(),
                    sink.location(&file.key)
                );
            }
            // A report built from inputs that were not all collected is partial data.
            Ok(if not_collected.is_empty() { 0 } else { 4 })
        }
        Command::Evaluate(args) => {
            let configured = config(&args.source)?;
            let cfg = &configured.cfg;
            let a = backup_audit::assess(cfg).map_err(|e| fail(&e))?;
            let mut out = std::io::stdout().lock();
            let text = match args.format {
                EvaluateFormat::Table => {
                    backup_audit::reports::summary::table(&a.estate, &a.evaluation, 10).into_bytes()
                }
                EvaluateFormat::Json => backup_audit::reports::summary::json(&a, cfg.encode).map_err(|e| fail(&e))?,
                EvaluateFormat::Csv => backup_audit::reports::summary::csv(&a, cfg.encode).map_err(|e| fail(&e))?,
            };
            out.write_all(&text).map_err(|e| (1, format!("cannot write to standard output: {e}")))?;
            for e in &a.evaluation.errors {
                eprintln!("error: {e}");
            }
            for w in &a.evaluation.warnings {
                tracing::warn!("{w}");
            }
            for f in &a.estate.collection_failures {
                eprintln!("warning: {f}");
            }
            for n in &a.estate.not_collected {
                eprintln!("warning: {n}");
            }
            Ok(if !a.evaluation.errors.is_empty() {
                2
            } else if args.fail_on_noncompliant && a.evaluation.any_non_compliant() {
                3
            } else if !a.estate.collection_failures.is_empty() || !a.estate.not_collected.is_empty() {
                4
            } else {
                0
            })
        }
        Command::Controls(args) => {
            let listing = args.action.is_none();
            let specs = match args.action {
                None => backup_audit::controls::spec::built_in(),
                Some(ControlsAction::Check { dir: None }) => backup_audit::controls::spec::built_in(),
                Some(ControlsAction::Check { dir: Some(d) }) => backup_audit::controls::spec::read_dir(&d),
            }
            .map_err(|e| (2, DisplayChain(&e).to_string()))?;
            let mut out = std::io::stdout().lock();
            if !listing {
                let _ = writeln!(out, "{} control definitions are valid", specs.len());
            } else {
                let _ = out.write_all(backup_audit::reports::summary::controls(&specs).as_bytes());
            }
            Ok(0)
        }
        Command::Snapshot(a) => {
            let collected = collect_into(&a.aws.collect(a.now.unwrap_or_else(clock)), &a.out)?;
            println!(
                "wrote {} files, {} bytes from {} account/region(s) in {} requests to {}",
                collected.files,
                collected.bytes,
                collected.scopes,
                collected.requests,
                a.out.display()
            );
            Ok(if collected.failures.is_empty() { 0 } else { 4 })
        }
        Command::Generate(a) => {
            let opts = generate::GenerateOptions {
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
            let s = generate::generate(&opts)
                .map_err(|e| (2, format!("cannot generate into `{}`: {e}", opts.out.display())))?;
            println!(
                "wrote {} files, {} bytes: {} backup, {} copy, {} restore jobs",
                s.files, s.bytes, s.backup_jobs, s.copy_jobs, s.restore_jobs
            );
            Ok(0)
        }
    }
}
