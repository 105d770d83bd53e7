//! Load generator: a release `wangge serve` on loopback and concurrent tonic
//! clients reporting events; prints durable reports/s and latency
//! percentiles. Client and server share the machine's cores.
//!
//! `cargo bench --bench load` (options after `--`: `--concurrency N`,
//! `--reports N`, `--no-keys`, `--durability fsync|flush`)
//!
//! The server gets an organisation of 1,200 micro grids first (a report
//! must name a registered unit).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tonic::transport::Channel;
use wangge_proto::v1;
use wangge_testkit::bench::{arg, flag, units_csv, CATEGORIES};

fn request(i: u64, keys: bool) -> v1::ReportRequest {
    v1::ReportRequest {
        workflow: "事件处置".into(),
        unit: format!("M{:04}", i % MICRO_GRIDS),
        data_json: format!(
            r#"{{"类别": "{}", "人数": {}, "风险": {}}}"#,
            CATEGORIES[(i as usize) % CATEGORIES.len()],
            i % 7 + 1,
            i % 3 + 1
        ),
        idempotency_key: if keys {
            format!("load-{i}")
        } else {
            String::new()
        },
        actor: "load".into(),
    }
}

async fn run(
    channels: &[Channel],
    concurrency: u64,
    total: u64,
    offset: u64,
    keys: bool,
) -> (f64, Vec<Duration>) {
    let next = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for t in 0..concurrency {
        let mut client = v1::case_service_client::CaseServiceClient::new(
            channels[(t as usize) % channels.len()].clone(),
        );
        let next = next.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    return lat;
                }
                let s = Instant::now();
                client.report(request(offset + i, keys)).await.unwrap();
                lat.push(s.elapsed());
            }
        }));
    }
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await.unwrap());
    }
    let rate = total as f64 / start.elapsed().as_secs_f64();
    lat.sort();
    (rate, lat)
}

const MICRO_GRIDS: u64 = 1_200;

fn pct(l: &[Duration], p: f64) -> Duration {
    l[(((l.len() - 1) as f64) * p).round() as usize]
}

fn main() {
    let concurrency: u64 = arg("--concurrency", 64);
    let total: u64 = arg("--reports", 100_000);
    let keys = !flag("--no-keys");
    let durability: String = arg("--durability", "fsync".to_string());
    let data = tempfile::tempdir().unwrap();
    let mut server = Command::new(env!("CARGO_BIN_EXE_wangge"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "off",
            "--clock",
            "manual",
            "--log",
            "warn",
            "--durability",
            &durability,
            "--data",
        ])
        .arg(data.path())
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(server.stdout.take().unwrap()).lines();
    let addr = loop {
        let line = lines.next().unwrap().unwrap();
        if let Some(rest) = line.strip_prefix("wangge listening on ") {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut channels = Vec::new();
        for _ in 0..4 {
            channels.push(Channel::from_shared(format!("http://{addr}")).unwrap().connect().await.unwrap());
        }
        v1::org_service_client::OrgServiceClient::new(channels[0].clone())
            .import(v1::ImportRequest {
                name: "units.csv".into(),
                text: units_csv(MICRO_GRIDS),
                ..Default::default()
            })
            .await
            .unwrap();
        let (warm, _) = run(&channels, concurrency, 30_000, 50_000_000, keys).await;
        let (rate, lat) = run(&channels, concurrency, total, 0, keys).await;
        println!(
            "gRPC Report, {concurrency} concurrent calls, {} idempotency keys, durability {durability}: {rate:.0} durable reports/s  p50 {:?}  p99 {:?}  p99.9 {:?}  (warm-up {warm:.0}/s)",
            if keys { "with" } else { "without" },
            pct(&lat, 0.5),
            pct(&lat, 0.99),
            pct(&lat, 0.999)
        );
    });
    let _ = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status();
    let _ = server.wait();
}
