//! What a snapshot does not hold is said, never taken for "none": missing and empty commands,
//! byte-order marks and other encodings, folders whose files belong elsewhere.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

use super::common::{bin, demo_estate, manifest, tree};

const NOW: &str = "2026-11-24T03:00:00Z";

/// A copy of the demo estate to change, and its folder.
fn demo_copy() -> (tempfile::TempDir, PathBuf) {
    let dir = demo_estate();
    let path = dir.path().to_path_buf();
    (dir, path)
}

fn run(estate: &Path, out: &Path) -> Output {
    bin().arg("run").arg("--source").arg(estate).args(["--now", NOW, "--out"]).arg(out).output().unwrap()
}

const SCOPE: &str = "111111111111/us-east-1";

#[test]
fn a_missing_job_list_is_partial_data_not_an_empty_report() {
    let (_keep, estate) = demo_copy();
    fs::remove_dir_all(estate.join(SCOPE).join("list-copy-jobs")).unwrap();
    let out = tempfile::tempdir().unwrap();
    let o = run(&estate, out.path());
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(4), "{stderr}");
    assert!(
        stderr.contains(
            "account 111111111111 region us-east-1: list-copy-jobs not collected: no file or folder in the snapshot"
        ),
        "{stderr}"
    );
    let m = manifest(out.path());
    assert_eq!(m["status"], "incomplete");
    assert_eq!(
        m["not_collected"],
        serde_json::json!([{"account": "111111111111", "region": "us-east-1", "command": "list-copy-jobs", "reason": "no file or folder in the snapshot"}])
    );
    // The copy report of that scope is still written, and its plan says what it lacks; the
    // plans of other scopes and templates are delivered.
    let plans = m["plans"].as_array().unwrap();
    let copy = plans
        .iter()
        .find(|p| p["name"] == "daily_copy_jobs" && p["account"] == "111111111111" && p["region"] == "us-east-1")
        .unwrap();
    assert_eq!(copy["status"], "incomplete", "{copy:#}");
    assert_eq!(copy["objects"], 2);
    assert_eq!(
        copy["errors"][0],
        "input not collected: account 111111111111 region us-east-1: list-copy-jobs not collected: no file or folder in the snapshot"
    );
    let others = plans.iter().filter(|p| p["status"] == "delivered").count();
    assert_eq!(others, plans.len() - 1, "{plans:#?}");
}

#[test]
fn an_empty_file_from_a_failed_cli_call_is_not_collected_and_the_run_goes_on() {
    let (_keep, estate) = demo_copy();
    fs::write(estate.join(SCOPE).join("list-backup-plans.json"), b"").unwrap();
    let out = tempfile::tempdir().unwrap();
    let o = run(&estate, out.path());
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(4), "{stderr}");
    assert!(
        stderr.contains("list-backup-plans not collected: `")
            && stderr
                .contains("list-backup-plans.json` is empty (0 bytes), which is what a failed `aws ... > file` leaves"),
        "{stderr}"
    );
    assert!(tree(out.path()).len() > 30, "the reports are still written");
    let m = manifest(out.path());
    assert_eq!(m["not_collected"][0]["command"], "list-backup-plans");
    let backup = m["plans"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "daily_backup_jobs" && p["account"] == "111111111111" && p["region"] == "us-east-1")
        .unwrap();
    assert_eq!(backup["status"], "incomplete", "BACKUP_JOB_REPORT reads plan names: {backup:#}");
}

#[test]
fn a_utf8_byte_order_mark_is_accepted() {
    let (_keep, estate) = demo_copy();
    let reference = tempfile::tempdir().unwrap();
    assert_eq!(run(&estate, reference.path()).status.code(), Some(0));
    for file in ["list-backup-plans.json", "list-backup-vaults.json", "get-resources.json"] {
        let path = estate.join(SCOPE).join(file);
        let mut bytes = b"\xEF\xBB\xBF".to_vec();
        bytes.extend(fs::read(&path).unwrap());
        fs::write(path, bytes).unwrap();
    }
    let out = tempfile::tempdir().unwrap();
    let o = run(&estate, out.path());
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(tree(out.path()) == tree(reference.path()), "a byte-order mark changed the reports");
}

#[test]
fn other_encodings_stop_the_run_naming_file_and_encoding() {
    /// What the file is, how to encode it, and what the error must say.
    type Case = (&'static str, fn(&str) -> Vec<u8>, &'static str);
    let cases: [Case; 3] = [
        (
            "UTF-16 with a byte-order mark (PowerShell 5)",
            |text| [0xFF, 0xFE].into_iter().chain(text.encode_utf16().flat_map(u16::to_le_bytes)).collect(),
            "list-backup-vaults.json` is UTF-16 little-endian (byte-order mark FF FE; PowerShell 5 `>` writes this: use `Out-File -Encoding utf8`); expected UTF-8 JSON",
        ),
        (
            "UTF-16 big-endian without a mark",
            |text| text.encode_utf16().flat_map(u16::to_be_bytes).collect(),
            "list-backup-vaults.json` is UTF-16 big-endian (no byte-order mark); expected UTF-8 JSON",
        ),
        (
            "Latin-1",
            |text| text.replace("Default", "D\u{e9}fault").chars().map(|c| c as u8).collect(),
            "list-backup-vaults.json` is not UTF-8: byte 0xE9 at offset",
        ),
    ];
    for (what, encode, want) in cases {
        let (_keep, estate) = demo_copy();
        let path = estate.join(SCOPE).join("list-backup-vaults.json");
        let text = fs::read_to_string(&path).unwrap();
        fs::write(&path, encode(&text)).unwrap();
        let out = tempfile::tempdir().unwrap();
        let o = run(&estate, out.path());
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{what}: {stderr}");
        assert!(stderr.contains(want), "{what}: `{want}` not in {stderr}");
    }
}

#[test]
fn a_folder_holding_another_regions_data_stops_the_run() {
    let (_keep, estate) = demo_copy();
    // `aws backup list-backup-vaults > us-east-1/...` with the CLI's region left at eu-west-1.
    fs::copy(
        estate.join("111111111111/eu-west-1/list-backup-vaults.json"),
        estate.join(SCOPE).join("list-backup-vaults.json"),
    )
    .unwrap();
    let out = tempfile::tempdir().unwrap();
    let o = run(&estate, out.path());
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("111111111111/us-east-1/list-backup-vaults.json`: the folder is region `us-east-1`, but vault `arn:aws:backup:eu-west-1:111111111111:backup-vault:")
            && stderr.contains("names region `eu-west-1`; was it collected for another region? (the AWS CLI v1 ignores AWS_REGION: pass --region)"),
        "{stderr}"
    );
    assert!(tree(out.path()).is_empty());

    // Another account's plans in this account's folder.
    let (_keep, estate) = demo_copy();
    fs::copy(
        estate.join("222222222222/us-east-1/list-backup-plans.json"),
        estate.join(SCOPE).join("list-backup-plans.json"),
    )
    .unwrap();
    let o = run(&estate, out.path());
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(
            "the folder is account `111111111111`, but plan `arn:aws:backup:us-east-1:222222222222:backup-plan:"
        ),
        "{stderr}"
    );
}

#[test]
fn an_ad_hoc_report_says_what_it_could_not_read() {
    let (_keep, estate) = demo_copy();
    fs::remove_dir_all(estate.join(SCOPE).join("list-restore-jobs")).unwrap();
    let o = bin()
        .args(["report", "--template", "RESTORE_JOB_REPORT", "--now", NOW, "--source"])
        .arg(&estate)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(4), "{stderr}");
    assert!(
        stderr.contains("warning: account 111111111111 region us-east-1: list-restore-jobs not collected"),
        "{stderr}"
    );
    assert!(String::from_utf8_lossy(&o.stdout).starts_with("\"Report Time Period\""), "the report is still written");
    // A command the template does not read is not its concern.
    let o = bin()
        .args(["report", "--template", "BACKUP_JOB_REPORT", "--now", NOW, "--source"])
        .arg(&estate)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
}
