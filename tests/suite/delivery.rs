//! Delivery to a local folder: the run manifest, and reports split into `_1`, `_2`, … objects.

use backup_audit::sinks::{Delivery, LocalDir};
use sha2::Digest;

use super::common::{config, fixture, manifest, tree};

#[test]
fn manifest_lists_every_object_with_its_digest() {
    let out = tempfile::tempdir().unwrap();
    let cfg = config(fixture("basic"), "2024-03-02T04:00:00Z");
    let outcome = super::common::run(&cfg, &Delivery::to(LocalDir::new(out.path()))).unwrap();
    let m = manifest(out.path());
    assert_eq!(outcome.manifests.len(), 1);
    assert!(
        outcome.manifests[0].ends_with("manifests/2024/03/02/manifest_2024-03-01T00:00:00Z_2024-03-02T00:00:00Z.json")
    );
    // The fixture is partial by design (see `golden::basic_estate_reports_match_golden_files`).
    assert_eq!(m["status"], "incomplete");
    assert_eq!(outcome.exit_code(false), 4);
    assert_eq!(m["tool"]["name"], "backup-audit");
    assert_eq!(m["now"], "2024-03-02T04:00:00.000Z");
    assert_eq!(m["window"]["start"], "2024-03-01T00:00:00Z");
    assert_eq!(m["plans"].as_array().unwrap().len(), 6);
    for p in m["plans"].as_array().unwrap() {
        // Every report is delivered; a plan whose inputs were not all collected says which.
        let errors: Vec<&str> = p["errors"].as_array().unwrap().iter().map(|e| e.as_str().unwrap()).collect();
        match p["status"].as_str().unwrap() {
            "delivered" => assert!(errors.is_empty(), "{p:#}"),
            "incomplete" => assert!(
                !errors.is_empty() && errors.iter().all(|e| e.starts_with("input not collected: account ")),
                "{p:#}"
            ),
            other => panic!("plan status {other}: {p:#}"),
        }
    }
    let daily = m["plans"].as_array().unwrap().iter().find(|p| p["name"] == "daily_backup").unwrap();
    assert_eq!(daily["status"], "delivered", "its inputs were all collected: {daily:#}");

    let files = tree(out.path());
    let objects = m["objects"].as_array().unwrap();
    assert_eq!(objects.len(), files.len());
    for o in objects {
        let key = o["key"].as_str().unwrap();
        let bytes = &files[key];
        assert_eq!(o["bytes"], bytes.len(), "{key}");
        assert_eq!(o["sha256"], hex::encode(sha2::Sha256::digest(bytes)), "{key}");
        assert_eq!((o["part"].as_u64(), o["parts"].as_u64()), (Some(1), Some(1)));
    }

    // The estate digest is SHA-256 over the sha256sum listing of the files read, and it is
    // the same on a second run.
    assert_eq!(m["source"]["sha256"].as_str().unwrap().len(), 64);
    assert!(m["source"]["files"].as_u64().unwrap() > 10);
    let again = tempfile::tempdir().unwrap();
    super::common::run(&cfg, &Delivery::to(LocalDir::new(again.path()))).unwrap();
    assert_eq!(manifest(again.path())["source"], m["source"]);
}

#[test]
fn the_estate_digest_is_the_sha256sum_listing() {
    // Recompute it as the README says: `sha256sum` of every file read, paths relative to the
    // snapshot, sorted, then SHA-256 of that listing.
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("111122223333/us-east-1");
    std::fs::create_dir_all(base.join("list-backup-jobs")).unwrap();
    let page = br#"{"BackupJobs": []}"#;
    let vaults = br#"{"BackupVaultList": []}"#;
    std::fs::write(base.join("list-backup-jobs/page-1.json"), page).unwrap();
    std::fs::write(base.join("list-backup-vaults.json"), vaults).unwrap();
    let out = tempfile::tempdir().unwrap();
    super::common::run(
        &config(dir.path().to_path_buf(), "2024-03-02T04:00:00Z"),
        &Delivery::to(LocalDir::new(out.path())),
    )
    .unwrap();
    let listing = format!(
        "{}  111122223333/us-east-1/list-backup-jobs/page-1.json\n{}  111122223333/us-east-1/list-backup-vaults.json\n",
        hex::encode(sha2::Sha256::digest(page)),
        hex::encode(sha2::Sha256::digest(vaults)),
    );
    let m = manifest(out.path());
    assert_eq!(m["source"]["sha256"], hex::encode(sha2::Sha256::digest(listing.as_bytes())));
    assert_eq!(m["source"]["files"], 2);
    assert_eq!(m["source"]["bytes"], page.len() + vaults.len());
}

#[test]
fn large_reports_split_into_complete_parts() {
    let whole = tempfile::tempdir().unwrap();
    let split = tempfile::tempdir().unwrap();
    let mut cfg = config(fixture("basic"), "2024-03-02T04:00:00Z");
    super::common::run(&cfg, &Delivery::to(LocalDir::new(whole.path()))).unwrap();
    cfg.max_object_bytes = 2_000;
    let outcome = super::common::run(&cfg, &Delivery::to(LocalDir::new(split.path()))).unwrap();
    assert!(outcome.failures().next().is_none(), "{:?}", outcome.problems);
    assert_eq!(outcome.exit_code(false), 4, "the fixture is partial by design");

    let dir = "audit/Backup/111122223333/us-east-1/2024/03/02/daily_backup/";
    let stem = "BACKUP_JOB_REPORT_daily_backup_2024-03-01T00:00:00Z_2024-03-02T00:00:00Z";
    let whole_files = tree(whole.path());
    let split_files = tree(split.path());
    for ext in ["csv", "json"] {
        let original = &whole_files[&format!("{dir}{stem}.{ext}")];
        assert!(original.len() > 2_000, "the fixture report must be larger than the limit");
        assert!(!split_files.contains_key(&format!("{dir}{stem}.{ext}")), "a split report has no unnumbered object");
        let parts: Vec<&Vec<u8>> = (1..).map_while(|n| split_files.get(&format!("{dir}{stem}_{n}.{ext}"))).collect();
        assert!(parts.len() >= 2, "{ext}: {} parts", parts.len());
        if ext == "csv" {
            let header_and_rows = |b: &[u8]| -> (csv::StringRecord, Vec<csv::StringRecord>) {
                let mut r = csv::Reader::from_reader(b);
                (r.headers().unwrap().clone(), r.records().map(Result::unwrap).collect())
            };
            let (header, rows) = header_and_rows(original);
            let mut joined = Vec::new();
            for p in &parts {
                assert!(p.len() <= 2_000 || header_and_rows(p).1.len() == 1, "a part over the limit holds one row");
                let (h, r) = header_and_rows(p);
                assert_eq!(h, header, "every part starts with the header");
                assert!(!r.is_empty());
                joined.extend(r);
            }
            assert_eq!(joined, rows);
        } else {
            let items = |b: &[u8]| -> Vec<serde_json::Value> {
                let v: serde_json::Value = serde_json::from_slice(b).expect("every part is a JSON document");
                v["reportItems"].as_array().unwrap().clone()
            };
            let joined: Vec<_> = parts.iter().flat_map(|p| items(p)).collect();
            assert_eq!(joined, items(original));
        }
    }
    let m = super::common::manifest(split.path());
    for ext in ["csv", "json"] {
        let parts: Vec<_> = m["objects"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|o| {
                o["key"].as_str().unwrap().starts_with(&format!("{dir}{stem}_")) && o["format"] == ext.to_uppercase()
            })
            .collect();
        let numbers: Vec<_> = parts.iter().map(|o| o["part"].as_u64().unwrap()).collect();
        assert_eq!(numbers, (1..=parts.len() as u64).collect::<Vec<_>>());
        assert!(parts.iter().all(|o| o["parts"].as_u64() == Some(parts.len() as u64)), "{parts:#?}");
    }
}

/// The compliance reports stream from the evaluation: with a small object limit, the demo's
/// resource reports come out as many parts that join back into the unsplit report, row for row,
/// and the manifest's size and digest of every part are those of the object written.
#[test]
fn streamed_compliance_reports_split_into_parts_that_join_back() {
    let whole = tempfile::tempdir().unwrap();
    let split = tempfile::tempdir().unwrap();
    let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/demo-estate");
    let mut cfg = config(source, "2026-11-24T03:00:00Z");
    super::common::run(&cfg, &Delivery::to(LocalDir::new(whole.path()))).unwrap();
    cfg.max_object_bytes = 4_000;
    super::common::run(&cfg, &Delivery::to(LocalDir::new(split.path()))).unwrap();
    let (whole_files, split_files) = (tree(whole.path()), tree(split.path()));
    let reports: Vec<&String> = whole_files
        .keys()
        .filter(|k| k.contains("/RESOURCE_COMPLIANCE_REPORT_") || k.contains("/CONTROL_COMPLIANCE_REPORT_"))
        .collect();
    assert!(reports.len() >= 4, "{reports:?}");
    let mut split_reports = 0;
    for key in reports {
        let (stem, ext) = key.rsplit_once('.').unwrap();
        let parts: Vec<&Vec<u8>> = (1..).map_while(|n| split_files.get(&format!("{stem}_{n}.{ext}"))).collect();
        let original = &whole_files[key];
        if original.len() <= 4_000 {
            assert_eq!(split_files.get(key), Some(original), "{key}: a report that fits keeps its name");
            continue;
        }
        split_reports += 1;
        assert!(!split_files.contains_key(key), "{key}: a split report has no unnumbered object");
        assert!(parts.len() >= 2, "{key}: {} parts", parts.len());
        if ext == "csv" {
            let rows = |b: &[u8]| -> (csv::StringRecord, Vec<csv::StringRecord>) {
                let mut r = csv::Reader::from_reader(b);
                (r.headers().unwrap().clone(), r.records().map(Result::unwrap).collect())
            };
            let (header, all) = rows(original);
            let mut joined = Vec::new();
            for p in &parts {
                let (h, r) = rows(p);
                assert_eq!(h, header, "{key}: every part starts with the header");
                assert!(p.len() <= 4_000 || r.len() == 1, "{key}: a part over the limit holds one row");
                joined.extend(r);
            }
            assert_eq!(joined, all, "{key}");
        } else {
            let items = |b: &[u8]| -> Vec<serde_json::Value> {
                let v: serde_json::Value = serde_json::from_slice(b).expect("every part is a JSON document");
                v["reportItems"].as_array().unwrap().clone()
            };
            assert_eq!(parts.iter().flat_map(|p| items(p)).collect::<Vec<_>>(), items(original), "{key}");
        }
    }
    assert!(split_reports >= 2, "the demo's resource reports must be larger than the limit");
    let m = manifest(split.path());
    for o in m["objects"].as_array().unwrap() {
        let bytes = &split_files[o["key"].as_str().unwrap()];
        assert_eq!(o["bytes"].as_u64(), Some(bytes.len() as u64), "{o}");
        assert_eq!(o["sha256"].as_str(), Some(hex::encode(sha2::Sha256::digest(bytes)).as_str()), "{o}");
    }
}
