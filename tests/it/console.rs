//! The operator console ([9/10], first slice) over plain HTTP: sign in
//! with a token, 待办 scoped to the caller, a forged sign-in and a form
//! without its CSRF token refused with a readable message and nothing
//! changed.

use std::io::{Read, Write};

use wangge_proto::v1::case_service_client::CaseServiceClient;

use crate::auth::{as_, event, secure_server_with, token, token_with, SMALL};

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
    let cases = CaseServiceClient::new(ch);
    let report = |who: &str, unit: &str| {
        let req = as_(&token(who), event(unit, SMALL));
        let mut cases = cases.clone();
        async move {
            cases
                .report(req)
                .await
                .unwrap()
                .into_inner()
                .case
                .unwrap()
                .id
        }
    };
    let mine = report("W1", "M1").await;
    let theirs = report("W2", "M3").await;
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
    let cell = |id: u64| format!("<td>{id}</td>");
    assert!(
        pages.contains(&cell(mine)),
        "the caller's case is listed: {pages}"
    );
    assert!(!pages.contains(&cell(theirs)), "another grid's case is not");
}
