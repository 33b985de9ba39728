//! Live collection (`--source aws`): reads an AWS Backup estate through the AWS SDK and writes
//! it as an estate snapshot, the folder layout ([`crate::layout`]) the estate stage reads. The snapshot is the
//! contract both ways: a live run is "collect into a snapshot, then read it", so running
//! offline on a saved snapshot gives the same reports as the live run at the same `now`, and
//! the pages are byte-for-byte the service's responses (captured below the SDK's parser).
//!
//! - **Read-only.** Only List*, Describe* and Get* calls (and STS for identity and roles).
//! - **Concurrent and polite.** Every request takes a permit from one semaphore
//!   (`max_concurrency`), across accounts, regions, operations, time slices and vaults. The job
//!   lists are cut into time slices (`ByCreatedAfter` / `ByCreatedBefore`) fetched at once;
//!   overlapping edges are de-duplicated by job id when the snapshot is read. Pages ask for the
//!   API maximum. The SDK's adaptive retry mode retries throttling and 5xx with backoff, and a
//!   page is written only once its request succeeded, so none is lost or duplicated.
//! - **Defensive paging.** Short pages are normal; an absent or empty `NextToken` ends a list; a
//!   token the service already returned is an error, not a loop.
//! - **Failures stay local.** A command that fails (after retries) is not written at all, so
//!   the snapshot says "not collected" and controls report INSUFFICIENT_DATA, never a partial
//!   list read as complete. A region or account that refuses the first call is recorded once
//!   and skipped. Every failure is listed in `snapshot.json` (`Failures`), which makes the run
//!   partial (exit code 4).

mod pager;
pub mod progress;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use aws_sdk_backup::config::interceptors::AfterDeserializationInterceptorContextRef;
use aws_sdk_backup::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_backup::error::{BoxError, ProvideErrorMetadata, SdkError};
use aws_sdk_backup::primitives::DateTime;
use serde::Serialize;
use tokio::sync::Semaphore;

use crate::time::{self, Millis};
mod limiter;

pub use limiter::Limiter;
pub use pager::{Page, paginate};
pub use progress::{Progress, Quiet, TerminalProgress};

/// Attempts per AWS request, first try included, for collection and S3 alike.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 10;

/// What to collect, and how.
#[derive(Debug, Clone)]
pub struct CollectOptions {
    /// Accounts to collect, each through `role_name`; empty: the caller's own account.
    pub accounts: Vec<String>,
    /// The role assumed in each of `accounts` (`arn:aws:iam::<account>:role/<role_name>`).
    pub role_name: Option<String>,
    /// Regions; empty: the SDK's region (`AWS_REGION`, the profile).
    pub regions: Vec<String>,
    pub profile: Option<String>,
    /// An endpoint for every service (emulators, the replay endpoint of the tests).
    pub endpoint_url: Option<String>,
    /// Requests in flight at once, over everything.
    pub max_concurrency: usize,
    /// Attempts per request, first try included.
    pub max_attempts: u32,
    /// The SDK's adaptive retry mode (backoff plus the SDK's own client-side rate limit),
    /// else the standard mode (backoff only; the default).
    pub adaptive_retry: bool,
    /// Pace each service of each account and region with a [`Limiter`] that finds its quota
    /// (the default).
    pub rate_limit: bool,
    /// Collect `describe-protected-resource` in every account and region, not only where a
    /// framework has the restore-time control (for frameworks given as files, evaluated
    /// against the snapshot later).
    pub all_details: bool,
    /// How far back job lists reach, in days (the jobs API keeps about 30 days).
    pub job_days: u32,
    /// Time slices per job list, fetched concurrently.
    pub job_slices: u32,
    /// List the jobs of every account of the organisation (`ByAccountId=*`) from the caller's
    /// account (an Organizations management or delegated administrator account).
    pub org_jobs: bool,
    /// The clock: the snapshot's `CollectedAt` and the end of the job slices.
    pub now: Millis,
}

impl CollectOptions {
    pub fn new(now: Millis) -> CollectOptions {
        CollectOptions {
            accounts: Vec::new(),
            role_name: None,
            regions: Vec::new(),
            profile: None,
            endpoint_url: None,
            max_concurrency: 32,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            adaptive_retry: false,
            rate_limit: true,
            all_details: false,
            job_days: 30,
            job_slices: 30,
            org_jobs: false,
            now,
        }
    }
}

/// Why collection could not start or the snapshot could not be written.
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    #[error("cannot write the snapshot file `{path}`")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("no region to collect: set AWS_REGION, a profile region, or --regions")]
    NoRegion,
    #[error("cannot tell which account the credentials belong to (sts:GetCallerIdentity): {0}")]
    Identity(String),
    #[error("--accounts needs --role-name: the role assumed in each account")]
    NoRole,
    /// The organisation's accounts could not be listed (an organisation run without a list).
    #[error("cannot list the organisation's accounts (organizations:ListAccounts): {0}")]
    Organization(String),
}

impl CollectError {
    /// A snapshot file that cannot be written is the tool's own failure; the rest (no region,
    /// no identity, no role) is bad input or setup.
    pub fn kind(&self) -> crate::problem::Kind {
        match self {
            CollectError::Io { .. } => crate::problem::Kind::Failed,
            _ => crate::problem::Kind::BadInput,
        }
    }
}

/// A part of the estate that could not be collected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Failure {
    pub account: String,
    pub region: String,
    /// The CLI command (`list-backup-jobs`) or `*` when the whole region was refused.
    pub command: String,
    pub error: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "account {} region {}: {} not collected: {}", self.account, self.region, self.command, self.error)
    }
}

/// What a collection did.
#[derive(Debug, Clone, Default)]
pub struct Collected {
    pub scopes: usize,
    pub files: u64,
    pub bytes: u64,
    pub requests: u64,
    /// Attempts beyond the first, over all requests (throttling, 5xx, timeouts).
    pub retries: u64,
    /// Attempts the services throttled.
    pub throttled: u64,
    pub failures: Vec<Failure>,
}

/// Shared by every task of one collection.
struct Shared {
    permits: Semaphore,
    requests: AtomicU64,
    attempts: Arc<AtomicU64>,
    /// Attempts the services throttled.
    throttled: Arc<AtomicU64>,
    /// Attempts per request, first try included.
    max_attempts: u32,
    progress: Arc<dyn Progress>,
    files: AtomicU64,
    bytes: AtomicU64,
    failures: Mutex<Vec<Failure>>,
    /// Commands left out on purpose (`snapshot.json` `Skipped`).
    skipped: Mutex<Vec<Failure>>,
    page_size: i32,
}

/// One account and region: its clients and its snapshot folder.
#[derive(Clone)]
struct Scope {
    account: String,
    region: String,
    backup: aws_sdk_backup::Client,
    tagging: aws_sdk_resourcegroupstagging::Client,
    ec2: aws_sdk_ec2::Client,
    /// One rate limiter per service of this account and region (none with `--rate-limit off`).
    limits: Limits,
    dir: PathBuf,
    shared: Arc<Shared>,
}

/// The rate limiters of one account and region, one per service: quotas are per service,
/// account and region.
#[derive(Clone, Default)]
struct Limits {
    backup: Option<Arc<Limiter>>,
    tagging: Option<Arc<Limiter>>,
    ec2: Option<Arc<Limiter>>,
}

impl Limits {
    fn new(on: bool) -> Limits {
        let one = || on.then(|| Arc::new(Limiter::default()));
        Limits { backup: one(), tagging: one(), ec2: one() }
    }
}

/// Keeps the raw body of the response the SDK deserialised last (the successful attempt),
/// counts attempts, and tells the rate limiter whether each attempt was throttled.
#[derive(Clone)]
struct Capture {
    body: Arc<Mutex<Option<Vec<u8>>>>,
    attempts: Arc<AtomicU64>,
    progress: Arc<dyn Progress>,
    limiter: Option<Arc<Limiter>>,
    throttled: Arc<AtomicU64>,
    /// When the request was handed to the SDK.
    sent: std::time::Instant,
    /// Whether the last attempt's answer was throttling, read from the raw response (an error
    /// the SDK cannot parse is still recognised).
    last_throttled: Arc<std::sync::atomic::AtomicBool>,
}

impl std::fmt::Debug for Capture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Capture")
    }
}

impl Intercept for Capture {
    fn name(&self) -> &'static str {
        "backup-audit::collect::Capture"
    }

    fn read_before_attempt(
        &self,
        _context: &aws_sdk_backup::config::interceptors::BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if self.attempts.fetch_add(1, Ordering::Relaxed) > 0 {
            self.progress.retry();
        }
        Ok(())
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let response = context.response();
        let bytes = response.body().bytes().map(<[u8]>::to_vec);
        let throttled = limiter::is_throttling(
            response.status().as_u16(),
            response.headers().get("x-amzn-errortype"),
            bytes.as_deref().unwrap_or_default(),
        );
        if throttled {
            self.throttled.fetch_add(1, Ordering::Relaxed);
        }
        self.last_throttled.store(throttled, Ordering::Relaxed);
        if let Some(l) = &self.limiter {
            let answer = if throttled { limiter::Answer::Throttled } else { limiter::Answer::Accepted };
            l.record(answer, self.sent, std::time::Instant::now());
        }
        *self.body.lock().unwrap_or_else(|e| e.into_inner()) = bytes;
        Ok(())
    }
}

impl Capture {
    fn new(shared: &Shared, limiter: Option<Arc<Limiter>>) -> Capture {
        Capture {
            body: Arc::default(),
            attempts: Arc::new(AtomicU64::new(0)),
            progress: shared.progress.clone(),
            limiter,
            throttled: shared.throttled.clone(),
            sent: std::time::Instant::now(),
            last_throttled: Arc::default(),
        }
    }

    fn take(&self, shared: &Shared) -> Vec<u8> {
        let attempts = self.attempts.load(Ordering::Relaxed);
        shared.attempts.fetch_add(attempts.saturating_sub(1), Ordering::Relaxed);
        self.body.lock().unwrap_or_else(|e| e.into_inner()).take().unwrap_or_default()
    }
}

/// A failed request: the service's error code (if any) and a one-line message.
#[derive(Debug, Clone)]
pub struct RequestError {
    pub code: Option<String>,
    pub message: String,
}

impl RequestError {
    fn of<E, R>(e: SdkError<E, R>) -> RequestError
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug,
    {
        let code = e.code().map(str::to_string);
        let message = match (&e, e.code(), e.message()) {
            (SdkError::ServiceError(_), Some(c), Some(m)) => format!("{c}: {m}"),
            (SdkError::ServiceError(_), Some(c), None) => c.to_string(),
            (SdkError::ServiceError(s), None, _) => {
                format!("unexpected response: {}", crate::problem::DisplayChain(s.err()))
            }
            (SdkError::TimeoutError(_), _, _) => "the request timed out".to_string(),
            (SdkError::DispatchFailure(_), _, _) => {
                format!("cannot reach the endpoint: {}", crate::problem::DisplayChain(&e))
            }
            _ => crate::problem::DisplayChain(&e).to_string(),
        };
        RequestError { code, message }
    }

    fn throttled(&self) -> bool {
        self.code.as_deref().is_some_and(limiter::is_throttling_code)
    }

    fn not_found(&self) -> bool {
        self.code.as_deref() == Some("ResourceNotFoundException")
    }
}

/// Sends one request at its rate limiter's pace and with a concurrency permit, and captures
/// its raw body: `(typed output, body bytes)`. The limiter is AWS Backup's unless named. With
/// a limiter, a throttled attempt is not retried by the SDK but sent again here, at the
/// limiter's pace (other errors keep the SDK's retries).
macro_rules! captured {
    ($scope:expr, $builder:expr) => {
        captured!($scope.limits.backup, $scope, $builder)
    };
    ($limiter:expr, $scope:expr, $builder:expr) => {{
        let request = $builder;
        let mut tries = 1;
        loop {
            if let Some(l) = &$limiter {
                l.acquire().await;
            }
            let _permit = $scope.shared.permits.acquire().await.expect("the semaphore is never closed");
            let capture = Capture::new(&$scope.shared, $limiter.clone());
            let result = request.clone().customize().interceptor(capture.clone()).send().await;
            $scope.shared.requests.fetch_add(1, Ordering::Relaxed);
            let body = capture.take(&$scope.shared);
            let throttled = capture.last_throttled.load(Ordering::Relaxed);
            let result = result.map(|out| (out, body)).map_err(RequestError::of);
            match result {
                Err(e) if $limiter.is_some() && (throttled || e.throttled()) && tries < $scope.shared.max_attempts => {
                    tries += 1;
                    $scope.shared.attempts.fetch_add(1, Ordering::Relaxed);
                    $scope.shared.progress.retry();
                }
                other => break other,
            }
        }
    }};
}

/// Collects the estate into `out` (created; must be empty or absent) and writes
/// `out/snapshot.json` last.
pub async fn collect(
    opts: &CollectOptions,
    out: &Path,
    progress: Arc<dyn Progress>,
) -> Result<Collected, CollectError> {
    let base = base_config(opts).await;
    let regions: Vec<String> = if opts.regions.is_empty() {
        vec![base.region().ok_or(CollectError::NoRegion)?.to_string()]
    } else {
        opts.regions.iter().cloned().collect::<BTreeSet<_>>().into_iter().collect()
    };

    // Accounts and their configurations: the caller's own, or each through the role.
    // With --org-jobs, the caller's account lists the jobs of the whole organisation and the
    // other accounts list none (their jobs are in that list).
    let mut accounts: Vec<(String, aws_config::SdkConfig)> = Vec::new();
    // STS answers in the first region that does, so one refused region (an opt-in region that
    // is disabled, a region an SCP denies) is one failed scope, never the whole run. Roles are
    // assumed through that region too.
    let (me, sts_region) = identity(&base, &regions).await?;
    let base = base.to_builder().region(sts_region).build();
    let caller = (opts.accounts.is_empty() || opts.org_jobs).then_some(me);
    if opts.accounts.is_empty() {
        accounts.push((caller.clone().expect("asked above"), base.clone()));
    } else {
        let role = opts.role_name.as_deref().ok_or(CollectError::NoRole)?;
        for account in opts.accounts.iter().collect::<BTreeSet<_>>() {
            let provider = aws_config::sts::AssumeRoleProvider::builder(format!("arn:aws:iam::{account}:role/{role}"))
                .session_name("backup-audit")
                .configure(&base)
                .build()
                .await;
            let conf = base
                .to_builder()
                .credentials_provider(aws_sdk_backup::config::SharedCredentialsProvider::new(provider))
                .build();
            accounts.push((account.clone(), conf));
        }
        if let Some(c) = caller.as_ref().filter(|c| opts.org_jobs && !opts.accounts.contains(c)) {
            accounts.push((c.clone(), base.clone()));
            accounts.sort_by(|a, b| a.0.cmp(&b.0));
        }
    }

    let shared = Arc::new(Shared {
        permits: Semaphore::new(opts.max_concurrency.max(1)),
        requests: AtomicU64::new(0),
        attempts: Arc::new(AtomicU64::new(0)),
        throttled: Arc::new(AtomicU64::new(0)),
        max_attempts: opts.max_attempts.max(1),
        progress,
        files: AtomicU64::new(0),
        bytes: AtomicU64::new(0),
        failures: Mutex::new(Vec::new()),
        skipped: Mutex::new(Vec::new()),
        page_size: 1000,
    });
    std::fs::create_dir_all(out).map_err(|source| CollectError::Io { path: out.to_path_buf(), source })?;
    let mut tasks = tokio::task::JoinSet::new();
    for (account, conf) in &accounts {
        for region in &regions {
            let region_conf = aws_config::Region::new(region.clone());
            // With the rate limiter, throttled attempts are retried by `captured!` at the
            // limiter's pace, not by the SDK at its own.
            let mut backup = aws_sdk_backup::config::Builder::from(conf).region(region_conf.clone());
            let mut tagging = aws_sdk_resourcegroupstagging::config::Builder::from(conf).region(region_conf.clone());
            let mut ec2 = aws_sdk_ec2::config::Builder::from(conf).region(region_conf);
            if opts.rate_limit {
                backup = backup.retry_classifier(limiter::LimiterRetries);
                tagging = tagging.retry_classifier(limiter::LimiterRetries);
                ec2 = ec2.retry_classifier(limiter::LimiterRetries);
            }
            let backup = aws_sdk_backup::Client::from_conf(backup.build());
            let tagging = aws_sdk_resourcegroupstagging::Client::from_conf(tagging.build());
            let ec2 = aws_sdk_ec2::Client::from_conf(ec2.build());
            let dir = out.join(account).join(region);
            std::fs::create_dir_all(&dir).map_err(|source| CollectError::Io { path: dir.clone(), source })?;
            let scope = Scope {
                account: account.clone(),
                region: region.clone(),
                backup,
                tagging,
                ec2,
                limits: Limits::new(opts.rate_limit),
                dir,
                shared: shared.clone(),
            };
            let jobs = match (&caller, opts.org_jobs) {
                (_, false) => Jobs::Own,
                (Some(c), true) if c == account => Jobs::Organisation,
                _ => Jobs::None,
            };
            let opts = opts.clone();
            tasks.spawn(async move { collect_scope(scope, &opts, jobs).await });
        }
    }
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e),
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }

    // An organisation (--org-jobs, from the management account): every account's path.
    if let (Some(me), true, Some(region)) = (&caller, opts.org_jobs, regions.first()) {
        let ids: Vec<String> = accounts.iter().map(|(a, _)| a.clone()).collect();
        let dir = out.join(me).join(region);
        if let Err(error) = collect_parents(&base, &ids, &dir, &shared).await {
            shared.failures.lock().unwrap_or_else(|e| e.into_inner()).push(Failure {
                account: me.clone(),
                region: region.clone(),
                command: "list-parents".into(),
                error,
            });
        }
    }

    shared.progress.finish();
    let mut failures = std::mem::take(&mut *shared.failures.lock().unwrap_or_else(|e| e.into_inner()));
    failures.sort_by(|a, b| (&a.account, &a.region, &a.command).cmp(&(&b.account, &b.region, &b.command)));
    let mut skipped = std::mem::take(&mut *shared.skipped.lock().unwrap_or_else(|e| e.into_inner()));
    skipped.sort_by(|a, b| (&a.account, &a.region, &a.command).cmp(&(&b.account, &b.region, &b.command)));
    let skipped: Vec<serde_json::Value> = skipped
        .iter()
        .map(|s| serde_json::json!({"Account": s.account, "Region": s.region, "Command": s.command, "Reason": s.error}))
        .collect();
    let marker = serde_json::json!({
        "CollectedAt": time::format_millis(opts.now),
        "Collector": format!("{} {} --source aws", env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION")),
        "Failures": failures,
        // Commands left out because no control of the account and region needs them.
        "Skipped": skipped,
        // The accounts whose job lists hold the whole organisation's jobs (`--org-jobs`): the
        // other accounts' folders have no job lists, and the reader does not count them missing.
        "OrganizationJobLists": caller.iter().filter(|_| opts.org_jobs).collect::<Vec<_>>(),
    });
    let bytes = serde_json::to_vec_pretty(&marker).expect("the marker serialises");
    write_file(&out.join("snapshot.json"), &bytes)?;
    Ok(Collected {
        scopes: accounts.len() * regions.len(),
        files: shared.files.load(Ordering::Relaxed),
        bytes: shared.bytes.load(Ordering::Relaxed),
        requests: shared.requests.load(Ordering::Relaxed),
        retries: shared.attempts.load(Ordering::Relaxed),
        throttled: shared.throttled.load(Ordering::Relaxed),
        failures,
    })
}

/// The caller's SDK configuration: profile, endpoint, first region and retries of `opts`.
async fn base_config(opts: &CollectOptions) -> aws_config::SdkConfig {
    let retry = if opts.adaptive_retry {
        aws_config::retry::RetryConfig::adaptive()
    } else {
        aws_config::retry::RetryConfig::standard()
    };
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .retry_config(retry.with_max_attempts(opts.max_attempts.max(1)));
    if let Some(p) = &opts.profile {
        loader = loader.profile_name(p);
    }
    if let Some(url) = &opts.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    if let Some(r) = opts.regions.first() {
        loader = loader.region(aws_config::Region::new(r.clone()));
    }
    loader.load().await
}

/// The ACTIVE accounts of the organisation (`organizations:ListAccounts`, from the management
/// account or a delegated administrator), sorted: what an organisation run shards over when it
/// is given no account list.
pub async fn organization_accounts(opts: &CollectOptions) -> Result<Vec<String>, CollectError> {
    let client = aws_sdk_organizations::Client::new(&base_config(opts).await);
    let mut accounts = BTreeSet::new();
    let mut pages = client.list_accounts().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| CollectError::Organization(RequestError::of(e).message))?;
        for a in page.accounts() {
            let active = a.state().map(|s| s.as_str() == "ACTIVE").unwrap_or(true);
            if let (Some(id), true) = (a.id(), active) {
                accounts.insert(id.to_string());
            }
        }
    }
    Ok(accounts.into_iter().collect())
}

/// `list-parents/<child>.json` in `dir` for every account of `accounts` and every OU above
/// it, up to the root: the accounts' AWS Organizations paths ("Path To Root" in the job
/// reports). Written whole (staged, then renamed) or not at all. The bodies hold the
/// `Parents` member as the AWS CLI prints it (Id, Type).
async fn collect_parents(
    base: &aws_config::SdkConfig,
    accounts: &[String],
    dir: &Path,
    shared: &Shared,
) -> Result<(), String> {
    /// Not an organisation: no paths to collect, which is not a failure.
    const NOT_IN_USE: &str = "AWSOrganizationsNotInUseException";
    let client = aws_sdk_organizations::Client::new(base);
    let staging = dir.join(".partial-list-parents");
    let mut written = BTreeSet::new();
    let result = async {
        for account in accounts {
            let mut child = account.clone();
            // Organizations nests OUs at most five deep; the bound also stops a cycle.
            for _ in 0..8 {
                if !written.insert(child.clone()) {
                    break; // this OU's chain is written already
                }
                let answer = {
                    let _permit = shared.permits.acquire().await.expect("the semaphore is never closed");
                    shared.requests.fetch_add(1, Ordering::Relaxed);
                    match client.list_parents().child_id(&child).send().await.map_err(RequestError::of) {
                        Err(e) if e.code.as_deref() == Some(NOT_IN_USE) => return Err(NOT_IN_USE.to_string()),
                        other => other.map_err(|e| e.message)?,
                    }
                };
                let Some(parent) = answer.parents().first() else { break };
                let (id, kind) =
                    (parent.id().unwrap_or_default(), parent.r#type().map(|t| t.as_str()).unwrap_or_default());
                let body = serde_json::json!({"Parents": [{"Id": id, "Type": kind}]});
                let bytes = serde_json::to_vec_pretty(&body).expect("a JSON value serialises");
                write_file(&staging.join(format!("{child}.json")), &bytes).map_err(|e| e.to_string())?;
                shared.files.fetch_add(1, Ordering::Relaxed);
                if kind == "ROOT" {
                    break;
                }
                child = id.to_string();
            }
        }
        std::fs::create_dir_all(&staging).map_err(|e| e.to_string())?;
        std::fs::rename(&staging, dir.join("list-parents")).map_err(|e| e.to_string())
    }
    .await;
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&staging);
    }
    match result {
        Err(e) if e == NOT_IN_USE => Ok(()),
        other => other,
    }
}

/// The caller's account, from `sts:GetCallerIdentity` in the first of `regions` that answers,
/// and that region. Fails only when every region refuses, naming each refusal.
async fn identity(
    base: &aws_config::SdkConfig,
    regions: &[String],
) -> Result<(String, aws_config::Region), CollectError> {
    let mut refusals = Vec::new();
    for region in regions {
        let region = aws_config::Region::new(region.clone());
        let sts =
            aws_sdk_sts::Client::from_conf(aws_sdk_sts::config::Builder::from(base).region(region.clone()).build());
        match sts.get_caller_identity().send().await {
            Ok(me) => {
                let account = me.account().ok_or_else(|| CollectError::Identity("the answer has no Account".into()))?;
                if !refusals.is_empty() {
                    tracing::warn!(region = %region, "sts:GetCallerIdentity answered only in {region} ({})", refusals.join("; "));
                }
                return Ok((account.to_string(), region));
            }
            Err(e) => refusals.push(format!("{region}: {}", RequestError::of(e).message)),
        }
    }
    Err(CollectError::Identity(refusals.join("; ")))
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), CollectError> {
    let io = |source| CollectError::Io { path: path.to_path_buf(), source };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, bytes).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

/// A command's files are written below a staging folder and moved into place only when the
/// whole command succeeded: a command is collected completely or not at all.
struct Staged {
    command: String,
    staging: PathBuf,
    target: PathBuf,
    shared: Arc<Shared>,
}

impl Staged {
    fn new(scope: &Scope, command: &str) -> Staged {
        Staged {
            command: command.to_string(),
            staging: scope.dir.join(format!(".partial-{command}")),
            target: scope.dir.join(command),
            shared: scope.shared.clone(),
        }
    }

    /// Writes `rel` (a path below the command) with `bytes`.
    fn put(&self, rel: &str, bytes: &[u8]) -> Result<(), CollectError> {
        write_file(&self.staging.join(rel), bytes)?;
        self.shared.files.fetch_add(1, Ordering::Relaxed);
        self.shared.bytes.fetch_add(bytes.len() as u64, Ordering::Relaxed);
        self.shared.progress.page(&self.command, bytes.len());
        Ok(())
    }

    /// Moves the command's folder into place (an empty folder for a command that found
    /// nothing: "collected, none").
    fn commit(&self) -> Result<(), CollectError> {
        let io = |path: &Path, source| CollectError::Io { path: path.to_path_buf(), source };
        std::fs::create_dir_all(&self.staging).map_err(|e| io(&self.staging, e))?;
        std::fs::rename(&self.staging, &self.target).map_err(|e| io(&self.target, e))
    }

    fn discard(&self) {
        let _ = std::fs::remove_dir_all(&self.staging);
    }
}

impl Scope {
    /// Records a command left out on purpose: `snapshot.json` `Skipped` says so, and the
    /// reader does not count it as a failure unless a control that needs it is evaluated.
    fn skip(&self, command: &str, reason: &str) {
        tracing::info!(account = %self.account, region = %self.region, command, "not needed: {reason}");
        self.shared.skipped.lock().unwrap_or_else(|e| e.into_inner()).push(Failure {
            account: self.account.clone(),
            region: self.region.clone(),
            command: command.to_string(),
            error: reason.to_string(),
        });
    }

    fn fail(&self, command: &str, error: &str) {
        tracing::warn!(account = %self.account, region = %self.region, command, "not collected: {error}");
        self.shared.progress.failed();
        self.shared.failures.lock().unwrap_or_else(|e| e.into_inner()).push(Failure {
            account: self.account.clone(),
            region: self.region.clone(),
            command: command.to_string(),
            error: error.to_string(),
        });
    }

    /// Runs one command's collection: commits its files on success, records the failure and
    /// discards them otherwise.
    async fn command<F, Fut, T>(&self, command: &str, body: F) -> Result<Option<T>, CollectError>
    where
        F: FnOnce(Arc<Staged>) -> Fut,
        Fut: std::future::Future<Output = Result<Result<T, RequestError>, CollectError>>,
    {
        let staged = Arc::new(Staged::new(self, command));
        let _ = std::fs::remove_dir_all(&staged.staging);
        match body(staged.clone()).await {
            Ok(Ok(value)) => {
                staged.commit()?;
                tracing::debug!(account = %self.account, region = %self.region, command, "collected");
                Ok(Some(value))
            }
            Ok(Err(e)) => {
                self.fail(command, &e.message);
                staged.discard();
                Ok(None)
            }
            Err(e) => {
                staged.discard();
                Err(e)
            }
        }
    }
}

/// The job list slices: `(None, b1)`, `[b1, b2)`, …, `[bn, None)` over the last `job_days`.
fn slices(now: Millis, days: u32, count: u32) -> Vec<(Option<Millis>, Option<Millis>)> {
    let count = count.max(1) as i64;
    let span = i64::from(days.max(1)) * 86_400_000;
    let start = now - span;
    let edges: Vec<Millis> = (0..count).map(|i| start + span * i / count).collect();
    let mut out = vec![(None, Some(edges[0]))];
    for w in edges.windows(2) {
        out.push((Some(w[0]), Some(w[1])));
    }
    out.push((Some(*edges.last().expect("at least one edge")), None));
    out
}

fn dt(ms: Millis) -> DateTime {
    DateTime::from_millis(ms)
}

/// Which jobs a scope lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Jobs {
    /// The account's own.
    Own,
    /// Every account's of the organisation (`ByAccountId=*`).
    Organisation,
    /// None: another scope lists them organisation-wide.
    None,
}

/// Collects one account and region.
async fn collect_scope(scope: Scope, opts: &CollectOptions, jobs: Jobs) -> Result<(), CollectError> {
    // The first call tells whether the region answers at all; if not, one failure for it.
    let probe = captured!(scope, scope.backup.list_backup_vaults().max_results(scope.shared.page_size));
    if let Err(e) = probe {
        scope.fail("*", &e.message);
        return Ok(());
    }
    let vaults = scope.clone();
    let plans = scope.clone();
    let rest = scope.clone();
    let (a, b, c, d) = tokio::join!(
        async {
            match jobs {
                Jobs::None => Ok(()),
                _ => collect_jobs(scope.clone(), opts, jobs == Jobs::Organisation).await,
            }
        },
        collect_vaults(vaults),
        collect_plans(plans),
        collect_rest(rest, opts),
    );
    a.and(b).and(c).and(d)
}

/// One job list, all slices at once, pages named `page-<slice>-<page>.json`. The three job
/// operations have the same inputs but no common trait, hence a macro.
macro_rules! job_list {
    ($scope:expr, $slices:expr, $org:expr, $command:literal, $operation:ident) => {
        $scope.command($command, |staged| {
            let (scope, slices, org) = ($scope.clone(), $slices.clone(), $org.clone());
            async move {
                sliced(&slices, |i, (after, before)| {
                    let (scope, staged, org) = (scope.clone(), staged.clone(), org.clone());
                    async move {
                        paginate(
                            $command,
                            |token| {
                                let (scope, org) = (scope.clone(), org.clone());
                                async move {
                                    let (out, bytes) = captured!(
                                        scope,
                                        scope
                                            .backup
                                            .$operation()
                                            .set_by_account_id(org)
                                            .max_results(scope.shared.page_size)
                                            .set_by_created_after(after.map(dt))
                                            .set_by_created_before(before.map(dt))
                                            .set_next_token(token)
                                    )?;
                                    Ok(Page { bytes, next_token: out.next_token, names: Vec::new() })
                                }
                            },
                            |n, bytes| staged.put(&format!("page-{i:05}-{n:05}.json"), bytes),
                        )
                        .await
                    }
                })
                .await
            }
        })
    };
}

async fn collect_jobs(scope: Scope, opts: &CollectOptions, organisation: bool) -> Result<(), CollectError> {
    let slices = slices(opts.now, opts.job_days, opts.job_slices);
    // Organisation-wide: every member account's jobs, each carrying its own AccountId.
    let org: Option<String> = organisation.then(|| "*".to_string());
    let (a, b, c) = tokio::join!(
        job_list!(scope, slices, org, "list-backup-jobs", list_backup_jobs),
        job_list!(scope, slices, org, "list-copy-jobs", list_copy_jobs),
        job_list!(scope, slices, org, "list-restore-jobs", list_restore_jobs),
    );
    a?;
    b?;
    c?;
    Ok(())
}

/// Runs `one` for every slice concurrently; the first request error wins, I/O errors stop.
async fn sliced<F, Fut>(
    slices: &[(Option<Millis>, Option<Millis>)],
    one: F,
) -> Result<Result<(), RequestError>, CollectError>
where
    F: Fn(usize, (Option<Millis>, Option<Millis>)) -> Fut,
    Fut: std::future::Future<Output = Result<Result<Vec<String>, RequestError>, CollectError>>,
{
    let results = futures::future::join_all(slices.iter().enumerate().map(|(i, s)| one(i, *s))).await;
    for r in results {
        if let Err(e) = r? {
            return Ok(Err(e));
        }
    }
    Ok(Ok(()))
}

/// A plain list command: every page as `<command>/page-<n>.json`; returns the names that
/// `fetch` read from its pages, or `None` when the command could not be collected.
async fn list<F, Fut>(scope: &Scope, command: &'static str, fetch: F) -> Result<Option<Vec<String>>, CollectError>
where
    F: Fn(Scope, Option<String>) -> Fut,
    Fut: std::future::Future<Output = Result<Page, RequestError>>,
{
    scope
        .command(command, |staged| async move {
            paginate(
                command,
                |token| fetch(scope.clone(), token),
                |n, bytes| staged.put(&format!("page-{n:05}.json"), bytes),
            )
            .await
        })
        .await
}

/// A list command per key (per vault, per plan), all keys at once: pages as
/// `<command>/<key>/page-<n>.json`; returns the names read from all pages, or `None` when the
/// command could not be collected.
async fn list_per_key<F, Fut>(
    scope: &Scope,
    command: &'static str,
    keys: &[String],
    fetch: F,
) -> Result<Option<Vec<String>>, CollectError>
where
    F: Fn(Scope, String, Option<String>) -> Fut,
    Fut: std::future::Future<Output = Result<Page, RequestError>>,
{
    scope
        .command(command, |staged| async move {
            let results = futures::future::join_all(keys.iter().map(|key| {
                let (staged, fetch) = (staged.clone(), &fetch);
                async move {
                    paginate(
                        command,
                        |token| fetch(scope.clone(), key.clone(), token),
                        |n, bytes| staged.put(&format!("{key}/page-{n:05}.json"), bytes),
                    )
                    .await
                }
            }))
            .await;
            let mut all = Vec::new();
            for r in results {
                match r? {
                    Ok(names) => all.extend(names),
                    Err(e) => return Ok(Err(e)),
                }
            }
            Ok(Ok(all))
        })
        .await
}

async fn collect_vaults(scope: Scope) -> Result<(), CollectError> {
    let names = list(&scope, "list-backup-vaults", |scope, token| async move {
        let (out, bytes) = captured!(
            scope,
            scope.backup.list_backup_vaults().max_results(scope.shared.page_size).set_next_token(token)
        )?;
        let names = out.backup_vault_list().iter().filter_map(|v| v.backup_vault_name().map(str::to_string)).collect();
        Ok(Page { bytes, next_token: out.next_token, names })
    })
    .await?;
    let Some(names) = names else { return Ok(()) };
    let describe = per_entity(&scope, "describe-backup-vault", &names, |scope, name| async move {
        let r = captured!(scope, scope.backup.describe_backup_vault().backup_vault_name(&name));
        Ok(r.map(|(_, bytes)| Some((format!("{name}.json"), bytes))))
    });
    let policies = per_entity(&scope, "get-backup-vault-access-policy", &names, |scope, name| async move {
        match captured!(scope, scope.backup.get_backup_vault_access_policy().backup_vault_name(&name)) {
            Ok((_, bytes)) => Ok(Ok(Some((format!("{name}.json"), bytes)))),
            Err(e) if e.not_found() => Ok(Ok(None)),
            Err(e) => Ok(Err(e)),
        }
    });
    let points =
        list_per_key(&scope, "list-recovery-points-by-backup-vault", &names, |scope, name, token| async move {
            let (out, bytes) = captured!(
                scope,
                scope
                    .backup
                    .list_recovery_points_by_backup_vault()
                    .backup_vault_name(&name)
                    .max_results(scope.shared.page_size)
                    .set_next_token(token)
            )?;
            Ok(Page { bytes, next_token: out.next_token, names: Vec::new() })
        });
    let (a, b, c) = tokio::join!(describe, policies, points);
    a?;
    b?;
    c?;
    Ok(())
}

/// Fetches one file per entity, concurrently; `fetch` answers `None` for "no such entity",
/// which writes no file (the folder still says "collected").
async fn per_entity<F, Fut>(scope: &Scope, command: &str, keys: &[String], fetch: F) -> Result<(), CollectError>
where
    F: Fn(Scope, String) -> Fut,
    Fut: std::future::Future<Output = Result<Result<Option<(String, Vec<u8>)>, RequestError>, CollectError>>,
{
    scope
        .command(command, |staged| async move {
            let results = futures::future::join_all(keys.iter().map(|k| fetch(scope.clone(), k.clone()))).await;
            for r in results {
                match r? {
                    Ok(Some((rel, bytes))) => staged.put(&rel, &bytes)?,
                    Ok(None) => {}
                    Err(e) => return Ok(Err(e)),
                }
            }
            Ok(Ok(()))
        })
        .await?;
    Ok(())
}

async fn collect_plans(scope: Scope) -> Result<(), CollectError> {
    let ids = list(&scope, "list-backup-plans", |scope, token| async move {
        let (out, bytes) = captured!(
            scope,
            scope.backup.list_backup_plans().max_results(scope.shared.page_size).set_next_token(token)
        )?;
        let names = out.backup_plans_list().iter().filter_map(|p| p.backup_plan_id().map(str::to_string)).collect();
        Ok(Page { bytes, next_token: out.next_token, names })
    })
    .await?;
    let Some(ids) = ids else { return Ok(()) };
    let detail = per_entity(&scope, "get-backup-plan", &ids, |scope, id| async move {
        let r = captured!(scope, scope.backup.get_backup_plan().backup_plan_id(&id));
        Ok(r.map(|(_, bytes)| Some((format!("{id}.json"), bytes))))
    });
    let selections = async {
        let listed = list_per_key(&scope, "list-backup-selections", &ids, |scope, id, token| async move {
            let (out, bytes) = captured!(
                scope,
                scope
                    .backup
                    .list_backup_selections()
                    .backup_plan_id(&id)
                    .max_results(scope.shared.page_size)
                    .set_next_token(token)
            )?;
            let names = out
                .backup_selections_list()
                .iter()
                .filter_map(|s| s.selection_id().map(|s| format!("{id}/{s}")))
                .collect();
            Ok(Page { bytes, next_token: out.next_token, names })
        })
        .await?;
        let Some(pairs) = listed else { return Ok(()) };
        per_entity(&scope, "get-backup-selection", &pairs, |scope, pair| async move {
            let (plan, selection) = pair.split_once('/').expect("plan/selection");
            let r = captured!(scope, scope.backup.get_backup_selection().backup_plan_id(plan).selection_id(selection));
            Ok(r.map(|(_, bytes)| Some((format!("{pair}.json"), bytes))))
        })
        .await
    };
    let (a, b) = tokio::join!(detail, selections);
    a?;
    b
}

async fn collect_rest(scope: Scope, opts: &CollectOptions) -> Result<(), CollectError> {
    // `describe-protected-resource` (one request per resource) is evidence for two controls
    // only: restore time, and the last recovery point (its `LastBackupTime`, which the reader
    // prefers to the list's). It is collected when a framework of this account and region has
    // one of them, when the frameworks could not all be read (to be safe), or with
    // `all_details`.
    let restore_time = Arc::new(std::sync::atomic::AtomicBool::new(opts.all_details));
    let frameworks = async {
        let names = list(&scope, "list-frameworks", |scope, token| async move {
            let (out, bytes) = captured!(scope, scope.backup.list_frameworks().max_results(100).set_next_token(token))?;
            let names = out.frameworks().iter().filter_map(|f| f.framework_name().map(str::to_string)).collect();
            Ok(Page { bytes, next_token: out.next_token, names })
        })
        .await?;
        let Some(names) = names else {
            restore_time.store(true, Ordering::Relaxed);
            return Ok(());
        };
        per_entity(&scope, "describe-framework", &names, |scope, name| {
            let restore_time = restore_time.clone();
            async move {
                let r = captured!(scope, scope.backup.describe_framework().framework_name(&name));
                let needs = match &r {
                    Ok((out, _)) => {
                        out.framework_controls().iter().any(|c| DETAIL_CONTROLS.contains(&c.control_name()))
                    }
                    Err(_) => true,
                };
                if needs {
                    restore_time.store(true, Ordering::Relaxed);
                }
                Ok(r.map(|(_, bytes)| Some((format!("{name}.json"), bytes))))
            }
        })
        .await
    };
    let listed = async {
        list(&scope, "list-protected-resources", |scope, token| async move {
            let (out, bytes) = captured!(
                scope,
                scope.backup.list_protected_resources().max_results(scope.shared.page_size).set_next_token(token)
            )?;
            let names = out.results().iter().filter_map(|r| r.resource_arn().map(str::to_string)).collect();
            Ok(Page { bytes, next_token: out.next_token, names })
        })
        .await
    };
    let protected = async {
        let (arns, frameworks) = tokio::join!(listed, frameworks);
        frameworks?;
        let Some(arns) = arns? else { return Ok(()) };
        if !restore_time.load(Ordering::Relaxed) {
            scope.skip(
                "describe-protected-resource",
                &format!("no framework of this account and region has {}", DETAIL_CONTROLS.join(" or ")),
            );
            return Ok(());
        }
        per_entity(&scope, "describe-protected-resource", &arns, |scope, arn| async move {
            match captured!(scope, scope.backup.describe_protected_resource().resource_arn(&arn)) {
                Ok((_, bytes)) => Ok(Ok(Some((format!("{}.json", crate::layout::encode_key(&arn)), bytes)))),
                Err(e) if e.not_found() => Ok(Ok(None)),
                Err(e) => Ok(Err(e)),
            }
        })
        .await
    };
    let report_plans = async {
        let names = list(&scope, "list-report-plans", |scope, token| async move {
            let (out, bytes) =
                captured!(scope, scope.backup.list_report_plans().max_results(1000).set_next_token(token))?;
            let names = out.report_plans().iter().filter_map(|p| p.report_plan_name().map(str::to_string)).collect();
            Ok(Page { bytes, next_token: out.next_token, names })
        })
        .await?;
        let Some(names) = names else { return Ok(()) };
        per_entity(&scope, "describe-report-plan", &names, |scope, name| async move {
            let r = captured!(scope, scope.backup.describe_report_plan().report_plan_name(&name));
            Ok(r.map(|(_, bytes)| Some((format!("{name}.json"), bytes))))
        })
        .await
    };
    let resources = async {
        list(&scope, "get-resources", |scope, token| async move {
            let (out, bytes) = captured!(
                scope.limits.tagging,
                scope,
                scope.tagging.get_resources().resources_per_page(100).set_pagination_token(token)
            )?;
            Ok(Page { bytes, next_token: out.pagination_token, names: Vec::new() })
        })
        .await
        .map(|_| ())
    };
    let instances = async {
        list(&scope, "describe-instances", |scope, token| async move {
            let out = {
                let request = scope.ec2.describe_instances().max_results(1000).set_next_token(token);
                captured!(scope.limits.ec2, scope, request)?.0
            };
            Ok(Page { bytes: instances_page(&out), next_token: out.next_token, names: Vec::new() })
        })
        .await
        .map(|_| ())
    };
    let (a, c, d, e) = tokio::join!(protected, report_plans, resources, instances);
    a?;
    c?;
    d?;
    e
}

/// The controls whose evidence `describe-protected-resource` is (see `ControlId::needs`).
const DETAIL_CONTROLS: [&str; 2] = ["RESTORE_TIME_FOR_RESOURCES_MEET_TARGET", "BACKUP_LAST_RECOVERY_POINT_CREATED"];

/// A `describe-instances` page as the AWS CLI prints it, with the members backup-audit reads:
/// each instance's `InstanceId` and `State` (`Code`, `Name`). EC2 answers in XML, so unlike the
/// other commands its pages are not the service's own bytes.
fn instances_page(out: &aws_sdk_ec2::operation::describe_instances::DescribeInstancesOutput) -> Vec<u8> {
    let reservations: Vec<serde_json::Value> = out
        .reservations()
        .iter()
        .map(|r| {
            let instances: Vec<serde_json::Value> = r
                .instances()
                .iter()
                .map(|i| {
                    let state = i.state();
                    serde_json::json!({
                        "InstanceId": i.instance_id(),
                        "State": {"Code": state.and_then(|s| s.code()), "Name": state.and_then(|s| s.name()).map(|n| n.as_str())},
                    })
                })
                .collect();
            serde_json::json!({ "ReservationId": r.reservation_id(), "Instances": instances })
        })
        .collect();
    serde_json::to_vec_pretty(&serde_json::json!({ "Reservations": reservations })).expect("a JSON value serialises")
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_backup::Client;
    use aws_sdk_backup::operation::list_backup_jobs::ListBackupJobsInput;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};
    use aws_smithy_runtime_api::http::{Response, StatusCode};
    use aws_smithy_types::body::SdkBody;

    #[test]
    fn slices_cover_everything_once() {
        let now = 10 * 86_400_000;
        let s = slices(now, 10, 5);
        // Before the range, five slices of two days (the last open-ended, up to and after now).
        assert_eq!(s.len(), 6);
        assert_eq!(s[0], (None, Some(0)));
        assert_eq!(s[1], (Some(0), Some(2 * 86_400_000)));
        assert_eq!(s[5], (Some(8 * 86_400_000), None));
        for w in s.windows(2) {
            assert_eq!(w[0].1, w[1].0, "slices meet without gaps");
        }
    }

    fn http(body: String) -> Response<SdkBody> {
        Response::new(StatusCode::try_from(200).unwrap(), SdkBody::from(body))
    }

    fn job(id: &str) -> String {
        format!(
            r#"{{"BackupJobId":"{id}","AccountId":"111122223333","State":"RUNNING","CreationDate":1795993200,"ResourceArn":"arn:aws:ec2:us-east-1:111122223333:volume/vol-1","ResourceType":"EBS","BackupVaultName":"v"}}"#
        )
    }

    fn page(ids: &[&str], next: Option<&str>) -> String {
        let jobs: Vec<String> = ids.iter().map(|i| job(i)).collect();
        let next = next.map(|t| format!(r#","NextToken":"{t}""#)).unwrap_or_default();
        format!(r#"{{"BackupJobs":[{}]{next}}}"#, jobs.join(","))
    }

    /// A scope whose Backup client is `backup` (a mocked client); the others are unused.
    fn scope(backup: Client, dir: &Path) -> Scope {
        let ec2 = aws_sdk_ec2::Client::from_conf(
            aws_sdk_ec2::Config::builder()
                .behavior_version(aws_config::BehaviorVersion::latest())
                .region(aws_config::Region::new("us-east-1"))
                .build(),
        );
        let tagging = aws_sdk_resourcegroupstagging::Client::from_conf(
            aws_sdk_resourcegroupstagging::Config::builder()
                .behavior_version(aws_config::BehaviorVersion::latest())
                .region(aws_config::Region::new("us-east-1"))
                .build(),
        );
        Scope {
            account: "111122223333".into(),
            region: "us-east-1".into(),
            backup,
            tagging,
            ec2,
            limits: Limits::default(),
            dir: dir.to_path_buf(),
            shared: Arc::new(Shared {
                permits: Semaphore::new(4),
                requests: AtomicU64::new(0),
                attempts: Arc::new(AtomicU64::new(0)),
                throttled: Arc::new(AtomicU64::new(0)),
                max_attempts: 3,
                progress: Arc::new(Quiet),
                files: AtomicU64::new(0),
                bytes: AtomicU64::new(0),
                failures: Mutex::new(Vec::new()),
                skipped: Mutex::new(Vec::new()),
                page_size: 1000,
            }),
        }
    }

    fn fast_retries(c: aws_sdk_backup::config::Builder) -> aws_sdk_backup::config::Builder {
        c.retry_config(
            aws_config::retry::RetryConfig::standard()
                .with_max_attempts(3)
                .with_initial_backoff(std::time::Duration::from_millis(1)),
        )
    }

    /// Pages of `list-backup-jobs` through the real client: raw bodies and names.
    async fn jobs(scope: &Scope) -> (Result<Vec<String>, RequestError>, Vec<Vec<u8>>) {
        let mut written = Vec::new();
        let result = paginate(
            "list-backup-jobs",
            |token| {
                let scope = scope.clone();
                async move {
                    let (out, bytes) = captured!(scope, scope.backup.list_backup_jobs().set_next_token(token))?;
                    let names =
                        out.backup_jobs().iter().filter_map(|j| j.backup_job_id().map(str::to_string)).collect();
                    Ok(Page { bytes, next_token: out.next_token, names })
                }
            },
            |_, bytes| {
                written.push(bytes.to_vec());
                Ok(())
            },
        )
        .await
        .unwrap();
        (result, written)
    }

    #[tokio::test]
    async fn pages_are_the_raw_bodies_and_5xx_is_retried() {
        let first = mock!(Client::list_backup_jobs)
            .match_requests(|r: &ListBackupJobsInput| r.next_token().is_none())
            .then_http_response(|| http(page(&["a", "b"], Some("t1"))));
        let second = mock!(Client::list_backup_jobs)
            .match_requests(|r: &ListBackupJobsInput| r.next_token() == Some("t1"))
            .sequence()
            .http_status(503, None)
            .times(2)
            .http_response(|| http(page(&["c"], Some(""))))
            .build();
        let client = mock_client!(aws_sdk_backup, RuleMode::MatchAny, [&first, &second], fast_retries);
        let dir = tempfile::tempdir().unwrap();
        let scope = scope(client, dir.path());

        let (names, written) = jobs(&scope).await;

        assert_eq!(names.unwrap(), vec!["a", "b", "c"], "an empty NextToken ends the list");
        assert_eq!(written, vec![page(&["a", "b"], Some("t1")).into_bytes(), page(&["c"], Some("")).into_bytes()]);
        assert_eq!(second.num_calls(), 3, "two 503s, then the page");
        assert_eq!(scope.shared.attempts.load(Ordering::Relaxed), 2, "two retries counted");
        assert_eq!(scope.shared.requests.load(Ordering::Relaxed), 2);
    }

    #[tokio::test]
    async fn with_a_limiter_a_throttled_attempt_is_sent_again_by_the_collector_not_the_sdk() {
        let throttling = || {
            let mut r = Response::new(
                StatusCode::try_from(400).unwrap(),
                SdkBody::from(r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#),
            );
            r.headers_mut().insert("x-amzn-ErrorType", "ThrottlingException");
            r
        };
        let rule = mock!(Client::list_backup_jobs)
            .sequence()
            .http_response(throttling)
            .times(2)
            .http_response(|| http(page(&["a"], None)))
            .build();
        let with_classifier =
            |c: aws_sdk_backup::config::Builder| fast_retries(c).retry_classifier(limiter::LimiterRetries);
        let client = mock_client!(aws_sdk_backup, RuleMode::MatchAny, [&rule], with_classifier);
        let dir = tempfile::tempdir().unwrap();
        let mut scope = scope(client, dir.path());
        let limiter = Arc::new(Limiter::default());
        scope.limits.backup = Some(limiter.clone());

        let (names, _) = jobs(&scope).await;

        assert_eq!(names.unwrap(), vec!["a"]);
        assert_eq!(rule.num_calls(), 3, "two throttled attempts, then the page");
        // Each attempt went through `captured!` (and so through the limiter): three requests,
        // none retried inside the SDK.
        assert_eq!(scope.shared.requests.load(Ordering::Relaxed), 3);
        assert_eq!(scope.shared.throttled.load(Ordering::Relaxed), 2);
        assert_eq!(scope.shared.attempts.load(Ordering::Relaxed), 2, "two retries counted");
    }

    #[tokio::test]
    async fn a_service_that_repeats_a_token_is_stopped() {
        let looping = mock!(Client::list_backup_jobs).then_http_response(|| http(page(&["a"], Some("same"))));
        let client = mock_client!(aws_sdk_backup, RuleMode::MatchAny, [&looping], fast_retries);
        let dir = tempfile::tempdir().unwrap();
        let (names, written) = jobs(&scope(client, dir.path())).await;
        let err = names.unwrap_err();
        assert_eq!(err.code.as_deref(), Some("RepeatedNextToken"));
        assert_eq!(written.len(), 2);
        assert_eq!(looping.num_calls(), 2);
    }

    #[tokio::test]
    async fn job_slices_overlap_only_in_ids_the_reader_removes() {
        // Every slice answers with the same job: the edges of real slices may overlap too.
        let every = mock!(Client::list_backup_jobs).then_http_response(|| http(page(&["dup"], None)));
        let client = mock_client!(aws_sdk_backup, RuleMode::MatchAny, [&every], fast_retries);
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("111122223333/us-east-1");
        std::fs::create_dir_all(&dir).unwrap();
        let mut opts = CollectOptions::new(1_796_000_000_000);
        opts.job_slices = 3;
        let s = scope(client, &dir);
        let copy = mock!(Client::list_copy_jobs).then_http_response(|| http(r#"{"CopyJobs":[]}"#.into()));
        let restore = mock!(Client::list_restore_jobs).then_http_response(|| http(r#"{"RestoreJobs":[]}"#.into()));
        let s = Scope {
            backup: mock_client!(aws_sdk_backup, RuleMode::MatchAny, [&every, &copy, &restore], fast_retries),
            ..s
        };
        collect_jobs(s, &opts, false).await.unwrap();

        let pages: Vec<_> = std::fs::read_dir(dir.join("list-backup-jobs")).unwrap().collect();
        assert_eq!(pages.len(), 4, "one page per slice: before, three slices");
        assert_eq!(every.num_calls(), 4);
        // The reader keeps one job per JobId (the `basic` golden fixture has a duplicate id
        // from overlapping pages), so the collector writes every page as it came.
        for page in pages {
            let text = std::fs::read_to_string(page.unwrap().path()).unwrap();
            assert!(text.contains("\"dup\""), "{text}");
        }
    }
}
