//! Evaluate stage: AWS Backup Audit Manager's eleven controls over the estate.
//!
//! [`spec`] holds the control definitions (data in `controls/`), [`engine`] evaluates them,
//! and [`cron`], [`selection`], [`policy`] and [`resources`] are the domain rules the engine
//! applies: schedules, backup selections, vault access policies and resource identity.

pub mod cron;
pub mod engine;
pub mod policy;
pub mod resources;
pub mod selection;
pub mod spec;

pub use engine::{ControlId, ControlResult, EvalError, Evaluation, FrameworkRun, Status, Verdict, evaluate};
pub use spec::{ControlSpec, ControlSpecError};
