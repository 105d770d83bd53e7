//! Filtered listings answered from the sled backend's listing index agree
//! with a scan of every stored case, page by page, and the case facts it
//! gives evaluation and incentives are those of the stored cases, before
//! and after a restart (when the index is rebuilt from the stored cases).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use wangge_app::{CaseFilter, CaseService, Report};
use wangge_policy::{parse_ts, Action, Actor, Case, ManualClock, Timestamp};
use wangge_store::prelude::*;
use wangge_store::CaseFact;
use wangge_store_sled::SledStore;

const CATEGORIES: [&str; 6] = [
    "垃圾堆放",
    "物业纠纷",
    "燃气安全",
    "噪音扰民",
    "群体性聚集",
    "占道经营",
];

fn t(s: &str) -> Timestamp {
    parse_ts(s).unwrap_or_else(|| panic!("bad time {s}"))
}

fn open(dir: &std::path::Path, clock: Arc<ManualClock>) -> (CaseService, Arc<SledStore>) {
    let sled = Arc::new(SledStore::open(dir, 8 << 20).unwrap());
    assert!(
        sled.wait_indexed(Duration::from_secs(20)),
        "the index is built"
    );
    let store: Arc<dyn Store> = sled.clone();
    (
        CaseService::new(store, crate::fixtures::shipped().unwrap(), clock),
        sled,
    )
}

/// 240 cases in 8 units: 120 (every 12th a 微心愿), a third taken on,
/// then the clock a month on (escalations, breaches, overdue wishes,
/// closed and open cases); then 120 more, recent, with limits pending.
fn populate(svc: &CaseService, clock: &ManualClock) {
    let who = Actor {
        on_behalf: None,
        actor: "处置人".into(),
        note: None,
    };
    for i in 0..240u64 {
        let (workflow, data) = if i % 12 == 11 && i < 120 {
            ("微心愿", json!({"内容": "代购药品"}))
        } else {
            (
                "事件处置",
                json!({"类别": CATEGORIES[(i % 6) as usize], "人数": (i % 40) as i64 + 1, "风险": (i % 4) as i64 + 1}),
            )
        };
        let c = svc
            .report(Report {
                on_behalf: None,
                workflow: workflow.into(),
                unit: Some(format!("WG-{:03}", i % 8)),
                data,
                idempotency_key: None,
                actor: "网格员".into(),
            })
            .unwrap()
            .0;
        let step = |name: &str, outcome: Option<&str>| {
            let go = Action::Transition {
                name: name.into(),
                outcome: outcome.map(str::to_string),
                assignee: None,
            };
            svc.act(c.id, &go, &who, None).unwrap();
        };
        if i % 3 == 0 && workflow == "事件处置" {
            step("立案", None);
        } else if i % 10 == 4 && workflow == "事件处置" {
            // The resident's feedback: satisfied cases are checked and
            // closed, the others go back for rework (返工).
            let satisfied = i % 20 == 4;
            step("立案", None);
            step("派遣", None);
            step("处置", None);
            step("反馈", Some(if satisfied { "满意" } else { "不满意" }));
            if satisfied {
                step("核查", Some("合格"));
            }
        }
        if i == 119 {
            clock.advance(30 * 24 * 3600);
            svc.fire_due().unwrap();
        } else if i % 40 == 39 {
            clock.advance(3 * 3600);
            svc.fire_due().unwrap();
        }
    }
}

fn filters(all: &[Case]) -> Vec<CaseFilter> {
    let units = |n: &[&str]| Some(n.iter().map(|s| s.to_string()).collect::<HashSet<_>>());
    let mid = all[all.len() / 2].created_at;
    let deadlines: Vec<Timestamp> = all
        .iter()
        .filter_map(|c| c.next_deadline().map(|d| d.due))
        .collect();
    let (d_lo, d_hi) = (
        deadlines.iter().min().copied(),
        deadlines.iter().max().copied(),
    );
    let f = CaseFilter::default;
    vec![
        f(),
        CaseFilter {
            state: Some(all[0].state.clone()),
            ..f()
        },
        CaseFilter {
            state: Some(all[1].state.clone()),
            ..f()
        },
        CaseFilter {
            class: Some("大事".into()),
            ..f()
        },
        CaseFilter {
            class: Some("小事".into()),
            level: Some(all[5].level.clone()),
            ..f()
        },
        CaseFilter {
            units: units(&["WG-001", "WG-006"]),
            ..f()
        },
        CaseFilter {
            units: units(&["WG-404"]),
            ..f()
        },
        CaseFilter {
            breached: true,
            ..f()
        },
        CaseFilter {
            breached: true,
            state: Some(all[200].state.clone()),
            ..f()
        },
        CaseFilter {
            overdue: true,
            ..f()
        },
        CaseFilter {
            breached: true,
            units: units(&["WG-003"]),
            ..f()
        },
        CaseFilter {
            created_from: Some(mid),
            ..f()
        },
        CaseFilter {
            created_to: Some(mid),
            class: Some("难事".into()),
            ..f()
        },
        CaseFilter {
            deadline_from: d_lo,
            deadline_to: d_hi,
            ..f()
        },
        CaseFilter {
            deadline_to: Some(t("2100-01-01T00:00:00+08:00")),
            ..f()
        },
        CaseFilter {
            workflow: Some("微心愿".into()),
            ..f()
        },
        CaseFilter {
            state: Some("没有的状态".into()),
            ..f()
        },
    ]
}

/// Every filter: the index is used, and its pages (of 7) together are
/// exactly the scan's matches in id order.
fn check(svc: &CaseService, sled: &SledStore) {
    let mut all = Vec::new();
    sled.scan_cases(&mut |c| {
        all.push(c);
        true
    })
    .unwrap();
    assert_eq!(all.len(), 240);
    let mut seen_some = 0;
    for f in filters(&all) {
        let want: Vec<u64> = all.iter().filter(|c| f.matches(c)).map(|c| c.id).collect();
        seen_some += usize::from(!want.is_empty());
        assert!(
            sled.find(&f, 1, 7).unwrap().is_some(),
            "the index answers {f:?}"
        );
        let mut got = Vec::new();
        let mut from = 1;
        loop {
            let (page, next) = svc.list(&f, from, 7).unwrap();
            assert!(page.len() <= 7);
            got.extend(page.iter().map(|c| c.id));
            match next {
                Some(n) => from = n,
                None => break,
            }
        }
        assert_eq!(got, want, "filter {f:?}");
    }
    assert!(
        seen_some >= 14,
        "the filters select something ({seen_some})"
    );
    check_facts(sled, &all);
}

/// The facts scan (from the index) gives each stored case's facts, in id
/// order, for the whole store and for a range, and stops when told to.
fn check_facts(sled: &SledStore, all: &[Case]) {
    let facts = |from: u64, to: u64, stop_after: usize| {
        let mut out = Vec::new();
        sled.scan_facts(from, to, &mut |f| {
            out.push(format!("{f:?}"));
            out.len() < stop_after
        })
        .unwrap();
        out
    };
    let want: Vec<String> = all
        .iter()
        .map(|c| format!("{:?}", CaseFact::of(c)))
        .collect();
    assert_eq!(facts(0, u64::MAX, usize::MAX), want);
    assert_eq!(facts(5, 17, usize::MAX), want[4..16].to_vec());
    assert_eq!(facts(1, u64::MAX, 3), want[..3].to_vec());
    let closed = all.iter().filter(|c| c.closed_at.is_some()).count();
    let feedback = all.iter().filter(|c| !c.outcomes.is_empty()).count();
    assert!(
        closed >= 5 && feedback >= 10,
        "{closed} closed, {feedback} with outcomes"
    );
}

#[test]
fn the_listing_index_answers_as_a_scan_does_before_and_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(t("2026-09-14T10:00:00+08:00")));
    {
        let (svc, sled) = open(dir.path(), clock.clone());
        populate(&svc, &clock);
        svc.store().flush().unwrap();
        check(&svc, &sled);
    }
    let (svc, sled) = open(dir.path(), clock);
    check(&svc, &sled);
}

/// 待办 looks at the most urgent cases first: with more open cases than it
/// looks at, the nearest deadlines are kept, not the lowest ids (before,
/// the first `scan` ids were read and sorted, so a 大事 reported after
/// them never showed).
#[test]
fn todo_looks_at_the_nearest_deadlines_first_not_the_lowest_ids() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(t("2026-09-14T10:00:00+08:00")));
    let (svc, _sled) = open(dir.path(), clock);
    let report = |data: serde_json::Value| {
        svc.report(Report {
            on_behalf: None,
            workflow: "事件处置".into(),
            unit: Some("WG-001".into()),
            data,
            idempotency_key: None,
            actor: "网格员".into(),
        })
        .unwrap()
        .0
        .id
    };
    // Five small matters (3 工作时), then five 大事 (1 hour, round the clock).
    for _ in 0..5 {
        report(json!({"类别": "垃圾堆放", "人数": 1, "风险": 1}));
    }
    let urgent: Vec<u64> = (0..5)
        .map(|_| report(json!({"类别": "群体性聚集", "人数": 50, "风险": 4})))
        .collect();
    let got = svc
        .todo(&CaseFilter::default(), None, (5, 5), &mut |_| true)
        .unwrap();
    let ids: Vec<u64> = got.iter().map(|c| c.id).collect();
    assert_eq!(ids, urgent, "the five nearest deadlines");
    // Asked for fewer, the nearest still come first.
    let two = svc
        .todo(&CaseFilter::default(), None, (50, 2), &mut |_| true)
        .unwrap();
    assert_eq!(
        two.iter().map(|c| c.id).take(2).collect::<Vec<_>>(),
        urgent[..2]
    );
}
