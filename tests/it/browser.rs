//! The console in a real browser (Debian's chromium and chromedriver,
//! `WANGGE_TEST_CHROMEDRIVER`; `.ci/run` installs them): sign in, open
//! 待办, open a case, read its timeline and explanation, act on it; a
//! user of one grid cannot open another grid's case by URL. Screenshots
//! of each page go to `target/console-screenshots/`.

use crate::auth::{reported, secure_server_with, token};
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
        let todo = b.text();
        assert!(todo.contains("待办") && todo.contains("W1"), "{todo}");
        b.screenshot("todo");
        b.open(&format!("{base}/cases"));
        assert!(b.text().contains("筛选"), "the case list with its filters");
        b.screenshot("cases");
        b.open(&format!("{base}/todo"));
        b.click(&format!("a[href='/cases/{mine}']"));
        let page = b.text();
        assert!(page.contains(&format!("案件 {mine}")), "{page}");
        assert!(
            page.contains("经过") && page.contains("事件分级"),
            "timeline and explanation: {page}"
        );
        b.screenshot("case");
        b.click(".actions button[value='立案'], .actions form:first-child button");
        let after = b.text();
        assert!(after.contains("立案"), "{after}");
        b.screenshot("case-after-action");
        b.open(&format!("{base}/cases/{theirs}"));
        let other = b.text();
        assert!(
            other.contains("无法查看案件") && other.contains("没有做任何更改"),
            "{other}"
        );
        b.screenshot("other-grid-refused");
    })
    .await
    .unwrap();
}
