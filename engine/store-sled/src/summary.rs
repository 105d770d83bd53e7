//! The in-memory index of stored cases that filtered listings read: one
//! small fixed-size row per case id (ids are dense), its names interned to
//! numbers. A listing tests rows, not decoded case records (a million rows
//! in a few milliseconds, against ~5 µs per decoded case), then reads only
//! the page's cases.
//!
//! The writer puts the row of every case it writes once the batch is
//! applied; a thread started at open fills in the rows of the cases already
//! stored (a row the writer put is newer and is kept). Until that thread is
//! done the store answers `find` with `None` and listings scan.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::RwLock;

use wangge_policy::{Case, CaseId, Timestamp};
use wangge_store::{CaseFilter, Found};

/// What the index keeps of one case.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    id: CaseId,
    workflow: String,
    state: String,
    class: Option<String>,
    level: String,
    unit: Option<String>,
    breached: bool,
    overdue: bool,
    created_at: Timestamp,
    next_deadline: Option<Timestamp>,
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
            breached: c.breached(),
            overdue: c.overdue > 0,
            created_at: c.created_at,
            next_deadline: c.next_deadline().map(|d| d.due),
        }
    }
}

const PRESENT: u8 = 1;
const BREACHED: u8 = 2;
const OVERDUE: u8 = 4;
/// An interned name: 0 is "none".
type Name = u32;

#[derive(Debug, Clone, Copy, Default)]
struct Row {
    workflow: Name,
    state: Name,
    class: Name,
    level: Name,
    unit: Name,
    flags: u8,
    created_at: Timestamp,
    /// `Timestamp::MAX` when no deadline is pending.
    next_deadline: Timestamp,
}

#[derive(Default)]
struct Inner {
    /// Indexed by case id (row 0 unused).
    rows: Vec<Row>,
    names: HashMap<String, Name>,
}

impl Inner {
    fn intern(&mut self, s: &str) -> Name {
        if let Some(&n) = self.names.get(s) {
            return n;
        }
        let n = self.names.len() as Name + 1;
        self.names.insert(s.to_string(), n);
        n
    }

    fn row(&mut self, e: &Entry) -> Row {
        Row {
            workflow: self.intern(&e.workflow),
            state: self.intern(&e.state),
            class: e.class.as_deref().map_or(0, |c| self.intern(c)),
            level: self.intern(&e.level),
            unit: e.unit.as_deref().map_or(0, |u| self.intern(u)),
            flags: PRESENT
                | if e.breached { BREACHED } else { 0 }
                | if e.overdue { OVERDUE } else { 0 },
            created_at: e.created_at,
            next_deadline: e.next_deadline.unwrap_or(Timestamp::MAX),
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

fn wanted(g: &Inner, f: &CaseFilter) -> Option<Wanted> {
    let name = |s: &Option<String>| -> Option<Option<Name>> {
        match s {
            None => Some(None),
            Some(s) => g.names.get(s).map(|&n| Some(n)),
        }
    };
    let units = f.units.as_ref().map(|us| {
        let mut v = vec![false; g.names.len() + 1];
        for u in us {
            if let Some(&n) = g.names.get(u) {
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
        && w.units
            .as_ref()
            .is_none_or(|u| u.get(r.unit as usize).copied().unwrap_or(false) && r.unit != 0)
        && f.created_from.is_none_or(|t| r.created_at >= t)
        && f.created_to.is_none_or(|t| r.created_at < t)
        && f.deadline_window((r.next_deadline != Timestamp::MAX).then_some(r.next_deadline))
}
