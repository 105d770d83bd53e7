//! The in-memory index of stored cases that filtered listings and the
//! case-facts scan read: one small fixed-size row per case id (ids are
//! dense), its names and name lists interned to numbers. A listing tests
//! rows, not decoded case records (a million rows in a few milliseconds,
//! against ~5 µs per decoded case), then reads only the page's cases; the
//! figures of evaluation and incentives come from the rows (the facts of
//! [`wangge_store::CaseFact`]) without reading a record.
//!
//! The writer puts the row of every case it writes once the batch is
//! applied; a thread started at open fills in the rows of the cases already
//! stored (a row the writer put is newer and is kept). Until that thread is
//! done the store answers `find` with `None` and listings scan.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use wangge_policy::{Case, CaseId, Timestamp};
use wangge_store::{CaseFact, CaseFilter, Found, StoreError};

/// What the index keeps of one case.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    id: CaseId,
    workflow: String,
    state: String,
    class: Option<String>,
    level: String,
    unit: Option<String>,
    created_at: Timestamp,
    next_deadline: Option<Timestamp>,
    closed_at: Option<Timestamp>,
    escalations: u32,
    overdue: u32,
    reopened: u32,
    breaches: u32,
    reported_by: Option<String>,
    channel: Option<String>,
    handlers: Vec<String>,
    outcomes: Vec<String>,
}

impl Entry {
    pub(crate) fn of(c: &Case) -> Entry {
        Entry {
            id: c.id,
            workflow: c.workflow.clone(),
            state: c.state.clone(),
            class: c.class.clone(),
            level: c.level.clone(),
            unit: c.unit.clone(),
            created_at: c.created_at,
            next_deadline: c.next_deadline().map(|d| d.due),
            closed_at: c.closed_at,
            escalations: c.escalations,
            overdue: c.overdue,
            reopened: c.reopened,
            breaches: u32::try_from(c.breaches.len()).unwrap_or(u32::MAX),
            reported_by: c.reported_by.clone(),
            channel: c.channel.clone(),
            handlers: c.handlers.clone(),
            outcomes: c.outcomes.clone(),
        }
    }
}

const PRESENT: u8 = 1;
const BREACHED: u8 = 2;
const OVERDUE: u8 = 4;
/// An interned name: 0 is "none".
type Name = u32;
/// An interned list of names (handlers, outcomes): 0 is the empty list.
type List = u32;

#[derive(Debug, Clone, Copy, Default)]
struct Row {
    workflow: Name,
    state: Name,
    class: Name,
    level: Name,
    unit: Name,
    reported_by: Name,
    channel: Name,
    handlers: List,
    outcomes: List,
    flags: u8,
    created_at: Timestamp,
    /// `Timestamp::MAX` when no deadline is pending.
    next_deadline: Timestamp,
    /// `Timestamp::MIN` while open.
    closed_at: Timestamp,
    escalations: u32,
    overdue: u32,
    reopened: u32,
    breaches: u32,
}

struct Inner {
    /// Indexed by case id (row 0 unused).
    rows: Vec<Row>,
    names: HashMap<Arc<str>, Name>,
    /// The names by number (0 is the empty name).
    by_name: Vec<Arc<str>>,
    lists: HashMap<Vec<Name>, List>,
    /// The lists by number (0 is the empty list).
    by_list: Vec<Vec<Name>>,
}

impl Default for Inner {
    fn default() -> Self {
        Inner {
            rows: Vec::new(),
            names: HashMap::new(),
            by_name: vec![Arc::from("")],
            lists: HashMap::new(),
            by_list: vec![Vec::new()],
        }
    }
}

impl Inner {
    fn intern(&mut self, s: &str) -> Name {
        if let Some(&n) = self.names.get(s) {
            return n;
        }
        let n = self.by_name.len() as Name;
        let shared: Arc<str> = Arc::from(s);
        self.names.insert(shared.clone(), n);
        self.by_name.push(shared);
        n
    }

    fn intern_list(&mut self, items: &[String]) -> List {
        if items.is_empty() {
            return 0;
        }
        let names: Vec<Name> = items.iter().map(|s| self.intern(s)).collect();
        if let Some(&l) = self.lists.get(&names) {
            return l;
        }
        let l = self.by_list.len() as List;
        self.lists.insert(names.clone(), l);
        self.by_list.push(names);
        l
    }

    fn name(&self, n: Name) -> &str {
        self.by_name.get(n as usize).map_or("", |s| s)
    }

    fn named(&self, n: Name) -> Option<Cow<'_, str>> {
        (n != 0).then(|| Cow::Borrowed(self.name(n)))
    }

    /// The facts of the case in row `id`.
    fn fact(&self, id: CaseId, r: &Row) -> CaseFact<'_> {
        let list = |l: List| -> Vec<Cow<'_, str>> {
            self.by_list
                .get(l as usize)
                .map(|ns| ns.iter().map(|&n| Cow::Borrowed(self.name(n))).collect())
                .unwrap_or_default()
        };
        CaseFact {
            id,
            workflow: Cow::Borrowed(self.name(r.workflow)),
            state: Cow::Borrowed(self.name(r.state)),
            class: self.named(r.class),
            unit: self.named(r.unit),
            created_at: r.created_at,
            closed_at: (r.closed_at != Timestamp::MIN).then_some(r.closed_at),
            escalations: r.escalations,
            overdue: r.overdue,
            reopened: r.reopened,
            breaches: r.breaches as usize,
            reported_by: self.named(r.reported_by),
            handlers: list(r.handlers),
            outcomes: list(r.outcomes),
            channel: self.named(r.channel),
        }
    }

    fn row(&mut self, e: &Entry) -> Row {
        Row {
            workflow: self.intern(&e.workflow),
            state: self.intern(&e.state),
            class: e.class.as_deref().map_or(0, |c| self.intern(c)),
            level: self.intern(&e.level),
            unit: e.unit.as_deref().map_or(0, |u| self.intern(u)),
            reported_by: e.reported_by.as_deref().map_or(0, |u| self.intern(u)),
            channel: e.channel.as_deref().map_or(0, |u| self.intern(u)),
            handlers: self.intern_list(&e.handlers),
            outcomes: self.intern_list(&e.outcomes),
            flags: PRESENT
                | if e.breaches > 0 { BREACHED } else { 0 }
                | if e.overdue > 0 { OVERDUE } else { 0 },
            created_at: e.created_at,
            next_deadline: e.next_deadline.unwrap_or(Timestamp::MAX),
            closed_at: e.closed_at.unwrap_or(Timestamp::MIN),
            escalations: e.escalations,
            overdue: e.overdue,
            reopened: e.reopened,
            breaches: e.breaches,
        }
    }

    fn slot(&mut self, id: CaseId) -> Option<&mut Row> {
        let i = usize::try_from(id).ok()?;
        if self.rows.len() <= i {
            self.rows.resize(i + 1, Row::default());
        }
        self.rows.get_mut(i)
    }
}

/// The index; shared by the store, its writer and the thread that builds it.
#[derive(Default)]
pub(crate) struct Summaries {
    inner: RwLock<Inner>,
    ready: AtomicBool,
    /// Set when the store closes: the building thread stops.
    pub(crate) stop: AtomicBool,
}

/// A filter's names as interned numbers; `None` where a name the filter
/// asks for was never stored (nothing can match).
struct Wanted {
    workflow: Option<Name>,
    state: Option<Name>,
    class: Option<Name>,
    level: Option<Name>,
    channel: Option<Name>,
    /// Indexed by name; `None` when the filter has no units.
    units: Option<Vec<bool>>,
    flags: u8,
}

impl Summaries {
    /// The row of a case just written (newer than any row built at open).
    pub(crate) fn put(&self, e: &Entry) {
        if let Ok(mut g) = self.inner.write() {
            let row = g.row(e);
            if let Some(slot) = g.slot(e.id) {
                *slot = row;
            }
        }
    }

    /// The row of a case read at open, unless the writer put a newer one.
    pub(crate) fn fill(&self, e: &Entry) {
        if let Ok(mut g) = self.inner.write() {
            let row = g.row(e);
            if let Some(slot) = g.slot(e.id) {
                if slot.flags & PRESENT == 0 {
                    *slot = row;
                }
            }
        }
    }

    pub(crate) fn set_ready(&self) {
        self.ready.store(true, Ordering::SeqCst);
    }

    pub(crate) fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }

    /// Up to `limit` matching ids ≥ `from`; `None` until built.
    pub(crate) fn find(&self, f: &CaseFilter, from: CaseId, limit: usize) -> Option<Found> {
        if !self.is_ready() {
            return None;
        }
        let g = self.inner.read().ok()?;
        let Some(w) = wanted(&g, f) else {
            return Some(Found::default());
        };
        let mut found = Found::default();
        let start = usize::try_from(from.max(1)).unwrap_or(usize::MAX);
        for (i, row) in g.rows.iter().enumerate().skip(start) {
            if !matches(row, &w, f) {
                continue;
            }
            if found.ids.len() == limit {
                found.next = Some(i as CaseId);
                break;
            }
            found.ids.push(i as CaseId);
        }
        Some(found)
    }
}

impl Summaries {
    /// Up to `limit` matching ids with a pending deadline, nearest first,
    /// strictly after `after` in `(due, id)` order; `None` until built.
    /// One pass over the rows keeping the `limit` smallest keys.
    pub(crate) fn find_by_deadline(
        &self,
        f: &CaseFilter,
        after: (Timestamp, CaseId),
        limit: usize,
    ) -> Option<Vec<(Timestamp, CaseId)>> {
        if !self.is_ready() || limit == 0 {
            return None;
        }
        let g = self.inner.read().ok()?;
        let Some(w) = wanted(&g, f) else {
            return Some(Vec::new());
        };
        let mut best: std::collections::BinaryHeap<(Timestamp, CaseId)> =
            std::collections::BinaryHeap::with_capacity(limit + 1);
        for (i, row) in g.rows.iter().enumerate().skip(1) {
            let key = (row.next_deadline, i as CaseId);
            if row.next_deadline == Timestamp::MAX || key <= after {
                continue;
            }
            if best.len() == limit && best.peek().is_some_and(|top| key >= *top) {
                continue;
            }
            if !matches(row, &w, f) {
                continue;
            }
            best.push(key);
            if best.len() > limit {
                best.pop();
            }
        }
        Some(best.into_sorted_vec())
    }
}

/// Rows read under one hold of the lock by the facts scan (the writer puts
/// rows between chunks).
const FACTS_CHUNK: usize = 4096;

impl Summaries {
    /// The facts of the cases with ids in `from..to`, in id order, until
    /// `f` returns false; `None` (nothing read) until the index is built,
    /// an error if it cannot be read once facts were given.
    pub(crate) fn scan_facts(
        &self,
        from: CaseId,
        to: CaseId,
        f: &mut dyn FnMut(&CaseFact<'_>) -> bool,
    ) -> Option<Result<(), StoreError>> {
        if !self.is_ready() || self.inner.is_poisoned() {
            return None;
        }
        let mut at = usize::try_from(from.max(1)).unwrap_or(usize::MAX);
        let to = usize::try_from(to).unwrap_or(usize::MAX);
        loop {
            let Ok(g) = self.inner.read() else {
                return Some(Err(StoreError::internal(
                    "the case index failed during a scan of case facts",
                )));
            };
            let end = to.min(g.rows.len()).min(at.saturating_add(FACTS_CHUNK));
            let Some(rows) = g.rows.get(at..end).filter(|r| !r.is_empty()) else {
                return Some(Ok(()));
            };
            for (i, row) in rows.iter().enumerate() {
                if row.flags & PRESENT != 0 && !f(&g.fact((at + i) as CaseId, row)) {
                    return Some(Ok(()));
                }
            }
            at = end;
        }
    }
}

fn wanted(g: &Inner, f: &CaseFilter) -> Option<Wanted> {
    let name = |s: &Option<String>| -> Option<Option<Name>> {
        match s {
            None => Some(None),
            Some(s) => g.names.get(s.as_str()).map(|&n| Some(n)),
        }
    };
    let units = f.units.as_ref().map(|us| {
        let mut v = vec![false; g.names.len() + 1];
        for u in us {
            if let Some(&n) = g.names.get(u.as_str()) {
                v[n as usize] = true;
            }
        }
        v
    });
    Some(Wanted {
        workflow: name(&f.workflow)?,
        state: name(&f.state)?,
        class: name(&f.class)?,
        level: name(&f.level)?,
        channel: name(&f.channel)?,
        units,
        flags: PRESENT
            | if f.breached { BREACHED } else { 0 }
            | if f.overdue { OVERDUE } else { 0 },
    })
}

fn matches(r: &Row, w: &Wanted, f: &CaseFilter) -> bool {
    r.flags & w.flags == w.flags
        && w.workflow.is_none_or(|n| r.workflow == n)
        && w.state.is_none_or(|n| r.state == n)
        && w.class.is_none_or(|n| r.class == n)
        && w.level.is_none_or(|n| r.level == n)
        && w.channel.is_none_or(|n| r.channel == n)
        && w.units
            .as_ref()
            .is_none_or(|u| u.get(r.unit as usize).copied().unwrap_or(false) && r.unit != 0)
        && f.created_from.is_none_or(|t| r.created_at >= t)
        && f.created_to.is_none_or(|t| r.created_at < t)
        && f.deadline_window((r.next_deadline != Timestamp::MAX).then_some(r.next_deadline))
}
