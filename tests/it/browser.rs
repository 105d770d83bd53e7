//! The console in a real browser (Debian's chromium and chromedriver,
//! `WANGGE_TEST_CHROMEDRIVER`; `.ci/run` installs them): sign in, open
//! 待办, open a case, read its timeline and explanation, act on it; a
//! user of one grid cannot open another grid's case by URL; the 出格 board
//! counts a breach within seconds without a reload; the org tree drills
//! into a score; tasks, settlements, reports and policy versions open.
//! Screenshots of each page go to `target/console-screenshots/`.

use crate::auth::{as_, reported, secure_server_with, token};
use crate::webdriver::Browser;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(browser_tests),
    ignore = "needs Chromium: set WANGGE_TEST_CHROMEDRIVER to chromedriver's path"
)]
async fn a_grid_worker_signs_in_reads_a_case_and_acts_on_it_in_the_browser() {
    let data = tempfile::tempdir().unwrap();
    let (server, ch) = secure_server_with(data.path(), &["--console-listen", "127.0.0.1:0"]).await;
    let mine = reported(ch.clone(), "W1", "M1").await;
    let theirs = reported(ch, "W2", "M3").await;
    let base = format!("http://{}", server.console);
    let w1 = token("W1");
    tokio::task::spawn_blocking(move || {
        let b = Browser::start();
        b.open(&format!("{base}/"));
        b.screenshot("login");
        b.type_into("#token", &w1);
        b.click("form[action='/login'] button");
        b.wait_for(&["待办", "W1"]);
        b.screenshot("todo");
        b.open(&format!("{base}/cases"));
        b.wait_for(&["筛选"]); // the case list with its filters
        b.screenshot("cases");
        b.open(&format!("{base}/todo"));
        b.click(&format!("a[href='/cases/{mine}']"));
        // The timeline and the explanation.
        b.wait_for(&[&format!("案件 {mine}"), "经过", "事件分级"]);
        b.screenshot("case");
        b.click(".actions button[value='立案'], .actions form:first-child button");
        // The state in the facts moves from 上报 to 立案.
        b.wait_for_in("dl.facts", &["立案"]);
        b.screenshot("case-after-action");
        // On a phone: the same pages, narrower (screenshots to look at).
        b.resize(390, 844);
        b.screenshot("phone-case");
        b.open(&format!("{base}/todo"));
        b.wait_for(&["待办"]);
        b.screenshot("phone-todo");
        b.resize(1280, 900);
        b.open(&format!("{base}/cases/{theirs}"));
        b.wait_for(&["无法查看案件", "没有做任何更改"]);
        b.screenshot("other-grid-refused");
    })
    .await
    .unwrap();
}

/// The total cell `what` of the board as the browser shows it now.
fn board_total(b: &Browser, what: &str) -> String {
    b.text_of(&format!("td[data-count='{what}']"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(browser_tests),
    ignore = "needs Chromium: set WANGGE_TEST_CHROMEDRIVER to chromedriver's path"
)]
async fn the_command_centre_watches_the_board_change_live_and_drills_into_a_score() {
    use wangge_proto::v1;
    let data = tempfile::tempdir().unwrap();
    let (server, ch) = secure_server_with(data.path(), &["--console-listen", "127.0.0.1:0"]).await;
    let small = reported(ch.clone(), "W1", "M1").await;
    v1::evaluation_service_client::EvaluationServiceClient::new(ch.clone())
        .score_level(as_(
            &token("Z1"),
            v1::ScoreLevelRequest {
                scorecard: "星级网格".into(),
                period: "2026-Q3".into(),
            },
        ))
        .await
        .unwrap();
    let base = format!("http://{}", server.console);
    let z1 = token("Z1");
    let (opened_tx, opened_rx) = std::sync::mpsc::channel::<()>();
    let (escalated_tx, escalated_rx) = std::sync::mpsc::channel::<()>();
    let browsing = tokio::task::spawn_blocking(move || {
        let b = Browser::start();
        b.open(&format!("{base}/login"));
        b.type_into("#token", &z1);
        b.click("form[action='/login'] button");
        b.wait_for(&["待办"]);
        b.open(&format!("{base}/board"));
        b.wait_for(&["出格"]);
        assert_eq!(board_total(&b, "breached-today"), "0");
        b.screenshot("board-before");
        opened_tx.send(()).unwrap();
        escalated_rx.recv().unwrap();
        // No reload: the server-sent update replaces the table.
        let started = std::time::Instant::now();
        while board_total(&b, "breached-today") != "1" {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(5),
                "the board did not change within 5 s: {}",
                b.text()
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        b.screenshot("board-after-breach");
        b.open(&format!("{base}/org?period=2026-Q3"));
        b.wait_for(&["锦江街道"]);
        b.screenshot("org-tree");
        b.click("a.unit[href*='id=M1']");
        b.wait_for(&["指标", "贡献"]);
        b.screenshot("score");
        for (path, name, expect) in [
            ("/awards?period=2026", "awards", "评优排名"),
            ("/tasks", "tasks", "任务进度"),
            ("/settlements?period=2026-08", "settlements", "补贴结算"),
            (
                "/reports?card=星级网格&period=2026-Q3",
                "reports",
                "下载 XLSX",
            ),
            ("/policy", "policy", "当前生效"),
        ] {
            b.open(&format!("{base}{path}"));
            b.wait_for(&[expect]);
            b.screenshot(name);
        }
    });
    tokio::task::spawn_blocking(move || opened_rx.recv().unwrap())
        .await
        .unwrap();
    for _ in 0..2 {
        v1::case_service_client::CaseServiceClient::new(ch.clone())
            .act(as_(
                &token("L1"),
                v1::ActRequest {
                    id: small,
                    action: "escalate".into(),
                    ..Default::default()
                },
            ))
            .await
            .unwrap();
    }
    escalated_tx.send(()).unwrap();
    browsing.await.unwrap();
}

#[test]
#[cfg_attr(
    not(browser_tests),
    ignore = "needs Chromium: set WANGGE_TEST_CHROMEDRIVER to chromedriver's path"
)]
fn the_policy_documentation_opens_in_a_browser_without_errors() {
    let out = crate::util::root().join("target/policy-doc");
    let _ = std::fs::remove_dir_all(&out);
    let run = crate::util::wangge(&["doc", "policies", "--out", out.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let b = Browser::start();
    for page in crate::authoring::site_pages(&out) {
        let url = format!("file://{}", page.display());
        b.open(&url);
        let title = b.text_of("h1");
        assert!(!title.is_empty(), "{}: no heading", page.display());
        let errors = b.console_errors();
        assert!(errors.is_empty(), "{}: {errors:?}", page.display());
    }
    b.open(&format!(
        "file://{}",
        out.join("workflow-事件处置.html").display()
    ));
    b.wait_for(&["状态图", "处置时限"]);
    b.screenshot_in("target/policy-doc-screenshots", "事件处置");
}
