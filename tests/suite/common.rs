//! Helpers shared by the integration tests.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use backup_audit::Config;
use backup_audit::pipeline::{Goal, Outcome, Pipeline, Problem};
use backup_audit::sinks::Delivery;
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
pub fn config(source: PathBuf, now: &str) -> Config {
    Config::snapshot(source, parse_iso(now).expect("test clock"))
}

/// `backup-audit run` in-process: every report plan of `cfg`, delivered through `delivery`.
/// The clock is never read: every test configuration sets `now`.
pub fn run(cfg: &Config, delivery: &Delivery) -> Result<Outcome, Problem> {
    assert!(cfg.now.is_some(), "test configurations fix the clock");
    Pipeline::new(cfg, 0).run(&Goal::Reports, delivery)
}

/// Every report file below `root`, by relative path, with its bytes (run manifests, which
/// carry timings and absolute locations, are left out; see [`manifest`]; so are the run
/// summaries, which `suite/summary.rs` checks).
pub fn tree(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut all = files(root);
    all.retain(|k, _| !k.starts_with("manifests/") && !k.starts_with("summaries/"));
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

/// The S3 test server's endpoint, which `scripts/test.sh` (the README's test command, also run
/// by CI) starts and exports.
pub fn s3_endpoint() -> String {
    std::env::var("BACKUP_AUDIT_TEST_S3")
        .expect("BACKUP_AUDIT_TEST_S3 is not set: run the tests with scripts/test.sh, which starts the S3 test server")
}

/// The account that owns every bucket of the S3 test server (moto's default account).
pub const S3_OWNER: &str = "123456789012";

/// A tokio runtime for the S3 client of one test.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

/// An S3 client for the test server with dummy credentials, path-style addressing and
/// `max_attempts` attempts per request.
pub fn s3_client(rt: &tokio::runtime::Runtime, max_attempts: u32) -> aws_sdk_s3::Client {
    let conf = rt.block_on(
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_s3::config::Credentials::new("test", "test", None, None, "tests"))
            .endpoint_url(s3_endpoint())
            .load(),
    );
    let retry = aws_config::retry::RetryConfig::standard()
        .with_max_attempts(max_attempts)
        .with_initial_backoff(std::time::Duration::from_millis(10));
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&conf).force_path_style(true).retry_config(retry).build(),
    )
}

/// Creates a bucket (a fresh name per test keeps tests independent).
pub fn create_bucket(rt: &tokio::runtime::Runtime, client: &aws_sdk_s3::Client, bucket: &str) {
    rt.block_on(client.create_bucket().bucket(bucket).send()).expect("create the test bucket");
}

/// Every object of a bucket, by key, with its bytes.
pub fn objects(rt: &tokio::runtime::Runtime, client: &aws_sdk_s3::Client, bucket: &str) -> BTreeMap<String, Vec<u8>> {
    rt.block_on(async {
        let mut out = BTreeMap::new();
        let mut pages = client.list_objects_v2().bucket(bucket).into_paginator().send();
        while let Some(page) = pages.next().await {
            for o in page.unwrap().contents() {
                let key = o.key().unwrap().to_string();
                let body = client.get_object().bucket(bucket).key(&key).send().await.unwrap().body;
                out.insert(key, body.collect().await.unwrap().into_bytes().to_vec());
            }
        }
        out
    })
}

/// Adds what a CLI run against the S3 test server needs: dummy credentials and the endpoint
/// (call it after the subcommand's own arguments).
pub fn s3_env(cmd: &mut std::process::Command) -> &mut std::process::Command {
    cmd.env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env_remove("AWS_PROFILE")
        .env_remove("BACKUP_AUDIT_EXPECTED_BUCKET_OWNER")
        .args(["--s3-endpoint-url", &s3_endpoint(), "--s3-path-style", "--max-attempts", "3"])
}

/// The replay endpoint (`tests/replay/replay_server.py`) serving an estate folder, stopped on
/// drop.
pub struct Replay {
    pub endpoint: String,
    child: std::process::Child,
    _dir: tempfile::TempDir,
}

impl Replay {
    /// Starts the endpoint on `estate` with extra arguments (faults, latency).
    pub fn start(estate: &Path, args: &[&str]) -> Replay {
        let python = std::env::var("BACKUP_AUDIT_TEST_PYTHON")
            .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python").display().to_string());
        let dir = tempfile::tempdir().unwrap();
        let port_file = dir.path().join("port");
        let child = std::process::Command::new(&python)
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/replay/replay_server.py"))
            .arg("--estate")
            .arg(estate)
            .arg("--port-file")
            .arg(&port_file)
            .args(args)
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start the replay endpoint with `{python}` ({e}); run scripts/test.sh"));
        let mut replay = Replay { endpoint: String::new(), child, _dir: dir };
        for _ in 0..200 {
            if let Ok(port) = fs::read_to_string(&port_file) {
                replay.endpoint = format!("http://127.0.0.1:{port}");
                return replay;
            }
            if let Ok(Some(status)) = replay.child.try_wait() {
                panic!("the replay endpoint exited: {status}");
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("the replay endpoint did not start in 10 s");
    }

    /// The endpoint's counters: requests, throttled, failed.
    pub fn stats(&self) -> serde_json::Value {
        use std::io::{Read, Write};
        let addr = self.endpoint.trim_start_matches("http://");
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        write!(s, "GET /__stats HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).unwrap();
        serde_json::from_str(text.split("\r\n\r\n").nth(1).unwrap()).unwrap()
    }
}

impl Drop for Replay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A copy of the demo estate, for the replay endpoint to serve and for tests to change.
pub fn demo_estate() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/demo-estate");
    for (rel, bytes) in files(&src) {
        let p = dir.path().join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, bytes).unwrap();
    }
    dir
}

/// Adds what a live run against the replay endpoint needs: dummy credentials and the endpoint.
pub fn live_env<'a>(cmd: &'a mut std::process::Command, replay: &Replay) -> &'a mut std::process::Command {
    cmd.env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env_remove("AWS_PROFILE")
        .args(["--endpoint-url", &replay.endpoint, "--now", "2026-11-24T03:00:00Z"])
}
