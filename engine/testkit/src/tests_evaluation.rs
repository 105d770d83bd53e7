//! Scoring with hand-computed results: each normalisation, a penalty cap,
//! a band edge, a unit with no cases, a period with no previous period,
//! ties in a ranking; stored scores, history.

use std::sync::Arc;

use serde_json::json;

use wangge_app::org::Unit;
use wangge_app::Evaluation;
use wangge_app::{CaseService, Report};
use wangge_policy::parse_ts;
use wangge_policy::ManualClock;
use wangge_policy::PolicySet;
use wangge_policy::{Action, Actor};
use wangge_store::prelude::*;
use wangge_store::MemStore;

const CARD: &str = r#"
scorecard 测评 for 微网格 quarterly {
  index 社情指数
  indicator 按期 = { 统计.按期率 } weight 50 linear 0.5..1.0
  indicator 满意 = { 统计.满意率 } weight 30 bands { >= 0.9: 100, >= 0.8: 60, else: 0 }
  indicator 指数 = { 统计.社情指数 } weight 20 raw
  penalty 出格 = { 统计.出格 } per 3 cap 5
  stars { 5: 90, 4: 80, 3: 60, 1: 0 }
}
award 测奖 from 测评 { within 社区  top 1  ties 满意, 编号 }
"#;

fn set() -> Arc<PolicySet> {
    crate::fixtures::shipped_with(&[("测评.wg", CARD)]).unwrap_or_else(|e| panic!("{e}"))
}

fn unit(id: &str, level: &str, parent: Option<&str>) -> Unit {
    Unit {
        id: id.into(),
        name: format!("{id}名"),
        level: level.into(),
        parent: parent.map(str::to_string),
        households: if level == "微网格" { 100 } else { 0 },
        rural: false,
        kind: None,
        party_members: 0,
        organizations: 0,
        probationary_members: 0,
        ladder: None,
    }
}

struct World {
    set: Arc<PolicySet>,
    clock: Arc<ManualClock>,
    cases: CaseService,
    eval: Evaluation,
}

impl World {
    fn new() -> World {
        let set = set();
        let store: Arc<dyn Store> = Arc::new(MemStore::new());
        store
            .put_units(&[
                unit("C1", "社区", None),
                unit("G1", "一般网格", Some("C1")),
                unit("M1", "微网格", Some("G1")),
                unit("M2", "微网格", Some("G1")),
                unit("M3", "微网格", Some("G1")),
                unit("C2", "社区", None),
                unit("G2", "一般网格", Some("C2")),
                unit("M4", "微网格", Some("G2")),
                unit("C3", "社区", None),
                unit("G3", "一般网格", Some("C3")),
                unit("M5", "微网格", Some("G3")),
                unit("M6", "微网格", Some("G3")),
            ])
            .unwrap();
        let clock = Arc::new(ManualClock::new(
            parse_ts("2026-09-14T09:00:00+08:00").unwrap(),
        ));
        World {
            cases: CaseService::new(store.clone(), set.clone(), clock.clone()),
            eval: Evaluation::new(store),
            set,
            clock,
        }
    }

    fn case(&self, unit: &str, steps: &[(&str, Option<&str>)]) {
        let (c, _) = self
            .cases
            .report(Report {
                on_behalf: None,
                workflow: "事件处置".into(),
                unit: Some(unit.into()),
                // Raised by a resident through the 12345 hotline: a complaint
                // the index counts.
                data: json!({"类别": "垃圾堆放", "人数": 1, "风险": 1, "来源": "12345"}),
                idempotency_key: None,
                actor: "W".into(),
            })
            .unwrap();
        for (a, o) in steps {
            self.clock.advance(60);
            let action = match *a {
                "escalate" => Action::Escalate,
                name => Action::Transition {
                    name: name.into(),
                    outcome: o.map(str::to_string),
                    assignee: None,
                },
            };
            self.cases
                .act(
                    c.id,
                    &action,
                    &Actor {
                        on_behalf: None,
                        actor: "W".into(),
                        note: None,
                    },
                    None,
                )
                .unwrap();
        }
    }
}

const CLOSE: &[(&str, Option<&str>)] = &[
    ("立案", None),
    ("派遣", None),
    ("处置", None),
    ("反馈", Some("满意")),
    ("核查", Some("合格")),
];

#[test]
fn scores_are_the_hand_computed_ones() {
    let w = World::new();
    // M1: two small cases closed on time, satisfied.
    w.case("M1", CLOSE);
    w.case("M1", CLOSE);
    // M3: one case escalated three times (two breaches above 一般网格), closed; one reworked once.
    let mut slow = vec![("escalate", None), ("escalate", None), ("escalate", None)];
    slow.extend_from_slice(CLOSE);
    w.case("M3", &slow);
    w.case(
        "M3",
        &[
            ("立案", None),
            ("派遣", None),
            ("处置", None),
            ("反馈", Some("不满意")),
            ("派遣", None),
            ("处置", None),
            ("反馈", Some("满意")),
            ("核查", Some("合格")),
        ],
    );
    // M4: one case.
    w.case("M4", CLOSE);
    let summary = w.eval.score_level(&w.set, "测评", "2026-Q3", 1).unwrap();
    assert_eq!(summary.scored, 6);
    let scores = w.eval.scores("测评", "2026-Q3").unwrap();
    let get = |id: &str| scores.iter().find(|s| s.id == id).unwrap().clone();
    // M1: 按期 1 → linear (1 − 0.5)/0.5 = 100 × 50% = 50; 满意 1 → band 100 × 30% = 30;
    // 社情指数 = 2 complaints × 100 / 100 户 = 2 → raw × 20% = 0.4. Total 80.4 → 4 stars.
    let m1 = get("M1");
    assert_eq!(m1.indicators[0].normalised.to_string(), "100");
    assert_eq!(m1.indicators[0].contribution.to_string(), "50");
    assert_eq!(m1.indicators[1].contribution.to_string(), "30");
    assert_eq!(m1.indicators[2].raw.to_string(), "2");
    assert_eq!(m1.indicators[2].contribution.to_string(), "0.4");
    assert_eq!((m1.total.to_string().as_str(), m1.stars), ("80.4", 4));
    // M2 has no cases: no record is not a perfect record — rates are 0,
    // index 0 → 0, one star (it used to score 80 and four stars).
    let m2 = get("M2");
    assert_eq!((m2.total.to_string().as_str(), m2.stars), ("0", 1));
    assert_eq!(m2.stats.json()["案件"], 0);
    // M3: 按期 1 of 2 = 0.5 → 0; 满意 1 → 30; index 2 → 0.4; 出格 2 × 3 = 6, capped at 5.
    let m3 = get("M3");
    assert_eq!(m3.indicators[0].raw.to_string(), "0.5");
    assert_eq!(m3.indicators[0].normalised.to_string(), "0");
    assert_eq!(m3.penalties[0].count.to_string(), "2");
    assert_eq!(m3.penalties[0].points.to_string(), "5");
    assert_eq!((m3.total.to_string().as_str(), m3.stars), ("25.4", 1));
    // No previous quarter in the store: no change.
    assert_eq!(m1.stats.json()["有上期"], false);
    assert_eq!(m1.stats.json()["社情指数变化"], "0");
    // Bands: 0.85 satisfaction would be 60 — checked through a direct score.
    let card = w.set.scorecards.get("测评").unwrap();
    let stats = wangge_policy::rhai_map(vec![
        (
            "按期率",
            rhai::Dynamic::from_decimal("0.75".parse().unwrap()),
        ),
        (
            "满意率",
            rhai::Dynamic::from_decimal("0.85".parse().unwrap()),
        ),
        (
            "社情指数",
            rhai::Dynamic::from_decimal("1.5".parse().unwrap()),
        ),
        ("出格", rhai::Dynamic::from_int(1)),
    ]);
    let (inds, pens, total, stars) = card.score(w.set.host(), &stats, "v").unwrap();
    // 50% of 50 = 25; 60 × 30% = 18; 1.5 × 20% = 0.3; − 3 → 40.3 → 1 star.
    assert_eq!(inds[0].normalised.to_string(), "50");
    assert_eq!(inds[1].normalised.to_string(), "60");
    assert_eq!(pens[0].points.to_string(), "3");
    assert_eq!((total.normalize().to_string().as_str(), stars), ("40.3", 1));
}

#[test]
fn the_next_quarter_compares_with_the_previous_one() {
    let w = World::new();
    w.case("M1", CLOSE);
    w.case("M1", CLOSE);
    w.eval.score_level(&w.set, "测评", "2026-Q3", 1).unwrap();
    w.clock.set(parse_ts("2026-10-12T09:00:00+08:00").unwrap());
    let q4 = w.eval.score_one(&w.set, "测评", "M1", "2026-Q4").unwrap();
    let stats = q4.stats.json();
    assert_eq!(stats["有上期"], true);
    assert_eq!(stats["上期社情指数"], "2");
    assert_eq!(stats["社情指数变化"], "-2");
    w.eval.score_level(&w.set, "测评", "2026-Q4", 2).unwrap();
    let history = w.eval.history("测评", "M1").unwrap();
    let periods: Vec<&str> = history.iter().map(|s| &*s.period).collect();
    assert_eq!(periods, ["2026-Q3", "2026-Q4"]);
}

#[test]
fn awards_rank_within_the_parent_with_the_stated_tie_rule() {
    let w = World::new();
    w.case("M1", CLOSE);
    w.case("M1", CLOSE);
    w.case("M4", CLOSE);
    w.eval.score_level(&w.set, "测评", "2026-Q3", 1).unwrap();
    let ranked = w.eval.rank(&w.set, "测奖", "2026-Q3").unwrap();
    let awarded: Vec<(&str, &str, u32)> = ranked
        .iter()
        .filter(|r| r.awarded)
        .map(|r| (r.group.as_str(), r.id.as_str(), r.rank))
        .collect();
    // C1: M1 80.4 before M2 and M3 (no cases: 0); C2: M4; C3: M5 and M6
    // tie at 0 and on 满意 — 编号 decides.
    assert_eq!(awarded, [("C1", "M1", 1), ("C2", "M4", 1), ("C3", "M5", 1)]);
    let m6 = ranked.iter().find(|r| r.id == "M6").unwrap();
    assert_eq!(
        (m6.rank, m6.awarded, m6.total.to_string().as_str()),
        (2, false, "0")
    );
    // Unscored periods are refused.
    assert!(w.eval.rank(&w.set, "测奖", "2026-Q2").is_err());
}

#[test]
fn periods_are_checked() {
    let w = World::new();
    for bad in ["2026-Q5", "2026-13", "2026", "Q3-2026"] {
        let e = w.eval.score_level(&w.set, "测评", bad, 1).unwrap_err();
        assert!(
            e.to_string().contains("is not a quarter like `2026-Q3`"),
            "{e}"
        );
    }
    let e = w
        .eval
        .score_level(&w.set, "测平", "2026-Q3", 1)
        .unwrap_err();
    assert!(e.to_string().contains("no scorecard `测平`"), "{e}");
}

#[test]
fn people_are_scored_over_the_year_and_ranked_within_their_community() {
    // The shipped 网格员考评 (微网格员, yearly) and 优秀网格员 (top 2 per 社区,
    // ties by 按期率 then 编号).
    let w = World::new();
    let store = w.cases.store().clone();
    store
        .put_people(&[
            wangge_app::org::Person {
                id: "P1".into(),
                name: "甲".into(),
                role: "微网格员".into(),
                unit: Some("M1".into()),
                party_member: false,
                probationary: false,
                also: Vec::new(),
            },
            wangge_app::org::Person {
                id: "P2".into(),
                name: "乙".into(),
                role: "微网格员".into(),
                unit: Some("M2".into()),
                party_member: false,
                probationary: false,
                also: Vec::new(),
            },
            wangge_app::org::Person {
                id: "P3".into(),
                name: "丙".into(),
                role: "微网格员".into(),
                unit: Some("M3".into()),
                party_member: false,
                probationary: false,
                also: Vec::new(),
            },
        ])
        .unwrap();
    let handle = |who: &str, n: usize| {
        for _ in 0..n {
            let (c, _) = w
                .cases
                .report(Report {
                    on_behalf: None,
                    workflow: "事件处置".into(),
                    unit: Some("M1".into()),
                    data: json!({"类别": "垃圾堆放", "人数": 1, "风险": 1}),
                    idempotency_key: None,
                    actor: who.into(),
                })
                .unwrap();
            for (a, o) in CLOSE {
                w.cases
                    .act(
                        c.id,
                        &Action::Transition {
                            name: (*a).into(),
                            outcome: o.map(str::to_string),
                            assignee: None,
                        },
                        &Actor {
                            on_behalf: None,
                            actor: who.into(),
                            note: None,
                        },
                        None,
                    )
                    .unwrap();
            }
        }
    };
    handle("P1", 120);
    handle("P2", 120);
    handle("P3", 60);
    let inc = wangge_app::Incentives::new(store.clone());
    for who in ["P1", "P3"] {
        inc.record_activity(
            &w.set,
            wangge_app::NewActivity {
                person: who.into(),
                kind: "入户走访".into(),
                quantity: "240".parse().unwrap(),
                period: "2026-09".into(),
                unit: None,
                key: format!("v-{who}"),
                note: None,
                correction: false,
            },
            0,
        )
        .unwrap();
    }
    w.eval.score_level(&w.set, "网格员考评", "2026", 1).unwrap();
    let scores = w.eval.scores("网格员考评", "2026").unwrap();
    let total = |id: &str| {
        let s = scores.iter().find(|s| s.id == id).unwrap();
        (s.total.to_string(), s.stars)
    };
    // P1: 办结 120 → 100 × 30% + 按期 100 × 30% + 满意 100 × 25% + 走访 240 → 100 × 15% = 100
    assert_eq!(total("P1"), ("100".into(), 5));
    // P2: no visits: 30 + 30 + 25 = 85; P3: 60 cases → 50 × 30% = 15, + 30 + 25 + 15 = 85
    assert_eq!(total("P2"), ("85".into(), 4));
    assert_eq!(total("P3"), ("85".into(), 4));
    let ranked = w.eval.rank(&w.set, "优秀网格员", "2026").unwrap();
    let order: Vec<(&str, u32, bool)> = ranked
        .iter()
        .map(|r| (r.id.as_str(), r.rank, r.awarded))
        .collect();
    // All three belong to 社区 C1; P2 and P3 tie on total and 按期率: 编号 decides.
    assert_eq!(order, [("P1", 1, true), ("P2", 2, true), ("P3", 3, false)]);
    assert!(ranked.iter().all(|r| r.group == "C1"));
}

/// Another city's words: classes 一般/较大/重大 and the 12345 hotline's
/// 满意/基本满意/不满意 with weights. The figures used to know only
/// 小事/难事/大事 and 满意/不满意 (基本满意 counted as nothing, 一般 as no
/// class at all).
const HOTLINE: &str = r#"
ladder 热线层级 { 网格 -> 街道 }
calendar 日历 { timezone "+08:00"  hours 周一-周日 00:00-24:00 }
schema 工单 { 类别: 文本, 紧急: 布尔 }
table 工单分级(单: 工单) hit first {
  | 单.紧急 || 等级: ["一般", "较大", "重大"] | 处置层级 |
  | true    || "重大"                        | 街道     |
  | -       || "一般"                        | 网格     |
}
workflow 热线工单 on 热线层级 {
  calendar 日历
  classify 工单分级
  initial 受理
  final 办结, 退回
  closed 办结
  feedback { 满意: 1, 基本满意: 0.8, 不满意: 0 }
  transitions {
    回访 满意: 受理 -> 办结
    回访 基本满意: 受理 -> 办结
    回访 不满意: 受理 -> 办结
    退回: 受理 -> 退回
  }
  limit { 网格: 3 工作日, 街道: 5 工作日 }
}
scorecard 热线考核 for 网格 quarterly {
  indicator 满意率 = { 统计.满意率 } weight 50 raw
  indicator 较大 = { 统计.办结按等级.较大 } weight 50 raw
}
"#;

#[test]
fn figures_follow_the_classes_and_feedback_weights_the_policy_declares() {
    let mut sources = wangge_dsl::SourceSet::default();
    sources.add(wangge_dsl::SourceFile::new("热线.wg", HOTLINE));
    let c = wangge_policy::compile(sources, &wangge_policy::RhaiHost::default());
    let set =
        Arc::new(c.set.unwrap_or_else(|| {
            panic!("{}", wangge_dsl::render(&c.diagnostics, &c.sources, false))
        }));
    let store: Arc<dyn Store> = Arc::new(MemStore::new());
    let mut grid = unit("W1", "网格", None);
    grid.households = 50;
    store.put_units(&[grid]).unwrap();
    let clock = Arc::new(ManualClock::new(
        parse_ts("2026-09-14T09:00:00+08:00").unwrap(),
    ));
    let cases = CaseService::new(store.clone(), set.clone(), clock.clone());
    let eval = Evaluation::new(store);
    let who = Actor {
        on_behalf: None,
        actor: "W".into(),
        note: None,
    };
    for (urgent, feedback) in [
        (false, Some("满意")),
        (false, Some("基本满意")),
        (true, Some("不满意")),
        (false, None),
    ] {
        let (c, _) = cases
            .report(Report {
                on_behalf: None,
                workflow: "热线工单".into(),
                unit: Some("W1".into()),
                data: json!({"类别": "噪音", "紧急": urgent}),
                idempotency_key: None,
                actor: "W".into(),
            })
            .unwrap();
        let action = match feedback {
            Some(f) => Action::Transition {
                name: "回访".into(),
                outcome: Some(f.into()),
                assignee: None,
            },
            None => Action::Transition {
                name: "退回".into(),
                outcome: None,
                assignee: None,
            },
        };
        clock.advance(60);
        cases.act(c.id, &action, &who, None).unwrap();
    }
    let s = eval.score_one(&set, "热线考核", "W1", "2026-Q3").unwrap();
    let stats = s.stats.json();
    // 退回 is final but not 办结: three closed, with feedback 1 + 0.8 + 0.
    assert_eq!(stats["办结"], 3);
    assert_eq!(stats["评价"], 3);
    assert_eq!(stats["满意"], 1);
    assert_eq!(stats["不满意"], 1);
    assert_eq!(stats["满意率"], "0.6");
    // Every declared class is there, counted or not.
    assert_eq!(
        stats["办结按等级"],
        json!({"一般": 2, "较大": 0, "重大": 1})
    );
    assert_eq!(stats["按等级"], json!({"一般": 3, "较大": 0, "重大": 1}));
    assert_eq!(s.indicators[0].raw.to_string(), "0.6");
    assert_eq!(s.indicators[1].raw.to_string(), "0");
}
