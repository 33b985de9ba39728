//! The report-plan S3 key layout, as a pure function.
//!
//! ```text
//! <S3KeyPrefix>/Backup/<account-id | crossaccount>/<region | crossregion>/<YYYY>/<MM>/<DD>/
//!     <ReportPlanName>/<TEMPLATE>_<ReportPlanName>_<periodStart>_<periodEnd>.<csv|json>
//! ```
//!
//! Decisions where Audit Manager is unconfirmed (reference 2.5):
//! - `Backup/` always follows the prefix, as the documentation and the 2026 observation show.
//! - The date folders are the UTC date of the period end (both observed keys agree).
//! - `crossaccount` replaces the account when the plan's `ReportSetting` names `Accounts` or
//!   `OrganizationUnits`; `crossregion` replaces the region when it names `Regions`. This is
//!   what made the observed path change when a plan's account scope changed.
//! - The `_<n>` part suffix appears only when a report is split (over `--max-object-bytes`,
//!   50 MiB by default, as Audit Manager's 50 MB): `_1`, `_2`, … before the extension. A
//!   report that fits in one object keeps the plain name, so most keys never change shape;
//!   the run manifest lists the parts of every report.

use crate::time::{self, Millis};

/// Everything a key depends on.
#[derive(Debug, Clone)]
pub struct KeyParts<'a> {
    pub prefix: Option<&'a str>,
    /// `Some(account)` for a single-account plan, `None` for `crossaccount`.
    pub account: Option<&'a str>,
    /// `Some(region)` for a single-region plan, `None` for `crossregion`.
    pub region: Option<&'a str>,
    pub plan_name: &'a str,
    pub template: &'a str,
    pub period_start: Millis,
    pub period_end: Millis,
    pub extension: &'a str,
}

/// The object key (or path below the output folder) of one report file.
pub fn report_key(k: &KeyParts) -> String {
    let end = time::civil(k.period_end);
    let mut key = String::new();
    if let Some(prefix) = k.prefix.map(|p| p.trim_matches('/')).filter(|p| !p.is_empty()) {
        key.push_str(prefix);
        key.push('/');
    }
    key.push_str(&format!(
        "Backup/{}/{}/{:04}/{:02}/{:02}/{plan}/{tpl}_{plan}_{}_{}.{ext}",
        k.account.unwrap_or("crossaccount"),
        k.region.unwrap_or("crossregion"),
        end.year,
        end.month,
        end.day,
        time::format_seconds(k.period_start),
        time::format_seconds(k.period_end),
        plan = k.plan_name,
        tpl = k.template,
        ext = k.extension,
    ));
    key
}

/// The key of part `n` (from 1) of a split report: `_<n>` before the extension.
pub fn part_key(key: &str, n: usize) -> String {
    match key.rsplit_once('.') {
        Some((stem, ext)) if !ext.contains('/') => format!("{stem}_{n}.{ext}"),
        _ => format!("{key}_{n}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::parse_iso;

    #[test]
    fn single_account_and_cross_scopes() {
        let mut k = KeyParts {
            prefix: Some("audit/"),
            account: Some("111122223333"),
            region: Some("us-east-1"),
            plan_name: "daily_jobs",
            template: "BACKUP_JOB_REPORT",
            period_start: parse_iso("2022-07-05T00:00:00Z").unwrap(),
            period_end: parse_iso("2022-07-06T00:00:00Z").unwrap(),
            extension: "csv",
        };
        assert_eq!(
            report_key(&k),
            "audit/Backup/111122223333/us-east-1/2022/07/06/daily_jobs/BACKUP_JOB_REPORT_daily_jobs_2022-07-05T00:00:00Z_2022-07-06T00:00:00Z.csv"
        );
        k.prefix = None;
        k.account = None;
        k.region = None;
        assert!(report_key(&k).starts_with("Backup/crossaccount/crossregion/2022/07/06/daily_jobs/"));
        assert!(part_key(&report_key(&k), 2).ends_with("_2022-07-05T00:00:00Z_2022-07-06T00:00:00Z_2.csv"));
    }
}
