//! The storage ports: what the services need from a backend, as traits
//! over domain types, plus the small pieces every backend shares (the
//! stored-value codec, timers derived from a case, the change feed, pending
//! writes).
//!
//! Writes that belong together (a case, its event, its timers and its
//! idempotency key) are one atomic write; a returned [`Pending`] resolves
//! once that write is durable.

use std::sync::{Arc, Condvar, Mutex};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use wangge_policy::{Case, CaseEvent, CaseId, Change, Deadline, Person, Timestamp, Unit};

use crate::error::StoreError;
use crate::facts::CaseFacts;

/// Format version written in front of every stored value.
pub const FORMAT_VERSION: u8 = 1;

/// A pending timer: which deadline of which case comes due when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timer {
    pub due: Timestamp,
    pub case_id: CaseId,
    pub slot: u32,
    pub deadline: Deadline,
}

/// The idempotency record of a report. `key` is the workflow-scoped key
/// (`workflow` NUL `key`, the key the case itself carries); `hash` is the
/// SHA-256 of the payload in hex (backends may compare a prefix of it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdemRecord {
    /// Workflow-scoped key.
    pub key: String,
    /// SHA-256 of the report payload, hex.
    pub hash: String,
    pub case_id: CaseId,
}

/// What a create did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Created {
    /// Written; `sequence` is its event's place in the change feed (0 for
    /// a store without a feed).
    New { sequence: u64 },
    /// The idempotency key was already used, for this case.
    Existing { case_id: CaseId, same_payload: bool },
}

/// A value as stored: the format-version byte, then its JSON.
pub fn encode<T: Serialize>(v: &T) -> Result<Vec<u8>, StoreError> {
    let mut out = vec![FORMAT_VERSION];
    serde_json::to_writer(&mut out, v)
        .map_err(|e| StoreError::internal(format!("a record cannot be encoded: {e}")))?;
    Ok(out)
}

/// A stored value back; a wrong version byte or bad JSON is corrupt data.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, StoreError> {
    match bytes.split_first() {
        Some((&FORMAT_VERSION, rest)) => Ok(serde_json::from_slice(rest)?),
        Some((v, _)) => Err(StoreError::corrupt(format!(
            "a stored record has format version {v}; this build reads version {FORMAT_VERSION}"
        ))),
        None => Err(StoreError::corrupt("an empty stored record")),
    }
}

/// The timer a case should have: one, at its earliest deadline (none
/// while paused; none before the retry while it has an incident). When it
/// fires, the case's update indexes the next one, so a case with a limit,
/// its reminder and a summons costs one timer record, not three.
pub fn timers_of(case: &Case) -> Vec<Timer> {
    if case.paused_at.is_some() {
        return Vec::new();
    }
    let not_before = case.incident.as_ref().map_or(i64::MIN, |i| i.retry_at);
    case.deadlines
        .iter()
        .enumerate()
        .min_by_key(|(i, d)| (d.due, *i))
        .map(|(i, d)| Timer {
            due: d.due.max(not_before),
            case_id: case.id,
            slot: u32::try_from(i).unwrap_or(u32::MAX),
            deadline: d.clone(),
        })
        .into_iter()
        .collect()
}

/// Durable case events in commit order, numbered by a global sequence that
/// survives restarts. The most recent events are kept in memory so watchers
/// can resume from a sequence number; older ones are in each case's log.
pub struct Feed {
    state: Mutex<FeedState>,
    cv: Condvar,
    capacity: usize,
}

struct FeedState {
    next: u64,
    ring: std::collections::VecDeque<(u64, Arc<CaseEvent>)>,
    /// Async readers waiting for the next event, by waiter id.
    wakers: std::collections::HashMap<u64, std::task::Waker>,
    next_waiter: u64,
}

/// A future that resolves once the feed has an event with a sequence ≥
/// `from` (see [`Feed::wait_for`]). It holds no thread while it waits.
pub struct FeedWait<'a> {
    feed: &'a Feed,
    from: u64,
    id: Option<u64>,
}

impl std::future::Future for FeedWait<'_> {
    type Output = ();

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        let Ok(mut s) = self.feed.state.lock() else {
            return std::task::Poll::Ready(());
        };
        if s.next > self.from {
            return std::task::Poll::Ready(());
        }
        let id = match self.id {
            Some(id) => id,
            None => {
                let id = s.next_waiter;
                s.next_waiter += 1;
                id
            }
        };
        s.wakers.insert(id, cx.waker().clone());
        drop(s);
        self.id = Some(id);
        std::task::Poll::Pending
    }
}

impl Drop for FeedWait<'_> {
    fn drop(&mut self) {
        if let (Some(id), Ok(mut s)) = (self.id, self.feed.state.lock()) {
            s.wakers.remove(&id);
        }
    }
}

/// A resume point older than the events kept in memory.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, miette::Diagnostic)]
#[error("sequence {requested} is no longer available; the earliest is {earliest}")]
#[diagnostic(
    code(wangge::feed::gap),
    help("list the cases again, then watch from the earliest sequence")
)]
pub struct FeedGap {
    pub requested: u64,
    pub earliest: u64,
}

impl Feed {
    pub fn new(next: u64, capacity: usize) -> Feed {
        Feed {
            state: Mutex::new(FeedState {
                next,
                ring: std::collections::VecDeque::with_capacity(capacity.min(1 << 16)),
                wakers: std::collections::HashMap::new(),
                next_waiter: 0,
            }),
            cv: Condvar::new(),
            capacity,
        }
    }

    /// The sequence the next event will get.
    pub fn next_sequence(&self) -> u64 {
        self.state.lock().map(|s| s.next).unwrap_or(0)
    }

    /// The sequence the oldest event kept in memory has (the next one when
    /// none is kept); older events are read from the store's history.
    pub fn earliest(&self) -> u64 {
        self.state
            .lock()
            .map(|s| s.ring.front().map_or(s.next, |(q, _)| *q))
            .unwrap_or(0)
    }

    /// Numbers `events` in order, keeps them for readers and wakes them.
    /// Only a store's writer publishes, so the numbers are the ones it
    /// predicted from [`Feed::next_sequence`].
    pub fn publish(&self, events: Vec<Arc<CaseEvent>>) {
        if events.is_empty() {
            return;
        }
        let mut woken = Vec::new();
        if let Ok(mut s) = self.state.lock() {
            for e in events {
                let seq = s.next;
                s.next += 1;
                s.ring.push_back((seq, e));
                if s.ring.len() > self.capacity {
                    s.ring.pop_front();
                }
            }
            woken.extend(s.wakers.drain().map(|(_, w)| w));
        }
        self.cv.notify_all();
        for w in woken {
            w.wake();
        }
    }

    /// Resolves once an event with sequence ≥ `from` exists, without
    /// holding a thread (for async streams).
    pub fn wait_for(&self, from: u64) -> FeedWait<'_> {
        FeedWait {
            feed: self,
            from,
            id: None,
        }
    }

    /// Events with sequence ≥ `from`, at most `max`; waits up to `timeout`
    /// for the first one.
    pub fn read(
        &self,
        from: u64,
        max: usize,
        timeout: std::time::Duration,
    ) -> Result<Vec<(u64, Arc<CaseEvent>)>, FeedGap> {
        let mut s = match self.state.lock() {
            Ok(s) => s,
            Err(_) => return Ok(Vec::new()),
        };
        let earliest = s.ring.front().map_or(s.next, |(q, _)| *q);
        if from < earliest {
            return Err(FeedGap {
                requested: from,
                earliest,
            });
        }
        if s.next <= from {
            s = match self.cv.wait_timeout_while(s, timeout, |st| st.next <= from) {
                Ok((g, _)) => g,
                Err(_) => return Ok(Vec::new()),
            };
        }
        let earliest = s.ring.front().map_or(s.next, |(q, _)| *q);
        let skip = usize::try_from(from.saturating_sub(earliest)).unwrap_or(usize::MAX);
        Ok(s.ring.iter().skip(skip).take(max).cloned().collect())
    }
}

/// What a write did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A write without an event (a dropped timer, a flush).
    Done,
    /// An update written; `sequence` is its event's place in the change
    /// feed (0 for a store without a feed).
    Written {
        sequence: u64,
    },
    Created(Created),
}

impl Outcome {
    /// The change-feed sequence of the event this write stored, if any.
    pub fn sequence(&self) -> Option<u64> {
        match self {
            Outcome::Written { sequence } | Outcome::Created(Created::New { sequence }) => {
                Some(*sequence)
            }
            _ => None,
        }
    }
}

/// A submitted write. `wait` (or `.await`) returns once it is applied and
/// durable.
pub struct Pending {
    slot: Arc<Slot>,
}

/// Where a backend answers a submitted write: [`Slot::set`] wakes whoever
/// waits on the [`Pending`] made by [`Pending::on`].
#[derive(Default)]
pub struct Slot {
    result: Mutex<SlotState>,
    cv: Condvar,
}

#[derive(Default)]
struct SlotState {
    result: Option<Result<Outcome, StoreError>>,
    /// An async waiter to wake.
    waker: Option<std::task::Waker>,
}

impl Slot {
    /// Answers the write (once).
    pub fn set(&self, r: Result<Outcome, StoreError>) {
        let waker = match self.result.lock() {
            Ok(mut g) => {
                g.result = Some(r);
                g.waker.take()
            }
            Err(_) => None,
        };
        self.cv.notify_all();
        if let Some(w) = waker {
            w.wake();
        }
    }
}

/// Awaiting a [`Pending`] from async code, without blocking a thread.
impl std::future::Future for Pending {
    type Output = Result<Outcome, StoreError>;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let mut g = match self.slot.result.lock() {
            Ok(g) => g,
            Err(_) => {
                return std::task::Poll::Ready(Err(StoreError::internal("write slot poisoned")))
            }
        };
        match g.result.take() {
            Some(r) => std::task::Poll::Ready(r),
            None => {
                g.waker = Some(cx.waker().clone());
                std::task::Poll::Pending
            }
        }
    }
}

impl Pending {
    /// The pending side of `slot`, for backends with a writer thread.
    pub fn on(slot: Arc<Slot>) -> Pending {
        Pending { slot }
    }

    /// A write that is already done (stores without a writer thread).
    pub fn ready(result: Result<Outcome, StoreError>) -> Pending {
        let slot = Arc::new(Slot::default());
        slot.set(result);
        Pending { slot }
    }

    pub fn wait(self) -> Result<Outcome, StoreError> {
        let mut g = self
            .slot
            .result
            .lock()
            .map_err(|_| StoreError::internal("write slot poisoned"))?;
        loop {
            if let Some(r) = g.result.take() {
                return r;
            }
            g = self
                .slot
                .cv
                .wait(g)
                .map_err(|_| StoreError::internal("write slot poisoned"))?;
        }
    }
}

/// Case counts by (workflow, state).
pub type StateCounts = std::collections::BTreeMap<(String, String), u64>;

/// Cases with their event log: a case, its event, its timers and its
/// idempotency key are written together, atomically.
pub trait CaseStore: Send + Sync {
    /// A fresh case id: one more than the highest handed out, dense and
    /// monotonic across restarts (an id handed out but never written may
    /// be handed out again after a crash; no durable case shares it).
    fn next_id(&self) -> Result<CaseId, StoreError>;
    /// The case an idempotency record's key already names, and whether the
    /// payload matches; `None` when the key is unused. Lets a caller answer
    /// a retry without using up a case id (the create still checks).
    fn existing(&self, idem: &IdemRecord) -> Result<Option<Created>, StoreError>;
    /// The case, including updates submitted but not yet applied.
    fn case(&self, id: CaseId) -> Result<Option<Case>, StoreError>;
    /// Submits a new case with its first event and timers; if `idem`'s key
    /// is already taken, nothing is written and the outcome says so.
    fn create(&self, change: Change, idem: Option<IdemRecord>) -> Result<Pending, StoreError>;
    /// Submits `change`, replacing `before`: the case, its event, its timers
    /// moved, and `fired` (the timer that caused it) removed, all at once.
    /// A `before` that is not the stored version is a conflict and writes
    /// nothing.
    fn update(
        &self,
        before: &Case,
        change: Change,
        fired: Option<Timer>,
    ) -> Result<Pending, StoreError>;
    /// The case's events, oldest first.
    fn events(&self, id: CaseId) -> Result<Vec<CaseEvent>, StoreError>;
    /// Every applied case, in id order, until `f` returns false.
    fn scan_cases(&self, f: &mut dyn FnMut(Case) -> bool) -> Result<(), StoreError>;
    /// Applied cases with id ≥ `from`, in id order, until `f` returns false.
    fn scan_cases_from(
        &self,
        from: CaseId,
        f: &mut dyn FnMut(Case) -> bool,
    ) -> Result<(), StoreError>;
    fn case_count(&self) -> u64;
    /// Up to `limit` ids ≥ `from` of applied cases matching `filter`, from
    /// an index the backend keeps; `None` when it keeps none or it is not
    /// built yet (the caller then scans). The default keeps none.
    fn find(
        &self,
        filter: &crate::CaseFilter,
        from: CaseId,
        limit: usize,
    ) -> Result<Option<crate::Found>, StoreError> {
        let _ = (filter, from, limit);
        Ok(None)
    }
    /// Up to `limit` ids of applied cases matching `filter` that have a
    /// pending deadline, nearest first: `(due, id)` strictly after `after`
    /// in that order. `None` when the backend keeps no index (or it is not
    /// built yet): the caller then scans. The default keeps none.
    fn find_by_deadline(
        &self,
        filter: &crate::CaseFilter,
        after: (Timestamp, CaseId),
        limit: usize,
    ) -> Result<Option<Vec<(Timestamp, CaseId)>>, StoreError> {
        let _ = (filter, after, limit);
        Ok(None)
    }
    /// Applied cases by (workflow, state), kept as counters by the backend
    /// (no scan): what metrics and boards read.
    fn state_counts(&self) -> Result<StateCounts, StoreError>;
    /// Waits until every write submitted so far is durable.
    fn flush(&self) -> Result<(), StoreError>;
    /// Whether other processes (servers sharing one database) write to
    /// this store too: services that keep state in memory then check the
    /// store for others' writes. False for sled and memory (one process).
    fn shared(&self) -> bool {
        false
    }
}

/// The deadlines of open cases, in due order. Timers are written with
/// their case ([`CaseStore`]); this port reads and drops them.
pub trait TimerQueue: Send + Sync {
    /// Applied timers due at or before `now`, in due order, at most `max`,
    /// for the caller to fire (a backend shared by several servers claims
    /// them for this one for a while).
    fn due(&self, now: Timestamp, max: usize) -> Result<Vec<Timer>, StoreError>;
    /// When the earliest timer is due, without claiming anything.
    fn earliest_due(&self) -> Result<Option<Timestamp>, StoreError> {
        Ok(self.due(Timestamp::MAX, 1)?.first().map(|t| t.due))
    }
    /// Submits the removal of a stale timer.
    fn drop_timer(&self, timer: Timer) -> Result<Pending, StoreError>;
    fn timer_count(&self) -> u64;
}

/// The change feed of durable case events, in commit order. The newest
/// events are in memory ([`Feed`]); every event is also stored by its
/// sequence, so a consumer resumes from any sequence it has seen, across
/// restarts.
pub trait ChangeFeed: Send + Sync {
    fn feed(&self) -> &Feed;
    /// Stored events with sequence ≥ `from`, in order, at most `max`.
    fn history(&self, from: u64, max: usize) -> Result<Vec<(u64, Arc<CaseEvent>)>, StoreError>;
}

/// Small named values that must survive a restart (the active policy
/// version, a manual clock's time), each written durably.
pub trait Settings: Send + Sync {
    fn setting(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError>;
    fn put_setting(&self, name: &str, value: &[u8]) -> Result<(), StoreError>;
}

/// Compiled policy bundles, by content hash.
pub trait PolicyVersions: Send + Sync {
    /// Stores a policy bundle (by hash) with its metadata, durably.
    fn put_policy(&self, hash: &str, record: &[u8]) -> Result<(), StoreError>;
    /// Every stored policy bundle, by hash.
    fn policies(&self) -> Result<Vec<(String, Vec<u8>)>, StoreError>;
}

/// The organisation registry: units and people, replaced by id.
pub trait OrgRegistry: Send + Sync {
    fn put_units(&self, units: &[Unit]) -> Result<(), StoreError>;
    fn units(&self) -> Result<Vec<Unit>, StoreError>;
    /// Whether a unit with this id is registered (a point lookup: every
    /// report checks its unit).
    fn has_unit(&self, id: &str) -> Result<bool, StoreError>;
    /// One unit by id (a point lookup: a classifier that reads the
    /// reporting unit's attributes reads it for every report).
    fn unit(&self, id: &str) -> Result<Option<Unit>, StoreError>;
    fn put_people(&self, people: &[Person]) -> Result<(), StoreError>;
    fn people(&self) -> Result<Vec<Person>, StoreError>;
    /// One person by id (a point lookup: actions that check the acting
    /// or assigned person read it).
    fn person(&self, id: &str) -> Result<Option<Person>, StoreError>;
}

/// The raw ledger keyspace under the typed ledgers (`crate::ledgers`):
/// activity, settlements, points and scores. Callers outside this crate use
/// the typed ledgers, never these keys.
pub trait LedgerSpace: Send + Sync {
    /// Writes every pair at once, durably.
    fn ledger_put(&self, pairs: Vec<(Vec<u8>, Vec<u8>)>) -> Result<(), StoreError>;
    /// Writes every pair at once, visible at once and durable with the
    /// next `CaseStore::flush` (a caller that batches its own writes then
    /// shares the backend's group commit instead of syncing alone).
    fn ledger_put_unflushed(&self, pairs: Vec<(Vec<u8>, Vec<u8>)>) -> Result<(), StoreError> {
        self.ledger_put(pairs)
    }
    fn ledger_get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;
    /// Writes every pair at once if the value at `guard` is still
    /// `expected` (`None`: absent), like [`Self::ledger_put_unflushed`];
    /// returns whether it wrote. Writers on several servers sharing one
    /// backend serialise on a guard (a chain's head, a balance, a run
    /// counter): the loser writes nothing and reads again. The default
    /// reads, then writes: enough where one process writes the space (sled
    /// and memory, whose callers serialise themselves in-process).
    fn ledger_swap(
        &self,
        guard: &[u8],
        expected: Option<&[u8]>,
        pairs: Vec<(Vec<u8>, Vec<u8>)>,
    ) -> Result<bool, StoreError> {
        if self.ledger_get(guard)?.as_deref() != expected {
            return Ok(false);
        }
        self.ledger_put_unflushed(pairs)?;
        Ok(true)
    }
    /// Pairs whose key starts with `prefix`, in key order, until `f`
    /// returns false.
    fn ledger_scan(
        &self,
        prefix: &[u8],
        f: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), StoreError>;
}

/// Everything a server stores: every port, from one backend.
pub trait Store:
    CaseStore
    + CaseFacts
    + TimerQueue
    + ChangeFeed
    + PolicyVersions
    + OrgRegistry
    + LedgerSpace
    + Settings
{
}

impl<T> Store for T where
    T: CaseStore
        + CaseFacts
        + TimerQueue
        + ChangeFeed
        + PolicyVersions
        + OrgRegistry
        + LedgerSpace
        + Settings
{
}
