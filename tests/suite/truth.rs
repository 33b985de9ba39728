//! Walks `controls/<CONTROL>.tests.toml`: each case describes a tiny estate in one account
//! and region, the control's parameters and scope, and the expected verdict and reason.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use backup_audit::controls::{self, ControlId};
use backup_audit::estate::model::*;
use backup_audit::estate::{Dataset, Estate, Plan, Scope, ScopeId, Selection, Vault};
use backup_audit::time::parse_iso;
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Table {
    #[serde(default = "default_now")]
    now: String,
    case: Vec<Case>,
}

fn default_now() -> String {
    "2024-03-02T04:00:00Z".into()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    #[serde(default)]
    parameters: BTreeMap<String, String>,
    scope: Option<ControlScope>,
    /// The resource id of the row to check; default: the only row.
    target: Option<String>,
    /// Expected resource status; absent when only the control status is checked.
    expect: Option<String>,
    /// A substring of the expected reason.
    reason: Option<String>,
    /// Expected control status.
    control: Option<String>,
    /// Expected number of rows.
    rows: Option<usize>,
    #[serde(default)]
    not_collected: Vec<String>,
    #[serde(default)]
    resources: Vec<Res>,
    #[serde(default)]
    plans: Vec<PlanCase>,
    #[serde(default)]
    selections: Vec<SelCase>,
    #[serde(default)]
    vaults: Vec<VaultCase>,
    #[serde(default)]
    recovery_points: Vec<RpCase>,
    #[serde(default)]
    protected: Vec<ProtCase>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Res {
    arn: String,
    #[serde(default)]
    tags: BTreeMap<String, String>,
    state: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PlanCase {
    id: String,
    name: Option<String>,
    rules: Option<Vec<RuleCase>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleCase {
    name: String,
    schedule: Option<String>,
    timezone: Option<String>,
    delete_after_days: Option<i64>,
    #[serde(default)]
    continuous: bool,
    #[serde(default = "default_vault")]
    vault: String,
    #[serde(default)]
    copy_to: Vec<String>,
}

fn default_vault() -> String {
    "Default".into()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SelCase {
    plan: String,
    #[serde(default = "default_selection")]
    name: String,
    #[serde(default)]
    resources: Vec<String>,
    #[serde(default)]
    not_resources: Vec<String>,
    #[serde(default)]
    tags: Vec<[String; 2]>,
    #[serde(default)]
    string_equals: Vec<[String; 2]>,
    #[serde(default)]
    string_not_equals: Vec<[String; 2]>,
    #[serde(default)]
    string_like: Vec<[String; 2]>,
    #[serde(default)]
    string_not_like: Vec<[String; 2]>,
    /// The selection's detail file is missing.
    #[serde(default)]
    detail_missing: bool,
}

fn default_selection() -> String {
    "selection".into()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VaultCase {
    name: String,
    locked: Option<bool>,
    min: Option<i64>,
    max: Option<i64>,
    policy: Option<String>,
    #[serde(rename = "type")]
    vault_type: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RpCase {
    id: String,
    resource: Option<String>,
    #[serde(default = "default_vault")]
    vault: String,
    created: String,
    status: Option<String>,
    encrypted: Option<bool>,
    key: Option<String>,
    delete_after_days: Option<i64>,
    delete_at: Option<String>,
    vault_type: Option<String>,
    resource_type: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProtCase {
    arn: String,
    restore_minutes: Option<i64>,
    /// `LatestRestoreJobCreationDate`.
    restore_created: Option<String>,
    last_backup: Option<String>,
}

const ACCOUNT: &str = "111122223333";
const REGION: &str = "us-east-1";

fn ts(s: &str) -> Timestamp {
    Timestamp(parse_iso(s).unwrap_or_else(|| panic!("bad time `{s}` in a truth table")))
}

fn pairs(v: &[[String; 2]]) -> Vec<ConditionParameter> {
    v.iter().map(|[k, v]| ConditionParameter { condition_key: k.clone(), condition_value: v.clone() }).collect()
}

fn estate(c: &Case) -> Estate {
    // Every dataset a control reads (the job lists are for job reports).
    let all = Dataset::ALL.into_iter().filter(|d| !d.is_job_list());
    let collected: BTreeSet<Dataset> =
        all.into_iter().filter(|d| !c.not_collected.iter().any(|n| n == d.command())).collect();
    let mut e = Estate {
        scopes: vec![Scope {
            id: ScopeId { account: ACCOUNT.into(), region: REGION.into() },
            collected,
            reference: false,
        }],
        ..Estate::default()
    };
    for r in &c.resources {
        let tags = r.tags.iter().map(|(k, v)| Tag { key: k.clone(), value: v.clone() }).collect();
        e.inventory.push((0, TaggedResource { resource_arn: r.arn.clone(), tags }));
        if let Some(state) = &r.state {
            e.instance_states.insert((0, r.arn.rsplit('/').next().unwrap().to_string()), state.clone());
        }
    }
    for p in &c.plans {
        let rules = p.rules.as_ref().map(|rules| {
            rules
                .iter()
                .map(|r| BackupRule {
                    rule_name: r.name.clone(),
                    rule_id: Some(format!("{}-id", r.name)),
                    target_backup_vault_name: r.vault.clone(),
                    schedule_expression: r.schedule.clone(),
                    schedule_expression_timezone: r.timezone.clone(),
                    start_window_minutes: Some(60),
                    completion_window_minutes: None,
                    lifecycle: r
                        .delete_after_days
                        .map(|d| Lifecycle { delete_after_days: Some(d), ..Default::default() }),
                    copy_actions: r
                        .copy_to
                        .iter()
                        .map(|d| CopyAction { destination_backup_vault_arn: d.clone(), lifecycle: None })
                        .collect(),
                    enable_continuous_backup: Some(r.continuous),
                    target_logically_air_gapped_backup_vault_arn: None,
                })
                .collect()
        });
        e.plans.push(Plan {
            scope: 0,
            id: p.id.clone(),
            arn: Some(format!("arn:aws:backup:{REGION}:{ACCOUNT}:backup-plan:{}", p.id)),
            name: p.name.clone(),
            version: None,
            rules,
        });
    }
    for (i, s) in c.selections.iter().enumerate() {
        let detail = BackupSelection {
            selection_name: s.name.clone(),
            iam_role_arn: None,
            resources: s.resources.clone(),
            not_resources: s.not_resources.clone(),
            list_of_tags: s
                .tags
                .iter()
                .map(|[k, v]| TagCondition {
                    condition_type: Some("STRINGEQUALS".into()),
                    condition_key: k.clone(),
                    condition_value: v.clone(),
                })
                .collect(),
            conditions: Some(Conditions {
                string_equals: pairs(&s.string_equals),
                string_not_equals: pairs(&s.string_not_equals),
                string_like: pairs(&s.string_like),
                string_not_like: pairs(&s.string_not_like),
            }),
        };
        e.selections.push(Selection {
            scope: 0,
            plan_id: s.plan.clone(),
            selection_id: format!("sel-{i}"),
            selection: (!s.detail_missing).then_some(detail),
        });
    }
    for v in &c.vaults {
        e.vaults.push(Vault {
            scope: 0,
            vault: BackupVault {
                backup_vault_name: v.name.clone(),
                backup_vault_arn: Some(format!("arn:aws:backup:{REGION}:{ACCOUNT}:backup-vault:{}", v.name)),
                vault_type: v.vault_type.clone(),
                locked: v.locked,
                min_retention_days: v.min,
                max_retention_days: v.max,
                ..Default::default()
            },
            policy: v.policy.clone(),
        });
    }
    for r in &c.recovery_points {
        e.recovery_points.push((
            0,
            RecoveryPoint {
                recovery_point_arn: format!("arn:aws:backup:{REGION}:{ACCOUNT}:recovery-point:{}", r.id),
                backup_vault_name: Some(r.vault.as_str().into()),
                backup_vault_arn: Some(format!("arn:aws:backup:{REGION}:{ACCOUNT}:backup-vault:{}", r.vault).into()),
                source_backup_vault_arn: None,
                resource_arn: r.resource.as_deref().map(Into::into),
                resource_type: r.resource_type.as_deref().map(Into::into),
                status: r.status.as_deref().map(Into::into),
                creation_date: ts(&r.created),
                completion_date: None,
                backup_size_in_bytes: None,
                calculated_lifecycle: r
                    .delete_at
                    .as_deref()
                    .map(|d| CalculatedLifecycle { move_to_cold_storage_at: None, delete_at: Some(ts(d)) }),
                lifecycle: r.delete_after_days.map(|d| Lifecycle { delete_after_days: Some(d), ..Default::default() }),
                encryption_key_arn: r.key.as_deref().map(Into::into),
                is_encrypted: r.encrypted,
                vault_type: r.vault_type.as_deref().map(Into::into),
                created_by: None,
            },
        ));
    }
    for p in &c.protected {
        e.protected_resources.push((
            0,
            ProtectedResource {
                resource_arn: p.arn.clone(),
                latest_restore_execution_time_minutes: p.restore_minutes,
                last_backup_time: p.last_backup.as_deref().map(ts),
                latest_restore_job_creation_date: p.restore_created.as_deref().map(ts),
                ..Default::default()
            },
        ));
    }
    e
}

/// Runs every case of `control`'s truth table; a failing case does not hide the next.
fn check(control: ControlId) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("controls").join(format!("{}.tests.toml", control.name()));
    assert!(path.exists(), "{} has no truth table at {}", control.name(), path.display());
    let text = std::fs::read_to_string(&path).unwrap();
    let table: Table = toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(table.case.len() >= 4, "{}: only {} cases", control.name(), table.case.len());
    let failures: Vec<String> = table
        .case
        .iter()
        .filter_map(|c| {
            let at = format!("{} case `{}`", path.display(), c.name);
            std::panic::catch_unwind(|| run_case(control, &table, c, &at))
                .err()
                .map(|e| e.downcast_ref::<String>().cloned().unwrap_or_else(|| format!("{at}: panicked")))
        })
        .collect();
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), table.case.len(), failures.join("\n"));
}

/// One test per control, named after it, so a failure names the control.
macro_rules! truth_tables {
    ($($test:ident => $control:ident),* $(,)?) => {
        $(
            #[test]
            fn $test() {
                check(ControlId::$control);
            }
        )*

        #[test]
        fn every_control_has_a_truth_table_test() {
            let tested = [$(ControlId::$control),*];
            for c in ControlId::ALL {
                assert!(tested.contains(&c), "{} has no truth table test", c.name());
            }
        }
    };
}

truth_tables! {
    protected_by_backup_plan => ProtectedByBackupPlan,
    plan_frequency_and_retention => PlanFrequencyAndRetention,
    manual_deletion_disabled => ManualDeletionDisabled,
    recovery_point_encrypted => RecoveryPointEncrypted,
    recovery_point_minimum_retention => RecoveryPointMinimumRetention,
    cross_region => CrossRegion,
    cross_account => CrossAccount,
    vault_lock => VaultLock,
    last_recovery_point_created => LastRecoveryPointCreated,
    restore_time => RestoreTime,
    logically_air_gapped => LogicallyAirGapped,
}

fn run_case(control: ControlId, table: &Table, c: &Case, at: &str) {
    let specs = controls::spec::built_in().unwrap();
    let now = parse_iso(&table.now).unwrap();
    let e = estate(c);
    let framework = Framework {
        framework_name: "truth_table".into(),
        framework_arn: None,
        framework_description: None,
        framework_controls: vec![FrameworkControl {
            control_name: control.name().into(),
            control_input_parameters: c
                .parameters
                .iter()
                .map(|(k, v)| ControlInputParameter { parameter_name: k.clone(), parameter_value: v.clone() })
                .collect(),
            control_scope: c.scope.clone(),
        }],
        deployment_status: None,
    };
    let runs = [controls::FrameworkRun { framework, scopes: vec![0] }];
    let (ev, verdicts) = controls::evaluate(&e, &runs, &specs, now);
    assert!(ev.errors.is_empty(), "{at}: {:?}", ev.errors);
    let result = &ev.results[0];
    let verdicts = &verdicts[0];
    if let Some(rows) = c.rows {
        assert_eq!(verdicts.len(), rows, "{at}: rows {:#?}", verdicts);
    }
    if let Some(want) = &c.control {
        assert_eq!(result.status.as_str(), want, "{at}: control status ({:?})", result.note);
    }
    if let Some(want) = &c.expect {
        let v = match &c.target {
            Some(t) => verdicts.iter().find(|v| &v.resource_id == t),
            None if verdicts.len() == 1 => verdicts.first(),
            None => panic!("{at}: {} rows; name a `target`", verdicts.len()),
        }
        .unwrap_or_else(|| panic!("{at}: no row for {:?} in {:#?}", c.target, verdicts));
        assert_eq!(v.status.as_str(), want, "{at}: reason was `{}`", v.reason);
        if let Some(r) = &c.reason {
            assert!(v.reason.contains(r.as_str()), "{at}: reason `{}` does not contain `{r}`", v.reason);
        }
    }
}
