//! Fault injection: a hostile output folder, a killed run, a full disk, a second run at the same
//! time, hostile inputs and clocks. Each test states the guarantee it keeps (the README's
//! "Security" and "Exit codes" sections).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use super::common::{bin, demo_estate, files, manifest, tree};

const NOW: &str = "2026-11-24T03:00:00Z";

fn demo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/demo-estate")
}

/// Starts a run of the demo into `out` without waiting for it.
fn spawn_run(out: &Path, stderr: Stdio) -> std::process::Child {
    bin()
        .arg("run")
        .arg("--source")
        .arg(demo())
        .args(["--now", NOW, "--out"])
        .arg(out)
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .unwrap()
}

fn run_into(out: &Path, extra: &[&str]) -> Output {
    bin()
        .arg("run")
        .arg("--source")
        .arg(demo())
        .arg("--now")
        .arg(NOW)
        .arg("--out")
        .arg(out)
        .args(extra)
        .output()
        .unwrap()
}

/// The demo's reports, written once by an undisturbed run.
fn reference() -> BTreeMap<String, Vec<u8>> {
    let out = tempfile::tempdir().unwrap();
    let o = run_into(out.path(), &[]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    tree(out.path())
}

/// Temporary files (today's names and those of earlier versions) below `root`.
fn temporaries(root: &Path) -> Vec<String> {
    files(root)
        .into_keys()
        .filter(|k| {
            let name = k.rsplit('/').next().unwrap();
            name.starts_with('.') && name.contains(".tmp")
        })
        .collect()
}

/// Every report at a final name is whole: byte-identical to the reference run's.
fn assert_no_partial_reports(out: &Path, reference: &BTreeMap<String, Vec<u8>>) {
    for (key, bytes) in tree(out) {
        if key.rsplit('/').next().unwrap().starts_with('.') {
            continue;
        }
        let want = reference.get(&key).unwrap_or_else(|| panic!("unexpected file {key}"));
        assert!(&bytes == want, "{key} is not the whole report ({} of {} bytes)", bytes.len(), want.len());
    }
}

#[test]
fn planted_links_redirect_nothing_outside_the_output_folder() {
    let reference = reference();
    let out = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    // A link at every final report name, and at the temporary names older versions used.
    let mut victims = Vec::new();
    for (i, key) in reference.keys().enumerate() {
        let victim = outside.path().join(format!("victim-{i}"));
        fs::write(&victim, b"precious").unwrap();
        let path = out.path().join(key);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(&victim, &path).unwrap();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        for n in 0..4 {
            let old_tmp = path.with_file_name(format!(".{name}.tmp-{}-{n}", std::process::id()));
            let _ = std::os::unix::fs::symlink(&victim, old_tmp);
        }
        victims.push(victim);
    }
    let o = run_into(out.path(), &[]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    for v in &victims {
        assert_eq!(fs::read(v).unwrap(), b"precious", "{} was written through a link", v.display());
    }
    for key in reference.keys() {
        let meta = fs::symlink_metadata(out.path().join(key)).unwrap();
        assert!(meta.file_type().is_file(), "{key} is still a link");
    }
    assert_eq!(tree(out.path()), reference, "the planted links are gone and every report is in place");
    // The manifest's digests are those of the files on disk.
    for object in manifest(out.path())["objects"].as_array().unwrap() {
        use sha2::Digest;
        let bytes = fs::read(object["location"].as_str().unwrap()).unwrap();
        assert_eq!(object["sha256"], hex::encode(sha2::Sha256::digest(&bytes)));
    }
}

#[test]
fn a_linked_folder_inside_the_output_folder_is_refused() {
    let out = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    // The demo's plans write below `audit/` (their S3KeyPrefix).
    std::os::unix::fs::symlink(outside.path(), out.path().join("audit")).unwrap();
    let o = run_into(out.path(), &[]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("audit` is a symbolic link; backup-audit does not write through links"), "{stderr}");
    assert!(files(outside.path()).is_empty(), "wrote outside --out");
}

#[test]
fn a_killed_run_leaves_no_partial_report_and_the_next_run_cleans_up() {
    let reference = reference();
    let out = tempfile::tempdir().unwrap();
    // SIGKILL at 19 points spread over the run (which takes a few hundred milliseconds here).
    for delay_ms in [0u64, 2, 5, 10, 15, 20, 30, 40, 50, 60, 80, 100, 130, 160, 200, 250, 300, 400, 600] {
        let mut child = spawn_run(out.path(), Stdio::null());
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();
        assert_no_partial_reports(out.path(), &reference);
    }
    let o = run_into(out.path(), &[]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(temporaries(out.path()), Vec::<String>::new(), "leftovers after the next run");
    assert_eq!(tree(out.path()), reference);
}

#[test]
fn a_full_disk_fails_the_run_without_partial_reports_or_leftovers() {
    // An injected write error: the file size limit (RLIMIT_FSIZE) makes every write past 8 KiB
    // fail with EFBIG, as a full disk fails with ENOSPC, with no root and no tmpfs needed.
    // SIGXFSZ is ignored so the write returns the error instead of killing the process.
    let reference = reference();
    let out = tempfile::tempdir().unwrap();
    let command = format!(
        "trap '' XFSZ; ulimit -f 16; exec '{}' run --source '{}' --now {NOW} --out '{}'",
        env!("CARGO_BIN_EXE_backup-audit"),
        demo().display(),
        out.path().display()
    );
    let o = Command::new("sh").args(["-c", &command]).output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("cannot write `"), "{stderr}");
    assert_no_partial_reports(out.path(), &reference);
    assert_eq!(temporaries(out.path()), Vec::<String>::new());
    let written = tree(out.path()).len();
    assert!(written > 0 && written < reference.len(), "{written} of {} reports fit", reference.len());
}

#[test]
fn a_second_run_into_a_locked_folder_stops_with_a_clear_error() {
    let out = tempfile::tempdir().unwrap();
    let held = fs::File::open(out.path()).unwrap();
    held.lock().unwrap();
    let o = run_into(out.path(), &[]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("another backup-audit run is writing to this folder"), "{stderr}");
    assert!(files(out.path()).is_empty(), "the locked-out run wrote {:?}", files(out.path()).keys());
    drop(held);
    assert_eq!(run_into(out.path(), &[]).status.code(), Some(0));
}

#[test]
fn two_concurrent_runs_never_interleave() {
    let reference = reference();
    let out = tempfile::tempdir().unwrap();
    let (a, b) = (spawn_run(out.path(), Stdio::piped()), spawn_run(out.path(), Stdio::piped()));
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    let codes = [a.status.code(), b.status.code()];
    assert!(codes.contains(&Some(0)), "neither run finished: {codes:?}");
    for o in [&a, &b] {
        if o.status.code() != Some(0) {
            assert_eq!(o.status.code(), Some(1));
            assert!(String::from_utf8_lossy(&o.stderr).contains("another backup-audit run"));
        }
    }
    assert_eq!(tree(out.path()), reference);
    for object in manifest(out.path())["objects"].as_array().unwrap() {
        use sha2::Digest;
        let bytes = fs::read(object["location"].as_str().unwrap()).unwrap();
        assert_eq!(object["sha256"], hex::encode(sha2::Sha256::digest(&bytes)));
    }
}

#[test]
fn two_plans_that_would_write_one_key_are_both_refused() {
    let copy = demo_estate();
    let estate = copy.path().to_path_buf();
    // The same organisation-wide plan, deployed again in the other account.
    let plan = fs::read_to_string(estate.join("111111111111/us-east-1/describe-report-plan/org_backup_jobs.json"))
        .unwrap()
        .replace("111111111111", "222222222222");
    fs::write(estate.join("222222222222/us-east-1/describe-report-plan/org_backup_jobs.json"), plan).unwrap();
    let out = tempfile::tempdir().unwrap();
    let o =
        bin().arg("run").arg("--source").arg(&estate).args(["--now", NOW, "--out"]).arg(out.path()).output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(
            "report plan `org_backup_jobs` (arn:aws:backup:us-east-1:111111111111:report-plan:org_backup_jobs"
        ) && stderr.contains(
            "and report plan `org_backup_jobs` (arn:aws:backup:us-east-1:222222222222:report-plan:org_backup_jobs"
        ) && stderr.contains("would both write `"),
        "{stderr}"
    );
    let written = tree(out.path());
    assert!(!written.keys().any(|k| k.contains("/org_backup_jobs/")), "a colliding plan wrote");
    assert!(written.len() > 30, "the other plans still ran");
    let m = manifest(out.path());
    let keys: Vec<&str> = m["objects"].as_array().unwrap().iter().map(|o| o["key"].as_str().unwrap()).collect();
    let mut unique = keys.clone();
    unique.dedup();
    assert_eq!(keys, unique, "the manifest lists a key twice");
}

#[test]
fn no_verdict_rests_on_recovery_points_from_after_now() {
    // The demo's newest recovery points are from 2026-11-23: at 2026-11-21 they do not exist.
    let o = bin()
        .args(["evaluate", "--format", "json", "--source"])
        .arg(demo())
        .args(["--now", "2026-11-21T12:00:00Z"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let text = v.to_string();
    assert!(!text.contains("(-"), "a negative age: evidence from after --now");
    assert!(!text.contains("2026-11-23T"), "evidence from after --now");
    assert!(text.contains("newest recovery point 2026-11-"), "no recovery point verdicts at all");
}

#[test]
fn hostile_inputs_are_errors_that_name_them() {
    let check = |args: &[&str], source: Option<&Path>, want: &str| {
        let mut cmd = bin();
        cmd.arg("run").args(args);
        if let Some(s) = source {
            cmd.arg("--source").arg(s);
        }
        let o = cmd.output().unwrap();
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(want), "{args:?}: `{want}` not in {stderr}");
    };
    check(&["--out", ""], Some(&demo()), "invalid value '' for '--out");
    check(&["--now", "2026-11-24T03:00:00+99:99", "--out", "x"], Some(&demo()), "is not an ISO-8601 time");
    check(&["--now", "2026-11-24T03:00:00+18:30", "--out", "x"], Some(&demo()), "is not an ISO-8601 time");

    let outside = tempfile::tempdir().unwrap();
    fs::write(outside.path().join("secret.json"), br#"{"BackupVaultList": []}"#).unwrap();
    let out = tempfile::tempdir().unwrap();
    let out = out.path().to_str().unwrap();

    let copy = demo_estate();
    let estate = copy.path().to_path_buf();
    let vaults = estate.join("111111111111/us-east-1/list-backup-vaults.json");
    fs::remove_file(&vaults).unwrap();
    std::os::unix::fs::symlink(outside.path().join("secret.json"), &vaults).unwrap();
    check(&["--out", out], Some(&estate), "list-backup-vaults.json`: leads outside the snapshot folder");

    let copy = demo_estate();
    let estate = copy.path().to_path_buf();
    fs::create_dir_all(estate.join("111111111111/us-east-1/list-backup-jobs/page-9.json")).unwrap();
    check(&["--out", out], Some(&estate), "page-9.json`: is a folder; a JSON file was expected here");

    let copy = demo_estate();
    let estate = copy.path().to_path_buf();
    let bad: &std::ffi::OsStr = std::os::unix::ffi::OsStrExt::from_bytes(b"page-\xff.json");
    fs::write(estate.join("111111111111/us-east-1/list-backup-jobs").join(bad), b"{}").unwrap();
    check(&["--out", out], Some(&estate), "has a name that is not UTF-8");
}

#[test]
fn text_logs_carry_no_colour_codes_off_a_terminal() {
    let out = tempfile::tempdir().unwrap();
    // --log-level debug makes sure there are log lines to look at.
    let o = bin()
        .args(["--log-level", "debug", "run", "--source"])
        .arg(demo())
        .args(["--now", NOW, "--out"])
        .arg(out.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("read the estate"), "{stderr}");
    assert!(!stderr.contains('\u{1b}'), "escape sequences in piped logs: {stderr}");
}
