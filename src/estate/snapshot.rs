//! The estate snapshot folder: a public contract, read exactly as the README documents it.
//!
//! ```text
//! DIR/<account-id>/<region>/<command>.json           one response body (auto-paginated CLI output)
//! DIR/<account-id>/<region>/<command>/page-*.json    or several raw pages, read in name order
//! DIR/<account-id>/<region>/<command>/<key>.json     per-entity commands (<key> = name or id)
//! DIR/<command>.json                                 flat single-account layout
//! ```
//!
//! Every file becomes one `Task`; the tasks of all accounts and regions are parsed in
//! parallel (rayon), a batch at a time, and each batch is assembled into the [`Estate`] in a
//! fixed order before the next is parsed, so that the result does not depend on thread timing
//! and parsed pages never pile up beside the estate.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::Deserialize;

use super::error::ReadError;
use super::jobs::{self, BackupJobRow, CopyJobRow, JobFilter, JobRecord, RestoreJobRow};
use super::model::*;
use super::{Dataset, Estate, Inputs, Plan, Scope, ScopeId, Selection, Vault};
use crate::arn::Arn;

/// How to read a snapshot.
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    /// Keep only the jobs a report over this window shows; `None` skips job files entirely.
    pub jobs: Option<JobFilter>,
    /// For the flat layout: the account the files belong to (else read from ARNs).
    pub account: Option<String>,
    /// For the flat layout: the region the files belong to (else read from ARNs).
    pub region: Option<String>,
    /// Read only these accounts and regions in full (a shard's scopes); `None` reads all.
    pub only: Option<BTreeSet<ScopeId>>,
    /// With `only`: read the other scopes too, as references ([`Scope::reference`]): only
    /// what a control or a job report of another scope may look up across accounts and
    /// regions (vaults, recovery points, protected resources, organisation parents).
    pub references: bool,
}

/// The datasets a reference scope is read for: the facts that cross accounts and regions.
/// A copy of a resource's backup lives in another account or region, and counts for the
/// resource's newest (and air-gapped) recovery point; a copy job's report row takes its
/// destination vault and recovery point from there; organisation paths come from the
/// management account's folder.
pub const REFERENCE_DATASETS: [Dataset; 6] = [
    Dataset::Vaults,
    Dataset::VaultDetails,
    Dataset::RecoveryPoints,
    Dataset::ProtectedResources,
    Dataset::ProtectedResourceDetails,
    Dataset::Parents,
];

/// What one file holds, by command.
#[derive(Debug, Clone)]
enum Kind {
    BackupJobs,
    CopyJobs,
    RestoreJobs,
    Vaults,
    VaultDetail,
    VaultPolicy(String),
    RecoveryPoints,
    Plans,
    PlanDetail,
    Selections,
    SelectionDetail,
    ProtectedResources,
    ProtectedResourceDetail,
    Resources,
    Instances,
    Frameworks,
    FrameworkDetail,
    ReportPlans,
    ReportPlanDetail,
    Parents(String),
}

/// One file to parse, with the scope it belongs to.
#[derive(Debug, Clone)]
struct Task {
    scope: usize,
    dataset: Dataset,
    kind: Kind,
    path: PathBuf,
}

/// A parsed file.
enum Parsed {
    BackupJobs(jobs::PageRows<BackupJobRow>),
    CopyJobs(jobs::PageRows<CopyJobRow>),
    RestoreJobs(jobs::PageRows<RestoreJobRow>),
    Vaults(Vec<BackupVault>),
    VaultDetail(BackupVault),
    VaultPolicy(String, String),
    RecoveryPoints(Vec<RecoveryPoint>),
    Plans(Vec<BackupPlanSummary>),
    PlanDetail(Box<GetBackupPlan>),
    Selections(Vec<BackupSelectionSummary>),
    SelectionDetail(Box<GetBackupSelection>),
    ProtectedResources(Vec<ProtectedResource>),
    ProtectedResourceDetail(ProtectedResource),
    Resources(Vec<TaggedResource>),
    Instances(Vec<(String, String)>),
    Frameworks(Vec<FrameworkSummary>),
    FrameworkDetail(Box<Framework>),
    ReportPlans(Vec<ReportPlan>),
    ReportPlanDetail(Box<ReportPlan>),
    Parents(String, Vec<Parent>),
}

/// Time the reading threads spent, summed over threads, for the debug log: where a read's
/// time goes (the job benchmark is bound by it).
struct ReadTime {
    read: Clock,
    hash: Clock,
    parse: Clock,
}

struct Clock(std::sync::atomic::AtomicU64);

impl Clock {
    /// Adds the time since `since`; returns now, for the next step.
    fn add(&self, since: std::time::Instant) -> std::time::Instant {
        let now = std::time::Instant::now();
        self.0.fetch_add((now - since).as_micros() as u64, std::sync::atomic::Ordering::Relaxed);
        now
    }

    fn take_ms(&self) -> u64 {
        self.0.swap(0, std::sync::atomic::Ordering::Relaxed) / 1000
    }
}

static CPU: ReadTime = ReadTime {
    read: Clock(std::sync::atomic::AtomicU64::new(0)),
    hash: Clock(std::sync::atomic::AtomicU64::new(0)),
    parse: Clock(std::sync::atomic::AtomicU64::new(0)),
};

/// Files parsed in parallel before their pages are assembled.
const PARSE_BATCH: usize = 64;

/// Reads the estate snapshot at `dir`.
pub fn read(dir: &Path, opts: &ReadOptions) -> Result<Estate, ReadError> {
    let started = std::time::Instant::now();
    let mut scopes = discover_scopes(dir, opts)?;
    if let Some(only) = &opts.only {
        if let Some(missing) = only.iter().find(|id| !scopes.iter().any(|(s, _)| s == *id)) {
            return Err(layout_err(
                dir,
                format!(
                    "has no folder `{}/{}/` for account {} region {}",
                    missing.account, missing.region, missing.account, missing.region
                ),
            ));
        }
        if !opts.references {
            scopes.retain(|(id, _)| only.contains(id));
        }
    }
    let mut tasks = Vec::new();
    let mut out_scopes = Vec::with_capacity(scopes.len());
    for (i, (id, path)) in scopes.iter().enumerate() {
        let reference = opts.only.as_ref().is_some_and(|only| !only.contains(id));
        let collected = plan_scope(i, path, opts, reference, &mut tasks)?;
        out_scopes.push(Scope { id: id.clone(), collected, reference });
    }
    let empty = check_inside(dir, &tasks)?;
    let marker = marker(dir)?;
    let not_collected = not_collected(&mut out_scopes, &mut tasks, &empty, opts, marker.as_ref());
    let listed_at = started.elapsed();
    // Files are parsed in parallel, a batch at a time, and each batch is assembled (in file
    // order) before the next is read: parsed pages never pile up beside the estate they are
    // moved into, which would double the memory of a million recovery points.
    let ids: Vec<ScopeId> = out_scopes.iter().map(|s| s.id.clone()).collect();
    let mut digests = Vec::with_capacity(tasks.len());
    let mut failed = None;
    let pages = tasks
        .chunks(PARSE_BATCH)
        .flat_map(|batch| {
            batch
                .par_iter()
                .map(|t| parse_task(t, &ids[t.scope], opts.jobs.as_ref()).map(|(p, d)| (t.scope, p, d)))
                .collect::<Vec<_>>()
        })
        .map_while(|r| match r {
            Ok((scope, page, digest)) => {
                digests.push(digest);
                Some((scope, page))
            }
            Err(e) => {
                failed = Some(e);
                None
            }
        });
    let mut estate = assemble(out_scopes, pages);
    if let Some(e) = failed {
        return Err(e);
    }
    let parsed_at = started.elapsed();
    // The records keep the strings they share; the pools that found them can go.
    rayon::broadcast(|_| super::model::Shared::forget_pool());
    super::model::Shared::forget_pool();
    estate.inputs = digest_inputs(dir, &tasks, digests.iter());
    if let Some(m) = &marker {
        estate.skipped = m
            .skipped
            .iter()
            .filter_map(|k| {
                Some(super::NotCollected {
                    account: k.account.clone(),
                    region: k.region.clone(),
                    dataset: Dataset::from_command(&k.command)?,
                    reason: format!("left out by the collector: {}", k.reason),
                })
            })
            .collect();
    }
    estate.collection_failures = marker.map(|m| m.failures.into_iter().map(String::from).collect()).unwrap_or_default();
    estate.not_collected = not_collected;
    tracing::debug!(
        files = tasks.len(),
        listed_ms = listed_at.as_millis() as u64,
        parsed_ms = parsed_at.as_millis() as u64,
        assembled_ms = started.elapsed().as_millis() as u64,
        thread_read_ms = CPU.read.take_ms(),
        thread_hash_ms = CPU.hash.take_ms(),
        thread_parse_ms = CPU.parse.take_ms(),
        "read the snapshot"
    );
    Ok(estate)
}

/// Every file to read must lie inside the snapshot folder once links are resolved: a
/// symbolic link that leaves it (planted, or left by a copy) is an error naming it, never
/// followed silently. Links that stay inside the folder are fine. Returns the indexes of the
/// empty (0-byte) files.
///
/// Each folder holding files to read is resolved once (`realpath`), each file is only
/// `lstat`ed, and resolved too only when it is itself a link: a snapshot of 13,000 pages costs
/// a few hundred `realpath` calls, not 13,000.
fn check_inside(dir: &Path, tasks: &[Task]) -> Result<Vec<usize>, ReadError> {
    let root = fs::canonicalize(dir).map_err(|e| io_err(dir, e))?;
    let outside = |path: &Path, real: &Path| {
        layout_err(
            path,
            format!(
                "leads outside the snapshot folder (through a symbolic link, to `{}`); copy the file into the snapshot instead",
                real.display()
            ),
        )
    };
    let folders: BTreeSet<&Path> = tasks.iter().filter_map(|t| t.path.parent()).collect();
    folders.into_par_iter().try_for_each(|folder| {
        let real = fs::canonicalize(folder).map_err(|e| io_err(folder, e))?;
        if real.starts_with(&root) { Ok(()) } else { Err(outside(folder, &real)) }
    })?;
    let empty: Vec<Option<usize>> = tasks
        .par_iter()
        .enumerate()
        .map(|(i, t)| {
            let meta = fs::symlink_metadata(&t.path).map_err(|e| io_err(&t.path, e))?;
            let len = if meta.file_type().is_symlink() {
                let real = fs::canonicalize(&t.path).map_err(|e| io_err(&t.path, e))?;
                if !real.starts_with(&root) {
                    return Err(outside(&t.path, &real));
                }
                fs::metadata(&real).map_err(|e| io_err(&t.path, e))?.len()
            } else {
                meta.len()
            };
            Ok((len == 0).then_some(i))
        })
        .collect::<Result<_, _>>()?;
    Ok(empty.into_iter().flatten().collect())
}

/// The commands of the layout each scope lacks, and why. An empty (0-byte) file is what a
/// failed `aws … > file` leaves: its whole command counts as not collected for that scope
/// (a list with a missing page is not a complete list), and its files are not read.
/// Optional commands are not listed; job lists only when the run reads jobs. Decision: a
/// scope whose job lists are absent counts as collected when `snapshot.json`
/// `OrganizationJobLists` names an account that listed the jobs of the whole organisation in
/// the same region (`--org-jobs`).
fn not_collected(
    scopes: &mut [Scope],
    tasks: &mut Vec<Task>,
    empty: &[usize],
    opts: &ReadOptions,
    marker: Option<&Marker>,
) -> Vec<super::NotCollected> {
    let mut emptied: BTreeMap<(usize, Dataset), PathBuf> = BTreeMap::new();
    for &i in empty {
        emptied.entry((tasks[i].scope, tasks[i].dataset)).or_insert_with(|| tasks[i].path.clone());
    }
    let mut out = Vec::new();
    let skipped = |scope: &Scope, d: Dataset| {
        marker
            .into_iter()
            .flat_map(|m| &m.skipped)
            .find(|k| k.account == scope.id.account && k.region == scope.id.region && k.command == d.command())
    };
    for (i, scope) in scopes.iter().enumerate() {
        // A reference scope is read in part on purpose; its own shard reports what it lacks.
        if scope.reference {
            continue;
        }
        let org_jobs = marker.is_some_and(|m| {
            m.organization_job_lists.iter().any(|a| {
                *a != scope.id.account && scopes.iter().any(|s| s.id.account == *a && s.id.region == scope.id.region)
            })
        });
        for d in Dataset::ALL {
            if d.optional() || (d.is_job_list() && (opts.jobs.is_none() || org_jobs)) {
                continue;
            }
            let reason = match emptied.get(&(i, d)) {
                Some(path) => {
                    format!("`{}` is empty (0 bytes), which is what a failed `aws ... > file` leaves", path.display())
                }
                // Left out on purpose: only a control that needs it makes the run partial.
                None if !scope.collected.contains(&d) && skipped(scope, d).is_some() => continue,
                None if !scope.collected.contains(&d) => "no file or folder in the snapshot".to_string(),
                None => continue,
            };
            out.push(super::NotCollected {
                account: scope.id.account.clone(),
                region: scope.id.region.clone(),
                dataset: d,
                reason,
            });
        }
    }
    for (scope, dataset) in emptied.keys() {
        scopes[*scope].collected.remove(dataset);
    }
    tasks.retain(|t| !emptied.contains_key(&(t.scope, t.dataset)));
    out
}

fn io_err(path: &Path, source: std::io::Error) -> ReadError {
    ReadError::Io { path: path.to_path_buf(), source }
}

fn layout_err(path: &Path, message: impl Into<String>) -> ReadError {
    ReadError::Layout { path: path.to_path_buf(), message: message.into() }
}

fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// `us-east-1`, `eu-central-2`, `us-gov-west-1`, `ap-southeast-5`, `cn-north-1`.
fn is_region(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() >= 3
        && parts[0].len() == 2
        && parts[0].bytes().all(|b| b.is_ascii_lowercase())
        && parts[1..parts.len() - 1].iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts[parts.len() - 1].parse::<u8>().is_ok()
}

fn sorted_entries(dir: &Path) -> Result<Vec<(String, PathBuf, bool)>, ReadError> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| io_err(dir, e))? {
        let entry = entry.map_err(|e| io_err(dir, e))?;
        let path = entry.path();
        let raw = entry.file_name();
        if std::os::unix::ffi::OsStrExt::as_bytes(raw.as_os_str()).starts_with(b".") {
            continue; // hidden files (editor backups, `.DS_Store`) are not part of the layout
        }
        let Some(name) = raw.to_str() else {
            return Err(layout_err(
                &path,
                "has a name that is not UTF-8; the layout's names are ASCII (rename or remove it)",
            ));
        };
        let is_dir = path.is_dir();
        out.push((name.to_string(), path, is_dir));
    }
    out.sort();
    Ok(out)
}

/// The accounts and regions of a snapshot folder, sorted, without reading their files.
pub fn scopes(dir: &Path) -> Result<Vec<ScopeId>, ReadError> {
    Ok(discover_scopes(dir, &ReadOptions::default())?.into_iter().map(|(id, _)| id).collect())
}

fn discover_scopes(dir: &Path, opts: &ReadOptions) -> Result<Vec<(ScopeId, PathBuf)>, ReadError> {
    if !dir.is_dir() {
        return Err(layout_err(dir, "is not a folder; expected an estate snapshot folder"));
    }
    let entries = sorted_entries(dir)?;
    let is_command = |name: &str| Dataset::ALL.iter().any(|d| d.command() == name);
    let flat = entries.iter().any(|(name, _, _)| is_command(name.strip_suffix(".json").unwrap_or(name)));
    if flat {
        let (account, region) = match (&opts.account, &opts.region) {
            (Some(a), Some(r)) => (a.clone(), r.clone()),
            _ => {
                let (a, r) = sniff_account_region(dir)?;
                (opts.account.clone().unwrap_or(a), opts.region.clone().unwrap_or(r))
            }
        };
        return Ok(vec![(ScopeId { account, region }, dir.to_path_buf())]);
    }
    let mut scopes = Vec::new();
    for (name, path, is_dir) in &entries {
        if !is_dir || !is_account_id(name) {
            continue;
        }
        for (region, rpath, rdir) in sorted_entries(path)? {
            if rdir && is_region(&region) {
                scopes.push((ScopeId { account: name.clone(), region }, rpath));
            } else if rdir {
                return Err(layout_err(&rpath, "is not a region folder (expected a name such as `us-east-1`)"));
            }
        }
    }
    if scopes.is_empty() {
        return Err(layout_err(
            dir,
            "holds no `<account-id>/<region>/` folders and no `<command>.json` files; see the README's estate layout",
        ));
    }
    Ok(scopes)
}

/// Reads account and region from the first Backup ARN of a flat snapshot.
fn sniff_account_region(dir: &Path) -> Result<(String, String), ReadError> {
    // Any command of the layout may be the only one present; vaults and plans come first.
    for name in ["list-backup-vaults", "list-backup-plans"].into_iter().chain(Dataset::ALL.map(Dataset::command)) {
        for candidate in [dir.join(format!("{name}.json")), dir.join(name)] {
            let files: Vec<PathBuf> = if candidate.is_dir() {
                sorted_entries(&candidate)?.into_iter().filter(|e| !e.2).map(|e| e.1).collect()
            } else if candidate.is_file() {
                vec![candidate]
            } else {
                vec![]
            };
            for f in files {
                let text = fs::read_to_string(&f).map_err(|e| io_err(&f, e))?;
                if let Some(found) = first_backup_arn(&text) {
                    return Ok(found);
                }
            }
        }
    }
    Err(layout_err(
        dir,
        "is a flat snapshot whose account and region cannot be read from any ARN; pass --account and --region",
    ))
}

/// `arn:<partition>:backup:<region>:<account>:…` → `(account, region)`.
fn first_backup_arn(text: &str) -> Option<(String, String)> {
    let mut rest = text;
    while let Some(i) = rest.find("arn:aws") {
        if let Some(a) = Arn::parse(&rest[i..])
            && a.service == "backup"
            && is_region(a.region)
            && is_account_id(a.account)
        {
            return Some((a.account.to_string(), a.region.to_string()));
        }
        rest = &rest[i + 7..];
    }
    None
}

/// The files of one list command: `<cmd>.json` or `<cmd>/*.json` in name order.
fn list_files(base: &Path, command: &str) -> Result<Option<Vec<PathBuf>>, ReadError> {
    let file = base.join(format!("{command}.json"));
    let folder = base.join(command);
    if file.is_dir() {
        return Err(layout_err(&file, "is a folder; a file was expected here (`<command>.json`)"));
    }
    match (file.is_file(), folder.is_dir()) {
        (true, true) => Err(layout_err(base, format!("has both `{command}.json` and `{command}/`; keep one"))),
        (true, false) => Ok(Some(vec![file])),
        (false, true) => Ok(Some(json_files(&folder)?)),
        (false, false) => Ok(None),
    }
}

fn json_files(folder: &Path) -> Result<Vec<PathBuf>, ReadError> {
    let mut out = Vec::new();
    for (name, path, is_dir) in sorted_entries(folder)? {
        match (is_dir, name.ends_with(".json")) {
            (true, true) => return Err(folder_for_file(&path)),
            (false, true) => out.push(path),
            _ => {}
        }
    }
    Ok(out)
}

fn folder_for_file(path: &Path) -> ReadError {
    layout_err(path, "is a folder; a JSON file was expected here")
}

/// Per-entity files `<cmd>/<key>.json`, plus `<cmd>/<key>/page-*.json` for per-entity list
/// commands (recovery points of one vault, selections of one plan).
fn entity_files(base: &Path, command: &str) -> Result<Option<Vec<PathBuf>>, ReadError> {
    let folder = base.join(command);
    if !folder.is_dir() {
        return Ok(None);
    }
    let mut out = Vec::new();
    for (name, path, is_dir) in sorted_entries(&folder)? {
        if is_dir && name.ends_with(".json") {
            return Err(folder_for_file(&path));
        } else if is_dir {
            out.extend(json_files(&path)?);
        } else if name.ends_with(".json") {
            out.push(path);
        }
    }
    Ok(Some(out))
}

/// Lists the files of one account/region folder as tasks and records which datasets exist.
fn plan_scope(
    scope: usize,
    base: &Path,
    opts: &ReadOptions,
    reference: bool,
    tasks: &mut Vec<Task>,
) -> Result<BTreeSet<Dataset>, ReadError> {
    let mut collected = BTreeSet::new();
    let mut add =
        |dataset: Dataset, files: Option<Vec<PathBuf>>, kind: &dyn Fn(&Path) -> Kind, tasks: &mut Vec<Task>| {
            if reference && !REFERENCE_DATASETS.contains(&dataset) {
                return;
            }
            if let Some(files) = files {
                collected.insert(dataset);
                for path in files {
                    tasks.push(Task { scope, dataset, kind: kind(&path), path });
                }
            }
        };
    if opts.jobs.is_some() && !reference {
        add(Dataset::BackupJobs, list_files(base, "list-backup-jobs")?, &|_| Kind::BackupJobs, tasks);
        add(Dataset::CopyJobs, list_files(base, "list-copy-jobs")?, &|_| Kind::CopyJobs, tasks);
        add(Dataset::RestoreJobs, list_files(base, "list-restore-jobs")?, &|_| Kind::RestoreJobs, tasks);
    }
    add(Dataset::Vaults, list_files(base, "list-backup-vaults")?, &|_| Kind::Vaults, tasks);
    add(Dataset::VaultDetails, entity_files(base, "describe-backup-vault")?, &|_| Kind::VaultDetail, tasks);
    add(
        Dataset::VaultPolicies,
        entity_files(base, "get-backup-vault-access-policy")?,
        &|p| Kind::VaultPolicy(file_key(p)),
        tasks,
    );
    add(
        Dataset::RecoveryPoints,
        entity_files(base, "list-recovery-points-by-backup-vault")?,
        &|_| Kind::RecoveryPoints,
        tasks,
    );
    add(Dataset::Plans, list_files(base, "list-backup-plans")?, &|_| Kind::Plans, tasks);
    add(Dataset::PlanDetails, entity_files(base, "get-backup-plan")?, &|_| Kind::PlanDetail, tasks);
    add(Dataset::Selections, entity_files(base, "list-backup-selections")?, &|_| Kind::Selections, tasks);
    add(Dataset::SelectionDetails, entity_files(base, "get-backup-selection")?, &|_| Kind::SelectionDetail, tasks);
    add(
        Dataset::ProtectedResources,
        list_files(base, "list-protected-resources")?,
        &|_| Kind::ProtectedResources,
        tasks,
    );
    add(
        Dataset::ProtectedResourceDetails,
        entity_files(base, "describe-protected-resource")?,
        &|_| Kind::ProtectedResourceDetail,
        tasks,
    );
    add(Dataset::Resources, list_files(base, "get-resources")?, &|_| Kind::Resources, tasks);
    add(Dataset::Instances, list_files(base, "describe-instances")?, &|_| Kind::Instances, tasks);
    add(Dataset::Frameworks, list_files(base, "list-frameworks")?, &|_| Kind::Frameworks, tasks);
    add(Dataset::FrameworkDetails, entity_files(base, "describe-framework")?, &|_| Kind::FrameworkDetail, tasks);
    add(Dataset::ReportPlans, list_files(base, "list-report-plans")?, &|_| Kind::ReportPlans, tasks);
    add(Dataset::ReportPlanDetails, entity_files(base, "describe-report-plan")?, &|_| Kind::ReportPlanDetail, tasks);
    add(Dataset::Parents, entity_files(base, "list-parents")?, &|p| Kind::Parents(file_key(p)), tasks);
    Ok(collected)
}

/// The entity key of a per-entity file: its name without `.json`, percent-decoded.
fn file_key(path: &Path) -> String {
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
    percent_encoding::percent_decode_str(stem).decode_utf8_lossy().into_owned()
}

/// Parses `bytes` as `T`. The fast path does not track the JSON path; on failure the same
/// bytes are parsed again with path tracking so the error can name the field.
pub fn parse_json<'a, T: Deserialize<'a>>(path: &Path, bytes: &'a [u8]) -> Result<T, ReadError> {
    match serde_json::from_slice::<T>(bytes) {
        Ok(v) => Ok(v),
        Err(first) => {
            let mut de = serde_json::Deserializer::from_slice(bytes);
            let (json_path, message) = match serde_path_to_error::deserialize::<_, T>(&mut de) {
                Err(e) => {
                    let p = e.path().to_string();
                    let inner = e.into_inner();
                    (p, strip_position(&inner))
                }
                Ok(_) => (".".to_string(), strip_position(&first)),
            };
            let json_path = if json_path == "." { "$".to_string() } else { format!("$.{json_path}") };
            let message = if first.is_syntax() || first.is_eof() {
                format!("malformed JSON: {message} (line {}, column {})", first.line(), first.column())
            } else {
                message
            };
            Err(ReadError::Json { path: path.to_path_buf(), json_path, message })
        }
    }
}

fn strip_position(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

thread_local! {
    /// One read buffer per worker thread: a gigabyte of pages read into fresh allocations
    /// spends much of its time faulting in new memory.
    static BUFFER: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// A file's SHA-256 and size, for the run manifest's estate digest.
struct FileDigest {
    sha256: [u8; 32],
    bytes: u64,
}

fn parse_task(task: &Task, scope: &ScopeId, jobs: Option<&JobFilter>) -> Result<(Parsed, FileDigest), ReadError> {
    use sha2::Digest;
    BUFFER.with(|buffer| {
        let mut bytes = buffer.borrow_mut();
        bytes.clear();
        let t = std::time::Instant::now();
        fs::File::open(&task.path)
            .and_then(|mut f| std::io::Read::read_to_end(&mut f, &mut bytes))
            .map_err(|e| io_err(&task.path, e))?;
        let t = CPU.read.add(t);
        let digest = FileDigest { sha256: sha2::Sha256::digest(&bytes[..]).into(), bytes: bytes.len() as u64 };
        let t = CPU.hash.add(t);
        let parsed = parse_bytes(task, scope, jobs, strip_bom(&bytes))
            .map_err(|e| encoding_error(&task.path, &bytes).unwrap_or(e))?;
        CPU.parse.add(t);
        check_folder(task, scope, &parsed)?;
        Ok((parsed, digest))
    })
}

/// A UTF-8 byte-order mark (PowerShell's default) is not part of the JSON.
fn strip_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)
}

/// When a file does not parse, whether that is because it is not UTF-8, said plainly.
fn encoding_error(path: &Path, bytes: &[u8]) -> Option<ReadError> {
    let found = match bytes {
        [0xFF, 0xFE, ..] => {
            "UTF-16 little-endian (byte-order mark FF FE; PowerShell 5 `>` writes this: use `Out-File -Encoding utf8`)"
                .to_string()
        }
        [0xFE, 0xFF, ..] => "UTF-16 big-endian (byte-order mark FE FF)".to_string(),
        [a, 0, ..] if *a != 0 => "UTF-16 little-endian (no byte-order mark)".to_string(),
        [0, b, ..] if *b != 0 => "UTF-16 big-endian (no byte-order mark)".to_string(),
        _ => match std::str::from_utf8(bytes) {
            Ok(_) => return None,
            Err(e) => format!(
                "not UTF-8: byte 0x{:02X} at offset {} is invalid (Latin-1 or another legacy encoding?)",
                bytes[e.valid_up_to()],
                e.valid_up_to()
            ),
        },
    };
    Some(ReadError::Encoding { path: path.to_path_buf(), found })
}

/// Checks that the entities of a file belong to its folder: a vault's, a plan's, a
/// framework's or a report plan's own ARN, the vault of a recovery point, the (source) vault
/// of a job must name the folder's region, and all but the jobs its account (an
/// organisation-wide job list rightly holds other accounts' jobs). Copy destinations are not
/// checked: they rightly point elsewhere.
fn check_folder(task: &Task, scope: &ScopeId, parsed: &Parsed) -> Result<(), ReadError> {
    let check = |what: &'static str, arn: Option<&str>, check_account: bool| -> Result<(), ReadError> {
        let Some(arn) = arn else { return Ok(()) };
        let Some(Arn { region, account, .. }) = Arn::parse(arn) else { return Ok(()) };
        let contradiction = |field: &str, folder: &str, found: &str| {
            layout_err(
                &task.path,
                format!(
                    "the folder is {field} `{folder}`, but {what} `{arn}` names {field} `{found}`; was it collected for another {field}? (the AWS CLI v1 ignores AWS_REGION: pass --region)"
                ),
            )
        };
        if !region.is_empty() && region != scope.region {
            return Err(contradiction("region", &scope.region, region));
        }
        if check_account && !account.is_empty() && account != scope.account {
            return Err(contradiction("account", &scope.account, account));
        }
        Ok(())
    };
    match parsed {
        Parsed::Vaults(list) => list.iter().try_for_each(|v| check("vault", v.backup_vault_arn.as_deref(), true)),
        Parsed::VaultDetail(v) => check("vault", v.backup_vault_arn.as_deref(), true),
        Parsed::RecoveryPoints(list) => {
            list.iter().try_for_each(|rp| check("the vault of recovery point", rp.backup_vault_arn.as_deref(), true))
        }
        Parsed::Plans(list) => list.iter().try_for_each(|p| check("plan", p.backup_plan_arn.as_deref(), true)),
        Parsed::PlanDetail(p) => check("plan", p.backup_plan_arn.as_deref(), true),
        Parsed::BackupJobs(page) => {
            page.rows.iter().try_for_each(|j| check("the vault of backup job", j.backup_vault_arn.as_deref(), false))
        }
        Parsed::CopyJobs(page) => page
            .rows
            .iter()
            .try_for_each(|j| check("the source vault of copy job", j.source_backup_vault_arn.as_deref(), false)),
        Parsed::Frameworks(list) => list.iter().try_for_each(|f| check("framework", f.framework_arn.as_deref(), true)),
        Parsed::FrameworkDetail(f) => check("framework", f.framework_arn.as_deref(), true),
        Parsed::ReportPlans(list) => {
            list.iter().try_for_each(|r| check("report plan", r.report_plan_arn.as_deref(), true))
        }
        Parsed::ReportPlanDetail(r) => check("report plan", r.report_plan_arn.as_deref(), true),
        _ => Ok(()),
    }
}

/// The estate digest: SHA-256 over `sha256sum`-style lines (`<hex>  <path>\n`) of every file
/// read, with paths relative to the snapshot folder, `/`-separated, in byte order.
fn digest_inputs<'a>(dir: &Path, tasks: &[Task], digests: impl Iterator<Item = &'a FileDigest>) -> Inputs {
    use sha2::Digest;
    let mut lines: Vec<(String, &FileDigest)> = tasks
        .iter()
        .zip(digests)
        .map(|(t, d)| {
            let rel = t.path.strip_prefix(dir).unwrap_or(&t.path);
            let rel: Vec<String> = rel.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
            (rel.join("/"), d)
        })
        .collect();
    lines.sort_by(|a, b| a.0.cmp(&b.0));
    let mut h = sha2::Sha256::new();
    for (path, d) in &lines {
        h.update(hex::encode(d.sha256).as_bytes());
        h.update(b"  ");
        h.update(path.as_bytes());
        h.update(b"\n");
    }
    Inputs { files: lines.len(), bytes: lines.iter().map(|(_, d)| d.bytes).sum(), sha256: hex::encode(h.finalize()) }
}

fn parse_bytes(task: &Task, scope: &ScopeId, jobs: Option<&JobFilter>, bytes: &[u8]) -> Result<Parsed, ReadError> {
    let p = &task.path;
    let (acct, region) = (scope.account.as_str(), scope.region.as_str());
    Ok(match &task.kind {
        Kind::BackupJobs => Parsed::BackupJobs(stream::<RawBackupJob, BackupJobsPage>(p, bytes, jobs, acct, region)?),
        Kind::CopyJobs => Parsed::CopyJobs(stream::<RawCopyJob, CopyJobsPage>(p, bytes, jobs, acct, region)?),
        Kind::RestoreJobs => {
            Parsed::RestoreJobs(stream::<RawRestoreJob, RestoreJobsPage>(p, bytes, jobs, acct, region)?)
        }
        Kind::Vaults => Parsed::Vaults(parse_json::<BackupVaultsPage>(p, bytes)?.backup_vault_list),
        Kind::VaultDetail => Parsed::VaultDetail(parse_json(p, bytes)?),
        Kind::VaultPolicy(key) => {
            let body: VaultAccessPolicy = parse_json(p, bytes)?;
            Parsed::VaultPolicy(body.backup_vault_name.unwrap_or_else(|| key.clone()), body.policy)
        }
        Kind::RecoveryPoints => Parsed::RecoveryPoints(parse_json::<RecoveryPointsPage>(p, bytes)?.recovery_points),
        Kind::Plans => Parsed::Plans(parse_json::<BackupPlansPage>(p, bytes)?.backup_plans_list),
        Kind::PlanDetail => Parsed::PlanDetail(Box::new(parse_json(p, bytes)?)),
        Kind::Selections => {
            let mut list = parse_json::<BackupSelectionsPage>(p, bytes)?.backup_selections_list;
            // The plan id is the folder key when the member does not carry it.
            let key = plan_key_of_selection_list(p);
            for s in &mut list {
                if s.backup_plan_id.is_none() {
                    s.backup_plan_id = key.clone();
                }
            }
            Parsed::Selections(list)
        }
        Kind::SelectionDetail => Parsed::SelectionDetail(Box::new(parse_json(p, bytes)?)),
        Kind::ProtectedResources => Parsed::ProtectedResources(parse_json::<ProtectedResourcesPage>(p, bytes)?.results),
        Kind::ProtectedResourceDetail => Parsed::ProtectedResourceDetail(parse_json(p, bytes)?),
        Kind::Resources => Parsed::Resources(parse_json::<GetResourcesPage>(p, bytes)?.resource_tag_mapping_list),
        Kind::Instances => Parsed::Instances(
            parse_json::<DescribeInstancesPage>(p, bytes)?
                .reservations
                .into_iter()
                .flat_map(|r| r.instances)
                .map(|i| (i.instance_id, i.state.map(|s| s.name).unwrap_or_default()))
                .collect(),
        ),
        Kind::Frameworks => Parsed::Frameworks(parse_json::<FrameworksPage>(p, bytes)?.frameworks),
        Kind::FrameworkDetail => Parsed::FrameworkDetail(Box::new(parse_json(p, bytes)?)),
        Kind::ReportPlans => Parsed::ReportPlans(parse_json::<ReportPlansPage>(p, bytes)?.report_plans),
        Kind::ReportPlanDetail => {
            Parsed::ReportPlanDetail(Box::new(parse_json::<DescribeReportPlan>(p, bytes)?.report_plan))
        }
        Kind::Parents(child) => Parsed::Parents(child.clone(), parse_json::<ParentsPage>(p, bytes)?.parents),
    })
}

/// Streams a job page; on failure parses it again as `P` to name the JSON path in the error.
fn stream<'a, J: JobRecord<'a>, P: Deserialize<'a>>(
    path: &Path,
    bytes: &'a [u8],
    jobs: Option<&JobFilter>,
    account: &str,
    region: &str,
) -> Result<jobs::PageRows<J::Row>, ReadError> {
    let filter = jobs.expect("job files are only listed with a job filter");
    jobs::stream_page::<J>(bytes, filter, account, region).or_else(|fast| {
        parse_json::<P>(path, bytes)?;
        Err(ReadError::Json { path: path.to_path_buf(), json_path: "$".into(), message: strip_position(&fast) })
    })
}

/// `list-backup-selections/<plan-id>.json` or `list-backup-selections/<plan-id>/page-1.json`.
fn plan_key_of_selection_list(path: &Path) -> Option<String> {
    let parent = path.parent()?;
    if parent.file_name()?.to_str()? == "list-backup-selections" {
        Some(file_key(path))
    } else {
        parent.file_name()?.to_str().map(str::to_string)
    }
}

/// Folds the parsed files into one estate. `parsed` is in task order, which is deterministic.
fn assemble(scopes: Vec<Scope>, parsed: impl Iterator<Item = (usize, Parsed)>) -> Estate {
    let mut e = Estate { scopes, ..Estate::default() };
    let mut vaults: BTreeMap<(usize, String), Vault> = BTreeMap::new();
    let mut policies: BTreeMap<(usize, String), String> = BTreeMap::new();
    let mut plans: BTreeMap<(usize, String), Plan> = BTreeMap::new();
    let mut selections: BTreeMap<(usize, String, String), Selection> = BTreeMap::new();
    let mut protected: BTreeMap<(usize, String), ProtectedResource> = BTreeMap::new();
    let mut frameworks: BTreeMap<(usize, String), (Option<String>, Option<Framework>)> = BTreeMap::new();
    let mut report_plans: BTreeMap<(usize, String), ReportPlan> = BTreeMap::new();
    let mut seen_jobs: BTreeSet<(usize, u8, String)> = BTreeSet::new();
    // Every job of 30 days goes through this set: its keys are hashes already, so it hashes them
    // as they are.
    let mut seen_history: std::collections::HashSet<(usize, u64), std::hash::BuildHasherDefault<jobs::KeyHasher>> =
        Default::default();
    let mut history = |e: &mut Estate, scope: usize, kind: jobs::JobKind, tallies: Vec<jobs::JobTally>| {
        for t in tallies.iter().filter(|t| seen_history.insert((scope, t.id ^ kind as u64))) {
            e.job_history.add(kind, t);
        }
    };
    let mut parents: BTreeMap<String, Parent> = BTreeMap::new();
    for (scope, p) in parsed {
        match p {
            Parsed::BackupJobs(page) => {
                e.undated_jobs += page.undated;
                history(&mut e, scope, jobs::JobKind::Backup, page.history);
                e.backup_jobs
                    .extend(page.rows.into_iter().filter(|r| seen_jobs.insert((scope, 0, r.backup_job_id.clone()))))
            }
            Parsed::CopyJobs(page) => {
                e.undated_jobs += page.undated;
                history(&mut e, scope, jobs::JobKind::Copy, page.history);
                e.copy_jobs
                    .extend(page.rows.into_iter().filter(|r| seen_jobs.insert((scope, 1, r.copy_job_id.clone()))))
            }
            Parsed::RestoreJobs(page) => {
                e.undated_jobs += page.undated;
                history(&mut e, scope, jobs::JobKind::Restore, page.history);
                e.restore_jobs
                    .extend(page.rows.into_iter().filter(|r| seen_jobs.insert((scope, 2, r.restore_job_id.clone()))))
            }
            Parsed::Vaults(list) => {
                for v in list {
                    vaults.entry((scope, v.backup_vault_name.clone())).or_insert(Vault {
                        scope,
                        vault: v,
                        policy: None,
                    });
                }
            }
            Parsed::VaultDetail(v) => {
                // describe-backup-vault carries the lock fields; it wins over the list member.
                vaults.insert((scope, v.backup_vault_name.clone()), Vault { scope, vault: v, policy: None });
            }
            Parsed::VaultPolicy(name, policy) => {
                policies.insert((scope, name), policy);
            }
            Parsed::RecoveryPoints(list) => e.recovery_points.extend(list.into_iter().map(|rp| (scope, rp))),
            Parsed::Plans(list) => {
                for s in list.into_iter().filter(|s| s.deletion_date.is_none()) {
                    plans.entry((scope, s.backup_plan_id.clone())).or_insert(Plan {
                        scope,
                        id: s.backup_plan_id,
                        arn: s.backup_plan_arn,
                        name: s.backup_plan_name,
                        version: s.version_id,
                        rules: None,
                    });
                }
            }
            Parsed::PlanDetail(d) => {
                let d = *d;
                let entry = plans.entry((scope, d.backup_plan_id.clone())).or_insert(Plan {
                    scope,
                    id: d.backup_plan_id.clone(),
                    arn: None,
                    name: None,
                    version: None,
                    rules: None,
                });
                entry.arn = d.backup_plan_arn.or(entry.arn.take());
                entry.name = Some(d.backup_plan.backup_plan_name);
                entry.version = d.version_id.or(entry.version.take());
                entry.rules = Some(d.backup_plan.rules);
            }
            Parsed::Selections(list) => {
                for s in list {
                    let plan_id = s.backup_plan_id.clone().unwrap_or_default();
                    selections.entry((scope, plan_id.clone(), s.selection_id.clone())).or_insert(Selection {
                        scope,
                        plan_id,
                        selection_id: s.selection_id,
                        selection: None,
                    });
                }
            }
            Parsed::SelectionDetail(d) => {
                let d = *d;
                selections.insert(
                    (scope, d.backup_plan_id.clone(), d.selection_id.clone()),
                    Selection {
                        scope,
                        plan_id: d.backup_plan_id,
                        selection_id: d.selection_id,
                        selection: Some(d.backup_selection),
                    },
                );
            }
            Parsed::ProtectedResources(list) => {
                for r in list {
                    protected.entry((scope, r.resource_arn.clone())).or_insert(r);
                }
            }
            Parsed::ProtectedResourceDetail(d) => {
                let entry = protected.entry((scope, d.resource_arn.clone())).or_default();
                merge_protected(entry, d);
            }
            Parsed::Resources(list) => e.inventory.extend(list.into_iter().map(|r| (scope, r))),
            Parsed::Instances(list) => e.instance_states.extend(list.into_iter().map(|(id, s)| ((scope, id), s))),
            Parsed::Frameworks(list) => {
                for f in list {
                    frameworks.entry((scope, f.framework_name.clone())).or_insert((f.framework_arn, None));
                }
            }
            Parsed::FrameworkDetail(f) => {
                let entry = frameworks.entry((scope, f.framework_name.clone())).or_insert((None, None));
                entry.1 = Some(*f);
            }
            Parsed::ReportPlans(list) => {
                for r in list {
                    report_plans.entry((scope, r.report_plan_name.clone())).or_insert(r);
                }
            }
            Parsed::ReportPlanDetail(r) => {
                report_plans.insert((scope, r.report_plan_name.clone()), *r);
            }
            Parsed::Parents(child, list) => {
                if let Some(parent) = list.into_iter().next() {
                    parents.insert(child, parent);
                }
            }
        }
    }
    for ((scope, name), policy) in policies {
        if let Some(v) = vaults.get_mut(&(scope, name)) {
            v.policy = Some(policy);
        }
    }
    e.vaults = vaults.into_values().collect();
    e.plans = plans.into_values().collect();
    e.selections = selections.into_values().collect();
    e.protected_resources = protected.into_iter().map(|((s, _), r)| (s, r)).collect();
    e.frameworks = frameworks
        .into_iter()
        .map(|((s, name), (arn, detail))| (s, name, arn, detail))
        .map(|(s, name, arn, detail)| super::FrameworkEntry { scope: s, name, arn, detail })
        .collect();
    e.report_plans = report_plans.into_iter().map(|((s, _), r)| (s, r)).collect();
    let accounts: BTreeSet<String> =
        e.scopes.iter().map(|s| s.id.account.clone()).chain(e.job_accounts().into_iter().map(str::to_string)).collect();
    e.org_paths = accounts.into_iter().filter_map(|a| org_path(&parents, &a).map(|p| (a, p))).collect();
    e
}

/// The Organizations path of an account, root first (`r-ab12/ou-ab12-11111111/`), walking
/// `list-parents` answers up to the root. `None` when a link of the chain was not collected.
/// Decision (Audit Manager's "Path To Root" format is unconfirmed): the ids joined by `/`
/// with a final `/`, as the issue and the `aws:PrincipalOrgPaths` form (without the
/// organisation id) write them.
fn org_path(parents: &BTreeMap<String, Parent>, account: &str) -> Option<String> {
    let mut chain = Vec::new();
    let mut child = account;
    // Organizations nests OUs at most five deep; the bound also stops a cycle.
    for _ in 0..8 {
        let parent = parents.get(child)?;
        chain.push(parent.id.as_str());
        if parent.parent_type == "ROOT" {
            chain.reverse();
            return Some(chain.iter().map(|id| format!("{id}/")).collect());
        }
        child = &parent.id;
    }
    None
}

fn merge_protected(into: &mut ProtectedResource, d: ProtectedResource) {
    into.resource_arn = d.resource_arn;
    macro_rules! take {
        ($($f:ident),*) => { $( if d.$f.is_some() { into.$f = d.$f; } )* };
    }
    take!(
        resource_type,
        resource_name,
        last_backup_time,
        last_backup_vault_arn,
        last_recovery_point_arn,
        latest_restore_execution_time_minutes,
        latest_restore_job_creation_date,
        latest_restore_recovery_point_creation_date
    );
}

/// `DIR/snapshot.json`: when the snapshot was taken, and what could not be collected.
#[derive(Deserialize)]
struct Marker {
    #[serde(rename = "CollectedAt")]
    collected_at: Timestamp,
    #[serde(rename = "Failures", default)]
    failures: Vec<MarkerFailure>,
    /// Accounts whose job lists are organisation-wide (`ByAccountId=*`, `--org-jobs`).
    #[serde(rename = "OrganizationJobLists", default)]
    organization_job_lists: Vec<String>,
    /// Commands the collector left out because no control of the account and region needed
    /// them.
    #[serde(rename = "Skipped", default)]
    skipped: Vec<MarkerSkipped>,
}

/// One entry of `snapshot.json` `Skipped`.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct MarkerSkipped {
    account: String,
    region: String,
    command: String,
    reason: String,
}

/// One entry of `snapshot.json` `Failures` (written by the live collector).
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct MarkerFailure {
    account: String,
    region: String,
    command: String,
    error: String,
}

impl From<MarkerFailure> for String {
    fn from(f: MarkerFailure) -> String {
        format!("account {} region {}: {} not collected: {}", f.account, f.region, f.command, f.error)
    }
}

fn marker(dir: &Path) -> Result<Option<Marker>, ReadError> {
    let path = dir.join("snapshot.json");
    match fs::read(&path) {
        Ok(bytes) => Ok(Some(
            parse_json::<Marker>(&path, strip_bom(&bytes)).map_err(|e| encoding_error(&path, &bytes).unwrap_or(e))?,
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err(&path, e)),
    }
}

/// The snapshot's own clock: `DIR/snapshot.json` `{"CollectedAt": "<ISO-8601>"}`, if present.
pub fn collected_at(dir: &Path) -> Result<Option<crate::time::Millis>, ReadError> {
    Ok(marker(dir)?.map(|m| m.collected_at.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_names() {
        for r in ["us-east-1", "eu-central-2", "us-gov-west-1", "ap-southeast-5", "il-central-1"] {
            assert!(is_region(r), "{r}");
        }
        for r in ["useast1", "us-east", "US-EAST-1", "list-backup-jobs", "123456789012"] {
            assert!(!is_region(r), "{r}");
        }
    }

    #[test]
    fn backup_arn_sniffing() {
        let text =
            r#"{"X":"arn:aws:iam::111111111111:role/r","V":"arn:aws:backup:eu-west-1:222222222222:backup-vault:v"}"#;
        assert_eq!(first_backup_arn(text), Some(("222222222222".into(), "eu-west-1".into())));
    }
}
