//! State shared by the gRPC services, and the helpers every method uses:
//! run blocking engine calls off the async threads, time and log each call.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use tonic::Status;
use wangge_app::CaseService;
use wangge_app::PolicyRegistry;
use wangge_policy::ManualClock;

use super::metrics::Metrics;

pub struct App {
    pub cases: Arc<CaseService>,
    /// The store itself, for maintenance (backups).
    pub sled: Arc<wangge_store_sled::SledStore>,
    pub incentives: Arc<wangge_app::Incentives>,
    pub evaluation: Arc<wangge_app::Evaluation>,
    pub org: Arc<wangge_app::Organisation>,
    pub registry: Arc<PolicyRegistry>,
    /// Set when the server runs on a manual clock.
    pub manual: Option<Arc<ManualClock>>,
    pub metrics: Arc<Metrics>,
    /// Serialises deploys and rollbacks.
    pub deploy_lock: tokio::sync::Mutex<()>,
    /// Serialises moves of the manual clock.
    pub clock_lock: tokio::sync::Mutex<()>,
    /// Open WatchCases streams and their limits.
    pub watchers: Arc<Watchers>,
    /// Largest `data_json` of a report, in bytes.
    pub max_data_bytes: usize,
}

/// Runs a blocking engine call on the blocking pool.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Status> + Send + 'static,
) -> Result<T, Status> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Status::internal(format!("a worker failed: {e}")))?
}

impl App {
    /// Times, counts and logs one call (with a request id).
    pub async fn call<T>(
        &self,
        method: &'static str,
        f: impl Future<Output = Result<T, Status>>,
    ) -> Result<T, Status> {
        let id = self.metrics.request_id();
        self.metrics.start(method);
        let start = Instant::now();
        let span = tracing::debug_span!("rpc", method, request_id = id);
        let result = tracing::Instrument::instrument(f, span).await;
        let took = start.elapsed();
        let code = match &result {
            Ok(_) => tonic::Code::Ok,
            Err(s) => s.code(),
        };
        self.metrics.observe(method, code, took);
        match &result {
            Ok(_) => tracing::debug!(
                request_id = id,
                method,
                micros = took.as_micros() as u64,
                "ok"
            ),
            Err(s) => {
                tracing::info!(request_id = id, method, code = ?s.code(), message = s.message(), "error")
            }
        }
        result
    }
}

/// Open WatchCases streams, counted in total and per client connection;
/// past either limit a new stream is RESOURCE_EXHAUSTED.
pub struct Watchers {
    total: usize,
    per_connection: usize,
    open: std::sync::Mutex<(
        usize,
        std::collections::HashMap<Option<std::net::SocketAddr>, usize>,
    )>,
}

/// One admitted stream; dropping it frees its place.
pub struct Ticket {
    watchers: Arc<Watchers>,
    peer: Option<std::net::SocketAddr>,
}

impl Watchers {
    pub fn new(total: usize, per_connection: usize) -> Arc<Watchers> {
        Arc::new(Watchers {
            total,
            per_connection,
            open: std::sync::Mutex::default(),
        })
    }

    /// Admits one more stream from `peer`, or says which limit is reached.
    pub fn admit(self: &Arc<Self>, peer: Option<std::net::SocketAddr>) -> Result<Ticket, Status> {
        let mut open = self
            .open
            .lock()
            .map_err(|_| Status::internal("the stream count is poisoned"))?;
        let mine = open.1.get(&peer).copied().unwrap_or(0);
        if open.0 >= self.total {
            return Err(exhausted(format!(
                "{} WatchCases streams are open, the server's limit; close one or retry later",
                open.0
            )));
        }
        if mine >= self.per_connection {
            return Err(exhausted(format!(
                "this connection has {mine} WatchCases streams open, the limit per connection"
            )));
        }
        open.0 += 1;
        open.1.insert(peer, mine + 1);
        Ok(Ticket {
            watchers: self.clone(),
            peer,
        })
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if let Ok(mut open) = self.watchers.open.lock() {
            open.0 = open.0.saturating_sub(1);
            if let Some(n) = open.1.get_mut(&self.peer) {
                *n -= 1;
                if *n == 0 {
                    open.1.remove(&self.peer);
                }
            }
        }
    }
}

/// RESOURCE_EXHAUSTED with a retry hint (`retry-after-ms`).
pub fn exhausted(message: String) -> Status {
    let mut s = Status::resource_exhausted(message);
    s.metadata_mut().insert(
        "retry-after-ms",
        tonic::metadata::MetadataValue::from_static("1000"),
    );
    s
}
