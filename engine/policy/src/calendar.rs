//! Business calendars and the three clocks of time limits:
//! 紧急工作时 (continuous time), 工作时 (working hours only) and 工作日
//! (whole working days). Holidays have no working hours; make-up workdays
//! (调休) use the hours of 周一. All arithmetic is in the calendar's local
//! time (a fixed UTC offset or an IANA zone, see `zone`) and exact to the
//! second.

use std::collections::HashSet;

use wangge_dsl::ast::{self, ClockKind, Date};
use wangge_dsl::date::weekday_of_days;

use crate::clock::Timestamp;
use crate::zone::Zone;

/// How far a deadline may lie: beyond this a calendar has no working time.
const MAX_DAYS: i64 = 366 * 5;
const DAY: i64 = 86_400;

/// A compiled `calendar`.
#[derive(Debug, Clone)]
pub struct CompiledCalendar {
    pub name: String,
    /// The zone its wall clock is in.
    pub zone: Zone,
    week: [Vec<(i64, i64)>; 7],
    holidays: HashSet<i64>,
    makeup: HashSet<i64>,
    /// The years whose days off it knows: those its holidays and make-up
    /// days name, and those of its year blocks (empty: it names none).
    pub covers: std::collections::BTreeSet<i32>,
}

/// A deadline the calendar cannot place.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, miette::Diagnostic)]
#[error("calendar `{calendar}` has no working time within five years of `{from}`")]
#[diagnostic(code(wangge::calendar::no_working_time))]
pub struct NoWorkingTime {
    pub calendar: String,
    pub from: String,
}

fn days(r: &ast::DateRange) -> impl Iterator<Item = i64> {
    r.start.to_days()..=r.end.to_days()
}

impl CompiledCalendar {
    /// Compiles calendar `c` with its year blocks (`years`: `calendar
    /// 工作日历 year 2027 { … }`, from any file).
    pub fn compile(c: &ast::Calendar, years: &[&ast::Calendar]) -> CompiledCalendar {
        let mut week: [Vec<(i64, i64)>; 7] = Default::default();
        for h in &c.hours {
            for d in h.first_day..=h.last_day.min(6) {
                let mut ranges: Vec<(i64, i64)> = h
                    .ranges
                    .iter()
                    .map(|(a, b)| (i64::from(*a), i64::from(*b)))
                    .collect();
                ranges.sort_unstable();
                week[usize::from(d)] = ranges;
            }
        }
        let blocks = || std::iter::once(c).chain(years.iter().copied());
        let mut covers: std::collections::BTreeSet<i32> = c
            .holidays
            .iter()
            .chain(&c.makeup)
            .flat_map(|r| [r.start.year(), r.end.year()])
            .collect();
        covers.extend(years.iter().filter_map(|y| y.year.map(|(y, _)| y)));
        CompiledCalendar {
            covers,
            name: c.name.name.clone(),
            zone: match &c.timezone {
                None => Zone::CHINA,
                Some((ast::TimeZoneName::Offset(o), _)) => Zone::Fixed(i64::from(*o)),
                Some((ast::TimeZoneName::Iana(tz), _)) => Zone::Named(tz.clone()),
            },
            week,
            holidays: blocks()
                .flat_map(|b| b.holidays.iter().flat_map(days))
                .collect(),
            makeup: blocks()
                .flat_map(|b| b.makeup.iter().flat_map(days))
                .collect(),
        }
    }

    /// Local day number and second of the day.
    fn split(&self, t: Timestamp) -> (i64, i64) {
        let local = self.zone.to_local(t);
        (local.div_euclid(DAY), local.rem_euclid(DAY))
    }

    fn at(&self, day: i64, sod: i64) -> Timestamp {
        self.zone.to_utc(day * DAY + sod)
    }

    /// Working intervals (seconds of the day) of a local day.
    pub fn intervals(&self, day: i64) -> &[(i64, i64)] {
        if self.holidays.contains(&day) {
            &[]
        } else if self.makeup.contains(&day) {
            &self.week[0]
        } else {
            &self.week[usize::from(weekday_of_days(day))]
        }
    }

    /// Why a deadline at `t` was counted without knowing that year's days
    /// off: `t` falls in a year the calendar names no holidays for (a plain
    /// weekday guess), or `None` when it knows the year.
    pub fn uncovered(&self, t: Timestamp) -> Option<String> {
        if self.covers.is_empty() {
            return None;
        }
        let (day, _) = self.split(t);
        let year = Date::from_days(day)?.year();
        (!self.covers.contains(&year)).then(|| {
            let known: Vec<String> = self.covers.iter().map(i32::to_string).collect();
            format!(
                "calendar `{}` names holidays for {} only: {year} was counted as plain weekdays; add its holidays (`calendar {} year {year} {{ … }}`)",
                self.name,
                known.join(", "),
                self.name
            )
        })
    }

    pub fn is_working_day(&self, day: i64) -> bool {
        !self.intervals(day).is_empty()
    }

    fn no_time(&self, from: Timestamp) -> NoWorkingTime {
        NoWorkingTime {
            calendar: self.name.clone(),
            from: self.zone.format(from),
        }
    }

    /// The moment `amount` of `clock` after `start` (seconds for the hour
    /// clocks, days for 工作日).
    pub fn add(
        &self,
        start: Timestamp,
        amount: i64,
        clock: ClockKind,
    ) -> Result<Timestamp, NoWorkingTime> {
        match clock {
            ClockKind::Continuous => Ok(start + amount),
            ClockKind::WorkingHours => self.add_working(start, amount),
            ClockKind::WorkingDays => self.end_of_working_day(start, amount),
        }
    }

    /// `secs` of working time after `start`. A limit that ends exactly at
    /// the end of a working period ends there (12:00, not 13:30).
    pub fn add_working(&self, start: Timestamp, mut secs: i64) -> Result<Timestamp, NoWorkingTime> {
        if secs <= 0 {
            return Ok(start);
        }
        let (mut day, mut from) = self.split(start);
        for _ in 0..MAX_DAYS {
            for &(a, b) in self.intervals(day) {
                let a = a.max(from);
                if a >= b {
                    continue;
                }
                if secs <= b - a {
                    return Ok(self.at(day, a + secs));
                }
                secs -= b - a;
            }
            day += 1;
            from = 0;
        }
        Err(self.no_time(start))
    }

    /// Working time between two moments (0 if `b <= a`).
    pub fn working_between(&self, a: Timestamp, b: Timestamp) -> i64 {
        if b <= a {
            return 0;
        }
        let (da, sa) = self.split(a);
        let (db, sb) = self.split(b);
        let mut total = 0;
        for day in da..=db.min(da + MAX_DAYS) {
            let lo = if day == da { sa } else { 0 };
            let hi = if day == db { sb } else { DAY };
            for &(x, y) in self.intervals(day) {
                let (x, y) = (x.max(lo), y.min(hi));
                if y > x {
                    total += y - x;
                }
            }
        }
        total
    }

    /// The end of the `n`-th working day after the day of `start`.
    pub fn end_of_working_day(&self, start: Timestamp, n: i64) -> Result<Timestamp, NoWorkingTime> {
        let (mut day, _) = self.split(start);
        let mut count = 0;
        for _ in 0..MAX_DAYS {
            day += 1;
            if let Some(&(_, end)) = self.intervals(day).last() {
                count += 1;
                if count >= n {
                    return Ok(self.at(day, end));
                }
            }
        }
        Err(self.no_time(start))
    }

    /// A deadline pushed back by a pause from `paused` to `resumed`: by the
    /// paused time as the limit's clock counts it.
    pub fn extend(
        &self,
        due: Timestamp,
        paused: Timestamp,
        resumed: Timestamp,
        clock: ClockKind,
    ) -> Result<Timestamp, NoWorkingTime> {
        match clock {
            ClockKind::Continuous => Ok(due + (resumed - paused).max(0)),
            _ => self.add_working(due, self.working_between(paused, resumed)),
        }
    }
}

/// `2026-10-09T17:30:00+08:00`: `t` at the UTC offset `offset` (seconds).
pub fn format_ts(t: Timestamp, offset: i64) -> String {
    let zoned = i32::try_from(offset)
        .ok()
        .and_then(|o| jiff::tz::Offset::from_seconds(o).ok())
        .zip(jiff::Timestamp::from_second(t).ok())
        .map(|(o, ts)| ts.to_zoned_datetime(jiff::tz::TimeZone::fixed(o)));
    match zoned {
        Some(z) => z.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string(),
        // Beyond years 1–9999 or a day's offset: never a time a case has.
        None => format!("@{t}{offset:+}s"),
    }
}

/// Parses an RFC 3339 time, `2026-10-09T17:30:00+08:00` (or `…Z`, or
/// without seconds), to whole seconds; a fraction of a second is refused.
pub fn parse_ts(text: &str) -> Option<Timestamp> {
    let ts: jiff::Timestamp = text.trim().parse().ok()?;
    (ts.subsec_nanosecond() == 0).then(|| ts.as_second())
}

#[cfg(test)]
mod time_text_tests {
    use super::{format_ts, parse_ts};

    #[test]
    fn times_parse_and_print_as_rfc_3339() {
        let t = parse_ts("2026-10-09T17:30:00+08:00");
        assert_eq!(t, Some(1_791_538_200));
        assert_eq!(parse_ts("2026-10-09T09:30:00Z"), t);
        assert_eq!(parse_ts("2026-10-09T17:30+08:00"), t);
        assert_eq!(
            format_ts(1_791_538_200, 8 * 3600),
            "2026-10-09T17:30:00+08:00"
        );
        assert_eq!(
            format_ts(1_791_538_200, -5 * 3600),
            "2026-10-09T04:30:00-05:00"
        );
        for bad in [
            "2026-02-29T10:00:00+08:00",
            "2026-10-09T24:00:00+08:00",
            "2026-10-09T17:30:00.5+08:00",
            "2026-10-09T17:30:00",
            "明天",
        ] {
            assert_eq!(parse_ts(bad), None, "{bad}");
        }
    }
}
