//! Vault access policies: do they stop manual deletion of recovery points?
//!
//! A vault passes when its policy denies `backup:DeleteRecoveryPoint`,
//! `backup:UpdateRecoveryPointLifecycle` and `backup:PutBackupVaultAccessPolicy` to every
//! principal (`"*"` or `{"AWS": "*"}`) on every resource (`"*"`). `Action` and `Resource` may be
//! strings or arrays. Decisions (reference 1.3 (3)): the three actions may be spread over
//! several such Deny statements; a statement may carry a condition only if it exempts
//! principals, by `aws:PrincipalArn` under ArnNotEquals, ArnNotLike, StringNotEquals or
//! StringNotLike, and only principals named in `principalArnList`.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

/// The actions that must be denied.
const REQUIRED: [&str; 3] =
    ["backup:DeleteRecoveryPoint", "backup:UpdateRecoveryPointLifecycle", "backup:PutBackupVaultAccessPolicy"];

/// IAM's "a string or an array of strings" (and "a statement or an array of statements").
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany<T> {
    One(T),
    Many(Vec<T>),
}

impl<T> OneOrMany<T> {
    fn as_slice(&self) -> &[T] {
        match self {
            OneOrMany::One(t) => std::slice::from_ref(t),
            OneOrMany::Many(v) => v,
        }
    }
}

/// The parts of a policy document the control reads; other fields are ignored.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Document {
    statement: Option<OneOrMany<Statement>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Statement {
    sid: Option<String>,
    effect: Option<String>,
    principal: Option<Principal>,
    action: Option<OneOrMany<String>>,
    resource: Option<OneOrMany<String>>,
    condition: Option<Condition>,
}

/// `"*"`, or `{"AWS": …, "Service": …}`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Principal {
    Any(String),
    Map(BTreeMap<String, OneOrMany<String>>),
}

fn strings(v: Option<&OneOrMany<String>>) -> Vec<&str> {
    v.map_or(&[][..], OneOrMany::as_slice).iter().map(String::as_str).collect()
}

fn wildcard_principal(p: Option<&Principal>) -> bool {
    match p {
        Some(Principal::Any(s)) => s == "*",
        Some(Principal::Map(m)) => m.get("AWS").is_some_and(|a| strings(Some(a)) == ["*"]),
        None => false,
    }
}

/// A statement's `Condition`: operator → condition key → values.
type Condition = BTreeMap<String, BTreeMap<String, OneOrMany<String>>>;

/// Principals a condition block exempts, or why the condition is not acceptable.
fn exemptions(cond: Option<&Condition>) -> Result<Vec<String>, String> {
    let Some(ops) = cond else { return Ok(Vec::new()) };
    let mut out = Vec::new();
    for (op, body) in ops {
        if !matches!(op.as_str(), "ArnNotEquals" | "ArnNotLike" | "StringNotEquals" | "StringNotLike") {
            return Err(format!("its Condition uses {op}, which can narrow the denial"));
        }
        for (key, values) in body {
            if !key.eq_ignore_ascii_case("aws:PrincipalArn") {
                return Err(format!("its Condition tests {key}, which can narrow the denial"));
            }
            out.extend(strings(Some(values)).into_iter().map(str::to_string));
        }
    }
    Ok(out)
}

/// The verdict on one policy document: `Ok(reason)` when it passes, `Err(reason)` when not.
pub fn evaluate(policy: &str, exempt: &[String]) -> Result<String, String> {
    let doc: Value = serde_json::from_str(policy).map_err(|e| format!("the access policy is not valid JSON ({e})"))?;
    let doc: Document =
        serde_json::from_value(doc).map_err(|e| format!("the access policy is not an IAM policy document ({e})"))?;
    let Some(statements) = &doc.statement else { return Err("the access policy has no Statement".into()) };
    let statements = statements.as_slice();
    let mut denied: Vec<&str> = Vec::new();
    let mut notes = Vec::new();
    for (i, s) in statements.iter().enumerate() {
        if s.effect.as_deref() != Some("Deny") {
            continue;
        }
        let sid = s.sid.as_deref().map_or_else(|| format!("statement {}", i + 1), |x| format!("statement `{x}`"));
        if !wildcard_principal(s.principal.as_ref()) {
            notes.push(format!("{sid} does not apply to every principal"));
            continue;
        }
        if !strings(s.resource.as_ref()).contains(&"*") {
            notes.push(format!("{sid} does not cover every resource"));
            continue;
        }
        match exemptions(s.condition.as_ref()) {
            Err(why) => {
                notes.push(format!("{sid}: {why}"));
                continue;
            }
            Ok(ex) => {
                if let Some(extra) = ex.iter().find(|p| !exempt.contains(p)) {
                    notes.push(format!("{sid} exempts {extra}, which is not in principalArnList"));
                    continue;
                }
            }
        }
        denied.extend(strings(s.action.as_ref()));
    }
    let missing: Vec<&str> = REQUIRED.iter().copied().filter(|a| !denied.contains(a)).collect();
    if missing.is_empty() {
        Ok("the access policy denies DeleteRecoveryPoint, UpdateRecoveryPointLifecycle and PutBackupVaultAccessPolicy to every principal".into())
    } else {
        let mut why =
            format!("the access policy does not deny {} to every principal on every resource", missing.join(", "));
        if !notes.is_empty() {
            why.push_str(&format!(" ({})", notes.join("; ")));
        }
        Err(why)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: &str = r#"{"Statement":[{"Effect":"Deny","Principal":{"AWS":"*"},"Action":["backup:DeleteRecoveryPoint","backup:UpdateRecoveryPointLifecycle","backup:PutBackupVaultAccessPolicy"],"Resource":"*"}]}"#;

    #[test]
    fn truth_table() {
        assert!(evaluate(FULL, &[]).is_ok());
        let split = r#"{"Statement":[{"Effect":"Deny","Principal":"*","Action":"backup:DeleteRecoveryPoint","Resource":["*"]},
            {"Effect":"Deny","Principal":"*","Action":["backup:UpdateRecoveryPointLifecycle","backup:PutBackupVaultAccessPolicy"],"Resource":"*"}]}"#;
        assert!(evaluate(split, &[]).is_ok(), "actions may be spread over statements");
        let one =
            r#"{"Statement":{"Effect":"Deny","Principal":"*","Action":"backup:DeleteRecoveryPoint","Resource":"*"}}"#;
        assert_eq!(
            evaluate(one, &[]).unwrap_err(),
            "the access policy does not deny backup:UpdateRecoveryPointLifecycle, backup:PutBackupVaultAccessPolicy to every principal on every resource"
        );
        let narrow = FULL.replace(r#"{"AWS":"*"}"#, r#"{"AWS":"arn:aws:iam::1:role/x"}"#);
        assert!(evaluate(&narrow, &[]).unwrap_err().contains("statement 1 does not apply to every principal"));
        let allow = FULL.replace("Deny", "Allow");
        assert!(evaluate(&allow, &[]).is_err());
        let exempting = FULL.replace(
            r#""Resource":"*""#,
            r#""Resource":"*","Condition":{"ArnNotLike":{"aws:PrincipalArn":"arn:aws:iam::1:role/BackupAdmin"}}"#,
        );
        assert!(evaluate(&exempting, &["arn:aws:iam::1:role/BackupAdmin".into()]).is_ok());
        assert!(
            evaluate(&exempting, &[])
                .unwrap_err()
                .contains("exempts arn:aws:iam::1:role/BackupAdmin, which is not in principalArnList")
        );
        let by_ip =
            FULL.replace(r#""Resource":"*""#, r#""Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":"1.2.3.4"}}"#);
        assert!(evaluate(&by_ip, &[]).unwrap_err().contains("uses IpAddress"));
        assert!(evaluate("not json", &[]).unwrap_err().starts_with("the access policy is not valid JSON"));
    }
}
