//! Cases on PostgreSQL: a case, its event, its timer, its idempotency key
//! and its change-feed row written together; an update is a
//! compare-and-swap on the case's version (no in-process lock is relied
//! on for correctness). Group commit: one writer task takes every queued
//! write into one transaction of a few multi-row statements (a refused
//! key or a stale version is found by the statement and leaves the
//! others), takes the batch's feed sequences last, commits once, then
//! publishes the events in feed order and answers each.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use wangge_policy::{Case, CaseEvent, CaseId, Change, Timestamp};
use wangge_store::{
    decode, encode, timers_of, CaseFact, CaseFacts, CaseStore, ChangeFeed, Created, Feed,
    IdemRecord, Outcome, Pending, Slot, StateCounts, StoreError, Timer, TimerQueue,
};

use crate::follow::{Follower, CHANNEL};
use crate::sql::{self, Stats};
use crate::{client, db_error, PgStore};

/// Rows a scan reads at a time.
const PAGE: i64 = 1000;

pub(crate) fn int(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// A change's rows, encoded before the transaction.
pub(crate) struct Rows {
    id: i64,
    version: i64,
    workflow: String,
    state: String,
    case: Vec<u8>,
    event_seq: i64,
    event: Vec<u8>,
    timers: Vec<(i32, i64, Vec<u8>)>,
}

impl Rows {
    fn of(change: &Change) -> Result<Rows, StoreError> {
        let timers = timers_of(&change.case)
            .iter()
            .map(|t| {
                Ok((
                    i32::try_from(t.slot).unwrap_or(i32::MAX),
                    t.due,
                    encode(&t.deadline)?,
                ))
            })
            .collect::<Result<_, StoreError>>()?;
        Ok(Rows {
            id: int(change.case.id),
            version: int(change.case.version),
            workflow: change.case.workflow.clone(),
            state: change.case.state.clone(),
            case: encode(&change.case)?,
            event_seq: int(change.event.seq),
            event: encode(&change.event)?,
            timers,
        })
    }
}

/// Whether a retry's payload hash is the stored one: the whole hash, or
/// its first 16 hex digits for keys copied from sled (which keeps those).
fn same_payload(stored: &str, retried: &str) -> bool {
    stored.len() >= 16 && retried.starts_with(stored)
}

/// What became of a job in its batch's transaction.
#[derive(Clone)]
enum Fate {
    Done,
    Existing { case_id: CaseId, same_payload: bool },
    Missing,
    Stale(i64),
}

/// A write queued for the writer.
pub(crate) struct Job {
    kind: JobKind,
    event: CaseEvent,
    slot: Arc<Slot>,
}

enum JobKind {
    Create(Box<Rows>, Option<IdemRecord>),
    Update(Box<Rows>, i64),
}

/// A guarded ledger write queued for the writer (`LedgerSpace::ledger_swap`):
/// it lands in the writer's next transaction, so it shares its commit.
pub(crate) struct Swap {
    guard: Vec<u8>,
    expected: Option<Vec<u8>>,
    keys: Vec<Vec<u8>>,
    values: Vec<Vec<u8>>,
    answer: std::sync::mpsc::SyncSender<Result<bool, StoreError>>,
}

/// What the writer takes from its queue.
pub(crate) enum Queued {
    Case(Box<Job>),
    Swap(Swap),
}

impl Job {
    fn rows(&self) -> &Rows {
        match &self.kind {
            JobKind::Create(rows, _) | JobKind::Update(rows, _) => rows,
        }
    }
}

/// What the writer needs besides its queue.
pub(crate) struct Writer {
    pub(crate) pool: deadpool_postgres::Pool,
    pub(crate) schema: String,
    pub(crate) follower: Arc<Follower>,
    pub(crate) stats: Arc<Stats>,
    /// Whether the database has `pg_notify` (not CockroachDB).
    pub(crate) notify: bool,
    /// How long a batch may take before its calls are `unavailable`.
    pub(crate) timeout: std::time::Duration,
    /// This server's name: its own notifications are not read back.
    pub(crate) owner: String,
}

/// Writes queued jobs, many to a transaction, until the queue closes.
pub(crate) async fn writer(w: Writer, mut jobs: tokio::sync::mpsc::UnboundedReceiver<Queued>) {
    while let Some(first) = jobs.recv().await {
        let (mut batch, mut swaps) = (Vec::new(), Vec::new());
        let mut next = Some(first);
        while let Some(q) = next.take() {
            match q {
                Queued::Case(j) => batch.push(*j),
                Queued::Swap(s) => swaps.push(s),
            }
            if batch.len() + swaps.len() < 512 {
                next = jobs.try_recv().ok();
            }
        }
        write_batch(&w, batch, swaps).await;
    }
}

/// One transaction for `batch` and `swaps`; each answered after the commit.
async fn write_batch(w: &Writer, batch: Vec<Job>, swaps: Vec<Swap>) {
    let started = std::time::Instant::now();
    let written = crate::within(w.timeout, transact(w, &batch, &swaps)).await;
    w.stats.record(started, written.is_ok());
    let (fates, first, swapped) = match written {
        Ok(done) => done,
        Err(e) => {
            for job in batch {
                job.slot.set(Err(e.clone()));
            }
            for s in swaps {
                let _ = s.answer.send(Err(e.clone()));
            }
            return;
        }
    };
    for (s, wrote) in swaps.into_iter().zip(swapped) {
        let _ = s.answer.send(Ok(wrote));
    }
    w.stats
        .batches
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    w.stats
        .batched_writes
        .fetch_add(batch.len() as u64, std::sync::atomic::Ordering::Relaxed);
    let mut sequence = first;
    let mut published = Vec::new();
    let mut answers = Vec::with_capacity(batch.len());
    for (job, fate) in batch.into_iter().zip(fates) {
        let result = match fate {
            Fate::Done => {
                published.push(Arc::new(job.event));
                sequence += 1;
                let sequence = sequence - 1;
                Ok(match job.kind {
                    JobKind::Create(..) => Outcome::Created(Created::New { sequence }),
                    JobKind::Update(..) => Outcome::Written { sequence },
                })
            }
            Fate::Existing {
                case_id,
                same_payload,
            } => Ok(Outcome::Created(Created::Existing {
                case_id,
                same_payload,
            })),
            Fate::Missing => Err(StoreError::not_found(format!(
                "no case `{}`",
                job.event.case_id
            ))),
            Fate::Stale(at) => Err(StoreError::conflict(format!(
                "case `{}` is at version {at}, not the one the change was made on",
                job.event.case_id
            ))),
        };
        answers.push((job.slot, result));
    }
    // Published first, so a caller that has its answer finds its event on
    // the feed.
    w.follower.publish_own(first, published).await;
    for (slot, result) in answers {
        slot.set(result);
    }
}

/// The batch's transaction: what became of each job, the first feed
/// sequence of those written, and whether each swap wrote.
async fn transact(
    w: &Writer,
    batch: &[Job],
    swaps: &[Swap],
) -> Result<(Vec<Fate>, u64, Vec<bool>), StoreError> {
    let (schema, stats) = (w.schema.as_str(), &*w.stats);
    let mut c = client(&w.pool).await?;
    let tx = c.transaction().await.map_err(|e| db_error(e, "begin"))?;
    let mut fates: Vec<Option<Fate>> = vec![None; batch.len()];
    create_cases(&tx, stats, schema, batch, &mut fates).await?;
    update_cases(&tx, stats, schema, batch, &mut fates).await?;
    let mut swapped = Vec::with_capacity(swaps.len());
    for s in swaps {
        swapped.push(swap_in(&tx, stats, schema, s).await?);
    }
    let fates: Vec<Fate> = fates
        .into_iter()
        .map(|f| f.ok_or_else(|| StoreError::internal("a write was not attempted")))
        .collect::<Result<_, _>>()?;
    let done: Vec<&Job> = batch
        .iter()
        .zip(&fates)
        .filter(|(_, f)| matches!(f, Fate::Done))
        .map(|(j, _)| j)
        .collect();
    let first = write_rest(&tx, w, &done).await?;
    tx.commit().await.map_err(|e| db_error(e, "commit"))?;
    Ok((fates, first, swapped))
}

/// A guarded ledger write in one statement: the guard's row rewritten
/// only where it still holds the value read (a concurrent writer's commit
/// makes the update re-check it, and then nothing is written) — or, when
/// it was absent, claimed by inserting it (`ON CONFLICT DO NOTHING`: the
/// second of two claims waits for the first and finds it) — and then every
/// other pair upserted. Whether it wrote.
async fn swap_in(
    tx: &deadpool_postgres::Transaction<'_>,
    stats: &Stats,
    schema: &str,
    s: &Swap,
) -> Result<bool, StoreError> {
    let Some(at) = s.keys.iter().position(|k| *k == s.guard) else {
        return Err(StoreError::internal(
            "a guarded ledger write must write its guard",
        ));
    };
    let guard_write = match &s.expected {
        Some(_) => format!(
            "UPDATE {schema}.ledger SET value = $2 WHERE key = $1 AND value = $5 RETURNING 1"
        ),
        None => format!(
            "INSERT INTO {schema}.ledger (key, value) SELECT $1, $2 WHERE $5::bytea IS NULL \
             ON CONFLICT (key) DO NOTHING RETURNING 1"
        ),
    };
    let sql = format!(
        "WITH g AS ({guard_write}), \
         w AS (INSERT INTO {schema}.ledger (key, value) \
             SELECT k, v FROM unnest($3::bytea[], $4::bytea[]) AS x(k, v) \
             WHERE k <> $1 AND EXISTS (SELECT 1 FROM g) \
             ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value) \
         SELECT count(*) FROM g"
    );
    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 5] =
        [&s.guard, &s.values[at], &s.keys, &s.values, &s.expected];
    let rows = sql::rows_on(tx, stats, &sql, &params, "ledger").await?;
    Ok(rows.first().is_some_and(|r| r.get::<_, i64>(0) == 1))
}

/// Writes the creates in one statement: their idempotency keys claimed
/// (`ON CONFLICT DO NOTHING`), and for each create whose key was claimed
/// (or that has none) its case row, its event and its timer. A key held
/// before, or earlier in this batch, makes its job `Existing`.
async fn create_cases(
    tx: &deadpool_postgres::Transaction<'_>,
    stats: &Stats,
    schema: &str,
    batch: &[Job],
    fates: &mut [Option<Fate>],
) -> Result<(), StoreError> {
    let (mut keys, mut hashes, mut key_ids) = (Vec::new(), Vec::new(), Vec::new());
    let (mut ids, mut versions, mut workflows, mut states, mut records, mut keyed) = (
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
    );
    let (mut e_seqs, mut events) = (Vec::new(), Vec::new());
    let (mut t_ids, mut slots, mut dues, mut t_records) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for job in batch {
        let JobKind::Create(rows, idem) = &job.kind else {
            continue;
        };
        if let Some(idem) = idem {
            keys.push(idem.key.as_bytes());
            hashes.push(idem.hash.as_str());
            key_ids.push(rows.id);
        }
        ids.push(rows.id);
        versions.push(rows.version);
        workflows.push(rows.workflow.as_str());
        states.push(rows.state.as_str());
        records.push(rows.case.as_slice());
        keyed.push(idem.is_some());
        e_seqs.push(rows.event_seq);
        events.push(rows.event.as_slice());
        for (slot, due, record) in &rows.timers {
            t_ids.push(rows.id);
            slots.push(*slot);
            dues.push(*due);
            t_records.push(record.as_slice());
        }
    }
    if ids.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "WITH k AS (INSERT INTO {schema}.idempotency (key, hash, case_id) \
             SELECT * FROM unnest($1::bytea[], $2::text[], $3::bigint[]) \
             ON CONFLICT (key) DO NOTHING RETURNING case_id), \
         u AS (SELECT * FROM unnest($4::bigint[], $5::bigint[], $6::text[], $7::text[], \
             $8::bytea[], $9::bool[], $10::bigint[], $11::bytea[]) \
             AS u(id, version, workflow, state, record, keyed, seq, event)), \
         c AS (INSERT INTO {schema}.cases (id, version, workflow, state, record) \
             SELECT id, version, workflow, state, record FROM u \
             WHERE NOT keyed OR id IN (SELECT case_id FROM k) RETURNING id), \
         e AS (INSERT INTO {schema}.events (case_id, seq, record) \
             SELECT id, seq, event FROM u WHERE id IN (SELECT id FROM c)), \
         t AS (INSERT INTO {schema}.timers (case_id, slot, due, record) \
             SELECT * FROM unnest($12::bigint[], $13::integer[], $14::bigint[], $15::bytea[]) \
             AS t(case_id, slot, due, record) WHERE case_id IN (SELECT id FROM c)) \
         SELECT id FROM c"
    );
    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 15] = [
        &keys, &hashes, &key_ids, &ids, &versions, &workflows, &states, &records, &keyed, &e_seqs,
        &events, &t_ids, &slots, &dues, &t_records,
    ];
    let created: HashSet<i64> = sql::rows_on(tx, stats, &sql, &params, "create cases")
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let missed: Vec<&[u8]> = batch
        .iter()
        .filter_map(|j| match &j.kind {
            JobKind::Create(rows, Some(idem)) if !created.contains(&rows.id) => {
                Some(idem.key.as_bytes())
            }
            _ => None,
        })
        .collect();
    let held: HashMap<Vec<u8>, (i64, String)> = if missed.is_empty() {
        HashMap::new()
    } else {
        let sql =
            format!("SELECT key, case_id, hash FROM {schema}.idempotency WHERE key = ANY($1)");
        sql::rows_on(tx, stats, &sql, &[&missed], "idempotency")
            .await?
            .iter()
            .map(|r| (r.get(0), (r.get(1), r.get(2))))
            .collect()
    };
    for (job, fate) in batch.iter().zip(fates.iter_mut()) {
        let JobKind::Create(rows, idem) = &job.kind else {
            continue;
        };
        *fate = Some(match idem {
            _ if created.contains(&rows.id) => Fate::Done,
            Some(idem) => {
                let (case_id, hash) = held.get(idem.key.as_bytes()).ok_or_else(|| {
                    StoreError::internal(format!("idempotency key of case `{}` vanished", rows.id))
                })?;
                Fate::Existing {
                    case_id: id_of(*case_id)?,
                    same_payload: same_payload(hash, &idem.hash),
                }
            }
            None => {
                return Err(StoreError::internal(format!(
                    "case `{}` was not created",
                    rows.id
                )))
            }
        });
    }
    Ok(())
}

/// Applies the updates as compare-and-swaps on the version; a case
/// changed twice in one batch takes one round per change.
async fn update_cases(
    tx: &deadpool_postgres::Transaction<'_>,
    stats: &Stats,
    schema: &str,
    batch: &[Job],
    fates: &mut [Option<Fate>],
) -> Result<(), StoreError> {
    let sql = format!(
        "UPDATE {schema}.cases AS c SET version = u.version, state = u.state, record = u.record \
         FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::bytea[], $5::bigint[]) \
           AS u(id, version, state, record, expected) \
         WHERE c.id = u.id AND c.version = u.expected RETURNING c.id"
    );
    let check = format!("SELECT id, version FROM {schema}.cases WHERE id = ANY($1)");
    let mut todo: Vec<usize> = (0..batch.len())
        .filter(|&i| matches!(batch[i].kind, JobKind::Update(..)))
        .collect();
    while !todo.is_empty() {
        let mut seen = HashSet::new();
        let (round, later): (Vec<usize>, Vec<usize>) =
            todo.iter().partition(|&&i| seen.insert(batch[i].rows().id));
        todo = later;
        let (mut ids, mut versions, mut states, mut records, mut expected) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for &i in &round {
            if let JobKind::Update(rows, before) = &batch[i].kind {
                ids.push(rows.id);
                versions.push(rows.version);
                states.push(rows.state.as_str());
                records.push(rows.case.as_slice());
                expected.push(*before);
            }
        }
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 5] =
            [&ids, &versions, &states, &records, &expected];
        let updated: HashSet<i64> = sql::rows_on(tx, stats, &sql, &params, "update cases")
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect();
        let missed: Vec<i64> = ids
            .iter()
            .filter(|id| !updated.contains(id))
            .copied()
            .collect();
        let found: HashMap<i64, i64> = if missed.is_empty() {
            HashMap::new()
        } else {
            sql::rows_on(tx, stats, &check, &[&missed], "case")
                .await?
                .iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect()
        };
        for &i in &round {
            let id = batch[i].rows().id;
            fates[i] = Some(if updated.contains(&id) {
                Fate::Done
            } else {
                found.get(&id).map_or(Fate::Missing, |v| Fate::Stale(*v))
            });
        }
    }
    Ok(())
}

/// Writes the done updates' events and their cases' timers, then the feed
/// rows of every done job in one statement that takes the sequences from
/// `feed_head` (last, so its row lock is held only until the commit that
/// follows) and notifies the other servers. Returns the first sequence.
async fn write_rest(
    tx: &deadpool_postgres::Transaction<'_>,
    w: &Writer,
    done: &[&Job],
) -> Result<u64, StoreError> {
    let (schema, stats) = (w.schema.as_str(), &*w.stats);
    if done.is_empty() {
        return Ok(0);
    }
    let updated: Vec<&Job> = done
        .iter()
        .copied()
        .filter(|j| matches!(j.kind, JobKind::Update(..)))
        .collect();
    if !updated.is_empty() {
        let ids: Vec<i64> = updated.iter().map(|j| j.rows().id).collect();
        let seqs: Vec<i64> = updated.iter().map(|j| j.rows().event_seq).collect();
        let events: Vec<&[u8]> = updated.iter().map(|j| j.rows().event.as_slice()).collect();
        // A case's timers are those of its last change in the batch.
        let mut last: HashMap<i64, &Rows> = HashMap::new();
        for j in &updated {
            last.insert(j.rows().id, j.rows());
        }
        let (mut t_ids, mut slots, mut dues, mut records) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for rows in last.values() {
            for (slot, due, record) in &rows.timers {
                t_ids.push(rows.id);
                slots.push(*slot);
                dues.push(*due);
                records.push(record.as_slice());
            }
        }
        let sql = format!(
            "WITH e AS (INSERT INTO {schema}.events (case_id, seq, record) \
                 SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bytea[])), \
             d AS (DELETE FROM {schema}.timers WHERE case_id = ANY($1)) \
             SELECT 1"
        );
        sql::rows_on(tx, stats, &sql, &[&ids, &seqs, &events], "events").await?;
        if !t_ids.is_empty() {
            let sql = format!(
                "INSERT INTO {schema}.timers (case_id, slot, due, record) \
                 SELECT * FROM unnest($1::bigint[], $2::integer[], $3::bigint[], $4::bytea[])"
            );
            sql::execute_on(
                tx,
                stats,
                &sql,
                &[&t_ids, &slots, &dues, &records],
                "timers",
            )
            .await?;
        }
    }
    let ids: Vec<i64> = done.iter().map(|j| j.rows().id).collect();
    let seqs: Vec<i64> = done.iter().map(|j| j.rows().event_seq).collect();
    let n = int(done.len() as u64);
    let notify = if w.notify {
        format!("pg_notify('{CHANNEL}', $4)")
    } else {
        "$4".to_string()
    };
    let sql = format!(
        "WITH h AS (UPDATE {schema}.feed_head SET next = next + $1 WHERE one = 1 \
             RETURNING next - $1 AS first), \
         f AS (INSERT INTO {schema}.feed (sequence, case_id, seq) \
             SELECT h.first + x.n - 1, x.case_id, x.seq FROM h, \
             unnest($2::bigint[], $3::bigint[]) WITH ORDINALITY AS x(case_id, seq, n)) \
         SELECT first, {notify}::text FROM h"
    );
    let payload = format!("{schema}:{}", w.owner);
    let first: i64 = sql::rows_on(tx, stats, &sql, &[&n, &ids, &seqs, &payload], "feed")
        .await?
        .first()
        .map(|r| r.get(0))
        .ok_or_else(|| StoreError::corrupt(format!("`{schema}.feed_head` has no row")))?;
    u64::try_from(first).map_err(|_| StoreError::corrupt(format!("feed sequence {first}")))
}

impl PgStore {
    /// Queues a write for the writer; its answer comes through the slot.
    fn queue(&self, kind: JobKind, event: CaseEvent) -> Result<Pending, StoreError> {
        let slot = Arc::new(Slot::default());
        let job = Job {
            kind,
            event,
            slot: slot.clone(),
        };
        self.jobs
            .send(Queued::Case(Box::new(job)))
            .map_err(|_| StoreError::unavailable("the store's writer has stopped"))?;
        Ok(Pending::on(slot))
    }

    /// Queues a guarded ledger write and waits for its commit.
    pub(crate) fn swap(
        &self,
        guard: Vec<u8>,
        expected: Option<Vec<u8>>,
        keys: Vec<Vec<u8>>,
        values: Vec<Vec<u8>>,
    ) -> Result<bool, StoreError> {
        let (answer, answered) = std::sync::mpsc::sync_channel(1);
        let swap = Swap {
            guard,
            expected,
            keys,
            values,
            answer,
        };
        self.jobs
            .send(Queued::Swap(swap))
            .map_err(|_| StoreError::unavailable("the store's writer has stopped"))?;
        answered
            .recv()
            .map_err(|_| StoreError::unavailable("the store's writer has stopped"))?
    }
}

impl CaseStore for PgStore {
    fn next_id(&self) -> Result<CaseId, StoreError> {
        self.take_id()
    }

    fn existing(&self, idem: &IdemRecord) -> Result<Option<Created>, StoreError> {
        let key = idem.key.as_bytes().to_vec();
        let rows = self.query(
            |s| format!("SELECT case_id, hash FROM {s}.idempotency WHERE key = $1"),
            vec![Box::new(key)],
            "idempotency",
        )?;
        rows.first()
            .map(|r| {
                Ok(Created::Existing {
                    case_id: id_of(r.get(0))?,
                    same_payload: same_payload(r.get(1), &idem.hash),
                })
            })
            .transpose()
    }

    fn case(&self, id: CaseId) -> Result<Option<Case>, StoreError> {
        let rows = self.query(
            |s| format!("SELECT record FROM {s}.cases WHERE id = $1"),
            vec![Box::new(int(id))],
            "case",
        )?;
        rows.first()
            .map(|r| decode(r.get::<_, &[u8]>(0)))
            .transpose()
    }

    fn create(&self, change: Change, idem: Option<IdemRecord>) -> Result<Pending, StoreError> {
        let rows = Rows::of(&change)?;
        self.queue(JobKind::Create(Box::new(rows), idem), change.event)
    }

    fn update(
        &self,
        before: &Case,
        change: Change,
        fired: Option<Timer>,
    ) -> Result<Pending, StoreError> {
        let _ = fired; // the case's timers are rewritten with it
        let rows = Rows::of(&change)?;
        self.queue(
            JobKind::Update(Box::new(rows), int(before.version)),
            change.event,
        )
    }

    fn events(&self, id: CaseId) -> Result<Vec<CaseEvent>, StoreError> {
        let rows = self.query(
            |s| format!("SELECT record FROM {s}.events WHERE case_id = $1 ORDER BY seq"),
            vec![Box::new(int(id))],
            "events",
        )?;
        rows.iter().map(|r| decode(r.get::<_, &[u8]>(0))).collect()
    }

    fn scan_cases(&self, f: &mut dyn FnMut(Case) -> bool) -> Result<(), StoreError> {
        self.scan_cases_from(0, f)
    }

    fn scan_cases_from(
        &self,
        from: CaseId,
        f: &mut dyn FnMut(Case) -> bool,
    ) -> Result<(), StoreError> {
        self.scan_pages(int(from), i64::MAX, &mut |case| f(case))
    }

    fn case_count(&self) -> u64 {
        self.count("cases")
    }

    fn state_counts(&self) -> Result<StateCounts, StoreError> {
        let rows = self.query(
            |s| format!("SELECT workflow, state, count(*) FROM {s}.cases GROUP BY workflow, state"),
            Vec::new(),
            "counts",
        )?;
        rows.iter()
            .map(|r| Ok(((r.get(0), r.get(1)), stored(r.get(2), "count")?)))
            .collect()
    }

    fn flush(&self) -> Result<(), StoreError> {
        // Every write is committed before it is answered.
        Ok(())
    }

    fn shared(&self) -> bool {
        true
    }
}

/// A stored id, sequence, slot or count as the ports hold it; a value
/// out of its range (negative) is damage, not a zero.
pub(crate) fn stored<T: TryFrom<i64>>(v: i64, what: &str) -> Result<T, StoreError> {
    T::try_from(v).map_err(|_| StoreError::corrupt(format!("a stored {what} is {v}")))
}

fn id_of(v: i64) -> Result<u64, StoreError> {
    stored(v, "case id")
}

impl PgStore {
    /// Calls `f` with each case with an id in `[from, to)`, in id order,
    /// a page at a time, until it returns false.
    fn scan_pages(
        &self,
        mut from: i64,
        to: i64,
        f: &mut dyn FnMut(Case) -> bool,
    ) -> Result<(), StoreError> {
        loop {
            let page = self.query(
                |s| {
                    format!(
                        "SELECT id, record FROM {s}.cases WHERE id >= $1 AND id < $2 \
                         ORDER BY id LIMIT $3"
                    )
                },
                vec![Box::new(from), Box::new(to), Box::new(PAGE)],
                "cases",
            )?;
            let Some(last) = page.last().map(|r| r.get::<_, i64>(0)) else {
                return Ok(());
            };
            for r in &page {
                if !f(decode(r.get::<_, &[u8]>(1))?) {
                    return Ok(());
                }
            }
            from = last + 1;
        }
    }

    /// Rows of `table`. The ports' counts have no error to give: when the
    /// database cannot say, the failure is logged and 0 is answered.
    fn count(&self, table: &'static str) -> u64 {
        let counted = self
            .query(
                |s| format!("SELECT count(*) FROM {s}.{table}"),
                Vec::new(),
                table,
            )
            .and_then(|rows| match rows.first() {
                Some(r) => stored(r.get(0), "count"),
                None => Err(StoreError::internal("count(*) returned no row")),
            });
        counted.unwrap_or_else(|e| {
            tracing::error!(table, error = %e, "counting rows failed");
            0
        })
    }
}

impl CaseFacts for PgStore {
    fn scan_facts(
        &self,
        from: CaseId,
        to: CaseId,
        f: &mut dyn FnMut(&CaseFact<'_>) -> bool,
    ) -> Result<(), StoreError> {
        self.scan_pages(int(from), int(to), &mut |case| f(&CaseFact::of(&case)))
    }
}

impl TimerQueue for PgStore {
    /// Claims up to `max` due timers for this server (a lease of
    /// [`crate::PgOptions::lease`]): timers nobody holds, this server's
    /// own, and those whose holder's lease ran out (a takeover, counted).
    /// Rows another server is claiming right now are skipped, not waited
    /// for.
    fn due(&self, now: Timestamp, max: usize) -> Result<Vec<Timer>, StoreError> {
        let lease_ms = i64::try_from(self.options.lease.as_millis()).unwrap_or(i64::MAX);
        let rows = self.query(
            |s| {
                format!(
                    "WITH c AS (SELECT case_id, slot, lease_owner, lease_until < now() AS expired \
                       FROM {s}.timers \
                       WHERE due <= $1 AND (lease_until IS NULL OR lease_until < now() OR lease_owner = $3) \
                       ORDER BY due, case_id, slot LIMIT $2 FOR UPDATE SKIP LOCKED) \
                     UPDATE {s}.timers t SET lease_owner = $3, lease_until = now() + $4 * interval '1 millisecond' \
                     FROM c WHERE t.case_id = c.case_id AND t.slot = c.slot \
                     RETURNING t.case_id, t.slot, t.due, t.record, c.lease_owner, c.expired"
                )
            },
            vec![
                Box::new(now),
                Box::new(int(max as u64)),
                Box::new(self.owner.clone()),
                Box::new(lease_ms as f64),
            ],
            "timers",
        )?;
        let mut timers = Vec::with_capacity(rows.len());
        for r in &rows {
            let holder: Option<&str> = r.get(4);
            let expired: Option<bool> = r.get(5);
            if holder.is_some_and(|h| h != self.owner) && expired == Some(true) {
                self.stats
                    .lease_takeovers
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            timers.push(Timer {
                case_id: id_of(r.get(0))?,
                slot: u32::try_from(r.get::<_, i32>(1))
                    .map_err(|_| StoreError::corrupt("a stored timer slot is negative"))?,
                due: r.get(2),
                deadline: decode(r.get::<_, &[u8]>(3))?,
            });
        }
        timers.sort_by_key(|t| (t.due, t.case_id, t.slot));
        Ok(timers)
    }

    fn earliest_due(&self) -> Result<Option<Timestamp>, StoreError> {
        let rows = self.query(
            |s| format!("SELECT min(due) FROM {s}.timers"),
            Vec::new(),
            "timers",
        )?;
        Ok(rows.first().and_then(|r| r.get::<_, Option<i64>>(0)))
    }

    fn drop_timer(&self, t: Timer) -> Result<Pending, StoreError> {
        let slot = i32::try_from(t.slot).unwrap_or(i32::MAX);
        self.query(
            |s| format!("DELETE FROM {s}.timers WHERE case_id = $1 AND slot = $2 AND due = $3"),
            vec![Box::new(int(t.case_id)), Box::new(slot), Box::new(t.due)],
            "timers",
        )?;
        Ok(Pending::ready(Ok(Outcome::Done)))
    }

    fn timer_count(&self) -> u64 {
        self.count("timers")
    }
}

impl ChangeFeed for PgStore {
    fn feed(&self) -> &Feed {
        &self.feed
    }

    fn history(&self, from: u64, max: usize) -> Result<Vec<(u64, Arc<CaseEvent>)>, StoreError> {
        let rows = self.query(
            |s| {
                format!(
                    "SELECT f.sequence, e.record FROM {s}.feed f \
                     JOIN {s}.events e ON e.case_id = f.case_id AND e.seq = f.seq \
                     WHERE f.sequence >= $1 ORDER BY f.sequence LIMIT $2"
                )
            },
            vec![Box::new(int(from)), Box::new(int(max as u64))],
            "feed",
        )?;
        rows.iter()
            .map(|r| {
                Ok((
                    stored(r.get(0), "feed sequence")?,
                    Arc::new(decode(r.get::<_, &[u8]>(1))?),
                ))
            })
            .collect()
    }
}
