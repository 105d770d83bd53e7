//! Cases and their event log: the records a workflow produces. Stored as
//! versioned values (see `store`), so every field here is part of the
//! storage format.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;
use wangge_dsl::ast::ClockKind;

use crate::clock::Timestamp;

/// Case ids are assigned by the store, in order.
pub type CaseId = u64;

/// What a deadline guards.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DeadlineKind {
    /// The time limit of the level the case is at.
    Level { level: String },
    /// The time limit of the state the case is in.
    State { state: String },
    /// A summoned department's report-in (部门报到).
    ReportIn { department: String },
    /// The assignee's 签收.
    Accept { assignee: String },
    /// The decision on a pending request (延期申请, 挂账).
    Approve { request: String },
    /// A reminder (`remind limits at 80%`) before the deadline `of` runs out.
    Remind { of: Box<DeadlineKind>, percent: u8 },
}

impl DeadlineKind {
    /// Whether it is a reminder rather than a time limit.
    pub fn is_reminder(&self) -> bool {
        matches!(self, DeadlineKind::Remind { .. })
    }

    /// A short description: `level 社区`, `签收 by P2`, `reminder at 80% of level 社区`.
    pub fn describe(&self) -> String {
        match self {
            DeadlineKind::Level { level } => format!("level {level}"),
            DeadlineKind::State { state } => format!("state {state}"),
            DeadlineKind::ReportIn { department } => format!("report-in {department}"),
            DeadlineKind::Accept { assignee } => format!("签收 by {assignee}"),
            DeadlineKind::Approve { request } => format!("decision on {request}"),
            DeadlineKind::Remind { of, percent } => {
                format!("reminder at {percent}% of {}", of.describe())
            }
        }
    }
}

/// A pending time limit. Its timer fires at `due`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deadline {
    #[serde(flatten)]
    pub kind: DeadlineKind,
    pub clock: ClockKind,
    pub due: Timestamp,
}

/// Climbing past the class's ceiling (出格).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Breach {
    pub from: String,
    pub to: String,
    pub at: Timestamp,
}

/// A department summoned at a level (网格呼叫、街镇处置、部门报到).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summon {
    pub department: String,
    pub summoned_at: Timestamp,
    pub due: Timestamp,
    pub reported_at: Option<Timestamp>,
    /// The department did not report in by `due`.
    pub missed: bool,
}

/// One case of a workflow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Case {
    pub id: CaseId,
    pub workflow: String,
    /// Starts at 1; every change adds 1. Actions may name the version they expect.
    pub version: u64,
    /// The policy version (content hash) the case was reported under.
    pub policy_version: String,
    pub state: String,
    pub level: String,
    /// 小事/难事/大事 …, when the workflow classifies.
    pub class: Option<String>,
    /// The highest level the class may reach without a breach.
    pub ceiling: Option<String>,
    /// The unit (grid) the event was reported in.
    pub unit: Option<String>,
    /// The reported event as given.
    pub data: Value,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub closed_at: Option<Timestamp>,
    pub deadlines: Vec<Deadline>,
    /// Set while paused (挂账): the clocks stand still.
    pub paused_at: Option<Timestamp>,
    pub breaches: Vec<Breach>,
    pub summons: Vec<Summon>,
    pub escalations: u32,
    pub reopened: u32,
    /// Limits missed at the top of the ladder, where the case cannot climb.
    pub overdue: u32,
    /// Sequence number of the next event.
    pub next_event: u64,
    pub idempotency_key: Option<String>,
    /// Who reported it.
    #[serde(default)]
    pub reported_by: Option<String>,
    /// Everyone who acted on it (not the timer), in order of first action:
    /// whom a settlement credits with the case.
    #[serde(default)]
    pub handlers: Vec<String>,
    /// Outcomes of its actions, in order (`不满意`, `满意`, `合格` …).
    #[serde(default)]
    pub outcomes: Vec<String>,
    /// Set while a timer of the case cannot fire (its policy fails): the
    /// case waits for a retry; other cases are not held up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incident: Option<Incident>,
    /// The ladder it climbs, on a workflow of several ladders (none: the
    /// workflow's first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ladder: Option<String>,
    /// Where it came from (网格员巡查, 12345, 小程序 …): the report field
    /// the workflow names as its `channel`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// The reporting unit as the classifying table saw it (its attributes
    /// at report time), kept so a replay classifies the same way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit_seen: Option<Value>,
    /// Whom the case is assigned to (`派遣` with an assignee), until it is
    /// returned, reassigned, climbs a level or closes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignment: Option<Assignment>,
    /// A request waiting for approval from above (延期申请, 挂账).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<PendingRequest>,
}

/// A request (`requests { … }` of the workflow) waiting for 批准 or 驳回.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingRequest {
    pub name: String,
    pub by: String,
    pub at: Timestamp,
    pub reason: String,
}

/// A case's assignee: a person (or department) of the registry, the action
/// that assigned it, by whom and when, and when they 签收'd.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assignment {
    pub to: String,
    pub action: String,
    pub by: String,
    pub at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted_at: Option<Timestamp>,
}

/// A timer of a case that could not fire, retried with backoff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Incident {
    /// Why the last attempt failed.
    pub message: String,
    /// When the first attempt failed.
    pub since: Timestamp,
    pub attempts: u32,
    /// When the next attempt is due: the case's timers wait until then.
    pub retry_at: Timestamp,
}

impl Incident {
    /// The first retry after one minute, doubling, at most an hour apart.
    pub fn backoff(attempts: u32) -> i64 {
        60_i64
            .saturating_mul(1_i64 << attempts.saturating_sub(1).min(6))
            .min(3600)
    }
}

impl Case {
    /// Whether the case has left its class's ceiling (出格).
    pub fn breached(&self) -> bool {
        !self.breaches.is_empty()
    }

    /// The earliest pending timer, reminders included.
    pub fn next_timer(&self) -> Option<&Deadline> {
        if self.paused_at.is_some() {
            return None;
        }
        self.deadlines.iter().min_by_key(|d| d.due)
    }

    /// The earliest pending time limit (reminders are not limits).
    pub fn next_deadline(&self) -> Option<&Deadline> {
        if self.paused_at.is_some() {
            return None;
        }
        self.deadlines
            .iter()
            .filter(|d| !d.kind.is_reminder())
            .min_by_key(|d| d.due)
    }
}

/// One entry of a case's append-only log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseEvent {
    pub case_id: CaseId,
    pub seq: u64,
    /// Domain time of the event (for timer events: when the limit ran out).
    pub at: Timestamp,
    /// The verified caller (a person, `service:NAME`), or `timer`.
    pub actor: String,
    /// The person a service account acted for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_behalf: Option<String>,
    pub action: String,
    pub outcome: Option<String>,
    pub state_before: Option<String>,
    pub state_after: String,
    pub level_before: Option<String>,
    pub level_after: String,
    pub policy_version: String,
    /// Why: the decision, the transition, the limit that ran out …
    pub explanation: Why,
    pub note: Option<String>,
}

/// An event's explanation, kept as serialised JSON (it is written far more
/// often than it is read).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Why(Box<RawValue>);

impl Why {
    pub fn new<T: Serialize + ?Sized>(v: &T) -> Why {
        match serde_json::value::to_raw_value(v) {
            Ok(raw) => Why(raw),
            Err(_) => Why::null(),
        }
    }

    /// From JSON text already written (checked, not re-parsed into values).
    pub fn from_json(text: String) -> Why {
        match RawValue::from_string(text) {
            Ok(raw) => Why(raw),
            Err(_) => Why::null(),
        }
    }

    pub fn null() -> Why {
        Why(serde_json::value::to_raw_value(&Value::Null)
            .unwrap_or_else(|_| RawValue::NULL.to_owned()))
    }

    /// The explanation as a JSON value.
    pub fn json(&self) -> Value {
        serde_json::from_str(self.0.get()).unwrap_or(Value::Null)
    }

    pub fn as_str(&self) -> &str {
        self.0.get()
    }
}

impl PartialEq for Why {
    fn eq(&self, other: &Why) -> bool {
        self.0.get() == other.0.get()
    }
}
