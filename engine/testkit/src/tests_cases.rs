//! Case workflow tests on the shipped policies: ceilings, clocks across
//! nights, weekends, holidays and make-up workdays, pause/resume, reopen,
//! department report-in, invalid actions, idempotency, version conflicts,
//! and recovery after a crash.

use std::path::Path;
use std::sync::Arc;

use serde_json::{json, Value};
use wangge_dsl::ast::ClockKind;

use wangge_app::AppError;
use wangge_app::{CaseService, Report};
use wangge_policy::Case;
use wangge_policy::CaseError;
use wangge_policy::PolicySet;
use wangge_policy::{format_ts, parse_ts};
use wangge_policy::{Action, Actor};
use wangge_policy::{ManualClock, Timestamp};
use wangge_store::prelude::*;
use wangge_store_sled::SledStore;

const HOUR: i64 = 3600;

fn shipped() -> Arc<PolicySet> {
    crate::fixtures::shipped().unwrap()
}

fn t(s: &str) -> Timestamp {
    parse_ts(s).unwrap_or_else(|| panic!("bad time {s}"))
}

fn show(ts: Timestamp) -> String {
    format_ts(ts, 8 * HOUR)
}

struct World {
    svc: CaseService,
    clock: Arc<ManualClock>,
}

fn world(now: &str) -> World {
    let clock = Arc::new(ManualClock::new(t(now)));
    let store: Arc<dyn Store> = Arc::new(SledStore::temporary().unwrap());
    World {
        svc: CaseService::new(store, shipped(), clock.clone()),
        clock,
    }
}

impl World {
    fn report(&self, data: Value) -> Case {
        self.report_wf("事件处置", data)
    }

    fn report_wf(&self, wf: &str, data: Value) -> Case {
        self.svc
            .report(Report {
                on_behalf: None,
                workflow: wf.into(),
                unit: Some("WG-001".into()),
                data,
                idempotency_key: None,
                actor: "网格员甲".into(),
            })
            .unwrap()
            .0
    }

    fn act(&self, id: u64, action: &str) -> Result<Case, AppError> {
        let (name, outcome) = match action.split_once(' ') {
            Some((n, o)) => (n.to_string(), Some(o.to_string())),
            None => (action.to_string(), None),
        };
        let action = match name.as_str() {
            "escalate" => Action::Escalate,
            "pause" => Action::Pause,
            "resume" => Action::Resume,
            _ => Action::Transition {
                name,
                outcome,
                assignee: None,
            },
        };
        self.svc.act(
            id,
            &action,
            &Actor {
                on_behalf: None,
                actor: "处置人".into(),
                note: None,
            },
            None,
        )
    }

    /// Sets the clock and fires what is due: how many time limits ran out
    /// (reminders fire too, but are not counted).
    fn at(&self, when: &str) -> usize {
        self.clock.set(t(when));
        let from = self.svc.feed().next_sequence();
        let fired = self.svc.fire_due().unwrap();
        let changes = self.svc.changes(from, usize::MAX).unwrap();
        let limits = changes
            .iter()
            .filter(|(_, e)| !matches!(e.action.as_str(), "remind" | "incident"))
            .count();
        assert!(limits <= fired);
        limits
    }

    fn get(&self, id: u64) -> Case {
        self.svc.get(id).unwrap()
    }

    fn due(&self, id: u64) -> Vec<String> {
        let mut d: Vec<_> = (self.get(id).deadlines.iter())
            .filter(|d| !d.kind.is_reminder())
            .map(|d| show(d.due))
            .collect();
        d.sort();
        d
    }
}

fn small() -> Value {
    json!({"类别": "垃圾堆放", "人数": 1, "风险": 1})
}

fn hard() -> Value {
    json!({"类别": "物业纠纷", "人数": 2, "风险": 1})
}

fn big() -> Value {
    json!({"类别": "群体性聚集", "人数": 50, "风险": 2})
}

mod ceilings {
    use super::*;

    #[test]
    fn small_matter_closed_in_the_grid_is_not_a_breach() {
        // Mon 2026-09-14 10:00; 3h 工作时 at 微网格: 10:00–12:00, 13:30–14:30.
        let w = world("2026-09-14T10:00:00+08:00");
        let c = w.report(small());
        assert_eq!(
            (c.class.as_deref(), c.level.as_str(), c.ceiling.as_deref()),
            (Some("小事"), "微网格", Some("一般网格"))
        );
        assert_eq!(w.due(c.id), ["2026-09-14T14:30:00+08:00"]);
        // A minute past it, it has climbed to 一般网格: still within its ceiling.
        assert_eq!(w.at("2026-09-14T14:31:00+08:00"), 1);
        let c = w.get(c.id);
        assert_eq!((c.level.as_str(), c.breached()), ("一般网格", false));
        for a in ["立案", "派遣", "处置", "反馈 满意", "核查 合格"] {
            w.act(c.id, a).unwrap();
        }
        let c = w.get(c.id);
        assert_eq!(c.state, "结案");
        assert!(!c.breached());
        assert!(c.deadlines.is_empty());
        assert_eq!(c.closed_at, Some(t("2026-09-14T14:31:00+08:00")));
        // Closed: no timer is left.
        assert_eq!(w.svc.store().timer_count(), 0);
    }

    #[test]
    fn small_matter_that_climbs_to_the_community_is_a_breach() {
        let w = world("2026-09-14T10:00:00+08:00");
        let c = w.report(small());
        w.at("2026-09-14T14:30:00+08:00");
        // 1 工作日 at 一般网格 from Mon 14:30: to the end of Tue.
        assert_eq!(w.due(c.id), ["2026-09-15T17:30:00+08:00"]);
        assert_eq!(w.at("2026-09-15T17:29:59+08:00"), 0);
        assert_eq!(w.at("2026-09-15T17:30:00+08:00"), 1);
        let c = w.get(c.id);
        assert_eq!(c.level, "社区");
        assert_eq!(c.breaches.len(), 1);
        assert_eq!(
            (c.breaches[0].from.as_str(), c.breaches[0].to.as_str()),
            ("一般网格", "社区")
        );
        assert_eq!(c.breaches[0].at, t("2026-09-15T17:30:00+08:00"));
        let events = w.svc.events(c.id).unwrap();
        let last = events.last().unwrap();
        assert_eq!(last.action, "escalate");
        assert_eq!(last.explanation.json()["breach"], json!(true));
        assert_eq!(last.explanation.json()["ceiling"], json!("一般网格"));
    }

    #[test]
    fn hard_matter_within_the_community_then_past_it() {
        // Mon 09-14 10:00 + 3 工作日 → end of Thu 09-17.
        let w = world("2026-09-14T10:00:00+08:00");
        let c = w.report(hard());
        assert_eq!(
            (c.class.as_deref(), c.level.as_str(), c.ceiling.as_deref()),
            (Some("难事"), "社区", Some("社区"))
        );
        assert_eq!(w.due(c.id), ["2026-09-17T17:30:00+08:00"]);
        w.at("2026-09-17T17:30:00+08:00");
        let c = w.get(c.id);
        assert_eq!(c.level, "街道");
        assert_eq!(c.breaches.len(), 1);
        assert_eq!(c.breaches[0].from, "社区");
    }

    #[test]
    fn big_matter_goes_to_the_street_and_breaches_only_past_it() {
        let w = world("2026-09-14T10:00:00+08:00");
        let c = w.report(big());
        assert_eq!(
            (c.class.as_deref(), c.level.as_str(), c.ceiling.as_deref()),
            (Some("大事"), "街道", Some("街道"))
        );
        // The emergency path: accepted (立案) within 1h, handled within 24h,
        // both round the clock.
        assert_eq!(
            w.due(c.id),
            ["2026-09-14T11:00:00+08:00", "2026-09-15T10:00:00+08:00"]
        );
        // Declaring it beyond the street moves it to 职能部门: a breach.
        let c = w.act(c.id, "escalate").unwrap();
        assert_eq!(c.level, "职能部门");
        assert!(c.breached());
        // At the top of the ladder it cannot climb further.
        assert!(matches!(
            w.act(c.id, "escalate"),
            Err(AppError::Case(CaseError::AtTop { .. }))
        ));
        // 职能部门 has no limit of its own; the response limit (立案 within
        // the hour) still runs, and a miss at the top is counted as overdue.
        assert_eq!(w.due(c.id), ["2026-09-14T11:00:00+08:00"]);
        assert_eq!(w.at("2026-09-14T11:00:00+08:00"), 1);
        assert_eq!(w.get(c.id).overdue, 1);
    }
}

mod clocks {
    use super::*;

    fn cal(p: &PolicySet) -> wangge_policy::CompiledCalendar {
        p.workflow("事件处置").unwrap().calendar().unwrap().clone()
    }

    fn add(from: &str, amount: i64, clock: ClockKind) -> String {
        let p = shipped();
        show(cal(&p).add(t(from), amount, clock).unwrap())
    }

    #[test]
    fn emergency_hours_are_continuous_across_night_and_weekend() {
        assert_eq!(
            add("2026-09-18T23:00:00+08:00", 3 * HOUR, ClockKind::Continuous),
            "2026-09-19T02:00:00+08:00"
        );
    }

    #[test]
    fn working_hours_skip_nights_and_lunch() {
        assert_eq!(
            add(
                "2026-09-14T16:30:00+08:00",
                2 * HOUR,
                ClockKind::WorkingHours
            ),
            "2026-09-15T10:00:00+08:00"
        );
        assert_eq!(
            add(
                "2026-09-14T11:00:00+08:00",
                2 * HOUR,
                ClockKind::WorkingHours
            ),
            "2026-09-14T14:30:00+08:00"
        );
        // Ending exactly at noon stays at noon.
        assert_eq!(
            add("2026-09-14T11:00:00+08:00", HOUR, ClockKind::WorkingHours),
            "2026-09-14T12:00:00+08:00"
        );
        // Before work starts counts from 09:00.
        assert_eq!(
            add("2026-09-14T06:00:00+08:00", HOUR, ClockKind::WorkingHours),
            "2026-09-14T10:00:00+08:00"
        );
    }

    #[test]
    fn working_hours_skip_weekends() {
        assert_eq!(
            add("2026-09-11T17:00:00+08:00", HOUR, ClockKind::WorkingHours),
            "2026-09-14T09:30:00+08:00"
        );
    }

    #[test]
    fn working_hours_skip_public_holidays() {
        // Wed 09-30 17:00: 30 min left; 10-01..10-07 are holidays; Thu 10-08 works.
        assert_eq!(
            add(
                "2026-09-30T17:00:00+08:00",
                2 * HOUR,
                ClockKind::WorkingHours
            ),
            "2026-10-08T10:30:00+08:00"
        );
    }

    #[test]
    fn make_up_workdays_count() {
        // Sat 10-10 is a make-up workday (调休上班).
        assert_eq!(
            add(
                "2026-10-09T17:00:00+08:00",
                2 * HOUR,
                ClockKind::WorkingHours
            ),
            "2026-10-10T10:30:00+08:00"
        );
        // So is Sun 09-20.
        assert_eq!(
            add("2026-09-18T17:00:00+08:00", HOUR, ClockKind::WorkingHours),
            "2026-09-20T09:30:00+08:00"
        );
    }

    #[test]
    fn working_days_count_whole_days_after_the_start() {
        // Mon 09-28 + 3 工作日: Tue 29, Wed 30, then the holiday (10-01..10-07), Thu 10-08.
        assert_eq!(
            add("2026-09-28T10:00:00+08:00", 3, ClockKind::WorkingDays),
            "2026-10-08T17:30:00+08:00"
        );
        // Fri 10-09 + 1 工作日 → Sat 10-10 (make-up).
        assert_eq!(
            add("2026-10-09T10:00:00+08:00", 1, ClockKind::WorkingDays),
            "2026-10-10T17:30:00+08:00"
        );
        // Fri 09-11 + 1 → Mon 09-14.
        assert_eq!(
            add("2026-09-11T08:00:00+08:00", 1, ClockKind::WorkingDays),
            "2026-09-14T17:30:00+08:00"
        );
    }

    #[test]
    fn working_time_between_two_moments() {
        let p = shipped();
        let c = cal(&p);
        // Fri 17:00 → Mon 10:00: 30 min + 1 h.
        assert_eq!(
            c.working_between(
                t("2026-09-11T17:00:00+08:00"),
                t("2026-09-14T10:00:00+08:00")
            ),
            90 * 60
        );
        assert_eq!(
            c.working_between(
                t("2026-10-01T09:00:00+08:00"),
                t("2026-10-07T18:00:00+08:00")
            ),
            0
        );
    }
}

#[test]
fn pause_stops_the_clock_and_resume_moves_the_deadline() {
    let w = world("2026-09-14T10:00:00+08:00");
    let c = w.report(small());
    w.clock.set(t("2026-09-14T11:00:00+08:00"));
    let p = w.act(c.id, "pause").unwrap();
    assert!(p.paused_at.is_some());
    assert_eq!(w.svc.store().timer_count(), 0, "no timers while paused");
    // Nothing fires while paused, even long past the old deadline.
    assert_eq!(w.at("2026-09-14T15:00:00+08:00"), 0);
    assert!(matches!(
        w.act(c.id, "立案"),
        Err(AppError::Case(CaseError::Paused { .. }))
    ));
    assert!(matches!(
        w.act(c.id, "pause"),
        Err(AppError::Case(CaseError::Paused { .. }))
    ));
    w.act(c.id, "resume").unwrap();
    // Paused 4 h of continuous time: 13:00 → 17:00.
    assert_eq!(w.due(c.id), ["2026-09-14T17:00:00+08:00"]);
    assert_eq!(w.at("2026-09-14T16:59:59+08:00"), 0);
    assert_eq!(w.at("2026-09-14T17:00:00+08:00"), 1);
    assert_eq!(w.get(c.id).level, "一般网格");
    assert!(matches!(
        w.act(c.id, "resume"),
        Err(AppError::Case(CaseError::NotPaused { .. }))
    ));
}

#[test]
fn pause_over_a_weekend_extends_a_working_hours_limit_by_working_time_only() {
    // Fri 16:00 at 微网格, 3 工作时: Fri 16:00–17:30, Mon 09:00–10:30.
    let w = world("2026-09-11T16:00:00+08:00");
    let c = w.report(small());
    assert_eq!(w.due(c.id), ["2026-09-14T10:30:00+08:00"]);
    w.clock.set(t("2026-09-11T17:00:00+08:00"));
    w.act(c.id, "pause").unwrap();
    w.clock.set(t("2026-09-14T10:00:00+08:00"));
    w.act(c.id, "resume").unwrap();
    // 1h30m of working time was paused (Fri 17:00–17:30, Mon 09:00–10:00):
    // Mon 10:30 + 1h30m → 12:00.
    assert_eq!(w.due(c.id), ["2026-09-14T12:00:00+08:00"]);
}

#[test]
fn unsatisfied_feedback_reopens_with_a_fresh_limit() {
    let w = world("2026-09-14T10:00:00+08:00");
    let c = w.report(small());
    for a in ["立案", "派遣", "处置"] {
        w.act(c.id, a).unwrap();
    }
    w.clock.set(t("2026-09-14T12:00:00+08:00"));
    let c = w.act(c.id, "反馈 不满意").unwrap();
    assert_eq!((c.state.as_str(), c.reopened), ("返工", 1));
    // `restart`: the 3 工作时 level limit starts again: 13:30–16:30.
    assert_eq!(w.due(c.id), ["2026-09-14T16:30:00+08:00"]);
    for a in ["派遣", "处置", "反馈 满意"] {
        w.act(c.id, a).unwrap();
    }
    let c = w.act(c.id, "核查 不合格").unwrap();
    assert_eq!((c.state.as_str(), c.reopened), ("返工", 2));
    let events = w.svc.events(c.id).unwrap();
    let e = events
        .iter()
        .find(|e| e.outcome.as_deref() == Some("不满意"))
        .unwrap();
    assert_eq!(
        e.explanation.json()["transition"],
        json!("反馈 不满意: 处置 -> 返工 restart")
    );
    assert_eq!(
        (e.state_before.as_deref(), e.state_after.as_str()),
        (Some("处置"), "返工")
    );
}

#[test]
fn departments_summoned_at_the_street_must_report_in() {
    let w = world("2026-09-14T10:00:00+08:00");
    let c = w.report(big());
    // Accepted at once (the emergency path's response limit is met).
    w.act(c.id, "立案").unwrap();
    let deps = vec!["应急管理局".to_string(), "住建局".to_string()];
    let c = w
        .svc
        .act(
            c.id,
            &Action::Summon { departments: deps },
            &Actor::default(),
            None,
        )
        .unwrap();
    // A 大事: departments report in within the hour, round the clock.
    let s: Vec<_> = c
        .summons
        .iter()
        .map(|s| (s.department.as_str(), show(s.due)))
        .collect();
    assert_eq!(
        s,
        [
            ("应急管理局", "2026-09-14T11:00:00+08:00".to_string()),
            ("住建局", "2026-09-14T11:00:00+08:00".to_string())
        ]
    );
    w.clock.set(t("2026-09-14T10:40:00+08:00"));
    w.svc
        .act(
            c.id,
            &Action::ReportIn {
                department: "应急管理局".into(),
            },
            &Actor::default(),
            None,
        )
        .unwrap();
    assert_eq!(w.at("2026-09-14T11:00:00+08:00"), 1);
    let c = w.get(c.id);
    assert!(!c.summons[0].missed);
    assert_eq!(
        c.summons[0].reported_at,
        Some(t("2026-09-14T10:40:00+08:00"))
    );
    assert!(c.summons[1].missed);
    assert_eq!(c.level, "街道", "a missed report-in does not move the case");
    let last = w.svc.events(c.id).unwrap().pop().unwrap();
    assert_eq!(last.action, "report_in_missed");
    // Reporting in late is still recorded.
    let c = w
        .svc
        .act(
            c.id,
            &Action::ReportIn {
                department: "住建局".into(),
            },
            &Actor::default(),
            None,
        )
        .unwrap();
    assert!(c.summons[1].reported_at.is_some());
    // A department not summoned, or a second summon, is refused.
    assert!(matches!(
        w.svc.act(
            c.id,
            &Action::ReportIn {
                department: "教育局".into()
            },
            &Actor::default(),
            None
        ),
        Err(AppError::Case(CaseError::NotSummoned { .. }))
    ));
    // Only the street summons.
    let small = w.report(small());
    assert!(matches!(
        w.svc.act(
            small.id,
            &Action::Summon {
                departments: vec!["x".into()]
            },
            &Actor::default(),
            None
        ),
        Err(AppError::Case(CaseError::NoSummonHere { .. }))
    ));
}

#[test]
fn invalid_actions_are_precise_and_change_nothing() {
    let w = world("2026-09-14T10:00:00+08:00");
    let c = w.report(small());
    let before = w.get(c.id);
    match w.act(c.id, "核查 合格") {
        Err(AppError::Case(CaseError::IllegalAction {
            action,
            state,
            allowed,
        })) => {
            assert_eq!((action.as_str(), state.as_str()), ("核查 合格", "上报"));
            assert_eq!(allowed, "allowed from `核查`");
        }
        other => panic!("{other:?}"),
    }
    match w.act(c.id, "结束") {
        Err(AppError::Case(CaseError::UnknownAction { help, .. })) => assert!(help.is_some()),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        w.act(c.id, "反馈 一般"),
        Err(AppError::Case(CaseError::UnknownOutcome { .. }))
    ));
    assert_eq!(w.get(c.id), before);
    assert_eq!(w.svc.events(c.id).unwrap().len(), 1);
    // A closed case takes no more actions.
    w.act(c.id, "作废").unwrap();
    assert!(matches!(
        w.act(c.id, "pause"),
        Err(AppError::Case(CaseError::IllegalAction { .. }))
    ));
    assert!(matches!(
        w.act(c.id, "escalate"),
        Err(AppError::Case(CaseError::IllegalAction { .. }))
    ));
    assert!(matches!(
        w.svc.get(999),
        Err(AppError::Case(CaseError::NotFound { id: 999 }))
    ));
}

#[test]
fn idempotent_report_returns_the_same_case() {
    let w = world("2026-09-14T10:00:00+08:00");
    let r = Report {
        on_behalf: None,
        workflow: "事件处置".into(),
        unit: Some("WG-001".into()),
        data: json!({"类别": "垃圾堆放", "人数": 1, "风险": 1}),
        idempotency_key: Some("hotline-123".into()),
        actor: "12345 热线".into(),
    };
    let (a, created) = w.svc.report(r.clone()).unwrap();
    assert!(created);
    // Same key, same payload (keys in another order): the same case.
    let mut again = r.clone();
    again.data = json!({"风险": 1, "人数": 1, "类别": "垃圾堆放"});
    let (b, created) = w.svc.report(again).unwrap();
    assert!(!created);
    assert_eq!(a, b);
    assert_eq!(w.svc.store().case_count(), 1);
    // Same key, another payload: refused, nothing written.
    let mut other = r.clone();
    other.data = json!({"类别": "占道经营", "人数": 1, "风险": 1});
    assert!(matches!(
        w.svc.report(other),
        Err(AppError::Case(CaseError::IdempotencyMismatch { .. }))
    ));
    assert_eq!(w.svc.store().case_count(), 1);
    // The key is per workflow.
    let mut wish = r;
    wish.workflow = "微心愿".into();
    wish.data = json!({"内容": "代购药品"});
    assert!(w.svc.report(wish).unwrap().1);
}

#[test]
fn stale_expected_version_is_rejected_without_effect() {
    let w = world("2026-09-14T10:00:00+08:00");
    let c = w.report(small());
    assert_eq!(c.version, 1);
    let who = Actor::default();
    let lid = Action::Transition {
        name: "立案".into(),
        outcome: None,
        assignee: None,
    };
    let c2 = w.svc.act(c.id, &lid, &who, Some(1)).unwrap();
    assert_eq!(c2.version, 2);
    let send = Action::Transition {
        name: "派遣".into(),
        outcome: None,
        assignee: None,
    };
    match w.svc.act(c.id, &send, &who, Some(1)) {
        Err(AppError::Case(CaseError::VersionConflict {
            expected: 1,
            actual: 2,
            ..
        })) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(w.get(c.id), c2);
}

#[test]
fn concurrent_actions_on_one_case_never_lose_an_update() {
    let w = Arc::new(world("2026-09-14T10:00:00+08:00"));
    let c = w.report(small());
    // 8 threads each pause/resume 10 times; every action must land.
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let w = w.clone();
            std::thread::spawn(move || {
                let mut ok = 0;
                for _ in 0..40 {
                    if w.act(c.id, "pause").is_ok() {
                        ok += 1;
                    }
                    if w.act(c.id, "resume").is_ok() {
                        ok += 1;
                    }
                }
                ok
            })
        })
        .collect();
    let ok: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    let c = w.get(c.id);
    assert_eq!(c.version, 1 + ok);
    assert_eq!(w.svc.events(c.id).unwrap().len() as u64, 1 + ok);
}

#[test]
fn micro_wish_runs_its_own_workflow() {
    let w = world("2026-09-14T10:00:00+08:00");
    let c = w.report_wf(
        "微心愿",
        json!({"内容": "帮助独居老人修理水龙头", "点单人": "张阿姨"}),
    );
    assert_eq!(
        (c.state.as_str(), c.level.as_str(), c.class.as_deref()),
        ("点单", "社区", None)
    );
    // 2 工作日 to dispatch.
    assert_eq!(w.due(c.id), ["2026-09-16T17:30:00+08:00"]);
    w.act(c.id, "派单").unwrap();
    // 24h 紧急工作时 for a party member to accept.
    assert_eq!(w.due(c.id), ["2026-09-15T10:00:00+08:00"]);
    w.act(c.id, "接单").unwrap();
    // 7 工作日: 15–18, Sun 20 (调休上班), 21, 22.
    assert_eq!(w.due(c.id), ["2026-09-22T17:30:00+08:00"]);
    w.act(c.id, "完成").unwrap();
    let c = w.act(c.id, "评价 满意").unwrap();
    assert_eq!(c.state, "已评价");
    assert!(c.deadlines.is_empty());
}

#[test]
fn micro_wish_not_dispatched_in_time_goes_to_the_street_then_counts_overdue() {
    let w = world("2026-09-14T10:00:00+08:00");
    let c = w.report_wf("微心愿", json!({"内容": "代购药品"}));
    assert_eq!(w.at("2026-09-16T17:30:00+08:00"), 1);
    let c2 = w.get(c.id);
    assert_eq!((c2.level.as_str(), c2.breached()), ("街道", false));
    // The state limit starts again at the street: 2 more working days.
    assert_eq!(w.due(c.id), ["2026-09-18T17:30:00+08:00"]);
    assert_eq!(w.at("2026-09-18T17:30:00+08:00"), 1);
    let c3 = w.get(c.id);
    assert_eq!((c3.level.as_str(), c3.overdue), ("街道", 1));
    assert_eq!(
        w.svc.events(c.id).unwrap().last().map(|e| e.action.clone()),
        Some("overdue".into())
    );
}

#[test]
fn timers_fire_in_due_order_each_once() {
    let w = world("2026-09-14T10:00:00+08:00");
    let a = w.report(small()); // due 14:30 (3 工作时 over lunch)
    w.clock.set(t("2026-09-14T09:00:00+08:00"));
    let b = w.report(small()); // due 12:00
    assert_eq!(w.at("2026-09-14T15:00:00+08:00"), 2);
    assert_eq!(w.at("2026-09-14T15:00:00+08:00"), 0);
    let ea = w.svc.events(a.id).unwrap();
    let eb = w.svc.events(b.id).unwrap();
    assert_eq!(
        ea.last().map(|e| e.at),
        Some(t("2026-09-14T14:30:00+08:00"))
    );
    assert_eq!(
        eb.last().map(|e| e.at),
        Some(t("2026-09-14T12:00:00+08:00"))
    );
}

/// A case whose workflow is gone (its timer cannot fire) is marked with an
/// incident and retried with backoff; it does not hold up other timers.
#[test]
fn one_broken_timer_does_not_stop_the_others() {
    let w = world("2026-09-14T09:00:00+08:00");
    let broken = w.report(small()); // due 12:00: first in the queue
    w.clock.set(t("2026-09-14T10:00:00+08:00"));
    let fine = w.report(small()); // due 14:30
                                  // Rewrite the first case onto a workflow no policy has.
    let store = w.svc.store().clone();
    let mut orphan = broken.clone();
    orphan.workflow = "已删除流程".into();
    orphan.version += 1;
    orphan.next_event += 1;
    let mut event = w.svc.events(broken.id).unwrap().remove(0);
    event.seq = broken.next_event;
    let change = wangge_policy::Change {
        case: orphan,
        event,
    };
    store.update(&broken, change, None).unwrap().wait().unwrap();

    assert_eq!(
        w.at("2026-09-14T15:00:00+08:00"),
        1,
        "the other timer fired"
    );
    assert_eq!(w.get(fine.id).level, "一般网格", "and escalated its case");
    let incident = w
        .get(broken.id)
        .incident
        .expect("an incident on the broken case");
    assert_eq!(incident.attempts, 1);
    assert!(
        incident.message.contains("已删除流程"),
        "{}",
        incident.message
    );
    assert_eq!(show(incident.retry_at), "2026-09-14T15:01:00+08:00");
    assert_eq!(
        w.at("2026-09-14T15:00:30+08:00"),
        0,
        "not retried before its time"
    );
    assert_eq!(w.get(broken.id).incident.unwrap().attempts, 1);
    w.at("2026-09-14T15:01:00+08:00");
    let again = w.get(broken.id).incident.unwrap();
    assert_eq!(
        (again.attempts, show(again.retry_at)),
        (2, "2026-09-14T15:03:00+08:00".into())
    );
    assert_eq!(again.since, incident.since);
}

/// The crash half of the recovery test: runs only in a child process.
#[test]
fn recovery_child() {
    let Ok(dir) = std::env::var("WANGGE_RECOVERY_DIR") else {
        return;
    };
    let clock = Arc::new(ManualClock::new(t("2026-09-14T10:00:00+08:00")));
    let store: Arc<dyn Store> = Arc::new(SledStore::open(Path::new(&dir), 16 << 20).unwrap());
    let svc = CaseService::new(store, shipped(), clock.clone());
    let mut ids = Vec::new();
    for i in 0..50 {
        let data = if i % 2 == 0 { small() } else { hard() };
        let (c, _) = svc
            .report(Report {
                on_behalf: None,
                workflow: "事件处置".into(),
                data,
                idempotency_key: Some(format!("k{i}")),
                ..Report::default()
            })
            .unwrap();
        ids.push(c.id);
    }
    // Some progress on a few cases.
    for id in ids.iter().take(5) {
        svc.act(
            *id,
            &Action::Transition {
                name: "立案".into(),
                outcome: None,
                assignee: None,
            },
            &Actor::default(),
            None,
        )
        .unwrap();
    }
    println!(
        "acknowledged {}",
        ids.iter().map(u64::to_string).collect::<Vec<_>>().join(",")
    );
    // Die without any clean shutdown, as kill -9 would.
    std::process::abort();
}

#[test]
fn recovery_after_a_crash_keeps_acknowledged_cases_and_fires_each_timer_once() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "tests_cases::recovery_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("WANGGE_RECOVERY_DIR", dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success(), "the child must die");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.split_once("acknowledged ").map(|(_, ids)| ids.trim()))
        .unwrap_or_else(|| {
            panic!(
                "child said:\n{stdout}\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    let ids: Vec<u64> = line.split(',').map(|s| s.parse().unwrap()).collect();
    assert_eq!(ids.len(), 50);

    let clock = Arc::new(ManualClock::new(t("2026-09-14T10:00:00+08:00")));
    let store: Arc<dyn Store> = Arc::new(SledStore::open(dir.path(), 16 << 20).unwrap());
    let svc = CaseService::new(store, shipped(), clock.clone());
    for (i, id) in ids.iter().enumerate() {
        let c = svc.get(*id).unwrap();
        assert_eq!(c.state, if i < 5 { "立案" } else { "上报" });
        assert_eq!(c.idempotency_key, Some(format!("k{i}")));
    }
    // The small matters (3 工作时: 10:00–12:00, 13:30–14:30) are overdue
    // now; the hard ones (3 工作日) not yet.
    clock.set(t("2026-09-14T14:30:00+08:00"));
    // Each small matter's reminder (at 80 %) and its limit.
    assert_eq!(svc.fire_due().unwrap(), 50);
    assert_eq!(svc.fire_due().unwrap(), 0);
    for (i, id) in ids.iter().enumerate() {
        let escalations = svc
            .events(*id)
            .unwrap()
            .iter()
            .filter(|e| e.action == "escalate")
            .count();
        assert_eq!(escalations, usize::from(i % 2 == 0), "case {id}");
    }
    // A retried report after the crash is still recognised.
    let (c, created) = svc
        .report(Report {
            on_behalf: None,
            workflow: "事件处置".into(),
            data: small(),
            idempotency_key: Some("k0".into()),
            ..Report::default()
        })
        .unwrap();
    assert!(!created);
    assert_eq!(c.id, ids[0]);
}

/// A limit counted into a year the calendar names no holidays for is not a
/// silent weekday guess: the deadline's explanation says so.
#[test]
fn a_deadline_past_the_calendars_years_says_its_days_off_are_unknown() {
    // A 难事 at 社区, 3 工作日 from Wed 12/30: into January 2027.
    let w = world("2026-12-30T10:00:00+08:00");
    let c = w.report(hard());
    let first = w.svc.events(c.id).unwrap().remove(0);
    let why = first.explanation.as_str().to_string();
    assert!(
        why.contains(
            "calendar `工作日历` names holidays for 2026 only: 2027 was counted as plain weekdays"
        ),
        "{why}"
    );
    // Within the year it knows, nothing is said.
    let w = world("2026-09-14T10:00:00+08:00");
    let c = w.report(hard());
    let first = w.svc.events(c.id).unwrap().remove(0);
    assert!(!first.explanation.as_str().contains("calendar_warning"));
}

/// Adding a year is adding a file: a `year` block in its own file extends
/// the calendar, and a deadline counted into that year knows its days off.
#[test]
fn a_year_file_adds_that_years_days_off_to_the_calendar() {
    // 2027-01-01 (a Friday) as a holiday, in a file of its own.
    let year = "calendar 工作日历 year 2027 { holidays 2027-01-01 }";
    let set = crate::fixtures::shipped_with(&[("节假日/2027.wg", year)]).unwrap();
    let store: Arc<dyn Store> = Arc::new(wangge_store::MemStore::new());
    let clock = Arc::new(ManualClock::new(t("2026-12-30T10:00:00+08:00")));
    let svc = CaseService::new(store, set, clock);
    let (c, _) = svc
        .report(Report {
            on_behalf: None,
            workflow: "事件处置".into(),
            unit: Some("WG-001".into()),
            data: hard(),
            idempotency_key: None,
            actor: "网格员甲".into(),
        })
        .unwrap();
    let first = svc.events(c.id).unwrap().remove(0);
    assert!(
        !first.explanation.as_str().contains("calendar_warning"),
        "{}",
        first.explanation.as_str()
    );
    // 3 工作日 after Wed 12/30: 12/31, (1/1 off), 1/4, 1/5 → Tue 1/5.
    // Without the file, 1/1 would count and the deadline fall on Mon 1/4.
    assert_eq!(show(c.deadlines[0].due), "2027-01-05T17:30:00+08:00");
}

#[test]
fn a_year_block_is_checked_against_its_year_and_its_calendar() {
    for (text, want) in [
        (
            "calendar 工作日历 year 2027 { holidays 2028-01-01 }",
            "a date outside 2027 in the 2027 block of `工作日历`",
        ),
        (
            "calendar 工作日历 year 2026 { holidays 2026-12-31 }",
            "the days off of 2026 in `工作日历` are given twice",
        ),
        (
            "calendar 工作日程 year 2027 { holidays 2027-01-01 }",
            "工作日程",
        ),
        (
            "calendar 工作日历 year 2027 { hours 周一-周五 09:00-17:00 }",
            "a year block has no working hours",
        ),
    ] {
        let e = crate::fixtures::shipped_with(&[("x.wg", text)]).unwrap_err();
        assert!(e.contains(want), "{text}: {e}");
    }
}
