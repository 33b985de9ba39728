//! Backup selections: which plans cover a resource.
//!
//! A selection picks a resource when
//! `(Resources matches OR ListOfTags matches) AND every Conditions entry holds AND NOT NotResources matches`.
//! `Resources` and `NotResources` hold ARNs with `*` wildcards; `ListOfTags` entries are
//! exact tag matches (any one suffices); `Conditions` use StringEquals, StringNotEquals,
//! StringLike (with `*`) and StringNotLike on tags, with keys written as `aws:ResourceTag/<key>`
//! or as a plain key. Decision: a selection with neither `Resources` nor `ListOfTags` but with
//! `Conditions` selects every resource that meets them; with none of the three it selects
//! nothing. A missing tag fails StringEquals and StringLike and passes the two negations.

use std::collections::BTreeMap;

use crate::estate::model::BackupSelection;

/// `*` matches any run of characters (including none); everything else is literal.
fn glob(pattern: &str, text: &str) -> bool {
    let p = pattern.as_bytes();
    let t = text.as_bytes();
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

fn tag_key(key: &str) -> &str {
    key.strip_prefix("aws:ResourceTag/").unwrap_or(key)
}

/// Why a selection picked a resource, for the verdict's reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Match {
    /// Matched a `Resources` pattern.
    Resource(String),
    /// Matched a `ListOfTags` entry.
    Tag(String, String),
    /// Selected by `Conditions` alone.
    Conditions,
}

impl std::fmt::Display for Match {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Match::Resource(p) => write!(f, "resource pattern {p}"),
            Match::Tag(k, v) => write!(f, "tag {k}={v}"),
            Match::Conditions => f.write_str("its conditions"),
        }
    }
}

/// Whether `selection` picks the resource `arn` with `tags`, and by what.
pub fn matches(selection: &BackupSelection, arn: &str, tags: &BTreeMap<&str, &str>) -> Option<Match> {
    if selection.not_resources.iter().any(|p| glob(p, arn)) {
        return None;
    }
    if let Some(c) = &selection.conditions {
        let value = |k: &str| tags.get(tag_key(k)).copied();
        let all = c.string_equals.iter().all(|p| value(&p.condition_key) == Some(p.condition_value.as_str()))
            && c.string_not_equals.iter().all(|p| value(&p.condition_key) != Some(p.condition_value.as_str()))
            && c.string_like.iter().all(|p| value(&p.condition_key).is_some_and(|v| glob(&p.condition_value, v)))
            && c.string_not_like.iter().all(|p| !value(&p.condition_key).is_some_and(|v| glob(&p.condition_value, v)));
        if !all {
            return None;
        }
    }
    if let Some(p) = selection.resources.iter().find(|p| glob(p, arn)) {
        return Some(Match::Resource(p.clone()));
    }
    if let Some(t) = selection
        .list_of_tags
        .iter()
        .find(|t| tags.get(tag_key(&t.condition_key)).copied() == Some(t.condition_value.as_str()))
    {
        return Some(Match::Tag(tag_key(&t.condition_key).to_string(), t.condition_value.clone()));
    }
    let has_conditions = selection.conditions.as_ref().is_some_and(|c| {
        !(c.string_equals.is_empty()
            && c.string_not_equals.is_empty()
            && c.string_like.is_empty()
            && c.string_not_like.is_empty())
    });
    (selection.resources.is_empty() && selection.list_of_tags.is_empty() && has_conditions).then_some(Match::Conditions)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::estate::model::{ConditionParameter, Conditions, TagCondition};

    fn tags<'a>(pairs: &[(&'a str, &'a str)]) -> BTreeMap<&'a str, &'a str> {
        pairs.iter().copied().collect()
    }

    fn cp(k: &str, v: &str) -> ConditionParameter {
        ConditionParameter { condition_key: k.into(), condition_value: v.into() }
    }

    #[test]
    fn globs() {
        assert!(glob("*", "arn:aws:ec2:us-east-1:1:volume/v"));
        assert!(glob("arn:aws:ec2:*:*:volume/*", "arn:aws:ec2:us-east-1:111122223333:volume/vol-1"));
        assert!(!glob("arn:aws:ec2:*:*:volume/*", "arn:aws:ec2:us-east-1:111122223333:instance/i-1"));
        assert!(glob("pro*d", "prod") && glob("pro*d", "pro-d") && !glob("pro*d", "prodx"));
        assert!(glob("a**b", "ab"));
    }

    #[test]
    fn truth_table() {
        let arn = "arn:aws:ec2:us-east-1:111122223333:volume/vol-1";
        let by_arn = BackupSelection { resources: vec!["arn:aws:ec2:*:*:volume/*".into()], ..Default::default() };
        let by_tag = BackupSelection {
            list_of_tags: vec![TagCondition {
                condition_type: Some("STRINGEQUALS".into()),
                condition_key: "backup".into(),
                condition_value: "daily".into(),
            }],
            ..Default::default()
        };
        let cond =
            |c: Conditions| BackupSelection { resources: vec!["*".into()], conditions: Some(c), ..Default::default() };
        let prod = tags(&[("env", "prod"), ("backup", "daily")]);
        let dev = tags(&[("env", "dev")]);
        assert_eq!(matches(&by_arn, arn, &dev), Some(Match::Resource("arn:aws:ec2:*:*:volume/*".into())));
        assert_eq!(matches(&by_tag, arn, &prod), Some(Match::Tag("backup".into(), "daily".into())));
        assert_eq!(matches(&by_tag, arn, &dev), None);
        let mut both = by_arn.clone();
        both.not_resources = vec![arn.into()];
        assert_eq!(matches(&both, arn, &prod), None, "NotResources always excludes");
        let eq = cond(Conditions { string_equals: vec![cp("aws:ResourceTag/env", "prod")], ..Default::default() });
        assert!(matches(&eq, arn, &prod).is_some() && matches(&eq, arn, &dev).is_none());
        let ne = cond(Conditions { string_not_equals: vec![cp("env", "prod")], ..Default::default() });
        assert!(matches(&ne, arn, &prod).is_none() && matches(&ne, arn, &dev).is_some());
        assert!(matches(&ne, arn, &tags(&[])).is_some(), "a missing tag passes StringNotEquals");
        let like = cond(Conditions { string_like: vec![cp("env", "pr*")], ..Default::default() });
        assert!(matches(&like, arn, &prod).is_some() && matches(&like, arn, &tags(&[])).is_none());
        let not_like = cond(Conditions { string_not_like: vec![cp("env", "d*")], ..Default::default() });
        assert!(matches(&not_like, arn, &prod).is_some() && matches(&not_like, arn, &dev).is_none());
        let and =
            cond(Conditions { string_equals: vec![cp("env", "prod"), cp("backup", "weekly")], ..Default::default() });
        assert!(matches(&and, arn, &prod).is_none(), "all conditions must hold");
        let only = BackupSelection {
            conditions: Some(Conditions { string_equals: vec![cp("env", "dev")], ..Default::default() }),
            ..Default::default()
        };
        assert_eq!(matches(&only, arn, &dev), Some(Match::Conditions));
        assert_eq!(matches(&BackupSelection::default(), arn, &dev), None);
    }
}
