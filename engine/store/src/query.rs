//! Which cases a listing wants ([`CaseFilter`]), and what a backend that
//! keeps its own index answers for it ([`Found`]): the ids of the matching
//! cases of one page, so the caller reads only those.

use std::collections::HashSet;

use wangge_policy::{Case, CaseId, Timestamp};

/// The cases a listing wants; every field set must hold.
#[derive(Debug, Clone, Default)]
pub struct CaseFilter {
    pub workflow: Option<String>,
    /// Units whose cases count (a unit and everything below it).
    pub units: Option<HashSet<String>>,
    pub state: Option<String>,
    pub class: Option<String>,
    pub level: Option<String>,
    /// The source channel (the workflow's `channel` field: 12345, 巡查 …).
    pub channel: Option<String>,
    /// Only cases that climbed past their ceiling (出格).
    pub breached: bool,
    /// Only cases that missed a limit at the top of their ladder.
    pub overdue: bool,
    /// `created_at` in `[created_from, created_to)`.
    pub created_from: Option<Timestamp>,
    pub created_to: Option<Timestamp>,
    /// The earliest pending deadline in `[deadline_from, deadline_to)`
    /// (cases without one never match when either is set).
    pub deadline_from: Option<Timestamp>,
    pub deadline_to: Option<Timestamp>,
}

impl CaseFilter {
    pub fn matches(&self, c: &Case) -> bool {
        let next = c.next_deadline().map(|d| d.due);
        self.workflow.as_ref().is_none_or(|w| *w == c.workflow)
            && self
                .units
                .as_ref()
                .is_none_or(|u| c.unit.as_ref().is_some_and(|x| u.contains(x)))
            && self.state.as_ref().is_none_or(|s| *s == c.state)
            && self
                .class
                .as_ref()
                .is_none_or(|s| Some(s) == c.class.as_ref())
            && self.level.as_ref().is_none_or(|s| *s == c.level)
            && self
                .channel
                .as_ref()
                .is_none_or(|s| Some(s) == c.channel.as_ref())
            && (!self.breached || c.breached())
            && (!self.overdue || c.overdue > 0)
            && self.created_from.is_none_or(|t| c.created_at >= t)
            && self.created_to.is_none_or(|t| c.created_at < t)
            && self.deadline_window(next)
    }

    /// Whether `next` (a case's earliest pending deadline) is in the window.
    pub fn deadline_window(&self, next: Option<Timestamp>) -> bool {
        if self.deadline_from.is_none() && self.deadline_to.is_none() {
            return true;
        }
        next.is_some_and(|t| {
            self.deadline_from.is_none_or(|f| t >= f) && self.deadline_to.is_none_or(|e| t < e)
        })
    }
}

/// One page of matching case ids, ascending, and the id to continue from
/// when there are more.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Found {
    pub ids: Vec<CaseId>,
    pub next: Option<CaseId>,
}
