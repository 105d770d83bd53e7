//! Tasks sent down (下派任务): a `task` item compiled — the level it goes
//! to, each unit's limit on its clock, what completion needs, reminders —
//! and the pure checks of a unit's completion report.

use std::collections::HashMap;
use std::sync::Arc;

use wangge_dsl::ast::{self, ClockKind};

use crate::calendar::CompiledCalendar;
use crate::clock::Timestamp;
use crate::CaseError;

/// A compiled `task` item.
#[derive(Debug, Clone)]
pub struct CompiledTask {
    pub name: String,
    pub ladder: String,
    /// The level of the units that do it.
    pub level: String,
    /// Each unit's limit: seconds, or days on `工作日`.
    pub amount: i64,
    pub clock: ClockKind,
    calendar: Option<Arc<CompiledCalendar>>,
    /// What a completion report must carry.
    pub needs: Needs,
    /// Shares of the limit to remind at.
    pub remind: Vec<u8>,
}

/// What completing a task needs (`needs count 入户数, checklist [..], attachment`).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Needs {
    pub count: Option<String>,
    pub checklist: Vec<String>,
    pub attachment: bool,
}

/// A unit's completion report.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Completion {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checked: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attachment: Option<String>,
}

impl CompiledTask {
    pub(crate) fn compile(
        t: &ast::Task,
        calendars: &HashMap<String, Arc<CompiledCalendar>>,
    ) -> Option<CompiledTask> {
        let limit = t.limit.as_ref()?;
        Some(CompiledTask {
            name: t.name.name.clone(),
            ladder: t.ladder.name.clone(),
            level: t.to.as_ref()?.name.clone(),
            amount: limit.amount,
            clock: limit.clock,
            calendar: match &t.calendar {
                Some(c) => Some(calendars.get(&c.name)?.clone()),
                None => None,
            },
            needs: Needs {
                count: t.count.as_ref().map(|c| c.name.clone()),
                checklist: t.checklist.iter().map(|c| c.name.clone()).collect(),
                attachment: t.attachment,
            },
            remind: t.remind.clone(),
        })
    }

    /// When a task sent at `from` is due, on its clock.
    pub fn due(&self, from: Timestamp) -> Result<Timestamp, CaseError> {
        match &self.calendar {
            Some(c) => Ok(c.add(from, self.amount, self.clock)?),
            None => Ok(from + self.amount),
        }
    }

    /// When each reminder of a task sent at `from` and due at `due` fires:
    /// its share of the time, counted on the task's clock.
    pub fn reminders(
        &self,
        from: Timestamp,
        due: Timestamp,
    ) -> Result<Vec<(u8, Timestamp)>, CaseError> {
        let mut out = Vec::with_capacity(self.remind.len());
        for &p in &self.remind {
            let part = |total: i64| total.saturating_mul(i64::from(p)) / 100;
            let at = match (&self.calendar, self.clock) {
                (Some(c), ClockKind::WorkingHours | ClockKind::WorkingDays) => {
                    c.add_working(from, part(c.working_between(from, due)))?
                }
                _ => from + part(due - from),
            };
            out.push((p, at));
        }
        Ok(out)
    }

    /// The time zone its times are shown in.
    pub fn zone(&self) -> crate::Zone {
        self.calendar
            .as_ref()
            .map_or(crate::Zone::CHINA, |c| c.zone.clone())
    }
}

impl Needs {
    /// A completion report checked against the needs; the error names the
    /// missing or unknown field.
    pub fn check(&self, task: &str, c: &Completion) -> Result<(), CaseError> {
        let bad = |field: &str, message: String| CaseError::InvalidArgument {
            field: field.into(),
            message,
        };
        if let Some(name) = &self.count {
            if c.count.is_none() {
                return Err(bad(
                    "count",
                    format!("task `{}` needs the count `{name}`", task),
                ));
            }
        }
        for item in &c.checked {
            if !self.checklist.contains(item) {
                return Err(bad(
                    "checked",
                    format!(
                        "`{item}` is not on the checklist of task `{}` ({})",
                        task,
                        self.checklist.join(", ")
                    ),
                ));
            }
        }
        let missing: Vec<&str> = (self.checklist.iter())
            .filter(|i| !c.checked.contains(i))
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            return Err(bad(
                "checked",
                format!("not yet done: {}", missing.join(", ")),
            ));
        }
        if self.attachment && c.attachment.as_deref().is_none_or(|a| a.trim().is_empty()) {
            return Err(bad(
                "attachment",
                format!(
                    "task `{}` needs an attachment (a photo or file reference)",
                    task
                ),
            ));
        }
        Ok(())
    }
}
