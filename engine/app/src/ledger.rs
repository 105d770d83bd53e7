//! The books of the incentive and evaluation ledgers (typed records over
//! the store's ledger space; see `wangge_store::Book`) and their layout:
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

use wangge_policy::{Params, Score, Timestamp};
use wangge_store::{Book, Codec, StoreError};

use crate::evaluation::Survey;
use crate::incentives::{Activity, Settlement};
use crate::points::{Balance, PointsEntry};

/// Settlements per chunk.
pub const CHUNK: usize = 500;
/// Person-index buckets per period.
pub const BUCKETS: u32 = 256;

/// A ledger record that does not read back.
pub fn storage(message: impl Into<String>) -> StoreError {
    StoreError::corrupt(message)
}

/// `a␀person␀key`: activity records.
pub const ACTIVITY: Book<Activity> = Book::json("a");
/// `T␀period␀bucket`: activity totals.
pub const TOTALS: Book<TotalsBucket> = Book::with_codec(
    "T",
    Codec {
        encode: |t| Ok(t.write()),
        decode: TotalsBucket::read,
    },
);
/// `C␀period␀run␀chunk`: settlement chunks.
pub const SETTLEMENTS: Book<Vec<Settlement>> = Book::json("C");
/// `X␀period␀bucket`: where each person's settlements are.
pub const SETTLEMENT_INDEX: Book<Bucket> = Book::json("X");
/// `N␀period`: the next run number.
pub const RUNS: Book<u32> = Book::json("N");
/// `R␀period␀version`: parameter values per calc.
pub const PARAMS: Book<BTreeMap<String, Params>> = Book::json("R");
/// `p␀resident␀seq`: points entries.
pub const POINTS: Book<PointsEntry> = Book::json("p");
/// `b␀resident`: points balances.
pub const BALANCES: Book<Balance> = Book::json("b");
/// `k␀resident␀key`: the sequence an idempotency key wrote.
pub const POINTS_KEYS: Book<u64> = Book::json("k");
/// `Y␀period␀unit␀key`: survey results.
pub const SURVEYS: Book<Survey> = Book::json("Y");
/// `V␀scorecard␀period␀chunk`: score chunks.
pub const SCORES: Book<Vec<Score>> = Book::json("V");
/// `W␀scorecard␀period␀bucket`: which chunk holds each unit's score.
pub const SCORE_INDEX: Book<BTreeMap<String, u32>> = Book::json("W");
/// `Q␀scorecard␀period`: when a period was scored, how many scores, by
/// which policy version.
pub const SCORED: Book<(Timestamp, u64, String)> = Book::json("Q");

/// A points sequence number as a key part.
pub fn seq_part(seq: u64) -> String {
    format!("{seq:016}")
}

/// A run number as a key part.
pub fn run_part(run: u32) -> String {
    format!("{run:08}")
}

/// A chunk number as a key part.
pub fn chunk_part(n: usize) -> String {
    format!("{n:06}")
}

/// A bucket number as a key part.
pub fn bucket_part(bucket: u32) -> String {
    format!("{bucket:03}")
}

/// One person's activity in one period: per kind, the quantity and the
/// units it was recorded in.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ActivityTotals(pub BTreeMap<String, (Decimal, BTreeSet<String>)>);

/// The activity totals of one person-index bucket: person → totals.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TotalsBucket(pub BTreeMap<String, ActivityTotals>);

impl TotalsBucket {
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
