//! Maintenance of a store: [`SledStore::verify`] reads every record and
//! checks that the indexes agree with the cases; [`SledStore::backup`]
//! copies a consistent snapshot into a new data folder while the store
//! keeps serving (case writes wait in the writer's queue meanwhile, the
//! other writes wait on the maintenance lock).

use std::collections::HashSet;
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};

use wangge_policy::{CaseEvent, Deadline, Person, Unit};
use wangge_store::prelude::*;
use wangge_store::{decode, timers_of, StoreError};

use crate::{
    internal, io, read_counter, record_case, record_event, timer_key, Op, SledStore, CASE, EVENT,
    FEED, JOURNAL, META_CASES, META_FEED, META_TIMERS, TIMER,
};

/// What [`SledStore::verify`] found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Verified {
    pub cases: u64,
    pub events: u64,
    pub timers: u64,
    pub feed: u64,
    pub other_records: u64,
    /// Each problem, in words; empty when the store is sound.
    pub problems: Vec<String>,
}

/// What [`SledStore::backup`] copied.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BackedUp {
    pub records: u64,
    pub bytes: u64,
}

/// The trees a store keeps (besides sled's default tree).
const TREES: [&str; 7] = [
    "cases",
    "units",
    "people",
    "policies",
    "ledger",
    "settings",
    "__sled__default",
];

impl SledStore {
    /// Reads every record: each must decode, every case's timers must be
    /// stored (and no timer may be without its case), the counters must
    /// match, and every change-feed entry must name a stored event.
    pub fn verify(&self) -> Result<Verified, StoreError> {
        self.flush()?;
        let mut v = Verified::default();
        let mut expected_timers: HashSet<[u8; 21]> = HashSet::new();
        let mut counted = wangge_store::StateCounts::new();
        let mut seen_timers: HashSet<[u8; 21]> = HashSet::new();
        for kv in self.data.iter() {
            let (k, val) = kv.map_err(io)?;
            let at = || format!("record `{}`", hex(&k));
            match k.first().copied() {
                Some(CASE) => {
                    match record_case(&val).and_then(|c| record_event(&val).map(|e| (c, e))) {
                        Ok((c, _)) => {
                            v.cases += 1;
                            *counted
                                .entry((c.workflow.clone(), c.state.clone()))
                                .or_insert(0) += 1;
                            for t in timers_of(&c) {
                                expected_timers.insert(timer_key(t.due, t.case_id, t.slot));
                            }
                        }
                        Err(e) => v.problems.push(format!("{}: {e}", at())),
                    }
                }
                Some(EVENT) => match decode::<CaseEvent>(&val) {
                    Ok(_) => v.events += 1,
                    Err(e) => v.problems.push(format!("{}: {e}", at())),
                },
                Some(TIMER) => match decode::<Deadline>(&val) {
                    Ok(_) => {
                        v.timers += 1;
                        if let Ok(key) = <[u8; 21]>::try_from(&k[..]) {
                            seen_timers.insert(key);
                        } else {
                            v.problems
                                .push(format!("{}: a timer key of the wrong length", at()));
                        }
                    }
                    Err(e) => v.problems.push(format!("{}: {e}", at())),
                },
                Some(FEED) => match crate::feed_group(&k, &val) {
                    Ok(entries) => {
                        for (seq, case_id, event_seq) in entries {
                            v.feed += 1;
                            if let Err(e) = self.event(case_id, event_seq) {
                                v.problems.push(format!(
                                    "feed sequence {seq} names no stored event: {e}"
                                ));
                            }
                        }
                    }
                    Err(e) => v.problems.push(format!("{}: {e}", at())),
                },
                Some(JOURNAL) | Some(b'm') => v.other_records += 1,
                _ => v
                    .problems
                    .push(format!("{}: an unknown kind of record", at())),
            }
        }
        self.check_timers(&mut v, &expected_timers, &seen_timers);
        let kept = self.state_counts()?;
        if kept != counted {
            v.problems.push(format!(
                "the counters by workflow and state ({kept:?}) disagree with the cases \
                 ({counted:?})"
            ));
        }
        self.check_counters(&mut v)?;
        self.check_trees(&mut v)?;
        Ok(v)
    }

    fn check_timers(
        &self,
        v: &mut Verified,
        expected: &HashSet<[u8; 21]>,
        seen: &HashSet<[u8; 21]>,
    ) {
        let missing = expected.difference(seen).count();
        if missing > 0 {
            v.problems.push(format!(
                "{missing} deadline(s) of stored cases have no timer"
            ));
        }
        let stray = seen.difference(expected).count();
        if stray > 0 {
            v.problems.push(format!(
                "{stray} timer(s) belong to no deadline of a stored case"
            ));
        }
    }

    fn check_counters(&self, v: &mut Verified) -> Result<(), StoreError> {
        let cases = read_counter(&self.data, META_CASES)?;
        if cases != v.cases {
            v.problems.push(format!(
                "the case counter says {cases}, but {} cases are stored",
                v.cases
            ));
        }
        let timers = read_counter(&self.data, META_TIMERS)?;
        if timers != v.timers {
            v.problems.push(format!(
                "the timer counter says {timers}, but {} timers are stored",
                v.timers
            ));
        }
        let feed = read_counter(&self.data, META_FEED)?;
        if v.feed > 0 && feed <= v.feed {
            v.problems.push(format!(
                "the feed counter says {feed}, below the {} stored feed entries",
                v.feed
            ));
        }
        Ok(())
    }

    fn check_trees(&self, v: &mut Verified) -> Result<(), StoreError> {
        for kv in self.units.iter() {
            let (k, val) = kv.map_err(io)?;
            match decode::<Unit>(&val) {
                Ok(_) => v.other_records += 1,
                Err(e) => v
                    .problems
                    .push(format!("unit `{}`: {e}", String::from_utf8_lossy(&k))),
            }
        }
        for kv in self.people.iter() {
            let (k, val) = kv.map_err(io)?;
            match decode::<Person>(&val) {
                Ok(_) => v.other_records += 1,
                Err(e) => v
                    .problems
                    .push(format!("person `{}`: {e}", String::from_utf8_lossy(&k))),
            }
        }
        // Ledger values are the services' own codecs (JSON, text): the
        // store only counts them. Policy records carry the format byte.
        for kv in self.ledger.iter() {
            kv.map_err(io)?;
            v.other_records += 1;
        }
        for tree in [&self.policies] {
            for kv in tree.iter() {
                let (k, val) = kv.map_err(io)?;
                match val.first() {
                    Some(&wangge_store::FORMAT_VERSION) => v.other_records += 1,
                    _ => v.problems.push(format!(
                        "record `{}`: an unknown format",
                        String::from_utf8_lossy(&k)
                    )),
                }
            }
        }
        Ok(())
    }

    /// Copies every record into a new store in `to` (which must not exist
    /// or be empty), consistently: the writer makes the copy between two
    /// group commits, and the other writes wait on the maintenance lock.
    /// The copy is flushed to stable storage and is itself a data folder
    /// (`wangge serve --data TO`, or `wangge store restore`).
    pub fn backup(&self, to: &Path) -> Result<BackedUp, StoreError> {
        if std::fs::read_dir(to).is_ok_and(|mut d| d.next().is_some()) {
            return Err(StoreError::conflict(format!(
                "`{}` is not empty; back up into a new folder",
                to.display()
            )));
        }
        let answer: BackupAnswer = Arc::default();
        self.submit(Op::Backup(to.to_path_buf(), answer.clone()))?
            .wait()?;
        let done = answer
            .lock()
            .map_err(|_| internal("the backup answer is poisoned"))?
            .take()
            .ok_or_else(|| internal("the writer did not answer the backup"))??;
        // Reopen once: the folder gets its mark and private permissions.
        drop(SledStore::open(to, 8 << 20)?);
        Ok(done)
    }
}

/// Where the writer puts the result of a backup.
pub(crate) type BackupAnswer = Arc<Mutex<Option<Result<BackedUp, StoreError>>>>;

/// Copies every tree of `db` into a new database in `to` and flushes it.
/// Called by the writer between group commits, with the maintenance lock
/// held so no write outside the writer lands meanwhile.
pub(crate) fn copy_db(
    db: &sled::Db,
    to: &Path,
    quiet: &RwLock<()>,
) -> Result<BackedUp, StoreError> {
    let _quiet = quiet
        .write()
        .map_err(|_| internal("the maintenance lock is poisoned"))?;
    let target = sled::Config::new()
        .path(to)
        .open()
        .map_err(|e| io(format!("cannot create `{}`: {e}", to.display())))?;
    let mut done = BackedUp::default();
    for name in TREES {
        let from = db.open_tree(name).map_err(io)?;
        let into = target.open_tree(name).map_err(io)?;
        let mut batch = sled::Batch::default();
        for kv in from.iter() {
            let (k, v) = kv.map_err(io)?;
            done.records += 1;
            done.bytes += (k.len() + v.len()) as u64;
            batch.insert(k, v);
        }
        into.apply_batch(batch).map_err(io)?;
    }
    target.flush().map_err(io)?;
    Ok(done)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
