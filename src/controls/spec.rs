//! Control definitions as data (`controls/<NAME>.toml`) and the checking of framework
//! parameters against them.
//!
//! Two phases: [`ControlSpec`] is the file as written; [`ControlSpec::check`] verifies it
//! against the engine (a known control, consistent parameters). [`ControlSpec::parameters`]
//! turns a framework's string parameters into typed [`Params`], or says which one is wrong.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::estate::model::ControlInputParameter;

/// The built-in definitions, embedded so the binary is self-contained.
pub const BUILT_IN: &[(&str, &str)] = &[
    (
        "BACKUP_RESOURCES_PROTECTED_BY_BACKUP_PLAN",
        include_str!("../../controls/BACKUP_RESOURCES_PROTECTED_BY_BACKUP_PLAN.toml"),
    ),
    (
        "BACKUP_PLAN_MIN_FREQUENCY_AND_MIN_RETENTION_CHECK",
        include_str!("../../controls/BACKUP_PLAN_MIN_FREQUENCY_AND_MIN_RETENTION_CHECK.toml"),
    ),
    (
        "BACKUP_RECOVERY_POINT_MANUAL_DELETION_DISABLED",
        include_str!("../../controls/BACKUP_RECOVERY_POINT_MANUAL_DELETION_DISABLED.toml"),
    ),
    ("BACKUP_RECOVERY_POINT_ENCRYPTED", include_str!("../../controls/BACKUP_RECOVERY_POINT_ENCRYPTED.toml")),
    (
        "BACKUP_RECOVERY_POINT_MINIMUM_RETENTION_CHECK",
        include_str!("../../controls/BACKUP_RECOVERY_POINT_MINIMUM_RETENTION_CHECK.toml"),
    ),
    (
        "BACKUP_RESOURCES_PROTECTED_BY_CROSS_REGION",
        include_str!("../../controls/BACKUP_RESOURCES_PROTECTED_BY_CROSS_REGION.toml"),
    ),
    (
        "BACKUP_RESOURCES_PROTECTED_BY_CROSS_ACCOUNT",
        include_str!("../../controls/BACKUP_RESOURCES_PROTECTED_BY_CROSS_ACCOUNT.toml"),
    ),
    (
        "BACKUP_RESOURCES_PROTECTED_BY_BACKUP_VAULT_LOCK",
        include_str!("../../controls/BACKUP_RESOURCES_PROTECTED_BY_BACKUP_VAULT_LOCK.toml"),
    ),
    ("BACKUP_LAST_RECOVERY_POINT_CREATED", include_str!("../../controls/BACKUP_LAST_RECOVERY_POINT_CREATED.toml")),
    (
        "RESTORE_TIME_FOR_RESOURCES_MEET_TARGET",
        include_str!("../../controls/RESTORE_TIME_FOR_RESOURCES_MEET_TARGET.toml"),
    ),
    (
        "RESOURCES_IN_LOGICALLY_AIR_GAPPED_VAULT",
        include_str!("../../controls/RESOURCES_IN_LOGICALLY_AIR_GAPPED_VAULT.toml"),
    ),
];

/// The eleven controls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ControlId {
    ProtectedByBackupPlan,
    PlanFrequencyAndRetention,
    ManualDeletionDisabled,
    RecoveryPointEncrypted,
    RecoveryPointMinimumRetention,
    CrossRegion,
    CrossAccount,
    VaultLock,
    LastRecoveryPointCreated,
    RestoreTime,
    LogicallyAirGapped,
}

impl ControlId {
    /// All controls, in the reference's order.
    pub const ALL: [ControlId; 11] = [
        ControlId::ProtectedByBackupPlan,
        ControlId::PlanFrequencyAndRetention,
        ControlId::ManualDeletionDisabled,
        ControlId::RecoveryPointEncrypted,
        ControlId::RecoveryPointMinimumRetention,
        ControlId::CrossRegion,
        ControlId::CrossAccount,
        ControlId::VaultLock,
        ControlId::LastRecoveryPointCreated,
        ControlId::RestoreTime,
        ControlId::LogicallyAirGapped,
    ];

    /// The `ControlName` string of the API.
    pub fn name(self) -> &'static str {
        match self {
            ControlId::ProtectedByBackupPlan => "BACKUP_RESOURCES_PROTECTED_BY_BACKUP_PLAN",
            ControlId::PlanFrequencyAndRetention => "BACKUP_PLAN_MIN_FREQUENCY_AND_MIN_RETENTION_CHECK",
            ControlId::ManualDeletionDisabled => "BACKUP_RECOVERY_POINT_MANUAL_DELETION_DISABLED",
            ControlId::RecoveryPointEncrypted => "BACKUP_RECOVERY_POINT_ENCRYPTED",
            ControlId::RecoveryPointMinimumRetention => "BACKUP_RECOVERY_POINT_MINIMUM_RETENTION_CHECK",
            ControlId::CrossRegion => "BACKUP_RESOURCES_PROTECTED_BY_CROSS_REGION",
            ControlId::CrossAccount => "BACKUP_RESOURCES_PROTECTED_BY_CROSS_ACCOUNT",
            ControlId::VaultLock => "BACKUP_RESOURCES_PROTECTED_BY_BACKUP_VAULT_LOCK",
            ControlId::LastRecoveryPointCreated => "BACKUP_LAST_RECOVERY_POINT_CREATED",
            ControlId::RestoreTime => "RESTORE_TIME_FOR_RESOURCES_MEET_TARGET",
            ControlId::LogicallyAirGapped => "RESOURCES_IN_LOGICALLY_AIR_GAPPED_VAULT",
        }
    }

    /// Whether the control reads `dataset` as evidence that the collector may leave out. Only
    /// the restore-time and last-recovery-point controls read `describe-protected-resource`
    /// (restore times; `LastBackupTime`), which the collector leaves out where no framework has
    /// either.
    pub fn needs(self, dataset: crate::layout::Dataset) -> bool {
        matches!(
            (self, dataset),
            (
                ControlId::RestoreTime | ControlId::LastRecoveryPointCreated,
                crate::layout::Dataset::ProtectedResourceDetails
            )
        )
    }

    /// The control of a `ControlName`.
    pub fn from_name(name: &str) -> Option<ControlId> {
        ControlId::ALL.into_iter().find(|c| c.name() == name)
    }
}

/// Errors of control definitions.
#[derive(Debug, thiserror::Error)]
pub enum ControlSpecError {
    #[error("control definition `{file}`: {message}")]
    Parse { file: String, message: String },
    #[error("control definition `{file}`, parameter `{parameter}`: {message}")]
    Parameter { file: String, parameter: String, message: String },
    #[error("cannot read `{path}`")]
    Io {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl ControlSpecError {
    /// A control definition that does not parse or check is bad input.
    pub fn kind(&self) -> crate::problem::Kind {
        crate::problem::Kind::BadInput
    }
}

/// What a control evaluates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Evaluates {
    /// Protected resources (EC2 instances, volumes, tables, …).
    Resource,
    /// Backup plans.
    Plan,
    /// Backup vaults.
    Vault,
    /// Recovery points.
    RecoveryPoint,
}

/// The kind of a parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ParamKind {
    /// A whole number.
    Int,
    /// One of `values`.
    Enum,
    /// A comma-separated list.
    List,
}

/// A parameter definition.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParamSpec {
    pub name: String,
    pub kind: ParamKind,
    pub description: String,
    /// The value used when the framework does not set the parameter.
    pub default: Option<String>,
    /// Whether the framework must set it.
    #[serde(default)]
    pub required: bool,
    /// Allowed values of an enum.
    #[serde(default)]
    pub values: Vec<String>,
    pub min: Option<i64>,
    pub max: Option<i64>,
    /// Most items of a list.
    pub max_items: Option<usize>,
    /// The enum parameter whose value (`hours`/`days`) picks the range below.
    pub unit: Option<String>,
    pub hours: Option<[i64; 2]>,
    pub days: Option<[i64; 2]>,
}

/// A control definition file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControlSpec {
    pub name: String,
    pub title: String,
    pub description: String,
    pub evaluates: Evaluates,
    /// `controlFrequency` of the control report (`TwentyFour_Hours`, or empty for controls
    /// that AWS runs on configuration changes).
    pub frequency: String,
    /// Scope kinds AWS allows: `types`, `tags`, `single`.
    pub scope_kinds: Vec<String>,
    pub remediation: String,
    #[serde(default)]
    pub decisions: Vec<String>,
    #[serde(default)]
    pub parameters: Vec<ParamSpec>,
}

/// A typed parameter value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParamValue {
    Int(i64),
    Text(String),
    List(Vec<String>),
}

/// A control's parameters after checking: every defined parameter with a value or default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params(pub BTreeMap<String, ParamValue>);

impl Params {
    /// An integer parameter, if set.
    pub fn int(&self, name: &str) -> Option<i64> {
        match self.0.get(name) {
            Some(ParamValue::Int(v)) => Some(*v),
            _ => None,
        }
    }
    /// A text parameter, if set.
    pub fn text(&self, name: &str) -> Option<&str> {
        match self.0.get(name) {
            Some(ParamValue::Text(v)) => Some(v),
            _ => None,
        }
    }
    /// A list parameter; empty when not set.
    pub fn list(&self, name: &str) -> &[String] {
        match self.0.get(name) {
            Some(ParamValue::List(v)) => v,
            _ => &[],
        }
    }
}

impl ControlSpec {
    /// Parses a definition; `file` names it in errors.
    pub fn parse(file: &str, text: &str) -> Result<ControlSpec, ControlSpecError> {
        let spec: ControlSpec =
            toml::from_str(text).map_err(|e| ControlSpecError::Parse { file: file.into(), message: e.to_string() })?;
        spec.check(file)?;
        Ok(spec)
    }

    /// Checks the definition against itself and the engine.
    pub fn check(&self, file: &str) -> Result<(), ControlSpecError> {
        let perr =
            |p: &str, m: String| ControlSpecError::Parameter { file: file.into(), parameter: p.into(), message: m };
        if ControlId::from_name(&self.name).is_none() {
            return Err(ControlSpecError::Parse {
                file: file.into(),
                message: format!("`{}` is not a control the engine implements", self.name),
            });
        }
        for k in &self.scope_kinds {
            if !matches!(k.as_str(), "types" | "tags" | "single") {
                return Err(ControlSpecError::Parse {
                    file: file.into(),
                    message: format!("unknown scope kind `{k}`; expected types, tags or single"),
                });
            }
        }
        for p in &self.parameters {
            if p.kind == ParamKind::Enum && p.values.is_empty() {
                return Err(perr(&p.name, "an enum needs `values`".into()));
            }
            if let Some(unit) = &p.unit {
                let u = self
                    .parameters
                    .iter()
                    .find(|q| &q.name == unit)
                    .ok_or_else(|| perr(&p.name, format!("unit parameter `{unit}` is not defined")))?;
                if p.hours.is_none() || p.days.is_none() || u.kind != ParamKind::Enum {
                    return Err(perr(&p.name, "a unit-dependent range needs `hours`, `days` and an enum unit".into()));
                }
            }
        }
        // The defaults must pass their own checks (a required parameter has none to check).
        match self.parameters(&[]) {
            Err(e) if !e.ends_with("is required") => {
                Err(ControlSpecError::Parse { file: file.into(), message: format!("defaults do not check: {e}") })
            }
            _ => Ok(()),
        }
    }

    /// Checks framework parameters (strings) and fills in defaults. Errors name the parameter
    /// and say what was expected; the caller adds framework and control.
    pub fn parameters(&self, given: &[ControlInputParameter]) -> Result<Params, String> {
        for g in given {
            if !self.parameters.iter().any(|p| p.name == g.parameter_name) {
                let known: Vec<&str> = self.parameters.iter().map(|p| p.name.as_str()).collect();
                return Err(format!(
                    "parameter `{}` is unknown; expected {}",
                    g.parameter_name,
                    if known.is_empty() { "none".to_string() } else { known.join(", ") }
                ));
            }
        }
        let raw =
            |name: &str| given.iter().find(|g| g.parameter_name == name).map(|g| g.parameter_value.trim().to_string());
        let mut out = BTreeMap::new();
        // Enums first: unit-dependent ranges need them.
        let mut order: Vec<&ParamSpec> = self.parameters.iter().collect();
        order.sort_by_key(|p| p.kind != ParamKind::Enum);
        for p in order {
            let value = match raw(&p.name).filter(|v| !v.is_empty()).or_else(|| p.default.clone()) {
                Some(v) => v,
                None if p.required => return Err(format!("parameter `{}` is required", p.name)),
                None => continue,
            };
            let bad = |what: String| format!("parameter `{}`: `{value}` {what}", p.name);
            let typed = match p.kind {
                ParamKind::Enum => {
                    let v = value.to_ascii_lowercase();
                    if !p.values.contains(&v) {
                        return Err(bad(format!("is not one of {}", p.values.join(", "))));
                    }
                    ParamValue::Text(v)
                }
                ParamKind::Int => {
                    let n: i64 = value.parse().map_err(|_| bad("is not a whole number".into()))?;
                    let range = match (&p.unit, p.hours, p.days) {
                        (Some(unit), Some(h), Some(d)) => match out.get(unit) {
                            Some(ParamValue::Text(u)) if u == "hours" => Some((h[0], h[1], " hours")),
                            _ => Some((d[0], d[1], " days")),
                        },
                        _ => match (p.min, p.max) {
                            (None, None) => None,
                            (lo, hi) => Some((lo.unwrap_or(i64::MIN), hi.unwrap_or(i64::MAX), "")),
                        },
                    };
                    if let Some((lo, hi, unit)) = range
                        && (n < lo || n > hi)
                    {
                        return Err(bad(format!("is outside {lo}-{hi}{unit}")));
                    }
                    ParamValue::Int(n)
                }
                ParamKind::List => {
                    let items: Vec<String> =
                        value.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect();
                    if let Some(max) = p.max_items
                        && items.len() > max
                    {
                        return Err(bad(format!("has {} items; at most {max} are allowed", items.len())));
                    }
                    ParamValue::List(items)
                }
            };
            out.insert(p.name.clone(), typed);
        }
        Ok(Params(out))
    }
}

/// The built-in definitions, parsed and checked.
pub fn built_in() -> Result<Vec<ControlSpec>, ControlSpecError> {
    BUILT_IN.iter().map(|(name, text)| ControlSpec::parse(&format!("controls/{name}.toml"), text)).collect()
}

/// Reads and checks every `*.toml` definition in `dir` (truth tables `*.tests.toml` are
/// parsed by their own test, not here).
pub fn read_dir(dir: &Path) -> Result<Vec<ControlSpec>, ControlSpecError> {
    let io = |source| ControlSpecError::Io { path: dir.to_path_buf(), source };
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .map_err(io)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "toml") && !p.to_string_lossy().ends_with(".tests.toml"))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| {
            let text = std::fs::read_to_string(p).map_err(|source| ControlSpecError::Io { path: p.clone(), source })?;
            ControlSpec::parse(&p.display().to_string(), &text)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(name: &str, value: &str) -> ControlInputParameter {
        ControlInputParameter { parameter_name: name.into(), parameter_value: value.into() }
    }

    fn spec(name: &str) -> ControlSpec {
        built_in().unwrap().into_iter().find(|s| s.name == name).unwrap()
    }

    #[test]
    fn all_eleven_built_ins_check() {
        assert_eq!(built_in().unwrap().len(), 11);
    }

    #[test]
    fn parameters_are_typed_defaulted_and_range_checked() {
        let s = spec("BACKUP_LAST_RECOVERY_POINT_CREATED");
        let d = s.parameters(&[]).unwrap();
        assert_eq!((d.text("recoveryPointAgeUnit"), d.int("recoveryPointAgeValue")), (Some("days"), Some(1)));
        let h = s.parameters(&[p("recoveryPointAgeUnit", "hours"), p("recoveryPointAgeValue", " 744 ")]).unwrap();
        assert_eq!(h.int("recoveryPointAgeValue"), Some(744));
        assert_eq!(
            s.parameters(&[p("recoveryPointAgeValue", "32")]).unwrap_err(),
            "parameter `recoveryPointAgeValue`: `32` is outside 1-31 days"
        );
        assert_eq!(
            s.parameters(&[p("recoveryPointAgeUnit", "weeks")]).unwrap_err(),
            "parameter `recoveryPointAgeUnit`: `weeks` is not one of hours, days"
        );
        assert_eq!(
            s.parameters(&[p("recoveryPointAgeValue", "1.5")]).unwrap_err(),
            "parameter `recoveryPointAgeValue`: `1.5` is not a whole number"
        );
        assert_eq!(
            s.parameters(&[p("maxAge", "1")]).unwrap_err(),
            "parameter `maxAge` is unknown; expected recoveryPointAgeUnit, recoveryPointAgeValue"
        );
        let list = spec("BACKUP_RECOVERY_POINT_MANUAL_DELETION_DISABLED")
            .parameters(&[p("principalArnList", "arn:aws:iam::1:role/a,\n arn:aws:iam::1:role/b")])
            .unwrap();
        assert_eq!(list.list("principalArnList"), ["arn:aws:iam::1:role/a", "arn:aws:iam::1:role/b"]);
        assert_eq!(
            spec("RESTORE_TIME_FOR_RESOURCES_MEET_TARGET").parameters(&[]).unwrap_err(),
            "parameter `maxRestoreTime` is required"
        );
    }
}
