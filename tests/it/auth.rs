//! Who may do what, end to end over gRPC: tokens, grants for each shipped
//! role scoped to the org tree, reads and WatchCases scoped alike, the
//! verified actor, masked personal fields, the audit log, mutual TLS.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use tonic::transport::Channel;
use tonic::{Code, Request, Status};
use wangge_proto::v1;
use wangge_proto::v1::audit_service_client::AuditServiceClient;
use wangge_proto::v1::case_service_client::CaseServiceClient;

use crate::server::Server;

pub const SECRET: &str = "wangge-test-secret-0123456789";

const UNITS: &str = "编号,名称,层级,上级,户数,农村
S1,锦江街道,街道,,,
C1,和平社区,社区,S1,,
C2,安宁社区,社区,S1,,
G1,和平一网格,一般网格,C1,420,否
G3,安宁一网格,一般网格,C2,300,否
M1,和平一网格1号微网格,微网格,G1,60,否
M3,安宁一网格1号微网格,微网格,G3,50,否
YJ,应急管理局,职能部门,,,
";

const PEOPLE: &str = "编号,姓名,角色,所属网格,党员
A1,钱运,系统管理员,S1,否
Z1,孙指挥,街道指挥中心,S1,否
Q1,周社工,社区工作人员,C1,否
L1,刘网格长,网格长,G1,正式
W1,李微网,微网格员,M1,否
W2,王微网,微网格员,M3,否
D1,赵应急,部门,YJ,否
W3,张微网,微网格员,M1,否
V1,赵志愿,志愿者,M1,否
";

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A token for `sub` valid `from`..`to` seconds around now, for `aud`.
pub fn token_with(sub: &str, aud: &str, from: i64, to: i64, secret: &str) -> String {
    let claims = serde_json::json!({
        "sub": sub, "iss": "wangge", "aud": aud,
        "nbf": now() + from, "exp": now() + to, "iat": now(),
    });
    encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

pub fn token(sub: &str) -> String {
    token_with(sub, "wangge", -1, 3600, SECRET)
}

/// `msg` with `authorization: Bearer TOKEN`.
pub fn as_<T>(tok: &str, msg: T) -> Request<T> {
    let mut r = Request::new(msg);
    r.metadata_mut()
        .insert("authorization", format!("Bearer {tok}").parse().unwrap());
    r
}

/// A server requiring authentication, its registry imported by the
/// bootstrap service account `运维`.
pub async fn secure_server(data: &std::path::Path) -> (Server, Channel) {
    secure_server_with(data, &[]).await
}

/// [`secure_server`] with `extra` flags.
pub async fn secure_server_with(data: &std::path::Path, extra: &[&str]) -> (Server, Channel) {
    let flags = [&["--require-auth", "--auth-hmac-secret", SECRET][..], extra].concat();
    let server = Server::start_bare(data, &flags);
    let ch = server.channel().await;
    import_registry(ch.clone()).await;
    (server, ch)
}

/// The test registry, imported by the bootstrap service account `运维`.
async fn import_registry(ch: Channel) {
    let mut org = v1::org_service_client::OrgServiceClient::new(ch);
    let ops = token("service:运维");
    for (name, text) in [("units.csv", UNITS), ("people.csv", PEOPLE)] {
        org.import(as_(
            &ops,
            v1::ImportRequest {
                name: name.into(),
                text: text.into(),
                ladder: String::new(),
            },
        ))
        .await
        .unwrap();
    }
}

/// Reports a small event at `unit` as `who` (a person's 编号); its case id.
pub async fn reported(ch: Channel, who: &str, unit: &str) -> u64 {
    CaseServiceClient::new(ch)
        .report(as_(&token(who), event(unit, SMALL)))
        .await
        .unwrap()
        .into_inner()
        .case
        .unwrap()
        .id
}

pub fn event(unit: &str, data: &str) -> v1::ReportRequest {
    v1::ReportRequest {
        workflow: "事件处置".into(),
        unit: unit.into(),
        data_json: data.into(),
        idempotency_key: String::new(),
        actor: String::new(),
    }
}

pub const SMALL: &str =
    r#"{"类别": "垃圾堆放", "人数": 1, "风险": 1, "上报人": "张三", "联系电话": "13812341234"}"#;
const BIG: &str = r#"{"类别": "群体性聚集", "人数": 50, "风险": 4}"#;

fn act(id: u64, action: &str, departments: &[&str]) -> v1::ActRequest {
    v1::ActRequest {
        id,
        action: action.into(),
        departments: departments.iter().map(|d| d.to_string()).collect(),
        ..Default::default()
    }
}

fn denied<T: std::fmt::Debug>(r: Result<T, Status>) -> Status {
    let s = r.unwrap_err();
    assert_eq!(s.code(), Code::PermissionDenied, "{s:?}");
    s
}

async fn listed(c: &mut CaseServiceClient<Channel>, who: &str) -> Vec<u64> {
    let mut ids: Vec<u64> = c
        .list(as_(&token(who), v1::ListCasesRequest::default()))
        .await
        .unwrap()
        .into_inner()
        .cases
        .iter()
        .map(|c| c.id)
        .collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn every_role_may_do_what_its_grant_says_within_its_subtree_and_nothing_more() {
    let data = tempfile::tempdir().unwrap();
    let (_server, ch) = secure_server(data.path()).await;
    let mut c = CaseServiceClient::new(ch.clone());
    let (w1, w2, l1, q1, z1, d1, a1) = (
        token("W1"),
        token("W2"),
        token("L1"),
        token("Q1"),
        token("Z1"),
        token("D1"),
        token("A1"),
    );

    // 微网格员 report in their own micro grid, not in another 社区's.
    let a = c.report(as_(&w1, event("M1", SMALL))).await.unwrap();
    let a = a.into_inner().case.unwrap().id;
    denied(c.report(as_(&w1, event("M3", SMALL))).await);
    let b = c.report(as_(&w2, event("M3", SMALL))).await.unwrap();
    let b = b.into_inner().case.unwrap().id;
    assert_eq!(
        listed(&mut c, "Z1").await,
        vec![a, b],
        "a refused report wrote nothing"
    );

    // Actions: the grant's actions, on cases in the subtree only.
    c.act(as_(&w1, act(a, "立案", &[]))).await.unwrap();
    denied(c.act(as_(&w1, act(a, "核查", &[]))).await);
    denied(c.act(as_(&w2, act(a, "派遣", &[]))).await);
    c.act(as_(&l1, act(a, "派遣", &[]))).await.unwrap();
    denied(c.act(as_(&q1, act(b, "立案", &[]))).await);
    denied(c.act(as_(&a1, act(b, "立案", &[]))).await);
    c.act(as_(&z1, act(b, "立案", &[]))).await.unwrap();
    // The refused actions wrote nothing: two events on each case so far.
    for (id, events) in [(a, 3), (b, 2)] {
        let got = c
            .events(as_(&z1, v1::GetCaseRequest { id }))
            .await
            .unwrap()
            .into_inner()
            .events;
        assert_eq!(got.len(), events, "case {id}");
    }

    // Reads are scoped the same way.
    assert_eq!(listed(&mut c, "W1").await, vec![a]);
    assert_eq!(listed(&mut c, "W2").await, vec![b]);
    assert_eq!(listed(&mut c, "Q1").await, vec![a]);
    assert_eq!(listed(&mut c, "A1").await, Vec::<u64>::new());
    denied(c.get(as_(&w1, v1::GetCaseRequest { id: b })).await);
    denied(c.events(as_(&w1, v1::GetCaseRequest { id: b })).await);
    c.get(as_(&q1, v1::GetCaseRequest { id: a })).await.unwrap();

    // A department sees and acts only on cases it was summoned to.
    let big = c.report(as_(&w1, event("M1", BIG))).await.unwrap();
    let big = big.into_inner().case.unwrap();
    assert_eq!(big.level, "街道");
    denied(c.get(as_(&d1, v1::GetCaseRequest { id: big.id })).await);
    c.act(as_(&z1, act(big.id, "summon", &["YJ"])))
        .await
        .unwrap();
    c.get(as_(&d1, v1::GetCaseRequest { id: big.id }))
        .await
        .unwrap();
    c.act(as_(&d1, act(big.id, "report_in", &["YJ"])))
        .await
        .unwrap();
    denied(c.get(as_(&d1, v1::GetCaseRequest { id: a })).await);
    assert_eq!(listed(&mut c, "D1").await, vec![big.id]);

    // Administrative operations need their grants.
    let mut admin = v1::admin_service_client::AdminServiceClient::new(ch.clone());
    denied(
        admin
            .advance_clock(as_(&w1, v1::AdvanceClockRequest { seconds: 60 }))
            .await,
    );
    admin
        .advance_clock(as_(&a1, v1::AdvanceClockRequest { seconds: 60 }))
        .await
        .unwrap();
    let mut policy = v1::policy_service_client::PolicyServiceClient::new(ch.clone());
    denied(
        policy
            .rollback(as_(&w1, v1::RollbackRequest { hash: "x".into() }))
            .await,
    );
    let mut inc = v1::incentive_service_client::IncentiveServiceClient::new(ch.clone());
    denied(
        inc.settle(as_(
            &w1,
            v1::SettleRequest {
                period: "2026-08".into(),
                persons: vec![],
            },
        ))
        .await,
    );
    let mut org = v1::org_service_client::OrgServiceClient::new(ch.clone());
    denied(
        org.import(as_(
            &l1,
            v1::ImportRequest {
                name: "people.csv".into(),
                text: PEOPLE.into(),
                ladder: String::new(),
            },
        ))
        .await,
    );
}

#[tokio::test]
async fn the_actor_is_the_verified_identity_and_personal_fields_are_masked() {
    let data = tempfile::tempdir().unwrap();
    let (_server, ch) = secure_server(data.path()).await;
    let mut c = CaseServiceClient::new(ch.clone());
    let (w1, l1, hotline) = (token("W1"), token("L1"), token("service:热线12345"));

    // A person may not name another actor; a service granted 代办 may.
    let mut forged = event("M1", SMALL);
    forged.actor = "L1".into();
    let s = denied(c.report(as_(&w1, forged)).await);
    assert!(s.message().contains("on behalf"), "{}", s.message());
    let a = c.report(as_(&w1, event("M1", SMALL))).await.unwrap();
    let a = a.into_inner().case.unwrap().id;
    let mut call = event("M3", SMALL);
    call.actor = "市民张三".into();
    let h = c.report(as_(&hotline, call)).await.unwrap();
    let h = h.into_inner().case.unwrap().id;

    let events = c
        .events(as_(&token("Z1"), v1::GetCaseRequest { id: h }))
        .await
        .unwrap()
        .into_inner()
        .events;
    assert_eq!(events[0].actor, "service:热线12345");
    assert_eq!(events[0].on_behalf, "市民张三");
    let events = c
        .events(as_(&l1, v1::GetCaseRequest { id: a }))
        .await
        .unwrap()
        .into_inner()
        .events;
    assert_eq!(events[0].actor, "W1");
    assert_eq!(events[0].on_behalf, "");

    // 微网格员 has no 查看个人信息: masked; 网格长 has it: clear.
    let seen =
        |case: v1::Case| -> serde_json::Value { serde_json::from_str(&case.data_json).unwrap() };
    let masked = seen(
        c.get(as_(&w1, v1::GetCaseRequest { id: a }))
            .await
            .unwrap()
            .into_inner(),
    );
    assert_eq!(masked["联系电话"], "138****1234");
    assert_eq!(masked["上报人"], "张*");
    assert_eq!(masked["类别"], "垃圾堆放");
    let clear = seen(
        c.get(as_(&l1, v1::GetCaseRequest { id: a }))
            .await
            .unwrap()
            .into_inner(),
    );
    assert_eq!(clear["联系电话"], "13812341234");
    assert_eq!(clear["上报人"], "张三");
    let listed = c
        .list(as_(&w1, v1::ListCasesRequest::default()))
        .await
        .unwrap()
        .into_inner()
        .cases;
    assert_eq!(seen(listed[0].clone())["联系电话"], "138****1234");
}

#[tokio::test]
async fn watch_cases_streams_only_what_the_caller_may_see() {
    let data = tempfile::tempdir().unwrap();
    let (_server, ch) = secure_server(data.path()).await;
    let mut c = CaseServiceClient::new(ch.clone());
    let a = c
        .report(as_(&token("W1"), event("M1", SMALL)))
        .await
        .unwrap();
    let a = a.into_inner().case.unwrap().id;
    let b = c
        .report(as_(&token("W2"), event("M3", SMALL)))
        .await
        .unwrap();
    let b = b.into_inner().case.unwrap().id;
    c.act(as_(&token("W1"), act(a, "立案", &[]))).await.unwrap();
    for (who, want) in [("W2", vec![b]), ("W1", vec![a, a]), ("Z1", vec![a, b, a])] {
        let mut stream = c
            .watch_cases(as_(&token(who), v1::WatchCasesRequest { from_sequence: 1 }))
            .await
            .unwrap()
            .into_inner();
        let mut got = Vec::new();
        while let Ok(Ok(Some(change))) =
            tokio::time::timeout(Duration::from_millis(500), stream.message()).await
        {
            got.push(change.event.unwrap().case_id);
        }
        assert_eq!(got, want, "{who}");
    }
}

#[tokio::test]
async fn tokens_missing_expired_forged_for_another_audience_or_not_yet_valid_are_unauthenticated() {
    let data = tempfile::tempdir().unwrap();
    let (_server, ch) = secure_server(data.path()).await;
    let mut c = CaseServiceClient::new(ch.clone());
    let bad = [
        token_with("W1", "wangge", -7200, -3600, SECRET),
        token_with("W1", "wangge", -1, 3600, "a-different-secret-for-forging"),
        token_with("W1", "another-service", -1, 3600, SECRET),
        token_with("W1", "wangge", 3600, 7200, SECRET),
        token("NOBODY"),
        token("service:不存在的账号"),
        "garbage".into(),
    ];
    for t in &bad {
        let s = c.report(as_(t, event("M1", SMALL))).await.unwrap_err();
        assert_eq!(s.code(), Code::Unauthenticated, "{t}: {s:?}");
    }
    let s = c
        .report(Request::new(event("M1", SMALL)))
        .await
        .unwrap_err();
    assert_eq!(s.code(), Code::Unauthenticated);
    assert_eq!(
        listed(&mut c, "Z1").await,
        Vec::<u64>::new(),
        "nothing written"
    );

    // The refusals are in the audit log, and so are the writes.
    let mut audit = AuditServiceClient::new(ch.clone());
    let ops = token("service:运维");
    let refused = audit
        .list_entries(as_(
            &ops,
            v1::ListEntriesRequest {
                outcome: "Unauthenticated".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .entries;
    assert_eq!(refused.len(), bad.len() + 1);
    assert!(refused.iter().all(|e| e.who == "anonymous"
        && e.method == "CaseService/Report"
        && e.keys.get("unit").map(String::as_str) == Some("M1")));
    let imports = audit
        .list_entries(as_(
            &ops,
            v1::ListEntriesRequest {
                who: "service:运维".into(),
                method: "OrgService".into(),
                outcome: "OK".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .entries;
    assert_eq!(imports.len(), 2);
    assert!(imports.iter().all(|e| e.outcome == "OK"));
    let v = audit
        .verify(as_(&ops, v1::VerifyRequest {}))
        .await
        .unwrap()
        .into_inner();
    assert!(v.ok, "{v:?}");
    // Reading the audit log needs 查看审计.
    denied(audit.verify(as_(&token("W1"), v1::VerifyRequest {})).await);
}

#[tokio::test]
async fn audit_verify_finds_an_altered_entry() {
    use wangge_store::LedgerSpace;
    let data = tempfile::tempdir().unwrap();
    let (server, ch) = secure_server(data.path()).await;
    let mut c = CaseServiceClient::new(ch.clone());
    c.report(as_(&token("W1"), event("M1", SMALL)))
        .await
        .unwrap();
    drop(c);
    drop(ch);
    assert_eq!(server.stop(), 0);
    {
        let store = wangge_store_sled::SledStore::open(data.path(), 8 << 20).unwrap();
        // The first batch of entries: its first entry is the import by 运维.
        let key = b"A\x0000000000000000000001".to_vec();
        let old = store.ledger_get(&key).unwrap().expect("entry 1");
        let text = String::from_utf8(old).unwrap();
        let forged = text.replacen("service:运维", "A1", 1);
        assert_ne!(text, forged);
        store.ledger_put(vec![(key, forged.into_bytes())]).unwrap();
        wangge_store::CaseStore::flush(&store).unwrap();
    }
    let server = Server::start_bare(
        data.path(),
        &["--require-auth", "--auth-hmac-secret", SECRET],
    );
    let out = crate::util::wangge(&[
        "audit",
        "verify",
        "--server",
        &server.grpc,
        "--token",
        &token("service:运维"),
    ]);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("BROKEN at entry 1"), "{}", out.stdout);
}

/// A CA and a certificate it signs for `cn` (with `names` as SANs).
struct Pki {
    ca_pem: String,
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
}

impl Pki {
    fn new(name: &str) -> Pki {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        let ca = params.self_signed(&key).unwrap();
        Pki {
            ca_pem: ca.pem(),
            issuer: rcgen::Issuer::new(params, key),
        }
    }

    /// (certificate PEM, key PEM).
    fn issue(&self, cn: &str, names: &[&str]) -> (String, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let mut params = rcgen::CertificateParams::new(names).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }
}

#[tokio::test]
async fn mutual_tls_maps_a_client_certificate_to_a_service_and_refuses_a_stranger() {
    use tonic::transport::{Certificate, ClientTlsConfig, Identity};
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    };
    let pki = Pki::new("wangge test CA");
    let (srv_cert, srv_key) = pki.issue("localhost", &["localhost"]);
    let (gw_cert, gw_key) = pki.issue("hotline-gw", &[]);
    let stranger = Pki::new("somebody else's CA");
    let (x_cert, x_key) = stranger.issue("hotline-gw", &[]);
    let config = write(
        "wangge.toml",
        "[tls]\nclient_identities = { \"hotline-gw\" = \"service:热线12345\" }\n",
    );
    let (cert, key, ca) = (
        write("server.pem", &srv_cert),
        write("server.key", &srv_key),
        write("ca.pem", &pki.ca_pem),
    );
    let data = dir.path().join("data");
    let server = Server::start_bare(
        &data,
        &[
            "--require-auth",
            "--auth-hmac-secret",
            SECRET,
            "--config",
            &config,
            "--tls-cert",
            &cert,
            "--tls-key",
            &key,
            "--tls-client-ca",
            &ca,
        ],
    );
    let port = server.grpc.rsplit(':').next().unwrap().to_string();
    let url = format!("https://localhost:{port}");
    let connect = |identity: Option<(String, String)>| {
        let mut tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(&pki.ca_pem));
        if let Some((c, k)) = identity {
            tls = tls.identity(Identity::from_pem(c, k));
        }
        let url = url.clone();
        async move {
            Channel::from_shared(url)
                .unwrap()
                .tls_config(tls)
                .unwrap()
                .connect()
                .await
        }
    };
    // The registry, over TLS with a token.
    let ch = connect(None).await.unwrap();
    import_registry(ch.clone()).await;
    // No certificate and no token: UNAUTHENTICATED.
    let mut c = CaseServiceClient::new(ch);
    let s = c
        .report(Request::new(event("M1", SMALL)))
        .await
        .unwrap_err();
    assert_eq!(s.code(), Code::Unauthenticated, "{s:?}");
    // The gateway's certificate is the 12345 service account.
    let gw = connect(Some((gw_cert, gw_key))).await.unwrap();
    let mut c = CaseServiceClient::new(gw);
    let mut call = event("M1", SMALL);
    call.actor = "市民李四".into();
    let id = c.report(call).await.unwrap().into_inner().case.unwrap().id;
    let events = c
        .events(v1::GetCaseRequest { id })
        .await
        .unwrap()
        .into_inner()
        .events;
    assert_eq!(events[0].actor, "service:热线12345");
    assert_eq!(events[0].on_behalf, "市民李四");
    // A certificate from another CA does not get through the handshake.
    let refused = match connect(Some((x_cert, x_key))).await {
        Err(_) => true,
        Ok(ch) => CaseServiceClient::new(ch)
            .report(event("M1", SMALL))
            .await
            .is_err_and(|s| s.code() != Code::PermissionDenied),
    };
    assert!(refused, "a stranger's certificate was accepted");
    // Plain text to a TLS port fails.
    let plain = Channel::from_shared(format!("http://127.0.0.1:{port}"))
        .unwrap()
        .connect()
        .await;
    if let Ok(ch) = plain {
        assert!(CaseServiceClient::new(ch)
            .report(event("M1", SMALL))
            .await
            .is_err());
    }
}

#[tokio::test]
async fn export_redact_masks_personal_fields() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path());
    let mut c = CaseServiceClient::new(server.channel().await);
    c.report(event("G1", SMALL)).await.unwrap();
    drop(c);
    assert_eq!(server.stop(), 0);
    let dir = data.path().display().to_string();
    let clear = crate::util::wangge(&["export", "--data", &dir]);
    assert_eq!(clear.code, 0, "{}", clear.stderr);
    assert!(clear.stdout.contains("13812341234"), "{}", clear.stdout);
    let masked = crate::util::wangge(&["export", "--data", &dir, "--redact"]);
    assert_eq!(masked.code, 0, "{}", masked.stderr);
    assert!(masked.stdout.contains("138****1234"), "{}", masked.stdout);
    assert!(masked.stdout.contains("\"张*\""), "{}", masked.stdout);
    assert!(!masked.stdout.contains("13812341234"));
}

#[tokio::test]
async fn a_token_from_token_issue_works_with_the_client_commands() {
    let data = tempfile::tempdir().unwrap();
    let (server, _ch) = secure_server(data.path()).await;
    let issued = crate::util::wangge(&[
        "token", "issue", "--person", "W1", "--ttl", "1h", "--secret", SECRET,
    ]);
    assert_eq!(issued.code, 0, "{}", issued.stderr);
    let t = issued.stdout.trim().to_string();
    let ok = crate::util::wangge(&[
        "case",
        "report",
        "--unit",
        "M1",
        "--data",
        SMALL,
        "--server",
        &server.grpc,
        "--token",
        &t,
    ]);
    assert_eq!(ok.code, 0, "{}", ok.stderr);
    let refused = crate::util::wangge(&[
        "case",
        "report",
        "--unit",
        "M3",
        "--data",
        SMALL,
        "--server",
        &server.grpc,
        "--token",
        &t,
    ]);
    assert_eq!(refused.code, 1);
    assert!(
        refused.stderr.contains("PermissionDenied"),
        "{}",
        refused.stderr
    );
    let anonymous = crate::util::wangge(&["case", "list", "--server", &server.grpc]);
    assert_eq!(anonymous.code, 1);
    assert!(
        anonymous.stderr.contains("Unauthenticated"),
        "{}",
        anonymous.stderr
    );
    let no_secret = crate::util::wangge(&["token", "issue", "--person", "W1"]);
    assert_eq!(no_secret.code, 1);
    assert!(
        no_secret.stderr.contains("no HMAC secret"),
        "{}",
        no_secret.stderr
    );
}

#[tokio::test]
async fn points_and_activity_record_the_verified_caller() {
    let data = tempfile::tempdir().unwrap();
    let (_server, ch) = secure_server(data.path()).await;
    let mut inc = v1::incentive_service_client::IncentiveServiceClient::new(ch);
    let l1 = token("L1");
    let e = inc
        .earn_points(as_(
            &l1,
            v1::PointsRequest {
                resident: "R1".into(),
                rule: "共享车位".into(),
                quantity: "1".into(),
                key: "p-1".into(),
                note: String::new(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(e.by, "L1");
    // A 微网格员 has no 发放积分; a resident reads their own balance.
    denied(
        inc.earn_points(as_(
            &token("W1"),
            v1::PointsRequest {
                resident: "R1".into(),
                rule: "共享车位".into(),
                quantity: "1".into(),
                key: "p-2".into(),
                note: String::new(),
            },
        ))
        .await,
    );
    denied(
        inc.get_balance(as_(
            &token("W1"),
            v1::GetBalanceRequest {
                resident: "R1".into(),
            },
        ))
        .await,
    );
}

#[tokio::test]
async fn todo_lists_the_callers_open_work_nearest_deadline_first() {
    let data = tempfile::tempdir().unwrap();
    let (server, ch) = secure_server(data.path()).await;
    let mut c = CaseServiceClient::new(ch);
    let id = |r: tonic::Response<v1::ReportResponse>| r.into_inner().case.unwrap().id;
    let a = id(c
        .report(as_(&token("W1"), event("M1", SMALL)))
        .await
        .unwrap());
    let big = id(c.report(as_(&token("W1"), event("M1", BIG))).await.unwrap());
    let b = id(c
        .report(as_(&token("W2"), event("M3", SMALL)))
        .await
        .unwrap());
    let todo = |who: &str, within: i64| {
        let mut c = c.clone();
        let t = token(who);
        async move {
            c.todo(as_(
                &t,
                v1::TodoRequest {
                    due_within_seconds: within,
                    ..Default::default()
                },
            ))
            .await
            .unwrap()
            .into_inner()
        }
    };
    let ids = |r: &v1::TodoResponse| -> Vec<u64> {
        r.items
            .iter()
            .map(|i| i.case.as_ref().unwrap().id)
            .collect()
    };
    // The 大事 must be taken up within 1 h (紧急工作时), the 小事 within 3 h.
    let w1 = todo("W1", 0).await;
    assert_eq!(ids(&w1), vec![big, a]);
    assert_eq!(w1.items[0].actions, vec!["立案"]);
    assert_eq!(w1.items[0].seconds_left, 3600);
    assert_eq!(w1.items[0].deadline.as_ref().unwrap().clock, "紧急工作时");
    assert_eq!(ids(&todo("W2", 0).await), vec![b]);
    let z1 = todo("Z1", 0).await;
    assert_eq!(ids(&z1), vec![big, a, b]);
    assert_eq!(z1.items[0].actions, vec!["立案", "作废"]);
    assert_eq!(ids(&todo("Z1", 7200).await), vec![big]);
    assert!(
        todo("A1", 0).await.items.is_empty(),
        "系统管理员 handles no cases"
    );
    // From the command line, as a table.
    let out = crate::util::wangge(&[
        "case",
        "todo",
        "-o",
        "table",
        "--server",
        &server.grpc,
        "--token",
        &token("W1"),
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains("紧急工作时") && out.stdout.contains("1h00m"),
        "{}",
        out.stdout
    );
}

/// 党员接单: the policy reserves 接单 of a 微心愿 for party members
/// (`requires 党员`); a non-member's, or a stranger's, is refused and
/// changes nothing.
#[tokio::test]
async fn only_a_party_member_may_take_a_micro_wish() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path());
    let out = crate::util::wangge(&[
        "org",
        "import",
        "examples/org/people.csv",
        "--server",
        &server.grpc,
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let mut c = CaseServiceClient::new(server.channel().await);
    let wish = c
        .report(v1::ReportRequest {
            workflow: "微心愿".into(),
            unit: "C1".into(),
            data_json: r#"{"内容": "帮独居老人换灯泡"}"#.into(),
            idempotency_key: String::new(),
            actor: "P5".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .case
        .unwrap()
        .id;
    let by = |action: &str, actor: &str| v1::ActRequest {
        id: wish,
        action: action.into(),
        actor: actor.into(),
        ..Default::default()
    };
    c.act(by("派单", "P5")).await.unwrap();
    // P2 李强 is no party member; 张三 is not in the registry.
    for stranger in ["P2", "张三"] {
        let s = c.act(by("接单", stranger)).await.unwrap_err();
        assert_eq!(s.code(), Code::PermissionDenied, "{s:?}");
        assert!(s.message().contains("requires 党员"), "{}", s.message());
    }
    let case = c
        .get(v1::GetCaseRequest { id: wish })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(case.state, "已派单", "a refused 接单 changed nothing");
    // P1 王芳 is a party member.
    let taken = c.act(by("接单", "P1")).await.unwrap().into_inner();
    assert_eq!(taken.state, "已接单");
}

fn assign(id: u64, action: &str, assignee: &str, note: &str) -> v1::ActRequest {
    v1::ActRequest {
        id,
        action: action.into(),
        assignee: assignee.into(),
        note: note.into(),
        ..Default::default()
    }
}

fn field(s: &Status) -> String {
    use tonic_types::StatusExt;
    s.get_details_bad_request()
        .and_then(|b| b.field_violations.first().map(|v| v.field.clone()))
        .unwrap_or_default()
}

#[tokio::test]
async fn a_dispatched_case_goes_to_a_person_who_must_accept_it_in_time() {
    let data = tempfile::tempdir().unwrap();
    let (_server, ch) = secure_server(data.path()).await;
    let mut c = CaseServiceClient::new(ch.clone());
    let (w1, w3, l1, q1) = (token("W1"), token("W3"), token("L1"), token("Q1"));
    let a = c.report(as_(&w1, event("M1", SMALL))).await.unwrap();
    let a = a.into_inner().case.unwrap().id;
    c.act(as_(&w1, act(a, "立案", &[]))).await.unwrap();

    // Refused, each naming `assignee`, and nothing changes.
    let s = c
        .act(as_(&l1, assign(a, "派遣", "W2", "")))
        .await
        .unwrap_err();
    assert_eq!(
        (s.code(), field(&s)),
        (Code::PermissionDenied, "assignee".into()),
        "{s:?}"
    );
    for who in ["V1", "P404"] {
        let s = c
            .act(as_(&l1, assign(a, "派遣", who, "")))
            .await
            .unwrap_err();
        assert_eq!(
            (s.code(), field(&s)),
            (Code::InvalidArgument, "assignee".into()),
            "{s:?}"
        );
    }
    let case = |c: &mut CaseServiceClient<Channel>, t: &str| {
        let mut c = c.clone();
        let t = t.to_string();
        async move {
            c.get(as_(&t, v1::GetCaseRequest { id: a }))
                .await
                .unwrap()
                .into_inner()
        }
    };
    assert_eq!(case(&mut c, &l1).await.state, "立案");

    // 派遣 to W1: a 签收 deadline on the working-hours clock.
    let sent = c
        .act(as_(&l1, assign(a, "派遣", "W1", "")))
        .await
        .unwrap()
        .into_inner();
    let given = sent.assignment.clone().unwrap();
    assert_eq!(
        (given.to.as_str(), given.by.as_str(), given.accepted_at),
        ("W1", "L1", 0)
    );
    assert!(sent
        .deadlines
        .iter()
        .any(|d| d.kind == "accept" && d.subject == "W1"));
    // Only W1 签收s; a peer may not act on W1's case; someone above may.
    let s = c.act(as_(&l1, act(a, "签收", &[]))).await.unwrap_err();
    assert_eq!(s.code(), Code::InvalidArgument, "{s:?}");
    denied(c.act(as_(&w3, act(a, "签收", &[]))).await);
    let took = c
        .act(as_(&w1, act(a, "签收", &[])))
        .await
        .unwrap()
        .into_inner();
    assert!(took.assignment.unwrap().accepted_at > 0);
    assert!(!took.deadlines.iter().any(|d| d.kind == "accept"));
    // 退单 needs a reason; it goes back to the dispatcher, who 改派s.
    let s = c.act(as_(&w1, act(a, "退单", &[]))).await.unwrap_err();
    assert_eq!(field(&s), "note", "{s:?}");
    let back = c
        .act(as_(&w1, assign(a, "退单", "", "不在本微网格")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(back.assignment.unwrap().to, "L1");
    let s = c
        .act(as_(&l1, assign(a, "改派", "W3", "")))
        .await
        .unwrap_err();
    assert_eq!(field(&s), "note", "{s:?}");
    let moved = c
        .act(as_(&l1, assign(a, "改派", "W3", "张微网就近处理")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(moved.assignment.unwrap().to, "W3");
    denied(c.act(as_(&w1, act(a, "处置", &[]))).await);
    c.act(as_(&q1, act(a, "处置", &[]))).await.unwrap();

    // A second case nobody 签收s in its hour climbs to the 一般网格.
    let b = c.report(as_(&w1, event("M1", SMALL))).await.unwrap();
    let b = b.into_inner().case.unwrap().id;
    c.act(as_(&w1, act(b, "立案", &[]))).await.unwrap();
    c.act(as_(&l1, assign(b, "派遣", "W1", ""))).await.unwrap();
    let mut admin = v1::admin_service_client::AdminServiceClient::new(ch.clone());
    admin
        .advance_clock(as_(&token("A1"), v1::AdvanceClockRequest { seconds: 5400 }))
        .await
        .unwrap();
    let late = c
        .get(as_(&l1, v1::GetCaseRequest { id: b }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (late.level.as_str(), late.escalations),
        ("一般网格", 1),
        "{late:?}"
    );
    assert!(late.assignment.is_none());
}

#[tokio::test]
async fn a_case_at_the_community_is_not_dispatched_to_a_micro_grid_volunteer() {
    let data = tempfile::tempdir().unwrap();
    let (_server, ch) = secure_server(data.path()).await;
    let mut c = CaseServiceClient::new(ch.clone());
    let q1 = token("Q1");
    // A 邻里纠纷 is a 难事: handled at the 社区.
    let hard = r#"{"类别": "邻里纠纷", "人数": 2, "风险": 1}"#;
    let a = c.report(as_(&q1, event("M1", hard))).await.unwrap();
    let a = a.into_inner().case.unwrap();
    assert_eq!(a.level, "社区");
    c.act(as_(&q1, act(a.id, "立案", &[]))).await.unwrap();
    // `派遣 at 社区` does not list 微网格员: refused, naming the field.
    let s = c
        .act(as_(&q1, assign(a.id, "派遣", "W1", "")))
        .await
        .unwrap_err();
    assert_eq!(
        (s.code(), field(&s)),
        (Code::InvalidArgument, "assignee".into()),
        "{s:?}"
    );
    assert!(s.message().contains("at 社区"), "{}", s.message());
    let sent = c
        .act(as_(&q1, assign(a.id, "派遣", "L1", "")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(sent.assignment.unwrap().to, "L1");
}

#[tokio::test]
async fn requests_for_more_time_or_a_pause_are_decided_from_above() {
    let data = tempfile::tempdir().unwrap();
    let (_server, ch) = secure_server(data.path()).await;
    let mut c = CaseServiceClient::new(ch.clone());
    let (w1, w3, l1, q1) = (token("W1"), token("W3"), token("L1"), token("Q1"));
    let a = c.report(as_(&w1, event("M1", SMALL))).await.unwrap();
    let a = a.into_inner().case.unwrap();
    let level_due = |c: &v1::Case| {
        c.deadlines
            .iter()
            .find(|d| d.kind == "level")
            .map(|d| d.due)
            .unwrap()
    };
    let before = level_due(&a);
    let a = a.id;

    // A request states its reason; it waits for the level above.
    let s = c.act(as_(&w1, act(a, "延期申请", &[]))).await.unwrap_err();
    assert_eq!(field(&s), "note", "{s:?}");
    let asked = c
        .act(as_(&w1, assign(a, "延期申请", "", "等物业提供图纸")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(asked.request.as_ref().unwrap().by, "W1");
    assert!(asked.deadlines.iter().any(|d| d.kind == "approve"));
    let s = c
        .act(as_(&w1, assign(a, "挂账", "", "再来一个")))
        .await
        .unwrap_err();
    assert_eq!(
        s.code(),
        Code::InvalidArgument,
        "one request at a time: {s:?}"
    );
    // Not by the requester or a peer: from above.
    denied(c.act(as_(&w1, act(a, "批准", &[]))).await);
    denied(c.act(as_(&w3, act(a, "批准", &[]))).await);
    let granted = c
        .act(as_(&l1, act(a, "批准", &[])))
        .await
        .unwrap()
        .into_inner();
    assert!(granted.request.is_none());
    assert!(level_due(&granted) > before, "the limit moved by 2 工作日");
    assert!(granted.paused_at == 0);

    // 挂账 refused (with a reason) changes nothing; granted, it pauses.
    c.act(as_(&w1, assign(a, "挂账", "", "等资金到位")))
        .await
        .unwrap();
    let s = c.act(as_(&q1, act(a, "驳回", &[]))).await.unwrap_err();
    assert_eq!(field(&s), "note", "{s:?}");
    let refused = c
        .act(as_(&q1, assign(a, "驳回", "", "本周可以解决")))
        .await
        .unwrap()
        .into_inner();
    assert!(refused.request.is_none() && refused.paused_at == 0);
    c.act(as_(&w1, assign(a, "挂账", "", "等资金到位")))
        .await
        .unwrap();
    let paused = c
        .act(as_(&q1, act(a, "批准", &[])))
        .await
        .unwrap()
        .into_inner();
    assert!(paused.paused_at > 0);
    let events = c
        .events(as_(&q1, v1::GetCaseRequest { id: a }))
        .await
        .unwrap()
        .into_inner()
        .events;
    let decided: Vec<(&str, &str)> = events
        .iter()
        .filter(|e| e.action == "批准" || e.action == "驳回")
        .map(|e| (e.action.as_str(), e.actor.as_str()))
        .collect();
    assert_eq!(
        decided,
        vec![("批准", "L1"), ("驳回", "Q1"), ("批准", "Q1")]
    );
}

/// `request` sent over TLS to `addr`, trusting `ca_pem`; the answer.
async fn https(addr: &str, ca_pem: &str, request: String) -> String {
    use rustls_pki_types::pem::PemObject;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_pki_types::CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(c.unwrap()).unwrap();
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls = connector.connect(name, tcp).await.unwrap();
    tls.write_all(request.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    let _ = tls.read_to_end(&mut out).await;
    String::from_utf8_lossy(&out).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_serves_https_with_the_servers_certificate_and_secure_cookies() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    };
    let pki = Pki::new("wangge test CA");
    let (srv_cert, srv_key) = pki.issue("localhost", &["localhost"]);
    let (cert, key) = (
        write("server.pem", &srv_cert),
        write("server.key", &srv_key),
    );
    let data = dir.path().join("data");
    let server = Server::start_bare(
        &data,
        &[
            "--require-auth",
            "--auth-hmac-secret",
            SECRET,
            "--tls-cert",
            &cert,
            "--tls-key",
            &key,
            "--console-listen",
            "127.0.0.1:0",
        ],
    );
    let addr = server.console.clone();
    let page = https(
        &addr,
        &pki.ca_pem,
        format!("GET /login HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"),
    )
    .await;
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(
        page.contains("content-security-policy: default-src 'self'"),
        "{page}"
    );
    let form = format!("token={}", token("Z1"));
    let signed_in = https(
        &addr,
        &pki.ca_pem,
        format!(
            "POST /login HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{form}",
            form.len()
        ),
    )
    .await;
    let cookie = signed_in
        .lines()
        .find(|l| l.starts_with("set-cookie: "))
        .unwrap_or_else(|| panic!("{signed_in}"));
    assert!(cookie.contains("; Secure"), "{cookie}");
    // Plain HTTP to the HTTPS port gets no page.
    let mut plain = std::net::TcpStream::connect(&addr).unwrap();
    std::io::Write::write_all(&mut plain, b"GET /login HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    plain
        .set_read_timeout(Some(std::time::Duration::from_secs(2)))
        .unwrap();
    let mut got = String::new();
    let _ = std::io::Read::read_to_string(&mut plain, &mut got);
    assert!(!got.contains("200 OK"), "{got}");
}

#[test]
fn a_console_beyond_loopback_without_tls_is_refused() {
    let data = tempfile::tempdir().unwrap();
    let out = crate::util::wangge(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--metrics-listen",
        "off",
        "--console-listen",
        "0.0.0.0:0",
        "--data",
        &data.path().display().to_string(),
    ]);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains("plain HTTP beyond this machine"),
        "{}",
        out.stderr
    );
}
