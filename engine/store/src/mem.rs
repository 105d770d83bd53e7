//! An in-memory [`Store`]: no disk, no durability, no writer thread. For
//! scenario runs and replays, where speed matters and nothing must outlive
//! the process.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use wangge_policy::{Case, CaseEvent, CaseId, Change, Person, Timestamp, Unit};

use crate::error::StoreError;
use crate::facts::{CaseFact, CaseFacts};
use crate::ports::{
    timers_of, CaseStore, ChangeFeed, Created, Feed, IdemRecord, LedgerSpace, OrgRegistry, Outcome,
    Pending, PolicyVersions, Settings, StateCounts, Timer, TimerQueue,
};

#[derive(Default)]
struct Inner {
    cases: BTreeMap<CaseId, Case>,
    events: BTreeMap<(CaseId, u64), CaseEvent>,
    timers: BTreeMap<(Timestamp, CaseId, u32), Timer>,
    idem: HashMap<String, IdemRecord>,
    units: BTreeMap<String, Unit>,
    people: BTreeMap<String, Person>,
    policies: BTreeMap<String, Vec<u8>>,
    ledger: BTreeMap<Vec<u8>, Vec<u8>>,
    settings: BTreeMap<String, Vec<u8>>,
    /// The change feed's events by sequence: (case, event seq).
    feed_log: BTreeMap<u64, (CaseId, u64)>,
}

/// The in-memory store.
pub struct MemStore {
    inner: Mutex<Inner>,
    next_id: AtomicU64,
    feed: Feed,
    /// Keep every event (a full store) or none (a lean store for replays:
    /// cases, timers and idempotency keys only).
    keep_events: bool,
}

impl Default for MemStore {
    fn default() -> Self {
        MemStore {
            inner: Mutex::default(),
            next_id: AtomicU64::new(1),
            feed: Feed::new(1, 65_536),
            keep_events: true,
        }
    }
}

fn poisoned() -> StoreError {
    StoreError::internal("the in-memory store is poisoned")
}

impl MemStore {
    pub fn new() -> MemStore {
        MemStore::default()
    }

    /// A store that keeps no event log and publishes no change feed: what a
    /// replay needs (each case's current state), in a fraction of the memory.
    pub fn lean() -> MemStore {
        MemStore {
            keep_events: false,
            feed: Feed::new(1, 0),
            ..MemStore::default()
        }
    }

    fn lock(&self) -> Result<MutexGuard<'_, Inner>, StoreError> {
        self.inner.lock().map_err(|_| poisoned())
    }

    /// Publishes `event` (when kept) under the store's lock, so sequences
    /// follow the order of the writes; returns its sequence (0 if none).
    fn publish(&self, inner: &mut Inner, event: Option<CaseEvent>) -> u64 {
        match event {
            Some(e) => {
                let sequence = self.feed.next_sequence();
                inner.feed_log.insert(sequence, (e.case_id, e.seq));
                self.feed.publish(vec![Arc::new(e)]);
                sequence
            }
            None => 0,
        }
    }
}

/// Applies a change; returns its event when the store keeps events (for the feed).
fn apply(
    inner: &mut Inner,
    before: Option<&Case>,
    change: Change,
    fired: Option<&Timer>,
    keep_events: bool,
) -> Option<CaseEvent> {
    for t in before.map(timers_of).unwrap_or_default() {
        inner.timers.remove(&(t.due, t.case_id, t.slot));
    }
    if let Some(t) = fired {
        inner.timers.remove(&(t.due, t.case_id, t.slot));
    }
    for t in timers_of(&change.case) {
        inner.timers.insert((t.due, t.case_id, t.slot), t);
    }
    inner.cases.insert(change.case.id, change.case);
    if keep_events {
        inner.events.insert(
            (change.event.case_id, change.event.seq),
            change.event.clone(),
        );
        Some(change.event)
    } else {
        None
    }
}

impl CaseStore for MemStore {
    fn next_id(&self) -> Result<CaseId, StoreError> {
        Ok(self.next_id.fetch_add(1, Ordering::SeqCst))
    }

    fn case(&self, id: CaseId) -> Result<Option<Case>, StoreError> {
        Ok(self.lock()?.cases.get(&id).cloned())
    }

    fn create(&self, change: Change, idem: Option<IdemRecord>) -> Result<Pending, StoreError> {
        let mut inner = self.lock()?;
        if let Some(rec) = &idem {
            if let Some(old) = inner.idem.get(&rec.key) {
                return Ok(Pending::ready(Ok(Outcome::Created(Created::Existing {
                    case_id: old.case_id,
                    same_payload: old.hash == rec.hash,
                }))));
            }
            inner.idem.insert(rec.key.clone(), rec.clone());
        }
        let event = apply(&mut inner, None, change, None, self.keep_events);
        let sequence = self.publish(&mut inner, event);
        Ok(Pending::ready(Ok(Outcome::Created(Created::New {
            sequence,
        }))))
    }

    fn existing(&self, idem: &IdemRecord) -> Result<Option<Created>, StoreError> {
        Ok(self
            .lock()?
            .idem
            .get(&idem.key)
            .map(|old| Created::Existing {
                case_id: old.case_id,
                same_payload: old.hash == idem.hash,
            }))
    }

    fn update(
        &self,
        before: &Case,
        change: Change,
        fired: Option<Timer>,
    ) -> Result<Pending, StoreError> {
        let mut inner = self.lock()?;
        match inner.cases.get(&before.id) {
            None => return Err(StoreError::not_found(format!("no case `{}`", before.id))),
            Some(c) if c.version != before.version => {
                return Err(StoreError::conflict(format!(
                    "case `{}` is at version {}, not {}",
                    before.id, c.version, before.version
                )))
            }
            Some(_) => {}
        }
        let event = apply(
            &mut inner,
            Some(before),
            change,
            fired.as_ref(),
            self.keep_events,
        );
        let sequence = self.publish(&mut inner, event);
        Ok(Pending::ready(Ok(Outcome::Written { sequence })))
    }

    fn events(&self, id: CaseId) -> Result<Vec<CaseEvent>, StoreError> {
        Ok(self
            .lock()?
            .events
            .range((id, 0)..=(id, u64::MAX))
            .map(|(_, e)| e.clone())
            .collect())
    }

    fn scan_cases(&self, f: &mut dyn FnMut(Case) -> bool) -> Result<(), StoreError> {
        self.scan_cases_from(0, f)
    }

    fn scan_cases_from(
        &self,
        from: CaseId,
        f: &mut dyn FnMut(Case) -> bool,
    ) -> Result<(), StoreError> {
        let cases: Vec<Case> = self
            .lock()?
            .cases
            .range(from..)
            .map(|(_, c)| c.clone())
            .collect();
        for c in cases {
            if !f(c) {
                break;
            }
        }
        Ok(())
    }

    fn case_count(&self) -> u64 {
        self.lock().map_or(0, |i| i.cases.len() as u64)
    }

    fn state_counts(&self) -> Result<StateCounts, StoreError> {
        let mut counts = StateCounts::new();
        for c in self.lock()?.cases.values() {
            *counts
                .entry((c.workflow.clone(), c.state.clone()))
                .or_insert(0) += 1;
        }
        Ok(counts)
    }

    fn flush(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

impl CaseFacts for MemStore {
    fn scan_facts(
        &self,
        from: CaseId,
        to: CaseId,
        f: &mut dyn FnMut(&CaseFact<'_>) -> bool,
    ) -> Result<(), StoreError> {
        let inner = self.lock()?;
        for c in inner.cases.range(from..to).map(|(_, c)| c) {
            if !f(&CaseFact::of(c)) {
                break;
            }
        }
        Ok(())
    }
}

impl TimerQueue for MemStore {
    fn drop_timer(&self, t: Timer) -> Result<Pending, StoreError> {
        self.lock()?.timers.remove(&(t.due, t.case_id, t.slot));
        Ok(Pending::ready(Ok(Outcome::Done)))
    }

    fn due(&self, now: Timestamp, max: usize) -> Result<Vec<Timer>, StoreError> {
        Ok(self
            .lock()?
            .timers
            .range(..=(now, CaseId::MAX, u32::MAX))
            .take(max)
            .map(|(_, t)| t.clone())
            .collect())
    }

    fn timer_count(&self) -> u64 {
        self.lock().map_or(0, |i| i.timers.len() as u64)
    }
}

impl ChangeFeed for MemStore {
    fn feed(&self) -> &Feed {
        &self.feed
    }

    fn history(&self, from: u64, max: usize) -> Result<Vec<(u64, Arc<CaseEvent>)>, StoreError> {
        let inner = self.lock()?;
        let mut out = Vec::new();
        for (seq, key) in inner.feed_log.range(from..).take(max) {
            let e = inner
                .events
                .get(key)
                .ok_or_else(|| StoreError::corrupt(format!("feed entry {seq} has no event")))?;
            out.push((*seq, Arc::new(e.clone())));
        }
        Ok(out)
    }
}

impl Settings for MemStore {
    fn setting(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.lock()?.settings.get(name).cloned())
    }

    fn put_setting(&self, name: &str, value: &[u8]) -> Result<(), StoreError> {
        self.lock()?
            .settings
            .insert(name.to_string(), value.to_vec());
        Ok(())
    }
}

impl PolicyVersions for MemStore {
    fn put_policy(&self, hash: &str, record: &[u8]) -> Result<(), StoreError> {
        self.lock()?
            .policies
            .insert(hash.to_string(), record.to_vec());
        Ok(())
    }

    fn policies(&self) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        Ok(self
            .lock()?
            .policies
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }
}

impl OrgRegistry for MemStore {
    fn put_units(&self, units: &[Unit]) -> Result<(), StoreError> {
        let mut inner = self.lock()?;
        for u in units {
            inner.units.insert(u.id.clone(), u.clone());
        }
        Ok(())
    }

    fn units(&self) -> Result<Vec<Unit>, StoreError> {
        Ok(self.lock()?.units.values().cloned().collect())
    }

    fn has_unit(&self, id: &str) -> Result<bool, StoreError> {
        Ok(self.lock()?.units.contains_key(id))
    }

    fn unit(&self, id: &str) -> Result<Option<Unit>, StoreError> {
        Ok(self.lock()?.units.get(id).cloned())
    }

    fn put_people(&self, people: &[Person]) -> Result<(), StoreError> {
        let mut inner = self.lock()?;
        for p in people {
            inner.people.insert(p.id.clone(), p.clone());
        }
        Ok(())
    }

    fn people(&self) -> Result<Vec<Person>, StoreError> {
        Ok(self.lock()?.people.values().cloned().collect())
    }

    fn person(&self, id: &str) -> Result<Option<Person>, StoreError> {
        Ok(self.lock()?.people.get(id).cloned())
    }
}

impl LedgerSpace for MemStore {
    fn ledger_put(&self, pairs: Vec<(Vec<u8>, Vec<u8>)>) -> Result<(), StoreError> {
        let mut inner = self.lock()?;
        for (k, v) in pairs {
            inner.ledger.insert(k, v);
        }
        Ok(())
    }

    fn ledger_get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.lock()?.ledger.get(key).cloned())
    }

    fn ledger_scan(
        &self,
        prefix: &[u8],
        f: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), StoreError> {
        let inner = self.lock()?;
        for (k, v) in inner.ledger.range(prefix.to_vec()..) {
            if !k.starts_with(prefix) || !f(k, v) {
                break;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod conformance {
    crate::conformance_suite!(Box::new(super::MemStore::new()));
}
