//! Two servers on one PostgreSQL database ([8/10]): a client spreads
//! reports and actions over both, one is killed with SIGKILL mid-load.
//! Nothing acknowledged is lost, the survivor takes over the dead one's
//! timer leases (each overdue case escalates exactly once, none missed),
//! and a WatchCases consumer resumes on the survivor from its last
//! sequence with nothing missed or repeated.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tonic::transport::Channel;
use wangge_proto::v1;
use wangge_proto::v1::admin_service_client::AdminServiceClient;
use wangge_proto::v1::case_service_client::CaseServiceClient;

use crate::grpc::{act, report, SMALL};
use crate::postgres::{url, Schema};
use crate::server::Server;

/// The 微网格 limit (3 工作时 from 10:00) has run out a minute after 14:30.
const PAST_THE_LIMIT: i64 = 4 * 3600 + 31 * 60;

/// `(sequence, case, event seq, action)` as a watcher saw them.
type Seen = Vec<(u64, u64, u64, String)>;

/// Reads WatchCases from `first`, from sequence 1; when that server dies,
/// resumes on `then` from the sequence after the last one seen. Stops
/// once it has seen `until` (read when the stream goes quiet).
async fn watch(first: Channel, then: Channel, seen: Arc<Mutex<Seen>>, until: Arc<Mutex<u64>>) {
    let mut channel = first;
    let mut resumed = false;
    loop {
        let from = seen.lock().unwrap().last().map_or(1, |s| s.0 + 1);
        let mut stream = match CaseServiceClient::new(channel.clone())
            .watch_cases(v1::WatchCasesRequest {
                from_sequence: from,
            })
            .await
        {
            Ok(s) => s.into_inner(),
            Err(_) if !resumed => {
                (channel, resumed) = (then.clone(), true);
                continue;
            }
            Err(e) => panic!("the survivor refused the watch: {e}"),
        };
        loop {
            match tokio::time::timeout(Duration::from_secs(2), stream.message()).await {
                Ok(Ok(Some(ch))) => {
                    let e = ch.event.unwrap();
                    seen.lock()
                        .unwrap()
                        .push((ch.sequence, e.case_id, e.seq, e.action));
                }
                Ok(_) if !resumed => {
                    (channel, resumed) = (then.clone(), true);
                    break;
                }
                Ok(other) => panic!("the survivor's stream ended: {other:?}"),
                Err(_quiet) => {
                    let last = seen.lock().unwrap().last().map_or(0, |s| s.0);
                    if last >= *until.lock().unwrap() && *until.lock().unwrap() > 0 {
                        return;
                    }
                }
            }
        }
    }
}

/// Reports `n` events, alternating between the servers while both live;
/// a call that fails on the dead one is retried with the same key on the
/// survivor. Returns the acknowledged case ids by key, and acts `立案` on
/// every fifth acknowledged case (on whichever server is up).
async fn load(
    servers: [Channel; 2],
    dead: Arc<std::sync::atomic::AtomicBool>,
    client: usize,
    n: usize,
) -> (BTreeMap<String, u64>, Vec<u64>) {
    let mut acked = BTreeMap::new();
    let mut acted = Vec::new();
    for i in 0..n {
        let key = format!("c{client}-{i}");
        let mut which = (client + i) % 2;
        let id = loop {
            if which == 0 && dead.load(std::sync::atomic::Ordering::SeqCst) {
                which = 1;
            }
            let mut cases = CaseServiceClient::new(servers[which].clone());
            let r = v1::ReportRequest {
                idempotency_key: key.clone(),
                ..report(SMALL)
            };
            match cases.report(r).await {
                Ok(r) => break r.into_inner().case.unwrap().id,
                Err(s) if which == 0 => {
                    assert!(
                        matches!(
                            s.code(),
                            tonic::Code::Unavailable
                                | tonic::Code::Unknown
                                | tonic::Code::Internal
                                | tonic::Code::Cancelled
                        ),
                        "{s:?}"
                    );
                    which = 1;
                }
                Err(s) => panic!("the survivor refused a report: {s:?}"),
            }
        };
        acked.insert(key, id);
        if i % 5 == 4 {
            let which = if dead.load(std::sync::atomic::Ordering::SeqCst) {
                1
            } else {
                i % 2
            };
            let mut cases = CaseServiceClient::new(servers[which].clone());
            if cases.act(act(id, "立案", "")).await.is_ok() {
                acted.push(id);
            }
        }
    }
    (acked, acted)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[cfg_attr(
    not(pg_tests),
    ignore = "needs PostgreSQL: set WANGGE_TEST_POSTGRES_URL"
)]
async fn two_servers_one_killed_mid_load_lose_nothing_and_the_survivor_takes_over() {
    let schema = Schema::new("failover");
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let flags = [
        "--postgres",
        &url(),
        "--postgres-schema",
        &schema.0,
        "--postgres-lease-secs",
        "2",
    ];
    let a = Server::start_with(dir_a.path(), &flags);
    let b = Server::start_bare(dir_b.path(), &flags);
    let (ch_a, ch_b) = (a.channel().await, b.channel().await);

    let seen = Arc::new(Mutex::new(Seen::new()));
    let until = Arc::new(Mutex::new(0));
    let watcher = tokio::spawn(watch(
        ch_a.clone(),
        ch_b.clone(),
        seen.clone(),
        until.clone(),
    ));

    // Load from four clients over both servers; A dies in the middle,
    // just after it was told to fire every timer it can claim.
    let dead = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let clients: Vec<_> = (0..4)
        .map(|c| tokio::spawn(load([ch_a.clone(), ch_b.clone()], dead.clone(), c, 40)))
        .collect();
    tokio::time::sleep(Duration::from_millis(700)).await;
    let mut admin_a = AdminServiceClient::new(ch_a.clone());
    let firing = tokio::spawn(async move {
        admin_a
            .advance_clock(v1::AdvanceClockRequest {
                seconds: PAST_THE_LIMIT,
            })
            .await
    });
    tokio::time::sleep(Duration::from_millis(40)).await;
    a.kill();
    dead.store(true, std::sync::atomic::Ordering::SeqCst);
    let _ = firing.await;
    let mut acked = BTreeMap::new();
    let mut acted = Vec::new();
    for c in clients {
        let (k, a) = c.await.unwrap();
        acked.extend(k);
        acted.extend(a);
    }
    assert_eq!(acked.len(), 160, "every report acknowledged once");

    // The survivor's clock passes the limit too: it fires what nobody
    // holds now, and takes over the dead server's leases when they run
    // out (2 s), on its timer thread.
    let mut admin_b = AdminServiceClient::new(ch_b.clone());
    admin_b
        .advance_clock(v1::AdvanceClockRequest {
            seconds: PAST_THE_LIMIT,
        })
        .await
        .unwrap();
    let mut cases = CaseServiceClient::new(ch_b.clone());
    let ids: Vec<u64> = acked.values().copied().collect();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let events: HashMap<u64, Vec<v1::CaseEvent>> = loop {
        let mut all = HashMap::new();
        for &id in &ids {
            let got = cases
                .events(v1::GetCaseRequest { id })
                .await
                .unwrap_or_else(|s| panic!("acknowledged case {id} lost: {s:?}"))
                .into_inner()
                .events;
            all.insert(id, got);
        }
        let start = all.values().filter_map(|e| e.first().map(|r| r.at)).min();
        let waiting = all
            .iter()
            .filter(|(id, e)| {
                !acted.contains(id)
                    && e.first().map(|r| r.at) == start
                    && !e.iter().any(|e| e.action == "escalate")
            })
            .count();
        if waiting == 0 || tokio::time::Instant::now() > deadline {
            break all;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let start = events
        .values()
        .filter_map(|e| e.first().map(|r| r.at))
        .min()
        .unwrap();
    for (id, e) in &events {
        let escalations = e.iter().filter(|e| e.action == "escalate").count();
        let reminders = e.iter().filter(|e| e.action == "remind").count();
        // Reported on the first server after its clock moved on: its
        // limit runs to the next working day, not yet due anywhere.
        let late = e.first().is_some_and(|r| r.at > start);
        if acted.contains(id) || late {
            assert!(
                !acted.contains(id) || e.iter().any(|e| e.action == "立案"),
                "case {id}: acknowledged 立案 lost"
            );
            assert!(escalations <= 1, "case {id} escalated {escalations} times");
        } else {
            assert_eq!(
                escalations, 1,
                "case {id}: escalated once, not missed: {e:?}"
            );
            assert_eq!(reminders, 1, "case {id}: reminded once");
        }
    }

    // The watcher, resumed on the survivor, saw the one global order:
    // every sequence once, none missed, the same as a fresh reader there.
    let total: usize = events.values().map(Vec::len).sum();
    *until.lock().unwrap() = total as u64;
    tokio::time::timeout(Duration::from_secs(30), watcher)
        .await
        .expect("the watcher caught up")
        .unwrap();
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen.iter().map(|s| s.0).collect::<Vec<_>>(),
        (1..=total as u64).collect::<Vec<_>>(),
        "every sequence once, in order"
    );
    let mut stored: Vec<(u64, u64)> = events
        .values()
        .flat_map(|e| e.iter().map(|e| (e.case_id, e.seq)))
        .collect();
    let mut watched: Vec<(u64, u64)> = seen.iter().map(|s| (s.1, s.2)).collect();
    stored.sort_unstable();
    watched.sort_unstable();
    assert_eq!(watched, stored, "the watcher saw every stored event once");
    let addr = b.metrics.clone();
    let metrics = tokio::task::spawn_blocking(move || crate::util::http_get(&addr, "/metrics"))
        .await
        .unwrap();
    let takeovers = metrics
        .lines()
        .find(|l| l.starts_with("wangge_store_lease_takeovers_total"))
        .expect("the survivor reports lease takeovers");
    eprintln!("on the survivor: {takeovers}");
}

/// A deploy on one server is what every server serves within seconds
/// (checked each second on the timer thread), with no restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(pg_tests),
    ignore = "needs PostgreSQL: set WANGGE_TEST_POSTGRES_URL"
)]
async fn a_deploy_on_one_server_is_served_by_the_other() {
    use wangge_proto::v1::policy_service_client::PolicyServiceClient;
    let schema = Schema::new("deploys");
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let flags = ["--postgres", &url(), "--postgres-schema", &schema.0];
    let a = Server::start_with(dir_a.path(), &flags);
    let b = Server::start_bare(dir_b.path(), &flags);
    let mut on_b = PolicyServiceClient::new(b.channel().await);
    let before = on_b
        .get_active(v1::GetActiveRequest {})
        .await
        .unwrap()
        .into_inner()
        .hash;
    let deployed = PolicyServiceClient::new(a.channel().await)
        .deploy(v1::DeployRequest {
            files: crate::restart::changed_bundle(),
        })
        .await
        .unwrap()
        .into_inner()
        .version
        .unwrap()
        .hash;
    assert_ne!(deployed, before);
    for _ in 0..50 {
        let now = on_b
            .get_active(v1::GetActiveRequest {})
            .await
            .unwrap()
            .into_inner()
            .hash;
        if now == deployed {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the other server still serves {before}, not {deployed}");
}

/// Tasks sent down are one state across servers: a task created on one
/// is completed on the other, the first sees that part done, and ids are
/// never handed out twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(pg_tests),
    ignore = "needs PostgreSQL: set WANGGE_TEST_POSTGRES_URL"
)]
async fn a_task_created_on_one_server_is_worked_on_the_other() {
    use wangge_proto::v1::task_service_client::TaskServiceClient;
    let schema = Schema::new("tasks");
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let flags = ["--postgres", &url(), "--postgres-schema", &schema.0];
    let a = Server::start_with(dir_a.path(), &flags);
    let b = Server::start_bare(dir_b.path(), &flags);
    let (mut on_a, mut on_b) = (
        TaskServiceClient::new(a.channel().await),
        TaskServiceClient::new(b.channel().await),
    );
    let create = || v1::CreateTaskRequest {
        task: "燃气入户排查".into(),
        under: "S1".into(),
        note: "两台服务器".into(),
    };
    let first = on_a.create(create()).await.unwrap().into_inner();
    let done = || v1::CompleteTaskRequest {
        id: first.id,
        unit: "M1".into(),
        count: Some(58),
        checked: vec!["查阀门".into(), "查软管".into(), "发放告知书".into()],
        attachment: "photo-1".into(),
    };
    on_b.complete(done())
        .await
        .expect("the other server knows the task");
    let again = on_a.complete(done()).await.unwrap_err();
    assert_eq!(again.code(), tonic::Code::FailedPrecondition, "{again:?}");
    assert!(again.message().contains("already completed"), "{again:?}");
    let progress = on_a
        .progress(v1::TaskProgressRequest {
            id: first.id,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(progress.totals.unwrap().done, 1);
    let second = on_b.create(create()).await.unwrap().into_inner();
    assert_ne!(second.id, first.id, "task ids are never handed out twice");
}
