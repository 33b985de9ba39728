//! A local folder as the report destination, with the same keys as S3.
//!
//! What this sink guarantees, and how (the README's "Security" section says the same):
//!
//! - **Whole files only.** Each report is written to a new temporary file in its final folder,
//!   synced, and renamed into place, so a reader never sees a half-written report.
//! - **No writes through links.** The temporary file is created exclusively (`O_EXCL`) under
//!   an unpredictable short name (`.ba-XXXXXXXX.tmp`, the `tempfile` crate), so a link planted
//!   in the folder cannot redirect it, and any legal final name fits beside it. The rename
//!   replaces a link at the final name instead of writing through it. Folders below the root
//!   that are symbolic links are refused, so nothing lands outside `--out`.
//! - **One run at a time.** Before the first write the sink takes an advisory lock (`flock`)
//!   on the root folder itself, so no lock file is left among the reports; a second run into
//!   the same root fails at once with [`SinkError::Locked`] instead of interleaving its files
//!   with the first one's. The lock goes with the process, however it ends.
//! - **No leftovers.** Holding the lock, the sink removes temporary files that earlier,
//!   interrupted runs left below the root (nobody else can be writing them). A temporary file
//!   of this run is removed when its write fails and, through [`crate::cleanup`], when the
//!   process is stopped by SIGINT or SIGTERM.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use super::{Sink, SinkError};
use crate::reports::encode::Body;

/// Temporary report files: `.ba-` + 8 random characters + `.tmp`.
const TMP_PREFIX: &str = ".ba-";
const TMP_SUFFIX: &str = ".tmp";

/// Writes report objects below a root folder.
#[derive(Debug)]
pub struct LocalDir {
    root: PathBuf,
    /// The held lock (kept open for the sink's lifetime), once taken.
    lock: OnceLock<Result<fs::File, String>>,
    /// Stale temporary files removed when the lock was taken.
    removed: std::sync::atomic::AtomicUsize,
    /// A folder that is not the run's own (see [`LocalDir::beside`]).
    shared: bool,
}

impl LocalDir {
    /// A sink rooted at `root` (created on first write).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        LocalDir { root: root.into(), lock: OnceLock::new(), removed: Default::default(), shared: false }
    }

    /// A sink for single files in a folder that is not the run's own (`summary --out
    /// ~/summary.html`): each file is still written whole and atomically, but the folder is not
    /// locked and nothing below it is swept for temporary files.
    pub fn beside(dir: impl Into<PathBuf>) -> Self {
        LocalDir { shared: true, ..LocalDir::new(dir) }
    }

    /// The key's segments below the root; empty segments and `..` are dropped, so a key never
    /// leaves the root.
    fn segments(key: &str) -> impl Iterator<Item = &str> {
        key.split('/').filter(|s| !s.is_empty() && *s != "." && *s != "..")
    }

    fn path(&self, key: &str) -> PathBuf {
        Self::segments(key).fold(self.root.clone(), |p, s| p.join(s))
    }

    /// Takes the root's lock (once) and removes stale temporary files. Idempotent.
    pub fn prepare(&self) -> Result<(), SinkError> {
        if self.shared {
            return fs::create_dir_all(&self.root).map_err(|source| SinkError::Io { path: self.root.clone(), source });
        }
        let taken = self.lock.get_or_init(|| self.take_lock().map_err(|e| e.to_string()));
        match taken {
            Ok(_) => Ok(()),
            Err(message) => Err(SinkError::Locked { root: self.root.clone(), message: message.clone() }),
        }
    }

    /// How many temporary files of earlier runs were removed when the lock was taken.
    #[cfg(test)]
    fn stale_removed(&self) -> usize {
        self.removed.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn take_lock(&self) -> std::io::Result<fs::File> {
        fs::create_dir_all(&self.root)?;
        let file = fs::File::open(&self.root)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                return Err(std::io::Error::other(
                    "another backup-audit run is writing to this folder (it holds the folder's lock); wait for it to finish or choose another --out",
                ));
            }
            Err(fs::TryLockError::Error(e)) => return Err(e),
        }
        let removed = remove_stale(&self.root);
        if removed > 0 {
            tracing::warn!(root = %self.root.display(), removed, "removed temporary files left by an interrupted run");
        }
        self.removed.store(removed, std::sync::atomic::Ordering::Relaxed);
        Ok(file)
    }

    /// Creates the key's folders one by one below the root, refusing symbolic links and
    /// non-folders among them.
    fn make_parents(&self, key: &str) -> Result<PathBuf, SinkError> {
        let segments: Vec<&str> = Self::segments(key).collect();
        let mut dir = self.root.clone();
        for s in &segments[..segments.len().saturating_sub(1)] {
            dir.push(s);
            let io = |source| SinkError::Io { path: dir.clone(), source };
            match fs::symlink_metadata(&dir) {
                Ok(m) if m.file_type().is_symlink() => {
                    return Err(SinkError::Unsafe {
                        path: dir.clone(),
                        message:
                            "is a symbolic link; backup-audit does not write through links below the output folder"
                                .into(),
                    });
                }
                Ok(m) if m.is_dir() => {}
                Ok(_) => return Err(io(std::io::Error::other("a file is in the way of a report folder"))),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => match fs::create_dir(&dir) {
                    Ok(()) => {}
                    // Another thread of this run made it in the meantime: check it again.
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                        if !fs::symlink_metadata(&dir).map_err(io)?.is_dir() {
                            return Err(io(e));
                        }
                    }
                    Err(e) => return Err(io(e)),
                },
                Err(e) => return Err(io(e)),
            }
        }
        Ok(dir)
    }
}

/// Whether a file name is one of our temporary names: today's `.ba-XXXXXXXX.tmp`, or the
/// `.NAME.tmp-PID-N` of versions before it.
fn is_temporary(name: &str) -> bool {
    (name.starts_with(TMP_PREFIX) && name.ends_with(TMP_SUFFIX))
        || (name.starts_with('.') && name.rsplit_once(".tmp-").is_some_and(|(_, tail)| tail.contains('-')))
}

/// Removes temporary report files below `root`, and links planted at such names (removing a
/// link never touches its target; folders that are links are not entered). Returns how many.
fn remove_stale(root: &Path) -> usize {
    let mut removed = 0;
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let Ok(kind) = entry.file_type() else { continue };
            if kind.is_dir() {
                stack.push(entry.path());
            } else if (kind.is_file() || kind.is_symlink())
                && entry.file_name().to_str().is_some_and(is_temporary)
                && fs::remove_file(entry.path()).is_ok()
            {
                removed += 1;
            }
        }
    }
    removed
}

fn write_atomically(dir: &Path, path: &Path, body: &Body<'_>) -> std::io::Result<()> {
    let mut tmp = tempfile::Builder::new().prefix(TMP_PREFIX).suffix(TMP_SUFFIX).rand_bytes(8).tempfile_in(dir)?;
    let _registered = crate::cleanup::register(tmp.path());
    for slice in &body.slices {
        tmp.write_all(slice)?;
    }
    tmp.as_file().sync_all()?;
    // rename(2): replaces whatever is at `path` (a link included) without following it. On
    // error the temporary file is removed when `tmp` drops.
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// A report written piece by piece: into a new temporary file in its final folder, synced and
/// renamed into place when committed (the same guarantees as [`LocalDir::put`]). Dropped
/// without a commit, the temporary file is removed.
pub struct LocalObject {
    root: PathBuf,
    dir: PathBuf,
    file: std::io::BufWriter<tempfile::NamedTempFile>,
    _registered: crate::cleanup::Registered,
}

impl super::ObjectWriter for LocalObject {
    fn write(&mut self, bytes: &[u8]) -> Result<(), SinkError> {
        self.file.write_all(bytes).map_err(|source| SinkError::Io { path: self.dir.clone(), source })
    }

    fn commit(self: Box<Self>, key: &str) -> Result<(), SinkError> {
        let path = LocalDir::segments(key).fold(self.root.clone(), |p, s| p.join(s));
        let io = |source| SinkError::Io { path: path.clone(), source };
        if path.parent() != Some(self.dir.as_path()) {
            return Err(io(std::io::Error::other("a streamed report is committed in the folder it was opened in")));
        }
        let tmp = self.file.into_inner().map_err(|e| io(e.into_error()))?;
        tmp.as_file().sync_all().map_err(io)?;
        tmp.persist(&path).map_err(|e| io(e.error))?;
        Ok(())
    }
}

impl Sink for LocalDir {
    fn writer(&self, key: &str) -> Option<Result<Box<dyn super::ObjectWriter>, SinkError>> {
        let open = || -> Result<Box<dyn super::ObjectWriter>, SinkError> {
            self.prepare()?;
            let path = self.path(key);
            if path == self.root {
                return Err(SinkError::Io { path, source: std::io::Error::other("the key names no file") });
            }
            let dir = self.make_parents(key)?;
            let tmp = tempfile::Builder::new()
                .prefix(TMP_PREFIX)
                .suffix(TMP_SUFFIX)
                .rand_bytes(8)
                .tempfile_in(&dir)
                .map_err(|source| SinkError::Io { path: path.clone(), source })?;
            let registered = crate::cleanup::register(tmp.path());
            Ok(Box::new(LocalObject {
                root: self.root.clone(),
                dir,
                file: std::io::BufWriter::with_capacity(1 << 20, tmp),
                _registered: registered,
            }))
        };
        Some(open())
    }

    fn put(&self, key: &str, body: &Body<'_>, _content_type: &str) -> Result<(), SinkError> {
        self.prepare()?;
        let path = self.path(key);
        if path == self.root {
            return Err(SinkError::Io { path, source: std::io::Error::other("the key names no file") });
        }
        let dir = self.make_parents(key)?;
        write_atomically(&dir, &path, body).map_err(|source| SinkError::Io { path, source })
    }

    fn prepare(&self) -> Result<(), SinkError> {
        LocalDir::prepare(self)
    }

    fn location(&self, key: &str) -> String {
        self.path(key).display().to_string()
    }

    fn root(&self) -> String {
        self.root.display().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body<'a>(slices: &[&'a [u8]]) -> Body<'a> {
        Body { slices: slices.to_vec(), rows: 0 }
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<_> = fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        v.sort();
        v
    }

    #[test]
    fn writes_and_overwrites_without_leftovers() {
        let dir = tempfile::tempdir().unwrap();
        let sink = LocalDir::new(dir.path());
        sink.put("a/b/c.csv", &body(&[b"o", b"ne"]), "text/csv").unwrap();
        assert_eq!(fs::read(dir.path().join("a/b/c.csv")).unwrap(), b"one");
        sink.put("a/b/c.csv", &body(&[b"two"]), "text/csv").unwrap();
        assert_eq!(fs::read(dir.path().join("a/b/c.csv")).unwrap(), b"two");
        assert_eq!(names(&dir.path().join("a/b")), ["c.csv"]);
    }

    #[test]
    fn a_file_beside_others_neither_locks_nor_sweeps_the_folder() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("sub")).unwrap();
        // Someone else's files that look like ours, and a run holding the folder's lock.
        fs::write(dir.path().join(".ba-12345678.tmp"), b"x").unwrap();
        fs::write(dir.path().join("sub/.ba-87654321.tmp"), b"y").unwrap();
        let run = LocalDir::new(dir.path().join("sub"));
        run.prepare().unwrap();
        let sink = LocalDir::beside(dir.path());
        sink.put("summary.html", &body(&[b"<!DOCTYPE html>"]), "text/html").unwrap();
        assert_eq!(fs::read(dir.path().join("summary.html")).unwrap(), b"<!DOCTYPE html>");
        assert_eq!(names(dir.path()), [".ba-12345678.tmp", "sub", "summary.html"], "nothing swept");
        assert_eq!(sink.stale_removed(), 0);
        // A second one into the same folder is not refused either.
        LocalDir::beside(dir.path()).put("summary.html", &body(&[b"again"]), "text/html").unwrap();
        assert_eq!(fs::read(dir.path().join("summary.html")).unwrap(), b"again");
    }

    #[test]
    fn a_streamed_report_appears_whole_on_commit_and_not_at_all_without() {
        let dir = tempfile::tempdir().unwrap();
        let sink = LocalDir::new(dir.path());
        let mut w = sink.writer("a/r.csv").unwrap().unwrap();
        w.write(b"he").unwrap();
        w.write(b"ad\r\n").unwrap();
        assert_eq!(names(&dir.path().join("a")).len(), 1, "only the temporary file so far");
        assert!(!dir.path().join("a/r_1.csv").exists());
        w.commit("a/r_1.csv").unwrap();
        assert_eq!(fs::read(dir.path().join("a/r_1.csv")).unwrap(), b"head\r\n");
        let mut w = sink.writer("a/r.csv").unwrap().unwrap();
        w.write(b"lost").unwrap();
        drop(w);
        assert_eq!(names(&dir.path().join("a")), ["r_1.csv"]);
        let w = sink.writer("a/r.csv").unwrap().unwrap();
        let err = w.commit("b/r.csv").unwrap_err();
        assert!(err.to_string().contains("b/r.csv"), "{err}");
        assert!(!dir.path().join("b").exists());
    }

    #[test]
    fn a_failed_write_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("blocker"), b"file, not folder").unwrap();
        let sink = LocalDir::new(dir.path());
        let err = sink.put("blocker/x.csv", &body(&[b"data"]), "text/csv").unwrap_err();
        assert!(err.to_string().starts_with("cannot write `"), "{err}");
        assert!(!dir.path().join("blocker/x.csv").exists());
        assert_eq!(names(dir.path()), ["blocker"]);
    }

    #[test]
    fn a_link_at_the_final_name_is_replaced_not_written_through() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let victim = outside.path().join("victim");
        fs::write(&victim, b"precious").unwrap();
        fs::create_dir_all(dir.path().join("a")).unwrap();
        std::os::unix::fs::symlink(&victim, dir.path().join("a/r.csv")).unwrap();
        LocalDir::new(dir.path()).put("a/r.csv", &body(&[b"report"]), "text/csv").unwrap();
        assert_eq!(fs::read(&victim).unwrap(), b"precious");
        let meta = fs::symlink_metadata(dir.path().join("a/r.csv")).unwrap();
        assert!(meta.file_type().is_file(), "the final name is a plain file again");
        assert_eq!(fs::read(dir.path().join("a/r.csv")).unwrap(), b"report");
    }

    #[test]
    fn a_linked_folder_below_the_root_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("Backup")).unwrap();
        let err = LocalDir::new(dir.path()).put("Backup/x/r.csv", &body(&[b"r"]), "text/csv").unwrap_err();
        assert!(err.to_string().contains("is a symbolic link"), "{err}");
        assert!(names(outside.path()).is_empty());
    }

    #[test]
    fn long_final_names_fit() {
        let dir = tempfile::tempdir().unwrap();
        let name = format!("{}.csv", "p".repeat(251));
        LocalDir::new(dir.path()).put(&format!("a/{name}"), &body(&[b"r"]), "text/csv").unwrap();
        assert_eq!(names(&dir.path().join("a")), [name]);
    }

    #[test]
    fn a_second_sink_on_the_same_root_is_locked_out() {
        let dir = tempfile::tempdir().unwrap();
        let first = LocalDir::new(dir.path());
        first.prepare().unwrap();
        let err = LocalDir::new(dir.path()).put("r.csv", &body(&[b"r"]), "text/csv").unwrap_err();
        assert!(matches!(err, SinkError::Locked { .. }), "{err}");
        assert!(err.to_string().contains("another backup-audit run"), "{err}");
        drop(first);
        LocalDir::new(dir.path()).put("r.csv", &body(&[b"r"]), "text/csv").unwrap();
    }

    #[test]
    fn stale_temporary_files_are_removed_under_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("a/b")).unwrap();
        for stale in ["a/b/.ba-abcdefgh.tmp", "a/.r.csv.tmp-123-4", ".manifest.json.tmp-9-0"] {
            fs::write(dir.path().join(stale), b"half").unwrap();
        }
        fs::write(dir.path().join("a/.keep"), b"not ours").unwrap();
        let sink = LocalDir::new(dir.path());
        sink.prepare().unwrap();
        assert_eq!(sink.stale_removed(), 3);
        assert_eq!(names(&dir.path().join("a")), [".keep", "b"]);
        assert!(names(&dir.path().join("a/b")).is_empty());
    }
}
