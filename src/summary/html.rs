//! The summary page: one HTML file with inline CSS and SVG, and nothing else. No script, no
//! font, no image from anywhere: a Content-Security-Policy of `default-src 'none'` says so to
//! the browser, so the page opens offline and mails, archives and prints as it is.

use std::fmt::Write;

use super::svg::{self, escape};
use super::{MAX_RATE_BARS, RateRow, Summary};
use crate::estate::JobOutcome;

const STYLE: &str = r#"
:root { color-scheme: light; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1a1a1a; margin: 24px auto; max-width: 1180px; padding: 0 16px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 28px 0 8px; border-bottom: 1px solid #ccc; padding-bottom: 4px; }
h3 { font-size: 14px; margin: 16px 0 4px; }
p.meta { color: #444; margin: 0 0 16px; }
.tiles { display: grid; grid-template-columns: repeat(auto-fill, minmax(150px, 1fr)); gap: 8px; }
.tile { border: 1px solid #ccc; border-radius: 6px; padding: 8px 10px; }
.tile .n { font-size: 24px; font-weight: 600; display: block; }
.tile .what { color: #444; font-size: 12px; }
.tile.bad { border-color: #D55E00; border-width: 2px; }
.tile.warn { border-color: #E69F00; border-width: 2px; }
.alert { border: 2px solid #D55E00; background: #fff4ec; padding: 8px 12px; border-radius: 6px; margin: 12px 0; }
.ok { border: 1px solid #0072B2; background: #eef6fb; padding: 8px 12px; border-radius: 6px; margin: 12px 0; }
svg.chart { max-width: 100%; height: auto; display: block; margin: 8px 0; }
.scroll { overflow-x: auto; }
.scroll svg.chart { max-width: none; }
svg text { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
svg text.tick { font-size: 11px; }
svg text.label { font-size: 12px; }
svg text.legend { font-size: 11px; }
svg text.axis { font-size: 12px; font-weight: 600; }
svg text.cell { font-size: 11px; font-weight: 600; }
table { border-collapse: collapse; font-size: 12px; margin: 6px 0 12px; }
th, td { border: 1px solid #ddd; padding: 2px 6px; text-align: right; vertical-align: top; }
th:first-child, td:first-child, td.text { text-align: left; }
th { background: #f4f4f4; text-align: left; }
details > summary { cursor: pointer; color: #0b5394; }
code { font-size: 12px; }
.failing { margin: 6px 0 14px; }
.failing:target { outline: 3px solid #E69F00; }
@media print {
  body { margin: 0; max-width: none; }
  h2 { break-after: avoid; }
  svg.chart, table, .tile { break-inside: avoid; }
  details > summary { display: none; }
  details::details-content { content-visibility: visible; display: contents; }
}
"#;

/// The page of `summary`.
pub fn render(summary: &Summary) -> String {
    let s = summary;
    let mut h = String::with_capacity(64 * 1024);
    let title = format!("AWS Backup audit summary, {} to {}", s.window_start, s.window_end);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>{}</title><style>{STYLE}</style></head><body>\n",
        escape(&title)
    );
    let _ = writeln!(
        h,
        "<h1>AWS Backup audit summary</h1><p class=\"meta\">Report window <b>{}</b> to <b>{}</b> (UTC); evidence as of <b>{}</b>. Written by backup-audit.</p>",
        s.window_start, s.window_end, s.now
    );
    not_collected(&mut h, s);
    tiles(&mut h, s);
    daily(&mut h, s);
    rates(&mut h, s);
    messages(&mut h, s);
    controls(&mut h, s);
    coverage(&mut h, s);
    bytes(&mut h, s);
    h.push_str("</body></html>\n");
    h
}

fn not_collected(h: &mut String, s: &Summary) {
    if s.not_collected.is_empty() {
        h.push_str("<div class=\"ok\" id=\"not-collected\"><b>Everything was collected.</b> No input is missing for any account and region of this run.</div>\n");
        return;
    }
    let _ = write!(
        h,
        "<div class=\"alert\" id=\"not-collected\"><b>{} input(s) were not collected.</b> Every figure below is partial for the accounts and regions named here; controls report INSUFFICIENT_DATA for them, never COMPLIANT.<ul>",
        s.not_collected.len()
    );
    for line in &s.not_collected {
        let _ = write!(h, "<li>{}</li>", escape(line));
    }
    h.push_str("</ul></div>\n");
}

fn tile(h: &mut String, n: &str, what: &str, class: &str) {
    let _ = write!(
        h,
        "<div class=\"tile {class}\"><span class=\"n\">{}</span><span class=\"what\">{}</span></div>",
        escape(n),
        escape(what)
    );
}

fn tiles(h: &mut String, s: &Summary) {
    h.push_str("<h2 id=\"headline\">Headline</h2><div class=\"tiles\">");
    let t = &s.tiles;
    for (o, c) in JobOutcome::ALL.iter().zip(&t.jobs) {
        if *o == JobOutcome::Other && c.count == 0 {
            continue;
        }
        let class = match o {
            JobOutcome::Failed | JobOutcome::Expired | JobOutcome::Other if c.count > 0 => "bad",
            JobOutcome::CompletedWithIssues | JobOutcome::Aborted if c.count > 0 => "warn",
            _ => "",
        };
        tile(h, &c.count.to_string(), &format!("jobs {}", o.label().to_lowercase()), class);
    }
    let or_none = |v: Option<usize>| v.map_or("not evaluated".to_string(), |n| n.to_string());
    let bad = |v: Option<usize>| if v.unwrap_or(0) > 0 { "bad" } else { "" };
    let controls = match (t.controls_non_compliant, t.controls_evaluated) {
        (Some(n), Some(of)) => format!("{n} of {of}"),
        _ => "not evaluated".into(),
    };
    tile(h, &controls, "controls non-compliant", bad(t.controls_non_compliant));
    tile(h, &or_none(t.resources_non_compliant), "resources non-compliant", bad(t.resources_non_compliant));
    tile(
        h,
        &t.resources_unselected.to_string(),
        "resources no plan selects",
        if t.resources_unselected > 0 { "warn" } else { "" },
    );
    tile(h, &t.not_collected.to_string(), "inputs not collected", if t.not_collected > 0 { "bad" } else { "" });
    h.push_str("</div>\n");
    if s.controls.is_none() {
        h.push_str("<p>No report plan of this run asks for a compliance report, so no control was evaluated. <code>backup-audit summary</code> evaluates them all.</p>\n");
    }
}

fn daily(h: &mut String, s: &Summary) {
    h.push_str("<h2 id=\"daily\">Job outcomes per day</h2>");
    let _ = write!(
        h,
        "<p>Backup, copy and restore jobs on each UTC day the snapshot holds: a finished job on the day it completed, a running job on the day it was created.{}</p>",
        if s.days_left_out > 0 { format!(" {} earlier day(s) are left out.", s.days_left_out) } else { String::new() }
    );
    h.push_str(&svg::daily_outcomes(&s.days));
    h.push_str("<details><summary>The numbers</summary><table><tr><th>Day</th>");
    for o in JobOutcome::ALL {
        let _ = write!(h, "<th>{}</th>", o.label());
    }
    h.push_str("<th>Success rate</th></tr>");
    for d in &s.days {
        let _ = write!(h, "<tr><td>{}{}</td>", d.date, if d.in_window { " (window)" } else { "" });
        for n in &d.outcomes {
            let _ = write!(h, "<td>{n}</td>");
        }
        let _ = write!(h, "<td>{}</td></tr>", percent(d.success_rate));
    }
    h.push_str("</table></details>\n");
}

fn percent(rate: Option<f64>) -> String {
    rate.map_or("–".to_string(), |r| format!("{r}%"))
}

fn rate_table(h: &mut String, what: &str, rows: &[RateRow]) {
    let _ = write!(
        h,
        "<details><summary>The numbers</summary><table><tr><th>{what}</th><th>Finished</th><th>Succeeded</th><th>With issues</th><th>Failed</th><th>Success rate</th></tr>"
    );
    for r in rows {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&r.name),
            r.finished,
            r.succeeded,
            r.completed_with_issues,
            r.failed,
            percent(r.success_rate)
        );
    }
    h.push_str("</table></details>\n");
}

/// The rows a rate chart draws: all of them, or the [`MAX_RATE_BARS`] lowest rates.
fn lowest(rows: &[RateRow]) -> Vec<RateRow> {
    if rows.len() <= MAX_RATE_BARS {
        return rows.to_vec();
    }
    let mut ranked = rows.to_vec();
    ranked.sort_by(|a, b| a.success_rate.unwrap_or(101.0).total_cmp(&b.success_rate.unwrap_or(101.0)));
    ranked.truncate(MAX_RATE_BARS);
    ranked
}

fn note_lowest(h: &mut String, n: usize, what: &str) {
    if n > MAX_RATE_BARS {
        let _ = write!(h, "<p>The {MAX_RATE_BARS} lowest success rates of {n} {what}; the table has them all.</p>");
    }
}

fn rates(h: &mut String, s: &Summary) {
    h.push_str("<h2 id=\"rates\">Success rate in the window</h2>");
    h.push_str("<h3>By account</h3>");
    h.push_str(&svg::rate_bars("chart-accounts", "Success rate by account", "account", &lowest(&s.by_account)));
    note_lowest(h, s.by_account.len(), "accounts");
    rate_table(h, "Account", &s.by_account);
    h.push_str("<h3>By resource type</h3>");
    h.push_str(&svg::rate_bars(
        "chart-types",
        "Success rate by resource type",
        "resource type",
        &lowest(&s.by_resource_type),
    ));
    note_lowest(h, s.by_resource_type.len(), "resource types");
    rate_table(h, "Resource type", &s.by_resource_type);
}

fn messages(h: &mut String, s: &Summary) {
    h.push_str("<h2 id=\"messages\">Top failure and issue messages in the window</h2>");
    if s.top_messages.is_empty() {
        h.push_str("<p>No job of the window failed, was aborted, expired or completed with issues.</p>\n");
        return;
    }
    h.push_str("<table><tr><th>Jobs</th><th>Outcome</th><th>Message</th><th>Newest example</th></tr>");
    for m in &s.top_messages {
        let _ = write!(
            h,
            "<tr><td>{}</td><td class=\"text\">{}</td><td class=\"text\">{}</td><td class=\"text\"><code>{}</code></td></tr>",
            m.count,
            escape(&m.outcome),
            escape(&m.message),
            escape(&m.example)
        );
    }
    h.push_str("</table>\n");
}

fn controls(h: &mut String, s: &Summary) {
    h.push_str("<h2 id=\"controls\">Controls by account and region</h2>");
    let Some(grid) = &s.controls else {
        h.push_str("<p>No control was evaluated in this run.</p>\n");
        return;
    };
    if grid.rows.is_empty() {
        h.push_str("<p>No framework applies to the accounts and regions of this run.</p>\n");
        return;
    }
    h.push_str("<p>Each cell is one framework control in one account and region. A cell that is not compliant links to its failing resources and the reasons below.");
    if grid.scopes_left_out > 0 {
        let _ = write!(
            h,
            " {} more accounts and regions were evaluated; the {} drawn are those with the most controls not compliant, and the CONTROL_COMPLIANCE_REPORT has them all.",
            grid.scopes_left_out,
            grid.scopes.len()
        );
    }
    h.push_str("</p>");
    h.push_str("<div class=\"scroll\">");
    h.push_str(&svg::heatmap(grid));
    h.push_str("</div>");
    h.push_str("<details><summary>The numbers</summary><table><tr><th>Framework</th><th>Control</th><th>Account/region</th><th>Status</th><th>Compliant</th><th>Non-compliant</th><th>Insufficient data</th></tr>");
    for row in &grid.rows {
        for (scope, cell) in grid.scopes.iter().zip(&row.cells) {
            let Some(c) = cell else { continue };
            let status = match &c.anchor {
                Some(a) => format!("<a href=\"#{a}\">{}</a>", c.status),
                None => c.status.clone(),
            };
            let _ = write!(
                h,
                "<tr><td>{}</td><td class=\"text\">{}</td><td class=\"text\">{}</td><td class=\"text\">{status}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&row.framework),
                escape(&row.control),
                escape(scope),
                c.compliant,
                c.non_compliant,
                c.insufficient_data
            );
        }
    }
    h.push_str("</table></details>\n<h3>Failing resources, by control</h3>");
    let mut any = false;
    for row in &grid.rows {
        for (scope, cell) in grid.scopes.iter().zip(&row.cells) {
            let Some(c) = cell else { continue };
            let Some(anchor) = &c.anchor else { continue };
            any = true;
            let _ = write!(
                h,
                "<div class=\"failing\" id=\"{anchor}\"><b>{}</b> · {} · {} — {}",
                escape(&row.framework),
                escape(&row.control),
                escape(scope),
                c.status
            );
            if let Some(note) = &c.note {
                let _ = write!(h, "<br>{}", escape(note));
            }
            if !c.failing.is_empty() {
                h.push_str("<table><tr><th>Resource</th><th>Type</th><th>Reason</th></tr>");
                for f in &c.failing {
                    let _ = write!(
                        h,
                        "<tr><td class=\"text\"><code>{}</code></td><td class=\"text\">{}</td><td class=\"text\">{}</td></tr>",
                        escape(&f.resource_id),
                        escape(&f.resource_type),
                        escape(&f.reason)
                    );
                }
                h.push_str("</table>");
            }
            if c.non_compliant > c.failing.len() {
                let _ = write!(
                    h,
                    "<p>and {} more: the RESOURCE_COMPLIANCE_REPORT lists every one.</p>",
                    c.non_compliant - c.failing.len()
                );
            }
            h.push_str("</div>\n");
        }
    }
    if !any {
        h.push_str("<p>None: every evaluated control is compliant.</p>\n");
    }
}

fn coverage(h: &mut String, s: &Summary) {
    let c = &s.coverage;
    h.push_str("<h2 id=\"coverage\">Coverage gaps: resources no backup plan selects</h2>");
    if !c.unknown.is_empty() {
        h.push_str("<div class=\"alert\"><b>Unknown in some accounts and regions</b> (not counted below):<ul>");
        for u in &c.unknown {
            let _ = write!(h, "<li>{}</li>", escape(u));
        }
        h.push_str("</ul></div>");
    }
    if c.by_type.is_empty() {
        h.push_str("<p>No resource inventory to compare with the backup selections.</p>\n");
        return;
    }
    h.push_str(&svg::coverage(&c.by_type));
    h.push_str("<details><summary>The numbers</summary><table><tr><th>Resource type</th><th>Resources</th><th>Selected by no plan</th></tr>");
    for r in &c.by_type {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&r.resource_type),
            r.resources,
            r.unselected
        );
    }
    h.push_str("</table></details>");
    if !c.examples.is_empty() {
        let _ = write!(h, "<details><summary>Unselected resources (the first {})</summary><ul>", c.examples.len());
        for e in &c.examples {
            let _ = write!(h, "<li><code>{}</code></li>", escape(e));
        }
        h.push_str("</ul></details>");
    }
    h.push('\n');
}

fn bytes(h: &mut String, s: &Summary) {
    h.push_str("<h2 id=\"bytes\">Backup bytes per day</h2>");
    h.push_str("<p><code>BackupSizeInBytes</code> of the backup jobs that completed each day (AWS reports 0 for some resource types, RDS among them).</p>");
    h.push_str(&svg::bytes_per_day(&s.days));
    h.push_str("<details><summary>The numbers</summary><table><tr><th>Day</th><th>Bytes</th><th></th></tr>");
    for d in &s.days {
        let _ =
            write!(h, "<tr><td>{}</td><td>{}</td><td>{}</td></tr>", d.date, d.backup_bytes, svg::bytes(d.backup_bytes));
    }
    h.push_str("</table></details>\n");
}
