//! The durable report path: `wangge serve` next to a durable echo — a tonic
//! server whose one RPC takes wangge's `ReportRequest` and answers its
//! `ReportResponse` (`perf/proto/echo.proto`), checks the idempotency key, hands the payload to one writer thread that applies every queued
//! payload as one sled batch, flushes, `fdatasync`s sled's log (the promise
//! wangge's default `durability = "fsync"` makes) and answers the group.
//! Both run as their own processes; the same client drives them in
//! alternating rounds: 64 concurrent calls over 4 connections, every call
//! with an idempotency key.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use tonic::transport::Channel;
use tonic::{Request, Response, Status};
use wangge_proto::v1;

/// The generated echo service (perf/proto/echo.proto).
mod echo {
    tonic::include_proto!("perf.echo");
}
use echo::echo_client::EchoClient;
use echo::echo_server::{Echo as EchoService, EchoServer};

use crate::out::Table;
use wangge_testkit::bench::{units_csv, CATEGORIES};

const MICRO_GRIDS: u64 = 1_200;

/// One payload for the writer, and where to send its id.
struct Write {
    data: Vec<u8>,
    key: Option<Vec<u8>>,
    done: tokio::sync::oneshot::Sender<Result<u64, String>>,
}

struct Echo {
    db: sled::Db,
    writes: mpsc::Sender<Write>,
}

/// Group commit: block for one write, take every other queued one, apply as
/// one batch, flush, fdatasync, answer.
fn writer(db: sled::Db, log: std::fs::File, rx: mpsc::Receiver<Write>) {
    let mut next = 1u64;
    while let Ok(first) = rx.recv() {
        let mut group = vec![first];
        while let Ok(w) = rx.try_recv() {
            group.push(w);
        }
        let mut batch = sled::Batch::default();
        let mut ids = Vec::with_capacity(group.len());
        for w in &group {
            batch.insert(&next.to_be_bytes(), w.data.as_slice());
            if let Some(k) = &w.key {
                let mut key = b"k/".to_vec();
                key.extend_from_slice(k);
                batch.insert(key, &next.to_be_bytes());
            }
            ids.push(next);
            next += 1;
        }
        let result = db
            .apply_batch(batch)
            .and_then(|_| db.flush())
            .map_err(|e| e.to_string())
            .and_then(|_| log.sync_data().map_err(|e| e.to_string()));
        for (w, id) in group.into_iter().zip(ids) {
            let _ = w.done.send(result.clone().map(|_| id));
        }
    }
}

#[tonic::async_trait]
impl EchoService for Echo {
    async fn report(
        &self,
        request: Request<v1::ReportRequest>,
    ) -> Result<Response<v1::ReportResponse>, Status> {
        let r = request.into_inner();
        let answer = |id: u64, created: bool, r: v1::ReportRequest| {
            Response::new(v1::ReportResponse {
                case: Some(v1::Case {
                    id,
                    workflow: r.workflow,
                    version: 1,
                    unit: r.unit,
                    data_json: r.data_json,
                    ..Default::default()
                }),
                created,
                explanation_json: String::new(),
            })
        };
        let key = (!r.idempotency_key.is_empty()).then(|| r.idempotency_key.as_bytes().to_vec());
        if let Some(k) = &key {
            let mut stored = b"k/".to_vec();
            stored.extend_from_slice(k);
            if let Some(id) = self
                .db
                .get(stored)
                .map_err(|e| Status::unavailable(e.to_string()))?
            {
                let id = u64::from_be_bytes(
                    id.as_ref()
                        .try_into()
                        .map_err(|_| Status::data_loss("bad id"))?,
                );
                return Ok(answer(id, false, r));
            }
        }
        let (done, wait) = tokio::sync::oneshot::channel();
        let data = r.data_json.as_bytes().to_vec();
        self.writes
            .send(Write { data, key, done })
            .map_err(|_| Status::unavailable("writer gone"))?;
        let id = wait
            .await
            .map_err(|_| Status::unavailable("writer gone"))?
            .map_err(Status::unavailable)?;
        Ok(answer(id, true, r))
    }
}

/// `compare --echo-server DIR`: the echo process.
pub fn serve_echo(dir: &Path) {
    // The store's own settings (engine/store-sled): the server's default 128 MiB cache, high throughput.
    let db = sled::Config::new()
        .path(dir)
        .cache_capacity(128 << 20)
        .mode(sled::Mode::HighThroughput)
        .open()
        .expect("sled opens");
    let log = std::fs::File::open(dir.join("db")).expect("sled's log");
    let (tx, rx) = mpsc::channel();
    let w = db.clone();
    std::thread::spawn(move || writer(w, log, rx));
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        println!("echo listening on {}", listener.local_addr().expect("addr"));
        let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
        tonic::transport::Server::builder()
            .add_service(EchoServer::new(Echo { db, writes: tx }))
            .serve_with_incoming(incoming)
            .await
            .expect("serves");
    });
}

/// A server process and the address it printed.
struct Server {
    child: Child,
    addr: String,
    /// The echo (its own service) rather than `wangge serve`.
    echo: bool,
}

impl Server {
    fn start(mut cmd: Command, prefix: &str) -> Server {
        let mut child = cmd.stdout(Stdio::piped()).spawn().expect("server starts");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let addr = loop {
            let line = lines
                .next()
                .expect("server printed its address")
                .expect("utf-8");
            if let Some(rest) = line.strip_prefix(prefix) {
                break rest.split_whitespace().next().expect("address").to_string();
            }
        };
        std::thread::spawn(move || for _ in lines {});
        Server {
            echo: prefix.starts_with("echo"),
            child,
            addr,
        }
    }

    /// CPU time (user + system, all threads) and context switches so far,
    /// from /proc (clock ticks of 10 ms, Linux's USER_HZ). A figure that
    /// cannot be read stops the run rather than print a wrong ratio.
    fn usage(&self) -> (Duration, u64) {
        let pid = self.child.id();
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc/PID/stat");
        let (_, after) = stat.rsplit_once(')').expect("a stat line");
        // `after` starts at field 3; fields 14 and 15 are utime and stime.
        let field = |i: usize| -> u64 {
            after
                .split_whitespace()
                .nth(i)
                .and_then(|x| x.parse().ok())
                .expect("utime and stime")
        };
        let ticks = field(11) + field(12);
        let mut switches = 0;
        for t in std::fs::read_dir(format!("/proc/{pid}/task")).expect("/proc/PID/task") {
            let path = t.expect("a task").path().join("status");
            // A thread that ended between the listing and the read.
            let Ok(s) = std::fs::read_to_string(path) else {
                continue;
            };
            for line in s.lines().filter(|l| l.contains("ctxt_switches:")) {
                let n = line
                    .split_whitespace()
                    .last()
                    .and_then(|n| n.parse::<u64>().ok());
                switches += n.expect("a context switch count");
            }
        }
        (Duration::from_millis(ticks * 10), switches)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

fn request(i: u64) -> v1::ReportRequest {
    v1::ReportRequest {
        workflow: "事件处置".into(),
        unit: format!("M{:04}", i % MICRO_GRIDS),
        data_json: format!(
            r#"{{"类别": "{}", "人数": {}, "风险": {}}}"#,
            CATEGORIES[(i as usize) % CATEGORIES.len()],
            i % 7 + 1,
            i % 3 + 1
        ),
        idempotency_key: format!("load-{i}"),
        actor: "load".into(),
    }
}

/// One measured phase.
struct Phase {
    rate: f64,
    p99: Duration,
    cpu_us: f64,
    switches: f64,
}

/// A client of either server: the same request, the same answer.
#[derive(Clone)]
enum Client {
    Wangge(v1::case_service_client::CaseServiceClient<Channel>),
    Echo(EchoClient<Channel>),
}

impl Client {
    fn new(server: &Server, channel: Channel) -> Client {
        if server.echo {
            Client::Echo(EchoClient::new(channel))
        } else {
            Client::Wangge(v1::case_service_client::CaseServiceClient::new(channel))
        }
    }

    async fn report(&mut self, r: v1::ReportRequest) -> Result<v1::ReportResponse, Status> {
        Ok(match self {
            Client::Wangge(c) => c.report(r).await?.into_inner(),
            Client::Echo(c) => c.report(r).await?.into_inner(),
        })
    }
}

async fn load(server: &Server, channels: &[Channel], total: u64, offset: u64) -> Phase {
    let next = Arc::new(AtomicU64::new(0));
    let (cpu0, sw0) = server.usage();
    let start = Instant::now();
    let mut tasks = Vec::new();
    for t in 0..64 {
        let mut client = Client::new(server, channels[t % channels.len()].clone());
        let next = next.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    return lat;
                }
                let s = Instant::now();
                client
                    .report(request(offset + i))
                    .await
                    .expect("report answered");
                lat.push(s.elapsed());
            }
        }));
    }
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await.expect("client task"));
    }
    let elapsed = start.elapsed();
    let (cpu1, sw1) = server.usage();
    lat.sort();
    Phase {
        rate: total as f64 / elapsed.as_secs_f64(),
        p99: lat[((lat.len() - 1) as f64 * 0.99) as usize],
        cpu_us: (cpu1 - cpu0).as_micros() as f64 / total as f64,
        switches: (sw1 - sw0) as f64 / total as f64,
    }
}

async fn connect(addr: &str) -> Vec<Channel> {
    let mut channels = Vec::new();
    for _ in 0..4 {
        let endpoint = Channel::from_shared(format!("http://{addr}")).expect("uri");
        channels.push(endpoint.connect().await.expect("connects"));
    }
    channels
}

pub fn run(wangge: &Path, repo: &Path, rounds: usize, reports: u64, out: &mut Table) {
    let wdir = tempfile::tempdir().expect("tempdir");
    let edir = tempfile::tempdir().expect("tempdir");
    let mut cmd = Command::new(wangge);
    cmd.args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--metrics-listen",
        "off",
        "--clock",
        "manual",
        "--log",
        "warn",
    ])
    .args(["--durability", "fsync", "--data"])
    .arg(wdir.path())
    .current_dir(repo);
    let w = Server::start(cmd, "wangge listening on ");
    let mut cmd = Command::new(std::env::current_exe().expect("own path"));
    cmd.arg("--echo-server").arg(edir.path());
    let e = Server::start(cmd, "echo listening on ");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let wc = connect(&w.addr).await;
        let ec = connect(&e.addr).await;
        v1::org_service_client::OrgServiceClient::new(wc[0].clone())
            .import(v1::ImportRequest { name: "units.csv".into(), text: units_csv(MICRO_GRIDS), ..Default::default() })
            .await
            .expect("units imported");
        load(&w, &wc, 20_000, 50_000_000).await;
        load(&e, &ec, 20_000, 50_000_000).await;
        let (mut wp, mut ep) = (Vec::new(), Vec::new());
        for r in 0..rounds as u64 {
            let offset = r * reports;
            if r % 2 == 0 {
                ep.push(load(&e, &ec, reports, offset).await);
                wp.push(load(&w, &wc, reports, offset).await);
            } else {
                wp.push(load(&w, &wc, reports, offset).await);
                ep.push(load(&e, &ec, reports, offset).await);
            }
            let (a, b) = (&ep[ep.len() - 1], &wp[wp.len() - 1]);
            println!(
                "  round {}: echo {:.0}/s p99 {:?} {:.0} µs CPU {:.2} switches per call; wangge {:.0}/s p99 {:?} {:.0} µs CPU {:.2} switches per call",
                r + 1, a.rate, a.p99, a.cpu_us, a.switches, b.rate, b.p99, b.cpu_us, b.switches
            );
        }
        let pick = |v: &[Phase], f: fn(&Phase) -> f64| v.iter().map(f).collect::<Vec<f64>>();
        out.rate_row(
            "durable Report over gRPC, 64 concurrent, 4 connections, keys",
            "tonic + sled group-commit fsync echo",
            &pick(&ep, |p| p.rate),
            &pick(&wp, |p| p.rate),
            "/s",
        );
        let ms = |x: f64| format!("{x:.1} ms");
        out.note(format!(
            "report path p99: echo {}, wangge {}; server CPU per call: echo {} µs, wangge {} µs; context switches per call: echo {}, wangge {}",
            crate::timing::spread(&pick(&ep, |p| p.p99.as_secs_f64() * 1e3), ms),
            crate::timing::spread(&pick(&wp, |p| p.p99.as_secs_f64() * 1e3), ms),
            crate::timing::spread(&pick(&ep, |p| p.cpu_us), |x| format!("{x:.0}")),
            crate::timing::spread(&pick(&wp, |p| p.cpu_us), |x| format!("{x:.0}")),
            crate::timing::spread(&pick(&ep, |p| p.switches), |x| format!("{x:.2}")),
            crate::timing::spread(&pick(&wp, |p| p.switches), |x| format!("{x:.2}")),
        ));
    });
}
