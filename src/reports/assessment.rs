//! What `evaluate` and `controls` print: a terminal summary for people, JSON and CSV for
//! machines. `evaluate` prints every verdict at once, so it holds them (the report plans
//! stream theirs instead).

use std::fmt::Write;

use super::compliance_report::{render_controls, render_resources};
use super::template::{Format, Template};
use super::{EncodeOptions, RenderError};
use crate::controls::{ControlSpec, Evaluation, Status, Verdict};
use crate::estate::Estate;
use crate::time::Millis;

/// The estate, `now` and the report period.
pub type Context<'a> = (&'a Estate, Millis, (Millis, Millis));

/// The terminal summary: framework, then control with counts, then the non-compliant and
/// insufficient-data resources with their reasons (at most `limit` per control).
/// `verdicts[i]` are those of `evaluation.results[i]`.
pub fn table(estate: &Estate, evaluation: &Evaluation, verdicts: &[Vec<Verdict>], limit: usize) -> String {
    let mut out = String::new();
    let mut current: Option<(usize, &str)> = None;
    let mut totals = std::collections::BTreeMap::<Status, usize>::new();
    for (r, verdicts) in evaluation.results.iter().zip(verdicts) {
        let key = (r.unit.scope, r.unit.framework_name.as_str());
        if current != Some(key) {
            let id = &estate.scopes[r.unit.scope].id;
            let _ = writeln!(out, "\nFramework {} in {}/{}", r.unit.framework_name, id.account, id.region);
            current = Some(key);
        }
        *totals.entry(r.status).or_default() += 1;
        let _ = writeln!(
            out,
            "  {:<17} {:<50} {} compliant, {} non-compliant, {} not applicable, {} insufficient data",
            r.status.as_str(),
            r.unit.control.name(),
            r.count(Status::Compliant),
            r.count(Status::NonCompliant),
            r.count(Status::NotApplicable),
            r.count(Status::InsufficientData),
        );
        if let Some(note) = &r.note {
            let _ = writeln!(out, "      {note}");
        }
        let failing: Vec<_> =
            verdicts.iter().filter(|v| matches!(v.status, Status::NonCompliant | Status::InsufficientData)).collect();
        for v in failing.iter().take(limit) {
            let _ = writeln!(out, "      {:<17} {}: {}", v.status.as_str(), v.resource_id, v.reason);
        }
        if failing.len() > limit {
            let _ = writeln!(out, "      … and {} more (--format csv lists every resource)", failing.len() - limit);
        }
    }
    let _ = writeln!(
        out,
        "\n{} controls evaluated: {} compliant, {} non-compliant, {} insufficient data",
        evaluation.results.len(),
        totals.get(&Status::Compliant).unwrap_or(&0),
        totals.get(&Status::NonCompliant).unwrap_or(&0),
        totals.get(&Status::InsufficientData).unwrap_or(&0),
    );
    out
}

/// `{"controls": [...], "resources": [...]}`, items keyed as the compliance reports are.
pub fn json(
    cx: Context<'_>,
    evaluation: &Evaluation,
    verdicts: &[Vec<Verdict>],
    opts: EncodeOptions,
) -> Result<Vec<u8>, RenderError> {
    let items = |bytes: Vec<u8>| -> serde_json::Value {
        serde_json::from_slice::<serde_json::Value>(&bytes).map(|mut v| v["reportItems"].take()).unwrap_or_default()
    };
    let results: Vec<_> = evaluation.results.iter().collect();
    let t = Template::built_in("CONTROL_COMPLIANCE_REPORT")?;
    let controls = items(render_controls(&t, Format::Json, cx, &results, opts)?.to_vec());
    let t = Template::built_in("RESOURCE_COMPLIANCE_REPORT")?;
    let resources = items(render_resources(&t, Format::Json, cx, &evaluation.results, verdicts, opts)?.to_vec());
    let mut out =
        serde_json::to_vec(&serde_json::json!({"controls": controls, "resources": resources})).unwrap_or_default();
    out.push(b'\n');
    Ok(out)
}

/// The resource compliance report as CSV.
pub fn csv(
    cx: Context<'_>,
    evaluation: &Evaluation,
    verdicts: &[Vec<Verdict>],
    opts: EncodeOptions,
) -> Result<Vec<u8>, RenderError> {
    let t = Template::built_in("RESOURCE_COMPLIANCE_REPORT")?;
    Ok(render_resources(&t, Format::Csv, cx, &evaluation.results, verdicts, opts)?.to_vec())
}

/// The `controls` listing: each control, what it evaluates, its parameters.
pub fn controls(specs: &[ControlSpec]) -> String {
    let mut out = String::new();
    for s in specs {
        let _ = writeln!(
            out,
            "{}\n  {}\n  evaluates: {:?}; scope: {}",
            s.name,
            s.title,
            s.evaluates,
            s.scope_kinds.join(", ")
        );
        for p in &s.parameters {
            let range = match (p.min, p.max, p.hours, p.days) {
                (_, _, Some(h), Some(d)) => format!(", {}-{} hours or {}-{} days", h[0], h[1], d[0], d[1]),
                (Some(lo), Some(hi), _, _) => format!(", {lo}-{hi}"),
                _ => String::new(),
            };
            let values = if p.values.is_empty() { String::new() } else { format!(", one of {}", p.values.join("|")) };
            let default = p
                .default
                .as_deref()
                .map_or(if p.required { ", required".into() } else { ", optional".to_string() }, |d| {
                    format!(", default {d}")
                });
            let _ = writeln!(out, "  - {} ({:?}{default}{values}{range}): {}", p.name, p.kind, p.description);
        }
        out.push('\n');
    }
    out
}
