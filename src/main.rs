//! The `backup-audit` command: parses the arguments ([`cli::args`]), reads the clock once, and
//! runs the library's pipeline. Everything else lives in the library; see `src/lib.rs`.

mod cli;

use std::process::ExitCode;

use backup_audit::pipeline::Pipeline;
use backup_audit::problem::DisplayChain;
use clap::Parser;
use cli::args::{Cli, LogFormat};

fn main() -> ExitCode {
    let cli = cli::args::Cli::parse();
    init_logging(&cli);
    if let Err(e) = backup_audit::cleanup::install_signal_handler() {
        tracing::warn!("cannot install the SIGINT/SIGTERM handler: {e}");
    }
    let job = match cli::job(cli.command) {
        Ok(Some(job)) => job,
        Ok(None) => return ExitCode::SUCCESS,
        Err((code, message)) => return fail(code, &message),
    };
    let pipeline = Pipeline::new(&job.config, cli::clock()).with_progress(cli::progress());
    match pipeline.run(&job.goal, &job.delivery) {
        Ok(outcome) => {
            cli::print(&job.goal, &outcome, job.verbose);
            ExitCode::from(outcome.exit_code(job.fail_on_noncompliant))
        }
        Err(e) => fail(e.exit_code(), &DisplayChain(&e).to_string()),
    }
}

fn fail(code: u8, message: &str) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(code)
}

fn init_logging(cli: &Cli) {
    let filter = tracing_subscriber::EnvFilter::try_new(&cli.log_level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false);
    match cli.log_format {
        LogFormat::Text => builder.with_ansi(colour(std::env::var_os("NO_COLOR"))).init(),
        LogFormat::Json => builder.with_ansi(false).json().init(),
    }
}

/// Colour only on a terminal, and not when `NO_COLOR` is set to anything (no-color.org): cron
/// mail, journald and CloudWatch get plain text.
fn colour(no_color: Option<std::ffi::OsString>) -> bool {
    std::io::IsTerminal::is_terminal(&std::io::stderr()) && no_color.is_none_or(|v| v.is_empty())
}
