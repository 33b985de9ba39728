//! Delivery to a real S3-compatible server (moto, with ExpectedBucketOwner checks and injected
//! faults: `tests/s3/s3_server.py`), through the real `aws-sdk-s3` client.

use std::collections::BTreeMap;

use backup_audit::reports::encode::Body;
use backup_audit::sinks::{Delivery, LocalDir, S3Options, S3Sinks, Sink};

use super::common::{S3_OWNER, bin, config, create_bucket, files, fixture, objects, runtime, s3_client, s3_env, tree};

/// The demo estate's reports, written to a local folder, keyed like the S3 objects.
fn local_reports(prefix: &str) -> BTreeMap<String, Vec<u8>> {
    let out = tempfile::tempdir().unwrap();
    let status = bin()
        .args(["run", "--source", "examples/demo-estate", "--out"])
        .arg(out.path())
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));
    tree(out.path()).into_iter().map(|(k, v)| (format!("{prefix}/{k}"), v)).collect()
}

#[test]
#[ignore = "needs the S3 test server that scripts/test.sh starts (BACKUP_AUDIT_TEST_S3)"]
fn run_delivers_every_report_and_the_manifest_to_s3() {
    let rt = runtime();
    let client = s3_client(&rt, 3);
    create_bucket(&rt, &client, "cli-demo");
    let output =
        s3_env(bin().args(["run", "--source", "examples/demo-estate", "--out", "s3://cli-demo/audit/"]).args([
            "--expected-bucket-owner",
            S3_OWNER,
            "--sse",
            "AES256",
        ]))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");

    let mut got = objects(&rt, &client, "cli-demo");
    let manifest_key = "audit/manifests/2026/11/24/manifest_2026-11-23T00:00:00Z_2026-11-24T00:00:00Z.json";
    let manifest: serde_json::Value = serde_json::from_slice(&got.remove(manifest_key).expect("manifest")).unwrap();
    let summary_key = "audit/summaries/2026/11/24/summary_2026-11-23T00:00:00Z_2026-11-24T00:00:00Z.html";
    assert!(got.remove(summary_key).expect("the summary page").starts_with(b"<!DOCTYPE html>"));
    // Same keys and byte-identical bodies as the local folder.
    let want = local_reports("audit");
    assert_eq!(got.keys().collect::<Vec<_>>(), want.keys().collect::<Vec<_>>());
    assert!(got == want, "S3 bodies differ from the local folder's");
    assert_eq!(manifest["status"], "complete");
    assert_eq!(manifest["objects"].as_array().unwrap().len(), want.len());
    assert!(manifest["objects"][0]["location"].as_str().unwrap().starts_with("s3://cli-demo/audit/"));

    let (csv, json) = rt.block_on(async {
        let csv = want.keys().find(|k| k.ends_with(".csv")).unwrap();
        let json = want.keys().find(|k| k.ends_with(".json")).unwrap();
        let head = |k: &str| client.head_object().bucket("cli-demo").key(k).send();
        (head(csv).await.unwrap(), head(json).await.unwrap())
    });
    assert_eq!(csv.content_type(), Some("text/csv; charset=utf-8"));
    assert_eq!(json.content_type(), Some("application/json"));
    let page = rt.block_on(client.head_object().bucket("cli-demo").key(summary_key).send()).unwrap();
    assert_eq!(page.content_type(), Some("text/html; charset=utf-8"));
    assert_eq!(csv.server_side_encryption().map(|s| s.as_str()), Some("AES256"));
}

#[test]
#[ignore = "needs the S3 test server that scripts/test.sh starts (BACKUP_AUDIT_TEST_S3)"]
fn a_rerun_for_the_same_day_overwrites_the_same_keys() {
    let rt = runtime();
    let client = s3_client(&rt, 3);
    create_bucket(&rt, &client, "rerun");
    let run = || {
        let out = s3_env(bin().args(["run", "--source", "examples/demo-estate", "--out", "s3://rerun"]))
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        let mut all = objects(&rt, &client, "rerun");
        all.retain(|k, _| !k.starts_with("manifests/"));
        all
    };
    let first = run();
    let second = run();
    assert!(!first.is_empty());
    assert!(first == second, "a rerun changed the reports");
}

#[test]
#[ignore = "needs the S3 test server that scripts/test.sh starts (BACKUP_AUDIT_TEST_S3)"]
fn a_bucket_owned_by_another_account_is_refused() {
    let rt = runtime();
    let client = s3_client(&rt, 3);
    create_bucket(&rt, &client, "someone-elses");
    let out = s3_env(
        bin()
            .args(["run", "--source", "examples/demo-estate", "--out", "s3://someone-elses/x"])
            .args(["--expected-bucket-owner", "999999999999"]),
    )
    .current_dir(env!("CARGO_MANIFEST_DIR"))
    .output()
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("error: cannot upload `s3://someone-elses/x/"), "{stderr}");
    assert!(stderr.contains("AccessDenied"), "{stderr}");
    assert!(objects(&rt, &client, "someone-elses").is_empty(), "nothing may land in another account's bucket");
}

#[test]
#[ignore = "needs the S3 test server that scripts/test.sh starts (BACKUP_AUDIT_TEST_S3)"]
fn each_plan_goes_to_its_own_delivery_channel_by_default() {
    let rt = runtime();
    let client = s3_client(&rt, 3);
    create_bucket(&rt, &client, "reports-111122223333");
    let sinks = S3Sinks::new(client.clone(), rt.handle().clone(), S3Options::default());
    let cfg = config(fixture("basic"), "2024-03-02T04:00:00Z");
    let outcome = super::common::run(&cfg, &Delivery::to_plan_buckets(sinks)).unwrap();
    assert!(outcome.failures().next().is_none(), "{:?}", outcome.problems);
    assert_eq!(outcome.exit_code(false), 4, "the fixture is partial by design");
    let local = tempfile::tempdir().unwrap();
    super::common::run(&cfg, &Delivery::to(LocalDir::new(local.path()))).unwrap();
    let got = objects(&rt, &client, "reports-111122223333");
    assert_eq!(
        got,
        files(local.path())
            .into_iter()
            .filter(|(k, _)| !k.starts_with("manifests/"))
            .chain(got.iter().filter(|(k, _)| k.starts_with("manifests/")).map(|(k, v)| (k.clone(), v.clone())))
            .collect::<BTreeMap<_, _>>()
    );
    assert_eq!(
        outcome.manifests,
        vec![
            "s3://reports-111122223333/manifests/2024/03/02/manifest_2024-03-01T00:00:00Z_2024-03-02T00:00:00Z.json"
                .to_string()
        ]
    );
}

fn big_body(len: usize) -> Vec<u8> {
    (0..len).map(|i| b"0123456789abcdef,\r\n"[i % 19]).collect()
}

fn small_parts() -> S3Options {
    S3Options { multipart_threshold: 5 * 1024 * 1024, part_size: 5 * 1024 * 1024, ..S3Options::default() }
}

#[test]
#[ignore = "needs the S3 test server that scripts/test.sh starts (BACKUP_AUDIT_TEST_S3)"]
fn a_failed_multipart_upload_leaves_no_object_and_no_parts() {
    let rt = runtime();
    let client = s3_client(&rt, 2);
    create_bucket(&rt, &client, "multipart");
    let sink = S3Sinks::new(client.clone(), rt.handle().clone(), small_parts()).bucket("multipart", "");
    let data = big_body(12 * 1024 * 1024);
    let body = Body { slices: vec![&data[..7_000_000], &data[7_000_000..]], rows: 0 };

    // The same body goes up in three parts when nothing fails …
    sink.put("ok/report.csv", &body, "text/csv").unwrap();
    assert_eq!(objects(&rt, &client, "multipart")["ok/report.csv"], data);

    // … and leaves nothing when part 2 keeps failing.
    let err = sink.put("inject-failure/report.csv", &body, "text/csv").unwrap_err().to_string();
    assert!(err.starts_with("cannot upload `s3://multipart/inject-failure/report.csv`: UploadPart 2:"), "{err}");
    assert!(err.contains("InternalError"), "{err}");
    let left = objects(&rt, &client, "multipart");
    assert_eq!(left.keys().collect::<Vec<_>>(), vec!["ok/report.csv"]);
    let uploads = rt.block_on(client.list_multipart_uploads().bucket("multipart").send()).unwrap();
    assert!(uploads.uploads().is_empty(), "the failed upload was not aborted: {:?}", uploads.uploads());
}

#[test]
#[ignore = "needs the S3 test server that scripts/test.sh starts (BACKUP_AUDIT_TEST_S3)"]
fn slowdown_is_retried_with_backoff() {
    let rt = runtime();
    let client = s3_client(&rt, 3);
    create_bucket(&rt, &client, "slowdown");
    let sinks = S3Sinks::new(client.clone(), rt.handle().clone(), small_parts());
    // The server slows down the first request per key; keys unique to this process keep a
    // reused server honest.
    let id = std::process::id();
    let small = b"\"a\"\r\n\"1\"\r\n".to_vec();
    let big = big_body(6 * 1024 * 1024);
    for (key, data) in
        [(format!("slowdown-once/{id}/small.csv"), &small), (format!("slowdown-once/{id}/big.csv"), &big)]
    {
        sinks.bucket("slowdown", "").put(&key, &Body { slices: vec![data], rows: 1 }, "text/csv").unwrap();
        assert_eq!(&objects(&rt, &client, "slowdown")[&key], data);
    }
    // With a single attempt the same fault is an error that names the bucket and key.
    let once = s3_client(&rt, 1);
    let err = S3Sinks::new(once, rt.handle().clone(), S3Options::default())
        .bucket("slowdown", "p")
        .put(&format!("slowdown-once/{id}/third.csv"), &Body { slices: vec![&small], rows: 1 }, "text/csv")
        .unwrap_err()
        .to_string();
    let want = format!("cannot upload `s3://slowdown/p/slowdown-once/{id}/third.csv`: PutObject:");
    assert!(err.starts_with(&want), "{err}");
    assert!(err.contains("SlowDown"), "{err}");
}
