//! Evaluate stage: AWS Backup Audit Manager's eleven controls over the estate.
//!
//! [`spec`] holds the control definitions (data in `controls/`), [`checks`] the eleven
//! controls as types with typed parameters, [`index`] the estate indexed once for them, and
//! [`engine`] runs them in report order, producing [`verdict`]s. [`cron`], [`selection`], [`policy`] and [`resources`]
//! are the domain rules the controls apply: schedules, backup selections, vault access
//! policies and resource identity.

pub mod checks;
pub mod cron;
pub mod engine;
pub mod index;
pub mod policy;
pub mod resources;
pub mod selection;
pub mod spec;
pub mod verdict;

pub use engine::{
    ControlResult, Counts, EvalError, Evaluation, Evaluator, FrameworkRun, Status, Unit, Verdict, evaluate,
};
pub use spec::{ControlId, ControlSpec, ControlSpecError};

use std::path::PathBuf;

use crate::estate::{Estate, ReadError};

/// The frameworks to evaluate: the estate's own (each in its account and region) and the
/// framework files (in every account and region), kept when `names` is empty or names them.
/// A framework whose `describe-framework` file was not collected is an error of its own; the
/// others still run.
pub fn frameworks_to_run(
    estate: &Estate,
    names: &[String],
    files: &[PathBuf],
) -> Result<(Vec<FrameworkRun>, Vec<EvalError>), ReadError> {
    let wanted = |name: &str| names.is_empty() || names.iter().any(|n| n == name);
    let mut runs = Vec::new();
    let mut errors = Vec::new();
    for f in estate.frameworks.iter().filter(|f| wanted(&f.name) && !estate.scopes[f.scope].reference) {
        match &f.detail {
            Some(detail) => runs.push(FrameworkRun { framework: detail.clone(), scopes: vec![f.scope] }),
            None => errors.push(EvalError::FrameworkNotCollected {
                framework: f.name.clone(),
                account: estate.scopes[f.scope].id.account.clone(),
                region: estate.scopes[f.scope].id.region.clone(),
            }),
        }
    }
    for path in files {
        let bytes = std::fs::read(path).map_err(|source| ReadError::Io { path: path.clone(), source })?;
        let framework: crate::estate::model::Framework = crate::estate::snapshot::parse_json(path, &bytes)?;
        if wanted(&framework.framework_name) {
            let scopes = (0..estate.scopes.len()).filter(|&s| !estate.scopes[s].reference).collect();
            runs.push(FrameworkRun { framework, scopes });
        }
    }
    Ok((runs, errors))
}
