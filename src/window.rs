//! Report windows: which stretch of time a job report covers.
//!
//! The clock is an input (`--now`); nothing below `main` reads the system time.

use crate::time::{self, DAY_MS, Millis};

/// How the user asked for the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WindowSpec {
    /// Audit Manager's daily report: `[D-1 00:00Z, D 00:00Z)`, D the UTC date of `now`.
    #[default]
    Daily,
    /// Audit Manager's on-demand report: `[now-24h, now)`.
    Last24h,
    /// Any range `[from, to)`.
    Range { from: Millis, to: Millis },
}

/// A resolved report window `[start, end)`, with the run's `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start: Millis,
    pub end: Millis,
    pub now: Millis,
}

impl WindowSpec {
    /// Resolves the window against the run's clock.
    pub fn resolve(self, now: Millis) -> Window {
        let (start, end) = match self {
            WindowSpec::Daily => {
                let d = time::start_of_utc_day(now);
                (d - DAY_MS, d)
            }
            WindowSpec::Last24h => (now - DAY_MS, now),
            WindowSpec::Range { from, to } => (from, to),
        };
        Window { start, end, now }
    }
}

impl Window {
    /// The report period: `(start, end)`.
    pub fn period(&self) -> (Millis, Millis) {
        (self.start, self.end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::parse_iso;

    #[test]
    fn daily_window_is_the_previous_utc_day() {
        let now = parse_iso("2026-11-24T03:17:00Z").unwrap();
        let w = WindowSpec::Daily.resolve(now);
        assert_eq!(time::format_seconds(w.start), "2026-11-23T00:00:00Z");
        assert_eq!(time::format_seconds(w.end), "2026-11-24T00:00:00Z");
        let w = WindowSpec::Last24h.resolve(now);
        assert_eq!(time::format_seconds(w.start), "2026-11-23T03:17:00Z");
        assert_eq!(w.end, now);
    }
}
