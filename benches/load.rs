//! Load generator: a release `wangge serve` on loopback and concurrent tonic
//! clients reporting events; prints durable reports/s and latency
//! percentiles. Client and server share the machine's cores.
//!
//! `cargo bench --bench load` (options after `--`: `--concurrency N`,
//! `--reports N`, `--no-keys`, `--durability fsync|flush`, `--secure`:
//! alternately without authentication and with TLS, a bearer token
//! checked on every call, the caller's grants checked against the case's
//! unit, and the audit log written, two rounds each; `--webhook`: how fast
//! case events reach a local webhook receiver, signed, one POST each;
//! `--console`: the server's console on, as it is by default; `--server
//! BIN`: run this `wangge` binary instead of the one built with the bench,
//! to compare two builds in one session)
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

/// The `wangge` binary to run: `--server BIN`, or the one built with the bench.
fn server_bin() -> String {
    arg("--server", env!("CARGO_BIN_EXE_wangge").to_string())
}

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
    token: Option<&str>,
) -> (f64, Vec<Duration>) {
    let bearer: Option<tonic::metadata::MetadataValue<tonic::metadata::Ascii>> =
        token.map(|t| format!("Bearer {t}").parse().unwrap());
    let next = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for t in 0..concurrency {
        let mut client = v1::case_service_client::CaseServiceClient::new(
            channels[(t as usize) % channels.len()].clone(),
        );
        let next = next.clone();
        let bearer = bearer.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    return lat;
                }
                let s = Instant::now();
                let mut msg = request(offset + i, keys);
                if bearer.is_some() {
                    // The verified caller is the actor.
                    msg.actor.clear();
                }
                let mut req = tonic::Request::new(msg);
                if let Some(b) = &bearer {
                    req.metadata_mut().insert("authorization", b.clone());
                }
                client.report(req).await.unwrap();
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

const SECRET: &str = "load-bench-secret-0123456789";

/// A token for `sub`, valid `ttl` seconds, signed with [`SECRET`].
fn hs256(sub: &str, ttl: u64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = serde_json::json!({"sub": sub, "iss": "wangge", "aud": "wangge", "exp": now + ttl, "nbf": now - 1});
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap()
}

/// TLS files and a token for the secure mode.
struct Secure {
    _dir: tempfile::TempDir,
    args: Vec<String>,
    ca: String,
    token: String,
}

fn secure() -> Secure {
    let dir = tempfile::tempdir().unwrap();
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    let write = |name: &str, text: String| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    };
    let args = vec![
        "--require-auth".to_string(),
        "--auth-hmac-secret".into(),
        SECRET.into(),
        "--tls-cert".into(),
        write("server.pem", cert.pem()),
        "--tls-key".into(),
        write("server.key", key.serialize_pem()),
    ];
    let token = hs256("Z1", 36_000);
    Secure {
        args,
        ca: ca.pem(),
        token,
        _dir: dir,
    }
}

/// Starts a server, imports the organisation, warms up, measures.
fn measure(
    rt: &tokio::runtime::Runtime,
    concurrency: u64,
    total: u64,
    keys: bool,
    durability: &str,
    secure: Option<&Secure>,
    extra: &[String],
) -> (f64, Vec<Duration>) {
    let data = tempfile::tempdir().unwrap();
    let mut server = Command::new(server_bin())
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "off",
            "--console-listen",
            // `--console`: with the console on (it follows the change feed).
            if flag("--console") {
                "127.0.0.1:0"
            } else {
                "off"
            },
            "--clock",
            "manual",
            "--log",
            "warn",
            "--durability",
            durability,
            "--data",
        ])
        .arg(data.path())
        .args(secure.map(|s| s.args.clone()).unwrap_or_default())
        .args(extra)
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
    let port = addr.rsplit(':').next().unwrap().to_string();
    let out = rt.block_on(async {
        let mut channels = Vec::new();
        for _ in 0..4 {
            let ch = match secure {
                None => Channel::from_shared(format!("http://{addr}")).unwrap(),
                Some(s) => Channel::from_shared(format!("https://localhost:{port}"))
                    .unwrap()
                    .tls_config(
                        tonic::transport::ClientTlsConfig::new()
                            .ca_certificate(tonic::transport::Certificate::from_pem(&s.ca)),
                    )
                    .unwrap(),
            };
            channels.push(ch.connect().await.unwrap());
        }
        let token = secure.map(|s| s.token.as_str());
        let ops = secure.map(|_| hs256("service:运维", 3600));
        let mut org = v1::org_service_client::OrgServiceClient::new(channels[0].clone());
        for (name, text) in [
            ("units.csv", units_csv(MICRO_GRIDS)),
            (
                "people.csv",
                "编号,姓名,角色,所属网格,党员\nZ1,孙指挥,街道指挥中心,S1,否\n".to_string(),
            ),
        ] {
            let mut req = tonic::Request::new(v1::ImportRequest {
                name: name.into(),
                text,
                ..Default::default()
            });
            if let Some(t) = &ops {
                req.metadata_mut()
                    .insert("authorization", format!("Bearer {t}").parse().unwrap());
            }
            org.import(req).await.unwrap();
        }
        run(&channels, concurrency, 30_000, 50_000_000, keys, token).await;
        run(&channels, concurrency, total, 0, keys, token).await
    });
    let _ = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status();
    let _ = server.wait();
    out
}

/// `--webhook`: reports `total` events while a local receiver counts the
/// webhook deliveries; prints deliveries/s from the first report to the
/// last delivery.
fn webhook_rate(rt: &tokio::runtime::Runtime, total: u64) {
    use std::sync::atomic::AtomicU64;
    let got = Arc::new(AtomicU64::new(0));
    let (addr, _guard) = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let counted = got.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move || {
                let counted = counted.clone();
                async move {
                    counted.fetch_add(1, Ordering::Relaxed);
                    http::StatusCode::OK
                }
            }),
        );
        let guard = tokio::spawn(async move { axum::serve(listener, app).await });
        (addr, guard)
    });
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("wangge.toml");
    std::fs::write(
        &config,
        format!("[[webhooks]]\nname = \"bench\"\nurl = \"http://{addr}/hook\"\nsecret = \"bench-secret-0123456789\"\n"),
    )
    .unwrap();
    let data = dir.path().join("data");
    let mut server = Command::new(server_bin())
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "off",
            "--console-listen",
            "off",
            "--clock",
            "manual",
            "--log",
            "warn",
            "--config",
        ])
        .arg(&config)
        .arg("--data")
        .arg(&data)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(server.stdout.take().unwrap()).lines();
    let grpc = loop {
        let line = lines.next().unwrap().unwrap();
        if let Some(rest) = line.strip_prefix("wangge listening on ") {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    rt.block_on(async {
        let mut channels = Vec::new();
        for _ in 0..4 {
            channels.push(Channel::from_shared(format!("http://{grpc}")).unwrap().connect().await.unwrap());
        }
        v1::org_service_client::OrgServiceClient::new(channels[0].clone())
            .import(v1::ImportRequest {
                name: "units.csv".into(),
                text: units_csv(MICRO_GRIDS),
                ..Default::default()
            })
            .await
            .unwrap();
        let start = Instant::now();
        let (rate, _) = run(&channels, 64, total, 0, true, None).await;
        while got.load(Ordering::Relaxed) < total {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let took = start.elapsed().as_secs_f64();
        println!(
            "webhook: {total} case events delivered to a local receiver in {took:.2} s: {:.0} deliveries/s (reports went in at {rate:.0}/s)",
            total as f64 / took
        );
    });
    let _ = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status();
    let _ = server.wait();
}

fn main() {
    let concurrency: u64 = arg("--concurrency", 64);
    let total: u64 = arg("--reports", 100_000);
    let keys = !flag("--no-keys");
    let durability: String = arg("--durability", "fsync".to_string());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    if flag("--webhook") {
        webhook_rate(&rt, total);
        return;
    }
    // `--postgres URL`: sled and PostgreSQL in turns (each run in a fresh schema).
    let postgres: String = arg("--postgres", String::new());
    if !postgres.is_empty() {
        for round in 0..2 {
            for on_pg in [false, true] {
                let schema = format!("bench_{}_{round}", std::process::id());
                let extra: Vec<String> = if on_pg {
                    vec![
                        "--postgres".into(),
                        postgres.clone(),
                        "--postgres-schema".into(),
                        schema.clone(),
                    ]
                } else {
                    Vec::new()
                };
                let (rate, lat) = measure(&rt, concurrency, total, keys, &durability, None, &extra);
                println!(
                    "gRPC Report, {concurrency} concurrent calls, on {}: {rate:.0} durable reports/s  p50 {:?}  p99 {:?}",
                    if on_pg { "PostgreSQL" } else { "sled" },
                    pct(&lat, 0.5),
                    pct(&lat, 0.99),
                );
                if on_pg {
                    let _ = Command::new("psql")
                        .args([
                            &postgres,
                            "-qc",
                            &format!("DROP SCHEMA IF EXISTS {schema} CASCADE"),
                        ])
                        .output();
                }
            }
        }
        return;
    }
    let modes: Vec<Option<Secure>> = if flag("--secure") {
        vec![None, Some(secure()), None, Some(secure())]
    } else {
        vec![None]
    };
    for mode in &modes {
        let (rate, lat) = measure(
            &rt,
            concurrency,
            total,
            keys,
            &durability,
            mode.as_ref(),
            &[],
        );
        println!(
            "gRPC Report, {concurrency} concurrent calls, {} idempotency keys, durability {durability}, {}: {rate:.0} durable reports/s  p50 {:?}  p99 {:?}  p99.9 {:?}",
            if keys { "with" } else { "without" },
            if mode.is_some() { "TLS + token + grants + audit" } else { "no authentication" },
            pct(&lat, 0.5),
            pct(&lat, 0.99),
            pct(&lat, 0.999)
        );
    }
}
