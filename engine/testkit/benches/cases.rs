//! Case throughput (a bench binary, release): report + classify + persist,
//! with one flush per report and with group commit from many threads; timer
//! escalation throughput; and the memory of a store with a million cases.
//!
//! `cargo bench -p wangge-testkit --bench cases`               (quick figures)
//! `cargo bench -p wangge-testkit --bench cases -- --million`  (adds 1,000,000 stored cases and RSS)

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use wangge_app::{CaseService, Report};
use wangge_policy::parse_ts;
use wangge_policy::ManualClock;
use wangge_policy::PolicySet;
use wangge_store::prelude::*;
use wangge_store_sled::SledStore;

use wangge_testkit::bench::{flag, CATEGORIES};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn shipped() -> Arc<PolicySet> {
    wangge_testkit::fixtures::shipped().unwrap()
}

fn service(dir: &Path, clock: Arc<ManualClock>) -> CaseService {
    let store: Arc<dyn Store> = Arc::new(SledStore::open(dir, 64 << 20).unwrap());
    CaseService::new(store, shipped(), clock)
}

fn report(i: u64) -> Report {
    Report {
        on_behalf: None,
        workflow: "事件处置".into(),
        unit: Some(format!("WG-{:06}", i % 120_000)),
        data: json!({"类别": CATEGORIES[(i as usize) % CATEGORIES.len()], "人数": (i % 7) as i64 + 1, "风险": (i % 3) as i64 + 1}),
        idempotency_key: Some(format!("r-{i}")),
        actor: "bench".into(),
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn rss_mib() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Reports from `threads` threads, `per_thread` each; returns (reports/s, p50, p99).
fn concurrent(
    svc: &Arc<CaseService>,
    threads: u64,
    per_thread: u64,
    offset: u64,
) -> (f64, Duration, Duration) {
    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let svc = svc.clone();
            std::thread::spawn(move || {
                let mut lat = Vec::with_capacity(per_thread as usize);
                for i in 0..per_thread {
                    let s = Instant::now();
                    svc.report(report(offset + t * per_thread + i)).unwrap();
                    lat.push(s.elapsed());
                }
                lat
            })
        })
        .collect();
    let mut lat: Vec<Duration> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    let secs = start.elapsed().as_secs_f64();
    lat.sort();
    (
        (threads * per_thread) as f64 / secs,
        percentile(&lat, 0.5),
        percentile(&lat, 0.99),
    )
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--serve") {
        serve(Path::new(&args[i + 1]));
        return;
    }
    let million = flag("--million");
    let only_pipelined = flag("--pipelined") || million;
    let t0 = parse_ts("2026-09-14T10:00:00+08:00").unwrap();
    if let Some(i) = args.iter().position(|a| a == "--replay") {
        replay_bench(
            args.get(i + 1)
                .and_then(|n| n.parse().ok())
                .unwrap_or(100_000),
            t0,
        );
        return;
    }

    println!(
        "machine: {} cores",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );

    // 0. The CPU a report costs before storage: classify + open + encode.
    if !only_pipelined {
        let policy = shipped();
        let wf = policy.workflow("事件处置").unwrap().clone();
        let who = wangge_policy::Actor::default();
        let n = 100_000u64;
        let start = Instant::now();
        let mut bytes = 0usize;
        for i in 0..n {
            let r = report(i);
            let change = wf
                .open(
                    policy.as_ref(),
                    i + 1,
                    t0,
                    r.unit,
                    r.data,
                    &who,
                    r.idempotency_key,
                )
                .unwrap();
            bytes += wangge_store::encode(&change.case).unwrap().len()
                + wangge_store::encode(&change.event).unwrap().len();
        }
        let per = start.elapsed().as_secs_f64() * 1e6 / n as f64;
        println!(
            "classify + open + encode (no storage), 1 thread: {per:.1} µs/report, {} bytes/report",
            bytes as u64 / n
        );
    }

    // 1. One thread, one flush per report.
    if !only_pipelined {
        let dir = tempfile::tempdir().unwrap();
        let svc = Arc::new(service(dir.path(), Arc::new(ManualClock::new(t0))));
        let (rate, p50, p99) = concurrent(&svc, 1, 3_000, 0);
        println!("report+classify+persist, 1 thread (flush per report): {rate:>9.0} reports/s  p50 {p50:?}  p99 {p99:?}");
    }

    // 2. Group commit: many concurrent callers share flushes. A fresh sled
    // tree is slow while it grows its first few hundred thousand keys, so
    // the store is first filled with 150,000 cases (a production store holds
    // millions); both the cold and the steady figures are printed.
    for threads in [16u64, 64, 256].into_iter().filter(|_| !only_pipelined) {
        let dir = tempfile::tempdir().unwrap();
        let svc = Arc::new(service(dir.path(), Arc::new(ManualClock::new(t0))));
        let (cold, _, _) = concurrent(&svc, threads, 150_000 / threads, 10_000_000);
        let (rate, p50, p99) = concurrent(&svc, threads, 200_000 / threads, 0);
        println!("report+classify+persist, {threads} threads (group commit):   {rate:>9.0} reports/s  p50 {p50:?}  p99 {p99:?}  (first 150,000 into an empty store: {cold:.0}/s)");
    }

    // 2b. Two submitting threads (one per core), each with 512 reports in
    // flight: the pattern of an async server or a bulk import. With and
    // without idempotency keys (a key costs one more sled insert).
    for with_key in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let svc = Arc::new(service(dir.path(), Arc::new(ManualClock::new(t0))));
        let run = |offset: u64, total: u64| {
            let start = Instant::now();
            let handles: Vec<_> = (0..2u64)
                .map(|t| {
                    let svc = svc.clone();
                    std::thread::spawn(move || {
                        let per = total / 2;
                        let mut i = 0;
                        while i < per {
                            let n = 512.min(per - i);
                            let batch = (0..n)
                                .map(|k| {
                                    let mut r = report(offset + t * per + i + k);
                                    if !with_key {
                                        r.idempotency_key = None;
                                    }
                                    r
                                })
                                .collect();
                            for r in svc.report_many(batch) {
                                r.unwrap();
                            }
                            i += n;
                        }
                    })
                })
                .collect();
            for h in handles {
                h.join().unwrap();
            }
            total as f64 / start.elapsed().as_secs_f64()
        };
        let cold = run(10_000_000, 150_000);
        let rate = run(0, 200_000);
        let key = if with_key { "with" } else { "without" };
        println!("report+classify+persist, 2 threads x 512 in flight, {key} idempotency key: {rate:>9.0} reports/s  (first 150,000 into an empty store: {cold:.0}/s)");
    }

    // 3. Escalation throughput: 100,000 small matters overdue at once.
    if !only_pipelined {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(t0));
        let svc = Arc::new(service(dir.path(), clock.clone()));
        let n = 100_000u64;
        let handles: Vec<_> = (0..32u64)
            .map(|t| {
                let svc = svc.clone();
                std::thread::spawn(move || {
                    for i in 0..n / 32 {
                        let mut r = report(t * n + i);
                        r.data = json!({"类别": "垃圾堆放", "人数": 1, "风险": 1});
                        svc.report(r).unwrap();
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        clock.set(t0 + 3 * 3600 + 60);
        let start = Instant::now();
        let fired = svc.fire_due().unwrap();
        let secs = start.elapsed().as_secs_f64();
        println!(
            "escalation by timer: {fired} cases in {secs:.2} s = {:.0} escalations/s",
            fired as f64 / secs
        );
    }

    // 4. A million stored cases: written here, then served by a fresh
    // process (this binary with `--serve DIR`) whose peak RSS is measured.
    if million {
        let dir = tempfile::tempdir().unwrap();
        {
            let svc = Arc::new(service(dir.path(), Arc::new(ManualClock::new(t0))));
            let start = Instant::now();
            let (rate, _, _) = concurrent(&svc, 64, 1_000_000 / 64, 0);
            println!(
                "stored {} cases in {:.1} s ({rate:.0}/s)",
                svc.store().case_count(),
                start.elapsed().as_secs_f64()
            );
        }
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--serve", dir.path().to_str().unwrap()])
            .output()
            .unwrap();
        print!("{}", String::from_utf8_lossy(&out.stdout));
    }
}

/// Opens a store and serves 200,000 random case reads; prints RSS; then
/// times filtered listings (first page of 100) once the listing index is
/// built, and one by scanning for comparison.
fn serve(dir: &Path) {
    let opened = Instant::now();
    let sled = Arc::new(SledStore::open(dir, 64 << 20).unwrap());
    let store: Arc<dyn Store> = sled.clone();
    let svc = CaseService::new(store, shipped(), Arc::new(ManualClock::new(0)));
    let count = svc.store().case_count();
    let (rss0, _) = rss_mib();
    let start = Instant::now();
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    for _ in 0..200_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        svc.get(1 + x % count).unwrap();
    }
    let secs = start.elapsed().as_secs_f64();
    let (rss, hwm) = rss_mib();
    println!(
        "fresh process serving {count} stored cases: RSS {rss0:.0} MiB after open, {rss:.0} MiB after 200,000 random gets ({:.0}/s); peak {hwm:.0} MiB",
        200_000.0 / secs
    );
    assert!(sled.wait_indexed(Duration::from_secs(600)));
    let (_, hwm) = rss_mib();
    println!(
        "listing index built {:.1} s after open; peak RSS {hwm:.0} MiB",
        opened.elapsed().as_secs_f64()
    );
    listings(&svc);
}

/// The first page (100) of each kind of filtered listing the issue names.
fn listings(svc: &CaseService) {
    use wangge_app::CaseFilter;
    let last = svc.get(svc.store().case_count()).unwrap();
    let deadline = last.next_deadline().map(|d| d.due).unwrap_or(0);
    let units = |n: u64| Some((0..n).map(|i| format!("WG-{:06}", i * 97)).collect());
    let f = CaseFilter::default;
    let cases = [
        (
            "state 上报",
            CaseFilter {
                state: Some("上报".into()),
                ..f()
            },
        ),
        (
            "state 办结 (none)",
            CaseFilter {
                state: Some("办结".into()),
                ..f()
            },
        ),
        (
            "class 大事",
            CaseFilter {
                class: Some("大事".into()),
                ..f()
            },
        ),
        (
            "unit subtree of 130 units",
            CaseFilter {
                units: units(130),
                ..f()
            },
        ),
        (
            "one unit",
            CaseFilter {
                units: units(1),
                ..f()
            },
        ),
        (
            "breached",
            CaseFilter {
                breached: true,
                ..f()
            },
        ),
        (
            "overdue",
            CaseFilter {
                overdue: true,
                ..f()
            },
        ),
        (
            "deadline window (1 h)",
            CaseFilter {
                deadline_from: Some(deadline - 3600),
                deadline_to: Some(deadline + 1),
                ..f()
            },
        ),
        (
            "class 大事 + unit + created window",
            CaseFilter {
                class: Some("大事".into()),
                units: units(130),
                created_from: Some(last.created_at - 86_400),
                ..f()
            },
        ),
    ];
    for (label, filter) in &cases {
        let mut best = Duration::MAX;
        let mut n = 0;
        for _ in 0..5 {
            let start = Instant::now();
            let (page, _) = svc.list(filter, 1, 100).unwrap();
            best = best.min(start.elapsed());
            n = page.len();
        }
        println!("list {label}: {n} cases, {best:?} (best of 5, index)");
    }
    // The same filter without the index, as before: a scan of the cases.
    let filter = CaseFilter {
        overdue: true,
        ..f()
    };
    let start = Instant::now();
    let mut n = 0;
    svc.store()
        .scan_cases(&mut |c| {
            n += usize::from(filter.matches(&c));
            true
        })
        .unwrap();
    println!(
        "list overdue by scanning every case: {n} cases, {:?}",
        start.elapsed()
    );
}

/// `--replay N`: a generated log of N events replayed through the shipped
/// policies: case-parallel through one version and through two (the diff
/// path of `wangge replay --against`); with `--through-service` also through
/// the case service on the lean in-memory store (slow; for comparison).
fn replay_bench(events: u64, t0: i64) {
    use wangge_testkit::{generate, replay_through_service as replay, GenConfig};
    let cfg = GenConfig {
        micro_grids: 120_000,
        events,
        days: (events / 2_740).max(1),
        seed: 1,
        start: t0 - 10 * 3600,
    };
    let mut log = Vec::new();
    generate(&cfg, &mut log).unwrap();
    let text = String::from_utf8(log).unwrap();
    if flag("--through-service") {
        let clock = Arc::new(ManualClock::new(cfg.start));
        let store: Arc<dyn Store> = Arc::new(wangge_store::MemStore::lean());
        let svc = CaseService::new(store, shipped(), clock.clone());
        let start = Instant::now();
        let stats = replay(&svc, &clock, text.lines().map(|l| Ok(l.to_string()))).unwrap();
        let secs = start.elapsed().as_secs_f64();
        println!(
        "replay (lean in-memory store): {events} events, {} lines in {secs:.2} s = {:.0} events/s, {:.0} lines/s; {} timers fired, {} refused",
        stats.lines,
        events as f64 / secs,
        stats.lines as f64 / secs,
        stats.timers_fired,
        stats.refused
    );
    }
    let set = shipped();
    for (label, sets) in [
        ("one version", vec![&*set]),
        ("two versions (diff)", vec![&*set, &*set]),
    ] {
        let start = Instant::now();
        let report = wangge_testkit::replay(
            &mut std::io::Cursor::new(text.as_bytes()),
            &sets,
            &wangge_testkit::ReplayOptions::default(),
        )
        .unwrap();
        let secs = start.elapsed().as_secs_f64();
        println!(
            "replay (case-parallel, {label}): {events} events, {} lines in {secs:.2} s = {:.0} events/s, {:.0} lines/s; {} timers fired, {} refused, {} changed",
            report.lines,
            events as f64 / secs,
            report.lines as f64 / secs,
            report.totals[0].timers_fired,
            report.totals[0].refused_actions,
            report.diff.map_or(0, |d| d.changed_cases),
        );
    }
}
