//! backup-audit: AWS Backup Audit Manager's reports, computed from AWS or from an estate
//! snapshot, with a reason for every verdict.
//!
//! The modules below are listed in data-flow order. [`lambda`] imports the pipeline, the
//! pipeline imports [`config`] and the stages, a stage imports only the stages before it, and
//! every one of them may import the modules below everything:
//!
//! - [`lambda`]: the Lambda front door's event and environment, translated into a [`Config`];
//! - [`pipeline`]: the one place that knows the order of the stages, and the [`Outcome`];
//! - [`config`]: the one configuration of a run;
//! - the stages: [`collect`] (AWS → snapshot), [`estate`] (snapshot → records), [`frames`]
//!   (job records → DataFrames for the job reports), [`controls`] (evaluate), [`reports`]
//!   (render), [`summary`] (the run's one-page HTML summary), [`sinks`] (deliver, streamed),
//!   [`manifest`] (the run's evidence), [`parts`] (an organisation run's shards as Parquet);
//! - beside them: [`generate`] (synthetic snapshots for demos and benchmarks);
//! - below everything: [`arn`], [`layout`] (the snapshot's folder layout), [`window`], [`time`],
//!   [`cleanup`] (what an interrupted run leaves behind) and [`problem`] (kinds of problem
//!   and exit codes).
//!
//! The clock is an input: the front doors read it once and hand it to [`Pipeline::new`]; the
//! same estate and `now` give the same bytes.

pub mod lambda;
pub mod pipeline;

pub mod config;

pub mod collect;
pub mod controls;
pub mod estate;
pub mod frames;
pub mod manifest;
pub mod parts;
pub mod reports;
pub mod sinks;
pub mod summary;

pub mod generate;

pub mod arn;
pub mod cleanup;
pub mod layout;
pub mod problem;
pub mod time;
pub mod window;

pub use config::{AwsSource, Config, DEFAULT_MAX_OBJECT_BYTES, Source};
pub use pipeline::{EvaluateFormat, Goal, Outcome, Pipeline, Problem};
