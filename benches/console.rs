//! The console's pages at a million stored cases: a release `wangge serve`
//! (sled, manual clock) is given 1,000 micro grids with a 微网格员 each and
//! N reported cases over gRPC (`--cases N`, default 1,000,000; a few 大事
//! among them run out of their one-hour limit and are counted overdue),
//! the 2026-Q3 stars scored, August settled, a task sent to every micro
//! grid; then a fresh process opens the folder and every page is fetched
//! over HTTP as the signed-in local operator (who sees every case: the
//! widest scope), 20 times each; the median and the slowest are printed.
//!
//! `cargo bench --bench console [-- --cases N]`

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tonic::transport::Channel;
use wangge_proto::v1;
use wangge_testkit::bench::{arg, units_csv, CATEGORIES};

const MICRO_GRIDS: u64 = 1_000;

/// `wangge serve` on `data` with the console on an ephemeral port; its
/// gRPC and console addresses.
fn serve(data: &std::path::Path, start: &str) -> (Child, String, String) {
    let mut server = Command::new(env!("CARGO_BIN_EXE_wangge"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "off",
            "--console-listen",
            "127.0.0.1:0",
            "--clock",
            "manual",
            "--clock-start",
            start,
            "--log",
            "warn",
            "--durability",
            "flush",
            "--request-timeout-secs",
            "900",
            "--data",
        ])
        .arg(data)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(server.stdout.take().unwrap()).lines();
    let (mut grpc, mut console) = (String::new(), String::new());
    while grpc.is_empty() {
        let line = lines.next().unwrap().unwrap();
        if let Some(rest) = line.strip_prefix("wangge console on http://") {
            console = rest.trim_end_matches('/').to_string();
        }
        if let Some(rest) = line.strip_prefix("wangge listening on ") {
            grpc = rest.split_whitespace().next().unwrap().to_string();
        }
    }
    std::thread::spawn(move || for _ in lines {});
    (server, grpc, console)
}

fn stop(mut server: Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status();
    let _ = server.wait();
}

/// One in a hundred is a 大事 (50 people), the rest small matters.
fn request(i: u64) -> v1::ReportRequest {
    let data = if i % 100 == 7 {
        r#"{"类别": "群体性聚集", "人数": 50, "风险": 4}"#.to_string()
    } else {
        format!(
            r#"{{"类别": "{}", "人数": {}, "风险": {}}}"#,
            CATEGORIES[(i as usize) % CATEGORIES.len()],
            i % 7 + 1,
            i % 3 + 1
        )
    };
    v1::ReportRequest {
        workflow: "事件处置".into(),
        unit: format!("M{:04}", i % MICRO_GRIDS),
        data_json: data,
        idempotency_key: String::new(),
        actor: "bench".into(),
    }
}

async fn fill(channels: &[Channel], cases: u64) {
    let ch = channels[0].clone();
    let mut org = v1::org_service_client::OrgServiceClient::new(ch.clone());
    let mut people = String::from("编号,姓名,角色,所属网格,党员\n");
    for m in 0..MICRO_GRIDS {
        people.push_str(&format!("P{m:04},网格员{m},微网格员,M{m:04},否\n"));
    }
    for (name, text) in [
        ("units.csv", units_csv(MICRO_GRIDS)),
        ("people.csv", people),
    ] {
        org.import(v1::ImportRequest {
            name: name.into(),
            text,
            ..Default::default()
        })
        .await
        .unwrap();
    }
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for t in 0..64 {
        let mut c =
            v1::case_service_client::CaseServiceClient::new(channels[t % channels.len()].clone());
        let next = next.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= cases {
                    return;
                }
                c.report(request(i)).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "reported {cases} cases in {secs:.1} s ({:.0}/s)",
        cases as f64 / secs
    );
    // Past the month's end: the 大事 run out of their hour (overdue at
    // the top of the ladder); the small matters' limits are still ahead.
    let mut admin = v1::admin_service_client::AdminServiceClient::new(ch.clone());
    let t = Instant::now();
    admin
        .set_clock(v1::SetClockRequest {
            now: wangge_policy::parse_ts("2026-09-01T00:30:00+08:00").unwrap(),
        })
        .await
        .unwrap();
    println!(
        "clock moved, timers fired in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    v1::evaluation_service_client::EvaluationServiceClient::new(ch.clone())
        .score_level(v1::ScoreLevelRequest {
            scorecard: "星级网格".into(),
            period: "2026-Q3".into(),
        })
        .await
        .unwrap();
    println!("scored 2026-Q3 in {:.1} s", t.elapsed().as_secs_f64());
    let t = Instant::now();
    v1::incentive_service_client::IncentiveServiceClient::new(ch.clone())
        .settle(v1::SettleRequest {
            period: "2026-08".into(),
            persons: vec![],
        })
        .await
        .unwrap();
    println!("settled 2026-08 in {:.1} s", t.elapsed().as_secs_f64());
    v1::task_service_client::TaskServiceClient::new(ch)
        .create(v1::CreateTaskRequest {
            task: "燃气入户排查".into(),
            under: "S1".into(),
            note: "bench".into(),
        })
        .await
        .unwrap();
}

/// One HTTP/1.1 request; the status and the body's length.
fn get(addr: &str, path: &str, cookie: &str) -> (u16, usize, String) {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nCookie: {cookie}\r\n\r\n"
    );
    s.write_all(req.as_bytes()).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    let text = String::from_utf8_lossy(&out).to_string();
    let code = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, out.len(), text)
}

fn sign_in(addr: &str) -> String {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    let req = format!(
        "POST /login HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 0\r\n\r\n"
    );
    s.write_all(req.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out.lines()
        .find_map(|l| l.strip_prefix("set-cookie: "))
        .and_then(|c| c.split(';').next())
        .unwrap()
        .to_string()
}

fn main() {
    let cases: u64 = arg("--cases", 1_000_000);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let data = tempfile::tempdir().unwrap();
    // After hours: the small matters' working-hour limits start counting
    // the next morning, so moving the clock past midnight fires only the
    // 大事' round-the-clock hour.
    let (server, grpc, _) = serve(data.path(), "2026-08-31T20:00:00+08:00");
    rt.block_on(async {
        let mut channels = Vec::new();
        for _ in 0..4 {
            let ch = Channel::from_shared(format!("http://{grpc}")).unwrap();
            channels.push(ch.connect().await.unwrap());
        }
        fill(&channels, cases).await;
    });
    stop(server);

    // A fresh process over the folder: the board reads the stored feed,
    // the listing index is built in the background.
    let opened = Instant::now();
    let (server, _, console) = serve(data.path(), "2026-09-01T00:30:00+08:00");
    let cookie = sign_in(&console);
    loop {
        let (_, _, board) = get(&console, "/board", &cookie);
        if !board.contains("正在统计") {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    println!(
        "board ready {:.1} s after start (the stored feed read)",
        opened.elapsed().as_secs_f64()
    );
    // Let the listing index finish (built in the background after open).
    std::thread::sleep(Duration::from_secs(20));
    let case = cases / 2;
    let card = "%E6%98%9F%E7%BA%A7%E7%BD%91%E6%A0%BC";
    let pages = [
        "/todo".to_string(),
        "/cases".into(),
        "/cases?state=%E4%B8%8A%E6%8A%A5".into(),
        "/cases?unit=C3".into(),
        "/cases?unit=M0042".into(),
        "/cases?overdue=on".into(),
        "/cases?breached=on".into(),
        "/cases?due_within_hours=12".into(),
        format!("/cases/{case}"),
        "/board".into(),
        "/org?period=2026-Q3".into(),
        format!("/org/score?card={card}&id=M0042&period=2026-Q3"),
        "/awards?period=2026".into(),
        "/tasks".into(),
        "/settlements?period=2026-08".into(),
        format!("/reports?card={card}&period=2026-Q3"),
        format!("/reports.csv?card={card}&period=2026-Q3"),
        format!("/reports.xlsx?card={card}&period=2026-Q3"),
        "/policy".into(),
    ];
    println!("| page | status | bytes | median | slowest of 20 |");
    println!("| --- | --- | --- | --- | --- |");
    for p in &pages {
        let mut times = Vec::new();
        let (mut code, mut len) = (0, 0);
        for _ in 0..20 {
            let t = Instant::now();
            (code, len, _) = get(&console, p, &cookie);
            times.push(t.elapsed());
        }
        times.sort();
        println!(
            "| `{p}` | {code} | {len} | {:.1} ms | {:.1} ms |",
            times[10].as_secs_f64() * 1e3,
            times[19].as_secs_f64() * 1e3
        );
    }
    stop(server);
}
