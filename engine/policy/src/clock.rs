//! Time for the engine: a [`Clock`] gives "now" as seconds since the Unix
//! epoch. Production uses [`SystemClock`]; tests, scenarios and replay use
//! [`ManualClock`], so identical inputs give identical outputs.

use std::sync::atomic::{AtomicI64, Ordering};

/// Seconds since 1970-01-01T00:00:00Z.
pub type Timestamp = i64;

/// The latest moment the engine represents: 9999-12-31T23:59:59Z (what
/// calendars can format and deadlines can be added to without overflow).
pub const LATEST_TIMESTAMP: Timestamp = 253_402_300_799;

/// Where the engine gets the current time. The engine never reads the
/// system clock itself.
pub trait Clock: Send + Sync {
    fn now(&self) -> Timestamp;
}

/// The operating system's clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
            .unwrap_or(0)
    }
}

/// A clock that only moves when told to.
#[derive(Debug, Default)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    pub fn new(now: Timestamp) -> Self {
        ManualClock(AtomicI64::new(now))
    }

    pub fn set(&self, now: Timestamp) {
        self.0.store(now, Ordering::SeqCst);
    }

    pub fn advance(&self, secs: i64) {
        self.0.fetch_add(secs, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        self.0.load(Ordering::SeqCst)
    }
}
