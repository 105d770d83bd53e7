//! The synthetic history generator: deterministic, time-ordered, and
//! replayable through the shipped workflow without errors.

use std::sync::Arc;

use crate::history::{generate, GenConfig, Record};
use wangge_app::CaseService;
use wangge_policy::parse_ts;
use wangge_policy::ManualClock;
use wangge_policy::RhaiHost;
use wangge_store::prelude::*;
use wangge_store_sled::SledStore;

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
    let b = replay_with(Arc::new(wangge_store::MemStore::new()));
    assert_eq!(a, b);
    let c = replay_with(Arc::new(wangge_store::MemStore::lean()));
    assert_eq!(a, c);
}

/// Replays the seed-3 log; returns every case.
fn replay_with(store: Arc<dyn Store>) -> Vec<wangge_policy::Case> {
    let set = crate::fixtures::shipped().unwrap();
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

fn shipped_files() -> Vec<(String, String)> {
    let dir = crate::fixtures::policies_dir();
    wangge_app::read_dir(&dir).unwrap()
}

fn compiled(files: &[(String, String)]) -> wangge_policy::PolicySet {
    wangge_app::compile_files(files, &RhaiHost::default())
        .set
        .unwrap()
}

fn fast_replay(log: &[u8], sets: &[&wangge_policy::PolicySet]) -> crate::replay::ReplayReport {
    crate::replay::replay(
        &mut std::io::Cursor::new(log),
        sets,
        &crate::replay::ReplayOptions {
            workers: 2,
            keep_cases: true,
        },
    )
    .unwrap()
}

#[test]
fn the_case_parallel_replay_agrees_with_a_replay_through_the_case_service() {
    let cases = replay_with(Arc::new(wangge_store::MemStore::lean()));
    let set = compiled(&shipped_files());
    let report = fast_replay(&lines(3), &[&set]);
    let t = &report.totals[0];
    assert_eq!((report.lines, report.reports), (1741, 300), "{report:?}");
    assert_eq!(t.cases, cases.len() as u64);
    let count =
        |f: &dyn Fn(&wangge_policy::Case) -> bool| cases.iter().filter(|c| f(c)).count() as u64;
    assert_eq!(t.closed, count(&|c| c.closed_at.is_some()));
    assert_eq!(t.escalated_cases, count(&|c| c.escalations > 0));
    assert_eq!(
        t.escalations,
        cases.iter().map(|c| u64::from(c.escalations)).sum::<u64>()
    );
    assert_eq!(t.breached_cases, count(&|c| c.breached()));
    assert_eq!(t.overdue_cases, count(&|c| c.overdue > 0));
    assert_eq!(t.reopened_cases, count(&|c| c.reopened > 0));
    let mut by_level = std::collections::BTreeMap::new();
    for c in &cases {
        *by_level.entry(c.level.clone()).or_insert(0u64) += 1;
    }
    assert_eq!(t.by_final_level, by_level);
    assert_eq!(t.refused_actions, 0);
}

#[test]
fn replay_of_a_log_through_the_same_version_reports_no_difference() {
    let set = compiled(&shipped_files());
    let report = fast_replay(&lines(3), &[&set, &set]);
    let diff = report.diff.unwrap();
    assert_eq!(diff.changed_cases, 0);
    assert!(report.cases.is_empty());
    assert_eq!(report.totals[0], report.totals[1]);
}

#[test]
fn replay_through_a_version_with_one_changed_row_reports_exactly_the_affected_cases() {
    let before = shipped_files();
    let mut after = before.clone();
    let row = "| in 矛盾纠纷  | -             | -           || \"难事\"                         | 社区     |";
    let changed = "| in 矛盾纠纷  | -             | -           || \"小事\"                         | 一般网格 |";
    let file = after
        .iter_mut()
        .find(|(name, _)| name == "事件分级.wg")
        .unwrap();
    assert!(file.1.contains(row));
    file.1 = file.1.replace(row, changed);
    let (a, b) = (compiled(&before), compiled(&after));
    let log = lines(3);
    // The cases the changed row decides differently, found independently.
    let mut expected = Vec::new();
    for l in String::from_utf8(log.clone()).unwrap().lines() {
        if let Record::Report { case_ref, data, .. } = serde_json::from_str(l).unwrap() {
            let x = a.evaluate_args("事件分级", &[&data]).unwrap().result;
            let y = b.evaluate_args("事件分级", &[&data]).unwrap().result;
            if x != y {
                expected.push(case_ref);
            }
        }
    }
    expected.sort_unstable();
    assert!(!expected.is_empty(), "the seed-3 log has disputes");
    let report = fast_replay(&log, &[&a, &b]);
    let got: Vec<u64> = report.cases.iter().map(|c| c.case_ref).collect();
    assert_eq!(got, expected);
    let diff = report.diff.unwrap();
    assert_eq!(diff.changed_cases, expected.len() as u64);
    assert_eq!(
        diff.by_aspect.get(&crate::replay::Aspect::Class),
        Some(&(expected.len() as u64))
    );
    assert_eq!(
        diff.moves[&crate::replay::Aspect::Class].get("难事 → 小事"),
        Some(&(expected.len() as u64))
    );
    for c in &report.cases {
        assert!(c
            .changes
            .iter()
            .any(|ch| ch.aspect == crate::replay::Aspect::HandlingLevel
                && ch.before == "社区"
                && ch.after == "一般网格"));
    }
}

#[test]
fn a_bad_line_is_an_error_with_its_number() {
    let set = compiled(&shipped_files());
    let mut log = lines(3);
    log.extend_from_slice(
        b"{\"type\":\"act\",\"at\":1,\"ref\":2,\"action\":\"\xe7\xab\x8b\xe6\xa1\x88\"}\n",
    );
    let err = crate::replay::replay(
        &mut std::io::Cursor::new(&log),
        &[&set],
        &crate::replay::ReplayOptions::default(),
    )
    .unwrap_err();
    assert_eq!(err.line, 1742);
    assert!(err.message.contains("time order"), "{err}");
    let err = crate::replay::replay(
        &mut std::io::Cursor::new(b"{\"type\":\"act\",\"ref\":1}\n".as_slice()),
        &[&set],
        &crate::replay::ReplayOptions::default(),
    )
    .unwrap_err();
    assert_eq!(err.line, 1);
    assert!(err.message.contains("`at`"), "{err}");
}

#[test]
fn an_export_replays_to_the_cases_it_came_from() {
    let store = Arc::new(SledStore::temporary().unwrap());
    let cases = replay_with(store.clone());
    let mut out = Vec::new();
    let stats = crate::export::export(&*store, None, None, &mut out).unwrap();
    assert_eq!(stats.cases, 300);
    let text = String::from_utf8(out.clone()).unwrap();
    let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(first["type"], "report");
    assert!(first["result"]["class"].is_string(), "{first}");
    assert!(
        text.contains("\"type\":\"timer\""),
        "escalations are exported"
    );
    let set = compiled(&shipped_files());
    let report = fast_replay(&out, &[&set, &set]);
    assert_eq!(report.reports, 300);
    assert_eq!(report.diff.unwrap().changed_cases, 0);
    let t = &report.totals[0];
    assert_eq!(t.cases, 300);
    assert_eq!(t.refused_actions, 0);
    assert_eq!(
        t.escalations,
        cases.iter().map(|c| u64::from(c.escalations)).sum::<u64>()
    );
    assert_eq!(
        t.breaches,
        cases.iter().map(|c| c.breaches.len() as u64).sum::<u64>()
    );
    // A time window keeps the cases reported in it.
    let start = cfg(3).start;
    let mut window = Vec::new();
    let part =
        crate::export::export(&*store, Some(start), Some(start + 86_400), &mut window).unwrap();
    assert!(part.cases > 0 && part.cases < 300, "{part:?}");
}
