//! `backup-audit generate`: a realistic synthetic estate in the snapshot layout.
//!
//! Deterministic for a seed: the same options write the same bytes. Every account and region
//! gets resources of seven services with tags, vaults (one locked, one logically air-gapped),
//! plans with cron schedules in several time zones and copy actions across regions and
//! accounts, selections by ARN, wildcard, tag and condition, and jobs over `days` days ending at
//! `now`: mostly completed, some failed, aborted, expired or completed with a status message,
//! and the youngest still running. Job pages hold `page_size` jobs, as the API returns them.

use std::fs;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;
use serde_json::{Value, json};

use crate::time::{self, DAY_MS, HOUR_MS, Millis};

/// The demo estate's clock: 2026-11-24T03:00:00Z.
pub const DEMO_NOW: Millis = 1_795_489_200_000;

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenerateOptions {
    pub out: PathBuf,
    pub accounts: usize,
    pub regions: Vec<String>,
    /// Resources in total, spread over accounts and regions.
    pub resources: usize,
    pub days: u32,
    pub seed: u64,
    pub now: Millis,
    /// Backup jobs in total; default one per resource per day.
    pub backup_jobs: Option<usize>,
    /// Copy jobs in total; default one per five backup jobs.
    pub copy_jobs: Option<usize>,
    /// Restore jobs in total; default one per twenty backup jobs.
    pub restore_jobs: Option<usize>,
    /// Recovery points listed per scope at most; default all completed backup jobs' points.
    pub max_recovery_points: Option<usize>,
    /// Recovery points in total, generated on their own (spread over resources and days)
    /// instead of one per completed backup job.
    pub recovery_points: Option<usize>,
    /// Frameworks per account and region (0 to 3): baseline, strict, production-only. With 0,
    /// there are no frameworks and no compliance report plans.
    pub frameworks: usize,
    pub page_size: usize,
}

/// What was written.
#[derive(Debug, Clone, Default)]
pub struct GenerateSummary {
    pub files: usize,
    pub bytes: u64,
    pub backup_jobs: usize,
    pub copy_jobs: usize,
    pub restore_jobs: usize,
}

const SERVICES: &[(&str, &str)] = &[
    ("EC2", "ec2"),
    ("EBS", "ebs"),
    ("RDS", "rds"),
    ("Aurora", "aurora"),
    ("DynamoDB", "dynamodb"),
    ("EFS", "efs"),
    ("S3", "s3"),
];

/// A generated resource.
#[derive(Debug, Clone)]
struct Resource {
    arn: String,
    kind: &'static str,
    name: String,
    env: &'static str,
    backup: &'static str,
}

/// The account ids of the estate: `111111111111`, `222222222222`, … then spaced numbers.
pub fn account_id(i: usize) -> String {
    if i < 9 {
        format!("{}", (i as u64 + 1) * 111_111_111_111)
    } else {
        format!("{:012}", 100_000_000_000u64 + i as u64 * 7919)
    }
}

fn hex(rng: &mut SmallRng, n: usize) -> String {
    (0..n).map(|_| char::from_digit(rng.random_range(0..16), 16).unwrap_or('0')).collect()
}

fn uuid(rng: &mut SmallRng) -> String {
    format!("{}-{}-{}-{}-{}", hex(rng, 8), hex(rng, 4), hex(rng, 4), hex(rng, 4), hex(rng, 12))
}

/// CLI-style timestamp with microseconds: `2026-11-23T05:12:33.123000+00:00`.
fn cli_time(ms: Millis) -> String {
    let s = time::format_millis(ms);
    format!("{}000+00:00", &s[..s.len() - 1])
}

fn resources_for(acct: &str, region: &str, count: usize, rng: &mut SmallRng) -> Vec<Resource> {
    (0..count)
        .map(|i| {
            let (kind, short) = SERVICES[i % SERVICES.len()];
            let id = hex(rng, 17);
            let name = format!("{short}-{i:05}");
            let arn = match kind {
                "EC2" => format!("arn:aws:ec2:{region}:{acct}:instance/i-{id}"),
                "EBS" => format!("arn:aws:ec2:{region}:{acct}:volume/vol-{id}"),
                "RDS" => format!("arn:aws:rds:{region}:{acct}:db:{name}"),
                "Aurora" => format!("arn:aws:rds:{region}:{acct}:cluster:{name}"),
                "DynamoDB" => format!("arn:aws:dynamodb:{region}:{acct}:table/{name}"),
                "EFS" => format!("arn:aws:elasticfilesystem:{region}:{acct}:file-system/fs-{}", &id[..8]),
                _ => format!("arn:aws:s3:::{name}-{acct}-{region}"),
            };
            let env = ["prod", "prod", "dev", "test"][rng.random_range(0..4)];
            let backup = ["daily", "daily", "weekly", "none"][rng.random_range(0..4)];
            Resource { arn, kind, name, env, backup }
        })
        .collect()
}

/// A plan rule as generated, with the identifiers jobs refer to.
struct RuleSpec {
    plan_id: String,
    plan_name: &'static str,
    rule_id: String,
    rule_name: &'static str,
    vault: &'static str,
    schedule: &'static str,
    timezone: Option<&'static str>,
    delete_after: Option<i64>,
    cold_after: Option<i64>,
    copy_to: Vec<String>,
    continuous: bool,
}

fn rules_for(acct: &str, region: &str, other_region: &str, other_acct: &str, rng: &mut SmallRng) -> Vec<RuleSpec> {
    let mut r = |plan_name,
                 rule_name,
                 vault,
                 schedule,
                 timezone,
                 delete_after,
                 cold_after,
                 copy_to: Vec<String>,
                 continuous| RuleSpec {
        plan_id: uuid(rng),
        plan_name,
        rule_id: uuid(rng),
        rule_name,
        vault,
        schedule,
        timezone,
        delete_after,
        cold_after,
        copy_to,
        continuous,
    };
    vec![
        r(
            "daily-35",
            "daily-0500-utc",
            "prod-vault",
            "cron(0 5 ? * * *)",
            None,
            Some(35),
            None,
            vec![format!("arn:aws:backup:{other_region}:{acct}:backup-vault:dr-vault")],
            false,
        ),
        r(
            "weekly-90",
            "weekly-sunday-ny",
            "Default",
            "cron(0 3 ? * 1 *)",
            Some("America/New_York"),
            Some(90),
            Some(30),
            vec![format!("arn:aws:backup:{region}:{other_acct}:backup-vault:central-vault")],
            false,
        ),
        r(
            "twice-monthly",
            "first-and-fifteenth",
            "Default",
            "cron(0 5 1,15 * ? *)",
            Some("Europe/Berlin"),
            None,
            None,
            vec![],
            false,
        ),
        r(
            "hourly-7",
            "hourly",
            "logically-air-gapped",
            "cron(0 * * * ? *)",
            Some("Asia/Tokyo"),
            Some(7),
            None,
            vec![],
            false,
        ),
        r("continuous-rds", "continuous", "prod-vault", "cron(0 2 * * ? *)", None, Some(35), None, vec![], true),
    ]
}

struct Writer {
    files: usize,
    bytes: u64,
}

/// Writes one file pretty, like AWS CLI output.
fn write_json(path: &Path, value: &Value) -> std::io::Result<u64> {
    write_json_as(path, value, true)
}

/// Writes one list page compact, like a raw API response.
fn write_page(path: &Path, value: &Value) -> std::io::Result<u64> {
    write_json_as(path, value, false)
}

fn write_json_as(path: &Path, value: &Value, pretty: bool) -> std::io::Result<u64> {
    if let Some(p) = path.parent() {
        fs::create_dir_all(p)?;
    }
    let mut w = BufWriter::new(fs::File::create(path)?);
    if pretty {
        serde_json::to_writer_pretty(&mut w, value)?;
    } else {
        serde_json::to_writer(&mut w, value)?;
    }
    w.write_all(b"\n")?;
    w.flush()?;
    Ok(fs::metadata(path)?.len())
}

impl Writer {
    fn put(&mut self, path: &Path, value: &Value) -> std::io::Result<()> {
        self.bytes += write_json(path, value)?;
        self.files += 1;
        Ok(())
    }
}

/// Writes the estate. Fails if `out` exists and is not empty, so nothing is mixed.
pub fn generate(o: &GenerateOptions) -> std::io::Result<GenerateSummary> {
    if o.out.exists() && fs::read_dir(&o.out)?.next().is_some() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            format!("`{}` is not empty; generate writes into a new or empty folder", o.out.display()),
        ));
    }
    let scopes: Vec<(usize, usize)> = (0..o.accounts).flat_map(|a| (0..o.regions.len()).map(move |r| (a, r))).collect();
    let n_scopes = scopes.len().max(1);
    let days = o.days.max(1) as usize;
    let backup_total = o.backup_jobs.unwrap_or(o.resources * days);
    let copy_total = o.copy_jobs.unwrap_or(backup_total / 5);
    let restore_total = o.restore_jobs.unwrap_or(backup_total / 20);
    let mut summary = GenerateSummary {
        backup_jobs: backup_total,
        copy_jobs: copy_total,
        restore_jobs: restore_total,
        ..Default::default()
    };
    let mut w = Writer { files: 0, bytes: 0 };
    fs::create_dir_all(&o.out)?;
    w.put(&o.out.join("snapshot.json"), &json!({"CollectedAt": time::format_millis(o.now), "Generator": format!("backup-audit generate --seed {}", o.seed)}))?;

    for (si, &(ai, ri)) in scopes.iter().enumerate() {
        let acct = account_id(ai);
        let region = o.regions[ri].as_str();
        let other_region = o.regions.get((ri + 1) % o.regions.len()).map(String::as_str).unwrap_or("us-west-2");
        let other_acct = account_id((ai + 1) % o.accounts.max(2));
        let base = o.out.join(&acct).join(region);
        let mut rng = SmallRng::seed_from_u64(o.seed ^ (si as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let per_scope = o.resources / n_scopes + usize::from(si < o.resources % n_scopes);
        let resources = resources_for(&acct, region, per_scope, &mut rng);
        let rules = rules_for(&acct, region, other_region, &other_acct, &mut rng);
        let vault_arn = |v: &str| format!("arn:aws:backup:{region}:{acct}:backup-vault:{v}");
        let key_arn = format!("arn:aws:kms:{region}:{acct}:key/{}", uuid(&mut rng));

        // Vaults, their details and policies.
        let vaults = [
            ("Default", "BACKUP_VAULT", false),
            ("prod-vault", "BACKUP_VAULT", true),
            ("logically-air-gapped", "LOGICALLY_AIR_GAPPED_BACKUP_VAULT", true),
            ("dr-vault", "BACKUP_VAULT", false),
        ];
        let vault_body = |(name, kind, locked): (&str, &str, bool)| {
            let mut v = json!({
                "BackupVaultName": name, "BackupVaultArn": vault_arn(name), "VaultType": kind, "VaultState": "AVAILABLE",
                "EncryptionKeyArn": key_arn, "CreationDate": cli_time(o.now - 400 * DAY_MS), "NumberOfRecoveryPoints": 0,
                "Locked": locked,
            });
            if locked {
                v["MinRetentionDays"] = json!(7);
                v["MaxRetentionDays"] = json!(if kind == "BACKUP_VAULT" { 365 } else { 3650 });
                v["LockDate"] = json!(cli_time(o.now - 300 * DAY_MS));
            }
            v
        };
        w.put(&base.join("list-backup-vaults.json"), &json!({"BackupVaultList": vaults.iter().map(|v| {
            let mut b = vault_body(*v);
            for k in ["Locked", "MinRetentionDays", "MaxRetentionDays", "LockDate"] { b.as_object_mut().map(|m| m.remove(k)); }
            b
        }).collect::<Vec<_>>()}))?;
        for v in vaults {
            w.put(&base.join("describe-backup-vault").join(format!("{}.json", v.0)), &vault_body(v))?;
        }
        let deny = json!({"Version": "2012-10-17", "Statement": [{
            "Effect": "Deny", "Principal": {"AWS": "*"},
            "Action": ["backup:DeleteRecoveryPoint", "backup:UpdateRecoveryPointLifecycle", "backup:PutBackupVaultAccessPolicy"],
            "Resource": "*"}]});
        let weak = json!({"Version": "2012-10-17", "Statement": [{
            "Effect": "Deny", "Principal": "*", "Action": "backup:DeleteRecoveryPoint", "Resource": "*"}]});
        for (name, policy) in [("prod-vault", &deny), ("logically-air-gapped", &deny), ("dr-vault", &weak)] {
            w.put(
                &base.join("get-backup-vault-access-policy").join(format!("{name}.json")),
                &json!({"BackupVaultName": name, "BackupVaultArn": vault_arn(name), "Policy": policy.to_string()}),
            )?;
        }

        // Plans, rules, selections.
        let plan_arn = |id: &str| format!("arn:aws:backup:{region}:{acct}:backup-plan:{id}");
        w.put(&base.join("list-backup-plans.json"), &json!({"BackupPlansList": rules.iter().map(|r| json!({
            "BackupPlanArn": plan_arn(&r.plan_id), "BackupPlanId": r.plan_id, "BackupPlanName": r.plan_name,
            "VersionId": format!("v-{}", &r.rule_id[..8]), "CreationDate": cli_time(o.now - 200 * DAY_MS)})).collect::<Vec<_>>()}))?;
        for r in &rules {
            let mut rule = json!({"RuleName": r.rule_name, "RuleId": r.rule_id, "TargetBackupVaultName": r.vault,
                "ScheduleExpression": r.schedule, "StartWindowMinutes": 60, "CompletionWindowMinutes": 360,
                "EnableContinuousBackup": r.continuous,
                "CopyActions": r.copy_to.iter().map(|d| json!({"DestinationBackupVaultArn": d, "Lifecycle": {"DeleteAfterDays": 90}})).collect::<Vec<_>>()});
            if let Some(tz) = r.timezone {
                rule["ScheduleExpressionTimezone"] = json!(tz);
            }
            if r.delete_after.is_some() || r.cold_after.is_some() {
                let mut l = json!({});
                if let Some(d) = r.delete_after {
                    l["DeleteAfterDays"] = json!(d);
                }
                if let Some(c) = r.cold_after {
                    l["MoveToColdStorageAfterDays"] = json!(c);
                }
                rule["Lifecycle"] = l;
            }
            w.put(&base.join("get-backup-plan").join(format!("{}.json", r.plan_id)), &json!({
                "BackupPlan": {"BackupPlanName": r.plan_name, "Rules": [rule]},
                "BackupPlanId": r.plan_id, "BackupPlanArn": plan_arn(&r.plan_id), "VersionId": format!("v-{}", &r.rule_id[..8])}))?;
            let role = format!("arn:aws:iam::{acct}:role/service-role/AWSBackupDefaultServiceRole");
            let selection = match r.plan_name {
                "daily-35" => json!({"SelectionName": "tagged-daily", "IamRoleArn": role,
                    "ListOfTags": [{"ConditionType": "STRINGEQUALS", "ConditionKey": "backup", "ConditionValue": "daily"}]}),
                "weekly-90" => {
                    json!({"SelectionName": "all-tables-and-file-systems", "IamRoleArn": role,
                    "Resources": ["arn:aws:dynamodb:*:*:table/*", "arn:aws:elasticfilesystem:*:*:file-system/*"],
                    "NotResources": [format!("arn:aws:dynamodb:{region}:{acct}:table/dynamodb-00004")]})
                }
                "twice-monthly" => json!({"SelectionName": "weekly-tag", "IamRoleArn": role,
                    "Resources": ["*"], "Conditions": {"StringEquals": [{"ConditionKey": "aws:ResourceTag/backup", "ConditionValue": "weekly"}],
                        "StringNotLike": [{"ConditionKey": "aws:ResourceTag/env", "ConditionValue": "te*"}]}}),
                "hourly-7" => json!({"SelectionName": "prod-volumes", "IamRoleArn": role,
                    "Resources": [format!("arn:aws:ec2:{region}:{acct}:volume/*")],
                    "Conditions": {"StringEquals": [{"ConditionKey": "aws:ResourceTag/env", "ConditionValue": "prod"}]}}),
                _ => json!({"SelectionName": "databases", "IamRoleArn": role,
                    "Resources": [format!("arn:aws:rds:{region}:{acct}:db:*"), format!("arn:aws:rds:{region}:{acct}:cluster:*")]}),
            };
            let sel_id = uuid(&mut rng);
            w.put(
                &base.join("list-backup-selections").join(format!("{}.json", r.plan_id)),
                &json!({"BackupSelectionsList": [{
                "SelectionId": sel_id, "SelectionName": selection["SelectionName"], "BackupPlanId": r.plan_id,
                "CreationDate": cli_time(o.now - 200 * DAY_MS), "IamRoleArn": role}]}),
            )?;
            w.put(
                &base.join("get-backup-selection").join(&r.plan_id).join(format!("{sel_id}.json")),
                &json!({
                "BackupSelection": selection, "SelectionId": sel_id, "BackupPlanId": r.plan_id,
                "CreationDate": cli_time(o.now - 200 * DAY_MS)}),
            )?;
        }

        // Inventory, instance states.
        w.put(
            &base.join("get-resources.json"),
            &json!({"ResourceTagMappingList": resources.iter().map(|r| {
            let mut tags = vec![json!({"Key": "env", "Value": r.env}), json!({"Key": "Name", "Value": r.name})];
            if r.backup != "none" { tags.push(json!({"Key": "backup", "Value": r.backup})); }
            json!({"ResourceARN": r.arn, "Tags": tags})
        }).collect::<Vec<_>>()}),
        )?;
        w.put(&base.join("describe-instances.json"), &json!({"Reservations": [{"Instances": resources.iter().enumerate()
            .filter(|(_, r)| r.kind == "EC2")
            .map(|(i, r)| json!({"InstanceId": r.arn.rsplit('/').next(), "State": {"Code": 16, "Name": if i % 5 == 0 { "stopped" } else { "running" }}}))
            .collect::<Vec<_>>()}]}))?;

        // Jobs, in pages, generated in parallel with one seeded generator per page.
        let share = |total: usize| total / n_scopes + usize::from(si < total % n_scopes);
        let (n_backup, n_copy, n_restore) = (share(backup_total), share(copy_total), share(restore_total));
        let span = days as i64 * DAY_MS;
        let ctx = JobContext {
            acct: &acct,
            region,
            resources: &resources,
            rules: &rules,
            now: o.now,
            span,
            key_arn: &key_arn,
        };
        let page = o.page_size.max(1);
        let pages = |n: usize| n.div_ceil(page);
        let results: Vec<std::io::Result<(u64, Vec<Value>)>> = (0..pages(n_backup))
            .into_par_iter()
            .map(|p| {
                let mut rng = SmallRng::seed_from_u64(o.seed ^ ((si as u64) << 32) ^ (p as u64 + 1));
                let n = page.min(n_backup - p * page);
                let jobs: Vec<Value> = (0..n).map(|_| ctx.backup_job(&mut rng)).collect();
                let rps: Vec<Value> = jobs.iter().filter_map(|j| ctx.recovery_point(j)).collect();
                let body = json!({"BackupJobs": jobs, "NextToken": if p + 1 < pages(n_backup) { json!(format!("token-{}", p + 1)) } else { Value::Null }});
                let bytes = write_page(&base.join("list-backup-jobs").join(format!("page-{:05}.json", p + 1)), &body)?;
                Ok((bytes, rps))
            })
            .collect();
        let mut rps_by_vault: std::collections::BTreeMap<String, Vec<Value>> = Default::default();
        for r in results {
            let (bytes, rps) = r?;
            w.bytes += bytes;
            w.files += 1;
            for rp in rps {
                let vault = rp["BackupVaultName"].as_str().unwrap_or("Default").to_string();
                let list = rps_by_vault.entry(vault).or_default();
                if o.max_recovery_points.is_none_or(|m| list.len() < m / vaults.len().max(1)) {
                    list.push(rp);
                }
            }
        }
        if n_backup == 0 {
            w.put(&base.join("list-backup-jobs.json"), &json!({"BackupJobs": []}))?;
        }
        if let Some(total) = o.recovery_points {
            // Recovery points on their own, written as pages per vault.
            rps_by_vault.clear();
            let n = share(total);
            let chunks: Vec<Vec<Value>> = (0..pages(n))
                .into_par_iter()
                .map(|p| {
                    let mut rng = SmallRng::seed_from_u64(o.seed ^ ((si as u64) << 48) ^ (p as u64 + 11));
                    (0..page.min(n - p * page)).filter_map(|_| ctx.synthetic_recovery_point(&mut rng)).collect()
                })
                .collect();
            let mut by_vault: std::collections::BTreeMap<String, Vec<Value>> = Default::default();
            for rp in chunks.into_iter().flatten() {
                by_vault.entry(rp["BackupVaultName"].as_str().unwrap_or("Default").to_string()).or_default().push(rp);
            }
            let mut results = Vec::new();
            for (vault, list) in &by_vault {
                let written: Vec<std::io::Result<u64>> = list
                    .par_chunks(page)
                    .enumerate()
                    .map(|(i, chunk)| {
                        let path = base
                            .join("list-recovery-points-by-backup-vault")
                            .join(vault)
                            .join(format!("page-{:05}.json", i + 1));
                        write_page(&path, &json!({"RecoveryPoints": chunk}))
                    })
                    .collect();
                results.extend(written);
            }
            for r in results {
                w.bytes += r?;
                w.files += 1;
            }
            // Restores below draw from a sample of them.
            for (vault, list) in by_vault {
                rps_by_vault.insert(vault, list.into_iter().take(1000).collect());
            }
        }
        // Restores start from recovery points that exist.
        let restorable: Vec<(String, String, String)> = rps_by_vault
            .values()
            .flatten()
            .filter_map(|rp| {
                let s = |k: &str| rp[k].as_str().map(str::to_string);
                Some((s("RecoveryPointArn")?, s("ResourceArn")?, s("BackupVaultArn")?))
            })
            .collect();
        for (name, ..) in vaults.iter().filter(|_| o.recovery_points.is_none()) {
            let list = rps_by_vault.remove(*name).unwrap_or_default();
            w.put(
                &base.join("list-recovery-points-by-backup-vault").join(format!("{name}.json")),
                &json!({"RecoveryPoints": list}),
            )?;
        }
        for (kind, n) in [("list-copy-jobs", n_copy), ("list-restore-jobs", n_restore)] {
            let results: Vec<std::io::Result<u64>> = (0..pages(n).max(1))
                .into_par_iter()
                .map(|p| {
                    let mut rng = SmallRng::seed_from_u64(o.seed ^ ((si as u64) << 40) ^ (p as u64 + 7) ^ kind.len() as u64);
                    let count = page.min(n.saturating_sub(p * page));
                    let body = if kind == "list-copy-jobs" {
                        json!({"CopyJobs": (0..count).map(|_| ctx.copy_job(&mut rng, other_region)).collect::<Vec<_>>()})
                    } else {
                        json!({"RestoreJobs": (0..count).map(|_| ctx.restore_job(&mut rng, &restorable)).collect::<Vec<_>>()})
                    };
                    write_page(&base.join(kind).join(format!("page-{:05}.json", p + 1)), &body)
                })
                .collect();
            for r in results {
                w.bytes += r?;
                w.files += 1;
            }
        }

        // Protected resources, with restore testing figures for databases.
        let protected: Vec<&Resource> = resources.iter().filter(|r| r.backup != "none" || r.kind == "RDS").collect();
        w.put(&base.join("list-protected-resources.json"), &json!({"Results": protected.iter().map(|r| json!({
            "ResourceArn": r.arn, "ResourceType": r.kind, "ResourceName": r.name,
            "LastBackupTime": cli_time(o.now - rng.random_range(1..(3 * DAY_MS / 1000)) * 1000)})).collect::<Vec<_>>()}))?;
        for r in protected.iter().filter(|r| matches!(r.kind, "RDS" | "Aurora" | "DynamoDB")) {
            let key = crate::layout::encode_key(&r.arn);
            w.put(
                &base.join("describe-protected-resource").join(format!("{key}.json")),
                &json!({
                "ResourceArn": r.arn, "ResourceType": r.kind, "ResourceName": r.name,
                "LastBackupTime": cli_time(o.now - 6 * HOUR_MS),
                "LatestRestoreExecutionTimeMinutes": rng.random_range(20..1500),
                "LatestRestoreJobCreationDate": cli_time(o.now - 5 * DAY_MS)}),
            )?;
        }

        // Frameworks and report plans live in every scope; org-wide plans only in the first.
        let frameworks: Vec<Value> = (0..o.frameworks.min(3)).map(|i| framework(&acct, region, i)).collect();
        let summaries: Vec<Value> = frameworks
            .iter()
            .map(|f| {
                json!({"FrameworkName": f["FrameworkName"], "FrameworkArn": f["FrameworkArn"],
                    "NumberOfControls": f["FrameworkControls"].as_array().map_or(0, Vec::len), "DeploymentStatus": "COMPLETED"})
            })
            .collect();
        w.put(&base.join("list-frameworks.json"), &json!({ "Frameworks": summaries }))?;
        // Like the collector, an empty list still leaves its (empty) detail folder: collected, none.
        fs::create_dir_all(base.join("describe-framework"))?;
        for f in &frameworks {
            let name = f["FrameworkName"].as_str().unwrap_or_default();
            w.put(&base.join("describe-framework").join(format!("{name}.json")), f)?;
        }
        let bucket = format!("backup-reports-{acct}");
        let mut plans = vec![
            report_plan(&acct, region, "daily_backup_jobs", "BACKUP_JOB_REPORT", &bucket, &["CSV", "JSON"], json!({})),
            report_plan(&acct, region, "daily_copy_jobs", "COPY_JOB_REPORT", &bucket, &["CSV", "JSON"], json!({})),
            report_plan(
                &acct,
                region,
                "daily_restore_jobs",
                "RESTORE_JOB_REPORT",
                &bucket,
                &["CSV", "JSON"],
                json!({}),
            ),
        ];
        for (name, template) in [
            ("daily_control_compliance", "CONTROL_COMPLIANCE_REPORT"),
            ("daily_resource_compliance", "RESOURCE_COMPLIANCE_REPORT"),
        ]
        .into_iter()
        .filter(|_| !frameworks.is_empty())
        {
            plans.push(report_plan(&acct, region, name, template, &bucket, &["CSV", "JSON"], json!({})));
        }
        if si == 0 {
            plans.push(report_plan(
                &acct,
                region,
                "org_backup_jobs",
                "BACKUP_JOB_REPORT",
                &bucket,
                &["CSV"],
                json!({"Accounts": ["ROOT"], "Regions": ["*"]}),
            ));
        }
        w.put(
            &base.join("list-report-plans.json"),
            &json!({"ReportPlans": plans.iter().map(|p| p["ReportPlan"].clone()).collect::<Vec<_>>()}),
        )?;
        for p in &plans {
            let name = p["ReportPlan"]["ReportPlanName"].as_str().unwrap_or_default();
            w.put(&base.join("describe-report-plan").join(format!("{name}.json")), p)?;
        }
    }
    summary.files = w.files;
    summary.bytes = w.bytes;
    Ok(summary)
}

/// The Backup resource type of a generated ARN.
fn resource_type(arn: &str) -> &'static str {
    match crate::arn::Arn::parse(arn).map_or("", |a| a.service) {
        "ec2" if arn.contains(":volume/") => "EBS",
        "ec2" => "EC2",
        "rds" if arn.contains(":cluster:") => "Aurora",
        "rds" => "RDS",
        "dynamodb" => "DynamoDB",
        "elasticfilesystem" => "EFS",
        _ => "S3",
    }
}

fn report_plan(
    acct: &str,
    region: &str,
    name: &str,
    template: &str,
    bucket: &str,
    formats: &[&str],
    scope: Value,
) -> Value {
    let mut setting = json!({"ReportTemplate": template});
    if let (Some(s), Some(extra)) = (setting.as_object_mut(), scope.as_object()) {
        s.extend(extra.clone());
    }
    json!({"ReportPlan": {
        "ReportPlanArn": format!("arn:aws:backup:{region}:{acct}:report-plan:{name}-00000000-0000-4000-8000-000000000000"),
        "ReportPlanName": name, "ReportPlanDescription": format!("{template} every day"),
        "ReportSetting": setting,
        "ReportDeliveryChannel": {"S3BucketName": bucket, "S3KeyPrefix": "audit", "Formats": formats},
        "DeploymentStatus": "COMPLETED"}})
}

/// Framework `i` of an account and region: 0 is the console's "AWS Backup framework" plus the
/// two newer controls, 1 a strict variant (hourly, 90 days, named exemptions), 2 the baseline
/// scoped to production-tagged resources.
fn framework(acct: &str, region: &str, i: usize) -> Value {
    let mut f = default_framework(acct, region);
    match i {
        1 => {
            f["FrameworkName"] = json!("strict_backup_controls");
            f["FrameworkArn"] = json!(format!(
                "arn:aws:backup:{region}:{acct}:framework:strict_backup_controls-0a1b2c3d-0000-4000-8000-000000000001"
            ));
            f["FrameworkDescription"] = json!("Hourly recovery points kept 90 days");
            let p = |pairs: &[(&str, &str)]| {
                pairs.iter().map(|(k, v)| json!({"ParameterName": k, "ParameterValue": v})).collect::<Vec<_>>()
            };
            for c in f["FrameworkControls"].as_array_mut().into_iter().flatten() {
                match c["ControlName"].as_str().unwrap_or_default() {
                    "BACKUP_PLAN_MIN_FREQUENCY_AND_MIN_RETENTION_CHECK" => {
                        c["ControlInputParameters"] = json!(p(&[
                            ("requiredFrequencyUnit", "hours"),
                            ("requiredFrequencyValue", "1"),
                            ("requiredRetentionDays", "90")
                        ]))
                    }
                    "BACKUP_RECOVERY_POINT_MINIMUM_RETENTION_CHECK" => {
                        c["ControlInputParameters"] = json!(p(&[("requiredRetentionDays", "90")]))
                    }
                    "BACKUP_LAST_RECOVERY_POINT_CREATED" => {
                        c["ControlInputParameters"] =
                            json!(p(&[("recoveryPointAgeUnit", "hours"), ("recoveryPointAgeValue", "2")]))
                    }
                    "BACKUP_RECOVERY_POINT_MANUAL_DELETION_DISABLED" => {
                        c["ControlInputParameters"] =
                            json!(p(&[("principalArnList", &format!("arn:aws:iam::{acct}:role/BackupAdmin"))]))
                    }
                    _ => {}
                }
            }
        }
        2 => {
            f["FrameworkName"] = json!("production_backup_controls");
            f["FrameworkArn"] = json!(format!(
                "arn:aws:backup:{region}:{acct}:framework:production_backup_controls-0a1b2c3d-0000-4000-8000-000000000002"
            ));
            f["FrameworkDescription"] = json!("The baseline, for resources tagged env=prod");
            for c in f["FrameworkControls"].as_array_mut().into_iter().flatten() {
                c["ControlScope"] = json!({"Tags": {"env": "prod"}});
            }
        }
        _ => {}
    }
    f
}

/// The console's "AWS Backup framework" controls plus the two newer ones.
fn default_framework(acct: &str, region: &str) -> Value {
    let types =
        json!(["RDS", "S3", "Aurora", "EFS", "EC2", "Storage Gateway", "EBS", "DynamoDB", "FSx", "VirtualMachine"]);
    let p = |pairs: &[(&str, &str)]| {
        pairs.iter().map(|(k, v)| json!({"ParameterName": k, "ParameterValue": v})).collect::<Vec<_>>()
    };
    json!({
        "FrameworkName": "baseline_backup_controls",
        "FrameworkArn": format!("arn:aws:backup:{region}:{acct}:framework:baseline_backup_controls-7b4f2a10-0c1d-4e55-9a0b-3c6d8e9f1a2b"),
        "FrameworkDescription": "Daily backups kept 35 days, copied off-site, in locked vaults",
        "FrameworkControls": [
            {"ControlName": "BACKUP_RESOURCES_PROTECTED_BY_BACKUP_PLAN", "ControlScope": {"ComplianceResourceTypes": types}},
            {"ControlName": "BACKUP_PLAN_MIN_FREQUENCY_AND_MIN_RETENTION_CHECK", "ControlInputParameters": p(&[("requiredFrequencyUnit", "days"), ("requiredFrequencyValue", "1"), ("requiredRetentionDays", "35")])},
            {"ControlName": "BACKUP_RECOVERY_POINT_MANUAL_DELETION_DISABLED"},
            {"ControlName": "BACKUP_RECOVERY_POINT_ENCRYPTED"},
            {"ControlName": "BACKUP_RECOVERY_POINT_MINIMUM_RETENTION_CHECK", "ControlInputParameters": p(&[("requiredRetentionDays", "35")])},
            {"ControlName": "BACKUP_RESOURCES_PROTECTED_BY_CROSS_REGION", "ControlScope": {"ComplianceResourceTypes": types}},
            {"ControlName": "BACKUP_RESOURCES_PROTECTED_BY_CROSS_ACCOUNT", "ControlScope": {"ComplianceResourceTypes": types}},
            {"ControlName": "BACKUP_RESOURCES_PROTECTED_BY_BACKUP_VAULT_LOCK", "ControlInputParameters": p(&[("minRetentionDays", "1"), ("maxRetentionDays", "36500")]), "ControlScope": {"ComplianceResourceTypes": types}},
            {"ControlName": "BACKUP_LAST_RECOVERY_POINT_CREATED", "ControlInputParameters": p(&[("recoveryPointAgeUnit", "days"), ("recoveryPointAgeValue", "1")]), "ControlScope": {"ComplianceResourceTypes": types}},
            {"ControlName": "RESTORE_TIME_FOR_RESOURCES_MEET_TARGET", "ControlInputParameters": p(&[("maxRestoreTime", "720")]), "ControlScope": {"ComplianceResourceTypes": ["RDS", "Aurora", "DynamoDB"]}},
            {"ControlName": "RESOURCES_IN_LOGICALLY_AIR_GAPPED_VAULT", "ControlInputParameters": p(&[("recoveryPointAgeUnit", "days"), ("recoveryPointAgeValue", "7")]), "ControlScope": {"ComplianceResourceTypes": ["EBS"]}}
        ],
        "DeploymentStatus": "COMPLETED", "FrameworkStatus": "ACTIVE"
    })
}

struct JobContext<'a> {
    acct: &'a str,
    region: &'a str,
    resources: &'a [Resource],
    rules: &'a [RuleSpec],
    now: Millis,
    span: Millis,
    key_arn: &'a str,
}

impl JobContext<'_> {
    fn rule_for(&self, r: &Resource) -> &RuleSpec {
        let i = match (r.kind, r.backup) {
            ("RDS" | "Aurora", _) => 4,
            ("EBS", _) if r.env == "prod" => 3,
            ("DynamoDB" | "EFS", _) => 1,
            (_, "weekly") => 2,
            _ => 0,
        };
        &self.rules[i]
    }

    fn backup_job(&self, rng: &mut SmallRng) -> Value {
        let res = if self.resources.is_empty() {
            None
        } else {
            Some(&self.resources[rng.random_range(0..self.resources.len())])
        };
        let (arn, kind, name) = res.map_or(("arn:aws:s3:::orphan".to_string(), "S3", "orphan".to_string()), |r| {
            (r.arn.clone(), r.kind, r.name.clone())
        });
        let rule = res.map_or(&self.rules[0], |r| self.rule_for(r));
        let created = self.now - 1 - (rng.random::<u64>() % self.span as u64) as i64;
        let age = self.now - created;
        let roll = rng.random_range(0..1000);
        let (state, message) = if age < 3 * HOUR_MS && roll < 300 {
            (["RUNNING", "CREATED", "PENDING"][roll % 3], None)
        } else if roll < 40 {
            (
                "FAILED",
                Some(
                    "Backup job failed because the IAM role \"AWSBackupDefaultServiceRole\" could not be assumed, please check trust policy",
                ),
            )
        } else if roll < 55 {
            ("ABORTED", Some("Backup job was aborted, the job was not started within the start window"))
        } else if roll < 70 {
            (
                "COMPLETED",
                Some(
                    "=HYPERLINK(\"http://x\") Windows VSS Backup attempt failed because either Instance or SSM Agent has invalid state",
                ),
            )
        } else if roll < 80 {
            ("EXPIRED", None)
        } else {
            ("COMPLETED", None)
        };
        let active = matches!(state, "RUNNING" | "CREATED" | "PENDING");
        let duration = rng.random_range(120_000..(3 * HOUR_MS).min(age.max(120_001)));
        let id = uuid(rng);
        let vault = rule.vault;
        let mut job = json!({
            "AccountId": self.acct,
            "BackupJobId": id,
            "BackupVaultName": vault,
            "BackupVaultArn": format!("arn:aws:backup:{}:{}:backup-vault:{vault}", self.region, self.acct),
            "ResourceArn": arn,
            "CreationDate": cli_time(created),
            "State": state,
            "PercentDone": if active { "42.0" } else { "100.0" },
            "BackupSizeInBytes": if matches!(kind, "RDS" | "Aurora") { 0 } else { rng.random_range(1_000_000i64..500_000_000_000) },
            "IamRoleArn": format!("arn:aws:iam::{}:role/service-role/AWSBackupDefaultServiceRole", self.acct),
            "CreatedBy": {"BackupPlanId": rule.plan_id, "BackupPlanArn": format!("arn:aws:backup:{}:{}:backup-plan:{}", self.region, self.acct, rule.plan_id),
                "BackupPlanVersion": format!("v-{}", &rule.rule_id[..8]), "BackupRuleId": rule.rule_id},
            "ExpectedCompletionDate": cli_time(created + 3 * HOUR_MS),
            "StartBy": cli_time(created + HOUR_MS),
            "ResourceType": kind,
            "BytesTransferred": 0,
            "BackupType": "",
            "IsParent": false,
            "ResourceName": name,
            "InitiationDate": cli_time(created),
        });
        if kind == "EC2" {
            job["BackupOptions"] = json!({"WindowsVSS": "disabled"});
        }
        if let Some(m) = message {
            job["StatusMessage"] = json!(m);
        }
        if !active {
            job["CompletionDate"] = json!(cli_time(created + duration));
        }
        if state == "COMPLETED" {
            let rp = match kind {
                "EC2" => format!("arn:aws:ec2:{}::image/ami-{}", self.region, hex(rng, 17)),
                "EBS" => format!("arn:aws:ec2:{}::snapshot/snap-{}", self.region, hex(rng, 17)),
                _ => format!("arn:aws:backup:{}:{}:recovery-point:{}", self.region, self.acct, uuid(rng)),
            };
            job["RecoveryPointArn"] = json!(rp);
        }
        job
    }

    fn recovery_point(&self, job: &Value) -> Option<Value> {
        let rp = job.get("RecoveryPointArn")?;
        let created = time::parse_iso(job["CreationDate"].as_str()?)?;
        let rule = self.rules.iter().find(|r| job["CreatedBy"]["BackupRuleId"] == r.rule_id.as_str())?;
        let mut v = json!({
            "RecoveryPointArn": rp, "BackupVaultName": job["BackupVaultName"], "BackupVaultArn": job["BackupVaultArn"],
            "ResourceArn": job["ResourceArn"], "ResourceType": job["ResourceType"], "ResourceName": job["ResourceName"],
            "CreatedBy": job["CreatedBy"], "IamRoleArn": job["IamRoleArn"], "Status": "COMPLETED",
            "CreationDate": job["CreationDate"], "CompletionDate": job["CompletionDate"], "BackupSizeInBytes": job["BackupSizeInBytes"],
            "EncryptionKeyArn": self.key_arn, "IsEncrypted": job["ResourceType"] != "EFS",
            "VaultType": if rule.vault == "logically-air-gapped" { "LOGICALLY_AIR_GAPPED_BACKUP_VAULT" } else { "BACKUP_VAULT" },
        });
        if let Some(d) = rule.delete_after {
            v["Lifecycle"] = json!({"DeleteAfterDays": d});
            v["CalculatedLifecycle"] = json!({"DeleteAt": cli_time(created + d * DAY_MS)});
        }
        Some(v)
    }

    /// A recovery point of a random resource, made by the rule that covers it.
    fn synthetic_recovery_point(&self, rng: &mut SmallRng) -> Option<Value> {
        let r = self.resources.get(rng.random_range(0..self.resources.len().max(1)))?;
        let rule = self.rule_for(r);
        let created = self.now - 1 - (rng.random::<u64>() % self.span as u64) as i64;
        let vault_arn = format!("arn:aws:backup:{}:{}:backup-vault:{}", self.region, self.acct, rule.vault);
        let mut v = json!({
            "RecoveryPointArn": format!("arn:aws:backup:{}:{}:recovery-point:{}", self.region, self.acct, uuid(rng)),
            "BackupVaultName": rule.vault, "BackupVaultArn": vault_arn, "ResourceArn": r.arn, "ResourceType": r.kind,
            "ResourceName": r.name, "Status": if rng.random_range(0..100) < 2 { "PARTIAL" } else { "COMPLETED" },
            "CreatedBy": {"BackupPlanId": rule.plan_id, "BackupRuleId": rule.rule_id},
            "CreationDate": cli_time(created), "CompletionDate": cli_time(created + 600_000),
            "BackupSizeInBytes": rng.random_range(1_000_000i64..50_000_000_000),
            "EncryptionKeyArn": self.key_arn, "IsEncrypted": r.kind != "EFS",
            "VaultType": if rule.vault == "logically-air-gapped" { "LOGICALLY_AIR_GAPPED_BACKUP_VAULT" } else { "BACKUP_VAULT" },
        });
        if let Some(d) = rule.delete_after {
            v["Lifecycle"] = json!({"DeleteAfterDays": d});
            v["CalculatedLifecycle"] = json!({"DeleteAt": cli_time(created + d * DAY_MS)});
        }
        Some(v)
    }

    fn copy_job(&self, rng: &mut SmallRng, other_region: &str) -> Value {
        let rule = &self.rules[if rng.random_bool(0.5) { 0 } else { 1 }];
        let res = &self.resources
            [rng.random_range(0..self.resources.len().max(1)).min(self.resources.len().saturating_sub(1))];
        let created = self.now - 1 - (rng.random::<u64>() % self.span as u64) as i64;
        let failed = rng.random_range(0..100) < 5;
        let dest = rule
            .copy_to
            .first()
            .cloned()
            .unwrap_or_else(|| format!("arn:aws:backup:{other_region}:{}:backup-vault:dr-vault", self.acct));
        let mut j = json!({
            "AccountId": self.acct, "CopyJobId": uuid(rng),
            "SourceBackupVaultArn": format!("arn:aws:backup:{}:{}:backup-vault:{}", self.region, self.acct, rule.vault),
            "SourceRecoveryPointArn": format!("arn:aws:backup:{}:{}:recovery-point:{}", self.region, self.acct, uuid(rng)),
            "DestinationBackupVaultArn": dest,
            "DestinationRecoveryPointArn": format!("arn:aws:backup:{other_region}:{}:recovery-point:{}", self.acct, uuid(rng)),
            "ResourceArn": res.arn, "ResourceType": res.kind, "ResourceName": res.name,
            "CreationDate": cli_time(created), "CompletionDate": cli_time(created + rng.random_range(60_000..2 * HOUR_MS)),
            "State": if failed { "FAILED" } else { "COMPLETED" },
            "BackupSizeInBytes": rng.random_range(1_000_000i64..50_000_000_000),
            "IamRoleArn": format!("arn:aws:iam::{}:role/service-role/AWSBackupDefaultServiceRole", self.acct),
            "CreatedBy": {"BackupPlanId": rule.plan_id, "BackupRuleId": rule.rule_id,
                "BackupPlanArn": format!("arn:aws:backup:{}:{}:backup-plan:{}", self.region, self.acct, rule.plan_id)},
            "IsParent": false,
        });
        if failed {
            j["StatusMessage"] = json!(
                "Copy job failed. Both source and destination account must be a member of the same organization."
            );
        }
        j
    }

    fn restore_job(&self, rng: &mut SmallRng, restorable: &[(String, String, String)]) -> Value {
        let (rp, source, vault) = match restorable.len() {
            0 => (
                format!("arn:aws:backup:{}:{}:recovery-point:{}", self.region, self.acct, uuid(rng)),
                "arn:aws:s3:::orphan".to_string(),
                format!("arn:aws:backup:{}:{}:backup-vault:prod-vault", self.region, self.acct),
            ),
            n => restorable[rng.random_range(0..n)].clone(),
        };
        let created = self.now - 1 - (rng.random::<u64>() % self.span as u64) as i64;
        let age = self.now - created;
        let status = if age < 2 * HOUR_MS {
            "RUNNING"
        } else if rng.random_range(0..100) < 8 {
            "FAILED"
        } else {
            "COMPLETED"
        };
        let mut j = json!({
            "AccountId": self.acct, "RestoreJobId": uuid(rng),
            "RecoveryPointArn": rp,
            "SourceResourceArn": source, "ResourceType": resource_type(&source),
            "BackupVaultArn": vault,
            // Restore jobs are written in the wire format (epoch seconds) on purpose: both encodings occur.
            "CreationDate": created as f64 / 1000.0,
            "Status": status, "PercentDone": if status == "RUNNING" { "35.00%" } else { "100.00%" },
            "BackupSizeInBytes": rng.random_range(1_000_000i64..50_000_000_000),
            "IamRoleArn": format!("arn:aws:iam::{}:role/service-role/AWSBackupDefaultServiceRole", self.acct),
            "ExpectedCompletionTimeMinutes": 45,
        });
        if status != "RUNNING" {
            j["CompletionDate"] = json!((created + rng.random_range(300_000..2 * HOUR_MS)) as f64 / 1000.0);
            j["CreatedResourceArn"] = json!(format!("{source}-restored"));
        }
        if status == "FAILED" {
            j["StatusMessage"] = json!("Restore failed: the DB subnet group does not exist");
        }
        j
    }
}
