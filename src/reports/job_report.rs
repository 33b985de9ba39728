//! Report frames of the three job templates: the windowed job frames, filled from the estate.
//!
//! A job record often lacks what the report prints: older API versions carry no plan or rule
//! names, no vault lock state, no encryption details. Those values come from the plan rules
//! (names, schedule, time zone, start window), the vaults (type, lock) and the recovery points
//! (encryption and lifecycle), joined with Polars. The job's own value always wins.

use polars::prelude::*;

use super::encode::RenderError;
use crate::frames::Frames;

/// The report frames of BACKUP, COPY and RESTORE job reports, unsorted and unfiltered.
#[derive(Debug, Clone)]
pub struct JobReportFrames {
    pub backup_jobs: DataFrame,
    pub copy_jobs: DataFrame,
    pub restore_jobs: DataFrame,
}

impl JobReportFrames {
    /// The frame a job template names (`backup_jobs`, `copy_jobs`, `restore_jobs`).
    pub fn get(&self, frame: &str) -> Option<&DataFrame> {
        match frame {
            "backup_jobs" => Some(&self.backup_jobs),
            "copy_jobs" => Some(&self.copy_jobs),
            "restore_jobs" => Some(&self.restore_jobs),
            _ => None,
        }
    }
}

fn null_str() -> Expr {
    lit(NULL).cast(DataType::String)
}

fn ms(e: Expr) -> Expr {
    e.cast(DataType::Int64)
}

/// Rule columns, prefixed `r_`, unique per (account, region, plan, rule).
fn rules(frames: &Frames) -> LazyFrame {
    frames
        .plan_rules
        .clone()
        .lazy()
        .select([
            col("account_id").alias("r_account_id"),
            col("region").alias("r_region"),
            col("backup_plan_id").alias("r_plan_id"),
            col("rule_id").alias("r_rule_id"),
            col("backup_plan_arn").alias("r_plan_arn"),
            col("backup_plan_name").alias("r_plan_name"),
            col("rule_name").alias("r_rule_name"),
            col("schedule_expression").alias("r_schedule"),
            col("schedule_timezone").alias("r_timezone"),
            col("start_window_minutes").alias("r_start_window"),
        ])
        .unique_stable_generic(
            Some(vec![col("r_account_id"), col("r_region"), col("r_plan_id"), col("r_rule_id")]),
            UniqueKeepStrategy::First,
        )
}

/// Account paths in the organisation, prefixed `o_`, one per account.
fn org_paths(frames: &Frames) -> LazyFrame {
    frames.org_paths.clone().lazy().select([col("account_id").alias("o_account"), col("path_to_root").alias("o_path")])
}

/// Vault columns, prefixed `v_`, unique per vault ARN.
fn vaults(frames: &Frames) -> LazyFrame {
    frames
        .vaults
        .clone()
        .lazy()
        .filter(col("backup_vault_arn").is_not_null())
        .select([
            col("backup_vault_arn").alias("v_arn"),
            col("vault_type").alias("v_type"),
            col("locked").alias("v_locked"),
        ])
        .unique_stable_generic(Some(vec![col("v_arn")]), UniqueKeepStrategy::First)
}

/// Recovery point columns, prefixed `p_`, unique per recovery point ARN.
fn recovery_points(frames: &Frames) -> LazyFrame {
    frames
        .recovery_points
        .clone()
        .lazy()
        .select([
            col("recovery_point_arn").alias("p_arn"),
            col("is_encrypted").alias("p_is_encrypted"),
            col("encryption_key_arn").alias("p_key"),
            col("delete_after_days").alias("p_delete"),
            col("move_to_cold_after_days").alias("p_cold"),
            col("enable_archive").alias("p_archive"),
            col("vault_type").alias("p_vault_type"),
            col("backup_plan_id").alias("p_plan_id"),
            col("backup_rule_id").alias("p_rule_id"),
        ])
        .unique_stable_generic(Some(vec![col("p_arn")]), UniqueKeepStrategy::First)
}

fn polars_err(template: &'static str) -> impl Fn(PolarsError) -> RenderError {
    move |source| RenderError::Polars { template: template.to_string(), source }
}

fn left() -> JoinArgs {
    JoinArgs::new(JoinType::Left)
}

/// The lock state a vault implies, when the job does not say.
fn lock_state(own: Expr) -> Expr {
    coalesce(&[
        own,
        when(col("v_locked").eq(lit(true)))
            .then(lit("LOCKED"))
            .when(col("v_locked").eq(lit(false)))
            .then(lit("UNLOCKED"))
            .otherwise(null_str()),
    ])
}

/// The schedule time zone: the job's, else the rule's, else UTC when the rule is known
/// (a rule without `ScheduleExpressionTimezone` runs in UTC).
fn timezone(own: Expr) -> Expr {
    coalesce(&[own, col("r_timezone"), when(col("r_rule_name").is_not_null()).then(lit("UTC")).otherwise(null_str())])
}

/// Creation plus the rule's `StartWindowMinutes`: when the job had to start by.
fn start_window_end() -> Expr {
    (ms(col("creation_date")) + col("r_start_window") * lit(60_000i64))
        .cast(DataType::Datetime(TimeUnit::Milliseconds, None))
}

fn run_time() -> Expr {
    (ms(col("completion_date")) - ms(col("creation_date"))).alias("job_run_time_ms")
}

fn rule_keys(plan: &str, rule: &str) -> [Vec<Expr>; 2] {
    [
        vec![col("account_id"), col("region"), col(plan), col(rule)],
        vec![col("r_account_id"), col("r_region"), col("r_plan_id"), col("r_rule_id")],
    ]
}

fn drop_prefixed(lf: LazyFrame, prefixes: &[&str], keep: &[&str]) -> PolarsResult<DataFrame> {
    let df = lf.collect()?;
    let names: Vec<PlSmallStr> = df
        .get_column_names()
        .into_iter()
        .filter(|n| !prefixes.iter().any(|p| n.starts_with(p)) || keep.contains(&n.as_str()))
        .cloned()
        .collect();
    df.select(names)
}

/// The values that BACKUP and COPY jobs take from the estate when the job lacks them: plan and
/// rule from the rule, vault type and lock from the vault, encryption and lifecycle from the
/// recovery point; and the run time.
fn filled_from_estate(is_encrypted: Expr) -> Vec<Expr> {
    vec![
        coalesce(&[col("backup_plan_arn"), col("r_plan_arn")]).alias("backup_plan_arn"),
        coalesce(&[col("backup_plan_name"), col("r_plan_name")]).alias("backup_plan_name"),
        coalesce(&[col("backup_rule_name"), col("r_rule_name")]).alias("backup_rule_name"),
        coalesce(&[col("backup_rule_cron"), col("r_schedule")]).alias("backup_rule_cron"),
        timezone(col("backup_rule_timezone")).alias("backup_rule_timezone"),
        coalesce(&[col("vault_type"), col("v_type"), col("p_vault_type")]).alias("vault_type"),
        lock_state(col("vault_lock_state")).alias("vault_lock_state"),
        is_encrypted.alias("is_encrypted"),
        coalesce(&[col("encryption_key_arn"), col("p_key")]).alias("encryption_key_arn"),
        coalesce(&[col("delete_after_days"), col("p_delete")]).alias("delete_after_days"),
        coalesce(&[col("move_to_cold_after_days"), col("p_cold")]).alias("move_to_cold_after_days"),
        coalesce(&[col("enable_archive"), col("p_archive")]).alias("enable_archive"),
        run_time(),
    ]
}

/// Builds the three job report frames.
pub fn build(frames: &Frames) -> Result<JobReportFrames, RenderError> {
    let prefixes = ["r_", "v_", "p_", "n_", "o_"];

    let [jl, jr] = rule_keys("backup_plan_id", "backup_rule_id");
    let backup = frames
        .backup_jobs
        .clone()
        .lazy()
        .join(rules(frames), jl, jr, left())
        .join(vaults(frames), [col("backup_vault_arn")], [col("v_arn")], left())
        .join(recovery_points(frames), [col("recovery_point_arn")], [col("p_arn")], left())
        .with_columns(filled_from_estate(coalesce(&[col("is_encrypted"), col("p_is_encrypted")])))
        .with_column(coalesce(&[col("start_by"), start_window_end()]).alias("start_by"))
        .join(org_paths(frames), [col("account_id")], [col("o_account")], left())
        .with_column(col("o_path").alias("path_to_root"));
    let backup_jobs = drop_prefixed(backup, &prefixes, &[]).map_err(polars_err("BACKUP_JOB_REPORT"))?;

    let [jl, jr] = rule_keys("backup_plan_id", "backup_rule_id");
    let copy = frames
        .copy_jobs
        .clone()
        .lazy()
        .join(rules(frames), jl, jr, left())
        .join(vaults(frames), [col("destination_backup_vault_arn")], [col("v_arn")], left())
        .join(recovery_points(frames), [col("destination_recovery_point_arn")], [col("p_arn")], left())
        .with_columns(filled_from_estate(col("p_is_encrypted")))
        .with_columns([start_window_end().alias("start_window_end"), null_str().alias("backup_options")])
        .join(org_paths(frames), [col("account_id")], [col("o_account")], left())
        .with_column(col("o_path").alias("path_to_root"));
    let copy_jobs = drop_prefixed(copy, &prefixes, &[]).map_err(polars_err("COPY_JOB_REPORT"))?;

    let [jl, jr] = rule_keys("p_plan_id", "p_rule_id");
    let names = frames
        .protected_resources
        .clone()
        .lazy()
        .select([col("resource_arn").alias("n_arn"), col("resource_name").alias("resource_name")]);
    let restore = frames
        .restore_jobs
        .clone()
        .lazy()
        .join(recovery_points(frames), [col("recovery_point_arn")], [col("p_arn")], left())
        .join(rules(frames), jl, jr, left())
        .join(vaults(frames), [col("backup_vault_arn")], [col("v_arn")], left())
        .join(
            names.unique_stable_generic(Some(vec![col("n_arn")]), UniqueKeepStrategy::First),
            [col("source_resource_arn")],
            [col("n_arn")],
            left(),
        )
        .with_columns([
            col("r_plan_name").alias("backup_plan_name"),
            col("r_rule_name").alias("backup_rule_name"),
            col("r_schedule").alias("backup_rule_cron"),
            timezone(null_str()).alias("backup_rule_timezone"),
            lit(NULL).cast(DataType::Datetime(TimeUnit::Milliseconds, None)).alias("start_window_end"),
            null_str().alias("backup_options"),
            coalesce(&[col("v_type"), col("p_vault_type")]).alias("vault_type"),
            lock_state(null_str()).alias("vault_lock_state"),
            col("p_is_encrypted").alias("is_encrypted"),
            col("p_key").alias("encryption_key_arn"),
            col("p_delete").alias("delete_after_days"),
            col("p_cold").alias("move_to_cold_after_days"),
            col("p_archive").alias("enable_archive"),
            run_time(),
        ])
        .join(org_paths(frames), [col("account_id")], [col("o_account")], left())
        .with_column(col("o_path").alias("path_to_root"));
    let restore_jobs = drop_prefixed(restore, &prefixes, &[]).map_err(polars_err("RESTORE_JOB_REPORT"))?;

    Ok(JobReportFrames { backup_jobs, copy_jobs, restore_jobs })
}
