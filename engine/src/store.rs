//! Storage behind a trait, with sled as the embedded default.
//!
//! Trees: `cases` (id → case), `events` (id ++ seq → event, append-only),
//! `timers` (due ++ id ++ slot → deadline, in due order), `idem`
//! (workflow ++ key → payload hash and case id), `units`, `people`, `meta`.
//! Every value starts with a format-version byte. Writes that belong
//! together (a case, its event, its timers, its idempotency key) are one
//! sled transaction. Durability is the caller's: `flush` (see
//! [`GroupCommit`]) before acknowledging.
//!
//! sled 0.34 notes: `flush_async` can deadlock under concurrent callers
//! (upstream #1308), so only the blocking `flush` is used. On Linux it uses
//! `sync_file_range`, which survives a killed process but not necessarily a
//! power cut.

use std::path::Path;
use std::sync::{Condvar, Mutex};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};
use sled::Transactional;

use crate::case::{Case, CaseEvent, CaseId, Deadline};
use crate::case_error::CaseError;
use crate::clock::Timestamp;
use crate::org::{Person, Unit};
use crate::workflow::Change;

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

/// The idempotency record of a report.
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
    New,
    /// The idempotency key was already used, for this case.
    Existing {
        case_id: CaseId,
        same_payload: bool,
    },
}

/// Case storage. Implementations must make each method's writes atomic.
pub trait Store: Send + Sync {
    /// A fresh, never reused case id.
    fn next_id(&self) -> Result<CaseId, CaseError>;
    fn case(&self, id: CaseId) -> Result<Option<Case>, CaseError>;
    /// Writes a new case with its first event and timers, unless `idem`'s key
    /// is already taken.
    fn create(&self, change: &Change, idem: Option<&IdemRecord>) -> Result<Created, CaseError>;
    /// Replaces `before` by `change.case`, appends the event, moves timers,
    /// and removes `fired` (the timer that caused it), all at once.
    fn update(
        &self,
        before: &Case,
        change: &Change,
        fired: Option<&Timer>,
    ) -> Result<(), CaseError>;
    /// Removes a stale timer.
    fn drop_timer(&self, timer: &Timer) -> Result<(), CaseError>;
    /// Timers due at or before `now`, in due order, at most `max`.
    fn due(&self, now: Timestamp, max: usize) -> Result<Vec<Timer>, CaseError>;
    fn events(&self, id: CaseId) -> Result<Vec<CaseEvent>, CaseError>;
    /// Every case, in id order.
    fn scan_cases(&self, f: &mut dyn FnMut(Case) -> bool) -> Result<(), CaseError>;
    fn case_count(&self) -> usize;
    fn timer_count(&self) -> usize;
    /// Makes every write so far durable.
    fn flush(&self) -> Result<(), CaseError>;
    fn put_units(&self, units: &[Unit]) -> Result<(), CaseError>;
    fn units(&self) -> Result<Vec<Unit>, CaseError>;
    fn put_people(&self, people: &[Person]) -> Result<(), CaseError>;
    fn people(&self) -> Result<Vec<Person>, CaseError>;
}

fn storage(e: impl std::fmt::Display) -> CaseError {
    CaseError::Storage {
        message: e.to_string(),
    }
}

pub fn encode<T: Serialize>(v: &T) -> Result<Vec<u8>, CaseError> {
    let mut out = vec![FORMAT_VERSION];
    serde_json::to_writer(&mut out, v).map_err(storage)?;
    Ok(out)
}

pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CaseError> {
    match bytes.split_first() {
        Some((&FORMAT_VERSION, rest)) => serde_json::from_slice(rest).map_err(storage),
        Some((v, _)) => Err(storage(format!(
            "a stored record has format version {v}; this build reads version {FORMAT_VERSION}"
        ))),
        None => Err(storage("an empty stored record")),
    }
}

fn timer_key(due: Timestamp, id: CaseId, slot: u32) -> [u8; 20] {
    let mut k = [0u8; 20];
    // Flip the sign bit so negative times sort before positive ones.
    k[..8].copy_from_slice(&((due as u64) ^ (1 << 63)).to_be_bytes());
    k[8..16].copy_from_slice(&id.to_be_bytes());
    k[16..].copy_from_slice(&slot.to_be_bytes());
    k
}

fn event_key(id: CaseId, seq: u64) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&id.to_be_bytes());
    k[8..].copy_from_slice(&seq.to_be_bytes());
    k
}

/// The timers a case should have (none while paused).
pub fn timers_of(case: &Case) -> Vec<Timer> {
    if case.paused_at.is_some() {
        return Vec::new();
    }
    case.deadlines
        .iter()
        .enumerate()
        .map(|(i, d)| Timer {
            due: d.due,
            case_id: case.id,
            slot: u32::try_from(i).unwrap_or(u32::MAX),
            deadline: d.clone(),
        })
        .collect()
}

/// The embedded sled store.
pub struct SledStore {
    db: sled::Db,
    cases: sled::Tree,
    events: sled::Tree,
    timers: sled::Tree,
    idem: sled::Tree,
    units: sled::Tree,
    people: sled::Tree,
}

enum Abort {
    Existing { case_id: CaseId, same_payload: bool },
    Error(CaseError),
}

type TxResult<T> = Result<T, ConflictableTransactionError<Abort>>;

fn tx_err(e: CaseError) -> ConflictableTransactionError<Abort> {
    ConflictableTransactionError::Abort(Abort::Error(e))
}

impl SledStore {
    /// Opens (or creates) the store in `dir`, with `cache_bytes` of page cache.
    pub fn open(dir: &Path, cache_bytes: u64) -> Result<SledStore, CaseError> {
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(cache_bytes)
            .open()
            .map_err(|e| storage(format!("cannot open `{}`: {e}", dir.display())))?;
        Self::from_db(db)
    }

    /// A store that lives in memory only (tests, scenarios).
    pub fn temporary() -> Result<SledStore, CaseError> {
        let db = sled::Config::new()
            .temporary(true)
            .open()
            .map_err(storage)?;
        Self::from_db(db)
    }

    fn from_db(db: sled::Db) -> Result<SledStore, CaseError> {
        let tree = |name: &str| db.open_tree(name).map_err(storage);
        Ok(SledStore {
            cases: tree("cases")?,
            events: tree("events")?,
            timers: tree("timers")?,
            idem: tree("idem")?,
            units: tree("units")?,
            people: tree("people")?,
            db,
        })
    }

    fn write_change(
        cases: &TransactionalTree,
        events: &TransactionalTree,
        timers: &TransactionalTree,
        before: Option<&Case>,
        change: &Change,
    ) -> TxResult<()> {
        if let Some(b) = before {
            for t in timers_of(b) {
                timers.remove(&timer_key(t.due, t.case_id, t.slot)[..])?;
            }
        }
        for t in timers_of(&change.case) {
            timers.insert(
                &timer_key(t.due, t.case_id, t.slot)[..],
                encode(&t.deadline).map_err(tx_err)?,
            )?;
        }
        cases.insert(
            &change.case.id.to_be_bytes()[..],
            encode(&change.case).map_err(tx_err)?,
        )?;
        events.insert(
            &event_key(change.event.case_id, change.event.seq)[..],
            encode(&change.event).map_err(tx_err)?,
        )?;
        Ok(())
    }
}

fn tx_result<T>(r: Result<T, TransactionError<Abort>>) -> Result<Result<T, Abort>, CaseError> {
    match r {
        Ok(v) => Ok(Ok(v)),
        Err(TransactionError::Abort(a)) => Ok(Err(a)),
        Err(TransactionError::Storage(e)) => Err(storage(e)),
    }
}

impl Store for SledStore {
    fn next_id(&self) -> Result<CaseId, CaseError> {
        // sled ids start at 0; case ids start at 1.
        self.db.generate_id().map(|i| i + 1).map_err(storage)
    }

    fn case(&self, id: CaseId) -> Result<Option<Case>, CaseError> {
        match self.cases.get(id.to_be_bytes()).map_err(storage)? {
            Some(v) => Ok(Some(decode(&v)?)),
            None => Ok(None),
        }
    }

    fn create(&self, change: &Change, idem: Option<&IdemRecord>) -> Result<Created, CaseError> {
        let idem_bytes = idem.map(encode).transpose()?;
        let r = (&self.cases, &self.events, &self.timers, &self.idem).transaction(
            |(cases, events, timers, idem_tree)| {
                if let (Some(rec), Some(bytes)) = (idem, &idem_bytes) {
                    if let Some(old) = idem_tree.get(rec.key.as_bytes())? {
                        let old: IdemRecord = decode(&old).map_err(tx_err)?;
                        return Err(ConflictableTransactionError::Abort(Abort::Existing {
                            case_id: old.case_id,
                            same_payload: old.hash == rec.hash,
                        }));
                    }
                    idem_tree.insert(rec.key.as_bytes(), bytes.clone())?;
                }
                Self::write_change(cases, events, timers, None, change)
            },
        );
        match tx_result(r)? {
            Ok(()) => Ok(Created::New),
            Err(Abort::Existing {
                case_id,
                same_payload,
            }) => Ok(Created::Existing {
                case_id,
                same_payload,
            }),
            Err(Abort::Error(e)) => Err(e),
        }
    }

    fn update(
        &self,
        before: &Case,
        change: &Change,
        fired: Option<&Timer>,
    ) -> Result<(), CaseError> {
        let r = (&self.cases, &self.events, &self.timers).transaction(|(cases, events, timers)| {
            if let Some(t) = fired {
                timers.remove(&timer_key(t.due, t.case_id, t.slot)[..])?;
            }
            Self::write_change(cases, events, timers, Some(before), change)
        });
        match tx_result(r)? {
            Ok(()) => Ok(()),
            Err(Abort::Error(e)) => Err(e),
            Err(Abort::Existing { .. }) => Err(storage("unexpected idempotency abort")),
        }
    }

    fn drop_timer(&self, t: &Timer) -> Result<(), CaseError> {
        self.timers
            .remove(timer_key(t.due, t.case_id, t.slot))
            .map_err(storage)?;
        Ok(())
    }

    fn due(&self, now: Timestamp, max: usize) -> Result<Vec<Timer>, CaseError> {
        let end = timer_key(now, u64::MAX, u32::MAX);
        let mut out = Vec::new();
        for kv in self.timers.range(..=&end[..]).take(max) {
            let (k, v) = kv.map_err(storage)?;
            let mut due = [0u8; 8];
            let mut id = [0u8; 8];
            let mut slot = [0u8; 4];
            due.copy_from_slice(k.get(..8).ok_or_else(|| storage("bad timer key"))?);
            id.copy_from_slice(k.get(8..16).ok_or_else(|| storage("bad timer key"))?);
            slot.copy_from_slice(k.get(16..20).ok_or_else(|| storage("bad timer key"))?);
            out.push(Timer {
                due: (u64::from_be_bytes(due) ^ (1 << 63)) as i64,
                case_id: u64::from_be_bytes(id),
                slot: u32::from_be_bytes(slot),
                deadline: decode(&v)?,
            });
        }
        Ok(out)
    }

    fn events(&self, id: CaseId) -> Result<Vec<CaseEvent>, CaseError> {
        self.events
            .scan_prefix(id.to_be_bytes())
            .map(|kv| decode(&kv.map_err(storage)?.1))
            .collect()
    }

    fn scan_cases(&self, f: &mut dyn FnMut(Case) -> bool) -> Result<(), CaseError> {
        for kv in self.cases.iter() {
            let (_, v) = kv.map_err(storage)?;
            if !f(decode(&v)?) {
                break;
            }
        }
        Ok(())
    }

    fn case_count(&self) -> usize {
        self.cases.len()
    }

    fn timer_count(&self) -> usize {
        self.timers.len()
    }

    fn flush(&self) -> Result<(), CaseError> {
        self.db.flush().map(|_| ()).map_err(storage)
    }

    fn put_units(&self, units: &[Unit]) -> Result<(), CaseError> {
        let mut batch = sled::Batch::default();
        for u in units {
            batch.insert(u.id.as_bytes(), encode(u)?);
        }
        self.units.apply_batch(batch).map_err(storage)
    }

    fn units(&self) -> Result<Vec<Unit>, CaseError> {
        self.units
            .iter()
            .map(|kv| decode(&kv.map_err(storage)?.1))
            .collect()
    }

    fn put_people(&self, people: &[Person]) -> Result<(), CaseError> {
        let mut batch = sled::Batch::default();
        for p in people {
            batch.insert(p.id.as_bytes(), encode(p)?);
        }
        self.people.apply_batch(batch).map_err(storage)
    }

    fn people(&self) -> Result<Vec<Person>, CaseError> {
        self.people
            .iter()
            .map(|kv| decode(&kv.map_err(storage)?.1))
            .collect()
    }
}

/// Group commit: callers that wrote concurrently share one flush. The first
/// waiter flushes everything written so far; the others wait for it.
#[derive(Default)]
pub struct GroupCommit {
    state: Mutex<CommitState>,
    cv: Condvar,
}

#[derive(Default)]
struct CommitState {
    written: u64,
    flushed: u64,
    flushing: bool,
    failed: Option<String>,
}

impl GroupCommit {
    /// Returns once everything this caller wrote before calling is durable.
    pub fn commit(&self, store: &dyn Store) -> Result<(), CaseError> {
        let mut g = self
            .state
            .lock()
            .map_err(|_| storage("commit lock poisoned"))?;
        g.written += 1;
        let ticket = g.written;
        loop {
            if g.flushed >= ticket {
                return match &g.failed {
                    Some(m) => Err(storage(m)),
                    None => Ok(()),
                };
            }
            if g.flushing {
                g = self
                    .cv
                    .wait(g)
                    .map_err(|_| storage("commit lock poisoned"))?;
                continue;
            }
            g.flushing = true;
            let target = g.written;
            drop(g);
            let result = store.flush();
            g = self
                .state
                .lock()
                .map_err(|_| storage("commit lock poisoned"))?;
            g.flushing = false;
            g.flushed = target;
            g.failed = result.err().map(|e| e.to_string());
            self.cv.notify_all();
        }
    }
}
