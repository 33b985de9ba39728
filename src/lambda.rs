//! The AWS Lambda run mode: an event in, one run, the manifest summary out.
//!
//! The `bootstrap` binary (cargo feature `lambda`) only connects [`invoke`] to
//! `lambda_runtime`. Everything else lives here, so tests call the handler in-process without
//! the Lambda runtime, and the CLI and the Lambda share one pipeline.
//!
//! Two events are understood:
//! - an **EventBridge scheduled event** (`"source": "aws.events"`, `"detail-type": "Scheduled
//!   Event"`): every report plan for the configured window (default daily). Its `time` is the
//!   run's `now`, so a retried invocation writes the same keys and the same bytes;
//! - a **direct invoke** `{"reportPlans": [...], "window": "...", "now": "..."}`, all optional:
//!   `reportPlans` holds plan names (to narrow the run) or whole `ReportPlan` objects (to run
//!   them as well); `window` is `daily`, `last-24h` or `<from>/<to>` (ISO-8601); `now` is
//!   ISO-8601 (default: the snapshot's `CollectedAt`, else the clock).
//!
//! - an **organisation run's step** `{"mode": "plan" | "collect" | "shard" | "merge", …}`, sent
//!   by the Step Functions state machine of `deploy/template.yaml` ([`crate::parts`]):
//!   - `plan` (`now`, optional): writes `_plan.json` and the Map items under
//!     `BACKUP_AUDIT_PARTS/date=<YYYY-MM-DD>/` and answers `{"parts", "now", "items":
//!     {"Bucket", "Key"}, "written"}`; the accounts are `BACKUP_AUDIT_ACCOUNTS` or, when that
//!     is empty, every ACTIVE account of the organisation;
//!   - `collect` and `shard` (`parts`, `accounts`, `regions`, `now`): one Map child, the
//!     collect step and the evaluate step of one account and region;
//!   - `merge` (`parts`): every report plan from the parts, delivered as `run` delivers, and
//!     the usual answer.
//!
//! Configuration comes from environment variables, listed on [`LambdaConfig::from_env`].

use std::path::PathBuf;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::{Value, json};

use crate::config::{AwsSource, Config, DEFAULT_MAX_OBJECT_BYTES, Source};
use crate::estate::model::ReportPlan;
use crate::parts::PartsStore;
use crate::pipeline::{Goal, Pipeline, ShardScopes, ShardStep};
use crate::problem::DisplayChain;
use crate::sinks::s3::{AwsOptions, S3Options, Sse, parse_url};
use crate::sinks::{Delivery, LocalDir, S3Sinks};
use crate::time::{self, Millis};
use crate::window::WindowSpec;

/// Why an invocation failed.
#[derive(Debug, thiserror::Error)]
pub enum LambdaError {
    /// An environment variable is missing or malformed.
    #[error("environment variable {variable}: {message}")]
    Config { variable: &'static str, message: String },
    /// The event is neither a scheduled event nor a valid direct invoke.
    #[error("event: {0}")]
    Event(String),
    /// The pipeline stopped (unreadable estate, bad template, …).
    #[error("run failed: {0}")]
    Pipeline(String),
    /// The run finished, but not everything was delivered or some input was invalid. The
    /// summary is the same document a successful invocation returns.
    #[error("run finished with exit code {exit_code}: {summary}")]
    Incomplete { exit_code: u8, summary: Value },
}

impl LambdaError {
    /// A short name of the failure, for the Lambda error response's `errorType`.
    pub fn kind(&self) -> &'static str {
        match self {
            LambdaError::Config { .. } => "BackupAudit.Config",
            LambdaError::Event(_) => "BackupAudit.Event",
            LambdaError::Pipeline(_) => "BackupAudit.Pipeline",
            LambdaError::Incomplete { .. } => "BackupAudit.Incomplete",
        }
    }
}

/// The Lambda's configuration, read once at cold start.
#[derive(Debug, Clone)]
pub struct LambdaConfig {
    /// The run every event starts from: the source (a snapshot folder, or AWS collected live
    /// into the function's `/tmp`), the window of scheduled events, the plans to run, the
    /// split threshold. An event may set `now`, the window and the plans.
    pub run: Config,
    /// `s3://bucket/prefix` or a folder; `None`: each plan's own delivery channel.
    pub out: Option<String>,
    /// The S3 client's settings.
    pub aws: AwsOptions,
    pub s3: S3Options,
    /// `s3://bucket/prefix` (or a folder) below which organisation runs keep their parts, one
    /// `date=YYYY-MM-DD` prefix per run.
    pub parts: Option<String>,
}

impl LambdaConfig {
    /// Reads the configuration through `var` (the process environment in `bootstrap`):
    ///
    /// | variable | meaning |
    /// |---|---|
    /// | `BACKUP_AUDIT_SOURCE` | `aws` (collect live) or a snapshot folder (required) |
    /// | `BACKUP_AUDIT_REGIONS`, `BACKUP_AUDIT_ACCOUNTS`, `BACKUP_AUDIT_ROLE_NAME` | what `aws` collects |
    /// | `BACKUP_AUDIT_ENDPOINT_URL` | endpoint of the collector's clients (emulators) |
    /// | `BACKUP_AUDIT_OUT` | `s3://bucket/prefix` (default: each plan's ReportDeliveryChannel) |
    /// | `BACKUP_AUDIT_WINDOW` | `daily` (default) or `last-24h`, for scheduled events |
    /// | `BACKUP_AUDIT_REPORT_PLANS` | comma-separated plan names to run (default: all) |
    /// | `BACKUP_AUDIT_EXPECTED_BUCKET_OWNER` | account id that must own the bucket |
    /// | `BACKUP_AUDIT_SSE`, `BACKUP_AUDIT_SSE_KMS_KEY_ID` | `AES256` or `aws:kms`, and the key |
    /// | `BACKUP_AUDIT_MAX_OBJECT_BYTES` | split threshold (default 50 MiB) |
    /// | `BACKUP_AUDIT_MAX_ATTEMPTS` | attempts per AWS request, collection and S3 (default 10) |
    /// | `BACKUP_AUDIT_S3_ENDPOINT_URL`, `BACKUP_AUDIT_S3_PATH_STYLE` | S3-compatible server |
    /// | `BACKUP_AUDIT_PARTS` | `s3://bucket/prefix` of organisation runs' parts (plan mode) |
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<LambdaConfig, LambdaError> {
        let get = |name: &str| var(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        let bad = |variable: &'static str, message: String| LambdaError::Config { variable, message };
        let number = |variable: &'static str, default: usize| -> Result<usize, LambdaError> {
            get(variable).map_or(Ok(default), |v| {
                v.parse().map_err(|_| bad(variable, format!("`{v}` is not a positive whole number")))
            })
        };
        let source = get("BACKUP_AUDIT_SOURCE")
            .ok_or_else(|| bad("BACKUP_AUDIT_SOURCE", "is not set; it is `aws` or an estate snapshot folder".into()))?;
        let list = |name: &str| -> Vec<String> {
            get(name)
                .map(|v| v.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect())
                .unwrap_or_default()
        };
        let mut collect = crate::collect::CollectOptions::new(0);
        collect.regions = list("BACKUP_AUDIT_REGIONS");
        collect.accounts = list("BACKUP_AUDIT_ACCOUNTS");
        collect.role_name = get("BACKUP_AUDIT_ROLE_NAME");
        collect.endpoint_url = get("BACKUP_AUDIT_ENDPOINT_URL");
        if !collect.accounts.is_empty() && collect.role_name.is_none() {
            return Err(bad(
                "BACKUP_AUDIT_ROLE_NAME",
                "is not set; BACKUP_AUDIT_ACCOUNTS needs the role to assume".into(),
            ));
        }
        let out = get("BACKUP_AUDIT_OUT");
        if let Some(Some(Err(message))) = out.as_deref().map(parse_url) {
            return Err(bad("BACKUP_AUDIT_OUT", message));
        }
        let window = match get("BACKUP_AUDIT_WINDOW").as_deref() {
            None | Some("daily") => WindowSpec::Daily,
            Some("last-24h") => WindowSpec::Last24h,
            Some(other) => return Err(bad("BACKUP_AUDIT_WINDOW", format!("`{other}`; expected daily or last-24h"))),
        };
        let sse = match (get("BACKUP_AUDIT_SSE").as_deref(), get("BACKUP_AUDIT_SSE_KMS_KEY_ID")) {
            (None, None) => None,
            (None, Some(_)) => return Err(bad("BACKUP_AUDIT_SSE_KMS_KEY_ID", "needs BACKUP_AUDIT_SSE=aws:kms".into())),
            (Some("AES256"), None) => Some(Sse::Aes256),
            (Some("aws:kms"), key_id) => Some(Sse::Kms { key_id }),
            (Some(other), _) => {
                return Err(bad("BACKUP_AUDIT_SSE", format!("`{other}`; expected AES256 or aws:kms (with a key id)")));
            }
        };
        let owner = get("BACKUP_AUDIT_EXPECTED_BUCKET_OWNER");
        if let Some(o) = &owner
            && !(o.len() == 12 && o.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(bad("BACKUP_AUDIT_EXPECTED_BUCKET_OWNER", format!("`{o}` is not a 12-digit account id")));
        }
        let path_style = match get("BACKUP_AUDIT_S3_PATH_STYLE").as_deref() {
            None | Some("false") | Some("0") => false,
            Some("true") | Some("1") => true,
            Some(other) => return Err(bad("BACKUP_AUDIT_S3_PATH_STYLE", format!("`{other}`; expected true or false"))),
        };
        let max_attempts =
            number("BACKUP_AUDIT_MAX_ATTEMPTS", crate::collect::DEFAULT_MAX_ATTEMPTS as usize)?.max(1) as u32;
        collect.max_attempts = max_attempts;
        let source = if source == "aws" {
            Source::Aws(AwsSource { collect, snapshot_dir: None })
        } else {
            Source::Snapshot(PathBuf::from(source))
        };
        let mut run = Config::new(source);
        run.window = window;
        run.report_plan_names = list("BACKUP_AUDIT_REPORT_PLANS");
        run.max_object_bytes = number("BACKUP_AUDIT_MAX_OBJECT_BYTES", DEFAULT_MAX_OBJECT_BYTES)?.max(1);
        Ok(LambdaConfig {
            run,
            out,
            aws: AwsOptions {
                region: None,
                profile: None,
                endpoint_url: get("BACKUP_AUDIT_S3_ENDPOINT_URL"),
                path_style,
                max_attempts,
            },
            s3: S3Options { expected_bucket_owner: owner, sse, ..S3Options::default() },
            parts: get("BACKUP_AUDIT_PARTS"),
        })
    }

    /// Where this configuration delivers, with S3 sinks from `s3`.
    pub fn delivery(&self, s3: &S3Sinks) -> Delivery {
        match self.out.as_deref().map(|o| (o, parse_url(o))) {
            None => Delivery::to_plan_buckets(s3.clone()),
            Some((_, Some(Ok((bucket, prefix))))) => Delivery::to(s3.bucket(&bucket, &prefix)),
            Some((dir, _)) => Delivery::to(LocalDir::new(dir)),
        }
    }
}

/// What one invocation asks for.
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub now: Option<Millis>,
    pub window: Option<WindowSpec>,
    pub plan_names: Vec<String>,
    pub plans: Vec<ReportPlan>,
    pub mode: Mode,
    /// An organisation run's parts (`collect`, `shard`, `merge`).
    pub parts: Option<String>,
    /// The one account and region of a Map child.
    pub accounts: Vec<String>,
    pub regions: Vec<String>,
}

/// What an invocation does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Every report plan, in one invocation.
    #[default]
    Run,
    /// An organisation run's plan.
    Plan,
    /// A Map child's collect step.
    Collect,
    /// A Map child's evaluate step.
    Shard,
    /// The organisation run's reports, from the parts.
    Merge,
}

/// A direct invoke's payload.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct DirectInvoke {
    #[serde(default)]
    report_plans: Vec<PlanRef>,
    window: Option<String>,
    now: Option<String>,
    #[serde(default)]
    mode: Mode,
    parts: Option<String>,
    accounts: Option<String>,
    regions: Option<String>,
}

/// A plan by name, or a whole plan.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum PlanRef {
    Name(String),
    Plan(Box<ReportPlan>),
}

fn parse_time(field: &str, s: &str) -> Result<Millis, LambdaError> {
    time::parse_iso(s).ok_or_else(|| {
        LambdaError::Event(format!("`{field}`: `{s}` is not an ISO-8601 time; expected e.g. 2026-11-24T03:00:00Z"))
    })
}

/// Reads an event: a scheduled event or a direct invoke.
fn parse_event(event: &Value) -> Result<Request, LambdaError> {
    let scheduled = event.get("source").and_then(Value::as_str) == Some("aws.events")
        || event.get("detail-type").and_then(Value::as_str) == Some("Scheduled Event");
    if scheduled {
        let now = match event.get("time").and_then(Value::as_str) {
            Some(t) => Some(parse_time("time", t)?),
            None => None,
        };
        return Ok(Request { now, ..Request::default() });
    }
    let direct: DirectInvoke = serde_path_to_error::deserialize(event).map_err(|e| {
        LambdaError::Event(format!(
            "at `{}`: {}; expected a scheduled event or {{\"reportPlans\": [...], \"window\": \"...\", \"now\": \"...\"}}",
            e.path(),
            e.inner()
        ))
    })?;
    let mut request = Request::default();
    for p in direct.report_plans {
        match p {
            PlanRef::Name(n) => request.plan_names.push(n),
            PlanRef::Plan(p) => request.plans.push(*p),
        }
    }
    request.now = direct.now.as_deref().map(|t| parse_time("now", t)).transpose()?;
    request.mode = direct.mode;
    request.parts = direct.parts;
    let list = |v: Option<String>| -> Vec<String> {
        v.unwrap_or_default().split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect()
    };
    request.accounts = list(direct.accounts);
    request.regions = list(direct.regions);
    if matches!(request.mode, Mode::Collect | Mode::Shard)
        && (request.accounts.is_empty() || request.regions.is_empty())
    {
        return Err(LambdaError::Event("`accounts` and `regions`: a collect or shard step needs both".into()));
    }
    if matches!(request.mode, Mode::Collect | Mode::Shard | Mode::Merge) && request.parts.is_none() {
        return Err(LambdaError::Event("`parts`: this mode needs the run's parts (the plan step's answer)".into()));
    }
    request.window = match direct.window.as_deref() {
        None => None,
        Some("daily") => Some(WindowSpec::Daily),
        Some("last-24h") => Some(WindowSpec::Last24h),
        Some(range) => {
            let (from, to) = range.split_once('/').ok_or_else(|| {
                LambdaError::Event(format!("`window`: `{range}`; expected daily, last-24h or <from>/<to>"))
            })?;
            let (from, to) = (parse_time("window", from)?, parse_time("window", to)?);
            if from >= to {
                return Err(LambdaError::Event(format!("`window`: `{range}` does not end after it starts")));
            }
            Some(WindowSpec::Range { from, to })
        }
    };
    Ok(request)
}

/// Runs one event to completion, synchronously. `clock` is the invocation's wall clock, used
/// only when neither the event nor the snapshot fixes `now`. Call it from a blocking thread of
/// a tokio runtime ([`invoke`] does): live collection blocks on that runtime.
pub fn handle(event: &Value, config: &LambdaConfig, s3: &S3Sinks, clock: Millis) -> Result<Value, LambdaError> {
    let request = parse_event(event)?;
    let mut cfg = config.run.clone();
    cfg.now = request.now;
    cfg.window = request.window.unwrap_or(cfg.window);
    if !request.plan_names.is_empty() {
        cfg.report_plan_names = request.plan_names;
    }
    cfg.report_plans = request.plans;
    let parts = |url: &str| -> Result<PartsStore, LambdaError> {
        match parse_url(url) {
            None => Ok(PartsStore::local(url)),
            Some(Ok((bucket, prefix))) => Ok(PartsStore::s3(s3.bucket(&bucket, &prefix))),
            Some(Err(m)) => Err(LambdaError::Event(format!("`parts`: {m}"))),
        }
    };
    let pipeline_err = |e: crate::pipeline::Problem| LambdaError::Pipeline(DisplayChain(&e).to_string());
    let goal = match request.mode {
        Mode::Run => Goal::Reports,
        Mode::Merge => Goal::Merge { parts: parts(request.parts.as_deref().unwrap_or_default())? },
        Mode::Plan => {
            let root = config.parts.as_deref().ok_or_else(|| LambdaError::Config {
                variable: "BACKUP_AUDIT_PARTS",
                message: "is not set; the plan mode writes the run's parts below it".into(),
            })?;
            let now = cfg.now.unwrap_or(clock);
            cfg.now = Some(now);
            let date = &time::format_seconds(now)[..10];
            let url = format!("{}/date={date}", root.trim_end_matches('/'));
            let outcome = Pipeline::new(&cfg, clock)
                .run(&Goal::Plan { parts: parts(&url)? }, &Delivery::to(crate::sinks::Stdout))
                .map_err(pipeline_err)?;
            let items = match parse_url(&url) {
                Some(Ok((bucket, prefix))) => {
                    json!({"Bucket": bucket, "Key": format!("{prefix}/{}", crate::parts::ITEMS_KEY)})
                }
                _ => json!({"Path": format!("{url}/{}", crate::parts::ITEMS_KEY)}),
            };
            return Ok(json!({
                "parts": url,
                "now": time::format_millis(now),
                "items": items,
                "written": outcome.parts,
            }));
        }
        Mode::Collect | Mode::Shard => {
            if let Source::Aws(aws) = &mut cfg.source {
                aws.collect.accounts = request.accounts.clone();
                aws.collect.regions = request.regions.clone();
            }
            // A snapshot folder needs no collect step, and its shards read the other scopes
            // directly (the whole step).
            let live = matches!(cfg.source, Source::Aws(_));
            let step = match (request.mode, live) {
                (Mode::Collect, true) => ShardStep::Collect,
                (Mode::Collect, false) => {
                    return Ok(json!({"accounts": request.accounts, "regions": request.regions, "written": []}));
                }
                (_, true) => ShardStep::Evaluate,
                (_, false) => ShardStep::Whole,
            };
            let goal = Goal::Shard {
                parts: parts(request.parts.as_deref().unwrap_or_default())?,
                scopes: ShardScopes::Listed { accounts: request.accounts.clone(), regions: request.regions.clone() },
                step,
            };
            let outcome =
                Pipeline::new(&cfg, clock).run(&goal, &Delivery::to(crate::sinks::Stdout)).map_err(pipeline_err)?;
            return Ok(json!({
                "accounts": request.accounts,
                "regions": request.regions,
                "written": outcome.parts,
                "nonCompliant": outcome.non_compliant,
            }));
        }
    };
    let delivery = config.delivery(s3);
    let outcome = Pipeline::new(&cfg, clock).run(&goal, &delivery).map_err(pipeline_err)?;
    let summary = json!({
        "status": if outcome.complete() { "complete" } else { "incomplete" },
        "exitCode": outcome.exit_code(false),
        "now": time::format_millis(outcome.now),
        "window": {
            "start": time::format_seconds(outcome.window.start),
            "end": time::format_seconds(outcome.window.end),
        },
        "source": { "files": outcome.inputs.files, "sha256": outcome.inputs.sha256 },
        "objects": outcome.delivered.len(),
        "rows": outcome.delivered.iter().map(|d| d.rows).sum::<usize>(),
        "bytes": outcome.delivered.iter().map(|d| d.bytes).sum::<usize>(),
        "manifests": outcome.manifests,
        "summaries": outcome.summaries,
        "jobs": outcome.summary.as_ref().map(|s| {
            s.tiles.jobs.iter().map(|c| (c.name.clone(), json!(c.count))).collect::<serde_json::Map<_, _>>()
        }),
        "plans": outcome.plans.iter().map(|p| json!({
            "name": p.name,
            "account": p.account,
            "region": p.region,
            "status": p.status.as_str(),
            "objects": p.objects,
            "errors": p.errors,
        })).collect::<Vec<_>>(),
        "notCollected": outcome.not_collected().map(ToString::to_string).collect::<Vec<_>>(),
        "failures": outcome.failures().collect::<Vec<_>>(),
        "nonCompliant": outcome.non_compliant,
    });
    match outcome.exit_code(false) {
        0 => Ok(summary),
        exit_code => Err(LambdaError::Incomplete { exit_code, summary }),
    }
}

/// The async entry point: runs [`handle`] on a blocking thread, because the pipeline is
/// CPU-bound (rayon) and the S3 sink blocks on the runtime.
pub async fn invoke(event: Value, config: Arc<LambdaConfig>, s3: S3Sinks, clock: Millis) -> Result<Value, LambdaError> {
    tokio::task::spawn_blocking(move || handle(&event, &config, &s3, clock))
        .await
        .map_err(|e| LambdaError::Pipeline(format!("the run panicked: {e}")))?
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: std::collections::HashMap<String, String> =
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn scheduled_event_time_is_now() {
        let e = json!({"source": "aws.events", "detail-type": "Scheduled Event", "time": "2026-11-24T03:00:00Z"});
        let r = parse_event(&e).unwrap();
        assert_eq!(r.now, time::parse_iso("2026-11-24T03:00:00Z"));
        assert_eq!(r.window, None);
    }

    #[test]
    fn direct_invoke_fields() {
        let e = json!({"reportPlans": ["daily_jobs"], "window": "2026-11-01T00:00:00Z/2026-11-08T00:00:00Z"});
        let r = parse_event(&e).unwrap();
        assert_eq!(r.plan_names, vec!["daily_jobs".to_string()]);
        assert!(matches!(r.window, Some(WindowSpec::Range { .. })));
        let err = parse_event(&json!({"reportPlan": ["x"]})).unwrap_err().to_string();
        assert!(err.contains("unknown field `reportPlan`"), "{err}");
        let err = parse_event(&json!({"window": "weekly"})).unwrap_err().to_string();
        assert_eq!(err, "event: `window`: `weekly`; expected daily, last-24h or <from>/<to>");
    }

    #[test]
    fn environment_errors_name_the_variable() {
        let err = LambdaConfig::from_env(env(&[])).unwrap_err().to_string();
        assert!(err.starts_with("environment variable BACKUP_AUDIT_SOURCE: is not set"), "{err}");
        let err = LambdaConfig::from_env(env(&[("BACKUP_AUDIT_SOURCE", "/x"), ("BACKUP_AUDIT_SSE", "kms")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("BACKUP_AUDIT_SSE: `kms`; expected AES256 or aws:kms"), "{err}");
        let ok = LambdaConfig::from_env(env(&[
            ("BACKUP_AUDIT_SOURCE", "/x"),
            ("BACKUP_AUDIT_OUT", "s3://bucket/prefix"),
            ("BACKUP_AUDIT_SSE", "aws:kms"),
            ("BACKUP_AUDIT_SSE_KMS_KEY_ID", "alias/reports"),
        ]))
        .unwrap();
        assert_eq!(ok.s3.sse, Some(Sse::Kms { key_id: Some("alias/reports".into()) }));
    }
}
