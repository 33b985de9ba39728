//! The summary's charts as inline SVG, written directly.
//!
//! Decision: no chart crate. `plotters` lays out text only with a font backend (system fonts
//! through font-kit, or a bundled TTF through ab_glyph), which makes the output depend on the
//! machine's fonts or adds a font file to the binary; these five charts are a few hundred lines
//! of plain SVG, byte-identical everywhere, with a `<title>`, a `<desc>` and axis titles that
//! the browser lays out itself.
//!
//! Colours are the Okabe–Ito palette, which stays distinct under the common colour-vision
//! deficiencies; no chart uses colour alone (every series has a legend entry, every heatmap
//! cell its status as text).

use std::fmt::Write;

use super::{ControlGrid, CoverageRow, DayRow, RateRow};
use crate::estate::JobOutcome;

/// Okabe–Ito colours per job outcome, in [`JobOutcome::ALL`] order.
pub const OUTCOME_COLOURS: [&str; 7] = ["#0072B2", "#E69F00", "#D55E00", "#CC79A7", "#F0E442", "#56B4E9", "#555555"];

/// The success-rate line.
const LINE: &str = "#000000";

/// Heatmap colours by control status, with the text colour that reads on each.
fn status_colour(status: &str) -> (&'static str, &'static str) {
    match status {
        "COMPLIANT" => ("#0072B2", "#ffffff"),
        "NON_COMPLIANT" => ("#D55E00", "#ffffff"),
        "INSUFFICIENT_DATA" => ("#F0E442", "#000000"),
        _ => ("#BBBBBB", "#000000"),
    }
}

/// Escapes text for XML and HTML.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// An axis maximum and tick step: 1, 2 or 5 times a power of ten, at most 5 ticks.
fn nice_axis(max: f64) -> (f64, f64) {
    if max <= 0.0 {
        return (1.0, 1.0);
    }
    let mut step = 10f64.powf((max / 5.0).log10().floor());
    for m in [1.0, 2.0, 5.0, 10.0] {
        if max / (step * m) <= 5.0 {
            step *= m;
            break;
        }
    }
    ((max / step).ceil() * step, step)
}

/// A count for an axis label: 1200 → `1.2k`.
fn short(v: f64) -> String {
    match v {
        v if v >= 1e9 => format!("{}G", trim(v / 1e9)),
        v if v >= 1e6 => format!("{}M", trim(v / 1e6)),
        v if v >= 1e3 => format!("{}k", trim(v / 1e3)),
        v => trim(v),
    }
}

fn trim(v: f64) -> String {
    let s = format!("{v:.1}");
    s.strip_suffix(".0").map(str::to_string).unwrap_or(s)
}

/// Bytes in decimal units: `1.5 GB`.
pub fn bytes(n: i64) -> String {
    let v = n as f64;
    match v {
        v if v >= 1e12 => format!("{:.1} TB", v / 1e12),
        v if v >= 1e9 => format!("{:.1} GB", v / 1e9),
        v if v >= 1e6 => format!("{:.1} MB", v / 1e6),
        v if v >= 1e3 => format!("{:.1} kB", v / 1e3),
        v => format!("{v} B"),
    }
}

/// The opening of a chart: size, role, title and description.
fn open(s: &mut String, id: &str, width: u32, height: u32, title: &str, desc: &str) {
    let _ = write!(
        s,
        r##"<svg id="{id}" class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" aria-labelledby="{id}-title {id}-desc"><title id="{id}-title">{}</title><desc id="{id}-desc">{}</desc>"##,
        escape(title),
        escape(desc)
    );
}

/// A legend entry.
fn legend(s: &mut String, x: f64, y: f64, colour: &str, label: &str, line: bool) {
    if line {
        let _ = write!(
            s,
            r##"<line x1="{x}" y1="{}" x2="{}" y2="{}" stroke="{colour}" stroke-width="2"/>"##,
            y + 5.0,
            x + 12.0,
            y + 5.0
        );
    } else {
        let _ = write!(
            s,
            r##"<rect x="{x}" y="{y}" width="12" height="10" fill="{colour}" stroke="#333" stroke-width="0.5"/>"##
        );
    }
    let _ = write!(s, r##"<text x="{}" y="{}" class="legend">{}</text>"##, x + 16.0, y + 9.0, escape(label));
}

/// A filled rectangle `(x, y, width, height)`, with a tooltip when `title` is given.
fn bar(s: &mut String, (x, y, w, h): (f64, f64, f64, f64), fill: &str, title: Option<&str>) {
    let _ = write!(s, r##"<rect x="{x:.1}" y="{y:.1}" width="{w:.1}" height="{h:.1}" fill="{fill}""##);
    match title {
        Some(t) => {
            let _ = write!(s, "><title>{}</title></rect>", escape(t));
        }
        None => s.push_str("/>"),
    }
}

/// Horizontal grid lines and left-axis tick labels from 0 to `max` every `step`, in the plot
/// area `(left, top, width, height)`.
fn value_grid(
    s: &mut String,
    (left, top, plot_w, plot_h): (f64, f64, f64, f64),
    (max, step): (f64, f64),
    label: impl Fn(f64) -> String,
) {
    let mut v = 0.0;
    while v <= max + 1e-9 {
        let y = top + plot_h - v / max * plot_h;
        let _ =
            write!(s, r##"<line x1="{left}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#dddddd"/>"##, left + plot_w);
        let _ = write!(
            s,
            r##"<text x="{:.1}" y="{:.1}" class="tick" text-anchor="end">{}</text>"##,
            left - 6.0,
            y + 4.0,
            label(v)
        );
        v += step;
    }
}

/// A day's label (`MM-DD` of `YYYY-MM-DD`) under the x axis at `x`, turned 45°.
fn day_label(s: &mut String, x: f64, y: f64, date: &str) {
    let _ = write!(
        s,
        r##"<text x="{x:.1}" y="{y:.1}" class="tick" text-anchor="end" transform="rotate(-45 {x:.1} {y:.1})">{}</text>"##,
        &date[5..]
    );
}

/// Day labels: every day when there are few, else about ten.
fn day_label_every(n: usize) -> usize {
    n.div_ceil(10).max(1)
}

/// Jobs per day by outcome as stacked bars, with the success rate as a line on a right axis.
pub fn daily_outcomes(days: &[DayRow]) -> String {
    let (w, h) = (900.0, 320.0);
    let (left, right, top, bottom) = (56.0, 56.0, 40.0, 64.0);
    let plot_w = w - left - right;
    let plot_h = h - top - bottom;
    let total = |d: &DayRow| d.outcomes.iter().sum::<u64>() as f64;
    let (max, step) = nice_axis(days.iter().map(total).fold(0.0, f64::max));
    let mut s = String::new();
    let first = days.first().map_or("", |d| d.date.as_str());
    let last = days.last().map_or("", |d| d.date.as_str());
    open(
        &mut s,
        "chart-daily",
        w as u32,
        h as u32,
        "Job outcomes per day",
        &format!(
            "Stacked bars of backup, copy and restore jobs per UTC day by outcome from {first} to {last}, with the success rate as a line; the table below has the numbers."
        ),
    );
    // Grid and left axis.
    value_grid(&mut s, (left, top, plot_w, plot_h), (max, step), short);
    // Right axis: 0 to 100 %.
    for pct in [0, 25, 50, 75, 100] {
        let y = top + plot_h - pct as f64 / 100.0 * plot_h;
        let _ = write!(s, r##"<text x="{:.1}" y="{:.1}" class="tick">{pct}%</text>"##, left + plot_w + 6.0, y + 4.0);
    }
    let n = days.len().max(1) as f64;
    let slot = plot_w / n;
    let width = (slot * 0.75).max(1.0);
    let every = day_label_every(days.len());
    let mut points = Vec::new();
    for (i, d) in days.iter().enumerate() {
        let x = left + i as f64 * slot + (slot - width) / 2.0;
        if d.in_window {
            bar(&mut s, (left + i as f64 * slot, top, slot, plot_h), "#f2f2f2", None);
        }
        let mut y = top + plot_h;
        for (o, &count) in d.outcomes.iter().enumerate() {
            if count == 0 {
                continue;
            }
            let bh = count as f64 / max * plot_h;
            y -= bh;
            let title = format!("{}: {count} {}", d.date, JobOutcome::ALL[o].label().to_lowercase());
            bar(&mut s, (x, y, width, bh), OUTCOME_COLOURS[o], Some(&title));
        }
        if let Some(rate) = d.success_rate {
            points.push((x + width / 2.0, top + plot_h - rate / 100.0 * plot_h, &d.date, rate));
        }
        if i % every == 0 {
            day_label(&mut s, x + width / 2.0, top + plot_h + 14.0, &d.date);
        }
    }
    if points.len() > 1 {
        let path: Vec<String> = points.iter().map(|(x, y, _, _)| format!("{x:.1},{y:.1}")).collect();
        let _ = write!(s, r##"<polyline points="{}" fill="none" stroke="{LINE}" stroke-width="2"/>"##, path.join(" "));
    }
    for (x, y, date, rate) in &points {
        let _ = write!(
            s,
            r##"<circle cx="{x:.1}" cy="{y:.1}" r="2.5" fill="{LINE}"><title>{date}: {rate}% succeeded</title></circle>"##
        );
    }
    // Axis titles.
    let _ = write!(
        s,
        r##"<text x="14" y="{:.1}" class="axis" text-anchor="middle" transform="rotate(-90 14 {:.1})">Jobs</text>"##,
        top + plot_h / 2.0,
        top + plot_h / 2.0
    );
    let _ = write!(
        s,
        r##"<text x="{:.1}" y="{:.1}" class="axis" text-anchor="middle" transform="rotate(90 {:.1} {:.1})">Success rate</text>"##,
        w - 10.0,
        top + plot_h / 2.0,
        w - 10.0,
        top + plot_h / 2.0
    );
    let _ = write!(
        s,
        r##"<text x="{:.1}" y="{:.1}" class="axis" text-anchor="middle">Day (UTC; shaded: the report window)</text>"##,
        left + plot_w / 2.0,
        h - 6.0
    );
    // Legend.
    let mut x = left;
    for (o, outcome) in JobOutcome::ALL.iter().enumerate() {
        legend(&mut s, x, 8.0, OUTCOME_COLOURS[o], outcome.label(), false);
        x += 24.0 + outcome.label().len() as f64 * 6.2;
    }
    legend(&mut s, x, 8.0, LINE, "Success rate", true);
    s.push_str("</svg>");
    s
}

/// Success rates as horizontal bars from 0 to 100 %.
pub fn rate_bars(id: &str, title: &str, what: &str, rows: &[RateRow]) -> String {
    let (left, right, top, row_h) = (220.0, 150.0, 28.0, 22.0);
    let w = 900.0;
    let plot_w = w - left - right;
    let h = top + rows.len().max(1) as f64 * row_h + 70.0;
    let mut s = String::new();
    open(
        &mut s,
        id,
        w as u32,
        h as u32,
        title,
        &format!(
            "Horizontal bars: the share of the window's finished jobs that succeeded, per {what}; the table below has the numbers."
        ),
    );
    let mut axis = what.to_string();
    axis[..1].make_ascii_uppercase();
    let _ = write!(
        s,
        r##"<text x="{:.1}" y="{:.1}" class="axis" text-anchor="end">{}</text>"##,
        left - 8.0,
        18.0,
        escape(&axis)
    );
    legend(&mut s, left, h - 16.0, OUTCOME_COLOURS[0], "Succeeded", false);
    legend(&mut s, left + 100.0, h - 16.0, OUTCOME_COLOURS[2], "Did not succeed", false);
    for pct in [0, 25, 50, 75, 100] {
        let x = left + pct as f64 / 100.0 * plot_w;
        let _ = write!(s, r##"<line x1="{x:.1}" y1="{top}" x2="{x:.1}" y2="{:.1}" stroke="#dddddd"/>"##, h - 62.0);
        let _ = write!(s, r##"<text x="{x:.1}" y="{:.1}" class="tick" text-anchor="middle">{pct}%</text>"##, h - 48.0);
    }
    for (i, r) in rows.iter().enumerate() {
        let y = top + i as f64 * row_h;
        let _ = write!(
            s,
            r##"<text x="{:.1}" y="{:.1}" class="label" text-anchor="end">{}</text>"##,
            left - 8.0,
            y + 15.0,
            escape(&r.name)
        );
        let (value, text) = match r.success_rate {
            Some(rate) => (rate, format!("{rate}% of {}", r.finished)),
            None => (0.0, "no finished job".to_string()),
        };
        let bw = value / 100.0 * plot_w;
        bar(&mut s, (left, y + 3.0, bw, row_h - 6.0), OUTCOME_COLOURS[0], Some(&format!("{}: {text}", r.name)));
        if r.success_rate.is_some() && value < 100.0 {
            bar(&mut s, (left + bw, y + 3.0, plot_w - bw, row_h - 6.0), OUTCOME_COLOURS[2], None);
        }
        let _ = write!(
            s,
            r##"<text x="{:.1}" y="{:.1}" class="label">{}</text>"##,
            left + plot_w + 8.0,
            y + 15.0,
            escape(&text)
        );
    }
    let _ = write!(
        s,
        r##"<text x="{:.1}" y="{:.1}" class="axis" text-anchor="middle">Jobs succeeded (completed, with or without issues) of jobs finished</text>"##,
        left + plot_w / 2.0,
        h - 30.0
    );
    s.push_str("</svg>");
    s
}

/// Backup bytes per day as bars.
pub fn bytes_per_day(days: &[DayRow]) -> String {
    let (w, h) = (900.0, 260.0);
    let (left, right, top, bottom) = (72.0, 20.0, 16.0, 64.0);
    let plot_w = w - left - right;
    let plot_h = h - top - bottom;
    let (max, step) = nice_axis(days.iter().map(|d| d.backup_bytes as f64).fold(0.0, f64::max));
    let mut s = String::new();
    open(
        &mut s,
        "chart-bytes",
        w as u32,
        h as u32,
        "Backup bytes per day",
        "Bars of the BackupSizeInBytes of the backup jobs that completed on each UTC day; the table below has the numbers.",
    );
    value_grid(&mut s, (left, top, plot_w, plot_h), (max, step), |v| bytes(v as i64));
    let n = days.len().max(1) as f64;
    let slot = plot_w / n;
    let width = (slot * 0.75).max(1.0);
    let every = day_label_every(days.len());
    for (i, d) in days.iter().enumerate() {
        let x = left + i as f64 * slot + (slot - width) / 2.0;
        let bh = d.backup_bytes as f64 / max * plot_h;
        let title = format!("{}: {}", d.date, bytes(d.backup_bytes));
        bar(&mut s, (x, top + plot_h - bh, width, bh), OUTCOME_COLOURS[0], Some(&title));
        if i % every == 0 {
            day_label(&mut s, x + width / 2.0, top + plot_h + 14.0, &d.date);
        }
    }
    let _ = write!(
        s,
        r##"<text x="14" y="{:.1}" class="axis" text-anchor="middle" transform="rotate(-90 14 {:.1})">Bytes backed up</text>"##,
        top + plot_h / 2.0,
        top + plot_h / 2.0
    );
    let _ = write!(
        s,
        r##"<text x="{:.1}" y="{:.1}" class="axis" text-anchor="middle">Day (UTC)</text>"##,
        left + plot_w / 2.0,
        h - 6.0
    );
    s.push_str("</svg>");
    s
}

/// The control × account/region grid, one block of rows per framework; a cell that is not
/// compliant links to its failing resources.
pub fn heatmap(grid: &ControlGrid) -> String {
    let (cell_w, cell_h, head_h) = (110.0, 24.0, 22.0);
    let longest = grid.rows.iter().map(|r| r.control.chars().count()).max().unwrap_or(10);
    let left = (longest as f64 * 8.2 + 16.0).clamp(160.0, 520.0);
    let top = 150.0;
    let frameworks =
        grid.rows.iter().enumerate().filter(|(i, r)| *i == 0 || grid.rows[i - 1].framework != r.framework).count();
    let w = left + grid.scopes.len().max(1) as f64 * cell_w + 90.0;
    let h = top + grid.rows.len().max(1) as f64 * cell_h + frameworks as f64 * head_h + 50.0;
    let mut s = String::new();
    open(
        &mut s,
        "chart-controls",
        w as u32,
        h as u32,
        "Control compliance by account and region",
        "A grid of framework controls (rows, grouped by framework) by account and region (columns); each cell gives the control's status and its compliant or non-compliant count, and links to the failing resources; the table below has the numbers.",
    );
    for (c, scope) in grid.scopes.iter().enumerate() {
        let x = left + c as f64 * cell_w + cell_w / 2.0;
        let _ = write!(
            s,
            r##"<text x="{x:.1}" y="{:.1}" class="label" transform="rotate(-40 {x:.1} {:.1})">{}</text>"##,
            top - 8.0,
            top - 8.0,
            escape(scope)
        );
    }
    let _ = write!(
        s,
        r##"<text x="{:.1}" y="{:.1}" class="axis" text-anchor="end">Control</text>"##,
        left - 8.0,
        top - 8.0
    );
    let mut y = top;
    for (r, row) in grid.rows.iter().enumerate() {
        if r == 0 || grid.rows[r - 1].framework != row.framework {
            let _ = write!(
                s,
                r##"<text x="4" y="{:.1}" class="axis">Framework {}</text>"##,
                y + 15.0,
                escape(&row.framework)
            );
            y += head_h;
        }
        let _ = write!(
            s,
            r##"<text x="{:.1}" y="{:.1}" class="label" text-anchor="end">{}</text>"##,
            left - 8.0,
            y + 16.0,
            escape(&row.control)
        );
        for (c, cell) in row.cells.iter().enumerate() {
            let x = left + c as f64 * cell_w;
            let Some(cell) = cell else {
                let _ = write!(
                    s,
                    r##"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="#ffffff" stroke="#cccccc"/>"##,
                    x + 1.0,
                    y + 1.0,
                    cell_w - 2.0,
                    cell_h - 2.0
                );
                continue;
            };
            let (fill, ink) = status_colour(&cell.status);
            let text = match cell.status.as_str() {
                "COMPLIANT" => format!("OK {}", cell.compliant),
                "NON_COMPLIANT" => format!("FAIL {}", cell.non_compliant),
                "INSUFFICIENT_DATA" => "NO DATA".to_string(),
                other => other.replace('_', " "),
            };
            let tip = format!(
                "{} · {} in {}: {} ({} compliant, {} non-compliant)",
                row.framework, row.control, grid.scopes[c], cell.status, cell.compliant, cell.non_compliant
            );
            let body = format!(
                r##"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{fill}"><title>{}</title></rect><text x="{:.1}" y="{:.1}" class="cell" fill="{ink}" text-anchor="middle">{}</text>"##,
                x + 1.0,
                y + 1.0,
                cell_w - 2.0,
                cell_h - 2.0,
                escape(&tip),
                x + cell_w / 2.0,
                y + 16.0,
                escape(&text)
            );
            match &cell.anchor {
                Some(a) => {
                    let _ = write!(s, r##"<a href="#{a}">{body}</a>"##);
                }
                None => s.push_str(&body),
            }
        }
        y += cell_h;
    }
    let legend_y = h - 30.0;
    let mut x = 4.0;
    for (status, label) in [
        ("COMPLIANT", "Compliant (OK n: resources compliant)"),
        ("NON_COMPLIANT", "Non-compliant (FAIL n: resources failing)"),
        ("INSUFFICIENT_DATA", "Insufficient data"),
    ] {
        legend(&mut s, x, legend_y, status_colour(status).0, label, false);
        x += 40.0 + label.len() as f64 * 6.0;
    }
    s.push_str("</svg>");
    s
}

/// Resources no plan selects, per Config type, against those a plan selects.
pub fn coverage(rows: &[CoverageRow]) -> String {
    let (left, right, top, row_h) = (260.0, 170.0, 30.0, 22.0);
    let w = 900.0;
    let plot_w = w - left - right;
    let h = top + rows.len().max(1) as f64 * row_h + 44.0;
    let (max, step) = nice_axis(rows.iter().map(|r| r.resources as f64).fold(0.0, f64::max));
    let mut s = String::new();
    open(
        &mut s,
        "chart-coverage",
        w as u32,
        h as u32,
        "Resources no backup plan selects",
        "Horizontal stacked bars per resource type: resources a backup plan selects and resources none selects; the table below has the numbers.",
    );
    let mut v = 0.0;
    while v <= max + 1e-9 {
        let x = left + v / max * plot_w;
        let _ = write!(s, r##"<line x1="{x:.1}" y1="{top}" x2="{x:.1}" y2="{:.1}" stroke="#dddddd"/>"##, h - 38.0);
        let _ = write!(
            s,
            r##"<text x="{x:.1}" y="{:.1}" class="tick" text-anchor="middle">{}</text>"##,
            h - 24.0,
            short(v)
        );
        v += step;
    }
    legend(&mut s, left, 8.0, OUTCOME_COLOURS[0], "Selected by a plan", false);
    let _ = write!(
        s,
        r##"<text x="{:.1}" y="{:.1}" class="axis" text-anchor="end">Resource type</text>"##,
        left - 8.0,
        h - 24.0
    );
    legend(&mut s, left + 150.0, 8.0, OUTCOME_COLOURS[2], "Selected by no plan", false);
    for (i, r) in rows.iter().enumerate() {
        let y = top + i as f64 * row_h;
        let _ = write!(
            s,
            r##"<text x="{:.1}" y="{:.1}" class="label" text-anchor="end">{}</text>"##,
            left - 8.0,
            y + 15.0,
            escape(&r.resource_type)
        );
        let selected = (r.resources - r.unselected) as f64 / max * plot_w;
        let unselected = r.unselected as f64 / max * plot_w;
        bar(&mut s, (left, y + 3.0, selected, row_h - 6.0), OUTCOME_COLOURS[0], None);
        bar(&mut s, (left + selected, y + 3.0, unselected, row_h - 6.0), OUTCOME_COLOURS[2], None);
        let _ = write!(
            s,
            r##"<text x="{:.1}" y="{:.1}" class="label">{} of {} unselected</text>"##,
            left + plot_w + 8.0,
            y + 15.0,
            r.unselected,
            r.resources
        );
    }
    let _ = write!(
        s,
        r##"<text x="{:.1}" y="{:.1}" class="axis" text-anchor="middle">Resources in the inventory</text>"##,
        left + plot_w / 2.0,
        h - 6.0
    );
    s.push_str("</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axes_are_round() {
        assert_eq!(nice_axis(0.0), (1.0, 1.0));
        assert_eq!(nice_axis(7.0), (8.0, 2.0));
        assert_eq!(nice_axis(23.0), (25.0, 5.0));
        assert_eq!(nice_axis(100.0), (100.0, 20.0));
        assert_eq!(nice_axis(1234.0), (1500.0, 500.0));
    }

    #[test]
    fn text_is_escaped_and_sizes_are_readable() {
        assert_eq!(escape(r##"<a href="x">&'"##), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
        assert_eq!(bytes(1_500_000_000), "1.5 GB");
        assert_eq!(bytes(999), "999 B");
        assert_eq!(short(1200.0), "1.2k");
        assert_eq!(short(40.0), "40");
    }
}
