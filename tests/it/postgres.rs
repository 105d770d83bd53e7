//! The server on PostgreSQL ([8/10], so far one server): reports and
//! actions stored in the database survive a kill -9 and a restart; a URL
//! that cannot be reached refuses to start with a clear message. Needs
//! `WANGGE_TEST_POSTGRES_URL` (each test in a schema of its own).

use std::sync::atomic::{AtomicU64, Ordering};

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
        ids.push(
            cases
                .report(report(SMALL))
                .await
                .unwrap()
                .into_inner()
                .case
                .unwrap()
                .id,
        );
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
