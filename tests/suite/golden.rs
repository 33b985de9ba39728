//! Golden files: the three job templates on the hand-built `basic` estate, CSV and JSON, at
//! their report-plan keys.
//!
//! The fixture holds, per window edge: a job finishing exactly at the window start (in), one
//! finishing exactly at the end (out), a running job (in), a job created after `now` (out), a
//! duplicate job id from an overlapping page (kept once), both timestamp encodings, a status
//! message with a comma and quotes, and one that a spreadsheet would run as a formula.

use backup_audit::sinks::{Delivery, LocalDir};

use super::common::{assert_tree_matches, config, fixture, golden, tree};

#[test]
fn basic_estate_reports_match_golden_files() {
    let out = tempfile::tempdir().unwrap();
    let outcome =
        super::common::run(&config(fixture("basic"), "2024-03-02T04:00:00Z"), &Delivery::to(LocalDir::new(out.path())))
            .unwrap();
    assert!(outcome.failures().next().is_none(), "{:?}", outcome.problems);
    // The fixture is partial by design: us-east-1 lacks the two list commands whose detail
    // files it has, and 555566667777/eu-west-1 holds only a job list (another account's jobs).
    // The reports are still written; the run says what it did not read, and exits with 4.
    assert_eq!(outcome.exit_code(false), 4);
    let missing: Vec<String> =
        outcome.not_collected().map(|n| format!("{}/{} {}", n.account, n.region, n.dataset.command())).collect();
    let mut want =
        vec!["111122223333/us-east-1 list-frameworks".to_string(), "111122223333/us-east-1 list-report-plans".into()];
    want.extend(
        [
            "list-copy-jobs",
            "list-restore-jobs",
            "list-backup-vaults",
            "describe-backup-vault",
            "get-backup-vault-access-policy",
            "list-recovery-points-by-backup-vault",
            "list-backup-plans",
            "get-backup-plan",
            "list-backup-selections",
            "get-backup-selection",
            "list-protected-resources",
            "describe-protected-resource",
            "get-resources",
            "list-frameworks",
            "describe-framework",
            "list-report-plans",
            "describe-report-plan",
        ]
        .map(|c| format!("555566667777/eu-west-1 {c}")),
    );
    assert_eq!(missing, want);
    assert_eq!(outcome.delivered.len(), 11);
    assert_tree_matches(out.path(), &golden("basic"));
}

#[test]
fn same_inputs_and_now_give_identical_bytes() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let cfg = config(fixture("basic"), "2024-03-02T04:00:00Z");
    super::common::run(&cfg, &Delivery::to(LocalDir::new(a.path()))).unwrap();
    super::common::run(&cfg, &Delivery::to(LocalDir::new(b.path()))).unwrap();
    assert_eq!(tree(a.path()), tree(b.path()));
}

#[test]
fn window_edges_and_active_jobs() {
    let out = tempfile::tempdir().unwrap();
    super::common::run(&config(fixture("basic"), "2024-03-02T04:00:00Z"), &Delivery::to(LocalDir::new(out.path())))
        .unwrap();
    let csv = std::fs::read_to_string(out.path().join(
        "audit/Backup/111122223333/us-east-1/2024/03/02/daily_backup/BACKUP_JOB_REPORT_daily_backup_2024-03-01T00:00:00Z_2024-03-02T00:00:00Z.csv",
    ))
    .unwrap();
    for (id, expected) in [
        ("job-01-completed-in-window", true),
        ("job-02-ends-on-window-start", true),
        ("job-03-ends-on-window-end", false),
        ("job-04-still-running", true),
        ("job-05-completed-day-before", false),
        ("job-06-formula-message", true),
        ("job-07-created-after-now", false),
    ] {
        assert_eq!(csv.contains(id), expected, "{id}");
    }
    assert_eq!(csv.matches("job-01-completed-in-window").count(), 1, "duplicates are reported once");
    assert!(csv.contains("\"'=cmd|' /C calc'!A0\""), "formula neutralised");
    assert!(csv.contains("\"Access denied, \"\"orders\"\" table: KMS key disabled\""), "RFC 4180 quoting");
}

#[test]
fn last_24h_and_custom_windows() {
    use backup_audit::window::WindowSpec;
    let out = tempfile::tempdir().unwrap();
    let mut cfg = config(fixture("basic"), "2024-03-02T04:00:00Z");
    cfg.window = WindowSpec::Range {
        from: backup_audit::time::parse_iso("2024-02-28T00:00:00Z").unwrap(),
        to: backup_audit::time::parse_iso("2024-02-29T00:00:00Z").unwrap(),
    };
    let outcome = super::common::run(&cfg, &Delivery::to(LocalDir::new(out.path()))).unwrap();
    let backup = outcome.delivered.iter().find(|d| d.plan == "daily_backup" && d.key.ends_with(".csv")).unwrap();
    assert!(backup.key.contains(
        "/2024/02/29/daily_backup/BACKUP_JOB_REPORT_daily_backup_2024-02-28T00:00:00Z_2024-02-29T00:00:00Z.csv"
    ));
    let text = std::fs::read_to_string(&backup.location).unwrap();
    assert!(text.contains("job-05-completed-day-before"));
    assert!(text.contains("job-04-still-running"), "active jobs appear in every window");
    assert!(!text.contains("job-01-completed-in-window"));
}

#[test]
fn report_plan_files_and_the_flat_layout_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let estate = dir.path().join("estate");
    std::fs::create_dir_all(&estate).unwrap();
    std::fs::write(
        estate.join("list-copy-jobs.json"),
        r#"{"CopyJobs": [{"CopyJobId": "c-1", "State": "COMPLETED", "CreationDate": "2024-03-01T01:00:00Z",
            "CompletionDate": "2024-03-01T01:30:00Z",
            "SourceBackupVaultArn": "arn:aws:backup:eu-west-2:999988887777:backup-vault:Default"}]}"#,
    )
    .unwrap();
    // The describe-report-plan shape and a bare ReportPlan are both accepted.
    let described = dir.path().join("described.json");
    std::fs::write(
        &described,
        r#"{"ReportPlan": {"ReportPlanName": "copies", "ReportSetting": {"ReportTemplate": "COPY_JOB_REPORT"},
            "ReportDeliveryChannel": {"S3BucketName": "b", "S3KeyPrefix": "p", "Formats": ["JSON"]}}}"#,
    )
    .unwrap();
    let bare = dir.path().join("bare.json");
    std::fs::write(
        &bare,
        r#"{"ReportPlanName": "copies_csv", "ReportSetting": {"ReportTemplate": "COPY_JOB_REPORT"},
            "ReportDeliveryChannel": {"S3BucketName": "b"}}"#,
    )
    .unwrap();
    let out = tempfile::tempdir().unwrap();
    let mut cfg = config(estate, "2024-03-02T04:00:00Z");
    cfg.report_plan_files = vec![described, bare];
    let outcome = super::common::run(&cfg, &Delivery::to(LocalDir::new(out.path()))).unwrap();
    let keys: Vec<&str> = outcome.delivered.iter().map(|d| d.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "Backup/999988887777/eu-west-2/2024/03/02/copies_csv/COPY_JOB_REPORT_copies_csv_2024-03-01T00:00:00Z_2024-03-02T00:00:00Z.csv",
            "p/Backup/999988887777/eu-west-2/2024/03/02/copies/COPY_JOB_REPORT_copies_2024-03-01T00:00:00Z_2024-03-02T00:00:00Z.json",
        ]
    );
    assert!(outcome.delivered.iter().all(|d| d.rows == 1));
}

#[test]
fn finished_jobs_without_a_completion_date_are_counted_not_reported() {
    let dir = tempfile::tempdir().unwrap();
    let scope = dir.path().join("111122223333/us-east-1");
    std::fs::create_dir_all(scope.join("describe-report-plan")).unwrap();
    std::fs::write(
        scope.join("list-backup-jobs.json"),
        r#"{"BackupJobs": [
            {"BackupJobId": "undated", "State": "FAILED", "CreationDate": "2024-03-01T01:00:00Z"},
            {"BackupJobId": "running", "State": "RUNNING", "CreationDate": "2024-03-01T02:00:00Z"}]}"#,
    )
    .unwrap();
    std::fs::write(
        scope.join("describe-report-plan/p.json"),
        r#"{"ReportPlan": {"ReportPlanName": "p", "ReportSetting": {"ReportTemplate": "BACKUP_JOB_REPORT"},
            "ReportDeliveryChannel": {"S3BucketName": "b"}}}"#,
    )
    .unwrap();
    let out = tempfile::tempdir().unwrap();
    let outcome = super::common::run(
        &config(dir.path().to_path_buf(), "2024-03-02T04:00:00Z"),
        &Delivery::to(LocalDir::new(out.path())),
    )
    .unwrap();
    assert_eq!(outcome.delivered[0].rows, 1, "only the running job");
    assert!(
        outcome
            .warnings
            .contains(&"1 finished job has no CompletionDate, so no report window can show them".to_string()),
        "{:?}",
        outcome.warnings
    );
}

#[test]
fn report_columns_doc_matches_the_templates() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/report-columns.md");
    let generated = backup_audit::reports::template::columns_markdown().unwrap();
    if std::env::var_os("BLESS").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/report-columns.md drifted from templates/; `BLESS=1 scripts/test.sh report_columns` rewrites it"
    );
}

/// The organisation-wide BACKUP_JOB_REPORT schema that existing Athena and Glue tables use
/// (they read the CSV by position), with the JSON key of each column (none: CSV only).
const ATHENA_COLUMNS: [(&str, Option<&str>); 21] = [
    ("report_time_period_start", Some("reportTimePeriodStart")),
    ("report_time_period_end", Some("reportTimePeriodEnd")),
    ("path_to_root", None),
    ("account_id", Some("accountId")),
    ("region", Some("region")),
    ("backup_job_id", Some("backupJobId")),
    ("job_status", Some("jobStatus")),
    ("status_message", None),
    ("resource_type", Some("resourceType")),
    ("resource_arn", Some("resourceArn")),
    ("backup_plan_arn", Some("backupPlanArn")),
    ("backup_rule_id", Some("backupRuleId")),
    ("creation_date", Some("creationDate")),
    ("completion_date", Some("completionDate")),
    ("expected_completion_date", None),
    ("recovery_point_arn", Some("recoveryPointArn")),
    ("job_run_time", Some("jobRunTime")),
    ("backup_size_in_bytes", Some("backupSizeInBytes")),
    ("backup_vault_name", Some("backupVaultName")),
    ("backup_vault_arn", Some("backupVaultArn")),
    ("iam_role_arn", Some("iamRoleArn")),
];

#[test]
fn a_positional_load_with_the_athena_schema_puts_every_value_in_its_column() {
    // The demo's per-account BACKUP plan writes CSV and JSON: each CSV row, read by position
    // with the 21-column schema, must hold the JSON report's value under each column's name.
    let out = tempfile::tempdir().unwrap();
    let demo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/demo-estate");
    let cfg = config(demo, "2026-11-24T03:00:00Z");
    super::common::run(&cfg, &Delivery::to(LocalDir::new(out.path()))).unwrap();
    let files = tree(out.path());
    let stem = "audit/Backup/111111111111/us-east-1/2026/11/24/daily_backup_jobs/BACKUP_JOB_REPORT_daily_backup_jobs_2026-11-23T00:00:00Z_2026-11-24T00:00:00Z";
    let json: serde_json::Value = serde_json::from_slice(&files[&format!("{stem}.json")]).unwrap();
    let jobs = json["reportItems"].as_array().or_else(|| json.as_array()).expect("a list of jobs");
    let mut reader = csv::Reader::from_reader(&files[&format!("{stem}.csv")][..]);
    // Headers: the Athena names in Title Case ("backup_size_in_bytes" is "Backup Size in Bytes").
    let headers = reader.headers().unwrap().clone();
    let squashed = |s: &str| s.to_ascii_lowercase().replace([' ', '_'], "");
    for (i, (name, _)) in ATHENA_COLUMNS.iter().enumerate() {
        assert_eq!(squashed(&headers[i]), squashed(name), "column {} is `{}`, not {name}", i + 1, &headers[i]);
    }
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), jobs.len());
    assert!(rows.len() >= 3, "the demo report has jobs");
    for row in &rows {
        let id = &row[5];
        let job = jobs.iter().find(|j| j["backupJobId"] == *id).unwrap_or_else(|| panic!("job {id} not in the JSON"));
        for (i, (name, key)) in ATHENA_COLUMNS.iter().enumerate() {
            let Some(key) = key else { continue };
            let want = match &job[*key] {
                serde_json::Value::Null => String::new(),
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            assert_eq!(
                &row[i],
                want,
                "job {id}: column {} ({name}) holds `{}`, the JSON's `{key}` is `{want}`",
                i + 1,
                &row[i]
            );
        }
    }
}

#[test]
fn path_to_root_comes_from_the_snapshots_list_parents() {
    let copy = super::common::demo_estate();
    let estate = copy.path().to_path_buf();
    // `aws organizations list-parents --child-id …`, saved in the management account's folder.
    let parents = estate.join("111111111111/us-east-1/list-parents");
    std::fs::create_dir_all(&parents).unwrap();
    let parent = |id: &str, kind: &str| format!(r#"{{"Parents": [{{"Id": "{id}", "Type": "{kind}"}}]}}"#);
    std::fs::write(parents.join("111111111111.json"), parent("r-ab12", "ROOT")).unwrap();
    std::fs::write(parents.join("222222222222.json"), parent("ou-ab12-22222222", "ORGANIZATIONAL_UNIT")).unwrap();
    std::fs::write(parents.join("ou-ab12-22222222.json"), parent("ou-ab12-11111111", "ORGANIZATIONAL_UNIT")).unwrap();
    std::fs::write(parents.join("ou-ab12-11111111.json"), parent("r-ab12", "ROOT")).unwrap();
    let out = tempfile::tempdir().unwrap();
    let outcome =
        super::common::run(&config(estate, "2026-11-24T03:00:00Z"), &Delivery::to(LocalDir::new(out.path()))).unwrap();
    assert_eq!(outcome.exit_code(false), 0, "list-parents is optional and present: {:?}", outcome.problems);
    let files = tree(out.path());
    let org = "audit/Backup/crossaccount/crossregion/2026/11/24/org_backup_jobs/BACKUP_JOB_REPORT_org_backup_jobs_2026-11-23T00:00:00Z_2026-11-24T00:00:00Z.csv";
    let mut reader = csv::Reader::from_reader(&files[org][..]);
    let mut seen = std::collections::BTreeMap::new();
    for row in reader.records().map(Result::unwrap) {
        seen.insert(row[3].to_string(), row[2].to_string());
    }
    assert_eq!(seen["111111111111"], "r-ab12/");
    assert_eq!(seen["222222222222"], "r-ab12/ou-ab12-11111111/ou-ab12-22222222/");
}
