//! The PostgreSQL backend of the storage ports (issue [8/10], in progress):
//! several servers on one database. So far: connecting, the schema
//! migrations kept in `migrations/` (applied at start, a newer schema
//! refused), the organisation registry, policy versions, the ledger space
//! under the typed ledgers, settings, and cases with their events, timers,
//! idempotency keys and change feed (`cases`) — the conformance suite
//! passes; case writes are group-committed by one writer task. Feed
//! sequences and case ids handed out by the database (for several
//! servers) and timer leases follow.
//!
//! Driver: tokio-postgres with a deadpool pool, on a runtime of the
//! store's own. The ports are synchronous (the services call them from
//! their own threads and from the blocking pool); each call is spawned on
//! the store's runtime and its answer waited for on a plain channel, so no
//! call ever starts a runtime inside another, whichever thread it comes
//! from. sqlx was the other candidate: its compile-time checked queries
//! need a database at build time (or a checked-in cache), and its pool
//! and runtime would be shared with tonic's; tokio-postgres is the
//! lower-level, widely used driver (pipelining, binary COPY later for
//! `store copy`), and deadpool's pool is small and predictable.

mod cases;
mod migrate;
mod registry;

use std::future::Future;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use wangge_store::StoreError;

pub use migrate::{MIGRATIONS, SCHEMA_VERSION};

/// A PostgreSQL store: a pool of connections to one database and schema.
pub struct PgStore {
    pool: Pool,
    /// The driver's runtime (taken in `Drop`: shut down without waiting,
    /// so a store may be dropped from any thread, async ones included).
    runtime: Option<tokio::runtime::Runtime>,
    schema: String,
    /// The change feed this process's watchers read.
    feed: std::sync::Arc<wangge_store::Feed>,
    /// Writes queued for the writer task (group commit).
    jobs: tokio::sync::mpsc::UnboundedSender<cases::Job>,
    next_id: std::sync::atomic::AtomicU64,
}

/// A database error as the ports report it: a connection that cannot be
/// made or was lost is `unavailable` (a retry may succeed); a unique or
/// check constraint is a conflict; anything else is internal. The message
/// carries the server's SQLSTATE and text.
pub(crate) fn db_error(e: tokio_postgres::Error, what: &str) -> StoreError {
    match e.as_db_error() {
        Some(db) => {
            let text = format!("{} ({}): {}", what, db.code().code(), db.message());
            let class = &db.code().code()[..2];
            match class {
                // 23: integrity constraint; 40: serialization failure, deadlock.
                "23" | "40" => StoreError::conflict(format!("PostgreSQL refused {text}")),
                // 08: connection; 57: operator intervention (shutdown).
                "08" | "57" => {
                    StoreError::unavailable(format!("PostgreSQL is unavailable: {text}"))
                }
                _ => StoreError::internal(format!("PostgreSQL failed: {text}")),
            }
        }
        None => StoreError::unavailable(format!("PostgreSQL is unavailable ({what}): {e}")),
    }
}

/// Whether `s` is a plain SQL identifier (a schema name we put in SQL).
fn plain_identifier(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !s.starts_with(|c: char| c.is_ascii_digit())
}

impl PgStore {
    /// Connects to `url` (`postgres://user@host:port/db`), using `schema`
    /// (created when missing), and brings the schema to this build's
    /// version. A URL that does not parse, a database that cannot be
    /// reached within `timeout`, or a schema newer than this build knows
    /// is an error that says so.
    pub fn connect(url: &str, schema: &str, timeout: Duration) -> Result<PgStore, StoreError> {
        if !plain_identifier(schema) {
            return Err(StoreError::internal(format!(
                "`{schema}` is not a plain schema name (letters, digits, `_`)"
            )));
        }
        let config: tokio_postgres::Config = url.parse().map_err(|e| {
            StoreError::unavailable(format!("`{}` is not a PostgreSQL URL: {e}", redact(url)))
        })?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("wangge-postgres")
            .enable_all()
            .build()
            .map_err(|e| StoreError::internal(format!("cannot start the database runtime: {e}")))?;
        let mut config = config;
        config.connect_timeout(timeout);
        let manager = Manager::from_config(
            config,
            tokio_postgres::NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(16)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(timeout))
            .create_timeout(Some(timeout))
            .build()
            .map_err(|e| StoreError::internal(format!("cannot build the connection pool: {e}")))?;
        let mut store = PgStore {
            pool,
            runtime: Some(runtime),
            schema: schema.to_string(),
            feed: std::sync::Arc::new(wangge_store::Feed::new(1, 0)),
            jobs: tokio::sync::mpsc::unbounded_channel().0,
            next_id: std::sync::atomic::AtomicU64::new(1),
        };
        store.run(|pool, schema| async move { migrate::migrate(&pool, &schema).await })?;
        let (next_id, next_seq) = store.run(|pool, schema| async move {
            let c = client(&pool).await?;
            let sql = format!(
                "SELECT (SELECT coalesce(max(id), 0) + 1 FROM {schema}.cases), \
                        (SELECT coalesce(max(sequence), 0) + 1 FROM {schema}.feed)"
            );
            let r = c
                .query_one(&sql, &[])
                .await
                .map_err(|e| db_error(e, "open"))?;
            Ok((r.get::<_, i64>(0), r.get::<_, i64>(1)))
        })?;
        store.next_id = std::sync::atomic::AtomicU64::new(u64::try_from(next_id).unwrap_or(1));
        store.feed = std::sync::Arc::new(wangge_store::Feed::new(
            u64::try_from(next_seq).unwrap_or(1),
            65_536,
        ));
        let (jobs, queue) = tokio::sync::mpsc::unbounded_channel();
        store.jobs = jobs;
        if let Some(rt) = &store.runtime {
            rt.spawn(cases::writer(
                store.pool.clone(),
                store.schema.clone(),
                store.feed.clone(),
                queue,
            ));
        }
        Ok(store)
    }

    /// Runs `f` on the store's runtime and waits for it (from any thread).
    pub(crate) fn run<T, F, Fut>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(Pool, String) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, StoreError>> + Send + 'static,
    {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let pool = self.pool.clone();
        let schema = self.schema.clone();
        let Some(runtime) = &self.runtime else {
            return Err(StoreError::internal("the store is closed"));
        };
        runtime.spawn(async move {
            let _ = tx.send(f(pool, schema).await);
        });
        rx.recv()
            .map_err(|_| StoreError::internal("a database call was dropped"))?
    }

    /// The schema this store works in.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// Drops the store's schema and everything in it (tests).
    pub fn drop_schema(&self) -> Result<(), StoreError> {
        self.run(|pool, schema| async move {
            let c = client(&pool).await?;
            c.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                .await
                .map_err(|e| db_error(e, "drop schema"))
        })
    }
}

impl Drop for PgStore {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// A pooled connection with its search path on the store's schema.
pub(crate) async fn client(pool: &Pool) -> Result<deadpool_postgres::Object, StoreError> {
    pool.get()
        .await
        .map_err(|e| StoreError::unavailable(format!("PostgreSQL is unavailable: {e}")))
}

/// A URL without its password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests;
