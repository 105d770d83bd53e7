//! Prometheus metrics: request counts and latencies per gRPC method, cases
//! by workflow and state, pending timers; served as text at `/metrics`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use wangge_app::CaseService;

/// Latency bucket upper bounds, in seconds.
const BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
];

#[derive(Default)]
struct MethodStats {
    codes: BTreeMap<String, u64>,
    buckets: [u64; 11],
    count: u64,
    sum: f64,
}

/// Counters shared by every service.
#[derive(Default)]
pub struct Metrics {
    methods: Mutex<BTreeMap<&'static str, MethodStats>>,
    next_request: AtomicU64,
}

impl Metrics {
    /// A new request id.
    pub fn request_id(&self) -> u64 {
        self.next_request.fetch_add(1, Ordering::Relaxed) + 1
    }

    pub fn observe(&self, method: &'static str, code: tonic::Code, took: Duration) {
        let Ok(mut m) = self.methods.lock() else {
            return;
        };
        let s = m.entry(method).or_default();
        *s.codes.entry(format!("{code:?}")).or_insert(0) += 1;
        let secs = took.as_secs_f64();
        for (i, b) in BUCKETS.iter().enumerate() {
            if secs <= *b {
                s.buckets[i] += 1;
            }
        }
        s.count += 1;
        s.sum += secs;
    }

    /// The text exposition. Case counts come from the store's counters.
    pub fn render(&self, cases: &CaseService) -> String {
        let mut out = String::new();
        out.push_str("# HELP wangge_requests_total gRPC requests by method and status code.\n# TYPE wangge_requests_total counter\n");
        let methods = match self.methods.lock() {
            Ok(m) => m,
            Err(p) => p.into_inner(),
        };
        for (name, s) in methods.iter() {
            for (code, n) in &s.codes {
                let _ = writeln!(
                    out,
                    "wangge_requests_total{{method=\"{name}\",code=\"{code}\"}} {n}"
                );
            }
        }
        out.push_str("# HELP wangge_request_duration_seconds gRPC request latency by method.\n# TYPE wangge_request_duration_seconds histogram\n");
        for (name, s) in methods.iter() {
            for (i, b) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "wangge_request_duration_seconds_bucket{{method=\"{name}\",le=\"{b}\"}} {}",
                    s.buckets[i]
                );
            }
            let _ = writeln!(
                out,
                "wangge_request_duration_seconds_bucket{{method=\"{name}\",le=\"+Inf\"}} {}",
                s.count
            );
            let _ = writeln!(
                out,
                "wangge_request_duration_seconds_sum{{method=\"{name}\"}} {}",
                s.sum
            );
            let _ = writeln!(
                out,
                "wangge_request_duration_seconds_count{{method=\"{name}\"}} {}",
                s.count
            );
        }
        drop(methods);
        // The store's counters: cheap, so read on every scrape.
        let counts = match cases.count_by_state() {
            Ok(c) => c,
            // Not an empty family that looks like "no cases": the family
            // is left out and the failure logged.
            Err(e) => {
                tracing::error!(error = %e, "reading the case counters for the metrics failed");
                Default::default()
            }
        };
        if !counts.is_empty() {
            out.push_str(
                "# HELP wangge_cases Stored cases by workflow and state.\n# TYPE wangge_cases gauge\n",
            );
        }
        for ((wf, state), n) in counts {
            let _ = writeln!(
                out,
                "wangge_cases{{workflow=\"{wf}\",state=\"{state}\"}} {n}"
            );
        }
        let (stored, pending) = cases.totals();
        out.push_str("# HELP wangge_timers_pending Pending timers (deadlines not yet due or not yet fired).\n# TYPE wangge_timers_pending gauge\n");
        let _ = writeln!(out, "wangge_timers_pending {pending}");
        out.push_str(
            "# HELP wangge_cases_stored Stored cases.\n# TYPE wangge_cases_stored gauge\n",
        );
        let _ = writeln!(out, "wangge_cases_stored {stored}");
        out
    }
}

/// Serves `/metrics` until the process stops.
pub async fn serve(
    listener: tokio::net::TcpListener,
    metrics: Arc<Metrics>,
    cases: Arc<CaseService>,
) {
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let metrics = metrics.clone();
            let cases = cases.clone();
            async move {
                tokio::task::spawn_blocking(move || metrics.render(&cases))
                    .await
                    .unwrap_or_default()
            }
        }),
    );
    if let Err(e) = axum::serve(listener, app).await {
        tracing::error!(error = %e, "metrics endpoint stopped");
    }
}
