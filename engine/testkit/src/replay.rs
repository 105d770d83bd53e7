//! Replay of recorded history (docs/history.md) through one policy version,
//! or through two side by side with the difference per case.
//!
//! Cases never affect each other, so a replay keeps each open case in
//! memory and fires its timers lazily: before a line is applied to a case,
//! every deadline of that case due by the line's time fires, in due order
//! (the order the timer loop of a running service uses); at the end of the
//! log, every deadline due by the log's last time fires. The result is the
//! same as replaying through a [`wangge_app::CaseService`] on a manual
//! clock (a test checks this), without a store. Cases are split across
//! worker threads by `ref`; a case that reached a final state it cannot
//! leave is reduced to its [`Outcome`] and dropped.

use std::collections::{BTreeMap, HashMap};
use std::io::BufRead;
use std::sync::mpsc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use wangge_policy::Case;
use wangge_policy::CaseError;
use wangge_policy::PolicySet;
use wangge_policy::Timestamp;
use wangge_policy::{Action, Actor};

/// One line of a log, as read (both `report` and `act` lines).
#[derive(Debug, Deserialize)]
struct Line<'a> {
    #[serde(rename = "type", borrow)]
    kind: &'a str,
    at: Timestamp,
    #[serde(rename = "ref")]
    case_ref: u64,
    #[serde(default, borrow)]
    workflow: Option<std::borrow::Cow<'a, str>>,
    #[serde(default, borrow)]
    unit: Option<std::borrow::Cow<'a, str>>,
    #[serde(default)]
    data: Option<Value>,
    /// The reporting unit's attributes as its classifier saw them.
    #[serde(default)]
    unit_seen: Option<Value>,
    #[serde(default, borrow)]
    action: Option<std::borrow::Cow<'a, str>>,
    #[serde(default, borrow)]
    outcome: Option<std::borrow::Cow<'a, str>>,
    #[serde(default)]
    departments: Vec<String>,
}

/// What a case came to under one policy version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Outcome {
    pub class: Option<String>,
    /// The level the case started at (its handling level).
    pub start_level: String,
    /// The level it ended at.
    pub level: String,
    pub state: String,
    pub escalations: u32,
    /// Each breach as `from→to`.
    pub breaches: Vec<String>,
    pub overdue: u32,
    pub reopened: u32,
    /// The first deadline armed when the case was reported.
    pub first_deadline: Option<Timestamp>,
    /// Why the report was refused under this version (no case then).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Outcome {
    fn refused(error: String) -> Outcome {
        Outcome {
            class: None,
            start_level: String::new(),
            level: String::new(),
            state: "(refused)".into(),
            escalations: 0,
            breaches: Vec::new(),
            overdue: 0,
            reopened: 0,
            first_deadline: None,
            error: Some(error),
        }
    }
}

/// The aspects of a case compared between two versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Aspect {
    Class,
    HandlingLevel,
    FinalLevel,
    Escalations,
    Breaches,
    Overdue,
    Deadline,
    State,
}

impl Aspect {
    pub const ALL: [Aspect; 8] = [
        Aspect::Class,
        Aspect::HandlingLevel,
        Aspect::FinalLevel,
        Aspect::Escalations,
        Aspect::Breaches,
        Aspect::Overdue,
        Aspect::Deadline,
        Aspect::State,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Aspect::Class => "class",
            Aspect::HandlingLevel => "handling level",
            Aspect::FinalLevel => "final level",
            Aspect::Escalations => "escalations",
            Aspect::Breaches => "breaches",
            Aspect::Overdue => "overdue",
            Aspect::Deadline => "first deadline",
            Aspect::State => "final state",
        }
    }

    fn show(self, o: &Outcome, zone: &wangge_policy::Zone) -> String {
        let opt = |s: &Option<String>| s.clone().unwrap_or_else(|| "-".into());
        match self {
            Aspect::Class => opt(&o.class),
            Aspect::HandlingLevel => o.start_level.clone(),
            Aspect::FinalLevel => o.level.clone(),
            Aspect::Escalations => o.escalations.to_string(),
            Aspect::Breaches => {
                if o.breaches.is_empty() {
                    "none".into()
                } else {
                    o.breaches.join(", ")
                }
            }
            Aspect::Overdue => o.overdue.to_string(),
            Aspect::Deadline => o
                .first_deadline
                .map(|t| zone.format(t))
                .unwrap_or_else(|| "none".into()),
            Aspect::State => o.state.clone(),
        }
    }

    fn differs(self, a: &Outcome, b: &Outcome) -> bool {
        match self {
            Aspect::Class => a.class != b.class,
            Aspect::HandlingLevel => a.start_level != b.start_level,
            Aspect::FinalLevel => a.level != b.level,
            Aspect::Escalations => a.escalations != b.escalations,
            Aspect::Breaches => a.breaches != b.breaches,
            Aspect::Overdue => a.overdue != b.overdue,
            Aspect::Deadline => a.first_deadline != b.first_deadline,
            Aspect::State => a.state != b.state,
        }
    }
}

/// One changed aspect of a case: its value under each version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    pub aspect: Aspect,
    pub before: String,
    pub after: String,
}

/// A case whose outcome differs between the two versions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CaseDiff {
    #[serde(rename = "ref")]
    pub case_ref: u64,
    pub unit: Option<String>,
    pub changes: Vec<Change>,
}

/// Counts over the cases of one version.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    pub cases: u64,
    /// Reports the version refused (no case was opened).
    pub refused_reports: u64,
    /// Actions refused (illegal in the case's state, unknown case, …).
    pub refused_actions: u64,
    pub timers_fired: u64,
    pub closed: u64,
    pub escalated_cases: u64,
    pub escalations: u64,
    pub breached_cases: u64,
    pub breaches: u64,
    pub overdue_cases: u64,
    pub reopened_cases: u64,
    pub by_class: BTreeMap<String, u64>,
    pub by_final_level: BTreeMap<String, u64>,
}

impl Totals {
    fn add(&mut self, o: &Outcome, closed: bool) {
        if o.error.is_some() {
            self.refused_reports += 1;
            return;
        }
        self.cases += 1;
        self.closed += u64::from(closed);
        self.escalated_cases += u64::from(o.escalations > 0);
        self.escalations += u64::from(o.escalations);
        self.breached_cases += u64::from(!o.breaches.is_empty());
        self.breaches += o.breaches.len() as u64;
        self.overdue_cases += u64::from(o.overdue > 0);
        self.reopened_cases += u64::from(o.reopened > 0);
        *self
            .by_class
            .entry(o.class.clone().unwrap_or_else(|| "-".into()))
            .or_default() += 1;
        *self.by_final_level.entry(o.level.clone()).or_default() += 1;
    }

    fn merge(&mut self, o: Totals) {
        self.cases += o.cases;
        self.refused_reports += o.refused_reports;
        self.refused_actions += o.refused_actions;
        self.timers_fired += o.timers_fired;
        self.closed += o.closed;
        self.escalated_cases += o.escalated_cases;
        self.escalations += o.escalations;
        self.breached_cases += o.breached_cases;
        self.breaches += o.breaches;
        self.overdue_cases += o.overdue_cases;
        self.reopened_cases += o.reopened_cases;
        for (k, v) in o.by_class {
            *self.by_class.entry(k).or_default() += v;
        }
        for (k, v) in o.by_final_level {
            *self.by_final_level.entry(k).or_default() += v;
        }
    }
}

/// The differences between two versions, counted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DiffSummary {
    /// Cases with at least one changed aspect.
    pub changed_cases: u64,
    /// Per aspect, how many cases changed in it.
    pub by_aspect: BTreeMap<Aspect, u64>,
    /// Per aspect, `before → after` moves and how many cases made them
    /// (class, levels, final state).
    pub moves: BTreeMap<Aspect, BTreeMap<String, u64>>,
    /// Cases whose first deadline came earlier / later.
    pub deadline_earlier: u64,
    pub deadline_later: u64,
    /// Cases with more / fewer escalations.
    pub more_escalations: u64,
    pub fewer_escalations: u64,
    /// Cases newly breaching / no longer breaching.
    pub new_breaches: u64,
    pub removed_breaches: u64,
}

/// What a replay found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ReplayReport {
    pub lines: u64,
    pub reports: u64,
    pub actions: u64,
    /// The time of the last line (timers due by then have fired).
    pub end: Option<Timestamp>,
    /// One entry per version replayed.
    pub totals: Vec<Totals>,
    /// With two versions: the differences.
    pub diff: Option<DiffSummary>,
    /// With two versions: every changed case, by `ref` (when asked for).
    pub cases: Vec<CaseDiff>,
}

/// How to replay.
#[derive(Debug, Clone)]
pub struct ReplayOptions {
    /// Worker threads (cases are split among them by `ref`).
    pub workers: usize,
    /// Keep every changed case in [`ReplayReport::cases`].
    pub keep_cases: bool,
}

impl Default for ReplayOptions {
    fn default() -> Self {
        ReplayOptions {
            workers: std::thread::available_parallelism().map_or(1, |n| n.get()),
            keep_cases: true,
        }
    }
}

/// A line that cannot be replayed: its number and why.
#[derive(Debug, Clone, PartialEq, thiserror::Error, miette::Diagnostic)]
#[error("line {line}: {message}")]
#[diagnostic(code(wangge::replay::bad_line))]
pub struct ReplayError {
    pub line: u64,
    pub message: String,
}

/// A case under one version while it is still open.
struct Live {
    case: Case,
    start_level: String,
    first_deadline: Option<Timestamp>,
}

/// A case across the versions.
struct Slot {
    unit: Option<String>,
    live: Vec<Option<Live>>,
    done: Vec<Option<(Outcome, bool)>>,
}

/// The cases one worker owns, under every version.
struct Partition<'p> {
    sets: &'p [&'p PolicySet],
    slots: HashMap<u64, Slot>,
    totals: Vec<Totals>,
    diff: DiffSummary,
    cases: Vec<CaseDiff>,
    keep_cases: bool,
    lines: u64,
    reports: u64,
    actions: u64,
    last_at: Option<Timestamp>,
    who: Actor,
}

fn outcome_of(live: &Live) -> Outcome {
    let c = &live.case;
    Outcome {
        class: c.class.clone(),
        start_level: live.start_level.clone(),
        level: c.level.clone(),
        state: c.state.clone(),
        escalations: c.escalations,
        breaches: c
            .breaches
            .iter()
            .map(|b| format!("{}→{}", b.from, b.to))
            .collect(),
        overdue: c.overdue,
        reopened: c.reopened,
        first_deadline: live.first_deadline,
        error: None,
    }
}

impl<'p> Partition<'p> {
    fn new(sets: &'p [&'p PolicySet], keep_cases: bool) -> Self {
        Partition {
            sets,
            slots: HashMap::new(),
            totals: vec![Totals::default(); sets.len()],
            diff: DiffSummary::default(),
            cases: Vec::new(),
            keep_cases,
            lines: 0,
            reports: 0,
            actions: 0,
            last_at: None,
            who: Actor {
                on_behalf: None,
                actor: "replay".into(),
                note: None,
            },
        }
    }

    /// Fires the deadlines of `live` due by `t`, in due order.
    fn catch_up(
        set: &PolicySet,
        live: &mut Live,
        t: Timestamp,
        fired: &mut u64,
    ) -> Result<(), CaseError> {
        let wf = set.workflow(&live.case.workflow)?;
        while let Some(d) = live.case.next_timer() {
            if d.due > t {
                break;
            }
            let d = d.clone();
            match wf.fire_with(&live.case, &d, false)? {
                Some(change) => {
                    live.case = change.case;
                    *fired += 1;
                }
                None => break,
            }
        }
        Ok(())
    }

    fn feed(&mut self, n: u64, text: &str) -> Result<(), ReplayError> {
        let bad = |message: String| ReplayError { line: n, message };
        let line: Line = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
        if self.last_at.is_some_and(|t| line.at < t) {
            return Err(bad(format!(
                "`at` {} is earlier than a line before it (the log must be in time order)",
                line.at
            )));
        }
        self.last_at = Some(line.at);
        self.lines += 1;
        match line.kind {
            // What the engine did on its own (an export's timer effects):
            // the replay recomputes them.
            "timer" => Ok(()),
            "report" => self.report(line).map_err(bad),
            "act" => self.act(line).map_err(bad),
            other => Err(bad(format!(
                "unknown line type `{other}` (expected `report`, `act` or `timer`)"
            ))),
        }
    }

    fn report(&mut self, line: Line) -> Result<(), String> {
        let Some(workflow) = line.workflow else {
            return Err("a `report` line needs `workflow`".into());
        };
        if self.slots.contains_key(&line.case_ref) {
            return Err(format!("`ref` {} is reported twice", line.case_ref));
        }
        self.reports += 1;
        let unit = line.unit.map(|u| u.into_owned());
        let data = line.data.unwrap_or(Value::Null);
        let mut slot = Slot {
            unit: unit.clone(),
            live: Vec::with_capacity(self.sets.len()),
            done: Vec::with_capacity(self.sets.len()),
        };
        for set in self.sets {
            let opened = set.workflow(&workflow).and_then(|wf| {
                wf.open_with(
                    set,
                    line.case_ref,
                    line.at,
                    unit.clone(),
                    data.clone(),
                    &self.who,
                    None,
                    false,
                    line.unit_seen.clone(),
                )
            });
            match opened {
                Ok(change) => {
                    let first_deadline = change.case.deadlines.iter().map(|d| d.due).min();
                    slot.live.push(Some(Live {
                        start_level: change.case.level.clone(),
                        case: change.case,
                        first_deadline,
                    }));
                    slot.done.push(None);
                }
                Err(e) => {
                    slot.live.push(None);
                    slot.done
                        .push(Some((Outcome::refused(e.to_string()), false)));
                }
            }
        }
        self.settle(line.case_ref, slot);
        Ok(())
    }

    fn act(&mut self, line: Line) -> Result<(), String> {
        let Some(name) = line.action else {
            return Err("an `act` line needs `action`".into());
        };
        self.actions += 1;
        let action = Action::parse(&name, line.outcome.as_deref(), &line.departments, None)
            .map_err(|(field, message)| format!("`{field}` {message}"))?;
        let Some(mut slot) = self.slots.remove(&line.case_ref) else {
            for t in &mut self.totals {
                t.refused_actions += 1;
            }
            return Ok(());
        };
        for (i, set) in self.sets.iter().enumerate() {
            let totals = &mut self.totals[i];
            let Some(live) = slot.live[i].as_mut() else {
                totals.refused_actions += 1;
                continue;
            };
            Self::catch_up(set, live, line.at, &mut totals.timers_fired)
                .map_err(|e| e.to_string())?;
            let wf = set
                .workflow(&live.case.workflow)
                .map_err(|e| e.to_string())?;
            match wf.act_with(&live.case, &action, &self.who, line.at, false) {
                Ok(change) => live.case = change.case,
                Err(_) => totals.refused_actions += 1,
            }
        }
        self.settle(line.case_ref, slot);
        Ok(())
    }

    /// Moves settled cases to their outcome; when every version has one,
    /// counts the case and drops it.
    fn settle(&mut self, case_ref: u64, mut slot: Slot) {
        for (i, set) in self.sets.iter().enumerate() {
            let settled = slot.live[i].as_ref().is_some_and(|l| {
                set.workflow(&l.case.workflow)
                    .is_ok_and(|wf| wf.is_settled(&l.case))
            });
            if settled {
                if let Some(l) = slot.live[i].take() {
                    slot.done[i] = Some((outcome_of(&l), true));
                }
            }
        }
        if slot.done.iter().all(Option::is_some) {
            self.count(case_ref, slot);
        } else {
            self.slots.insert(case_ref, slot);
        }
    }

    fn count(&mut self, case_ref: u64, slot: Slot) {
        let outs: Vec<(Outcome, bool)> = slot.done.into_iter().flatten().collect();
        for (t, (o, closed)) in self.totals.iter_mut().zip(&outs) {
            t.add(o, *closed);
        }
        let [(a, _), (b, _)] = outs.as_slice() else {
            return;
        };
        let zone = self
            .sets
            .first()
            .and_then(|s| s.workflows().next().map(|w| w.zone().clone()))
            .unwrap_or(wangge_policy::Zone::Fixed(0));
        let mut changes = Vec::new();
        for aspect in Aspect::ALL {
            if !aspect.differs(a, b) {
                continue;
            }
            *self.diff.by_aspect.entry(aspect).or_default() += 1;
            let before = aspect.show(a, &zone);
            let after = aspect.show(b, &zone);
            match aspect {
                Aspect::Class | Aspect::HandlingLevel | Aspect::FinalLevel | Aspect::State => {
                    *self
                        .diff
                        .moves
                        .entry(aspect)
                        .or_default()
                        .entry(format!("{before} → {after}"))
                        .or_default() += 1;
                }
                Aspect::Escalations => {
                    if b.escalations > a.escalations {
                        self.diff.more_escalations += 1;
                    } else {
                        self.diff.fewer_escalations += 1;
                    }
                }
                Aspect::Breaches => {
                    if a.breaches.is_empty() {
                        self.diff.new_breaches += 1;
                    } else if b.breaches.is_empty() {
                        self.diff.removed_breaches += 1;
                    }
                }
                Aspect::Deadline => match (a.first_deadline, b.first_deadline) {
                    (Some(x), Some(y)) if y < x => self.diff.deadline_earlier += 1,
                    (Some(_), Some(_)) => self.diff.deadline_later += 1,
                    _ => {}
                },
                Aspect::Overdue => {}
            }
            changes.push(Change {
                aspect,
                before,
                after,
            });
        }
        if !changes.is_empty() {
            self.diff.changed_cases += 1;
            if self.keep_cases {
                self.cases.push(CaseDiff {
                    case_ref,
                    unit: slot.unit,
                    changes,
                });
            }
        }
    }

    /// The end of the log: fire what is due by `end`, count every case.
    fn finish(mut self, end: Option<Timestamp>) -> Result<Self, ReplayError> {
        let slots = std::mem::take(&mut self.slots);
        let mut refs: Vec<u64> = slots.keys().copied().collect();
        refs.sort_unstable();
        let mut slots = slots;
        for r in refs {
            let Some(mut slot) = slots.remove(&r) else {
                continue;
            };
            for (i, set) in self.sets.iter().enumerate() {
                if let Some(mut live) = slot.live[i].take() {
                    if let Some(end) = end {
                        Self::catch_up(set, &mut live, end, &mut self.totals[i].timers_fired)
                            .map_err(|e| ReplayError {
                                line: 0,
                                message: format!("case `ref` {r}: {e}"),
                            })?;
                    }
                    let closed = set
                        .workflow(&live.case.workflow)
                        .is_ok_and(|wf| wf.is_final(&live.case.state));
                    slot.done[i] = Some((outcome_of(&live), closed));
                }
            }
            self.count(r, slot);
        }
        Ok(self)
    }
}

/// The `ref` of a line without parsing all of it (`"ref":N`); `None` when
/// the line is written differently (the caller then parses it).
fn quick_ref(line: &str) -> Option<u64> {
    let i = line.find("\"ref\":")? + 6;
    let digits = line.get(i..)?.trim_start();
    let end = digits
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    digits.get(..end)?.parse().ok()
}

fn ref_of(n: u64, line: &str) -> Result<u64, ReplayError> {
    if let Some(r) = quick_ref(line) {
        return Ok(r);
    }
    #[derive(Deserialize)]
    struct RefOnly {
        #[serde(rename = "ref")]
        case_ref: u64,
    }
    serde_json::from_str::<RefOnly>(line)
        .map(|r| r.case_ref)
        .map_err(|e| ReplayError {
            line: n,
            message: e.to_string(),
        })
}

const BATCH: usize = 2048;

/// Replays the log read from `input` through `sets` (one version, or two to
/// compare). Lines are numbered from 1 in errors.
pub fn replay(
    input: &mut dyn BufRead,
    sets: &[&PolicySet],
    opts: &ReplayOptions,
) -> Result<ReplayReport, ReplayError> {
    let workers = opts.workers.max(1);
    let io_error = |line: u64, e: std::io::Error| ReplayError {
        line,
        message: e.to_string(),
    };
    let parts: Vec<Partition> = std::thread::scope(|scope| {
        let mut senders = Vec::with_capacity(workers);
        let mut handles = Vec::with_capacity(workers);
        for _ in 0..workers {
            let (tx, rx) = mpsc::sync_channel::<Vec<(u64, String)>>(16);
            senders.push(tx);
            handles.push(scope.spawn(move || -> Result<Partition, ReplayError> {
                let mut part = Partition::new(sets, opts.keep_cases);
                for batch in rx {
                    for (n, text) in batch {
                        part.feed(n, &text)?;
                    }
                }
                Ok(part)
            }));
        }
        let mut batches: Vec<Vec<(u64, String)>> =
            (0..workers).map(|_| Vec::with_capacity(BATCH)).collect();
        let mut n = 0u64;
        let mut read_error = None;
        loop {
            let mut text = String::new();
            match input.read_line(&mut text) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => {
                    read_error = Some(io_error(n + 1, e));
                    break;
                }
            }
            n += 1;
            if text.trim().is_empty() {
                continue;
            }
            let r = match ref_of(n, &text) {
                Ok(r) => r,
                Err(e) => {
                    read_error = Some(e);
                    break;
                }
            };
            let w = (r % workers as u64) as usize;
            batches[w].push((n, text));
            if batches[w].len() >= BATCH {
                let full = std::mem::replace(&mut batches[w], Vec::with_capacity(BATCH));
                if senders[w].send(full).is_err() {
                    break; // the worker stopped on an error: join reports it
                }
            }
        }
        for (tx, batch) in senders.into_iter().zip(batches) {
            let _ = tx.send(batch);
        }
        let mut parts = Vec::with_capacity(workers);
        let mut first_error: Option<ReplayError> = read_error;
        for h in handles {
            match h.join() {
                Ok(Ok(p)) => parts.push(p),
                Ok(Err(e)) => {
                    if first_error.as_ref().is_none_or(|f| e.line < f.line) {
                        first_error = Some(e);
                    }
                }
                Err(_) => {
                    first_error.get_or_insert(ReplayError {
                        line: 0,
                        message: "a replay worker failed".into(),
                    });
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(parts),
        }
    })?;
    let end = parts.iter().filter_map(|p| p.last_at).max();
    let finished: Vec<Partition> = std::thread::scope(|scope| {
        let handles: Vec<_> = parts
            .into_iter()
            .map(|p| scope.spawn(move || p.finish(end)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(ReplayError {
                        line: 0,
                        message: "a replay worker failed".into(),
                    })
                })
            })
            .collect::<Result<Vec<_>, _>>()
    })?;
    let mut report = ReplayReport {
        end,
        totals: vec![Totals::default(); sets.len()],
        diff: (sets.len() == 2).then(DiffSummary::default),
        ..ReplayReport::default()
    };
    for p in finished {
        report.lines += p.lines;
        report.reports += p.reports;
        report.actions += p.actions;
        for (t, pt) in report.totals.iter_mut().zip(p.totals) {
            t.merge(pt);
        }
        if let Some(d) = report.diff.as_mut() {
            merge_diff(d, p.diff);
        }
        report.cases.extend(p.cases);
    }
    report.cases.sort_by_key(|c| c.case_ref);
    Ok(report)
}

fn merge_diff(d: &mut DiffSummary, o: DiffSummary) {
    d.changed_cases += o.changed_cases;
    for (k, v) in o.by_aspect {
        *d.by_aspect.entry(k).or_default() += v;
    }
    for (k, m) in o.moves {
        let e = d.moves.entry(k).or_default();
        for (mk, v) in m {
            *e.entry(mk).or_default() += v;
        }
    }
    d.deadline_earlier += o.deadline_earlier;
    d.deadline_later += o.deadline_later;
    d.more_escalations += o.more_escalations;
    d.fewer_escalations += o.fewer_escalations;
    d.new_breaches += o.new_breaches;
    d.removed_breaches += o.removed_breaches;
}
