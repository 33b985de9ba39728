//! Organisation runs cut into shards: `plan`, `shard` and `merge` give `run`'s reports, byte for
//! byte, whatever the number of shards, their order, or a shard written twice; a missing or
//! changed shard stops the merge with exit 4, naming it.

use std::path::Path;

use super::common::{bin, create_bucket, objects, runtime, s3_client, s3_env, tree};

const NOW: &str = "2026-11-24T03:00:00Z";

fn demo() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/demo-estate")
}

/// Runs the command; panics with its standard error unless it exits with `code`.
fn expect(cmd: &mut std::process::Command, code: i32) -> String {
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(code), "{cmd:?}\n{stderr}");
    stderr
}

fn run_reports(out: &Path) {
    expect(bin().args(["run", "--now", NOW, "--source"]).arg(demo()).arg("--out").arg(out), 0);
}

fn plan(parts: &str) {
    expect(bin().args(["plan", "--now", NOW, "--parts", parts, "--source"]).arg(demo()), 0);
}

fn shard(parts: &str, which: &str) {
    expect(bin().args(["shard", "--now", NOW, "--parts", parts, "--shard", which, "--source"]).arg(demo()), 0);
}

#[test]
fn shards_in_any_number_and_order_merge_into_the_reports_of_run() {
    let dir = tempfile::tempdir().unwrap();
    let whole = dir.path().join("run");
    run_reports(&whole);
    let want = tree(&whole);
    assert!(want.len() > 30, "the demo writes every plan's reports");
    // 3 shards out of order with shard 0 written twice; 1 shard; one shard per scope.
    for (n, order) in [(3, vec![2, 0, 1, 0]), (1, vec![0]), (4, vec![3, 1, 2, 0])] {
        let parts = dir.path().join(format!("parts-{n}"));
        let parts = parts.to_str().unwrap();
        plan(parts);
        for i in order {
            shard(parts, &format!("{i}/{n}"));
        }
        let merged = dir.path().join(format!("merged-{n}"));
        expect(bin().args(["merge", "--parts", parts, "--out"]).arg(&merged), 0);
        let got = tree(&merged);
        assert_eq!(got.keys().collect::<Vec<_>>(), want.keys().collect::<Vec<_>>(), "{n} shards: the same objects");
        for (key, bytes) in &want {
            assert!(got[key] == *bytes, "{n} shards: `{key}` differs from run's");
        }
        // The merge writes a manifest too, listing the same objects.
        let manifest = super::common::manifest(&merged);
        assert_eq!(manifest["objects"].as_array().unwrap().len(), want.len());
    }
}

#[test]
fn a_scope_writes_every_table_and_its_done_file() {
    let dir = tempfile::tempdir().unwrap();
    let parts = dir.path().join("parts");
    let p = parts.to_str().unwrap();
    plan(p);
    expect(
        bin()
            .args(["shard", "--now", NOW, "--parts", p, "--accounts", "111111111111", "--regions", "eu-west-1"])
            .args(["--role-name", "BackupAuditRead"])
            .arg("--source")
            .arg(demo()),
        0,
    );
    let done: serde_json::Value = serde_json::from_slice(
        &std::fs::read(parts.join("_done/account=111111111111/region=eu-west-1/_DONE.json")).unwrap(),
    )
    .unwrap();
    let tables: Vec<&str> = done["files"].as_array().unwrap().iter().map(|f| f["table"].as_str().unwrap()).collect();
    assert_eq!(
        tables,
        [
            "backup_jobs",
            "copy_jobs",
            "restore_jobs",
            "resource_verdicts",
            "control_results",
            "report_plans",
            "frameworks"
        ]
    );
    for f in done["files"].as_array().unwrap() {
        let bytes = std::fs::read(parts.join(f["key"].as_str().unwrap())).unwrap();
        assert_eq!(bytes.len() as u64, f["bytes"].as_u64().unwrap());
        assert!(bytes.starts_with(b"PAR1"), "{} is Parquet", f["key"]);
    }
    assert!(done["files"][3]["rows"].as_u64().unwrap() > 0, "the scope has resource verdicts");
    // Only the named scope was written.
    assert!(!parts.join("_done/account=222222222222").exists());
}

#[test]
fn a_missing_shard_stops_the_merge_with_exit_4_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let parts = dir.path().join("parts");
    let p = parts.to_str().unwrap();
    plan(p);
    shard(p, "0/2");
    let out = dir.path().join("merged");
    let stderr = expect(bin().args(["merge", "--parts", p, "--out"]).arg(&out), 4);
    assert!(
        stderr.contains("no `_DONE.json` for account 111111111111 region us-east-1")
            && stderr.contains("its shard did not finish"),
        "{stderr}"
    );
    assert!(!out.exists(), "nothing is written when a shard is missing");

    // A part changed after its shard finished is refused too.
    shard(p, "1/2");
    let key = parts.join("resource_verdicts/account=222222222222/region=eu-west-1/part-0.parquet");
    let mut bytes = std::fs::read(&key).unwrap();
    bytes.push(0);
    std::fs::write(&key, bytes).unwrap();
    let stderr = expect(bin().args(["merge", "--parts", p, "--out"]).arg(&out), 4);
    assert!(
        stderr.contains("region=eu-west-1/part-0.parquet: its size is not the one its `_DONE.json` records"),
        "{stderr}"
    );
    assert!(!out.exists(), "a changed part is found before anything is written");

    // A shard of another run (another `now`) is refused, not mixed in.
    expect(
        bin().args(["shard", "--now", "2026-11-25T03:00:00Z", "--parts", p, "--shard", "1/2", "--source"]).arg(demo()),
        0,
    );
    let stderr = expect(bin().args(["merge", "--parts", p, "--out"]).arg(&out), 4);
    assert!(stderr.contains("`now` is not the run's (`_plan.json`): the shard belongs to another run"), "{stderr}");
    assert!(!out.exists());

    // Without a plan there is nothing to check the shards against: bad input.
    let stderr = expect(bin().args(["merge", "--parts"]).arg(dir.path().join("nothing")).arg("--out").arg(&out), 2);
    assert!(stderr.contains("_plan.json") && stderr.contains("backup-audit plan"), "{stderr}");
}

#[test]
fn a_bad_shard_argument_is_a_usage_error() {
    let stderr = expect(bin().args(["shard", "--parts", "x", "--shard", "3/3", "--source"]).arg(demo()), 2);
    assert!(stderr.contains("`3/3` is not a shard; expected I/N with 0 <= I < N"), "{stderr}");
}

#[test]
#[ignore = "needs the S3 test server that scripts/test.sh starts (BACKUP_AUDIT_TEST_S3)"]
fn parts_round_trip_through_s3() {
    let rt = runtime();
    let client = s3_client(&rt, 3);
    create_bucket(&rt, &client, "org-parts");
    let dir = tempfile::tempdir().unwrap();
    let whole = dir.path().join("run");
    run_reports(&whole);
    let parts = "s3://org-parts/runs/2026-11-24";
    expect(s3_env(bin().args(["plan", "--now", NOW, "--parts", parts, "--source"]).arg(demo())), 0);
    for i in [1, 0, 1] {
        let which = format!("{i}/2");
        expect(
            s3_env(bin().args(["shard", "--now", NOW, "--parts", parts, "--shard", &which, "--source"]).arg(demo())),
            0,
        );
    }
    let stored = objects(&rt, &client, "org-parts");
    assert!(stored.contains_key("runs/2026-11-24/_plan.json"));
    assert_eq!(stored.keys().filter(|k| k.ends_with("/_DONE.json")).count(), 4);
    assert!(stored.keys().filter(|k| k.ends_with(".parquet")).count() >= 28);
    let merged = dir.path().join("merged");
    expect(s3_env(bin().args(["merge", "--parts", parts, "--out"]).arg(&merged)), 0);
    assert!(tree(&merged) == tree(&whole), "the merge from S3 differs from run");
}

/// One live Map child: `shard` with `args` against the replay endpoint.
fn live_shard(replay: &super::common::Replay, parts: &str, account: &str, region: &str, step: &str) -> String {
    let mut cmd = bin();
    cmd.args(["shard", "--step", step, "--parts", parts, "--source", "aws", "--accounts", account]).args([
        "--regions",
        region,
        "--role-name",
        "backup-audit-reader",
    ]);
    expect(super::common::live_env(&mut cmd, replay), 0)
}

#[test]
#[ignore = "needs the replay endpoint's Python packages that scripts/test.sh installs (.venv)"]
fn live_shards_collect_then_evaluate_and_merge_into_the_reports_of_run() {
    let estate = super::common::demo_estate();
    let replay = super::common::Replay::start(estate.path(), &[]);
    let dir = tempfile::tempdir().unwrap();
    let whole = dir.path().join("run");
    run_reports(&whole);
    let parts = dir.path().join("parts");
    let p = parts.to_str().unwrap();
    // No --accounts: the plan lists the organisation's ACTIVE accounts (organizations:ListAccounts).
    let mut cmd = bin();
    cmd.args(["plan", "--parts", p, "--source", "aws", "--regions", "us-east-1,eu-west-1"]);
    expect(super::common::live_env(&mut cmd, &replay), 0);
    let plan: serde_json::Value = serde_json::from_slice(&std::fs::read(parts.join("_plan.json")).unwrap()).unwrap();
    assert_eq!(plan["live"], true);
    assert_eq!(
        plan["scopes"],
        serde_json::json!([
            {"account": "111111111111", "region": "eu-west-1"},
            {"account": "111111111111", "region": "us-east-1"},
            {"account": "222222222222", "region": "eu-west-1"},
            {"account": "222222222222", "region": "us-east-1"},
        ])
    );
    let items: serde_json::Value = serde_json::from_slice(&std::fs::read(parts.join("_items.json")).unwrap()).unwrap();
    assert_eq!(items.as_array().unwrap().len(), 4, "one Map item per account and region");
    let scopes = [
        ("222222222222", "eu-west-1"),
        ("111111111111", "us-east-1"),
        ("111111111111", "eu-west-1"),
        ("222222222222", "us-east-1"),
    ];
    // The first Map: collect steps in any order, one retried.
    for (a, r) in scopes.iter().chain(&scopes[..1]) {
        live_shard(&replay, p, a, r, "collect");
    }
    // Evaluating before every collect step has finished is refused by the merge later; here,
    // the second Map runs after the first.
    for (a, r) in scopes.iter().rev() {
        live_shard(&replay, p, a, r, "evaluate");
    }
    let merged = dir.path().join("merged");
    expect(bin().args(["merge", "--parts", p, "--out"]).arg(&merged), 0);
    let (got, want) = (tree(&merged), tree(&whole));
    assert_eq!(got.keys().collect::<Vec<_>>(), want.keys().collect::<Vec<_>>());
    for (key, bytes) in &want {
        assert!(got[key] == *bytes, "`{key}` differs from run's");
    }
    // Facts crossed scopes: account 111111111111 eu-west-1 holds copies of other scopes'
    // resources, and the shards that own those resources read them.
    let facts = super::common::files(&parts.join("facts"));
    assert!(facts.keys().any(|k| k.contains("from/account=111111111111/region=eu-west-1")), "{:?}", facts.keys());

    // A collect step rerun after the evaluation (new facts) makes the merge refuse the stale
    // shards, naming one.
    live_shard(&replay, p, "111111111111", "eu-west-1", "collect");
    let before = std::fs::read(parts.join("snapshot/_collected/account=111111111111/region=eu-west-1.json")).unwrap();
    assert!(!before.is_empty());
    let stderr = expect(bin().args(["merge", "--parts", p, "--out"]).arg(dir.path().join("again")), 0);
    // The same data collected again gives the same bundles: nothing is stale.
    assert!(!stderr.contains("error"), "{stderr}");
    std::fs::remove_file(parts.join("snapshot/_collected/account=222222222222/region=us-east-1.json")).unwrap();
    let stderr = expect(bin().args(["merge", "--parts", p, "--out"]).arg(dir.path().join("again2")), 4);
    assert!(stderr.contains("the collect step of account 222222222222 region us-east-1 has not finished"), "{stderr}");
}

#[test]
#[ignore = "needs cfn-lint and moto in .venv, which scripts/test.sh installs"]
fn the_deploy_templates_lint_and_the_state_machine_runs_in_moto() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let venv = root.join(".venv/bin");
    let lint = std::process::Command::new(venv.join("cfn-lint"))
        .args(["deploy/template.yaml", "deploy/member-role.yaml"])
        .current_dir(root)
        .output()
        .unwrap();
    assert!(
        lint.status.success(),
        "cfn-lint: {}{}",
        String::from_utf8_lossy(&lint.stdout),
        String::from_utf8_lossy(&lint.stderr)
    );

    // The state machine's definition, executed by moto: each Lambda invoke runs the command of
    // its mode; the merge step's reports are run's.
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(venv.join("python"))
        .arg(root.join("tests/deploy/state_machine.py"))
        .args(["--bin", env!("CARGO_BIN_EXE_backup-audit"), "--estate"])
        .arg(demo())
        .arg("--work")
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains(r#""modes": ["plan", "collect", "collect", "collect", "collect", "shard""#), "{stdout}");
    let whole = dir.path().join("run");
    run_reports(&whole);
    assert!(tree(&dir.path().join("merged")) == tree(&whole), "the state machine's reports differ from run's");
}

#[test]
#[ignore = "needs the replay endpoint's Python packages that scripts/test.sh installs (.venv)"]
fn organisation_wide_job_lists_shard_by_region_and_merge_into_run() {
    // A snapshot where the management account (111111111111) listed the jobs of the whole
    // organisation (--org-jobs): its scope in each region holds every account's jobs there.
    let estate = super::common::demo_estate();
    let replay = super::common::Replay::start(estate.path(), &[]);
    let dir = tempfile::tempdir().unwrap();
    let snap = dir.path().join("snap");
    let mut cmd = bin();
    cmd.args(["snapshot", "--source", "aws", "--regions", "us-east-1,eu-west-1"])
        .args(["--accounts", "111111111111,222222222222", "--role-name", "backup-audit-reader", "--org-jobs"])
        .arg("--out")
        .arg(&snap);
    expect(super::common::live_env(&mut cmd, &replay), 0);
    let marker = std::fs::read_to_string(snap.join("snapshot.json")).unwrap();
    assert!(marker.contains("OrganizationJobLists"), "{marker}");
    let whole = dir.path().join("run");
    expect(bin().args(["run", "--now", NOW, "--source"]).arg(&snap).arg("--out").arg(&whole), 0);
    let parts = dir.path().join("parts");
    let p = parts.to_str().unwrap();
    expect(bin().args(["plan", "--now", NOW, "--parts", p, "--source"]).arg(&snap), 0);
    for i in [1, 0] {
        let which = format!("{i}/2");
        expect(bin().args(["shard", "--now", NOW, "--parts", p, "--shard", &which, "--source"]).arg(&snap), 0);
    }
    // The management account's shard wrote the member account's job partitions.
    let done: serde_json::Value = serde_json::from_slice(
        &std::fs::read(parts.join("_done/account=111111111111/region=eu-west-1/_DONE.json")).unwrap(),
    )
    .unwrap();
    assert!(
        done["files"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["key"] == "backup_jobs/account=222222222222/region=eu-west-1/part-0.parquet"),
        "{done:#}"
    );
    let merged = dir.path().join("merged");
    expect(bin().args(["merge", "--parts", p, "--out"]).arg(&merged), 0);
    assert!(tree(&merged) == tree(&whole), "the organisation-wide reports differ from run's");
}

#[test]
fn a_scope_larger_than_a_row_group_is_written_and_merged_a_slice_at_a_time() {
    // 77,780 backup jobs in the window and 179,009 verdicts in one account and region: more
    // than one Parquet row group (65,536 rows) in both tables, so the shard streams its
    // verdicts into several row groups and the merge reads each partition in several slices.
    let dir = tempfile::tempdir().unwrap();
    let estate = dir.path().join("estate");
    expect(
        bin()
            .args(["generate", "--now", NOW, "--accounts", "1", "--regions", "us-east-1", "--resources", "7000"])
            .args(["--days", "2", "--backup-jobs", "150000", "--copy-jobs", "0", "--restore-jobs", "0"])
            .args(["--recovery-points", "70000", "--frameworks", "1", "--seed", "5", "--out"])
            .arg(&estate),
        0,
    );
    let whole = dir.path().join("run");
    expect(bin().args(["run", "--now", NOW, "--source"]).arg(&estate).arg("--out").arg(&whole), 0);
    let parts = dir.path().join("parts");
    let p = parts.to_str().unwrap();
    expect(bin().args(["plan", "--now", NOW, "--parts", p, "--source"]).arg(&estate), 0);
    expect(bin().args(["shard", "--now", NOW, "--parts", p, "--shard", "0/1", "--source"]).arg(&estate), 0);
    let done: serde_json::Value = serde_json::from_slice(
        &std::fs::read(parts.join("_done/account=111111111111/region=us-east-1/_DONE.json")).unwrap(),
    )
    .unwrap();
    let rows = |table: &str| {
        done["files"].as_array().unwrap().iter().find(|f| f["table"] == table).unwrap()["rows"].as_u64().unwrap()
    };
    assert!(rows("backup_jobs") > 65_536 && rows("resource_verdicts") > 65_536, "{done:#}");
    let merged = dir.path().join("merged");
    expect(bin().args(["merge", "--parts", p, "--out"]).arg(&merged), 0);
    let (got, want) = (tree(&merged), tree(&whole));
    assert_eq!(got.keys().collect::<Vec<_>>(), want.keys().collect::<Vec<_>>());
    for (key, bytes) in &want {
        assert!(got[key] == *bytes, "`{key}` differs from run's");
    }
}
