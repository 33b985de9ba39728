//! `merge`: the report plans of an organisation run, rendered from its shards' parts.
//!
//! Every scope of `_plan.json` must have its `_DONE.json`, with this run's `now` and window,
//! and every file must have the size and SHA-256 its `_DONE.json` records; otherwise the merge
//! stops (exit 4 for a missing or changed shard) before it writes anything: never a silently
//! smaller report. The reports are then rendered by the writers of `run`: a report's rows are
//! its partitions' rows in (account, region) order, which is the report order (job reports
//! sort by account and region first, the compliance reports are in scope order), so the
//! k-way merge of the partitions is a walk through them one at a time. Memory holds one
//! partition, not the organisation.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use polars::prelude::*;
use rayon::prelude::*;
use tracing::info;

use super::{Outcome, Pipeline, PlanOutcome, Problem, SourceInfo};
use crate::estate::{Dataset, Estate, FrameworkEntry, NotCollected, Scope, ScopeId};
use crate::parts::{self, Done, DoneFile, PartsError, PartsStore, RunPlan, Table};
use crate::problem::Kind;
use crate::reports::compliance_report::{CONTROL_FIELDS, Fields, PartRows, RESOURCE_FIELDS};
use crate::reports::encode::{CHUNK_ROWS, Encoder, FrameRows, RenderError, Rows};
use crate::reports::{self, PlannedReport, TemplateKind};
use crate::sinks::stream::{FileInfo, ReportStream, Writers};
use crate::sinks::{Delivery, Sink};
use crate::window::Window;

/// One partition file of a table: its account and region, and what `_DONE.json` says of it.
struct Partition {
    account: String,
    region: String,
    file: DoneFile,
}

/// What the merge knows before it renders.
struct Parts {
    store: PartsStore,
    plan: RunPlan,
    /// Per table, the partitions in (account, region) order.
    tables: BTreeMap<Table, Vec<Partition>>,
    dones: Vec<Done>,
}

impl<'c> Pipeline<'c> {
    pub(super) fn merge(&self, store: &PartsStore, delivery: &Delivery) -> Result<Outcome, Problem> {
        let cfg = self.config;
        let t = Instant::now();
        let parts = check(store)?;
        let window = Window { start: parts.plan.window.0, end: parts.plan.window.1, now: parts.plan.now_ms };
        let now = parts.plan.now_ms;
        let mut outcome = Outcome::new(now, window, SourceInfo { live: false, location: store.root().into() });
        let estate = skeleton(&parts)?;
        outcome.timings.load = t.elapsed();
        if let Some(sink) = delivery.fixed() {
            sink.prepare()?;
        }
        outcome.inputs = estate.inputs.clone();
        for d in &parts.dones {
            for (kind, message) in &d.problems {
                let kind = Kind::from_name(kind).unwrap_or(Kind::Failed);
                outcome.problems.push(Problem::Shard { kind, message: message.clone() });
            }
            outcome
                .warnings
                .extend(d.warnings.iter().map(|w| format!("account {} region {}: {w}", d.account, d.region)));
        }
        outcome.problems.extend(estate.not_collected.iter().cloned().map(Problem::NotCollected));
        outcome.non_compliant = parts.dones.iter().any(|d| d.non_compliant);

        let (mut planned, mut errors) =
            reports::plan::select(&estate, &cfg.report_plan_files, &cfg.report_plans, &cfg.report_plan_names)?;
        errors.extend(super::remove_colliding(&mut planned, delivery, window.period()));
        outcome.plans.extend(errors.iter().map(PlanOutcome::invalid));
        outcome.problems.extend(errors.into_iter().map(Problem::Plan));
        outcome.warnings.extend(planned.iter().flat_map(|p| p.warnings.clone()));

        let mut plan_outcomes: Vec<PlanOutcome> = planned.iter().map(PlanOutcome::planned).collect();
        let mut targets = Vec::new();
        for (i, p) in planned.iter().enumerate() {
            match delivery.sink_for(&p.plan) {
                Ok(sink) => targets.push((i, sink)),
                Err(e) => {
                    plan_outcomes[i].status = super::PlanStatus::Failed;
                    plan_outcomes[i].errors.push(crate::problem::DisplayChain(&e).to_string());
                    outcome.problems.push(Problem::Deliver(e));
                }
            }
        }
        let t = Instant::now();
        let mut owners = Vec::new();
        let (rendered, files) = crate::sinks::stream::with_writers(|w| -> Result<(), Problem> {
            for (i, sink) in &targets {
                let p = &planned[*i];
                render(w, &parts, p, sink.clone(), cfg.max_object_bytes, cfg.encode, window.period())?;
                owners.extend(p.formats.iter().map(|_| *i));
            }
            Ok(())
        });
        rendered?;
        outcome.timings.render = t.elapsed();
        super::record_files(files, &owners, &mut plan_outcomes, &mut outcome)?;
        for (plan, p) in plan_outcomes.iter_mut().zip(&planned) {
            let missing = super::missing_inputs(p, &estate.not_collected);
            if !missing.is_empty() && plan.status == super::PlanStatus::Delivered {
                plan.status = super::PlanStatus::Incomplete;
            }
            plan.errors.extend(missing);
        }
        outcome.plans.extend(plan_outcomes);
        outcome.plans.sort_by(|a, b| (&a.name, &a.account, &a.region).cmp(&(&b.name, &b.account, &b.region)));
        outcome.delivered.sort_by(|a, b| a.location.cmp(&b.location));
        for w in &outcome.warnings {
            tracing::warn!("{w}");
        }
        info!(scopes = parts.plan.scopes.len(), objects = outcome.delivered.len(), "merged the parts");
        super::write_manifest(&mut outcome, delivery, &planned, window);
        Ok(outcome)
    }
}

/// Reads `_plan.json` and every scope's `_DONE.json`, and checks that they belong together.
fn check(store: &PartsStore) -> Result<Parts, PartsError> {
    let location = store.location(parts::PLAN_KEY);
    let bytes = store.get(parts::PLAN_KEY)?.ok_or_else(|| PartsError::Bad {
        location: location.clone(),
        message: "not found: `backup-audit plan` writes it before the shards run".into(),
    })?;
    let plan: RunPlan = parts::parse(&location, &bytes)?;
    if plan.schema != parts::SCHEMA_VERSION {
        return Err(PartsError::Bad {
            location,
            message: format!("schema {} is not this version's ({})", plan.schema, parts::SCHEMA_VERSION),
        });
    }
    let mut dones = Vec::with_capacity(plan.scopes.len());
    let mut owner: BTreeMap<String, (String, String)> = BTreeMap::new();
    let mut tables: BTreeMap<Table, Vec<Partition>> = BTreeMap::new();
    let keys: Vec<String> = plan.scopes.iter().map(|s| parts::done_key(&ScopeId::from(s))).collect();
    let fetched = store.get_many(&keys.iter().map(String::as_str).collect::<Vec<_>>());
    for (scope, got) in plan.scopes.iter().zip(fetched) {
        let id = ScopeId::from(scope);
        let key = parts::done_key(&id);
        let location = store.location(&key);
        let Some(bytes) = got? else {
            return Err(PartsError::Missing { location, account: id.account, region: id.region });
        };
        let done: Done = parts::parse(&location, &bytes)?;
        let differs = |what: &str| PartsError::Mismatch {
            location: location.clone(),
            message: format!("{what} is not the run's (`_plan.json`): the shard belongs to another run"),
        };
        if done.schema != parts::SCHEMA_VERSION {
            return Err(differs("the schema version"));
        }
        if done.now_ms != plan.now_ms {
            return Err(differs("`now`"));
        }
        if done.window != plan.window {
            return Err(differs("the window"));
        }
        if (done.account.as_str(), done.region.as_str()) != (id.account.as_str(), id.region.as_str()) {
            return Err(differs("the account and region"));
        }
        for f in &done.files {
            let bad = |message: String| PartsError::Bad { location: location.clone(), message };
            let table = parts::Table::from_name(&f.table).ok_or_else(|| bad(format!("unknown table `{}`", f.table)))?;
            let segments: Vec<&str> = f.key.split('/').collect();
            let (Some(account), Some(region)) = (
                segments.get(1).and_then(|s| s.strip_prefix("account=")),
                segments.get(2).and_then(|s| s.strip_prefix("region=")),
            ) else {
                return Err(bad(format!("`{}` is not a partition key", f.key)));
            };
            if let Some((a, r)) = owner.insert(f.key.clone(), (id.account.clone(), id.region.clone())) {
                return Err(PartsError::Mismatch {
                    location: store.location(&f.key),
                    message: format!(
                        "written by two shards (account {a} region {r} and account {} region {})",
                        id.account, id.region
                    ),
                });
            }
            tables.entry(table).or_default().push(Partition {
                account: account.to_string(),
                region: region.to_string(),
                file: f.clone(),
            });
        }
        dones.push(done);
    }
    if plan.live {
        check_facts(store, &plan, &dones)?;
    }
    // Every file is there with the size its `_DONE.json` records, before anything is written
    // (one listing per table; each file's SHA-256 is checked when it is read).
    for table in parts::TABLES {
        let sizes: BTreeMap<String, u64> = store.list_sizes(&format!("{}/", table.name()))?.into_iter().collect();
        for p in tables.get(&table).into_iter().flatten() {
            let message = match sizes.get(&p.file.key) {
                None => "listed in its `_DONE.json` but not found",
                Some(&n) if n != p.file.bytes as u64 => {
                    "its size is not the one its `_DONE.json` records (the scope was rewritten or changed)"
                }
                Some(_) => continue,
            };
            return Err(PartsError::Mismatch { location: store.location(&p.file.key), message: message.into() });
        }
    }
    for partitions in tables.values_mut() {
        partitions.sort_by(|a, b| (&a.account, &a.region).cmp(&(&b.account, &b.region)));
    }
    Ok(Parts { store: store.clone(), plan, tables, dones })
}

/// A live run: every scope's collect step finished, and every shard read the snapshot and
/// facts bundles its collect steps wrote last (not an older or a missing one), so no shard
/// evaluated without another scope's copies.
fn check_facts(store: &PartsStore, plan: &RunPlan, dones: &[Done]) -> Result<(), PartsError> {
    let done_of = |id: &ScopeId| dones.iter().find(|d| d.account == id.account && d.region == id.region);
    let keys: Vec<String> = plan.scopes.iter().map(|s| crate::parts::facts::collected_key(&ScopeId::from(s))).collect();
    let fetched = store.get_many(&keys.iter().map(String::as_str).collect::<Vec<_>>());
    for (scope, got) in plan.scopes.iter().zip(fetched) {
        let id = ScopeId::from(scope);
        let key = crate::parts::facts::collected_key(&id);
        let location = store.location(&key);
        let Some(bytes) = got? else {
            return Err(PartsError::NotCollected { location, account: id.account, region: id.region });
        };
        let collected: crate::parts::Collected = parts::parse(&location, &bytes)?;
        let stale = |reader: &Done, what: &str| PartsError::Mismatch {
            location: store.location(&parts::done_key(&ScopeId {
                account: reader.account.clone(),
                region: reader.region.clone(),
            })),
            message: format!(
                "the shard did not read the {what} that the collect step of account {} region {} wrote last: evaluate it again",
                id.account, id.region
            ),
        };
        if let Some(d) = done_of(&id)
            && !d.facts.contains(&collected.snapshot)
        {
            return Err(stale(d, "snapshot"));
        }
        for fact in &collected.facts {
            let readers: Vec<&Done> = match fact.0.strip_prefix("facts/any/") {
                Some(_) => dones
                    .iter()
                    .filter(|d| (d.account.as_str(), d.region.as_str()) != (id.account.as_str(), id.region.as_str()))
                    .collect(),
                None => {
                    let mut segments = fact.0.split('/').skip(1);
                    let (a, r) = (
                        segments.next().and_then(|s| s.strip_prefix("account=")),
                        segments.next().and_then(|s| s.strip_prefix("region=")),
                    );
                    match (a, r) {
                        (Some(a), Some(r)) => {
                            done_of(&ScopeId { account: a.into(), region: r.into() }).into_iter().collect()
                        }
                        _ => Vec::new(),
                    }
                }
            };
            // A shard that held the collected scope itself read its whole snapshot instead.
            let held = |d: &Done| d.facts.iter().any(|(k, _)| *k == collected.snapshot.0);
            if let Some(d) = readers.into_iter().find(|d| !held(d) && !d.facts.contains(fact)) {
                return Err(stale(d, "facts"));
            }
        }
    }
    Ok(())
}

/// Partitions' frames, fetched together, in order (for the small tables).
fn load_many(store: &PartsStore, ps: &[&Partition]) -> Vec<Result<DataFrame, PartsError>> {
    fetch_many(store, ps)
        .into_iter()
        .zip(ps)
        .map(|(bytes, p)| {
            let location = store.location(&p.file.key);
            let df = parts::from_parquet(bytes?, &location)?;
            if df.height() != p.file.rows {
                return Err(PartsError::Mismatch {
                    location,
                    message: format!("{} rows, but its `_DONE.json` says {}", df.height(), p.file.rows),
                });
            }
            Ok(df)
        })
        .collect()
}

/// Partitions' Parquet bytes, fetched together, in order, each checked against its
/// `_DONE.json` entry.
fn fetch_many(store: &PartsStore, ps: &[&Partition]) -> Vec<Result<Vec<u8>, PartsError>> {
    let keys: Vec<&str> = ps.iter().map(|p| p.file.key.as_str()).collect();
    store.get_many(&keys).into_iter().zip(ps).map(|(got, p)| checked(store, p, got?)).collect()
}

/// A partition's bytes, checked against its `_DONE.json` entry.
fn checked(store: &PartsStore, p: &Partition, bytes: Option<Vec<u8>>) -> Result<Vec<u8>, PartsError> {
    let location = store.location(&p.file.key);
    let bytes = bytes.ok_or_else(|| PartsError::Mismatch {
        location: location.clone(),
        message: "listed in its `_DONE.json` but not found".into(),
    })?;
    if bytes.len() != p.file.bytes || parts::sha256(&bytes) != p.file.sha256 {
        return Err(PartsError::Mismatch {
            location,
            message: "its size or SHA-256 is not the one its `_DONE.json` records (the scope was rewritten or changed)"
                .into(),
        });
    }
    Ok(bytes)
}

/// The estate a merge plans the reports against: every scope of the run, the report plans and
/// frameworks of the parts, and what each scope lacks. It holds no records.
fn skeleton(parts: &Parts) -> Result<Estate, PartsError> {
    let mut estate = Estate {
        scopes: parts
            .plan
            .scopes
            .iter()
            .map(|s| Scope { id: s.into(), collected: Dataset::ALL.into_iter().collect(), reference: false })
            .collect(),
        ..Estate::default()
    };
    let index = |account: &str, region: &str| estate.scope_index(account, region);
    let mut report_plans = Vec::new();
    let mut frameworks = Vec::new();
    let plan_parts: Vec<&Partition> = parts.tables.get(&Table::ReportPlans).into_iter().flatten().collect();
    for (p, df) in plan_parts.iter().zip(load_many(&parts.store, &plan_parts)) {
        let Some(s) = index(&p.account, &p.region) else { continue };
        let df = df?;
        let location = parts.store.location(&p.file.key);
        let json = df.column("report_plan_json").and_then(|c| c.str().cloned());
        let json = json.map_err(|source| PartsError::Parquet { location: location.clone(), source })?;
        for text in json.iter().flatten() {
            report_plans.push((s, parts::parse(&location, text.as_bytes())?));
        }
    }
    let framework_parts: Vec<&Partition> = parts.tables.get(&Table::Frameworks).into_iter().flatten().collect();
    for (p, df) in framework_parts.iter().zip(load_many(&parts.store, &framework_parts)) {
        let Some(s) = index(&p.account, &p.region) else { continue };
        let df = df?;
        let location = parts.store.location(&p.file.key);
        let err = |source| PartsError::Parquet { location: location.clone(), source };
        let names = df.column("framework_name").and_then(|c| c.str().cloned()).map_err(err)?;
        let arns = df.column("framework_arn").and_then(|c| c.str().cloned()).map_err(err)?;
        for (name, arn) in names.iter().zip(arns.iter()) {
            frameworks.push(FrameworkEntry {
                scope: s,
                name: name.unwrap_or_default().to_string(),
                arn: arn.map(str::to_string),
                detail: None,
            });
        }
    }
    for table in [Table::BackupJobs, Table::CopyJobs, Table::RestoreJobs] {
        for p in parts.tables.get(&table).into_iter().flatten().filter(|p| p.file.rows > 0) {
            estate.job_account_ids.insert(p.account.clone());
        }
    }
    estate.report_plans = report_plans;
    estate.frameworks = frameworks;
    for d in &parts.dones {
        for (command, reason) in &d.not_collected {
            if let Some(dataset) = Dataset::from_command(command) {
                estate.not_collected.push(NotCollected {
                    account: d.account.clone(),
                    region: d.region.clone(),
                    dataset,
                    reason: reason.clone(),
                });
            }
        }
    }
    let digests: String =
        parts.dones.iter().flat_map(|d| &d.files).map(|f| format!("{}  {}\n", f.sha256, f.key)).collect();
    estate.inputs = crate::estate::Inputs {
        files: parts.dones.iter().map(|d| d.input_files).sum(),
        bytes: parts.dones.iter().map(|d| d.input_bytes).sum(),
        sha256: parts::sha256(digests.as_bytes()),
    };
    Ok(estate)
}

/// One plan's reports: every format's stream fed from the partitions the plan covers.
fn render(
    w: &Writers,
    parts: &Parts,
    p: &PlannedReport,
    sink: Arc<dyn Sink>,
    max_bytes: usize,
    encode: reports::EncodeOptions,
    period: (i64, i64),
) -> Result<(), Problem> {
    let template = &p.template;
    let mut streams: Vec<(reports::Format, Encoder<'_>, ReportStream<'_>)> = Vec::new();
    for &format in &p.formats {
        let encoder = Encoder::new(template, format, encode);
        let info = FileInfo {
            plan: p.plan.report_plan_name.clone(),
            template: template.name.clone(),
            format,
            key: p.key(format, period),
        };
        let stream = w.open(info, sink.clone(), &encoder, max_bytes)?;
        streams.push((format, encoder, stream));
    }
    let table = match (template.kind, template.frame.as_str()) {
        (TemplateKind::Job, "backup_jobs") => Table::BackupJobs,
        (TemplateKind::Job, "copy_jobs") => Table::CopyJobs,
        (TemplateKind::Job, "restore_jobs") => Table::RestoreJobs,
        (TemplateKind::Compliance, "resource_results") => Table::ResourceVerdicts,
        (TemplateKind::Compliance, "control_results") => Table::ControlResults,
        (_, other) => {
            return Err(RenderError::Column {
                template: template.name.clone(),
                key: String::new(),
                message: format!("`{other}` is not a frame the parts hold"),
            }
            .into());
        }
    };
    let fields: Vec<Option<Fields>> = streams
        .iter()
        .map(|(format, _, _)| match template.kind {
            TemplateKind::Compliance => Fields::resolve(template, *format, period).map(Some),
            TemplateKind::Job => Ok(None),
        })
        .collect::<Result<_, _>>()?;
    let arns = &p.plan.report_setting.framework_arns;
    // The partitions the plan covers, fetched a window at a time and rendered in order: memory
    // holds one window, not the organisation.
    let covered: Vec<&Partition> = parts
        .tables
        .get(&table)
        .into_iter()
        .flatten()
        .filter(|x| p.accounts.contains(&x.account) && p.regions.contains(&x.region) && x.file.rows > 0)
        .collect();
    for window in covered.chunks(crate::parts::store::FETCH_CONCURRENCY) {
        for (partition, bytes) in window.iter().zip(fetch_many(&parts.store, window)) {
            let bytes = bytes?;
            let location = parts.store.location(&partition.file.key);
            for offset in (0..partition.file.rows).step_by(parts::ROW_GROUP) {
                let df = parts::parquet_slice(&bytes, offset, parts::ROW_GROUP, &location)?;
                let polars = |source| RenderError::Polars { template: template.name.clone(), source };
                let df = match template.kind {
                    TemplateKind::Job => reports::job_rows(p, &df)?,
                    TemplateKind::Compliance if arns.is_empty() => df,
                    TemplateKind::Compliance => {
                        let column = df.column("framework_arn").and_then(|c| c.str().cloned()).map_err(polars)?;
                        let mask: BooleanChunked =
                            column.iter().map(|a| Some(a.is_some_and(|a| arns.iter().any(|x| x == a)))).collect();
                        df.filter(&mask).map_err(polars)?
                    }
                };
                for ((format, encoder, stream), fields) in streams.iter_mut().zip(&fields) {
                    let rows: Box<dyn Rows> = match fields {
                        None => Box::new(FrameRows::new(&df, template, *format, period)?),
                        Some(f) => {
                            let columns =
                                if table == Table::ResourceVerdicts { RESOURCE_FIELDS } else { CONTROL_FIELDS };
                            Box::new(PartRows::new(&df, f, columns, parts.plan.now_ms).map_err(polars)?)
                        }
                    };
                    let n = rows.len();
                    let ranges: Vec<_> = (0..n).step_by(CHUNK_ROWS).map(|i| i..(i + CHUNK_ROWS).min(n)).collect();
                    let chunks = ranges
                        .into_par_iter()
                        .map(|r| encoder.chunk(rows.as_ref(), r))
                        .collect::<Result<Vec<_>, _>>()?;
                    for c in &chunks {
                        stream.push(c);
                    }
                }
            }
        }
    }
    for (_, _, stream) in streams {
        stream.finish();
    }
    Ok(())
}
