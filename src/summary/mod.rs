//! The run summary: what a person wants to know after a run, as one self-contained HTML file.
//!
//! ```text
//! estate + evaluation + findings + coverage + not collected → Summary (data) → HTML (inline SVG)
//! ```
//!
//! [`Summary`] is the data behind the page: headline tiles, job outcomes per day over every day
//! the snapshot holds, success rates by account and resource type, the top failure and issue
//! messages, a control × account/region grid with the failing resources and their reasons,
//! resources no backup plan selects, and backup bytes per day. It is built once, at the end of
//! a run, from what the stages already produced; nothing is read again. [`html::render`] turns
//! it into the page; [`Summary::terminal`] into the short table `run` prints.
//!
//! While the compliance reports stream, [`Findings`] keeps what the summary needs of the
//! verdicts (a few failing resources per control, and the distinct non-compliant ones), so that
//! the summary costs no second evaluation and no memory in proportion to the verdicts.

mod build;
pub mod html;
mod svg;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::BuildHasherDefault;

use serde::Serialize;

pub use build::{build, coverage};

use crate::controls::Verdict;
use crate::controls::engine::Unit;
use crate::controls::verdict::Status;
use crate::estate::jobs::{KeyHasher, id_hash};
use crate::time::{self, Millis};

/// The summary's key under a root: `summaries/YYYY/MM/DD/summary_<start>_<end>.html`, dated by
/// the period's end like the manifest.
pub fn key(period: (Millis, Millis)) -> String {
    let end = time::civil(period.1);
    format!(
        "summaries/{:04}/{:02}/{:02}/summary_{}_{}.html",
        end.year,
        end.month,
        end.day,
        time::format_seconds(period.0),
        time::format_seconds(period.1)
    )
}

/// Failing resources kept per control unit for the page.
pub const SAMPLES_PER_UNIT: usize = 25;

/// Failing resources kept for the page in all: an organisation's page stays readable and its
/// size bounded; the RESOURCE_COMPLIANCE_REPORT has every one.
pub const MAX_SAMPLES: usize = 2_000;

/// Accounts and regions drawn in the control grid; beyond this, those with the most
/// non-compliant controls.
pub const MAX_GRID_COLUMNS: usize = 48;

/// Bars drawn in a success-rate chart; beyond this, the lowest rates (the table has all).
pub const MAX_RATE_BARS: usize = 40;

/// The numbers behind the page. Serialised as JSON, it is the summary's golden file.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub now: String,
    pub window_start: String,
    pub window_end: String,
    pub tiles: Tiles,
    /// What was not collected, one line each. Every number on the page is partial when this is
    /// not empty.
    pub not_collected: Vec<String>,
    /// Job outcomes per UTC day, over every day the snapshot holds (at most [`MAX_DAYS`]).
    pub days: Vec<DayRow>,
    /// Days of job history before the first shown day, left out.
    pub days_left_out: usize,
    /// Success rate of the window's jobs by account, then by resource type.
    pub by_account: Vec<RateRow>,
    pub by_resource_type: Vec<RateRow>,
    /// The window's most frequent failure and issue messages.
    pub top_messages: Vec<MessageRow>,
    /// The control × account/region grid; `None` when the run evaluated no controls.
    pub controls: Option<ControlGrid>,
    /// Per framework: controls and distinct resources NON_COMPLIANT.
    pub frameworks: Vec<FrameworkLine>,
    pub coverage: CoverageSummary,
}

/// Days shown in the daily charts, counted back from `now`'s day.
pub const MAX_DAYS: usize = 92;

/// The headline numbers.
#[derive(Debug, Clone, Serialize)]
pub struct Tiles {
    /// Jobs of the window (backup, copy and restore) by outcome, in [`crate::estate::JobOutcome::ALL`] order.
    pub jobs: Vec<Count>,
    /// Framework controls (units: control × framework × account/region) evaluated and
    /// NON_COMPLIANT; `None` when the run evaluated no controls.
    pub controls_evaluated: Option<usize>,
    pub controls_non_compliant: Option<usize>,
    /// Distinct resources, plans, vaults and recovery points judged NON_COMPLIANT by any control.
    pub resources_non_compliant: Option<usize>,
    /// Resources of the inventory that no backup plan selects, in the accounts and regions
    /// where that is known.
    pub resources_unselected: usize,
    /// Lines of [`Summary::not_collected`].
    pub not_collected: usize,
}

/// A named count.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Count {
    pub name: String,
    pub count: u64,
}

/// One day of jobs.
#[derive(Debug, Clone, Serialize)]
pub struct DayRow {
    /// `YYYY-MM-DD` (UTC).
    pub date: String,
    /// Jobs per outcome, in [`crate::estate::JobOutcome::ALL`] order.
    pub outcomes: Vec<u64>,
    /// Succeeded (completed, with or without issues) out of finished, in percent; `None` on a
    /// day when no job finished.
    pub success_rate: Option<f64>,
    /// `BackupSizeInBytes` of the backup jobs that completed that day.
    pub backup_bytes: i64,
    /// Whether the day overlaps the report window.
    pub in_window: bool,
}

/// A success rate of one account or resource type.
#[derive(Debug, Clone, Serialize)]
pub struct RateRow {
    pub name: String,
    pub finished: u64,
    pub succeeded: u64,
    pub completed_with_issues: u64,
    pub failed: u64,
    /// Succeeded out of finished, in percent; `None` when no job finished.
    pub success_rate: Option<f64>,
}

/// A failure or issue message with how often it came.
#[derive(Debug, Clone, Serialize)]
pub struct MessageRow {
    /// The outcome's label (`Failed`, `Completed with issues`, …).
    pub outcome: String,
    pub message: String,
    pub count: u64,
    /// The newest job with this message: `<kind> job <id> (<account>/<region>)`.
    pub example: String,
}

/// The control × account/region grid.
#[derive(Debug, Clone, Serialize)]
pub struct ControlGrid {
    /// Columns: `account/region`.
    pub scopes: Vec<String>,
    pub rows: Vec<GridRow>,
    /// Accounts and regions evaluated but not drawn (beyond [`MAX_GRID_COLUMNS`]).
    pub scopes_left_out: usize,
}

/// One framework control across the accounts and regions.
#[derive(Debug, Clone, Serialize)]
pub struct GridRow {
    pub framework: String,
    pub control: String,
    /// One per column; `None` where the framework does not run.
    pub cells: Vec<Option<GridCell>>,
}

/// One framework control in one account and region.
#[derive(Debug, Clone, Serialize)]
pub struct GridCell {
    pub status: String,
    pub compliant: usize,
    pub non_compliant: usize,
    pub insufficient_data: usize,
    /// Why the control has its status when no resource says it.
    pub note: Option<String>,
    /// The page anchor of the failing resources (`u17`), when there are any to show.
    pub anchor: Option<String>,
    /// Failing resources (at most [`SAMPLES_PER_UNIT`]) with their reasons.
    pub failing: Vec<Finding>,
}

/// A resource judged NON_COMPLIANT, with the reason.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Finding {
    pub resource_id: String,
    pub resource_type: String,
    pub reason: String,
}

/// Resources no backup plan selects.
#[derive(Debug, Clone, Serialize)]
pub struct CoverageSummary {
    /// Per Config type: resources of the inventory and those no plan selects.
    pub by_type: Vec<CoverageRow>,
    /// Accounts and regions where it cannot be known (inventory or selections not collected).
    pub unknown: Vec<String>,
    /// Some of the unselected resources (at most 50), in report id order.
    pub examples: Vec<String>,
}

/// Coverage of one Config type.
#[derive(Debug, Clone, Serialize)]
pub struct CoverageRow {
    pub resource_type: String,
    pub resources: usize,
    pub unselected: usize,
}

/// What the summary keeps of the verdicts while they stream past: the first
/// [`SAMPLES_PER_UNIT`] NON_COMPLIANT verdicts of each unit (at most [`MAX_SAMPLES`] in all),
/// and the distinct non-compliant subjects with the frameworks that failed them (one hashed
/// entry per subject: memory in proportion to the failing subjects, not to the verdicts).
#[derive(Debug, Default)]
pub struct Findings {
    /// By unit index ([`crate::controls::Evaluator::units`] order).
    samples: BTreeMap<usize, Vec<Finding>>,
    /// Samples kept, at most [`MAX_SAMPLES`].
    kept: usize,
    /// (scope, subject hash) → the frameworks (bits, by [`Findings::frameworks`] position)
    /// that judged it NON_COMPLIANT.
    non_compliant: HashMap<(usize, u64), u64, BuildHasherDefault<KeyHasher>>,
    /// Framework names in order of first failure; the 64th and later share the last bit and
    /// are counted exactly in `overflow`.
    frameworks: Vec<String>,
    overflow: BTreeMap<String, HashSet<(usize, u64), BuildHasherDefault<KeyHasher>>>,
}

/// What one chunk of verdicts gives the summary, picked on the evaluation's threads.
#[derive(Debug, Default)]
pub struct Picked {
    samples: Vec<Finding>,
    hashes: Vec<u64>,
}

impl Findings {
    /// Picks what the summary keeps of one chunk of a unit's verdicts.
    pub fn pick(verdicts: &[Verdict]) -> Picked {
        let failing = verdicts.iter().filter(|v| v.status == Status::NonCompliant);
        Picked {
            samples: failing
                .clone()
                .take(SAMPLES_PER_UNIT)
                .map(|v| Finding {
                    resource_id: v.resource_id.clone(),
                    resource_type: v.resource_type.to_string(),
                    reason: v.reason.clone(),
                })
                .collect(),
            hashes: failing.map(|v| id_hash(&v.resource_id)).collect(),
        }
    }

    /// Adds what was picked of a chunk of unit `index`; chunks come in report order.
    pub fn add(&mut self, index: usize, unit: &Unit, picked: Picked) {
        let samples = self.samples.entry(index).or_default();
        let room = SAMPLES_PER_UNIT.saturating_sub(samples.len()).min(MAX_SAMPLES - self.kept);
        let before = samples.len();
        samples.extend(picked.samples.into_iter().take(room));
        self.kept += samples.len() - before;
        if picked.hashes.is_empty() {
            return;
        }
        let bit = match self.frameworks.iter().position(|f| *f == unit.framework_name) {
            Some(i) => i,
            None => {
                self.frameworks.push(unit.framework_name.clone());
                self.frameworks.len() - 1
            }
        };
        for h in picked.hashes {
            *self.non_compliant.entry((unit.scope, h)).or_default() |= 1 << bit.min(63);
            if bit >= 63 {
                self.overflow.entry(unit.framework_name.clone()).or_default().insert((unit.scope, h));
            }
        }
    }

    pub(crate) fn samples(&self, index: usize) -> &[Finding] {
        self.samples.get(&index).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Distinct NON_COMPLIANT subjects.
    pub fn non_compliant(&self) -> usize {
        self.non_compliant.len()
    }

    /// Distinct NON_COMPLIANT subjects of one framework.
    pub fn non_compliant_in(&self, framework: &str) -> usize {
        match self.frameworks.iter().position(|f| f == framework) {
            None => 0,
            Some(bit) if bit >= 63 => self.overflow.get(framework).map_or(0, HashSet::len),
            Some(bit) => self.non_compliant.values().filter(|m| *m & (1 << bit) != 0).count(),
        }
    }
}

/// Per framework: controls evaluated and NON_COMPLIANT, distinct non-compliant subjects.
#[derive(Debug, Clone, Serialize)]
pub struct FrameworkLine {
    pub framework: String,
    pub controls: usize,
    pub controls_non_compliant: usize,
    pub resources_non_compliant: usize,
}

impl Summary {
    /// The short table `run` prints at the end: per framework, controls and resources
    /// non-compliant; then the jobs that failed or completed with issues; then what was not
    /// collected.
    pub fn terminal(&self) -> String {
        let frameworks = &self.frameworks;
        use std::fmt::Write;
        let mut s = String::new();
        let width = frameworks.iter().map(|f| f.framework.len()).max().unwrap_or(0).max("framework".len());
        if !frameworks.is_empty() {
            let _ = writeln!(
                s,
                "{:<width$}  {:>22}  {:>23}",
                "framework", "controls non-compliant", "resources non-compliant"
            );
            for f in frameworks {
                let controls = format!("{} of {}", f.controls_non_compliant, f.controls);
                let _ = writeln!(s, "{:<width$}  {:>22}  {:>23}", f.framework, controls, f.resources_non_compliant);
            }
        } else {
            let _ = writeln!(s, "no controls evaluated: no report plan of this run asks for a compliance report");
        }
        let count = |name: &str| self.tiles.jobs.iter().find(|c| c.name == name).map_or(0, |c| c.count);
        let finished: u64 = self.tiles.jobs.iter().filter(|c| c.name != "running").map(|c| c.count).sum();
        let _ = writeln!(
            s,
            "jobs {} to {}: {} finished, {} failed, {} completed with issues, {} aborted, {} expired, {} running",
            self.window_start,
            self.window_end,
            finished,
            count("failed"),
            count("completed_with_issues"),
            count("aborted"),
            count("expired"),
            count("running")
        );
        match self.not_collected.len() {
            0 => {
                let _ = writeln!(s, "not collected: nothing");
            }
            n => {
                let _ = writeln!(
                    s,
                    "not collected: {n} (every figure above is partial; the summary and the manifest list them)"
                );
            }
        }
        s
    }
}
