//! What a collection reports while it runs: progress bars on a terminal, nothing otherwise
//! (the structured `tracing` lines of the collector and the final summary go to stderr).

use std::collections::BTreeMap;
use std::sync::Mutex;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Receives collection events; every method has a no-op default.
pub trait Progress: Send + Sync {
    /// A page or entity file of `command` was written.
    fn page(&self, _command: &str, _bytes: usize) {}
    /// A request is being retried (throttling, 5xx, timeout).
    fn retry(&self) {}
    /// A command, region or account could not be collected.
    fn failed(&self) {}
    /// Collection ended.
    fn finish(&self) {}
}

/// No progress output (non-terminal, Lambda, tests).
pub struct Quiet;

impl Progress for Quiet {}

/// One bar per command (pages and bytes over all accounts and regions) and a total line with
/// retries and failures, drawn on stderr.
pub struct TerminalProgress {
    multi: MultiProgress,
    total: ProgressBar,
    bars: Mutex<BTreeMap<String, (ProgressBar, u64, u64)>>,
    counters: Mutex<(u64, u64, u64)>,
}

impl Default for TerminalProgress {
    fn default() -> Self {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        let total = multi.add(ProgressBar::new_spinner());
        total.set_style(ProgressStyle::with_template("{spinner} {elapsed} {msg}").expect("a valid template"));
        total.enable_steady_tick(std::time::Duration::from_millis(120));
        TerminalProgress { multi, total, bars: Mutex::default(), counters: Mutex::default() }
    }
}

impl TerminalProgress {
    fn update_total(&self) {
        let (files, retries, failures) = *self.counters.lock().unwrap_or_else(|e| e.into_inner());
        self.total.set_message(format!("collecting: {files} files, {retries} retries, {failures} failures"));
    }
}

impl Progress for TerminalProgress {
    fn page(&self, command: &str, bytes: usize) {
        let mut bars = self.bars.lock().unwrap_or_else(|e| e.into_inner());
        let entry = bars.entry(command.to_string()).or_insert_with(|| {
            let bar = self.multi.add(ProgressBar::new_spinner());
            bar.set_style(ProgressStyle::with_template("  {msg}").expect("a valid template"));
            (bar, 0, 0)
        });
        entry.1 += 1;
        entry.2 += bytes as u64;
        entry.0.set_message(format!("{command:<40} {:>7} files {:>10}", entry.1, indicatif::HumanBytes(entry.2)));
        drop(bars);
        self.counters.lock().unwrap_or_else(|e| e.into_inner()).0 += 1;
        self.update_total();
    }

    fn retry(&self) {
        self.counters.lock().unwrap_or_else(|e| e.into_inner()).1 += 1;
        self.update_total();
    }

    fn failed(&self) {
        self.counters.lock().unwrap_or_else(|e| e.into_inner()).2 += 1;
        self.update_total();
    }

    fn finish(&self) {
        self.total.finish();
        for (bar, _, _) in self.bars.lock().unwrap_or_else(|e| e.into_inner()).values() {
            bar.finish();
        }
    }
}
