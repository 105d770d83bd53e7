//! `wangge serve`: the gRPC service on the embedded default (sled in a local
//! data folder, the policy folder compiled and activated at start), with
//! health, reflection, metrics, a timer loop and graceful shutdown.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use tonic::transport::Server;
use wangge_app::CaseService;
use wangge_app::{read_dir, PolicyRegistry};
use wangge_policy::RhaiHost;
use wangge_policy::{Clock, ManualClock, SystemClock};
use wangge_proto::v1;
use wangge_store::prelude::*;
use wangge_store_sled::SledStore;
use wangge_testkit::ScenarioRunner;

pub(crate) mod app;
mod audit;
mod audit_keys;
pub mod auth;
pub mod config;
mod convert;
pub(crate) mod evaluation;
pub(crate) mod incentive;
mod intake;
mod lease;
mod metrics;
mod process;
pub(crate) mod services;
mod shed;
mod status;
pub(crate) mod tasks;
mod tls;
pub mod webhooks;

use app::App;
pub use config::ServeArgs;

pub fn run(args: &ServeArgs) -> ExitCode {
    let config = match args.resolve() {
        Ok(c) => c,
        Err(e) => {
            crate::report(e);
            return ExitCode::FAILURE;
        }
    };
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr)
        .try_init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(serve(config))
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down: no new calls; finishing those in flight");
}

/// tonic answers a request larger than the decoding limit with OUT_OF_RANGE;
/// gRPC says RESOURCE_EXHAUSTED (a limit was hit, not a position past an
/// end), and clients treat the two differently. The status travels in the
/// headers of a trailers-only response.
fn oversized_is_resource_exhausted<B>(mut res: http::Response<B>) -> http::Response<B> {
    let headers = res.headers_mut();
    let too_large = headers.get("grpc-status").is_some_and(|s| s == "11")
        && headers
            .get("grpc-message")
            .and_then(|m| m.to_str().ok())
            .is_some_and(|m| {
                m.contains("message%20length%20too%20large")
                    || m.contains("message length too large")
            });
    if too_large {
        headers.insert("grpc-status", http::HeaderValue::from_static("8"));
    }
    res
}

/// A data folder that last ran on a manual clock is not silently moved to
/// the system clock (every deadline before now would fire at once): that
/// takes `--adopt-system-clock`, which forgets the stored time.
fn leave_manual_clock(cases: &CaseService, adopt: bool) -> Result<(), String> {
    let Some(t) = cases.remembered_clock().map_err(|e| e.to_string())? else {
        return Ok(());
    };
    let at = wangge_policy::format_ts(t, 8 * 3600);
    if !adopt {
        return Err(format!(
            "this data folder runs on a manual clock (stopped at {at}); start it with `--clock \
             manual` to resume there, or pass `--adopt-system-clock` to move it to the system \
             clock (every deadline before now then fires at once)"
        ));
    }
    cases.forget_clock().map_err(|e| e.to_string())?;
    tracing::warn!(manual = %at, "--adopt-system-clock: the manual clock is forgotten; deadlines before now fire");
    Ok(())
}

/// A manual clock resumes where it stopped (the stored time wins over
/// `--clock-start`, which only starts a fresh store); the time is stored.
fn resume_clock(
    cases: &CaseService,
    clock: &ManualClock,
    start: Option<i64>,
) -> Result<(), wangge_app::AppError> {
    match cases.remembered_clock()? {
        Some(t) => {
            if start.is_some_and(|s| s != t) {
                tracing::warn!(
                    stored = %wangge_policy::format_ts(t, 8 * 3600),
                    "--clock-start ignored: the manual clock resumes at its stored time"
                );
            }
            clock.set(t);
            Ok(())
        }
        None => cases.remember_clock(clock.now()),
    }
}

/// The version to serve: the one stored as active (by a deploy or a
/// rollback) wins over the `--policies` folder, unless `--adopt-policies`
/// says to switch; either way a difference is logged.
fn startup_version(
    cases: &CaseService,
    registry: &PolicyRegistry,
    folder: Arc<wangge_policy::PolicySet>,
    config: &config::Config,
) -> Result<Arc<wangge_policy::PolicySet>, wangge_app::AppError> {
    let Some(stored) = cases.stored_active()? else {
        return Ok(folder);
    };
    if *stored == *folder.hash {
        return Ok(folder);
    }
    if config.adopt_policies {
        tracing::warn!(
            stored = %stored,
            folder = %folder.hash,
            policies = %config.policies.display(),
            "--adopt-policies: switching from the stored active version to the folder's"
        );
        return Ok(folder);
    }
    tracing::warn!(
        stored = %stored,
        folder = %folder.hash,
        policies = %config.policies.display(),
        "the policy folder differs from the version stored as active (deployed or rolled \
         back); serving the stored version. Pass --adopt-policies to switch to the folder"
    );
    registry.load(&stored)
}

/// Health follows the database: the server as a whole (service "") is
/// NOT_SERVING while PostgreSQL does not answer, SERVING again when it
/// does (a load balancer then sends calls elsewhere meanwhile).
async fn watch_database(
    pg: Arc<wangge_store_postgres::PgStore>,
    health: tonic_health::server::HealthReporter,
) {
    let mut up = true;
    loop {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let store = pg.clone();
        let answered = tokio::task::spawn_blocking(move || store.ping())
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r.map_err(|e| e.to_string()));
        match (&answered, up) {
            (Err(e), true) => {
                tracing::error!(error = %e, "PostgreSQL does not answer: health NOT_SERVING");
                health
                    .set_service_status("", tonic_health::ServingStatus::NotServing)
                    .await;
            }
            (Ok(()), false) => {
                tracing::info!("PostgreSQL answers again: health SERVING");
                health
                    .set_service_status("", tonic_health::ServingStatus::Serving)
                    .await;
            }
            _ => {}
        }
        up = answered.is_ok();
    }
}

/// Makes the version another server sharing the database activated this
/// server's too (checked every second on the timer thread, before timers
/// fire, so they fire on it).
fn follow_deploys(cases: &CaseService, registry: &PolicyRegistry) {
    let followed = cases.follow_active(|hash| {
        registry.refresh()?;
        registry.load(hash)
    });
    match followed {
        Ok(Some(hash)) => {
            tracing::info!(hash = %hash, "policy version activated by another server")
        }
        Ok(None) => {}
        Err(e) => tracing::warn!(error = %e, "cannot follow the stored active policy version"),
    }
}

/// The store, and its own handle: sled (for backups) or PostgreSQL (for
/// health and pool metrics).
type Opened = (
    Arc<dyn Store>,
    Option<Arc<SledStore>>,
    Option<Arc<wangge_store_postgres::PgStore>>,
);

/// The store the configuration names: sled in the data folder, or
/// PostgreSQL.
fn open_store(config: &config::Config) -> Result<Opened, wangge_store::StoreError> {
    match &config.storage {
        config::StorageKind::Sled => {
            let sled = Arc::new(SledStore::open_with(
                &config.data,
                config.cache_bytes,
                config.durability,
            )?);
            Ok((sled.clone(), Some(sled), None))
        }
        config::StorageKind::Postgres {
            url,
            schema,
            lease_secs,
            pool_size,
        } => {
            let mut options = wangge_store_postgres::PgOptions::new(schema);
            options.lease = Duration::from_secs(*lease_secs);
            options.pool_size = *pool_size;
            let pg = Arc::new(wangge_store_postgres::PgStore::connect_with(url, options)?);
            tracing::info!(schema = %schema, "storage on PostgreSQL");
            Ok((pg.clone(), None, Some(pg)))
        }
    }
}

async fn serve(config: config::Config) -> ExitCode {
    let (store, sled, pg) = match open_store(&config) {
        Ok(s) => s,
        Err(e) => {
            crate::report(e);
            return ExitCode::FAILURE;
        }
    };
    let host = RhaiHost::default();
    let registry = match PolicyRegistry::open(store.clone(), host, Arc::new(ScenarioRunner)) {
        Ok(r) => Arc::new(r),
        Err(e) => {
            crate::report(e);
            return ExitCode::FAILURE;
        }
    };
    let (clock, manual): (Arc<dyn Clock>, Option<Arc<ManualClock>>) = if config.manual_clock {
        let m = Arc::new(ManualClock::new(
            config.clock_start.unwrap_or_else(|| SystemClock.now()),
        ));
        (m.clone(), Some(m))
    } else {
        (Arc::new(SystemClock), None)
    };
    let files = match read_dir(&config.policies) {
        Ok(f) => f,
        Err(e) => {
            crate::report(e);
            return ExitCode::FAILURE;
        }
    };
    let folder = match registry.deploy(files, clock.now()) {
        Ok((set, _, _)) => set,
        Err(rejected) => {
            let errors: Vec<_> = rejected
                .diagnostics
                .into_iter()
                .filter(|d| d.is_error())
                .collect();
            eprint!("{}", wangge_dsl::render(&errors, &rejected.sources, false));
            eprintln!(
                "error: `{}` has {} error(s); not serving",
                config.policies.display(),
                errors.len()
            );
            return ExitCode::FAILURE;
        }
    };
    let metrics = Arc::new(metrics::Metrics::new());
    let cases = Arc::new(
        CaseService::new(store.clone(), folder.clone(), clock)
            .checking_inputs()
            .observed_by(metrics.case_observer()),
    );
    metrics.register(cases.clone(), pg.clone());
    let set = match startup_version(&cases, &registry, folder, &config) {
        Ok(set) => set,
        Err(e) => {
            crate::report(e);
            return ExitCode::FAILURE;
        }
    };
    let clock_ready = match &manual {
        Some(m) => resume_clock(&cases, m, config.clock_start).map_err(|e| e.to_string()),
        None => leave_manual_clock(&cases, config.adopt_system_clock),
    };
    if let Err(message) = clock_ready {
        eprintln!("error: {message}");
        return ExitCode::FAILURE;
    }
    if let Err(e) = cases.activate(set.clone()) {
        crate::report(e);
        return ExitCode::FAILURE;
    }
    tracing::info!(hash = %set.hash, "policy version active");
    let auth = match &config.auth {
        Some(a) => {
            let ids = config
                .tls
                .as_ref()
                .map(|t| t.client_identities.clone())
                .unwrap_or_default();
            match auth::Authenticator::new(a, ids) {
                Ok(a) => Some(Arc::new(a)),
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::FAILURE;
                }
            }
        }
        None => None,
    };
    if auth.is_some() && set.grants.is_empty() {
        tracing::warn!(
            "authentication is on but the policy grants nothing: every call will be refused; \
             declare `grant` items"
        );
    }
    let org = Arc::new(wangge_app::Organisation::new(store.clone()));
    let tasks =
        match wangge_app::TaskService::open(store.clone(), org.clone(), cases.clock().clone()) {
            Ok(t) => Arc::new(t),
            Err(e) => {
                crate::report(e);
                return ExitCode::FAILURE;
            }
        };
    let app = Arc::new(App {
        intake: Arc::new(wangge_app::Intake::new(store.clone(), cases.clone())),
        auth,
        tasks: tasks.clone(),
        audit: Arc::new(wangge_app::audit::AuditLog::new(store.clone())),
        webhooks: config.webhooks.clone(),
        incentives: Arc::new(wangge_app::Incentives::new(store.clone())),
        evaluation: Arc::new(wangge_app::Evaluation::new(store.clone())),
        org,
        cases: cases.clone(),
        store: store.clone(),
        sled,
        owner: lease::owner(),
        registry,
        manual,
        metrics: metrics.clone(),
        deploy_lock: tokio::sync::Mutex::new(()),
        clock_lock: tokio::sync::Mutex::new(()),
        watchers: app::Watchers::new(config.watch_streams, config.watch_streams_per_connection),
        max_data_bytes: config.max_data_bytes,
    });

    for hook in config.webhooks.clone() {
        tracing::info!(webhook = %hook.name, url = %hook.url, "delivering case events");
        tokio::spawn(webhooks::run(app.clone(), hook));
    }

    // Audit entries the writer could not write, counted for the alert.
    let watched = app.clone();
    tokio::spawn(async move {
        let mut seen = 0;
        loop {
            tokio::time::sleep(Duration::from_secs(5)).await;
            let n = watched.audit.failures();
            if n > seen {
                watched.metrics.audit_errors(n - seen);
                tracing::error!(failed = n - seen, "audit entries could not be written");
                seen = n;
            }
        }
    });

    // Timers: fire what is due, every second, on a thread of their own so
    // no load on the runtime or the blocking pool can starve them (the
    // manual clock fires on every move too).
    let timer_cases = cases.clone();
    let timer_tasks = tasks;
    let timer_metrics = metrics.clone();
    // On a shared database, another server may deploy or import: follow it.
    let shared_registry = app.sled.is_none().then(|| app.registry.clone());
    let shared_org = app.org.clone();
    let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
    let timers = std::thread::Builder::new()
        .name("wangge-timers".into())
        .spawn(move || loop {
            match stop_rx.recv_timeout(Duration::from_secs(1)) {
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                _ => return,
            }
            if let Some(registry) = &shared_registry {
                follow_deploys(&timer_cases, registry);
                if let Err(e) = shared_org.follow() {
                    tracing::warn!(error = %e, "cannot follow the registry's changes");
                }
            }
            let fired = timer_cases
                .fire_due()
                .and_then(|n| Ok(n + timer_tasks.fire_due()?));
            match fired {
                Ok(0) => {}
                Ok(n) => tracing::info!(fired = n, "timers fired"),
                Err(e) => {
                    timer_metrics.timer_error();
                    tracing::error!(error = %e, "firing timers failed")
                }
            }
        });
    let timers = match timers {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: cannot start the timer thread: {e}");
            return ExitCode::FAILURE;
        }
    };

    if let Some(addr) = config.metrics_listen {
        match tokio::net::TcpListener::bind(addr).await {
            Ok(l) => {
                let bound = l.local_addr().map(|a| a.to_string()).unwrap_or_default();
                println!("wangge metrics on http://{bound}/metrics");
                tokio::spawn(metrics::serve(l, app.metrics.clone()));
            }
            Err(e) => {
                eprintln!("error: cannot listen for metrics on `{addr}`: {e}");
                return ExitCode::FAILURE;
            }
        }
    }

    if let Some(addr) = config.console_listen {
        if let Err(e) = start_console(&app, &config, addr).await {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    }

    let exposed = !config.listen.ip().is_loopback();
    if app.auth.is_none() && !exposed {
        println!(
            "wangge: no authentication configured: listening on loopback only, every local \
             caller is the operator (see \"Running it for real\" in the README)"
        );
    }
    if exposed && config.insecure_no_auth && (app.auth.is_none() || config.tls.is_none()) {
        let listen = config.listen;
        tokio::spawn(async move {
            loop {
                tracing::warn!(
                    %listen,
                    "--insecure-no-auth: the gRPC port is exposed without TLS and \
                     authentication; anyone who reaches it can report, act, deploy and settle"
                );
                tokio::time::sleep(Duration::from_secs(60)).await;
            }
        });
    }
    let listener = match tokio::net::TcpListener::bind(config.listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: cannot listen on `{}`: {e}", config.listen);
            return ExitCode::FAILURE;
        }
    };
    let bound = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let (health_reporter, health) = tonic_health::server::health_reporter();
    health_reporter
        .set_serving::<v1::case_service_server::CaseServiceServer<services::Cases>>()
        .await;
    health_reporter
        .set_serving::<v1::policy_service_server::PolicyServiceServer<services::Policies>>()
        .await;
    health_reporter
        .set_serving::<v1::org_service_server::OrgServiceServer<services::Org>>()
        .await;
    health_reporter
        .set_serving::<v1::admin_service_server::AdminServiceServer<services::Admin>>()
        .await;
    health_reporter
        .set_serving::<v1::incentive_service_server::IncentiveServiceServer<incentive::Incentive>>()
        .await;
    health_reporter
        .set_serving::<v1::evaluation_service_server::EvaluationServiceServer<
            evaluation::Evaluations,
        >>()
        .await;
    health_reporter
        .set_serving::<v1::audit_service_server::AuditServiceServer<audit::Audit>>()
        .await;
    health_reporter
        .set_serving::<v1::task_service_server::TaskServiceServer<tasks::Tasks>>()
        .await;
    health_reporter
        .set_serving::<v1::intake_service_server::IntakeServiceServer<intake::IntakeApi>>()
        .await;
    if let Some(pg) = pg.clone() {
        tokio::spawn(watch_database(pg, health_reporter.clone()));
    }
    // Reflection in both versions: `v1` (grpcurl, Go, Java) and `v1alpha`
    // (Python's grpcio-reflection and older clients).
    let reflection_builder = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(wangge_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    let reflections = reflection_builder().build_v1().and_then(|v1| {
        reflection_builder()
            .build_v1alpha()
            .map(|v1alpha| (v1, v1alpha))
    });
    let (reflection, reflection_v1alpha) = match reflections {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot build reflection: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "wangge listening on {bound} (data {}, policies {}, {} clock)",
        config.data.display(),
        config.policies.display(),
        if app.manual.is_some() {
            "manual"
        } else {
            "system"
        }
    );
    // After the signal, in-flight calls get a grace period, then we stop anyway.
    let (sig_tx, mut sig_rx) = tokio::sync::watch::channel(false);
    let signal = async move {
        shutdown_signal().await;
        let _ = sig_tx.send(true);
    };
    let grace = async move {
        let _ = sig_rx.changed().await;
        tokio::time::sleep(Duration::from_secs(10)).await;
    };
    // Past `max_in_flight` calls at once, new ones are shed at once
    // (RESOURCE_EXHAUSTED with a retry hint) instead of queueing without
    // bound; a call longer than the timeout (or the client's deadline,
    // whichever is sooner) is cancelled.
    let mut builder = Server::builder();
    if let Some(t) = &config.tls {
        builder = match tls::server_config(t).and_then(|c| {
            builder
                .tls_config(c)
                .map_err(|e| format!("TLS cannot be set up: {e}"))
        }) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        };
    }
    let serving = builder
        .timeout(config.request_timeout)
        .layer(tower::util::MapResponseLayer::new(
            oversized_is_resource_exhausted,
        ))
        .layer(shed::ShedLayer::new(config.max_in_flight))
        .add_service(health)
        .add_service(reflection)
        .add_service(reflection_v1alpha)
        .add_service(v1::case_service_server::CaseServiceServer::new(
            services::Cases(app.clone()),
        ))
        .add_service(v1::policy_service_server::PolicyServiceServer::new(
            services::Policies(app.clone()),
        ))
        .add_service(v1::org_service_server::OrgServiceServer::new(
            services::Org(app.clone()),
        ))
        .add_service(v1::admin_service_server::AdminServiceServer::new(
            services::Admin(app.clone()),
        ))
        .add_service(v1::incentive_service_server::IncentiveServiceServer::new(
            incentive::Incentive(app.clone()),
        ))
        .add_service(v1::evaluation_service_server::EvaluationServiceServer::new(
            evaluation::Evaluations(app.clone()),
        ))
        .add_service(v1::audit_service_server::AuditServiceServer::new(
            audit::Audit(app.clone()),
        ))
        .add_service(v1::task_service_server::TaskServiceServer::new(
            tasks::Tasks(app.clone()),
        ))
        .add_service(v1::intake_service_server::IntakeServiceServer::new(
            intake::IntakeApi(app.clone()),
        ))
        .serve_with_incoming_shutdown(
            tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true)),
            signal,
        );
    let served = tokio::select! {
        r = serving => r,
        _ = grace => {
            tracing::warn!("calls still open 10 s after the signal; stopping anyway");
            Ok(())
        }
    };
    let _ = stop_tx.send(());
    let _ = tokio::task::spawn_blocking(move || timers.join()).await;
    let flushed = tokio::task::spawn_blocking(move || store.flush()).await;
    match (served, flushed) {
        (Ok(()), Ok(Ok(()))) => {
            tracing::info!("stopped cleanly");
            ExitCode::SUCCESS
        }
        (Err(e), _) => {
            eprintln!("error: the server failed: {e}");
            ExitCode::FAILURE
        }
        (_, Ok(Err(e))) => {
            crate::report(e);
            ExitCode::FAILURE
        }
        (_, Err(e)) => {
            eprintln!("error: the final flush failed: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Starts the console on `addr`: HTTPS with the server's certificate when
/// TLS is configured (cookies `Secure`), else plain HTTP on loopback only
/// (sessions carry tokens) unless `--insecure-no-auth`.
async fn start_console(
    app: &Arc<App>,
    config: &config::Config,
    addr: std::net::SocketAddr,
) -> Result<(), String> {
    let tls = config.tls.as_ref();
    if tls.is_none() && !addr.ip().is_loopback() && !config.insecure_no_auth {
        return Err(format!(
            "the console on `{addr}` would serve sessions over plain HTTP beyond this machine: \
             give the server a certificate (--tls-cert, --tls-key), listen on 127.0.0.1, or pass \
             --insecure-no-auth for a test network"
        ));
    }
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen for the console on `{addr}`: {e}"))?;
    let bound = listener.local_addr().map_err(|e| e.to_string())?;
    let console = Arc::new(crate::console::Console::new(app.clone(), tls.is_some()));
    match tls {
        Some(files) => {
            let acceptor = crate::console::https::acceptor(files)?;
            let https = crate::console::https::HttpsListener::new(listener, acceptor)
                .map_err(|e| e.to_string())?;
            tokio::spawn(crate::console::serve(https, console));
        }
        None => {
            tokio::spawn(crate::console::serve(listener, console));
        }
    }
    crate::console::announce(bound, tls.is_some());
    Ok(())
}
