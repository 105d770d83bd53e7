//! A lease in the ledger space: of several servers sharing one database,
//! one holds it at a time (webhook delivery: each event delivered by one
//! server, not by every one); another takes it over when the holder stops
//! renewing it (a dead server) and its time runs out. Taken and renewed
//! with a guarded write, so two servers cannot both take it. Leases run
//! on the wall clock (not the engine's clock): keep servers' clocks in
//! step (NTP) well within the lease's length.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use wangge_store::{Book, LedgerBatch, LedgerSpace, StoreError};

/// Who holds a lease, and until when (Unix milliseconds).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Held {
    owner: String,
    until_ms: i64,
}

const LEASES: Book<Held> = Book::json("lease");

/// One named lease as this server sees it.
pub struct Lease {
    name: Vec<String>,
    owner: String,
    ttl: Duration,
}

/// This process's name on the leases it holds.
pub fn owner() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "host".into());
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{host}:{}:{started}", std::process::id())
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl Lease {
    pub fn new(name: &[&str], owner: &str, ttl: Duration) -> Lease {
        Lease {
            name: name.iter().map(|s| s.to_string()).collect(),
            owner: owner.to_string(),
            ttl,
        }
    }

    /// Takes the lease, or renews it; whether this server holds it now.
    pub fn hold(&self, space: &dyn LedgerSpace) -> Result<bool, StoreError> {
        let parts: Vec<&str> = self.name.iter().map(String::as_str).collect();
        let raw = LEASES.get_raw(space, &parts)?;
        let now = now_ms();
        if let Some(bytes) = &raw {
            let held = LEASES.decode(bytes)?;
            if held.owner != self.owner && held.until_ms > now {
                return Ok(false);
            }
        }
        let ttl = i64::try_from(self.ttl.as_millis()).unwrap_or(i64::MAX);
        let mut batch = LedgerBatch::new();
        batch.put(
            &LEASES,
            &parts,
            &Held {
                owner: self.owner.clone(),
                until_ms: now.saturating_add(ttl),
            },
        )?;
        batch.write_if(space, &LEASES, &parts, raw.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_is_one_servers_until_it_runs_out() {
        let space = wangge_store::MemStore::new();
        let a = Lease::new(&["hook", "h1"], "a", Duration::from_millis(200));
        let b = Lease::new(&["hook", "h1"], "b", Duration::from_millis(200));
        assert!(a.hold(&space).unwrap(), "free: taken");
        assert!(!b.hold(&space).unwrap(), "held by another");
        assert!(a.hold(&space).unwrap(), "renewed by its holder");
        std::thread::sleep(Duration::from_millis(250));
        assert!(b.hold(&space).unwrap(), "run out: taken over");
        assert!(!a.hold(&space).unwrap(), "the old holder has lost it");
    }
}
