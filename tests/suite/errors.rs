//! Bad input gets a clear error naming the file, the JSON path and what was expected; a bad
//! report plan does not stop the others.

use std::fs;
use std::path::Path;

use backup_audit::estate::{self, ReadOptions};
use backup_audit::sinks::{Delivery, LocalDir};

use super::common::config;

/// A one-scope estate with one file.
fn estate_with(file: &str, body: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("111122223333/us-east-1").join(file);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, body).unwrap();
    dir
}

fn read_error(dir: &Path) -> String {
    let opts = ReadOptions {
        jobs: Some(estate::JobFilter { from: 0, to: i64::MAX, now: i64::MAX, history: false }),
        ..Default::default()
    };
    let err = estate::read(dir, &opts).unwrap_err();
    backup_audit::problem::DisplayChain(&err).to_string()
}

fn rel(dir: &Path, msg: &str) -> String {
    msg.replace(&dir.display().to_string(), "DIR")
}

#[test]
fn missing_required_field_names_file_and_path() {
    let dir = estate_with(
        "list-backup-jobs/page-1.json",
        r#"{"BackupJobs": [{"BackupJobId": "a", "State": "COMPLETED", "CreationDate": "2024-01-01T00:00:00Z"}, {"BackupJobId": "b", "CreationDate": "2024-01-01T00:00:00Z"}]}"#,
    );
    assert_eq!(
        rel(dir.path(), &read_error(dir.path())),
        "`DIR/111122223333/us-east-1/list-backup-jobs/page-1.json` at `$.BackupJobs[1]`: missing field `State`"
    );
}

#[test]
fn wrong_type_names_the_field() {
    let dir = estate_with(
        "list-backup-jobs.json",
        r#"{"BackupJobs": [{"BackupJobId": "a", "State": "COMPLETED", "CreationDate": "2024-01-01T00:00:00Z", "BackupSizeInBytes": "big"}]}"#,
    );
    assert_eq!(
        rel(dir.path(), &read_error(dir.path())),
        "`DIR/111122223333/us-east-1/list-backup-jobs.json` at `$.BackupJobs[0].BackupSizeInBytes`: invalid type: string \"big\", expected i64"
    );
}

#[test]
fn bad_timestamp_says_what_was_expected() {
    let dir = estate_with(
        "list-restore-jobs.json",
        r#"{"RestoreJobs": [{"RestoreJobId": "r", "Status": "COMPLETED", "CreationDate": "yesterday"}]}"#,
    );
    assert_eq!(
        rel(dir.path(), &read_error(dir.path())),
        "`DIR/111122223333/us-east-1/list-restore-jobs.json` at `$.RestoreJobs[0].CreationDate`: invalid value: string \"yesterday\", expected an ISO-8601 timestamp such as 2024-05-01T02:03:04.000Z"
    );
}

#[test]
fn malformed_json_gives_line_and_column() {
    let dir = estate_with("list-backup-vaults.json", "{\"BackupVaultList\": [\n  {\"BackupVaultName\": \"a\",}\n]}");
    let msg = rel(dir.path(), &read_error(dir.path()));
    assert!(msg.starts_with("`DIR/111122223333/us-east-1/list-backup-vaults.json` at `$"), "{msg}");
    assert!(msg.contains("malformed JSON: trailing comma (line 2, column 27)"), "{msg}");
}

#[test]
fn a_folder_that_is_no_snapshot_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir_all(dir.path().join("not-an-account")).unwrap();
    let msg = rel(dir.path(), &read_error(dir.path()));
    assert_eq!(
        msg,
        "`DIR`: holds no `<account-id>/<region>/` folders and no `<command>.json` files; see the README's estate layout"
    );
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir_all(dir.path().join("111122223333/useast1")).unwrap();
    assert_eq!(
        rel(dir.path(), &read_error(dir.path())),
        "`DIR/111122223333/useast1`: is not a region folder (expected a name such as `us-east-1`)"
    );
}

#[test]
fn both_file_and_page_folder_is_ambiguous() {
    let dir = estate_with("list-copy-jobs.json", r#"{"CopyJobs": []}"#);
    fs::create_dir_all(dir.path().join("111122223333/us-east-1/list-copy-jobs")).unwrap();
    assert_eq!(
        rel(dir.path(), &read_error(dir.path())),
        "`DIR/111122223333/us-east-1`: has both `list-copy-jobs.json` and `list-copy-jobs/`; keep one"
    );
}

#[test]
fn a_bad_report_plan_is_reported_and_the_others_still_run() {
    let dir = estate_with("list-backup-jobs.json", r#"{"BackupJobs": []}"#);
    let plans = dir.path().join("111122223333/us-east-1/describe-report-plan");
    fs::create_dir_all(&plans).unwrap();
    let plan = |name: &str, template: &str, format: &str| {
        format!(
            r#"{{"ReportPlan": {{"ReportPlanName": "{name}", "ReportSetting": {{"ReportTemplate": "{template}"}},
               "ReportDeliveryChannel": {{"S3BucketName": "b", "Formats": ["{format}"]}}}}}}"#
        )
    };
    fs::write(plans.join("good.json"), plan("good", "BACKUP_JOB_REPORT", "CSV")).unwrap();
    fs::write(plans.join("typo.json"), plan("typo", "BACKUP_JOBS_REPORT", "CSV")).unwrap();
    fs::write(plans.join("xml.json"), plan("xml", "COPY_JOB_REPORT", "XML")).unwrap();
    let out = tempfile::tempdir().unwrap();
    let outcome = super::common::run(
        &config(dir.path().to_path_buf(), "2024-03-02T04:00:00Z"),
        &Delivery::to(LocalDir::new(out.path())),
    )
    .unwrap();
    assert_eq!(outcome.delivered.len(), 1);
    assert_eq!(outcome.exit_code(false), 2);
    let kinds: std::collections::BTreeSet<_> = outcome.kinds().collect();
    use backup_audit::problem::Kind;
    assert_eq!(kinds, [Kind::InvalidPlan, Kind::NotCollected].into_iter().collect(), "{:?}", outcome.problems);
    assert_eq!(
        outcome.failures().collect::<Vec<_>>(),
        vec![
            "report plan `typo`: unknown report template `BACKUP_JOBS_REPORT`; expected one of BACKUP_JOB_REPORT, COPY_JOB_REPORT, RESTORE_JOB_REPORT, CONTROL_COMPLIANCE_REPORT, RESOURCE_COMPLIANCE_REPORT".to_string(),
            "report plan `xml`: unknown format `XML` in ReportDeliveryChannel.Formats; expected CSV or JSON".to_string(),
        ]
    );
}
