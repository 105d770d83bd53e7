//! The synthetic history generator: deterministic, time-ordered, and
//! replayable through the shipped workflow without errors.

use std::path::Path;
use std::sync::Arc;

use crate::calendar::parse_ts;
use crate::cases::CaseService;
use crate::clock::ManualClock;
use crate::history::{generate, GenConfig, Record};
use crate::store::{SledStore, Store};
use crate::{compile, RhaiHost};

fn cfg(seed: u64) -> GenConfig {
    GenConfig {
        micro_grids: 50,
        events: 300,
        days: 5,
        seed,
        start: parse_ts("2026-09-14T00:00:00+08:00").unwrap(),
    }
}

fn lines(seed: u64) -> Vec<u8> {
    let mut out = Vec::new();
    generate(&cfg(seed), &mut out).unwrap();
    out
}

#[test]
fn the_same_seed_gives_the_same_log_and_another_seed_another() {
    assert_eq!(lines(7), lines(7));
    assert_ne!(lines(7), lines(8));
}

#[test]
fn the_log_is_time_ordered_with_one_report_per_event() {
    let text = String::from_utf8(lines(1)).unwrap();
    let records: Vec<Record> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(records.windows(2).all(|w| w[0].at() <= w[1].at()));
    let reports = records
        .iter()
        .filter(|r| matches!(r, Record::Report { .. }))
        .count();
    assert_eq!(reports, 300);
    // Every action follows its report.
    let mut reported = std::collections::HashSet::new();
    for r in &records {
        match r {
            Record::Report { case_ref, .. } => {
                reported.insert(*case_ref);
            }
            Record::Act { case_ref, .. } => assert!(reported.contains(case_ref)),
        }
    }
}

#[test]
fn a_generated_log_replays_through_the_shipped_workflow() {
    replay_with(Arc::new(SledStore::temporary().unwrap()));
}

#[test]
fn the_in_memory_store_replays_to_the_same_cases_as_sled() {
    let a = replay_with(Arc::new(SledStore::temporary().unwrap()));
    let b = replay_with(Arc::new(crate::mem_store::MemStore::new()));
    assert_eq!(a, b);
    let c = replay_with(Arc::new(crate::mem_store::MemStore::lean()));
    assert_eq!(a, c);
}

/// Replays the seed-3 log; returns every case.
fn replay_with(store: Arc<dyn Store>) -> Vec<crate::case::Case> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies");
    let set = Arc::new(
        compile(
            wangge_dsl::source::load(&dir).unwrap(),
            &RhaiHost::default(),
        )
        .set
        .unwrap(),
    );
    let clock = Arc::new(ManualClock::new(cfg(3).start));
    let svc = CaseService::new(store, set, clock.clone());
    let text = String::from_utf8(lines(3)).unwrap();
    let stats =
        crate::history::replay(&svc, &clock, text.lines().map(|l| Ok(l.to_string()))).unwrap();
    let failed = stats.refused;
    assert_eq!(stats.reports, 300);
    assert!(stats.timers_fired > 0);
    assert_eq!(failed, 0);
    assert_eq!(svc.store().case_count(), 300);
    let mut escalated = 0;
    svc.store()
        .scan_cases(&mut |c| {
            escalated += usize::from(c.escalations > 0);
            true
        })
        .unwrap();
    assert!(escalated > 0, "slow cases climb");
    let mut all = Vec::new();
    svc.store()
        .scan_cases(&mut |c| {
            all.push(c);
            true
        })
        .unwrap();
    all
}
