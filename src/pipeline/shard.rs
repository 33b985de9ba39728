//! `plan` and `shard`: an organisation run cut into shards ([`crate::parts`]).
//!
//! A shard runs the first stages of `run` (source → estate → frames → evaluate) for some
//! accounts and regions and writes their typed rows as Parquet instead of rendering them.
//! From a snapshot folder it reads the other accounts and regions too, but only as
//! references (vaults, recovery points, protected resources, organisation parents), so that a
//! copy in another account or region counts exactly as in `run`.

use std::collections::BTreeSet;

use polars::prelude::*;
use tracing::info;

use super::{Outcome, Pipeline, Prepared, Problem, SourceInfo};
use crate::cleanup::TemporarySnapshot;
use crate::config::Source;
use crate::controls::{self, ControlResult, Evaluator, Unit, Verdict};
use crate::estate::{self, Estate, ReadOptions, ScopeId};
use crate::frames;
use crate::parts::{self, Done, DoneFile, Item, PartsError, PartsStore, RunPlan, ScopeEntry, Table, facts};
use crate::reports::compliance_report::{self, CONTROL_FIELDS, FieldKind, RESOURCE_FIELDS};
use crate::reports::encode::Cell;
use crate::reports::job_report::{self, JobReportFrames};
use crate::time::{self, Millis};

/// The content type of the Parquet parts.
const PARQUET: &str = "application/vnd.apache.parquet";

/// Which accounts and regions a shard takes.
#[derive(Debug, Clone)]
pub enum ShardScopes {
    /// The scopes whose position in the sorted scope list is `index` modulo `count`.
    Modulo { index: usize, count: usize },
    /// Every listed account in every listed region (one Map item).
    Listed { accounts: Vec<String>, regions: Vec<String> },
}

/// Which part of a shard's work to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShardStep {
    /// Read (or collect) and evaluate: a snapshot folder's shards, with the other scopes read
    /// as references.
    Whole,
    /// Collect live and write the scope's snapshot and the facts other scopes need
    /// ([`crate::parts::facts`]); the first Map of a live run.
    Collect,
    /// Evaluate from the parts: the scope's snapshot and the facts addressed to it, collected
    /// by the first Map; the second Map of a live run.
    Evaluate,
}

impl<'c> Pipeline<'c> {
    /// `plan`: every account and region of the run, its `now` and window, to `_plan.json`, and
    /// one Map item per scope to `_items.json`.
    pub(super) fn plan(&self, parts: &PartsStore) -> Result<Outcome, Problem> {
        let cfg = self.config;
        let (scopes, now, location) = match &cfg.source {
            Source::Snapshot(dir) => {
                let now = match cfg.now {
                    Some(t) => t,
                    None => estate::snapshot::collected_at(dir)?.unwrap_or(self.clock),
                };
                (estate::snapshot::scopes(dir)?, now, dir.clone())
            }
            Source::Aws(aws) => {
                let regions = &aws.collect.regions;
                if regions.is_empty() {
                    return Err(Problem::BadInput("plan --source aws needs --regions (the regions to shard)".into()));
                }
                // No account list: every ACTIVE account of the organisation.
                let accounts = match aws.collect.accounts.is_empty() {
                    false => aws.collect.accounts.clone(),
                    true => self.block_on(crate::collect::organization_accounts(&aws.collect))??,
                };
                let scopes = accounts
                    .iter()
                    .flat_map(|a| regions.iter().map(|r| ScopeId { account: a.clone(), region: r.clone() }))
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect();
                (scopes, cfg.now.unwrap_or(self.clock), "aws".into())
            }
        };
        let window = cfg.window.resolve(now);
        let entries: Vec<ScopeEntry> =
            scopes.iter().map(|s| ScopeEntry { account: s.account.clone(), region: s.region.clone() }).collect();
        let plan = RunPlan {
            schema: parts::SCHEMA_VERSION,
            now: time::format_millis(now),
            now_ms: now,
            window: window.period(),
            scopes: entries.clone(),
            live: matches!(cfg.source, Source::Aws(_)),
        };
        let items: Vec<Item> = entries
            .iter()
            .map(|s| Item { accounts: s.account.clone(), regions: s.region.clone(), now: plan.now.clone() })
            .collect();
        parts.put(parts::ITEMS_KEY, &parts::to_json(&items), "application/json")?;
        parts.put(parts::PLAN_KEY, &parts::to_json(&plan), "application/json")?;
        info!(scopes = entries.len(), parts = %parts.root(), "planned the organisation run");
        let mut outcome = Outcome::new(now, window, SourceInfo { live: false, location });
        outcome.parts.push(parts.location(parts::PLAN_KEY));
        outcome.parts.push(parts.location(parts::ITEMS_KEY));
        Ok(outcome)
    }

    /// `shard`: the typed rows of some accounts and regions, to the parts.
    pub(super) fn shard(&self, parts: &PartsStore, which: &ShardScopes, step: ShardStep) -> Result<Outcome, Problem> {
        let cfg = self.config;
        let (source, used_facts, own) = match step {
            ShardStep::Collect => return self.collect_step(parts),
            ShardStep::Evaluate => {
                let (source, used, own) = self.unpack_parts(parts, which)?;
                (source, used, Some(own))
            }
            ShardStep::Whole => (self.source()?, Vec::new(), None),
        };
        let window = cfg.window.resolve(source.now);
        let mut outcome =
            Outcome::new(source.now, window, SourceInfo { live: source.live, location: source.dir.clone() });
        let only = match own {
            Some(own) => own,
            None => select(&estate::snapshot::scopes(&source.dir)?, which, &source.dir.display().to_string())?,
        };
        let estate = estate::read(
            &source.dir,
            &ReadOptions {
                jobs: Some(estate::JobFilter::of(&window, false)),
                only: Some(only.clone()),
                // A live shard collected only its own scope: there is nothing else to refer to.
                references: !source.live,
                ..ReadOptions::default()
            },
        )?;
        outcome.collected = source.collected;
        let jobs = job_report::build(&frames::build(&estate)?)?;
        let specs = controls::spec::built_in()?;
        let (runs, framework_errors) =
            controls::frameworks_to_run(&estate, &cfg.framework_names, &cfg.framework_files)?;
        let own: Vec<usize> = (0..estate.scopes.len()).filter(|&s| !estate.scopes[s].reference).collect();
        // A scope written again replaces the old one: its `_DONE.json` goes first, so a merge
        // never takes a half-rewritten scope for a finished one.
        for &s in &own {
            parts.delete(&parts::done_key(&estate.scopes[s].id))?;
        }

        // The controls, with each scope's verdicts written as they stream past (units come in
        // scope order): a scope's verdicts are never all in memory.
        let now = source.now;
        let mut verdict_files: std::collections::BTreeMap<usize, DoneFile> = std::collections::BTreeMap::new();
        let mut current: Option<(usize, parts::TableWriter)> = None;
        let mut failed: Option<Problem> = None;
        let finish = |s: usize, w: parts::TableWriter| -> Result<DoneFile, Problem> {
            let key = parts::table_key(Table::ResourceVerdicts, &estate.scopes[s].id);
            let (bytes, rows) = w.finish()?;
            parts.put(&key, &bytes, PARQUET)?;
            Ok(DoneFile {
                table: Table::ResourceVerdicts.name().into(),
                key,
                rows,
                bytes: bytes.len(),
                sha256: parts::sha256(&bytes),
            })
        };
        let mut evaluation = Evaluator::new(&estate, &runs, &specs, now).stream(
            |_, unit, verdicts| verdict_frame(&estate, now, unit, &verdicts),
            |_, unit, frame| {
                if failed.is_some() {
                    return;
                }
                let step = || -> Result<(), Problem> {
                    if current.as_ref().is_none_or(|(s, _)| *s != unit.scope) {
                        if let Some((s, w)) = current.take() {
                            verdict_files.insert(s, finish(s, w)?);
                        }
                        let location =
                            parts.location(&parts::table_key(Table::ResourceVerdicts, &estate.scopes[unit.scope].id));
                        current = Some((unit.scope, parts::TableWriter::new(&empty_verdicts()?, &location)?));
                    }
                    let (_, w) = current.as_mut().expect("opened above");
                    Ok(w.push(frame?)?)
                };
                if let Err(e) = step() {
                    failed = Some(e);
                }
            },
        );
        if let Some(e) = failed {
            return Err(e);
        }
        if let Some((s, w)) = current.take() {
            verdict_files.insert(s, finish(s, w)?);
        }
        evaluation.errors.splice(0..0, framework_errors);

        // What the shard met, recorded once, with its first scope.
        let mut problems: Vec<(String, String)> = Vec::new();
        problems.extend(estate.collection_failures.iter().map(|f| ("not_collected".into(), f.clone())));
        problems.extend(
            evaluation
                .errors
                .iter()
                .map(|e| (e.kind().name().to_string(), crate::problem::DisplayChain(e).to_string())),
        );
        let mut warnings: Vec<String> = evaluation.warnings.clone();
        if source.live {
            warnings.push(
                "collected live on its own: a copy of a backup in another account or region was not seen by this shard's controls".into(),
            );
        }

        let mut job_parts = Vec::new();
        for (table, frame) in job_tables(&jobs) {
            job_parts.extend(job_partitions(table, frame, &estate)?.into_iter().map(|(w, k, d)| (table, w, k, d)));
        }
        for (n, &s) in own.iter().enumerate() {
            let id = estate.scopes[s].id.clone();
            let mut files = Vec::new();
            let write = |table: Table, key: String, mut df: DataFrame| -> Result<DoneFile, Problem> {
                let location = parts.location(&key);
                let bytes = parts::to_parquet(&mut df, &location)?;
                parts.put(&key, &bytes, PARQUET)?;
                Ok(DoneFile {
                    table: table.name().into(),
                    key,
                    rows: df.height(),
                    bytes: bytes.len(),
                    sha256: parts::sha256(&bytes),
                })
            };
            for (table, key, df) in job_parts.iter().filter(|(_, w, _, _)| *w == s).map(|(t, _, k, d)| (t, k, d)) {
                files.push(write(*table, key.clone(), df.clone())?);
            }
            let results: Vec<usize> =
                (0..evaluation.results.len()).filter(|&i| evaluation.results[i].unit.scope == s).collect();
            files.push(match verdict_files.remove(&s) {
                Some(file) => file,
                None => {
                    write(Table::ResourceVerdicts, parts::table_key(Table::ResourceVerdicts, &id), empty_verdicts()?)?
                }
            });
            let key = parts::table_key(Table::ControlResults, &id);
            let rs: Vec<&ControlResult> = results.iter().map(|&i| &evaluation.results[i]).collect();
            files.push(write(Table::ControlResults, key, control_table(&estate, source.now, &rs)?)?);
            files.push(write(
                Table::ReportPlans,
                parts::table_key(Table::ReportPlans, &id),
                report_plan_table(&estate, s)?,
            )?);
            files.push(write(
                Table::Frameworks,
                parts::table_key(Table::Frameworks, &id),
                framework_table(&estate, s)?,
            )?);

            let done = Done {
                schema: parts::SCHEMA_VERSION,
                account: id.account.clone(),
                region: id.region.clone(),
                now_ms: source.now,
                window: window.period(),
                files,
                not_collected: estate
                    .not_collected
                    .iter()
                    .filter(|k| k.account == id.account && k.region == id.region)
                    .map(|k| (k.dataset.command().to_string(), k.reason.clone()))
                    .collect(),
                // As in `run`: a command the collector left out is missing evidence once a
                // control that needs it is evaluated in this account and region.
                problems: estate
                    .skipped
                    .iter()
                    .filter(|k| k.account == id.account && k.region == id.region)
                    .filter(|k| results.iter().any(|&i| evaluation.results[i].unit.control.needs(k.dataset)))
                    .map(|k| ("not_collected".to_string(), k.to_string()))
                    .chain(if n == 0 { std::mem::take(&mut problems) } else { Vec::new() })
                    .collect(),
                non_compliant: results.iter().any(|&i| evaluation.results[i].status == controls::Status::NonCompliant),
                warnings: if n == 0 { std::mem::take(&mut warnings) } else { Vec::new() },
                input_files: estate.inputs.files,
                input_bytes: estate.inputs.bytes,
                facts: used_facts.clone(),
            };
            let body = parts::to_json(&done);
            parts.put(&parts::done_key(&id), &body, "application/json")?;
            outcome.parts.push(parts.location(&parts::done_key(&id)));
        }
        outcome.non_compliant = evaluation.any_non_compliant();
        info!(scopes = own.len(), parts = %parts.root(), "wrote the shard");
        Ok(outcome)
    }
}

impl<'c> Pipeline<'c> {
    /// `shard --step collect`: collects the listed accounts and regions live, then writes
    /// each one's snapshot bundle, the facts bundles other scopes need, and last its
    /// `_collected` marker.
    fn collect_step(&self, parts: &PartsStore) -> Result<Outcome, Problem> {
        if !matches!(self.config.source, Source::Aws(_)) {
            return Err(Problem::BadInput(
                "shard --step collect collects live: use --source aws (a snapshot folder needs no collect step)".into(),
            ));
        }
        let source = self.source()?;
        let window = self.config.window.resolve(source.now);
        let mut outcome = Outcome::new(source.now, window, SourceInfo { live: true, location: source.dir.clone() });
        let marker = std::fs::read_to_string(source.dir.join("snapshot.json")).unwrap_or_else(|_| "{}".into());
        for id in estate::snapshot::scopes(&source.dir)? {
            let dir = source.dir.join(&id.account).join(&id.region);
            parts.delete(&facts::collected_key(&id))?;
            let bundle = facts::bundle_folder(&dir)?;
            let key = facts::snapshot_key(&id);
            let bytes = serde_json::to_vec(&bundle).expect("a bundle serialises");
            parts.put(&key, &bytes, "application/json")?;
            let snapshot = (key, parts::sha256(&bytes));
            let mut written = Vec::new();
            for (home, bundle) in facts::facts(&dir, &id)? {
                let key = facts::facts_key(&home, &id);
                let bytes = serde_json::to_vec(&bundle).expect("a bundle serialises");
                parts.put(&key, &bytes, "application/json")?;
                written.push((key, parts::sha256(&bytes)));
            }
            let done = parts::Collected {
                schema: parts::SCHEMA_VERSION,
                account: id.account.clone(),
                region: id.region.clone(),
                now_ms: source.now,
                snapshot_json: marker.clone(),
                snapshot,
                facts: written,
            };
            let key = facts::collected_key(&id);
            parts.put(&key, &parts::to_json(&done), "application/json")?;
            outcome.parts.push(parts.location(&key));
        }
        outcome.collected = source.collected;
        Ok(outcome)
    }

    /// `shard --step evaluate`: the shard's scopes and the facts addressed to them, unpacked
    /// from the parts into one temporary snapshot folder; the other scopes are references.
    /// Returns the snapshot, the bundles read (key and SHA-256) and the shard's scopes.
    fn unpack_parts(&self, parts: &PartsStore, which: &ShardScopes) -> Result<Unpacked, Problem> {
        let location = parts.location(parts::PLAN_KEY);
        let plan: RunPlan = match parts.get(parts::PLAN_KEY)? {
            Some(bytes) => parts::parse(&location, &bytes)?,
            None => {
                return Err(PartsError::Bad {
                    location,
                    message: "not found: `backup-audit plan` writes it first".into(),
                }
                .into());
            }
        };
        let all: Vec<ScopeId> = plan.scopes.iter().map(ScopeId::from).collect();
        let own = select(&all, which, &parts.root())?;
        let temp = TemporarySnapshot::create()
            .map_err(|e| Problem::setup(format!("cannot create a temporary snapshot folder: {e}")))?;
        let mut used = Vec::new();
        let mut markers = Vec::new();
        for id in &own {
            let key = facts::collected_key(id);
            let location = parts.location(&key);
            let Some(bytes) = parts.get(&key)? else {
                return Err(PartsError::NotCollected {
                    location,
                    account: id.account.clone(),
                    region: id.region.clone(),
                }
                .into());
            };
            let collected: parts::Collected = parts::parse(&location, &bytes)?;
            let (key, _) = &collected.snapshot;
            let bytes = parts.get(key)?.ok_or_else(|| PartsError::Mismatch {
                location: parts.location(key),
                message: "named by its `_collected` marker but not found".into(),
            })?;
            let bundle: facts::Bundle = parts::parse(&parts.location(key), &bytes)?;
            facts::unpack(&bundle, &temp.path().join(&id.account).join(&id.region))?;
            used.push((key.clone(), parts::sha256(&bytes)));
            markers.push(collected.snapshot_json);
        }
        let homes = own.iter().cloned().map(facts::Home::Scope).chain([facts::Home::Any]);
        for home in homes {
            for key in parts.list(&facts::facts_prefix(&home))? {
                let Some(holder) = facts::holder_of(&key) else { continue };
                if own.contains(&holder) {
                    continue;
                }
                let Some(bytes) = parts.get(&key)? else { continue };
                let bundle: facts::Bundle = parts::parse(&parts.location(&key), &bytes)?;
                facts::unpack(&bundle, &temp.path().join(&holder.account).join(&holder.region))?;
                used.push((key, parts::sha256(&bytes)));
            }
        }
        std::fs::write(temp.path().join("snapshot.json"), merge_markers(&markers))
            .map_err(|e| Problem::setup(format!("cannot write the temporary snapshot: {e}")))?;
        used.sort();
        let now = self.config.now.unwrap_or(plan.now_ms);
        let prepared =
            Prepared { dir: temp.path().to_path_buf(), now, live: false, collected: None, _temporary: Some(temp) };
        Ok((prepared, used, own))
    }
}

/// What the evaluate step reads: the snapshot, the bundles in it (key and SHA-256), and the
/// shard's own scopes.
type Unpacked = (Prepared, Vec<(String, String)>, BTreeSet<ScopeId>);

/// The scopes of `all` a shard takes.
fn select(all: &[ScopeId], which: &ShardScopes, source: &str) -> Result<BTreeSet<ScopeId>, Problem> {
    let only: BTreeSet<ScopeId> = match which {
        ShardScopes::Modulo { index, count } => {
            all.iter().enumerate().filter(|(i, _)| i % count == *index).map(|(_, s)| s.clone()).collect()
        }
        ShardScopes::Listed { accounts, regions } => all
            .iter()
            .filter(|s| {
                (accounts.is_empty() || accounts.contains(&s.account))
                    && (regions.is_empty() || regions.contains(&s.region))
            })
            .cloned()
            .collect(),
    };
    if let ShardScopes::Listed { accounts, regions } = which {
        for a in accounts {
            for r in regions {
                if !only.iter().any(|s| &s.account == a && &s.region == r) {
                    return Err(Problem::BadInput(format!("account {a} region {r} is not in `{source}`")));
                }
            }
        }
    }
    Ok(only)
}

/// The collectors' `snapshot.json` files of several scopes as one: the first `CollectedAt`,
/// and every failure, command left out and organisation-wide job list.
fn merge_markers(markers: &[String]) -> String {
    let mut out = serde_json::Map::new();
    for text in markers {
        let Ok(serde_json::Value::Object(m)) = serde_json::from_str::<serde_json::Value>(text) else { continue };
        for (k, v) in m {
            match (out.get_mut(&k), v) {
                (Some(serde_json::Value::Array(have)), serde_json::Value::Array(more)) => {
                    have.extend(more.into_iter().filter(|x| !have.contains(x)).collect::<Vec<_>>());
                }
                (None, v) => {
                    out.insert(k, v);
                }
                _ => {}
            }
        }
    }
    serde_json::Value::Object(out).to_string()
}

fn job_tables(jobs: &JobReportFrames) -> [(Table, &DataFrame); 3] {
    [
        (Table::BackupJobs, &jobs.backup_jobs),
        (Table::CopyJobs, &jobs.copy_jobs),
        (Table::RestoreJobs, &jobs.restore_jobs),
    ]
}

/// A job frame cut by the jobs' own account and region, each partition with the scope whose
/// `_DONE.json` lists it: a scope of the shard that listed its own jobs writes its partition
/// (empty or not); a partition of an account and region that is not such a scope (an
/// organisation-wide job list names member accounts) goes with the shard's first scope.
fn job_partitions(
    table: Table,
    frame: &DataFrame,
    estate: &Estate,
) -> Result<Vec<(usize, String, DataFrame)>, Problem> {
    let polars = |source: PolarsError| crate::parts::PartsError::Parquet { location: table.name().into(), source };
    let a = frame.column("account_id").map_err(polars)?.str().map_err(polars)?.clone();
    let r = frame.column("region").map_err(polars)?.str().map_err(polars)?.clone();
    let own: Vec<usize> = (0..estate.scopes.len()).filter(|&s| !estate.scopes[s].reference).collect();
    let Some(&first) = own.first() else { return Ok(Vec::new()) };
    let template = crate::reports::Template::built_in(match table {
        Table::CopyJobs => "COPY_JOB_REPORT",
        Table::RestoreJobs => "RESTORE_JOB_REPORT",
        _ => "BACKUP_JOB_REPORT",
    })?;
    let mut keys: std::collections::BTreeMap<(String, String), usize> = std::collections::BTreeMap::new();
    for &s in own.iter().filter(|&&s| estate.has(s, job_dataset(table))) {
        let id = &estate.scopes[s].id;
        keys.insert((id.account.clone(), id.region.clone()), s);
    }
    for (x, y) in a.iter().zip(r.iter()) {
        if let (Some(x), Some(y)) = (x, y) {
            keys.entry((x.to_string(), y.to_string())).or_insert(first);
        }
    }
    let mut out = Vec::new();
    for ((acct, reg), writer) in keys {
        let mask: BooleanChunked =
            a.iter().zip(r.iter()).map(|(x, y)| Some(x == Some(acct.as_str()) && y == Some(reg.as_str()))).collect();
        // In report order, so that the merge can read a partition a slice at a time.
        let df = crate::reports::sort_for(frame.filter(&mask).map_err(polars)?, &template).map_err(polars)?;
        out.push((writer, parts::table_key(table, &ScopeId { account: acct, region: reg }), df));
    }
    Ok(out)
}

/// The job list a job table is read from.
fn job_dataset(table: Table) -> estate::Dataset {
    match table {
        Table::CopyJobs => estate::Dataset::CopyJobs,
        Table::RestoreJobs => estate::Dataset::RestoreJobs,
        _ => estate::Dataset::BackupJobs,
    }
}

/// A column of compliance cells.
fn cells_column<'a>(name: &str, kind: FieldKind, cells: impl Iterator<Item = Cell<'a>>) -> Column {
    match kind {
        FieldKind::Str => {
            let v: Vec<Option<&str>> = cells.map(|c| if let Cell::Str(s) = c { Some(s) } else { None }).collect();
            Column::new(name.into(), v)
        }
        FieldKind::Int => {
            let v: Vec<Option<i64>> = cells.map(|c| if let Cell::Int(i) = c { Some(i) } else { None }).collect();
            Column::new(name.into(), v)
        }
        FieldKind::Time => {
            let v: Vec<Option<i64>> = cells.map(|c| if let Cell::Int(i) = c { Some(i) } else { None }).collect();
            Column::new(name.into(), v)
                .cast(&DataType::Datetime(TimeUnit::Milliseconds, None))
                .expect("milliseconds cast to a datetime")
        }
    }
}

fn frame(columns: Vec<Column>) -> Result<DataFrame, Problem> {
    DataFrame::new_infer_height(columns).map_err(|source| {
        Problem::Parts(crate::parts::PartsError::Parquet { location: "a shard table".into(), source })
    })
}

/// The `resource_verdicts` rows of some verdicts of `unit`, in report order.
fn verdict_frame(estate: &Estate, now: Millis, unit: &Unit, verdicts: &[Verdict]) -> Result<DataFrame, Problem> {
    let columns = RESOURCE_FIELDS
        .iter()
        .map(|&(name, field, kind)| {
            cells_column(
                name,
                kind,
                verdicts.iter().map(|v| compliance_report::resource_cell(estate, now, unit, v, field)),
            )
        })
        .collect();
    frame(columns)
}

/// A `resource_verdicts` table without rows (its schema).
fn empty_verdicts() -> Result<DataFrame, Problem> {
    frame(RESOURCE_FIELDS.iter().map(|&(name, _, kind)| cells_column(name, kind, std::iter::empty())).collect())
}

/// The `control_results` rows, in report order.
fn control_table(estate: &Estate, now: Millis, results: &[&ControlResult]) -> Result<DataFrame, Problem> {
    let columns = CONTROL_FIELDS
        .iter()
        .map(|&(name, field, kind)| {
            cells_column(name, kind, results.iter().map(|r| compliance_report::control_cell(estate, now, r, field)))
        })
        .collect();
    frame(columns)
}

/// The scope's report plans, each as its `describe-report-plan` JSON.
fn report_plan_table(estate: &Estate, s: usize) -> Result<DataFrame, Problem> {
    let plans: Vec<_> = estate.report_plans.iter().filter(|(x, _)| *x == s).map(|(_, p)| p).collect();
    let id = &estate.scopes[s].id;
    frame(vec![
        Column::new("account_id".into(), vec![id.account.as_str(); plans.len()]),
        Column::new("region".into(), vec![id.region.as_str(); plans.len()]),
        Column::new("report_plan_name".into(), plans.iter().map(|p| p.report_plan_name.as_str()).collect::<Vec<_>>()),
        Column::new(
            "report_plan_json".into(),
            plans.iter().map(|p| serde_json::to_string(p).expect("a report plan serialises")).collect::<Vec<_>>(),
        ),
    ])
}

/// The scope's frameworks: name, ARN, and whether its detail was collected.
fn framework_table(estate: &Estate, s: usize) -> Result<DataFrame, Problem> {
    let fs: Vec<_> = estate.frameworks.iter().filter(|f| f.scope == s).collect();
    let id = &estate.scopes[s].id;
    frame(vec![
        Column::new("account_id".into(), vec![id.account.as_str(); fs.len()]),
        Column::new("region".into(), vec![id.region.as_str(); fs.len()]),
        Column::new("framework_name".into(), fs.iter().map(|f| f.name.as_str()).collect::<Vec<_>>()),
        Column::new("framework_arn".into(), fs.iter().map(|f| f.arn.as_deref()).collect::<Vec<_>>()),
        Column::new("detail_collected".into(), fs.iter().map(|f| f.detail.is_some()).collect::<Vec<_>>()),
    ])
}
