//! State that must survive a crash of the server (kill -9), and deploys
//! that must not strand open cases (regression tests of issue [2/10]).

use std::time::Duration;

use tonic::Code;
use wangge_proto::v1;
use wangge_proto::v1::admin_service_client::AdminServiceClient;
use wangge_proto::v1::case_service_client::CaseServiceClient;
use wangge_proto::v1::policy_service_client::PolicyServiceClient;

use crate::grpc::{act, bundle, report, SMALL};
use crate::server::Server;

/// The shipped bundle with one file changed (a new content hash).
pub(crate) fn changed_bundle() -> Vec<v1::PolicyFile> {
    let mut files = bundle("policies");
    let f = files.iter_mut().find(|f| f.name == "总则.wg").unwrap();
    f.text.push_str("\n// 重启测试：内容不同，版本不同\n");
    files
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_keeps_the_active_version_the_feed_and_the_manual_clock() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path());
    let ch = server.channel().await;
    let mut policy = PolicyServiceClient::new(ch.clone());
    let mut cases = CaseServiceClient::new(ch.clone());
    let mut admin = AdminServiceClient::new(ch);
    let deployed = policy
        .deploy(v1::DeployRequest {
            files: changed_bundle(),
        })
        .await
        .unwrap()
        .into_inner()
        .version
        .unwrap()
        .hash;
    let moved = admin
        .advance_clock(v1::AdvanceClockRequest { seconds: 3 * 3600 })
        .await
        .unwrap()
        .into_inner()
        .now;
    let reported = cases.report(report(SMALL)).await.unwrap().into_inner();
    let seq = reported.case.unwrap().feed_sequence;
    assert!(seq > 0, "Report returns the sequence of its event");
    let acted = cases.act(act(1, "立案", "")).await.unwrap().into_inner();
    assert_eq!(acted.feed_sequence, seq + 1, "Act returns its sequence");
    server.kill();

    let server = Server::start(data.path());
    let ch = server.channel().await;
    let active = PolicyServiceClient::new(ch.clone())
        .get_active(v1::GetActiveRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        active.hash, deployed,
        "the deployed version is still active"
    );
    let clock = AdminServiceClient::new(ch.clone())
        .get_clock(v1::GetClockRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(clock.now, moved, "the manual clock resumes where it was");
    let mut stream = CaseServiceClient::new(ch)
        .watch_cases(v1::WatchCasesRequest { from_sequence: seq })
        .await
        .unwrap()
        .into_inner();
    let mut got = Vec::new();
    for _ in 0..2 {
        let c = tokio::time::timeout(Duration::from_secs(5), stream.message())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        got.push((c.sequence, c.event.unwrap().action));
    }
    assert_eq!(
        got,
        [(seq, "report".to_string()), (seq + 1, "立案".to_string())],
        "the feed resumes from before the crash"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deploy_that_would_orphan_open_cases_is_refused() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path());
    let ch = server.channel().await;
    let mut policy = PolicyServiceClient::new(ch.clone());
    let mut cases = CaseServiceClient::new(ch);
    cases.report(report(SMALL)).await.unwrap();
    let before = policy
        .get_active(v1::GetActiveRequest {})
        .await
        .unwrap()
        .into_inner();
    let files: Vec<v1::PolicyFile> = bundle("policies")
        .into_iter()
        // The grants and the hotline intake name the workflow: they go with it.
        .filter(|f| !["事件处置.wg", "权限.wg", "热线工单.wg"].contains(&f.name.as_str()))
        .collect();
    let s = policy
        .deploy(v1::DeployRequest { files })
        .await
        .unwrap_err();
    assert_eq!(s.code(), Code::FailedPrecondition, "{s:?}");
    assert!(
        s.message().contains("`事件处置` (1 open)"),
        "{}",
        s.message()
    );
    let after = policy
        .get_active(v1::GetActiveRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(after.hash, before.hash, "the active version is unchanged");
}

/// A data folder on a manual clock, restarted without `--clock manual`,
/// used to jump to the system clock and fire every pending deadline at
/// once: the start is refused unless `--adopt-system-clock` says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manual_clock_folder_is_not_moved_to_the_system_clock_silently() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path());
    CaseServiceClient::new(server.channel().await)
        .report(report(SMALL))
        .await
        .unwrap();
    assert_eq!(server.stop(), 0);
    let dir = data.path().to_str().unwrap();
    let base = [
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--metrics-listen",
        "off",
        "--console-listen",
        "off",
        "--data",
        dir,
    ];
    let out = crate::util::wangge(&base);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains("runs on a manual clock"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("--adopt-system-clock"),
        "{}",
        out.stderr
    );
    let mut adopt: Vec<String> = base.iter().map(|s| s.to_string()).collect();
    adopt.push("--adopt-system-clock".into());
    let server = Server::spawn(&adopt, &crate::util::root());
    let clock = AdminServiceClient::new(server.channel().await)
        .get_clock(v1::GetClockRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(clock.mode, "system");
}

/// `wangge export --server` reads a running server's history while it
/// goes on serving, and gets what an export of the stopped folder gets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_server_exports_online_what_its_stopped_folder_exports() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path());
    let mut cases = CaseServiceClient::new(server.channel().await);
    for _ in 0..5 {
        cases.report(report(SMALL)).await.unwrap();
    }
    cases.act(act(2, "立案", "")).await.unwrap();
    let addr = format!("http://{}", server.grpc);
    let online =
        tokio::task::spawn_blocking(move || crate::util::wangge(&["export", "--server", &addr]))
            .await
            .unwrap();
    assert_eq!(online.code, 0, "{}", online.stderr);
    assert_eq!(online.stdout.lines().count(), 6, "{}", online.stdout);
    // The server goes on serving meanwhile.
    cases.report(report(SMALL)).await.unwrap();
    assert_eq!(server.stop(), 0);
    let dir = data.path().display().to_string();
    let stopped = crate::util::wangge(&["export", "--data", &dir]);
    let first_six: String = stopped
        .stdout
        .lines()
        .filter(|l| !l.contains("\"ref\":6,"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(online.stdout, first_six);
}
