//! The run manifest: the evidence of one run, written after its reports.
//!
//! It names the tool and version, the clock and window, the estate's digest, every object
//! written (key, location, rows, bytes, SHA-256, part), each report plan's status, the
//! failures and warnings, and the stage timings. Because it is written last, its presence
//! under a root means the run finished; `status` says whether everything was delivered.
//!
//! Decision (the issue says "a `manifest.json` beside them"): the key is
//! `manifests/<YYYY>/<MM>/<DD>/manifest_<periodStart>_<periodEnd>.json` below each root the run
//! wrote to, with the date folders of the period end, like the reports. A nightly run therefore
//! keeps every night's evidence instead of overwriting one `manifest.json`, a rerun for the same
//! window overwrites its own manifest, and an ad-hoc report for another window does not
//! clobber the nightly one.

use serde::Serialize;

use crate::time::{self, Millis};

/// The manifest's key below a root.
pub fn key(period: (Millis, Millis)) -> String {
    let end = time::civil(period.1);
    format!(
        "manifests/{:04}/{:02}/{:02}/manifest_{}_{}.json",
        end.year,
        end.month,
        end.day,
        time::format_seconds(period.0),
        time::format_seconds(period.1)
    )
}

/// The manifest document. Field order is the JSON key order.
#[derive(Debug, Clone, Serialize)]
pub struct Manifest {
    pub tool: Tool,
    /// `complete` when every planned report was delivered, else `incomplete`.
    pub status: &'static str,
    pub now: String,
    pub window: WindowInfo,
    pub source: Source,
    pub plans: Vec<PlanStatus>,
    pub objects: Vec<Object>,
    /// Commands of the estate layout that were not collected for some account and region.
    pub not_collected: Vec<NotCollected>,
    pub failures: Vec<String>,
    pub warnings: Vec<String>,
    pub timings_ms: TimingsMs,
}

#[derive(Debug, Clone, Serialize)]
pub struct Tool {
    pub name: &'static str,
    pub version: &'static str,
}

impl Default for Tool {
    fn default() -> Self {
        Tool { name: env!("CARGO_PKG_NAME"), version: env!("CARGO_PKG_VERSION") }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct WindowInfo {
    pub start: String,
    pub end: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Source {
    /// `snapshot`.
    pub kind: &'static str,
    pub location: String,
    pub files: usize,
    pub bytes: u64,
    /// SHA-256 over the `sha256sum` listing of the files read (see the README).
    pub sha256: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct PlanStatus {
    pub name: String,
    /// The report's account and region segments (`crossaccount`, `crossregion` for
    /// multi-account or multi-region plans); empty for a plan that did not resolve.
    pub account: String,
    pub region: String,
    pub template: Option<String>,
    /// `delivered`, `incomplete` (delivered, but an input it is built from was not collected
    /// for an account and region it covers; `errors` names them), `failed` (some report could
    /// not be rendered or written) or `invalid` (the plan itself is wrong and did not run).
    pub status: &'static str,
    pub objects: usize,
    pub errors: Vec<String>,
}

/// One command not collected for one account and region.
#[derive(Debug, Clone, Serialize)]
pub struct NotCollected {
    pub account: String,
    pub region: String,
    pub command: String,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Object {
    pub location: String,
    pub key: String,
    pub plan: String,
    pub template: String,
    pub format: String,
    /// Part number (from 1) and part count of a split report; 1 of 1 otherwise.
    pub part: usize,
    pub parts: usize,
    pub rows: usize,
    pub bytes: usize,
    pub sha256: String,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct TimingsMs {
    pub load: u64,
    pub frames: u64,
    pub evaluate: u64,
    pub render: u64,
    pub write: u64,
}

impl Manifest {
    /// The manifest as pretty JSON with a final newline.
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = serde_json::to_vec_pretty(self).expect("a manifest always serialises");
        out.push(b'\n');
        out
    }
}

/// The window as manifest strings.
pub fn window_info(period: (Millis, Millis)) -> WindowInfo {
    WindowInfo { start: time::format_seconds(period.0), end: time::format_seconds(period.1) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_is_dated_by_the_period_end() {
        let start = time::parse_iso("2026-11-23T00:00:00Z").unwrap();
        let end = time::parse_iso("2026-11-24T00:00:00Z").unwrap();
        assert_eq!(key((start, end)), "manifests/2026/11/24/manifest_2026-11-23T00:00:00Z_2026-11-24T00:00:00Z.json");
    }
}
