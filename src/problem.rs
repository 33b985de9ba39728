//! What can go wrong, in kinds every stage shares, and the one place exit codes come from.
//!
//! Each stage has its own error type (the snapshot reader's `estate::ReadError`, the
//! collector's `collect::CollectError`, …) whose variants carry their context: the
//! file and JSON path, the report plan, the framework and control. Each of those types says
//! its [`Kind`]; [`exit_code`] turns the kinds of a run into the process exit code. This module
//! sits below every stage and imports none of them.

/// What kind of problem a stage met. The exit code depends on the kind only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// The tool could not finish its own work: a file or object not written, a runtime that
    /// did not start. Exit code 1.
    Failed,
    /// A report, part or manifest was rendered but not delivered. Exit code 1.
    DeliveryFailed,
    /// The input is wrong: an unreadable snapshot, a bad argument, an unknown template,
    /// control or parameter. Exit code 2.
    BadInput,
    /// A report plan cannot run (its template, format or scope is wrong, or it collides with
    /// another). The other plans still run. Exit code 2.
    InvalidPlan,
    /// A control is NON_COMPLIANT. Exit code 3, only when the caller asks for it.
    NonCompliant,
    /// Part of the estate was not collected: the run is partial. Exit code 4.
    NotCollected,
}

impl Kind {
    /// Every kind.
    pub const ALL: [Kind; 6] =
        [Kind::Failed, Kind::DeliveryFailed, Kind::BadInput, Kind::InvalidPlan, Kind::NonCompliant, Kind::NotCollected];

    /// The kind's name in files (a shard's `_DONE.json`).
    pub fn name(self) -> &'static str {
        match self {
            Kind::Failed => "failed",
            Kind::DeliveryFailed => "delivery_failed",
            Kind::BadInput => "bad_input",
            Kind::InvalidPlan => "invalid_plan",
            Kind::NonCompliant => "non_compliant",
            Kind::NotCollected => "not_collected",
        }
    }

    /// The kind named `name`.
    pub fn from_name(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The exit code of this kind alone; 0 for NON_COMPLIANT unless `fail_on_noncompliant`.
    fn code(self, fail_on_noncompliant: bool) -> u8 {
        match self {
            Kind::Failed | Kind::DeliveryFailed => 1,
            Kind::BadInput | Kind::InvalidPlan => 2,
            Kind::NonCompliant if fail_on_noncompliant => 3,
            Kind::NonCompliant => 0,
            Kind::NotCollected => 4,
        }
    }
}

/// The process exit code of a run that met `kinds`: 0 when it met none, else the lowest
/// non-zero code of its kinds (1 failed, 2 bad input, 3 non-compliant with
/// `fail_on_noncompliant`, 4 partial data). The README's "Exit codes" table is this function.
pub fn exit_code(kinds: impl IntoIterator<Item = Kind>, fail_on_noncompliant: bool) -> u8 {
    kinds.into_iter().map(|k| k.code(fail_on_noncompliant)).filter(|&c| c != 0).min().unwrap_or(0)
}

/// Prints an error with its chain of sources: `outer: inner: innermost`.
pub struct DisplayChain<'a>(pub &'a dyn std::error::Error);

impl std::fmt::Display for DisplayChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(s) = source {
            write!(f, ": {s}")?;
            source = s.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lowest_code_wins() {
        assert_eq!(exit_code([], true), 0);
        assert_eq!(exit_code([Kind::NotCollected, Kind::InvalidPlan], false), 2);
        assert_eq!(exit_code([Kind::NotCollected, Kind::NonCompliant], true), 3);
        assert_eq!(exit_code([Kind::NotCollected, Kind::NonCompliant], false), 4);
        assert_eq!(exit_code([Kind::NonCompliant], false), 0);
        assert_eq!(exit_code([Kind::BadInput, Kind::DeliveryFailed], false), 1);
    }
}
