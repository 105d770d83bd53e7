//! The storage layer's ports: what the services need from a backend, over
//! the policy layer's domain types, with one [`StoreError`].
//!
//! - [`Store`]: cases with their event log, timers and idempotency keys
//!   (written together, atomically), the timer queue in due order, the
//!   change feed ([`Feed`]), policy versions, the organisation registry and
//!   the ledgers.
//! - [`MemStore`]: the in-memory backend (scenarios, replays, tests).
//! - [`conformance`]: the suite every backend runs against itself.
//!
//! Backends live in their own crates (`wangge-store-sled`, …) and depend on
//! this one; the services depend only on the ports.

pub mod conformance;
mod error;
mod facts;
mod ledgers;
mod mem;
mod ports;
mod query;

pub use error::{StoreError, StoreErrorKind};
pub use facts::{CaseFact, CaseFacts};
pub use ledgers::{Book, Codec, LedgerBatch};
pub use mem::MemStore;
pub use ports::{
    decode, encode, timers_of, CaseStore, ChangeFeed, Created, Feed, FeedGap, FeedWait, IdemRecord,
    LedgerSpace, OrgRegistry, Outcome, Pending, PolicyVersions, Settings, Slot, StateCounts, Store,
    Timer, TimerQueue, FORMAT_VERSION,
};
pub use query::{CaseFilter, Found};

/// The ports, for `use wangge_store::prelude::*` where a service calls a
/// backend through `dyn Store`.
pub mod prelude {
    pub use crate::facts::CaseFacts;
    pub use crate::ports::{
        CaseStore, ChangeFeed, LedgerSpace, OrgRegistry, PolicyVersions, Settings, Store,
        TimerQueue,
    };
}
