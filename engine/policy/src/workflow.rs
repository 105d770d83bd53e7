//! Case workflows: a state machine declared by the policy, running on a
//! ladder with per-class ceilings, time limits on three clocks, pauses, and
//! department summons. Everything here is a pure function of (policy, case,
//! action, time) → (new case, event); storage and locking live in `cases`.
//!
//! Built-in actions (every workflow has them):
//! - `escalate`: the handler declares the case beyond its level; it climbs one rung.
//! - `pause` / `resume`: 挂账 — the clocks stand still while paused; on
//!   resume every deadline moves back by the paused time, as its clock counts.
//! - `summon` (with departments): at a level that has a `summon` limit.
//! - `report_in` (with a department): a summoned department reports in.
//!
//! Policy transitions `动作 [结果]: 从状态, … -> 到状态 [restart]` are legal only from
//! the listed states. Entering a state arms that state's limit; `restart`
//! re-arms the level limit (返工 gets a fresh time limit); entering a final
//! state clears every deadline. While paused only `resume` and transitions
//! into a final state are allowed.
//!
//! When a limit runs out the case climbs one rung (the level limit of the
//! new level and the state's limit start again from that moment). Climbing
//! past the class's ceiling records a breach (出格). At the top of the ladder
//! a missed limit is counted as `overdue` instead.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{json, Value};
use wangge_dsl::ast::{self, ClockKind};
use wangge_dsl::suggest::help_for;

use crate::calendar::CompiledCalendar;
use crate::case::{Breach, Case, CaseEvent, CaseId, Deadline, DeadlineKind, Summon, Why};
use crate::case_error::CaseError;
use crate::clock::Timestamp;
use crate::items::Items;
use crate::zone::Zone;

/// A time limit: an amount of a clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// Seconds (紧急工作时, 工作时) or days (工作日).
    pub amount: i64,
    pub clock: ClockKind,
}

/// A request's rule (`延期申请: extend 2 工作日 approve 1 工作日`).
#[derive(Debug, Clone, PartialEq)]
pub struct RequestRule {
    /// What 批准 adds to the pending deadlines; `None`: 批准 pauses (挂账).
    pub extend: Option<Limit>,
    /// How long the level above has to decide.
    pub approve: Option<Limit>,
}

/// A dispatching action's rule (`assign { 派遣: 专职网格员 accept 1h 工作时 }`).
#[derive(Debug, Clone, PartialEq)]
pub struct AssignRule {
    /// Roles an assignee may hold.
    pub roles: Vec<String>,
    /// How long the assignee has to 签收.
    pub accept: Option<Limit>,
    /// Roles for cases at a level of their own (`派遣 at 街道: …`).
    pub by_level: HashMap<String, Vec<String>>,
}

impl AssignRule {
    /// The roles an assignee of a case at `level` may hold.
    pub fn roles_at(&self, level: &str) -> &[String] {
        self.by_level.get(level).unwrap_or(&self.roles)
    }
}

fn not_assigned(id: crate::CaseId) -> CaseError {
    CaseError::InvalidArgument {
        field: "action".into(),
        message: format!("case {id} is assigned to nobody"),
    }
}

fn not_the_assignee(a: &crate::case::Assignment, who: &Actor) -> CaseError {
    CaseError::InvalidArgument {
        field: "actor".into(),
        message: format!(
            "only the assignee `{}` may do this, not `{}`",
            a.to,
            who.credited()
        ),
    }
}

/// The reason `note` an action states, or the error naming `note`.
fn reason_required<'a>(who: &'a Actor, action: &str) -> Result<&'a str, CaseError> {
    match who.note.as_deref().map(str::trim) {
        Some(n) if !n.is_empty() => Ok(n),
        _ => Err(CaseError::InvalidArgument {
            field: "note".into(),
            message: format!("{action} states its reason in `note`"),
        }),
    }
}

impl Limit {
    fn describe(&self) -> String {
        match self.clock {
            ClockKind::WorkingDays => format!("{} 工作日", self.amount),
            c => format!("{} {}", human_secs(self.amount), c.as_str()),
        }
    }
}

fn human_secs(s: i64) -> String {
    match (s / 3600, s % 3600 / 60, s % 60) {
        (h, 0, 0) => format!("{h}h"),
        (0, m, 0) => format!("{m}m"),
        (h, m, 0) => format!("{h}h{m:02}m"),
        _ => format!("{s}s"),
    }
}

#[derive(Debug, Clone)]
pub struct CTransition {
    pub action: String,
    pub outcome: Option<String>,
    pub from: Vec<String>,
    pub to: String,
    pub restart: bool,
    /// Only a party member may take it (`requires 党员`: 党员接单).
    pub requires: Option<crate::org::PartyRequirement>,
}

impl CTransition {
    fn text(&self) -> String {
        let outcome = self
            .outcome
            .as_ref()
            .map(|o| format!(" {o}"))
            .unwrap_or_default();
        let restart = if self.restart { " restart" } else { "" };
        format!(
            "{}{outcome}: {} -> {}{restart}",
            self.action,
            self.from.join(", "),
            self.to
        )
    }
}

#[derive(Debug, Clone)]
struct Classifier {
    item: String,
    class_output: String,
    level_output: String,
}

/// A compiled `workflow`.
#[derive(Debug, Clone)]
pub struct CompiledWorkflow {
    pub name: String,
    /// Its (first) ladder.
    pub ladder: String,
    /// The levels of its first ladder, lowest first.
    pub levels: Vec<String>,
    /// Every ladder it runs on (`on 农村网格, 居民区网格`), the first first.
    pub ladders: Vec<(String, Vec<String>)>,
    calendar: Option<Arc<CompiledCalendar>>,
    /// The schema its report data declares (`data 事件报告`).
    data: Option<String>,
    /// Final states that count as 办结.
    closed: Vec<String>,
    /// Feedback outcomes and how much each counts as satisfied.
    feedback: Vec<(String, rust_decimal::Decimal)>,
    /// The report field naming the source channel.
    channel: Option<String>,
    /// The classes its classifier declares (`等级: ["大事", "难事", "小事"]`).
    classes: Vec<String>,
    classify: Option<Classifier>,
    start: Option<String>,
    pub initial: String,
    pub finals: Vec<String>,
    pub transitions: Vec<CTransition>,
    /// Class → its ceiling level; alternatives for several ladders (the
    /// first one on the case's ladder counts).
    ceiling: HashMap<String, Vec<String>>,
    level_limits: HashMap<String, Limit>,
    state_limits: HashMap<String, Limit>,
    summons: HashMap<String, Limit>,
    /// Dispatching actions: the roles they may assign, the 签收 limit.
    assign: HashMap<String, AssignRule>,
    /// Requests that need approval, by name.
    requests: HashMap<String, RequestRule>,
    /// Reminders: which limits, at which shares (`remind limits at 80%`).
    reminders: Vec<(wangge_dsl::ast::RemindOf, Vec<u8>)>,
    /// Limits of one class only (`街道 for 大事: …`), by level or state,
    /// then class; they take the place of the general limit for that class.
    class_limits: HashMap<String, HashMap<String, Limit>>,
    class_summons: HashMap<String, HashMap<String, Limit>>,
}

/// The dispatching actions' rules: the general line of each, with the
/// roles of its `at LEVEL` lines.
fn assign_rules(lines: &[ast::AssignRule]) -> HashMap<String, AssignRule> {
    let names = |r: &ast::AssignRule| r.roles.iter().map(|i| i.name.clone()).collect();
    let mut out: HashMap<String, AssignRule> = (lines.iter())
        .filter(|r| r.level.is_none())
        .map(|r| {
            let rule = AssignRule {
                roles: names(r),
                accept: r.accept.as_ref().map(|l| Limit {
                    amount: l.amount,
                    clock: l.clock,
                }),
                by_level: HashMap::new(),
            };
            (r.action.name.clone(), rule)
        })
        .collect();
    for r in lines {
        if let (Some(level), Some(rule)) = (&r.level, out.get_mut(&r.action.name)) {
            rule.by_level.insert(level.name.clone(), names(r));
        }
    }
    out
}

/// An explanation when asked for one, `null` otherwise (replays skip them).
macro_rules! why {
    ($explain:expr, $($json:tt)+) => {
        if $explain {
            json!($($json)+)
        } else {
            Value::Null
        }
    };
}

/// An action on a case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// A policy transition, with its outcome (`反馈 满意`).
    Transition {
        name: String,
        outcome: Option<String>,
        /// Whom a dispatching action (`assign { 派遣: … }`) assigns.
        assignee: Option<String>,
    },
    /// 签收: the assignee takes the case on.
    Accept,
    /// 改派: another assignee (the note says why).
    Reassign {
        assignee: String,
    },
    /// 退单: the assignee hands it back to the dispatcher (the note says why).
    Return,
    /// 批准: the pending request is granted (its deadline moves, or the case pauses).
    Approve,
    /// 驳回: the pending request is refused (the note says why).
    Refuse,
    Escalate,
    Pause,
    Resume,
    Summon {
        departments: Vec<String>,
    },
    ReportIn {
        department: String,
    },
}

impl Action {
    /// An action from its wire form: a built-in name (`escalate`, `pause`,
    /// `resume`, `summon` with departments, `report_in` with exactly one
    /// department) or a policy transition with its optional outcome. The
    /// error names the offending field.
    pub fn parse(
        name: &str,
        outcome: Option<&str>,
        departments: &[String],
        assignee: Option<&str>,
    ) -> Result<Action, (&'static str, String)> {
        if assignee.is_some()
            && matches!(
                name,
                "签收"
                    | "退单"
                    | "批准"
                    | "驳回"
                    | "escalate"
                    | "pause"
                    | "resume"
                    | "summon"
                    | "report_in"
            )
        {
            return Err(("assignee", format!("`{name}` takes no assignee")));
        }
        Ok(match name {
            "" => return Err(("action", "is required".into())),
            "escalate" => Action::Escalate,
            "pause" => Action::Pause,
            "resume" => Action::Resume,
            "summon" => Action::Summon {
                departments: departments.to_vec(),
            },
            "report_in" => match departments {
                [d] => Action::ReportIn {
                    department: d.clone(),
                },
                _ => {
                    return Err((
                        "departments",
                        "report_in takes exactly one department".into(),
                    ))
                }
            },
            "签收" => Action::Accept,
            "批准" => Action::Approve,
            "驳回" => Action::Refuse,
            "退单" => Action::Return,
            "改派" => match assignee {
                Some(a) => Action::Reassign {
                    assignee: a.to_string(),
                },
                None => return Err(("assignee", "改派 names the new assignee".into())),
            },
            name => Action::Transition {
                name: name.to_string(),
                outcome: outcome.map(str::to_string),
                assignee: assignee.map(str::to_string),
            },
        })
    }

    pub fn name(&self) -> String {
        match self {
            Action::Transition {
                name,
                outcome: Some(o),
                ..
            } => format!("{name} {o}"),
            Action::Transition {
                name,
                outcome: None,
                ..
            } => name.clone(),
            Action::Accept => "签收".into(),
            Action::Reassign { .. } => "改派".into(),
            Action::Return => "退单".into(),
            Action::Approve => "批准".into(),
            Action::Refuse => "驳回".into(),
            Action::Escalate => "escalate".into(),
            Action::Pause => "pause".into(),
            Action::Resume => "resume".into(),
            Action::Summon { .. } => "summon".into(),
            Action::ReportIn { .. } => "report_in".into(),
        }
    }
}

/// A case after a change, with the event that records it.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub case: Case,
    pub event: CaseEvent,
}

impl Change {
    /// The case marked with an incident: its timer could not fire at `now`
    /// because of `message`; it is retried with backoff. The event
    /// (`incident`, by the timer) records why.
    pub fn incident(case: &Case, message: String, now: Timestamp) -> Change {
        let attempts = case.incident.as_ref().map_or(0, |i| i.attempts) + 1;
        let since = case.incident.as_ref().map_or(now, |i| i.since);
        let mut next = case.clone();
        next.version += 1;
        next.updated_at = now;
        next.next_event += 1;
        next.incident = Some(crate::case::Incident {
            message: message.clone(),
            since,
            attempts,
            retry_at: now.saturating_add(crate::case::Incident::backoff(attempts)),
        });
        let event = CaseEvent {
            case_id: case.id,
            seq: case.next_event,
            at: now,
            actor: "timer".into(),
            on_behalf: None,
            action: "incident".into(),
            outcome: None,
            state_before: Some(case.state.clone()),
            state_after: case.state.clone(),
            level_before: Some(case.level.clone()),
            level_after: case.level.clone(),
            policy_version: case.policy_version.clone(),
            explanation: Why::new(&serde_json::json!({
                "incident": message,
                "attempts": attempts,
                "retry_at": next.incident.as_ref().map(|i| i.retry_at),
            })),
            note: None,
        };
        Change { case: next, event }
    }
}

/// Who did it and why, for the event log.
#[derive(Debug, Clone, Default)]
pub struct Actor {
    /// The verified caller (a person, `service:NAME`, `timer`).
    pub actor: String,
    /// The person a service account acts for (recorded with it).
    pub on_behalf: Option<String>,
    pub note: Option<String>,
}

impl Actor {
    /// Whom the act credits: the person acted for, else the actor.
    pub fn credited(&self) -> &str {
        self.on_behalf.as_deref().unwrap_or(&self.actor)
    }
}

impl CompiledWorkflow {
    pub fn compile(
        w: &ast::Workflow,
        ladders: &std::collections::BTreeMap<String, Vec<String>>,
        calendars: &HashMap<String, Arc<CompiledCalendar>>,
    ) -> Option<CompiledWorkflow> {
        let levels = ladders.get(&w.ladder.name)?.clone();
        let mut all_ladders = vec![(w.ladder.name.clone(), levels.clone())];
        for l in &w.more_ladders {
            all_ladders.push((l.name.clone(), ladders.get(&l.name)?.clone()));
        }
        let is_level = |name: &str| {
            all_ladders
                .iter()
                .any(|(_, ls)| ls.iter().any(|l| l == name))
        };
        let mut level_limits = HashMap::new();
        let mut state_limits = HashMap::new();
        let mut class_limits: HashMap<String, HashMap<String, Limit>> = HashMap::new();
        let mut class_summons: HashMap<String, HashMap<String, Limit>> = HashMap::new();
        for (group, into) in [
            (&w.limits, &mut class_limits),
            (&w.summons, &mut class_summons),
        ] {
            for l in group {
                if let Some(c) = &l.class {
                    into.entry(l.key.name.clone()).or_default().insert(
                        c.name.clone(),
                        Limit {
                            amount: l.amount,
                            clock: l.clock,
                        },
                    );
                }
            }
        }
        for l in w.limits.iter().filter(|l| l.class.is_none()) {
            let limit = Limit {
                amount: l.amount,
                clock: l.clock,
            };
            if is_level(&l.key.name) {
                level_limits.insert(l.key.name.clone(), limit);
            } else {
                state_limits.insert(l.key.name.clone(), limit);
            }
        }
        Some(CompiledWorkflow {
            name: w.name.name.clone(),
            ladder: w.ladder.name.clone(),
            data: w.data.as_ref().map(|d| d.name.clone()),
            closed: if w.closed.is_empty() {
                w.finals.iter().map(|f| f.name.clone()).collect()
            } else {
                w.closed.iter().map(|c| c.name.clone()).collect()
            },
            feedback: w
                .feedback
                .iter()
                .filter_map(|(o, l)| {
                    let d = wangge_dsl::Const::from(&l.kind).as_decimal()?;
                    Some((o.name.clone(), d))
                })
                .collect(),
            channel: w.channel.as_ref().map(|c| c.name.clone()),
            classes: Vec::new(),
            calendar: match &w.calendar {
                Some(c) => Some(calendars.get(&c.name)?.clone()),
                None => None,
            },
            classify: w.classify.as_ref().map(|c| Classifier {
                item: c.item.name.clone(),
                class_output: c
                    .class_output
                    .as_ref()
                    .map_or("等级".into(), |i| i.name.clone()),
                level_output: c
                    .level_output
                    .as_ref()
                    .map_or("处置层级".into(), |i| i.name.clone()),
            }),
            start: w.start.as_ref().map(|s| s.name.clone()),
            initial: w.initial.as_ref()?.name.clone(),
            finals: w.finals.iter().map(|f| f.name.clone()).collect(),
            transitions: w
                .transitions
                .iter()
                .map(|t| CTransition {
                    action: t.action.name.clone(),
                    outcome: t.outcome.as_ref().map(|o| o.name.clone()),
                    from: t.from.iter().map(|f| f.name.clone()).collect(),
                    to: t.to.name.clone(),
                    restart: t.restart,
                    requires: t
                        .requires
                        .as_ref()
                        .and_then(|r| crate::org::PartyRequirement::from_word(&r.name)),
                })
                .collect(),
            ceiling: {
                let mut m: HashMap<String, Vec<String>> = HashMap::new();
                for (c, l) in &w.ceiling {
                    m.entry(c.name.clone()).or_default().push(l.name.clone());
                }
                m
            },
            level_limits,
            state_limits,
            class_limits,
            class_summons,
            reminders: w.reminders.iter().map(|r| (r.of, r.at.clone())).collect(),
            requests: w
                .requests
                .iter()
                .map(|r| {
                    let limit = |l: &ast::Limit| Limit {
                        amount: l.amount,
                        clock: l.clock,
                    };
                    (
                        r.name.name.clone(),
                        RequestRule {
                            extend: r.extend.as_ref().map(limit),
                            approve: r.approve.as_ref().map(limit),
                        },
                    )
                })
                .collect(),
            assign: assign_rules(&w.assign),
            summons: w
                .summons
                .iter()
                .filter(|l| l.class.is_none())
                .map(|l| {
                    (
                        l.key.name.clone(),
                        Limit {
                            amount: l.amount,
                            clock: l.clock,
                        },
                    )
                })
                .collect(),
            levels,
            ladders: all_ladders,
        })
    }

    /// The calendar's time zone (for showing times), +08:00 without one.
    pub fn zone(&self) -> &Zone {
        static CHINA: Zone = Zone::CHINA;
        self.calendar.as_ref().map_or(&CHINA, |c| &c.zone)
    }

    pub fn calendar(&self) -> Option<&CompiledCalendar> {
        self.calendar.as_deref()
    }

    fn due(&self, from: Timestamp, limit: Limit) -> Result<Timestamp, CaseError> {
        match &self.calendar {
            Some(c) => Ok(c.add(from, limit.amount, limit.clock)?),
            None => Ok(from + limit.amount),
        }
    }

    /// The levels of the ladder `case` climbs (its own on a workflow of
    /// several ladders; the first otherwise).
    fn ladder_of(&self, case: &Case) -> &[String] {
        case.ladder
            .as_ref()
            .and_then(|name| self.ladders.iter().find(|(n, _)| n == name))
            .map_or(self.levels.as_slice(), |(_, ls)| ls.as_slice())
    }

    fn level_index(&self, case: &Case) -> usize {
        self.ladder_of(case)
            .iter()
            .position(|l| *l == case.level)
            .unwrap_or(0)
    }

    /// Whether the case stands at the top of its ladder.
    fn at_top(&self, case: &Case) -> bool {
        self.level_index(case) + 1 >= self.ladder_of(case).len()
    }

    /// The ceiling level of `class` on `ladder`: the first of its
    /// alternatives on it.
    fn ceiling_on(&self, class: Option<&String>, ladder: &[String]) -> Option<String> {
        self.ceiling
            .get(class?)?
            .iter()
            .find(|l| ladder.contains(l))
            .cloned()
    }

    /// The ladder a new case climbs: the reporting unit's (`网格体系` of
    /// `unit_seen`), else the first of the workflow's ladders with the
    /// unit's level, else the first with its starting level. `None` (the
    /// first) on one ladder.
    fn choose_ladder(&self, unit_seen: Option<&Value>, start: &str) -> Option<String> {
        if self.ladders.len() < 2 {
            return None;
        }
        let field = |k: &str| unit_seen.and_then(|u| u.get(k)).and_then(Value::as_str);
        let has = |ls: &Vec<String>, l: &str| ls.iter().any(|x| x == l);
        // The unit's own ladder (`网格体系`, found at import), else the first
        // ladder with its level, else the first with the starting level.
        field("网格体系")
            .and_then(|name| self.ladders.iter().find(|(n, _)| n == name))
            .or_else(|| {
                field("层级").and_then(|ul| self.ladders.iter().find(|(_, ls)| has(ls, ul)))
            })
            .or_else(|| self.ladders.iter().find(|(_, ls)| has(ls, start)))
            .map(|(n, _)| n.clone())
    }

    /// Whether its ladders are several (the reporting unit then picks one).
    pub fn has_several_ladders(&self) -> bool {
        self.ladders.len() > 1
    }

    /// Every state a case of this workflow can be in.
    pub fn states(&self) -> std::collections::BTreeSet<&str> {
        std::iter::once(self.initial.as_str())
            .chain(self.finals.iter().map(String::as_str))
            .chain(self.transitions.iter().flat_map(|t| {
                t.from
                    .iter()
                    .map(String::as_str)
                    .chain(std::iter::once(t.to.as_str()))
            }))
            .collect()
    }

    /// The classes its classification gives (the keys of its ceilings).
    pub fn classes(&self) -> impl Iterator<Item = &str> {
        self.ceiling.keys().map(String::as_str)
    }

    /// The table or rule set that classifies reports, if any.
    /// The schema of its report data: its `data`, or else the schema of
    /// its classifier's first parameter.
    pub fn data_schema<'s>(&self, set: &'s crate::PolicySet) -> Option<&'s crate::CompiledSchema> {
        match &self.data {
            Some(name) => set.schemas.get(name),
            None => set.param_schema(self.classifier()?, 0),
        }
    }

    /// Whether a case in `state` counts as 办结 (`closed`; by default
    /// every final state).
    pub fn counts_as_closed(&self, state: &str) -> bool {
        self.closed.iter().any(|c| c == state)
    }

    /// How much `outcome` counts as satisfied, if it is feedback.
    pub fn feedback_weight(&self, outcome: &str) -> Option<rust_decimal::Decimal> {
        self.feedback
            .iter()
            .find(|(o, _)| o == outcome)
            .map(|(_, w)| *w)
    }

    /// The classes its classifier declares, in order.
    pub fn declared_classes(&self) -> &[String] {
        &self.classes
    }

    /// With the classes its classifier declares.
    pub(crate) fn with_classes(mut self, classes: Vec<String>) -> CompiledWorkflow {
        self.classes = classes;
        self
    }

    pub fn classifier(&self) -> Option<&str> {
        self.classify.as_ref().map(|c| c.item.as_str())
    }

    /// The rule of a dispatching action, if `action` is one.
    pub fn assign_rule(&self, action: &str) -> Option<&AssignRule> {
        self.assign.get(action)
    }

    /// Assigns `case` to `to` by `action`; the 签收 limit starts now.
    fn assign_to(
        &self,
        case: &mut Case,
        action: &str,
        to: &str,
        who: &Actor,
        now: Timestamp,
    ) -> Result<(), CaseError> {
        Self::drop_accept(case);
        case.assignment = Some(crate::case::Assignment {
            to: to.to_string(),
            action: action.to_string(),
            by: who.credited().to_string(),
            at: now,
            accepted_at: None,
        });
        if let Some(limit) = self.assign.get(action).and_then(|r| r.accept) {
            case.deadlines.push(Deadline {
                kind: DeadlineKind::Accept {
                    assignee: to.to_string(),
                },
                clock: limit.clock,
                due: self.due(now, limit)?,
            });
        }
        Ok(())
    }

    fn drop_accept(case: &mut Case) {
        case.deadlines
            .retain(|d| !matches!(d.kind, DeadlineKind::Accept { .. }));
    }

    /// A request (延期申请, 挂账) with its reason; the level above has its
    /// approve limit to decide.
    fn request(
        &self,
        next: &mut Case,
        name: &str,
        who: &Actor,
        now: Timestamp,
        explain: bool,
    ) -> Result<Value, CaseError> {
        if let Some(r) = &next.request {
            return Err(CaseError::InvalidArgument {
                field: "action".into(),
                message: format!(
                    "case {} already waits on `{}` by `{}`",
                    next.id, r.name, r.by
                ),
            });
        }
        let reason = reason_required(who, name)?.to_string();
        next.request = Some(crate::case::PendingRequest {
            name: name.to_string(),
            by: who.credited().to_string(),
            at: now,
            reason,
        });
        let mut due = None;
        if let Some(limit) = self.requests.get(name).and_then(|r| r.approve) {
            let d = self.due(now, limit)?;
            due = Some(self.zone().format(d));
            next.deadlines.push(Deadline {
                kind: DeadlineKind::Approve {
                    request: name.to_string(),
                },
                clock: limit.clock,
                due: d,
            });
        }
        Ok(why!(explain, {"request": name, "reason": who.note, "decide_by": due}))
    }

    /// 批准 or 驳回 of the pending request. 批准 of an extension moves
    /// every pending limit by it (on the extension's clock); of a 挂账,
    /// pauses the case. 驳回 states why and changes nothing else.
    fn decide(
        &self,
        next: &mut Case,
        who: &Actor,
        now: Timestamp,
        approve: bool,
        explain: bool,
    ) -> Result<Value, CaseError> {
        let Some(r) = next.request.take() else {
            return Err(CaseError::InvalidArgument {
                field: "action".into(),
                message: format!("case {} has no request waiting", next.id),
            });
        };
        if !approve {
            reason_required(who, "驳回")?;
        }
        next.deadlines
            .retain(|d| !matches!(d.kind, DeadlineKind::Approve { .. }));
        let rule = self.requests.get(&r.name).cloned();
        let mut outcome = "refused";
        if approve {
            match rule.and_then(|r| r.extend) {
                Some(ext) => {
                    for d in &mut next.deadlines {
                        d.due = self.due(d.due, ext)?;
                    }
                    outcome = "extended";
                }
                None => {
                    if next.paused_at.is_none() {
                        next.paused_at = Some(now);
                    }
                    outcome = "paused";
                }
            }
        }
        Ok(why!(explain, {
            "request": r.name,
            "requested_by": r.by,
            "reason": r.reason,
            "decision": outcome,
            "note": who.note,
            "deadlines": self.limits_json(&next.deadlines),
        }))
    }

    /// 签收 by the assignee: its limit stops.
    fn accept(
        &self,
        next: &mut Case,
        who: &Actor,
        now: Timestamp,
        explain: bool,
    ) -> Result<Value, CaseError> {
        let id = next.id;
        let Some(a) = next.assignment.as_mut() else {
            return Err(not_assigned(id));
        };
        if a.to != who.credited() {
            return Err(not_the_assignee(a, who));
        }
        if a.accepted_at.is_some() {
            return Err(CaseError::InvalidArgument {
                field: "action".into(),
                message: format!("`{}` has already 签收'd case {id}", a.to),
            });
        }
        a.accepted_at = Some(now);
        let late = a.at;
        Self::drop_accept(next);
        Ok(why!(explain, {"assignee": who.credited(), "assigned_at": self.zone().format(late)}))
    }

    /// 改派: a new assignee, with a reason; the 签收 limit starts again.
    fn reassign(
        &self,
        next: &mut Case,
        to: &str,
        who: &Actor,
        now: Timestamp,
        explain: bool,
    ) -> Result<Value, CaseError> {
        let Some(old) = next.assignment.clone() else {
            return Err(not_assigned(next.id));
        };
        reason_required(who, "改派")?;
        if old.to == to {
            return Err(CaseError::InvalidArgument {
                field: "assignee".into(),
                message: format!("case {} is already assigned to `{to}`", next.id),
            });
        }
        self.assign_to(next, &old.action, to, who, now)?;
        Ok(why!(explain, {"from": old.to, "to": to, "reason": who.note}))
    }

    /// The party membership `action` requires (`requires 党员` on one of
    /// its transitions), if any.
    pub fn requires(&self, action: &str) -> Option<crate::org::PartyRequirement> {
        self.transitions
            .iter()
            .filter(|t| t.action == action)
            .find_map(|t| t.requires)
    }

    /// The policy's actions legal from `state` (with their outcome), in
    /// declaration order: what a 待办 list offers.
    pub fn actions_from(&self, state: &str) -> Vec<(&str, Option<&str>)> {
        self.transitions
            .iter()
            .filter(|t| t.from.iter().any(|f| f == state))
            .map(|t| (t.action.as_str(), t.outcome.as_deref()))
            .collect()
    }

    pub fn is_final(&self, state: &str) -> bool {
        self.finals.iter().any(|f| f == state)
    }

    /// Whether a case in `state` can still change: it is not final, or a
    /// transition leaves it (a reopen), or a summoned department has yet
    /// to report in.
    pub fn is_settled(&self, case: &Case) -> bool {
        self.is_final(&case.state)
            && !self
                .transitions
                .iter()
                .any(|t| t.from.contains(&case.state))
            && case.summons.iter().all(|s| s.reported_at.is_some())
    }

    /// The limit a deadline (or the one a reminder watches) counts.
    fn limit_of(&self, case: &Case, kind: &DeadlineKind) -> Option<&Limit> {
        match kind {
            DeadlineKind::Level { level } => self.level_limit(case, level),
            DeadlineKind::State { state } => self.state_limit(case, state),
            DeadlineKind::ReportIn { .. } => self.summon_limit(case),
            DeadlineKind::Accept { .. } => case
                .assignment
                .as_ref()
                .and_then(|a| self.assign.get(&a.action))
                .and_then(|r| r.accept.as_ref()),
            DeadlineKind::Approve { request } => {
                self.requests.get(request).and_then(|r| r.approve.as_ref())
            }
            DeadlineKind::Remind { of, .. } => self.limit_of(case, of),
        }
    }

    /// The shares of a limit of this kind the policy reminds at.
    fn reminder_shares(&self, kind: &DeadlineKind) -> &[u8] {
        use wangge_dsl::ast::RemindOf;
        let of = match kind {
            DeadlineKind::Level { .. } | DeadlineKind::State { .. } => RemindOf::Limits,
            DeadlineKind::Accept { .. } => RemindOf::Accept,
            DeadlineKind::Approve { .. } => RemindOf::Approve,
            DeadlineKind::ReportIn { .. } => RemindOf::Summons,
            DeadlineKind::Remind { .. } => return &[],
        };
        self.reminders
            .iter()
            .find(|(o, _)| *o == of)
            .map_or(&[], |(_, at)| at.as_slice())
    }

    /// Keeps reminders in step with the limits they watch: a limit armed
    /// or moved since `before` gets fresh reminders counted from `at` on its
    /// own clock (`percent` of the time left); reminders of limits that are
    /// gone or moved are dropped. A reminder already due is not set.
    fn sync_reminders(
        &self,
        before: &[Deadline],
        next: &mut Case,
        at: Timestamp,
    ) -> Result<(), CaseError> {
        if self.reminders.is_empty() {
            return Ok(());
        }
        // Limits armed or moved since `before` (few: usually one or none).
        let moved: Vec<(DeadlineKind, ClockKind, Timestamp)> = (next.deadlines.iter())
            .filter(|d| !d.kind.is_reminder() && !before.contains(d))
            .map(|d| (d.kind.clone(), d.clock, d.due))
            .collect();
        let limits = &next.deadlines;
        let keep: Vec<bool> = (limits.iter())
            .map(|d| match &d.kind {
                DeadlineKind::Remind { of, .. } => {
                    limits.iter().any(|l| l.kind == **of) && !moved.iter().any(|m| m.0 == **of)
                }
                _ => true,
            })
            .collect();
        if keep.contains(&false) {
            let mut flags = keep.into_iter();
            next.deadlines.retain(|_| flags.next().unwrap_or(true));
        }
        for (kind, clock, due) in moved {
            for &percent in self.reminder_shares(&kind) {
                let when = self.share_of(at, clock, due, percent)?;
                if when > at && when < due {
                    next.deadlines.push(Deadline {
                        kind: DeadlineKind::Remind {
                            of: Box::new(kind.clone()),
                            percent,
                        },
                        clock,
                        due: when,
                    });
                }
            }
        }
        Ok(())
    }

    /// The moment `percent` of the time from `at` to the limit's due has
    /// passed, counted on the limit's clock.
    fn share_of(
        &self,
        at: Timestamp,
        clock: ClockKind,
        due: Timestamp,
        percent: u8,
    ) -> Result<Timestamp, CaseError> {
        let part = |total: i64| total.saturating_mul(i64::from(percent)) / 100;
        match (&self.calendar, clock) {
            (Some(c), ClockKind::WorkingHours | ClockKind::WorkingDays) => {
                Ok(c.add_working(at, part(c.working_between(at, due)))?)
            }
            _ => Ok(at + part(due - at)),
        }
    }

    /// The time limits (not the reminders) as an explanation shows them.
    fn limits_json(&self, ds: &[Deadline]) -> Vec<Value> {
        (ds.iter())
            .filter(|d| !d.kind.is_reminder())
            .map(|d| self.deadline_json(d))
            .collect()
    }

    fn deadline_json(&self, d: &Deadline) -> Value {
        let mut v = json!({"what": d.kind, "clock": d.clock, "due": self.zone().format(d.due)});
        // A limit counted on the calendar into a year it has no holidays
        // for says so, rather than guessing silently.
        let uncovered = match (d.clock, &self.calendar) {
            (ClockKind::Continuous, _) | (_, None) => None,
            (_, Some(c)) => c.uncovered(d.due),
        };
        if let (Some(note), Some(map)) = (uncovered, v.as_object_mut()) {
            map.insert("calendar_warning".into(), Value::String(note));
        }
        v
    }

    /// The limit of level or state `key` for `case`: its class's own, else
    /// the general one (`general`).
    fn limit_for<'a>(
        &'a self,
        classes: &'a HashMap<String, HashMap<String, Limit>>,
        key: &str,
        case: &Case,
        general: Option<&'a Limit>,
    ) -> Option<&'a Limit> {
        case.class
            .as_ref()
            .and_then(|c| classes.get(key)?.get(c))
            .or(general)
    }

    /// The limit of the level `case` is at.
    fn level_limit(&self, case: &Case, level: &str) -> Option<&Limit> {
        let general = self.level_limits.get(level);
        self.limit_for(&self.class_limits, level, case, general)
    }

    /// The limit of the state `case` is in.
    fn state_limit(&self, case: &Case, state: &str) -> Option<&Limit> {
        self.limit_for(
            &self.class_limits,
            state,
            case,
            self.state_limits.get(state),
        )
    }

    /// How long a department summoned at the case's level has to report in.
    fn summon_limit(&self, case: &Case) -> Option<&Limit> {
        let general = self.summons.get(&case.level);
        self.limit_for(&self.class_summons, &case.level, case, general)
    }

    /// Re-arms the level and/or state limits from `from`, keeping the others.
    fn arm(
        &self,
        case: &mut Case,
        from: Timestamp,
        level: bool,
        state: bool,
    ) -> Result<(), CaseError> {
        case.deadlines.retain(|d| match d.kind {
            DeadlineKind::Level { .. } => !level,
            DeadlineKind::State { .. } => !state,
            DeadlineKind::ReportIn { .. }
            | DeadlineKind::Accept { .. }
            | DeadlineKind::Approve { .. }
            | DeadlineKind::Remind { .. } => true,
        });
        if level {
            if let Some(limit) = self.level_limit(case, &case.level).copied() {
                case.deadlines.push(Deadline {
                    kind: DeadlineKind::Level {
                        level: case.level.clone(),
                    },
                    clock: limit.clock,
                    due: self.due(from, limit)?,
                });
            }
        }
        if state {
            if let Some(limit) = self.state_limit(case, &case.state).copied() {
                case.deadlines.push(Deadline {
                    kind: DeadlineKind::State {
                        state: case.state.clone(),
                    },
                    clock: limit.clock,
                    due: self.due(from, limit)?,
                });
            }
        }
        Ok(())
    }

    fn event(
        &self,
        before: Option<&Case>,
        after: &Case,
        at: Timestamp,
        who: &Actor,
        (action, outcome): (&str, Option<String>),
        explanation: Why,
    ) -> CaseEvent {
        CaseEvent {
            case_id: after.id,
            seq: after.next_event.saturating_sub(1),
            at,
            actor: who.actor.clone(),
            on_behalf: who.on_behalf.clone(),
            action: action.to_string(),
            outcome,
            state_before: before.map(|c| c.state.clone()),
            state_after: after.state.clone(),
            level_before: before.map(|c| c.level.clone()),
            level_after: after.level.clone(),
            policy_version: after.policy_version.clone(),
            explanation,
            note: who.note.clone(),
        }
    }

    fn bump(case: &mut Case, at: Timestamp) {
        case.version += 1;
        case.next_event += 1;
        case.updated_at = at;
    }

    /// Whether its classifying table reads when and where a report came
    /// in (a second parameter): the reporting unit is then looked up.
    pub fn reads_context(&self, set: &impl Items) -> bool {
        self.classify
            .as_ref()
            .and_then(|c| set.item_params(&c.item).ok())
            .is_some_and(|p| p.len() >= 2)
    }

    /// When and where a report came in, for a classifier that reads it.
    fn report_context(&self, now: Timestamp, unit: Option<&Value>) -> Value {
        crate::report_context::report_context(self.zone(), self.calendar.as_deref(), now, unit)
    }

    /// Opens a case for a report: classify, start at the handling level,
    /// arm the limits.
    #[allow(clippy::too_many_arguments)]
    pub fn open(
        &self,
        set: &impl Items,
        id: CaseId,
        now: Timestamp,
        unit: Option<String>,
        data: Value,
        who: &Actor,
        idempotency_key: Option<String>,
    ) -> Result<Change, CaseError> {
        self.open_with(set, id, now, unit, data, who, idempotency_key, true, None)
    }

    /// [`Self::open`], with the explanation only when `explain`, and the
    /// reporting unit's attributes (`unit_seen`: a classifying table of two
    /// parameters reads them, with the report's time, in its second).
    #[allow(clippy::too_many_arguments)]
    pub fn open_with(
        &self,
        set: &impl Items,
        id: CaseId,
        now: Timestamp,
        unit: Option<String>,
        data: Value,
        who: &Actor,
        idempotency_key: Option<String>,
        explain: bool,
        unit_seen: Option<Value>,
    ) -> Result<Change, CaseError> {
        let (class, level, decision, unit_seen) = match &self.classify {
            Some(c) => {
                let takes_context = set.item_params(&c.item)?.len() >= 2;
                // Kept when the classifier reads it, or the unit picks the ladder.
                let unit_seen = unit_seen.filter(|_| takes_context || self.has_several_ladders());
                let decision = if takes_context {
                    let context = self.report_context(now, unit_seen.as_ref());
                    set.evaluate_args(&c.item, &[&data, &context])?
                } else {
                    set.evaluate_args(&c.item, &[&data])?
                };
                let pick = |name: &str| -> Result<String, CaseError> {
                    match decision.result.get(name) {
                        Some(Value::String(s)) => Ok(s.clone()),
                        _ => Err(CaseError::Classify {
                            workflow: self.name.clone(),
                            message: format!(
                                "`{}` gave no `{name}` for this report (result: {})",
                                c.item, decision.result
                            ),
                        }),
                    }
                };
                let class = pick(&c.class_output)?;
                let level = pick(&c.level_output)?;
                (Some(class), level, Some(decision), unit_seen)
            }
            None => {
                let start = self.start.clone().unwrap_or_default();
                (
                    None,
                    start,
                    None,
                    unit_seen.filter(|_| self.has_several_ladders()),
                )
            }
        };
        let ladder = self.choose_ladder(unit_seen.as_ref(), &level);
        let levels = ladder
            .as_ref()
            .and_then(|name| self.ladders.iter().find(|(n, _)| n == name))
            .map_or(self.levels.as_slice(), |(_, ls)| ls.as_slice());
        if !levels.contains(&level) {
            return Err(CaseError::Classify {
                workflow: self.name.clone(),
                message: format!(
                    "handling level `{level}` is not on ladder `{}`",
                    ladder.as_deref().unwrap_or(&self.ladder)
                ),
            });
        }
        let ceiling = self.ceiling_on(class.as_ref(), levels);
        let mut case = Case {
            id,
            workflow: self.name.clone(),
            version: 0,
            policy_version: set.version().to_string(),
            state: self.initial.clone(),
            level,
            class,
            ceiling,
            unit,
            created_at: now,
            updated_at: now,
            closed_at: None,
            deadlines: Vec::new(),
            paused_at: None,
            breaches: Vec::new(),
            summons: Vec::new(),
            escalations: 0,
            reopened: 0,
            overdue: 0,
            next_event: 0,
            idempotency_key,
            reported_by: Some(who.credited().to_string()),
            handlers: Vec::new(),
            outcomes: Vec::new(),
            incident: None,
            ladder,
            channel: self
                .channel
                .as_ref()
                .and_then(|f| data.get(f))
                .and_then(Value::as_str)
                .map(str::to_string),
            unit_seen,
            data,
            assignment: None,
            request: None,
        };
        self.arm(&mut case, now, true, true)?;
        self.sync_reminders(&[], &mut case, now)?;
        Self::bump(&mut case, now);
        #[derive(serde::Serialize)]
        struct ReportWhy<'a> {
            classification: Option<&'a crate::Decision>,
            start_level: &'a str,
            ceiling: Option<&'a str>,
            deadlines: Vec<Value>,
        }
        let explanation = if !explain {
            Why::null()
        } else {
            Why::new(&ReportWhy {
                classification: decision.as_ref(),
                start_level: &case.level,
                ceiling: case.ceiling.as_deref(),
                deadlines: self.limits_json(&case.deadlines),
            })
        };
        let event = self.event(None, &case, now, who, ("report", None), explanation);
        Ok(Change { case, event })
    }

    /// Applies an action to a case.
    pub fn act(
        &self,
        case: &Case,
        action: &Action,
        who: &Actor,
        now: Timestamp,
    ) -> Result<Change, CaseError> {
        self.act_with(case, action, who, now, true)
    }

    /// [`Self::act`], with the explanation only when `explain`.
    pub fn act_with(
        &self,
        case: &Case,
        action: &Action,
        who: &Actor,
        now: Timestamp,
        explain: bool,
    ) -> Result<Change, CaseError> {
        let mut next = case.clone();
        let name = action.name();
        let closed = self.is_final(&case.state);
        let illegal_when_closed = || CaseError::IllegalAction {
            action: name.clone(),
            state: case.state.clone(),
            allowed: "the case is closed".into(),
        };
        let explanation = match action {
            Action::Pause => {
                if closed {
                    return Err(illegal_when_closed());
                }
                if case.paused_at.is_some() {
                    return Err(CaseError::Paused { id: case.id });
                }
                next.paused_at = Some(now);
                why!(explain, {"paused_at": self.zone().format(now)})
            }
            Action::Resume => {
                let Some(paused) = case.paused_at else {
                    return Err(CaseError::NotPaused { id: case.id });
                };
                for d in &mut next.deadlines {
                    d.due = match &self.calendar {
                        Some(c) => c.extend(d.due, paused, now, d.clock)?,
                        None => d.due + (now - paused).max(0),
                    };
                }
                next.paused_at = None;
                why!(explain, {
                    "paused_from": self.zone().format(paused),
                    "deadlines": self.limits_json(&next.deadlines),
                })
            }
            Action::Escalate => {
                if closed {
                    return Err(illegal_when_closed());
                }
                if case.paused_at.is_some() {
                    return Err(CaseError::Paused { id: case.id });
                }
                if self.at_top(case) {
                    return Err(CaseError::AtTop {
                        id: case.id,
                        level: case.level.clone(),
                    });
                }
                self.climb(
                    &mut next,
                    now,
                    why!(explain, {"reason": "declared beyond the level"}),
                )?
            }
            Action::Summon { departments } => {
                if closed {
                    return Err(illegal_when_closed());
                }
                let Some(limit) = self.summon_limit(case).copied() else {
                    return Err(CaseError::NoSummonHere {
                        level: case.level.clone(),
                    });
                };
                if departments.is_empty() {
                    return Err(CaseError::InvalidArgument {
                        field: "departments".into(),
                        message: "name at least one department".into(),
                    });
                }
                let due = self.due(now, limit)?;
                for dep in departments {
                    if next
                        .summons
                        .iter()
                        .any(|s| s.department == *dep && s.reported_at.is_none())
                    {
                        return Err(CaseError::AlreadySummoned {
                            department: dep.clone(),
                        });
                    }
                    next.summons.push(Summon {
                        department: dep.clone(),
                        summoned_at: now,
                        due,
                        reported_at: None,
                        missed: false,
                    });
                    next.deadlines.push(Deadline {
                        kind: DeadlineKind::ReportIn {
                            department: dep.clone(),
                        },
                        clock: limit.clock,
                        due,
                    });
                }
                why!(explain, {"departments": departments, "limit": limit.describe(), "due": self.zone().format(due)})
            }
            Action::ReportIn { department } => {
                let Some(s) = next
                    .summons
                    .iter_mut()
                    .find(|s| s.department == *department && s.reported_at.is_none())
                else {
                    return Err(CaseError::NotSummoned {
                        department: department.clone(),
                    });
                };
                s.reported_at = Some(now);
                let late = s.missed;
                next.deadlines.retain(|d| {
                    d.kind
                        != DeadlineKind::ReportIn {
                            department: department.clone(),
                        }
                });
                why!(explain, {"department": department, "late": late})
            }
            Action::Accept => self.accept(&mut next, who, now, explain)?,
            Action::Reassign { assignee } => {
                self.reassign(&mut next, assignee, who, now, explain)?
            }
            Action::Return => {
                // Back to the dispatcher, who holds it until they 改派.
                let Some(a) = next.assignment.take() else {
                    return Err(not_assigned(case.id));
                };
                if a.to != who.credited() {
                    return Err(not_the_assignee(&a, who));
                }
                reason_required(who, "退单")?;
                Self::drop_accept(&mut next);
                next.assignment = Some(crate::case::Assignment {
                    to: a.by.clone(),
                    action: a.action.clone(),
                    by: a.to.clone(),
                    at: now,
                    accepted_at: Some(now),
                });
                why!(explain, {"returned_to": a.by, "assignee": a.to, "reason": who.note})
            }
            Action::Approve => self.decide(&mut next, who, now, true, explain)?,
            Action::Refuse => self.decide(&mut next, who, now, false, explain)?,
            Action::Transition { name: tname, .. } if self.requests.contains_key(tname) => {
                if closed {
                    return Err(illegal_when_closed());
                }
                self.request(&mut next, tname, who, now, explain)?
            }
            Action::Transition {
                name: tname,
                outcome,
                assignee,
            } => {
                let candidates: Vec<&CTransition> = self
                    .transitions
                    .iter()
                    .filter(|t| t.action == *tname && t.outcome == *outcome)
                    .collect();
                if candidates.is_empty() {
                    let outcomes: Vec<String> = self
                        .transitions
                        .iter()
                        .filter(|t| t.action == *tname)
                        .map(|t| match &t.outcome {
                            Some(o) => format!("`{o}`"),
                            None => "none".to_string(),
                        })
                        .collect();
                    if !outcomes.is_empty() {
                        return Err(CaseError::UnknownOutcome {
                            action: tname.clone(),
                            outcome: outcome.clone().unwrap_or_else(|| "(none)".to_string()),
                            valid: outcomes.join(", "),
                        });
                    }
                    let known: Vec<String> = self
                        .transitions
                        .iter()
                        .map(|t| match &t.outcome {
                            Some(o) => format!("{} {o}", t.action),
                            None => t.action.clone(),
                        })
                        .chain(crate::BUILTIN_ACTIONS.iter().map(|s| s.to_string()))
                        .collect();
                    return Err(CaseError::UnknownAction {
                        workflow: self.name.clone(),
                        action: name,
                        help: help_for(&action.name(), known.iter().map(String::as_str)),
                    });
                }
                let Some(t) = candidates.iter().find(|t| t.from.contains(&case.state)) else {
                    let from: Vec<String> = candidates
                        .iter()
                        .flat_map(|t| t.from.iter().cloned())
                        .collect();
                    return Err(CaseError::IllegalAction {
                        action: name,
                        state: case.state.clone(),
                        allowed: format!(
                            "allowed from {}",
                            from.iter()
                                .map(|s| format!("`{s}`"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    });
                };
                let entering_final = self.is_final(&t.to);
                if case.paused_at.is_some() && !entering_final {
                    return Err(CaseError::Paused { id: case.id });
                }
                next.state = t.to.clone();
                if entering_final {
                    next.deadlines.clear();
                    next.closed_at = Some(now);
                    next.paused_at = None;
                    next.assignment = None;
                } else {
                    let reopening = closed;
                    next.closed_at = None;
                    self.arm(&mut next, now, t.restart || reopening, true)?;
                    if t.restart || reopening {
                        next.reopened += 1;
                    }
                }
                if let Some(to) = assignee {
                    if !self.assign.contains_key(tname) {
                        return Err(CaseError::InvalidArgument {
                            field: "assignee".into(),
                            message: format!(
                                "`{tname}` assigns nobody (no `assign` line names it)"
                            ),
                        });
                    }
                    self.assign_to(&mut next, tname, to, who, now)?;
                }
                why!(explain, {
                    "transition": t.text(),
                    "assignee": assignee,
                    "deadlines": self.limits_json(&next.deadlines),
                })
            }
        };
        self.sync_reminders(&case.deadlines, &mut next, now)?;
        Self::bump(&mut next, now);
        if !next.handlers.iter().any(|h| h == who.credited()) {
            next.handlers.push(who.credited().to_string());
        }
        if let Action::Transition {
            outcome: Some(o), ..
        } = action
        {
            next.outcomes.push(o.clone());
        }
        let (act, outcome) = match action {
            Action::Transition { name, outcome, .. } => (name.clone(), outcome.clone()),
            other => (other.name(), None),
        };
        let event = self.event(
            Some(case),
            &next,
            now,
            who,
            (&act, outcome),
            if explain {
                Why::new(&explanation)
            } else {
                Why::null()
            },
        );
        Ok(Change { case: next, event })
    }

    /// Climbs one rung from `at`; records a breach past the ceiling.
    fn climb(&self, case: &mut Case, at: Timestamp, mut why: Value) -> Result<Value, CaseError> {
        let from = case.level.clone();
        let idx = self.level_index(case) + 1;
        let ladder = self.ladder_of(case);
        let to = ladder.get(idx).cloned().unwrap_or_else(|| from.clone());
        let ceiling_idx = self
            .ceiling_on(case.class.as_ref(), ladder)
            .and_then(|c| ladder.iter().position(|l| *l == c));
        case.level = to.clone();
        case.escalations += 1;
        // A case that climbs is the next level's to dispatch.
        case.assignment = None;
        Self::drop_accept(case);
        let breach = ceiling_idx.is_some_and(|c| idx > c);
        if breach {
            case.breaches.push(Breach {
                from: from.clone(),
                to: to.clone(),
                at,
            });
        }
        self.arm(case, at, true, true)?;
        if let Value::Object(m) = &mut why {
            m.insert("from".into(), json!(from));
            m.insert("to".into(), json!(to));
            m.insert("ceiling".into(), json!(case.ceiling));
            m.insert("breach".into(), json!(breach));
            m.insert("deadlines".into(), json!(self.limits_json(&case.deadlines)));
        }
        Ok(why)
    }

    /// A deadline of the case ran out at `deadline.due`: escalate, count an
    /// overdue at the top, or mark a missed report-in. `None` when the
    /// deadline is no longer pending (a stale timer).
    pub fn fire(&self, case: &Case, deadline: &Deadline) -> Result<Option<Change>, CaseError> {
        self.fire_with(case, deadline, true)
    }

    /// [`Self::fire`], with the explanation only when `explain`.
    pub fn fire_with(
        &self,
        case: &Case,
        deadline: &Deadline,
        explain: bool,
    ) -> Result<Option<Change>, CaseError> {
        if case.paused_at.is_some() || !case.deadlines.contains(deadline) {
            return Ok(None);
        }
        let at = deadline.due;
        let mut next = case.clone();
        let who = Actor {
            on_behalf: None,
            actor: "timer".into(),
            note: None,
        };
        let limit = self
            .limit_of(case, &deadline.kind)
            .filter(|_| explain)
            .map(Limit::describe);
        let (action, explanation) = match &deadline.kind {
            DeadlineKind::Remind { of, percent } => {
                next.deadlines.retain(|d| d != deadline);
                let of_due = case
                    .deadlines
                    .iter()
                    .find(|d| d.kind == **of)
                    .map(|d| d.due);
                (
                    "remind",
                    why!(explain, {
                        "reminder": format!("{percent}% of the limit has passed"),
                        "deadline": of,
                        "limit": limit,
                        "due": of_due.map(|d| self.zone().format(d)),
                    }),
                )
            }
            DeadlineKind::ReportIn { department } => {
                for s in &mut next.summons {
                    if s.department == *department && s.reported_at.is_none() {
                        s.missed = true;
                    }
                }
                next.deadlines.retain(|d| d != deadline);
                (
                    "report_in_missed",
                    why!(explain, {"department": department, "limit": limit}),
                )
            }
            DeadlineKind::Approve { request } => {
                // Undecided in time: the request lapses, the case goes on.
                next.request = None;
                next.deadlines.retain(|d| d != deadline);
                (
                    "request_lapsed",
                    why!(explain, {"request": request, "limit": limit}),
                )
            }
            DeadlineKind::Accept { assignee } if self.at_top(case) => {
                // Nobody above to take it: the assignment lapses.
                next.assignment = None;
                Self::drop_accept(&mut next);
                next.overdue += 1;
                (
                    "accept_missed",
                    why!(explain, {"assignee": assignee, "limit": limit}),
                )
            }
            kind => {
                let why = why!(explain, {"reason": "time limit ran out", "limit": limit, "deadline": kind});
                if self.at_top(case) {
                    next.overdue += 1;
                    next.deadlines.retain(|d| d != deadline);
                    ("overdue", why)
                } else {
                    ("escalate", self.climb(&mut next, at, why)?)
                }
            }
        };
        self.sync_reminders(&case.deadlines, &mut next, at)?;
        Self::bump(&mut next, at);
        let event = self.event(
            Some(case),
            &next,
            at,
            &who,
            (action, None),
            if explain {
                Why::new(&explanation)
            } else {
                Why::null()
            },
        );
        Ok(Some(Change { case: next, event }))
    }
}
