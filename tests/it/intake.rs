//! 12345 工单 in, a case out, the 回访 back (over gRPC, as the hotline's
//! service account): codes mapped by the policy's `intake`, retries and
//! duplicates linked to one case, misread orders refused naming the 工单
//! field with nothing stored.

use tonic::Code;
use tonic_types::StatusExt;
use wangge_proto::v1;
use wangge_proto::v1::case_service_client::CaseServiceClient;
use wangge_proto::v1::intake_service_client::IntakeServiceClient;

use crate::auth::{as_, secure_server, token};

fn order(no: &str, unit: &str, code: &str) -> serde_json::Value {
    serde_json::json!({
        "工单编号": no, "网格编码": unit, "诉求分类": code, "紧急程度": "一般",
        "涉及人数": 1, "诉求内容": "楼道口垃圾三天没人清", "来电号码": "13812341234"
    })
}

fn submit(o: &serde_json::Value) -> v1::IntakeRequest {
    v1::IntakeRequest {
        intake: "热线工单".into(),
        order_json: o.to_string(),
        actor: String::new(),
    }
}

fn field(s: &tonic::Status) -> String {
    s.get_details_bad_request()
        .map(|b| b.field_violations[0].field.clone())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hotline_order_comes_in_as_a_case_and_its_callback_goes_back_as_feedback() {
    let data = tempfile::tempdir().unwrap();
    let (_server, ch) = secure_server(data.path()).await;
    let mut intake = IntakeServiceClient::new(ch.clone());
    let mut cases = CaseServiceClient::new(ch.clone());
    let hotline = token("service:热线12345");

    // Orders it cannot read: the 工单 field is named, nothing is stored.
    let s = intake
        .submit(as_(&hotline, submit(&order("GD-1", "M1", "0999"))))
        .await
        .unwrap_err();
    assert_eq!(
        (s.code(), field(&s)),
        (Code::InvalidArgument, "order.诉求分类".into())
    );
    assert!(s.message().contains("`0999`"), "{}", s.message());
    let mut no_unit = order("GD-1", "M1", "0101");
    no_unit.as_object_mut().unwrap().remove("网格编码");
    let s = intake
        .submit(as_(&hotline, submit(&no_unit)))
        .await
        .unwrap_err();
    assert_eq!(
        (s.code(), field(&s)),
        (Code::InvalidArgument, "order.网格编码".into())
    );
    let listed = cases
        .list(as_(&token("Z1"), v1::ListCasesRequest::default()))
        .await
        .unwrap()
        .into_inner()
        .cases;
    assert!(listed.is_empty(), "nothing stored");

    // A good order: a case in 和平一网格1号微网格, from 12345, classified.
    let r = intake
        .submit(as_(&hotline, submit(&order("GD-1", "M1", "0101"))))
        .await
        .unwrap()
        .into_inner();
    let case = r.case.unwrap();
    assert!(r.created);
    assert_eq!((case.unit.as_str(), case.class.as_str()), ("M1", "小事"));
    let d: serde_json::Value = serde_json::from_str(&case.data_json).unwrap();
    assert_eq!(
        (d["类别"].as_str(), d["来源"].as_str()),
        (Some("垃圾堆放"), Some("12345"))
    );
    // The same order again answers the same case; another order of the same
    // matter at the same place within 24 h is linked to it, not opened.
    let again = intake
        .submit(as_(&hotline, submit(&order("GD-1", "M1", "0101"))))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((again.created, again.case.unwrap().id), (false, case.id));
    let dup = intake
        .submit(as_(&hotline, submit(&order("GD-2", "M1", "0101"))))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((dup.created, dup.duplicate_of), (false, case.id));
    let other = intake
        .submit(as_(&hotline, submit(&order("GD-3", "M1", "0201"))))
        .await
        .unwrap()
        .into_inner();
    assert!(other.created && other.case.unwrap().id != case.id);

    // Handled; then the hotline's 回访 (基本满意 counts as 满意) is the feedback.
    let z1 = token("Z1");
    for action in ["立案", "派遣", "处置"] {
        cases
            .act(as_(
                &z1,
                v1::ActRequest {
                    id: case.id,
                    action: action.into(),
                    ..Default::default()
                },
            ))
            .await
            .unwrap();
    }
    let bad = serde_json::json!({"工单编号": "GD-1", "回访结果": "很好"});
    let s = intake
        .callback(as_(&hotline, submit(&bad)))
        .await
        .unwrap_err();
    assert_eq!(
        (s.code(), field(&s)),
        (Code::InvalidArgument, "order.回访结果".into())
    );
    let unknown = serde_json::json!({"工单编号": "GD-9", "回访结果": "满意"});
    let s = intake
        .callback(as_(&hotline, submit(&unknown)))
        .await
        .unwrap_err();
    assert_eq!(
        (s.code(), field(&s)),
        (Code::InvalidArgument, "order.工单编号".into())
    );
    let back = serde_json::json!({"工单编号": "GD-2", "回访结果": "基本满意"});
    let c = intake
        .callback(as_(&hotline, submit(&back)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (c.id, c.state.as_str()),
        (case.id, "核查"),
        "the duplicate's 回访 reaches the case"
    );
    let events = cases
        .events(as_(&z1, v1::GetCaseRequest { id: case.id }))
        .await
        .unwrap()
        .into_inner()
        .events;
    let last = events.last().unwrap();
    assert_eq!(
        (
            last.action.as_str(),
            last.outcome.as_str(),
            last.actor.as_str()
        ),
        ("反馈", "满意", "service:热线12345")
    );
}
