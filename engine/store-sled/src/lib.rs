//! The embedded default backend of the storage ports, on sled 0.34.
//!
//! Case records live in one sled tree under key prefixes: `c` id → the case
//! with its latest event, `e` id ++ seq → earlier events (append-only: an
//! event moves here, unchanged, when a newer one replaces it in the case
//! record), `t` due ++ id ++ slot → deadline (in due order), `j` seq → the
//! idempotency keys of one batch (digest, payload digest, case id; kept in
//! memory and rebuilt from the journal on open), `f` first seq → the case
//! id and event seq of each change-feed event of one group commit (entry
//! `i` has sequence first + `i`), `m` counters.
//! Keeping the latest event in the case record saves one sled insert per
//! report, sled's main cost. Units, people, policies and the ledgers have
//! trees of their own. Every value starts with a format-version byte.
//!
//! One writer thread owns all case writes. Callers submit a write and get a
//! [`Pending`] to wait on; the writer takes every queued write, applies them
//! as one atomic `sled::Batch` (so the writes of one change — case, event,
//! timers, idempotency key — land together), flushes once, and then answers
//! them all: group commit. A submitted update is visible to `case()` at once
//! (an overlay of not-yet-applied cases), so a caller that holds the case's
//! lock can read, change and submit without waiting for the disk.
//!
//! Durability: sled 0.34's `flush` writes the log with `sync_file_range`,
//! which survives a killed process but not a power cut. With
//! [`Durability::Fsync`] (the default) the writer also calls `fdatasync` on
//! the log file after each group commit's flush, so an answered write is on
//! stable storage (as far as the disk honours the flush). `flush_async` can
//! deadlock under concurrent callers (upstream #1308), so only the blocking
//! `flush` is used.
//!
//! Lost data is detected at open: after each durable group commit the
//! writer records the case count and feed sequence in `wangge.mark` beside
//! the database; a database that opens with less than the mark says (a
//! truncated or replaced `db` file) is refused, as is one sled cannot read.

mod maintain;
mod mark;
mod summary;

pub use maintain::{BackedUp, Verified};

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use wangge_policy::{Case, CaseEvent, CaseId, Change, Person, Timestamp, Unit};
use wangge_store::prelude::*;
use wangge_store::Settings;
use wangge_store::{
    decode, encode, timers_of, CaseFact, Created, Feed, IdemRecord, Outcome, Pending, Slot,
    StateCounts, StoreError, Timer, FORMAT_VERSION,
};

use mark::{Mark, MarkFile};
use summary::{Entry, Summaries};

/// Creates `dir` (and its parents) if needed and makes it private to the
/// owner: residents' data is not for other users of the machine.
fn private_dir(dir: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    let failed = |e: std::io::Error| io(format!("cannot prepare `{}`: {e}", dir.display()));
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(failed)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(failed)
}

/// Makes every file under `dir` 0600 and every folder 0700 (sled creates
/// them with the process umask).
fn private_files(dir: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::PermissionsExt;
    let failed = |p: &Path, e: std::io::Error| io(format!("cannot protect `{}`: {e}", p.display()));
    for entry in std::fs::read_dir(dir).map_err(|e| failed(dir, e))? {
        let path = entry.map_err(|e| failed(dir, e))?.path();
        let mode = if path.is_dir() {
            private_files(&path)?;
            0o700
        } else {
            0o600
        };
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
            .map_err(|e| failed(&path, e))?;
    }
    Ok(())
}

/// An I/O failure of sled: the disk or the database is unavailable.
fn io(e: impl std::fmt::Display) -> StoreError {
    StoreError::unavailable(e.to_string())
}

/// A record that does not decode.
fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::corrupt(e.to_string())
}

/// A poisoned lock or a stopped writer: a bug, not the caller's fault.
fn internal(e: impl std::fmt::Display) -> StoreError {
    StoreError::internal(e.to_string())
}

const CASE: u8 = b'c';
const EVENT: u8 = b'e';
const TIMER: u8 = b't';
const JOURNAL: u8 = b'j';
const META_JOURNAL: &[u8] = b"m/journal";
const META_CASES: &[u8] = b"m/cases";
const META_TIMERS: &[u8] = b"m/timers";
const META_FEED: &[u8] = b"m/feed";
/// Present once the (workflow, state) counters are kept (a store made
/// before them is counted once at open).
const META_COUNTED: &[u8] = b"m/counted";
const COUNT_PREFIX: &[u8] = b"m/count/";

fn count_key(workflow: &str, state: &str) -> Vec<u8> {
    let mut k = COUNT_PREFIX.to_vec();
    k.extend_from_slice(workflow.as_bytes());
    k.push(0);
    k.extend_from_slice(state.as_bytes());
    k
}

/// The (workflow, state) counters: stored under `m/count/`, or counted
/// from the cases once for a store made before them.
fn load_counts(data: &sled::Tree) -> Result<StateCounts, StoreError> {
    let mut counts = StateCounts::new();
    if data.contains_key(META_COUNTED).map_err(io)? {
        for kv in data.scan_prefix(COUNT_PREFIX) {
            let (k, v) = kv.map_err(io)?;
            let name = std::str::from_utf8(&k[COUNT_PREFIX.len()..])
                .map_err(|_| corrupt("a state counter key that is not text"))?;
            let (wf, state) = name
                .split_once('\0')
                .ok_or_else(|| corrupt("a state counter key without its state"))?;
            let n: [u8; 8] = v[..]
                .try_into()
                .map_err(|_| corrupt("a state counter that is not 8 bytes"))?;
            counts.insert((wf.to_string(), state.to_string()), u64::from_be_bytes(n));
        }
        return Ok(counts);
    }
    for kv in data.scan_prefix([CASE]) {
        let c = record_case(&kv.map_err(io)?.1)?;
        *counts.entry((c.workflow, c.state)).or_insert(0) += 1;
    }
    let mut batch = sled::Batch::default();
    for ((wf, state), n) in &counts {
        batch.insert(count_key(wf, state), &n.to_be_bytes()[..]);
    }
    batch.insert(META_COUNTED, &[1u8][..]);
    data.apply_batch(batch).map_err(io)?;
    Ok(counts)
}
const FEED: u8 = b'f';

fn feed_key(seq: u64) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = FEED;
    k[1..].copy_from_slice(&seq.to_be_bytes());
    k
}

/// How far an answered write has gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// On stable storage: sled's flush, then `fdatasync` of its log file.
    #[default]
    Fsync,
    /// In the operating system: sled's flush only (`sync_file_range`);
    /// survives a killed process, not a power cut.
    Flush,
}

fn timer_key(due: Timestamp, id: CaseId, slot: u32) -> [u8; 21] {
    let mut k = [0u8; 21];
    k[0] = TIMER;
    // Flip the sign bit so negative times sort before positive ones.
    k[1..9].copy_from_slice(&((due as u64) ^ (1 << 63)).to_be_bytes());
    k[9..17].copy_from_slice(&id.to_be_bytes());
    k[17..].copy_from_slice(&slot.to_be_bytes());
    k
}

fn case_key(id: CaseId) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = CASE;
    k[1..].copy_from_slice(&id.to_be_bytes());
    k
}

fn event_prefix(id: CaseId) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = EVENT;
    k[1..].copy_from_slice(&id.to_be_bytes());
    k
}

fn event_key(id: CaseId, seq: u64) -> [u8; 17] {
    let mut k = [0u8; 17];
    k[..9].copy_from_slice(&event_prefix(id));
    k[9..].copy_from_slice(&seq.to_be_bytes());
    k
}

/// The stable 64-bit digest of a workflow-scoped idempotency key.
fn idem_digest(key: &str) -> u64 {
    use sha2::Digest as _;
    let d = sha2::Sha256::digest(key.as_bytes());
    let mut b = [0u8; 8];
    b.copy_from_slice(&d[..8]);
    u64::from_be_bytes(b)
}

/// The first 64 bits of a payload hash (hex).
fn payload_prefix(hash: &str) -> u64 {
    hash.get(..16)
        .and_then(|h| u64::from_str_radix(h, 16).ok())
        .unwrap_or(0)
}

fn journal_key(seq: u64) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = JOURNAL;
    k[1..].copy_from_slice(&seq.to_be_bytes());
    k
}

/// Idempotency keys: digest → (payload prefix, case id). Written once per
/// batch as a journal record (one sled insert for the whole batch), held in
/// memory by the writer, rebuilt from the journal when the store opens.
type IdemIndex = HashMap<u64, (u64, CaseId)>;

/// The index, shared by the writer (which adds to it) and callers (which
/// look retries up before using a case id).
type SharedIdem = Arc<Mutex<IdemIndex>>;

/// The stored case an idempotency key names, confirmed against the case
/// itself (a 64-bit digest collision must not return someone else's case).
fn confirm_idem(
    data: &sled::Tree,
    known: Option<(u64, CaseId)>,
    rec: &IdemRecord,
) -> Result<Option<Created>, StoreError> {
    let Some((prefix, case_id)) = known else {
        return Ok(None);
    };
    let same_key = match data.get(case_key(case_id)).map_err(io)? {
        Some(v) => {
            let c = record_case(&v)?;
            c.idempotency_key
                .is_some_and(|k| format!("{}\u{0}{k}", c.workflow) == rec.key)
        }
        None => false,
    };
    Ok(same_key.then(|| Created::Existing {
        case_id,
        same_payload: prefix == payload_prefix(&rec.hash),
    }))
}

fn load_idem(data: &sled::Tree) -> Result<IdemIndex, StoreError> {
    let mut index = IdemIndex::new();
    for kv in data.scan_prefix([JOURNAL]) {
        let (_, v) = kv.map_err(io)?;
        let body = match v.split_first() {
            Some((&FORMAT_VERSION, rest)) => rest,
            _ => {
                return Err(corrupt(
                    "an idempotency journal record of an unknown format",
                ))
            }
        };
        for entry in body.chunks_exact(24) {
            let word = |i: usize| {
                let mut b = [0u8; 8];
                b.copy_from_slice(&entry[i * 8..i * 8 + 8]);
                u64::from_be_bytes(b)
            };
            index.insert(word(0), (word(1), word(2)));
        }
    }
    Ok(index)
}

/// A case record: version byte, case JSON length (u32 LE), case JSON, latest event JSON.
fn encode_record(case: &Case, event: &CaseEvent) -> Result<Vec<u8>, StoreError> {
    let case_json = serde_json::to_vec(case).map_err(io)?;
    let len = u32::try_from(case_json.len()).map_err(|_| internal("case record too large"))?;
    let mut out = Vec::with_capacity(5 + case_json.len() + 512);
    out.push(FORMAT_VERSION);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&case_json);
    serde_json::to_writer(&mut out, event).map_err(io)?;
    Ok(out)
}

/// The case JSON and the latest event JSON of a record.
fn split_record(bytes: &[u8]) -> Result<(&[u8], &[u8]), StoreError> {
    match bytes.split_first() {
        Some((&FORMAT_VERSION, rest)) => {
            let len_bytes: [u8; 4] = rest
                .get(..4)
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| corrupt("a truncated case record"))?;
            let len = u32::from_le_bytes(len_bytes) as usize;
            let case = rest
                .get(4..4 + len)
                .ok_or_else(|| corrupt("a truncated case record"))?;
            let event = rest
                .get(4 + len..)
                .ok_or_else(|| corrupt("a truncated case record"))?;
            Ok((case, event))
        }
        Some((v, _)) => Err(corrupt(format!(
            "a stored record has format version {v}; this build reads version {FORMAT_VERSION}"
        ))),
        None => Err(corrupt("an empty stored record")),
    }
}

fn record_case(bytes: &[u8]) -> Result<Case, StoreError> {
    serde_json::from_slice(split_record(bytes)?.0).map_err(io)
}

/// The version of a stored case, without building the case.
fn record_version(bytes: &[u8]) -> Result<u64, StoreError> {
    #[derive(serde::Deserialize)]
    struct Version {
        version: u64,
    }
    let v: Version = serde_json::from_slice(split_record(bytes)?.0).map_err(corrupt)?;
    Ok(v.version)
}

fn record_event(bytes: &[u8]) -> Result<CaseEvent, StoreError> {
    serde_json::from_slice(split_record(bytes)?.1).map_err(io)
}

/// A change encoded by the caller, ready for the writer.
struct Encoded {
    case_id: CaseId,
    version: u64,
    /// The event, for the change feed once durable.
    event: Arc<CaseEvent>,
    record: Arc<[u8]>,
    /// The event the new record displaces, moved to the event log.
    archive: Option<([u8; 17], Vec<u8>)>,
    add_timers: Vec<([u8; 21], Vec<u8>)>,
    remove_timers: Vec<[u8; 21]>,
    /// (workflow, state) it leaves, if it changes (or `None` for a new
    /// case), and the one it enters: for the state counters.
    moves: Option<(Option<StateKey>, StateKey)>,
    /// The case's row in the listing index (built here, off the writer).
    entry: Entry,
}

/// A (workflow, state) pair, as the counters key it.
type StateKey = (String, String);

impl Encoded {
    fn new(
        before: Option<(&Case, &[u8])>,
        change: &Change,
        fired: Option<&Timer>,
    ) -> Result<Encoded, StoreError> {
        let mut remove_timers: Vec<[u8; 21]> = before
            .map(|(c, _)| timers_of(c))
            .unwrap_or_default()
            .iter()
            .map(|t| timer_key(t.due, t.case_id, t.slot))
            .collect();
        if let Some(t) = fired {
            let k = timer_key(t.due, t.case_id, t.slot);
            if !remove_timers.contains(&k) {
                remove_timers.push(k);
            }
        }
        let mut add_timers = Vec::new();
        for t in timers_of(&change.case) {
            add_timers.push((timer_key(t.due, t.case_id, t.slot), encode(&t.deadline)?));
        }
        let archive = match before {
            Some((case, record)) => {
                let (_, event_json) = split_record(record)?;
                let mut bytes = Vec::with_capacity(event_json.len() + 1);
                bytes.push(FORMAT_VERSION);
                bytes.extend_from_slice(event_json);
                Some((event_key(case.id, case.next_event.saturating_sub(1)), bytes))
            }
            None => None,
        };
        let after = (&change.case.workflow, &change.case.state);
        let moves = match before {
            Some((c, _)) if (&c.workflow, &c.state) == after => None,
            Some((c, _)) => Some((
                Some((c.workflow.clone(), c.state.clone())),
                (after.0.clone(), after.1.clone()),
            )),
            None => Some((None, (after.0.clone(), after.1.clone()))),
        };
        Ok(Encoded {
            moves,
            entry: Entry::of(&change.case),
            case_id: change.case.id,
            version: change.case.version,
            event: Arc::new(change.event.clone()),
            record: Arc::from(encode_record(&change.case, &change.event)?),
            archive,
            add_timers,
            remove_timers,
        })
    }
}

enum Op {
    Create {
        enc: Encoded,
        idem: Option<IdemRecord>,
    },
    Update(Encoded),
    DropTimer([u8; 21]),
    Flush,
    /// Copy the database into a new folder, between two group commits.
    Backup(std::path::PathBuf, maintain::BackupAnswer),
}

/// A queued write and where to answer it.
type Queued = (Op, Arc<Slot>);

/// A submitted, not yet applied case: the case, its record, and the events
/// its updates moved out of the record (until they are in the log).
struct Pending_ {
    case: Case,
    record: Arc<[u8]>,
    archived: Vec<(u64, Vec<u8>)>,
}

/// Cases submitted but not yet applied, by id.
type Overlay = Arc<Mutex<HashMap<CaseId, Pending_>>>;

/// The embedded sled store.
pub struct SledStore {
    db: sled::Db,
    data: sled::Tree,
    units: sled::Tree,
    people: sled::Tree,
    /// The people, read once (settlements read all of them).
    people_cache: Registry<Person>,
    /// The units, read once (evaluation reads all of them).
    units_cache: Registry<Unit>,
    policies: sled::Tree,
    ledger: sled::Tree,
    settings: sled::Tree,
    feed: Arc<Feed>,
    overlay: Overlay,
    idem: SharedIdem,
    /// The next case id (dense: one past the highest stored).
    next_case: AtomicU64,
    /// Applied cases by (workflow, state).
    counts: Arc<Mutex<StateCounts>>,
    /// `fdatasync` after a flush, when acknowledgements must be on stable storage.
    sync: Option<Arc<Sync>>,
    cases: Arc<AtomicU64>,
    timers: Arc<AtomicU64>,
    /// Held (read) by writes outside the writer; a backup holds it (write).
    maintenance: Arc<std::sync::RwLock<()>>,
    tx: Mutex<Option<Sender<Queued>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    /// The listing index and the thread that fills it in at open.
    summaries: Arc<Summaries>,
    indexer: Mutex<Option<JoinHandle<()>>>,
}

/// Starts the thread that reads the stored cases into the listing index.
fn spawn_indexer(
    data: sled::Tree,
    summaries: Arc<Summaries>,
) -> Result<JoinHandle<()>, StoreError> {
    std::thread::Builder::new()
        .name("wangge-indexer".into())
        .spawn(move || {
            let end = [CASE + 1];
            for kv in data.range(&case_key(0)[..]..&end[..]) {
                if summaries.stop.load(Ordering::Relaxed) {
                    return;
                }
                // A record that cannot be read stays out of the index (and
                // the index is never marked ready: listings keep scanning,
                // where the error surfaces); `store verify` names it.
                let Ok((_, v)) = kv else { return };
                let Ok(case) = record_case(&v) else { return };
                summaries.fill(&Entry::of(&case));
            }
            summaries.set_ready();
        })
        .map_err(io)
}

fn read_counter(tree: &sled::Tree, key: &[u8]) -> Result<u64, StoreError> {
    match tree.get(key).map_err(io)? {
        Some(v) => {
            let b: [u8; 8] = v[..].try_into().map_err(|_| {
                corrupt(format!(
                    "the counter `{}` is {} bytes, not 8",
                    String::from_utf8_lossy(key),
                    v.len()
                ))
            })?;
            Ok(u64::from_be_bytes(b))
        }
        None => Ok(0),
    }
}

/// The highest stored case id (0 when there is none).
fn last_case_id(data: &sled::Tree) -> Result<CaseId, StoreError> {
    match data
        .range(&case_key(0)[..]..=&case_key(CaseId::MAX)[..])
        .next_back()
    {
        Some(kv) => {
            let (k, _) = kv.map_err(io)?;
            let b: [u8; 8] = k
                .get(1..9)
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| corrupt("a case key of the wrong length"))?;
            Ok(u64::from_be_bytes(b))
        }
        None => Ok(0),
    }
}

/// Makes flushed writes stable: `fdatasync` of sled's log file, and the
/// mark of what is now durable.
struct Sync {
    /// sled's log, when answered writes must be on stable storage.
    log: Option<std::fs::File>,
    mark: MarkFile,
}

impl Sync {
    fn open(dir: &Path, mark: MarkFile, durability: Durability) -> Result<Sync, StoreError> {
        let log = match durability {
            Durability::Fsync => {
                let path = dir.join("db");
                Some(
                    std::fs::File::open(&path)
                        .map_err(|e| io(format!("cannot open `{}`: {e}", path.display())))?,
                )
            }
            Durability::Flush => None,
        };
        Ok(Sync { log, mark })
    }

    /// After sled's flush: makes it stable, then records the mark.
    fn synced(&self, mark: Mark) -> Result<(), StoreError> {
        if let Some(log) = &self.log {
            log.sync_data()
                .map_err(|e| io(format!("cannot sync the database log: {e}")))?;
        }
        self.mark.write(mark)
    }
}

/// Whether sled could not take the folder's lock.
fn is_lock_error(e: &sled::Error) -> bool {
    match e {
        sled::Error::Io(io) => {
            io.kind() == std::io::ErrorKind::WouldBlock
                || io.to_string().contains("could not acquire lock")
        }
        _ => false,
    }
}

/// Opens sled in `dir`, turning a panic inside sled (it panics on some
/// damaged files) into an error that names the folder.
fn open_sled(dir: &Path, cache_bytes: u64) -> Result<sled::Db, StoreError> {
    let config = sled::Config::new()
        .path(dir)
        .cache_capacity(cache_bytes)
        .mode(sled::Mode::HighThroughput);
    // sled's background threads can hold the folder's lock for a moment
    // after the last handle of a store is dropped (a restart in the same
    // process, a backup reopened): wait up to 2 s for it, then report it.
    let mut opened;
    let mut tries = 0;
    loop {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        opened = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| config.open()));
        std::panic::set_hook(previous);
        let locked = matches!(&opened, Ok(Err(e)) if is_lock_error(e));
        tries += 1;
        if !locked || tries >= 100 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let damaged = |why: String| {
        StoreError::corrupt(format!(
            "`{}` cannot be read ({why}); it is damaged or not a wangge data folder. Not \
             starting: restore it from a backup with `wangge store restore BACKUP --data {}`",
            dir.join("db").display(),
            dir.display()
        ))
    };
    match opened {
        Ok(Ok(db)) => Ok(db),
        Ok(Err(e)) if is_lock_error(&e) => Err(io(format!(
            "`{}` is in use by another process (is a server running on it?): {e}",
            dir.display()
        ))),
        Ok(Err(sled::Error::Io(e))) => Err(io(format!("cannot open `{}`: {e}", dir.display()))),
        Ok(Err(e)) => Err(damaged(e.to_string())),
        Err(panic) => {
            let why = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "sled failed while reading it".into());
            Err(damaged(why))
        }
    }
}

impl SledStore {
    /// Opens (or creates) the store in `dir`, with `cache_bytes` of page cache.
    /// The folder is private to the owner (0700, files 0600); answered
    /// writes are on stable storage ([`Durability::Fsync`]).
    pub fn open(dir: &Path, cache_bytes: u64) -> Result<SledStore, StoreError> {
        Self::open_with(dir, cache_bytes, Durability::Fsync)
    }

    /// Opens the store with the given durability of answered writes.
    pub fn open_with(
        dir: &Path,
        cache_bytes: u64,
        durability: Durability,
    ) -> Result<SledStore, StoreError> {
        Self::open_dir(dir, cache_bytes, false, durability)
    }

    /// Opens the store for loading a large history: writes are answered
    /// before they are durable, and made durable by [`CaseStore::flush`]
    /// (and when the store is dropped). Not for serving.
    pub fn open_bulk(dir: &Path, cache_bytes: u64) -> Result<SledStore, StoreError> {
        Self::open_dir(dir, cache_bytes, true, Durability::Fsync)
    }

    fn open_dir(
        dir: &Path,
        cache_bytes: u64,
        bulk: bool,
        durability: Durability,
    ) -> Result<SledStore, StoreError> {
        private_dir(dir)?;
        let (mark_file, mark) = MarkFile::open(dir)?;
        let db = open_sled(dir, cache_bytes)?;
        private_files(dir)?;
        let sync = Sync::open(dir, mark_file, durability)?;
        let store = Self::from_db(db, bulk, Some(Arc::new(sync)))?;
        let found = Mark {
            cases: store.cases.load(Ordering::SeqCst),
            feed: store.feed.next_sequence(),
        };
        mark::check(dir, mark, found)?;
        if let Some(sync) = &store.sync {
            sync.mark.write(found)?;
        }
        Ok(store)
    }

    /// A store that lives in memory only (tests, scenarios).
    pub fn temporary() -> Result<SledStore, StoreError> {
        let db = sled::Config::new().temporary(true).open().map_err(io)?;
        Self::from_db(db, false, None)
    }

    fn from_db(db: sled::Db, bulk: bool, sync: Option<Arc<Sync>>) -> Result<SledStore, StoreError> {
        let tree = |name: &str| db.open_tree(name).map_err(io);
        let data = tree("cases")?;
        let cases = Arc::new(AtomicU64::new(read_counter(&data, META_CASES)?));
        let timers = Arc::new(AtomicU64::new(read_counter(&data, META_TIMERS)?));
        let overlay: Overlay = Arc::default();
        // Sequences start at 1, so a watcher can say 0 for "only new changes".
        let feed = Arc::new(Feed::new(read_counter(&data, META_FEED)?.max(1), 65_536));
        let idem: SharedIdem = Arc::new(Mutex::new(load_idem(&data)?));
        let maintenance = Arc::new(std::sync::RwLock::new(()));
        let counts = Arc::new(Mutex::new(load_counts(&data)?));
        let summaries = Arc::new(Summaries::default());
        let indexer = spawn_indexer(data.clone(), summaries.clone())?;
        let (tx, rx) = mpsc::channel();
        let writer = Writer {
            bulk,
            idem: idem.clone(),
            journal_next: std::cell::Cell::new(read_counter(&data, META_JOURNAL)?),
            feed: feed.clone(),
            data: data.clone(),
            overlay: overlay.clone(),
            cases: cases.clone(),
            timers: timers.clone(),
            sync: sync.clone(),
            maintenance: maintenance.clone(),
            counts: counts.clone(),
            summaries: summaries.clone(),
        };
        let wdb = db.clone();
        let handle = std::thread::Builder::new()
            .name("wangge-writer".into())
            .spawn(move || writer.run(wdb, rx))
            .map_err(io)?;
        Ok(SledStore {
            policies: tree("policies")?,
            ledger: tree("ledger")?,
            settings: tree("settings")?,
            feed,
            units: tree("units")?,
            people: tree("people")?,
            people_cache: Registry::new(|p: &Person| p.id.as_str()),
            units_cache: Registry::new(|u: &Unit| u.id.as_str()),
            next_case: AtomicU64::new(last_case_id(&data)? + 1),
            counts,
            idem,
            sync,
            db,
            data,
            overlay,
            cases,
            timers,
            maintenance,
            tx: Mutex::new(Some(tx)),
            writer: Mutex::new(Some(handle)),
            summaries,
            indexer: Mutex::new(Some(indexer)),
        })
    }

    /// The stored idempotency record of `key` (`WORKFLOW␀KEY`) as far as
    /// this store keeps it: the case it made and the first 64 bits of its
    /// payload hash (16 hex digits) — what `store copy` carries over.
    pub fn idempotency_prefix(&self, key: &str) -> Result<Option<(String, CaseId)>, StoreError> {
        let known = self
            .idem
            .lock()
            .map_err(|_| internal("the idempotency index is poisoned"))?
            .get(&idem_digest(key))
            .copied();
        Ok(known.map(|(prefix, case_id)| (format!("{prefix:016x}"), case_id)))
    }

    /// Waits up to `timeout` for the listing index to be built; whether it is.
    pub fn wait_indexed(&self, timeout: std::time::Duration) -> bool {
        let start = std::time::Instant::now();
        while !self.summaries.is_ready() {
            if start.elapsed() > timeout {
                return false;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        true
    }

    /// The maintenance lock, shared: writes outside the writer hold it so a
    /// backup sees none of them half done.
    fn quiet(&self) -> Result<std::sync::RwLockReadGuard<'_, ()>, StoreError> {
        self.maintenance
            .read()
            .map_err(|_| internal("the maintenance lock is poisoned"))
    }

    /// Flushes sled and makes it stable: for the writes outside the writer
    /// (policies, the registry, ledgers, settings).
    fn durable(&self) -> Result<(), StoreError> {
        self.db.flush().map_err(io)?;
        if let Some(sync) = &self.sync {
            if let Some(log) = &sync.log {
                log.sync_data()
                    .map_err(|e| io(format!("cannot sync the database log: {e}")))?;
            }
        }
        Ok(())
    }

    fn submit(&self, op: Op) -> Result<Pending, StoreError> {
        let slot = Arc::new(Slot::default());
        let g = self
            .tx
            .lock()
            .map_err(|_| internal("writer queue poisoned"))?;
        let tx = g
            .as_ref()
            .ok_or_else(|| StoreError::unavailable("the store is closed"))?;
        tx.send((op, slot.clone()))
            .map_err(|_| StoreError::unavailable("the writer has stopped"))?;
        Ok(Pending::on(slot))
    }
}

impl Drop for SledStore {
    fn drop(&mut self) {
        self.summaries.stop.store(true, Ordering::Relaxed);
        if let Ok(mut g) = self.indexer.lock() {
            if let Some(h) = g.take() {
                let _ = h.join();
            }
        }
        if let Ok(mut g) = self.tx.lock() {
            g.take();
        }
        if let Ok(mut g) = self.writer.lock() {
            if let Some(h) = g.take() {
                let _ = h.join();
            }
        }
    }
}

struct Writer {
    /// Bulk loading: answer before flushing (flush only when asked).
    bulk: bool,
    idem: SharedIdem,
    journal_next: std::cell::Cell<u64>,
    feed: Arc<Feed>,
    data: sled::Tree,
    overlay: Overlay,
    cases: Arc<AtomicU64>,
    timers: Arc<AtomicU64>,
    sync: Option<Arc<Sync>>,
    maintenance: Arc<std::sync::RwLock<()>>,
    counts: Arc<Mutex<StateCounts>>,
    summaries: Arc<Summaries>,
}

/// Largest number of writes applied as one batch.
const MAX_BATCH: usize = 4096;

type Answer = (Arc<Slot>, Result<Outcome, StoreError>);

impl Writer {
    /// Applies queued writes batch after batch, flushing after each, then
    /// answers the batch. Writes that arrive during a flush form the next batch.
    fn run(self, db: sled::Db, rx: Receiver<Queued>) {
        let mut held: Option<Queued> = None;
        while let Some(first) = held.take().or_else(|| rx.recv().ok()) {
            if let (Op::Backup(to, answer), slot) = &first {
                let copied = maintain::copy_db(&db, to, &self.maintenance);
                let r = copied.as_ref().map(|_| Outcome::Done).map_err(Clone::clone);
                if let Ok(mut a) = answer.lock() {
                    *a = Some(copied);
                }
                slot.set(r);
                continue;
            }
            let mut ops = vec![first];
            while ops.len() < MAX_BATCH {
                match rx.try_recv() {
                    // A backup waits for this batch to be durable.
                    Ok(op) if matches!(op.0, Op::Backup(..)) => {
                        held = Some(op);
                        break;
                    }
                    Ok(op) => ops.push(op),
                    Err(_) => break,
                }
            }
            let asked = ops.iter().any(|(op, _)| matches!(op, Op::Flush));
            let (answers, events) = self.apply(ops);
            let flushed = if self.bulk && !asked {
                Ok(())
            } else {
                self.flush(&db, events.len() as u64)
            };
            if flushed.is_ok() {
                self.feed.publish(events);
            }
            for (slot, r) in answers {
                slot.set(match &flushed {
                    Ok(()) => r,
                    Err(e) => Err(e.clone()),
                });
            }
        }
    }

    /// sled's flush, then (with a [`Sync`]) `fdatasync` and the new mark.
    /// `unpublished`: events of this batch not yet in the feed.
    fn flush(&self, db: &sled::Db, unpublished: u64) -> Result<(), StoreError> {
        db.flush().map_err(io)?;
        match &self.sync {
            Some(sync) => sync.synced(Mark {
                cases: self.cases.load(Ordering::SeqCst),
                feed: self.feed.next_sequence() + unpublished,
            }),
            None => Ok(()),
        }
    }

    fn apply(&self, ops: Vec<Queued>) -> (Vec<Answer>, Vec<Arc<CaseEvent>>) {
        let mut batch = sled::Batch::default();
        let mut results: Vec<Result<Outcome, StoreError>> = Vec::with_capacity(ops.len());
        let mut idem = match self.idem.lock() {
            Ok(g) => g,
            Err(_) => {
                let e = internal("the idempotency index is poisoned");
                let answers = ops
                    .into_iter()
                    .map(|(_, slot)| (slot, Err(e.clone())))
                    .collect();
                return (answers, Vec::new());
            }
        };
        let mut new_idem: HashMap<String, IdemRecord> = HashMap::new();
        let mut journal: Vec<u8> = Vec::new();
        let mut cases = self.cases.load(Ordering::SeqCst);
        let mut timers = self.timers.load(Ordering::SeqCst);
        let mut applied: Vec<(CaseId, u64)> = Vec::new();
        for (op, _) in &ops {
            results.push(self.stage(
                op,
                &mut batch,
                (&idem, &mut new_idem, &mut journal),
                &mut cases,
                &mut timers,
                &mut applied,
            ));
        }
        let journal_seq = self.journal_next.get();
        if !journal.is_empty() {
            let mut record = Vec::with_capacity(journal.len() + 1);
            record.push(FORMAT_VERSION);
            record.extend_from_slice(&journal);
            batch.insert(&journal_key(journal_seq)[..], record);
            batch.insert(META_JOURNAL, &(journal_seq + 1).to_be_bytes()[..]);
        }
        // Number the events in commit order and index them by sequence.
        let base = self.feed.next_sequence();
        let mut events: Vec<Arc<CaseEvent>> = Vec::new();
        // One feed record per group: sequence `base + i` is entry `i`.
        let mut feed_entries: Vec<u8> = vec![FORMAT_VERSION];
        for ((op, _), r) in ops.iter().zip(results.iter_mut()) {
            let enc = match (op, &*r) {
                (Op::Create { enc, .. }, Ok(Outcome::Created(Created::New { .. })))
                | (Op::Update(enc), Ok(Outcome::Written { .. })) => enc,
                _ => continue,
            };
            let sequence = base + events.len() as u64;
            feed_entries.extend_from_slice(&enc.case_id.to_be_bytes());
            feed_entries.extend_from_slice(&enc.event.seq.to_be_bytes());
            *r = Ok(match op {
                Op::Create { .. } => Outcome::Created(Created::New { sequence }),
                _ => Outcome::Written { sequence },
            });
            events.push(enc.event.clone());
        }
        let feed_next = base + events.len() as u64;
        if !events.is_empty() {
            batch.insert(&feed_key(base)[..], feed_entries);
        }
        let counted = self.count_moves(&ops, &results, &mut batch);
        batch.insert(META_CASES, &cases.to_be_bytes()[..]);
        batch.insert(META_TIMERS, &timers.to_be_bytes()[..]);
        batch.insert(META_FEED, &feed_next.to_be_bytes()[..]);
        let written = self.data.apply_batch(batch).map_err(io);
        if written.is_ok() {
            self.apply_counts(counted);
            self.index(&ops, &results);
        }
        if written.is_ok() {
            self.cases.store(cases, Ordering::SeqCst);
            self.timers.store(timers, Ordering::SeqCst);
            if !new_idem.is_empty() {
                self.journal_next.set(journal_seq + 1);
                for rec in new_idem.values() {
                    idem.insert(
                        idem_digest(&rec.key),
                        (payload_prefix(&rec.hash), rec.case_id),
                    );
                }
            }
        }
        if let Ok(mut o) = self.overlay.lock() {
            for (id, version) in &applied {
                if o.get(id).is_some_and(|p| p.case.version <= *version) {
                    o.remove(id);
                }
            }
        }
        let answers = ops
            .into_iter()
            .zip(results)
            .map(|((_, slot), r)| {
                let r = match &written {
                    Ok(()) => r,
                    Err(e) => Err(e.clone()),
                };
                (slot, r)
            })
            .collect();
        (answers, if written.is_ok() { events } else { Vec::new() })
    }

    /// Puts the listing-index row of every case this batch wrote.
    fn index(&self, ops: &[Queued], results: &[Result<Outcome, StoreError>]) {
        for ((op, _), r) in ops.iter().zip(results) {
            match (op, r) {
                (Op::Create { enc, .. }, Ok(Outcome::Created(Created::New { .. })))
                | (Op::Update(enc), Ok(Outcome::Written { .. })) => self.summaries.put(&enc.entry),
                _ => {}
            }
        }
    }

    /// The counter changes of the successful writes of this batch, with
    /// the changed counters staged in `batch` (applied to memory once the
    /// batch is written); empty when nothing moves.
    fn count_moves(
        &self,
        ops: &[Queued],
        results: &[Result<Outcome, StoreError>],
        batch: &mut sled::Batch,
    ) -> Vec<(StateKey, i64)> {
        let mut deltas: Vec<(StateKey, i64)> = Vec::new();
        let mut add = |key: &StateKey, d: i64| match deltas.iter_mut().find(|(k, _)| k == key) {
            Some((_, n)) => *n += d,
            None => deltas.push((key.clone(), d)),
        };
        for ((op, _), r) in ops.iter().zip(results) {
            let enc = match (op, r) {
                (Op::Create { enc, .. }, Ok(Outcome::Created(Created::New { .. })))
                | (Op::Update(enc), Ok(Outcome::Written { .. })) => enc,
                _ => continue,
            };
            if let Some((from, to)) = &enc.moves {
                if let Some(from) = from {
                    add(from, -1);
                }
                add(to, 1);
            }
        }
        deltas.retain(|(_, d)| *d != 0);
        if deltas.is_empty() {
            return deltas;
        }
        let Ok(counts) = self.counts.lock() else {
            return Vec::new();
        };
        for (key, d) in &deltas {
            let now = counts.get(key).copied().unwrap_or(0);
            match now.saturating_add_signed(*d) {
                0 => batch.remove(count_key(&key.0, &key.1)),
                n => batch.insert(count_key(&key.0, &key.1), &n.to_be_bytes()[..]),
            }
        }
        deltas
    }

    /// Applies written counter changes to the counters in memory.
    fn apply_counts(&self, deltas: Vec<(StateKey, i64)>) {
        if deltas.is_empty() {
            return;
        }
        if let Ok(mut counts) = self.counts.lock() {
            for (key, d) in deltas {
                let n = counts
                    .get(&key)
                    .copied()
                    .unwrap_or(0)
                    .saturating_add_signed(d);
                if n == 0 {
                    counts.remove(&key);
                } else {
                    counts.insert(key, n);
                }
            }
        }
    }

    fn stage_encoded(batch: &mut sled::Batch, enc: &Encoded, timers: &mut u64) {
        for k in &enc.remove_timers {
            batch.remove(&k[..]);
        }
        for (k, v) in &enc.add_timers {
            batch.insert(&k[..], v.as_slice());
        }
        *timers =
            (*timers + enc.add_timers.len() as u64).saturating_sub(enc.remove_timers.len() as u64);
        if let Some((k, v)) = &enc.archive {
            batch.insert(&k[..], v.as_slice());
        }
        batch.insert(&case_key(enc.case_id)[..], &enc.record[..]);
    }

    fn stage(
        &self,
        op: &Op,
        batch: &mut sled::Batch,
        (index, new_idem, journal): (&IdemIndex, &mut HashMap<String, IdemRecord>, &mut Vec<u8>),
        cases: &mut u64,
        timers: &mut u64,
        applied: &mut Vec<(CaseId, u64)>,
    ) -> Result<Outcome, StoreError> {
        match op {
            Op::Create { enc, idem } => {
                if let Some(rec) = idem {
                    if let Some(old) = new_idem.get(&rec.key) {
                        return Ok(Outcome::Created(Created::Existing {
                            case_id: old.case_id,
                            same_payload: old.hash == rec.hash,
                        }));
                    }
                    let digest = idem_digest(&rec.key);
                    let known = index.get(&digest).copied();
                    if let Some(existing) = confirm_idem(&self.data, known, rec)? {
                        return Ok(Outcome::Created(existing));
                    }
                    journal.extend_from_slice(&digest.to_be_bytes());
                    journal.extend_from_slice(&payload_prefix(&rec.hash).to_be_bytes());
                    journal.extend_from_slice(&rec.case_id.to_be_bytes());
                    new_idem.insert(rec.key.clone(), rec.clone());
                }
                *cases += 1;
                Self::stage_encoded(batch, enc, timers);
                Ok(Outcome::Created(Created::New { sequence: 0 }))
            }
            Op::Update(enc) => {
                Self::stage_encoded(batch, enc, timers);
                applied.push((enc.case_id, enc.version));
                Ok(Outcome::Written { sequence: 0 })
            }
            Op::DropTimer(k) => {
                if self.data.contains_key(k).map_err(io)? {
                    *timers = timers.saturating_sub(1);
                }
                batch.remove(&k[..]);
                Ok(Outcome::Done)
            }
            Op::Flush | Op::Backup(..) => Ok(Outcome::Done),
        }
    }
}

impl CaseStore for SledStore {
    fn next_id(&self) -> Result<CaseId, StoreError> {
        Ok(self.next_case.fetch_add(1, Ordering::SeqCst))
    }

    fn existing(&self, idem: &IdemRecord) -> Result<Option<Created>, StoreError> {
        let known = self
            .idem
            .lock()
            .map_err(|_| internal("the idempotency index is poisoned"))?
            .get(&idem_digest(&idem.key))
            .copied();
        confirm_idem(&self.data, known, idem)
    }

    fn case(&self, id: CaseId) -> Result<Option<Case>, StoreError> {
        if let Some(c) = self
            .overlay
            .lock()
            .map_err(|_| internal("overlay poisoned"))?
            .get(&id)
        {
            return Ok(Some(c.case.clone()));
        }
        match self.data.get(case_key(id)).map_err(io)? {
            Some(v) => Ok(Some(record_case(&v)?)),
            None => Ok(None),
        }
    }

    fn create(&self, change: Change, idem: Option<IdemRecord>) -> Result<Pending, StoreError> {
        let enc = Encoded::new(None, &change, None)?;
        self.submit(Op::Create { enc, idem })
    }

    fn update(
        &self,
        before: &Case,
        change: Change,
        fired: Option<Timer>,
    ) -> Result<Pending, StoreError> {
        let mut overlay = self
            .overlay
            .lock()
            .map_err(|_| internal("overlay poisoned"))?;
        // The record being replaced: pending in the overlay, or applied.
        let (old_record, stored_version): (Arc<[u8]>, u64) = match overlay.get(&before.id) {
            Some(p) => (p.record.clone(), p.case.version),
            None => match self.data.get(case_key(before.id)).map_err(io)? {
                Some(v) => (Arc::from(&v[..]), record_version(&v)?),
                None => return Err(StoreError::not_found(format!("no case `{}`", before.id))),
            },
        };
        if stored_version != before.version {
            return Err(StoreError::conflict(format!(
                "case `{}` is at version {stored_version}, not {}",
                before.id, before.version
            )));
        }
        let enc = Encoded::new(Some((before, &old_record)), &change, fired.as_ref())?;
        let entry = overlay.entry(change.case.id).or_insert_with(|| Pending_ {
            case: change.case.clone(),
            record: enc.record.clone(),
            archived: Vec::new(),
        });
        entry.case = change.case;
        entry.record = enc.record.clone();
        if let Some((_, bytes)) = &enc.archive {
            entry
                .archived
                .push((before.next_event.saturating_sub(1), bytes.clone()));
        }
        // Submit while holding the overlay lock, so the queue order matches.
        let pending = self.submit(Op::Update(enc));
        drop(overlay);
        pending
    }

    fn events(&self, id: CaseId) -> Result<Vec<CaseEvent>, StoreError> {
        let mut by_seq: std::collections::BTreeMap<u64, CaseEvent> =
            std::collections::BTreeMap::new();
        let (record, pending) = {
            let o = self
                .overlay
                .lock()
                .map_err(|_| internal("overlay poisoned"))?;
            match o.get(&id) {
                Some(p) => (Some(p.record.clone()), p.archived.clone()),
                None => (None, Vec::new()),
            }
        };
        for kv in self.data.scan_prefix(event_prefix(id)) {
            let e: CaseEvent = decode(&kv.map_err(io)?.1)?;
            by_seq.insert(e.seq, e);
        }
        for (seq, bytes) in pending {
            by_seq.insert(seq, decode(&bytes)?);
        }
        let record = match record {
            Some(r) => Some(r),
            None => self
                .data
                .get(case_key(id))
                .map_err(io)?
                .map(|v| Arc::from(&v[..])),
        };
        if let Some(r) = record {
            let e = record_event(&r)?;
            by_seq.insert(e.seq, e);
        }
        Ok(by_seq.into_values().collect())
    }

    fn scan_cases(&self, f: &mut dyn FnMut(Case) -> bool) -> Result<(), StoreError> {
        for kv in self.data.scan_prefix([CASE]) {
            let (_, v) = kv.map_err(io)?;
            if !f(record_case(&v)?) {
                break;
            }
        }
        Ok(())
    }

    fn scan_cases_from(
        &self,
        from: CaseId,
        f: &mut dyn FnMut(Case) -> bool,
    ) -> Result<(), StoreError> {
        let end = [CASE + 1];
        for kv in self.data.range(&case_key(from)[..]..&end[..]) {
            let (_, v) = kv.map_err(io)?;
            if !f(record_case(&v)?) {
                break;
            }
        }
        Ok(())
    }

    fn case_count(&self) -> u64 {
        self.cases.load(Ordering::SeqCst)
    }

    fn find(
        &self,
        filter: &wangge_store::CaseFilter,
        from: CaseId,
        limit: usize,
    ) -> Result<Option<wangge_store::Found>, StoreError> {
        Ok(self.summaries.find(filter, from, limit))
    }

    fn find_by_deadline(
        &self,
        filter: &wangge_store::CaseFilter,
        after: (Timestamp, CaseId),
        limit: usize,
    ) -> Result<Option<Vec<(Timestamp, CaseId)>>, StoreError> {
        Ok(self.summaries.find_by_deadline(filter, after, limit))
    }

    fn state_counts(&self) -> Result<StateCounts, StoreError> {
        Ok(self
            .counts
            .lock()
            .map_err(|_| internal("the state counters are poisoned"))?
            .clone())
    }

    fn flush(&self) -> Result<(), StoreError> {
        self.submit(Op::Flush)?.wait().map(|_| ())
    }
}

impl CaseFacts for SledStore {
    fn scan_facts(
        &self,
        from: CaseId,
        to: CaseId,
        f: &mut dyn FnMut(&CaseFact<'_>) -> bool,
    ) -> Result<(), StoreError> {
        // From the in-memory index once it is built: no record is read.
        if let Some(done) = self.summaries.scan_facts(from, to, f) {
            return done;
        }
        self.scan_facts_from_records(from, to, f)
    }
}

impl SledStore {
    /// The facts decoded from the stored records (before the index is built).
    pub(crate) fn scan_facts_from_records(
        &self,
        from: CaseId,
        to: CaseId,
        f: &mut dyn FnMut(&CaseFact<'_>) -> bool,
    ) -> Result<(), StoreError> {
        for kv in self.data.range(&case_key(from)[..]..&case_key(to)[..]) {
            let (_, v) = kv.map_err(io)?;
            if !f(&CaseFact::from_json(split_record(&v)?.0)?) {
                break;
            }
        }
        Ok(())
    }
}

impl TimerQueue for SledStore {
    fn drop_timer(&self, timer: Timer) -> Result<Pending, StoreError> {
        self.submit(Op::DropTimer(timer_key(
            timer.due,
            timer.case_id,
            timer.slot,
        )))
    }

    fn due(&self, now: Timestamp, max: usize) -> Result<Vec<Timer>, StoreError> {
        let start = [TIMER];
        let end = timer_key(now, u64::MAX, u32::MAX);
        let mut out = Vec::new();
        for kv in self.data.range(&start[..]..=&end[..]).take(max) {
            let (k, v) = kv.map_err(io)?;
            let bad = || corrupt("bad timer key");
            let mut due = [0u8; 8];
            let mut id = [0u8; 8];
            let mut slot = [0u8; 4];
            due.copy_from_slice(k.get(1..9).ok_or_else(bad)?);
            id.copy_from_slice(k.get(9..17).ok_or_else(bad)?);
            slot.copy_from_slice(k.get(17..21).ok_or_else(bad)?);
            out.push(Timer {
                due: (u64::from_be_bytes(due) ^ (1 << 63)) as i64,
                case_id: u64::from_be_bytes(id),
                slot: u32::from_be_bytes(slot),
                deadline: decode(&v)?,
            });
        }
        Ok(out)
    }

    fn timer_count(&self) -> u64 {
        self.timers.load(Ordering::SeqCst)
    }
}

impl ChangeFeed for SledStore {
    fn feed(&self) -> &Feed {
        &self.feed
    }

    fn history(&self, from: u64, max: usize) -> Result<Vec<(u64, Arc<CaseEvent>)>, StoreError> {
        let mut out = Vec::new();
        // The group record holding `from` starts at or before it.
        let start = match self
            .data
            .range(&feed_key(0)[..]..=&feed_key(from)[..])
            .next_back()
        {
            Some(kv) => kv.map_err(io)?.0.to_vec(),
            None => feed_key(from).to_vec(),
        };
        let end = [FEED + 1];
        for kv in self.data.range(&start[..]..&end[..]) {
            let (k, v) = kv.map_err(io)?;
            for (seq, case_id, event_seq) in feed_group(&k, &v)? {
                if seq < from {
                    continue;
                }
                if out.len() == max {
                    return Ok(out);
                }
                out.push((seq, Arc::new(self.event(case_id, event_seq)?)));
            }
        }
        Ok(out)
    }
}

/// The entries of one feed group record: (sequence, case id, event seq).
fn feed_group(key: &[u8], value: &[u8]) -> Result<Vec<(u64, CaseId, u64)>, StoreError> {
    let bad = || corrupt("a feed record of the wrong shape");
    let first = key
        .get(1..9)
        .and_then(|b| b.try_into().ok())
        .map(u64::from_be_bytes)
        .ok_or_else(bad)?;
    let body = match value.split_first() {
        Some((&FORMAT_VERSION, rest)) if rest.len() % 16 == 0 => rest,
        _ => return Err(bad()),
    };
    Ok(body
        .chunks_exact(16)
        .enumerate()
        .map(|(i, e)| {
            let word = |j: usize| {
                let mut b = [0u8; 8];
                b.copy_from_slice(&e[j..j + 8]);
                u64::from_be_bytes(b)
            };
            (first + i as u64, word(0), word(8))
        })
        .collect())
}

impl SledStore {
    /// One stored event: in the case's log, or the case record's latest.
    fn event(&self, case_id: CaseId, seq: u64) -> Result<CaseEvent, StoreError> {
        // The writer moves a record's event to the log when it replaces
        // it, so look in the log, then the record, then the log again.
        for _ in 0..2 {
            if let Some(v) = self.data.get(event_key(case_id, seq)).map_err(io)? {
                return decode(&v);
            }
            if let Some(v) = self.data.get(case_key(case_id)).map_err(io)? {
                let e = record_event(&v)?;
                if e.seq == seq {
                    return Ok(e);
                }
            }
        }
        Err(corrupt(format!(
            "the change feed names event {seq} of case `{case_id}`, which is not stored"
        )))
    }
}

impl Settings for SledStore {
    fn setting(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.settings.get(name).map_err(io)?.map(|v| v.to_vec()))
    }

    fn put_setting(&self, name: &str, value: &[u8]) -> Result<(), StoreError> {
        let _quiet = self.quiet()?;
        self.settings.insert(name, value).map_err(io)?;
        self.durable()
    }
}

impl PolicyVersions for SledStore {
    fn put_policy(&self, hash: &str, record: &[u8]) -> Result<(), StoreError> {
        let _quiet = self.quiet()?;
        self.policies.insert(hash.as_bytes(), record).map_err(io)?;
        self.durable()
    }

    fn policies(&self) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        self.policies
            .iter()
            .map(|kv| {
                let (k, v) = kv.map_err(io)?;
                Ok((String::from_utf8_lossy(&k).into_owned(), v.to_vec()))
            })
            .collect()
    }
}

impl OrgRegistry for SledStore {
    fn put_units(&self, units: &[Unit]) -> Result<(), StoreError> {
        let _quiet = self.quiet()?;
        self.units_cache.put(&self.units, units)?;
        self.durable()
    }

    fn units(&self) -> Result<Vec<Unit>, StoreError> {
        self.units_cache.read(&self.units)
    }

    fn has_unit(&self, id: &str) -> Result<bool, StoreError> {
        self.units.contains_key(id.as_bytes()).map_err(io)
    }

    fn unit(&self, id: &str) -> Result<Option<Unit>, StoreError> {
        match self.units.get(id.as_bytes()).map_err(io)? {
            Some(bytes) => Ok(Some(decode(&bytes)?)),
            None => Ok(None),
        }
    }

    fn put_people(&self, people: &[Person]) -> Result<(), StoreError> {
        let _quiet = self.quiet()?;
        self.people_cache.put(&self.people, people)?;
        self.durable()
    }

    fn people(&self) -> Result<Vec<Person>, StoreError> {
        self.people_cache.read(&self.people)
    }

    fn person(&self, id: &str) -> Result<Option<Person>, StoreError> {
        match self.people.get(id.as_bytes()).map_err(io)? {
            Some(bytes) => Ok(Some(decode(&bytes)?)),
            None => Ok(None),
        }
    }
}

/// A registry tree (units, people) kept in memory once read: evaluation
/// and settlements read all of it. A write merges into it, loading it
/// first if need be, so an import leaves it warm.
struct Registry<T> {
    cache: Mutex<Option<Arc<Vec<T>>>>,
    id: fn(&T) -> &str,
}

impl<T: Clone + serde::Serialize + serde::de::DeserializeOwned> Registry<T> {
    fn new(id: fn(&T) -> &str) -> Self {
        Registry {
            cache: Mutex::new(None),
            id,
        }
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Option<Arc<Vec<T>>>>, StoreError> {
        self.cache
            .lock()
            .map_err(|_| internal("a registry cache is poisoned"))
    }

    fn load(tree: &sled::Tree) -> Result<Vec<T>, StoreError> {
        tree.iter().map(|kv| decode(&kv.map_err(io)?.1)).collect()
    }

    /// Writes `items` by id and merges them into the cache (in the tree's
    /// key order), under the cache's lock.
    fn put(&self, tree: &sled::Tree, items: &[T]) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        for item in items {
            batch.insert((self.id)(item).as_bytes(), encode(item)?);
        }
        let mut cache = self.lock()?;
        let before = match cache.take() {
            Some(all) => Arc::unwrap_or_clone(all),
            None => Self::load(tree)?,
        };
        tree.apply_batch(batch).map_err(io)?;
        let mut merged: std::collections::BTreeMap<Vec<u8>, T> = before
            .into_iter()
            .map(|t| ((self.id)(&t).as_bytes().to_vec(), t))
            .collect();
        for item in items {
            merged.insert((self.id)(item).as_bytes().to_vec(), item.clone());
        }
        *cache = Some(Arc::new(merged.into_values().collect()));
        Ok(())
    }

    fn read(&self, tree: &sled::Tree) -> Result<Vec<T>, StoreError> {
        let mut cache = self.lock()?;
        if let Some(all) = cache.as_ref() {
            return Ok(all.as_ref().clone());
        }
        let all = Self::load(tree)?;
        *cache = Some(Arc::new(all.clone()));
        Ok(all)
    }
}

impl LedgerSpace for SledStore {
    fn ledger_put(&self, pairs: Vec<(Vec<u8>, Vec<u8>)>) -> Result<(), StoreError> {
        let _quiet = self.quiet()?;
        let mut batch = sled::Batch::default();
        for (k, v) in pairs {
            batch.insert(k, v);
        }
        self.ledger.apply_batch(batch).map_err(io)?;
        self.durable()
    }

    fn ledger_put_unflushed(&self, pairs: Vec<(Vec<u8>, Vec<u8>)>) -> Result<(), StoreError> {
        let _quiet = self.quiet()?;
        let mut batch = sled::Batch::default();
        for (k, v) in pairs {
            batch.insert(k, v);
        }
        self.ledger.apply_batch(batch).map_err(io)
    }

    fn ledger_get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.ledger.get(key).map_err(io)?.map(|v| v.to_vec()))
    }

    fn ledger_scan(
        &self,
        prefix: &[u8],
        f: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), StoreError> {
        for kv in self.ledger.scan_prefix(prefix) {
            let (k, v) = kv.map_err(io)?;
            if !f(&k, &v) {
                break;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod conformance_temporary {
    wangge_store::conformance_suite!(Box::new(super::SledStore::temporary().unwrap()));
}

#[cfg(test)]
mod conformance_on_disk {
    /// A store in a fresh folder on disk (the folder lives as long as it).
    struct OnDisk {
        store: super::SledStore,
        _dir: tempfile::TempDir,
    }

    impl std::ops::Deref for OnDisk {
        type Target = super::SledStore;
        fn deref(&self) -> &super::SledStore {
            &self.store
        }
    }

    fn on_disk() -> OnDisk {
        let dir = tempfile::tempdir().unwrap();
        OnDisk {
            store: super::SledStore::open(dir.path(), 8 << 20).unwrap(),
            _dir: dir,
        }
    }

    wangge_store::conformance_suite!(on_disk());
}

#[cfg(test)]
mod permissions {
    use std::os::unix::fs::PermissionsExt;

    /// Residents' data must not be readable by other users of the machine.
    #[test]
    fn the_data_folder_and_its_files_are_private_to_the_owner() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        let store = super::SledStore::open(&dir, 1 << 20).unwrap();
        drop(store);
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700, "the folder");
        for entry in walk(&dir) {
            let m = mode(&entry);
            let want = if entry.is_dir() { 0o700 } else { 0o600 };
            assert_eq!(m, want, "{}", entry.display());
        }
    }

    fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                out.extend(walk(&p));
            }
            out.push(p);
        }
        out
    }
}

#[cfg(test)]
mod tests_restart;
