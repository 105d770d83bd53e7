//! Every bad input of issue [2/10] is answered with its status and the
//! offending field, and stores nothing.

use tonic::Code;
use tonic_types::StatusExt;
use wangge_proto::v1;
use wangge_proto::v1::case_service_client::CaseServiceClient;

use crate::grpc::{act, report, SMALL};
use crate::server::Server;

/// The field a refusal names.
fn field(s: &tonic::Status) -> String {
    s.get_details_bad_request()
        .and_then(|b| b.field_violations.first().map(|v| v.field.clone()))
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_report_is_refused_with_its_field_and_stores_nothing() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path());
    let mut cases = CaseServiceClient::new(server.channel().await);
    let with = |f: &dyn Fn(&mut v1::ReportRequest)| {
        let mut r = report(SMALL);
        f(&mut r);
        r
    };
    let huge_int =
        r#"{"类别": "垃圾堆放", "人数": 1234567890123456789012345678901234567890, "风险": 1}"#;
    let bad: Vec<(&str, v1::ReportRequest, &str, &str)> = vec![
        (
            "unit not registered",
            with(&|r| r.unit = "NO-SUCH-GRID".into()),
            "unit",
            "no unit `NO-SUCH-GRID`",
        ),
        (
            "empty unit",
            with(&|r| r.unit = String::new()),
            "unit",
            "is required",
        ),
        (
            "NUL in the unit",
            with(&|r| r.unit = "M\u{0}1".into()),
            "unit",
            "control character",
        ),
        (
            "newline in the actor",
            with(&|r| r.actor = "甲\nINFO forged".into()),
            "actor",
            "control character",
        ),
        (
            "ESC in the actor",
            with(&|r| r.actor = "\u{1b}[31m".into()),
            "actor",
            "control character",
        ),
        (
            "RTL override in the key",
            with(&|r| r.idempotency_key = "k\u{202E}1".into()),
            "idempotency_key",
            "control character",
        ),
        (
            "a 1 MiB actor",
            with(&|r| r.actor = "甲".repeat(350_000)),
            "actor",
            "the limit is 128",
        ),
        (
            "类型 for 类别",
            with(&|r| r.data_json = r#"{"类型": "燃气安全", "人数": 2, "风险": 3}"#.into()),
            "data_json.类型",
            "`事件报告` has no field `类型`; did you mean `类别`?",
        ),
        (
            "empty data",
            with(&|r| r.data_json = "{}".into()),
            "data_json.类别",
            "is required by `事件报告`",
        ),
        (
            "text for a number",
            with(&|r| r.data_json = r#"{"类别": "垃圾堆放", "人数": "很多", "风险": 1}"#.into()),
            "data_json.人数",
            "must be 整数, not `\"很多\"`",
        ),
        (
            "a 40-digit integer",
            with(&|r| r.data_json = huge_int.into()),
            "data_json",
            "does not fit 64 bits",
        ),
        (
            "a duplicate key",
            with(&|r| {
                r.data_json =
                    r#"{"类别": "垃圾堆放", "类别": "燃气安全", "人数": 1, "风险": 1}"#.into()
            }),
            "data_json",
            "appears twice",
        ),
        (
            "a 100 KiB data_json",
            with(&|r| {
                r.data_json = format!(
                    r#"{{"类别": "垃圾堆放", "人数": 1, "风险": 1, "说明": "{}"}}"#,
                    "x".repeat(100 << 10)
                )
            }),
            "data_json",
            "the limit is 65536",
        ),
    ];
    for (what, request, want_field, want) in bad {
        let s = cases.report(request).await.unwrap_err();
        assert_eq!(s.code(), Code::InvalidArgument, "{what}: {s:?}");
        assert_eq!(field(&s), want_field, "{what}: {}", s.message());
        assert!(s.message().contains(want), "{what}: {}", s.message());
    }
    // An oversized message is RESOURCE_EXHAUSTED (it was OUT_OF_RANGE).
    let s = cases
        .report(with(&|r| r.data_json = "x".repeat(5 << 20)))
        .await
        .unwrap_err();
    assert_eq!(s.code(), Code::ResourceExhausted, "{s:?}");
    // Nothing was stored.
    let all = cases
        .list(v1::ListCasesRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(all.cases.is_empty(), "{:?}", all.cases);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_actions_and_list_filters_are_refused_with_their_field() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path());
    let mut cases = CaseServiceClient::new(server.channel().await);
    let c = cases
        .report(report(SMALL))
        .await
        .unwrap()
        .into_inner()
        .case
        .unwrap();
    let many: Vec<String> = (0..10_000).map(|i| format!("部门{i}")).collect();
    let s = cases
        .act(v1::ActRequest {
            departments: many,
            ..act(c.id, "summon", "")
        })
        .await
        .unwrap_err();
    assert_eq!(
        (s.code(), field(&s).as_str()),
        (Code::InvalidArgument, "departments"),
        "{s:?}"
    );
    let s = cases
        .act(v1::ActRequest {
            departments: vec!["没有这个部门".into()],
            ..act(c.id, "summon", "")
        })
        .await
        .unwrap_err();
    assert_eq!(field(&s), "departments", "{s:?}");
    assert!(
        s.message().contains("no department `没有这个部门`"),
        "{}",
        s.message()
    );
    for (f, request) in [
        (
            "state",
            v1::ListCasesRequest {
                state: "不存在".into(),
                ..Default::default()
            },
        ),
        (
            "class",
            v1::ListCasesRequest {
                class: "中事".into(),
                ..Default::default()
            },
        ),
        (
            "level",
            v1::ListCasesRequest {
                level: "月球".into(),
                ..Default::default()
            },
        ),
    ] {
        let s = cases.list(request).await.unwrap_err();
        assert_eq!(
            (s.code(), field(&s)),
            (Code::InvalidArgument, f.to_string()),
            "{s:?}"
        );
    }
    let after = cases
        .get(v1::GetCaseRequest { id: c.id })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(after.version, c.version, "nothing was written");
}

/// A page of 100 large cases used to be 128 MB: a List page stops at about
/// 2 MiB and its token resumes at the first case left out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_page_is_bounded_in_bytes() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path());
    let mut cases = CaseServiceClient::new(server.channel().await);
    let big = format!(
        r#"{{"类别": "垃圾堆放", "人数": 1, "风险": 1, "说明": "{}"}}"#,
        "很".repeat(20_000)
    );
    for _ in 0..60 {
        let mut r = report(SMALL);
        r.data_json = big.clone();
        cases.report(r).await.unwrap();
    }
    let (mut seen, mut token, mut pages) = (0, String::new(), 0);
    loop {
        let page = cases
            .list(v1::ListCasesRequest {
                page_size: 100,
                page_token: token,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        let bytes = prost::Message::encoded_len(&page);
        assert!(bytes <= 2 << 20 | 1 << 17, "a page of {bytes} bytes");
        seen += page.cases.len();
        pages += 1;
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(seen, 60);
    assert!(pages >= 2, "{pages} page(s)");
}

/// A policy that fails at run time used to be INTERNAL (which clients
/// retry): it is FAILED_PRECONDITION, naming the item.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_failing_at_run_time_is_failed_precondition() {
    use wangge_proto::v1::policy_service_client::PolicyServiceClient;
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path());
    let mut policy = PolicyServiceClient::new(server.channel().await);
    let s = policy
        .evaluate(v1::EvaluateRequest {
            item: "社情指数".into(),
            input_json: r#"{"统计": {"大事": "很多"}}"#.into(),
        })
        .await
        .unwrap_err();
    assert_eq!(s.code(), Code::FailedPrecondition, "{s:?}");
    assert!(s.message().contains("社情指数"), "{}", s.message());
}
