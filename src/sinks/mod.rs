//! Deliver stage: where rendered reports go.

pub mod local_dir;

pub use local_dir::LocalDir;

/// Errors of the deliver stage.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// Writing a report file failed; no partial file is left behind.
    #[error("cannot write `{path}`")]
    Io {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Writing to standard output failed.
    #[error("cannot write the report to standard output")]
    Stdout(#[source] std::io::Error),
}

/// A destination for report objects, addressed by key.
pub trait Sink: Sync {
    /// Stores the concatenation of `parts` under `key`, completely or not at all.
    fn put(&self, key: &str, parts: &[Vec<u8>]) -> Result<(), SinkError>;
    /// Where `key` ends up, for logs and summaries.
    fn location(&self, key: &str) -> String;
}
