//! The command's arguments (clap): what each subcommand accepts, with its defaults and
//! environment variables.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use backup_audit::reports::{EncodeOptions, Format};
use backup_audit::time::{self, Millis};
use backup_audit::window::WindowSpec;

/// Audits AWS Backup estates: Audit Manager compatible job and compliance reports, from AWS or
/// from an estate snapshot, to a folder or S3.
#[derive(Debug, Parser)]
#[command(
    name = "backup-audit",
    version,
    about,
    long_about = None,
    after_help = "Examples:\n  backup-audit run --source examples/demo-estate --out reports\n  backup-audit run --source estate/ --out s3://audit-bucket/backup-audit --expected-bucket-owner 111122223333 --sse AES256\n  backup-audit run --source aws --regions us-east-1,eu-west-1 --out reports\n  backup-audit snapshot --source aws --accounts 111111111111,222222222222 --role-name backup-audit-reader --out estate\n  backup-audit evaluate --source examples/demo-estate\n  backup-audit summary --source examples/demo-estate --out summary.html\n  backup-audit report --source estate/ --template BACKUP_JOB_REPORT --window last-24h\n\nExit codes: 0 ok, 1 runtime failure (a report or manifest not delivered), 2 usage or input error, 3 non-compliant (with --fail-on-noncompliant), 4 partial data (part of the estate could not be collected)."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Log format on standard error.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "BACKUP_AUDIT_LOG_FORMAT")]
    pub log_format: LogFormat,
    /// Log level filter (error, warn, info, debug, trace, or a tracing directive).
    #[arg(long, global = true, default_value = "info", env = "BACKUP_AUDIT_LOG")]
    pub log_level: String,
}

/// Log line format.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line (CloudWatch, log shippers).
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run every report plan of the estate and write the reports in the report-plan key layout.
    Run(RunArgs),
    /// Make one ad-hoc report over every account and region of the estate.
    Report(ReportArgs),
    /// Evaluate the frameworks' controls and show why each resource passes or fails.
    Evaluate(EvaluateArgs),
    /// Write the one-page HTML summary (tiles, trends, failures, control grid, coverage) of the
    /// estate, every framework's controls evaluated.
    Summary(SummaryArgs),
    /// List the built-in controls, or check control definition files.
    Controls(ControlsArgs),
    /// Collect the estate from AWS into a snapshot folder (read-only calls).
    Snapshot(SnapshotArgs),
    /// Write a synthetic estate snapshot (for demos, tests and benchmarks).
    Generate(GenerateArgs),
    /// Plan an organisation run cut into shards: its accounts and regions, `now` and window,
    /// to PARTS/_plan.json, and one Step Functions Map item per account and region.
    Plan(PlanArgs),
    /// Evaluate some accounts and regions and write their typed rows to PARTS as Parquet.
    Shard(ShardArgs),
    /// Render every report plan from the parts of all shards, exactly as `run` would.
    Merge(MergeArgs),
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// The run's parts: a folder, or `s3://bucket/prefix`.
    #[arg(value_parser = non_empty, long, value_name = "DIR|s3://BUCKET/PREFIX")]
    pub parts: String,
    #[command(flatten)]
    pub s3: S3Args,
}

#[derive(Debug, Args)]
pub struct ShardArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// The run's parts: a folder, or `s3://bucket/prefix`.
    #[arg(value_parser = non_empty, long, value_name = "DIR|s3://BUCKET/PREFIX")]
    pub parts: String,
    /// Take the accounts and regions whose position in the sorted list is I modulo N
    /// (default: --accounts and --regions, or every one).
    #[arg(long, value_name = "I/N", value_parser = parse_shard)]
    pub shard: Option<(usize, usize)>,
    /// A live run's step: `collect` (first Map: collect, write the scope's snapshot and the
    /// facts other scopes need) or `evaluate` (second Map: evaluate from the parts). Default:
    /// both at once, which is exact for a snapshot folder.
    #[arg(long, value_enum)]
    pub step: Option<Step>,
    #[command(flatten)]
    pub s3: S3Args,
}

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The run's parts: a folder, or `s3://bucket/prefix`.
    #[arg(value_parser = non_empty, long, value_name = "DIR|s3://BUCKET/PREFIX")]
    pub parts: String,
    #[command(flatten)]
    pub reports: ReportsArgs,
    #[command(flatten)]
    pub s3: S3Args,
    #[command(flatten)]
    pub aws: AwsArgs,
}

#[derive(Debug, Args)]
pub struct SnapshotArgs {
    /// Where to collect from: `aws`.
    #[arg(long, value_name = "aws", value_parser = ["aws"])]
    pub source: String,
    /// A new or empty folder for the snapshot.
    #[arg(value_parser = non_empty_path, long, value_name = "DIR")]
    pub out: PathBuf,
    /// The snapshot's clock (its CollectedAt and the end of the job lists), ISO-8601
    /// (default: now).
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub now: Option<Millis>,
    #[command(flatten)]
    pub aws: AwsArgs,
}

/// Where the estate comes from and which clock and window apply.
#[derive(Debug, Args)]
pub struct SourceArgs {
    /// The estate: a snapshot folder (see the README's "Estate layout"), or `aws` to collect
    /// it live (the folder `./aws` is written `./aws`).
    #[arg(value_parser = non_empty_path, long, value_name = "DIR|aws")]
    pub source: PathBuf,
    #[command(flatten)]
    pub aws: AwsArgs,
    /// The run's clock, ISO-8601 (default: the snapshot's `snapshot.json` CollectedAt, else now).
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub now: Option<Millis>,
    /// Job report window: `daily` is the previous UTC day, `last-24h` ends at --now.
    #[arg(long, value_enum, default_value_t = WindowArg::Daily, conflicts_with_all = ["from", "to"])]
    pub window: WindowArg,
    /// Start of a custom window (inclusive), ISO-8601; needs --to.
    #[arg(long, value_name = "TIME", value_parser = parse_time, requires = "to")]
    pub from: Option<Millis>,
    /// End of a custom window (exclusive), ISO-8601; needs --from.
    #[arg(long, value_name = "TIME", value_parser = parse_time, requires = "from")]
    pub to: Option<Millis>,
    /// Account id of a flat (single-account) snapshot, if its ARNs do not tell.
    #[arg(long)]
    pub account: Option<String>,
    /// Region of a flat (single-account) snapshot, if its ARNs do not tell; with
    /// `--source aws` and no --regions, the region to collect.
    #[arg(long)]
    pub region: Option<String>,
    /// Write CSV cells that start with = + - @ as they are (default: prefix them with ').
    #[arg(long)]
    pub allow_csv_formulas: bool,
    /// Evaluate only this framework (repeatable; default: all).
    #[arg(long = "framework", value_name = "NAME")]
    pub frameworks: Vec<String>,
    /// Also evaluate this framework (DescribeFramework JSON) in every account and region.
    #[arg(long = "framework-file", value_name = "FILE")]
    pub framework_files: Vec<PathBuf>,
}

/// How to reach AWS: live collection (`--source aws`) and S3 delivery.
#[derive(Debug, Clone, Args)]
pub struct AwsArgs {
    /// Regions to collect, comma-separated (default: AWS_REGION or the profile's region).
    #[arg(long, value_delimiter = ',', value_name = "REGION,...")]
    pub regions: Vec<String>,
    /// Accounts to collect, comma-separated, each through --role-name (default: the
    /// credentials' own account).
    #[arg(long, value_delimiter = ',', value_name = "ACCOUNT,...", requires = "role_name")]
    pub accounts: Vec<String>,
    /// The role assumed in each of --accounts: arn:aws:iam::<account>:role/<ROLE>.
    #[arg(long, value_name = "ROLE")]
    pub role_name: Option<String>,
    /// Named AWS profile of the shared config files.
    #[arg(long, env = "AWS_PROFILE")]
    pub profile: Option<String>,
    /// An endpoint for AWS Backup, the tagging API and STS instead of AWS (emulators, the
    /// tests' replay endpoint).
    #[arg(long, value_name = "URL")]
    pub endpoint_url: Option<String>,
    /// AWS requests in flight at once during collection, over all accounts and regions.
    #[arg(long, default_value_t = 32)]
    pub max_concurrency: usize,
    /// Attempts per AWS request, first try included; throttling and 5xx are retried with
    /// backoff (adaptive mode for collection, standard for S3).
    #[arg(long, default_value_t = backup_audit::collect::DEFAULT_MAX_ATTEMPTS, env = "BACKUP_AUDIT_MAX_ATTEMPTS")]
    pub max_attempts: u32,
    /// Retry mode of collection's AWS clients: `standard` retries throttling and server
    /// errors with backoff; `adaptive` also applies the SDK's own client-side rate limit.
    #[arg(long, value_enum, default_value_t = RetryMode::Standard)]
    pub retry_mode: RetryMode,
    /// Pace each service of each account and region at the quota it answers with (`on`), or
    /// send as fast as --max-concurrency allows (`off`). See the README's "Request costs".
    #[arg(long, value_enum, default_value_t = Switch::On)]
    pub rate_limit: Switch,
    /// How many days back the job lists are collected.
    #[arg(long, default_value_t = 30)]
    pub job_days: u32,
    /// Time slices per job list, collected concurrently.
    #[arg(long, default_value_t = 30)]
    pub job_slices: u32,
    /// List the jobs of every account of the organisation (ByAccountId=*) from the
    /// credentials' own account (an Organizations management or delegated administrator
    /// account); the accounts of --accounts then list no jobs of their own.
    #[arg(long)]
    pub org_jobs: bool,
    /// Which accounts and regions get `describe-protected-resource` (one request per resource):
    /// `needed` where a framework has the restore-time control, `all` everywhere (given
    /// --framework-file, `all` is implied).
    #[arg(long, value_enum, default_value_t = Details::Needed)]
    pub protected_resource_details: Details,
    /// Keep the collected snapshot in this new folder (default: a temporary folder).
    #[arg(value_parser = non_empty_path, long, value_name = "DIR")]
    pub snapshot_dir: Option<PathBuf>,
}

impl AwsArgs {
    /// The collector options.
    pub fn collect(&self, now: Millis) -> backup_audit::collect::CollectOptions {
        backup_audit::collect::CollectOptions {
            accounts: self.accounts.clone(),
            role_name: self.role_name.clone(),
            regions: self.regions.clone(),
            profile: self.profile.clone(),
            endpoint_url: self.endpoint_url.clone(),
            max_concurrency: self.max_concurrency,
            max_attempts: self.max_attempts,
            adaptive_retry: self.retry_mode == RetryMode::Adaptive,
            rate_limit: self.rate_limit == Switch::On,
            all_details: self.protected_resource_details == Details::All,
            job_days: self.job_days,
            job_slices: self.job_slices,
            org_jobs: self.org_jobs,
            now,
        }
    }
}

/// Where per-resource details are collected.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Details {
    /// Where a framework's control needs them.
    Needed,
    /// In every account and region.
    All,
}

/// On or off.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Switch {
    On,
    Off,
}

/// The SDK retry mode of collection.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum RetryMode {
    /// Backoff only (the default; the rate limiter paces the requests).
    Standard,
    /// Backoff, plus the SDK's client-side rate limit that adapts to throttling.
    Adaptive,
}

/// The window argument.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum WindowArg {
    /// `[D-1 00:00Z, D 00:00Z)`, D the UTC date of --now.
    Daily,
    /// `[now-24h, now)`.
    #[value(name = "last-24h")]
    Last24h,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    #[command(flatten)]
    pub reports: ReportsArgs,
    /// Exit with code 3 when any evaluated control is NON_COMPLIANT.
    #[arg(long)]
    pub fail_on_noncompliant: bool,
    #[command(flatten)]
    pub s3: S3Args,
}

/// Which report plans run and where their reports go (`run`, `merge`).
#[derive(Debug, Args)]
pub struct ReportsArgs {
    /// Where the reports go, in the report-plan key layout: a folder, or `s3://bucket/prefix`.
    /// Default: each report plan's own ReportDeliveryChannel bucket and prefix in S3.
    #[arg(value_parser = non_empty, long, value_name = "DIR|s3://BUCKET/PREFIX")]
    pub out: Option<String>,
    /// Also run this report plan (`describe-report-plan` JSON); repeatable.
    #[arg(long = "report-plan-file", value_name = "FILE")]
    pub report_plan_files: Vec<PathBuf>,
    /// Run only this report plan (repeatable; default: all).
    #[arg(long = "report-plan", value_name = "NAME")]
    pub report_plans: Vec<String>,
    /// Split reports larger than this many bytes into `_1`, `_2`, … objects, each a complete
    /// CSV or JSON file (Audit Manager splits at 50 MB).
    #[arg(long, value_name = "BYTES", default_value_t = backup_audit::DEFAULT_MAX_OBJECT_BYTES)]
    pub max_object_bytes: usize,
    /// Also list every object written, with its rows and bytes.
    #[arg(long, short)]
    pub verbose: bool,
}

#[derive(Debug, Args)]
pub struct SummaryArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// The HTML file to write (replaced atomically if it exists), or `-` for standard output.
    #[arg(value_parser = non_empty, long, value_name = "FILE.html|-")]
    pub out: String,
}

/// How reports are delivered to S3.
#[derive(Debug, Clone, Args)]
pub struct S3Args {
    /// The account id that must own the bucket; sent on every S3 request, which S3 refuses
    /// when the bucket belongs to another account.
    #[arg(long, value_name = "ACCOUNT_ID", env = "BACKUP_AUDIT_EXPECTED_BUCKET_OWNER")]
    pub expected_bucket_owner: Option<String>,
    /// Server-side encryption of the report objects.
    #[arg(long, value_enum, env = "BACKUP_AUDIT_SSE")]
    pub sse: Option<SseArg>,
    /// KMS key (id, ARN or alias) for `--sse aws:kms` (default: the bucket's AWS managed key).
    #[arg(long, value_name = "KEY", requires = "sse", env = "BACKUP_AUDIT_SSE_KMS_KEY_ID")]
    pub sse_kms_key_id: Option<String>,
    /// AWS region of the S3 client (default: AWS_REGION or the profile's region).
    #[arg(long = "s3-region", value_name = "REGION")]
    pub s3_region: Option<String>,
    /// An S3-compatible endpoint instead of AWS, e.g. http://127.0.0.1:5055.
    #[arg(long, value_name = "URL")]
    pub s3_endpoint_url: Option<String>,
    /// Path-style S3 addressing (most S3-compatible servers need it).
    #[arg(long)]
    pub s3_path_style: bool,
    /// Bodies larger than this use a multipart upload.
    #[arg(long, value_name = "BYTES", default_value_t = 16 * 1024 * 1024, hide = true)]
    pub multipart_threshold: usize,
    /// Size of each multipart part (at least 5 MiB).
    #[arg(long, value_name = "BYTES", default_value_t = 8 * 1024 * 1024, hide = true)]
    pub part_size: usize,
}

/// The `--sse` argument.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum SseArg {
    /// SSE-S3.
    #[value(name = "AES256")]
    Aes256,
    /// SSE-KMS.
    #[value(name = "aws:kms")]
    AwsKms,
}

impl S3Args {
    /// The client options (profile and attempts are shared with collection).
    pub fn aws(&self, shared: &AwsArgs) -> backup_audit::sinks::s3::AwsOptions {
        backup_audit::sinks::s3::AwsOptions {
            region: self.s3_region.clone(),
            profile: shared.profile.clone(),
            endpoint_url: self.s3_endpoint_url.clone(),
            path_style: self.s3_path_style,
            max_attempts: shared.max_attempts,
        }
    }

    /// The upload options.
    pub fn options(&self) -> Result<backup_audit::sinks::S3Options, String> {
        use backup_audit::sinks::s3::Sse;
        let sse = match (self.sse, &self.sse_kms_key_id) {
            (None, _) => None,
            (Some(SseArg::Aes256), Some(_)) => return Err("--sse-kms-key-id needs --sse aws:kms".into()),
            (Some(SseArg::Aes256), None) => Some(Sse::Aes256),
            (Some(SseArg::AwsKms), key) => Some(Sse::Kms { key_id: key.clone() }),
        };
        if let Some(owner) = &self.expected_bucket_owner
            && !(owner.len() == 12 && owner.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(format!("--expected-bucket-owner `{owner}` is not a 12-digit AWS account id"));
        }
        Ok(backup_audit::sinks::S3Options {
            expected_bucket_owner: self.expected_bucket_owner.clone(),
            sse,
            multipart_threshold: self.multipart_threshold,
            part_size: self.part_size.max(5 * 1024 * 1024),
            ..Default::default()
        })
    }
}

#[derive(Debug, Args)]
pub struct EvaluateArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// Output: a terminal summary, or the resource compliance report as JSON or CSV.
    #[arg(long, value_enum, default_value_t = EvaluateFormat::Table)]
    pub format: EvaluateFormat,
    /// Exit with code 3 when any control is NON_COMPLIANT.
    #[arg(long)]
    pub fail_on_noncompliant: bool,
}

/// The evaluate output format.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum EvaluateFormat {
    /// Framework, control, counts, and the non-compliant resources with reasons.
    Table,
    /// `{"controls": …, "resources": …}` with the compliance report keys.
    Json,
    /// The RESOURCE_COMPLIANCE_REPORT as CSV.
    Csv,
}

#[derive(Debug, Args)]
pub struct ControlsArgs {
    #[command(subcommand)]
    pub action: Option<ControlsAction>,
}

#[derive(Debug, Subcommand)]
pub enum ControlsAction {
    /// Check control definition files offline (default: the built-in definitions).
    Check {
        /// A folder of `<CONTROL_NAME>.toml` files.
        dir: Option<PathBuf>,
    },
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// Report template: BACKUP_JOB_REPORT, COPY_JOB_REPORT, RESTORE_JOB_REPORT,
    /// CONTROL_COMPLIANCE_REPORT or RESOURCE_COMPLIANCE_REPORT.
    #[arg(long)]
    pub template: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = FormatArg::Csv)]
    pub format: FormatArg,
    /// A folder to write the report file into, or `-` for standard output.
    #[arg(value_parser = non_empty, long, value_name = "DIR|-", default_value = "-")]
    pub out: String,
}

/// The format argument.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum FormatArg {
    Csv,
    Json,
}

impl From<FormatArg> for Format {
    fn from(f: FormatArg) -> Format {
        match f {
            FormatArg::Csv => Format::Csv,
            FormatArg::Json => Format::Json,
        }
    }
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// A new or empty folder to write the estate into.
    #[arg(value_parser = non_empty_path, long, value_name = "DIR")]
    pub out: PathBuf,
    /// Number of accounts.
    #[arg(long, default_value_t = 2)]
    pub accounts: usize,
    /// Regions, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "us-east-1,eu-west-1")]
    pub regions: Vec<String>,
    /// Resources in total, spread over accounts and regions.
    #[arg(long, default_value_t = 40)]
    pub resources: usize,
    /// Days of job history ending at --now.
    #[arg(long, default_value_t = 3)]
    pub days: u32,
    /// Random seed; the same seed writes the same bytes.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// The snapshot's clock (default 2026-11-24T03:00:00Z, so the demo is the same every day).
    #[arg(long, value_parser = parse_time)]
    pub now: Option<Millis>,
    /// Backup jobs in total (default: one per resource per day).
    #[arg(long)]
    pub backup_jobs: Option<usize>,
    /// Copy jobs in total (default: one per five backup jobs).
    #[arg(long)]
    pub copy_jobs: Option<usize>,
    /// Restore jobs in total (default: one per twenty backup jobs).
    #[arg(long)]
    pub restore_jobs: Option<usize>,
    /// At most this many recovery points per account and region (default: all).
    #[arg(long)]
    pub max_recovery_points: Option<usize>,
    /// Recovery points in total, generated on their own instead of one per completed job.
    #[arg(long)]
    pub recovery_points: Option<usize>,
    /// Frameworks per account and region (0 to 3; 0 also leaves out the compliance report plans).
    #[arg(long, default_value_t = 1)]
    pub frameworks: usize,
    /// Jobs per page file, as the API's MaxResults.
    #[arg(long, default_value_t = 1000)]
    pub page_size: usize,
}

/// An empty path (`--out ""`) is a usage error, not "the working folder".
fn non_empty_path(s: &str) -> Result<PathBuf, String> {
    non_empty(s).map(PathBuf::from)
}

fn non_empty(s: &str) -> Result<String, String> {
    if s.trim().is_empty() { Err("must not be empty".into()) } else { Ok(s.to_string()) }
}

/// A live shard's step.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Step {
    Collect,
    Evaluate,
}

/// `I/N` with `I < N`.
fn parse_shard(s: &str) -> Result<(usize, usize), String> {
    let bad = || format!("`{s}` is not a shard; expected I/N with 0 <= I < N, e.g. 0/4");
    let (i, n) = s.split_once('/').ok_or_else(bad)?;
    let (i, n): (usize, usize) = (i.trim().parse().map_err(|_| bad())?, n.trim().parse().map_err(|_| bad())?);
    if n == 0 || i >= n {
        return Err(bad());
    }
    Ok((i, n))
}

fn parse_time(s: &str) -> Result<Millis, String> {
    time::parse_iso(s).ok_or_else(|| format!("`{s}` is not an ISO-8601 time; expected e.g. 2026-11-24T03:00:00Z"))
}

impl SourceArgs {
    /// The window the arguments ask for.
    pub fn window(&self) -> Result<WindowSpec, String> {
        match (self.from, self.to) {
            (Some(from), Some(to)) if from < to => Ok(WindowSpec::Range { from, to }),
            (Some(_), Some(_)) => Err("--from must be earlier than --to".into()),
            _ => Ok(match self.window {
                WindowArg::Daily => WindowSpec::Daily,
                WindowArg::Last24h => WindowSpec::Last24h,
            }),
        }
    }

    /// Writer options.
    pub fn encode(&self) -> EncodeOptions {
        EncodeOptions { neutralise_formulas: !self.allow_csv_formulas }
    }
}
