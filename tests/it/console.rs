//! The operator console ([9/10], first slice) over plain HTTP: sign in
//! with a token, 待办 scoped to the caller, a forged sign-in and a form
//! without its CSRF token refused with a readable message and nothing
//! changed.

use std::io::{Read, Write};

use wangge_proto::v1::case_service_client::CaseServiceClient;

use crate::auth::{as_, reported, secure_server_with, token, token_with};

/// One HTTP/1.1 request; the status line's code, the headers and body.
fn http(addr: &str, method: &str, path: &str, cookie: Option<&str>, form: &str) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    let cookie = cookie
        .map(|c| format!("Cookie: {c}\r\n"))
        .unwrap_or_default();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{cookie}\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{form}",
        form.len()
    );
    s.write_all(req.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let code = out
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, out)
}

/// The session cookie a sign-in set (`wangge_session=…`).
fn session_of(response: &str) -> String {
    response
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: "))
        .and_then(|c| c.split(';').next())
        .expect("a session cookie")
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_signs_in_with_a_token_and_shows_only_the_callers_todo() {
    let data = tempfile::tempdir().unwrap();
    let (server, ch) = secure_server_with(data.path(), &["--console-listen", "127.0.0.1:0"]).await;
    let mine = reported(ch.clone(), "W1", "M1").await;
    let theirs = reported(ch.clone(), "W2", "M3").await;
    let addr = server.console.clone();
    let (w1, forged) = (
        token("W1"),
        token_with("W1", "wangge", -1, 3600, "not-the-secret"),
    );
    let pages = tokio::task::spawn_blocking(move || {
        let (code, _) = http(&addr, "GET", "/todo", None, "");
        assert_eq!(code, 303, "signed out: to the sign-in page");
        let (code, page) = http(&addr, "POST", "/login", None, &format!("token={forged}"));
        assert_eq!(code, 401);
        assert!(page.contains("登录失败"), "{page}");
        assert!(
            !page.to_lowercase().contains("set-cookie"),
            "no session for a forged token"
        );
        let (code, signed_in) = http(&addr, "POST", "/login", None, &format!("token={w1}"));
        assert_eq!(code, 303, "{signed_in}");
        let cookie = session_of(&signed_in);
        assert!(signed_in.contains("HttpOnly") && signed_in.contains("SameSite=Strict"));
        let (code, todo) = http(&addr, "GET", "/todo", Some(&cookie), "");
        assert_eq!(code, 200);
        // A form without its CSRF token changes nothing: still signed in.
        let (code, page) = http(&addr, "POST", "/logout", Some(&cookie), "csrf=forged");
        assert_eq!(code, 403);
        assert!(page.contains("CSRF"), "{page}");
        let (code, _) = http(&addr, "GET", "/todo", Some(&cookie), "");
        assert_eq!(code, 200, "the session survived the forged form");
        todo
    })
    .await
    .unwrap();
    assert!(pages.contains("待办") && pages.contains("W1"), "{pages}");
    let cell = |id: u64| format!("href=\"/cases/{id}\"");
    assert!(
        pages.contains(&cell(mine)),
        "the caller's case is listed: {pages}"
    );
    assert!(!pages.contains(&cell(theirs)), "another grid's case is not");
}

/// The CSRF token on the page `page` (its first form's).
fn csrf_of(page: &str) -> String {
    let at = page.find("name=\"csrf\" value=\"").expect("a CSRF field") + 19;
    page[at..].chars().take_while(|c| *c != '"').collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_case_page_shows_its_timeline_and_explanation_and_acts_within_the_users_reach() {
    let data = tempfile::tempdir().unwrap();
    let (server, ch) = secure_server_with(data.path(), &["--console-listen", "127.0.0.1:0"]).await;
    let mine = reported(ch.clone(), "W1", "M1").await;
    let theirs = reported(ch.clone(), "W2", "M3").await;
    let addr = server.console.clone();
    let w1 = token("W1");
    let (page, after, acted) = tokio::task::spawn_blocking(move || {
        let (_, signed_in) = http(&addr, "POST", "/login", None, &format!("token={w1}"));
        let cookie = session_of(&signed_in);
        let (code, page) = http(&addr, "GET", &format!("/cases/{mine}"), Some(&cookie), "");
        assert_eq!(code, 200, "{page}");
        // Another grid's case, by URL: refused, readable.
        let (code, other) = http(&addr, "GET", &format!("/cases/{theirs}"), Some(&cookie), "");
        assert_eq!(code, 403, "{other}");
        assert!(other.contains("无法查看案件"), "{other}");
        let (code, _) = http(&addr, "GET", "/cases/not-a-number", Some(&cookie), "");
        assert_eq!(code, 403);
        let csrf = csrf_of(&page);
        // An act without the CSRF token, and one the user may not take.
        let (code, forged) = http(
            &addr,
            "POST",
            &format!("/cases/{mine}/act"),
            Some(&cookie),
            "action=立案&version=1",
        );
        assert_eq!(code, 403, "{forged}");
        let (code, denied) = http(
            &addr,
            "POST",
            &format!("/cases/{theirs}/act"),
            Some(&cookie),
            &format!("csrf={csrf}&action=立案&version=1"),
        );
        assert_eq!(code, 403, "{denied}");
        assert!(denied.contains("未能办理"), "{denied}");
        // The user's own case: 立案 as the page offers it.
        let (code, acted) = http(
            &addr,
            "POST",
            &format!("/cases/{mine}/act"),
            Some(&cookie),
            &format!("csrf={csrf}&action=立案&version=1"),
        );
        assert_eq!(code, 303, "{acted}");
        let (_, after) = http(&addr, "GET", &format!("/cases/{mine}"), Some(&cookie), "");
        (page, after, acted)
    })
    .await
    .unwrap();
    assert!(
        page.contains("经过") && page.contains("report"),
        "the timeline: {page}"
    );
    assert!(
        page.contains("事件分级") && page.contains("事件分级.wg:"),
        "the matched row's file:line"
    );
    assert!(page.contains("value=\"立案\""), "立案 offered as a button");
    assert!(acted.contains("location: /cases/"), "{acted}");
    assert!(
        after.contains("立案</strong>"),
        "the action is on the timeline: {after}"
    );
    let mut c = CaseServiceClient::new(server.channel().await);
    let theirs_now = c
        .get(as_(
            &token("W2"),
            wangge_proto::v1::GetCaseRequest { id: theirs },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(theirs_now.state, "上报", "the refused act changed nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_case_list_filters_within_the_users_reach_and_refuses_unknown_values() {
    let data = tempfile::tempdir().unwrap();
    let (server, ch) = secure_server_with(data.path(), &["--console-listen", "127.0.0.1:0"]).await;
    let mine = reported(ch.clone(), "W1", "M1").await;
    let theirs = reported(ch.clone(), "W2", "M3").await;
    let addr = server.console.clone();
    let (q1, z1) = (token("Q1"), token("Z1"));
    let (community, street, unknown) = tokio::task::spawn_blocking(move || {
        let sign_in =
            |t: &str| session_of(&http(&addr, "POST", "/login", None, &format!("token={t}")).1);
        let (q1, z1) = (sign_in(&q1), sign_in(&z1));
        let get = |cookie: &str, path: &str| http(&addr, "GET", path, Some(cookie), "");
        let (code, community) = get(&q1, "/cases?level=%E5%BE%AE%E7%BD%91%E6%A0%BC");
        assert_eq!(code, 200, "{community}");
        let (code, street) = get(&z1, "/cases?state=%E4%B8%8A%E6%8A%A5&due_within_hours=24");
        assert_eq!(code, 200, "{street}");
        let (code, unknown) = get(&z1, "/cases?state=%E4%B9%B1%E5%86%99");
        assert_eq!(code, 403, "{unknown}");
        (community, street, unknown)
    })
    .await
    .unwrap();
    let link = |id: u64| format!("href=\"/cases/{id}\"");
    assert!(
        community.contains(&link(mine)),
        "a 社区 worker sees C1's grids"
    );
    assert!(!community.contains(&link(theirs)), "but not another 社区's");
    assert!(
        street.contains(&link(mine)) && street.contains(&link(theirs)),
        "the 街道 sees both"
    );
    assert!(unknown.contains("无法列出案件"), "{unknown}");
}

/// The number in the board's total cell `what` (`breached-today` …).
fn board_count(page: &str, what: &str) -> u64 {
    let tag = format!("data-count=\"{what}\">");
    let at = page
        .find(&tag)
        .unwrap_or_else(|| panic!("no {what}: {page}"))
        + tag.len();
    page[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap()
}

/// Escalates case `id` as `who` (a 网格长 may).
async fn escalated(ch: tonic::transport::Channel, who: &str, id: u64) {
    CaseServiceClient::new(ch)
        .act(as_(
            &token(who),
            wangge_proto::v1::ActRequest {
                id,
                action: "escalate".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_board_counts_a_breach_within_seconds_and_only_within_the_users_reach() {
    let data = tempfile::tempdir().unwrap();
    let (server, ch) = secure_server_with(data.path(), &["--console-listen", "127.0.0.1:0"]).await;
    let small = reported(ch.clone(), "W1", "M1").await;
    let addr = server.console.clone();
    let (z1, w2) = (token("Z1"), token("W2"));
    let (cookie, other, before) = tokio::task::spawn_blocking(move || {
        let (_, signed_in) = http(&addr, "POST", "/login", None, &format!("token={z1}"));
        let cookie = session_of(&signed_in);
        let (code, board) = http(&addr, "GET", "/board", Some(&cookie), "");
        assert_eq!(code, 200, "{board}");
        let (_, signed_in) = http(&addr, "POST", "/login", None, &format!("token={w2}"));
        (cookie, session_of(&signed_in), board)
    })
    .await
    .unwrap();
    assert_eq!(board_count(&before, "breached-today"), 0, "{before}");
    // 小事 at 微网格 → 一般网格 (its ceiling) → 社区: 出格.
    escalated(ch.clone(), "L1", small).await;
    escalated(ch.clone(), "L1", small).await;
    let addr = server.console.clone();
    tokio::task::spawn_blocking(move || {
        let started = std::time::Instant::now();
        loop {
            let (_, board) = http(&addr, "GET", "/board", Some(&cookie), "");
            if board_count(&board, "breached-today") == 1 {
                assert_eq!(board_count(&board, "breached-month"), 1);
                assert!(
                    board.contains("和平社区") && board.contains("小事"),
                    "{board}"
                );
                break;
            }
            assert!(
                started.elapsed() < std::time::Duration::from_secs(5),
                "the breach is not on the board after 5 s: {board}"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        // A worker of another grid sees none of it.
        let (_, theirs) = http(&addr, "GET", "/board", Some(&other), "");
        assert_eq!(board_count(&theirs, "breached-month"), 0, "{theirs}");
    })
    .await
    .unwrap();
}

/// Scores every 微网格 for `period` as the 街道's 指挥中心 (Z1).
async fn scored(ch: tonic::transport::Channel, period: &str) {
    use wangge_proto::v1::evaluation_service_client::EvaluationServiceClient;
    EvaluationServiceClient::new(ch)
        .score_level(as_(
            &token("Z1"),
            wangge_proto::v1::ScoreLevelRequest {
                scorecard: "星级网格".into(),
                period: period.into(),
            },
        ))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_scores_are_listed_within_the_callers_reach() {
    use wangge_proto::v1::evaluation_service_client::EvaluationServiceClient;
    let data = tempfile::tempdir().unwrap();
    let (_server, ch) = secure_server_with(data.path(), &[]).await;
    scored(ch.clone(), "2026-Q3").await;
    let mut e = EvaluationServiceClient::new(ch);
    let list = |who: &str, unit: &str| {
        as_(
            &token(who),
            wangge_proto::v1::ListScoresRequest {
                scorecard: "星级网格".into(),
                period: "2026-Q3".into(),
                unit: unit.into(),
            },
        )
    };
    let ids = |r: wangge_proto::v1::ListScoresResponse| -> Vec<String> {
        r.scores.into_iter().map(|s| s.id).collect()
    };
    let all = e.list_scores(list("Z1", "")).await.unwrap().into_inner();
    assert_eq!(ids(all), ["M1", "M3"]);
    let c1 = e.list_scores(list("Z1", "C1")).await.unwrap().into_inner();
    assert_eq!(ids(c1), ["M1"]);
    let none = e.list_scores(list("W2", "")).await.unwrap().into_inner();
    assert!(
        none.scores.is_empty(),
        "a worker without 评分 sees no scores"
    );
    let denied = e.list_scores(list("W2", "C1")).await.unwrap_err();
    assert_eq!(denied.code(), tonic::Code::PermissionDenied, "{denied:?}");
    let unscored = e
        .list_scores(as_(
            &token("Z1"),
            wangge_proto::v1::ListScoresRequest {
                scorecard: "星级网格".into(),
                period: "2026-Q2".into(),
                unit: String::new(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(unscored.code(), tonic::Code::NotFound, "{unscored:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_org_tree_shows_stars_and_drills_into_a_score_within_the_users_reach() {
    let data = tempfile::tempdir().unwrap();
    let (server, ch) = secure_server_with(data.path(), &["--console-listen", "127.0.0.1:0"]).await;
    scored(ch, "2026-Q3").await;
    let addr = server.console.clone();
    let (z1, w2) = (token("Z1"), token("W2"));
    tokio::task::spawn_blocking(move || {
        let (_, signed_in) = http(&addr, "POST", "/login", None, &format!("token={z1}"));
        let cookie = session_of(&signed_in);
        let (code, tree) = http(&addr, "GET", "/org?period=2026-Q3", Some(&cookie), "");
        assert_eq!(code, 200, "{tree}");
        assert!(tree.contains("锦江街道") && tree.contains("安宁一网格1号微网格"));
        assert!(
            tree.contains("/org/score?card="),
            "scored units link to their score: {tree}"
        );
        let path = "/org/score?card=%E6%98%9F%E7%BA%A7%E7%BD%91%E6%A0%BC&id=M1&period=2026-Q3";
        let (code, score) = http(&addr, "GET", path, Some(&cookie), "");
        assert_eq!(code, 200, "{score}");
        assert!(score.contains("指标") && score.contains("权重") && score.contains("贡献"));
        let (code, bad) = http(&addr, "GET", "/org?period=last-year", Some(&cookie), "");
        assert_eq!(code, 403, "{bad}");
        // A worker of another grid cannot open M1's score by URL.
        let (_, signed_in) = http(&addr, "POST", "/login", None, &format!("token={w2}"));
        let other = session_of(&signed_in);
        let (code, refused) = http(&addr, "GET", path, Some(&other), "");
        assert_eq!(code, 403, "{refused}");
        let (_, tree) = http(&addr, "GET", "/org?period=2026-Q3", Some(&other), "");
        assert!(
            !tree.contains("和平一网格1号微网格"),
            "only the worker's reach: {tree}"
        );
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_versions_show_their_diff_and_a_replay_of_the_stored_cases() {
    use wangge_proto::v1::policy_service_client::PolicyServiceClient;
    let data = tempfile::tempdir().unwrap();
    let (server, ch) = secure_server_with(data.path(), &["--console-listen", "127.0.0.1:0"]).await;
    let case = reported(ch.clone(), "W1", "M1").await;
    let mut files = crate::grpc::bundle("policies");
    for f in &mut files {
        if f.name == "事件处置.wg" {
            f.text = f.text.replace("微网格: 3h 工作时", "微网格: 2h 工作时");
        }
    }
    let mut p = PolicyServiceClient::new(ch);
    let old = p
        .get_active(as_(&token("A1"), wangge_proto::v1::GetActiveRequest {}))
        .await
        .unwrap()
        .into_inner()
        .hash;
    let new = p
        .deploy(as_(&token("A1"), wangge_proto::v1::DeployRequest { files }))
        .await
        .unwrap()
        .into_inner()
        .version
        .unwrap()
        .hash;
    let addr = server.console.clone();
    let (z1, w1) = (token("Z1"), token("W1"));
    tokio::task::spawn_blocking(move || {
        let (_, signed_in) = http(&addr, "POST", "/login", None, &format!("token={z1}"));
        let cookie = session_of(&signed_in);
        let (code, list) = http(&addr, "GET", "/policy", Some(&cookie), "");
        assert_eq!(code, 200, "{list}");
        assert!(
            list.contains(&old[..12]) && list.contains(&new[..12]) && list.contains("当前生效")
        );
        let q = format!("from={old}&to={new}");
        let (code, diff) = http(
            &addr,
            "GET",
            &format!("/policy/diff?{q}"),
            Some(&cookie),
            "",
        );
        assert_eq!(code, 200, "{diff}");
        assert!(diff.contains("事件处置.wg"), "{diff}");
        assert!(
            diff.contains("- ") && diff.contains("微网格: 2h 工作时"),
            "{diff}"
        );
        let (code, replay) = http(
            &addr,
            "GET",
            &format!("/policy/replay?{q}"),
            Some(&cookie),
            "",
        );
        assert_eq!(code, 200, "{replay}");
        assert!(replay.contains("1</strong> 件案件的结果不同"), "{replay}");
        assert!(
            replay.contains(&format!("href=\"/cases/{case}\"")),
            "{replay}"
        );
        let (code, bad) = http(
            &addr,
            "GET",
            "/policy/diff?from=nope&to=nope",
            Some(&cookie),
            "",
        );
        assert_eq!(code, 403, "{bad}");
        // Replaying reads every case: it needs 导出, which a worker lacks.
        let (_, signed_in) = http(&addr, "POST", "/login", None, &format!("token={w1}"));
        let worker = session_of(&signed_in);
        let (code, denied) = http(
            &addr,
            "GET",
            &format!("/policy/replay?{q}"),
            Some(&worker),
            "",
        );
        assert_eq!(code, 403, "{denied}");
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn task_progress_and_a_months_settlements_are_shown_within_the_users_reach() {
    use wangge_proto::v1::incentive_service_client::IncentiveServiceClient;
    use wangge_proto::v1::task_service_client::TaskServiceClient;
    let data = tempfile::tempdir().unwrap();
    let (server, ch) = secure_server_with(data.path(), &["--console-listen", "127.0.0.1:0"]).await;
    let task = TaskServiceClient::new(ch.clone())
        .create(as_(
            &token("Z1"),
            wangge_proto::v1::CreateTaskRequest {
                task: "燃气入户排查".into(),
                under: "S1".into(),
                note: "冬季燃气安全".into(),
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .id;
    IncentiveServiceClient::new(ch)
        .settle(as_(
            &token("Z1"),
            wangge_proto::v1::SettleRequest {
                period: "2026-08".into(),
                persons: vec![],
            },
        ))
        .await
        .unwrap();
    let addr = server.console.clone();
    let (z1, w1) = (token("Z1"), token("W1"));
    tokio::task::spawn_blocking(move || {
        let (_, signed_in) = http(&addr, "POST", "/login", None, &format!("token={z1}"));
        let cookie = session_of(&signed_in);
        let (code, page) = http(&addr, "GET", "/tasks?level=社区", Some(&cookie), "");
        assert_eq!(code, 200, "{page}");
        assert!(page.contains(&format!("任务 {task} 的进度")) && page.contains("和平社区"));
        assert!(page.contains("冬季燃气安全"), "{page}");
        let (code, bad) = http(&addr, "GET", "/tasks?id=x", Some(&cookie), "");
        assert_eq!(code, 403, "{bad}");
        let (code, paid) = http(
            &addr,
            "GET",
            "/settlements?period=2026-08",
            Some(&cookie),
            "",
        );
        assert_eq!(code, 200, "{paid}");
        assert!(paid.contains("李微网") && paid.contains("实发"), "{paid}");
        // A 微网格员 may not read settlements.
        let (_, signed_in) = http(&addr, "POST", "/login", None, &format!("token={w1}"));
        let worker = session_of(&signed_in);
        let (code, denied) = http(
            &addr,
            "GET",
            "/settlements?period=2026-08",
            Some(&worker),
            "",
        );
        assert_eq!(code, 403, "{denied}");
    })
    .await
    .unwrap();
}

/// A GET's whole response as bytes (downloads are not UTF-8).
fn http_bytes(addr: &str, path: &str, cookie: &str) -> Vec<u8> {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nCookie: {cookie}\r\n\r\n"
    );
    s.write_all(req.as_bytes()).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_report_rolls_up_per_unit_and_downloads_as_csv_and_xlsx() {
    let data = tempfile::tempdir().unwrap();
    let (server, ch) = secure_server_with(data.path(), &["--console-listen", "127.0.0.1:0"]).await;
    for _ in 0..2 {
        reported(ch.clone(), "W1", "M1").await;
    }
    reported(ch.clone(), "W2", "M3").await;
    scored(ch, "2026-Q3").await;
    let addr = server.console.clone();
    let z1 = token("Z1");
    tokio::task::spawn_blocking(move || {
        let (_, signed_in) = http(&addr, "POST", "/login", None, &format!("token={z1}"));
        let cookie = session_of(&signed_in);
        let q = "card=%E6%98%9F%E7%BA%A7%E7%BD%91%E6%A0%BC&period=2026-Q3";
        let (code, page) = http(&addr, "GET", &format!("/reports?{q}"), Some(&cookie), "");
        assert_eq!(code, 200, "{page}");
        assert!(
            page.contains("小事不出格率") && page.contains("和平一网格 小计"),
            "{page}"
        );
        let csv =
            String::from_utf8(http_bytes(&addr, &format!("/reports.csv?{q}"), &cookie)).unwrap();
        assert!(csv.contains("text/csv"), "{csv}");
        let body = csv.split("\r\n\r\n").nth(1).unwrap();
        let rows: Vec<&str> = body.lines().collect();
        assert!(
            rows[0]
                .trim_start_matches('\u{feff}')
                .starts_with("单位,上级,案件,"),
            "{body}"
        );
        assert!(
            rows.iter()
                .any(|r| r.starts_with("和平一网格1号微网格,和平一网格,2,")),
            "{body}"
        );
        assert!(
            rows.iter().any(|r| r.starts_with("合计,,3,")),
            "the total of both grids: {body}"
        );
        let xlsx = http_bytes(&addr, &format!("/reports.xlsx?{q}"), &cookie);
        let at = xlsx.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        let head = String::from_utf8_lossy(&xlsx[..at]);
        assert!(head.contains("spreadsheetml"), "{head}");
        assert_eq!(&xlsx[at..at + 2], b"PK", "a zip (XLSX) body");
        let (code, bad) = http(&addr, "GET", "/reports?card=nope", Some(&cookie), "");
        assert_eq!(code, 403, "{bad}");
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_case_list_filters_by_source_channel() {
    let data = tempfile::tempdir().unwrap();
    let (server, ch) = secure_server_with(data.path(), &[]).await;
    let mut c = CaseServiceClient::new(ch.clone());
    let hotline = c
        .report(as_(
            &token("W1"),
            crate::auth::event(
                "M1",
                r#"{"类别": "垃圾堆放", "人数": 1, "风险": 1, "来源": "12345"}"#,
            ),
        ))
        .await
        .unwrap()
        .into_inner()
        .case
        .unwrap()
        .id;
    let patrol = reported(ch.clone(), "W1", "M1").await;
    let listed = |channel: &str| {
        as_(
            &token("W1"),
            wangge_proto::v1::ListCasesRequest {
                channel: channel.into(),
                ..Default::default()
            },
        )
    };
    let ids = |r: wangge_proto::v1::ListCasesResponse| -> Vec<u64> {
        r.cases.into_iter().map(|c| c.id).collect()
    };
    assert_eq!(
        ids(c.list(listed("12345")).await.unwrap().into_inner()),
        [hotline]
    );
    let all = ids(c.list(listed("")).await.unwrap().into_inner());
    assert!(all.contains(&hotline) && all.contains(&patrol), "{all:?}");
    drop(server);
}
