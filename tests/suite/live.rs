//! Live collection over HTTP: the real SDK clients against the replay endpoint
//! (`tests/replay/replay_server.py`), which serves an estate folder in the AWS Backup, tagging
//! and STS wire protocols, with injected latency, throttling, server errors and refusals.

use std::path::Path;

use super::common::{Replay, bin, demo_estate, files, live_env, tree};

/// Runs `backup-audit run` (offline on `source`, or live with `extra`) into a new folder.
fn run(args: &[&str], replay: Option<&Replay>) -> (tempfile::TempDir, std::process::Output) {
    let out = tempfile::tempdir().unwrap();
    let mut cmd = bin();
    cmd.arg("run").args(args).arg("--out").arg(out.path());
    if let Some(r) = replay {
        live_env(&mut cmd, r);
    } else {
        cmd.args(["--now", "2026-11-24T03:00:00Z"]);
    }
    let output = cmd.output().unwrap();
    (out, output)
}

const ACCOUNTS: [&str; 6] =
    ["--source", "aws", "--regions", "us-east-1,eu-west-1", "--accounts", "111111111111,222222222222"];

fn live_args(extra: &[&'static str]) -> Vec<&'static str> {
    let mut v = ACCOUNTS.to_vec();
    v.extend(["--role-name", "backup-audit-reader"]);
    v.extend(extra);
    v
}

#[test]
#[ignore = "needs the replay endpoint's Python packages that scripts/test.sh installs (.venv)"]
fn live_collection_equals_the_offline_read_and_the_snapshot_round_trips() {
    let estate = demo_estate();
    let replay = Replay::start(estate.path(), &[]);
    let snapshot = tempfile::tempdir().unwrap();
    let keep = snapshot.path().join("snap");
    let keep_str = keep.to_str().unwrap().to_string();
    let mut args = live_args(&[]);
    args.extend(["--snapshot-dir", Box::leak(keep_str.into_boxed_str())]);
    let (live, output) = run(&args, Some(&replay));
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    let (offline, output) = run(&["--source", estate.path().to_str().unwrap()], None);
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    let (live_reports, offline_reports) = (tree(live.path()), tree(offline.path()));
    assert_eq!(live_reports.len(), 41);
    assert!(live_reports == offline_reports, "live reports differ from the offline read of the same estate");

    // The kept snapshot: the layout, raw pages, and the same reports offline.
    let snap = files(&keep);
    assert!(
        snap.contains_key("111111111111/eu-west-1/list-backup-vaults/page-00000.json"),
        "{:?}",
        snap.keys().take(5).collect::<Vec<_>>()
    );
    assert!(snap.keys().any(|k| k.starts_with("222222222222/us-east-1/list-backup-jobs/page-")));
    // EC2 instance states are collected live too: the demo's stopped instance is in the pages
    // (and the reports above equal the offline ones, where it is NOT_APPLICABLE).
    let instances = String::from_utf8_lossy(&snap["111111111111/us-east-1/describe-instances/page-00000.json"]);
    assert!(
        instances.contains("\"InstanceId\": \"i-02b6f7b5f112b1712\"") && instances.contains("\"Name\": \"stopped\""),
        "{instances}"
    );
    let marker: serde_json::Value = serde_json::from_slice(&snap["snapshot.json"]).unwrap();
    assert_eq!(marker["CollectedAt"], "2026-11-24T03:00:00.000Z");
    assert_eq!(marker["Failures"], serde_json::json!([]));
    let (again, output) = run(&["--source", &keep.display().to_string()], None);
    assert_eq!(output.status.code(), Some(0));
    assert!(tree(again.path()) == live_reports, "the saved snapshot gives other reports offline");
    let manifest = super::common::manifest(live.path());
    assert_eq!(manifest["source"]["kind"], "aws");
    assert_eq!(manifest["status"], "complete");
}

#[test]
#[ignore = "needs the replay endpoint's Python packages that scripts/test.sh installs (.venv)"]
fn throttling_and_server_errors_still_give_identical_reports() {
    // One account and region (the credentials' own), and three job slices: fewer requests
    // keep this test short.
    let estate = demo_estate();
    let args = ["--source", "aws", "--regions", "us-east-1", "--job-slices", "3", "--max-attempts", "20"];
    let clean = Replay::start(estate.path(), &[]);
    let (reference, output) = run(&args, Some(&clean));
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(tree(reference.path()).len(), 11, "one account and region, plus the organisation plan");
    let faulty = Replay::start(estate.path(), &["--throttle-rate", "0.2", "--error-rate", "0.05", "--seed", "7"]);
    let (got, output) = run(&args, Some(&faulty));
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(tree(got.path()) == tree(reference.path()), "throttling changed the reports");
    let stats = faulty.stats();
    // The endpoint draws one fault roll per request from a generator seeded with 7. This
    // collection makes at least 61 requests, and the first 61 rolls hold 16 throttles and 3
    // errors, so these bounds hold on every run, whichever request gets which roll.
    assert!(stats["throttled"].as_u64().unwrap() >= 5, "{stats}");
    assert!(stats["failed"].as_u64().unwrap() >= 1, "{stats}");
}

#[test]
#[ignore = "needs the replay endpoint's Python packages that scripts/test.sh installs (.venv)"]
fn per_resource_details_are_collected_only_where_a_control_needs_them() {
    // One account and region whose framework has neither control that reads the details.
    let estate = demo_estate();
    let framework = estate.path().join("111111111111/eu-west-1/describe-framework/baseline_backup_controls.json");
    let mut doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&framework).unwrap()).unwrap();
    doc["FrameworkControls"].as_array_mut().unwrap().retain(|c| {
        c["ControlName"] != "RESTORE_TIME_FOR_RESOURCES_MEET_TARGET"
            && c["ControlName"] != "BACKUP_LAST_RECOVERY_POINT_CREATED"
    });
    std::fs::write(&framework, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
    let replay = Replay::start(estate.path(), &[]);
    let keep = tempfile::tempdir().unwrap();
    let snap = keep.path().join("snap");
    let snap_arg: &'static str = Box::leak(snap.display().to_string().into_boxed_str());
    let mut args = live_args(&[]);
    args.extend(["--snapshot-dir", snap_arg]);
    let (live, output) = run(&args, Some(&replay));
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(!snap.join("111111111111/eu-west-1/describe-protected-resource").exists());
    assert!(snap.join("111111111111/us-east-1/describe-protected-resource").is_dir());
    let marker: serde_json::Value =
        serde_json::from_slice(&std::fs::read(snap.join("snapshot.json")).unwrap()).unwrap();
    assert_eq!(
        marker["Skipped"],
        serde_json::json!([{
            "Account": "111111111111",
            "Region": "eu-west-1",
            "Command": "describe-protected-resource",
            "Reason": "no framework of this account and region has RESTORE_TIME_FOR_RESOURCES_MEET_TARGET or BACKUP_LAST_RECOVERY_POINT_CREATED",
        }])
    );
    // The same reports as the offline run over the full folder: nothing read the details.
    let (offline, output) = run(&["--source", estate.path().to_str().unwrap()], None);
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(tree(live.path()) == tree(offline.path()), "leaving out unneeded details changed the reports");

    // A framework file with those controls, evaluated against that snapshot later:
    // the control has no evidence there, so the run says it is partial (exit 4).
    let with_restore_time = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/demo-estate/111111111111/us-east-1/describe-framework/baseline_backup_controls.json");
    let out = bin()
        .args(["evaluate", "--now", "2026-11-24T03:00:00Z", "--format", "csv", "--source", snap_arg])
        .arg("--framework-file")
        .arg(&with_restore_time)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(
        stderr.contains("warning: account 111111111111 region eu-west-1: describe-protected-resource not collected: left out by the collector: no framework"),
        "{stderr}"
    );
}

#[test]
#[ignore = "needs the replay endpoint's Python packages that scripts/test.sh installs (.venv)"]
fn at_a_quota_the_rate_limiter_keeps_throttling_rare_and_the_reports_identical() {
    let estate = demo_estate();
    let args = ["--source", "aws", "--regions", "us-east-1", "--job-slices", "3"];
    let clean = Replay::start(estate.path(), &[]);
    let (reference, output) = run(&args, Some(&clean));
    assert_eq!(output.status.code(), Some(0));
    // A quota of 20 requests a second per service, with a burst of 20, as AWS enforces one.
    let quota = Replay::start(estate.path(), &["--rate", "20", "--latency-ms", "20"]);
    let (got, output) = run(&args, Some(&quota));
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(tree(got.path()) == tree(reference.path()), "the quota changed the reports");
    let stats = quota.stats();
    let (requests, throttled) = (stats["requests"].as_u64().unwrap(), stats["throttled"].as_u64().unwrap());
    // Without the limiter about half of these requests are throttled (the SDK's standard
    // retries) or the run takes several times the quota's floor (adaptive mode); with it, the
    // benchmark (`bench/collect.sh`) measures under 10%. The bound here leaves room for a
    // loaded test machine.
    assert!(throttled * 4 <= requests, "{throttled} of {requests} requests throttled: {stats}");
}

#[test]
#[ignore = "needs the replay endpoint's Python packages that scripts/test.sh installs (.venv)"]
fn a_region_that_refuses_access_is_partial_data_not_compliance() {
    let estate = demo_estate();
    let replay = Replay::start(estate.path(), &["--deny-regions", "eu-west-1"]);
    let framework = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/demo-estate/111111111111/us-east-1/describe-framework/baseline_backup_controls.json");
    let fw = framework.to_str().unwrap().to_string();
    let mut args = live_args(&[]);
    args.extend(["--framework-file", Box::leak(fw.into_boxed_str())]);
    let (out, output) = run(&args, Some(&replay));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(4), "{stderr}");
    assert!(
        stderr.contains("warning: account 111111111111 region eu-west-1: * not collected: AccessDeniedException: User is not authorized in region eu-west-1"),
        "{stderr}"
    );
    let manifest = super::common::manifest(out.path());
    assert_eq!(manifest["status"], "incomplete");
    assert_eq!(manifest["failures"].as_array().unwrap().len(), 2, "{:#}", manifest["failures"]);

    // The framework file is evaluated everywhere: in the refused region every control is
    // INSUFFICIENT_DATA, never COMPLIANT.
    let evaluate = live_env(bin().args(["evaluate", "--format", "json"]).args(&args), &replay).output().unwrap();
    assert_eq!(evaluate.status.code(), Some(4));
    let v: serde_json::Value = serde_json::from_slice(&evaluate.stdout).unwrap();
    let refused: Vec<_> = v["controls"].as_array().unwrap().iter().filter(|c| c["region"] == "eu-west-1").collect();
    assert!(!refused.is_empty(), "{v:#}");
    for c in refused {
        assert_eq!(c["controlComplianceStatus"], "INSUFFICIENT_DATA", "{c:#}");
    }
}

#[test]
#[ignore = "needs the replay endpoint's Python packages that scripts/test.sh installs (.venv)"]
fn an_organisation_wide_job_listing_reports_every_member_account() {
    // The management account (the credentials' own, 111111111111) lists the jobs of the whole
    // organisation (ByAccountId=*); the member accounts give their plans and vaults through the
    // role and list no jobs. The reports are those of the offline read, byte for byte.
    let estate = demo_estate();
    // The organisation's tree: 111111111111 under the root, 222222222222 two OUs down.
    let parents = estate.path().join("111111111111/us-east-1/list-parents");
    std::fs::create_dir_all(&parents).unwrap();
    for (child, parent, kind) in [
        ("111111111111", "r-ab12", "ROOT"),
        ("222222222222", "ou-ab12-22222222", "ORGANIZATIONAL_UNIT"),
        ("ou-ab12-22222222", "ou-ab12-11111111", "ORGANIZATIONAL_UNIT"),
        ("ou-ab12-11111111", "r-ab12", "ROOT"),
    ] {
        let body = format!(r#"{{"Parents": [{{"Id": "{parent}", "Type": "{kind}"}}]}}"#);
        std::fs::write(parents.join(format!("{child}.json")), body).unwrap();
    }
    let replay = Replay::start(estate.path(), &[]);
    let (live, output) = run(&live_args(&["--org-jobs"]), Some(&replay));
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    let (offline, _) = run(&["--source", estate.path().to_str().unwrap()], None);
    let org = "audit/Backup/crossaccount/crossregion/2026/11/24/org_backup_jobs/BACKUP_JOB_REPORT_org_backup_jobs_2026-11-23T00:00:00Z_2026-11-24T00:00:00Z.csv";
    let (live, offline) = (tree(live.path()), tree(offline.path()));
    assert!(String::from_utf8_lossy(&live[org]).contains("\"222222222222\""), "member account's jobs missing");
    // Path To Root, collected with organizations:ListParents.
    assert!(
        String::from_utf8_lossy(&live[org]).contains("\"r-ab12/ou-ab12-11111111/ou-ab12-22222222/\",\"222222222222\"")
    );
    assert!(live[org] == offline[org], "the organisation-wide report differs from the offline one");
    assert!(live == offline, "reports differ from the offline read");
}

#[test]
#[ignore = "needs the replay endpoint's Python packages that scripts/test.sh installs (.venv)"]
fn a_refused_first_region_is_one_failed_scope_not_a_failed_run() {
    // The credentials' own account (no --accounts): STS is asked in eu-west-1 first, which
    // refuses everything, then in us-east-1, which answers.
    let estate = demo_estate();
    let replay = Replay::start(estate.path(), &["--deny-regions", "eu-west-1"]);
    let (out, output) = run(&["--source", "aws", "--regions", "eu-west-1,us-east-1"], Some(&replay));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(4), "{stderr}");
    assert!(stderr.contains("sts:GetCallerIdentity answered only in us-east-1"), "{stderr}");
    let written = tree(out.path());
    assert!(written.keys().any(|k| k.contains("/111111111111/us-east-1/")), "{:?}", written.keys());
    assert!(!written.keys().any(|k| k.contains("/eu-west-1/")), "{:?}", written.keys());
    assert_eq!(super::common::manifest(out.path())["status"], "incomplete");
}

#[test]
#[ignore = "needs the replay endpoint's Python packages that scripts/test.sh installs (.venv)"]
fn interrupted_live_runs_leave_no_temporary_snapshot() {
    let estate = demo_estate();
    // 200 ms per request: the collection takes seconds, long enough to be interrupted.
    let replay = Replay::start(estate.path(), &["--latency-ms", "200"]);
    let tmp = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let start = || {
        let mut cmd = bin();
        cmd.arg("run").args(live_args(&[])).arg("--out").arg(out.path()).env("TMPDIR", tmp.path());
        live_env(&mut cmd, &replay);
        let child = cmd.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::piped()).spawn().unwrap();
        // Wait until its temporary snapshot has files in it.
        let started = std::time::Instant::now();
        let has_files = |dir: &Path| std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_some());
        let names = || std::fs::read_dir(tmp.path()).unwrap().flatten().map(|e| e.file_name()).collect::<Vec<_>>();
        let before = names();
        let new_with_files = || {
            std::fs::read_dir(tmp.path())
                .unwrap()
                .flatten()
                .any(|e| !before.contains(&e.file_name()) && has_files(&e.path()))
        };
        while !new_with_files() {
            assert!(started.elapsed().as_secs() < 30, "no temporary snapshot appeared");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        std::thread::sleep(std::time::Duration::from_millis(300));
        child
    };
    let left = || std::fs::read_dir(tmp.path()).unwrap().map(|e| e.unwrap().file_name()).collect::<Vec<_>>();

    // SIGKILL cannot be caught: the snapshot stays until the next live run removes it.
    let mut killed = start();
    killed.kill().unwrap();
    killed.wait().unwrap();
    assert_eq!(left().len(), 1, "{:?}", left());

    // SIGTERM is caught: the run removes its own snapshot (and the next one removed the stale one).
    let child = start();
    let status = std::process::Command::new("kill").arg("-TERM").arg(child.id().to_string()).status().unwrap();
    assert!(status.success());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(143), "{stderr}");
    assert!(stderr.contains("stopped by SIGTERM"), "{stderr}");
    assert!(stderr.contains("removed temporary snapshots left by interrupted runs"), "{stderr}");
    assert!(left().is_empty(), "left in TMPDIR: {:?}", left());
}

#[test]
#[ignore = "needs the AWS CLI that scripts/test.sh installs (.venv)"]
fn the_aws_cli_script_writes_the_snapshot_the_collector_writes() {
    // scripts/snapshot-with-aws-cli.sh with the real AWS CLI (v1, from PyPI, installed by
    // scripts/test.sh) and `backup-audit snapshot --source aws`, against one replay endpoint:
    // the reports of the two snapshots are the same bytes.
    let estate = demo_estate();
    let replay = Replay::start(estate.path(), &[]);
    let dir = tempfile::tempdir().unwrap();
    let (by_cli, by_sdk) = (dir.path().join("cli"), dir.path().join("sdk"));
    let aws = std::env::var("BACKUP_AUDIT_TEST_AWS_CLI")
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/aws").display().to_string());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/snapshot-with-aws-cli.sh");
    let cli = std::process::Command::new("bash")
        .arg(&script)
        .arg(&by_cli)
        .args(["us-east-1", "eu-west-1"])
        .env("AWS_CLI", &aws)
        .env("AWS_ENDPOINT_URL", &replay.endpoint)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env_remove("AWS_PROFILE")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    let stderr = String::from_utf8_lossy(&cli.stderr);
    assert_eq!(cli.status.code(), Some(0), "the script ({aws}): {stderr}");

    let mut sdk = bin();
    sdk.args(["snapshot", "--source", "aws", "--regions", "us-east-1,eu-west-1", "--out"]).arg(&by_sdk);
    let sdk = live_env(&mut sdk, &replay).output().unwrap();
    assert_eq!(sdk.status.code(), Some(0), "{}", String::from_utf8_lossy(&sdk.stderr));

    let (a, a_out) = run(&["--source", by_cli.to_str().unwrap()], None);
    let (b, b_out) = run(&["--source", by_sdk.to_str().unwrap()], None);
    assert_eq!(a_out.status.code(), Some(0), "the script's snapshot: {}", String::from_utf8_lossy(&a_out.stderr));
    assert_eq!(b_out.status.code(), Some(0), "{}", String::from_utf8_lossy(&b_out.stderr));
    let (a, b) = (tree(a.path()), tree(b.path()));
    assert!(a.keys().filter(|k| k.contains("/111111111111/")).count() >= 10, "{:?}", a.keys());
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    for (key, bytes) in &a {
        assert!(bytes == &b[key], "{key} differs between the script's snapshot and the collector's");
    }
    // A vault without an access policy: no file, in a folder that exists.
    let policies = by_cli.join("111111111111/us-east-1/get-backup-vault-access-policy");
    assert!(policies.is_dir());
    let vaults = std::fs::read_dir(by_cli.join("111111111111/us-east-1/describe-backup-vault")).unwrap().count();
    assert!(std::fs::read_dir(&policies).unwrap().count() < vaults, "the demo has a vault without a policy");
}
