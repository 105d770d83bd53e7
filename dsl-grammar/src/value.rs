//! Constant values known at compile time: literals, `param`s and ladder levels.

use std::cmp::Ordering;

use jiff::civil;
use rust_decimal::Decimal;

use crate::ast::LitKind;

/// A date, a date and time, or a time of day, as written: civil (wall
/// clock) values with no zone. A value compares with another of its kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Moment {
    Date(civil::Date),
    DateTime(civil::DateTime),
    Time(civil::Time),
}

impl Moment {
    /// Reads a literal: `2026-10-01`, `2026-10-01T08:30` or `22:00`.
    pub fn parse(text: &str) -> Option<Moment> {
        if text.len() == 5 {
            return text.parse().ok().map(Moment::Time);
        }
        if text.len() == 10 {
            return text.parse().ok().map(Moment::Date);
        }
        text.parse().ok().map(Moment::DateTime)
    }

    /// Reads a value of the same kind as `self` from input text: a date
    /// (`2026-10-01`), a date and time with or without seconds and offset
    /// (`2026-10-01T08:30:00+08:00`, read as its wall-clock time), or a
    /// time (`22:00`, `22:00:15`). A date-and-time input gives its date or
    /// its time to a date or time bound; a date gives midnight to a
    /// date-and-time bound.
    pub fn read_like(self, text: &str) -> Option<Moment> {
        let date = || text.get(..10).and_then(|d| d.parse::<civil::Date>().ok());
        let time = |t: &str| {
            let hm = t.get(..5)?;
            let secs = t.get(5..8).filter(|s| s.starts_with(':'));
            format!("{hm}{}", secs.unwrap_or(""))
                .parse::<civil::Time>()
                .ok()
        };
        let clock = || match text.as_bytes().get(10) {
            Some(b'T' | b' ') => text.get(11..).and_then(time),
            None => Some(civil::Time::midnight()),
            _ => None,
        };
        match self {
            Moment::Date(_) => date().map(Moment::Date),
            Moment::DateTime(_) => Some(Moment::DateTime(date()?.to_datetime(clock()?))),
            Moment::Time(_) => {
                if text.len() >= 11 {
                    date()?;
                    clock().map(Moment::Time)
                } else {
                    time(text).map(Moment::Time)
                }
            }
        }
    }

    /// Orders two values of one kind; `None` across kinds.
    pub fn compare(&self, other: &Moment) -> Option<Ordering> {
        match (self, other) {
            (Moment::Date(a), Moment::Date(b)) => Some(a.cmp(b)),
            (Moment::DateTime(a), Moment::DateTime(b)) => Some(a.cmp(b)),
            (Moment::Time(a), Moment::Time(b)) => Some(a.cmp(b)),
            _ => None,
        }
    }

    /// How it is written (and given to scripts and in JSON).
    pub fn text(&self) -> String {
        match self {
            Moment::Date(d) => d.to_string(),
            Moment::DateTime(dt) => dt.strftime("%Y-%m-%dT%H:%M").to_string(),
            Moment::Time(t) => t.strftime("%H:%M").to_string(),
        }
    }

    /// What kind of value it is, in words.
    pub fn kind(&self) -> &'static str {
        match self {
            Moment::Date(_) => "a date",
            Moment::DateTime(_) => "a date and time",
            Moment::Time(_) => "a time of day",
        }
    }
}

/// A constant value.
#[derive(Debug, Clone, PartialEq)]
pub enum Const {
    Str(String),
    Int(i64),
    Dec(Decimal),
    Bool(bool),
    /// Money in 元, exact to the fen.
    Money(Decimal),
    /// A duration in seconds.
    Duration(i64),
    /// A date, date and time, or time of day.
    Moment(Moment),
    List(Vec<Const>),
}

impl From<&LitKind> for Const {
    fn from(k: &LitKind) -> Self {
        match k {
            LitKind::Str(s) => Const::Str(s.clone()),
            LitKind::Int(i) => Const::Int(*i),
            LitKind::Dec(d) => Const::Dec(*d),
            LitKind::Bool(b) => Const::Bool(*b),
            LitKind::Money(m) => Const::Money(*m),
            LitKind::Duration(d) => Const::Duration(*d),
            LitKind::Moment(m) => Const::Moment(*m),
        }
    }
}

impl Const {
    /// The numeric value, for numbers, money and durations (in seconds).
    pub fn as_decimal(&self) -> Option<Decimal> {
        match self {
            Const::Int(i) | Const::Duration(i) => Some(Decimal::from(*i)),
            Const::Dec(d) | Const::Money(d) => Some(*d),
            _ => None,
        }
    }

    /// How the value is written in a policy.
    pub fn display(&self) -> String {
        match self {
            Const::Str(s) => format!("{s:?}"),
            Const::Int(i) => i.to_string(),
            Const::Dec(d) => d.to_string(),
            Const::Bool(b) => b.to_string(),
            Const::Money(m) => format!("{:.2}元", m),
            Const::Duration(s) => format!("{s}s"),
            Const::Moment(m) => m.text(),
            Const::List(items) => format!(
                "[{}]",
                items
                    .iter()
                    .map(Const::display)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
}
