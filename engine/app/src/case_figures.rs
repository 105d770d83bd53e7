//! What incentives and evaluation count of a case, in one place: whether it
//! was closed (作废 is final but not closed), handled on time, and the
//! resident's last feedback. The words are the shipped workflows'; [5/10]
//! moves them into the policy.

use wangge_store::CaseFact;

/// The final state that ends a case without closing it.
pub const VOID_STATE: &str = "作废";
/// Feedback outcomes.
pub const SATISFIED: &str = "满意";
pub const UNSATISFIED: &str = "不满意";
/// The class whose breaches count apart (大事出格).
pub const BIG_CLASS: &str = "大事";

/// Closed (not voided) at a moment `within` accepts.
pub fn closed_within(c: &CaseFact<'_>, within: impl Fn(i64) -> bool) -> bool {
    c.closed_at.is_some_and(within) && c.state != VOID_STATE
}

/// Closed without an escalation or an overdue deadline.
pub fn on_time(c: &CaseFact<'_>) -> bool {
    c.escalations == 0 && c.overdue == 0
}

/// The last feedback: satisfied (`true`), unsatisfied (`false`) or none.
pub fn last_feedback(c: &CaseFact<'_>) -> Option<bool> {
    c.outcomes.iter().rev().find_map(|o| match o.as_ref() {
        SATISFIED => Some(true),
        UNSATISFIED => Some(false),
        _ => None,
    })
}
