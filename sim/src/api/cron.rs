//! Cron schedules as the CronJob controller reads them: robfig/cron v3's `ParseStandard`
//! (five fields, names, ranges, steps, `*`/`?`, the `@hourly`-style descriptors, `@every`,
//! and a `TZ=`/`CRON_TZ=` prefix) with its error texts, and `Next` with its search order
//! (month, day, hour, minute; at most five years ahead).

use std::time::Duration;

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;

/// Set when a field is `*` or `?`: robfig's day matching ANDs day-of-month and day-of-week
/// when either is a star, and ORs them otherwise.
const STAR: u64 = 1 << 63;

#[derive(Debug, Clone, PartialEq)]
pub enum Schedule {
    Spec { minute: u64, hour: u64, dom: u64, month: u64, dow: u64, tz: Option<Tz> },
    /// `@every <duration>`: a constant delay, rounded down to whole seconds (at least one).
    Every(Duration),
}

struct Bounds {
    min: u32,
    max: u32,
    names: &'static [(&'static str, u32)],
}

const MINUTES: Bounds = Bounds { min: 0, max: 59, names: &[] };
const HOURS: Bounds = Bounds { min: 0, max: 23, names: &[] };
const DOM: Bounds = Bounds { min: 1, max: 31, names: &[] };
const MONTHS: Bounds = Bounds {
    min: 1,
    max: 12,
    names: &[("jan", 1), ("feb", 2), ("mar", 3), ("apr", 4), ("may", 5), ("jun", 6), ("jul", 7), ("aug", 8), ("sep", 9), ("oct", 10), ("nov", 11), ("dec", 12)],
};
const DOW: Bounds = Bounds { min: 0, max: 6, names: &[("sun", 0), ("mon", 1), ("tue", 2), ("wed", 3), ("thu", 4), ("fri", 5), ("sat", 6)] };

/// `cron.ParseStandard(spec)`; errors carry robfig's texts.
pub fn parse_standard(spec: &str) -> Result<Schedule, String> {
    if spec.is_empty() {
        return Err("empty spec string".into());
    }
    let mut rest = spec;
    let mut tz = None;
    if rest.starts_with("TZ=") || rest.starts_with("CRON_TZ=") {
        let eq = rest.find('=').unwrap_or(0);
        let space = rest.find(' ').unwrap_or(rest.len());
        let name = &rest[eq + 1..space];
        tz = Some(load_location(name).map_err(|e| format!("provided bad location {name}: {e}"))?);
        rest = rest[space..].trim_start();
    }
    if rest.starts_with('@') {
        return descriptor(rest, tz);
    }
    let fields: Vec<&str> = rest.split_whitespace().collect();
    if fields.len() != 5 {
        return Err(format!("expected exactly 5 fields, found {}: [{}]", fields.len(), fields.join(" ")));
    }
    Ok(Schedule::Spec {
        minute: field(fields[0], &MINUTES)?,
        hour: field(fields[1], &HOURS)?,
        dom: field(fields[2], &DOM)?,
        month: field(fields[3], &MONTHS)?,
        dow: field(fields[4], &DOW)?,
        tz,
    })
}

/// `time.LoadLocation`: "" and "UTC" are UTC, "Local" is the controller's zone (UTC here).
pub fn load_location(name: &str) -> Result<Tz, String> {
    match name {
        "" | "UTC" | "Local" => Ok(Tz::UTC),
        _ => name.parse::<Tz>().map_err(|_| format!("unknown time zone {name}")),
    }
}

fn descriptor(d: &str, tz: Option<Tz>) -> Result<Schedule, String> {
    let all = |b: &Bounds| bits(b.min, b.max, 1) | STAR;
    let spec = |minute, hour, dom, month, dow| Schedule::Spec { minute, hour, dom, month, dow, tz };
    let one = |n: u32| 1u64 << n;
    Ok(match d {
        "@yearly" | "@annually" => spec(one(0), one(0), one(1), one(1), all(&DOW)),
        "@monthly" => spec(one(0), one(0), one(1), all(&MONTHS), all(&DOW)),
        "@weekly" => spec(one(0), one(0), all(&DOM), all(&MONTHS), one(0)),
        "@daily" | "@midnight" => spec(one(0), one(0), all(&DOM), all(&MONTHS), all(&DOW)),
        "@hourly" => spec(one(0), all(&HOURS), all(&DOM), all(&MONTHS), all(&DOW)),
        _ => match d.strip_prefix("@every ") {
            Some(dur) => {
                let every = parse_go_duration(dur).ok_or_else(|| format!("failed to parse duration {d}: time: invalid duration \"{dur}\""))?;
                Schedule::Every(Duration::from_secs(every.as_secs().max(1)))
            }
            None => return Err(format!("unrecognized descriptor: {d}")),
        },
    })
}

/// A comma-separated list of ranges.
fn field(f: &str, b: &Bounds) -> Result<u64, String> {
    f.split(',').try_fold(0u64, |acc, r| Ok(acc | range(r, b)?))
}

/// `getRange`: `*`, `?`, `N`, `N-M`, each optionally `/step` (`N/step` means `N-max/step`).
fn range(expr: &str, b: &Bounds) -> Result<u64, String> {
    let range_and_step: Vec<&str> = expr.split('/').collect();
    let low_high: Vec<&str> = range_and_step[0].split('-').collect();
    let single = low_high.len() == 1;
    let (start, mut end, mut extra);
    if low_high[0] == "*" || low_high[0] == "?" {
        (start, end, extra) = (b.min, b.max, STAR);
    } else {
        start = int_or_name(low_high[0], b)?;
        end = match low_high.len() {
            1 => start,
            2 => int_or_name(low_high[1], b)?,
            _ => return Err(format!("too many hyphens: {expr}")),
        };
        extra = 0;
    }
    let step = match range_and_step.len() {
        1 => 1,
        2 => {
            let step = must_parse_int(range_and_step[1])?;
            if single {
                end = b.max;
            }
            if step > 1 {
                extra = 0;
            }
            step
        }
        _ => return Err(format!("too many slashes: {expr}")),
    };
    if start < b.min {
        return Err(format!("beginning of range ({start}) below minimum ({}): {expr}", b.min));
    }
    if end > b.max {
        return Err(format!("end of range ({end}) above maximum ({}): {expr}", b.max));
    }
    if start > end {
        return Err(format!("beginning of range ({start}) beyond end of range ({end}): {expr}"));
    }
    if step == 0 {
        return Err(format!("step of range should be a positive number: {expr}"));
    }
    Ok(bits(start, end, step) | extra)
}

fn int_or_name(s: &str, b: &Bounds) -> Result<u32, String> {
    let lower = s.to_ascii_lowercase();
    match b.names.iter().find(|(n, _)| *n == lower) {
        Some((_, v)) => Ok(*v),
        None => must_parse_int(s),
    }
}

fn must_parse_int(s: &str) -> Result<u32, String> {
    let n: i64 = s.parse().map_err(|_| format!("failed to parse int from {s}: strconv.Atoi: parsing \"{s}\": invalid syntax"))?;
    if n < 0 {
        return Err(format!("negative number ({n}) not allowed: {s}"));
    }
    u32::try_from(n).map_err(|_| format!("failed to parse int from {s}: strconv.Atoi: parsing \"{s}\": value out of range"))
}

fn bits(min: u32, max: u32, step: u32) -> u64 {
    (min..=max).step_by(step as usize).fold(0, |acc, i| acc | (1u64 << i))
}

/// Go's `time.ParseDuration` for the units cron users write (h, m, s, ms), e.g. `1h30m`.
fn parse_go_duration(s: &str) -> Option<Duration> {
    let mut total = 0f64;
    let mut rest = s.trim();
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        let n: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let mult = match &rest[..unit_len] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 0.001,
            _ => return None,
        };
        total += n * mult;
        rest = &rest[unit_len..];
    }
    Some(Duration::from_secs_f64(total))
}

impl Schedule {
    /// The first activation strictly after `after` (robfig's `Next`), or `None` when there is
    /// none within five years (e.g. `0 0 30 2 *`).
    pub fn next(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let (minute, hour, dom, month, dow, tz) = match self {
            Schedule::Every(d) => {
                let base = after.with_nanosecond(0)?;
                return Some(base + chrono::Duration::from_std(*d).ok()?);
            }
            Schedule::Spec { minute, hour, dom, month, dow, tz } => (*minute, *hour, *dom, *month, *dow, tz.unwrap_or(Tz::UTC)),
        };
        // Search in wall-clock time of the schedule's zone, from the next whole minute.
        let local = after.with_timezone(&tz).naive_local();
        let mut t = local.with_second(0)?.with_nanosecond(0)? + chrono::Duration::minutes(1);
        let year_limit = t.year() + 5;
        let has = |set: u64, v: u32| set & (1u64 << v) != 0;
        loop {
            if t.year() > year_limit {
                return None;
            }
            if !has(month, t.month()) {
                t = first_of_next_month(t)?;
                continue;
            }
            let dom_ok = has(dom, t.day());
            let dow_ok = has(dow, t.weekday().num_days_from_sunday());
            let day_ok = if dom & STAR != 0 || dow & STAR != 0 { dom_ok && dow_ok } else { dom_ok || dow_ok };
            if !day_ok {
                t = t.date().succ_opt()?.and_hms_opt(0, 0, 0)?;
                continue;
            }
            if !has(hour, t.hour()) {
                t = t.with_minute(0)? + chrono::Duration::hours(1);
                continue;
            }
            if !has(minute, t.minute()) {
                t += chrono::Duration::minutes(1);
                continue;
            }
            // A wall-clock time skipped by a DST change does not exist: look further.
            match tz.from_local_datetime(&t).earliest() {
                Some(at) => return Some(at.with_timezone(&Utc)),
                None => t += chrono::Duration::minutes(1),
            }
        }
    }

    /// The schedule's zone (for the scheduled-timestamp annotation).
    pub fn zone(&self) -> Tz {
        match self {
            Schedule::Spec { tz: Some(tz), .. } => *tz,
            _ => Tz::UTC,
        }
    }
}

fn first_of_next_month(t: NaiveDateTime) -> Option<NaiveDateTime> {
    let (y, m) = if t.month() == 12 { (t.year() + 1, 1) } else { (t.year(), t.month() + 1) };
    NaiveDate::from_ymd_opt(y, m, 1)?.and_hms_opt(0, 0, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn next(spec: &str, after: &str) -> String {
        parse_standard(spec).unwrap().next(at(after)).map(|t| t.to_rfc3339()).unwrap_or_default()
    }

    #[test]
    fn next_follows_robfig() {
        assert_eq!(next("*/5 * * * *", "2026-11-30T06:02:10Z"), "2026-11-30T06:05:00+00:00");
        assert_eq!(next("* * * * *", "2026-11-30T06:02:00Z"), "2026-11-30T06:03:00+00:00");
        assert_eq!(next("0 0 1 1 *", "2026-11-30T06:02:00Z"), "2027-01-01T00:00:00+00:00");
        assert_eq!(next("@hourly", "2026-11-30T06:02:00Z"), "2026-11-30T07:00:00+00:00");
        assert_eq!(next("@weekly", "2026-11-30T06:02:00Z"), "2026-12-06T00:00:00+00:00"); // a Sunday
        assert_eq!(next("30 9 * * mon-fri", "2026-12-04T10:00:00Z"), "2026-12-07T09:30:00+00:00");
        // dom and dow both restricted: either matches (the 15th, or a Monday).
        assert_eq!(next("0 0 15 * 1", "2026-11-30T06:00:00Z"), "2026-12-07T00:00:00+00:00");
        // One of them a star: both must match (Mondays only).
        assert_eq!(next("0 0 * * 1", "2026-11-30T06:00:00Z"), "2026-12-07T00:00:00+00:00");
        assert_eq!(next("5/20 * * * *", "2026-11-30T06:06:00Z"), "2026-11-30T06:25:00+00:00");
        assert_eq!(next("0 12 * * *", "2026-11-30T06:00:00Z"), "2026-11-30T12:00:00+00:00");
        assert_eq!(next("TZ=Europe/Berlin 0 12 * * *", "2026-11-30T06:00:00Z"), "2026-11-30T11:00:00+00:00");
        assert_eq!(next("@every 90s", "2026-11-30T06:00:00.5Z"), "2026-11-30T06:01:30+00:00");
        assert!(parse_standard("0 0 30 2 *").unwrap().next(at("2026-01-01T00:00:00Z")).is_none());
    }

    #[test]
    fn errors_carry_robfigs_texts() {
        let err = |s: &str| parse_standard(s).unwrap_err();
        assert_eq!(err(""), "empty spec string");
        assert_eq!(err("foo"), "expected exactly 5 fields, found 1: [foo]");
        assert_eq!(err("60 * * * *"), "end of range (60) above maximum (59): 60");
        assert_eq!(err("* * 0 * *"), "beginning of range (0) below minimum (1): 0");
        assert_eq!(err("5-1 * * * *"), "beginning of range (5) beyond end of range (1): 5-1");
        assert_eq!(err("*/0 * * * *"), "step of range should be a positive number: */0");
        assert_eq!(err("x * * * *"), "failed to parse int from x: strconv.Atoi: parsing \"x\": invalid syntax");
        assert_eq!(err("@fortnightly"), "unrecognized descriptor: @fortnightly");
        assert_eq!(err("TZ=Mars/Olympus * * * * *"), "provided bad location Mars/Olympus: unknown time zone Mars/Olympus");
        assert!(parse_standard("0 0 * JAN,jul SUN").is_ok());
    }
}
