//! What a run did: the objects delivered, each plan's status, the problems met (typed, by
//! stage), the timings, and the run manifest built from them.

use std::path::PathBuf;
use std::time::Duration;

use crate::collect::{CollectError, Collected};
use crate::controls::{ControlSpecError, EvalError};
use crate::estate::{Inputs, NotCollected, ReadError};
use crate::frames::FrameError;
use crate::manifest;
use crate::problem::{self, DisplayChain, Kind};
use crate::reports::template::TemplateError;
use crate::reports::{Format, PlanError, PlannedReport, RenderError};
use crate::sinks::SinkError;
use crate::time::{self, Millis};
use crate::window::Window;

/// A problem of one stage. The run stops on some ([`crate::pipeline::Pipeline::run`]'s
/// error) and carries on past others ([`Outcome::problems`]); each has a [`Kind`] and names
/// its context (file and JSON path, plan, framework and control, account and region).
#[derive(Debug, thiserror::Error)]
pub enum Problem {
    /// Live collection could not start or write its snapshot.
    #[error(transparent)]
    Collect(#[from] CollectError),
    /// The snapshot, a plan file or a framework file could not be read.
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error(transparent)]
    Frames(#[from] FrameError),
    /// The control definitions are wrong.
    #[error(transparent)]
    ControlSpec(#[from] ControlSpecError),
    /// A framework control could not be evaluated; the others were.
    #[error(transparent)]
    Evaluate(#[from] EvalError),
    #[error(transparent)]
    Template(#[from] TemplateError),
    /// A report plan could not run; the others did.
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error(transparent)]
    Render(#[from] RenderError),
    /// An object was not delivered.
    #[error(transparent)]
    Deliver(#[from] SinkError),
    /// A command of the layout is missing for an account and region.
    #[error(transparent)]
    NotCollected(NotCollected),
    /// What the live collector could not collect (`snapshot.json` `Failures`).
    #[error("{0}")]
    CollectionFailure(String),
    /// A setting or argument is wrong.
    #[error("{0}")]
    BadInput(String),
    /// The parts of an organisation run cannot be read or written, or a shard is missing.
    #[error(transparent)]
    Parts(#[from] crate::parts::PartsError),
    /// A problem a shard met and recorded in its `_DONE.json`, reported again by `merge`.
    #[error("{message}")]
    Shard { kind: Kind, message: String },
    /// The tool could not set itself up (a runtime, a temporary folder).
    #[error("{0}")]
    Setup(String),
}

impl Problem {
    pub(crate) fn setup(message: impl Into<String>) -> Problem {
        Problem::Setup(message.into())
    }

    /// What kind of problem this is; the exit code follows from it.
    pub fn kind(&self) -> Kind {
        match self {
            Problem::Collect(e) => e.kind(),
            Problem::Read(e) => e.kind(),
            Problem::Frames(e) => e.kind(),
            Problem::ControlSpec(e) => e.kind(),
            Problem::Evaluate(e) => e.kind(),
            Problem::Template(e) => e.kind(),
            Problem::Plan(e) => e.kind(),
            Problem::Render(e) => e.kind(),
            Problem::Deliver(e) => e.kind(),
            Problem::NotCollected(_) | Problem::CollectionFailure(_) => Kind::NotCollected,
            Problem::BadInput(_) => Kind::BadInput,
            Problem::Parts(e) => e.kind(),
            Problem::Shard { kind, .. } => *kind,
            Problem::Setup(_) => Kind::Failed,
        }
    }

    /// The exit code of a run that stopped on this problem.
    pub fn exit_code(&self) -> u8 {
        problem::exit_code([self.kind()], false)
    }
}

/// How long each stage took.
#[derive(Debug, Clone, Copy, Default)]
pub struct Timings {
    pub collect: Duration,
    pub load: Duration,
    pub frames: Duration,
    pub evaluate: Duration,
    pub render: Duration,
    pub write: Duration,
}

/// One object that was delivered.
#[derive(Debug, Clone)]
pub struct Delivered {
    pub plan: String,
    pub template: String,
    pub format: Format,
    pub key: String,
    pub location: String,
    /// Part number (from 1) and part count; 1 of 1 for a report that was not split.
    pub part: usize,
    pub parts: usize,
    pub rows: usize,
    pub bytes: usize,
    pub sha256: String,
}

/// What became of one report plan.
#[derive(Debug, Clone)]
pub struct PlanOutcome {
    pub name: String,
    /// The key's account segment (an account id or `crossaccount`; empty for invalid plans).
    pub account: String,
    /// The key's region segment (a region or `crossregion`; empty for invalid plans).
    pub region: String,
    pub template: Option<String>,
    pub status: PlanStatus,
    /// Objects delivered.
    pub objects: usize,
    pub errors: Vec<String>,
}

impl PlanOutcome {
    /// A plan that did not run because of its own content.
    pub(crate) fn invalid(e: &PlanError) -> PlanOutcome {
        PlanOutcome {
            name: e.plan().to_string(),
            account: String::new(),
            region: String::new(),
            template: None,
            status: PlanStatus::Invalid,
            objects: 0,
            errors: vec![DisplayChain(e).to_string()],
        }
    }

    /// A plan about to be delivered.
    pub(crate) fn planned(p: &PlannedReport) -> PlanOutcome {
        PlanOutcome {
            name: p.plan.report_plan_name.clone(),
            account: p.account_segment.clone().unwrap_or_else(|| "crossaccount".into()),
            region: p.region_segment.clone().unwrap_or_else(|| "crossregion".into()),
            template: Some(p.template.name.clone()),
            status: PlanStatus::Delivered,
            objects: 0,
            errors: Vec::new(),
        }
    }
}

/// The status of one report plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlanStatus {
    /// Every report of the plan was delivered.
    Delivered,
    /// Some report could not be rendered or written.
    Failed,
    /// The plan is wrong (template, format, scope) and did not run.
    Invalid,
    /// Every report was delivered, but an input it is built from was not collected for an
    /// account and region it covers.
    Incomplete,
}

impl PlanStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PlanStatus::Delivered => "delivered",
            PlanStatus::Failed => "failed",
            PlanStatus::Invalid => "invalid",
            PlanStatus::Incomplete => "incomplete",
        }
    }
}

/// Where the estate was read from.
#[derive(Debug, Clone)]
pub struct SourceInfo {
    /// Whether it was collected live (`--source aws`).
    pub live: bool,
    /// The snapshot folder read (a temporary one is gone when the run returns).
    pub location: PathBuf,
}

/// What a run did.
#[derive(Debug)]
pub struct Outcome {
    pub now: Millis,
    pub window: Window,
    pub source: SourceInfo,
    /// What live collection did, when the source was AWS.
    pub collected: Option<Collected>,
    pub plans: Vec<PlanOutcome>,
    pub delivered: Vec<Delivered>,
    /// Problems the run carried on past, in the order met: collection, plans, evaluation,
    /// delivery.
    pub problems: Vec<Problem>,
    pub warnings: Vec<String>,
    pub timings: Timings,
    /// Whether any evaluated control is NON_COMPLIANT.
    pub non_compliant: bool,
    /// The files the estate was read from.
    pub inputs: Inputs,
    /// Where the run manifest was written (one per root the run wrote to).
    pub manifests: Vec<String>,
    /// The run's summary (`run` and `summary`).
    pub summary: Option<crate::summary::Summary>,
    /// Where the summary page was written (one per root, like the manifest).
    pub summaries: Vec<String>,
    /// What `plan` and `shard` wrote to the parts: the plan files, each scope's `_DONE.json`.
    pub parts: Vec<String>,
}

impl Outcome {
    pub(crate) fn new(now: Millis, window: Window, source: SourceInfo) -> Outcome {
        Outcome {
            now,
            window,
            source,
            collected: None,
            plans: Vec::new(),
            delivered: Vec::new(),
            problems: Vec::new(),
            warnings: Vec::new(),
            timings: Timings::default(),
            non_compliant: false,
            inputs: Inputs::default(),
            manifests: Vec::new(),
            summary: None,
            parts: Vec::new(),
            summaries: Vec::new(),
        }
    }

    /// The kinds of the problems met, NON_COMPLIANT included.
    pub fn kinds(&self) -> impl Iterator<Item = Kind> + '_ {
        self.problems.iter().map(Problem::kind).chain(self.non_compliant.then_some(Kind::NonCompliant))
    }

    /// The process exit code ([`problem::exit_code`]); NON_COMPLIANT counts only with
    /// `fail_on_noncompliant`.
    pub fn exit_code(&self, fail_on_noncompliant: bool) -> u8 {
        problem::exit_code(self.kinds(), fail_on_noncompliant)
    }

    /// Whether every planned report was delivered from a fully collected estate.
    pub fn complete(&self) -> bool {
        !self.kinds().any(|k| matches!(k, Kind::DeliveryFailed | Kind::NotCollected))
            && self.plans.iter().all(|p| p.status == PlanStatus::Delivered)
    }

    /// The problems that are not "not collected", as their messages with sources.
    pub fn failures(&self) -> impl Iterator<Item = String> + '_ {
        self.problems.iter().filter(|p| !matches!(p, Problem::NotCollected(_))).map(|p| DisplayChain(p).to_string())
    }

    /// The commands of the layout that were not collected.
    pub fn not_collected(&self) -> impl Iterator<Item = &NotCollected> {
        self.problems.iter().filter_map(|p| match p {
            Problem::NotCollected(n) => Some(n),
            _ => None,
        })
    }

    /// The run manifest.
    pub fn manifest(&self) -> manifest::Manifest {
        let t = self.timings;
        let ms = |d: Duration| d.as_millis() as u64;
        manifest::Manifest {
            tool: manifest::Tool::default(),
            status: if self.complete() { "complete" } else { "incomplete" },
            now: time::format_millis(self.now),
            window: manifest::window_info((self.window.start, self.window.end)),
            source: manifest::Source {
                kind: if self.source.live { "aws" } else { "snapshot" },
                location: self.source.location.display().to_string(),
                files: self.inputs.files,
                bytes: self.inputs.bytes,
                sha256: self.inputs.sha256.clone(),
            },
            plans: self
                .plans
                .iter()
                .map(|p| manifest::PlanStatus {
                    name: p.name.clone(),
                    account: p.account.clone(),
                    region: p.region.clone(),
                    template: p.template.clone(),
                    status: p.status.as_str(),
                    objects: p.objects,
                    errors: p.errors.clone(),
                })
                .collect(),
            objects: self
                .delivered
                .iter()
                .map(|d| manifest::Object {
                    location: d.location.clone(),
                    key: d.key.clone(),
                    plan: d.plan.clone(),
                    template: d.template.clone(),
                    format: d.format.extension().to_uppercase(),
                    part: d.part,
                    parts: d.parts,
                    rows: d.rows,
                    bytes: d.bytes,
                    sha256: d.sha256.clone(),
                })
                .collect(),
            not_collected: self
                .not_collected()
                .map(|n| manifest::NotCollected {
                    account: n.account.clone(),
                    region: n.region.clone(),
                    command: n.dataset.command().to_string(),
                    reason: n.reason.clone(),
                })
                .collect(),
            failures: self.failures().collect(),
            warnings: self.warnings.clone(),
            timings_ms: manifest::TimingsMs {
                load: ms(t.load),
                frames: ms(t.frames),
                evaluate: ms(t.evaluate),
                render: ms(t.render),
                write: ms(t.write),
            },
        }
    }
}
