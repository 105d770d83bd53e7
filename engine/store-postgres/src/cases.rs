//! Cases on PostgreSQL: a case, its event, its timer, its idempotency key
//! and its change-feed row written together; an update is a
//! compare-and-swap on the case's version (no in-process lock is relied
//! on for correctness). Group commit: one writer task takes every queued
//! write into one transaction (each in a savepoint of its own, so a
//! conflict or a retried key leaves the others), commits once, then
//! answers each and publishes the events in feed order. (Several servers
//! sharing the feed — sequences from the database and LISTEN/NOTIFY —
//! come next.)

use std::sync::Arc;

use tokio_postgres::Transaction;
use wangge_policy::{Case, CaseEvent, CaseId, Change, Timestamp};
use wangge_store::{
    decode, encode, timers_of, CaseFact, CaseFacts, CaseStore, ChangeFeed, Created, Feed,
    IdemRecord, Outcome, Pending, Slot, StateCounts, StoreError, Timer, TimerQueue,
};

use crate::{client, db_error, PgStore};

/// Rows a scan reads at a time.
const PAGE: i64 = 1000;

fn int(v: u64) -> i64 {
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

    /// Writes the event, the timers and the feed row (the case row is the
    /// caller's: an insert or a compare-and-swap).
    async fn write_rest(
        &self,
        tx: &Transaction<'_>,
        schema: &str,
        sequence: i64,
    ) -> Result<(), StoreError> {
        let e = |e| db_error(e, "write a case");
        tx.execute(
            &format!("INSERT INTO {schema}.events (case_id, seq, record) VALUES ($1, $2, $3)"),
            &[&self.id, &self.event_seq, &self.event],
        )
        .await
        .map_err(e)?;
        tx.execute(
            &format!("DELETE FROM {schema}.timers WHERE case_id = $1"),
            &[&self.id],
        )
        .await
        .map_err(e)?;
        for (slot, due, record) in &self.timers {
            tx.execute(
                &format!("INSERT INTO {schema}.timers (case_id, slot, due, record) VALUES ($1, $2, $3, $4)"),
                &[&self.id, slot, due, record],
            )
            .await
            .map_err(e)?;
        }
        tx.execute(
            &format!("INSERT INTO {schema}.feed (sequence, case_id, seq) VALUES ($1, $2, $3)"),
            &[&sequence, &self.id, &self.event_seq],
        )
        .await
        .map_err(e)?;
        Ok(())
    }
}

/// What a write transaction found.
enum Written {
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

/// Writes queued jobs, many to a transaction, until the queue closes.
pub(crate) async fn writer(
    pool: deadpool_postgres::Pool,
    schema: String,
    feed: Arc<Feed>,
    mut jobs: tokio::sync::mpsc::UnboundedReceiver<Job>,
) {
    while let Some(first) = jobs.recv().await {
        let mut batch = vec![first];
        while batch.len() < 512 {
            match jobs.try_recv() {
                Ok(j) => batch.push(j),
                Err(_) => break,
            }
        }
        write_batch(&pool, &schema, &feed, batch).await;
    }
}

/// One transaction for `batch`; every job answered after the commit.
async fn write_batch(pool: &deadpool_postgres::Pool, schema: &str, feed: &Feed, batch: Vec<Job>) {
    let mut next = int(feed.next_sequence());
    let mut results: Vec<Result<(Written, i64), StoreError>> = Vec::with_capacity(batch.len());
    let committed = async {
        let mut c = client(pool).await?;
        let mut tx = c.transaction().await.map_err(|e| db_error(e, "begin"))?;
        for job in &batch {
            let sp = tx
                .savepoint("job")
                .await
                .map_err(|e| db_error(e, "savepoint"))?;
            let done = match &job.kind {
                JobKind::Create(rows, idem) => {
                    apply_create(&sp, schema, rows, idem.as_ref(), next).await
                }
                JobKind::Update(rows, expected) => {
                    apply_update(&sp, schema, rows, *expected, next).await
                }
            };
            match done {
                Ok(Written::Done) => {
                    sp.commit().await.map_err(|e| db_error(e, "release"))?;
                    results.push(Ok((Written::Done, next)));
                    next += 1;
                }
                other => {
                    sp.rollback().await.map_err(|e| db_error(e, "rollback"))?;
                    results.push(other.map(|w| (w, 0)));
                }
            }
        }
        tx.commit().await.map_err(|e| db_error(e, "commit"))
    }
    .await;
    let mut published = Vec::new();
    let mut answers = Vec::with_capacity(batch.len());
    for (i, job) in batch.into_iter().enumerate() {
        let result = match (&committed, results.get(i)) {
            (Err(e), _) => Err(e.clone()),
            (Ok(()), Some(Ok((Written::Done, seq)))) => {
                published.push(Arc::new(job.event));
                let sequence = u64::try_from(*seq).unwrap_or(0);
                Ok(match job.kind {
                    JobKind::Create(..) => Outcome::Created(Created::New { sequence }),
                    JobKind::Update(..) => Outcome::Written { sequence },
                })
            }
            (
                Ok(()),
                Some(Ok((
                    Written::Existing {
                        case_id,
                        same_payload,
                    },
                    _,
                ))),
            ) => Ok(Outcome::Created(Created::Existing {
                case_id: *case_id,
                same_payload: *same_payload,
            })),
            (Ok(()), Some(Ok((Written::Missing, _)))) => Err(StoreError::not_found(format!(
                "no case `{}`",
                job.event.case_id
            ))),
            (Ok(()), Some(Ok((Written::Stale(at), _)))) => Err(StoreError::conflict(format!(
                "case `{}` is at version {at}, not the one the change was made on",
                job.event.case_id
            ))),
            (Ok(()), Some(Err(e))) => Err(e.clone()),
            (Ok(()), None) => Err(StoreError::internal("a write was not attempted")),
        };
        answers.push((job.slot, result));
    }
    // Published first, so a caller that has its answer finds its event on
    // the feed.
    feed.publish(published);
    for (slot, result) in answers {
        slot.set(result);
    }
}

async fn apply_create(
    tx: &Transaction<'_>,
    schema: &str,
    rows: &Rows,
    idem: Option<&IdemRecord>,
    sequence: i64,
) -> Result<Written, StoreError> {
    if let Some(idem) = idem {
        let key = idem.key.as_bytes().to_vec();
        let sql = format!(
            "INSERT INTO {schema}.idempotency (key, hash, case_id) VALUES ($1, $2, $3) \
             ON CONFLICT (key) DO NOTHING"
        );
        let n = tx
            .execute(&sql, &[&key, &idem.hash, &rows.id])
            .await
            .map_err(|e| db_error(e, "idempotency"))?;
        if n == 0 {
            let sql = format!("SELECT case_id, hash FROM {schema}.idempotency WHERE key = $1");
            let r = tx
                .query_one(&sql, &[&key])
                .await
                .map_err(|e| db_error(e, "idempotency"))?;
            return Ok(Written::Existing {
                case_id: u64::try_from(r.get::<_, i64>(0)).unwrap_or(0),
                same_payload: r.get::<_, String>(1) == idem.hash,
            });
        }
    }
    tx.execute(
        &format!("INSERT INTO {schema}.cases (id, version, workflow, state, record) VALUES ($1, $2, $3, $4, $5)"),
        &[&rows.id, &rows.version, &rows.workflow, &rows.state, &rows.case],
    )
    .await
    .map_err(|e| db_error(e, "create a case"))?;
    rows.write_rest(tx, schema, sequence).await?;
    Ok(Written::Done)
}

async fn apply_update(
    tx: &Transaction<'_>,
    schema: &str,
    rows: &Rows,
    expected: i64,
    sequence: i64,
) -> Result<Written, StoreError> {
    let n = tx
        .execute(
            &format!(
                "UPDATE {schema}.cases SET version = $2, state = $3, record = $4 WHERE id = $1 AND version = $5"
            ),
            &[&rows.id, &rows.version, &rows.state, &rows.case, &expected],
        )
        .await
        .map_err(|e| db_error(e, "update a case"))?;
    if n == 0 {
        let sql = format!("SELECT version FROM {schema}.cases WHERE id = $1");
        let row = tx
            .query_opt(&sql, &[&rows.id])
            .await
            .map_err(|e| db_error(e, "case"))?;
        return Ok(match row {
            None => Written::Missing,
            Some(r) => Written::Stale(r.get(0)),
        });
    }
    rows.write_rest(tx, schema, sequence).await?;
    Ok(Written::Done)
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
            .send(job)
            .map_err(|_| StoreError::unavailable("the store's writer has stopped"))?;
        Ok(Pending::on(slot))
    }
}

impl CaseStore for PgStore {
    fn next_id(&self) -> Result<CaseId, StoreError> {
        Ok(self
            .next_id
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst))
    }

    fn existing(&self, idem: &IdemRecord) -> Result<Option<Created>, StoreError> {
        let (key, hash) = (idem.key.as_bytes().to_vec(), idem.hash.clone());
        self.run(move |pool, schema| async move {
            let c = client(&pool).await?;
            let sql = format!("SELECT case_id, hash FROM {schema}.idempotency WHERE key = $1");
            let row = c
                .query_opt(&sql, &[&key])
                .await
                .map_err(|e| db_error(e, "idempotency"))?;
            Ok(row.map(|r| Created::Existing {
                case_id: u64::try_from(r.get::<_, i64>(0)).unwrap_or(0),
                same_payload: r.get::<_, String>(1) == hash,
            }))
        })
    }

    fn case(&self, id: CaseId) -> Result<Option<Case>, StoreError> {
        let id = int(id);
        let row = self.run(move |pool, schema| async move {
            let c = client(&pool).await?;
            let sql = format!("SELECT record FROM {schema}.cases WHERE id = $1");
            let row = c
                .query_opt(&sql, &[&id])
                .await
                .map_err(|e| db_error(e, "case"))?;
            Ok(row.map(|r| r.get::<_, Vec<u8>>(0)))
        })?;
        row.map(|b| decode(&b)).transpose()
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
        let id = int(id);
        let rows = self.run(move |pool, schema| async move {
            let c = client(&pool).await?;
            let sql = format!("SELECT record FROM {schema}.events WHERE case_id = $1 ORDER BY seq");
            let rows = c
                .query(&sql, &[&id])
                .await
                .map_err(|e| db_error(e, "events"))?;
            Ok(rows
                .iter()
                .map(|r| r.get::<_, Vec<u8>>(0))
                .collect::<Vec<_>>())
        })?;
        rows.iter().map(|b| decode(b)).collect()
    }

    fn scan_cases(&self, f: &mut dyn FnMut(Case) -> bool) -> Result<(), StoreError> {
        self.scan_cases_from(0, f)
    }

    fn scan_cases_from(
        &self,
        from: CaseId,
        f: &mut dyn FnMut(Case) -> bool,
    ) -> Result<(), StoreError> {
        let mut from = int(from);
        loop {
            let page = self.case_page(from, i64::MAX)?;
            let Some(last) = page.last().map(|(id, _)| *id) else {
                return Ok(());
            };
            for (_, bytes) in &page {
                if !f(decode(bytes)?) {
                    return Ok(());
                }
            }
            from = last + 1;
        }
    }

    fn case_count(&self) -> u64 {
        self.count("cases")
    }

    fn state_counts(&self) -> Result<StateCounts, StoreError> {
        self.run(|pool, schema| async move {
            let c = client(&pool).await?;
            let sql = format!(
                "SELECT workflow, state, count(*) FROM {schema}.cases GROUP BY workflow, state"
            );
            let rows = c
                .query(&sql, &[])
                .await
                .map_err(|e| db_error(e, "counts"))?;
            Ok(rows
                .iter()
                .map(|r| {
                    let n: i64 = r.get(2);
                    ((r.get(0), r.get(1)), u64::try_from(n).unwrap_or(0))
                })
                .collect())
        })
    }

    fn flush(&self) -> Result<(), StoreError> {
        // Every write is committed before it is answered.
        Ok(())
    }
}

impl PgStore {
    /// Up to [`PAGE`] case records with ids in `[from, to)`.
    fn case_page(&self, from: i64, to: i64) -> Result<Vec<(i64, Vec<u8>)>, StoreError> {
        self.run(move |pool, schema| async move {
            let c = client(&pool).await?;
            let sql = format!(
                "SELECT id, record FROM {schema}.cases WHERE id >= $1 AND id < $2 ORDER BY id LIMIT $3"
            );
            let rows = c.query(&sql, &[&from, &to, &PAGE]).await.map_err(|e| db_error(e, "cases"))?;
            Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
        })
    }

    /// Rows of `table` (0 when the database cannot say).
    fn count(&self, table: &'static str) -> u64 {
        let n = self.run(move |pool, schema| async move {
            let c = client(&pool).await?;
            let row = c
                .query_one(&format!("SELECT count(*) FROM {schema}.{table}"), &[])
                .await
                .map_err(|e| db_error(e, table))?;
            Ok(row.get::<_, i64>(0))
        });
        n.map_or(0, |n| u64::try_from(n).unwrap_or(0))
    }
}

impl CaseFacts for PgStore {
    fn scan_facts(
        &self,
        from: CaseId,
        to: CaseId,
        f: &mut dyn FnMut(&CaseFact<'_>) -> bool,
    ) -> Result<(), StoreError> {
        let (mut from, to) = (int(from), int(to));
        loop {
            let page = self.case_page(from, to)?;
            let Some(last) = page.last().map(|(id, _)| *id) else {
                return Ok(());
            };
            for (_, bytes) in &page {
                let case: Case = decode(bytes)?;
                if !f(&CaseFact::of(&case)) {
                    return Ok(());
                }
            }
            from = last + 1;
        }
    }
}

impl TimerQueue for PgStore {
    fn due(&self, now: Timestamp, max: usize) -> Result<Vec<Timer>, StoreError> {
        let max = int(max as u64);
        let rows = self.run(move |pool, schema| async move {
            let c = client(&pool).await?;
            let sql = format!(
                "SELECT case_id, slot, due, record FROM {schema}.timers WHERE due <= $1 \
                 ORDER BY due, case_id, slot LIMIT $2"
            );
            let rows = c
                .query(&sql, &[&now, &max])
                .await
                .map_err(|e| db_error(e, "timers"))?;
            Ok(rows
                .iter()
                .map(|r| {
                    let (id, slot): (i64, i32) = (r.get(0), r.get(1));
                    (id, slot, r.get::<_, i64>(2), r.get::<_, Vec<u8>>(3))
                })
                .collect::<Vec<_>>())
        })?;
        rows.iter()
            .map(|(id, slot, due, b)| {
                Ok(Timer {
                    due: *due,
                    case_id: u64::try_from(*id).unwrap_or(0),
                    slot: u32::try_from(*slot).unwrap_or(0),
                    deadline: decode(b)?,
                })
            })
            .collect()
    }

    fn drop_timer(&self, t: Timer) -> Result<Pending, StoreError> {
        let (id, slot, due) = (
            int(t.case_id),
            i32::try_from(t.slot).unwrap_or(i32::MAX),
            t.due,
        );
        self.run(move |pool, schema| async move {
            let c = client(&pool).await?;
            let sql = format!(
                "DELETE FROM {schema}.timers WHERE case_id = $1 AND slot = $2 AND due = $3"
            );
            c.execute(&sql, &[&id, &slot, &due])
                .await
                .map_err(|e| db_error(e, "timers"))?;
            Ok(())
        })?;
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
        let (from, max) = (int(from), int(max as u64));
        let rows = self.run(move |pool, schema| async move {
            let c = client(&pool).await?;
            let sql = format!(
                "SELECT f.sequence, e.record FROM {schema}.feed f \
                 JOIN {schema}.events e ON e.case_id = f.case_id AND e.seq = f.seq \
                 WHERE f.sequence >= $1 ORDER BY f.sequence LIMIT $2"
            );
            let rows = c
                .query(&sql, &[&from, &max])
                .await
                .map_err(|e| db_error(e, "feed"))?;
            Ok(rows
                .iter()
                .map(|r| (r.get::<_, i64>(0), r.get::<_, Vec<u8>>(1)))
                .collect::<Vec<_>>())
        })?;
        rows.iter()
            .map(|(seq, b)| Ok((u64::try_from(*seq).unwrap_or(0), Arc::new(decode(b)?))))
            .collect()
    }
}
