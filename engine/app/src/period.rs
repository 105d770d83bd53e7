//! One period type for settlements (months) and scorecards (months,
//! quarters, years): parsed from its key (`2026-09`, `2026-Q3`, `2026`),
//! with its bounds in the policy's time zone.

use wangge_dsl::ast::PeriodKind;
use wangge_policy::{Timestamp, Zone};

use crate::error::{invalid, AppResult as R};

/// A calendar period: `[start, end)` in seconds, local midnight to local
/// midnight in the policy's time zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Period {
    pub kind: PeriodKind,
    pub year: i32,
    /// Its first month, 1–12.
    pub first_month: u32,
    pub start: Timestamp,
    pub end: Timestamp,
    /// The time zone it was parsed in.
    zone: Zone,
}

/// Local midnight of the first of a month (months past 12 roll over).
fn month_start(year: i32, month: u32, zone: &Zone) -> Option<Timestamp> {
    let m = i32::try_from(month).ok()? - 1;
    let (y, m) = (year + m.div_euclid(12), m.rem_euclid(12) + 1);
    let m = u8::try_from(m).ok()?;
    wangge_dsl::ast::Date::new(y, m, 1).map(|d| zone.to_utc(d.to_days() * 86_400))
}

fn months_in(kind: PeriodKind) -> u32 {
    match kind {
        PeriodKind::Monthly => 1,
        PeriodKind::Quarterly => 3,
        PeriodKind::Yearly => 12,
    }
}

impl Period {
    /// Parses a period of `kind`; the error names the field `period` and
    /// the expected form.
    pub fn parse(text: &str, kind: PeriodKind, zone: &Zone) -> R<Period> {
        let form = match kind {
            PeriodKind::Monthly => "a month like `2026-09`",
            PeriodKind::Quarterly => "a quarter like `2026-Q3`",
            PeriodKind::Yearly => "a year like `2026`",
        };
        let bad = || invalid("period", format!("`{text}` is not {form}"));
        let digits = |s: &str, max: usize| {
            !s.is_empty() && s.len() <= max && s.bytes().all(|b| b.is_ascii_digit())
        };
        let (year, first) = match kind {
            PeriodKind::Monthly => {
                let (y, m) = text.split_once('-').ok_or_else(bad)?;
                if !digits(y, 4) || !digits(m, 2) {
                    return Err(bad());
                }
                let m: u32 = m.parse().map_err(|_| bad())?;
                if !(1..=12).contains(&m) {
                    return Err(bad());
                }
                (y.parse::<i32>().map_err(|_| bad())?, m)
            }
            PeriodKind::Quarterly => {
                let (y, q) = text.split_once("-Q").ok_or_else(bad)?;
                if !digits(y, 4) || !digits(q, 1) {
                    return Err(bad());
                }
                let q: u32 = q.parse().map_err(|_| bad())?;
                if !(1..=4).contains(&q) {
                    return Err(bad());
                }
                (y.parse::<i32>().map_err(|_| bad())?, (q - 1) * 3 + 1)
            }
            PeriodKind::Yearly => {
                if !digits(text, 4) {
                    return Err(bad());
                }
                (text.parse::<i32>().map_err(|_| bad())?, 1)
            }
        };
        Period::of(kind, year, first, zone).ok_or_else(bad)
    }

    /// A month, `2026-09`.
    pub fn month(text: &str, zone: &Zone) -> R<Period> {
        Period::parse(text, PeriodKind::Monthly, zone)
    }

    fn of(kind: PeriodKind, year: i32, first_month: u32, zone: &Zone) -> Option<Period> {
        if !(1970..=9999).contains(&year) {
            return None;
        }
        Some(Period {
            kind,
            year,
            first_month,
            start: month_start(year, first_month, zone)?,
            end: month_start(year, first_month + months_in(kind), zone)?,
            zone: zone.clone(),
        })
    }

    /// `2026-09`, `2026-Q3` or `2026`.
    pub fn key(&self) -> String {
        match self.kind {
            PeriodKind::Monthly => format!("{:04}-{:02}", self.year, self.first_month),
            PeriodKind::Quarterly => {
                format!("{:04}-Q{}", self.year, (self.first_month - 1) / 3 + 1)
            }
            PeriodKind::Yearly => format!("{:04}", self.year),
        }
    }

    /// The period before this one, of the same kind.
    pub fn previous(&self) -> R<Period> {
        let n = months_in(self.kind);
        let (year, first) = if self.first_month > n {
            (self.year, self.first_month - n)
        } else {
            (self.year - 1, self.first_month + 12 - n)
        };
        Period::of(self.kind, year, first, &self.zone).ok_or_else(|| {
            invalid(
                "period",
                format!("`{}` has no period before it", self.key()),
            )
        })
    }

    pub fn contains(&self, t: Timestamp) -> bool {
        t >= self.start && t < self.end
    }

    /// The months of the period, in order.
    pub fn months(&self) -> Vec<Period> {
        (0..months_in(self.kind))
            .filter_map(|i| {
                Period::of(
                    PeriodKind::Monthly,
                    self.year,
                    self.first_month + i,
                    &self.zone,
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_parse_step_back_and_split_into_months() {
        let q = Period::parse("2026-Q1", PeriodKind::Quarterly, &Zone::CHINA).unwrap();
        assert_eq!(q.key(), "2026-Q1");
        assert_eq!(q.previous().unwrap().key(), "2025-Q4");
        let keys: Vec<String> = q.months().iter().map(Period::key).collect();
        assert_eq!(keys, ["2026-01", "2026-02", "2026-03"]);
        assert_eq!(q.months()[0].start, q.start);
        assert_eq!(q.months()[2].end, q.end);
        let m = Period::month("2026-01", &Zone::Fixed(0)).unwrap();
        assert_eq!(m.previous().unwrap().key(), "2025-12");
        assert_eq!(m.end - m.start, 31 * 86_400);
        let y = Period::parse("2026", PeriodKind::Yearly, &Zone::Fixed(0)).unwrap();
        assert_eq!(y.previous().unwrap().key(), "2025");
        for bad in ["2026-13", "2026-9x", "26-09", "2026-Q5", "2026-"] {
            assert!(Period::month(bad, &Zone::Fixed(0)).is_err(), "{bad}");
        }
        assert!(Period::parse("2026-Q0", PeriodKind::Quarterly, &Zone::Fixed(0)).is_err());
        assert!(Period::parse("１２３４", PeriodKind::Yearly, &Zone::Fixed(0)).is_err());
    }
}
