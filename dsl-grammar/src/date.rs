//! Civil dates on `jiff`: validity, and day numbers (days since
//! 1970-01-01) for the calendar arithmetic.

use jiff::civil;
use jiff::SignedDuration;

use crate::ast::Date;

/// 1970-01-01, day 0.
const EPOCH: civil::Date = civil::date(1970, 1, 1);

impl Date {
    /// A date that exists in years 1–9999, or `None`.
    pub fn new(year: i32, month: u8, day: u8) -> Option<Date> {
        let year = i16::try_from(year).ok().filter(|y| *y >= 1)?;
        let month = i8::try_from(month).ok()?;
        let day = i8::try_from(day).ok()?;
        civil::Date::new(year, month, day).ok().map(Date)
    }

    pub fn year(self) -> i32 {
        i32::from(self.0.year())
    }

    pub fn month(self) -> u8 {
        self.0.month().unsigned_abs()
    }

    pub fn day(self) -> u8 {
        self.0.day().unsigned_abs()
    }

    /// Days since 1970-01-01.
    pub fn to_days(self) -> i64 {
        self.0.duration_since(EPOCH).as_secs().div_euclid(86_400)
    }

    /// The date `days` after 1970-01-01, if it is in years 1–9999.
    pub fn from_days(days: i64) -> Option<Date> {
        let secs = days.checked_mul(86_400)?;
        EPOCH
            .checked_add(SignedDuration::from_secs(secs))
            .ok()
            .filter(|d| d.year() >= 1)
            .map(Date)
    }

    /// 0 = Monday (周一) … 6 = Sunday (周日).
    pub fn weekday(self) -> u8 {
        self.0.weekday().to_monday_zero_offset().unsigned_abs()
    }

    /// The `jiff` date.
    pub fn civil(self) -> civil::Date {
        self.0
    }
}

/// 0 = Monday … 6 = Sunday for a day number (1970-01-01 was a Thursday):
/// the calendar asks this for every day it walks, so it is arithmetic on
/// the number, checked against `jiff` in the tests.
pub fn weekday_of_days(days: i64) -> u8 {
    u8::try_from((days + 3).rem_euclid(7)).unwrap_or(0)
}

impl std::fmt::Display for Date {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_weekdays() {
        let d = Date::new(2026, 10, 1).unwrap();
        assert_eq!(Date::from_days(d.to_days()), Some(d));
        assert_eq!(d.weekday(), 3); // 2026-10-01 is a Thursday
        assert_eq!(d.to_string(), "2026-10-01");
        assert_eq!(Date::new(1970, 1, 1).unwrap().to_days(), 0);
        assert_eq!(Date::new(2024, 2, 29).map(|d| d.weekday()), Some(3));
        assert_eq!(Date::new(2026, 2, 29), None);
        assert_eq!(Date::new(0, 1, 1), None);
        for days in -1000..1000 {
            let d = Date::from_days(days).unwrap();
            assert_eq!(d.to_days(), days);
            assert_eq!(weekday_of_days(days), d.weekday(), "{d}");
        }
    }
}
