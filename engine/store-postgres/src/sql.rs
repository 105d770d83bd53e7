//! One place for "a pooled connection, a cached statement, a query, the
//! error mapped": every port method goes through here, and so does the
//! query-latency and pool accounting that `/metrics` reports.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use deadpool_postgres::{GenericClient, Pool};
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;
use wangge_store::StoreError;

use crate::{client, db_error};

/// Counters of the store's database work, read by `/metrics`.
#[derive(Debug, Default)]
pub struct Stats {
    /// Statements and transactions run (a batch's commit counts once).
    pub queries: AtomicU64,
    /// Their total time, in microseconds.
    pub query_micros: AtomicU64,
    /// Statements that failed (any cause).
    pub query_errors: AtomicU64,
    /// Timer leases taken over from another server whose lease ran out.
    pub lease_takeovers: AtomicU64,
    /// Batches the group-commit writer committed, and the writes in them.
    pub batches: AtomicU64,
    pub batched_writes: AtomicU64,
}

impl Stats {
    /// Counts one query that took since `started` and ended `ok` or not.
    pub(crate) fn record(&self, started: Instant, ok: bool) {
        let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.queries.fetch_add(1, Ordering::Relaxed);
        self.query_micros.fetch_add(micros, Ordering::Relaxed);
        if !ok {
            self.query_errors.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Runs `sql` (prepared once per connection) on `c` and returns its rows.
pub(crate) async fn rows_on<C: GenericClient + Sync>(
    c: &C,
    stats: &Stats,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
    what: &str,
) -> Result<Vec<Row>, StoreError> {
    let started = Instant::now();
    let result = async {
        let stmt = c.prepare_cached(sql).await?;
        c.query(&stmt, params).await
    }
    .await;
    stats.record(started, result.is_ok());
    result.map_err(|e| db_error(e, what))
}

/// Runs `sql` on `c` and returns how many rows it changed.
pub(crate) async fn execute_on<C: GenericClient + Sync>(
    c: &C,
    stats: &Stats,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
    what: &str,
) -> Result<u64, StoreError> {
    let started = Instant::now();
    let result = async {
        let stmt = c.prepare_cached(sql).await?;
        c.execute(&stmt, params).await
    }
    .await;
    stats.record(started, result.is_ok());
    result.map_err(|e| db_error(e, what))
}

/// Runs `sql` on a pooled connection and returns its rows.
pub(crate) async fn rows(
    pool: &Pool,
    stats: &Stats,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
    what: &str,
) -> Result<Vec<Row>, StoreError> {
    let c = client(pool).await?;
    rows_on(&c, stats, sql, params, what).await
}
