//! The layout of the incentive ledgers in the store's ledger keyspace.
//!
//! | key | value |
//! | --- | --- |
//! | `a␀person␀key` | an activity record (JSON; also its idempotency) |
//! | `T␀period␀bucket` | activity totals of the bucket's persons for the period (`person␉kind␉quantity␉units` lines) |
//! | `C␀period␀run␀chunk` | up to [`CHUNK`] settlements of one run (JSON array, without parameter values) |
//! | `X␀period␀bucket` | which run and chunk hold each person's settlements (JSON map; 256 buckets) |
//! | `N␀period` | the next run number |
//! | `R␀period␀version` | the parameter values of every subsidy calc of a policy version |
//! | `p␀resident␀seq` / `b␀resident` / `k␀resident␀key` | points entries, balance, idempotency |
//!
//! Settlements are written a run at a time in large chunks with a small
//! person index, because a sled insert costs ~9 µs whatever its size:
//! 133,000 one-record inserts take over a second, 70 chunks a fraction.

use std::collections::{BTreeMap, BTreeSet};

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use wangge_store::Store;
use wangge_store::StoreError;

/// Settlements per chunk.
pub const CHUNK: usize = 500;
/// Person-index buckets per period.
pub const BUCKETS: u32 = 256;

/// A ledger key from its parts, separated by NUL.
pub fn key(parts: &[&str]) -> Vec<u8> {
    parts.join("\u{0}").into_bytes()
}

/// A ledger record that does not read back.
pub fn storage(message: impl Into<String>) -> StoreError {
    StoreError::corrupt(message)
}

pub fn enc<T: Serialize>(v: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(v).map_err(|e| storage(e.to_string()))
}

pub fn dec<T: for<'de> Deserialize<'de>>(b: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(b).map_err(|e| storage(format!("a ledger record cannot be read: {e}")))
}

/// Every value under `prefix`, in key order, read by `read(key, value)`;
/// the first that cannot be read stops the scan with its error.
pub fn scan<T>(
    store: &dyn Store,
    prefix: &[u8],
    mut read: impl FnMut(&[u8], &[u8]) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    let mut out = Vec::new();
    let mut failed = None;
    store.ledger_scan(prefix, &mut |k, v| match read(k, v) {
        Ok(t) => {
            out.push(t);
            true
        }
        Err(e) => {
            failed = Some(e);
            false
        }
    })?;
    failed.map_or(Ok(out), Err)
}

/// One person's activity in one period: per kind, the quantity and the
/// units it was recorded in.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ActivityTotals(pub BTreeMap<String, (Decimal, BTreeSet<String>)>);

/// The activity totals of one person-index bucket: person → totals.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TotalsBucket(pub BTreeMap<String, ActivityTotals>);

impl TotalsBucket {
    pub fn key(period: &str, bucket: u32) -> Vec<u8> {
        key(&["T", period, &format!("{bucket:03}")])
    }

    pub fn write(&self) -> Vec<u8> {
        let mut out = String::new();
        for (person, t) in &self.0 {
            for (kind, (q, units)) in &t.0 {
                let units: Vec<&str> = units.iter().map(String::as_str).collect();
                out.push_str(&format!("{person}\t{kind}\t{q}\t{}\n", units.join(",")));
            }
        }
        out.into_bytes()
    }

    pub fn read(b: &[u8]) -> Result<TotalsBucket, StoreError> {
        let text = std::str::from_utf8(b).map_err(|e| storage(e.to_string()))?;
        let mut t = TotalsBucket::default();
        for line in text.lines() {
            let mut f = line.split('\t');
            let (Some(person), Some(kind), Some(q)) = (f.next(), f.next(), f.next()) else {
                return Err(storage(format!("bad activity totals line `{line}`")));
            };
            let q: Decimal = q
                .parse()
                .map_err(|_| storage(format!("bad quantity in `{line}`")))?;
            let units = f
                .next()
                .unwrap_or("")
                .split(',')
                .filter(|u| !u.is_empty())
                .map(str::to_string)
                .collect();
            t.0.entry(person.to_string())
                .or_default()
                .0
                .insert(kind.to_string(), (q, units));
        }
        Ok(t)
    }
}

impl ActivityTotals {
    pub fn add(&mut self, kind: &str, quantity: Decimal, unit: Option<&str>) {
        let e = self.0.entry(kind.to_string()).or_default();
        e.0 += quantity;
        if let Some(u) = unit {
            e.1.insert(u.to_string());
        }
    }
}

/// Where a settlement is: run, chunk, and its sequence for the person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Place {
    pub run: u32,
    pub chunk: u32,
    pub seq: u32,
}

/// One bucket of the person index: person → places, oldest first.
pub type Bucket = BTreeMap<String, Vec<Place>>;

/// The bucket of a person (FNV-1a, stable across builds).
pub fn bucket_of(person: &str) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in person.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h % BUCKETS
}

pub fn bucket_key(period: &str, bucket: u32) -> Vec<u8> {
    key(&["X", period, &format!("{bucket:03}")])
}

pub fn chunk_key(period: &str, run: u32, chunk: u32) -> Vec<u8> {
    key(&["C", period, &format!("{run:08}"), &format!("{chunk:06}")])
}

pub fn run_counter_key(period: &str) -> Vec<u8> {
    key(&["N", period])
}

pub fn params_key(period: &str, version: &str) -> Vec<u8> {
    key(&["R", period, version])
}
