//! Report frames of the two compliance templates, from the evaluation results.
//!
//! `CONTROL_COMPLIANCE_REPORT` prints [`control_results`], one row per framework control and
//! account/region; `RESOURCE_COMPLIANCE_REPORT` prints [`resource_results`], one row per
//! framework, control and resource, with the reason for the verdict.

use polars::prelude::DataFrame;

use crate::controls::{ControlResult, Verdict};
use crate::estate::Estate;
use crate::frames::{Builder, FrameError, schema};
use crate::time::Millis;

/// The control results frame.
pub fn control_results(estate: &Estate, results: &[ControlResult], now: Millis) -> Result<DataFrame, FrameError> {
    let scope = |r: &ControlResult| &estate.scopes[r.scope].id;
    Builder::new("control_results", schema::CONTROL_RESULTS, results)
        .str(|r| Some(&scope(r).account))
        .str(|r| Some(&scope(r).region))
        .str(|r| Some(&r.framework_name))
        .str(|r| r.framework_arn.as_deref())
        .str(|r| r.framework_description.as_deref())
        .str(|r| Some(r.control.name()))
        .str(|r| Some(r.status.as_str()))
        .time(|_| Some(now))
        .int(|r| Some(r.compliant() as i64))
        .int(|r| Some(r.non_compliant() as i64))
        .str(|r| Some(r.frequency.as_str()).filter(|f| !f.is_empty()))
        .str(|r| Some(&r.scope_json))
        .str(|r| Some(&r.parameters_json))
        .str(|r| r.note.as_deref())
        .finish()
}

/// The resource results frame.
pub fn resource_results(estate: &Estate, results: &[ControlResult], now: Millis) -> Result<DataFrame, FrameError> {
    let rows: Vec<(&ControlResult, &Verdict)> =
        results.iter().flat_map(|r| r.verdicts.iter().map(move |v| (r, v))).collect();
    let scope = |r: &ControlResult| &estate.scopes[r.scope].id;
    Builder::new("resource_results", schema::RESOURCE_RESULTS, &rows)
        .str(|(r, _)| Some(&scope(r).account))
        .str(|(r, _)| Some(&scope(r).region))
        .str(|(r, _)| Some(&r.framework_name))
        .str(|(r, _)| r.framework_arn.as_deref())
        .str(|(r, _)| r.framework_description.as_deref())
        .str(|(r, _)| Some(r.control.name()))
        .str(|(_, v)| Some(&v.resource_id))
        .str(|(_, v)| Some(v.resource_type))
        .str(|(_, v)| Some(v.status.as_str()))
        .time(|_| Some(now))
        .str(|(_, v)| Some(&v.reason))
        .finish()
}
