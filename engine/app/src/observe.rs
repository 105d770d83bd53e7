//! Observers of case changes once they are durable: what the server's
//! metrics count (cases opened and closed, escalations, breaches …), and
//! later notifications. An observer sees the case before and after each
//! change, in commit order per case; it must be quick (it runs on the
//! caller's thread, after the write is acknowledged by storage).

use wangge_policy::Case;

/// Told about every durable change the service makes.
pub trait CaseObserver: Send + Sync {
    /// `after` is stored; `before` is the case it replaced (`None`: the
    /// report that opened it).
    fn changed(&self, before: Option<&Case>, after: &Case);
}
