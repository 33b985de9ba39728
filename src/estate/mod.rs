//! Estate stage: the estate, read from a snapshot folder.
//!
//! An [`Estate`] is everything known about the AWS Backup estate of some accounts and
//! regions, as typed records. It also remembers which datasets were collected for each
//! account and region ([`Scope::collected`]), so that later stages can tell "there are none"
//! from "nobody looked": a missing file is never read as an empty, compliant list.

pub mod error;
pub mod jobs;
pub mod model;
pub mod snapshot;

use std::collections::{BTreeMap, BTreeSet};

pub use crate::layout::Dataset;
pub use error::ReadError;
pub use jobs::{BackupJobRow, CopyJobRow, JobFilter, JobHistory, JobKind, JobOutcome, RestoreJobRow};
pub use snapshot::{ReadOptions, read};

use model::{
    BackupRule, BackupSelection, BackupVault, Framework, ProtectedResource, RecoveryPoint, ReportPlan, TaggedResource,
};

/// One account and region.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ScopeId {
    pub account: String,
    pub region: String,
}

/// One account and region of the estate, and the datasets collected for it.
#[derive(Debug, Clone)]
pub struct Scope {
    pub id: ScopeId,
    pub collected: BTreeSet<Dataset>,
    /// Read only for facts that cross scopes (a shard's view of the other scopes, see
    /// [`snapshot::REFERENCE_DATASETS`]): never evaluated, never reported.
    pub reference: bool,
}

/// A backup vault with its access policy, if one was collected.
#[derive(Debug, Clone)]
pub struct Vault {
    pub scope: usize,
    pub vault: BackupVault,
    pub policy: Option<String>,
}

/// A backup plan; `rules` is `None` when its `get-backup-plan` file was not collected.
#[derive(Debug, Clone)]
pub struct Plan {
    pub scope: usize,
    pub id: String,
    pub arn: Option<String>,
    pub name: Option<String>,
    pub version: Option<String>,
    pub rules: Option<Vec<BackupRule>>,
}

/// A backup selection; `selection` is `None` when its `get-backup-selection` file is missing.
#[derive(Debug, Clone)]
pub struct Selection {
    pub scope: usize,
    pub plan_id: String,
    pub selection_id: String,
    pub selection: Option<BackupSelection>,
}

/// A framework; `detail` is `None` when its `describe-framework` file is missing.
#[derive(Debug, Clone)]
pub struct FrameworkEntry {
    pub scope: usize,
    pub name: String,
    pub arn: Option<String>,
    pub detail: Option<Framework>,
}

/// Everything read from one estate snapshot. Row vectors are in a deterministic order.
#[derive(Debug, Clone, Default)]
pub struct Estate {
    pub scopes: Vec<Scope>,
    pub backup_jobs: Vec<BackupJobRow>,
    pub copy_jobs: Vec<CopyJobRow>,
    pub restore_jobs: Vec<RestoreJobRow>,
    pub vaults: Vec<Vault>,
    pub recovery_points: Vec<(usize, RecoveryPoint)>,
    pub plans: Vec<Plan>,
    pub selections: Vec<Selection>,
    pub protected_resources: Vec<(usize, ProtectedResource)>,
    pub inventory: Vec<(usize, TaggedResource)>,
    /// EC2 instance id → state name (`running`, `stopped`, …), per scope.
    pub instance_states: BTreeMap<(usize, String), String>,
    pub frameworks: Vec<FrameworkEntry>,
    pub report_plans: Vec<(usize, ReportPlan)>,
    /// Account id → its AWS Organizations path (`r-ab12/ou-ab12-11111111/`), from the
    /// `list-parents` files of any folder; accounts whose chain is incomplete are absent.
    pub org_paths: BTreeMap<String, String>,
    /// Jobs in a final state without a `CompletionDate`: no window can show them.
    pub undated_jobs: usize,
    /// Every job created before `now`, whatever the window, counted per day and outcome
    /// (read only with a job filter that asks for it).
    pub job_history: JobHistory,
    /// What was read, for the run manifest.
    pub inputs: Inputs,
    /// What the live collector could not collect (`snapshot.json` `Failures`), one line each.
    pub collection_failures: Vec<String>,
    /// Commands of the layout that the snapshot lacks for some account and region (optional
    /// commands left out): the run is partial, never "none found".
    pub not_collected: Vec<NotCollected>,
    /// Commands the live collector left out on purpose (`snapshot.json` `Skipped`: no control
    /// of that account and region needed them). Not collected either, but the run is partial
    /// only if a control that needs one is evaluated there.
    pub skipped: Vec<NotCollected>,
    /// Accounts that own jobs, when the jobs themselves are not held (a merge of shard parts).
    pub job_account_ids: BTreeSet<String>,
}

/// A command of the layout that was not collected for one account and region.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct NotCollected {
    pub account: String,
    pub region: String,
    pub dataset: Dataset,
    /// Why: no file or folder, or an empty file.
    pub reason: String,
}

impl std::fmt::Display for NotCollected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "account {} region {}: {} not collected: {}",
            self.account,
            self.region,
            self.dataset.command(),
            self.reason
        )
    }
}

impl std::error::Error for NotCollected {}

/// The files an estate was read from: how many, how large, and their digest (see
/// `snapshot::digest_inputs`; the README says how to recompute it).
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    pub files: usize,
    pub bytes: u64,
    /// Hex SHA-256 over the `sha256sum` listing of the files read.
    pub sha256: String,
}

impl Estate {
    /// Whether `dataset` was collected for scope `scope`.
    pub fn has(&self, scope: usize, dataset: Dataset) -> bool {
        self.scopes[scope].collected.contains(&dataset)
    }

    /// The scope index of an account and region, if the estate has it.
    pub fn scope_index(&self, account: &str, region: &str) -> Option<usize> {
        self.scopes.iter().position(|s| s.id.account == account && s.id.region == region)
    }

    /// Distinct account ids, sorted.
    pub fn accounts(&self) -> BTreeSet<&str> {
        self.scopes.iter().map(|s| s.id.account.as_str()).collect()
    }

    /// Accounts that own jobs of the estate, sorted: with an organisation-wide job listing
    /// (`--org-jobs`) these include member accounts that have no folder of their own.
    pub fn job_accounts(&self) -> BTreeSet<&str> {
        let backup = self.backup_jobs.iter().map(|j| j.account_id.as_str());
        let copy = self.copy_jobs.iter().map(|j| j.account_id.as_str());
        let restore = self.restore_jobs.iter().map(|j| j.account_id.as_str());
        backup.chain(copy).chain(restore).chain(self.job_account_ids.iter().map(String::as_str)).collect()
    }

    /// Distinct regions, sorted.
    pub fn regions(&self) -> BTreeSet<&str> {
        self.scopes.iter().map(|s| s.id.region.as_str()).collect()
    }
}
