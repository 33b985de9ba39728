//! A local folder as the report destination, with the same keys as S3.
//!
//! Each file is written to a temporary name in its final folder and renamed into place, so a
//! reader never sees a half-written report and a failed run leaves none behind.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::{Sink, SinkError};
use crate::reports::encode::Body;

/// Writes report objects below a root folder.
#[derive(Debug)]
pub struct LocalDir {
    root: PathBuf,
    counter: AtomicU64,
}

impl LocalDir {
    /// A sink rooted at `root` (created on first write).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        LocalDir { root: root.into(), counter: AtomicU64::new(0) }
    }

    fn path(&self, key: &str) -> PathBuf {
        key.split('/').filter(|s| !s.is_empty() && *s != "..").fold(self.root.clone(), |p, s| p.join(s))
    }
}

fn write_atomically(path: &Path, tmp: &Path, body: &Body<'_>) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)?;
    }
    let result = (|| {
        let mut f = fs::File::create(tmp)?;
        for slice in &body.slices {
            f.write_all(slice)?;
        }
        f.sync_all()?;
        fs::rename(tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(tmp);
    }
    result
}

impl Sink for LocalDir {
    fn put(&self, key: &str, body: &Body<'_>, _content_type: &str) -> Result<(), SinkError> {
        let path = self.path(key);
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let name = path.file_name().and_then(|s| s.to_str()).unwrap_or("report");
        let tmp = path.with_file_name(format!(".{name}.tmp-{}-{n}", std::process::id()));
        write_atomically(&path, &tmp, body).map_err(|source| SinkError::Io { path, source })
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

    #[test]
    fn writes_and_overwrites_without_leftovers() {
        let dir = tempfile::tempdir().unwrap();
        let sink = LocalDir::new(dir.path());
        sink.put("a/b/c.csv", &body(&[b"o", b"ne"]), "text/csv").unwrap();
        assert_eq!(fs::read(dir.path().join("a/b/c.csv")).unwrap(), b"one");
        sink.put("a/b/c.csv", &body(&[b"two"]), "text/csv").unwrap();
        assert_eq!(fs::read(dir.path().join("a/b/c.csv")).unwrap(), b"two");
        let names: Vec<_> = fs::read_dir(dir.path().join("a/b")).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }

    #[test]
    fn a_failed_write_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("blocker"), b"file, not folder").unwrap();
        let sink = LocalDir::new(dir.path());
        let err = sink.put("blocker/x.csv", &body(&[b"data"]), "text/csv").unwrap_err();
        assert!(err.to_string().starts_with("cannot write `"), "{err}");
        assert!(!dir.path().join("blocker/x.csv").exists());
    }
}
