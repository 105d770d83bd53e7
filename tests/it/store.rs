//! `wangge store verify|backup|restore`, and damaged data folders refused
//! at start (issue [2/10]).

use wangge_proto::v1;
use wangge_proto::v1::case_service_client::CaseServiceClient;

use crate::grpc::{act, report, SMALL};
use crate::server::Server;
use crate::util::wangge;

fn path(p: &std::path::Path) -> &str {
    p.to_str().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_server_is_backed_up_verified_and_restored() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, backup, restored) = (
        tmp.path().join("data"),
        tmp.path().join("backup"),
        tmp.path().join("restored"),
    );
    let server = Server::start(&data);
    let mut cases = CaseServiceClient::new(server.channel().await);
    for _ in 0..3 {
        cases.report(report(SMALL)).await.unwrap();
    }
    cases.act(act(2, "立案", "")).await.unwrap();
    let url = format!("http://{}", server.grpc);
    let out = wangge(&["store", "backup", path(&backup), "--server", &url]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    // A backup into a folder that is not empty is refused.
    let again = wangge(&["store", "backup", path(&backup), "--server", &url]);
    assert_eq!(again.code, 1, "{}", again.stdout);
    assert!(again.stderr.contains("is not empty"), "{}", again.stderr);
    server.kill();

    let out = wangge(&["store", "verify", "--data", path(&backup)]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("3 cases"), "{}", out.stdout);
    let out = wangge(&["store", "verify", "--data", path(&data)]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let out = wangge(&["store", "restore", path(&backup), "--data", path(&data)]);
    assert_eq!(out.code, 1, "restoring over live data is refused");
    let out = wangge(&["store", "restore", path(&backup), "--data", path(&restored)]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);

    let server = Server::start(&restored);
    let mut cases = CaseServiceClient::new(server.channel().await);
    let c = cases
        .get(v1::GetCaseRequest { id: 2 })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(c.state, "立案");
    let next = cases.report(report(SMALL)).await.unwrap().into_inner();
    assert_eq!(next.case.unwrap().id, 4, "ids continue densely");
}

/// A half-truncated `db` used to start silently with acknowledged cases
/// gone, a zero-length one started empty: the server refuses to start and
/// says which file and what to do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_truncated_store_is_refused_at_start_with_a_clear_message() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = Server::start(&data);
    let mut cases = CaseServiceClient::new(server.channel().await);
    for _ in 0..50 {
        cases.report(report(SMALL)).await.unwrap();
    }
    assert_eq!(server.stop(), 0);
    let db = data.join("db");
    std::fs::OpenOptions::new()
        .write(true)
        .open(&db)
        .unwrap()
        .set_len(0)
        .unwrap();
    let out = wangge(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--metrics-listen",
        "off",
        "--console-listen",
        "off",
        "--data",
        path(&data),
    ]);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    // The message as words (the report wraps long lines).
    let words = out
        .stderr
        .replace('│', " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(words.contains("has lost acknowledged data"), "{words}");
    assert!(words.contains(&db.display().to_string()), "{words}");
    assert!(words.contains("wangge store restore"), "{words}");
}
