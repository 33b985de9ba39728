//! Timestamps as the AWS APIs write them and as the reports print them.
//!
//! Every instant inside backup-audit is an `i64` count of milliseconds since the Unix epoch,
//! UTC. The estate snapshot may carry either ISO-8601 strings (AWS CLI output, any offset) or
//! epoch seconds as JSON numbers (the wire format); both parse here. Reports print
//! `2021-07-14T23:53:47.229Z` (milliseconds, always `Z`), key names print whole seconds.

use chrono::{DateTime, NaiveDate};

/// Milliseconds since the Unix epoch, UTC.
pub type Millis = i64;

/// Parses an ISO-8601 / RFC 3339 timestamp (`2024-03-01T02:03:04Z`, `…04.123456+00:00`,
/// `…04+0200`, `2024-03-01 02:03:04` read as UTC, or a bare date `2024-03-01`) into epoch
/// milliseconds, with chrono. Offsets beyond ±18:00 are refused.
pub fn parse_iso(s: &str) -> Option<Millis> {
    // chrono's RFC 3339 reader wants `T`; ISO 8601 and the AWS CLI also write `t` or a space.
    let owned;
    let s = match s.as_bytes().get(10) {
        Some(b' ' | b't') if s.is_char_boundary(10) && s.is_char_boundary(11) => {
            owned = format!("{}T{}", &s[..10], &s[11..]);
            owned.as_str()
        }
        _ => s,
    };
    let in_range = |d: &DateTime<chrono::FixedOffset>| d.offset().local_minus_utc().abs() <= MAX_OFFSET;
    if let Some(d) = DateTime::parse_from_rfc3339(s)
        .or_else(|_| DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%#z"))
        .ok()
        .filter(in_range)
    {
        return Some(d.timestamp_millis());
    }
    if let Ok(d) = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f") {
        return Some(d.and_utc().timestamp_millis());
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc().timestamp_millis())
}

/// Converts epoch seconds (possibly fractional, as the AWS wire format sends them) to millis.
pub fn from_epoch_seconds(secs: f64) -> Option<Millis> {
    if secs.is_finite() && secs.abs() < 1.0e13 { Some((secs * 1000.0).round() as Millis) } else { None }
}

/// The largest UTC offset a timestamp may carry, in seconds (±18:00, as ISO 8601 and
/// `java.time` allow; real zones stay within ±14:00). `+99:99` is an error, not a time.
const MAX_OFFSET: i32 = 18 * 3600;

/// The civil date `(year, month, day)` of a day count since 1970-01-01.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { yoe + era * 400 + 1 } else { yoe + era * 400 }, m, d)
}

/// Calendar fields of an instant, UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Civil {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    pub millis: u32,
}

/// Splits epoch milliseconds into UTC calendar fields.
pub fn civil(ms: Millis) -> Civil {
    let secs = ms.div_euclid(1000);
    let millis = ms.rem_euclid(1000) as u32;
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400) as u32;
    let (year, month, day) = civil_from_days(days);
    Civil { year, month, day, hour: sod / 3600, minute: sod / 60 % 60, second: sod % 60, millis }
}

/// `2021-07-14T23:53:47.229Z`: the report timestamp format.
pub fn format_millis(ms: Millis) -> String {
    let c = civil(ms);
    format!("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", c.year, c.month, c.day, c.hour, c.minute, c.second, c.millis)
}

/// Appends `2021-07-14T23:53:47.229Z` to `out` without allocating.
pub fn write_millis(out: &mut Vec<u8>, ms: Millis) {
    fn two(out: &mut Vec<u8>, v: u32) {
        out.push(b'0' + (v / 10 % 10) as u8);
        out.push(b'0' + (v % 10) as u8);
    }
    let c = civil(ms);
    let y = c.year.clamp(0, 9999) as u32;
    two(out, y / 100);
    two(out, y % 100);
    for (v, sep) in [(c.month, b'-'), (c.day, b'-'), (c.hour, b'T'), (c.minute, b':'), (c.second, b':')] {
        out.push(sep);
        two(out, v);
    }
    out.push(b'.');
    out.push(b'0' + (c.millis / 100) as u8);
    two(out, c.millis % 100);
    out.push(b'Z');
}

/// `2021-07-14T23:53:47Z`: the key and period format (whole seconds).
pub fn format_seconds(ms: Millis) -> String {
    let c = civil(ms);
    format!("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", c.year, c.month, c.day, c.hour, c.minute, c.second)
}

/// `HH:MM:SS` of a non-negative duration; hours grow past 24 rather than wrapping.
pub fn format_hms(duration_ms: Millis) -> String {
    let s = duration_ms.max(0) / 1000;
    format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

/// Midnight UTC at the start of the day containing `ms`.
pub fn start_of_utc_day(ms: Millis) -> Millis {
    ms.div_euclid(86_400_000) * 86_400_000
}

/// One hour, one day: the units windows and controls count in.
pub const HOUR_MS: Millis = 3_600_000;
/// Twenty-four hours in milliseconds.
pub const DAY_MS: Millis = 86_400_000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cli_and_rfc3339_shapes() {
        let base = parse_iso("2021-07-14T23:53:47.229Z").unwrap();
        assert_eq!(format_millis(base), "2021-07-14T23:53:47.229Z");
        assert_eq!(parse_iso("2021-07-14T23:53:47.229000+00:00"), Some(base));
        assert_eq!(parse_iso("2021-07-15T01:53:47.229+02:00"), Some(base));
        assert_eq!(parse_iso("2021-07-14 23:53:47.229"), Some(base));
        assert_eq!(parse_iso("2021-07-14"), Some(base - base % DAY_MS));
        assert_eq!(parse_iso("2021-02-30T00:00:00Z"), None);
        assert_eq!(parse_iso("yesterday"), None);
        assert_eq!(parse_iso("2021-07-15T17:53:47.229+18:00"), Some(base));
        for bad in ["2021-07-14T23:53:47+99:99", "2021-07-14T23:53:47+18:01", "2021-07-14T23:53:47-19:00"] {
            assert_eq!(parse_iso(bad), None, "{bad}");
        }
    }

    #[test]
    fn epoch_seconds_round_to_millis() {
        assert_eq!(from_epoch_seconds(1_626_306_827.229), parse_iso("2021-07-14T23:53:47.229Z"));
        assert_eq!(from_epoch_seconds(f64::NAN), None);
    }

    #[test]
    fn civil_round_trips_across_leap_days() {
        for ms in [0, 951_782_400_000i64, 4_107_542_399_999, -1] {
            let text = format_millis(ms);
            assert_eq!(parse_iso(&text), Some(ms), "{text}");
        }
        assert_eq!(format_hms(90_061_000), "25:01:01");
        for ms in [0, 1_626_306_827_229, 4_107_542_399_999] {
            let mut buf = Vec::new();
            write_millis(&mut buf, ms);
            assert_eq!(String::from_utf8(buf).unwrap(), format_millis(ms));
        }
    }
}
