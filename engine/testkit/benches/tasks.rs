//! Tasks sent down (a bench binary, release): one 街道 over 1,200 社区,
//! 12,000 一般网格 and 120,000 微网格 in an on-disk sled store (fsync on).
//! Times the fan-out of 燃气入户排查 to every 微网格 (durable), the progress
//! roll-up by 社区, by 一般网格 and at every level after some units are done,
//! completions (one durable write each), the overdue mark, and reopening
//! the service (the task read back from storage).
//!
//! `cargo bench -p wangge-testkit --bench tasks [-- --grids N --done N]`

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Instant;

use wangge_app::org::Unit;
use wangge_app::{Organisation, TaskService};
use wangge_policy::{parse_ts, Completion, ManualClock, PolicySet};
use wangge_store::prelude::*;
use wangge_store_sled::SledStore;
use wangge_testkit::bench::arg;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn unit(id: String, level: &str, parent: Option<String>) -> Unit {
    Unit {
        name: id.clone(),
        id,
        level: level.into(),
        parent,
        households: 40,
        rural: false,
        kind: None,
        party_members: 1,
        organizations: 1,
        probationary_members: 0,
        ladder: None,
    }
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

fn main() {
    let grids: u64 = arg("--grids", 120_000);
    let done: u64 = arg("--done", 20_000);
    let set: Arc<PolicySet> = wangge_testkit::fixtures::shipped().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SledStore::open(tmp.path(), 512 << 20).unwrap());
    let mut units = vec![unit("S1".into(), "街道", None)];
    for c in 0..grids / 100 {
        units.push(unit(format!("C{c:04}"), "社区", Some("S1".into())));
    }
    for g in 0..grids / 10 {
        units.push(unit(
            format!("G{g:05}"),
            "一般网格",
            Some(format!("C{:04}", g / 10)),
        ));
    }
    for m in 0..grids {
        units.push(unit(
            format!("WG-{m:06}"),
            "微网格",
            Some(format!("G{:05}", m / 10)),
        ));
    }
    store.put_units(&units).unwrap();
    let org = Arc::new(Organisation::new(store.clone()));
    org.directory().unwrap();
    let start = parse_ts("2026-09-14T09:00:00+08:00").unwrap();
    let clock = Arc::new(ManualClock::new(start));
    let tasks = TaskService::open(store.clone(), org.clone(), clock.clone()).unwrap();
    println!("setup: {} units", units.len());

    let t = Instant::now();
    let h = tasks
        .create(&set, "燃气入户排查", "S1", "入户排查", "Z1")
        .unwrap();
    println!("fan-out to {} 微网格 (durable): {:.0} ms", h.units, ms(t));

    let photo = Completion {
        count: Some(40),
        checked: vec!["查阀门".into(), "查软管".into(), "发放告知书".into()],
        attachment: Some("photo".into()),
    };
    let t = Instant::now();
    for m in (0..grids)
        .step_by((grids / done.max(1)).max(1) as usize)
        .take(done as usize)
    {
        tasks
            .complete(h.id, &format!("WG-{m:06}"), "W", photo.clone())
            .unwrap();
    }
    let secs = t.elapsed().as_secs_f64();
    println!(
        "{done} completions, one durable write each: {secs:.2} s = {:.0}/s",
        done as f64 / secs
    );

    clock.set(start + 2 * 3600);
    for (what, level) in [
        ("社区", Some("社区")),
        ("一般网格", Some("一般网格")),
        ("every level", None),
    ] {
        let mut best = f64::MAX;
        let mut rows = 0;
        for _ in 0..5 {
            let t = Instant::now();
            let p = tasks.progress(h.id, level, None).unwrap();
            best = best.min(ms(t));
            rows = p.rows.len();
            assert_eq!(p.totals.done, done);
        }
        println!("roll-up by {what} ({rows} rows): best of 5 {best:.1} ms");
    }

    clock.set(start + 3 * 3600 + 1);
    let t = Instant::now();
    let fired = tasks.fire_due().unwrap();
    println!("reminder + overdue mark ({fired} events): {:.1} ms", ms(t));
    let t = Instant::now();
    let p = tasks.progress(h.id, Some("社区"), None).unwrap();
    println!(
        "roll-up after the limit ({} late): {:.1} ms",
        p.totals.late,
        ms(t)
    );

    drop(tasks);
    let t = Instant::now();
    let reopened = TaskService::open(store.clone(), org, clock).unwrap();
    let p = reopened.progress(h.id, Some("社区"), None).unwrap();
    println!(
        "reopen and first roll-up (the task read back, {} done): {:.0} ms",
        p.totals.done + p.totals.done_late,
        ms(t)
    );
}
