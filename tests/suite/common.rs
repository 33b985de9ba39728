//! Helpers shared by the integration tests.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use backup_audit::RunConfig;
use backup_audit::time::parse_iso;

/// `tests/fixtures/<name>`.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

/// `tests/golden/<name>`.
pub fn golden(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(name)
}

/// A run over a fixture at a fixed clock with the daily window.
pub fn config(source: PathBuf, now: &str) -> RunConfig {
    RunConfig::new(source, parse_iso(now).expect("test clock"))
}

/// Every report file below `root`, by relative path, with its bytes (run manifests, which
/// carry timings and absolute locations, are left out; see [`manifest`]).
pub fn tree(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut all = files(root);
    all.retain(|k, _| !k.starts_with("manifests/"));
    all
}

/// The one run manifest below `root`.
pub fn manifest(root: &Path) -> serde_json::Value {
    let manifests: Vec<_> = files(root).into_iter().filter(|(k, _)| k.starts_with("manifests/")).collect();
    assert_eq!(manifests.len(), 1, "expected one manifest below {}", root.display());
    serde_json::from_slice(&manifests[0].1).expect("the manifest is JSON")
}

/// Every file below `root`, by relative path, with its bytes.
pub fn files(root: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path.strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/");
                out.insert(rel, fs::read(&path).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    if root.exists() {
        walk(root, root, &mut out);
    }
    out
}

/// Compares the tree at `actual` with the golden tree, byte for byte, or rewrites the golden
/// tree when `BLESS=1`.
pub fn assert_tree_matches(actual: &Path, expected: &Path) {
    let got = tree(actual);
    if std::env::var_os("BLESS").is_some() {
        let _ = fs::remove_dir_all(expected);
        for (rel, bytes) in &got {
            let p = expected.join(rel);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, bytes).unwrap();
        }
        return;
    }
    let want = tree(expected);
    let got_keys: Vec<_> = got.keys().collect();
    let want_keys: Vec<_> = want.keys().collect();
    assert_eq!(got_keys, want_keys, "report files differ from {} (BLESS=1 rewrites them)", expected.display());
    for (rel, bytes) in &want {
        assert!(
            &got[rel] == bytes,
            "{rel} differs from the golden file:\n--- golden\n{}\n--- actual\n{}",
            String::from_utf8_lossy(bytes),
            String::from_utf8_lossy(&got[rel])
        );
    }
}

/// The test binary's path.
pub fn bin() -> std::process::Command {
    std::process::Command::new(env!("CARGO_BIN_EXE_backup-audit"))
}
