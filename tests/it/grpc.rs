//! End to end over real gRPC on loopback: a `wangge serve` process and a
//! tonic client.

use std::time::Duration;

use tonic::Code;
use tonic_types::StatusExt;
use wangge_proto::v1;
use wangge_proto::v1::admin_service_client::AdminServiceClient;
use wangge_proto::v1::case_service_client::CaseServiceClient;
use wangge_proto::v1::policy_service_client::PolicyServiceClient;

use crate::server::Server;

pub(crate) fn report(data: &str) -> v1::ReportRequest {
    v1::ReportRequest {
        workflow: "事件处置".into(),
        unit: "M1".into(),
        data_json: data.into(),
        idempotency_key: String::new(),
        actor: "test".into(),
    }
}

pub(crate) const SMALL: &str = r#"{"类别": "垃圾堆放", "人数": 1, "风险": 1}"#;

pub(crate) fn act(id: u64, action: &str, outcome: &str) -> v1::ActRequest {
    v1::ActRequest {
        id,
        action: action.into(),
        outcome: outcome.into(),
        actor: "test".into(),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_escalate_by_the_clock_resolve_and_feedback() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path());
    let ch = server.channel().await;
    let mut cases = CaseServiceClient::new(ch.clone());
    let mut admin = AdminServiceClient::new(ch);
    let r = cases.report(report(SMALL)).await.unwrap().into_inner();
    let c = r.case.unwrap();
    assert!(r.created);
    assert_eq!(
        (c.class.as_str(), c.level.as_str(), c.ceiling.as_str()),
        ("小事", "微网格", "一般网格")
    );
    assert!(r.explanation_json.contains("事件分级"));
    // The 微网格 limit (3 工作时 from 10:00: 10:00–12:00, 13:30–14:30) has
    // run out a minute after 14:30, its reminder at 80 % (13:54) before.
    let clock = admin
        .advance_clock(v1::AdvanceClockRequest {
            seconds: 4 * 3600 + 31 * 60,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(clock.fired, 2);
    let c = cases
        .get(v1::GetCaseRequest { id: c.id })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(c.level, "一般网格");
    assert!(c.breaches.is_empty());
    for (a, o) in [
        ("立案", ""),
        ("派遣", ""),
        ("处置", ""),
        ("反馈", "满意"),
        ("核查", "合格"),
    ] {
        cases.act(act(c.id, a, o)).await.unwrap();
    }
    let c = cases
        .get(v1::GetCaseRequest { id: c.id })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(c.state, "结案");
    assert!(c.closed_at > 0);
    let events = cases
        .events(v1::GetCaseRequest { id: c.id })
        .await
        .unwrap()
        .into_inner()
        .events;
    let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        ["report", "remind", "escalate", "立案", "派遣", "处置", "反馈", "核查"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_streams_changes_and_resumes_from_a_sequence() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path());
    let mut cases = CaseServiceClient::new(server.channel().await);
    for _ in 0..3 {
        cases.report(report(SMALL)).await.unwrap();
    }
    let mut stream = cases
        .watch_cases(v1::WatchCasesRequest { from_sequence: 1 })
        .await
        .unwrap()
        .into_inner();
    let mut seqs = Vec::new();
    for _ in 0..3 {
        let ch = tokio::time::timeout(Duration::from_secs(5), stream.message())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        seqs.push((ch.sequence, ch.event.unwrap().case_id));
    }
    assert_eq!(seqs, [(1, 1), (2, 2), (3, 3)]);
    drop(stream);
    // A new change, then resume after the last sequence seen.
    cases.act(act(2, "立案", "")).await.unwrap();
    let mut stream = cases
        .watch_cases(v1::WatchCasesRequest { from_sequence: 4 })
        .await
        .unwrap()
        .into_inner();
    let ch = tokio::time::timeout(Duration::from_secs(5), stream.message())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(ch.sequence, 4);
    let e = ch.event.unwrap();
    assert_eq!((e.case_id, e.action.as_str()), (2, "立案"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_error_has_its_status_code() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path());
    let ch = server.channel().await;
    let mut cases = CaseServiceClient::new(ch.clone());
    // INVALID_ARGUMENT naming the field (google.rpc.BadRequest).
    let s = cases.report(report("{not json")).await.unwrap_err();
    assert_eq!(s.code(), Code::InvalidArgument);
    let bad = s.get_details_bad_request().expect("bad request details");
    assert_eq!(bad.field_violations[0].field, "data_json");
    let s = cases
        .report(v1::ReportRequest {
            workflow: "不存在".into(),
            ..report(SMALL)
        })
        .await
        .unwrap_err();
    assert_eq!(s.code(), Code::InvalidArgument);
    assert_eq!(
        s.get_details_bad_request().unwrap().field_violations[0].field,
        "workflow"
    );
    let s = cases.act(act(1, "", "")).await.unwrap_err();
    assert_eq!(
        s.get_details_bad_request().unwrap().field_violations[0].field,
        "action"
    );
    // NOT_FOUND
    let s = cases.get(v1::GetCaseRequest { id: 999 }).await.unwrap_err();
    assert_eq!(s.code(), Code::NotFound);
    // FAILED_PRECONDITION for an illegal transition.
    let c = cases
        .report(report(SMALL))
        .await
        .unwrap()
        .into_inner()
        .case
        .unwrap();
    let s = cases.act(act(c.id, "核查", "合格")).await.unwrap_err();
    assert_eq!(s.code(), Code::FailedPrecondition);
    assert!(
        s.message().contains("not allowed in state `上报`"),
        "{}",
        s.message()
    );
    // ABORTED for a stale expected version.
    let s = cases
        .act(v1::ActRequest {
            expected_version: 7,
            ..act(c.id, "立案", "")
        })
        .await
        .unwrap_err();
    assert_eq!(s.code(), Code::Aborted);
    // ALREADY_EXISTS for a reused idempotency key with another payload.
    let keyed = v1::ReportRequest {
        idempotency_key: "hotline-1".into(),
        ..report(SMALL)
    };
    let first = cases.report(keyed.clone()).await.unwrap().into_inner();
    let again = cases.report(keyed.clone()).await.unwrap().into_inner();
    assert!(first.created && !again.created);
    assert_eq!(first.case.unwrap().id, again.case.unwrap().id);
    let other = v1::ReportRequest {
        data_json: r#"{"类别": "占道经营", "人数": 1, "风险": 1}"#.into(),
        ..keyed
    };
    assert_eq!(
        cases.report(other).await.unwrap_err().code(),
        Code::AlreadyExists
    );
    // The system clock cannot be set.
    let mut policy = PolicyServiceClient::new(ch);
    let s = policy
        .evaluate(v1::EvaluateRequest {
            item: "事件分级".into(),
            input_json: "{}".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(s.code(), Code::InvalidArgument);
    assert_eq!(
        s.get_details_bad_request().unwrap().field_violations[0].field,
        "input_json"
    );
}

pub(crate) fn bundle(dir: &str) -> Vec<v1::PolicyFile> {
    wangge_app::read_dir(&crate::util::root().join(dir))
        .unwrap()
        .into_iter()
        .map(|(name, text)| v1::PolicyFile { name, text })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_deploy_is_refused_and_the_old_version_keeps_serving() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path());
    let ch = server.channel().await;
    let mut policy = PolicyServiceClient::new(ch.clone());
    let mut cases = CaseServiceClient::new(ch);
    let before = policy
        .get_active(v1::GetActiveRequest {})
        .await
        .unwrap()
        .into_inner();
    let s = policy
        .deploy(v1::DeployRequest {
            files: bundle("tests/fixtures/broken"),
        })
        .await
        .unwrap_err();
    assert_eq!(s.code(), Code::FailedPrecondition);
    let v = s.get_details_bad_request().unwrap().field_violations;
    assert_eq!(v.len(), 8);
    assert!(
        v.iter()
            .any(|x| x.field == "a.wg:9:25" && x.description == "unknown value `一般网络`"),
        "{v:?}"
    );
    let after = policy
        .get_active(v1::GetActiveRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(before.hash, after.hash);
    assert!(cases.report(report(SMALL)).await.is_ok());
    // Validate returns the same diagnostics as data.
    let r = policy
        .validate(v1::ValidateRequest {
            files: bundle("tests/fixtures/broken"),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!r.ok);
    assert_eq!(
        r.diagnostics
            .iter()
            .filter(|d| d.severity == "error")
            .count(),
        8
    );
    // A good bundle with one changed row deploys; rollback restores the old one.
    let mut files = bundle("policies");
    for f in &mut files {
        if f.name == "事件分级.wg" {
            f.text = f.text.replace("| in 日常小事  | -             | -           || \"小事\"                         | 微网格   |", "| in 日常小事  | -             | -           || \"小事\"                         | 一般网格 |");
        }
    }
    // With the shipped scenarios in the bundle, the change is refused: a
    // scenario expects 绿化养护 to stay in the micro grid.
    let mut with_tests = files.clone();
    with_tests.extend(
        wangge_app::read_dir_with_tests(&crate::util::root().join("policies"))
            .unwrap()
            .into_iter()
            .filter(|(name, _)| name.ends_with(".test.wg"))
            .map(|(name, text)| v1::PolicyFile { name, text }),
    );
    let s = policy
        .deploy(v1::DeployRequest { files: with_tests })
        .await
        .unwrap_err();
    assert_eq!(s.code(), Code::FailedPrecondition);
    let v = s.get_details_bad_request().unwrap().field_violations;
    assert!(
        v.iter()
            .any(|x| x.field.starts_with("tests/事件分级.test.wg:")
                && x.description.contains("scenario `事件分级：每一行`")),
        "{v:?}"
    );
    assert!(!v.iter().any(|x| x.description.contains("cannot")), "{v:?}");
    let deployed = policy
        .deploy(v1::DeployRequest { files })
        .await
        .unwrap()
        .into_inner()
        .version
        .unwrap();
    assert_ne!(deployed.hash, before.hash);
    let c = cases
        .report(report(SMALL))
        .await
        .unwrap()
        .into_inner()
        .case
        .unwrap();
    assert_eq!(c.level, "一般网格");
    assert_eq!(c.policy_version, deployed.hash);
    let versions = policy
        .list_versions(v1::ListVersionsRequest {})
        .await
        .unwrap()
        .into_inner()
        .versions;
    assert_eq!(versions.len(), 2);
    let back = policy
        .rollback(v1::RollbackRequest {
            hash: before.hash.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(back.active);
    let c = cases
        .report(report(SMALL))
        .await
        .unwrap()
        .into_inner()
        .case
        .unwrap();
    assert_eq!(
        (c.level.as_str(), c.policy_version.as_str()),
        ("微网格", before.hash.as_str())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_server_keeps_every_case_and_list_filters_and_pages() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path());
    {
        let mut cases = CaseServiceClient::new(server.channel().await);
        for i in 0..25 {
            let data = if i % 5 == 0 {
                r#"{"类别": "物业纠纷", "人数": 2, "风险": 1}"#
            } else {
                SMALL
            };
            cases.report(report(data)).await.unwrap();
        }
    }
    assert_eq!(server.stop(), 0, "graceful shutdown exits 0");
    let server = Server::start(data.path());
    let mut cases = CaseServiceClient::new(server.channel().await);
    let mut all = Vec::new();
    let mut token = String::new();
    loop {
        let page = cases
            .list(v1::ListCasesRequest {
                page_size: 10,
                page_token: token.clone(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        all.extend(page.cases.into_iter().map(|c| c.id));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(all, (1..=25).collect::<Vec<u64>>());
    let hard = cases
        .list(v1::ListCasesRequest {
            class: "难事".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(hard.cases.len(), 5);
    let s = cases
        .list(v1::ListCasesRequest {
            unit: "无此网格".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(s.code(), Code::InvalidArgument);
}

/// What `grpc.health.v1` says of `service` (the empty name: the server).
async fn health_status(ch: tonic::transport::Channel, service: &str) -> i32 {
    tonic_health::pb::health_client::HealthClient::new(ch)
        .check(tonic_health::pb::HealthCheckRequest {
            service: service.into(),
        })
        .await
        .unwrap_or_else(|e| panic!("`{service}`: {e:?}"))
        .into_inner()
        .status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_reflection_and_metrics_answer() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path());
    let ch = server.channel().await;
    assert_eq!(
        health_status(ch.clone(), "wangge.v1.CaseService").await,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );
    let mut reflection =
        tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient::new(ch.clone());
    let req = tonic_reflection::pb::v1::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(
            tonic_reflection::pb::v1::server_reflection_request::MessageRequest::ListServices(
                String::new(),
            ),
        ),
    };
    let mut resp = reflection
        .server_reflection_info(tokio_stream::iter(vec![req]))
        .await
        .unwrap()
        .into_inner();
    let msg = resp.message().await.unwrap().unwrap();
    let Some(
        tonic_reflection::pb::v1::server_reflection_response::MessageResponse::ListServicesResponse(
            list,
        ),
    ) = msg.message_response
    else {
        panic!("no service list")
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for s in [
        "wangge.v1.CaseService",
        "wangge.v1.PolicyService",
        "wangge.v1.OrgService",
        "wangge.v1.AdminService",
    ] {
        assert!(names.contains(&s.to_string()), "{names:?}");
    }
    CaseServiceClient::new(ch)
        .report(report(SMALL))
        .await
        .unwrap();
    let body = crate::util::http_get(&server.metrics, "/metrics");
    assert!(
        body.contains("grpc_server_handled_total{grpc_type=\"unary\",grpc_service=\"wangge.v1.CaseService\",grpc_method=\"Report\",grpc_code=\"OK\"} 1"),
        "{body}"
    );
    assert!(
        body.contains("wangge_cases{workflow=\"事件处置\",state=\"上报\"} 1"),
        "{body}"
    );
    // One timer a case: its earliest deadline (here the reminder).
    assert!(body.contains("wangge_timers_pending 1"), "{body}");
}

/// The README's client session, against a live server.
#[test]
fn the_client_cli_session_from_the_readme_works() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path());
    let url = format!("http://{}", server.grpc);
    let run = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--server", url.as_str()]);
        let out = crate::util::wangge(&all);
        assert_eq!(out.code, 0, "{args:?}: {}{}", out.stdout, out.stderr);
        out.stdout
    };
    let report = [
        "case",
        "report",
        "--data",
        r#"{"类别": "垃圾堆放", "人数": 1, "风险": 1}"#,
        "--unit",
        "M1",
        "--key",
        "hotline-0001",
    ];
    let out = run(&report);
    assert!(
        out.contains("reported") && out.contains("level 微网格 · class 小事 · ceiling 一般网格"),
        "{out}"
    );
    // The same report again, same key: the same case.
    let out = run(&report);
    assert!(out.contains("already reported"), "{out}");
    for (a, o) in [
        ("立案", ""),
        ("派遣", ""),
        ("处置", ""),
        ("反馈", "满意"),
        ("核查", "合格"),
    ] {
        let mut args = vec!["case", "act", "1", a];
        if !o.is_empty() {
            args.extend(["--outcome", o]);
        }
        run(&args);
    }
    let out = run(&["case", "get", "1"]);
    assert!(out.contains("state 结案"), "{out}");
    let out = run(&["case", "events", "1"]);
    assert_eq!(out.lines().count(), 6, "{out}");
    let out = run(&["case", "list", "--state", "结案"]);
    assert!(out.contains("1 case(s)"), "{out}");
    let out = run(&["case", "watch", "--from", "1", "--count", "6"]);
    assert_eq!(out.lines().count(), 6, "{out}");
    let out = run(&["policy", "list"]);
    assert!(out.starts_with("* "), "{out}");
    let out = run(&[
        "policy",
        "eval",
        "事件分级",
        "--input",
        r#"{"事件": {"类别": "燃气安全", "人数": 2, "风险": 3}}"#,
    ]);
    assert!(
        out.contains(r#"{"等级":"大事","处置层级":"街道"}"#),
        "{out}"
    );
    let out = run(&["clock", "advance", "3h"]);
    assert!(
        out.contains("2026-09-14T13:00:00+08:00 (manual clock)"),
        "{out}"
    );
    let out = run(&["org", "import", "examples/org/units.csv"]);
    assert!(out.contains("imported 7 record(s)"), "{out}");
    // A failing call prints the status and the offending field.
    let out = crate::util::wangge(&["case", "act", "1", "", "--server", &url]);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("InvalidArgument") && out.stderr.contains("action: is required"),
        "{}",
        out.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incentives_over_grpc_record_preview_settle_correct_and_points() {
    use wangge_proto::v1::incentive_service_client::IncentiveServiceClient;
    use wangge_proto::v1::org_service_client::OrgServiceClient;
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path());
    let ch = server.channel().await;
    let mut org = OrgServiceClient::new(ch.clone());
    let mut cases = CaseServiceClient::new(ch.clone());
    let mut admin = AdminServiceClient::new(ch.clone());
    let mut inc = IncentiveServiceClient::new(ch);
    org.upsert_units(v1::UpsertUnitsRequest {
        units: vec![v1::Unit {
            id: "M1".into(),
            name: "一号微网格".into(),
            level: "微网格".into(),
            ..Default::default()
        }],
        ladder: String::new(),
    })
    .await
    .unwrap();
    org.upsert_people(v1::UpsertPeopleRequest {
        people: vec![
            v1::Person {
                id: "P1".into(),
                name: "王网格".into(),
                role: "微网格员".into(),
                unit: "M1".into(),
                ..Default::default()
            },
            v1::Person {
                id: "V1".into(),
                name: "志愿者".into(),
                role: "志愿者".into(),
                ..Default::default()
            },
        ],
    })
    .await
    .unwrap();
    // One small case reported and closed by P1 (the server clock is 2026-09-14 10:00).
    let mut r = report(SMALL);
    r.actor = "P1".into();
    let c = cases.report(r).await.unwrap().into_inner().case.unwrap();
    for (a, o) in [
        ("立案", ""),
        ("派遣", ""),
        ("处置", ""),
        ("反馈", "满意"),
        ("核查", "合格"),
    ] {
        let mut req = act(c.id, a, o);
        req.actor = "P1".into();
        cases.act(req).await.unwrap();
    }
    let rec = |kind: &str, qty: &str, key: &str| v1::RecordActivityRequest {
        person: "P1".into(),
        kind: kind.into(),
        quantity: qty.into(),
        period: "2026-09".into(),
        key: key.into(),
        ..Default::default()
    };
    let first = inc
        .record_activity(rec("巡查时长", "30", "h1"))
        .await
        .unwrap()
        .into_inner();
    assert!(first.created);
    let again = inc
        .record_activity(rec("巡查时长", "30", "h1"))
        .await
        .unwrap()
        .into_inner();
    assert!(!again.created);
    let s = inc
        .record_activity(rec("巡查时长", "31", "h1"))
        .await
        .unwrap_err();
    assert_eq!(s.code(), Code::AlreadyExists);
    let s = inc
        .record_activity(rec("巡查时长", "1", ""))
        .await
        .unwrap_err();
    assert_eq!(s.code(), Code::InvalidArgument);
    assert_eq!(
        s.get_details_bad_request().unwrap().field_violations[0].field,
        "key"
    );
    let s = inc
        .record_activity(rec("跳舞", "1", "x"))
        .await
        .unwrap_err();
    assert_eq!(s.code(), Code::InvalidArgument);
    assert_eq!(
        s.get_details_bad_request().unwrap().field_violations[0].field,
        "kind"
    );
    // 计件 = 1 上报 × 2 + 1 小事 × 5 = 7; 计时 = 30 × 8 = 240; 247 × 1.1 = 271.70
    let p = inc
        .preview(v1::PreviewRequest {
            person: "P1".into(),
            period: "2026-09".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (p.subtotal.as_str(), p.total.as_str()),
        ("247.00", "271.70")
    );
    assert!(
        p.components[1]
            .params_json
            .contains("\"巡查时薪\":\"8.00\""),
        "{:?}",
        p.components
    );
    assert!(p.stats_json.contains("\"办结\":1"), "{}", p.stats_json);
    let s = inc
        .preview(v1::PreviewRequest {
            person: "V1".into(),
            period: "2026-09".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(s.code(), Code::FailedPrecondition);
    let s = inc
        .preview(v1::PreviewRequest {
            person: "P9".into(),
            period: "2026-13".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(s.code(), Code::NotFound);
    // September is settled once it is over.
    let s = inc
        .settle(v1::SettleRequest {
            period: "2026-09".into(),
            persons: vec![],
        })
        .await
        .unwrap_err();
    assert_eq!(s.code(), Code::FailedPrecondition, "{s:?}");
    admin
        .set_clock(v1::SetClockRequest {
            now: 1_790_784_000, // 2026-10-01T00:00:00+08:00
        })
        .await
        .unwrap();
    let settled = inc
        .settle(v1::SettleRequest {
            period: "2026-09".into(),
            persons: vec![],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((settled.created, settled.total.as_str()), (1, "271.70"));
    let again = inc
        .settle(v1::SettleRequest {
            period: "2026-09".into(),
            persons: vec!["P1".into()],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((again.created, again.existing), (0, 1));
    assert_eq!(again.settlements[0].id, "2026-09/P1/1");
    // Late activity is refused into a settled month, unless marked as a
    // correction; `Correct` then counts it.
    let s = inc
        .record_activity(rec("巡查时长", "10", "h2"))
        .await
        .unwrap_err();
    assert_eq!(s.code(), Code::FailedPrecondition, "{s:?}");
    assert!(s.message().contains("already settled"), "{}", s.message());
    inc.record_activity(v1::RecordActivityRequest {
        correction: true,
        ..rec("巡查时长", "10", "h2")
    })
    .await
    .unwrap();
    let fixed = inc
        .correct(v1::CorrectRequest {
            period: "2026-09".into(),
            person: "P1".into(),
            reason: "补录巡查".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (fixed.id.as_str(), fixed.corrects.as_str()),
        ("2026-09/P1/2", "2026-09/P1/1")
    );
    assert_eq!(fixed.total, "359.70");
    let list = inc
        .list_settlements(v1::ListSettlementsRequest {
            period: "2026-09".into(),
            person: "P1".into(),
            page_size: 1,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(list.settlements.len(), 1);
    assert_eq!(list.next_page_token, "1");
    // Points.
    let pts = |rule: &str, qty: &str, key: &str| v1::PointsRequest {
        resident: "R1".into(),
        rule: rule.into(),
        quantity: qty.into(),
        key: key.into(),
        note: String::new(),
    };
    let e = inc
        .earn_points(pts("共享车位", "2", "s1"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((e.points, e.balance, e.created), (20, 20, true));
    let e = inc
        .earn_points(pts("共享车位", "2", "s1"))
        .await
        .unwrap()
        .into_inner();
    assert!(!e.created);
    let s = inc
        .redeem_points(pts("保温杯", "1", "cup"))
        .await
        .unwrap_err();
    assert_eq!(s.code(), Code::FailedPrecondition);
    assert!(
        s.message().contains("has 20 points; redeeming needs 300"),
        "{}",
        s.message()
    );
    let e = inc
        .redeem_points(pts("物业费", "0.15", "fee"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((e.points, e.balance), (-15, 5));
    let b = inc
        .get_balance(v1::GetBalanceRequest {
            resident: "R1".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(b.points, 5);
    let h = inc
        .points_history(v1::PointsHistoryRequest {
            resident: "R1".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(h.entries.len(), 2);
    let s = inc.earn_points(pts("共享", "1", "x")).await.unwrap_err();
    assert_eq!(s.code(), Code::InvalidArgument);
    assert_eq!(
        s.get_details_bad_request().unwrap().field_violations[0].field,
        "rule"
    );
}

#[test]
fn the_incentive_and_points_cli_from_the_readme_works() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path());
    let url = format!("http://{}", server.grpc);
    let run = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--server", url.as_str()]);
        crate::util::wangge(&all)
    };
    let ok = |args: &[&str]| {
        let out = run(args);
        assert_eq!(out.code, 0, "{args:?}: {}{}", out.stdout, out.stderr);
        out.stdout
    };
    ok(&["org", "import", "examples/org/units.csv"]);
    ok(&["org", "import", "examples/org/people.csv"]);
    let out = ok(&[
        "incentive",
        "activity",
        "P2",
        "巡查时长",
        "30.5",
        "--period",
        "2026-09",
        "--key",
        "patrol-0930",
    ]);
    assert!(
        out.contains("recorded P2 巡查时长 30.5 in 2026-09"),
        "{out}"
    );
    let out = ok(&["incentive", "preview", "P2", "2026-09"]);
    // 30.5 h × 8 = 244.00, no cases → × 1.00
    assert!(out.contains("total 244.00 元"), "{out}");
    assert!(out.contains("巡查时薪"), "{out}");
    ok(&["clock", "set", "2026-10-01T00:00:00+08:00"]);
    let out = ok(&["incentive", "settle", "2026-09"]);
    // P1 and P2, and P6, a 网格长 paid as the 专职网格员 they also are.
    assert!(out.contains("3 settled now, 0 settled before"), "{out}");
    let out = ok(&["incentive", "settlements", "2026-09", "--person", "P2"]);
    assert!(out.contains("2026-09/P2/1 李强 244.00 元"), "{out}");
    let out = ok(&[
        "points",
        "earn",
        "R001",
        "共享车位",
        "1",
        "--key",
        "share-0915",
    ]);
    assert!(out.contains("+10 → balance 10"), "{out}");
    let out = run(&[
        "points",
        "redeem",
        "R001",
        "物业费",
        "5.00",
        "--key",
        "fee-2026-09",
    ]);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("has 10 points; redeeming needs 500"),
        "{}",
        out.stderr
    );
    let out = ok(&["points", "balance", "R001"]);
    assert!(out.contains("R001: 10 points"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evaluation_over_grpc_scores_ranks_and_keeps_history() {
    use wangge_proto::v1::evaluation_service_client::EvaluationServiceClient;
    use wangge_proto::v1::org_service_client::OrgServiceClient;
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path());
    let ch = server.channel().await;
    let mut org = OrgServiceClient::new(ch.clone());
    let mut cases = CaseServiceClient::new(ch.clone());
    let mut ev = EvaluationServiceClient::new(ch);
    let text = std::fs::read_to_string(crate::util::root().join("examples/org/units.csv")).unwrap();
    org.import(v1::ImportRequest {
        name: "units.csv".into(),
        text,
        ..Default::default()
    })
    .await
    .unwrap();
    let c = cases
        .report(report(SMALL))
        .await
        .unwrap()
        .into_inner()
        .case
        .unwrap();
    for (a, o) in [
        ("立案", ""),
        ("派遣", ""),
        ("处置", ""),
        ("反馈", "满意"),
        ("核查", "合格"),
    ] {
        cases.act(act(c.id, a, o)).await.unwrap();
    }
    let s = ev
        .score_unit(v1::ScoreUnitRequest {
            scorecard: "星级网格".into(),
            id: "M1".into(),
            period: "2026-Q3".into(),
        })
        .await
        .unwrap()
        .into_inner();
    // 20 + 20 + 20 + 主动发现 0 + 12 (no previous quarter) + 10
    assert_eq!((s.total.as_str(), s.stars), ("82", 4));
    assert_eq!(s.indicators.len(), 6);
    assert!(s.stats_json.contains("\"办结\":1"), "{}", s.stats_json);
    let level = ev
        .score_level(v1::ScoreLevelRequest {
            scorecard: "星级网格".into(),
            period: "2026-Q3".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(level.by_stars.len(), 6);
    assert!(level.scored >= 1);
    let h = ev
        .history(v1::HistoryRequest {
            scorecard: "星级网格".into(),
            id: "M1".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(h.scores.len(), 1);
    let created = ev
        .record_survey(v1::RecordSurveyRequest {
            unit: "G1".into(),
            period: "2026".into(),
            score: "92.5".into(),
            respondents: 100,
            key: "s-g1".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .created;
    assert!(created);
    let s = ev
        .rank(v1::RankRequest {
            award: "先进网格党组织".into(),
            period: "2026".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(s.code(), Code::NotFound, "{}", s.message());
    ev.score_level(v1::ScoreLevelRequest {
        scorecard: "网格党组织考评".into(),
        period: "2026".into(),
    })
    .await
    .unwrap();
    let ranked = ev
        .rank(v1::RankRequest {
            award: "先进网格党组织".into(),
            period: "2026".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .ranked;
    let g1 = ranked.iter().find(|r| r.id == "G1").unwrap();
    assert!(g1.eligible && g1.awarded && g1.rank == 1, "{ranked:?}");
    let s = ev
        .score_level(v1::ScoreLevelRequest {
            scorecard: "星级网格".into(),
            period: "2026-13".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(s.code(), Code::InvalidArgument);
    assert_eq!(
        s.get_details_bad_request().unwrap().field_violations[0].field,
        "period"
    );
    let s = ev
        .score_level(v1::ScoreLevelRequest {
            scorecard: "星级网络".into(),
            period: "2026-Q3".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(
        s.get_details_bad_request().unwrap().field_violations[0].field,
        "scorecard"
    );
}

#[test]
fn the_evaluation_cli_from_the_readme_works() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path());
    let url = format!("http://{}", server.grpc);
    let ok = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--server", url.as_str()]);
        let out = crate::util::wangge(&all);
        assert_eq!(out.code, 0, "{args:?}: {}{}", out.stdout, out.stderr);
        out.stdout
    };
    ok(&["org", "import", "examples/org/units.csv"]);
    // The README's case: a 12345 complaint in M1, closed on time, satisfied.
    ok(&[
        "case",
        "report",
        "--data",
        r#"{"类别": "垃圾堆放", "人数": 1, "风险": 1, "来源": "12345"}"#,
        "--unit",
        "M1",
        "--key",
        "hotline-0001",
    ]);
    for (action, outcome) in [
        ("立案", ""),
        ("派遣", ""),
        ("处置", ""),
        ("反馈", "满意"),
        ("核查", "合格"),
    ] {
        let mut args = vec!["case", "act", "1", action];
        if !outcome.is_empty() {
            args.extend(["--outcome", outcome]);
        }
        ok(&args);
    }
    let out = ok(&["evaluation", "score-level", "星级网格", "2026-Q3"]);
    assert!(out.contains("星级网格 2026-Q3: 2 scored"), "{out}");
    let out = ok(&["evaluation", "score", "星级网格", "M1", "2026-Q3"]);
    // 20 + 20 + 20 + 主动发现 0 + 12 + 10: a complaint, not self-discovered.
    assert!(out.contains("total 82 · 4 star(s)"), "{out}");
    assert!(out.contains("按期率"), "{out}");
    ok(&[
        "evaluation",
        "survey",
        "G1",
        "2026",
        "92.5",
        "--respondents",
        "120",
        "--key",
        "survey-2026-g1",
    ]);
    ok(&["evaluation", "score-level", "网格党组织考评", "2026"]);
    let out = ok(&["evaluation", "rank", "先进网格党组织", "2026", "--awarded"]);
    assert!(out.contains("S1 #1 G1 和平一网格"), "{out}");
    assert!(out.contains("awarded"), "{out}");
    let out = ok(&["evaluation", "history", "星级网格", "M1"]);
    assert!(out.contains("星级网格 2026-Q3 M1"), "{out}");
}

/// `AdvanceClock` by `i64::MAX` used to answer OK and wrap the clock
/// negative; a clock past the year 9999 is refused too. Nothing moves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clock_move_past_the_representable_range_is_refused() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path());
    let mut admin = AdminServiceClient::new(server.channel().await);
    let before = admin
        .advance_clock(v1::AdvanceClockRequest { seconds: 0 })
        .await
        .unwrap()
        .into_inner()
        .now;
    for seconds in [i64::MAX, i64::MAX - before, 300_000_000_000] {
        let e = admin
            .advance_clock(v1::AdvanceClockRequest { seconds })
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "{seconds}: {e:?}");
        let bad = e.get_details_bad_request().expect("bad request details");
        assert_eq!(bad.field_violations[0].field, "seconds");
    }
    let e = admin
        .set_clock(v1::SetClockRequest { now: i64::MAX })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    let after = admin
        .advance_clock(v1::AdvanceClockRequest { seconds: 0 })
        .await
        .unwrap()
        .into_inner()
        .now;
    assert_eq!(after, before, "the clock moved");
}

/// A known action with an outcome it does not have used to be refused
/// under field `action`; it is the `outcome` that is wrong, and the answer
/// lists the valid ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_outcome_is_refused_under_outcome_with_the_valid_ones() {
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
    let s = cases.act(act(c.id, "反馈", "很好")).await.unwrap_err();
    assert_eq!(s.code(), Code::InvalidArgument, "{s:?}");
    let bad = s.get_details_bad_request().expect("bad request details");
    assert_eq!(bad.field_violations[0].field, "outcome", "{s:?}");
    assert!(
        s.message().contains("满意") && s.message().contains("不满意"),
        "{s:?}"
    );
    let after = cases
        .get(v1::GetCaseRequest { id: c.id })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(after.version, c.version, "nothing was written");
}

/// Health used to answer NOT_FOUND for IncentiveService and
/// EvaluationService, and reflection spoke only `v1` (Python's
/// grpcio-reflection and other `v1alpha` clients got UNIMPLEMENTED).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_reports_every_service_and_reflection_speaks_v1alpha_too() {
    use tonic_reflection::pb::v1alpha::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1alpha::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1alpha::server_reflection_response::MessageResponse;
    use tonic_reflection::pb::v1alpha::ServerReflectionRequest;
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path());
    let ch = server.channel().await;
    for service in [
        "",
        "wangge.v1.CaseService",
        "wangge.v1.PolicyService",
        "wangge.v1.OrgService",
        "wangge.v1.AdminService",
        "wangge.v1.IncentiveService",
        "wangge.v1.EvaluationService",
    ] {
        assert_eq!(
            health_status(ch.clone(), service).await,
            tonic_health::pb::health_check_response::ServingStatus::Serving as i32,
            "{service}"
        );
    }
    let mut reflection = ServerReflectionClient::new(ch);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut answers = reflection
        .server_reflection_info(tokio_stream::iter(vec![request]))
        .await
        .expect("v1alpha reflection answers")
        .into_inner();
    let answer = answers.message().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = answer.message_response else {
        panic!("no service list")
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    assert!(
        names.iter().any(|n| n == "wangge.v1.EvaluationService"),
        "{names:?}"
    );
}
