//! Evaluate stage: every control of every framework, in parallel, with a reason per verdict.
//!
//! The work is split into units of (framework, control, account/region) and spread over
//! rayon's global pool. What several controls share is computed once before that, in
//! [`Context::build`]: the resource inventory with tags and plan coverage, the newest recovery
//! point of each resource (a Polars group-by), and the restore figures.
//!
//! Decision on thread pools: Polars keeps its own pool for the group-bys in
//! [`Context::build`], which runs before the rayon stage; the evaluation units themselves do
//! not call Polars. The two pools therefore never compete for the cores, and neither is
//! resized. Measured on `bench/controls.sh`'s estate (100,000 resources, 1,000,000 recovery
//! points, 3 frameworks, 5.47 million verdicts) on 2 cores: the units take 9.0 s with one rayon
//! thread and 4.7 s with two (1.9x); the context takes 1.1 s with one Polars thread and 1.3 to
//! 1.45 s with two, so a second Polars thread buys nothing there, and costs nothing either.
//!
//! Decision on control status (reference 1.1, with "missing data is never COMPLIANT"): any
//! NON_COMPLIANT resource makes the control NON_COMPLIANT; else any resource with
//! INSUFFICIENT_DATA makes it INSUFFICIENT_DATA; else any COMPLIANT resource makes it
//! COMPLIANT; else (nothing evaluated, or only NOT_APPLICABLE) it is INSUFFICIENT_DATA.
//! Resources outside a control's scope are left out of the report, as Audit Manager does;
//! resources in scope that AWS would not evaluate (stopped EC2 instances) are NOT_APPLICABLE.

use std::collections::{BTreeMap, HashMap};

use polars::prelude::*;
use rayon::prelude::*;

use super::cron::{Schedule, human_minutes};
use super::resources::{self, PLAN_TYPE, RECOVERY_POINT_TYPE, VAULT_TYPE};
use super::selection::{self, Match};
use super::spec::{ControlId, ControlSpec, Evaluates, Params};
use crate::estate::model::{BackupRule, ControlScope, Framework, FrameworkControl};
use crate::estate::{Dataset, Estate};
use crate::frames::Frames;
use crate::time::{self, DAY_MS, HOUR_MS, Millis};

/// A verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Status {
    Compliant,
    NonCompliant,
    NotApplicable,
    InsufficientData,
}

impl Status {
    /// The report spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Compliant => "COMPLIANT",
            Status::NonCompliant => "NON_COMPLIANT",
            Status::NotApplicable => "NOT_APPLICABLE",
            Status::InsufficientData => "INSUFFICIENT_DATA",
        }
    }

    /// The control status of a set of resource verdicts (see the module docs).
    fn aggregate(verdicts: impl IntoIterator<Item = Status>) -> Status {
        let (mut non, mut insufficient, mut compliant) = (false, false, false);
        for v in verdicts {
            match v {
                Status::NonCompliant => non = true,
                Status::InsufficientData => insufficient = true,
                Status::Compliant => compliant = true,
                Status::NotApplicable => {}
            }
        }
        if non {
            Status::NonCompliant
        } else if insufficient || !compliant {
            Status::InsufficientData
        } else {
            Status::Compliant
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One evaluated resource, plan, vault or recovery point.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// `<Config type>/<id>`, e.g. `AWS::EFS::FileSystem/fs-63c74e66`.
    pub resource_id: String,
    /// The Config type.
    pub resource_type: &'static str,
    pub status: Status,
    pub reason: String,
}

/// A framework to evaluate, and the accounts and regions it applies to.
#[derive(Debug, Clone)]
pub struct FrameworkRun {
    pub framework: Framework,
    /// Scope indexes of the estate.
    pub scopes: Vec<usize>,
}

/// One control of one framework in one account and region.
#[derive(Debug, Clone)]
pub struct ControlResult {
    pub scope: usize,
    pub framework_name: String,
    pub framework_arn: Option<String>,
    pub framework_description: Option<String>,
    pub control: ControlId,
    /// `controlFrequency` of the control report.
    pub frequency: String,
    /// The framework's control scope as JSON.
    pub scope_json: String,
    /// The framework's parameters as JSON (`{}` when none).
    pub parameters_json: String,
    pub status: Status,
    /// Why the control as a whole has its status when no resource row says it.
    pub note: Option<String>,
    pub verdicts: Vec<Verdict>,
}

impl ControlResult {
    /// COMPLIANT resources.
    pub fn compliant(&self) -> usize {
        self.verdicts.iter().filter(|v| v.status == Status::Compliant).count()
    }
    /// NON_COMPLIANT resources.
    pub fn non_compliant(&self) -> usize {
        self.verdicts.iter().filter(|v| v.status == Status::NonCompliant).count()
    }
}

/// Why a framework control was not evaluated. The other controls still are.
#[derive(Debug, Clone, thiserror::Error)]
pub enum EvalError {
    #[error("framework `{framework}`: unknown control `{control}`; expected one of {expected}")]
    UnknownControl { framework: String, control: String, expected: String },
    #[error("framework `{framework}`, control `{control}`: {message}")]
    Parameter { framework: String, control: String, message: String },
    #[error(
        "framework `{framework}` in {account}/{region}: its describe-framework file was not collected, so its controls are not evaluated"
    )]
    FrameworkNotCollected { framework: String, account: String, region: String },
    /// Polars refused a query over the frames; no control was evaluated.
    #[error("computing recovery point ages")]
    Polars(#[source] PolarsError),
}

impl EvalError {
    /// Unknown controls and bad parameters are bad input; a framework whose definition was not
    /// collected is partial data; a Polars failure is the tool's own.
    pub fn kind(&self) -> crate::problem::Kind {
        use crate::problem::Kind;
        match self {
            EvalError::UnknownControl { .. } | EvalError::Parameter { .. } => Kind::BadInput,
            EvalError::FrameworkNotCollected { .. } => Kind::NotCollected,
            EvalError::Polars(_) => Kind::Failed,
        }
    }
}

/// Everything an evaluation produced.
#[derive(Debug, Clone, Default)]
pub struct Evaluation {
    pub results: Vec<ControlResult>,
    /// Framework or parameter errors: those controls were not evaluated.
    pub errors: Vec<EvalError>,
    pub warnings: Vec<String>,
}

impl Evaluation {
    /// Whether any control is NON_COMPLIANT.
    pub fn any_non_compliant(&self) -> bool {
        self.results.iter().any(|r| r.status == Status::NonCompliant)
    }
}

/// A resource of the inventory with what the resource controls need.
#[derive(Debug)]
struct Resource {
    arn: String,
    short_type: &'static str,
    config_type: &'static str,
    tags: BTreeMap<String, String>,
    /// EC2 instance state when known.
    state: Option<String>,
    /// (plan index, rule indexes, selection name, why) for every selection that picks it.
    coverage: Vec<Coverage>,
}

#[derive(Debug)]
struct Coverage {
    plan: usize,
    selection: String,
    why: Match,
}

/// Per account and region: resources and whether the inputs were collected.
#[derive(Debug, Default)]
struct ScopeData {
    resources: Vec<Resource>,
    /// Plans of this scope (indexes into `Estate::plans`).
    plans: Vec<usize>,
    /// Every selection had its detail file.
    selections_complete: bool,
    /// Inventory (get-resources or list-protected-resources) was collected.
    inventory_collected: bool,
}

/// What all units share.
pub struct Context<'e> {
    estate: &'e Estate,
    now: Millis,
    scopes: Vec<ScopeData>,
    /// Tags of every ARN in the inventory.
    tags: HashMap<String, BTreeMap<String, String>>,
    /// Newest usable recovery point per resource ARN (anywhere in the estate).
    latest_rp: HashMap<String, Millis>,
    /// Newest usable recovery point in a logically air-gapped vault per resource ARN.
    latest_lag_rp: HashMap<String, Millis>,
    /// `LatestRestoreExecutionTimeMinutes` per resource ARN.
    restore_minutes: HashMap<String, i64>,
    /// `LastBackupTime` per resource ARN.
    last_backup: HashMap<String, Millis>,
    /// Vaults by (scope, name).
    vaults: HashMap<(usize, String), usize>,
}

/// Newest usable recovery point per resource, overall and in air-gapped vaults (Polars).
/// Newest recovery point per resource ARN.
type Newest = HashMap<String, Millis>;

/// Only recovery points created at or before `now` count: the estate is judged as of `--now`,
/// and a recovery point from after it is not evidence (it did not exist yet).
fn latest_recovery_points(frames: &Frames, now: Millis) -> PolarsResult<(Newest, Newest)> {
    let vault_types = frames
        .vaults
        .clone()
        .lazy()
        .select([col("backup_vault_arn").alias("v_arn"), col("vault_type").alias("v_type")]);
    let usable = frames
        .recovery_points
        .clone()
        .lazy()
        .filter(col("resource_arn").is_not_null())
        .filter(col("status").is_null().or(col("status").eq(lit("COMPLETED"))).or(col("status").eq(lit("AVAILABLE"))))
        .join(
            vault_types.unique_stable_generic(Some(vec![col("v_arn")]), UniqueKeepStrategy::First),
            [col("backup_vault_arn")],
            [col("v_arn")],
            JoinArgs::new(JoinType::Left),
        )
        .with_column(coalesce(&[col("vault_type"), col("v_type")]).alias("effective_vault_type"))
        .select([col("resource_arn"), col("creation_date").cast(DataType::Int64), col("effective_vault_type")])
        .filter(col("creation_date").lt_eq(lit(now)));
    let newest = |lf: LazyFrame| -> PolarsResult<HashMap<String, Millis>> {
        let df = lf.group_by([col("resource_arn")]).agg([col("creation_date").max()]).collect()?;
        let arns = df.column("resource_arn").and_then(|c| c.str().cloned())?;
        let dates = df.column("creation_date").and_then(|c| c.i64().cloned())?;
        Ok(arns.iter().zip(dates.iter()).filter_map(|(a, d)| Some((a?.to_string(), d?))).collect())
    };
    let all = newest(usable.clone())?;
    let lag = newest(usable.filter(col("effective_vault_type").eq(lit("LOGICALLY_AIR_GAPPED_BACKUP_VAULT"))))?;
    Ok((all, lag))
}

impl<'e> Context<'e> {
    /// Precomputes the shared indexes.
    pub fn build(estate: &'e Estate, frames: &'e Frames, now: Millis) -> PolarsResult<Context<'e>> {
        let mut tags: HashMap<String, BTreeMap<String, String>> = HashMap::new();
        for (_, r) in &estate.inventory {
            tags.entry(r.resource_arn.clone())
                .or_default()
                .extend(r.tags.iter().map(|t| (t.key.clone(), t.value.clone())));
        }
        let (latest_rp, latest_lag_rp) = latest_recovery_points(frames, now)?;
        let mut restore_minutes = HashMap::new();
        let mut last_backup = HashMap::new();
        // Protected-resource facts from after `now` are not evidence either: a restore whose
        // job was created later, a last backup later than `now`.
        for (_, p) in &estate.protected_resources {
            let restore_known = p.latest_restore_job_creation_date.is_none_or(|t| t.0 <= now);
            if let Some(m) = p.latest_restore_execution_time_minutes.filter(|_| restore_known) {
                restore_minutes.insert(p.resource_arn.clone(), m);
            }
            if let Some(t) = p.last_backup_time.filter(|t| t.0 <= now) {
                last_backup.insert(p.resource_arn.clone(), t.0);
            }
        }
        let vaults =
            estate.vaults.iter().enumerate().map(|(i, v)| ((v.scope, v.vault.backup_vault_name.clone()), i)).collect();
        let scopes = (0..estate.scopes.len()).into_par_iter().map(|s| Self::scope_data(estate, s, &tags)).collect();
        Ok(Context { estate, now, scopes, tags, latest_rp, latest_lag_rp, restore_minutes, last_backup, vaults })
    }

    fn scope_data(estate: &Estate, s: usize, tags: &HashMap<String, BTreeMap<String, String>>) -> ScopeData {
        let plans: Vec<usize> = estate.plans.iter().enumerate().filter(|(_, p)| p.scope == s).map(|(i, _)| i).collect();
        let selections: Vec<_> = estate.selections.iter().filter(|x| x.scope == s).collect();
        let selections_complete = (estate.has(s, Dataset::Selections) || estate.has(s, Dataset::SelectionDetails))
            && selections.iter().all(|x| x.selection.is_some());
        let mut arns: Vec<&str> = estate
            .inventory
            .iter()
            .filter(|(sc, _)| *sc == s)
            .map(|(_, r)| r.resource_arn.as_str())
            .chain(estate.protected_resources.iter().filter(|(sc, _)| *sc == s).map(|(_, r)| r.resource_arn.as_str()))
            .collect();
        arns.sort_unstable();
        arns.dedup();
        let empty = BTreeMap::new();
        let resources = arns
            .into_iter()
            .filter_map(|arn| {
                let short = resources::short_type(arn)?;
                let t = tags.get(arn).unwrap_or(&empty);
                let coverage = selections
                    .iter()
                    .filter_map(|x| {
                        let detail = x.selection.as_ref()?;
                        let why = selection::matches(detail, arn, t)?;
                        let plan = plans.iter().copied().find(|&p| estate.plans[p].id == x.plan_id)?;
                        Some(Coverage { plan, selection: detail.selection_name.clone(), why })
                    })
                    .collect();
                let state = (short == "EC2")
                    .then(|| estate.instance_states.get(&(s, resources::resource_id(arn).to_string())).cloned())
                    .flatten();
                Some(Resource {
                    arn: arn.to_string(),
                    short_type: short,
                    config_type: resources::config_type(short).unwrap_or("AWS::Unknown"),
                    tags: t.clone(),
                    state,
                    coverage,
                })
            })
            .collect();
        ScopeData {
            resources,
            plans,
            selections_complete,
            inventory_collected: estate.has(s, Dataset::Resources) || estate.has(s, Dataset::ProtectedResources),
        }
    }
}

/// A framework control's scope, ready to test entities against.
struct ScopeFilter<'a> {
    scope: Option<&'a ControlScope>,
}

impl ScopeFilter<'_> {
    /// Whether the scope tests tags (so that callers look tags up only when needed).
    fn uses_tags(&self) -> bool {
        self.scope.is_some_and(|s| !s.tags.is_empty())
    }

    /// Whether an entity is in scope. `types` are the entity's own type names (short and
    /// Config); `ids` its ids (id and ARN).
    fn admits(&self, types: &[&str], ids: &[&str], tags: &BTreeMap<String, String>) -> bool {
        let Some(s) = self.scope else { return true };
        if !s.compliance_resource_types.is_empty()
            && !s.compliance_resource_types.iter().any(|t| types.iter().any(|x| x.eq_ignore_ascii_case(t.trim())))
        {
            return false;
        }
        if !s.compliance_resource_ids.is_empty() && !s.compliance_resource_ids.iter().any(|i| ids.contains(&i.as_str()))
        {
            return false;
        }
        s.tags.iter().all(|(k, v)| match tags.get(k) {
            Some(actual) => v.is_empty() || actual == v,
            None => false,
        })
    }
}

fn verdict(config_type: &'static str, id: &str, status: Status, reason: impl Into<String>) -> Verdict {
    Verdict { resource_id: format!("{config_type}/{id}"), resource_type: config_type, status, reason: reason.into() }
}

/// Evaluates every framework against the estate.
pub fn evaluate(
    estate: &Estate,
    frames: &Frames,
    runs: &[FrameworkRun],
    specs: &[ControlSpec],
    now: Millis,
) -> Evaluation {
    let mut out = Evaluation::default();
    let started = std::time::Instant::now();
    let ctx = match Context::build(estate, frames, now) {
        Ok(c) => c,
        Err(e) => {
            out.errors.push(EvalError::Polars(e));
            return out;
        }
    };
    // Check every framework control first: errors are reported and that control is skipped.
    let mut units: Vec<(&FrameworkRun, &FrameworkControl, ControlId, &ControlSpec, Params, usize)> = Vec::new();
    for run in runs {
        let fw = &run.framework;
        for fc in &fw.framework_controls {
            let (framework, control) = (fw.framework_name.clone(), fc.control_name.clone());
            let Some(id) = ControlId::from_name(&fc.control_name) else {
                let expected = ControlId::ALL.iter().map(|c| c.name()).collect::<Vec<_>>().join(", ");
                out.errors.push(EvalError::UnknownControl { framework, control, expected });
                continue;
            };
            let Some(spec) = specs.iter().find(|s| s.name == fc.control_name) else {
                out.errors.push(EvalError::Parameter { framework, control, message: "no definition loaded".into() });
                continue;
            };
            let params = match spec.parameters(&fc.control_input_parameters) {
                Ok(p) => p,
                Err(message) => {
                    out.errors.push(EvalError::Parameter { framework, control, message });
                    continue;
                }
            };
            if let Some(scope) = &fc.control_scope
                && scope.tags.len() > 1
            {
                out.warnings.push(format!(
                    "framework `{}`, control `{}`: the scope has {} tags; AWS allows one, all are required here",
                    fw.framework_name,
                    fc.control_name,
                    scope.tags.len()
                ));
            }
            for &s in &run.scopes {
                units.push((run, fc, id, spec, params.clone(), s));
            }
        }
    }
    let context_ms = started.elapsed().as_millis() as u64;
    out.results = units
        .par_iter()
        .map(|(run, fc, id, spec, params, s)| {
            let filter = ScopeFilter { scope: fc.control_scope.as_ref() };
            let (mut verdicts, note) = ctx.evaluate_unit(*id, spec, params, &filter, *s);
            // INVARIANT: verdicts are in resource id order, the compliance reports' row order.
            verdicts.sort_by(|a, b| a.resource_id.cmp(&b.resource_id));
            let status = if verdicts.is_empty() && note.is_some() {
                Status::InsufficientData
            } else {
                Status::aggregate(verdicts.iter().map(|v| v.status))
            };
            ControlResult {
                scope: *s,
                framework_name: run.framework.framework_name.clone(),
                framework_arn: run.framework.framework_arn.clone(),
                framework_description: run.framework.framework_description.clone(),
                control: *id,
                frequency: spec.frequency.clone(),
                scope_json: scope_json(fc.control_scope.as_ref()),
                parameters_json: parameters_json(fc),
                status,
                note,
                verdicts,
            }
        })
        .collect();
    tracing::debug!(
        units = units.len(),
        context_ms,
        evaluated_ms = started.elapsed().as_millis() as u64,
        verdicts = out.results.iter().map(|r| r.verdicts.len()).sum::<usize>(),
        "evaluated the controls"
    );
    out
}

fn scope_json(scope: Option<&ControlScope>) -> String {
    let Some(s) = scope else { return "{}".into() };
    let mut m = serde_json::Map::new();
    if !s.compliance_resource_ids.is_empty() {
        m.insert("ComplianceResourceIds".into(), s.compliance_resource_ids.clone().into());
    }
    if !s.compliance_resource_types.is_empty() {
        m.insert("ComplianceResourceTypes".into(), s.compliance_resource_types.clone().into());
    }
    if !s.tags.is_empty() {
        m.insert("Tags".into(), serde_json::to_value(&s.tags).unwrap_or_default());
    }
    serde_json::Value::Object(m).to_string()
}

fn parameters_json(fc: &FrameworkControl) -> String {
    let m: serde_json::Map<String, serde_json::Value> = fc
        .control_input_parameters
        .iter()
        .map(|p| (p.parameter_name.clone(), p.parameter_value.clone().into()))
        .collect();
    serde_json::Value::Object(m).to_string()
}

/// `1 plan`, `3 plans`.
fn count(n: usize, noun: &str) -> String {
    if n == 1 { format!("1 {noun}") } else { format!("{n} {noun}s") }
}

/// Days and hours as the parameters give them.
fn age_limit(params: &Params) -> (Millis, String) {
    let value = params.int("recoveryPointAgeValue").unwrap_or(1);
    match params.text("recoveryPointAgeUnit") {
        Some("hours") => (value * HOUR_MS, human_minutes(value * 60)),
        _ => (value * DAY_MS, if value == 1 { "1 day".into() } else { format!("{value} days") }),
    }
}

fn hours(ms: Millis) -> String {
    let h = ms as f64 / HOUR_MS as f64;
    if h >= 48.0 { format!("{:.1} days", h / 24.0) } else { format!("{h:.1} hours") }
}

impl Context<'_> {
    fn evaluate_unit(
        &self,
        id: ControlId,
        spec: &ControlSpec,
        params: &Params,
        filter: &ScopeFilter,
        s: usize,
    ) -> (Vec<Verdict>, Option<String>) {
        match spec.evaluates {
            Evaluates::Resource => self.resource_control(id, params, filter, s),
            Evaluates::Plan => self.plan_control(params, filter, s),
            Evaluates::Vault => self.vault_control(params, filter, s),
            Evaluates::RecoveryPoint => self.recovery_point_control(id, params, filter, s),
        }
    }

    fn resource_control(
        &self,
        id: ControlId,
        params: &Params,
        filter: &ScopeFilter,
        s: usize,
    ) -> (Vec<Verdict>, Option<String>) {
        let data = &self.scopes[s];
        if !data.inventory_collected {
            return (Vec::new(), Some("neither get-resources nor list-protected-resources was collected".into()));
        }
        let verdicts = data
            .resources
            .iter()
            .filter(|r| {
                let id = resources::resource_id(&r.arn);
                filter.admits(&[r.short_type, r.config_type], &[id, r.arn.as_str()], &r.tags)
            })
            .map(|r| {
                let rid = resources::resource_id(&r.arn);
                if r.state.as_deref().is_some_and(|st| st != "running") {
                    return verdict(
                        r.config_type,
                        rid,
                        Status::NotApplicable,
                        format!(
                            "the instance is {}; only running instances are evaluated",
                            r.state.as_deref().unwrap_or_default()
                        ),
                    );
                }
                let (status, reason) = self.resource_verdict(id, params, r, s);
                verdict(r.config_type, rid, status, reason)
            })
            .collect();
        (verdicts, None)
    }

    /// Rules of the plans that select a resource: (plan name, rule).
    fn covering_rules<'a>(&'a self, r: &'a Resource) -> impl Iterator<Item = (&'a str, &'a BackupRule)> + 'a {
        r.coverage.iter().flat_map(move |c| {
            let plan = &self.estate.plans[c.plan];
            let name = plan.name.as_deref().unwrap_or(plan.id.as_str());
            plan.rules.iter().flatten().map(move |rule| (name, rule))
        })
    }

    fn coverage_gap(&self, r: &Resource, s: usize) -> Option<(Status, String)> {
        let data = &self.scopes[s];
        if !data.selections_complete {
            return Some((
                Status::InsufficientData,
                "the backup selections of this account and region were not collected".into(),
            ));
        }
        if r.coverage.is_empty() {
            return Some((
                Status::NonCompliant,
                format!(
                    "no backup selection selects it (checked {} in {})",
                    count(data.plans.len(), "plan"),
                    self.estate.scopes[s].id.region
                ),
            ));
        }
        if r.coverage.iter().any(|c| self.estate.plans[c.plan].rules.is_none()) {
            return Some((Status::InsufficientData, "a plan that selects it has no get-backup-plan file".into()));
        }
        None
    }

    fn resource_verdict(&self, id: ControlId, params: &Params, r: &Resource, s: usize) -> (Status, String) {
        let here = &self.estate.scopes[s].id;
        match id {
            ControlId::ProtectedByBackupPlan => {
                if let Some(gap) = self.coverage_gap(r, s) {
                    return gap;
                }
                let c = &r.coverage[0];
                let plan = &self.estate.plans[c.plan];
                let more =
                    if r.coverage.len() > 1 { format!(" and {} more", r.coverage.len() - 1) } else { String::new() };
                (
                    Status::Compliant,
                    format!(
                        "selected by plan `{}` (selection `{}`, {}){more}",
                        plan.name.as_deref().unwrap_or(&plan.id),
                        c.selection,
                        c.why
                    ),
                )
            }
            ControlId::CrossRegion | ControlId::CrossAccount => {
                if let Some(gap) = self.coverage_gap(r, s) {
                    return gap;
                }
                let region = id == ControlId::CrossRegion;
                let list = params.list(if region { "crossRegionList" } else { "crossAccountList" });
                let what = if region { "Region" } else { "account" };
                let mut seen = Vec::new();
                for (plan, rule) in self.covering_rules(r) {
                    for action in &rule.copy_actions {
                        let Some((acct, reg)) = resources::arn_account_region(&action.destination_backup_vault_arn)
                        else {
                            continue;
                        };
                        let dest = if region { reg } else { acct };
                        let other = if region { reg != here.region } else { acct != here.account };
                        if other && (list.is_empty() || list.iter().any(|l| l == dest)) {
                            return (
                                Status::Compliant,
                                format!("rule `{}` of plan `{plan}` copies to {what} {dest}", rule.rule_name),
                            );
                        }
                        seen.push(dest.to_string());
                    }
                }
                seen.sort();
                seen.dedup();
                let wanted = if list.is_empty() { format!("another {what}") } else { list.join(", ") };
                let got = if seen.is_empty() {
                    "no copy actions".to_string()
                } else {
                    format!("copies only to {}", seen.join(", "))
                };
                (Status::NonCompliant, format!("no rule that covers it copies to {wanted}; its rules have {got}"))
            }
            ControlId::VaultLock => {
                if let Some(gap) = self.coverage_gap(r, s) {
                    return gap;
                }
                if !self.estate.has(s, Dataset::VaultDetails) {
                    return (
                        Status::InsufficientData,
                        "vault details (describe-backup-vault) were not collected".into(),
                    );
                }
                let (min, max) = (params.int("minRetentionDays"), params.int("maxRetentionDays"));
                let mut notes = Vec::new();
                for (plan, rule) in self.covering_rules(r) {
                    let vault = self
                        .vaults
                        .get(&(s, rule.target_backup_vault_name.clone()))
                        .map(|&i| &self.estate.vaults[i].vault);
                    let name = &rule.target_backup_vault_name;
                    match vault {
                        None => notes.push(format!("vault `{name}` is not in the snapshot")),
                        Some(v) if v.locked != Some(true) => notes.push(format!("vault `{name}` is not locked")),
                        Some(v) => {
                            let low = min.is_some_and(|m| v.min_retention_days.is_none_or(|x| x < m));
                            let high = max.is_some_and(|m| v.max_retention_days.is_none_or(|x| x > m));
                            let bounds = format!(
                                "lock keeps {}-{} days",
                                v.min_retention_days.map_or("?".into(), |x| x.to_string()),
                                v.max_retention_days.map_or("?".into(), |x| x.to_string())
                            );
                            if low || high {
                                notes.push(format!(
                                    "vault `{name}` {bounds}, outside {}-{}",
                                    min.unwrap_or(1),
                                    max.unwrap_or(36500)
                                ));
                            } else {
                                return (
                                    Status::Compliant,
                                    format!(
                                        "rule `{}` of plan `{plan}` targets locked vault `{name}` ({bounds})",
                                        rule.rule_name
                                    ),
                                );
                            }
                        }
                    }
                }
                notes.dedup();
                (
                    Status::NonCompliant,
                    format!("no rule that covers it targets a suitable locked vault: {}", notes.join("; ")),
                )
            }
            ControlId::LastRecoveryPointCreated => {
                let (limit, text) = age_limit(params);
                let latest =
                    [self.latest_rp.get(&r.arn), self.last_backup.get(&r.arn)].into_iter().flatten().max().copied();
                match latest {
                    Some(t) if self.now - t <= limit => (
                        Status::Compliant,
                        format!(
                            "newest recovery point {} ({} old, limit {text})",
                            time::format_seconds(t),
                            hours(self.now - t)
                        ),
                    ),
                    Some(t) => (
                        Status::NonCompliant,
                        format!(
                            "newest recovery point {} is {} old, more than {text}",
                            time::format_seconds(t),
                            hours(self.now - t)
                        ),
                    ),
                    None if !self.estate.has(s, Dataset::RecoveryPoints)
                        && !self.estate.has(s, Dataset::ProtectedResources) =>
                    {
                        (
                            Status::InsufficientData,
                            "neither recovery points nor protected resources were collected".into(),
                        )
                    }
                    None => (Status::NonCompliant, "it has no recovery point".into()),
                }
            }
            ControlId::LogicallyAirGapped => {
                let (limit, text) = age_limit(params);
                match self.latest_lag_rp.get(&r.arn) {
                    Some(&t) if self.now - t <= limit => (
                        Status::Compliant,
                        format!(
                            "air-gapped recovery point {} ({} old, limit {text})",
                            time::format_seconds(t),
                            hours(self.now - t)
                        ),
                    ),
                    Some(&t) => (
                        Status::NonCompliant,
                        format!(
                            "newest air-gapped recovery point {} is {} old, more than {text}",
                            time::format_seconds(t),
                            hours(self.now - t)
                        ),
                    ),
                    None if !self.estate.has(s, Dataset::RecoveryPoints) => {
                        (Status::InsufficientData, "recovery points were not collected".into())
                    }
                    None => (Status::NonCompliant, "it has no recovery point in a logically air-gapped vault".into()),
                }
            }
            ControlId::RestoreTime => {
                let max = params.int("maxRestoreTime").unwrap_or(i64::MAX);
                match self.restore_minutes.get(&r.arn) {
                    Some(&m) if m <= max => {
                        (Status::Compliant, format!("latest restore took {m} minutes, target {max}"))
                    }
                    Some(&m) => (
                        Status::NonCompliant,
                        format!("latest restore took {m} minutes, more than the {max}-minute target"),
                    ),
                    None if !self.estate.has(s, Dataset::ProtectedResourceDetails) => {
                        (Status::InsufficientData, "describe-protected-resource was not collected".into())
                    }
                    None => (
                        Status::NotApplicable,
                        "no restore of it has been timed (restore testing has not run for it)".into(),
                    ),
                }
            }
            _ => (Status::InsufficientData, "not a resource control".into()),
        }
    }

    fn plan_control(&self, params: &Params, filter: &ScopeFilter, s: usize) -> (Vec<Verdict>, Option<String>) {
        if !self.estate.has(s, Dataset::Plans) && !self.estate.has(s, Dataset::PlanDetails) {
            return (Vec::new(), Some("backup plans were not collected".into()));
        }
        let unit_hours = params.text("requiredFrequencyUnit") == Some("hours");
        let value = params.int("requiredFrequencyValue").unwrap_or(1);
        let required_minutes = value * if unit_hours { 60 } else { 1440 };
        let retention = params.int("requiredRetentionDays").unwrap_or(35);
        let year = time::civil(self.now).year as i32;
        let verdicts = self.scopes[s]
            .plans
            .iter()
            .map(|&i| &self.estate.plans[i])
            .filter(|p| {
                let arn = p.arn.clone().unwrap_or_default();
                let t = self.tags.get(&arn).cloned().unwrap_or_default();
                filter.admits(&[PLAN_TYPE], &[p.id.as_str(), arn.as_str(), p.name.as_deref().unwrap_or_default()], &t)
            })
            .map(|p| {
                let Some(rules) = &p.rules else {
                    return verdict(
                        PLAN_TYPE,
                        &p.id,
                        Status::InsufficientData,
                        "the plan's get-backup-plan file was not collected",
                    );
                };
                let mut why = Vec::new();
                for rule in rules {
                    let freq = if rule.enable_continuous_backup == Some(true) {
                        Ok((0, "continuously".to_string()))
                    } else {
                        rule_frequency(rule, year)
                    };
                    let keeps = rule.lifecycle.and_then(|l| l.delete_after_days);
                    let keep_text = keeps.map_or("never expires".to_string(), |d| format!("keeps {d} days"));
                    match freq {
                        Err(e) => why.push(format!("rule `{}`: {e}", rule.rule_name)),
                        Ok((gap, text)) => {
                            let fast = gap <= required_minutes;
                            let long = keeps.is_none_or(|d| d >= retention);
                            if fast && long {
                                return verdict(
                                    PLAN_TYPE,
                                    &p.id,
                                    Status::Compliant,
                                    format!("rule `{}` runs {text} and {keep_text}", rule.rule_name),
                                );
                            }
                            why.push(format!("rule `{}` runs {text} and {keep_text}", rule.rule_name));
                        }
                    }
                }
                let need =
                    format!("runs at least every {} and keeps {retention} days", human_minutes(required_minutes));
                let reason = if why.is_empty() {
                    format!("the plan has no rules; it needs one that {need}")
                } else {
                    format!("no rule {need}: {}", why.join("; "))
                };
                verdict(PLAN_TYPE, &p.id, Status::NonCompliant, reason)
            })
            .collect();
        (verdicts, None)
    }

    fn vault_control(&self, params: &Params, filter: &ScopeFilter, s: usize) -> (Vec<Verdict>, Option<String>) {
        if !self.estate.has(s, Dataset::Vaults) && !self.estate.has(s, Dataset::VaultDetails) {
            return (Vec::new(), Some("backup vaults were not collected".into()));
        }
        let policies_collected = self.estate.has(s, Dataset::VaultPolicies);
        let exempt = params.list("principalArnList");
        let verdicts = self
            .estate
            .vaults
            .iter()
            .filter(|v| v.scope == s)
            .filter(|v| {
                let arn = v.vault.backup_vault_arn.clone().unwrap_or_default();
                let t = self.tags.get(&arn).cloned().unwrap_or_default();
                filter.admits(&[VAULT_TYPE], &[v.vault.backup_vault_name.as_str(), arn.as_str()], &t)
            })
            .map(|v| {
                let name = &v.vault.backup_vault_name;
                match (&v.policy, policies_collected) {
                    (_, false) => verdict(
                        VAULT_TYPE,
                        name,
                        Status::InsufficientData,
                        "vault access policies (get-backup-vault-access-policy) were not collected",
                    ),
                    (None, true) => verdict(VAULT_TYPE, name, Status::NonCompliant, "the vault has no access policy"),
                    (Some(policy), true) => match super::policy::evaluate(policy, exempt) {
                        Ok(why) => verdict(VAULT_TYPE, name, Status::Compliant, why),
                        Err(why) => verdict(VAULT_TYPE, name, Status::NonCompliant, why),
                    },
                }
            })
            .collect();
        (verdicts, None)
    }

    fn recovery_point_control(
        &self,
        id: ControlId,
        params: &Params,
        filter: &ScopeFilter,
        s: usize,
    ) -> (Vec<Verdict>, Option<String>) {
        if !self.estate.has(s, Dataset::RecoveryPoints) {
            return (Vec::new(), Some("recovery points were not collected".into()));
        }
        let required = params.int("requiredRetentionDays").unwrap_or(35);
        let empty = BTreeMap::new();
        let verdicts = self
            .estate
            .recovery_points
            .iter()
            .filter(|(sc, _)| *sc == s)
            .map(|(_, rp)| rp)
            // A recovery point created after `now` did not exist yet: no row for it.
            .filter(|rp| rp.creation_date.0 <= self.now)
            .filter(|rp| {
                let t =
                    if filter.uses_tags() { self.tags.get(&rp.recovery_point_arn).unwrap_or(&empty) } else { &empty };
                let rtype = rp.resource_type.as_deref().unwrap_or_default();
                let rid = resources::resource_id(&rp.recovery_point_arn);
                filter.admits(&[RECOVERY_POINT_TYPE, rtype], &[rid, rp.recovery_point_arn.as_str()], t)
            })
            .map(|rp| {
                let rid = resources::resource_id(&rp.recovery_point_arn);
                if matches!(rp.status.as_deref(), Some("DELETING" | "EXPIRED")) {
                    return verdict(
                        RECOVERY_POINT_TYPE,
                        rid,
                        Status::NotApplicable,
                        format!("the recovery point is {}", rp.status.as_deref().unwrap_or_default()),
                    );
                }
                let (status, reason) = if id == ControlId::RecoveryPointEncrypted {
                    match (rp.is_encrypted, &rp.encryption_key_arn) {
                        (Some(true), Some(k)) => (Status::Compliant, format!("encrypted with {k}")),
                        (Some(true), None) | (None, Some(_)) => (
                            Status::Compliant,
                            format!(
                                "encrypted{}",
                                rp.encryption_key_arn.as_ref().map_or(String::new(), |k| format!(" with {k}"))
                            ),
                        ),
                        (Some(false), _) => (Status::NonCompliant, "the recovery point is not encrypted".into()),
                        (None, None) => {
                            (Status::InsufficientData, "the recovery point does not say whether it is encrypted".into())
                        }
                    }
                } else {
                    let days = rp.lifecycle.and_then(|l| l.delete_after_days).or_else(|| {
                        rp.calculated_lifecycle.and_then(|c| c.delete_at).map(|d| (d.0 - rp.creation_date.0) / DAY_MS)
                    });
                    match days {
                        None => (Status::Compliant, "the recovery point never expires".into()),
                        Some(d) if d >= required => (Status::Compliant, format!("kept {d} days, at least {required}")),
                        Some(d) => (Status::NonCompliant, format!("kept {d} days, less than {required}")),
                    }
                };
                verdict(RECOVERY_POINT_TYPE, rid, status, reason)
            })
            .collect();
        (verdicts, None)
    }
}

/// A rule's longest gap in minutes and a phrase for it, or why it cannot be known.
fn rule_frequency(rule: &BackupRule, year: i32) -> Result<(i64, String), String> {
    let expr = rule.schedule_expression.as_deref().ok_or("it has no ScheduleExpression")?;
    let tz = rule.schedule_expression_timezone.as_deref().unwrap_or("UTC");
    let zone = tz.parse::<chrono_tz::Tz>().map_err(|_| format!("time zone `{tz}` is not an IANA time zone"))?;
    let schedule = Schedule::parse(expr).map_err(|e| format!("cannot read its schedule: {e}"))?;
    let Some(f) = schedule.frequency(year, zone) else {
        return Err(format!("{expr} never runs in {year}"));
    };
    // Runs in a daylight-saving gap do not happen (see `cron::Cron::frequency`): say which.
    let skipped = match f.skipped.as_slice() {
        [] => String::new(),
        [one] => format!("; no run at {one} {tz}: that local time does not exist (daylight saving time starts)"),
        [one, ..] => format!(
            "; no run at {one} {tz} and {} more: those local times do not exist (daylight saving time starts)",
            f.skipped.len() - 1
        ),
    };
    match f.longest_gap {
        None => Ok((i64::MAX, format!("{expr} {tz} for the last time in {year}{skipped}"))),
        Some(gap) => Ok((gap, format!("at least every {} ({expr} {tz}{skipped})", human_minutes(gap)))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_status_never_hides_missing_data() {
        use Status::*;
        assert_eq!(Status::aggregate([Compliant, Compliant]), Compliant);
        assert_eq!(Status::aggregate([Compliant, NonCompliant, InsufficientData]), NonCompliant);
        assert_eq!(Status::aggregate([Compliant, InsufficientData]), InsufficientData);
        assert_eq!(Status::aggregate([Compliant, NotApplicable]), Compliant);
        assert_eq!(Status::aggregate([NotApplicable]), InsufficientData);
        assert_eq!(Status::aggregate([]), InsufficientData);
    }

    #[test]
    fn names_round_trip() {
        for c in ControlId::ALL {
            assert_eq!(ControlId::from_name(c.name()), Some(c));
        }
    }
}
