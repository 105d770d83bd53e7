//! Prometheus metrics (prometheus-client, OpenMetrics text at `/metrics`):
//! gRPC calls labelled as go-grpc-prometheus labels them, how the
//! governance is doing (cases opened and closed, escalations, 出格,
//! limits missed, report-ins missed, timers and their lag, deploys, the
//! active policy version, settlements), and the process. Counts of stored
//! cases come from the store's counters, never a scan.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use wangge_app::{CaseObserver, CaseService};
use wangge_policy::Case;

use super::process;

/// Latency bucket upper bounds, in seconds.
const BUCKETS: [f64; 11] = [
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
];

type Labels<const N: usize> = [(&'static str, String); N];

fn latency() -> Histogram {
    Histogram::new(BUCKETS)
}

/// The metrics every service and the timer loop update.
pub struct Metrics {
    registry: std::sync::Mutex<Option<Registry>>,
    started: Family<Labels<3>, Counter>,
    handled: Family<Labels<4>, Counter>,
    handling: Family<Labels<3>, Histogram, fn() -> Histogram>,
    cases: Arc<CaseCounters>,
    deploys: Family<Labels<1>, Counter>,
    settlements: Counter,
    timer_errors: Counter,
    audit_errors: Counter,
    webhook_delivered: Counter,
    webhook_dead: Counter,
    next_request: AtomicU64,
}

/// What the case observer counts.
#[derive(Default)]
pub struct CaseCounters {
    opened: Family<Labels<2>, Counter>,
    closed: Family<Labels<2>, Counter>,
    escalations: Family<Labels<2>, Counter>,
    breaches: Family<Labels<2>, Counter>,
    overdue: Family<Labels<2>, Counter>,
    report_in_missed: Family<Labels<2>, Counter>,
}

impl std::fmt::Debug for CaseCounters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CaseCounters")
    }
}

fn class_of(c: &Case) -> String {
    c.class.clone().unwrap_or_else(|| "-".into())
}

impl CaseObserver for CaseCounters {
    fn changed(&self, before: Option<&Case>, after: &Case) {
        let wf = || after.workflow.clone();
        let Some(before) = before else {
            self.opened
                .get_or_create(&[("workflow", wf()), ("class", class_of(after))])
                .inc();
            return;
        };
        if after.closed_at.is_some() && before.closed_at.is_none() {
            self.closed
                .get_or_create(&[("workflow", wf()), ("class", class_of(after))])
                .inc();
        }
        let level = || after.level.clone();
        let more = |a: u32, b: u32| u64::from(a.saturating_sub(b));
        let n = more(after.escalations, before.escalations);
        if n > 0 {
            self.escalations
                .get_or_create(&[("workflow", wf()), ("level", level())])
                .inc_by(n);
        }
        for b in after.breaches.iter().skip(before.breaches.len()) {
            self.breaches
                .get_or_create(&[("workflow", wf()), ("level", b.to.clone())])
                .inc();
        }
        let n = more(after.overdue, before.overdue);
        if n > 0 {
            self.overdue
                .get_or_create(&[("workflow", wf()), ("level", level())])
                .inc_by(n);
        }
        for (i, s) in after.summons.iter().enumerate() {
            let was = before.summons.get(i).is_some_and(|b| b.missed);
            if s.missed && !was {
                self.report_in_missed
                    .get_or_create(&[("workflow", wf()), ("department", s.department.clone())])
                    .inc();
            }
        }
    }
}

/// go-grpc-prometheus's names for status codes.
fn code_name(code: tonic::Code) -> String {
    match code {
        tonic::Code::Ok => "OK".into(),
        tonic::Code::Cancelled => "Canceled".into(),
        other => format!("{other:?}"),
    }
}

/// `CaseService/Report` → (`wangge.v1.CaseService`, `Report`, type).
fn method_labels(method: &str) -> Labels<3> {
    let (service, name) = method.split_once('/').unwrap_or(("", method));
    let kind = if name == "WatchCases" {
        "server_stream"
    } else {
        "unary"
    };
    [
        ("grpc_type", kind.to_string()),
        ("grpc_service", format!("wangge.v1.{service}")),
        ("grpc_method", name.to_string()),
    ]
}

impl Metrics {
    pub fn new() -> Metrics {
        Metrics {
            registry: std::sync::Mutex::new(None),
            started: Family::default(),
            handled: Family::default(),
            handling: Family::new_with_constructor(latency),
            cases: Arc::default(),
            deploys: Family::default(),
            settlements: Counter::default(),
            timer_errors: Counter::default(),
            audit_errors: Counter::default(),
            webhook_delivered: Counter::default(),
            webhook_dead: Counter::default(),
            next_request: AtomicU64::new(0),
        }
    }

    /// The observer that counts case changes (hand it to the CaseService).
    pub fn case_observer(&self) -> Arc<CaseCounters> {
        self.cases.clone()
    }

    /// A new request id.
    pub fn request_id(&self) -> u64 {
        self.next_request.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// A call has started.
    pub fn start(&self, method: &'static str) {
        self.started.get_or_create(&method_labels(method)).inc();
    }

    /// A call has ended with `code` after `took`.
    pub fn observe(&self, method: &'static str, code: tonic::Code, took: Duration) {
        let [t, s, m] = method_labels(method);
        self.handling
            .get_or_create(&[t.clone(), s.clone(), m.clone()])
            .observe(took.as_secs_f64());
        self.handled
            .get_or_create(&[t, s, m, ("grpc_code", code_name(code))])
            .inc();
    }

    /// A deploy or rollback: `deployed`, `rolled_back` or `refused`.
    pub fn deploy(&self, outcome: &'static str) {
        self.deploys
            .get_or_create(&[("outcome", outcome.to_string())])
            .inc();
    }

    /// Settlements newly stored.
    pub fn settled(&self, created: u64) {
        self.settlements.inc_by(created);
    }

    /// Audit entries that could not be written.
    pub fn audit_errors(&self, n: u64) {
        self.audit_errors.inc_by(n);
    }

    /// A webhook delivery succeeded.
    pub fn webhook_delivered(&self) {
        self.webhook_delivered.inc();
    }

    /// A webhook delivery became a dead letter.
    pub fn webhook_dead(&self) {
        self.webhook_dead.inc();
    }

    /// A pass of the timer loop failed.
    pub fn timer_error(&self) {
        self.timer_errors.inc();
    }

    /// Registers everything, with the gauges read from `cases` at each
    /// scrape. Call once, before serving.
    pub fn register(
        &self,
        cases: Arc<CaseService>,
        pg: Option<Arc<wangge_store_postgres::PgStore>>,
    ) {
        let mut r = Registry::default();
        r.register(
            "grpc_server_started",
            "RPCs started on the server",
            self.started.clone(),
        );
        r.register(
            "grpc_server_handled",
            "RPCs completed on the server, by status code",
            self.handled.clone(),
        );
        r.register(
            "grpc_server_handling_seconds",
            "Time to handle an RPC",
            self.handling.clone(),
        );
        let c = &self.cases;
        r.register(
            "wangge_cases_opened",
            "Cases opened, by workflow and class",
            c.opened.clone(),
        );
        r.register(
            "wangge_cases_closed",
            "Cases closed, by workflow and class",
            c.closed.clone(),
        );
        r.register(
            "wangge_case_escalations",
            "Escalations, by workflow and the level reached",
            c.escalations.clone(),
        );
        r.register(
            "wangge_case_breaches",
            "Climbs past a class's ceiling (出格), by workflow and the level reached",
            c.breaches.clone(),
        );
        r.register(
            "wangge_case_overdue",
            "Limits missed at the top of a ladder, by workflow and level",
            c.overdue.clone(),
        );
        r.register(
            "wangge_report_in_missed",
            "Summoned departments that did not report in on time (部门报到)",
            c.report_in_missed.clone(),
        );
        r.register(
            "wangge_policy_deploys",
            "Policy deploys and rollbacks, by outcome",
            self.deploys.clone(),
        );
        r.register(
            "wangge_settlements",
            "Subsidy settlements stored",
            self.settlements.clone(),
        );
        r.register(
            "wangge_timer_errors",
            "Passes of the timer loop that failed (storage errors)",
            self.timer_errors.clone(),
        );
        r.register(
            "wangge_webhook_deliveries",
            "Webhook deliveries answered 2xx",
            self.webhook_delivered.clone(),
        );
        r.register(
            "wangge_webhook_dead_letters",
            "Webhook deliveries that failed every attempt (dead letters)",
            self.webhook_dead.clone(),
        );
        r.register(
            "wangge_audit_errors",
            "Audit entries that could not be written",
            self.audit_errors.clone(),
        );
        r.register_collector(Box::new(Scraped { cases }));
        if let Some(pg) = pg {
            r.register_collector(Box::new(Database { pg }));
        }
        if let Ok(mut slot) = self.registry.lock() {
            *slot = Some(r);
        }
    }

    /// The OpenMetrics text exposition.
    pub fn render(&self) -> Result<String, String> {
        let slot = self
            .registry
            .lock()
            .map_err(|_| "the metrics registry is poisoned".to_string())?;
        let registry = slot
            .as_ref()
            .ok_or_else(|| "the metrics are not registered".to_string())?;
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, registry)
            .map_err(|e| format!("encoding the metrics failed: {e}"))?;
        Ok(out)
    }
}

/// Gauges read at each scrape: the store's counters, timers, the active
/// version, the process.
struct Scraped {
    cases: Arc<CaseService>,
}

impl std::fmt::Debug for Scraped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Scraped")
    }
}

fn gauge<V: prometheus_client::encoding::EncodeGaugeValue>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: V,
) -> Result<(), std::fmt::Error> {
    let g = ConstGauge::new(value);
    g.encode(encoder.encode_descriptor(name, help, None, g.metric_type())?)
}

impl Collector for Scraped {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        // A failed read leaves its family out (logged), never a zero that
        // looks like "no cases".
        match self.cases.count_by_state() {
            Ok(counts) => {
                let mut family = encoder.encode_descriptor(
                    "wangge_cases",
                    "Stored cases by workflow and state",
                    None,
                    MetricType::Gauge,
                )?;
                for ((workflow, state), n) in counts {
                    let labels = [("workflow", workflow), ("state", state)];
                    ConstGauge::new(n).encode(family.encode_family(&labels)?)?;
                }
            }
            Err(e) => tracing::error!(error = %e, "reading the case counters failed"),
        }
        let (stored, pending) = self.cases.totals();
        gauge(&mut encoder, "wangge_cases_stored", "Stored cases", stored)?;
        gauge(
            &mut encoder,
            "wangge_timers_pending",
            "Pending timers (deadlines not yet due or not yet fired)",
            pending,
        )?;
        match self.cases.timer_lag() {
            Ok(lag) => gauge(
                &mut encoder,
                "wangge_timer_lag_seconds",
                "How late the oldest due timer is (0: none is due)",
                lag,
            )?,
            Err(e) => tracing::error!(error = %e, "reading the timer queue failed"),
        }
        let policy = self.cases.policy();
        let info = prometheus_client::metrics::info::Info::new([
            ("version", policy.hash.to_string()),
            ("name", policy.name.clone().unwrap_or_default()),
        ]);
        info.encode(encoder.encode_descriptor(
            "wangge_policy_active",
            "The active policy version",
            None,
            info.metric_type(),
        )?)?;
        let build = prometheus_client::metrics::info::Info::new([
            ("version", env!("CARGO_PKG_VERSION").to_string()),
            ("revision", crate::REVISION.to_string()),
        ]);
        build.encode(encoder.encode_descriptor(
            "wangge_build",
            "The running build",
            None,
            build.metric_type(),
        )?)?;
        process_metrics(&mut encoder)
    }
}

/// The PostgreSQL store's pool, queries, batches and lease takeovers,
/// read at each scrape.
struct Database {
    pg: Arc<wangge_store_postgres::PgStore>,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Database")
    }
}

fn counter(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: u64,
) -> Result<(), std::fmt::Error> {
    let c = prometheus_client::metrics::counter::ConstCounter::new(value);
    c.encode(encoder.encode_descriptor(name, help, None, c.metric_type())?)
}

impl Collector for Database {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        use std::sync::atomic::Ordering::Relaxed;
        let (size, idle, waiting) = self.pg.pool_status();
        gauge(
            &mut encoder,
            "wangge_store_pool_connections",
            "Connections open in the pool",
            size as i64,
        )?;
        gauge(
            &mut encoder,
            "wangge_store_pool_idle",
            "Pooled connections idle",
            idle as i64,
        )?;
        gauge(
            &mut encoder,
            "wangge_store_pool_waiting",
            "Calls waiting for a pooled connection",
            waiting as i64,
        )?;
        let s = self.pg.stats();
        counter(
            &mut encoder,
            "wangge_store_queries",
            "Statements and batch transactions run on PostgreSQL",
            s.queries.load(Relaxed),
        )?;
        let seconds = s.query_micros.load(Relaxed) as f64 / 1e6;
        let c = prometheus_client::metrics::counter::ConstCounter::new(seconds);
        c.encode(encoder.encode_descriptor(
            "wangge_store_query_seconds",
            "Time spent in those statements and transactions (divide by wangge_store_queries_total for the mean)",
            None,
            c.metric_type(),
        )?)?;
        counter(
            &mut encoder,
            "wangge_store_query_errors",
            "Statements that failed",
            s.query_errors.load(Relaxed),
        )?;
        counter(
            &mut encoder,
            "wangge_store_batches",
            "Group-commit transactions committed",
            s.batches.load(Relaxed),
        )?;
        counter(
            &mut encoder,
            "wangge_store_batched_writes",
            "Case writes in those transactions",
            s.batched_writes.load(Relaxed),
        )?;
        counter(
            &mut encoder,
            "wangge_store_lease_takeovers",
            "Timers taken over from another server whose lease ran out",
            s.lease_takeovers.load(Relaxed),
        )
    }
}

/// `process_*` as the Prometheus clients name them (Linux `/proc`).
fn process_metrics(encoder: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
    let p = match process::sample() {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(error = %e, "reading /proc for the process metrics failed");
            return Ok(());
        }
    };
    let cpu = ConstCounter::new(p.cpu_seconds);
    cpu.encode(encoder.encode_descriptor(
        "process_cpu_seconds",
        "Total user and system CPU time spent in seconds",
        None,
        cpu.metric_type(),
    )?)?;
    gauge(
        encoder,
        "process_resident_memory_bytes",
        "Resident memory size in bytes",
        p.resident_bytes,
    )?;
    gauge(
        encoder,
        "process_virtual_memory_bytes",
        "Virtual memory size in bytes",
        p.virtual_bytes,
    )?;
    gauge(
        encoder,
        "process_open_fds",
        "Number of open file descriptors",
        p.open_fds,
    )?;
    gauge(
        encoder,
        "process_max_fds",
        "Maximum number of open file descriptors",
        p.max_fds,
    )?;
    gauge(
        encoder,
        "process_start_time_seconds",
        "Start time of the process since the Unix epoch in seconds",
        p.start_time_seconds,
    )
}

/// Serves `/metrics` until the process stops.
pub async fn serve(listener: tokio::net::TcpListener, metrics: Arc<Metrics>) {
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let metrics = metrics.clone();
            async move {
                let rendered = tokio::task::spawn_blocking(move || metrics.render())
                    .await
                    .map_err(|e| format!("the metrics task failed: {e}"))
                    .and_then(|r| r);
                match rendered {
                    Ok(text) => (
                        http::StatusCode::OK,
                        [(
                            http::header::CONTENT_TYPE,
                            "application/openmetrics-text; version=1.0.0; charset=utf-8",
                        )],
                        text,
                    ),
                    Err(e) => {
                        tracing::error!(error = %e, "rendering the metrics failed");
                        (
                            http::StatusCode::INTERNAL_SERVER_ERROR,
                            [(http::header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                            e,
                        )
                    }
                }
            }
        }),
    );
    if let Err(e) = axum::serve(listener, app).await {
        tracing::error!(error = %e, "metrics endpoint stopped");
    }
}
