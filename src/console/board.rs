//! The live 出格 and 超时 board: how many cases climbed past their ceiling
//! (出格) and missed a limit at the top of their ladder (超时), by 社区,
//! 一般网格 and class, today and this month.
//!
//! The counts are kept in memory from the change feed: at start the
//! stored feed is read once (the board says it is still counting until
//! then), after that every new event as it commits, so a breach shows on
//! every open board within a second (server-sent events). An event counts
//! on the local day (the policy's zone) its limit ran out or the climb
//! happened.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use wangge_app::access::Scope;
use wangge_policy::{CaseEvent, Zone};

use crate::server::app::App;

/// What a board row counts: the unit path and class, and the local day.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    community: String,
    grid: String,
    class: String,
    /// `2026-12-01`.
    day: String,
}

/// 出格 and 超时 of one key.
#[derive(Debug, Clone, Copy, Default)]
struct Pair {
    breached: u64,
    overdue: u64,
}

#[derive(Default)]
struct Tally {
    /// The stored feed has been read.
    ready: bool,
    counts: BTreeMap<Key, Pair>,
    /// Unit names by id, for the rows.
    names: HashMap<String, String>,
}

/// One row as a board shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Row {
    pub community: String,
    pub grid: String,
    /// Unit ids, for the links to the case list.
    pub community_id: String,
    pub grid_id: String,
    pub class: String,
    pub breached_today: u64,
    pub breached_month: u64,
    pub overdue_today: u64,
    pub overdue_month: u64,
}

/// The board as one user sees it.
#[derive(Debug, Clone, Default)]
pub struct View {
    pub ready: bool,
    pub today: String,
    pub rows: Vec<Row>,
    pub total: Row,
}

/// The board's counts and the signal that they changed.
pub struct Board {
    app: Arc<App>,
    tally: RwLock<Tally>,
    changed: tokio::sync::watch::Sender<u64>,
}

impl Board {
    pub fn new(app: Arc<App>) -> Arc<Board> {
        Arc::new(Board {
            app,
            tally: RwLock::default(),
            changed: tokio::sync::watch::Sender::new(0),
        })
    }

    /// A receiver told of every change of the counts.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// Reads the stored feed, then follows it; runs until the server stops.
    pub async fn follow(self: Arc<Self>) {
        let mut next = 0u64;
        loop {
            // Every event numbered below `published` is stored: when none is
            // stored from `next`, the feed goes on from `published`.
            let published = self.app.cases.feed().next_sequence();
            let (app, from) = (self.app.clone(), next);
            let read =
                tokio::task::spawn_blocking(move || app.cases.store().history(from, 4096)).await;
            match read {
                Ok(Ok(batch)) if batch.is_empty() => {
                    next = next.max(published);
                    break;
                }
                Ok(Ok(batch)) => next = self.count_blocking(batch, next).await,
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "the board cannot read the change feed yet");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                Err(e) => {
                    tracing::error!(error = %e, "the board's feed reader failed");
                    return;
                }
            }
        }
        if let Ok(mut t) = self.tally.write() {
            t.ready = true;
        }
        self.changed.send_modify(|v| *v += 1);
        loop {
            let (app, from) = (self.app.clone(), next);
            let read = tokio::task::spawn_blocking(move || app.cases.changes(from, 1024)).await;
            match read {
                Ok(Ok(batch)) if batch.is_empty() => {
                    self.app.cases.feed().wait_for(next).await;
                }
                Ok(Ok(batch)) => {
                    next = self.count_blocking(batch, next).await;
                    // A quarter of a second gathers the events of many
                    // commits into one pass (the board needs seconds, and
                    // the report path keeps the cores).
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "the board cannot follow the change feed");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                Err(e) => {
                    tracing::error!(error = %e, "the board's feed reader failed");
                    return;
                }
            }
        }
    }

    /// Counts a batch on the blocking pool; the sequence after it.
    async fn count_blocking(self: &Arc<Self>, batch: Vec<(u64, Arc<CaseEvent>)>, next: u64) -> u64 {
        let after = batch.last().map_or(next, |(s, _)| s + 1);
        let me = self.clone();
        let counted = tokio::task::spawn_blocking(move || me.count(&batch)).await;
        if matches!(counted, Ok(true)) {
            self.changed.send_modify(|v| *v += 1);
        }
        after
    }

    /// Counts the 出格 and 超时 among `batch`; whether any counted.
    fn count(&self, batch: &[(u64, Arc<CaseEvent>)]) -> bool {
        let zone = self.app.cases.policy().zone();
        let Ok(dir) = self.app.org.directory() else {
            return false;
        };
        let mut any = false;
        for (_, e) in batch {
            let overdue = matches!(e.action.as_str(), "overdue" | "accept_missed");
            if !overdue && e.action != "escalate" {
                continue;
            }
            let Ok(case) = self.app.cases.get(e.case_id) else {
                continue;
            };
            let breached = !overdue
                && case
                    .breaches
                    .iter()
                    .any(|b| b.at == e.at && b.to == e.level_after);
            if !overdue && !breached {
                continue;
            }
            let path = unit_path(&dir, case.unit.as_deref());
            let key = Key {
                community: path.0.clone(),
                grid: path.1.clone(),
                class: case.class.clone().unwrap_or_else(|| "—".into()),
                day: day_of(&zone, e.at),
            };
            let Ok(mut t) = self.tally.write() else {
                return any;
            };
            for id in [&path.0, &path.1] {
                if !id.is_empty() && !t.names.contains_key(id) {
                    let name = self
                        .app
                        .org
                        .unit(id)
                        .map_or_else(|_| id.clone(), |u| u.name);
                    t.names.insert(id.clone(), name);
                }
            }
            let pair = t.counts.entry(key).or_default();
            if overdue {
                pair.overdue += 1;
            } else {
                pair.breached += 1;
            }
            any = true;
        }
        any
    }

    /// The rows `scope` may see, for the day `now` falls on.
    pub fn view(&self, scope: &Scope, now: i64) -> View {
        let zone = self.app.cases.policy().zone();
        let today = day_of(&zone, now);
        let month = today.get(..7).unwrap_or("").to_string();
        let Ok(t) = self.tally.read() else {
            return View::default();
        };
        let mut rows: BTreeMap<(String, String, String), Row> = BTreeMap::new();
        for (k, p) in t.counts.range(..) {
            if !k.day.starts_with(&month) {
                continue;
            }
            let unit = if k.grid.is_empty() {
                &k.community
            } else {
                &k.grid
            };
            if !scope.all && !scope.units.contains(unit) {
                continue;
            }
            let name = |id: &String| t.names.get(id).cloned().unwrap_or_else(|| id.clone());
            let row = rows
                .entry((k.community.clone(), k.grid.clone(), k.class.clone()))
                .or_insert_with(|| Row {
                    community: name(&k.community),
                    grid: name(&k.grid),
                    community_id: k.community.clone(),
                    grid_id: k.grid.clone(),
                    class: k.class.clone(),
                    ..Row::default()
                });
            row.breached_month += p.breached;
            row.overdue_month += p.overdue;
            if k.day == today {
                row.breached_today += p.breached;
                row.overdue_today += p.overdue;
            }
        }
        let rows: Vec<Row> = rows.into_values().collect();
        let mut total = Row {
            community: "合计".into(),
            ..Row::default()
        };
        for r in &rows {
            total.breached_today += r.breached_today;
            total.breached_month += r.breached_month;
            total.overdue_today += r.overdue_today;
            total.overdue_month += r.overdue_month;
        }
        View {
            ready: t.ready,
            today,
            rows,
            total,
        }
    }
}

/// The local day of `t`, `2026-12-01`.
fn day_of(zone: &Zone, t: i64) -> String {
    zone.format(t).chars().take(10).collect()
}

/// The case unit's 社区 and 一般网格: the second and third rungs below the
/// registry's root on its path (empty where the unit is higher, or not in
/// the registry).
fn unit_path(dir: &wangge_app::access::Directory, unit: Option<&str>) -> (String, String) {
    let Some(unit) = unit else {
        return (String::new(), String::new());
    };
    let mut chain = vec![unit.to_string()];
    let mut at = unit;
    while let Some(p) = dir.parent(at) {
        if chain.len() > 32 {
            break;
        }
        chain.push(p.to_string());
        at = p;
    }
    chain.reverse();
    (
        chain.get(1).cloned().unwrap_or_default(),
        chain.get(2).cloned().unwrap_or_default(),
    )
}
