//! Tasks sent down (下派任务): a `task` item of the policy fanned out to
//! every unit of its level under the sender's unit; each unit 签收 and 完成
//! within the limit; progress rolled up by level; reminders and, when the
//! limit runs out, the units not done are late and escalated to the unit
//! above them.
//!
//! Storage (ledger books): the task's header, its unit list (written once:
//! a unit with no part record has not started, so a fan-out to 120,000
//! units is two records), one record per unit that acted, and an
//! append-only log of task events (the notification outbox webhooks
//! deliver). In memory: each task's parts as a compact vector with each
//! unit's chain of ancestors, so a roll-up is a pass over integers.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use wangge_policy::{Clock, Completion, Needs, PolicySet, Timestamp};
use wangge_store::{Book, LedgerBatch, LedgerSpace, Store};

use crate::access::Directory;
use crate::error::{AppError, AppResult};
use crate::organisation::Organisation;

/// A task as sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskHeader {
    pub id: u64,
    /// The policy's `task` item.
    pub task: String,
    pub note: String,
    pub sent_by: String,
    /// The unit it was sent from: every unit of `level` under it got it.
    pub root: String,
    pub level: String,
    pub created_at: Timestamp,
    pub due: Timestamp,
    pub policy_version: String,
    pub units: u64,
    /// What completion needs (as the policy said when it was sent).
    pub needs: Needs,
    /// Reminders: the share of the limit and when.
    pub reminders: Vec<(u8, Timestamp)>,
    /// The reminders sent so far.
    #[serde(default)]
    pub reminded: Vec<u8>,
    /// The limit ran out and the units not done were escalated.
    #[serde(default)]
    pub overdue: bool,
}

/// Who did a step of a unit's part, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    pub by: String,
    pub at: Timestamp,
}

/// A unit's part of a task, stored once the unit acts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartRecord {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted: Option<Step>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub done: Option<Step>,
    #[serde(default)]
    pub completion: Completion,
}

/// Where a unit's part stands at a moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PartStatus {
    /// Not yet 签收, the limit not run out.
    NotStarted,
    /// 签收'd, not done, the limit not run out.
    Accepted,
    /// 完成 within the limit.
    Done,
    /// 完成 after the limit ran out.
    DoneLate,
    /// Not done and the limit has run out: escalated to the unit above.
    Late,
}

impl PartStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PartStatus::NotStarted => "not_started",
            PartStatus::Accepted => "accepted",
            PartStatus::Done => "done",
            PartStatus::DoneLate => "done_late",
            PartStatus::Late => "late",
        }
    }

    pub fn parse(s: &str) -> Option<PartStatus> {
        [
            PartStatus::NotStarted,
            PartStatus::Accepted,
            PartStatus::Done,
            PartStatus::DoneLate,
            PartStatus::Late,
        ]
        .into_iter()
        .find(|p| p.as_str() == s)
    }
}

/// Counts of parts by status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    pub total: u64,
    pub not_started: u64,
    pub accepted: u64,
    pub done: u64,
    pub done_late: u64,
    pub late: u64,
}

impl Tally {
    fn add(&mut self, s: PartStatus) {
        self.total += 1;
        match s {
            PartStatus::NotStarted => self.not_started += 1,
            PartStatus::Accepted => self.accepted += 1,
            PartStatus::Done => self.done += 1,
            PartStatus::DoneLate => self.done_late += 1,
            PartStatus::Late => self.late += 1,
        }
    }

    /// Parts not yet done.
    pub fn open(&self) -> u64 {
        self.not_started + self.accepted + self.late
    }
}

/// One unit's roll-up: itself, its level, the parts below it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProgressRow {
    pub unit: String,
    pub level: String,
    pub tally: Tally,
}

/// A task's progress: the totals and the rows asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Progress {
    pub totals: Tally,
    pub rows: Vec<ProgressRow>,
}

/// One unit's part as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PartView {
    pub unit: String,
    pub status: PartStatus,
    pub record: PartRecord,
    /// The unit a late part was escalated to.
    pub escalated_to: Option<String>,
}

/// An entry of the task event log (the notification outbox).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskEvent {
    pub seq: u64,
    pub task_id: u64,
    pub task: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// `created`, `签收`, `完成`, `remind`, `overdue`.
    pub action: String,
    pub at: Timestamp,
    pub actor: String,
    pub detail: Value,
}

/// `task␀ID`: headers.
const HEADERS: Book<TaskHeader> = Book::json("task");
/// `taskunits␀ID`: the units a task went to, in id order.
const UNITS: Book<Vec<String>> = Book::json("taskunits");
/// `taskpart␀ID␀UNIT`: the parts of units that acted.
const PARTS: Book<PartRecord> = Book::json("taskpart");
/// `taskev␀BUCKET␀SEQ`: the event log, a thousand events a bucket (so a
/// reader from a sequence scans only the buckets from there on).
const EVENTS: Book<TaskEvent> = Book::json("taskev");
/// `taskseq␀task|event`: the next id and event sequence.
const SEQ: Book<u64> = Book::json("taskseq");

const EVENT_BUCKET: u64 = 1000;

fn key(id: u64) -> String {
    format!("{id:020}")
}

/// A unit's part in memory.
#[derive(Debug, Clone, Copy, Default)]
struct Part {
    accepted: bool,
    done_at: Option<Timestamp>,
}

impl Part {
    fn status(self, due: Timestamp, now: Timestamp) -> PartStatus {
        match self.done_at {
            Some(t) if t <= due => PartStatus::Done,
            Some(_) => PartStatus::DoneLate,
            None if now > due => PartStatus::Late,
            None if self.accepted => PartStatus::Accepted,
            None => PartStatus::NotStarted,
        }
    }
}

/// Each part's ancestors (the units it rolls up into), flattened.
#[derive(Debug, Default)]
struct Groups {
    /// (unit, level) of each group.
    names: Vec<(String, String)>,
    /// Part i's groups are `chain[start[i]..start[i + 1]]`.
    start: Vec<u32>,
    chain: Vec<u32>,
}

impl Groups {
    /// Every unit from each part's own up to `root`.
    fn build(units: &[String], root: &str, dir: &Directory) -> Groups {
        let mut g = Groups::default();
        let mut index: HashMap<&str, u32> = HashMap::new();
        g.start.push(0);
        for u in units {
            let mut at = Some(u.as_str());
            let mut steps = 0;
            while let Some(unit) = at {
                let next = u32::try_from(g.names.len()).unwrap_or(u32::MAX);
                let i = *index.entry(unit).or_insert_with(|| {
                    g.names
                        .push((unit.to_string(), dir.level(unit).unwrap_or("").to_string()));
                    next
                });
                g.chain.push(i);
                steps += 1;
                if unit == root || steps > 64 {
                    break;
                }
                at = dir.parent(unit);
            }
            g.start
                .push(u32::try_from(g.chain.len()).unwrap_or(u32::MAX));
        }
        g
    }

    fn of(&self, part: usize) -> &[u32] {
        let a = self.start.get(part).copied().unwrap_or(0) as usize;
        let b = self.start.get(part + 1).copied().unwrap_or(0) as usize;
        self.chain.get(a..b).unwrap_or(&[])
    }
}

/// A task in memory.
struct Live {
    header: Mutex<TaskHeader>,
    units: Vec<String>,
    index: HashMap<String, u32>,
    parts: Mutex<Vec<Part>>,
    groups: Groups,
}

impl Live {
    fn header(&self) -> AppResult<TaskHeader> {
        self.header
            .lock()
            .map(|h| h.clone())
            .map_err(|_| poisoned())
    }

    fn part_index(&self, unit: &str, id: u64) -> AppResult<usize> {
        self.index
            .get(unit)
            .map(|i| *i as usize)
            .ok_or_else(|| AppError::InvalidArgument {
                field: "unit".into(),
                message: format!("task {id} was not sent to `{unit}`"),
            })
    }
}

/// What a task write is checked against.
enum Guard {
    /// The store is this process's alone: nobody else writes.
    Alone,
    /// The event counter's bytes as last seen (`None`: no event yet).
    Shared(Option<Vec<u8>>),
}

/// Another server sharing the database wrote tasks meanwhile.
fn moved() -> AppError {
    AppError::Store(wangge_store::StoreError::conflict(
        "tasks were changed on another server meanwhile: nothing was written; try again",
    ))
}

fn poisoned() -> AppError {
    AppError::Store(wangge_store::StoreError::internal(
        "a task's state lock was poisoned by a failed call",
    ))
}

/// Tasks: send, 签收, 完成, progress, reminders and overdue by the clock.
pub struct TaskService {
    store: Arc<dyn Store>,
    org: Arc<Organisation>,
    clock: Arc<dyn Clock>,
    headers: RwLock<HashMap<u64, TaskHeader>>,
    live: RwLock<HashMap<u64, Arc<Live>>>,
    /// The next task id and event sequence; held while a batch that
    /// uses them is written, so events are stored in sequence order.
    seq: Mutex<Counters>,
}

/// The next task id and event sequence (each also stored in `SEQ`).
struct Counters {
    task: u64,
    event: u64,
}

impl TaskService {
    /// Opens the service over `store`, reading every task's header.
    pub fn open(
        store: Arc<dyn Store>,
        org: Arc<Organisation>,
        clock: Arc<dyn Clock>,
    ) -> AppResult<TaskService> {
        let headers = HEADERS
            .scan(store.as_ref(), &[])?
            .into_iter()
            .map(|(_, h)| (h.id, h))
            .collect();
        Ok(TaskService {
            org,
            clock,
            seq: Mutex::new(Counters {
                task: SEQ.get(store.as_ref(), &["task"])?.unwrap_or(1),
                event: SEQ.get(store.as_ref(), &["event"])?.unwrap_or(1),
            }),
            headers: RwLock::new(headers),
            live: RwLock::default(),
            store,
        })
    }

    fn space(&self) -> &dyn LedgerSpace {
        self.store.as_ref()
    }

    /// The stored event counter, the guard of every task write: servers
    /// sharing one database each write a task batch only over the counter
    /// they last saw (its bytes, `None` before the first event), so a
    /// write from another server in between is found, not overwritten.
    /// Errors with a conflict (after reloading) when the stored counter is
    /// not this server's: another server wrote since.
    fn guard(&self, seq: &mut Counters) -> AppResult<Guard> {
        if !self.store.shared() {
            return Ok(Guard::Alone);
        }
        let raw = SEQ.get_raw(self.space(), &["event"])?;
        let stored = match &raw {
            Some(bytes) => SEQ.decode(bytes)?,
            None => 1,
        };
        if stored != seq.event {
            self.reload(seq)?;
            return Err(moved());
        }
        Ok(Guard::Shared(raw))
    }

    /// Writes `batch` over the counter `guard` (see [`Self::guard`]),
    /// durably; a conflict (after reloading) when another server wrote.
    fn commit(&self, batch: LedgerBatch, guard: Guard, seq: &mut Counters) -> AppResult<()> {
        let Guard::Shared(guard) = guard else {
            batch.write(self.space())?;
            return Ok(());
        };
        if !batch.write_if(self.space(), &SEQ, &["event"], guard.as_deref())? {
            self.reload(seq)?;
            return Err(moved());
        }
        self.store.flush()?;
        Ok(())
    }

    /// Reads the counters and headers again and forgets the tasks in
    /// memory (they load again on use): another server changed them.
    fn reload(&self, seq: &mut Counters) -> AppResult<()> {
        seq.task = SEQ.get(self.space(), &["task"])?.unwrap_or(1);
        seq.event = SEQ.get(self.space(), &["event"])?.unwrap_or(1);
        let headers = HEADERS
            .scan(self.space(), &[])?
            .into_iter()
            .map(|(_, h)| (h.id, h))
            .collect();
        *self.headers.write().map_err(|_| poisoned())? = headers;
        self.live.write().map_err(|_| poisoned())?.clear();
        Ok(())
    }

    /// Catches up with task writes other servers sharing the database
    /// made (a read of the counter; a reload when it moved).
    fn follow(&self) -> AppResult<()> {
        let mut seq = self.seq.lock().map_err(|_| poisoned())?;
        match self.guard(&mut seq) {
            Ok(_) => Ok(()),
            Err(AppError::Store(e)) if e.kind() == wangge_store::StoreErrorKind::Conflict => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Adds an event to `batch` with the next sequence of `seq` (held by
    /// the caller until the batch is written).
    #[allow(clippy::too_many_arguments)]
    fn event(
        &self,
        seq: &mut Counters,
        batch: &mut LedgerBatch,
        h: &TaskHeader,
        unit: Option<&str>,
        action: &str,
        at: Timestamp,
        actor: &str,
        detail: Value,
    ) -> AppResult<()> {
        let n = seq.event;
        seq.event += 1;
        batch.put(&SEQ, &["event"], &seq.event)?;
        let seq = n;
        let e = TaskEvent {
            seq,
            task_id: h.id,
            task: h.task.clone(),
            unit: unit.map(str::to_string),
            action: action.into(),
            at,
            actor: actor.into(),
            detail,
        };
        batch.put(&EVENTS, &[&key(seq / EVENT_BUCKET), &key(seq)], &e)?;
        Ok(())
    }

    /// Sends task `name` to every unit of its level under `root`.
    pub fn create(
        &self,
        set: &PolicySet,
        name: &str,
        root: &str,
        note: &str,
        by: &str,
    ) -> AppResult<TaskHeader> {
        self.follow()?;
        let Some(item) = set.tasks.get(name) else {
            let known: Vec<&str> = set.tasks.keys().map(String::as_str).collect();
            return Err(AppError::UnknownRule {
                what: "task",
                name: name.into(),
                help: Some(format!("the policy's tasks: {}", known.join(", "))),
            });
        };
        let dir = self.org.directory()?;
        let Some(root_level) = dir.level(root) else {
            return Err(AppError::InvalidArgument {
                field: "under".into(),
                message: format!("no unit `{root}` in the registry"),
            });
        };
        let units = dir.units_at(root, &item.level);
        if units.is_empty() {
            return Err(AppError::InvalidArgument {
                field: "under".into(),
                message: format!(
                    "there is no {} under `{root}` ({root_level}) for task `{name}`",
                    item.level
                ),
            });
        }
        let now = self.clock.now();
        let due = item.due(now)?;
        let mut seq = self.seq.lock().map_err(|_| poisoned())?;
        let guard = self.guard(&mut seq)?;
        let mut batch = LedgerBatch::new();
        let id = seq.task;
        seq.task += 1;
        batch.put(&SEQ, &["task"], &seq.task)?;
        let header = TaskHeader {
            id,
            task: name.into(),
            note: note.into(),
            sent_by: by.into(),
            root: root.into(),
            level: item.level.clone(),
            created_at: now,
            due,
            policy_version: set.hash.to_string(),
            units: units.len() as u64,
            needs: item.needs.clone(),
            reminders: item.reminders(now, due)?,
            reminded: Vec::new(),
            overdue: false,
        };
        batch.put(&HEADERS, &[&key(id)], &header)?;
        batch.put(&UNITS, &[&key(id)], &units)?;
        let detail = json!({"units": units.len(), "level": item.level, "under": root, "due": due, "note": note});
        self.event(
            &mut seq, &mut batch, &header, None, "created", now, by, detail,
        )?;
        self.commit(batch, guard, &mut seq)?;
        drop(seq);
        let live = Live {
            header: Mutex::new(header.clone()),
            index: index_of(&units),
            parts: Mutex::new(vec![Part::default(); units.len()]),
            groups: Groups::build(&units, root, &dir),
            units,
        };
        self.remember(header.clone(), Arc::new(live))?;
        Ok(header)
    }

    fn remember(&self, header: TaskHeader, live: Arc<Live>) -> AppResult<()> {
        let id = header.id;
        self.headers
            .write()
            .map_err(|_| poisoned())?
            .insert(id, header);
        self.live.write().map_err(|_| poisoned())?.insert(id, live);
        Ok(())
    }

    /// A task in memory, loaded from storage on first use.
    fn live(&self, id: u64) -> AppResult<Arc<Live>> {
        if let Some(l) = self.live.read().map_err(|_| poisoned())?.get(&id) {
            return Ok(l.clone());
        }
        let header = HEADERS
            .get(self.space(), &[&key(id)])?
            .ok_or(AppError::NoTask { id })?;
        let units = UNITS.get(self.space(), &[&key(id)])?.ok_or_else(|| {
            AppError::Store(wangge_store::StoreError::corrupt(format!(
                "task {id} has no unit list"
            )))
        })?;
        let index = index_of(&units);
        let mut parts = vec![Part::default(); units.len()];
        for (rest, rec) in PARTS.scan(self.space(), &[&key(id)])? {
            if let Some(i) = rest.first().and_then(|u| index.get(u)) {
                parts[*i as usize] = Part {
                    accepted: rec.accepted.is_some(),
                    done_at: rec.done.as_ref().map(|d| d.at),
                };
            }
        }
        let dir = self.org.directory()?;
        let live = Arc::new(Live {
            header: Mutex::new(header.clone()),
            groups: Groups::build(&units, &header.root, &dir),
            index,
            parts: Mutex::new(parts),
            units,
        });
        self.remember(header, live.clone())?;
        Ok(live)
    }

    /// A task's header.
    pub fn get(&self, id: u64) -> AppResult<TaskHeader> {
        self.follow()?;
        self.headers
            .read()
            .map_err(|_| poisoned())?
            .get(&id)
            .cloned()
            .ok_or(AppError::NoTask { id })
    }

    /// Every task `keep` lets through, newest first.
    pub fn list(&self, keep: &mut dyn FnMut(&TaskHeader) -> bool) -> AppResult<Vec<TaskHeader>> {
        self.follow()?;
        let mut out: Vec<TaskHeader> = (self.headers.read().map_err(|_| poisoned())?)
            .values()
            .filter(|h| keep(h))
            .cloned()
            .collect();
        out.sort_by_key(|h| std::cmp::Reverse(h.id));
        Ok(out)
    }

    /// 签收: `unit` takes its part on.
    pub fn accept(&self, id: u64, unit: &str, by: &str) -> AppResult<PartView> {
        self.step(id, unit, by, None)
    }

    /// 完成: `unit` reports its part done, with what the task needs.
    pub fn complete(
        &self,
        id: u64,
        unit: &str,
        by: &str,
        completion: Completion,
    ) -> AppResult<PartView> {
        self.step(id, unit, by, Some(completion))
    }

    fn step(
        &self,
        id: u64,
        unit: &str,
        by: &str,
        completion: Option<Completion>,
    ) -> AppResult<PartView> {
        self.follow()?;
        let live = self.live(id)?;
        let header = live.header()?;
        let i = live.part_index(unit, id)?;
        if let Some(c) = &completion {
            header.needs.check(&header.task, c)?;
        }
        let now = self.clock.now();
        let mut parts = live.parts.lock().map_err(|_| poisoned())?;
        let part = parts.get(i).copied().unwrap_or_default();
        if let Some(at) = part.done_at {
            return Err(AppError::TaskState {
                message: format!("`{unit}` already completed task {id} (at {at})"),
            });
        }
        if completion.is_none() && part.accepted {
            return Err(AppError::TaskState {
                message: format!("`{unit}` has already 签收'd task {id}"),
            });
        }
        let mut rec = PARTS
            .get(self.space(), &[&key(id), unit])?
            .unwrap_or_default();
        let step = Step {
            by: by.into(),
            at: now,
        };
        if rec.accepted.is_none() {
            rec.accepted = Some(step.clone());
        }
        let action = match completion {
            Some(c) => {
                rec.done = Some(step);
                rec.completion = c;
                "完成"
            }
            None => "签收",
        };
        let mut batch = LedgerBatch::new();
        batch.put(&PARTS, &[&key(id), unit], &rec)?;
        {
            let mut seq = self.seq.lock().map_err(|_| poisoned())?;
            let guard = self.guard(&mut seq)?;
            let detail = json!({"completion": rec.completion, "due": header.due});
            self.event(
                &mut seq,
                &mut batch,
                &header,
                Some(unit),
                action,
                now,
                by,
                detail,
            )?;
            self.commit(batch, guard, &mut seq)?;
        }
        let next = Part {
            accepted: true,
            done_at: rec.done.as_ref().map(|d| d.at),
        };
        if let Some(p) = parts.get_mut(i) {
            *p = next;
        }
        Ok(self.view(&live, &header, unit, next, rec, now))
    }

    fn view(
        &self,
        live: &Live,
        h: &TaskHeader,
        unit: &str,
        part: Part,
        record: PartRecord,
        now: Timestamp,
    ) -> PartView {
        let status = part.status(h.due, now);
        let escalated_to = (status == PartStatus::Late)
            .then(|| {
                live.index
                    .get(unit)
                    .and_then(|i| live.groups.of(*i as usize).get(1))
                    .and_then(|g| live.groups.names.get(*g as usize))
                    .map(|(u, _)| u.clone())
            })
            .flatten();
        PartView {
            unit: unit.into(),
            status,
            record,
            escalated_to,
        }
    }

    /// The roll-up by unit: totals under `under` (the task's root when
    /// `None`) and a row for each unit at `level` (every level when `None`)
    /// under it.
    pub fn progress(
        &self,
        id: u64,
        level: Option<&str>,
        under: Option<&str>,
    ) -> AppResult<Progress> {
        self.follow()?;
        let live = self.live(id)?;
        let h = live.header()?;
        let now = self.clock.now();
        let g = &live.groups;
        let mut tallies = vec![Tally::default(); g.names.len()];
        {
            let parts = live.parts.lock().map_err(|_| poisoned())?;
            for (i, p) in parts.iter().enumerate() {
                let s = p.status(h.due, now);
                for &grp in g.of(i) {
                    if let Some(t) = tallies.get_mut(grp as usize) {
                        t.add(s);
                    }
                }
            }
        }
        let under = under.unwrap_or(&h.root);
        let Some(top) = g.names.iter().position(|(u, _)| u == under) else {
            return Err(AppError::InvalidArgument {
                field: "under".into(),
                message: format!("task {id} did not reach `{under}`"),
            });
        };
        let dir = self.org.directory()?;
        let mut rows: Vec<ProgressRow> = g
            .names
            .iter()
            .zip(&tallies)
            .filter(|((u, l), _)| {
                level.is_none_or(|want| l == want) && (under == h.root || dir.within(u, under))
            })
            .map(|((u, l), t)| ProgressRow {
                unit: u.clone(),
                level: l.clone(),
                tally: *t,
            })
            .collect();
        rows.sort_by(|a, b| a.unit.cmp(&b.unit));
        Ok(Progress {
            totals: tallies.get(top).copied().unwrap_or_default(),
            rows,
        })
    }

    /// The parts under `under` (all when `None`) with `status` (any when
    /// `None`), in unit order, at most `limit`.
    pub fn parts(
        &self,
        id: u64,
        status: Option<PartStatus>,
        under: Option<&str>,
        limit: usize,
    ) -> AppResult<Vec<PartView>> {
        self.follow()?;
        let live = self.live(id)?;
        let h = live.header()?;
        let now = self.clock.now();
        let dir = self.org.directory()?;
        let chosen: Vec<(usize, Part)> = {
            let parts = live.parts.lock().map_err(|_| poisoned())?;
            parts
                .iter()
                .enumerate()
                .filter(|(_, p)| status.is_none_or(|s| p.status(h.due, now) == s))
                .filter(|(i, _)| {
                    under.is_none_or(|u| live.units.get(*i).is_some_and(|x| dir.within(x, u)))
                })
                .take(limit)
                .map(|(i, p)| (i, *p))
                .collect()
        };
        let mut out = Vec::with_capacity(chosen.len());
        for (i, p) in chosen {
            let Some(unit) = live.units.get(i) else {
                continue;
            };
            let rec = if p.accepted {
                PARTS
                    .get(self.space(), &[&key(id), unit])?
                    .unwrap_or_default()
            } else {
                PartRecord::default()
            };
            out.push(self.view(&live, &h, unit, p, rec, now));
        }
        Ok(out)
    }

    /// Sends the reminders and marks the overdue tasks whose time has come
    /// (by the clock): the units not done are late, escalated to the unit
    /// above. Returns how many events it wrote.
    pub fn fire_due(&self) -> AppResult<usize> {
        self.follow()?;
        let now = self.clock.now();
        let waiting: Vec<u64> = (self.headers.read().map_err(|_| poisoned())?)
            .values()
            .filter(|h| {
                (!h.overdue && h.due <= now)
                    || h.reminders
                        .iter()
                        .any(|(p, at)| *at <= now && !h.reminded.contains(p))
            })
            .map(|h| h.id)
            .collect();
        let mut fired = 0;
        for id in waiting {
            match self.fire_task(id, now) {
                Ok(n) => fired += n,
                // Another server sharing the database marked it first.
                Err(AppError::Store(e)) if e.kind() == wangge_store::StoreErrorKind::Conflict => {}
                Err(e) => return Err(e),
            }
        }
        Ok(fired)
    }

    fn fire_task(&self, id: u64, now: Timestamp) -> AppResult<usize> {
        let live = self.live(id)?;
        let (open, late_parents) = {
            let parts = live.parts.lock().map_err(|_| poisoned())?;
            let mut parents = std::collections::HashSet::new();
            let mut open = 0u64;
            for (i, p) in parts.iter().enumerate() {
                if p.done_at.is_none() {
                    open += 1;
                    if let Some(g) = live.groups.of(i).get(1) {
                        parents.insert(*g);
                    }
                }
            }
            (open, parents.len())
        };
        let mut seq = self.seq.lock().map_err(|_| poisoned())?;
        let guard = self.guard(&mut seq)?;
        // Read under the lock: a pass that fired this task a moment ago
        // (the timer thread and a clock move at once) has marked it.
        let mut h = live.header()?;
        let mut batch = LedgerBatch::new();
        let mut fired = 0;
        for (p, at) in h.reminders.clone() {
            if at <= now && !h.reminded.contains(&p) && !h.overdue {
                h.reminded.push(p);
                let detail = json!({"percent": p, "not_done": open, "due": h.due});
                self.event(
                    &mut seq, &mut batch, &h, None, "remind", at, "timer", detail,
                )?;
                fired += 1;
            }
        }
        if !h.overdue && h.due <= now {
            h.overdue = true;
            let detail = json!({"late": open, "escalated_to_units": late_parents, "due": h.due});
            self.event(
                &mut seq, &mut batch, &h, None, "overdue", h.due, "timer", detail,
            )?;
            fired += 1;
        }
        if fired == 0 {
            return Ok(0);
        }
        batch.put(&HEADERS, &[&key(id)], &h)?;
        self.commit(batch, guard, &mut seq)?;
        if let Ok(mut mine) = live.header.lock() {
            *mine = h.clone();
        }
        self.headers.write().map_err(|_| poisoned())?.insert(id, h);
        drop(seq);
        Ok(fired)
    }

    /// Task events from `from` (a sequence), at most `max`.
    pub fn events(&self, from: u64, max: usize) -> AppResult<Vec<TaskEvent>> {
        let mut out = Vec::new();
        let mut bucket = from / EVENT_BUCKET;
        loop {
            let events = EVENTS.scan(self.space(), &[&key(bucket)])?;
            if events.is_empty() {
                return Ok(out);
            }
            for (_, e) in events {
                if e.seq >= from {
                    out.push(e);
                    if out.len() >= max {
                        return Ok(out);
                    }
                }
            }
            bucket += 1;
        }
    }
}

fn index_of(units: &[String]) -> HashMap<String, u32> {
    units
        .iter()
        .enumerate()
        .map(|(i, u)| (u.clone(), u32::try_from(i).unwrap_or(u32::MAX)))
        .collect()
}
