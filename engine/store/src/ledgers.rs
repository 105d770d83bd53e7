//! Typed ledgers over the [`LedgerSpace`]: a [`Book`] names a kind of
//! record (its tag), says how its values are encoded, and builds its keys
//! from parts, so services read and write records, never bytes. A key is
//! the tag and the parts joined by NUL; a scan takes the leading parts.
//!
//! Writes that belong together go in one [`LedgerBatch`], written at once
//! and durably.

use std::marker::PhantomData;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::StoreError;
use crate::ports::LedgerSpace;

/// How a book's values are stored.
pub struct Codec<T> {
    pub encode: fn(&T) -> Result<Vec<u8>, StoreError>,
    pub decode: fn(&[u8]) -> Result<T, StoreError>,
}

fn json_encode<T: Serialize>(v: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(v)
        .map_err(|e| StoreError::internal(format!("a ledger record cannot be encoded: {e}")))
}

fn json_decode<T: DeserializeOwned>(b: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(b)
        .map_err(|e| StoreError::corrupt(format!("a ledger record cannot be read: {e}")))
}

/// One kind of ledger record.
pub struct Book<T> {
    tag: &'static str,
    codec: Codec<T>,
    _values: PhantomData<fn() -> T>,
}

impl<T: Serialize + DeserializeOwned> Book<T> {
    /// A book whose values are JSON.
    pub const fn json(tag: &'static str) -> Book<T> {
        Book {
            tag,
            codec: Codec {
                encode: json_encode::<T>,
                decode: json_decode::<T>,
            },
            _values: PhantomData,
        }
    }
}

impl<T> Book<T> {
    /// A book with its own encoding (for large or hot records).
    pub const fn with_codec(tag: &'static str, codec: Codec<T>) -> Book<T> {
        Book {
            tag,
            codec,
            _values: PhantomData,
        }
    }

    fn key(&self, parts: &[&str]) -> Vec<u8> {
        let mut k = self.tag.as_bytes().to_vec();
        for p in parts {
            k.push(0);
            k.extend_from_slice(p.as_bytes());
        }
        k
    }

    /// Encodes a value as this book stores it (to encode off the writer's
    /// thread, then [`LedgerBatch::put_encoded`]).
    pub fn encode(&self, value: &T) -> Result<Vec<u8>, StoreError> {
        (self.codec.encode)(value)
    }

    /// The record at `parts` as stored (its bytes), if any: what a
    /// [`LedgerBatch::write_if`] compares against.
    pub fn get_raw(
        &self,
        space: &dyn LedgerSpace,
        parts: &[&str],
    ) -> Result<Option<Vec<u8>>, StoreError> {
        space.ledger_get(&self.key(parts))
    }

    /// Decodes a record as this book stores it.
    pub fn decode(&self, bytes: &[u8]) -> Result<T, StoreError> {
        (self.codec.decode)(bytes)
    }

    /// The record at `parts`, if any.
    pub fn get(&self, space: &dyn LedgerSpace, parts: &[&str]) -> Result<Option<T>, StoreError> {
        match space.ledger_get(&self.key(parts))? {
            Some(b) => Ok(Some((self.codec.decode)(&b)?)),
            None => Ok(None),
        }
    }

    /// Every record whose key starts with `prefix` (whole parts), in key
    /// order, with the parts after the prefix.
    pub fn scan(
        &self,
        space: &dyn LedgerSpace,
        prefix: &[&str],
    ) -> Result<Vec<(Vec<String>, T)>, StoreError> {
        let mut start = self.key(prefix);
        start.push(0);
        let mut out = Vec::new();
        let mut failed = None;
        space.ledger_scan(&start, &mut |k, v| {
            // Keys are built from `&str` parts: one that is not UTF-8 is damage.
            let rest = match k.get(start.len()..).map(std::str::from_utf8) {
                Some(Ok(rest)) => rest.split('\u{0}').map(str::to_string).collect(),
                _ => {
                    failed = Some(StoreError::corrupt(format!(
                        "a `{}` ledger key is not text: {k:?}",
                        self.tag
                    )));
                    return false;
                }
            };
            match (self.codec.decode)(v) {
                Ok(t) => {
                    out.push((rest, t));
                    true
                }
                Err(e) => {
                    failed = Some(e);
                    false
                }
            }
        })?;
        failed.map_or(Ok(out), Err)
    }
}

/// Ledger writes that land together.
#[derive(Default)]
pub struct LedgerBatch {
    pairs: Vec<(Vec<u8>, Vec<u8>)>,
}

impl LedgerBatch {
    pub fn new() -> LedgerBatch {
        LedgerBatch::default()
    }

    /// Puts `value` at `parts` of `book`.
    pub fn put<T>(&mut self, book: &Book<T>, parts: &[&str], value: &T) -> Result<(), StoreError> {
        let bytes = book.encode(value)?;
        self.pairs.push((book.key(parts), bytes));
        Ok(())
    }

    /// Puts a value `book` already encoded.
    pub fn put_encoded<T>(&mut self, book: &Book<T>, parts: &[&str], bytes: Vec<u8>) {
        self.pairs.push((book.key(parts), bytes));
    }

    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// Writes every put at once, durable with the space's next flush
    /// (`LedgerSpace::ledger_put_unflushed`).
    pub fn write_unflushed(self, space: &dyn LedgerSpace) -> Result<(), StoreError> {
        if self.pairs.is_empty() {
            return Ok(());
        }
        space.ledger_put_unflushed(self.pairs)
    }

    /// Writes every put at once if the record at `parts` of `book` is
    /// still `expected` (its bytes from [`Book::get_raw`]; `None`:
    /// absent), durable with the space's next flush; false (nothing
    /// written) when another writer changed it meanwhile.
    pub fn write_if<T>(
        self,
        space: &dyn LedgerSpace,
        book: &Book<T>,
        parts: &[&str],
        expected: Option<&[u8]>,
    ) -> Result<bool, StoreError> {
        space.ledger_swap(&book.key(parts), expected, self.pairs)
    }

    /// Writes every put at once, durably.
    pub fn write(self, space: &dyn LedgerSpace) -> Result<(), StoreError> {
        if self.pairs.is_empty() {
            return Ok(());
        }
        space.ledger_put(self.pairs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemStore;

    const NOTES: Book<String> = Book::json("n");

    #[test]
    fn books_read_back_what_they_wrote_by_part() {
        let store = MemStore::new();
        let mut batch = LedgerBatch::new();
        batch.put(&NOTES, &["a", "2"], &"二".to_string()).unwrap();
        batch.put(&NOTES, &["a", "1"], &"一".to_string()).unwrap();
        batch
            .put(&NOTES, &["ab", "1"], &"别的".to_string())
            .unwrap();
        batch.write(&store).unwrap();
        assert_eq!(
            NOTES.get(&store, &["a", "1"]).unwrap().as_deref(),
            Some("一")
        );
        assert_eq!(NOTES.get(&store, &["a", "3"]).unwrap(), None);
        let scanned = NOTES.scan(&store, &["a"]).unwrap();
        assert_eq!(
            scanned,
            vec![
                (vec!["1".to_string()], "一".to_string()),
                (vec!["2".to_string()], "二".to_string()),
            ]
        );
    }
}
