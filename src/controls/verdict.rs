//! Verdicts: the status of one resource, plan, vault or recovery point with its reason, and
//! how the statuses of a control's verdicts make the control's status.

/// A verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Status {
    Compliant,
    NonCompliant,
    NotApplicable,
    InsufficientData,
}

impl Status {
    /// The report spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Compliant => "COMPLIANT",
            Status::NonCompliant => "NON_COMPLIANT",
            Status::NotApplicable => "NOT_APPLICABLE",
            Status::InsufficientData => "INSUFFICIENT_DATA",
        }
    }

    /// The control status of a unit from its verdicts per status (see the module docs).
    pub(crate) fn aggregate(counts: &Counts) -> Status {
        let n = |s: Status| counts[s as usize];
        if n(Status::NonCompliant) > 0 {
            Status::NonCompliant
        } else if n(Status::InsufficientData) > 0 || n(Status::Compliant) == 0 {
            Status::InsufficientData
        } else {
            Status::Compliant
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One evaluated resource, plan, vault or recovery point.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// `<Config type>/<id>`, e.g. `AWS::EFS::FileSystem/fs-63c74e66`.
    pub resource_id: String,
    /// The Config type.
    pub resource_type: &'static str,
    pub status: Status,
    pub reason: String,
}

/// Resources per verdict, indexed by [`Status`] as `usize`.
pub type Counts = [usize; 4];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_status_never_hides_missing_data() {
        use Status::*;
        let of = |verdicts: &[Status]| {
            let mut counts: Counts = [0; 4];
            for &v in verdicts {
                counts[v as usize] += 1;
            }
            Status::aggregate(&counts)
        };
        assert_eq!(of(&[Compliant, Compliant]), Compliant);
        assert_eq!(of(&[Compliant, NonCompliant, InsufficientData]), NonCompliant);
        assert_eq!(of(&[Compliant, InsufficientData]), InsufficientData);
        assert_eq!(of(&[Compliant, NotApplicable]), Compliant);
        assert_eq!(of(&[NotApplicable]), InsufficientData);
        assert_eq!(of(&[]), InsufficientData);
    }
}
