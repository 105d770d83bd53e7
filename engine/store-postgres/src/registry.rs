//! The ports that are not about cases, on PostgreSQL: the organisation
//! registry (units, people), policy versions, the ledger space (raw keys,
//! a prefix scanned as a key range) and settings. Every write of a call
//! is one transaction.

use serde::de::DeserializeOwned;
use serde::Serialize;
use wangge_policy::{Person, Unit};
use wangge_store::{
    decode, encode, LedgerSpace, OrgRegistry, PolicyVersions, Settings, StoreError,
};

use crate::{client, db_error, PgStore};

/// The first key after every key starting with `prefix` (none: no bound).
fn upper_bound(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

impl PgStore {
    /// Upserts `(id, record)` rows into `table` in one transaction.
    fn put_rows(
        &self,
        table: &'static str,
        rows: Vec<(String, Vec<u8>)>,
    ) -> Result<(), StoreError> {
        self.run(move |pool, schema| async move {
            let mut c = client(&pool).await?;
            let tx = c.transaction().await.map_err(|e| db_error(e, "begin"))?;
            let sql = format!(
                "INSERT INTO {schema}.{table} (id, record) VALUES ($1, $2) \
                 ON CONFLICT (id) DO UPDATE SET record = EXCLUDED.record"
            );
            let stmt = tx.prepare(&sql).await.map_err(|e| db_error(e, table))?;
            for (id, record) in &rows {
                tx.execute(&stmt, &[id, record])
                    .await
                    .map_err(|e| db_error(e, table))?;
            }
            tx.commit().await.map_err(|e| db_error(e, "commit"))
        })
    }

    /// Every record of `table`, in id order, decoded.
    fn all_rows<T: DeserializeOwned + Send + 'static>(
        &self,
        table: &'static str,
    ) -> Result<Vec<T>, StoreError> {
        let rows = self.run(move |pool, schema| async move {
            let c = client(&pool).await?;
            let sql = format!("SELECT record FROM {schema}.{table} ORDER BY id");
            let rows = c.query(&sql, &[]).await.map_err(|e| db_error(e, table))?;
            Ok(rows
                .iter()
                .map(|r| r.get::<_, Vec<u8>>(0))
                .collect::<Vec<_>>())
        })?;
        rows.iter().map(|b| decode(b)).collect()
    }

    /// One record of `table` by id.
    fn one_row<T: DeserializeOwned>(
        &self,
        table: &'static str,
        id: &str,
    ) -> Result<Option<T>, StoreError> {
        let id = id.to_string();
        let row = self.run(move |pool, schema| async move {
            let c = client(&pool).await?;
            let sql = format!("SELECT record FROM {schema}.{table} WHERE id = $1");
            let row = c
                .query_opt(&sql, &[&id])
                .await
                .map_err(|e| db_error(e, table))?;
            Ok(row.map(|r| r.get::<_, Vec<u8>>(0)))
        })?;
        row.map(|b| decode(&b)).transpose()
    }
}

fn encoded<T: Serialize>(
    items: &[T],
    id: impl Fn(&T) -> String,
) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
    items.iter().map(|i| Ok((id(i), encode(i)?))).collect()
}

impl OrgRegistry for PgStore {
    fn put_units(&self, units: &[Unit]) -> Result<(), StoreError> {
        self.put_rows("units", encoded(units, |u| u.id.clone())?)
    }

    fn units(&self) -> Result<Vec<Unit>, StoreError> {
        self.all_rows("units")
    }

    fn has_unit(&self, id: &str) -> Result<bool, StoreError> {
        Ok(self.one_row::<Unit>("units", id)?.is_some())
    }

    fn unit(&self, id: &str) -> Result<Option<Unit>, StoreError> {
        self.one_row("units", id)
    }

    fn put_people(&self, people: &[Person]) -> Result<(), StoreError> {
        self.put_rows("people", encoded(people, |p| p.id.clone())?)
    }

    fn people(&self) -> Result<Vec<Person>, StoreError> {
        self.all_rows("people")
    }

    fn person(&self, id: &str) -> Result<Option<Person>, StoreError> {
        self.one_row("people", id)
    }
}

impl PolicyVersions for PgStore {
    fn put_policy(&self, hash: &str, record: &[u8]) -> Result<(), StoreError> {
        let (hash, record) = (hash.to_string(), record.to_vec());
        self.run(move |pool, schema| async move {
            let c = client(&pool).await?;
            let sql = format!(
                "INSERT INTO {schema}.policies (hash, record) VALUES ($1, $2) \
                 ON CONFLICT (hash) DO UPDATE SET record = EXCLUDED.record"
            );
            c.execute(&sql, &[&hash, &record])
                .await
                .map_err(|e| db_error(e, "policies"))?;
            Ok(())
        })
    }

    fn policies(&self) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        self.run(|pool, schema| async move {
            let c = client(&pool).await?;
            let sql = format!("SELECT hash, record FROM {schema}.policies ORDER BY hash");
            let rows = c
                .query(&sql, &[])
                .await
                .map_err(|e| db_error(e, "policies"))?;
            Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
        })
    }
}

impl Settings for PgStore {
    fn setting(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let name = name.to_string();
        self.run(move |pool, schema| async move {
            let c = client(&pool).await?;
            let sql = format!("SELECT value FROM {schema}.settings WHERE name = $1");
            let row = c
                .query_opt(&sql, &[&name])
                .await
                .map_err(|e| db_error(e, "settings"))?;
            Ok(row.map(|r| r.get(0)))
        })
    }

    fn put_setting(&self, name: &str, value: &[u8]) -> Result<(), StoreError> {
        let (name, value) = (name.to_string(), value.to_vec());
        self.run(move |pool, schema| async move {
            let c = client(&pool).await?;
            let sql = format!(
                "INSERT INTO {schema}.settings (name, value) VALUES ($1, $2) \
                 ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value"
            );
            c.execute(&sql, &[&name, &value])
                .await
                .map_err(|e| db_error(e, "settings"))?;
            Ok(())
        })
    }
}

impl LedgerSpace for PgStore {
    fn ledger_put(&self, pairs: Vec<(Vec<u8>, Vec<u8>)>) -> Result<(), StoreError> {
        self.run(move |pool, schema| async move {
            let mut c = client(&pool).await?;
            let tx = c.transaction().await.map_err(|e| db_error(e, "begin"))?;
            let sql = format!(
                "INSERT INTO {schema}.ledger (key, value) VALUES ($1, $2) \
                 ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value"
            );
            let stmt = tx.prepare(&sql).await.map_err(|e| db_error(e, "ledger"))?;
            for (k, v) in &pairs {
                tx.execute(&stmt, &[k, v])
                    .await
                    .map_err(|e| db_error(e, "ledger"))?;
            }
            tx.commit().await.map_err(|e| db_error(e, "commit"))
        })
    }

    fn ledger_get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let key = key.to_vec();
        self.run(move |pool, schema| async move {
            let c = client(&pool).await?;
            let sql = format!("SELECT value FROM {schema}.ledger WHERE key = $1");
            let row = c
                .query_opt(&sql, &[&key])
                .await
                .map_err(|e| db_error(e, "ledger"))?;
            Ok(row.map(|r| r.get(0)))
        })
    }

    fn ledger_scan(
        &self,
        prefix: &[u8],
        f: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), StoreError> {
        let (from, to) = (prefix.to_vec(), upper_bound(prefix));
        let rows: Vec<(Vec<u8>, Vec<u8>)> = self.run(move |pool, schema| async move {
            let c = client(&pool).await?;
            let rows = match &to {
                Some(to) => {
                    let sql = format!(
                        "SELECT key, value FROM {schema}.ledger WHERE key >= $1 AND key < $2 ORDER BY key"
                    );
                    c.query(&sql, &[&from, to]).await
                }
                None => {
                    let sql =
                        format!("SELECT key, value FROM {schema}.ledger WHERE key >= $1 ORDER BY key");
                    c.query(&sql, &[&from]).await
                }
            }
            .map_err(|e| db_error(e, "ledger"))?;
            Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
        })?;
        for (k, v) in &rows {
            if !f(k, v) {
                break;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::upper_bound;

    #[test]
    fn the_key_range_of_a_prefix_ends_after_its_last_key() {
        assert_eq!(upper_bound(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(upper_bound(&[1, 255]), Some(vec![2]));
        assert_eq!(upper_bound(&[255, 255]), None);
    }
}
