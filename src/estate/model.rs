//! The AWS response bodies of the estate snapshot, as serde shapes.
//!
//! Field names are the API's PascalCase. Unknown fields are ignored because AWS adds fields
//! every year; fields the reports or controls cannot do without are required, so a file
//! without them fails with the JSON path named. Job pages are the hot path (a large estate has
//! a gigabyte of them), so job records borrow from the page buffer and only the jobs that the
//! report window keeps are copied into owned rows (see [`super::jobs`]).

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

use crate::time::{self, Millis};

/// An instant that arrives as an ISO-8601 string (CLI output) or epoch seconds (wire format).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp(pub Millis);

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Timestamp;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an ISO-8601 timestamp string or epoch seconds")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Timestamp, E> {
                time::parse_iso(v).map(Timestamp).ok_or_else(|| {
                    E::invalid_value(de::Unexpected::Str(v), &"an ISO-8601 timestamp such as 2024-05-01T02:03:04.000Z")
                })
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Timestamp, E> {
                time::from_epoch_seconds(v)
                    .map(Timestamp)
                    .ok_or_else(|| E::invalid_value(de::Unexpected::Float(v), &self))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Timestamp, E> {
                self.visit_f64(v as f64)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Timestamp, E> {
                self.visit_f64(v as f64)
            }
        }
        d.deserialize_any(V)
    }
}

/// A string that borrows from the page when it can (no escapes) and owns otherwise.
///
/// serde borrows a `Cow<'a, str>` only when the field has exactly that type; inside an
/// `Option` it always allocates. Job pages hold tens of millions of optional strings, so they
/// use this type instead.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Text<'a>(pub Cow<'a, str>);

impl std::ops::Deref for Text<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Text<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Text<'a>, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Text<'a>, E> {
                Ok(Text(Cow::Owned(v.to_string())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Text<'a>, E> {
                Ok(Text(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V(std::marker::PhantomData))
    }
}

/// `RecoveryPointCreator`: which plan and rule made a job or recovery point.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RawCreatedBy<'a> {
    #[serde(borrow)]
    pub backup_plan_id: Option<Text<'a>>,
    #[serde(borrow)]
    pub backup_plan_arn: Option<Text<'a>>,
    #[serde(borrow)]
    pub backup_plan_version: Option<Text<'a>>,
    #[serde(borrow)]
    pub backup_rule_id: Option<Text<'a>>,
    #[serde(borrow)]
    pub backup_plan_name: Option<Text<'a>>,
    #[serde(borrow)]
    pub backup_rule_name: Option<Text<'a>>,
    #[serde(borrow)]
    pub backup_rule_cron: Option<Text<'a>>,
    #[serde(borrow)]
    pub backup_rule_timezone: Option<Text<'a>>,
}

/// `Lifecycle` / `RecoveryPointLifecycle`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Lifecycle {
    pub move_to_cold_storage_after_days: Option<i64>,
    pub delete_after_days: Option<i64>,
    pub opt_in_to_archive_for_supported_resources: Option<bool>,
}

/// One `BackupJobs[]` member of `list-backup-jobs`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RawBackupJob<'a> {
    #[serde(borrow)]
    pub backup_job_id: Cow<'a, str>,
    #[serde(borrow)]
    pub state: Cow<'a, str>,
    pub creation_date: Timestamp,
    pub completion_date: Option<Timestamp>,
    #[serde(borrow)]
    pub account_id: Option<Text<'a>>,
    #[serde(borrow)]
    pub backup_vault_name: Option<Text<'a>>,
    #[serde(borrow)]
    pub backup_vault_arn: Option<Text<'a>>,
    #[serde(borrow)]
    pub vault_type: Option<Text<'a>>,
    #[serde(borrow)]
    pub vault_lock_state: Option<Text<'a>>,
    #[serde(borrow)]
    pub recovery_point_arn: Option<Text<'a>>,
    pub recovery_point_lifecycle: Option<Lifecycle>,
    #[serde(borrow)]
    pub encryption_key_arn: Option<Text<'a>>,
    pub is_encrypted: Option<bool>,
    #[serde(borrow)]
    pub resource_arn: Option<Text<'a>>,
    #[serde(borrow)]
    pub status_message: Option<Text<'a>>,
    #[serde(borrow)]
    pub percent_done: Option<Text<'a>>,
    pub backup_size_in_bytes: Option<i64>,
    #[serde(borrow)]
    pub iam_role_arn: Option<Text<'a>>,
    #[serde(borrow, default)]
    pub created_by: Option<RawCreatedBy<'a>>,
    pub expected_completion_date: Option<Timestamp>,
    pub start_by: Option<Timestamp>,
    #[serde(borrow)]
    pub resource_type: Option<Text<'a>>,
    #[serde(borrow)]
    pub backup_options: Option<BTreeMap<Text<'a>, Text<'a>>>,
    #[serde(borrow)]
    pub backup_type: Option<Text<'a>>,
    #[serde(borrow)]
    pub parent_job_id: Option<Text<'a>>,
    pub is_parent: Option<bool>,
    #[serde(borrow)]
    pub resource_name: Option<Text<'a>>,
    pub initiation_date: Option<Timestamp>,
    #[serde(borrow)]
    pub message_category: Option<Text<'a>>,
}

/// One `CopyJobs[]` member of `list-copy-jobs`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RawCopyJob<'a> {
    #[serde(borrow)]
    pub copy_job_id: Cow<'a, str>,
    #[serde(borrow)]
    pub state: Cow<'a, str>,
    pub creation_date: Timestamp,
    pub completion_date: Option<Timestamp>,
    #[serde(borrow)]
    pub account_id: Option<Text<'a>>,
    #[serde(borrow)]
    pub source_backup_vault_arn: Option<Text<'a>>,
    #[serde(borrow)]
    pub source_recovery_point_arn: Option<Text<'a>>,
    #[serde(borrow)]
    pub destination_backup_vault_arn: Option<Text<'a>>,
    #[serde(borrow)]
    pub destination_vault_type: Option<Text<'a>>,
    #[serde(borrow)]
    pub destination_vault_lock_state: Option<Text<'a>>,
    #[serde(borrow)]
    pub destination_recovery_point_arn: Option<Text<'a>>,
    #[serde(borrow)]
    pub destination_encryption_key_arn: Option<Text<'a>>,
    pub destination_recovery_point_lifecycle: Option<Lifecycle>,
    #[serde(borrow)]
    pub resource_arn: Option<Text<'a>>,
    #[serde(borrow)]
    pub status_message: Option<Text<'a>>,
    pub backup_size_in_bytes: Option<i64>,
    #[serde(borrow)]
    pub iam_role_arn: Option<Text<'a>>,
    #[serde(borrow, default)]
    pub created_by: Option<RawCreatedBy<'a>>,
    #[serde(borrow)]
    pub resource_type: Option<Text<'a>>,
    #[serde(borrow)]
    pub parent_job_id: Option<Text<'a>>,
    pub is_parent: Option<bool>,
    #[serde(borrow)]
    pub resource_name: Option<Text<'a>>,
    #[serde(borrow)]
    pub message_category: Option<Text<'a>>,
}

/// One `RestoreJobs[]` member of `list-restore-jobs`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RawRestoreJob<'a> {
    #[serde(borrow)]
    pub restore_job_id: Cow<'a, str>,
    #[serde(borrow)]
    pub status: Cow<'a, str>,
    pub creation_date: Timestamp,
    pub completion_date: Option<Timestamp>,
    #[serde(borrow)]
    pub account_id: Option<Text<'a>>,
    #[serde(borrow)]
    pub recovery_point_arn: Option<Text<'a>>,
    #[serde(borrow)]
    pub source_resource_arn: Option<Text<'a>>,
    #[serde(borrow)]
    pub backup_vault_arn: Option<Text<'a>>,
    #[serde(borrow)]
    pub status_message: Option<Text<'a>>,
    #[serde(borrow)]
    pub percent_done: Option<Text<'a>>,
    pub backup_size_in_bytes: Option<i64>,
    #[serde(borrow)]
    pub iam_role_arn: Option<Text<'a>>,
    pub expected_completion_time_minutes: Option<i64>,
    #[serde(borrow)]
    pub created_resource_arn: Option<Text<'a>>,
    #[serde(borrow)]
    pub resource_type: Option<Text<'a>>,
    pub recovery_point_creation_date: Option<Timestamp>,
    pub is_parent: Option<bool>,
    #[serde(borrow)]
    pub parent_job_id: Option<Text<'a>>,
    #[serde(borrow)]
    pub validation_status: Option<Text<'a>>,
}

/// A page of `list-backup-jobs`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BackupJobsPage<'a> {
    #[serde(borrow, default)]
    pub backup_jobs: Vec<RawBackupJob<'a>>,
}

/// A page of `list-copy-jobs`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CopyJobsPage<'a> {
    #[serde(borrow, default)]
    pub copy_jobs: Vec<RawCopyJob<'a>>,
}

/// A page of `list-restore-jobs`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RestoreJobsPage<'a> {
    #[serde(borrow, default)]
    pub restore_jobs: Vec<RawRestoreJob<'a>>,
}

/// `list-backup-vaults` member and `describe-backup-vault` body (the latter adds lock details).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BackupVault {
    pub backup_vault_name: String,
    pub backup_vault_arn: Option<String>,
    pub vault_type: Option<String>,
    pub vault_state: Option<String>,
    pub encryption_key_arn: Option<String>,
    pub creation_date: Option<Timestamp>,
    pub number_of_recovery_points: Option<i64>,
    pub locked: Option<bool>,
    pub min_retention_days: Option<i64>,
    pub max_retention_days: Option<i64>,
    pub lock_date: Option<Timestamp>,
}

/// A page of `list-backup-vaults`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BackupVaultsPage {
    #[serde(default)]
    pub backup_vault_list: Vec<BackupVault>,
}

/// `get-backup-vault-access-policy` body.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct VaultAccessPolicy {
    pub backup_vault_name: Option<String>,
    pub policy: String,
}

/// A string that many records repeat (a vault ARN, a resource ARN, a status), held once.
///
/// A million recovery points name a few vaults, a few statuses and a hundred thousand
/// resources: read as `String`s they cost about 0.7 KB each; interned while parsing (one pool
/// per parsing thread), a repeated value is one shared allocation. Reads as `&str`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Shared(std::sync::Arc<str>);

thread_local! {
    static POOL: std::cell::RefCell<std::collections::HashSet<std::sync::Arc<str>>> = Default::default();
}

impl Shared {
    /// The pooled copy of `s`.
    pub fn intern(s: &str) -> Shared {
        POOL.with(|pool| {
            let mut pool = pool.borrow_mut();
            match pool.get(s) {
                Some(a) => Shared(a.clone()),
                None => {
                    let a: std::sync::Arc<str> = s.into();
                    pool.insert(a.clone());
                    Shared(a)
                }
            }
        })
    }

    /// Empties this thread's pool (the strings live on in the records that hold them).
    pub fn forget_pool() {
        POOL.with(|pool| *pool.borrow_mut() = Default::default());
    }
}

impl std::ops::Deref for Shared {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&*self.0, f)
    }
}

impl std::fmt::Display for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for Shared {
    fn from(s: &str) -> Shared {
        Shared(s.into())
    }
}

impl From<String> for Shared {
    fn from(s: String) -> Shared {
        Shared(s.into())
    }
}

impl<'de> Deserialize<'de> for Shared {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Shared, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Shared;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Shared, E> {
                Ok(Shared::intern(s))
            }
        }
        d.deserialize_str(V)
    }
}

/// One `RecoveryPoints[]` member of `list-recovery-points-by-backup-vault`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RecoveryPoint {
    pub recovery_point_arn: String,
    pub backup_vault_name: Option<Shared>,
    pub backup_vault_arn: Option<Shared>,
    pub source_backup_vault_arn: Option<Shared>,
    pub resource_arn: Option<Shared>,
    pub resource_type: Option<Shared>,
    pub status: Option<Shared>,
    pub creation_date: Timestamp,
    pub completion_date: Option<Timestamp>,
    pub backup_size_in_bytes: Option<i64>,
    pub calculated_lifecycle: Option<CalculatedLifecycle>,
    pub lifecycle: Option<Lifecycle>,
    pub encryption_key_arn: Option<Shared>,
    pub is_encrypted: Option<bool>,
    pub vault_type: Option<Shared>,
    #[serde(default)]
    pub created_by: Option<CreatedBy>,
}

/// `CalculatedLifecycle` of a recovery point.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CalculatedLifecycle {
    pub move_to_cold_storage_at: Option<Timestamp>,
    pub delete_at: Option<Timestamp>,
}

/// Owned `RecoveryPointCreator`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreatedBy {
    pub backup_plan_id: Option<Shared>,
    pub backup_plan_arn: Option<Shared>,
    pub backup_rule_id: Option<Shared>,
}

/// A page of `list-recovery-points-by-backup-vault`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RecoveryPointsPage {
    #[serde(default)]
    pub recovery_points: Vec<RecoveryPoint>,
}

/// One `BackupPlansList[]` member of `list-backup-plans`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BackupPlanSummary {
    pub backup_plan_id: String,
    pub backup_plan_arn: Option<String>,
    pub backup_plan_name: Option<String>,
    pub version_id: Option<String>,
    pub deletion_date: Option<Timestamp>,
}

/// A page of `list-backup-plans`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BackupPlansPage {
    #[serde(default)]
    pub backup_plans_list: Vec<BackupPlanSummary>,
}

/// `get-backup-plan` body.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetBackupPlan {
    pub backup_plan: BackupPlanDocument,
    pub backup_plan_id: String,
    pub backup_plan_arn: Option<String>,
    pub version_id: Option<String>,
}

/// The `BackupPlan` document inside `get-backup-plan`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BackupPlanDocument {
    pub backup_plan_name: String,
    #[serde(default)]
    pub rules: Vec<BackupRule>,
}

/// A `BackupRule`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BackupRule {
    pub rule_name: String,
    pub rule_id: Option<String>,
    pub target_backup_vault_name: String,
    pub schedule_expression: Option<String>,
    pub schedule_expression_timezone: Option<String>,
    pub start_window_minutes: Option<i64>,
    pub completion_window_minutes: Option<i64>,
    pub lifecycle: Option<Lifecycle>,
    #[serde(default)]
    pub copy_actions: Vec<CopyAction>,
    pub enable_continuous_backup: Option<bool>,
    pub target_logically_air_gapped_backup_vault_arn: Option<String>,
}

/// A `CopyAction` of a backup rule.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CopyAction {
    pub destination_backup_vault_arn: String,
    pub lifecycle: Option<Lifecycle>,
}

/// One `BackupSelectionsList[]` member of `list-backup-selections`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BackupSelectionSummary {
    pub selection_id: String,
    pub selection_name: Option<String>,
    pub backup_plan_id: Option<String>,
}

/// A page of `list-backup-selections`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BackupSelectionsPage {
    #[serde(default)]
    pub backup_selections_list: Vec<BackupSelectionSummary>,
}

/// `get-backup-selection` body.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetBackupSelection {
    pub backup_selection: BackupSelection,
    pub selection_id: String,
    pub backup_plan_id: String,
}

/// A `BackupSelection`: which resources a plan covers.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BackupSelection {
    pub selection_name: String,
    pub iam_role_arn: Option<String>,
    #[serde(default)]
    pub resources: Vec<String>,
    #[serde(default)]
    pub not_resources: Vec<String>,
    #[serde(default)]
    pub list_of_tags: Vec<TagCondition>,
    #[serde(default)]
    pub conditions: Option<Conditions>,
}

/// A `ListOfTags` member (`ConditionType` is always `STRINGEQUALS`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TagCondition {
    pub condition_type: Option<String>,
    pub condition_key: String,
    pub condition_value: String,
}

/// The `Conditions` block of a selection.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Conditions {
    #[serde(default)]
    pub string_equals: Vec<ConditionParameter>,
    #[serde(default)]
    pub string_not_equals: Vec<ConditionParameter>,
    #[serde(default)]
    pub string_like: Vec<ConditionParameter>,
    #[serde(default)]
    pub string_not_like: Vec<ConditionParameter>,
}

/// One `ConditionParameter` (`ConditionKey` may be `aws:ResourceTag/<key>` or a plain key).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ConditionParameter {
    pub condition_key: String,
    pub condition_value: String,
}

/// One `Results[]` member of `list-protected-resources`, merged with
/// `describe-protected-resource` where that file exists.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ProtectedResource {
    pub resource_arn: String,
    pub resource_type: Option<String>,
    pub resource_name: Option<String>,
    pub last_backup_time: Option<Timestamp>,
    pub last_backup_vault_arn: Option<String>,
    pub last_recovery_point_arn: Option<String>,
    pub latest_restore_execution_time_minutes: Option<i64>,
    pub latest_restore_job_creation_date: Option<Timestamp>,
    pub latest_restore_recovery_point_creation_date: Option<Timestamp>,
}

/// A page of `list-protected-resources`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ProtectedResourcesPage {
    #[serde(default)]
    pub results: Vec<ProtectedResource>,
}

/// A `ResourceTagMappingList[]` member of the tagging API's `get-resources`.
#[derive(Debug, Clone, Deserialize)]
pub struct TaggedResource {
    #[serde(rename = "ResourceARN")]
    pub resource_arn: String,
    #[serde(rename = "Tags", default)]
    pub tags: Vec<Tag>,
}

/// A `{Key, Value}` tag.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Tag {
    pub key: String,
    #[serde(default)]
    pub value: String,
}

/// A page of `get-resources`.
#[derive(Debug, Deserialize)]
pub struct GetResourcesPage {
    #[serde(rename = "ResourceTagMappingList", default)]
    pub resource_tag_mapping_list: Vec<TaggedResource>,
}

/// One `Frameworks[]` member of `list-frameworks`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct FrameworkSummary {
    pub framework_name: String,
    pub framework_arn: Option<String>,
}

/// A page of `list-frameworks`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct FrameworksPage {
    #[serde(default)]
    pub frameworks: Vec<FrameworkSummary>,
}

/// `describe-framework` body, also the shape of `--framework-file`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Framework {
    pub framework_name: String,
    pub framework_arn: Option<String>,
    pub framework_description: Option<String>,
    pub framework_controls: Vec<FrameworkControl>,
    pub deployment_status: Option<String>,
}

/// A `FrameworkControl`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct FrameworkControl {
    pub control_name: String,
    #[serde(default)]
    pub control_input_parameters: Vec<ControlInputParameter>,
    #[serde(default)]
    pub control_scope: Option<ControlScope>,
}

/// A `ControlInputParameter`: both sides are strings, numbers included.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ControlInputParameter {
    pub parameter_name: String,
    pub parameter_value: String,
}

/// A `ControlScope`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ControlScope {
    #[serde(default)]
    pub compliance_resource_ids: Vec<String>,
    #[serde(default)]
    pub compliance_resource_types: Vec<String>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

/// One `ReportPlans[]` member of `list-report-plans` and the body of
/// `describe-report-plan` (`{"ReportPlan": …}`).
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ReportPlan {
    pub report_plan_name: String,
    pub report_plan_arn: Option<String>,
    pub report_plan_description: Option<String>,
    pub report_setting: ReportSetting,
    pub report_delivery_channel: ReportDeliveryChannel,
}

/// `ReportSetting` of a report plan.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ReportSetting {
    pub report_template: String,
    #[serde(default)]
    pub framework_arns: Vec<String>,
    #[serde(default)]
    pub accounts: Vec<String>,
    #[serde(default)]
    pub organization_units: Vec<String>,
    #[serde(default)]
    pub regions: Vec<String>,
}

/// `ReportDeliveryChannel` of a report plan.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ReportDeliveryChannel {
    pub s3_bucket_name: String,
    pub s3_key_prefix: Option<String>,
    #[serde(default)]
    pub formats: Vec<String>,
}

/// `describe-report-plan` body.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeReportPlan {
    pub report_plan: ReportPlan,
}

/// A page of `list-report-plans`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ReportPlansPage {
    #[serde(default)]
    pub report_plans: Vec<ReportPlan>,
}

/// The EC2 `describe-instances` body, read only for instance states (a stopped instance is not
/// evaluated by the resource controls).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeInstancesPage {
    #[serde(default)]
    pub reservations: Vec<Reservation>,
}

/// `aws organizations list-parents --child-id <id>`: the parent of an account or OU.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ParentsPage {
    #[serde(default)]
    pub parents: Vec<Parent>,
}

/// One parent: an OU (`ORGANIZATIONAL_UNIT`) or the root (`ROOT`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Parent {
    pub id: String,
    #[serde(rename = "Type")]
    pub parent_type: String,
}

/// An EC2 reservation.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Reservation {
    #[serde(default)]
    pub instances: Vec<Instance>,
}

/// An EC2 instance, state only.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Instance {
    pub instance_id: String,
    pub state: Option<InstanceState>,
}

/// `State` of an EC2 instance.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct InstanceState {
    pub name: String,
}
