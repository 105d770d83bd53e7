//! Schema migrations: the SQL files of `migrations/`, in order, each in a
//! transaction with the version it brings the schema to. A schema newer
//! than this build is refused (an older server must not write to it).

use deadpool_postgres::Pool;
use wangge_store::StoreError;

use crate::{client, db_error};

/// The migrations, oldest first: (version, SQL).
pub const MIGRATIONS: &[(i32, &str)] = &[
    (1, include_str!("../migrations/0001_init.sql")),
    (2, include_str!("../migrations/0002_cases.sql")),
    (3, include_str!("../migrations/0003_servers.sql")),
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i32 = 3;

/// Brings `schema` to [`SCHEMA_VERSION`]; refuses a newer one.
pub(crate) async fn migrate(pool: &Pool, schema: &str) -> Result<(), StoreError> {
    let mut c = client(pool).await?;
    let tx = c
        .transaction()
        .await
        .map_err(|e| db_error(e, "begin migration"))?;
    tx.batch_execute(&format!(
        "CREATE SCHEMA IF NOT EXISTS {schema}; SET LOCAL search_path TO {schema}"
    ))
    .await
    .map_err(|e| db_error(e, "create schema"))?;
    let exists = tx
        .query_opt(
            "SELECT 1 FROM information_schema.tables WHERE table_schema = $1 AND table_name = 'wangge_schema'",
            &[&schema],
        )
        .await
        .map_err(|e| db_error(e, "read schema version"))?
        .is_some();
    let current: i32 = if exists {
        tx.query_opt(
            &format!("SELECT max(version) FROM {schema}.wangge_schema"),
            &[],
        )
        .await
        .map_err(|e| db_error(e, "read schema version"))?
        .and_then(|r| r.get::<_, Option<i32>>(0))
        .unwrap_or(0)
    } else {
        0
    };
    if current > SCHEMA_VERSION {
        return Err(StoreError::corrupt(format!(
            "the database schema `{schema}` is at version {current}, newer than this build's \
             {SCHEMA_VERSION}: run the newer wangge, or restore a backup made for this one"
        )));
    }
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
        tx.batch_execute(sql)
            .await
            .map_err(|e| db_error(e, &format!("migration {version}")))?;
        tx.execute(
            &format!("INSERT INTO {schema}.wangge_schema (version) VALUES ($1)"),
            &[version],
        )
        .await
        .map_err(|e| db_error(e, "record schema version"))?;
    }
    tx.commit()
        .await
        .map_err(|e| db_error(e, "commit migration"))
}
