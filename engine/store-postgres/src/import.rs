//! Bulk import into an empty schema (`wangge store copy`): cases with
//! their events, timers, idempotency keys and change feed, written as
//! multi-row statements a few thousand rows at a time, then the id
//! sequence and the feed head moved past what was copied.

use wangge_policy::{Case, CaseEvent};
use wangge_store::{encode, timers_of, IdemRecord, StoreError};

use crate::cases::int;
use crate::{sql, PgStore};

/// What one import call writes (one transaction).
#[derive(Default)]
pub struct ImportBatch {
    pub cases: Vec<Case>,
    pub events: Vec<CaseEvent>,
    /// Idempotency records; `hash` may be a 16-hex-digit prefix of the
    /// payload hash (what sled keeps), which retries are compared against.
    pub keys: Vec<IdemRecord>,
    /// `(sequence, case id, event seq)` rows of the change feed.
    pub feed: Vec<(u64, u64, u64)>,
}

impl PgStore {
    /// Whether the schema holds no case, feed row, registry or ledger entry.
    pub fn is_empty(&self) -> Result<bool, StoreError> {
        let rows = self.query(
            |s| {
                format!(
                    "SELECT (SELECT count(*) FROM {s}.cases) + (SELECT count(*) FROM {s}.feed) \
                     + (SELECT count(*) FROM {s}.units) + (SELECT count(*) FROM {s}.people) \
                     + (SELECT count(*) FROM {s}.ledger) + (SELECT count(*) FROM {s}.policies)"
                )
            },
            Vec::new(),
            "count",
        )?;
        Ok(rows.first().is_some_and(|r| r.get::<_, i64>(0) == 0))
    }

    /// Writes `batch` in one transaction.
    pub fn import(&self, batch: ImportBatch) -> Result<(), StoreError> {
        let mut cases = (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut timers = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for c in &batch.cases {
            cases.0.push(int(c.id));
            cases.1.push(int(c.version));
            cases.2.push(c.workflow.clone());
            cases.3.push(c.state.clone());
            cases.4.push(encode(c)?);
            for t in timers_of(c) {
                timers.0.push(int(t.case_id));
                timers.1.push(i32::try_from(t.slot).unwrap_or(i32::MAX));
                timers.2.push(t.due);
                timers.3.push(encode(&t.deadline)?);
            }
        }
        let mut events = (Vec::new(), Vec::new(), Vec::new());
        for e in &batch.events {
            events.0.push(int(e.case_id));
            events.1.push(int(e.seq));
            events.2.push(encode(e)?);
        }
        let keys: (Vec<Vec<u8>>, Vec<String>, Vec<i64>) = (
            batch
                .keys
                .iter()
                .map(|k| k.key.as_bytes().to_vec())
                .collect(),
            batch.keys.iter().map(|k| k.hash.clone()).collect(),
            batch.keys.iter().map(|k| int(k.case_id)).collect(),
        );
        let feed: (Vec<i64>, Vec<i64>, Vec<i64>) = (
            batch.feed.iter().map(|f| int(f.0)).collect(),
            batch.feed.iter().map(|f| int(f.1)).collect(),
            batch.feed.iter().map(|f| int(f.2)).collect(),
        );
        let stats = self.stats_handle();
        self.run(move |pool, s| async move {
            let mut c = crate::client(&pool).await?;
            let tx = c
                .transaction()
                .await
                .map_err(|e| crate::db_error(e, "begin"))?;
            let put = |table: &str, cols: &str, types: &str| {
                format!("INSERT INTO {s}.{table} ({cols}) SELECT * FROM unnest({types})")
            };
            let sql = put(
                "cases",
                "id, version, workflow, state, record",
                "$1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::bytea[]",
            );
            sql::rows_on(
                &tx,
                &stats,
                &sql,
                &[&cases.0, &cases.1, &cases.2, &cases.3, &cases.4],
                "cases",
            )
            .await?;
            let sql = put(
                "events",
                "case_id, seq, record",
                "$1::bigint[], $2::bigint[], $3::bytea[]",
            );
            sql::rows_on(
                &tx,
                &stats,
                &sql,
                &[&events.0, &events.1, &events.2],
                "events",
            )
            .await?;
            let sql = put(
                "timers",
                "case_id, slot, due, record",
                "$1::bigint[], $2::integer[], $3::bigint[], $4::bytea[]",
            );
            sql::rows_on(
                &tx,
                &stats,
                &sql,
                &[&timers.0, &timers.1, &timers.2, &timers.3],
                "timers",
            )
            .await?;
            let sql = put(
                "idempotency",
                "key, hash, case_id",
                "$1::bytea[], $2::text[], $3::bigint[]",
            );
            sql::rows_on(
                &tx,
                &stats,
                &sql,
                &[&keys.0, &keys.1, &keys.2],
                "idempotency",
            )
            .await?;
            let sql = put(
                "feed",
                "sequence, case_id, seq",
                "$1::bigint[], $2::bigint[], $3::bigint[]",
            );
            sql::rows_on(&tx, &stats, &sql, &[&feed.0, &feed.1, &feed.2], "feed").await?;
            tx.commit().await.map_err(|e| crate::db_error(e, "commit"))
        })
    }

    /// After the last batch: case ids and feed sequences go on past the
    /// highest copied.
    pub fn finish_import(&self) -> Result<(), StoreError> {
        self.query(
            |s| {
                format!(
                    "SELECT setval('{s}.case_ids', (SELECT coalesce(max(id), 0) + 1 FROM {s}.cases), false)"
                )
            },
            Vec::new(),
            "case ids",
        )?;
        self.query(
            |s| {
                format!(
                    "UPDATE {s}.feed_head SET next = (SELECT coalesce(max(sequence), 0) + 1 FROM {s}.feed)"
                )
            },
            Vec::new(),
            "feed head",
        )?;
        Ok(())
    }
}
