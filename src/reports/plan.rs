//! Report plans: which reports a run makes, for which accounts and regions, in which formats.
//!
//! Decisions where Audit Manager is silent or unconfirmed:
//! - A plan belongs to the account and region whose snapshot folder holds it (or that its
//!   `ReportPlanArn` names, for `--report-plan-file`).
//! - Empty `Accounts` means the plan's own account. `ROOT` or any `OrganizationUnits` mean every
//!   account in the estate: the snapshot holds no organisation tree, so OU membership cannot
//!   be narrowed offline (a warning says so). Empty `Regions` means the plan's own region; `*`
//!   means every region in the estate.
//! - Multi-account and multi-region reports may be JSON too (Audit Manager allows only CSV).
//! - `Formats` empty means CSV, as in Audit Manager.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::template::{Format, Template, TemplateError};
use crate::estate::model::{DescribeReportPlan, ReportPlan};
use crate::estate::{self, Estate, ReadError};

/// A report plan with everything resolved.
#[derive(Debug, Clone)]
pub struct PlannedReport {
    pub plan: ReportPlan,
    pub template: Template,
    pub formats: Vec<Format>,
    /// Accounts the report covers, sorted.
    pub accounts: BTreeSet<String>,
    /// Regions the report covers, sorted.
    pub regions: BTreeSet<String>,
    /// The key's account segment: `Some(account)`, or `None` for `crossaccount`.
    pub account_segment: Option<String>,
    /// The key's region segment: `Some(region)`, or `None` for `crossregion`.
    pub region_segment: Option<String>,
    /// Non-fatal remarks, such as an OU scope widened to the whole estate.
    pub warnings: Vec<String>,
}

/// Why a report plan cannot run. The other plans still run.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("report plan `{plan}`")]
    Template {
        plan: String,
        #[source]
        source: TemplateError,
    },
    #[error("report plan `{plan}`: unknown format `{format}` in ReportDeliveryChannel.Formats; expected CSV or JSON")]
    Format { plan: String, format: String },
    #[error("report plan `{plan}`: {message}")]
    Scope { plan: String, message: String },
    #[error("report plan `{plan}` is not in the estate, the plan files or the request")]
    Unknown { plan: String },
    /// Two plans would write the same object; neither runs, so neither replaces the other.
    #[error(
        "report plan `{plan}` ({this}) and report plan `{other_plan}` ({other}) would both write `{key}`; neither ran: give them different names or S3 key prefixes"
    )]
    Collision { plan: String, this: String, other_plan: String, other: String, key: String },
}

impl PlanError {
    /// A plan that cannot run is an invalid plan; the others still run.
    pub fn kind(&self) -> crate::problem::Kind {
        crate::problem::Kind::InvalidPlan
    }

    /// The name of the plan the error is about.
    pub fn plan(&self) -> &str {
        match self {
            PlanError::Template { plan, .. }
            | PlanError::Format { plan, .. }
            | PlanError::Scope { plan, .. }
            | PlanError::Unknown { plan }
            | PlanError::Collision { plan, .. } => plan,
        }
    }
}

/// Reads a `--report-plan-file`: the `describe-report-plan` shape, or a bare `ReportPlan`.
fn read_plan_file(path: &Path) -> Result<ReportPlan, ReadError> {
    let bytes = std::fs::read(path).map_err(|source| ReadError::Io { path: path.to_path_buf(), source })?;
    let value: serde_json::Value = estate::snapshot::parse_json(path, &bytes)?;
    if value.get("ReportPlan").is_some() {
        Ok(estate::snapshot::parse_json::<DescribeReportPlan>(path, &bytes)?.report_plan)
    } else {
        estate::snapshot::parse_json(path, &bytes)
    }
}

/// `arn:aws:backup:<region>:<account>:report-plan:…` → `(account, region)`.
fn arn_scope(arn: &str) -> Option<(String, String)> {
    let a = crate::arn::Arn::parse(arn)?;
    (!a.region.is_empty() && !a.account.is_empty()).then(|| (a.account.to_string(), a.region.to_string()))
}

/// A plan's home: the folder it came from, or its ARN, or the only account/region there is.
fn home(estate: &Estate, plan: &ReportPlan, folder: Option<usize>) -> (Option<String>, Option<String>) {
    if let Some(i) = folder {
        let id = &estate.scopes[i].id;
        return (Some(id.account.clone()), Some(id.region.clone()));
    }
    if let Some((a, r)) = plan.report_plan_arn.as_deref().and_then(arn_scope) {
        return (Some(a), Some(r));
    }
    let single = |set: BTreeSet<&str>| {
        if set.len() == 1 { set.into_iter().next().map(str::to_string) } else { None }
    };
    (single(estate.accounts()), single(estate.regions()))
}

/// Resolves one plan against the estate.
pub fn resolve(estate: &Estate, plan: &ReportPlan, folder: Option<usize>) -> Result<PlannedReport, PlanError> {
    let name = plan.report_plan_name.clone();
    let template = Template::built_in(&plan.report_setting.report_template)
        .map_err(|source| PlanError::Template { plan: name.clone(), source })?;
    let mut formats = Vec::new();
    for f in &plan.report_delivery_channel.formats {
        let format = Format::parse(f).ok_or_else(|| PlanError::Format { plan: name.clone(), format: f.clone() })?;
        if !formats.contains(&format) {
            formats.push(format);
        }
    }
    if formats.is_empty() {
        formats.push(Format::Csv);
    }
    let (home_account, home_region) = home(estate, plan, folder);
    let setting = &plan.report_setting;
    let mut warnings = Vec::new();
    let scope_err = |message: String| PlanError::Scope { plan: name.clone(), message };

    let cross_account = !setting.accounts.is_empty() || !setting.organization_units.is_empty();
    let accounts: BTreeSet<String> = if !setting.organization_units.is_empty()
        || setting.accounts.iter().any(|a| a == "ROOT" || a == "*")
    {
        if !setting.organization_units.is_empty() {
            warnings.push(format!(
                "report plan `{name}`: OrganizationUnits cannot be resolved offline; the report covers every account in the estate"
            ));
        }
        // Every account of the estate, and every account an organisation-wide job list named.
        estate.accounts().into_iter().chain(estate.job_accounts()).map(str::to_string).collect()
    } else if cross_account {
        setting.accounts.iter().cloned().collect()
    } else {
        let a = home_account.clone().ok_or_else(|| {
            scope_err("has no ReportPlanArn and the estate has several accounts; set ReportSetting.Accounts".into())
        })?;
        BTreeSet::from([a])
    };
    let cross_region = !setting.regions.is_empty();
    let regions: BTreeSet<String> = if setting.regions.iter().any(|r| r == "*") {
        estate.regions().into_iter().map(str::to_string).collect()
    } else if cross_region {
        setting.regions.iter().cloned().collect()
    } else {
        let r = home_region.clone().ok_or_else(|| {
            scope_err("has no ReportPlanArn and the estate has several regions; set ReportSetting.Regions".into())
        })?;
        BTreeSet::from([r])
    };
    Ok(PlannedReport {
        plan: plan.clone(),
        template,
        formats,
        accounts,
        regions,
        account_segment: if cross_account { None } else { home_account },
        region_segment: if cross_region { None } else { home_region },
        warnings,
    })
}

/// Every report plan of the estate, plus the extra plan files, resolved. Plans that cannot run
/// come back as errors beside the ones that can.
fn plan_all(estate: &Estate, extra: &[(PathBuf, ReportPlan)]) -> (Vec<PlannedReport>, Vec<PlanError>) {
    let mut ok = Vec::new();
    let mut failed = Vec::new();
    let plans = estate.report_plans.iter().map(|(s, p)| (Some(*s), p)).chain(extra.iter().map(|(_, p)| (None, p)));
    for (folder, plan) in plans {
        match resolve(estate, plan, folder) {
            Ok(p) => ok.push(p),
            Err(e) => failed.push(e),
        }
    }
    (ok, failed)
}

/// The plans a run executes: the estate's own, the plan files and the inline plans, narrowed
/// to `names` (all when empty). A name that matches no plan is a plan error.
pub fn select(
    estate: &Estate,
    files: &[std::path::PathBuf],
    inline: &[ReportPlan],
    names: &[String],
) -> Result<(Vec<PlannedReport>, Vec<PlanError>), ReadError> {
    let mut extra =
        files.iter().map(|p| read_plan_file(p).map(|plan| (p.clone(), plan))).collect::<Result<Vec<_>, _>>()?;
    extra.extend(inline.iter().map(|p| (std::path::PathBuf::from("<inline>"), p.clone())));
    let (mut planned, mut errors) = plan_all(estate, &extra);
    if !names.is_empty() {
        let wanted = |name: &str| names.iter().any(|n| n == name);
        planned.retain(|p| wanted(&p.plan.report_plan_name));
        errors.retain(|e| wanted(e.plan()));
        for name in names {
            let known =
                planned.iter().any(|p| &p.plan.report_plan_name == name) || errors.iter().any(|e| e.plan() == name);
            if !known {
                errors.push(PlanError::Unknown { plan: name.clone() });
            }
        }
    }
    Ok((planned, errors))
}
