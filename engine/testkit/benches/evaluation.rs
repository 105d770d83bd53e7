//! Scoring a quarter (a bench binary, release): a city of 120,000 micro
//! grids (12,000 一般网格, 1,200 社区, 60 街道) in an on-disk sled store, a
//! generated history of two quarters replayed into it (so the index can be
//! compared with the previous quarter), then `Evaluation::score_level` of
//! the shipped 星级网格 for 2026-Q3: every micro grid's figures from the
//! case records (rolled up), the 社情指数 now and before, scoring, and
//! storing every score.
//!
//! `cargo bench -p wangge-testkit --bench evaluation [-- --events N]`

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Instant;

use wangge_app::org::Unit;
use wangge_app::CaseService;
use wangge_app::Evaluation;
use wangge_policy::parse_ts;
use wangge_policy::ManualClock;
use wangge_policy::PolicySet;
use wangge_store::prelude::*;
use wangge_store_sled::SledStore;
use wangge_testkit::{generate, replay_through_service as replay, GenConfig};

use wangge_testkit::bench::arg;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn unit(id: String, level: &str, parent: Option<String>, households: i64) -> Unit {
    Unit {
        name: id.clone(),
        id,
        level: level.into(),
        parent,
        households,
        rural: false,
        kind: None,
        party_members: 3,
        organizations: 1,
        probationary_members: 0,
        ladder: None,
    }
}

fn main() {
    let events: u64 = arg("--events", 250_000);
    let grids: u64 = arg("--grids", 120_000);
    let set: Arc<PolicySet> = wangge_testkit::fixtures::shipped().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SledStore::open_bulk(tmp.path(), 512 << 20).unwrap());
    let started = Instant::now();
    let mut units = Vec::new();
    for s in 0..grids / 2000 {
        units.push(unit(format!("S{s:02}"), "街道", None, 0));
    }
    for c in 0..grids / 100 {
        units.push(unit(
            format!("C{c:04}"),
            "社区",
            Some(format!("S{:02}", c / 20)),
            0,
        ));
    }
    for g in 0..grids / 10 {
        units.push(unit(
            format!("G{g:05}"),
            "一般网格",
            Some(format!("C{:04}", g / 10)),
            0,
        ));
    }
    for m in 0..grids {
        units.push(unit(
            format!("WG-{m:06}"),
            "微网格",
            Some(format!("G{:05}", m / 10)),
            30 + (m as i64 * 37) % 71,
        ));
    }
    store.put_units(&units).unwrap();
    let cfg = GenConfig {
        micro_grids: grids,
        events,
        days: 183,
        seed: 7,
        start: parse_ts("2026-04-01T00:00:00+08:00").unwrap(),
    };
    let mut log = Vec::new();
    generate(&cfg, &mut log).unwrap();
    let text = String::from_utf8(log).unwrap();
    let clock = Arc::new(ManualClock::new(cfg.start));
    let cases = CaseService::new(store.clone(), set.clone(), clock.clone());
    let stats = replay(&cases, &clock, text.lines().map(|l| Ok(l.to_string()))).unwrap();
    store.flush().unwrap();
    println!(
        "setup: {} units, {} cases ({} lines) replayed over 2026-Q2 and Q3 in {:.1} s",
        units.len(),
        stats.reports,
        stats.lines,
        started.elapsed().as_secs_f64()
    );
    let eval = Evaluation::new(store.clone());
    for round in 1..=2 {
        let t = Instant::now();
        let s = eval.score_level(&set, "星级网格", "2026-Q3", 0).unwrap();
        let secs = t.elapsed().as_secs_f64();
        println!(
            "score 星级网格 2026-Q3 (run {round}): {} micro grids in {secs:.2} s = {:.0} grids/s; stars 0–5 {:?}, average {}",
            s.scored,
            s.scored as f64 / secs,
            s.by_stars,
            s.average
        );
    }
    let t = Instant::now();
    let s = eval
        .score_level(&set, "星级一般网格", "2026-Q3", 0)
        .unwrap();
    println!(
        "score 星级一般网格 2026-Q3: {} grids in {:.2} s",
        s.scored,
        t.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    let h = eval.history("星级网格", "WG-000042").unwrap();
    println!(
        "one grid's history: {} period(s) in {:.1} ms",
        h.len(),
        t.elapsed().as_secs_f64() * 1000.0
    );
}
