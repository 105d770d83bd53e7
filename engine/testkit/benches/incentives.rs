//! Settling a month (a bench binary, release): 133,000 micro-grid workers in
//! an on-disk sled store, a month of cases they reported and handled (83,000
//! by default, the generated history's monthly rate) and three activity
//! records each; then `Incentives::settle` for the whole month — gathering
//! figures from the stored cases and events, computing every subsidy through
//! the shipped policy, and writing every settlement durably.
//!
//! `cargo bench -p wangge-testkit --bench incentives [-- --workers N --cases N]`

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use rust_decimal::Decimal;
use serde_json::json;
use wangge_app::org::Person;
use wangge_app::{CaseService, Report};
use wangge_app::{Incentives, NewActivity};
use wangge_policy::parse_ts;
use wangge_policy::ManualClock;
use wangge_policy::PolicySet;
use wangge_policy::{Action, Actor};
use wangge_store::prelude::*;
use wangge_store_sled::SledStore;

use wangge_testkit::bench::arg;

/// The categories the month's cases are drawn from (small and hard matters
/// a micro-grid worker handles).
const CATEGORIES: &[&str] = &[
    "垃圾堆放",
    "占道经营",
    "噪音扰民",
    "邻里纠纷",
    "物业纠纷",
    "设施损坏",
];

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let workers: usize = arg("--workers", 133_000);
    let n_cases: usize = arg("--cases", 83_000);
    let set: Arc<PolicySet> = wangge_testkit::fixtures::shipped().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SledStore::open(tmp.path(), 256 << 20).unwrap());
    let clock = Arc::new(ManualClock::new(
        parse_ts("2026-09-14T09:00:00+08:00").unwrap(),
    ));
    let cases = Arc::new(CaseService::new(store.clone(), set.clone(), clock.clone()));
    let inc = Incentives::new(store.clone());

    let started = Instant::now();
    let people: Vec<Person> = (0..workers)
        .map(|i| Person {
            id: format!("P{i:06}"),
            name: format!("网格员{i}"),
            role: if i.is_multiple_of(20) {
                "专职网格员"
            } else {
                "微网格员"
            }
            .into(),
            unit: Some(format!("WG-{i:06}")),
            party_member: i % 3 == 0,
            probationary: false,
            also: Vec::new(),
        })
        .collect();
    store.put_people(&people).unwrap();
    let reports: Vec<Report> = (0..n_cases)
        .map(|i| {
            let w = (i * 7919) % workers;
            Report {
                on_behalf: None,
                workflow: "事件处置".into(),
                unit: Some(format!("WG-{w:06}")),
                data: json!({"类别": CATEGORIES[i % CATEGORIES.len()], "人数": 1 + i % 3, "风险": 1}),
                idempotency_key: None,
                actor: format!("P{w:06}"),
            }
        })
        .collect();
    let ids: Vec<(u64, String)> = cases
        .report_many(reports.clone())
        .into_iter()
        .zip(&reports)
        .map(|(r, rep)| (r.unwrap().0.id, rep.actor.clone()))
        .collect();
    let next = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..64 {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some((id, who)) = ids.get(i) else { break };
                let steps: &[(&str, Option<&str>)] = if i.is_multiple_of(10) {
                    &[
                        ("立案", None),
                        ("派遣", None),
                        ("处置", None),
                        ("反馈", Some("不满意")),
                    ]
                } else {
                    &[
                        ("立案", None),
                        ("派遣", None),
                        ("处置", None),
                        ("反馈", Some("满意")),
                        ("核查", Some("合格")),
                    ]
                };
                for (name, outcome) in steps {
                    cases
                        .act(
                            *id,
                            &Action::Transition {
                                name: (*name).into(),
                                outcome: outcome.map(str::to_string),
                                assignee: None,
                            },
                            &Actor {
                                on_behalf: None,
                                actor: who.clone(),
                                note: None,
                            },
                            None,
                        )
                        .unwrap();
                }
            });
        }
    });
    let mut batch = Vec::with_capacity(workers * 3);
    for p in &people {
        for (kind, qty) in [("入户走访", "12"), ("巡查时长", "22.5"), ("关爱巡访", "3")]
        {
            if p.role == "专职网格员" && kind == "关爱巡访" {
                continue;
            }
            batch.push(NewActivity {
                person: p.id.clone(),
                kind: kind.into(),
                quantity: qty.parse::<Decimal>().unwrap(),
                period: "2026-09".into(),
                unit: p.unit.clone(),
                key: format!("{}-{kind}", p.id),
                note: None,
                correction: false,
            });
        }
    }
    let n_acts = batch.len();
    for r in inc.record_activities(&set, batch, 0).unwrap() {
        r.unwrap();
    }
    println!(
        "setup: {workers} workers, {n_cases} cases handled, {n_acts} activity records in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // A month is settled once it is over.
    let october = wangge_policy::parse_ts("2026-10-01T00:00:00+08:00").unwrap();
    let t = Instant::now();
    let summary = inc.settle(&set, "2026-09", &[], october, 2).unwrap();
    let n = summary.created + summary.existing;
    let secs = t.elapsed().as_secs_f64();
    println!(
        "settle 2026-09: {n} settlements ({} new) totalling {} 元 in {secs:.2} s = {:.0} workers/s",
        summary.created,
        summary.total,
        n as f64 / secs
    );
    let t = Instant::now();
    let again = inc.settle(&set, "2026-09", &[], october + 1, 2).unwrap();
    println!(
        "settle again (all existing, returned unchanged): {} in {:.2} s",
        again.existing,
        t.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    let p = inc.preview(&set, "P000001", "2026-09", 3).unwrap();
    println!(
        "one preview (gathers the month): {:.1} ms, total {}",
        t.elapsed().as_secs_f64() * 1000.0,
        p.breakdown.total
    );
    let t = Instant::now();
    let list = inc.settlements("2026-09", Some("P000001")).unwrap();
    println!(
        "one person's settlements read back: {} in {:.1} ms",
        list.len(),
        t.elapsed().as_secs_f64() * 1000.0
    );
}
