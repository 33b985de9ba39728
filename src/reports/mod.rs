//! Render stage: report plans to report files.
//!
//! [`template`] loads the report templates, [`job_report`] builds the frames the job reports
//! print, [`compliance_report`] the rows of the compliance reports (from the evaluation, no
//! frame), [`plan`] resolves report plans, [`encode`] writes CSV and JSON rows, and [`key`]
//! names the files. The deliver stage ([`crate::sinks::stream`]) cuts them into objects.

pub mod assessment;
pub mod compliance_report;
pub mod encode;
pub mod job_report;
pub mod key;
pub mod plan;
pub mod template;

use polars::prelude::*;

pub use encode::{EncodeOptions, RenderError, Rendered};
pub use plan::{PlanError, PlannedReport};
pub use template::{Format, Template, TemplateKind};

use crate::time::Millis;

/// Keeps the rows of `df` whose `account_id` and `region` a report covers.
fn filter_scope(
    df: &DataFrame,
    accounts: &std::collections::BTreeSet<String>,
    regions: &std::collections::BTreeSet<String>,
) -> PolarsResult<DataFrame> {
    let a = df.column("account_id")?.str()?;
    let r = df.column("region")?.str()?;
    let mask: BooleanChunked = a
        .iter()
        .zip(r.iter())
        .map(|(a, r)| Some(matches!((a, r), (Some(a), Some(r)) if accounts.contains(a) && regions.contains(r))))
        .collect();
    df.filter(&mask)
}

/// A sort column, read once.
enum SortKey {
    Str(StringChunked),
    Int(Int64Chunked),
}

/// Whether the rows are already in `by` order (nulls first), checked in one pass.
fn is_sorted(df: &DataFrame, by: &[String]) -> PolarsResult<bool> {
    let mut keys = Vec::with_capacity(by.len());
    for name in by {
        let s = df.column(name)?.as_materialized_series();
        keys.push(match s.dtype() {
            DataType::String => SortKey::Str(s.str()?.rechunk().into_owned()),
            _ => SortKey::Int(s.cast(&DataType::Int64)?.i64()?.rechunk().into_owned()),
        });
    }
    for row in 1..df.height() {
        let mut order = std::cmp::Ordering::Equal;
        for k in &keys {
            order = match k {
                SortKey::Str(c) => c.get(row - 1).cmp(&c.get(row)),
                SortKey::Int(c) => c.get(row - 1).cmp(&c.get(row)),
            };
            if order != std::cmp::Ordering::Equal {
                break;
            }
        }
        if order == std::cmp::Ordering::Greater {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Sorts a report frame by the template's sort columns (ascending, nulls first), stably.
/// A frame that is already in order (the compliance results are built in order) is returned
/// as it is.
pub fn sort_for(df: DataFrame, template: &Template) -> PolarsResult<DataFrame> {
    if template.sort.is_empty() || df.height() < 2 || is_sorted(&df, &template.sort)? {
        return Ok(df);
    }
    let by: Vec<PlSmallStr> = template.sort.iter().map(|s| s.as_str().into()).collect();
    df.sort(by, SortMultipleOptions::default().with_maintain_order(true).with_nulls_last(false))
}

impl PlannedReport {
    /// Whether the plan's report covers a control unit: its account and region, and its
    /// framework when the plan names frameworks (a framework without an ARN is then left out).
    pub fn covers(&self, account: &str, region: &str, framework_arn: Option<&str>) -> bool {
        let arns = &self.plan.report_setting.framework_arns;
        self.accounts.contains(account)
            && self.regions.contains(region)
            && (arns.is_empty() || framework_arn.is_some_and(|a| arns.iter().any(|x| x == a)))
    }

    /// The key of this plan's report in `format` for the window `period`.
    pub fn key(&self, format: Format, period: (Millis, Millis)) -> String {
        key::report_key(&key::KeyParts {
            prefix: self.plan.report_delivery_channel.s3_key_prefix.as_deref(),
            account: self.account_segment.as_deref(),
            region: self.region_segment.as_deref(),
            plan_name: &self.plan.report_plan_name,
            template: &self.template.name,
            period_start: period.0,
            period_end: period.1,
            extension: format.extension(),
        })
    }
}

/// The rows a job report plan prints: the frame's rows of the plan's accounts and regions, in
/// the template's order.
pub fn job_rows(p: &PlannedReport, frame: &DataFrame) -> Result<DataFrame, RenderError> {
    let polars = |source| RenderError::Polars { template: p.template.name.clone(), source };
    let scoped = filter_scope(frame, &p.accounts, &p.regions).map_err(polars)?;
    sort_for(scoped, &p.template).map_err(polars)
}
