//! What an interrupted run leaves behind, removed.
//!
//! Temporary files and folders (a report being written, a live run's temporary snapshot) are
//! registered here while they exist. Normal code paths remove them on success and on error
//! (their owners' `Drop`); [`install_signal_handler`], which only the front doors call, also
//! removes them when the process receives SIGINT or SIGTERM, then exits with 128 + the signal
//! number (130, 143), as a shell would report it. SIGKILL cannot be caught: what it leaves is
//! removed by the next run into the same folder (see `sinks::local_dir`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

static REGISTRY: Mutex<BTreeMap<u64, (PathBuf, bool)>> = Mutex::new(BTreeMap::new());
static NEXT: AtomicU64 = AtomicU64::new(0);

/// Keeps a path registered for removal on a signal; unregisters it when dropped.
#[must_use = "the path is unregistered when the guard drops"]
#[derive(Debug)]
pub struct Registered(u64);

impl Drop for Registered {
    fn drop(&mut self) {
        REGISTRY.lock().unwrap_or_else(|e| e.into_inner()).remove(&self.0);
    }
}

fn add(path: &Path, folder: bool) -> Registered {
    let id = NEXT.fetch_add(1, Ordering::Relaxed);
    REGISTRY.lock().unwrap_or_else(|e| e.into_inner()).insert(id, (path.to_path_buf(), folder));
    Registered(id)
}

/// Registers a temporary file.
pub fn register(path: &Path) -> Registered {
    add(path, false)
}

/// Registers a temporary folder (removed with everything in it).
fn register_folder(path: &Path) -> Registered {
    add(path, true)
}

/// The name prefix of live runs' temporary snapshot folders in `$TMPDIR`.
const SNAPSHOT_PREFIX: &str = "backup-audit-snapshot-";

/// A live run's temporary snapshot folder in `$TMPDIR`: removed when dropped, on SIGINT and
/// SIGTERM, and (after SIGKILL) by the next live run on the machine. The folder is locked
/// (`flock`) while its run lives, so that next run can tell a stale folder from one in use.
#[derive(Debug)]
pub struct TemporarySnapshot {
    _registered: Registered,
    _lock: std::fs::File,
    dir: tempfile::TempDir,
}

impl TemporarySnapshot {
    /// Removes stale snapshot folders of killed runs, then creates and locks a new one.
    pub fn create() -> std::io::Result<TemporarySnapshot> {
        let removed = remove_stale_snapshots(&std::env::temp_dir());
        if removed > 0 {
            tracing::warn!(removed, "removed temporary snapshots left by interrupted runs");
        }
        let dir = tempfile::Builder::new().prefix(SNAPSHOT_PREFIX).tempdir()?;
        let lock = std::fs::File::open(dir.path())?;
        lock.lock()?;
        Ok(TemporarySnapshot { _registered: register_folder(dir.path()), _lock: lock, dir })
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// Removes the snapshot folders below `tmp` that no live run holds. Returns how many.
fn remove_stale_snapshots(tmp: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(tmp) else { return 0 };
    let mut removed = 0;
    for entry in entries.flatten() {
        let ours = entry.file_name().to_str().is_some_and(|n| n.starts_with(SNAPSHOT_PREFIX));
        if !ours || !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let Ok(folder) = std::fs::File::open(entry.path()) else { continue };
        if folder.try_lock().is_ok() && std::fs::remove_dir_all(entry.path()).is_ok() {
            removed += 1;
        }
    }
    removed
}

/// The registered paths, and whether each is a folder.
fn registered() -> Vec<(PathBuf, bool)> {
    REGISTRY.lock().unwrap_or_else(|e| e.into_inner()).values().cloned().collect()
}

fn remove(paths: &[(PathBuf, bool)]) {
    for (path, folder) in paths {
        let _ = if *folder { std::fs::remove_dir_all(path) } else { std::fs::remove_file(path) };
    }
}

/// Removes every registered path now. Returns how many were registered.
fn remove_all() -> usize {
    let paths = registered();
    remove(&paths);
    paths.len()
}

/// On SIGINT or SIGTERM: remove the registered paths, say so on standard error, and exit
/// with 128 + the signal number. Call once, from a front door.
pub fn install_signal_handler() -> std::io::Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])?;
    std::thread::Builder::new().name("signals".into()).spawn(move || {
        if let Some(signal) = signals.forever().next() {
            let removed = remove_all();
            let name = if signal == SIGINT { "SIGINT" } else { "SIGTERM" };
            eprintln!("error: stopped by {name}; removed {removed} temporary file(s) and folder(s)");
            std::process::exit(128 + signal);
        }
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_snapshots_go_and_locked_ones_stay() {
        let tmp = tempfile::tempdir().unwrap();
        let (stale, live, other) = (
            tmp.path().join(format!("{SNAPSHOT_PREFIX}dead")),
            tmp.path().join(format!("{SNAPSHOT_PREFIX}alive")),
            tmp.path().join("someone-elses"),
        );
        for d in [&stale, &live, &other] {
            std::fs::create_dir_all(d.join("111111111111/us-east-1")).unwrap();
        }
        let held = std::fs::File::open(&live).unwrap();
        held.lock().unwrap();
        assert_eq!(remove_stale_snapshots(tmp.path()), 1);
        assert!(!stale.exists() && live.exists() && other.exists());
    }

    #[test]
    fn registered_paths_are_removed_and_dropped_guards_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let (file, folder, kept) = (dir.path().join("f.tmp"), dir.path().join("snap"), dir.path().join("kept"));
        std::fs::write(&file, b"x").unwrap();
        std::fs::create_dir_all(folder.join("a/b")).unwrap();
        std::fs::write(&kept, b"x").unwrap();
        let _f = register(&file);
        let _d = register_folder(&folder);
        drop(register(&kept));
        // Only this test's paths: other tests of the process register theirs concurrently.
        let ours: Vec<_> = registered().into_iter().filter(|(p, _)| p.starts_with(dir.path())).collect();
        assert_eq!(ours, [(file.clone(), false), (folder.clone(), true)]);
        remove(&ours);
        assert!(!file.exists() && !folder.exists());
        assert!(kept.exists(), "a path whose guard dropped is not removed");
    }
}
