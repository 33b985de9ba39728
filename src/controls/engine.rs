//! Evaluate stage: every control of every framework, in parallel, with a reason per verdict.
//!
//! An [`Evaluator`] checks every framework control first (unknown controls and bad parameters
//! are errors that name them; the other controls still run), indexes the estate once
//! ([`Index`]), and lists the units of work: one control of one framework in one account and
//! region, in the compliance reports' order (account, region, framework name, control name).
//! [`Evaluator::stream`] then walks the units in that order. A unit's candidates (resources,
//! plans, vaults or recovery points, already in report id order) are cut into chunks that
//! rayon judges in parallel; each chunk's verdicts go through the caller's `map` in parallel
//! (the report writers encode them there), then to the caller's `each` in order. No verdict
//! outlives its chunk: memory does not grow with the number of verdicts.
//!
//! Decision on control status (reference 1.1, with "missing data is never COMPLIANT"): any
//! NON_COMPLIANT resource makes the control NON_COMPLIANT; else any resource with
//! INSUFFICIENT_DATA makes it INSUFFICIENT_DATA; else any COMPLIANT resource makes it
//! COMPLIANT; else (nothing evaluated, or only NOT_APPLICABLE) it is INSUFFICIENT_DATA.
//! Resources outside a control's scope are left out of the report, as Audit Manager does;
//! resources in scope that AWS would not evaluate (stopped EC2 instances) are NOT_APPLICABLE.
//!
//! Decision on order: verdicts come out in resource id order within a unit, units in
//! (account, region, framework name, control name) order; two units with all four equal (a
//! framework file named like a framework of the estate) follow each other, the estate's
//! first, rather than interleaving their rows.

use std::collections::BTreeMap;
use std::ops::Range;

use rayon::prelude::*;

use super::checks::Check;
use super::index::{Index, Tags};
use super::resources::{self, PLAN_TYPE, RECOVERY_POINT_TYPE, VAULT_TYPE};
use super::spec::{ControlId, ControlSpec, Evaluates};
pub use super::verdict::{Counts, Status, Verdict};
use crate::estate::model::{ControlScope, Framework, FrameworkControl};
use crate::estate::{Dataset, Estate};
use crate::time::Millis;

/// A framework to evaluate, and the accounts and regions it applies to.
#[derive(Debug, Clone)]
pub struct FrameworkRun {
    pub framework: Framework,
    /// Scope indexes of the estate.
    pub scopes: Vec<usize>,
}

/// One control of one framework in one account and region: a unit of evaluation, and a row
/// of the control compliance report.
#[derive(Debug, Clone)]
pub struct Unit {
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
}

/// What one unit came to.
#[derive(Debug, Clone)]
pub struct ControlResult {
    pub unit: Unit,
    pub status: Status,
    /// Why the control as a whole has its status when no resource row says it.
    pub note: Option<String>,
    /// Verdicts per status.
    pub counts: Counts,
}

impl ControlResult {
    /// Verdicts with `status`.
    pub fn count(&self, status: Status) -> usize {
        self.counts[status as usize]
    }
    /// COMPLIANT resources.
    pub fn compliant(&self) -> usize {
        self.count(Status::Compliant)
    }
    /// NON_COMPLIANT resources.
    pub fn non_compliant(&self) -> usize {
        self.count(Status::NonCompliant)
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
}

impl EvalError {
    /// Unknown controls and bad parameters are bad input; a framework whose definition was not
    /// collected is partial data.
    pub fn kind(&self) -> crate::problem::Kind {
        use crate::problem::Kind;
        match self {
            EvalError::UnknownControl { .. } | EvalError::Parameter { .. } => Kind::BadInput,
            EvalError::FrameworkNotCollected { .. } => Kind::NotCollected,
        }
    }
}

/// Everything an evaluation produced.
#[derive(Debug, Clone, Default)]
pub struct Evaluation {
    /// In report order (see the module docs).
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
    fn admits(&self, types: &[&str], ids: &[&str], tags: &Tags<'_>) -> bool {
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
        s.tags.iter().all(|(k, v)| match tags.get(k.as_str()) {
            Some(actual) => v.is_empty() || actual == v,
            None => false,
        })
    }
}

fn verdict(config_type: &'static str, id: &str, (status, reason): (Status, String)) -> Verdict {
    Verdict { resource_id: format!("{config_type}/{id}"), resource_type: config_type, status, reason }
}

/// A unit with what evaluating it needs.
struct Work<'r> {
    unit: Unit,
    check: std::sync::Arc<Check>,
    control_scope: Option<&'r ControlScope>,
}

/// Candidates judged per chunk.
const CHUNK: usize = 4096;

/// The controls of some frameworks over one estate, ready to evaluate in report order.
pub struct Evaluator<'e> {
    index: Index<'e>,
    work: Vec<Work<'e>>,
    errors: Vec<EvalError>,
    warnings: Vec<String>,
}

impl<'e> Evaluator<'e> {
    /// Checks every framework control of `runs` against `specs` and indexes `estate` as of
    /// `now`. A control that does not check is an error in the evaluation; the others run.
    pub fn new(estate: &'e Estate, runs: &'e [FrameworkRun], specs: &[ControlSpec], now: Millis) -> Evaluator<'e> {
        let (mut errors, mut warnings) = (Vec::new(), Vec::new());
        let mut work = Vec::new();
        for run in runs {
            let fw = &run.framework;
            for fc in &fw.framework_controls {
                let (framework, control) = (fw.framework_name.clone(), fc.control_name.clone());
                let Some(id) = ControlId::from_name(&fc.control_name) else {
                    let expected = ControlId::ALL.iter().map(|c| c.name()).collect::<Vec<_>>().join(", ");
                    errors.push(EvalError::UnknownControl { framework, control, expected });
                    continue;
                };
                let Some(spec) = specs.iter().find(|s| s.name == fc.control_name) else {
                    errors.push(EvalError::Parameter { framework, control, message: "no definition loaded".into() });
                    continue;
                };
                let check = match spec.parameters(&fc.control_input_parameters).and_then(|p| Check::new(id, spec, &p)) {
                    Ok(c) => std::sync::Arc::new(c),
                    Err(message) => {
                        errors.push(EvalError::Parameter { framework, control, message });
                        continue;
                    }
                };
                if let Some(scope) = &fc.control_scope
                    && scope.tags.len() > 1
                {
                    warnings.push(format!(
                        "framework `{}`, control `{}`: the scope has {} tags; AWS allows one, all are required here",
                        fw.framework_name,
                        fc.control_name,
                        scope.tags.len()
                    ));
                }
                for &s in &run.scopes {
                    work.push(Work {
                        unit: Unit {
                            scope: s,
                            framework_name: fw.framework_name.clone(),
                            framework_arn: fw.framework_arn.clone(),
                            framework_description: fw.framework_description.clone(),
                            control: id,
                            frequency: spec.frequency.clone(),
                            scope_json: scope_json(fc.control_scope.as_ref()),
                            parameters_json: parameters_json(fc),
                        },
                        check: check.clone(),
                        control_scope: fc.control_scope.as_ref(),
                    });
                }
            }
        }
        // Report order; stable, so equal keys keep the order of the frameworks and scopes.
        // Scopes are discovered in (account, region) order.
        work.sort_by(|a, b| {
            (a.unit.scope, &a.unit.framework_name, a.unit.control.name()).cmp(&(
                b.unit.scope,
                &b.unit.framework_name,
                b.unit.control.name(),
            ))
        });
        let started = std::time::Instant::now();
        let index = Index::build(estate, now);
        tracing::debug!(units = work.len(), index_ms = started.elapsed().as_millis() as u64, "indexed the estate");
        Evaluator { index, work, errors, warnings }
    }

    /// The estate as indexed for the controls.
    pub fn index(&self) -> &Index<'e> {
        &self.index
    }

    /// The units, in report order.
    pub fn units(&self) -> impl Iterator<Item = &Unit> {
        self.work.iter().map(|w| &w.unit)
    }

    /// Evaluates every unit in report order. Each chunk of a unit's verdicts (in resource id
    /// order) goes through `map` on rayon's pool, then, in order, to `each`; both get the
    /// unit's position in [`Evaluator::units`]; the chunks of a unit come one after the other, the units in report order. Returns what each unit came
    /// to, with the errors and warnings of checking the frameworks.
    pub fn stream<T, M, E>(self, map: M, mut each: E) -> Evaluation
    where
        T: Send,
        M: Fn(usize, &Unit, Vec<Verdict>) -> T + Sync,
        E: FnMut(usize, &Unit, T),
    {
        let started = std::time::Instant::now();
        // Work items: each unit's candidates in chunks, in report order. A group of items is
        // judged in parallel, then handed on in order; a group spans units, so that an
        // organisation's thousands of small units (a hundred resources in each account and
        // region) keep the cores as busy as one unit of a million recovery points.
        let notes: Vec<(usize, Option<String>)> = self.work.iter().map(|w| self.candidates(w)).collect();
        let items: Vec<(usize, Range<usize>)> = notes
            .iter()
            .enumerate()
            .flat_map(|(i, (n, _))| (0..*n).step_by(CHUNK).map(move |start| (i, start..(start + CHUNK).min(*n))))
            .collect();
        let budget = CHUNK * 4 * rayon::current_num_threads().max(1);
        let mut counts: Vec<Counts> = vec![[0; 4]; self.work.len()];
        let mut start = 0;
        while start < items.len() {
            let mut end = start;
            let mut size = 0;
            while end < items.len() && (end == start || size < budget) {
                size += items[end].1.len().max(64);
                end += 1;
            }
            let done: Vec<(Counts, T)> = items[start..end]
                .par_iter()
                .map(|(i, range)| {
                    let w = &self.work[*i];
                    let v = self.judge(w, range.clone());
                    let mut c: Counts = [0; 4];
                    for x in &v {
                        c[x.status as usize] += 1;
                    }
                    (c, map(*i, &w.unit, v))
                })
                .collect();
            for ((i, _), (c, t)) in items[start..end].iter().zip(done) {
                for (total, n) in counts[*i].iter_mut().zip(c) {
                    *total += n;
                }
                each(*i, &self.work[*i].unit, t);
            }
            start = end;
        }
        let verdicts: usize = counts.iter().flatten().sum();
        let results: Vec<ControlResult> = self
            .work
            .iter()
            .zip(notes)
            .zip(counts)
            .map(|((w, (_, note)), counts)| ControlResult {
                unit: w.unit.clone(),
                status: Status::aggregate(&counts),
                note,
                counts,
            })
            .collect();
        tracing::debug!(
            units = results.len(),
            verdicts,
            evaluated_ms = started.elapsed().as_millis() as u64,
            "evaluated the controls"
        );
        Evaluation { results, errors: self.errors, warnings: self.warnings }
    }

    /// How many candidates a unit has, or why it has none (its inputs were not collected).
    fn candidates(&self, w: &Work<'_>) -> (usize, Option<String>) {
        let (s, ix) = (w.unit.scope, &self.index);
        let data = &ix.scopes[s];
        let missing = |m: &str| (0, Some(m.to_string()));
        match w.check.evaluates() {
            Evaluates::Resource if !data.inventory_collected => {
                missing("neither get-resources nor list-protected-resources was collected")
            }
            Evaluates::Resource => (data.resources.len(), None),
            Evaluates::Plan if !ix.has(s, Dataset::Plans) && !ix.has(s, Dataset::PlanDetails) => {
                missing("backup plans were not collected")
            }
            // Plans and vaults are few: one chunk, sorted by report id in `judge`.
            Evaluates::Plan => (1, None),
            Evaluates::Vault if !ix.has(s, Dataset::Vaults) && !ix.has(s, Dataset::VaultDetails) => {
                missing("backup vaults were not collected")
            }
            Evaluates::Vault => (1, None),
            Evaluates::RecoveryPoint if !ix.has(s, Dataset::RecoveryPoints) => {
                missing("recovery points were not collected")
            }
            Evaluates::RecoveryPoint => (data.recovery_points.len(), None),
        }
    }

    /// The verdicts of candidates `range` of a unit that are in its scope, in report order.
    fn judge(&self, w: &Work<'_>, range: Range<usize>) -> Vec<Verdict> {
        let (s, ix) = (w.unit.scope, &self.index);
        let data = &ix.scopes[s];
        let filter = ScopeFilter { scope: w.control_scope };
        let empty = BTreeMap::new();
        let tags_of = |arn: &str| if filter.uses_tags() { ix.tags.get(arn).unwrap_or(&empty) } else { &empty };
        match &*w.check {
            Check::Resource(c) => data.resources[range]
                .iter()
                .filter(|r| filter.admits(&[r.short_type, r.config_type], &[r.id(), r.arn], tags_of(r.arn)))
                .map(|r| {
                    if let Some(st) = r.state.filter(|st| *st != "running") {
                        let why = format!("the instance is {st}; only running instances are evaluated");
                        return verdict(r.config_type, r.id(), (Status::NotApplicable, why));
                    }
                    verdict(r.config_type, r.id(), c.judge(ix, s, r))
                })
                .collect(),
            Check::Plan(c) => {
                let mut v: Vec<Verdict> = data
                    .plans
                    .iter()
                    .map(|&i| &ix.estate.plans[i])
                    .filter(|p| {
                        let arn = p.arn.as_deref().unwrap_or_default();
                        let ids = [p.id.as_str(), arn, p.name.as_deref().unwrap_or_default()];
                        filter.admits(&[PLAN_TYPE], &ids, tags_of(arn))
                    })
                    .map(|p| verdict(PLAN_TYPE, &p.id, c.judge(ix, s, p)))
                    .collect();
                v.sort_by(|a, b| a.resource_id.cmp(&b.resource_id));
                v
            }
            Check::Vault(c) => {
                let mut v: Vec<Verdict> = data
                    .vaults
                    .iter()
                    .map(|&i| &ix.estate.vaults[i])
                    .filter(|v| {
                        let arn = v.vault.backup_vault_arn.as_deref().unwrap_or_default();
                        filter.admits(&[VAULT_TYPE], &[v.vault.backup_vault_name.as_str(), arn], tags_of(arn))
                    })
                    .map(|v| verdict(VAULT_TYPE, &v.vault.backup_vault_name, c.judge(ix, s, v)))
                    .collect();
                v.sort_by(|a, b| a.resource_id.cmp(&b.resource_id));
                v
            }
            Check::RecoveryPoint(c) => data.recovery_points[range]
                .iter()
                .map(|&i| ix.recovery_point(i))
                // A recovery point created after `now` did not exist yet: no row for it.
                .filter(|rp| rp.creation_date.0 <= ix.now)
                .filter(|rp| {
                    let rtype = rp.resource_type.as_deref().unwrap_or_default();
                    let rid = resources::resource_id(&rp.recovery_point_arn);
                    filter.admits(
                        &[RECOVERY_POINT_TYPE, rtype],
                        &[rid, rp.recovery_point_arn.as_str()],
                        tags_of(&rp.recovery_point_arn),
                    )
                })
                .map(|rp| {
                    let rid = resources::resource_id(&rp.recovery_point_arn);
                    if let Some(st) = rp.status.as_deref().filter(|st| matches!(*st, "DELETING" | "EXPIRED")) {
                        return verdict(
                            RECOVERY_POINT_TYPE,
                            rid,
                            (Status::NotApplicable, format!("the recovery point is {st}")),
                        );
                    }
                    verdict(RECOVERY_POINT_TYPE, rid, c.judge(ix, s, rp))
                })
                .collect(),
        }
    }
}

/// Evaluates every framework against the estate and keeps every verdict, per result (for
/// `evaluate`, which prints them all, and for tests). The report writers use
/// [`Evaluator::stream`], which keeps none.
pub fn evaluate(
    estate: &Estate,
    runs: &[FrameworkRun],
    specs: &[ControlSpec],
    now: Millis,
) -> (Evaluation, Vec<Vec<Verdict>>) {
    let evaluator = Evaluator::new(estate, runs, specs, now);
    let mut verdicts: Vec<Vec<Verdict>> = vec![Vec::new(); evaluator.work.len()];
    let evaluation = evaluator.stream(|_, _, v| v, |i, _, v| verdicts[i].extend(v));
    (evaluation, verdicts)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for c in ControlId::ALL {
            assert_eq!(ControlId::from_name(c.name()), Some(c));
        }
    }
}
