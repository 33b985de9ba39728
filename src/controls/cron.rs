//! AWS cron and rate schedules, and how often they run.
//!
//! Dialect: six fields `min hour day-of-month month day-of-week year`; `*`, `,`, `-`, `/`;
//! `?` in one of the two day fields (exactly one must be `?`); `L` and `W` in day-of-month
//! (`L`, `L-3`, `15W`, `LW`); `L` and `#` in day-of-week (`6L` last Friday, `2#1` first Monday);
//! day-of-week 1–7 is SUN–SAT (not Unix 0–6); month and day names (`JAN`, `MON-FRI`).
//! `rate(N minutes|hours|days)` is accepted too.
//!
//! The frequency of a schedule is the **longest gap between consecutive runs over a whole
//! year, in the schedule's own wall-clock time** (decision: reference 6.4 leaves it open). So
//! a daily 01:00 `America/New_York` rule is daily across DST changes, and
//! `cron(0 5 1,15 * ? *)` is at most 17 days apart (the 15th to the 1st of a 31-day month).
//! The gap from the year's last run to the next year's first run counts.
//!
//! Why this module and not a cron crate (decision, December 2026): `croner` 2.1, the most
//! complete Rust cron crate, was run against this dialect. Its six-field form reads the first
//! field as seconds, so AWS's `0 12 * * ? *` became "minute 12 of every hour"; it has no year
//! field (`0/15 * * * ? 2027` is refused); and it follows Vixie cron at a DST gap (a 02:30
//! `America/New_York` run on 2026-03-08 moves to 03:00), where EventBridge Scheduler skips the
//! run, which the truth tables below encode. With the year stripped and Quartz weekdays it
//! agrees on `L`, `W` and `#`, but the year field and the DST rule would still need code of
//! our own around it, so the parser stays here.

use chrono::offset::LocalResult;
use chrono::{Datelike, NaiveDate, NaiveDateTime, Offset, TimeZone};
use chrono_tz::Tz;

/// A parse error, said plainly.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CronError(String);

fn err(msg: impl Into<String>) -> CronError {
    CronError(msg.into())
}

/// The day-of-month field.
#[derive(Debug, Clone)]
enum DayOfMonth {
    Any,
    Days(Vec<bool>),
    /// `L` or `L-n`: n days before the last day.
    Last(u32),
    /// `15W`: the weekday nearest to day 15, within the month.
    NearestWeekday(u32),
    /// `LW`: the last weekday of the month.
    LastWeekday,
}

/// The day-of-week field (1 = Sunday … 7 = Saturday).
#[derive(Debug, Clone)]
enum DayOfWeek {
    Any,
    Days(Vec<bool>),
    /// `6L`: the last such weekday of the month.
    Last(u32),
    /// `2#1`: the nth such weekday of the month.
    Nth(u32, u32),
}

/// A parsed schedule.
#[derive(Debug, Clone)]
pub enum Schedule {
    Cron(Box<Cron>),
    /// `rate(...)`, in minutes.
    Rate(i64),
}

/// A parsed cron expression.
#[derive(Debug, Clone)]
pub struct Cron {
    minutes: Vec<bool>,
    hours: Vec<bool>,
    dom: DayOfMonth,
    months: Vec<bool>,
    dow: DayOfWeek,
    years: Option<Vec<bool>>,
}

/// Decision (AWS documents no upper bound for `rate(...)`): at most 100 years. Anything
/// longer never runs twice within the years AWS cron allows (1970-2199) in any useful sense,
/// and it keeps every later sum far from overflow.
const MAX_RATE_MINUTES: i64 = 100 * 36_525 * 1440;
/// The last year AWS cron expressions accept.
const LAST_YEAR: i32 = 2199;

const MONTHS: [&str; 12] = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"];
const DAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

fn value(s: &str, names: &[&str], offset: u32, field: &str) -> Result<u32, CronError> {
    if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(s)) {
        return Ok(i as u32 + offset);
    }
    s.parse::<u32>().map_err(|_| err(format!("`{s}` is not a valid {field} value")))
}

/// Parses a list field (`*`, `a`, `a-b`, `a/n`, `a-b/n`, comma-joined) into a bitmap.
fn set(field: &str, name: &str, lo: u32, hi: u32, names: &[&str], offset: u32) -> Result<Vec<bool>, CronError> {
    let mut bits = vec![false; hi as usize + 1];
    for part in field.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => (
                r,
                s.parse::<u32>()
                    .ok()
                    .filter(|s| *s > 0)
                    .ok_or_else(|| err(format!("`{part}` has an invalid step in the {name} field")))?,
            ),
            None => (part, 1),
        };
        // AWS accepts steps within the field's range; a larger step (`12/4294967295`) is
        // an error rather than a wrap-around.
        if step > hi - lo + 1 {
            return Err(err(format!("`{part}` has step {step}, larger than the {name} field's range {lo}-{hi}")));
        }
        let (a, b) = if range == "*" {
            (lo, hi)
        } else if let Some((a, b)) = range.split_once('-') {
            (value(a, names, offset, name)?, value(b, names, offset, name)?)
        } else {
            let a = value(range, names, offset, name)?;
            (a, if part.contains('/') { hi } else { a })
        };
        if a < lo || b > hi || a > b {
            return Err(err(format!("`{part}` is outside {lo}-{hi} in the {name} field")));
        }
        for v in (a..=b).step_by(step as usize) {
            bits[v as usize] = true;
        }
    }
    Ok(bits)
}

impl Schedule {
    /// Parses `cron(...)` or `rate(...)`.
    pub fn parse(expr: &str) -> Result<Schedule, CronError> {
        let e = expr.trim();
        if let Some(body) = e.strip_prefix("rate(").and_then(|s| s.strip_suffix(')')) {
            let mut it = body.split_whitespace();
            let n: i64 = it
                .next()
                .and_then(|n| n.parse().ok())
                .filter(|n| *n > 0)
                .ok_or_else(|| err(format!("`{expr}` needs a positive number")))?;
            let unit = it.next().unwrap_or_default();
            let per = match unit.trim_end_matches('s') {
                "minute" => 1,
                "hour" => 60,
                "day" => 1440,
                _ => return Err(err(format!("`{expr}` has unit `{unit}`; expected minutes, hours or days"))),
            };
            return match n.checked_mul(per).filter(|m| *m <= MAX_RATE_MINUTES) {
                Some(minutes) => Ok(Schedule::Rate(minutes)),
                None => Err(err(format!("`{expr}` is longer than 100 years, the longest rate backup-audit accepts"))),
            };
        }
        let body = e
            .strip_prefix("cron(")
            .and_then(|s| s.strip_suffix(')'))
            .ok_or_else(|| err(format!("`{expr}` is neither cron(...) nor rate(...)")))?;
        let f: Vec<&str> = body.split_whitespace().collect();
        if f.len() != 6 {
            return Err(err(format!(
                "`{expr}` has {} fields; AWS cron has six: minute hour day-of-month month day-of-week year",
                f.len()
            )));
        }
        let (dom_q, dow_q) = (f[2] == "?", f[4] == "?");
        if dom_q == dow_q {
            return Err(err(format!("`{expr}`: exactly one of day-of-month and day-of-week must be `?`")));
        }
        let dom = if dom_q || f[2] == "*" {
            DayOfMonth::Any
        } else if f[2] == "LW" {
            DayOfMonth::LastWeekday
        } else if let Some(rest) = f[2].strip_prefix('L') {
            let back = if rest.is_empty() {
                0
            } else {
                rest.strip_prefix('-')
                    .and_then(|n| n.parse().ok())
                    .ok_or_else(|| err(format!("`{}` is not a valid day-of-month", f[2])))?
            };
            DayOfMonth::Last(back)
        } else if let Some(day) = f[2].strip_suffix('W') {
            let d: u32 = day
                .parse()
                .ok()
                .filter(|d| (1..=31).contains(d))
                .ok_or_else(|| err(format!("`{}` is not a valid day-of-month", f[2])))?;
            DayOfMonth::NearestWeekday(d)
        } else {
            DayOfMonth::Days(set(f[2], "day-of-month", 1, 31, &[], 0)?)
        };
        let dow = if dow_q || f[4] == "*" {
            DayOfWeek::Any
        } else if let Some((d, n)) = f[4].split_once('#') {
            let d = value(d, &DAYS, 1, "day-of-week")?;
            let n: u32 = n
                .parse()
                .ok()
                .filter(|n| (1..=5).contains(n))
                .ok_or_else(|| err(format!("`{}`: the week number after # must be 1-5", f[4])))?;
            if !(1..=7).contains(&d) {
                return Err(err(format!("`{}` is outside 1-7 (SUN-SAT) in the day-of-week field", f[4])));
            }
            DayOfWeek::Nth(d, n)
        } else if let Some(d) = f[4].strip_suffix('L').filter(|d| !d.is_empty()) {
            let d = value(d, &DAYS, 1, "day-of-week")?;
            if !(1..=7).contains(&d) {
                return Err(err(format!("`{}` is outside 1-7 (SUN-SAT) in the day-of-week field", f[4])));
            }
            DayOfWeek::Last(d)
        } else if f[4] == "L" {
            DayOfWeek::Days((0..=7).map(|d| d == 7).collect())
        } else {
            DayOfWeek::Days(set(f[4], "day-of-week", 1, 7, &DAYS, 1)?)
        };
        let years = if f[5] == "*" { None } else { Some(set(f[5], "year", 1970, 2199, &[], 0)?) };
        Ok(Schedule::Cron(Box::new(Cron {
            minutes: set(f[0], "minute", 0, 59, &[], 0)?,
            hours: set(f[1], "hour", 0, 23, &[], 0)?,
            dom,
            months: set(f[3], "month", 1, 12, &MONTHS, 1)?,
            dow,
            years,
        })))
    }

    /// How often the schedule runs over `year` in time zone `tz` (and into the next run after
    /// the year, however many years later). `None` when it never runs in that year.
    pub fn frequency(&self, year: i32, tz: Tz) -> Option<Frequency> {
        match self {
            Schedule::Rate(m) => Some(Frequency { longest_gap: Some(*m), skipped: Vec::new() }),
            Schedule::Cron(c) => c.frequency(year, tz),
        }
    }
}

/// How often a schedule runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frequency {
    /// The longest gap between consecutive runs, in wall-clock minutes; `None` when the year's
    /// last run is the schedule's last one (no later run up to 2199).
    pub longest_gap: Option<i64>,
    /// Runs that do not happen because their local time does not exist (the hour skipped when
    /// daylight saving time starts), as local date and time.
    pub skipped: Vec<NaiveDateTime>,
}

fn last_day(year: i32, month: u32) -> u32 {
    let next =
        if month == 12 { NaiveDate::from_ymd_opt(year + 1, 1, 1) } else { NaiveDate::from_ymd_opt(year, month + 1, 1) };
    next.and_then(|d| d.pred_opt()).map_or(28, |d| d.day())
}

fn is_weekday(d: NaiveDate) -> bool {
    d.weekday().number_from_monday() <= 5
}

impl Cron {
    fn day_matches(&self, d: NaiveDate) -> bool {
        if !self.months[d.month() as usize] {
            return false;
        }
        if let Some(years) = &self.years
            && (!(1970..=2199).contains(&d.year()) || !years[d.year() as usize])
        {
            return false;
        }
        let last = last_day(d.year(), d.month());
        let dom_ok = match &self.dom {
            DayOfMonth::Any => true,
            DayOfMonth::Days(bits) => bits[d.day() as usize],
            DayOfMonth::Last(back) => last.checked_sub(*back) == Some(d.day()),
            DayOfMonth::NearestWeekday(target) => {
                let t = (*target).min(last);
                let base = d.with_day(t).unwrap_or(d);
                let nearest = match base.weekday().number_from_monday() {
                    6 if t == 1 => base + chrono::Days::new(2),
                    6 => base - chrono::Days::new(1),
                    7 if t == last => base - chrono::Days::new(2),
                    7 => base + chrono::Days::new(1),
                    _ => base,
                };
                nearest == d
            }
            DayOfMonth::LastWeekday => {
                let mut x = d.with_day(last).unwrap_or(d);
                while !is_weekday(x) {
                    x = x.pred_opt().unwrap_or(x);
                }
                x == d
            }
        };
        // AWS weekday numbers: 1 = Sunday.
        let aws_dow = d.weekday().num_days_from_sunday() + 1;
        let dow_ok = match &self.dow {
            DayOfWeek::Any => true,
            DayOfWeek::Days(bits) => bits[aws_dow as usize],
            DayOfWeek::Last(w) => *w == aws_dow && d.day() + 7 > last,
            DayOfWeek::Nth(w, n) => *w == aws_dow && (d.day() - 1) / 7 + 1 == *n,
        };
        dom_ok && dow_ok
    }

    /// Decision (DST gaps): EventBridge Scheduler documents that "when the time shifts
    /// forward in Spring, your schedule invocation gets skipped if the cron expression falls on
    /// a non-existent date and time". A run whose local time does not exist in `tz` therefore
    /// does not count: the gap across it grows (a daily 02:30 `America/New_York` rule has a
    /// 48-hour gap on the day clocks go forward) and the run is listed in `skipped`. A repeated
    /// local hour (clocks going back) runs once, as AWS says, and changes no wall-clock gap.
    fn frequency(&self, year: i32, tz: Tz) -> Option<Frequency> {
        let times: Vec<(u32, u32)> = self
            .hours
            .iter()
            .enumerate()
            .filter(|(_, b)| **b)
            .flat_map(|(h, _)| {
                self.minutes.iter().enumerate().filter(|(_, b)| **b).map(move |(m, _)| (h as u32, m as u32))
            })
            .collect();
        let start = NaiveDate::from_ymd_opt(year, 1, 1)?;
        let last = NaiveDate::from_ymd_opt(LAST_YEAR, 12, 31)?;
        let mut first: Option<i64> = None;
        let mut prev: Option<i64> = None;
        let mut longest = 0i64;
        let mut skipped = Vec::new();
        let mut day = start;
        // Walk the year, then on until the next run, however many years later it is (a
        // schedule limited to some years may run again only in 2028); years the expression
        // excludes are skipped whole.
        while day <= last {
            if day.year() > year && self.years.as_ref().is_some_and(|y| !y[day.year() as usize]) {
                day = NaiveDate::from_ymd_opt(day.year() + 1, 1, 1)?;
                continue;
            }
            if self.day_matches(day) {
                let gap_day = has_dst_gap(day, tz);
                let day_index = (day - start).num_days();
                for &(h, m) in &times {
                    let local = day.and_hms_opt(h, m, 0)?;
                    if gap_day && tz.from_local_datetime(&local) == LocalResult::None {
                        skipped.push(local);
                        continue;
                    }
                    let t = day_index * 1440 + i64::from(h) * 60 + i64::from(m);
                    if let Some(p) = prev {
                        longest = longest.max(t - p);
                    }
                    if day.year() == year {
                        first.get_or_insert(t);
                        prev = Some(t);
                    } else {
                        // The first run after the year closes the last gap.
                        return first.map(|_| Frequency { longest_gap: Some(longest), skipped });
                    }
                }
            }
            if day.year() > year && first.is_none() {
                return None;
            }
            day = day.succ_opt()?;
        }
        // No run after the year up to 2199: the schedule stops.
        first.map(|_| Frequency { longest_gap: None, skipped })
    }
}

/// Whether some local time of `day` does not exist in `tz` (clocks go forward that day).
fn has_dst_gap(day: NaiveDate, tz: Tz) -> bool {
    let offset_at = |d: NaiveDate| {
        tz.from_local_datetime(&d.and_hms_opt(0, 0, 0)?).earliest().map(|t| t.offset().fix().local_minus_utc())
    };
    match (offset_at(day), day.succ_opt().and_then(offset_at)) {
        (Some(a), Some(b)) => b > a,
        // Midnight itself is skipped (zones that change at 00:00).
        _ => true,
    }
}

/// Minutes in words: `90 minutes`, `1 hour`, `24 hours`, `17 days`.
pub fn human_minutes(m: i64) -> String {
    let plural = |n: i64, unit: &str| if n == 1 { format!("1 {unit}") } else { format!("{n} {unit}s") };
    if m % 1440 == 0 && m >= 2880 {
        plural(m / 1440, "day")
    } else if m % 60 == 0 {
        plural(m / 60, "hour")
    } else {
        plural(m, "minute")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gap(e: &str) -> i64 {
        Schedule::parse(e).unwrap().frequency(2025, Tz::UTC).unwrap().longest_gap.unwrap()
    }

    #[test]
    fn common_schedules() {
        assert_eq!(gap("cron(0 5 ? * * *)"), 1440);
        assert_eq!(gap("cron(0 * * * ? *)"), 60);
        assert_eq!(gap("cron(0 5 1,15 * ? *)"), 17 * 1440, "15th to the 1st of a 31-day month");
        assert_eq!(gap("cron(0 3 ? * 1 *)"), 7 * 1440, "Sundays");
        assert_eq!(gap("cron(0 3 ? * MON-FRI *)"), 3 * 1440, "Friday to Monday");
        assert_eq!(gap("cron(0/15 8-17 ? * * *)"), 14 * 60 + 15);
        assert_eq!(gap("cron(0 0 L * ? *)"), 31 * 1440);
        assert_eq!(gap("cron(0 0 ? * 6L *)"), 35 * 1440, "last Friday of each month");
        assert_eq!(gap("cron(0 0 ? * 2#1 *)"), 35 * 1440, "first Monday");
        assert_eq!(gap("rate(12 hours)"), 720);
        assert_eq!(gap("cron(0 0 1 1 ? *)"), 365 * 1440);
    }

    #[test]
    fn weekday_nearest_and_last_weekday() {
        // 2025-03-15 is a Saturday: 15W runs on Friday the 14th.
        let c = match Schedule::parse("cron(0 0 15W * ? *)").unwrap() {
            Schedule::Cron(c) => c,
            _ => unreachable!(),
        };
        assert!(c.day_matches(NaiveDate::from_ymd_opt(2025, 3, 14).unwrap()));
        assert!(!c.day_matches(NaiveDate::from_ymd_opt(2025, 3, 15).unwrap()));
        let lw = match Schedule::parse("cron(0 0 LW * ? *)").unwrap() {
            Schedule::Cron(c) => c,
            _ => unreachable!(),
        };
        // 2025-05-31 is a Saturday: the last weekday is Friday the 30th.
        assert!(lw.day_matches(NaiveDate::from_ymd_opt(2025, 5, 30).unwrap()));
    }

    #[test]
    fn schedules_limited_to_past_years_never_run() {
        let f = |e: &str, year| Schedule::parse(e).unwrap().frequency(year, Tz::UTC);
        assert_eq!(f("cron(0 5 ? * * 2020)", 2025), None);
        assert_eq!(f("cron(0 5 ? * * 2025)", 2025).unwrap().longest_gap, None, "the last run is in 2025");
        // The next run is two years later: the search goes on past the following year.
        let later = f("cron(0 5 ? * * 2026,2028)", 2026).unwrap().longest_gap.unwrap();
        assert_eq!(later, 366 * 1440, "2026-12-31 to 2028-01-01: all of 2027 and one day");
        assert_eq!(f("cron(0 5 1 1 ? 2199)", 2199).unwrap().longest_gap, None);
    }

    #[test]
    fn steps_rates_and_years_beyond_aws_are_errors_not_overflows() {
        let e = |s: &str| Schedule::parse(s).unwrap_err().to_string();
        assert_eq!(
            e("cron(0 12/4294967295 * * ? *)"),
            "`12/4294967295` has step 4294967295, larger than the hour field's range 0-23"
        );
        assert_eq!(e("cron(0 12/25 * * ? *)"), "`12/25` has step 25, larger than the hour field's range 0-23");
        assert_eq!(
            e("rate(9999999999999999 days)"),
            "`rate(9999999999999999 days)` is longer than 100 years, the longest rate backup-audit accepts"
        );
        assert_eq!(e("cron(0 5 ? * * 2200)"), "`2200` is outside 1970-2199 in the year field");
        assert_eq!(gap("cron(0 0/23 * * ? *)"), 23 * 60, "00:00 and 23:00");
        assert_eq!(gap("rate(36525 days)"), 36_525 * 1440);
    }

    #[test]
    fn a_run_in_the_spring_forward_gap_is_skipped_as_eventbridge_scheduler_does() {
        let ny: Tz = "America/New_York".parse().unwrap();
        let daily = Schedule::parse("cron(30 2 ? * * *)").unwrap();
        let f = daily.frequency(2024, ny).unwrap();
        assert_eq!(f.longest_gap, Some(2 * 1440), "no 02:30 on 2024-03-10");
        assert_eq!(f.skipped, [NaiveDate::from_ymd_opt(2024, 3, 10).unwrap().and_hms_opt(2, 30, 0).unwrap()]);
        // 01:30 exists every day (and twice in November): daily all year.
        let f = Schedule::parse("cron(30 1 ? * * *)").unwrap().frequency(2024, ny).unwrap();
        assert_eq!((f.longest_gap, f.skipped.len()), (Some(1440), 0));
        // In UTC nothing is skipped.
        assert_eq!(daily.frequency(2024, Tz::UTC).unwrap().skipped.len(), 0);
    }

    #[test]
    fn parse_errors_say_what_is_wrong() {
        let e = |s: &str| Schedule::parse(s).unwrap_err().to_string();
        assert_eq!(
            e("cron(0 5 * * *)"),
            "`cron(0 5 * * *)` has 5 fields; AWS cron has six: minute hour day-of-month month day-of-week year"
        );
        assert_eq!(
            e("cron(0 5 * * * *)"),
            "`cron(0 5 * * * *)`: exactly one of day-of-month and day-of-week must be `?`"
        );
        assert_eq!(e("cron(0 25 ? * * *)"), "`25` is outside 0-23 in the hour field");
        assert_eq!(e("cron(0 5 ? * 0 *)"), "`0` is outside 1-7 in the day-of-week field");
        assert_eq!(e("every day"), "`every day` is neither cron(...) nor rate(...)");
    }
}
