//! The PostgreSQL backend of the storage ports ([8/10]): any number of
//! servers on one database. Migrations kept in `migrations/` (applied at
//! start, a newer schema refused); cases group-committed by one writer
//! task per server in multi-row statements, with the change feed ordered
//! by commit across servers (`cases`); every server's watchers fed in
//! that order (`follow`: own commits, LISTEN/NOTIFY, polling); timers
//! claimed with leases; guarded ledger writes for the audit chain, points
//! and settlements (`registry`); bulk import for `wangge store copy`
//! (`import`). docs/postgresql.md says what is shared and how, and which
//! SQL features are used.
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
mod follow;
mod import;
mod migrate;
mod registry;
mod sql;

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use wangge_store::{Feed, StoreError};

pub use import::ImportBatch;
pub use migrate::{MIGRATIONS, SCHEMA_VERSION};
pub use sql::Stats;

/// A statement parameter moved into a database call.
pub(crate) type Param = Box<dyn tokio_postgres::types::ToSql + Send + Sync>;

/// How a [`PgStore`] connects and shares the database with other servers.
#[derive(Debug, Clone)]
pub struct PgOptions {
    /// The schema the store works in (created when missing).
    pub schema: String,
    /// How long to wait for a connection before a call is `unavailable`.
    pub timeout: Duration,
    /// How long a claimed timer stays this server's: after that, another
    /// server may take it over (this one is presumed dead).
    pub lease: Duration,
    /// Connections in the pool.
    pub pool_size: usize,
    /// How often the change feed is read for other servers' events when
    /// no notification came (LISTEN/NOTIFY makes it prompt where the
    /// database has it; this is the fallback, e.g. on CockroachDB).
    pub poll: Duration,
}

impl PgOptions {
    /// The defaults for `schema`: 5 s to connect or answer, 30 s leases,
    /// 16 connections, the feed polled every 500 ms.
    pub fn new(schema: &str) -> PgOptions {
        PgOptions {
            schema: schema.to_string(),
            timeout: Duration::from_secs(5),
            lease: Duration::from_secs(30),
            pool_size: 16,
            poll: Duration::from_millis(500),
        }
    }
}

/// A PostgreSQL store: a pool of connections to one database and schema.
pub struct PgStore {
    pool: Pool,
    /// The driver's runtime (taken in `Drop`: shut down without waiting,
    /// so a store may be dropped from any thread, async ones included).
    runtime: Option<tokio::runtime::Runtime>,
    options: PgOptions,
    /// This server's name on the timers it claims.
    owner: String,
    /// The change feed this process's watchers read, filled in the
    /// database's order (this server's writes and every other's).
    feed: Arc<Feed>,
    /// Writes queued for the writer task (group commit).
    jobs: tokio::sync::mpsc::UnboundedSender<cases::Queued>,
    /// The block of case ids this server hands out: `[next, end)`.
    ids: Mutex<(u64, u64)>,
    stats: Arc<Stats>,
    /// Asks the feed follower to read the feed now.
    nudge: Arc<tokio::sync::Notify>,
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

/// A name for this server on the leases it takes: host, process, start.
fn owner_name() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "host".to_string());
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    format!("{host}:{}:{started}", std::process::id())
}

impl PgStore {
    /// Connects to `url` with the default [`PgOptions`] for `schema` and
    /// connect `timeout`.
    pub fn connect(url: &str, schema: &str, timeout: Duration) -> Result<PgStore, StoreError> {
        let mut options = PgOptions::new(schema);
        options.timeout = timeout;
        PgStore::connect_with(url, options)
    }

    /// Connects to `url` (`postgres://user@host:port/db`), using the
    /// options' schema (created when missing), and brings the schema to
    /// this build's version. A URL that does not parse, a database that
    /// cannot be reached within the timeout, or a schema newer than this
    /// build knows is an error that says so.
    pub fn connect_with(url: &str, options: PgOptions) -> Result<PgStore, StoreError> {
        if !plain_identifier(&options.schema) {
            return Err(StoreError::internal(format!(
                "`{}` is not a plain schema name (letters, digits, `_`)",
                options.schema
            )));
        }
        let mut config: tokio_postgres::Config = url.parse().map_err(|e| {
            StoreError::unavailable(format!("`{}` is not a PostgreSQL URL: {e}", redact(url)))
        })?;
        config.connect_timeout(options.timeout);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("wangge-postgres")
            .enable_all()
            .build()
            .map_err(|e| StoreError::internal(format!("cannot start the database runtime: {e}")))?;
        let manager = Manager::from_config(
            config.clone(),
            tokio_postgres::NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(options.pool_size.max(2))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(options.timeout))
            .create_timeout(Some(options.timeout))
            .recycle_timeout(Some(options.timeout))
            .build()
            .map_err(|e| StoreError::internal(format!("cannot build the connection pool: {e}")))?;
        let mut store = PgStore {
            pool,
            runtime: Some(runtime),
            options,
            owner: owner_name(),
            feed: Arc::new(Feed::new(1, 0)),
            jobs: tokio::sync::mpsc::unbounded_channel().0,
            ids: Mutex::new((0, 0)),
            stats: Arc::new(Stats::default()),
            nudge: Arc::new(tokio::sync::Notify::new()),
        };
        store.run(|pool, schema| async move {
            // Two servers starting together both try to migrate: the one
            // that loses the race finds the schema done when it retries.
            let mut tries = 0;
            loop {
                match migrate::migrate(&pool, &schema).await {
                    Err(e)
                        if tries < 3
                            && matches!(
                                e.kind(),
                                wangge_store::StoreErrorKind::Conflict
                                    | wangge_store::StoreErrorKind::Internal
                            ) =>
                    {
                        tries += 1;
                        tokio::time::sleep(Duration::from_millis(300)).await;
                    }
                    done => return done,
                }
            }
        })?;
        let stats = store.stats.clone();
        let next_seq = store.run(move |pool, schema| async move {
            let sql = format!("SELECT next FROM {schema}.feed_head WHERE one = 1");
            let r = sql::rows(&pool, &stats, &sql, &[], "open").await?;
            r.first()
                .map(|r| r.get::<_, i64>(0))
                .ok_or_else(|| StoreError::corrupt(format!("`{schema}.feed_head` has no row")))
        })?;
        store.feed = Arc::new(Feed::new(cases::stored(next_seq, "feed head")?, 65_536));
        let (jobs, queue) = tokio::sync::mpsc::unbounded_channel();
        store.jobs = jobs;
        let follower = Arc::new(follow::Follower::new(
            store.pool.clone(),
            store.options.schema.clone(),
            store.feed.clone(),
            store.stats.clone(),
        ));
        // pg_notify is PostgreSQL's; where it is missing (CockroachDB) the
        // feed is polled instead.
        let stats = store.stats.clone();
        let notify = store
            .run(move |pool, _| async move {
                Ok(sql::rows(
                    &pool,
                    &stats,
                    "SELECT pg_notify('wangge_feed', '')",
                    &[],
                    "notify",
                )
                .await
                .is_ok())
            })
            .unwrap_or(false);
        if let Some(rt) = &store.runtime {
            let writer = cases::Writer {
                pool: store.pool.clone(),
                schema: store.options.schema.clone(),
                follower: follower.clone(),
                stats: store.stats.clone(),
                notify,
                timeout: store.options.timeout,
                owner: store.owner.clone(),
            };
            rt.spawn(cases::writer(writer, queue));
            if notify {
                let wanted = follow::Wanted {
                    schema: store.options.schema.clone(),
                    own: store.owner.clone(),
                };
                rt.spawn(follow::listen(config, wanted, store.nudge.clone()));
            }
            rt.spawn(follower.run(store.nudge.clone(), store.options.poll));
        }
        Ok(store)
    }

    /// The counters, for a call moved onto the runtime.
    pub(crate) fn stats_handle(&self) -> Arc<Stats> {
        self.stats.clone()
    }

    /// The store's counters (queries, batches, lease takeovers).
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The connection pool's size, connections idle, and callers waiting.
    pub fn pool_status(&self) -> (usize, usize, usize) {
        let s = self.pool.status();
        (s.size, s.available, s.waiting)
    }

    /// Whether the database answers now (a round trip on a pooled
    /// connection).
    pub fn ping(&self) -> Result<(), StoreError> {
        let stats = self.stats.clone();
        self.run(move |pool, _| async move {
            sql::rows(&pool, &stats, "SELECT 1", &[], "ping")
                .await
                .map(|_| ())
        })
    }

    /// Takes the next case id from this server's block, and a new block
    /// of 64 from the database's sequence when it runs out.
    fn take_id(&self) -> Result<u64, StoreError> {
        let mut ids = self
            .ids
            .lock()
            .map_err(|_| StoreError::internal("the case id block lock is poisoned"))?;
        if ids.0 >= ids.1 {
            let stats = self.stats.clone();
            let start = self.run(move |pool, schema| async move {
                let sql = format!("SELECT nextval('{schema}.case_ids')");
                let r = sql::rows(&pool, &stats, &sql, &[], "case ids").await?;
                r.first()
                    .map(|r| r.get::<_, i64>(0))
                    .ok_or_else(|| StoreError::internal("nextval returned no row"))
            })?;
            let start = u64::try_from(start)
                .map_err(|_| StoreError::corrupt(format!("case id sequence at {start}")))?;
            *ids = (start, start + 64);
        }
        let id = ids.0;
        ids.0 += 1;
        Ok(id)
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
        let schema = self.options.schema.clone();
        let Some(runtime) = &self.runtime else {
            return Err(StoreError::internal("the store is closed"));
        };
        let limit = self.options.timeout;
        runtime.spawn(async move {
            let _ = tx.send(within(limit, f(pool, schema)).await);
        });
        rx.recv()
            .map_err(|_| StoreError::internal("a database call was dropped"))?
    }

    /// Runs the statement `sql(schema)` with `params` on a pooled
    /// connection and returns its rows.
    pub(crate) fn query(
        &self,
        sql: impl FnOnce(&str) -> String,
        params: Vec<Param>,
        what: &'static str,
    ) -> Result<Vec<tokio_postgres::Row>, StoreError> {
        let sql = sql(&self.options.schema);
        let stats = self.stats.clone();
        self.run(move |pool, _| async move {
            let refs: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = params
                .iter()
                .map(|p| &**p as &(dyn tokio_postgres::types::ToSql + Sync))
                .collect();
            sql::rows(&pool, &stats, &sql, &refs, what).await
        })
    }

    /// The schema this store works in.
    pub fn schema(&self) -> &str {
        &self.options.schema
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

/// `work`, or `unavailable` when the database has not answered within
/// `limit` (a partition that drops packets would otherwise hang a call
/// until TCP gives up).
pub(crate) async fn within<T>(
    limit: Duration,
    work: impl Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    tokio::time::timeout(limit, work).await.unwrap_or_else(|_| {
        Err(StoreError::unavailable(format!(
            "PostgreSQL did not answer within {} s",
            limit.as_secs_f64()
        )))
    })
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
