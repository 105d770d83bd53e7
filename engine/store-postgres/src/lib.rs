//! The PostgreSQL backend of the storage ports (issue [8/10], in progress):
//! several servers on one database. This first part: connecting, the
//! schema migrations kept in `migrations/` (applied at start, a newer
//! schema refused), and the ports that are not about cases — the
//! organisation registry, policy versions, the ledger space under the
//! typed ledgers (activity, settlements, points, scores, audit, tasks),
//! and settings. Cases, timers with leases and the change feed follow.
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

mod migrate;
mod registry;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use wangge_store::StoreError;

pub use migrate::{MIGRATIONS, SCHEMA_VERSION};

/// A PostgreSQL store: a pool of connections to one database and schema.
pub struct PgStore {
    pool: Pool,
    runtime: Arc<tokio::runtime::Runtime>,
    schema: String,
}

/// A database error as the ports report it: a connection that cannot be
/// made or was lost is `unavailable` (a retry may succeed); a constraint
/// is a conflict; anything else is internal.
pub(crate) fn db_error(e: impl std::fmt::Display, what: &str) -> StoreError {
    let text = e.to_string();
    let lost = [
        "connection",
        "closed",
        "timed out",
        "refused",
        "reset",
        "broken pipe",
    ]
    .iter()
    .any(|w| text.to_lowercase().contains(w));
    if lost {
        StoreError::unavailable(format!("PostgreSQL is unavailable ({what}): {text}"))
    } else {
        StoreError::internal(format!("PostgreSQL failed ({what}): {text}"))
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
        let store = PgStore {
            pool,
            runtime: Arc::new(runtime),
            schema: schema.to_string(),
        };
        store.run(|pool, schema| async move { migrate::migrate(&pool, &schema).await })?;
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
        self.runtime.spawn(async move {
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
