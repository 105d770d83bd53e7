//! The ports that are not about cases, on PostgreSQL: the organisation
//! registry (units, people), policy versions, the ledger space (raw keys,
//! a prefix scanned as a key range) and settings. Every write of a call
//! is one transaction.

use std::collections::HashMap;

use serde::de::DeserializeOwned;
use serde::Serialize;
use wangge_policy::{Person, Unit};
use wangge_store::{
    decode, encode, LedgerSpace, OrgRegistry, PolicyVersions, Settings, StoreError,
};

use crate::PgStore;

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
    /// Upserts `(key, value)` rows into `table` (key column `key_col`) in
    /// one statement; of a key given twice, the last value wins.
    fn upsert<K>(
        &self,
        table: &'static str,
        (key_col, value_col): (&'static str, &'static str),
        rows: Vec<(K, Vec<u8>)>,
    ) -> Result<(), StoreError>
    where
        K: Eq + std::hash::Hash + tokio_postgres::types::ToSql + Send + Sync + 'static,
        Vec<K>: tokio_postgres::types::ToSql,
    {
        let (keys, values) = last_of_each(rows);
        let kind = if key_col == "key" { "bytea" } else { "text" };
        self.query(
            |s| {
                format!(
                    "INSERT INTO {s}.{table} ({key_col}, {value_col}) \
                     SELECT * FROM unnest($1::{kind}[], $2::bytea[]) \
                     ON CONFLICT ({key_col}) DO UPDATE SET {value_col} = EXCLUDED.{value_col}"
                )
            },
            vec![Box::new(keys), Box::new(values)],
            table,
        )?;
        Ok(())
    }

    /// Every record of `table`, in id order, decoded.
    fn all_rows<T: DeserializeOwned>(&self, table: &'static str) -> Result<Vec<T>, StoreError> {
        let rows = self.query(
            |s| format!("SELECT record FROM {s}.{table} ORDER BY id"),
            Vec::new(),
            table,
        )?;
        rows.iter().map(|r| decode(r.get::<_, &[u8]>(0))).collect()
    }

    /// One record of `table` by id.
    fn one_row<T: DeserializeOwned>(
        &self,
        table: &'static str,
        id: &str,
    ) -> Result<Option<T>, StoreError> {
        let rows = self.query(
            |s| format!("SELECT record FROM {s}.{table} WHERE id = $1"),
            vec![Box::new(id.to_string())],
            table,
        )?;
        rows.first()
            .map(|r| decode(r.get::<_, &[u8]>(0)))
            .transpose()
    }
}

/// The pairs with each key once, its last value kept (one upsert
/// statement may not touch a row twice).
fn last_of_each<K: Eq + std::hash::Hash>(pairs: Vec<(K, Vec<u8>)>) -> (Vec<K>, Vec<Vec<u8>>) {
    let mut last: HashMap<K, Vec<u8>> = HashMap::with_capacity(pairs.len());
    for (k, v) in pairs {
        last.insert(k, v);
    }
    last.into_iter().unzip()
}

fn encoded<T: Serialize>(
    items: &[T],
    id: impl Fn(&T) -> String,
) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
    items.iter().map(|i| Ok((id(i), encode(i)?))).collect()
}

impl OrgRegistry for PgStore {
    fn put_units(&self, units: &[Unit]) -> Result<(), StoreError> {
        self.upsert("units", ("id", "record"), encoded(units, |u| u.id.clone())?)
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
        self.upsert(
            "people",
            ("id", "record"),
            encoded(people, |p| p.id.clone())?,
        )
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
        self.upsert(
            "policies",
            ("hash", "record"),
            vec![(hash.to_string(), record.to_vec())],
        )
    }

    fn policies(&self) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let rows = self.query(
            |s| format!("SELECT hash, record FROM {s}.policies ORDER BY hash"),
            Vec::new(),
            "policies",
        )?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }
}

impl Settings for PgStore {
    fn setting(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let rows = self.query(
            |s| format!("SELECT value FROM {s}.settings WHERE name = $1"),
            vec![Box::new(name.to_string())],
            "settings",
        )?;
        Ok(rows.first().map(|r| r.get(0)))
    }

    fn put_setting(&self, name: &str, value: &[u8]) -> Result<(), StoreError> {
        self.upsert(
            "settings",
            ("name", "value"),
            vec![(name.to_string(), value.to_vec())],
        )
    }
}

impl LedgerSpace for PgStore {
    fn ledger_put(&self, pairs: Vec<(Vec<u8>, Vec<u8>)>) -> Result<(), StoreError> {
        if pairs.is_empty() {
            return Ok(());
        }
        self.upsert("ledger", ("key", "value"), pairs)
    }

    /// Goes through the case writer, so it shares a group commit with the
    /// case writes of the moment (one fsync for both): see
    /// `cases::swap_in` for the statement.
    fn ledger_swap(
        &self,
        guard: &[u8],
        expected: Option<&[u8]>,
        pairs: Vec<(Vec<u8>, Vec<u8>)>,
    ) -> Result<bool, StoreError> {
        let (keys, values) = last_of_each(pairs);
        self.swap(guard.to_vec(), expected.map(<[u8]>::to_vec), keys, values)
    }

    fn ledger_get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let rows = self.query(
            |s| format!("SELECT value FROM {s}.ledger WHERE key = $1"),
            vec![Box::new(key.to_vec())],
            "ledger",
        )?;
        Ok(rows.first().map(|r| r.get(0)))
    }

    fn ledger_scan(
        &self,
        prefix: &[u8],
        f: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), StoreError> {
        let rows = match upper_bound(prefix) {
            Some(to) => self.query(
                |s| {
                    format!(
                        "SELECT key, value FROM {s}.ledger WHERE key >= $1 AND key < $2 ORDER BY key"
                    )
                },
                vec![Box::new(prefix.to_vec()), Box::new(to)],
                "ledger",
            )?,
            None => self.query(
                |s| format!("SELECT key, value FROM {s}.ledger WHERE key >= $1 ORDER BY key"),
                vec![Box::new(prefix.to_vec())],
                "ledger",
            )?,
        };
        for r in &rows {
            if !f(r.get(0), r.get(1)) {
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
