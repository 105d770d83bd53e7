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
    pub incentives: Arc<wangge_app::Incentives>,
    pub evaluation: Arc<wangge_app::Evaluation>,
    pub org: Arc<wangge_app::Organisation>,
    pub registry: Arc<PolicyRegistry>,
    /// Set when the server runs on a manual clock.
    pub manual: Option<Arc<ManualClock>>,
    pub metrics: Arc<Metrics>,
    /// Serialises deploys and rollbacks.
    pub deploy_lock: tokio::sync::Mutex<()>,
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
