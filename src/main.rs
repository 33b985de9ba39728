//! The `backup-audit` command: parses arguments, reads the clock once, calls the library.

use std::io::Write;
use std::process::ExitCode;

use backup_audit::cli::{Cli, Command, LogFormat, SourceArgs};
use backup_audit::{DisplayChain, RunConfig, estate, generate, sinks};
use clap::Parser;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format, &cli.log_level);
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
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

type Failure = (u8, String);

fn fail(e: &backup_audit::Error) -> Failure {
    (e.exit_code(), DisplayChain(e).to_string())
}

/// The one place that reads the system clock.
fn config(s: &SourceArgs) -> Result<RunConfig, Failure> {
    let window = s.window().map_err(|m| (2, m))?;
    let now = match s.now {
        Some(t) => t,
        None => match estate::snapshot::collected_at(&s.source).map_err(|e| (2, DisplayChain(&e).to_string()))? {
            Some(t) => t,
            None => chrono::Utc::now().timestamp_millis(),
        },
    };
    Ok(RunConfig {
        source: s.source.clone(),
        now,
        window,
        report_plan_files: Vec::new(),
        encode: s.encode(),
        account: s.account.clone(),
        region: s.region.clone(),
    })
}

fn dispatch(command: Command) -> Result<u8, Failure> {
    match command {
        Command::Run(args) => {
            let mut cfg = config(&args.source)?;
            cfg.report_plan_files = args.report_plan_files;
            let sink = sinks::LocalDir::new(&args.out);
            let outcome = backup_audit::run(&cfg, &sink).map_err(|e| fail(&e))?;
            let mut out = std::io::stdout().lock();
            for d in &outcome.delivered {
                let _ = writeln!(out, "{:>7} rows {:>10} bytes  {}", d.rows, d.bytes, d.location);
            }
            for e in outcome.plan_errors.iter().chain(&outcome.delivery_errors) {
                eprintln!("error: {e}");
            }
            let t = outcome.timings;
            tracing::info!(
                reports = outcome.delivered.len(),
                window_start = %backup_audit::time::format_seconds(outcome.window.start),
                window_end = %backup_audit::time::format_seconds(outcome.window.end),
                load_ms = t.load.as_millis() as u64,
                frames_ms = t.frames.as_millis() as u64,
                render_ms = t.render.as_millis() as u64,
                write_ms = t.write.as_millis() as u64,
                "run finished"
            );
            Ok(outcome.exit_code())
        }
        Command::Report(args) => {
            let cfg = config(&args.source)?;
            let file = backup_audit::report(&cfg, &args.template, args.format.into()).map_err(|e| fail(&e))?;
            if args.out == "-" {
                std::io::stdout()
                    .lock()
                    .write_all(&file.rendered.bytes)
                    .map_err(|e| (1, format!("cannot write to standard output: {e}")))?;
            } else {
                use backup_audit::sinks::Sink;
                let sink = sinks::LocalDir::new(&args.out);
                sink.put(&file.key, &file.rendered.bytes).map_err(|e| (1, DisplayChain(&e).to_string()))?;
                println!(
                    "{:>7} rows {:>10} bytes  {}",
                    file.rendered.rows,
                    file.rendered.bytes.len(),
                    sink.location(&file.key)
                );
            }
            Ok(0)
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
