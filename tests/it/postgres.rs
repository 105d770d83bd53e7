//! The server on PostgreSQL ([8/10], so far one server): reports and
//! actions stored in the database survive a kill -9 and a restart; a URL
//! that cannot be reached refuses to start with a clear message. Needs
//! `WANGGE_TEST_POSTGRES_URL` (each test in a schema of its own).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use wangge_proto::v1;
use wangge_proto::v1::case_service_client::CaseServiceClient;

use crate::grpc::{report, SMALL};
use crate::server::Server;

pub(crate) fn url() -> String {
    std::env::var("WANGGE_TEST_POSTGRES_URL").unwrap_or_default()
}

/// A fresh schema name, dropped when the guard goes.
pub(crate) struct Schema(pub(crate) String);

impl Schema {
    pub(crate) fn new(name: &str) -> Schema {
        static N: AtomicU64 = AtomicU64::new(0);
        Schema(format!(
            "it_{name}_{}_{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ))
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        let _ = std::process::Command::new("psql")
            .args([
                &url(),
                "-qc",
                &format!("DROP SCHEMA IF EXISTS {} CASCADE", self.0),
            ])
            .output();
    }
}

/// Reports `r`; the id of its case.
async fn report_id(
    cases: &mut CaseServiceClient<tonic::transport::Channel>,
    r: v1::ReportRequest,
) -> u64 {
    cases.report(r).await.unwrap().into_inner().case.unwrap().id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(pg_tests),
    ignore = "needs PostgreSQL: set WANGGE_TEST_POSTGRES_URL"
)]
async fn acknowledged_reports_and_actions_survive_a_kill_on_postgres() {
    let schema = Schema::new("kill");
    let data = tempfile::tempdir().unwrap();
    let flags = ["--postgres", &url(), "--postgres-schema", &schema.0];
    let server = Server::start_with(data.path(), &flags);
    let mut cases = CaseServiceClient::new(server.channel().await);
    let mut ids = Vec::new();
    for _ in 0..20 {
        ids.push(report_id(&mut cases, report(SMALL)).await);
    }
    cases
        .act(v1::ActRequest {
            id: ids[0],
            action: "立案".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    server.kill();
    // Nothing is in the data folder: it is all in the database.
    let again = Server::start_bare(data.path(), &flags);
    let mut cases = CaseServiceClient::new(again.channel().await);
    let first = cases
        .get(v1::GetCaseRequest { id: ids[0] })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((first.state.as_str(), first.version), ("立案", 2));
    let listed = cases
        .list(v1::ListCasesRequest::default())
        .await
        .unwrap()
        .into_inner()
        .cases;
    assert_eq!(listed.len(), 20);
    let next = cases
        .report(report(SMALL))
        .await
        .unwrap()
        .into_inner()
        .case
        .unwrap();
    // Ids come from the database's sequence in blocks of 64 per server:
    // a restarted server takes a new block, never an id handed out before.
    assert_eq!(next.id, 65, "ids go on from the database");
}

#[test]
fn a_postgres_url_that_cannot_be_reached_refuses_to_start() {
    let data = tempfile::tempdir().unwrap();
    let out = crate::util::wangge(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--data",
        &data.path().display().to_string(),
        "--postgres",
        "postgres://nobody@127.0.0.1:1/none",
    ]);
    assert_ne!(out.code, 0);
    assert!(
        out.stderr.contains("PostgreSQL is unavailable"),
        "{}",
        out.stderr
    );
}

/// A TCP proxy in front of PostgreSQL that a test can cut (every
/// connection dropped, new ones refused) and restore on the same port.
struct Proxy {
    port: u16,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Proxy {
    async fn start() -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        Proxy {
            port,
            task: Some(tokio::spawn(Self::forward(listener))),
        }
    }

    async fn forward(listener: tokio::net::TcpListener) {
        let mut links = tokio::task::JoinSet::new();
        while let Ok((mut client, _)) = listener.accept().await {
            links.spawn(async move {
                if let Ok(mut db) = tokio::net::TcpStream::connect("127.0.0.1:5432").await {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut db).await;
                }
            });
        }
    }

    /// The database URL through the proxy.
    fn url(&self) -> String {
        url().replace("127.0.0.1:5432", &format!("127.0.0.1:{}", self.port))
    }

    /// Drops every connection and refuses new ones.
    async fn cut(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
            let _ = t.await;
        }
    }

    /// Listens again on the same port.
    async fn restore(&mut self) {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", self.port))
            .await
            .unwrap();
        self.task = Some(tokio::spawn(Self::forward(listener)));
    }
}

async fn serving(ch: tonic::transport::Channel) -> i32 {
    tonic_health::pb::health_client::HealthClient::new(ch)
        .check(tonic_health::pb::HealthCheckRequest {
            service: String::new(),
        })
        .await
        .map_or(-1, |r| r.into_inner().status)
}

/// The database goes away mid-load: calls answer UNAVAILABLE within
/// seconds, health says NOT_SERVING, nothing acknowledged is lost, and
/// the server recovers by itself when the database returns (retried keys
/// answer the case they made, never a second one).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[cfg_attr(
    not(pg_tests),
    ignore = "needs PostgreSQL: set WANGGE_TEST_POSTGRES_URL"
)]
async fn the_database_going_away_mid_load_is_unavailable_then_recovered_without_loss() {
    use std::time::{Duration, Instant};
    let schema = Schema::new("outage");
    let data = tempfile::tempdir().unwrap();
    let mut proxy = Proxy::start().await;
    let db = proxy.url();
    let server = Server::start_with(
        data.path(),
        &["--postgres", &db, "--postgres-schema", &schema.0],
    );
    let ch = server.channel().await;
    let outage = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let clients: Vec<_> = (0..4)
        .map(|c| {
            let (ch, outage) = (ch.clone(), outage.clone());
            tokio::spawn(async move {
                let mut cases = CaseServiceClient::new(ch);
                let (mut acked, mut refused) = (Vec::new(), Vec::new());
                for i in 0..60 {
                    let key = format!("c{c}-{i}");
                    let deadline = Instant::now() + Duration::from_secs(60);
                    loop {
                        let started = Instant::now();
                        let r = v1::ReportRequest {
                            idempotency_key: key.clone(),
                            ..report(SMALL)
                        };
                        match cases.report(r).await {
                            Ok(r) => {
                                acked.push((key.clone(), r.into_inner().case.unwrap().id));
                                break;
                            }
                            Err(s) => {
                                assert!(
                                    outage.load(std::sync::atomic::Ordering::SeqCst),
                                    "refused while the database was up: {s:?}"
                                );
                                refused.push((s.code(), started.elapsed()));
                                assert!(Instant::now() < deadline, "never recovered: {s:?}");
                                tokio::time::sleep(Duration::from_millis(200)).await;
                            }
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(15)).await;
                }
                (acked, refused)
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    outage.store(true, std::sync::atomic::Ordering::SeqCst);
    proxy.cut().await;
    // Health follows within its 2 s check.
    let mut down = false;
    for _ in 0..40 {
        if serving(ch.clone()).await == 2 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        }
        down = true;
        break;
    }
    assert!(down, "health went NOT_SERVING");
    tokio::time::sleep(Duration::from_secs(1)).await;
    proxy.restore().await;
    let mut acked = Vec::new();
    let mut refused = Vec::new();
    for c in clients {
        let (a, r) = c.await.unwrap();
        acked.extend(a);
        refused.extend(r);
    }
    outage.store(false, std::sync::atomic::Ordering::SeqCst);
    assert!(!refused.is_empty(), "the outage was seen by the clients");
    for (code, took) in &refused {
        assert_eq!(*code, tonic::Code::Unavailable, "took {took:?}");
        assert!(
            *took < Duration::from_secs(7),
            "answered promptly: {took:?}"
        );
    }
    // Every acknowledged report is there, once: 240 keys, 240 cases.
    let mut cases = CaseServiceClient::new(ch.clone());
    for (key, id) in &acked {
        let c = cases.get(v1::GetCaseRequest { id: *id }).await;
        assert!(c.is_ok(), "acknowledged case {id} ({key}) lost");
    }
    let ids: std::collections::BTreeSet<u64> = acked.iter().map(|(_, id)| *id).collect();
    assert_eq!((acked.len(), ids.len()), (240, 240));
    let listed = cases
        .list(v1::ListCasesRequest {
            page_size: 1000,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .cases
        .len();
    assert_eq!(listed, 240, "no case made twice by a retried key");
    for _ in 0..40 {
        if serving(ch.clone()).await == 1 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("health did not come back to SERVING");
}

/// Two stores on one schema: two servers, as far as the ledgers go.
fn two_servers(name: &str) -> (Schema, [Arc<wangge_store_postgres::PgStore>; 2]) {
    let schema = Schema::new(name);
    let open = || {
        Arc::new(
            wangge_store_postgres::PgStore::connect(
                &url(),
                &schema.0,
                std::time::Duration::from_secs(10),
            )
            .unwrap(),
        )
    };
    let stores = [open(), open()];
    (schema, stores)
}

/// Each server appends to the audit log at the same time: one chain, no
/// entry overwritten, and it verifies.
#[test]
#[cfg_attr(
    not(pg_tests),
    ignore = "needs PostgreSQL: set WANGGE_TEST_POSTGRES_URL"
)]
fn two_servers_append_to_one_audit_chain_that_verifies() {
    use wangge_app::audit::{AuditLog, AuditRecord};
    let (_schema, stores) = two_servers("audit");
    let logs = stores.map(|s| AuditLog::new(s));
    std::thread::scope(|scope| {
        for (n, log) in logs.iter().enumerate() {
            scope.spawn(move || {
                for round in 0..10 {
                    let waits: Vec<_> = (0..5)
                        .map(|i| {
                            log.submit(AuditRecord {
                                at: 1,
                                who: format!("server{n}"),
                                on_behalf: None,
                                method: "CaseService/Report".into(),
                                keys: [("i".to_string(), format!("{round}-{i}"))].into(),
                                peer: None,
                                request_id: round * 5 + i,
                                outcome: "OK".into(),
                                message: None,
                            })
                        })
                        .collect();
                    for w in waits {
                        w.wait().unwrap();
                    }
                }
            });
        }
    });
    let v = logs[0].verify().unwrap();
    assert!(v.broken.is_none(), "{:?}", v.broken);
    assert_eq!(v.entries, 100, "every entry of both servers kept");
}

/// Two servers redeem a resident's points at once: the balance never goes
/// below zero, and the entries add up to it.
#[test]
#[cfg_attr(
    not(pg_tests),
    ignore = "needs PostgreSQL: set WANGGE_TEST_POSTGRES_URL"
)]
fn two_servers_redeeming_at_once_never_overdraw_points() {
    use rust_decimal::Decimal;
    let (_schema, stores) = two_servers("points");
    let set = wangge_testkit::fixtures::shipped().unwrap();
    let inc = stores.map(|s| wangge_app::Incentives::new(s));
    inc[0]
        .earn(&set, "R1", "共享车位", Decimal::from(3), "share-1", None, 1)
        .unwrap();
    let tenth = Decimal::new(1, 1);
    let won: usize = std::thread::scope(|scope| {
        let runs: Vec<_> = inc
            .iter()
            .enumerate()
            .map(|(n, inc)| {
                let set = &set;
                scope.spawn(move || {
                    (0..5)
                        .filter(|i| {
                            let key = format!("fee-{n}-{i}");
                            inc.redeem(set, "R1", "物业费", tenth, &key, None, 2)
                                .is_ok()
                        })
                        .count()
                })
            })
            .collect();
        runs.into_iter().map(|r| r.join().unwrap()).sum()
    });
    assert_eq!(won, 3, "30 points pay for three 0.1 元 redemptions of 10");
    assert_eq!(inc[1].balance("R1").unwrap(), 0);
    let history = inc[0].history("R1").unwrap();
    assert_eq!(history.iter().map(|e| e.points).sum::<i64>(), 0);
    assert!(history.iter().all(|e| e.balance >= 0));
}

/// An installation on sled moves to PostgreSQL: `store copy` carries every
/// case, event, key and feed row over, the export of both is the same,
/// a server on the copy answers a retried report with its case and gives
/// new cases new ids; copying into a schema with data is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(pg_tests),
    ignore = "needs PostgreSQL: set WANGGE_TEST_POSTGRES_URL"
)]
async fn a_sled_installation_copied_to_postgres_serves_the_same_history() {
    use wangge_proto::v1::admin_service_client::AdminServiceClient;
    let schema = Schema::new("copy");
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().display().to_string();
    let server = Server::start(data.path());
    let ch = server.channel().await;
    let mut cases = CaseServiceClient::new(ch.clone());
    let keyed = |i: usize| v1::ReportRequest {
        idempotency_key: format!("k{i}"),
        ..report(SMALL)
    };
    let mut ids = Vec::new();
    for i in 0..30 {
        ids.push(report_id(&mut cases, keyed(i)).await);
    }
    cases
        .act(crate::grpc::act(ids[3], "立案", ""))
        .await
        .unwrap();
    AdminServiceClient::new(ch)
        .advance_clock(v1::AdvanceClockRequest {
            seconds: 4 * 3600 + 31 * 60,
        })
        .await
        .unwrap();
    assert_eq!(server.stop(), 0);
    let before = crate::util::wangge(&["export", "--data", &dir]);
    assert_eq!(before.code, 0, "{}", before.stderr);
    let copy = ["store", "copy", "--from", &format!("sled:{dir}"), "--to"];
    let to = format!("postgres:{}", url());
    let out = crate::util::wangge(&[&copy[..], &[to.as_str(), "--schema", &schema.0]].concat());
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("30 case(s)"), "{}", out.stdout);
    let after = crate::util::wangge(&[
        "export",
        "--postgres",
        &url(),
        "--postgres-schema",
        &schema.0,
    ]);
    assert_eq!(after.code, 0, "{}", after.stderr);
    assert_eq!(after.stdout, before.stdout, "the same history on both");
    let again = crate::util::wangge(&[&copy[..], &[to.as_str(), "--schema", &schema.0]].concat());
    assert_ne!(again.code, 0);
    assert!(
        again.stderr.contains("already holds data"),
        "{}",
        again.stderr
    );
    let migrate = crate::util::wangge(&[
        "store",
        "migrate",
        "--postgres",
        &url(),
        "--postgres-schema",
        &schema.0,
    ]);
    assert!(
        migrate.stdout.contains("at version 3"),
        "{}",
        migrate.stdout
    );

    let elsewhere = tempfile::tempdir().unwrap();
    let on_pg = Server::start_bare(
        elsewhere.path(),
        &["--postgres", &url(), "--postgres-schema", &schema.0],
    );
    let mut cases = CaseServiceClient::new(on_pg.channel().await);
    let retried = cases.report(keyed(7)).await.unwrap().into_inner();
    assert!(!retried.created, "a retried key finds the copied case");
    assert_eq!(retried.case.unwrap().id, ids[7]);
    let fresh = cases.report(keyed(99)).await.unwrap().into_inner();
    assert!(fresh.case.unwrap().id > *ids.iter().max().unwrap());
    let c = cases
        .get(v1::GetCaseRequest { id: ids[0] })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(c.level, "一般网格", "the escalation came along");
}
