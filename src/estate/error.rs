//! Errors of the estate stage: reading an estate snapshot.

use std::path::PathBuf;

/// Why an estate could not be read. Every variant names the file; JSON errors name the path
/// inside it (`$.BackupJobs[3].CreationDate`) and say what was expected.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The file or folder could not be read.
    #[error("cannot read `{path}`")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid JSON, or a field has the wrong type or is missing.
    #[error("`{path}` at `{json_path}`: {message}")]
    Json { path: PathBuf, json_path: String, message: String },
    /// The folder does not follow the estate layout.
    #[error("`{path}`: {message}")]
    Layout { path: PathBuf, message: String },
    /// The file is not UTF-8 (a UTF-8 byte-order mark is fine).
    #[error("`{path}` is {found}; expected UTF-8 JSON")]
    Encoding { path: PathBuf, found: String },
}

impl ReadError {
    /// Every read error is bad input: the snapshot, a plan file or a framework file is wrong.
    pub fn kind(&self) -> crate::problem::Kind {
        crate::problem::Kind::BadInput
    }
}
