//! Webhooks end to end: case events POSTed to a local receiver with a
//! valid signature, every one once, including those that happened while
//! the receiver was down; dead letters listed and re-sent.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use wangge_proto::v1;
use wangge_proto::v1::admin_service_client::AdminServiceClient;
use wangge_proto::v1::case_service_client::CaseServiceClient;
use wangge_proto::v1::task_service_client::TaskServiceClient;

use crate::server::Server;

const SECRET: &str = "webhook-secret-0123456789";

#[derive(Default)]
struct Received {
    /// (delivery id, signature valid)
    hub: Vec<(u64, bool)>,
    flaky: Vec<u64>,
    /// Task events: (delivery id `task-N`, action, signature valid).
    tasks: Vec<(String, String, bool)>,
}

type Shared = Arc<(Mutex<Received>, AtomicBool)>;

fn valid(sig: &str, body: &[u8]) -> bool {
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    sig == format!("sha256={hex}")
}

/// A receiver on `addr` until `stop` fires.
async fn receiver(
    listener: tokio::net::TcpListener,
    shared: Shared,
    stop: tokio::sync::oneshot::Receiver<()>,
) {
    use axum::routing::post;
    let hub = shared.clone();
    let flaky = shared.clone();
    let app = axum::Router::new()
        .route(
            "/hub",
            post(move |headers: http::HeaderMap, body: axum::body::Bytes| {
                let hub = hub.clone();
                async move {
                    let delivery = headers["x-wangge-delivery"].to_str().unwrap().to_string();
                    let sig = headers["x-wangge-signature"].to_str().unwrap();
                    let ok = valid(sig, &body);
                    if delivery.starts_with("task-") {
                        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
                        let action = v["action"].as_str().unwrap().to_string();
                        hub.0.lock().unwrap().tasks.push((delivery, action, ok));
                    } else {
                        hub.0
                            .lock()
                            .unwrap()
                            .hub
                            .push((delivery.parse().unwrap(), ok));
                    }
                    http::StatusCode::OK
                }
            }),
        )
        .route(
            "/flaky",
            post(move |headers: http::HeaderMap| {
                let flaky = flaky.clone();
                async move {
                    if !flaky.1.load(Ordering::SeqCst) {
                        return http::StatusCode::SERVICE_UNAVAILABLE;
                    }
                    let id: u64 = headers["x-wangge-delivery"]
                        .to_str()
                        .unwrap()
                        .parse()
                        .unwrap();
                    flaky.0.lock().unwrap().flaky.push(id);
                    http::StatusCode::OK
                }
            }),
        );
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = stop.await;
        })
        .await
        .unwrap();
}

async fn wait_for(shared: &Shared, n: usize) -> Vec<(u64, bool)> {
    for _ in 0..200 {
        let got = shared.0.lock().unwrap().hub.clone();
        if got.len() >= n {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    shared.0.lock().unwrap().hub.clone()
}

fn report(unit: &str) -> v1::ReportRequest {
    v1::ReportRequest {
        workflow: "事件处置".into(),
        unit: unit.into(),
        data_json: r#"{"类别": "垃圾堆放", "人数": 1, "风险": 1}"#.into(),
        idempotency_key: String::new(),
        actor: "cli".into(),
    }
}

// Multi-threaded: the receiver answers while the test waits on the CLI.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_deliver_every_event_once_with_a_signature_even_after_the_receiver_was_down() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shared: Shared = Arc::default();
    let (stop, stopped) = tokio::sync::oneshot::channel();
    let first = tokio::spawn(receiver(listener, shared.clone(), stopped));

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("wangge.toml");
    std::fs::write(
        &config,
        format!(
            "[[webhooks]]\nname = \"hub\"\nurl = \"http://{addr}/hub\"\nsecret = \"{SECRET}\"\nbackoff_ms = 20\nmax_attempts = 1000\n\n\
             [[webhooks]]\nname = \"flaky\"\nurl = \"http://{addr}/flaky\"\nsecret = \"{SECRET}\"\nevents = [\"report\"]\nbackoff_ms = 5\nmax_attempts = 2\n"
        ),
    )
    .unwrap();
    let data = dir.path().join("data");
    let server = Server::start_with(&data, &["--config", &config.display().to_string()]);
    let ch = server.channel().await;
    let mut c = CaseServiceClient::new(ch.clone());
    for _ in 0..3 {
        c.report(report("G1")).await.unwrap();
    }
    let got = wait_for(&shared, 3).await;
    assert_eq!(got.iter().map(|g| g.0).collect::<Vec<_>>(), vec![1, 2, 3]);
    assert!(got.iter().all(|g| g.1), "every signature verifies");

    // The receiver goes away; events go on; it comes back on its port.
    stop.send(()).unwrap();
    first.await.unwrap();
    for _ in 0..3 {
        c.report(report("G1")).await.unwrap();
    }
    c.act(v1::ActRequest {
        id: 1,
        action: "立案".into(),
        actor: "cli".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel();
    let second = tokio::spawn(receiver(listener, shared.clone(), stopped));
    let got = wait_for(&shared, 7).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let ids: Vec<u64> = shared.0.lock().unwrap().hub.iter().map(|g| g.0).collect();
    assert_eq!(
        ids,
        (1..=7).collect::<Vec<_>>(),
        "none lost, none twice: {got:?}"
    );

    // The flaky receiver refused every attempt: dead letters, listed; once
    // it works, a re-send delivers one and it leaves the list.
    let mut admin = AdminServiceClient::new(ch);
    let mut dead = Vec::new();
    for _ in 0..100 {
        dead = admin
            .list_dead_letters(v1::ListDeadLettersRequest {
                webhook: "flaky".into(),
            })
            .await
            .unwrap()
            .into_inner()
            .letters;
        if dead.len() == 6 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(dead.len(), 6, "{dead:?}");
    // Refused while up (503); unreachable while down, or a kept-alive
    // connection the receiver closed as it shut down (a transport error).
    assert!(
        dead.iter()
            .all(|d| d.attempts == 2
                && (d.error.contains("503") || d.error.contains("client error"))),
        "{dead:?}"
    );
    shared.1.store(true, Ordering::SeqCst);
    admin
        .resend_dead_letter(v1::ResendDeadLetterRequest {
            webhook: "flaky".into(),
            sequence: dead[0].sequence,
            task: false,
        })
        .await
        .unwrap();
    assert_eq!(shared.0.lock().unwrap().flaky, vec![dead[0].sequence]);
    let left = admin
        .list_dead_letters(v1::ListDeadLettersRequest {
            webhook: "flaky".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .letters;
    assert_eq!(left.len(), 5);
    // The same from the command line.
    let out = crate::util::wangge(&[
        "webhook",
        "dead-letters",
        "flaky",
        "-o",
        "table",
        "--server",
        &server.grpc,
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout.lines().count(), 6, "{}", out.stdout);
    let out = crate::util::wangge(&[
        "webhook",
        "resend",
        "flaky",
        &left[0].sequence.to_string(),
        "--server",
        &server.grpc,
    ]);
    assert_eq!(
        (out.code, out.stdout.trim()),
        (0, "delivered"),
        "{}",
        out.stderr
    );
    let s = admin
        .list_dead_letters(v1::ListDeadLettersRequest {
            webhook: "nope".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(s.code(), tonic::Code::InvalidArgument);

    // Task events go out too (delivery ids `task-N`): sent, 完成, and the
    // reminder and the overdue mark when the clock passes the 3 hours.
    let mut tasks = TaskServiceClient::new(server.channel().await);
    let t = tasks
        .create(v1::CreateTaskRequest {
            task: "节会安保巡查".into(),
            under: "S1".into(),
            note: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    tasks
        .complete(v1::CompleteTaskRequest {
            id: t.id,
            unit: "M1".into(),
            checked: vec!["重点部位".into(), "消防通道".into(), "人员聚集点".into()],
            ..Default::default()
        })
        .await
        .unwrap();
    admin
        .advance_clock(v1::AdvanceClockRequest { seconds: 4 * 3600 })
        .await
        .unwrap();
    let mut got = Vec::new();
    for _ in 0..100 {
        got = shared.0.lock().unwrap().tasks.clone();
        if got.len() >= 5 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let seen: Vec<(&str, &str, bool)> = got
        .iter()
        .map(|(id, a, ok)| (id.as_str(), a.as_str(), *ok))
        .collect();
    assert_eq!(
        seen,
        [
            ("task-1", "created", true),
            ("task-2", "完成", true),
            ("task-3", "remind", true),
            ("task-4", "remind", true),
            ("task-5", "overdue", true)
        ]
    );
    let _ = stop.send(());
    let _ = second.await;
}

#[test]
fn a_webhook_url_that_is_not_http_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("wangge.toml");
    std::fs::write(
        &config,
        format!("[[webhooks]]\nname = \"x\"\nurl = \"ftp://example/x\"\nsecret = \"{SECRET}\"\n"),
    )
    .unwrap();
    let out = crate::util::wangge(&[
        "serve",
        "--config",
        &config.display().to_string(),
        "--data",
        &dir.path().join("d").display().to_string(),
    ]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("not an http(s) URL"), "{}", out.stderr);
}

/// Two servers on one database with the same webhook: each event is
/// delivered once (by the server holding the delivery lease), not once
/// per server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(pg_tests),
    ignore = "needs PostgreSQL: set WANGGE_TEST_POSTGRES_URL"
)]
async fn two_servers_deliver_each_event_once() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shared: Shared = Arc::default();
    let (_stop, stopped) = tokio::sync::oneshot::channel();
    tokio::spawn(receiver(listener, shared.clone(), stopped));
    let schema = crate::postgres::Schema::new("hooks");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("wangge.toml");
    std::fs::write(
        &config,
        format!(
            "[[webhooks]]\nname = \"hub\"\nurl = \"http://{addr}/hub\"\nsecret = \"{SECRET}\"\nbackoff_ms = 20\n"
        ),
    )
    .unwrap();
    let url = crate::postgres::url();
    let flags = [
        "--config",
        &config.display().to_string(),
        "--postgres",
        &url,
        "--postgres-schema",
        &schema.0,
    ];
    let a = Server::start_with(&dir.path().join("a"), &flags);
    let b = Server::start_bare(&dir.path().join("b"), &flags);
    let (mut on_a, mut on_b) = (
        CaseServiceClient::new(a.channel().await),
        CaseServiceClient::new(b.channel().await),
    );
    for _ in 0..5 {
        on_a.report(report("G1")).await.unwrap();
        on_b.report(report("G1")).await.unwrap();
    }
    let got = wait_for(&shared, 10).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut ids: Vec<u64> = shared.0.lock().unwrap().hub.iter().map(|g| g.0).collect();
    assert_eq!(got.len(), 10, "every event delivered");
    ids.sort_unstable();
    assert_eq!(
        ids,
        (1..=10).collect::<Vec<u64>>(),
        "each once, not once per server"
    );
}
