//! Job pages to job rows, keeping only the jobs a report window can show.
//!
//! A job report holds the jobs that finished inside the window plus the jobs still active at
//! `now`, as Audit Manager's do. Everything else is dropped while the page is parsed, before a
//! single string is copied: on a 30-day estate a daily report needs about one job in thirty.

use std::collections::BTreeMap;

use super::model::{Lifecycle, RawBackupJob, RawCopyJob, RawCreatedBy, RawRestoreJob, Text};
use crate::time::Millis;

/// Which jobs to keep: finished in `[from, to)`, or active at `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobFilter {
    /// Inclusive start of the report window.
    pub from: Millis,
    /// Exclusive end of the report window.
    pub to: Millis,
    /// The run's clock; a job created after it is not yet known and is dropped.
    pub now: Millis,
    /// Also count every job created before `now`, whatever the window, into the
    /// [`JobHistory`] (for the run summary).
    pub history: bool,
}

impl JobFilter {
    /// The jobs a report over `window` shows, and the history when `history` is asked for.
    pub fn of(window: &crate::window::Window, history: bool) -> JobFilter {
        JobFilter { from: window.start, to: window.end, now: window.now, history }
    }
}

/// Job states that are still going: such a job belongs in every report made while it runs.
///
/// BACKUP: CREATED, PENDING, RUNNING, ABORTING. COPY: CREATED, RUNNING, plus the transitional
/// ABORTING, COMPLETING and FAILING of `CopyJobStatus`. RESTORE: CREATED, PENDING, RUNNING.
fn is_active_state(state: &str) -> bool {
    matches!(state, "CREATED" | "PENDING" | "RUNNING" | "ABORTING" | "COMPLETING" | "FAILING")
}

impl JobFilter {
    /// Whether a known, finished job lacks the completion date that would place it in a window.
    pub fn undated(&self, state: &str, created: Millis, completed: Option<Millis>) -> bool {
        created < self.now && !is_active_state(state) && completed.is_none()
    }

    /// Whether a job with this state and these dates belongs in the report.
    pub fn keeps(&self, state: &str, created: Millis, completed: Option<Millis>) -> bool {
        if created >= self.now {
            return false;
        }
        if is_active_state(state) {
            return true;
        }
        matches!(completed, Some(c) if c >= self.from && c < self.to)
    }
}

/// What became of a job, as the summary and the logs count it: AWS Backup's state, with
/// "completed with issues" told apart from a clean completion. The job reports keep Audit
/// Manager's own `jobStatus` values; this is an extra, derived view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum JobOutcome {
    /// COMPLETED, and nothing to say about it.
    Completed,
    /// COMPLETED with a `MessageCategory` other than SUCCESS, or, where the job has no
    /// `MessageCategory` (restore jobs, older snapshots), with a status message; and PARTIAL
    /// (a composite job some of whose children did not complete).
    CompletedWithIssues,
    Failed,
    Aborted,
    Expired,
    /// Still going at `now`: CREATED, PENDING, RUNNING and the transitional states.
    Running,
    /// A state this tool does not know. Never counted as a success.
    Other,
}

impl JobOutcome {
    /// Every outcome, in the order the summary shows them.
    pub const ALL: [JobOutcome; 7] = [
        JobOutcome::Completed,
        JobOutcome::CompletedWithIssues,
        JobOutcome::Failed,
        JobOutcome::Aborted,
        JobOutcome::Expired,
        JobOutcome::Running,
        JobOutcome::Other,
    ];

    /// The outcome of a job with this state (`State` or, for restore jobs, `Status`),
    /// `MessageCategory` and `StatusMessage`.
    ///
    /// Decision: AWS's own console rule is "COMPLETED with a status message"; `MessageCategory`
    /// is the structured form of the same thing and wins where present (SUCCESS, in any case, is
    /// a clean completion even if a message is attached). A blank message is no message.
    pub fn of(state: &str, message_category: Option<&str>, status_message: Option<&str>) -> JobOutcome {
        match state {
            "COMPLETED" => match message_category.map(str::trim).filter(|c| !c.is_empty()) {
                Some(c) if c.eq_ignore_ascii_case("SUCCESS") => JobOutcome::Completed,
                Some(_) => JobOutcome::CompletedWithIssues,
                None if status_message.is_some_and(|m| !m.trim().is_empty()) => JobOutcome::CompletedWithIssues,
                None => JobOutcome::Completed,
            },
            "PARTIAL" => JobOutcome::CompletedWithIssues,
            "FAILED" => JobOutcome::Failed,
            "ABORTED" => JobOutcome::Aborted,
            "EXPIRED" => JobOutcome::Expired,
            s if is_active_state(s) => JobOutcome::Running,
            _ => JobOutcome::Other,
        }
    }

    /// The name in data files and logs (`completed_with_issues`).
    pub fn as_str(self) -> &'static str {
        match self {
            JobOutcome::Completed => "completed",
            JobOutcome::CompletedWithIssues => "completed_with_issues",
            JobOutcome::Failed => "failed",
            JobOutcome::Aborted => "aborted",
            JobOutcome::Expired => "expired",
            JobOutcome::Running => "running",
            JobOutcome::Other => "other",
        }
    }

    /// The name people read (`Completed with issues`).
    pub fn label(self) -> &'static str {
        match self {
            JobOutcome::Completed => "Completed",
            JobOutcome::CompletedWithIssues => "Completed with issues",
            JobOutcome::Failed => "Failed",
            JobOutcome::Aborted => "Aborted",
            JobOutcome::Expired => "Expired",
            JobOutcome::Running => "Running",
            JobOutcome::Other => "Other state",
        }
    }

    /// Whether the job finished and did its work (with or without issues).
    pub fn succeeded(self) -> bool {
        matches!(self, JobOutcome::Completed | JobOutcome::CompletedWithIssues)
    }

    /// Whether the job has finished, so that it counts in a success rate.
    pub fn finished(self) -> bool {
        self != JobOutcome::Running
    }
}

/// The three job lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum JobKind {
    Backup,
    Copy,
    Restore,
}

impl JobKind {
    pub const ALL: [JobKind; 3] = [JobKind::Backup, JobKind::Copy, JobKind::Restore];

    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Backup => "backup",
            JobKind::Copy => "copy",
            JobKind::Restore => "restore",
        }
    }
}

/// A day since the Unix epoch (UTC).
pub type Day = i64;

/// The UTC day of a time.
pub fn day_of(t: Millis) -> Day {
    t.div_euclid(86_400_000)
}

/// One job of any day, as the history counts it: the job id's hash (to count a job listed
/// twice once), its day, its outcome and, for a backup job, its size.
#[derive(Debug, Clone, Copy)]
pub struct JobTally {
    pub id: u64,
    pub day: Day,
    pub outcome: JobOutcome,
    pub bytes: i64,
}

/// What one kind of job did on one UTC day.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DayTally {
    /// Jobs per outcome, indexed like [`JobOutcome::ALL`].
    pub outcomes: [u64; 7],
    /// `BackupSizeInBytes` of the jobs that completed (with or without issues).
    pub bytes: i64,
}

/// Every job of the snapshot created before `now`, whatever the report window, counted per UTC
/// day, kind and outcome: the trends beyond one window cost a tally, not a row per job.
///
/// Decision: a finished job counts on the day of its `CompletionDate` (the day a report window
/// would show it); a job still going at `now` (also one that finished after `now`: the snapshot
/// knows more than the run may use) counts as running on the day of its `CreationDate`; a
/// finished job without a completion date counts on no day (the run already warns about those).
#[derive(Debug, Clone, Default)]
pub struct JobHistory {
    pub days: BTreeMap<(Day, JobKind), DayTally>,
}

impl JobHistory {
    pub(crate) fn add(&mut self, kind: JobKind, t: &JobTally) {
        let day = self.days.entry((t.day, kind)).or_default();
        day.outcomes[t.outcome as usize] += 1;
        if t.outcome.succeeded() {
            day.bytes += t.bytes;
        }
    }
}

/// An id's 64-bit hash, the same in every run: a folded 64 × 64 → 128-bit multiply per 8
/// bytes (the step of foldhash and wyhash), which spreads every input bit over the whole word;
/// cheap enough for every job of 30 days and every verdict. The ids hashed are AWS's unique job
/// ids and ARNs, used only to count distinct ones; a collision (about one in 2^64 per pair)
/// would count two as one.
pub fn id_hash(id: &str) -> u64 {
    const K1: u64 = 0x2d35_8dcc_aa6c_78a5;
    const K2: u64 = 0x8bb8_4b93_962e_acc9;
    let fold = |a: u64, b: u64| {
        let m = u128::from(a) * u128::from(b);
        (m as u64) ^ ((m >> 64) as u64)
    };
    let mut chunks = id.as_bytes().chunks_exact(8);
    let mut h = fold(id.len() as u64 ^ K2, K1);
    for c in &mut chunks {
        h = fold(h ^ u64::from_le_bytes(c.try_into().expect("8 bytes")), K1);
    }
    let mut tail = [0u8; 8];
    tail[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
    fold(h ^ u64::from_le_bytes(tail), K2)
}

/// Hashes keys that are [`id_hash`]es already with one multiply, not SipHash: for the sets
/// that count millions of distinct jobs or resources.
#[derive(Default)]
pub struct KeyHasher(u64);

impl std::hash::Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(*b)).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
    }
    fn write_u64(&mut self, v: u64) {
        // The keys are well-mixed hashes already: one multiply spreads a (scope, hash) pair.
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn write_usize(&mut self, v: usize) {
        self.write_u64(v as u64);
    }
}

/// Plan and rule identity of a job, as the job itself reports it (`CreatedBy`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Creator {
    pub backup_plan_id: Option<String>,
    pub backup_plan_arn: Option<String>,
    pub backup_plan_version: Option<String>,
    pub backup_rule_id: Option<String>,
    pub backup_plan_name: Option<String>,
    pub backup_rule_name: Option<String>,
    pub backup_rule_cron: Option<String>,
    pub backup_rule_timezone: Option<String>,
}

fn own(v: &Option<Text<'_>>) -> Option<String> {
    v.as_ref().map(|s| s.0.to_string())
}

impl Creator {
    fn from_raw(raw: &Option<RawCreatedBy<'_>>) -> Self {
        let Some(c) = raw else { return Self::default() };
        Creator {
            backup_plan_id: own(&c.backup_plan_id),
            backup_plan_arn: own(&c.backup_plan_arn),
            backup_plan_version: own(&c.backup_plan_version),
            backup_rule_id: own(&c.backup_rule_id),
            backup_plan_name: own(&c.backup_plan_name),
            backup_rule_name: own(&c.backup_rule_name),
            backup_rule_cron: own(&c.backup_rule_cron),
            backup_rule_timezone: own(&c.backup_rule_timezone),
        }
    }
}

/// `BackupOptions` as canonical compact JSON (keys sorted), so CLI and wire snapshots match.
fn canonical_options(options: &Option<BTreeMap<Text<'_>, Text<'_>>>) -> Option<String> {
    let map: BTreeMap<&str, &str> = options.as_ref()?.iter().map(|(k, v)| (&*k.0, &*v.0)).collect();
    serde_json::to_string(&map).ok()
}

/// One backup job that the window keeps, owned.
#[derive(Debug, Clone, PartialEq)]
pub struct BackupJobRow {
    pub account_id: String,
    pub region: String,
    pub backup_job_id: String,
    pub state: String,
    pub status_message: Option<String>,
    pub message_category: Option<String>,
    pub resource_type: Option<String>,
    pub resource_arn: Option<String>,
    pub resource_name: Option<String>,
    pub created_by: Creator,
    pub initiation_date: Option<Millis>,
    pub start_by: Option<Millis>,
    pub backup_options: Option<String>,
    pub backup_type: Option<String>,
    pub is_parent: Option<bool>,
    pub parent_job_id: Option<String>,
    pub creation_date: Millis,
    pub completion_date: Option<Millis>,
    pub expected_completion_date: Option<Millis>,
    pub recovery_point_arn: Option<String>,
    pub backup_size_in_bytes: Option<i64>,
    pub percent_done: Option<String>,
    pub backup_vault_name: Option<String>,
    pub backup_vault_arn: Option<String>,
    pub vault_type: Option<String>,
    pub vault_lock_state: Option<String>,
    pub is_encrypted: Option<bool>,
    pub encryption_key_arn: Option<String>,
    pub lifecycle: Option<Lifecycle>,
    pub iam_role_arn: Option<String>,
}

impl BackupJobRow {
    /// Copies a borrowed job into a row; `account_id` falls back to the snapshot folder's.
    pub fn from_raw(j: &RawBackupJob<'_>, account: &str, region: &str) -> Self {
        BackupJobRow {
            account_id: own(&j.account_id).unwrap_or_else(|| account.to_string()),
            region: region.to_string(),
            backup_job_id: j.backup_job_id.to_string(),
            state: j.state.to_string(),
            status_message: own(&j.status_message),
            message_category: own(&j.message_category),
            resource_type: own(&j.resource_type),
            resource_arn: own(&j.resource_arn),
            resource_name: own(&j.resource_name),
            created_by: Creator::from_raw(&j.created_by),
            initiation_date: j.initiation_date.map(|t| t.0),
            start_by: j.start_by.map(|t| t.0),
            backup_options: canonical_options(&j.backup_options),
            backup_type: own(&j.backup_type),
            is_parent: j.is_parent,
            parent_job_id: own(&j.parent_job_id),
            creation_date: j.creation_date.0,
            completion_date: j.completion_date.map(|t| t.0),
            expected_completion_date: j.expected_completion_date.map(|t| t.0),
            recovery_point_arn: own(&j.recovery_point_arn),
            backup_size_in_bytes: j.backup_size_in_bytes,
            percent_done: own(&j.percent_done),
            backup_vault_name: own(&j.backup_vault_name),
            backup_vault_arn: own(&j.backup_vault_arn),
            vault_type: own(&j.vault_type),
            vault_lock_state: own(&j.vault_lock_state),
            is_encrypted: j.is_encrypted,
            encryption_key_arn: own(&j.encryption_key_arn),
            lifecycle: j.recovery_point_lifecycle,
            iam_role_arn: own(&j.iam_role_arn),
        }
    }
}

impl BackupJobRow {
    /// What became of the job.
    pub fn outcome(&self) -> JobOutcome {
        JobOutcome::of(&self.state, self.message_category.as_deref(), self.status_message.as_deref())
    }
}

/// One copy job that the window keeps, owned.
#[derive(Debug, Clone, PartialEq)]
pub struct CopyJobRow {
    pub account_id: String,
    pub region: String,
    pub copy_job_id: String,
    pub state: String,
    pub status_message: Option<String>,
    pub message_category: Option<String>,
    pub resource_type: Option<String>,
    pub resource_arn: Option<String>,
    pub resource_name: Option<String>,
    pub created_by: Creator,
    pub is_parent: Option<bool>,
    pub parent_job_id: Option<String>,
    pub creation_date: Millis,
    pub completion_date: Option<Millis>,
    pub backup_size_in_bytes: Option<i64>,
    pub source_recovery_point_arn: Option<String>,
    pub source_backup_vault_arn: Option<String>,
    pub destination_recovery_point_arn: Option<String>,
    pub destination_backup_vault_arn: Option<String>,
    pub destination_vault_type: Option<String>,
    pub destination_vault_lock_state: Option<String>,
    pub destination_encryption_key_arn: Option<String>,
    pub destination_lifecycle: Option<Lifecycle>,
    pub iam_role_arn: Option<String>,
}

impl CopyJobRow {
    /// Copies a borrowed copy job into a row.
    pub fn from_raw(j: &RawCopyJob<'_>, account: &str, region: &str) -> Self {
        CopyJobRow {
            account_id: own(&j.account_id).unwrap_or_else(|| account.to_string()),
            region: region.to_string(),
            copy_job_id: j.copy_job_id.to_string(),
            state: j.state.to_string(),
            status_message: own(&j.status_message),
            message_category: own(&j.message_category),
            resource_type: own(&j.resource_type),
            resource_arn: own(&j.resource_arn),
            resource_name: own(&j.resource_name),
            created_by: Creator::from_raw(&j.created_by),
            is_parent: j.is_parent,
            parent_job_id: own(&j.parent_job_id),
            creation_date: j.creation_date.0,
            completion_date: j.completion_date.map(|t| t.0),
            backup_size_in_bytes: j.backup_size_in_bytes,
            source_recovery_point_arn: own(&j.source_recovery_point_arn),
            source_backup_vault_arn: own(&j.source_backup_vault_arn),
            destination_recovery_point_arn: own(&j.destination_recovery_point_arn),
            destination_backup_vault_arn: own(&j.destination_backup_vault_arn),
            destination_vault_type: own(&j.destination_vault_type),
            destination_vault_lock_state: own(&j.destination_vault_lock_state),
            destination_encryption_key_arn: own(&j.destination_encryption_key_arn),
            destination_lifecycle: j.destination_recovery_point_lifecycle,
            iam_role_arn: own(&j.iam_role_arn),
        }
    }
}

impl CopyJobRow {
    /// What became of the job.
    pub fn outcome(&self) -> JobOutcome {
        JobOutcome::of(&self.state, self.message_category.as_deref(), self.status_message.as_deref())
    }
}

/// One restore job that the window keeps, owned.
#[derive(Debug, Clone, PartialEq)]
pub struct RestoreJobRow {
    pub account_id: String,
    pub region: String,
    pub restore_job_id: String,
    pub status: String,
    pub status_message: Option<String>,
    pub resource_type: Option<String>,
    pub recovery_point_arn: Option<String>,
    pub source_resource_arn: Option<String>,
    pub backup_vault_arn: Option<String>,
    pub created_resource_arn: Option<String>,
    pub creation_date: Millis,
    pub completion_date: Option<Millis>,
    pub backup_size_in_bytes: Option<i64>,
    pub percent_done: Option<String>,
    pub is_parent: Option<bool>,
    pub parent_job_id: Option<String>,
    pub iam_role_arn: Option<String>,
}

impl RestoreJobRow {
    /// Copies a borrowed restore job into a row.
    pub fn from_raw(j: &RawRestoreJob<'_>, account: &str, region: &str) -> Self {
        RestoreJobRow {
            account_id: own(&j.account_id).unwrap_or_else(|| account.to_string()),
            region: region.to_string(),
            restore_job_id: j.restore_job_id.to_string(),
            status: j.status.to_string(),
            status_message: own(&j.status_message),
            resource_type: own(&j.resource_type),
            recovery_point_arn: own(&j.recovery_point_arn),
            source_resource_arn: own(&j.source_resource_arn),
            backup_vault_arn: own(&j.backup_vault_arn),
            created_resource_arn: own(&j.created_resource_arn),
            creation_date: j.creation_date.0,
            completion_date: j.completion_date.map(|t| t.0),
            backup_size_in_bytes: j.backup_size_in_bytes,
            percent_done: own(&j.percent_done),
            is_parent: j.is_parent,
            parent_job_id: own(&j.parent_job_id),
            iam_role_arn: own(&j.iam_role_arn),
        }
    }
}

impl RestoreJobRow {
    /// What became of the job (restore jobs have no `MessageCategory`).
    pub fn outcome(&self) -> JobOutcome {
        JobOutcome::of(&self.status, None, self.status_message.as_deref())
    }
}

/// A job record of a list page: where its list sits in the page and how it becomes a row.
pub trait JobRecord<'de>: serde::Deserialize<'de> {
    /// The page key of the list (`BackupJobs`, `CopyJobs`, `RestoreJobs`).
    const LIST_KEY: &'static str;
    /// The owned row.
    type Row;
    /// Which list the job is from.
    const KIND: JobKind;
    /// The job's state, creation and completion: all the window looks at.
    fn state_and_dates(&self) -> (&str, Millis, Option<Millis>);
    /// The job id.
    fn id(&self) -> &str;
    /// What became of the job.
    fn outcome(&self) -> JobOutcome;
    /// `BackupSizeInBytes`, counted for backup jobs only.
    fn bytes(&self) -> i64 {
        0
    }
    /// The owned row of a kept job.
    fn to_row(&self, account: &str, region: &str) -> Self::Row;
}

impl<'de> JobRecord<'de> for RawBackupJob<'de> {
    const LIST_KEY: &'static str = "BackupJobs";
    const KIND: JobKind = JobKind::Backup;
    type Row = BackupJobRow;
    fn state_and_dates(&self) -> (&str, Millis, Option<Millis>) {
        (&self.state, self.creation_date.0, self.completion_date.map(|t| t.0))
    }
    fn id(&self) -> &str {
        &self.backup_job_id
    }
    fn outcome(&self) -> JobOutcome {
        JobOutcome::of(
            &self.state,
            self.message_category.as_ref().map(|t| &*t.0),
            self.status_message.as_ref().map(|t| &*t.0),
        )
    }
    fn bytes(&self) -> i64 {
        self.backup_size_in_bytes.unwrap_or(0)
    }
    fn to_row(&self, account: &str, region: &str) -> BackupJobRow {
        BackupJobRow::from_raw(self, account, region)
    }
}

impl<'de> JobRecord<'de> for RawCopyJob<'de> {
    const LIST_KEY: &'static str = "CopyJobs";
    const KIND: JobKind = JobKind::Copy;
    type Row = CopyJobRow;
    fn state_and_dates(&self) -> (&str, Millis, Option<Millis>) {
        (&self.state, self.creation_date.0, self.completion_date.map(|t| t.0))
    }
    fn id(&self) -> &str {
        &self.copy_job_id
    }
    fn outcome(&self) -> JobOutcome {
        JobOutcome::of(
            &self.state,
            self.message_category.as_ref().map(|t| &*t.0),
            self.status_message.as_ref().map(|t| &*t.0),
        )
    }
    fn to_row(&self, account: &str, region: &str) -> CopyJobRow {
        CopyJobRow::from_raw(self, account, region)
    }
}

impl<'de> JobRecord<'de> for RawRestoreJob<'de> {
    const LIST_KEY: &'static str = "RestoreJobs";
    const KIND: JobKind = JobKind::Restore;
    type Row = RestoreJobRow;
    fn state_and_dates(&self) -> (&str, Millis, Option<Millis>) {
        (&self.status, self.creation_date.0, self.completion_date.map(|t| t.0))
    }
    fn id(&self) -> &str {
        &self.restore_job_id
    }
    fn outcome(&self) -> JobOutcome {
        JobOutcome::of(&self.status, None, self.status_message.as_ref().map(|t| &*t.0))
    }
    fn to_row(&self, account: &str, region: &str) -> RestoreJobRow {
        RestoreJobRow::from_raw(self, account, region)
    }
}

/// The rows a page contributes, and how many of its jobs are finished but undated.
#[derive(Debug)]
pub struct PageRows<R> {
    pub rows: Vec<R>,
    /// Jobs in a final state without a `CompletionDate`: they belong to no window.
    pub undated: usize,
    /// Every job of the page created before `now` and placed on a day ([`JobHistory`]), when
    /// the filter asks for the history.
    pub history: Vec<JobTally>,
}

/// Streams one list page: each job is parsed, filtered and, if kept, copied into a row
/// before the next one is parsed. No vector of the page's jobs is ever built.
pub fn stream_page<'de, J: JobRecord<'de>>(
    bytes: &'de [u8],
    filter: &JobFilter,
    account: &str,
    region: &str,
) -> serde_json::Result<PageRows<J::Row>> {
    use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
    use std::marker::PhantomData;

    struct Ctx<'c> {
        filter: &'c JobFilter,
        account: &'c str,
        region: &'c str,
    }

    struct List<'c, J, R> {
        ctx: &'c Ctx<'c>,
        out: &'c mut PageRows<R>,
        job: PhantomData<J>,
    }

    impl<'de, J: JobRecord<'de, Row = R>, R> DeserializeSeed<'de> for List<'_, J, R> {
        type Value = ();
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_seq(self)
        }
    }

    impl<'de, J: JobRecord<'de, Row = R>, R> Visitor<'de> for List<'_, J, R> {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            write!(f, "a list of {}", J::LIST_KEY)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            while let Some(job) = seq.next_element::<J>()? {
                let (state, created, completed) = job.state_and_dates();
                let now = self.ctx.filter.now;
                if self.ctx.filter.history && created < now {
                    // A job that finished after `now` was still running at `now`.
                    let outcome = match completed {
                        Some(c) if c >= now => JobOutcome::Running,
                        _ => job.outcome(),
                    };
                    let day = match (outcome, completed) {
                        (JobOutcome::Running, _) => Some(day_of(created)),
                        (_, Some(c)) => Some(day_of(c)),
                        (_, None) => None,
                    };
                    if let Some(day) = day {
                        let bytes = if J::KIND == JobKind::Backup { job.bytes() } else { 0 };
                        self.out.history.push(JobTally { id: id_hash(job.id()), day, outcome, bytes });
                    }
                }
                if self.ctx.filter.keeps(state, created, completed) {
                    self.out.rows.push(job.to_row(self.ctx.account, self.ctx.region));
                } else if self.ctx.filter.undated(state, created, completed) {
                    self.out.undated += 1;
                }
            }
            Ok(())
        }
    }

    struct Page<'c, J, R> {
        ctx: &'c Ctx<'c>,
        out: &'c mut PageRows<R>,
        job: PhantomData<J>,
    }

    impl<'de, J: JobRecord<'de, Row = R>, R> Visitor<'de> for Page<'_, J, R> {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            write!(f, "an object with {}", J::LIST_KEY)
        }
        fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<(), M::Error> {
            while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                if key == J::LIST_KEY {
                    map.next_value_seed(List::<J, R> { ctx: self.ctx, out: &mut *self.out, job: PhantomData })?;
                } else {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            Ok(())
        }
    }

    let ctx = Ctx { filter, account, region };
    let mut out = PageRows { rows: Vec::new(), undated: 0, history: Vec::new() };
    let mut de = serde_json::Deserializer::from_slice(bytes);
    de.deserialize_map(Page::<J, J::Row> { ctx: &ctx, out: &mut out, job: PhantomData })?;
    de.end()?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completed_with_issues_is_derived_from_the_category_then_the_message() {
        use JobOutcome::*;
        // (state, MessageCategory, StatusMessage) → outcome
        let table: &[(&str, Option<&str>, Option<&str>, JobOutcome)] = &[
            ("COMPLETED", None, None, Completed),
            ("COMPLETED", Some("SUCCESS"), None, Completed),
            ("COMPLETED", Some("success"), Some("Backup job completed"), Completed),
            ("COMPLETED", Some("ACCESS_DENIED"), None, CompletedWithIssues),
            ("COMPLETED", Some("AGGREGATE_ALL"), Some("x"), CompletedWithIssues),
            ("COMPLETED", None, Some("Windows VSS backup attempt failed"), CompletedWithIssues),
            ("COMPLETED", None, Some("   "), Completed),
            ("COMPLETED", Some(""), Some("a message"), CompletedWithIssues),
            ("PARTIAL", None, None, CompletedWithIssues),
            ("FAILED", Some("SUCCESS"), None, Failed),
            ("ABORTED", None, Some("Aborted by user"), Aborted),
            ("EXPIRED", None, None, Expired),
            ("RUNNING", None, None, Running),
            ("PENDING", None, None, Running),
            ("CREATED", None, None, Running),
            ("ABORTING", None, None, Running),
            ("SOMETHING_NEW", None, None, Other),
        ];
        for (state, category, message, want) in table {
            assert_eq!(JobOutcome::of(state, *category, *message), *want, "{state} {category:?} {message:?}");
        }
        assert!(CompletedWithIssues.succeeded() && Completed.succeeded());
        assert!(!Other.succeeded() && !Failed.succeeded() && !Running.finished());
    }

    #[test]
    fn history_counts_every_job_before_now_on_its_day() {
        let page = br#"{"BackupJobs": [
            {"BackupJobId": "a", "State": "COMPLETED", "CreationDate": 86300.0, "CompletionDate": 86500.0, "BackupSizeInBytes": 7},
            {"BackupJobId": "b", "State": "COMPLETED", "MessageCategory": "ACCESS_DENIED", "CreationDate": 100.0, "CompletionDate": 200.0, "BackupSizeInBytes": 5},
            {"BackupJobId": "c", "State": "FAILED", "CreationDate": 100.0, "CompletionDate": 300.0, "BackupSizeInBytes": 9},
            {"BackupJobId": "d", "State": "RUNNING", "CreationDate": 172900.0},
            {"BackupJobId": "e", "State": "FAILED", "CreationDate": 100.0},
            {"BackupJobId": "f", "State": "COMPLETED", "CreationDate": 400000.0, "CompletionDate": 400001.0},
            {"BackupJobId": "g", "State": "FAILED", "CreationDate": 172950.0, "CompletionDate": 200001.0}
        ]}"#;
        // The window is day 1 only; the history still counts days 0 and 2.
        let filter = JobFilter { from: 86_400_000, to: 172_800_000, now: 200_000_000, history: true };
        let rows = stream_page::<RawBackupJob<'_>>(page, &filter, "111", "us-east-1").unwrap();
        assert_eq!(rows.rows.len(), 2, "a (day 1) and the running d");
        let mut h = JobHistory::default();
        for t in &rows.history {
            h.add(JobKind::Backup, t);
        }
        let day = |d| h.days.get(&(d, JobKind::Backup)).cloned().unwrap_or_default();
        assert_eq!(day(0).outcomes, [0, 1, 1, 0, 0, 0, 0], "b with issues, c failed; e has no date");
        assert_eq!(day(0).bytes, 5, "a failed job's bytes do not count");
        assert_eq!(day(1).outcomes, [1, 0, 0, 0, 0, 0, 0]);
        assert_eq!(day(2).outcomes, [0, 0, 0, 0, 0, 2, 0], "d is running; g failed only after now");
        assert_eq!(h.days.len(), 3, "f was created after now");
        let without = JobFilter { history: false, ..filter };
        let rows = stream_page::<RawBackupJob<'_>>(page, &without, "111", "us-east-1").unwrap();
        assert!(rows.history.is_empty() && rows.rows.len() == 2, "no history unless asked for");
    }

    #[test]
    fn window_edges_are_half_open() {
        let f = JobFilter { from: 1000, to: 2000, now: 2500, history: false };
        assert!(f.keeps("COMPLETED", 500, Some(1000)), "a job ending on the start is in");
        assert!(!f.keeps("COMPLETED", 500, Some(2000)), "a job ending on the end is out");
        assert!(!f.keeps("FAILED", 500, Some(999)));
        assert!(f.keeps("RUNNING", 100, None), "active jobs are always in");
        assert!(!f.keeps("RUNNING", 2500, None), "jobs created at or after now are unknown");
        assert!(!f.keeps("COMPLETED", 500, None), "a finished job without a date is in no window");
    }
}
