//! The estate layout: page folders, the flat single-account layout, and "not collected".

use std::fs;

use backup_audit::estate::{self, Dataset, ReadOptions};

use super::common::fixture;

fn all_jobs() -> ReadOptions {
    ReadOptions {
        jobs: Some(estate::JobFilter { from: i64::MIN, to: i64::MAX, now: i64::MAX, history: false }),
        ..Default::default()
    }
}

#[test]
fn page_files_are_read_in_name_order_and_deduplicated() {
    let e = estate::read(&fixture("basic"), &all_jobs()).unwrap();
    let ids: Vec<&str> =
        e.backup_jobs.iter().filter(|j| j.account_id == "111122223333").map(|j| j.backup_job_id.as_str()).collect();
    assert_eq!(ids.len(), 7, "{ids:?}");
    assert_eq!(ids[0], "job-01-completed-in-window");
    let first = &e.backup_jobs[0];
    assert_eq!(first.backup_vault_name.as_deref(), Some("main-vault"), "the first page's copy wins");
}

#[test]
fn both_timestamp_encodings_give_the_same_instant() {
    let e = estate::read(&fixture("basic"), &all_jobs()).unwrap();
    let running = e.backup_jobs.iter().find(|j| j.backup_job_id == "job-04-still-running").unwrap();
    assert_eq!(running.creation_date, backup_audit::time::parse_iso("2024-03-02T03:00:00Z").unwrap());
    assert_eq!(running.account_id, "111122223333", "AccountId falls back to the folder");
    let formula = e.backup_jobs.iter().find(|j| j.backup_job_id == "job-06-formula-message").unwrap();
    assert_eq!(formula.completion_date, Some(backup_audit::time::parse_iso("2024-03-01T11:00:00.250Z").unwrap()));
}

#[test]
fn missing_files_are_recorded_as_not_collected() {
    let e = estate::read(&fixture("basic"), &all_jobs()).unwrap();
    let us = e.scope_index("111122223333", "us-east-1").unwrap();
    let eu = e.scope_index("555566667777", "eu-west-1").unwrap();
    assert!(e.has(us, Dataset::Vaults) && e.has(us, Dataset::PlanDetails));
    assert!(!e.has(us, Dataset::ReportPlans), "no list-report-plans file: not collected");
    assert!(e.has(us, Dataset::ReportPlanDetails));
    assert!(e.has(eu, Dataset::BackupJobs));
    assert!(!e.has(eu, Dataset::Vaults) && !e.has(eu, Dataset::RecoveryPoints));
}

#[test]
fn flat_layout_reads_account_and_region_from_arns_or_flags() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("list-backup-jobs.json"),
        r#"{"BackupJobs": [{"BackupJobId": "x", "State": "COMPLETED", "CreationDate": "2024-01-01T00:00:00Z",
            "CompletionDate": "2024-01-01T01:00:00Z",
            "BackupVaultArn": "arn:aws:backup:ap-southeast-2:999988887777:backup-vault:Default"}]}"#,
    )
    .unwrap();
    let e = estate::read(dir.path(), &all_jobs()).unwrap();
    assert_eq!((e.scopes[0].id.account.as_str(), e.scopes[0].id.region.as_str()), ("999988887777", "ap-southeast-2"));
    assert_eq!(e.backup_jobs[0].account_id, "999988887777");
    let opts =
        ReadOptions { account: Some("999988887777".into()), region: Some("ap-southeast-2".into()), ..all_jobs() };
    let e = estate::read(dir.path(), &opts).unwrap();
    assert_eq!((e.scopes[0].id.account.as_str(), e.scopes[0].id.region.as_str()), ("999988887777", "ap-southeast-2"));
    // Flags that contradict the files' own ARNs are an error, not a relabelling.
    let opts = ReadOptions { account: Some("123456789012".into()), region: Some("eu-north-1".into()), ..all_jobs() };
    let err = estate::read(dir.path(), &opts).unwrap_err().to_string();
    assert!(
        err.ends_with("list-backup-jobs.json`: the folder is region `eu-north-1`, but the vault of backup job `arn:aws:backup:ap-southeast-2:999988887777:backup-vault:Default` names region `ap-southeast-2`; was it collected for another region? (the AWS CLI v1 ignores AWS_REGION: pass --region)"),
        "{err}"
    );

    let bare = tempfile::tempdir().unwrap();
    fs::write(bare.path().join("list-backup-jobs.json"), r#"{"BackupJobs": []}"#).unwrap();
    let err = estate::read(bare.path(), &all_jobs()).unwrap_err().to_string();
    assert!(
        err.ends_with(
            "is a flat snapshot whose account and region cannot be read from any ARN; pass --account and --region"
        ),
        "{err}"
    );
}
