//! Every column of every frame: its name and its dtype. The one place to look them up.
//!
//! Instants are `Datetime(ms)` in UTC. Lists and maps (selection resources, tags, backup
//! options) are kept as canonical JSON strings: they are read whole, never queried by part.
//! Frameworks and report plans are configuration, not data: they stay typed
//! ([`crate::estate::FrameworkEntry`], [`crate::estate::model::ReportPlan`]) because the engine
//! walks them rather than queries them.

use polars::prelude::{DataType, TimeUnit};

/// The dtype family of a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// UTF-8 text (`String`).
    Str,
    /// 64-bit integer (`Int64`): sizes, day counts, minutes.
    Int,
    /// `Boolean`.
    Bool,
    /// `Datetime(Milliseconds, None)`, UTC.
    Time,
}

impl Kind {
    /// The Polars dtype of this kind.
    pub fn dtype(self) -> DataType {
        match self {
            Kind::Str => DataType::String,
            Kind::Int => DataType::Int64,
            Kind::Bool => DataType::Boolean,
            Kind::Time => DataType::Datetime(TimeUnit::Milliseconds, None),
        }
    }
}

use Kind::*;

/// `list-backup-jobs`, one row per job kept by the report window.
/// `org_paths`: one row per account with a known AWS Organizations path.
pub const ORG_PATHS: &[(&str, Kind)] = &[("account_id", Str), ("path_to_root", Str)];

pub const BACKUP_JOBS: &[(&str, Kind)] = &[
    ("account_id", Str),
    ("region", Str),
    ("backup_job_id", Str),
    ("state", Str),
    ("status_message", Str),
    ("message_category", Str),
    ("resource_type", Str),
    ("resource_arn", Str),
    ("resource_name", Str),
    ("backup_plan_id", Str),
    ("backup_plan_arn", Str),
    ("backup_plan_version", Str),
    ("backup_rule_id", Str),
    ("backup_plan_name", Str),
    ("backup_rule_name", Str),
    ("backup_rule_cron", Str),
    ("backup_rule_timezone", Str),
    ("initiation_date", Time),
    ("start_by", Time),
    ("backup_options", Str),
    ("backup_type", Str),
    ("is_parent", Bool),
    ("parent_job_id", Str),
    ("creation_date", Time),
    ("completion_date", Time),
    ("expected_completion_date", Time),
    ("recovery_point_arn", Str),
    ("backup_size_in_bytes", Int),
    ("percent_done", Str),
    ("backup_vault_name", Str),
    ("backup_vault_arn", Str),
    ("vault_type", Str),
    ("vault_lock_state", Str),
    ("is_encrypted", Bool),
    ("encryption_key_arn", Str),
    ("delete_after_days", Int),
    ("move_to_cold_after_days", Int),
    ("enable_archive", Bool),
    ("iam_role_arn", Str),
];

/// `list-copy-jobs`, one row per job kept by the report window.
pub const COPY_JOBS: &[(&str, Kind)] = &[
    ("account_id", Str),
    ("region", Str),
    ("copy_job_id", Str),
    ("state", Str),
    ("status_message", Str),
    ("resource_type", Str),
    ("resource_arn", Str),
    ("resource_name", Str),
    ("backup_plan_id", Str),
    ("backup_plan_arn", Str),
    ("backup_rule_id", Str),
    ("backup_plan_name", Str),
    ("backup_rule_name", Str),
    ("backup_rule_cron", Str),
    ("backup_rule_timezone", Str),
    ("is_parent", Bool),
    ("parent_job_id", Str),
    ("creation_date", Time),
    ("completion_date", Time),
    ("backup_size_in_bytes", Int),
    ("source_recovery_point_arn", Str),
    ("source_backup_vault_arn", Str),
    ("destination_recovery_point_arn", Str),
    ("destination_backup_vault_arn", Str),
    ("vault_type", Str),
    ("vault_lock_state", Str),
    ("encryption_key_arn", Str),
    ("delete_after_days", Int),
    ("move_to_cold_after_days", Int),
    ("enable_archive", Bool),
    ("iam_role_arn", Str),
];

/// `list-restore-jobs`, one row per job kept by the report window.
pub const RESTORE_JOBS: &[(&str, Kind)] = &[
    ("account_id", Str),
    ("region", Str),
    ("restore_job_id", Str),
    ("status", Str),
    ("status_message", Str),
    ("resource_type", Str),
    ("recovery_point_arn", Str),
    ("source_resource_arn", Str),
    ("backup_vault_arn", Str),
    ("created_resource_arn", Str),
    ("creation_date", Time),
    ("completion_date", Time),
    ("backup_size_in_bytes", Int),
    ("percent_done", Str),
    ("is_parent", Bool),
    ("parent_job_id", Str),
    ("iam_role_arn", Str),
];

/// `list-recovery-points-by-backup-vault`, every vault.
pub const RECOVERY_POINTS: &[(&str, Kind)] = &[
    ("account_id", Str),
    ("region", Str),
    ("recovery_point_arn", Str),
    ("backup_vault_name", Str),
    ("backup_vault_arn", Str),
    ("resource_arn", Str),
    ("resource_type", Str),
    ("status", Str),
    ("creation_date", Time),
    ("completion_date", Time),
    ("delete_at", Time),
    ("delete_after_days", Int),
    ("move_to_cold_after_days", Int),
    ("enable_archive", Bool),
    ("is_encrypted", Bool),
    ("encryption_key_arn", Str),
    ("vault_type", Str),
    ("backup_plan_id", Str),
    ("backup_rule_id", Str),
    ("backup_size_in_bytes", Int),
];

/// `list-backup-vaults` merged with `describe-backup-vault` and the vault access policy.
pub const VAULTS: &[(&str, Kind)] = &[
    ("account_id", Str),
    ("region", Str),
    ("backup_vault_name", Str),
    ("backup_vault_arn", Str),
    ("vault_type", Str),
    ("vault_state", Str),
    ("encryption_key_arn", Str),
    ("locked", Bool),
    ("min_retention_days", Int),
    ("max_retention_days", Int),
    ("number_of_recovery_points", Int),
    ("access_policy", Str),
];

/// `get-backup-plan`, flattened: one row per rule.
pub const PLAN_RULES: &[(&str, Kind)] = &[
    ("account_id", Str),
    ("region", Str),
    ("backup_plan_id", Str),
    ("backup_plan_arn", Str),
    ("backup_plan_name", Str),
    ("backup_plan_version", Str),
    ("rule_id", Str),
    ("rule_name", Str),
    ("target_backup_vault_name", Str),
    ("schedule_expression", Str),
    ("schedule_timezone", Str),
    ("start_window_minutes", Int),
    ("completion_window_minutes", Int),
    ("delete_after_days", Int),
    ("move_to_cold_after_days", Int),
    ("enable_archive", Bool),
    ("enable_continuous_backup", Bool),
    ("copy_action_count", Int),
];

/// `list-protected-resources` merged with `describe-protected-resource`.
pub const PROTECTED_RESOURCES: &[(&str, Kind)] = &[
    ("account_id", Str),
    ("region", Str),
    ("resource_arn", Str),
    ("resource_type", Str),
    ("resource_name", Str),
    ("last_backup_time", Time),
    ("last_recovery_point_arn", Str),
    ("latest_restore_execution_time_minutes", Int),
    ("latest_restore_job_creation_date", Time),
];
