//! The audit log: every write and every refused call, append-only and
//! tamper-evident. Each entry carries the hash of the one before it
//! (SHA-256 over the previous hash and the entry's canonical JSON), so an
//! altered, removed or reordered entry breaks the chain at that point
//! ([`AuditLog::verify`]).
//!
//! Appends go to a writer thread that group-commits them: entries queued at
//! once share one ledger write, made durable by the store's own group
//! commit (so an entry and the case write it records share a flush); [`AuditLog::submit`] returns
//! a write to wait on (or `.await`), so a caller can queue an entry, do its
//! work, and wait for both together.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use wangge_store::prelude::*;
use wangge_store::{Book, LedgerBatch, Outcome, Pending, Slot, StoreError};

use crate::error::AppResult;

/// `A␀seq` (20 digits, the first entry's): the entries of one batch, in
/// order (one record per batch: a ledger insert costs the same whatever
/// its size).
const ENTRIES: Book<Vec<AuditEntry>> = Book::json("A");
/// `H␀head`: the last entry's sequence and hash.
const HEAD: Book<Head> = Book::json("H");

/// The hash before the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What a call records: who, what, from where, and how it ended.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Unix seconds (the server's clock).
    pub at: i64,
    /// The verified caller (`P1`, `service:热线12345`, `operator`), or
    /// `anonymous` for a call refused before it was identified.
    pub who: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_behalf: Option<String>,
    /// `CaseService/Act`.
    pub method: String,
    /// The key fields of the request (case id, action, workflow, period …).
    #[serde(default)]
    pub keys: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer: Option<String>,
    pub request_id: u64,
    /// `OK`, or the status code (`PERMISSION_DENIED` …).
    pub outcome: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// A stored entry: the record, its place and its chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub seq: u64,
    #[serde(flatten)]
    pub record: AuditRecord,
    /// The previous entry's hash ([`GENESIS`] for the first).
    pub prev: String,
    pub hash: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Head {
    seq: u64,
    hash: String,
}

/// The hash of an entry: over its predecessor's hash and the canonical
/// JSON of its sequence and record.
pub fn entry_hash(seq: u64, record: &AuditRecord, prev: &str) -> String {
    let mut h = Sha256::new();
    h.update(prev.as_bytes());
    h.update(b"\n");
    h.update(seq.to_string().as_bytes());
    h.update(b"\n");
    // Serialising a plain struct of strings and maps does not fail.
    if let Ok(json) = serde_json::to_vec(record) {
        h.update(&json);
    }
    let digest = h.finalize();
    let mut out = String::with_capacity(64);
    for b in digest {
        out.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
        out.push(char::from(b"0123456789abcdef"[usize::from(b & 15)]));
    }
    out
}

/// Which entries to read.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub who: Option<String>,
    /// A method, or its service (`CaseService`).
    pub method: Option<String>,
    /// `OK` or a status code name.
    pub outcome: Option<String>,
    pub from: Option<i64>,
    pub to: Option<i64>,
    /// Entries after this sequence.
    pub after: u64,
    pub limit: usize,
}

impl AuditQuery {
    fn matches(&self, e: &AuditEntry) -> bool {
        let r = &e.record;
        e.seq > self.after
            && self
                .who
                .as_ref()
                .is_none_or(|w| r.who == *w || r.on_behalf.as_deref() == Some(w.as_str()))
            && self
                .method
                .as_ref()
                .is_none_or(|m| r.method == *m || r.method.split('/').next() == Some(m.as_str()))
            && self
                .outcome
                .as_ref()
                .is_none_or(|o| r.outcome.eq_ignore_ascii_case(o))
            && self.from.is_none_or(|f| r.at >= f)
            && self.to.is_none_or(|t| r.at < t)
    }
}

/// Where a chain breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broken {
    pub seq: u64,
    pub reason: String,
}

/// What [`AuditLog::verify`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub entries: u64,
    pub head: String,
    pub broken: Option<Broken>,
}

/// One entry to write and the slot its caller waits on.
type Submitted = (AuditRecord, Arc<Slot>);

/// The audit log over the ledger space, with its writer thread.
pub struct AuditLog {
    store: Arc<dyn Store>,
    queue: Mutex<std::sync::mpsc::Sender<Submitted>>,
    /// Entries the writer could not write (whether or not anyone waited).
    failed: Arc<std::sync::atomic::AtomicU64>,
}

impl AuditLog {
    /// The log over `store`; starts its writer thread, which ends when the
    /// log is dropped.
    pub fn new(store: Arc<dyn Store>) -> AuditLog {
        let (tx, rx) = std::sync::mpsc::channel::<Submitted>();
        let writer = store.clone();
        let failed = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counted = failed.clone();
        // Without a writer thread the receiver is gone and every append
        // fails, saying why, instead of waiting for ever.
        let _ = std::thread::Builder::new()
            .name("wangge-audit".into())
            .spawn(move || write_loop(writer, rx, &counted));
        AuditLog {
            store,
            queue: Mutex::new(tx),
            failed,
        }
    }

    /// Queues `record`; the returned write is done once it is durable.
    /// Entries submitted at the same time share one ledger write and flush.
    pub fn submit(&self, record: AuditRecord) -> Pending {
        let slot = Arc::new(Slot::default());
        let sent = match self.queue.lock() {
            Ok(q) => q
                .send((record, slot.clone()))
                .map_err(|_| StoreError::unavailable("the audit writer has stopped")),
            Err(_) => Err(StoreError::internal("the audit queue is poisoned")),
        };
        match sent {
            Ok(()) => Pending::on(slot),
            Err(e) => Pending::ready(Err(e)),
        }
    }

    /// How many entries could not be written since start.
    pub fn failures(&self) -> u64 {
        self.failed.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Appends `record` and returns once it is durable.
    pub fn append(&self, record: AuditRecord) -> AppResult<()> {
        self.submit(record).wait()?;
        Ok(())
    }

    /// Entries matching `q`, in order, at most `q.limit` (0: 1,000).
    pub fn list(&self, q: &AuditQuery) -> AppResult<Vec<AuditEntry>> {
        let limit = if q.limit == 0 { 1000 } else { q.limit };
        let mut out = Vec::new();
        for e in ENTRIES
            .scan(&*self.store, &[])?
            .into_iter()
            .flat_map(|(_, batch)| batch)
        {
            if q.matches(&e) {
                out.push(e);
                if out.len() == limit {
                    break;
                }
            }
        }
        Ok(out)
    }

    /// Walks the whole chain: sequences without gaps, each entry's `prev`
    /// the hash before it, each hash recomputed, the head the last entry.
    pub fn verify(&self) -> AppResult<Verified> {
        let entries = ENTRIES.scan(&*self.store, &[])?;
        let head = HEAD.get(&*self.store, &["head"])?;
        Ok(verify_chain(
            entries.into_iter().flat_map(|(_, batch)| batch),
            head.map(|h| (h.seq, h.hash)),
        ))
    }
}

/// The writer: takes every entry queued, chains and writes them in one
/// ledger batch (flushed), answers each; after a failed batch the next
/// one starts again from the stored head.
fn write_loop(
    store: Arc<dyn Store>,
    rx: std::sync::mpsc::Receiver<Submitted>,
    failed: &std::sync::atomic::AtomicU64,
) {
    let mut head: Option<Stored> = None;
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while let Ok(more) = rx.try_recv() {
            batch.push(more);
        }
        let (records, slots): (Vec<AuditRecord>, Vec<Arc<Slot>>) = batch.into_iter().unzip();
        match write_batch(store.as_ref(), head.take(), records) {
            Ok(h) => {
                head = Some(h);
                for s in slots {
                    s.set(Ok(Outcome::Done));
                }
            }
            Err(e) => {
                failed.fetch_add(slots.len() as u64, std::sync::atomic::Ordering::Relaxed);
                for s in slots {
                    s.set(Err(StoreError::unavailable(format!(
                        "the audit entry was not written: {e}"
                    ))));
                }
            }
        }
    }
}

/// A chain head and its bytes as stored (what the next append compares
/// against; `None` before the first entry).
type Stored = (Head, Option<Vec<u8>>);

/// The stored head, or the genesis head of an empty log.
fn read_head(store: &dyn Store) -> AppResult<Stored> {
    Ok(match HEAD.get_raw(store, &["head"])? {
        Some(raw) => (HEAD.decode(&raw)?, Some(raw)),
        None => (
            Head {
                seq: 0,
                hash: GENESIS.into(),
            },
            None,
        ),
    })
}

/// Appends `batch` after the head: one chain, even with several servers
/// on one database — the write lands only if the head is still the one
/// chained onto; otherwise the entries chain onto the newer head.
fn write_batch(
    store: &dyn Store,
    head: Option<Stored>,
    batch: Vec<AuditRecord>,
) -> AppResult<Stored> {
    let mut known = head;
    for _ in 0..64 {
        let (mut head, expected) = match known.take() {
            Some(h) => h,
            None => read_head(store)?,
        };
        let first = head.seq + 1;
        let mut entries = Vec::with_capacity(batch.len());
        for record in &batch {
            let seq = head.seq + 1;
            let hash = entry_hash(seq, record, &head.hash);
            entries.push(AuditEntry {
                seq,
                record: record.clone(),
                prev: std::mem::replace(&mut head.hash, hash.clone()),
                hash,
            });
            head.seq = seq;
        }
        let raw = HEAD.encode(&head)?;
        let mut out = LedgerBatch::new();
        out.put(&ENTRIES, &[&format!("{first:020}")], &entries)?;
        out.put_encoded(&HEAD, &["head"], raw.clone());
        // Durable with the case writes of the same moment: one group
        // commit (the store's flush) covers both.
        if out.write_if(store, &HEAD, &["head"], expected.as_deref())? {
            store.flush()?;
            return Ok((head, Some(raw)));
        }
    }
    Err(
        StoreError::conflict("the audit log's head kept moving: another server appends too fast")
            .into(),
    )
}

/// Checks a chain of entries in key order against the stored head.
fn verify_chain(
    entries: impl Iterator<Item = AuditEntry>,
    head: Option<(u64, String)>,
) -> Verified {
    let mut prev = GENESIS.to_string();
    let mut n = 0u64;
    let broken = |seq, reason: String| Some(Broken { seq, reason });
    for e in entries {
        n += 1;
        let found = if e.seq != n {
            broken(
                e.seq,
                format!("entry {} follows entry {} (missing or moved)", e.seq, n - 1),
            )
        } else if e.prev != prev {
            broken(
                e.seq,
                "its `prev` is not the hash of the entry before it".into(),
            )
        } else if entry_hash(e.seq, &e.record, &e.prev) != e.hash {
            broken(
                e.seq,
                "its content does not match its hash (altered)".into(),
            )
        } else {
            None
        };
        if found.is_some() {
            return Verified {
                entries: n,
                head: prev,
                broken: found,
            };
        }
        prev = e.hash;
    }
    let tail = match head {
        Some((seq, hash)) if seq != n || hash != prev => broken(
            seq,
            format!("the head names entry {seq}, the log ends at entry {n} (entries removed from the end)"),
        ),
        None if n > 0 => broken(n, "the log has entries but no head".into()),
        _ => None,
    };
    Verified {
        entries: n,
        head: prev,
        broken: tail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wangge_store::MemStore;

    fn record(who: &str, outcome: &str) -> AuditRecord {
        AuditRecord {
            at: 1_790_000_000,
            who: who.into(),
            method: "CaseService/Act".into(),
            outcome: outcome.into(),
            ..AuditRecord::default()
        }
    }

    #[test]
    fn the_audit_chain_links_each_entry_to_the_one_before() -> AppResult<()> {
        let log = AuditLog::new(Arc::new(MemStore::new()));
        log.append(record("P1", "OK"))?;
        log.append(record("P2", "PERMISSION_DENIED"))?;
        let all = log.list(&AuditQuery::default())?;
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].prev, GENESIS);
        assert_eq!(all[1].prev, all[0].hash);
        let v = log.verify()?;
        assert_eq!((v.entries, v.broken), (2, None));
        let denied = log.list(&AuditQuery {
            outcome: Some("permission_denied".into()),
            ..AuditQuery::default()
        })?;
        assert_eq!(denied.len(), 1);
        assert_eq!(denied[0].record.who, "P2");
        Ok(())
    }

    #[test]
    fn an_altered_audit_entry_breaks_the_chain_at_that_entry() {
        let mk = |seq: u64, prev: &str, who: &str| {
            let r = record(who, "OK");
            AuditEntry {
                seq,
                hash: entry_hash(seq, &r, prev),
                record: r,
                prev: prev.into(),
            }
        };
        let a = mk(1, GENESIS, "P1");
        let b = mk(2, &a.hash, "P2");
        let c = mk(3, &b.hash, "P3");
        let head = Some((3, c.hash.clone()));
        let ok = verify_chain([a.clone(), b.clone(), c.clone()].into_iter(), head.clone());
        assert_eq!(ok.broken, None);
        let mut forged = b.clone();
        forged.record.who = "P9".into();
        let bad = verify_chain([a.clone(), forged, c.clone()].into_iter(), head.clone());
        assert_eq!(bad.broken.map(|b| b.seq), Some(2));
        let cut = verify_chain([a, b].into_iter(), head);
        assert_eq!(cut.broken.map(|b| b.seq), Some(3));
    }
}
