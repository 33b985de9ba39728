//! The estate snapshot's folder layout: the contract between the writers of a snapshot (the
//! live collector, `generate`, `scripts/snapshot-with-aws-cli.sh`) and its reader.
//!
//! A snapshot holds one folder per account and region, and in it one file or folder per AWS
//! CLI command ([`Dataset`]); per-entity files are named by their key ([`encode_key`]). The
//! README's "Estate layout" describes the whole layout. This module sits below both the
//! collector and the reader, so neither imports the other.

/// The datasets of the layout, one per AWS command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Dataset {
    BackupJobs,
    CopyJobs,
    RestoreJobs,
    Vaults,
    VaultDetails,
    VaultPolicies,
    RecoveryPoints,
    Plans,
    PlanDetails,
    Selections,
    SelectionDetails,
    ProtectedResources,
    ProtectedResourceDetails,
    Resources,
    Instances,
    Frameworks,
    FrameworkDetails,
    ReportPlans,
    ReportPlanDetails,
    Parents,
}

impl Dataset {
    /// Every dataset of the layout, in layout order.
    pub const ALL: [Dataset; 20] = [
        Dataset::BackupJobs,
        Dataset::CopyJobs,
        Dataset::RestoreJobs,
        Dataset::Vaults,
        Dataset::VaultDetails,
        Dataset::VaultPolicies,
        Dataset::RecoveryPoints,
        Dataset::Plans,
        Dataset::PlanDetails,
        Dataset::Selections,
        Dataset::SelectionDetails,
        Dataset::ProtectedResources,
        Dataset::ProtectedResourceDetails,
        Dataset::Resources,
        Dataset::Instances,
        Dataset::Frameworks,
        Dataset::FrameworkDetails,
        Dataset::ReportPlans,
        Dataset::ReportPlanDetails,
        Dataset::Parents,
    ];

    /// Optional by design: its absence is not reported as "not collected".
    /// `describe-instances` only refines EC2 verdicts (a stopped instance is NOT_APPLICABLE;
    /// without it, every instance is evaluated as running); `list-parents` only fills the job
    /// reports' "Path To Root" (empty without it), and only an organisation has it.
    pub fn optional(self) -> bool {
        matches!(self, Dataset::Instances | Dataset::Parents)
    }

    /// The three job lists, read only by runs that write job reports.
    pub fn is_job_list(self) -> bool {
        matches!(self, Dataset::BackupJobs | Dataset::CopyJobs | Dataset::RestoreJobs)
    }

    /// The dataset of an AWS CLI command name.
    pub fn from_command(command: &str) -> Option<Dataset> {
        Dataset::ALL.into_iter().find(|d| d.command() == command)
    }

    /// The AWS CLI command whose output this dataset is.
    pub fn command(self) -> &'static str {
        match self {
            Dataset::BackupJobs => "list-backup-jobs",
            Dataset::CopyJobs => "list-copy-jobs",
            Dataset::RestoreJobs => "list-restore-jobs",
            Dataset::Vaults => "list-backup-vaults",
            Dataset::VaultDetails => "describe-backup-vault",
            Dataset::VaultPolicies => "get-backup-vault-access-policy",
            Dataset::RecoveryPoints => "list-recovery-points-by-backup-vault",
            Dataset::Plans => "list-backup-plans",
            Dataset::PlanDetails => "get-backup-plan",
            Dataset::Selections => "list-backup-selections",
            Dataset::SelectionDetails => "get-backup-selection",
            Dataset::ProtectedResources => "list-protected-resources",
            Dataset::ProtectedResourceDetails => "describe-protected-resource",
            Dataset::Resources => "get-resources",
            Dataset::Instances => "describe-instances",
            Dataset::Frameworks => "list-frameworks",
            Dataset::FrameworkDetails => "describe-framework",
            Dataset::ReportPlans => "list-report-plans",
            Dataset::ReportPlanDetails => "describe-report-plan",
            Dataset::Parents => "list-parents",
        }
    }
}

/// The file name (without `.json`) of a per-entity key: percent-encoded, so an ARN is one
/// safe path segment. The snapshot reader reverses it.
pub fn encode_key(key: &str) -> String {
    percent_encoding::utf8_percent_encode(key, percent_encoding::NON_ALPHANUMERIC).to_string()
}
