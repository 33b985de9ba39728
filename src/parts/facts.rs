//! Bundles: a scope's snapshot folder, or the part of it other scopes need, as one object.
//!
//! A live organisation run collects each account and region in its own Map child, so no child
//! sees the others' folders. Two things cross scopes (see
//! [`crate::estate::snapshot::REFERENCE_DATASETS`]): a recovery point copied into another
//! account or region still counts for its resource, and a copy job's report row takes its
//! destination vault and recovery point from the destination's folder. So the collect step
//! writes, besides its scope's whole folder, one **facts** bundle per scope whose resources
//! have recovery points here ("home" scope, read from the resource ARN), holding only those
//! records and the vaults; records whose ARN names no account and region (S3 buckets) and the
//! organisation's parents go to a bundle every shard reads. The evaluate step unpacks its own
//! folder and the facts addressed to it into one snapshot folder and reads the others as
//! references: what it evaluates is what a one-machine run evaluates.
//!
//! A bundle is a JSON object: relative path → the file's text.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use super::PartsError;
use crate::estate::ScopeId;

/// A bundle: relative path (with `/`) → file text.
pub type Bundle = BTreeMap<String, String>;

/// Whose facts a record is: its resource's account and region, or every shard's.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Home {
    Scope(ScopeId),
    Any,
}

/// `snapshot/account=<id>/region=<region>.json`: a scope's whole folder.
pub fn snapshot_key(scope: &ScopeId) -> String {
    format!("snapshot/account={}/region={}.json", scope.account, scope.region)
}

/// The facts bundle of `holder`'s records that `home` needs.
pub fn facts_key(home: &Home, holder: &ScopeId) -> String {
    let from = format!("from/account={}/region={}.json", holder.account, holder.region);
    match home {
        Home::Scope(h) => format!("facts/account={}/region={}/{from}", h.account, h.region),
        Home::Any => format!("facts/any/{from}"),
    }
}

/// The prefix of the facts addressed to `home`.
pub fn facts_prefix(home: &Home) -> String {
    match home {
        Home::Scope(h) => format!("facts/account={}/region={}/", h.account, h.region),
        Home::Any => "facts/any/".into(),
    }
}

/// `snapshot/_collected/account=<id>/region=<region>.json`: a scope's collect step finished
/// (its snapshot and facts are written).
pub fn collected_key(scope: &ScopeId) -> String {
    format!("snapshot/_collected/account={}/region={}.json", scope.account, scope.region)
}

/// The holder a facts key names.
pub fn holder_of(key: &str) -> Option<ScopeId> {
    let rest = key.rsplit_once("/from/")?.1.strip_suffix(".json")?;
    let (a, r) = rest.split_once('/')?;
    Some(ScopeId { account: a.strip_prefix("account=")?.into(), region: r.strip_prefix("region=")?.into() })
}

/// The home of a resource ARN (`arn:partition:service:region:account:…`).
pub fn home_of(arn: &str) -> Home {
    let fields: Vec<&str> = arn.splitn(6, ':').collect();
    match (fields.get(3), fields.get(4)) {
        (Some(r), Some(a)) if !r.is_empty() && !a.is_empty() => {
            Home::Scope(ScopeId { account: a.to_string(), region: r.to_string() })
        }
        _ => Home::Any,
    }
}

/// Every file below `dir`, as a bundle.
pub fn bundle_folder(dir: &Path) -> Result<Bundle, PartsError> {
    let mut out = Bundle::new();
    fn walk(root: &Path, dir: &Path, out: &mut Bundle) -> Result<(), PartsError> {
        let io = |e: std::io::Error| PartsError::Bad { location: dir.display().to_string(), message: e.to_string() };
        let mut entries: Vec<_> = std::fs::read_dir(dir).map_err(io)?.collect::<Result<_, _>>().map_err(io)?;
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let path = e.path();
            if e.file_type().map_err(io)?.is_dir() {
                walk(root, &path, out)?;
            } else {
                let rel = path.strip_prefix(root).unwrap_or(&path).to_string_lossy().replace('\\', "/");
                let text = std::fs::read_to_string(&path).map_err(|e| PartsError::Bad {
                    location: path.display().to_string(),
                    message: format!("cannot read it as UTF-8 text: {e}"),
                })?;
                out.insert(rel, text);
            }
        }
        Ok(())
    }
    walk(dir, dir, &mut out)?;
    Ok(out)
}

/// The facts of `holder`'s folder `dir` for other scopes, by home. Only records of resources
/// homed elsewhere are kept; the vault list and details go with every bundle, the
/// organisation's parents with the bundle for every shard.
pub fn facts(dir: &Path, holder: &ScopeId) -> Result<BTreeMap<Home, Bundle>, PartsError> {
    let all = bundle_folder(dir)?;
    let mut by_home: BTreeMap<Home, Bundle> = BTreeMap::new();
    let bad = |rel: &str, e: serde_json::Error| PartsError::Bad {
        location: dir.join(rel).display().to_string(),
        message: format!("not JSON: {e}"),
    };
    let foreign = |h: &Home| h != &Home::Scope(holder.clone());
    let mut shared: Bundle = Bundle::new();
    for (rel, text) in &all {
        let command = rel.split('/').next().unwrap_or_default().trim_end_matches(".json");
        match command {
            "list-backup-vaults" | "describe-backup-vault" => {
                shared.insert(rel.clone(), text.clone());
            }
            "list-parents" => {
                by_home.entry(Home::Any).or_default().insert(rel.clone(), text.clone());
            }
            "list-recovery-points-by-backup-vault" | "list-protected-resources" => {
                let field = if command == "list-protected-resources" { "Results" } else { "RecoveryPoints" };
                let doc: Value = serde_json::from_str(text).map_err(|e| bad(rel, e))?;
                let mut split: BTreeMap<Home, Vec<Value>> = BTreeMap::new();
                for item in doc.get(field).and_then(Value::as_array).into_iter().flatten() {
                    let home = home_of(item.get("ResourceArn").and_then(Value::as_str).unwrap_or_default());
                    if foreign(&home) {
                        split.entry(home).or_default().push(item.clone());
                    }
                }
                for (home, items) in split {
                    let mut doc = doc.clone();
                    doc[field] = Value::Array(items);
                    let text = serde_json::to_string(&doc).expect("JSON serialises");
                    by_home.entry(home).or_default().insert(rel.clone(), text);
                }
            }
            "describe-protected-resource" => {
                let doc: Value = serde_json::from_str(text).map_err(|e| bad(rel, e))?;
                let home = home_of(doc.get("ResourceArn").and_then(Value::as_str).unwrap_or_default());
                if foreign(&home) {
                    by_home.entry(home).or_default().insert(rel.clone(), text.clone());
                }
            }
            _ => {}
        }
    }
    for bundle in by_home.values_mut() {
        bundle.extend(shared.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    Ok(by_home)
}

/// Writes `bundle` below `dir`. A file that another bundle of the same holder already wrote
/// (the vaults, a recovery point page split between homes) is merged: equal texts are kept
/// once, list pages get the union of their items.
pub fn unpack(bundle: &Bundle, dir: &Path) -> Result<(), PartsError> {
    let io = |path: &Path, e: std::io::Error| PartsError::Bad {
        location: path.display().to_string(),
        message: e.to_string(),
    };
    for (rel, text) in bundle {
        if rel.split('/').any(|s| s.is_empty() || s == "." || s == "..") {
            return Err(PartsError::Bad {
                location: rel.clone(),
                message: "is not a relative path inside a bundle".into(),
            });
        }
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
        }
        let text = match std::fs::read_to_string(&path) {
            Ok(old) if old == *text => continue,
            Ok(old) => merge_pages(&old, text).ok_or_else(|| PartsError::Bad {
                location: path.display().to_string(),
                message: "two bundles hold different versions of this file".into(),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => text.clone(),
            Err(e) => return Err(io(&path, e)),
        };
        std::fs::write(&path, text).map_err(|e| io(&path, e))?;
    }
    Ok(())
}

/// Two versions of one list page (each with a part of the items): the union, in `a`'s order
/// then `b`'s new items.
fn merge_pages(a: &str, b: &str) -> Option<String> {
    let (mut a, b): (Value, Value) = (serde_json::from_str(a).ok()?, serde_json::from_str(b).ok()?);
    let field = ["RecoveryPoints", "Results"].into_iter().find(|f| a.get(f).is_some_and(Value::is_array))?;
    let items = a.get_mut(field)?.as_array_mut()?;
    for item in b.get(field)?.as_array()? {
        if !items.contains(item) {
            items.push(item.clone());
        }
    }
    serde_json::to_string(&a).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(a: &str, r: &str) -> ScopeId {
        ScopeId { account: a.into(), region: r.into() }
    }

    #[test]
    fn homes_come_from_the_resource_arn() {
        assert_eq!(
            home_of("arn:aws:ec2:eu-west-1:111111111111:volume/vol-1"),
            Home::Scope(scope("111111111111", "eu-west-1"))
        );
        assert_eq!(home_of("arn:aws:s3:::my-bucket"), Home::Any);
        assert_eq!(home_of(""), Home::Any);
        let key = facts_key(&Home::Scope(scope("1", "r")), &scope("2", "s"));
        assert_eq!(key, "facts/account=1/region=r/from/account=2/region=s.json");
        assert_eq!(holder_of(&key), Some(scope("2", "s")));
        assert_eq!(holder_of(&facts_key(&Home::Any, &scope("2", "s"))), Some(scope("2", "s")));
    }

    #[test]
    fn facts_keep_only_foreign_records_and_pages_merge() {
        let dir = tempfile::tempdir().unwrap();
        let holder = scope("222222222222", "us-east-1");
        let rp = |arn: &str, id: &str| serde_json::json!({"ResourceArn": arn, "RecoveryPointArn": id});
        let page = serde_json::json!({"RecoveryPoints": [
            rp("arn:aws:ec2:us-east-1:222222222222:volume/vol-local", "local"),
            rp("arn:aws:ec2:eu-west-1:111111111111:volume/vol-a", "a"),
            rp("arn:aws:s3:::bucket", "s3"),
        ]});
        std::fs::create_dir_all(dir.path().join("list-recovery-points-by-backup-vault")).unwrap();
        std::fs::write(dir.path().join("list-recovery-points-by-backup-vault/v.json"), page.to_string()).unwrap();
        std::fs::write(dir.path().join("list-backup-vaults.json"), r#"{"BackupVaultList":[]}"#).unwrap();
        let f = facts(dir.path(), &holder).unwrap();
        assert_eq!(f.len(), 2, "one bundle for the home, one for every shard: {:?}", f.keys());
        let home = &f[&Home::Scope(scope("111111111111", "eu-west-1"))];
        assert!(home["list-recovery-points-by-backup-vault/v.json"].contains("vol-a"));
        assert!(!home["list-recovery-points-by-backup-vault/v.json"].contains("vol-local"));
        assert!(home.contains_key("list-backup-vaults.json"));
        // Both bundles unpacked into one folder: the page holds the union.
        let out = tempfile::tempdir().unwrap();
        for b in f.values() {
            unpack(b, out.path()).unwrap();
        }
        let merged = std::fs::read_to_string(out.path().join("list-recovery-points-by-backup-vault/v.json")).unwrap();
        assert!(merged.contains("vol-a") && merged.contains("bucket") && !merged.contains("vol-local"), "{merged}");
        let bad: Bundle = [("../x.json".to_string(), "{}".to_string())].into();
        assert!(unpack(&bad, out.path()).is_err());
    }
}
