//! Tasks sent down (下派任务) end to end over gRPC and the CLI: a 街道
//! sends 燃气入户排查 to every 微网格; one is done within the 3 hours, the
//! other is reminded, then late and escalated to its 一般网格; bad input is
//! refused with the field named and nothing stored; scoping by the org tree.

use tonic::Code;
use tonic_types::StatusExt;
use wangge_proto::v1;
use wangge_proto::v1::admin_service_client::AdminServiceClient;
use wangge_proto::v1::task_service_client::TaskServiceClient;

use crate::auth::{as_, secure_server, token};

fn field(s: &tonic::Status) -> String {
    s.get_details_bad_request()
        .map(|b| b.field_violations[0].field.clone())
        .unwrap_or_default()
}

fn done(id: u64, unit: &str) -> v1::CompleteTaskRequest {
    v1::CompleteTaskRequest {
        id,
        unit: unit.into(),
        count: Some(58),
        checked: vec!["查阀门".into(), "查软管".into(), "发放告知书".into()],
        attachment: "photo-2026-0914-001".into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_to_every_micro_grid_is_done_by_some_within_three_hours_and_the_others_escalated() {
    let data = tempfile::tempdir().unwrap();
    let (server, ch) = secure_server(data.path()).await;
    let mut tasks = TaskServiceClient::new(ch.clone());
    let (z1, w1, w2, l1) = (token("Z1"), token("W1"), token("W2"), token("L1"));

    // A 微网格员 may not send tasks; an unknown task names the field.
    let s = tasks
        .create(as_(
            &w1,
            v1::CreateTaskRequest {
                task: "燃气入户排查".into(),
                under: "M1".into(),
                note: String::new(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(s.code(), Code::PermissionDenied, "{s:?}");
    let s = tasks
        .create(as_(
            &z1,
            v1::CreateTaskRequest {
                task: "燃气排查".into(),
                under: "S1".into(),
                note: String::new(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(
        (s.code(), field(&s)),
        (Code::InvalidArgument, "task".into())
    );

    // The 街道 指挥中心 sends it: every 微网格 of 锦江街道 gets a part.
    let t = tasks
        .create(as_(
            &z1,
            v1::CreateTaskRequest {
                task: "燃气入户排查".into(),
                under: "S1".into(),
                note: "入户检查燃气阀门和软管".into(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (t.units, t.level.as_str(), t.sent_by.as_str()),
        (2, "微网格", "Z1")
    );
    assert_eq!(t.due - t.created_at, 3 * 3600, "3 hours, continuous");

    // 签收 and 完成 by the grid's own worker; another grid's is refused.
    let p = tasks
        .accept(as_(
            &w1,
            v1::TaskUnitRequest {
                id: t.id,
                unit: "M1".into(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (p.status.as_str(), p.accepted_by.as_str()),
        ("accepted", "W1")
    );
    let s = tasks
        .complete(as_(&w1, done(t.id, "M3")))
        .await
        .unwrap_err();
    assert_eq!(s.code(), Code::PermissionDenied, "{s:?}");
    // What completion needs, each missing piece named; nothing stored.
    let mut no_photo = done(t.id, "M3");
    no_photo.attachment.clear();
    let s = tasks.complete(as_(&w2, no_photo)).await.unwrap_err();
    assert_eq!(
        (s.code(), field(&s)),
        (Code::InvalidArgument, "attachment".into())
    );
    let mut half = done(t.id, "M3");
    half.checked.pop();
    let s = tasks.complete(as_(&w2, half)).await.unwrap_err();
    assert_eq!(
        (s.code(), field(&s)),
        (Code::InvalidArgument, "checked".into())
    );
    assert!(s.message().contains("发放告知书"), "{}", s.message());
    let s = tasks
        .complete(as_(&token("Q1"), done(t.id, "C1")))
        .await
        .unwrap_err();
    assert_eq!(
        (s.code(), field(&s)),
        (Code::InvalidArgument, "unit".into())
    );
    let p = tasks
        .complete(as_(&w1, done(t.id, "M1")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (p.status.as_str(), p.count, p.done_by.as_str()),
        ("done", 58, "W1")
    );
    let s = tasks
        .complete(as_(&w1, done(t.id, "M1")))
        .await
        .unwrap_err();
    assert_eq!(s.code(), Code::FailedPrecondition, "done once");

    // Three hours pass: reminded at 80 %, then late and escalated.
    let fired = AdminServiceClient::new(ch.clone())
        .advance_clock(as_(
            &token("service:运维"),
            v1::AdvanceClockRequest {
                seconds: 3 * 3600 + 60,
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .fired;
    assert!(fired >= 2, "{fired}");
    let progress = tasks
        .progress(as_(
            &z1,
            v1::TaskProgressRequest {
                id: t.id,
                level: "社区".into(),
                under: String::new(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let totals = progress.totals.unwrap();
    assert_eq!((totals.total, totals.done, totals.late), (2, 1, 1));
    let rows: Vec<(String, u64, u64)> = progress
        .rows
        .iter()
        .map(|r| {
            let t = r.tally.unwrap();
            (r.unit.clone(), t.done, t.late)
        })
        .collect();
    assert_eq!(rows, [("C1".into(), 1, 0), ("C2".into(), 0, 1)]);
    let late = tasks
        .parts(as_(
            &z1,
            v1::TaskPartsRequest {
                id: t.id,
                status: "late".into(),
                under: String::new(),
                limit: 0,
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .parts;
    assert_eq!(late.len(), 1);
    assert_eq!(
        (late[0].unit.as_str(), late[0].escalated_to.as_str()),
        ("M3", "G3")
    );
    // Reads are scoped: a 网格长 of 和平一网格 sees the task (a part is
    // under him) but not the 街道's roll-up.
    let listed = tasks
        .list(as_(&l1, v1::ListTasksRequest {}))
        .await
        .unwrap()
        .into_inner()
        .tasks;
    assert_eq!(listed.len(), 1);
    let s = tasks
        .progress(as_(
            &l1,
            v1::TaskProgressRequest {
                id: t.id,
                level: String::new(),
                under: String::new(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(s.code(), Code::PermissionDenied);
    let mine = tasks
        .progress(as_(
            &l1,
            v1::TaskProgressRequest {
                id: t.id,
                level: String::new(),
                under: "G1".into(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(mine.totals.unwrap().done, 1);

    // Late work still counts, as late; the events tell the story.
    let p = tasks
        .complete(as_(&w2, done(t.id, "M3")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(p.status, "done_late");
    let events = tasks
        .events(as_(
            &z1,
            v1::TaskEventsRequest {
                from_sequence: 0,
                limit: 0,
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .events;
    let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        ["created", "签收", "完成", "remind", "overdue", "完成"]
    );

    // The same from the command line.
    let out = crate::util::wangge(&[
        "task",
        "progress",
        &t.id.to_string(),
        "--level",
        "一般网格",
        "-o",
        "json",
        "--server",
        &server.grpc,
        "--token",
        &z1,
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["totals"]["done_late"], 1, "{v}");
    assert_eq!(v["rows"].as_array().unwrap().len(), 2, "{v}");
    let out = crate::util::wangge(&[
        "task",
        "create",
        "节会安保巡查",
        "--under",
        "C1",
        "--server",
        &server.grpc,
        "--token",
        &z1,
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("(1 units)"), "{}", out.stdout);
    let out = crate::util::wangge(&[
        "task",
        "done",
        "2",
        "M1",
        "--check",
        "重点部位,消防通道,人员聚集点",
        "--server",
        &server.grpc,
        "--token",
        &w1,
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("done"), "{}", out.stdout);
}
