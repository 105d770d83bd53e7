//! Subsidies and points on the shipped policy, with hand-computed amounts:
//! each component, the quality factor, cap, floor, zero activity, a worker
//! who moved grids mid-month; immutable settlements and corrections;
//! points that would go negative; idempotent retries.

use std::sync::Arc;

use rust_decimal::Decimal;
use serde_json::json;

use wangge_app::org::Person;
use wangge_app::{AppError, Incentives, NewActivity};
use wangge_app::{CaseService, Report};
use wangge_policy::parse_ts;
use wangge_policy::{compile, PolicySet, RhaiHost};
use wangge_policy::{Action, Actor};
use wangge_policy::{ManualClock, Timestamp};
use wangge_store::prelude::*;
use wangge_store::MemStore;

fn shipped() -> Arc<PolicySet> {
    crate::fixtures::shipped().unwrap()
}

fn t(s: &str) -> Timestamp {
    parse_ts(s).unwrap()
}

fn d(s: &str) -> Decimal {
    s.parse().unwrap()
}

struct Town {
    set: Arc<PolicySet>,
    store: Arc<dyn Store>,
    clock: Arc<ManualClock>,
    cases: CaseService,
    inc: Incentives,
}

fn person(id: &str, role: &str, unit: &str) -> Person {
    Person {
        id: id.into(),
        name: format!("{id} 的名字"),
        role: role.into(),
        unit: Some(unit.into()),
        party_member: false,
        probationary: false,
        also: Vec::new(),
    }
}

impl Town {
    fn new() -> Town {
        let set = shipped();
        let store: Arc<dyn Store> = Arc::new(MemStore::new());
        let clock = Arc::new(ManualClock::new(t("2026-09-14T09:00:00+08:00")));
        store
            .put_people(&[
                person("P1", "微网格员", "WG-1"),
                person("P2", "专职网格员", "G-1"),
                person("P3", "微网格员", "WG-3"),
                person("P4", "微网格员", "WG-1"),
                person("P5", "志愿者", "WG-1"),
                person("P6", "微网格员", "WG-6"),
                person("P7", "微网格员", "WG-7"),
                person("P8", "微网格员", "WG-8"),
            ])
            .unwrap();
        Town {
            cases: CaseService::new(store.clone(), set.clone(), clock.clone()),
            inc: Incentives::new(store.clone()),
            set,
            store,
            clock,
        }
    }

    fn at(&self, s: &str) {
        self.clock.set(t(s));
        self.cases.fire_due().unwrap();
    }

    /// A case reported by `who` in `unit` and worked by `who` to its end,
    /// one step every ten minutes from now.
    fn handled(&self, who: &str, unit: &str, category: &str, feedback: &[&str]) -> u64 {
        let (c, _) = self
            .cases
            .report(Report {
                on_behalf: None,
                workflow: "事件处置".into(),
                unit: Some(unit.into()),
                data: json!({"类别": category, "人数": 1, "风险": 1}),
                idempotency_key: None,
                actor: who.into(),
            })
            .unwrap();
        let mut steps: Vec<(&str, Option<&str>)> =
            vec![("立案", None), ("派遣", None), ("处置", None)];
        for (i, f) in feedback.iter().enumerate() {
            steps.push(("反馈", Some(f)));
            if *f == "满意" {
                steps.push(("核查", Some("合格")));
            } else if i + 1 < feedback.len() {
                steps.push(("派遣", None));
                steps.push(("处置", None));
            }
        }
        for (name, outcome) in steps {
            self.clock.advance(600);
            self.cases
                .act(
                    c.id,
                    &Action::Transition {
                        name: name.into(),
                        outcome: outcome.map(str::to_string),
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
        c.id
    }

    fn activity(&self, who: &str, kind: &str, qty: &str, unit: &str, key: &str) {
        self.record(who, kind, qty, unit, key, false)
            .unwrap_or_else(|e| panic!("{e}"));
    }

    /// Records activity of 2026-09, late (`correction`) or not.
    fn record(
        &self,
        who: &str,
        kind: &str,
        qty: &str,
        unit: &str,
        key: &str,
        correction: bool,
    ) -> Result<(), AppError> {
        self.inc
            .record_activity(
                &self.set,
                NewActivity {
                    person: who.into(),
                    kind: kind.into(),
                    quantity: d(qty),
                    period: "2026-09".into(),
                    unit: Some(unit.into()),
                    key: key.into(),
                    note: None,
                    correction,
                },
                self.clock.now_ts(),
            )
            .map(|_| ())
    }

    fn total(&self, who: &str) -> String {
        self.inc
            .preview(&self.set, who, "2026-09", 0)
            .unwrap()
            .breakdown
            .total
            .to_string()
    }
}

trait NowTs {
    fn now_ts(&self) -> Timestamp;
}
impl NowTs for ManualClock {
    fn now_ts(&self) -> Timestamp {
        wangge_policy::Clock::now(self)
    }
}

#[test]
fn a_typical_month_adds_pieces_and_hours_times_quality() {
    let town = Town::new();
    for _ in 0..3 {
        town.handled("P1", "WG-1", "垃圾堆放", &["满意"]);
    }
    town.activity("P1", "入户走访", "20", "WG-1", "k1");
    town.activity("P1", "关爱巡访", "4", "WG-1", "k2");
    town.activity("P1", "矛盾调解", "1", "WG-1", "k3");
    town.activity("P1", "巡查时长", "30.5", "WG-1", "k4");
    let s = town.inc.preview(&town.set, "P1", "2026-09", 0).unwrap();
    let b = &s.breakdown;
    // 计件 = 3 上报 × 2 + 3 小事 × 5 + 20 走访 × 3 + 4 关爱 × 5 + 1 调解 × 20 = 121
    assert_eq!(b.components[0].name, "计件");
    assert_eq!(b.components[0].value.to_string(), "121.00");
    // 计时 = 30.5 h × 8 = 244
    assert_eq!(b.components[1].value.to_string(), "244.00");
    assert_eq!(b.subtotal.to_string(), "365.00");
    // 按期率 1 ≥ 0.95: 1.00 + 0.1
    assert_eq!(b.factors[0].value.to_string(), "1.1");
    assert_eq!(b.exact.to_string(), "401.5");
    assert_eq!(b.total.to_string(), "401.50");
    assert_eq!(b.limited_by, None);
    assert_eq!(s.stats.json()["办结"], 3);
    assert_eq!(s.stats.json()["按期率"], "1");
    assert_eq!(s.stats.json()["活动"]["巡查时长"], "30.5");
    assert_eq!(b.components[1].params["巡查时薪"], "8.00");
    assert_eq!(b.policy_version, town.set.hash.to_string());
    if std::env::var_os("SHOW_SETTLEMENT").is_some() {
        eprintln!("{}", serde_json::to_string(&s).unwrap());
    }
}

#[test]
fn the_cap_the_floor_and_zero_activity() {
    let town = Town::new();
    // P6: 400 visits (1200) + 100 h counted as 60 (480) = 1680, no cases → × 1.00 → capped.
    town.activity("P6", "入户走访", "400", "WG-6", "a");
    town.activity("P6", "巡查时长", "100", "WG-6", "b");
    let s = town.inc.preview(&town.set, "P6", "2026-09", 0).unwrap();
    assert_eq!(s.breakdown.components[1].value.to_string(), "480.00");
    assert_eq!(s.breakdown.rounded.to_string(), "1680.00");
    assert_eq!(s.breakdown.total.to_string(), "1500.00");
    assert_eq!(s.breakdown.limited_by.as_deref(), Some("cap"));
    // P7: 10 visits = 30.00 → lifted to the floor.
    town.activity("P7", "入户走访", "10", "WG-7", "c");
    let s = town.inc.preview(&town.set, "P7", "2026-09", 0).unwrap();
    assert_eq!(s.breakdown.rounded.to_string(), "30.00");
    assert_eq!(s.breakdown.total.to_string(), "200.00");
    assert_eq!(s.breakdown.limited_by.as_deref(), Some("floor"));
    // P3 did nothing: 以奖代补, no floor.
    assert_eq!(town.total("P3"), "0.00");
}

#[test]
fn a_low_quality_month_is_cut() {
    let town = Town::new();
    // Case A: slow — escalates to 一般网格 before it is closed.
    let (a, _) = town
        .cases
        .report(Report {
            on_behalf: None,
            workflow: "事件处置".into(),
            unit: Some("WG-8".into()),
            data: json!({"类别": "垃圾堆放", "人数": 1, "风险": 1}),
            idempotency_key: None,
            actor: "P8".into(),
        })
        .unwrap();
    town.at("2026-09-14T13:00:00+08:00");
    for (name, outcome) in [
        ("立案", None),
        ("派遣", None),
        ("处置", None),
        ("反馈", Some("满意")),
        ("核查", Some("合格")),
    ] {
        town.cases
            .act(
                a.id,
                &Action::Transition {
                    name: name.into(),
                    outcome: outcome.map(str::to_string),
                    assignee: None,
                },
                &Actor {
                    on_behalf: None,
                    actor: "P8".into(),
                    note: None,
                },
                None,
            )
            .unwrap();
    }
    assert_eq!(town.cases.get(a.id).unwrap().escalations, 1);
    // Case B: reworked after 不满意, then 满意.
    town.handled("P8", "WG-8", "占道经营", &["不满意", "满意"]);
    town.activity("P8", "巡查时长", "40", "WG-8", "h");
    let s = town.inc.preview(&town.set, "P8", "2026-09", 0).unwrap();
    assert_eq!(s.stats.json()["办结"], 2);
    assert_eq!(s.stats.json()["按期"], 1);
    assert_eq!(s.stats.json()["返工"], 1);
    // 计件 = 2 × 2 + 2 × 5 = 14; 计时 = 320; 334 × (1 − 0.2 按期率 0.5 − 0.1 返工率 0.5) = 233.80
    assert_eq!(s.breakdown.subtotal.to_string(), "334.00");
    assert_eq!(s.breakdown.factors[0].value.to_string(), "0.7");
    assert_eq!(s.breakdown.total.to_string(), "233.80");
}

#[test]
fn full_time_workers_have_their_own_formula_with_quality_on_performance_only() {
    let town = Town::new();
    town.handled("P2", "G-1", "邻里纠纷", &["满意"]);
    town.activity("P2", "入户走访", "50", "G-1", "v");
    let s = town.inc.preview(&town.set, "P2", "2026-09", 0).unwrap();
    let b = &s.breakdown;
    assert_eq!(b.scheme, "专职网格员报酬");
    assert_eq!(b.components[0].value.to_string(), "3000.00");
    // 绩效 = 1 难事 × 10 + 50 × 3 = 160, × 1.1 (on 绩效 only) = 176
    assert_eq!(b.components[1].value.to_string(), "160.00");
    assert_eq!(b.factors[0].name, "质量 (× 绩效)");
    assert_eq!(b.total.to_string(), "3176.00");
}

#[test]
fn a_worker_who_moved_grids_mid_month_keeps_both_halves() {
    let town = Town::new();
    town.handled("P4", "WG-1", "垃圾堆放", &["满意"]);
    town.activity("P4", "巡查时长", "10", "WG-1", "first-half");
    town.at("2026-09-21T09:00:00+08:00");
    town.handled("P4", "WG-2", "占道经营", &["满意"]);
    town.activity("P4", "巡查时长", "15", "WG-2", "second-half");
    // P1 works WG-1 too, but none of P4's cases are P1's.
    town.handled("P1", "WG-1", "垃圾堆放", &["满意"]);
    let s = town.inc.preview(&town.set, "P4", "2026-09", 0).unwrap();
    assert_eq!(s.stats.json()["网格"], json!(["WG-1", "WG-2"]));
    assert_eq!(s.stats.json()["办结"], 2);
    // 计件 = 2 × 2 + 2 × 5 = 14; 计时 = 25 × 8 = 200; 214 × 1.1 = 235.40
    assert_eq!(s.breakdown.total.to_string(), "235.40");
    let p1 = town.inc.preview(&town.set, "P1", "2026-09", 0).unwrap();
    assert_eq!(p1.stats.json()["办结"], 1);
}

/// The last second of September and the first of October (UTC+8).
const SEP_30: i64 = 1_790_783_999;
const OCT_1: i64 = 1_790_784_000;

#[test]
fn settlements_are_immutable_and_a_correction_is_a_new_linked_record() {
    let town = Town::new();
    town.activity("P1", "巡查时长", "30", "WG-1", "h1");
    // A month is settled once it is over.
    let e = town
        .inc
        .settle(&town.set, "2026-09", &[], SEP_30, 2)
        .unwrap_err();
    assert!(matches!(e, AppError::PeriodOpen { .. }), "{e}");
    let first = town
        .inc
        .settle(&town.set, "2026-09", &[], OCT_1, 2)
        .unwrap();
    // Every 微网格员 and 专职网格员 (not the 志愿者).
    assert_eq!((first.created, first.existing), (7, 0));
    assert!(
        first.settlements.is_empty(),
        "a whole period is listed with settlements()"
    );
    let p1 = town
        .inc
        .settlements("2026-09", Some("P1"))
        .unwrap()
        .remove(0);
    assert_eq!(p1.breakdown.total.to_string(), "240.00");
    assert_eq!(p1.id, "2026-09/P1/1");
    // Activity into a settled month is refused unless it is a correction;
    // a correction changes nothing already settled until `correct`.
    let e = town
        .record("P1", "巡查时长", "10", "WG-1", "h2", false)
        .unwrap_err();
    assert!(matches!(e, AppError::Settled { .. }), "{e}");
    town.record("P1", "巡查时长", "10", "WG-1", "h2", true)
        .unwrap();
    let again = town
        .inc
        .settle(&town.set, "2026-09", &[], OCT_1 + 100, 2)
        .unwrap();
    assert_eq!((again.created, again.existing), (0, 7));
    assert_eq!(again.total, first.total);
    let named = town
        .inc
        .settle(&town.set, "2026-09", &["P1".to_string()], OCT_1 + 150, 2)
        .unwrap();
    assert_eq!((named.created, named.existing), (0, 1));
    assert_eq!(named.settlements, vec![p1.clone()]);
    assert_eq!(p1.breakdown.components[1].params["巡查时薪"], "8.00");
    // A correction recomputes and links back.
    let fixed = town
        .inc
        .correct(&town.set, "2026-09", "P1", "补录巡查 10 小时", OCT_1 + 200)
        .unwrap();
    assert_eq!(fixed.breakdown.total.to_string(), "320.00");
    assert_eq!(fixed.corrects.as_deref(), Some("2026-09/P1/1"));
    assert_eq!(fixed.id, "2026-09/P1/2");
    let all = town.inc.settlements("2026-09", Some("P1")).unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[0], p1);
    // Correcting an unsettled period is refused.
    let e = town
        .inc
        .correct(&town.set, "2026-10", "P1", "x", 300)
        .unwrap_err();
    assert!(matches!(e, AppError::NotSettled { .. }), "{e}");
}

#[test]
fn activity_is_idempotent_and_validated_and_a_refusal_writes_nothing() {
    let town = Town::new();
    let rec = |kind: &str, qty: &str, key: &str, who: &str| {
        town.inc.record_activity(
            &town.set,
            NewActivity {
                person: who.into(),
                kind: kind.into(),
                quantity: d(qty),
                period: "2026-09".into(),
                unit: None,
                key: key.into(),
                note: None,
                correction: false,
            },
            1,
        )
    };
    let (a, created) = rec("入户走访", "3", "k", "P1").unwrap();
    assert!(created);
    let (b, created) = rec("入户走访", "3", "k", "P1").unwrap();
    assert!(!created);
    assert_eq!(a, b);
    let e = rec("入户走访", "4", "k", "P1").unwrap_err();
    assert!(matches!(e, AppError::KeyReused { .. }), "{e}");
    let e = rec("入户走仿", "1", "k2", "P1").unwrap_err();
    assert!(e.to_string().contains("no activity kind `入户走仿`"), "{e}");
    let e = rec("入户走访", "1", "k3", "P5").unwrap_err();
    assert!(matches!(e, AppError::NoScheme { .. }), "{e}");
    let e = rec("入户走访", "1", "k4", "P9").unwrap_err();
    assert!(matches!(e, AppError::UnknownPerson { .. }), "{e}");
    let e = rec("入户走访", "0", "k5", "P1").unwrap_err();
    assert!(e.to_string().contains("`quantity`"), "{e}");
    assert_eq!(town.inc.activities("2026-09", Some("P1")).unwrap().len(), 1);
}

#[test]
fn points_never_go_negative_and_every_entry_is_idempotent() {
    let town = Town::new();
    let set = &town.set;
    let (e, _) = town
        .inc
        .earn(set, "R1", "共享车位", d("3"), "share-1", None, 1)
        .unwrap();
    assert_eq!((e.points, e.balance), (30, 30));
    // A retry is the same entry; another payload under the key is refused.
    let (again, created) = town
        .inc
        .earn(set, "R1", "共享车位", d("3"), "share-1", None, 2)
        .unwrap();
    assert!(!created);
    assert_eq!(again, e);
    assert!(matches!(
        town.inc
            .earn(set, "R1", "共享车位", d("4"), "share-1", None, 2),
        Err(AppError::KeyReused { .. })
    ));
    // 0.25 元 of 物业费 at 100 points per 元 = 25 points.
    let (r, _) = town
        .inc
        .redeem(set, "R1", "物业费", d("0.25"), "fee-1", None, 3)
        .unwrap();
    assert_eq!((r.points, r.balance), (-25, 5));
    // A prize costs 300: refused, nothing written.
    let e = town
        .inc
        .redeem(set, "R1", "保温杯", d("1"), "cup-1", None, 4)
        .unwrap_err();
    assert_eq!(
        e,
        AppError::InsufficientPoints {
            resident: "R1".into(),
            balance: 5,
            needed: 300
        }
    );
    assert_eq!(town.inc.balance("R1").unwrap(), 5);
    assert_eq!(town.inc.history("R1").unwrap().len(), 2);
    // The same key can be used once the balance allows it.
    town.inc
        .earn(set, "R1", "志愿服务", d("100"), "vol-1", None, 5)
        .unwrap();
    let (cup, _) = town
        .inc
        .redeem(set, "R1", "保温杯", d("1"), "cup-1", None, 6)
        .unwrap();
    assert_eq!(cup.balance, 5);
    // Fractions of a point and unknown rules are refused.
    let e = town
        .inc
        .redeem(set, "R1", "物业费", d("0.001"), "fee-2", None, 7)
        .unwrap_err();
    assert!(e.to_string().contains("whole points"), "{e}");
    let e = town
        .inc
        .earn(set, "R1", "共享车味", d("1"), "x", None, 7)
        .unwrap_err();
    assert!(
        miette_help(&e).contains("did you mean `共享车位`"),
        "{}",
        miette_help(&e)
    );
    assert_eq!(town.inc.history("R1").unwrap().len(), 4);
    let _ = town.store.case_count();
}

fn miette_help(e: &AppError) -> String {
    format!(
        "{e} {:?}",
        miette::Diagnostic::help(e).map(|h| h.to_string())
    )
}

fn custom(text: &str) -> PolicySet {
    let mut set = wangge_dsl::SourceSet::default();
    set.add(wangge_dsl::SourceFile::new(
        "t.wg",
        format!("role 微网格员\n{text}"),
    ));
    let c = compile(set, &RhaiHost::default());
    c.set
        .unwrap_or_else(|| panic!("{}", wangge_dsl::render(&c.diagnostics, &c.sources, false)))
}

#[test]
fn the_rounding_the_policy_states_is_the_rounding_applied() {
    for (mode, expected) in [
        ("四舍五入", "10.13"),
        ("银行家舍入", "10.12"),
        ("舍去", "10.12"),
    ] {
        // Components are money (to the fen); the factor brings the third decimal.
        let set = custom(&format!(
            "param 底 = 10.00元\n param 倍率 = 1.0125\n calc 底数(统计) -> 元 {{ 底 }}\n calc 倍(统计) -> 数 {{ 倍率 }}\n\
             subsidy 测 for 微网格员 {{ component 底 = 底数\n factor 倍 = 倍\n round {mode} }}"
        ));
        let scheme = set.subsidies.get("微网格员").unwrap();
        let b = scheme
            .compute(&set, &[("统计", rhai::Dynamic::UNIT)])
            .unwrap();
        assert_eq!(b.exact.to_string(), "10.125");
        assert_eq!(b.total.to_string(), expected, "{mode}");
    }
}

#[test]
fn a_float_factor_is_refused_as_inexact() {
    let set = custom(
        "param 底 = 10.00元\n calc 底数(统计) -> 元 { 底 }\n calc 倍(统计) -> 数 { 1.0 - 0.2 - 0.1 }\n\
         subsidy 测 for 微网格员 { component 底 = 底数\n factor 倍 = 倍 }",
    );
    let e = set.subsidies["微网格员"]
        .compute(&set, &[("统计", rhai::Dynamic::UNIT)])
        .unwrap_err();
    assert!(e.to_string().contains("the float"), "{e}");
}

#[test]
fn subsidy_mistakes_are_diagnostics() {
    let mut set = wangge_dsl::SourceSet::default();
    set.add(wangge_dsl::SourceFile::new(
        "t.wg",
        "role 微网格员\n calc 件(统计) -> 数 { 1 }\n calc 系(单位) -> 数 { 1 }\n\
         subsidy 甲 for 网格长 { component 件 = 件 }\n\
         subsidy 乙 for 微网格员 { component 件 = 件\n factor 系 = 系 on 计件\n floor 500.00元\n cap 100.00元 }\n"
            .to_string(),
    ));
    let c = compile(set, &RhaiHost::default());
    let text = wangge_dsl::render(&c.diagnostics, &c.sources, false);
    for needle in [
        "unknown role `网格长`",
        "calc `件` returns `数`",
        "subsidy `乙` has no component `计件`",
        "the floor 500.00元 is above the cap 100.00元",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in {text}");
    }
    assert!(c.set.is_none());
}
