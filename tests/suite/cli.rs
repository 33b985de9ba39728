//! The command line, run as a user would: the built binary, real folders, exit codes.

use std::path::Path;

use super::common::{bin, fixture, tree};

fn demo() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/demo-estate")
}

#[test]
fn readme_demo_command_writes_every_plan() {
    let out = tempfile::tempdir().unwrap();
    let status = bin().args(["run", "--source"]).arg(demo()).arg("--out").arg(out.path()).output().unwrap();
    assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));

    // The manifest: a complete run of the demo's 21 plans (five templates in each of the two
    // accounts and two regions, and one organisation-wide plan), every object in CSV and JSON.
    let m = super::common::manifest(out.path());
    assert_eq!(m["status"], "complete", "{m:#}");
    let plans = m["plans"].as_array().unwrap();
    assert_eq!(plans.len(), 21);
    assert!(plans.iter().all(|p| p["status"] == "delivered"), "{plans:#?}");
    for template in [
        "BACKUP_JOB_REPORT",
        "COPY_JOB_REPORT",
        "RESTORE_JOB_REPORT",
        "CONTROL_COMPLIANCE_REPORT",
        "RESOURCE_COMPLIANCE_REPORT",
    ] {
        let per_scope = plans.iter().filter(|p| p["template"] == template && p["account"] != "crossaccount").count();
        assert_eq!(per_scope, 4, "{template}");
    }
    let org = plans.iter().find(|p| p["name"] == "org_backup_jobs").unwrap();
    assert_eq!((org["account"].as_str(), org["region"].as_str()), (Some("crossaccount"), Some("crossregion")));
    assert_eq!(m["objects"].as_array().unwrap().len(), 41);

    // Row counts a reader of the reports would see: the manifest's count is the file's.
    let files = tree(out.path());
    let day = "2026/11/24";
    let period = "2026-11-23T00:00:00Z_2026-11-24T00:00:00Z";
    let csv_rows = |key: &str| {
        let body = files.get(key).unwrap_or_else(|| panic!("no `{key}` in {:?}", files.keys()));
        csv::Reader::from_reader(body.as_slice()).records().count()
    };
    let scope = "audit/Backup/111111111111/us-east-1";
    assert_eq!(
        csv_rows(&format!("{scope}/{day}/daily_backup_jobs/BACKUP_JOB_REPORT_daily_backup_jobs_{period}.csv")),
        11
    );
    assert_eq!(csv_rows(&format!("{scope}/{day}/daily_copy_jobs/COPY_JOB_REPORT_daily_copy_jobs_{period}.csv")), 3);
    assert_eq!(
        csv_rows(&format!("{scope}/{day}/daily_restore_jobs/RESTORE_JOB_REPORT_daily_restore_jobs_{period}.csv")),
        1
    );
    let controls = format!(
        "{scope}/{day}/daily_control_compliance/CONTROL_COMPLIANCE_REPORT_daily_control_compliance_{period}.csv"
    );
    assert_eq!(csv_rows(&controls), 11, "one row per control of the framework");
    let org_key = format!(
        "audit/Backup/crossaccount/crossregion/{day}/org_backup_jobs/BACKUP_JOB_REPORT_org_backup_jobs_{period}.csv"
    );
    assert_eq!(csv_rows(&org_key), 42, "the organisation report holds every account's and region's jobs");

    // A known verdict, with its reason: the hourly Tokyo plan keeps 7 days, not 35.
    let resources: serde_json::Value = serde_json::from_slice(
        &files[&format!(
            "{scope}/{day}/daily_resource_compliance/RESOURCE_COMPLIANCE_REPORT_daily_resource_compliance_{period}.json"
        )],
    )
    .unwrap();
    let plan = resources["reportItems"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["resourceId"] == "AWS::Backup::BackupPlan/02303d3f-4dae-8397-eeff-d79eb3daf841")
        .expect("the hourly plan is evaluated");
    assert_eq!(plan["controlName"], "BACKUP_PLAN_MIN_FREQUENCY_AND_MIN_RETENTION_CHECK");
    assert_eq!(plan["resourceComplianceStatus"], "NON_COMPLIANT");
    assert_eq!(
        plan["evaluationReason"],
        "no rule runs at least every 24 hours and keeps 35 days: rule `hourly` runs at least every 1 hour (cron(0 * * * ? *) Asia/Tokyo) and keeps 7 days"
    );
}

#[test]
fn adhoc_report_to_stdout() {
    let out = bin()
        .args([
            "report",
            "--template",
            "RESTORE_JOB_REPORT",
            "--format",
            "json",
            "--now",
            "2024-03-02T04:00:00Z",
            "--source",
        ])
        .arg(fixture("basic"))
        .output()
        .unwrap();
    // The fixture's 555566667777/eu-west-1 holds only a backup job list: the restore report's
    // other inputs were not collected there, so the report is partial (exit code 4).
    assert_eq!(out.status.code(), Some(4), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let items = v["reportItems"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["restoreJobId"], "restore-01");
    assert_eq!(items[0]["reportTimePeriod"], "2024-03-01T00:00:00Z - 2024-03-02T00:00:00Z");
}

#[test]
fn input_errors_exit_2_with_the_file_named() {
    let dir = tempfile::tempdir().unwrap();
    let scope = dir.path().join("111122223333/us-east-1");
    std::fs::create_dir_all(&scope).unwrap();
    std::fs::write(scope.join("list-backup-jobs.json"), "{\"BackupJobs\": [").unwrap();
    let out = bin()
        .args(["run", "--now", "2024-03-02T04:00:00Z", "--source"])
        .arg(dir.path())
        .arg("--out")
        .arg(dir.path().join("o"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("list-backup-jobs.json` at `$"), "{err}");
    assert!(!dir.path().join("o").exists(), "nothing is written when the input is bad");

    let out = bin().args(["run", "--now", "tomorrow", "--source", ".", "--out", "x"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("`tomorrow` is not an ISO-8601 time"));
}

#[test]
fn generate_is_deterministic() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    for d in [&a, &b] {
        let out = bin()
            .args(["generate", "--resources", "20", "--days", "2", "--seed", "3", "--out"])
            .arg(d.path().join("e"))
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    assert_eq!(tree(&a.path().join("e")), tree(&b.path().join("e")));
}

#[test]
fn evaluate_explains_and_fails_on_noncompliance_when_asked() {
    let out =
        bin().args(["evaluate", "--now", "2024-03-02T04:00:00Z", "--source"]).arg(fixture("basic")).output().unwrap();
    // The fixture lacks list-frameworks and list-report-plans in us-east-1 (and nearly
    // everything in eu-west-1): partial data, exit code 4, each missing command named.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(
        stderr.contains("warning: account 111122223333 region us-east-1: list-frameworks not collected: no file or folder in the snapshot"),
        "{stderr}"
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Framework basic_controls in 111122223333/us-east-1"), "{text}");
    assert!(text.contains("NON_COMPLIANT     AWS::RDS::DBInstance/billing: no backup selection selects it (checked 1 plan in us-east-1)"), "{text}");
    let out = bin()
        .args(["evaluate", "--fail-on-noncompliant", "--format", "json", "--now", "2024-03-02T04:00:00Z", "--source"])
        .arg(fixture("basic"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["controls"].as_array().unwrap().len(), 7);
    assert!(
        v["resources"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["evaluationReason"] == "latest restore took 15 minutes, target 60")
    );
}

#[test]
fn a_framework_file_with_a_bad_parameter_names_it_and_the_rest_still_runs() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("fw.json");
    std::fs::write(
        &file,
        r#"{"FrameworkName": "draft", "FrameworkControls": [
            {"ControlName": "BACKUP_LAST_RECOVERY_POINT_CREATED", "ControlInputParameters": [
                {"ParameterName": "recoveryPointAgeUnit", "ParameterValue": "hours"},
                {"ParameterName": "recoveryPointAgeValue", "ParameterValue": "800"}]},
            {"ControlName": "BACKUP_RECOVERY_POINT_ENCRYPTED"},
            {"ControlName": "BACKUP_RECOVERY_POINTS_ARE_NICE"}]}"#,
    )
    .unwrap();
    let out = bin()
        .args([
            "evaluate",
            "--framework",
            "draft",
            "--format",
            "csv",
            "--now",
            "2024-03-02T04:00:00Z",
            "--framework-file",
        ])
        .arg(&file)
        .arg("--source")
        .arg(fixture("basic"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("error: framework `draft`, control `BACKUP_LAST_RECOVERY_POINT_CREATED`: parameter `recoveryPointAgeValue`: `800` is outside 1-744 hours"),
        "{err}"
    );
    assert!(err.contains("error: framework `draft`: unknown control `BACKUP_RECOVERY_POINTS_ARE_NICE`"), "{err}");
    let csv = String::from_utf8_lossy(&out.stdout);
    assert!(
        csv.contains("\"draft\",\"\",\"BACKUP_RECOVERY_POINT_ENCRYPTED\",\"AWS::Backup::RecoveryPoint/snap-0001\""),
        "{csv}"
    );
    assert!(!csv.contains("basic_controls"), "--framework filters");
}

#[test]
fn controls_lists_and_checks_definitions() {
    let out = bin().args(["controls"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("- recoveryPointAgeValue (Int, default 1, 1-744 hours or 1-31 days)"), "{text}");
    let out =
        bin().args(["controls", "check"]).arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("controls")).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "11 control definitions are valid");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("X.toml"), "name = \"NOT_A_CONTROL\"\ntitle = \"t\"\ndescription = \"d\"\nevaluates = \"plan\"\nfrequency = \"\"\nscope_kinds = []\nremediation = \"r\"\n").unwrap();
    let out = bin().args(["controls", "check"]).arg(dir.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("`NOT_A_CONTROL` is not a control the engine implements"));
}

#[test]
fn adhoc_report_into_a_folder_with_a_custom_window() {
    let out = tempfile::tempdir().unwrap();
    let run = bin()
        .args([
            "report",
            "--template",
            "BACKUP_JOB_REPORT",
            "--from",
            "2024-02-28T00:00:00Z",
            "--to",
            "2024-03-02T00:00:00Z",
        ])
        .args(["--now", "2024-03-02T04:00:00Z", "--source"])
        .arg(fixture("basic"))
        .arg("--out")
        .arg(out.path())
        .output()
        .unwrap();
    // Partial: the fixture's eu-west-1 scope lacks the plans and vaults the report reads.
    assert_eq!(run.status.code(), Some(4), "{}", String::from_utf8_lossy(&run.stderr));
    let path = out.path().join("BACKUP_JOB_REPORT_2024-02-28T00:00:00Z_2024-03-02T00:00:00Z.csv");
    let text = std::fs::read_to_string(&path).unwrap();
    // Every account and region of the estate, three days: jobs 01, 02, 04, 05, 06 and the EU job.
    assert_eq!(text.lines().count(), 1 + 6, "{text}");
    let bad = bin()
        .args([
            "report",
            "--template",
            "BACKUP_JOB_REPORT",
            "--from",
            "2024-03-02T00:00:00Z",
            "--to",
            "2024-03-01T00:00:00Z",
            "--source",
            ".",
        ])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--from must be earlier than --to"));
}

#[test]
fn delivering_to_plan_buckets_without_a_region_is_a_usage_error() {
    // Without --out, reports go to each plan's bucket: that needs a region, checked up front.
    let out = bin()
        .args(["run", "--source"])
        .arg(demo())
        .env_remove("AWS_REGION")
        .env_remove("AWS_DEFAULT_REGION")
        .env_remove("AWS_PROFILE")
        .env("AWS_CONFIG_FILE", "/nonexistent/backup-audit-test")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("error: delivering to S3 needs a region: set AWS_REGION, a profile region, or --s3-region"),
        "{stderr}"
    );
}
