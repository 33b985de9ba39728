//! The estate indexed once for evaluation: what every control reads, looked up by key.
//!
//! Built once per run, before any control runs, in one pass over each kind of record:
//!
//! - per account and region, the resources of the inventory with their tags, EC2 state and the
//!   backup selections that pick them (selections resolved once per resource, not once per
//!   control), sorted by report id;
//! - per account and region, the recovery points sorted by report id;
//! - the newest usable recovery point of each resource, overall and in logically air-gapped
//!   vaults (recovery points created after `now` are not evidence: they did not exist yet);
//! - restore times and last backup times of the protected resources (facts from after `now`
//!   are left out for the same reason);
//! - vaults by (scope, name) and tags by ARN.
//!
//! Candidates are kept in report id order (`<Config type>/<id>`, stable for equal ids), so an
//! evaluation that walks them in order produces the compliance reports' row order without a
//! sort, and can cut them into chunks for rayon.

use std::collections::{BTreeMap, HashMap};

use rayon::prelude::*;

use super::resources;
use super::selection::{self, Match};
use crate::estate::model::RecoveryPoint;
use crate::estate::{Dataset, Estate};
use crate::time::Millis;

/// A vault type that counts as logically air-gapped.
const LOGICALLY_AIR_GAPPED: &str = "LOGICALLY_AIR_GAPPED_BACKUP_VAULT";

/// Tags by key.
pub type Tags<'e> = BTreeMap<&'e str, &'e str>;

/// A resource of the inventory with what the resource controls read.
#[derive(Debug)]
pub struct Resource<'e> {
    pub arn: &'e str,
    /// `<Config type>/<id>`: the report's resource id, and the sort key.
    pub report_id: String,
    pub short_type: &'static str,
    pub config_type: &'static str,
    /// EC2 instance state when known.
    pub state: Option<&'e str>,
    /// Every backup selection that picks the resource.
    pub coverage: Vec<Coverage>,
}

impl<'e> Resource<'e> {
    /// The id after the type (`i-0abc…`, `fs-63c74e66`).
    pub fn id(&self) -> &'e str {
        resources::resource_id(self.arn)
    }
}

/// A backup selection that picks a resource.
#[derive(Debug)]
pub struct Coverage {
    /// Index into `Estate::plans`.
    pub plan: usize,
    pub selection: String,
    pub why: Match,
}

/// One account and region.
#[derive(Debug, Default)]
pub struct ScopeIndex<'e> {
    /// Resources in report id order.
    pub resources: Vec<Resource<'e>>,
    /// Recovery points (indexes into `Estate::recovery_points`) in report id order.
    pub recovery_points: Vec<usize>,
    /// Plans of this scope (indexes into `Estate::plans`).
    pub plans: Vec<usize>,
    /// Vaults of this scope (indexes into `Estate::vaults`).
    pub vaults: Vec<usize>,
    /// Every selection had its detail file.
    pub selections_complete: bool,
    /// Inventory (get-resources or list-protected-resources) was collected.
    pub inventory_collected: bool,
}

/// The estate indexed for the controls.
pub struct Index<'e> {
    pub estate: &'e Estate,
    pub now: Millis,
    pub scopes: Vec<ScopeIndex<'e>>,
    /// Tags of every ARN in the inventory.
    pub tags: HashMap<&'e str, Tags<'e>>,
    /// Newest usable recovery point per resource ARN (anywhere in the estate).
    pub latest_rp: HashMap<&'e str, Millis>,
    /// Newest usable recovery point in a logically air-gapped vault per resource ARN.
    pub latest_lag_rp: HashMap<&'e str, Millis>,
    /// `LatestRestoreExecutionTimeMinutes` per resource ARN.
    pub restore_minutes: HashMap<&'e str, i64>,
    /// `LastBackupTime` per resource ARN.
    pub last_backup: HashMap<&'e str, Millis>,
    /// Vaults by (scope, name), indexes into `Estate::vaults`.
    pub vaults: HashMap<(usize, String), usize>,
}

impl<'e> Index<'e> {
    /// Indexes `estate` as of `now`.
    pub fn build(estate: &'e Estate, now: Millis) -> Index<'e> {
        let mut tags: HashMap<&str, Tags<'_>> = HashMap::new();
        for (_, r) in &estate.inventory {
            tags.entry(r.resource_arn.as_str())
                .or_default()
                .extend(r.tags.iter().map(|t| (t.key.as_str(), t.value.as_str())));
        }
        let (latest_rp, latest_lag_rp) = latest_recovery_points(estate, now);
        let mut restore_minutes = HashMap::new();
        let mut last_backup = HashMap::new();
        // Protected-resource facts from after `now` are not evidence either: a restore whose
        // job was created later, a last backup later than `now`.
        for (_, p) in &estate.protected_resources {
            let restore_known = p.latest_restore_job_creation_date.is_none_or(|t| t.0 <= now);
            if let Some(m) = p.latest_restore_execution_time_minutes.filter(|_| restore_known) {
                restore_minutes.insert(p.resource_arn.as_str(), m);
            }
            if let Some(t) = p.last_backup_time.filter(|t| t.0 <= now) {
                last_backup.insert(p.resource_arn.as_str(), t.0);
            }
        }
        let vaults =
            estate.vaults.iter().enumerate().map(|(i, v)| ((v.scope, v.vault.backup_vault_name.clone()), i)).collect();
        let mut by_scope: Vec<Vec<usize>> = vec![Vec::new(); estate.scopes.len()];
        for (i, (s, _)) in estate.recovery_points.iter().enumerate() {
            by_scope[*s].push(i);
        }
        let scopes = by_scope
            .into_par_iter()
            .enumerate()
            .map(|(s, rps)| {
                // Stable: equal ids keep the estate's order, as the reports always had them.
                let mut keyed: Vec<(&str, usize)> = rps
                    .into_iter()
                    .map(|i| (resources::resource_id(&estate.recovery_points[i].1.recovery_point_arn), i))
                    .collect();
                keyed.sort_by(|a, b| a.0.cmp(b.0));
                scope_index(estate, s, &tags, keyed.into_iter().map(|(_, i)| i).collect())
            })
            .collect();
        Index { estate, now, scopes, tags, latest_rp, latest_lag_rp, restore_minutes, last_backup, vaults }
    }

    /// Whether `dataset` was collected in scope `s`.
    pub fn has(&self, s: usize, dataset: Dataset) -> bool {
        self.estate.has(s, dataset)
    }

    /// A recovery point by its index into `Estate::recovery_points`.
    pub fn recovery_point(&self, i: usize) -> &'e RecoveryPoint {
        &self.estate.recovery_points[i].1
    }
}

/// Newest usable recovery point per resource, overall and in logically air-gapped vaults.
/// Usable: it names its resource, its status is absent, COMPLETED or AVAILABLE, and it was
/// created at or before `now`. Its vault type is its own `VaultType`, else that of the first
/// vault with its `BackupVaultArn`.
type Newest<'e> = HashMap<&'e str, Millis>;

fn latest_recovery_points(estate: &Estate, now: Millis) -> (Newest<'_>, Newest<'_>) {
    let mut vault_types: HashMap<&str, Option<&str>> = HashMap::new();
    for v in &estate.vaults {
        if let Some(arn) = v.vault.backup_vault_arn.as_deref() {
            vault_types.entry(arn).or_insert(v.vault.vault_type.as_deref());
        }
    }
    let (mut all, mut lag) = (HashMap::new(), HashMap::new());
    fn newer<'e>(m: &mut Newest<'e>, arn: &'e str, t: Millis) {
        let old = m.entry(arn).or_insert(t);
        *old = (*old).max(t);
    }
    for (_, rp) in &estate.recovery_points {
        let Some(arn) = rp.resource_arn.as_deref() else { continue };
        if !matches!(rp.status.as_deref(), None | Some("COMPLETED" | "AVAILABLE")) || rp.creation_date.0 > now {
            continue;
        }
        let t = rp.creation_date.0;
        newer(&mut all, arn, t);
        let vault_type = rp
            .vault_type
            .as_deref()
            .or_else(|| rp.backup_vault_arn.as_deref().and_then(|a| vault_types.get(a).copied().flatten()));
        if vault_type == Some(LOGICALLY_AIR_GAPPED) {
            newer(&mut lag, arn, t);
        }
    }
    (all, lag)
}

fn scope_index<'e>(
    estate: &'e Estate,
    s: usize,
    tags: &HashMap<&str, Tags<'_>>,
    recovery_points: Vec<usize>,
) -> ScopeIndex<'e> {
    let plans: Vec<usize> = estate.plans.iter().enumerate().filter(|(_, p)| p.scope == s).map(|(i, _)| i).collect();
    let vaults: Vec<usize> = estate.vaults.iter().enumerate().filter(|(_, v)| v.scope == s).map(|(i, _)| i).collect();
    let selections: Vec<_> = estate.selections.iter().filter(|x| x.scope == s).collect();
    let selections_complete = (estate.has(s, Dataset::Selections) || estate.has(s, Dataset::SelectionDetails))
        && selections.iter().all(|x| x.selection.is_some());
    let mut arns: Vec<&str> = estate
        .inventory
        .iter()
        .filter(|(sc, _)| *sc == s)
        .map(|(_, r)| r.resource_arn.as_str())
        .chain(estate.protected_resources.iter().filter(|(sc, _)| *sc == s).map(|(_, r)| r.resource_arn.as_str()))
        .collect();
    arns.sort_unstable();
    arns.dedup();
    let empty = BTreeMap::new();
    let mut resources: Vec<Resource> = arns
        .into_iter()
        .filter_map(|arn| {
            let short = resources::short_type(arn)?;
            let t = tags.get(arn).unwrap_or(&empty);
            let coverage = selections
                .iter()
                .filter_map(|x| {
                    let detail = x.selection.as_ref()?;
                    let why = selection::matches(detail, arn, t)?;
                    let plan = plans.iter().copied().find(|&p| estate.plans[p].id == x.plan_id)?;
                    Some(Coverage { plan, selection: detail.selection_name.clone(), why })
                })
                .collect();
            let state = (short == "EC2")
                .then(|| estate.instance_states.get(&(s, resources::resource_id(arn).to_string())).map(String::as_str))
                .flatten();
            let config_type = resources::config_type(short).unwrap_or("AWS::Unknown");
            Some(Resource {
                arn,
                report_id: format!("{config_type}/{}", resources::resource_id(arn)),
                short_type: short,
                config_type,
                state,
                coverage,
            })
        })
        .collect();
    // ARN order, then report id order (stable), as the reports' rows were always sorted.
    resources.sort_by(|a, b| a.report_id.cmp(&b.report_id));
    ScopeIndex {
        resources,
        recovery_points,
        plans,
        vaults,
        selections_complete,
        inventory_collected: estate.has(s, Dataset::Resources) || estate.has(s, Dataset::ProtectedResources),
    }
}
