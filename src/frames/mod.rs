//! Frames stage: the records the job reports print, as Polars DataFrames.
//!
//! Polars earns its place here: the job reports join each windowed job with its plan rule,
//! vault, recovery point, protected resource and Organizations path, and fill what the job
//! lacks from them (see `reports::job_report`). The controls and the compliance reports do not
//! use frames: they read the typed estate through an index. The stage runs only when a job
//! report is planned. Column names and dtypes live in [`schema`]; the builders here fill them
//! from the typed estate, in the estate's (deterministic) row order.

pub mod schema;

use polars::prelude::*;

use crate::estate::{Estate, ScopeId};
use schema::Kind;

/// Errors of the frames stage.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// Polars refused an operation.
    #[error("building frame `{frame}`")]
    Polars {
        frame: &'static str,
        #[source]
        source: PolarsError,
    },
}

impl FrameError {
    /// Building a frame fails only when Polars does: the tool's own failure.
    pub fn kind(&self) -> crate::problem::Kind {
        crate::problem::Kind::Failed
    }
}

/// The estate as frames.
#[derive(Debug, Clone)]
pub struct Frames {
    pub backup_jobs: DataFrame,
    pub copy_jobs: DataFrame,
    pub restore_jobs: DataFrame,
    pub recovery_points: DataFrame,
    pub vaults: DataFrame,
    pub plan_rules: DataFrame,
    pub protected_resources: DataFrame,
    /// Account id and its Organizations path, for the job reports' "Path To Root".
    pub org_paths: DataFrame,
}

/// Collects columns in schema order and checks them against the schema when finished.
pub(crate) struct Builder<'r, R> {
    frame: &'static str,
    schema: &'static [(&'static str, Kind)],
    rows: &'r [R],
    columns: Vec<Column>,
}

impl<'r, R: Sync> Builder<'r, R> {
    pub(crate) fn new(frame: &'static str, schema: &'static [(&'static str, Kind)], rows: &'r [R]) -> Self {
        Builder { frame, schema, rows, columns: Vec::with_capacity(schema.len()) }
    }

    fn name(&self) -> PlSmallStr {
        let (name, _) = self.schema[self.columns.len()];
        name.into()
    }

    pub(crate) fn str<F: Fn(&'r R) -> Option<&'r str>>(mut self, f: F) -> Self {
        let values: Vec<Option<&str>> = self.rows.iter().map(f).collect();
        self.columns.push(Column::new(self.name(), values));
        self
    }

    pub(crate) fn int<F: Fn(&'r R) -> Option<i64>>(mut self, f: F) -> Self {
        let values: Vec<Option<i64>> = self.rows.iter().map(f).collect();
        self.columns.push(Column::new(self.name(), values));
        self
    }

    pub(crate) fn bool<F: Fn(&'r R) -> Option<bool>>(mut self, f: F) -> Self {
        let values: Vec<Option<bool>> = self.rows.iter().map(f).collect();
        self.columns.push(Column::new(self.name(), values));
        self
    }

    pub(crate) fn time<F: Fn(&'r R) -> Option<i64>>(mut self, f: F) -> Self {
        let values: Vec<Option<i64>> = self.rows.iter().map(f).collect();
        let name = self.name();
        let column = Column::new(name, values).cast(&Kind::Time.dtype()).expect("Int64 always casts to Datetime");
        self.columns.push(column);
        self
    }

    pub(crate) fn finish(self) -> Result<DataFrame, FrameError> {
        debug_assert_eq!(self.columns.len(), self.schema.len(), "frame `{}` is missing columns", self.frame);
        for (c, (name, kind)) in self.columns.iter().zip(self.schema) {
            debug_assert_eq!(c.name().as_str(), *name);
            debug_assert_eq!(c.dtype(), &kind.dtype(), "column `{name}` of `{}`", self.frame);
        }
        DataFrame::new(self.rows.len(), self.columns).map_err(|source| FrameError::Polars { frame: self.frame, source })
    }
}

fn scope_of(estate: &Estate, i: usize) -> &ScopeId {
    &estate.scopes[i].id
}

/// Builds every frame of the estate.
pub fn build(estate: &Estate) -> Result<Frames, FrameError> {
    let ((backup_jobs, copy_jobs), (restore_jobs, recovery_points)) =
        rayon::join(|| (backup_jobs(estate), copy_jobs(estate)), || (restore_jobs(estate), recovery_points(estate)));
    let plan_rules = plan_rules(estate);
    Ok(Frames {
        backup_jobs: backup_jobs?,
        copy_jobs: copy_jobs?,
        restore_jobs: restore_jobs?,
        recovery_points: recovery_points?,
        vaults: vaults(estate)?,
        plan_rules: plan_rules?,
        protected_resources: protected_resources(estate)?,
        org_paths: org_paths(estate)?,
    })
}

fn org_paths(e: &Estate) -> Result<DataFrame, FrameError> {
    let rows: Vec<(&String, &String)> = e.org_paths.iter().collect();
    Builder::new("org_paths", schema::ORG_PATHS, &rows).str(|(a, _)| Some(a)).str(|(_, p)| Some(p)).finish()
}

fn backup_jobs(e: &Estate) -> Result<DataFrame, FrameError> {
    Builder::new("backup_jobs", schema::BACKUP_JOBS, &e.backup_jobs)
        .str(|r| Some(&r.account_id))
        .str(|r| Some(&r.region))
        .str(|r| Some(&r.backup_job_id))
        .str(|r| Some(&r.state))
        .str(|r| r.status_message.as_deref())
        .str(|r| r.message_category.as_deref())
        .str(|r| r.resource_type.as_deref())
        .str(|r| r.resource_arn.as_deref())
        .str(|r| r.resource_name.as_deref())
        .str(|r| r.created_by.backup_plan_id.as_deref())
        .str(|r| r.created_by.backup_plan_arn.as_deref())
        .str(|r| r.created_by.backup_plan_version.as_deref())
        .str(|r| r.created_by.backup_rule_id.as_deref())
        .str(|r| r.created_by.backup_plan_name.as_deref())
        .str(|r| r.created_by.backup_rule_name.as_deref())
        .str(|r| r.created_by.backup_rule_cron.as_deref())
        .str(|r| r.created_by.backup_rule_timezone.as_deref())
        .time(|r| r.initiation_date)
        .time(|r| r.start_by)
        .str(|r| r.backup_options.as_deref())
        .str(|r| r.backup_type.as_deref())
        .bool(|r| r.is_parent)
        .str(|r| r.parent_job_id.as_deref())
        .time(|r| Some(r.creation_date))
        .time(|r| r.completion_date)
        .time(|r| r.expected_completion_date)
        .str(|r| r.recovery_point_arn.as_deref())
        .int(|r| r.backup_size_in_bytes)
        .str(|r| r.percent_done.as_deref())
        .str(|r| r.backup_vault_name.as_deref())
        .str(|r| r.backup_vault_arn.as_deref())
        .str(|r| r.vault_type.as_deref())
        .str(|r| r.vault_lock_state.as_deref())
        .bool(|r| r.is_encrypted)
        .str(|r| r.encryption_key_arn.as_deref())
        .int(|r| r.lifecycle.and_then(|l| l.delete_after_days))
        .int(|r| r.lifecycle.and_then(|l| l.move_to_cold_storage_after_days))
        .bool(|r| r.lifecycle.and_then(|l| l.opt_in_to_archive_for_supported_resources))
        .str(|r| r.iam_role_arn.as_deref())
        .finish()
}

fn copy_jobs(e: &Estate) -> Result<DataFrame, FrameError> {
    Builder::new("copy_jobs", schema::COPY_JOBS, &e.copy_jobs)
        .str(|r| Some(&r.account_id))
        .str(|r| Some(&r.region))
        .str(|r| Some(&r.copy_job_id))
        .str(|r| Some(&r.state))
        .str(|r| r.status_message.as_deref())
        .str(|r| r.resource_type.as_deref())
        .str(|r| r.resource_arn.as_deref())
        .str(|r| r.resource_name.as_deref())
        .str(|r| r.created_by.backup_plan_id.as_deref())
        .str(|r| r.created_by.backup_plan_arn.as_deref())
        .str(|r| r.created_by.backup_rule_id.as_deref())
        .str(|r| r.created_by.backup_plan_name.as_deref())
        .str(|r| r.created_by.backup_rule_name.as_deref())
        .str(|r| r.created_by.backup_rule_cron.as_deref())
        .str(|r| r.created_by.backup_rule_timezone.as_deref())
        .bool(|r| r.is_parent)
        .str(|r| r.parent_job_id.as_deref())
        .time(|r| Some(r.creation_date))
        .time(|r| r.completion_date)
        .int(|r| r.backup_size_in_bytes)
        .str(|r| r.source_recovery_point_arn.as_deref())
        .str(|r| r.source_backup_vault_arn.as_deref())
        .str(|r| r.destination_recovery_point_arn.as_deref())
        .str(|r| r.destination_backup_vault_arn.as_deref())
        .str(|r| r.destination_vault_type.as_deref())
        .str(|r| r.destination_vault_lock_state.as_deref())
        .str(|r| r.destination_encryption_key_arn.as_deref())
        .int(|r| r.destination_lifecycle.and_then(|l| l.delete_after_days))
        .int(|r| r.destination_lifecycle.and_then(|l| l.move_to_cold_storage_after_days))
        .bool(|r| r.destination_lifecycle.and_then(|l| l.opt_in_to_archive_for_supported_resources))
        .str(|r| r.iam_role_arn.as_deref())
        .finish()
}

fn restore_jobs(e: &Estate) -> Result<DataFrame, FrameError> {
    Builder::new("restore_jobs", schema::RESTORE_JOBS, &e.restore_jobs)
        .str(|r| Some(&r.account_id))
        .str(|r| Some(&r.region))
        .str(|r| Some(&r.restore_job_id))
        .str(|r| Some(&r.status))
        .str(|r| r.status_message.as_deref())
        .str(|r| r.resource_type.as_deref())
        .str(|r| r.recovery_point_arn.as_deref())
        .str(|r| r.source_resource_arn.as_deref())
        .str(|r| r.backup_vault_arn.as_deref())
        .str(|r| r.created_resource_arn.as_deref())
        .time(|r| Some(r.creation_date))
        .time(|r| r.completion_date)
        .int(|r| r.backup_size_in_bytes)
        .str(|r| r.percent_done.as_deref())
        .bool(|r| r.is_parent)
        .str(|r| r.parent_job_id.as_deref())
        .str(|r| r.iam_role_arn.as_deref())
        .finish()
}

/// The recovery points that a kept job names: the job reports join only those (the controls
/// read the estate's recovery points directly), so a million recovery points with a day of
/// jobs make a frame of a day's worth, in the estate's order.
fn recovery_points(e: &Estate) -> Result<DataFrame, FrameError> {
    let named: std::collections::HashSet<&str> = e
        .backup_jobs
        .iter()
        .filter_map(|j| j.recovery_point_arn.as_deref())
        .chain(e.copy_jobs.iter().filter_map(|j| j.destination_recovery_point_arn.as_deref()))
        .chain(e.restore_jobs.iter().filter_map(|j| j.recovery_point_arn.as_deref()))
        .collect();
    let rows: Vec<&(usize, crate::estate::model::RecoveryPoint)> =
        e.recovery_points.iter().filter(|(_, r)| named.contains(r.recovery_point_arn.as_str())).collect();
    Builder::new("recovery_points", schema::RECOVERY_POINTS, &rows)
        .str(|(s, _)| Some(&scope_of(e, *s).account))
        .str(|(s, _)| Some(&scope_of(e, *s).region))
        .str(|(_, r)| Some(&r.recovery_point_arn))
        .str(|(_, r)| r.backup_vault_name.as_deref())
        .str(|(_, r)| r.backup_vault_arn.as_deref())
        .str(|(_, r)| r.resource_arn.as_deref())
        .str(|(_, r)| r.resource_type.as_deref())
        .str(|(_, r)| r.status.as_deref())
        .time(|(_, r)| Some(r.creation_date.0))
        .time(|(_, r)| r.completion_date.map(|t| t.0))
        .time(|(_, r)| r.calculated_lifecycle.and_then(|c| c.delete_at).map(|t| t.0))
        .int(|(_, r)| r.lifecycle.and_then(|l| l.delete_after_days))
        .int(|(_, r)| r.lifecycle.and_then(|l| l.move_to_cold_storage_after_days))
        .bool(|(_, r)| r.lifecycle.and_then(|l| l.opt_in_to_archive_for_supported_resources))
        .bool(|(_, r)| r.is_encrypted)
        .str(|(_, r)| r.encryption_key_arn.as_deref())
        .str(|(_, r)| r.vault_type.as_deref())
        .str(|(_, r)| r.created_by.as_ref().and_then(|c| c.backup_plan_id.as_deref()))
        .str(|(_, r)| r.created_by.as_ref().and_then(|c| c.backup_rule_id.as_deref()))
        .int(|(_, r)| r.backup_size_in_bytes)
        .finish()
}

fn vaults(e: &Estate) -> Result<DataFrame, FrameError> {
    Builder::new("vaults", schema::VAULTS, &e.vaults)
        .str(|v| Some(&scope_of(e, v.scope).account))
        .str(|v| Some(&scope_of(e, v.scope).region))
        .str(|v| Some(&v.vault.backup_vault_name))
        .str(|v| v.vault.backup_vault_arn.as_deref())
        .str(|v| v.vault.vault_type.as_deref())
        .str(|v| v.vault.vault_state.as_deref())
        .str(|v| v.vault.encryption_key_arn.as_deref())
        .bool(|v| v.vault.locked)
        .int(|v| v.vault.min_retention_days)
        .int(|v| v.vault.max_retention_days)
        .int(|v| v.vault.number_of_recovery_points)
        .str(|v| v.policy.as_deref())
        .finish()
}

/// A rule with the identity of its plan, for the flattened frames.
struct RuleRow<'a> {
    plan: &'a crate::estate::Plan,
    rule: &'a crate::estate::model::BackupRule,
}

fn plan_rules(e: &Estate) -> Result<DataFrame, FrameError> {
    let rules: Vec<RuleRow> =
        e.plans.iter().flat_map(|plan| plan.rules.iter().flatten().map(move |rule| RuleRow { plan, rule })).collect();
    Builder::new("plan_rules", schema::PLAN_RULES, &rules)
        .str(|r| Some(&scope_of(e, r.plan.scope).account))
        .str(|r| Some(&scope_of(e, r.plan.scope).region))
        .str(|r| Some(&r.plan.id))
        .str(|r| r.plan.arn.as_deref())
        .str(|r| r.plan.name.as_deref())
        .str(|r| r.plan.version.as_deref())
        .str(|r| r.rule.rule_id.as_deref())
        .str(|r| Some(&r.rule.rule_name))
        .str(|r| Some(&r.rule.target_backup_vault_name))
        .str(|r| r.rule.schedule_expression.as_deref())
        .str(|r| r.rule.schedule_expression_timezone.as_deref())
        .int(|r| r.rule.start_window_minutes)
        .int(|r| r.rule.completion_window_minutes)
        .int(|r| r.rule.lifecycle.and_then(|l| l.delete_after_days))
        .int(|r| r.rule.lifecycle.and_then(|l| l.move_to_cold_storage_after_days))
        .bool(|r| r.rule.lifecycle.and_then(|l| l.opt_in_to_archive_for_supported_resources))
        .bool(|r| r.rule.enable_continuous_backup)
        .int(|r| Some(r.rule.copy_actions.len() as i64))
        .finish()
}

fn protected_resources(e: &Estate) -> Result<DataFrame, FrameError> {
    Builder::new("protected_resources", schema::PROTECTED_RESOURCES, &e.protected_resources)
        .str(|(s, _)| Some(&scope_of(e, *s).account))
        .str(|(s, _)| Some(&scope_of(e, *s).region))
        .str(|(_, r)| Some(&r.resource_arn))
        .str(|(_, r)| r.resource_type.as_deref())
        .str(|(_, r)| r.resource_name.as_deref())
        .time(|(_, r)| r.last_backup_time.map(|t| t.0))
        .str(|(_, r)| r.last_recovery_point_arn.as_deref())
        .int(|(_, r)| r.latest_restore_execution_time_minutes)
        .time(|(_, r)| r.latest_restore_job_creation_date.map(|t| t.0))
        .finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_estate_builds_every_frame_with_its_schema() {
        let f = build(&Estate::default()).unwrap();
        for (df, schema) in [
            (&f.backup_jobs, schema::BACKUP_JOBS),
            (&f.copy_jobs, schema::COPY_JOBS),
            (&f.restore_jobs, schema::RESTORE_JOBS),
            (&f.recovery_points, schema::RECOVERY_POINTS),
            (&f.vaults, schema::VAULTS),
            (&f.plan_rules, schema::PLAN_RULES),
            (&f.protected_resources, schema::PROTECTED_RESOURCES),
            (&f.org_paths, schema::ORG_PATHS),
        ] {
            let got: Vec<(String, DataType)> =
                df.columns().iter().map(|c| (c.name().to_string(), c.dtype().clone())).collect();
            let want: Vec<(String, DataType)> = schema.iter().map(|(n, k)| (n.to_string(), k.dtype())).collect();
            assert_eq!(got, want);
        }
    }
}
