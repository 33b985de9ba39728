//! Where the parts live: a local folder or an S3 prefix, read and written by key.
//!
//! Writes go through the report sinks ([`LocalDir`], [`S3Bucket`]), so a part is whole or
//! absent and never written through a symbolic link. A local parts folder is not locked: the
//! shards of one run write into it side by side, each to its own keys.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::reports::encode::Body;
use crate::sinks::s3::S3Bucket;
use crate::sinks::{LocalDir, Sink, SinkError};

/// Objects fetched at once by [`PartsStore::get_many`].
pub const FETCH_CONCURRENCY: usize = 32;

/// A parts folder or S3 prefix.
#[derive(Clone)]
pub enum PartsStore {
    Local { root: PathBuf, sink: Arc<LocalDir> },
    S3(Arc<S3Bucket>),
}

impl std::fmt::Debug for PartsStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.root())
    }
}

impl PartsStore {
    /// A local parts folder (created on the first write).
    pub fn local(root: impl Into<PathBuf>) -> PartsStore {
        let root = root.into();
        PartsStore::Local { sink: Arc::new(LocalDir::beside(&root)), root }
    }

    /// An S3 prefix.
    pub fn s3(bucket: S3Bucket) -> PartsStore {
        PartsStore::S3(Arc::new(bucket))
    }

    /// `PARTS` as given: the folder or `s3://bucket/prefix`.
    pub fn root(&self) -> String {
        match self {
            PartsStore::Local { root, .. } => root.display().to_string(),
            PartsStore::S3(b) => b.root(),
        }
    }

    /// Where `key` is, for messages.
    pub fn location(&self, key: &str) -> String {
        match self {
            PartsStore::Local { sink, .. } => sink.location(key),
            PartsStore::S3(b) => b.location(key),
        }
    }

    /// Writes `bytes` at `key`, whole or not at all.
    pub fn put(&self, key: &str, bytes: &[u8], content_type: &str) -> Result<(), SinkError> {
        let body = Body { slices: vec![bytes], rows: 0 };
        match self {
            PartsStore::Local { sink, .. } => sink.put(key, &body, content_type),
            PartsStore::S3(b) => b.put(key, &body, content_type),
        }
    }

    /// The bytes at `key`, or `None` when nothing is there.
    pub fn get(&self, key: &str) -> Result<Option<Vec<u8>>, SinkError> {
        match self {
            PartsStore::Local { root, .. } => match std::fs::read(root.join(key)) {
                Ok(b) => Ok(Some(b)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(source) => Err(SinkError::Io { path: root.join(key), source }),
            },
            PartsStore::S3(b) => b.get(key),
        }
    }

    /// The bytes at each of `keys`, fetched [`FETCH_CONCURRENCY`] at a time (S3 latency, not
    /// bandwidth, bounds a merge of thousands of small parts), in the order of `keys`.
    pub fn get_many(&self, keys: &[&str]) -> Vec<Result<Option<Vec<u8>>, SinkError>> {
        let mut out = Vec::with_capacity(keys.len());
        for window in keys.chunks(FETCH_CONCURRENCY) {
            let got: Vec<_> = std::thread::scope(|scope| {
                let handles: Vec<_> = window.iter().map(|k| scope.spawn(move || self.get(k))).collect();
                handles.into_iter().map(|h| h.join().expect("a fetch thread does not panic")).collect()
            });
            out.extend(got);
        }
        out
    }

    /// Every key below `prefix`, sorted (temporary files of unfinished writes left out).
    pub fn list(&self, prefix: &str) -> Result<Vec<String>, SinkError> {
        Ok(self.list_sizes(prefix)?.into_iter().map(|(k, _)| k).collect())
    }

    /// Every key below `prefix` with its size in bytes, sorted.
    pub fn list_sizes(&self, prefix: &str) -> Result<Vec<(String, u64)>, SinkError> {
        match self {
            PartsStore::Local { root, .. } => {
                let mut keys = Vec::new();
                walk(root, &root.join(prefix), &mut keys)?;
                keys.sort();
                Ok(keys)
            }
            PartsStore::S3(b) => b.list_sizes(prefix),
        }
    }

    /// Removes `key`; nothing to remove is fine.
    pub fn delete(&self, key: &str) -> Result<(), SinkError> {
        match self {
            PartsStore::Local { root, .. } => match std::fs::remove_file(root.join(key)) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(source) => Err(SinkError::Io { path: root.join(key), source }),
            },
            PartsStore::S3(b) => b.delete(key),
        }
    }
}

fn walk(root: &Path, dir: &Path, keys: &mut Vec<(String, u64)>) -> Result<(), SinkError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(source) => return Err(SinkError::Io { path: dir.to_path_buf(), source }),
    };
    for entry in entries {
        let entry = entry.map_err(|source| SinkError::Io { path: dir.to_path_buf(), source })?;
        let path = entry.path();
        let kind = entry.file_type().map_err(|source| SinkError::Io { path: path.clone(), source })?;
        if kind.is_dir() {
            walk(root, &path, keys)?;
        } else if kind.is_file() && !entry.file_name().to_string_lossy().ends_with(".tmp") {
            let rel = path.strip_prefix(root).unwrap_or(&path);
            let len = entry.metadata().map_err(|source| SinkError::Io { path: path.clone(), source })?.len();
            keys.push((rel.to_string_lossy().replace(std::path::MAIN_SEPARATOR, "/"), len));
        }
    }
    Ok(())
}
