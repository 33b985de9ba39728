//! The Lambda handler, invoked in-process with an EventBridge scheduled event and with direct
//! invokes, against the demo estate and the S3 test server.

use std::path::Path;
use std::sync::Arc;

use backup_audit::lambda::{self, LambdaConfig, LambdaError};
use backup_audit::sinks::S3Sinks;
use serde_json::{Value, json};

use super::common::{Replay, S3_OWNER, create_bucket, demo_estate, fixture, objects, runtime, s3_client};

fn demo() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/demo-estate").display().to_string()
}

fn config(out: &str) -> LambdaConfig {
    let out = out.to_string();
    LambdaConfig::from_env(move |k| match k {
        "BACKUP_AUDIT_SOURCE" => Some(demo()),
        "BACKUP_AUDIT_OUT" => Some(out.clone()),
        "BACKUP_AUDIT_EXPECTED_BUCKET_OWNER" => Some(S3_OWNER.to_string()),
        _ => None,
    })
    .unwrap()
}

/// A clock far from the demo's `now`: the event's time must win over it.
const CLOCK_2030: i64 = 1_893_456_000_000;

#[test]
#[ignore = "needs the S3 test server that scripts/test.sh starts (BACKUP_AUDIT_TEST_S3)"]
fn a_scheduled_event_runs_every_plan_for_the_daily_window() {
    let rt = runtime();
    let client = s3_client(&rt, 3);
    create_bucket(&rt, &client, "lambda-nightly");
    let config = config("s3://lambda-nightly/backup-audit");
    let sinks = S3Sinks::new(client.clone(), rt.handle().clone(), config.s3.clone());
    let event: Value = serde_json::from_slice(&std::fs::read(fixture("lambda/scheduled-event.json")).unwrap()).unwrap();

    let summary = rt.block_on(lambda::invoke(event, Arc::new(config), sinks, CLOCK_2030)).unwrap();

    assert_eq!(summary["status"], "complete", "{summary:#}");
    assert_eq!(summary["now"], "2026-11-24T03:00:00.000Z");
    assert_eq!(summary["window"], json!({"start": "2026-11-23T00:00:00Z", "end": "2026-11-24T00:00:00Z"}));
    // Five plans in each of two accounts times two regions, plus one organisation-wide plan.
    let plans = summary["plans"].as_array().unwrap();
    assert_eq!(plans.len(), 21, "{summary:#}");
    assert!(plans.iter().all(|p| p["status"] == "delivered" && p["objects"].as_u64() >= Some(1)), "{summary:#}");
    let manifest = "backup-audit/manifests/2026/11/24/manifest_2026-11-23T00:00:00Z_2026-11-24T00:00:00Z.json";
    assert_eq!(summary["manifests"], json!([format!("s3://lambda-nightly/{manifest}")]));
    let page = "backup-audit/summaries/2026/11/24/summary_2026-11-23T00:00:00Z_2026-11-24T00:00:00Z.html";
    assert_eq!(summary["summaries"], json!([format!("s3://lambda-nightly/{page}")]));
    assert_eq!(summary["jobs"]["failed"], 4, "{summary:#}");
    assert_eq!(summary["jobs"]["completed_with_issues"], 0, "{summary:#}");

    let stored = objects(&rt, &client, "lambda-nightly");
    assert_eq!(
        stored.len(),
        summary["objects"].as_u64().unwrap() as usize + 2,
        "reports, the summary and the manifest"
    );
    assert!(stored[page].starts_with(b"<!DOCTYPE html>"));
    let m: Value = serde_json::from_slice(&stored[manifest]).unwrap();
    assert_eq!(m["objects"].as_array().unwrap().len(), stored.len() - 2);
    assert_eq!(m["source"]["sha256"], summary["source"]["sha256"]);
}

#[test]
#[ignore = "needs the S3 test server that scripts/test.sh starts (BACKUP_AUDIT_TEST_S3)"]
fn a_direct_invoke_runs_the_named_plans_for_its_window() {
    let rt = runtime();
    let client = s3_client(&rt, 3);
    create_bucket(&rt, &client, "lambda-direct");
    let config = Arc::new(config("s3://lambda-direct"));
    let sinks = S3Sinks::new(client.clone(), rt.handle().clone(), config.s3.clone());
    let event = json!({"reportPlans": ["daily_copy_jobs"], "window": "last-24h", "now": "2026-11-24T02:30:00Z"});

    let summary = rt.block_on(lambda::invoke(event, config.clone(), sinks.clone(), CLOCK_2030)).unwrap();

    assert_eq!(summary["window"], json!({"start": "2026-11-23T02:30:00Z", "end": "2026-11-24T02:30:00Z"}));
    let plans = summary["plans"].as_array().unwrap();
    assert!(!plans.is_empty() && plans.iter().all(|p| p["name"] == "daily_copy_jobs"), "{summary:#}");
    let stored = objects(&rt, &client, "lambda-direct");
    assert!(
        stored
            .keys()
            .filter(|k| !k.starts_with("manifests/") && !k.starts_with("summaries/"))
            .all(|k| k.contains("/daily_copy_jobs/COPY_JOB_REPORT_"))
    );

    // A plan that does not exist fails the invocation (so that Lambda's error metrics and
    // retries see it) and the summary says why.
    let event = json!({"reportPlans": ["nightly_typo"]});
    match rt.block_on(lambda::invoke(event, config, sinks, CLOCK_2030)) {
        Err(LambdaError::Incomplete { exit_code, summary }) => {
            assert_eq!(exit_code, 2);
            assert_eq!(
                summary["failures"],
                json!(["report plan `nightly_typo` is not in the estate, the plan files or the request"])
            );
        }
        other => panic!("expected an incomplete run, got {other:?}"),
    }
}

#[test]
#[ignore = "needs the S3 test server that scripts/test.sh starts (BACKUP_AUDIT_TEST_S3)"]
fn a_scheduled_event_can_collect_live_first() {
    // Live collection uses the default credential chain; scripts/test.sh exports dummy keys.
    assert!(std::env::var_os("AWS_ACCESS_KEY_ID").is_some(), "run the tests with scripts/test.sh");
    let estate = demo_estate();
    let replay = Replay::start(estate.path(), &[]);
    let rt = runtime();
    let client = s3_client(&rt, 3);
    create_bucket(&rt, &client, "lambda-live");
    let endpoint = replay.endpoint.clone();
    let config = LambdaConfig::from_env(move |k| match k {
        "BACKUP_AUDIT_SOURCE" => Some("aws".into()),
        "BACKUP_AUDIT_REGIONS" => Some("us-east-1".into()),
        "BACKUP_AUDIT_ENDPOINT_URL" => Some(endpoint.clone()),
        "BACKUP_AUDIT_OUT" => Some("s3://lambda-live/nightly".into()),
        _ => None,
    })
    .unwrap();
    let sinks = S3Sinks::new(client.clone(), rt.handle().clone(), config.s3.clone());
    let event: Value = serde_json::from_slice(&std::fs::read(fixture("lambda/scheduled-event.json")).unwrap()).unwrap();

    let summary = rt.block_on(lambda::invoke(event, Arc::new(config), sinks, CLOCK_2030)).unwrap();

    assert_eq!(summary["status"], "complete", "{summary:#}");
    assert_eq!(summary["now"], "2026-11-24T03:00:00.000Z");
    // One account (the credentials' own) and region: five plans in two formats, plus the
    // organisation-wide plan.
    assert_eq!(summary["objects"], 11, "{summary:#}");
    assert!(summary["source"]["files"].as_u64().unwrap() > 100, "{summary:#}");
    let stored = objects(&rt, &client, "lambda-live");
    assert_eq!(stored.len(), 13, "reports, the summary and the manifest");
}

#[test]
#[ignore = "needs the S3 test server that scripts/test.sh starts (BACKUP_AUDIT_TEST_S3)"]
fn the_organisation_run_modes_plan_shard_and_merge_give_the_reports_of_a_run() {
    let rt = runtime();
    let client = s3_client(&rt, 3);
    create_bucket(&rt, &client, "lambda-org");
    let config = Arc::new(
        LambdaConfig::from_env(|k| match k {
            "BACKUP_AUDIT_SOURCE" => Some(demo()),
            "BACKUP_AUDIT_OUT" => Some("s3://lambda-org/reports".into()),
            "BACKUP_AUDIT_PARTS" => Some("s3://lambda-org/parts".into()),
            _ => None,
        })
        .unwrap(),
    );
    let sinks = S3Sinks::new(client.clone(), rt.handle().clone(), config.s3.clone());
    let invoke = |event: Value| rt.block_on(lambda::invoke(event, config.clone(), sinks.clone(), CLOCK_2030));
    // The state machine's planner: the execution's start time is `now`.
    let plan = invoke(json!({"mode": "plan", "now": "2026-11-24T03:00:00Z"})).unwrap();
    assert_eq!(plan["parts"], "s3://lambda-org/parts/date=2026-11-24");
    assert_eq!(plan["items"], json!({"Bucket": "lambda-org", "Key": "parts/date=2026-11-24/_items.json"}));
    // The Map's ItemReader reads the items from S3; each child gets its item and the parts.
    let items: Value =
        serde_json::from_slice(&objects(&rt, &client, "lambda-org")["parts/date=2026-11-24/_items.json"]).unwrap();
    let items = items.as_array().unwrap();
    assert_eq!(items.len(), 4);
    for mode in ["collect", "shard"] {
        for item in items.iter().rev() {
            let mut event = item.clone();
            event["mode"] = json!(mode);
            event["parts"] = plan["parts"].clone();
            let answer = invoke(event).unwrap();
            assert_eq!(answer["accounts"], json!([item["accounts"]]), "{answer:#}");
        }
    }
    let merged = invoke(json!({"mode": "merge", "parts": plan["parts"]})).unwrap();
    assert_eq!(merged["status"], "complete", "{merged:#}");
    assert_eq!(merged["plans"].as_array().unwrap().len(), 21, "{merged:#}");

    // The same objects as one `run` of the demo into the same bucket layout, byte for byte:
    // the run rewrites every report key the merge wrote with the same bytes.
    let reports = || {
        let mut all = objects(&rt, &client, "lambda-org");
        all.retain(|k, _| k.starts_with("reports/") && !k.starts_with("reports/manifests/"));
        all.retain(|k, _| !k.starts_with("reports/summaries/"));
        all
    };
    let from_merge = reports();
    assert_eq!(from_merge.len() as u64, merged["objects"].as_u64().unwrap());
    let single = invoke(json!({"now": "2026-11-24T03:00:00Z"})).unwrap();
    assert_eq!(single["objects"], merged["objects"]);
    assert!(reports() == from_merge, "the merged reports differ from one run's");
    // A merge without a shard's `_DONE.json` fails, naming the scope.
    let bad =
        invoke(json!({"mode": "merge", "parts": "s3://lambda-org/parts/date=2026-11-25"})).unwrap_err().to_string();
    assert!(bad.contains("_plan.json") && bad.contains("not found"), "{bad}");
    let bad = invoke(json!({"mode": "shard", "parts": plan["parts"]})).unwrap_err().to_string();
    assert_eq!(bad, "event: `accounts` and `regions`: a collect or shard step needs both");
}
