//! The eleven controls as types: each one a struct with its typed parameters, judging one
//! subject (a resource, a plan, a vault or a recovery point) through one trait, [`Control`].
//!
//! Parameters come in as [`Params`], already checked and defaulted from the control's TOML
//! file (`controls/<NAME>.toml`, the single source of defaults and ranges), and are read once,
//! into the struct, by [`Check::new`]: the only place a control name is matched, exhaustively.
//! A parameter the definition gives no value (a definition without the default the code
//! needs) is an error that names it, never a silent default.
//!
//! What holds for every control of a kind (inputs not collected, a stopped instance, a
//! deleted recovery point) is the engine's; a control judges one subject that is in scope.

use super::cron::{Schedule, human_minutes};
use super::index::{Index, Resource};
use super::resources;
use super::spec::{ControlId, ControlSpec, Evaluates, Params};
use super::verdict::Status;
use crate::estate::model::{BackupRule, RecoveryPoint};
use crate::estate::{Dataset, Plan, Vault};
use crate::time::{self, DAY_MS, HOUR_MS, Millis};

/// A control's judgement of one subject `S` in the account and region `scope`: its status and
/// the reason, in words an auditor can act on.
pub trait Control<S>: Send + Sync {
    fn judge(&self, ix: &Index<'_>, scope: usize, subject: &S) -> (Status, String);
}

/// A control ready to run, by what it evaluates.
pub enum Check {
    Resource(Box<dyn for<'r> Control<Resource<'r>>>),
    Plan(Box<dyn Control<Plan>>),
    Vault(Box<dyn Control<Vault>>),
    RecoveryPoint(Box<dyn Control<RecoveryPoint>>),
}

impl Check {
    /// The control `id` with its parameters read from `params` (checked against `spec`).
    pub fn new(id: ControlId, spec: &ControlSpec, params: &Params) -> Result<Check, String> {
        let check = Check::of(id, spec, params)?;
        if check.evaluates() != spec.evaluates {
            return Err(format!(
                "its definition says it evaluates {:?}, but the control evaluates {:?}",
                spec.evaluates,
                check.evaluates()
            ));
        }
        Ok(check)
    }

    fn of(id: ControlId, spec: &ControlSpec, params: &Params) -> Result<Check, String> {
        Ok(match id {
            ControlId::ProtectedByBackupPlan => Check::Resource(Box::new(ProtectedByBackupPlan)),
            ControlId::PlanFrequencyAndRetention => Check::Plan(Box::new(PlanFrequencyAndRetention::new(params)?)),
            ControlId::ManualDeletionDisabled => {
                Check::Vault(Box::new(ManualDeletionDisabled { exempt: params.list("principalArnList").to_vec() }))
            }
            ControlId::RecoveryPointEncrypted => Check::RecoveryPoint(Box::new(RecoveryPointEncrypted)),
            ControlId::RecoveryPointMinimumRetention => Check::RecoveryPoint(Box::new(RecoveryPointMinimumRetention {
                required_days: required_int(params, "requiredRetentionDays")?,
            })),
            ControlId::CrossRegion => Check::Resource(Box::new(CopiesElsewhere {
                region: true,
                list: params.list("crossRegionList").to_vec(),
            })),
            ControlId::CrossAccount => Check::Resource(Box::new(CopiesElsewhere {
                region: false,
                list: params.list("crossAccountList").to_vec(),
            })),
            ControlId::VaultLock => Check::Resource(Box::new(VaultLock::new(spec, params)?)),
            ControlId::LastRecoveryPointCreated => {
                Check::Resource(Box::new(LastRecoveryPointCreated { limit: AgeLimit::new(params)? }))
            }
            ControlId::RestoreTime => {
                Check::Resource(Box::new(RestoreTime { max_minutes: required_int(params, "maxRestoreTime")? }))
            }
            ControlId::LogicallyAirGapped => {
                Check::Resource(Box::new(LogicallyAirGapped { limit: AgeLimit::new(params)? }))
            }
        })
    }

    /// What the control evaluates (its definition's `evaluates` must say the same).
    pub fn evaluates(&self) -> Evaluates {
        match self {
            Check::Resource(_) => Evaluates::Resource,
            Check::Plan(_) => Evaluates::Plan,
            Check::Vault(_) => Evaluates::Vault,
            Check::RecoveryPoint(_) => Evaluates::RecoveryPoint,
        }
    }
}

/// An integer parameter that the definition always gives (a value or a default).
fn required_int(params: &Params, name: &str) -> Result<i64, String> {
    params.int(name).ok_or_else(|| format!("parameter `{name}` has no value and its definition no default"))
}

/// `recoveryPointAgeUnit` and `recoveryPointAgeValue` as a duration and a phrase.
#[derive(Debug, Clone)]
struct AgeLimit {
    limit: Millis,
    text: String,
}

impl AgeLimit {
    fn new(params: &Params) -> Result<AgeLimit, String> {
        let value = required_int(params, "recoveryPointAgeValue")?;
        Ok(match params.text("recoveryPointAgeUnit") {
            Some("hours") => AgeLimit { limit: value * HOUR_MS, text: human_minutes(value * 60) },
            Some("days") => AgeLimit {
                limit: value * DAY_MS,
                text: if value == 1 { "1 day".into() } else { format!("{value} days") },
            },
            other => return Err(format!("parameter `recoveryPointAgeUnit`: expected hours or days, got {other:?}")),
        })
    }
}

fn hours(ms: Millis) -> String {
    let h = ms as f64 / HOUR_MS as f64;
    if h >= 48.0 { format!("{:.1} days", h / 24.0) } else { format!("{h:.1} hours") }
}

/// `1 plan`, `3 plans`.
fn count(n: usize, noun: &str) -> String {
    if n == 1 { format!("1 {noun}") } else { format!("{n} {noun}s") }
}

/// Rules of the plans that select a resource: (plan name, rule).
fn covering_rules<'a>(ix: &'a Index<'_>, r: &'a Resource) -> impl Iterator<Item = (&'a str, &'a BackupRule)> + 'a {
    r.coverage.iter().flat_map(move |c| {
        let plan = &ix.estate.plans[c.plan];
        let name = plan.name.as_deref().unwrap_or(plan.id.as_str());
        plan.rules.iter().flatten().map(move |rule| (name, rule))
    })
}

/// Why a resource's plan coverage cannot be judged or is missing, if it is.
fn coverage_gap(ix: &Index<'_>, r: &Resource, s: usize) -> Option<(Status, String)> {
    let data = &ix.scopes[s];
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
                ix.estate.scopes[s].id.region
            ),
        ));
    }
    if r.coverage.iter().any(|c| ix.estate.plans[c.plan].rules.is_none()) {
        return Some((Status::InsufficientData, "a plan that selects it has no get-backup-plan file".into()));
    }
    None
}

/// BACKUP_RESOURCES_PROTECTED_BY_BACKUP_PLAN: a backup selection picks the resource.
struct ProtectedByBackupPlan;

impl Control<Resource<'_>> for ProtectedByBackupPlan {
    fn judge(&self, ix: &Index<'_>, s: usize, r: &Resource<'_>) -> (Status, String) {
        if let Some(gap) = coverage_gap(ix, r, s) {
            return gap;
        }
        let c = &r.coverage[0];
        let plan = &ix.estate.plans[c.plan];
        let more = if r.coverage.len() > 1 { format!(" and {} more", r.coverage.len() - 1) } else { String::new() };
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
}

/// BACKUP_RESOURCES_PROTECTED_BY_CROSS_REGION and _CROSS_ACCOUNT: a rule that covers the
/// resource copies to another Region (account), one of `list` when it is given.
struct CopiesElsewhere {
    /// Regions when true, accounts when false.
    region: bool,
    list: Vec<String>,
}

impl Control<Resource<'_>> for CopiesElsewhere {
    fn judge(&self, ix: &Index<'_>, s: usize, r: &Resource<'_>) -> (Status, String) {
        if let Some(gap) = coverage_gap(ix, r, s) {
            return gap;
        }
        let here = &ix.estate.scopes[s].id;
        let what = if self.region { "Region" } else { "account" };
        let mut seen = Vec::new();
        for (plan, rule) in covering_rules(ix, r) {
            for action in &rule.copy_actions {
                let Some((acct, reg)) = resources::arn_account_region(&action.destination_backup_vault_arn) else {
                    continue;
                };
                let dest = if self.region { reg } else { acct };
                let other = if self.region { reg != here.region } else { acct != here.account };
                if other && (self.list.is_empty() || self.list.iter().any(|l| l == dest)) {
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
        let wanted = if self.list.is_empty() { format!("another {what}") } else { self.list.join(", ") };
        let got =
            if seen.is_empty() { "no copy actions".to_string() } else { format!("copies only to {}", seen.join(", ")) };
        (Status::NonCompliant, format!("no rule that covers it copies to {wanted}; its rules have {got}"))
    }
}

/// BACKUP_RESOURCES_PROTECTED_BY_BACKUP_VAULT_LOCK: a rule that covers the resource targets a
/// locked vault whose retention bounds are within `minRetentionDays`–`maxRetentionDays`.
struct VaultLock {
    min_days: Option<i64>,
    max_days: Option<i64>,
    /// The range the definition allows, printed when a bound is not given.
    allowed: (i64, i64),
}

impl VaultLock {
    fn new(spec: &ControlSpec, params: &Params) -> Result<VaultLock, String> {
        let range = |name: &str| {
            spec.parameters
                .iter()
                .find(|p| p.name == name)
                .ok_or_else(|| format!("parameter `{name}` is not in the definition"))
        };
        let low =
            range("minRetentionDays")?.min.ok_or("parameter `minRetentionDays` has no `min` in its definition")?;
        let high =
            range("maxRetentionDays")?.max.ok_or("parameter `maxRetentionDays` has no `max` in its definition")?;
        Ok(VaultLock {
            min_days: params.int("minRetentionDays"),
            max_days: params.int("maxRetentionDays"),
            allowed: (low, high),
        })
    }
}

impl Control<Resource<'_>> for VaultLock {
    fn judge(&self, ix: &Index<'_>, s: usize, r: &Resource<'_>) -> (Status, String) {
        if let Some(gap) = coverage_gap(ix, r, s) {
            return gap;
        }
        if !ix.has(s, Dataset::VaultDetails) {
            return (Status::InsufficientData, "vault details (describe-backup-vault) were not collected".into());
        }
        let mut notes = Vec::new();
        for (plan, rule) in covering_rules(ix, r) {
            let name = &rule.target_backup_vault_name;
            let vault = ix.vaults.get(&(s, name.clone())).map(|&i| &ix.estate.vaults[i].vault);
            match vault {
                None => notes.push(format!("vault `{name}` is not in the snapshot")),
                Some(v) if v.locked != Some(true) => notes.push(format!("vault `{name}` is not locked")),
                Some(v) => {
                    let low = self.min_days.is_some_and(|m| v.min_retention_days.is_none_or(|x| x < m));
                    let high = self.max_days.is_some_and(|m| v.max_retention_days.is_none_or(|x| x > m));
                    let bounds = format!(
                        "lock keeps {}-{} days",
                        v.min_retention_days.map_or("?".into(), |x| x.to_string()),
                        v.max_retention_days.map_or("?".into(), |x| x.to_string())
                    );
                    if low || high {
                        notes.push(format!(
                            "vault `{name}` {bounds}, outside {}-{}",
                            self.min_days.unwrap_or(self.allowed.0),
                            self.max_days.unwrap_or(self.allowed.1)
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
        (Status::NonCompliant, format!("no rule that covers it targets a suitable locked vault: {}", notes.join("; ")))
    }
}

/// BACKUP_LAST_RECOVERY_POINT_CREATED: the newest recovery point (or `LastBackupTime`) is at
/// most the age limit old.
struct LastRecoveryPointCreated {
    limit: AgeLimit,
}

impl Control<Resource<'_>> for LastRecoveryPointCreated {
    fn judge(&self, ix: &Index<'_>, s: usize, r: &Resource<'_>) -> (Status, String) {
        let AgeLimit { limit, text } = &self.limit;
        let latest = [ix.latest_rp.get(r.arn), ix.last_backup.get(r.arn)].into_iter().flatten().max().copied();
        match latest {
            Some(t) if ix.now - t <= *limit => (
                Status::Compliant,
                format!("newest recovery point {} ({} old, limit {text})", time::format_seconds(t), hours(ix.now - t)),
            ),
            Some(t) => (
                Status::NonCompliant,
                format!(
                    "newest recovery point {} is {} old, more than {text}",
                    time::format_seconds(t),
                    hours(ix.now - t)
                ),
            ),
            None if !ix.has(s, Dataset::RecoveryPoints) && !ix.has(s, Dataset::ProtectedResources) => {
                (Status::InsufficientData, "neither recovery points nor protected resources were collected".into())
            }
            None => (Status::NonCompliant, "it has no recovery point".into()),
        }
    }
}

/// RESOURCES_IN_LOGICALLY_AIR_GAPPED_VAULT: the newest recovery point in a logically
/// air-gapped vault is at most the age limit old.
struct LogicallyAirGapped {
    limit: AgeLimit,
}

impl Control<Resource<'_>> for LogicallyAirGapped {
    fn judge(&self, ix: &Index<'_>, s: usize, r: &Resource<'_>) -> (Status, String) {
        let AgeLimit { limit, text } = &self.limit;
        match ix.latest_lag_rp.get(r.arn) {
            Some(&t) if ix.now - t <= *limit => (
                Status::Compliant,
                format!(
                    "air-gapped recovery point {} ({} old, limit {text})",
                    time::format_seconds(t),
                    hours(ix.now - t)
                ),
            ),
            Some(&t) => (
                Status::NonCompliant,
                format!(
                    "newest air-gapped recovery point {} is {} old, more than {text}",
                    time::format_seconds(t),
                    hours(ix.now - t)
                ),
            ),
            None if !ix.has(s, Dataset::RecoveryPoints) => {
                (Status::InsufficientData, "recovery points were not collected".into())
            }
            None => (Status::NonCompliant, "it has no recovery point in a logically air-gapped vault".into()),
        }
    }
}

/// RESTORE_TIME_FOR_RESOURCES_MEET_TARGET: the latest timed restore took at most
/// `maxRestoreTime` minutes.
struct RestoreTime {
    max_minutes: i64,
}

impl Control<Resource<'_>> for RestoreTime {
    fn judge(&self, ix: &Index<'_>, s: usize, r: &Resource<'_>) -> (Status, String) {
        let max = self.max_minutes;
        match ix.restore_minutes.get(r.arn) {
            Some(&m) if m <= max => (Status::Compliant, format!("latest restore took {m} minutes, target {max}")),
            Some(&m) => {
                (Status::NonCompliant, format!("latest restore took {m} minutes, more than the {max}-minute target"))
            }
            None if !ix.has(s, Dataset::ProtectedResourceDetails) => {
                (Status::InsufficientData, "describe-protected-resource was not collected".into())
            }
            None => {
                (Status::NotApplicable, "no restore of it has been timed (restore testing has not run for it)".into())
            }
        }
    }
}

/// BACKUP_PLAN_MIN_FREQUENCY_AND_MIN_RETENTION_CHECK: a rule of the plan runs at least every
/// `required_minutes` and keeps recovery points at least `retention_days`.
struct PlanFrequencyAndRetention {
    required_minutes: i64,
    retention_days: i64,
}

impl PlanFrequencyAndRetention {
    fn new(params: &Params) -> Result<Self, String> {
        let value = required_int(params, "requiredFrequencyValue")?;
        let unit = match params.text("requiredFrequencyUnit") {
            Some("hours") => 60,
            Some("days") => 1440,
            other => return Err(format!("parameter `requiredFrequencyUnit`: expected hours or days, got {other:?}")),
        };
        Ok(PlanFrequencyAndRetention {
            required_minutes: value * unit,
            retention_days: required_int(params, "requiredRetentionDays")?,
        })
    }
}

impl Control<Plan> for PlanFrequencyAndRetention {
    fn judge(&self, ix: &Index<'_>, _s: usize, p: &Plan) -> (Status, String) {
        let Some(rules) = &p.rules else {
            return (Status::InsufficientData, "the plan's get-backup-plan file was not collected".into());
        };
        let year = time::civil(ix.now).year as i32;
        let retention = self.retention_days;
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
                    let fast = gap <= self.required_minutes;
                    let long = keeps.is_none_or(|d| d >= retention);
                    if fast && long {
                        return (Status::Compliant, format!("rule `{}` runs {text} and {keep_text}", rule.rule_name));
                    }
                    why.push(format!("rule `{}` runs {text} and {keep_text}", rule.rule_name));
                }
            }
        }
        let need = format!("runs at least every {} and keeps {retention} days", human_minutes(self.required_minutes));
        let reason = if why.is_empty() {
            format!("the plan has no rules; it needs one that {need}")
        } else {
            format!("no rule {need}: {}", why.join("; "))
        };
        (Status::NonCompliant, reason)
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

/// BACKUP_RECOVERY_POINT_MANUAL_DELETION_DISABLED: the vault's access policy denies manual
/// deletion of recovery points to everyone but the `principalArnList`.
struct ManualDeletionDisabled {
    exempt: Vec<String>,
}

impl Control<Vault> for ManualDeletionDisabled {
    fn judge(&self, ix: &Index<'_>, s: usize, v: &Vault) -> (Status, String) {
        if !ix.has(s, Dataset::VaultPolicies) {
            return (
                Status::InsufficientData,
                "vault access policies (get-backup-vault-access-policy) were not collected".into(),
            );
        }
        match &v.policy {
            None => (Status::NonCompliant, "the vault has no access policy".into()),
            Some(policy) => match super::policy::evaluate(policy, &self.exempt) {
                Ok(why) => (Status::Compliant, why),
                Err(why) => (Status::NonCompliant, why),
            },
        }
    }
}

/// BACKUP_RECOVERY_POINT_ENCRYPTED: the recovery point is encrypted.
struct RecoveryPointEncrypted;

impl Control<RecoveryPoint> for RecoveryPointEncrypted {
    fn judge(&self, _ix: &Index<'_>, _s: usize, rp: &RecoveryPoint) -> (Status, String) {
        match (rp.is_encrypted, &rp.encryption_key_arn) {
            (Some(true), Some(k)) => (Status::Compliant, format!("encrypted with {k}")),
            (Some(true), None) | (None, Some(_)) => (
                Status::Compliant,
                format!("encrypted{}", rp.encryption_key_arn.as_ref().map_or(String::new(), |k| format!(" with {k}"))),
            ),
            (Some(false), _) => (Status::NonCompliant, "the recovery point is not encrypted".into()),
            (None, None) => {
                (Status::InsufficientData, "the recovery point does not say whether it is encrypted".into())
            }
        }
    }
}

/// BACKUP_RECOVERY_POINT_MINIMUM_RETENTION_CHECK: the recovery point is kept at least
/// `requiredRetentionDays`.
struct RecoveryPointMinimumRetention {
    required_days: i64,
}

impl Control<RecoveryPoint> for RecoveryPointMinimumRetention {
    fn judge(&self, _ix: &Index<'_>, _s: usize, rp: &RecoveryPoint) -> (Status, String) {
        let required = self.required_days;
        let days = rp
            .lifecycle
            .and_then(|l| l.delete_after_days)
            .or_else(|| rp.calculated_lifecycle.and_then(|c| c.delete_at).map(|d| (d.0 - rp.creation_date.0) / DAY_MS));
        match days {
            None => (Status::Compliant, "the recovery point never expires".into()),
            Some(d) if d >= required => (Status::Compliant, format!("kept {d} days, at least {required}")),
            Some(d) => (Status::NonCompliant, format!("kept {d} days, less than {required}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::estate::model::ControlInputParameter;

    #[test]
    fn every_definition_says_what_its_control_evaluates() {
        for spec in super::super::spec::built_in().unwrap() {
            let id = ControlId::from_name(&spec.name).unwrap();
            // The one required parameter of the built-ins.
            let given =
                [ControlInputParameter { parameter_name: "maxRestoreTime".into(), parameter_value: "60".into() }];
            let given = if id == ControlId::RestoreTime { &given[..] } else { &[] };
            let check = Check::new(id, &spec, &spec.parameters(given).unwrap())
                .unwrap_or_else(|e| panic!("{}: {e}", spec.name));
            assert_eq!(check.evaluates(), spec.evaluates, "{}", spec.name);
        }
    }

    #[test]
    fn a_definition_that_disagrees_with_its_control_is_an_error_that_says_so() {
        let mut spec = super::super::spec::built_in()
            .unwrap()
            .into_iter()
            .find(|s| s.name == "BACKUP_RECOVERY_POINT_ENCRYPTED")
            .unwrap();
        spec.evaluates = Evaluates::Plan;
        let err = Check::new(ControlId::RecoveryPointEncrypted, &spec, &Params::default()).err().unwrap();
        assert_eq!(err, "its definition says it evaluates Plan, but the control evaluates RecoveryPoint");
    }

    #[test]
    fn a_definition_without_a_needed_default_names_the_parameter() {
        let spec = super::super::spec::built_in()
            .unwrap()
            .into_iter()
            .find(|s| s.name == "BACKUP_RECOVERY_POINT_MINIMUM_RETENTION_CHECK")
            .unwrap();
        let err = Check::new(ControlId::RecoveryPointMinimumRetention, &spec, &Params::default()).err().unwrap();
        assert_eq!(err, "parameter `requiredRetentionDays` has no value and its definition no default");
    }
}
