//! The summary's numbers, from what the run's stages produced.

use std::collections::BTreeMap;

use super::{
    ControlGrid, Count, CoverageRow, CoverageSummary, DayRow, Findings, FrameworkLine, GridCell, GridRow, MAX_DAYS,
    MAX_GRID_COLUMNS, MessageRow, RateRow, Summary, Tiles,
};
use crate::controls::Evaluation;
use crate::controls::index::Index;
use crate::controls::verdict::Status;
use crate::estate::jobs::{Day, day_of};
use crate::estate::{Estate, JobKind, JobOutcome};
use crate::time::{self, Millis};
use crate::window::Window;

const DAY_MS: Millis = 86_400_000;

/// Unselected resources listed by name on the page.
const COVERAGE_EXAMPLES: usize = 50;

/// Failure and issue messages shown.
const TOP_MESSAGES: usize = 10;

/// Resources no backup plan selects, from the index the controls use. An account and region
/// whose inventory or selections were not collected is listed as unknown, never as "none".
pub fn coverage(index: &Index<'_>) -> CoverageSummary {
    let estate = index.estate;
    let mut by_type: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    let (mut unknown, mut examples) = (Vec::new(), Vec::new());
    for (s, data) in index.scopes.iter().enumerate() {
        let id = &estate.scopes[s].id;
        let why = match (data.inventory_collected, data.selections_complete) {
            (false, _) => Some("the inventory (get-resources, list-protected-resources) was not collected"),
            (true, false) => Some("the backup selections were not all collected"),
            (true, true) => None,
        };
        if let Some(why) = why {
            unknown.push(format!("{}/{}: {why}", id.account, id.region));
            continue;
        }
        for r in &data.resources {
            let row = by_type.entry(r.config_type).or_default();
            row.0 += 1;
            if r.coverage.is_empty() {
                row.1 += 1;
                if examples.len() < COVERAGE_EXAMPLES {
                    examples.push(format!("{}/{} {}", id.account, id.region, r.report_id));
                }
            }
        }
    }
    CoverageSummary {
        by_type: by_type
            .into_iter()
            .map(|(t, (resources, unselected))| CoverageRow { resource_type: t.to_string(), resources, unselected })
            .collect(),
        unknown,
        examples,
    }
}

/// The summary of a run over `estate` and `window`. `evaluation` is the run's, with what was
/// kept of its verdicts, when it evaluated controls; `not_collected` lists what is missing.
pub fn build(
    estate: &Estate,
    window: &Window,
    evaluation: Option<(&Evaluation, &Findings)>,
    coverage: CoverageSummary,
    not_collected: Vec<String>,
) -> Summary {
    let window_jobs = window_jobs(estate);
    let mut outcomes = [0u64; 7];
    for j in &window_jobs {
        outcomes[j.outcome as usize] += 1;
    }
    let (days, days_left_out) = days(estate, window);
    let (controls, frameworks) = match evaluation {
        Some((e, f)) => {
            let (grid, lines) = grid(estate, e, f);
            (Some(grid), lines)
        }
        None => (None, Vec::new()),
    };
    let tiles = Tiles {
        jobs: JobOutcome::ALL
            .iter()
            .map(|o| Count { name: o.as_str().to_string(), count: outcomes[*o as usize] })
            .collect(),
        controls_evaluated: evaluation.map(|(e, _)| e.results.len()),
        controls_non_compliant: evaluation
            .map(|(e, _)| e.results.iter().filter(|r| r.status == Status::NonCompliant).count()),
        resources_non_compliant: evaluation.map(|(_, f)| f.non_compliant()),
        resources_unselected: coverage.by_type.iter().map(|r| r.unselected).sum(),
        not_collected: not_collected.len(),
    };
    Summary {
        now: time::format_seconds(window.now),
        window_start: time::format_seconds(window.start),
        window_end: time::format_seconds(window.end),
        tiles,
        not_collected,
        days,
        days_left_out,
        by_account: rates(&window_jobs, |j| j.account),
        by_resource_type: rates(&window_jobs, |j| j.resource_type),
        top_messages: top_messages(&window_jobs),
        controls,
        frameworks,
        coverage,
    }
}

/// One job of the window, as the summary reads it.
struct Job<'e> {
    kind: JobKind,
    id: &'e str,
    account: &'e str,
    region: &'e str,
    resource_type: &'e str,
    outcome: JobOutcome,
    message: Option<&'e str>,
    /// Completion, or creation for a job still going.
    at: Millis,
}

fn window_jobs(estate: &Estate) -> Vec<Job<'_>> {
    let unknown = "(unknown type)";
    let backup = estate.backup_jobs.iter().map(|j| Job {
        kind: JobKind::Backup,
        id: &j.backup_job_id,
        account: &j.account_id,
        region: &j.region,
        resource_type: j.resource_type.as_deref().unwrap_or(unknown),
        outcome: j.outcome(),
        message: j.status_message.as_deref(),
        at: j.completion_date.unwrap_or(j.creation_date),
    });
    let copy = estate.copy_jobs.iter().map(|j| Job {
        kind: JobKind::Copy,
        id: &j.copy_job_id,
        account: &j.account_id,
        region: &j.region,
        resource_type: j.resource_type.as_deref().unwrap_or(unknown),
        outcome: j.outcome(),
        message: j.status_message.as_deref(),
        at: j.completion_date.unwrap_or(j.creation_date),
    });
    let restore = estate.restore_jobs.iter().map(|j| Job {
        kind: JobKind::Restore,
        id: &j.restore_job_id,
        account: &j.account_id,
        region: &j.region,
        resource_type: j.resource_type.as_deref().unwrap_or(unknown),
        outcome: j.outcome(),
        message: j.status_message.as_deref(),
        at: j.completion_date.unwrap_or(j.creation_date),
    });
    backup.chain(copy).chain(restore).collect()
}

/// Succeeded out of finished, in percent, to one decimal; `None` when nothing finished.
///
/// Decision: "completed with issues" counts as succeeded (the backup exists); it has its own
/// column and tile so that it is never hidden.
fn rate(succeeded: u64, finished: u64) -> Option<f64> {
    (finished > 0).then(|| (succeeded as f64 * 1000.0 / finished as f64).round() / 10.0)
}

fn rates<'e>(jobs: &[Job<'e>], key: impl Fn(&Job<'e>) -> &'e str) -> Vec<RateRow> {
    let mut by: BTreeMap<&str, [u64; 7]> = BTreeMap::new();
    for j in jobs {
        by.entry(key(j)).or_default()[j.outcome as usize] += 1;
    }
    by.into_iter()
        .map(|(name, n)| {
            let finished: u64 = JobOutcome::ALL.iter().filter(|o| o.finished()).map(|o| n[*o as usize]).sum();
            let succeeded: u64 = JobOutcome::ALL.iter().filter(|o| o.succeeded()).map(|o| n[*o as usize]).sum();
            RateRow {
                name: name.to_string(),
                finished,
                succeeded,
                completed_with_issues: n[JobOutcome::CompletedWithIssues as usize],
                failed: n[JobOutcome::Failed as usize],
                success_rate: rate(succeeded, finished),
            }
        })
        .collect()
}

fn top_messages(jobs: &[Job<'_>]) -> Vec<MessageRow> {
    // (outcome, message) → (count, newest job)
    let mut by: BTreeMap<(JobOutcome, &str), (u64, &Job<'_>)> = BTreeMap::new();
    for j in jobs.iter().filter(|j| !matches!(j.outcome, JobOutcome::Completed | JobOutcome::Running)) {
        let message = j.message.map(str::trim).filter(|m| !m.is_empty()).unwrap_or("(no status message)");
        let entry = by.entry((j.outcome, message)).or_insert((0, j));
        entry.0 += 1;
        if (j.at, j.id) > (entry.1.at, entry.1.id) {
            entry.1 = j;
        }
    }
    let mut rows: Vec<_> = by.into_iter().collect();
    // Most frequent first; ties in outcome order, then by message.
    rows.sort_by(|a, b| b.1.0.cmp(&a.1.0).then_with(|| a.0.cmp(&b.0)));
    rows.into_iter()
        .take(TOP_MESSAGES)
        .map(|((outcome, message), (count, j))| MessageRow {
            outcome: outcome.label().to_string(),
            message: message.to_string(),
            count,
            example: format!("{} job {} ({}/{})", j.kind.as_str(), j.id, j.account, j.region),
        })
        .collect()
}

/// `YYYY-MM-DD` of a day.
fn date(day: Day) -> String {
    let c = time::civil(day * DAY_MS);
    format!("{:04}-{:02}-{:02}", c.year, c.month, c.day)
}

/// Every day from the first job of the history to `now`'s day (at most [`MAX_DAYS`]), and how
/// many earlier days were left out.
fn days(estate: &Estate, window: &Window) -> (Vec<DayRow>, usize) {
    let last = day_of(window.now.max(window.end - 1));
    let first = estate.job_history.days.keys().map(|(d, _)| *d).min().unwrap_or(last).min(day_of(window.start));
    let shown_from = first.max(last - MAX_DAYS as Day + 1);
    let mut rows = Vec::new();
    for day in shown_from..=last {
        let mut outcomes = [0u64; 7];
        let mut bytes = 0;
        for kind in JobKind::ALL {
            if let Some(t) = estate.job_history.days.get(&(day, kind)) {
                for (total, n) in outcomes.iter_mut().zip(t.outcomes) {
                    *total += n;
                }
                bytes += t.bytes;
            }
        }
        let finished: u64 = JobOutcome::ALL.iter().filter(|o| o.finished()).map(|o| outcomes[*o as usize]).sum();
        let succeeded: u64 = JobOutcome::ALL.iter().filter(|o| o.succeeded()).map(|o| outcomes[*o as usize]).sum();
        rows.push(DayRow {
            date: date(day),
            outcomes: outcomes.to_vec(),
            success_rate: rate(succeeded, finished),
            backup_bytes: bytes,
            in_window: day * DAY_MS < window.end && (day + 1) * DAY_MS > window.start,
        });
    }
    (rows, (shown_from - first).max(0) as usize)
}

/// The control × account/region grid and the per-framework lines.
fn grid(estate: &Estate, evaluation: &Evaluation, findings: &Findings) -> (ControlGrid, Vec<FrameworkLine>) {
    let mut columns: Vec<usize> = evaluation.results.iter().map(|r| r.unit.scope).collect();
    columns.sort();
    columns.dedup();
    // An organisation's thousands of accounts and regions: draw those with the most
    // non-compliant controls (the CONTROL report has every one).
    let scopes_left_out = columns.len().saturating_sub(MAX_GRID_COLUMNS);
    if scopes_left_out > 0 {
        let mut failing: BTreeMap<usize, usize> = BTreeMap::new();
        for r in evaluation.results.iter().filter(|r| r.status != Status::Compliant) {
            *failing.entry(r.unit.scope).or_default() += 1;
        }
        let mut ranked = columns.clone();
        ranked.sort_by_key(|s| (std::cmp::Reverse(failing.get(s).copied().unwrap_or(0)), *s));
        ranked.truncate(MAX_GRID_COLUMNS);
        ranked.sort();
        columns = ranked;
    }
    let mut rows: BTreeMap<(&str, &str), Vec<Option<GridCell>>> = BTreeMap::new();
    let mut lines: BTreeMap<&str, FrameworkLine> = BTreeMap::new();
    for (i, r) in evaluation.results.iter().enumerate() {
        let u = &r.unit;
        let line = lines.entry(&u.framework_name).or_insert_with(|| FrameworkLine {
            framework: u.framework_name.clone(),
            controls: 0,
            controls_non_compliant: 0,
            resources_non_compliant: findings.non_compliant_in(&u.framework_name),
        });
        line.controls += 1;
        line.controls_non_compliant += usize::from(r.status == Status::NonCompliant);
        let cells = rows.entry((&u.framework_name, u.control.name())).or_insert_with(|| vec![None; columns.len()]);
        let Ok(column) = columns.binary_search(&u.scope) else { continue };
        let failing = findings.samples(i).to_vec();
        let shown = matches!(r.status, Status::NonCompliant | Status::InsufficientData);
        // A framework listed twice in one account and region keeps its first cell.
        cells[column].get_or_insert(GridCell {
            status: r.status.as_str().to_string(),
            compliant: r.compliant(),
            non_compliant: r.non_compliant(),
            insufficient_data: r.count(Status::InsufficientData),
            note: r.note.clone(),
            anchor: shown.then(|| format!("u{i}")),
            failing,
        });
    }
    let scopes = columns
        .iter()
        .map(|&s| {
            let id = &estate.scopes[s].id;
            format!("{}/{}", id.account, id.region)
        })
        .collect();
    let rows = rows
        .into_iter()
        .map(|((framework, control), cells)| GridRow {
            framework: framework.to_string(),
            control: control.to_string(),
            cells,
        })
        .collect();
    (ControlGrid { scopes, rows, scopes_left_out }, lines.into_values().collect())
}
