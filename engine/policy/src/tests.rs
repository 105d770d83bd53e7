//! Engine tests: hit policies, rules, calcs, script errors mapped to the
//! policy file, and the sandbox limits.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use wangge_dsl::{render, SourceFile, SourceSet};

use crate::{compile, EvalError, Explanation, Limits, PolicySet, RhaiHost};

fn sources(text: &str) -> SourceSet {
    let mut s = SourceSet::default();
    s.add(SourceFile::new("t.wg", text));
    s
}

fn policy(text: &str) -> PolicySet {
    let c = compile(sources(text), &RhaiHost::default());
    match c.set {
        Some(s) => s,
        None => panic!("{}", render(&c.diagnostics, &c.sources, false)),
    }
}

fn errors(text: &str) -> String {
    let c = compile(sources(text), &RhaiHost::default());
    assert!(c.set.is_none(), "expected errors");
    render(&c.diagnostics, &c.sources, false)
}

fn eval(p: &PolicySet, item: &str, input: Value) -> Value {
    match p.evaluate(item, &input) {
        Ok(d) => Value::clone(&d.result),
        Err(e) => panic!("{e}"),
    }
}

fn selected(p: &PolicySet, item: &str, input: Value) -> Vec<usize> {
    match p.evaluate(item, &input) {
        Ok(d) => match d.explanation {
            Explanation::Table { selected, .. } => selected,
            other => panic!("{other:?}"),
        },
        Err(e) => panic!("{e}"),
    }
}

mod hit_policies {
    use super::*;

    const T: &str = r#"
param 名单 = ["甲", "乙"]
table u(a) hit unique {
  | a.n    || y |
  | < 10   || "小" |
  | >= 5   || "大" |
}
table f(a) hit first {
  | a.k      | a.n        || y | z |
  | in 名单  | [1..10)    || 1 | "a" |
  | not("丙")| -          || 2 | - |
  | -        | -          || 3 | "c" |
}
table p(a) hit priority {
  | a.n   || 等级: ["大事", "难事", "小事"] | 层级 |
  | -     || "小事" | "微网格" |
  | >= 3  || "难事" | "社区" |
  | >= 30 || "大事" | "街道" |
}
table any(a) hit any {
  | a.n  || y |
  | > 0  || "正" |
  | > 10 || "正" |
  | < 0  || "负" |
  | = 0  || "零" |
}
table anybad(a) hit any {
  | a.n  || y |
  | > 0  || "正" |
  | > 10 || "大" |
}
table c(a) hit collect {
  | a.n  || y |
  | > 0  || "b" |
  | > 1  || "a" |
  | > 2  || "b" |
}
table cs(a) hit collect sum {
  | a.n  || 分 |
  | > 0  || 1.5 |
  | > 1  || 2 |
  | > 2  || - |
}
table cmin(a) hit collect min { | a.n || 分 | | > 0 || 3 | | > 1 || 2 | }
table cmax(a) hit collect max { | a.n || 分 | | > 0 || 3 | | > 1 || 7 | }
table ccount(a) hit collect count {
  | a.n  || y |
  | > 0  || "x" |
  | > 1  || "x" |
  | > 2  || "y" |
}
table money(a) hit collect sum { | a.n || 额 | | > 0 || 10.25元 | | > 1 || 0.75元 | }
table ro(a) hit rule order {
  | a.n || y |
  | > 0 || "b" |
  | > 1 || "a" |
}
table oo(a) hit output order {
  | a.n || 等级: ["大事", "难事", "小事"] |
  | > 0 || "小事" |
  | > 1 || "大事" |
  | > 2 || "难事" |
}
"#;

    #[test]
    fn unique_returns_the_one_row_and_errors_naming_both_rows() {
        let p = policy(T);
        assert_eq!(eval(&p, "u", json!({"a": {"n": 1}})), json!({"y": "小"}));
        assert_eq!(eval(&p, "u", json!({"a": {"n": 20}})), json!({"y": "大"}));
        let err = p.evaluate("u", &json!({"a": {"n": 7}})).err();
        let Some(EvalError::HitPolicy { rows, policy, .. }) = err else {
            panic!("{err:?}")
        };
        assert_eq!(policy, "unique");
        assert_eq!(rows, "1 (t.wg:5), 2 (t.wg:6)");
    }

    #[test]
    fn unique_with_no_match_is_null() {
        let p = policy(T);
        assert_eq!(eval(&p, "u", json!({"a": {"n": "文字"}})), Value::Null);
    }

    #[test]
    fn first_takes_the_first_match_in_order() {
        let p = policy(T);
        assert_eq!(
            eval(&p, "f", json!({"a": {"k": "乙", "n": 3}})),
            json!({"y": 1, "z": "a"})
        );
        assert_eq!(
            eval(&p, "f", json!({"a": {"k": "乙", "n": 10}})),
            json!({"y": 2, "z": null})
        );
        assert_eq!(
            eval(&p, "f", json!({"a": {"k": "丙", "n": 1}})),
            json!({"y": 3, "z": "c"})
        );
        // A missing field is null: `not("丙")` holds for it.
        assert_eq!(eval(&p, "f", json!({"a": {}})), json!({"y": 2, "z": null}));
    }

    #[test]
    fn priority_follows_the_output_value_list_not_row_order() {
        let p = policy(T);
        assert_eq!(
            eval(&p, "p", json!({"a": {"n": 1}})),
            json!({"等级": "小事", "层级": "微网格"})
        );
        assert_eq!(
            eval(&p, "p", json!({"a": {"n": 5}})),
            json!({"等级": "难事", "层级": "社区"})
        );
        assert_eq!(
            eval(&p, "p", json!({"a": {"n": 50}})),
            json!({"等级": "大事", "层级": "街道"})
        );
        assert_eq!(selected(&p, "p", json!({"a": {"n": 50}})), vec![3]);
    }

    #[test]
    fn any_allows_agreeing_rows_and_rejects_disagreeing_ones() {
        let p = policy(T);
        assert_eq!(eval(&p, "any", json!({"a": {"n": 20}})), json!({"y": "正"}));
        assert_eq!(selected(&p, "any", json!({"a": {"n": 20}})), vec![1, 2]);
        let err = p.evaluate("anybad", &json!({"a": {"n": 20}})).err();
        assert!(
            matches!(err, Some(EvalError::HitPolicy { policy: "any", .. })),
            "{err:?}"
        );
    }

    #[test]
    fn collect_and_rule_order_list_outputs_in_row_order() {
        let p = policy(T);
        assert_eq!(
            eval(&p, "c", json!({"a": {"n": 3}})),
            json!([{"y": "b"}, {"y": "a"}, {"y": "b"}])
        );
        assert_eq!(
            eval(&p, "ro", json!({"a": {"n": 2}})),
            json!([{"y": "b"}, {"y": "a"}])
        );
        assert_eq!(eval(&p, "c", json!({"a": {"n": 0}})), json!([]));
    }

    #[test]
    fn collect_aggregates() {
        let p = policy(T);
        // nulls are skipped by sum
        assert_eq!(eval(&p, "cs", json!({"a": {"n": 3}})), json!(3.5));
        assert_eq!(eval(&p, "cs", json!({"a": {"n": 0}})), json!(0));
        assert_eq!(eval(&p, "cmin", json!({"a": {"n": 2}})), json!(2));
        assert_eq!(eval(&p, "cmin", json!({"a": {"n": 0}})), Value::Null);
        assert_eq!(eval(&p, "cmax", json!({"a": {"n": 2}})), json!(7));
        // DMN: count is the number of distinct output values
        assert_eq!(eval(&p, "ccount", json!({"a": {"n": 3}})), json!(2));
        // money stays exact
        assert_eq!(eval(&p, "money", json!({"a": {"n": 2}})), json!("11.00"));
    }

    #[test]
    fn output_order_sorts_by_output_priority() {
        let p = policy(T);
        assert_eq!(
            eval(&p, "oo", json!({"a": {"n": 3}})),
            json!([{"等级": "大事"}, {"等级": "难事"}, {"等级": "小事"}])
        );
        assert_eq!(selected(&p, "oo", json!({"a": {"n": 3}})), vec![2, 3, 1]);
    }
}

#[test]
fn numbers_compare_exactly_across_ints_decimals_and_strings() {
    let p =
        policy("table t(a) hit first { | a.x || y | | [0.1..0.3] || \"in\" | | - || \"out\" | }");
    assert_eq!(eval(&p, "t", json!({"a": {"x": 0.3}})), json!({"y": "in"}));
    assert_eq!(
        eval(&p, "t", json!({"a": {"x": "0.30"}})),
        json!({"y": "in"})
    );
    assert_eq!(
        eval(&p, "t", json!({"a": {"x": 0.31}})),
        json!({"y": "out"})
    );
    assert_eq!(
        eval(&p, "t", json!({"a": {"x": true}})),
        json!({"y": "out"})
    );
}

#[test]
fn rhai_cells_and_input_columns() {
    let p = policy(concat!(
        "table t(事件) hit first {\n",
        "  | { 事件.人数 * 2 } | 事件.户数        || y |\n",
        "  | >= 10            | { it < 事件.人数 } || \"a\" |\n",
        "  | -                | -                  || \"b\" |\n",
        "}\n"
    ));
    assert_eq!(
        eval(&p, "t", json!({"事件": {"人数": 5, "户数": 3}})),
        json!({"y": "a"})
    );
    assert_eq!(
        eval(&p, "t", json!({"事件": {"人数": 5, "户数": 9}})),
        json!({"y": "b"})
    );
}

#[test]
fn rules_first_and_all() {
    let p = policy(concat!(
        "param 阈值 = 3\n",
        "rules r(单位) hit first {\n",
        "  rule 甲 when 单位.n >= 阈值 then { 方式: \"单独建\", 数: 单位.n * 2 }\n",
        "  rule 乙 when true then { 方式: \"其他\" }\n",
        "}\n",
        "rules all(单位) hit all {\n",
        "  rule 甲 when 单位.n > 0 then { k: 1 }\n",
        "  rule 乙 when 单位.n > 1 then { k: 2 }\n",
        "  rule 丙 when 单位.n > 2 then { k: 3 }\n",
        "}\n"
    ));
    assert_eq!(
        eval(&p, "r", json!({"单位": {"n": 4}})),
        json!({"方式": "单独建", "数": 8})
    );
    let d = p.evaluate("r", &json!({"单位": {"n": 1}})).unwrap();
    assert_eq!(*d.result, json!({"方式": "其他"}));
    let Explanation::Rules {
        matched, evaluated, ..
    } = d.explanation
    else {
        panic!("not a rules explanation")
    };
    assert_eq!((&*matched[0].rule, evaluated), ("乙", 2));
    assert_eq!(&*matched[0].at, "t.wg:4");
    assert_eq!(
        eval(&p, "all", json!({"单位": {"n": 2}})),
        json!([{"k": 1}, {"k": 2}])
    );
    assert_eq!(eval(&p, "all", json!({"单位": {"n": 0}})), json!([]));
}

#[test]
fn rule_condition_must_be_boolean() {
    let p = policy("rules r(a) { rule x when a.n then { y: 1 } }");
    let err = p.evaluate("r", &json!({"a": {"n": 3}})).err();
    assert!(
        matches!(&err, Some(EvalError::ResultType { item, .. }) if item == "r.x"),
        "{err:?}"
    );
}

#[test]
fn calc_money_rounds_half_away_from_zero_to_the_fen() {
    let p = policy(concat!(
        "param 单价 = 12.50元\n",
        "calc 补贴(员) -> 元 { 单价 * 员.次数 / 3 }\n",
        "calc 数(x) -> 数 { x * 2 }\n",
        "calc 坏(x) -> 整数 { \"文字\" }\n",
    ));
    // 12.50 * 1 / 3 = 4.1666… → 4.17
    assert_eq!(eval(&p, "补贴", json!({"员": {"次数": 1}})), json!("4.17"));
    // 12.50 * 5 / 3 = 20.8333… → 20.83
    assert_eq!(eval(&p, "补贴", json!({"员": {"次数": 5}})), json!("20.83"));
    assert_eq!(eval(&p, "数", json!({"x": 21})), json!(42));
    let err = p.evaluate("坏", &json!({"x": 1})).err();
    assert!(matches!(err, Some(EvalError::ResultType { .. })), "{err:?}");
}

#[test]
fn a_calc_explains_the_fields_it_read_not_whole_inputs() {
    let p = policy(concat!(
        "param 单价 = 12.50元\n",
        "calc 补贴(员, 天数) -> 元 { 单价 * 员.次数 * 天数 }\n",
    ));
    let d = p
        .evaluate(
            "补贴",
            &json!({"员": {"次数": 2, "姓名": "张三"}, "天数": 3}),
        )
        .expect("evaluates");
    assert_eq!(*d.result, json!("75.00"));
    let crate::Explanation::Calc { inputs, params } = &d.explanation else {
        panic!("not a calc explanation: {:?}", d.explanation)
    };
    let shown: Vec<(String, Value)> = inputs
        .iter()
        .map(|i| (i.name.to_string(), i.value.clone()))
        .collect();
    assert_eq!(
        shown,
        [
            ("员.次数".to_string(), json!(2)),
            ("天数".to_string(), json!(3))
        ]
    );
    assert_eq!(params.len(), 1);
    assert!(d.render().contains("员.次数 = 2"), "{}", d.render());
}

#[test]
fn bad_inputs_get_precise_errors() {
    let p = policy("table t(事件, 网格) { | 事件.x || y | | - || 1 | }");
    let e = |v: Value| p.evaluate("t", &v).err().map(|e| e.to_string());
    assert_eq!(
        e(json!([1])).as_deref(),
        Some("the input of `t` must be a JSON object keyed by parameter name")
    );
    assert_eq!(
        e(json!({"事件": {}})).as_deref(),
        Some("missing input `网格` for `t`")
    );
    assert_eq!(
        e(json!({"事件": {}, "网格": {}, "其他": 1})).as_deref(),
        Some("unknown input `其他` for `t`")
    );
    let err = p.evaluate("u", &json!({})).err();
    assert!(matches!(err, Some(EvalError::UnknownItem { .. })));
}

mod script_errors {
    use super::*;

    #[test]
    fn compile_error_on_first_line_is_offset_by_the_column() {
        let out = errors("calc c(x) -> 数 { x + 未知 }");
        assert!(out.contains("[t.wg:1:22]"), "{out}");
        assert!(out.contains("unknown variable `未知` in `c`"), "{out}");
        insta::assert_snapshot!("calc_unknown_variable", out);
    }

    #[test]
    fn compile_error_on_a_later_line_is_not_offset() {
        let out = errors("calc c(x) -> 数 {\n  let a = 1;\n  let b = a +;\n  b\n}");
        assert!(out.contains("[t.wg:3:14]"), "{out}");
        insta::assert_snapshot!("calc_syntax_later_line", out);
    }

    #[test]
    fn when_expression_spanning_lines() {
        let out = errors("rules r(a) {\n  rule x when a.n > 1 &&\n     a.m <<< 2 then { y: 1 }\n}");
        assert!(out.contains("t.wg:3:"), "{out}");
    }

    #[test]
    fn runtime_error_names_item_and_place() {
        let p = policy("calc c(x) -> 数 {\n  let a = x.n;\n  a / 0\n}");
        let err = p.evaluate("c", &json!({"x": {"n": 1}})).err();
        let Some(EvalError::Script { item, location, .. }) = err else {
            panic!("{err:?}")
        };
        assert_eq!(item, "c");
        assert!(location.starts_with("t.wg:3:"), "{location}");
    }

    #[test]
    fn eval_is_not_available() {
        let out = errors("calc c(x) { eval(\"1\") }");
        assert!(out.contains("`c`"), "{out}");
    }
}

mod sandbox {
    use super::*;

    fn assert_fast_limit(src: &str, expect: &str) {
        let p = policy(src);
        let start = Instant::now();
        let err = p.evaluate("c", &json!({"x": 1})).err();
        let took = start.elapsed();
        eprintln!("stopped in {took:?}: {err:?}");
        let Some(EvalError::Limit { item, limit, .. }) = &err else {
            panic!("{err:?}")
        };
        assert_eq!(item, "c");
        assert!(limit.contains(expect), "{limit}");
        // The operation limit stops it, well before the wall-clock backstop.
        assert!(took < Limits::default().time_budget, "took {took:?}");
    }

    #[test]
    fn infinite_loop_is_stopped() {
        assert_fast_limit("calc c(x) { let i = 0; loop { i += 1; } }", "");
    }

    #[test]
    fn deep_recursion_is_stopped() {
        assert_fast_limit(
            "calc c(x) { fn f(n) { f(n + 1) } f(x) }",
            "nested deeper than 32",
        );
    }

    #[test]
    fn huge_string_is_stopped() {
        assert_fast_limit(
            "calc c(x) { let s = \"网格网格\"; loop { s += s; } }",
            "grew past its limit",
        );
    }

    #[test]
    fn huge_array_is_stopped() {
        assert_fast_limit(
            "calc c(x) { let a = []; loop { a.push(1); } }",
            // rhai may notice the time budget before the array size
            "",
        );
    }

    #[test]
    fn time_budget_stops_a_slow_script_before_its_operation_limit() {
        let host = RhaiHost::new(Limits {
            max_operations: u64::MAX,
            time_budget: Duration::from_millis(20),
            ..Limits::default()
        });
        let c = compile(sources("calc c(x) { let i = 0; loop { i += 1; } }"), &host);
        let Some(p) = c.set else { panic!("compile") };
        let start = Instant::now();
        let err = p.evaluate("c", &json!({"x": 1})).err();
        assert!(start.elapsed() < Duration::from_millis(100));
        let Some(EvalError::Limit { limit, .. }) = err else {
            panic!("{err:?}")
        };
        assert_eq!(limit, "it ran past its time budget of 20 ms");
    }

    /// A busy machine must not fail a script that a quiet one passes: the
    /// operation count decides, the wall clock is only a distant backstop.
    #[test]
    fn the_operation_budget_decides_not_the_wall_clock() {
        let host = RhaiHost::default();
        let script = |n: u64| format!("calc c(x) {{ let i = 0; while i < {n} {{ i += 1; }} i }}");
        let c = compile(sources(&script(200_000)), &host);
        let Some(p) = c.set else { panic!("compile") };
        for _ in 0..3 {
            let d = p.evaluate("c", &json!({"x": 1}));
            assert!(
                d.is_ok(),
                "a script within its operation limit failed: {d:?}"
            );
        }
        let c = compile(sources(&script(2_000_000)), &host);
        let Some(p) = c.set else { panic!("compile") };
        let err = p.evaluate("c", &json!({"x": 1})).err();
        let Some(EvalError::Limit { limit, .. }) = err else {
            panic!("{err:?}")
        };
        assert_eq!(limit, "it ran more than 2000000 operations");
    }

    #[test]
    fn deep_expression_is_rejected_at_compile_time() {
        let deep = format!("calc c(x) {{ {}1{} }}", "(".repeat(200), ")".repeat(200));
        let out = errors(&deep);
        assert!(out.contains("wangge::rhai"), "{out}");
    }
}

#[test]
fn shipped_policies_compile_and_classify() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../policies");
    let src = match wangge_dsl::source::load(&dir) {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    };
    let c = compile(src, &RhaiHost::default());
    assert!(
        c.diagnostics.is_empty(),
        "{}",
        render(&c.diagnostics, &c.sources, false)
    );
    let Some(p) = c.set else { panic!("compile") };
    let classify = |cat: &str, n: i64, risk: i64| {
        eval(
            &p,
            "事件分级",
            json!({"事件": {"类别": cat, "人数": n, "风险": risk}}),
        )
    };
    assert_eq!(
        classify("群体性聚集", 5, 1),
        json!({"等级": "大事", "处置层级": "街道"})
    );
    assert_eq!(
        classify("垃圾堆放", 40, 1),
        json!({"等级": "大事", "处置层级": "街道"})
    );
    assert_eq!(
        classify("燃气安全", 1, 3),
        json!({"等级": "大事", "处置层级": "街道"})
    );
    assert_eq!(
        classify("燃气安全", 1, 1),
        json!({"等级": "难事", "处置层级": "社区"})
    );
    assert_eq!(
        classify("物业纠纷", 2, 1),
        json!({"等级": "难事", "处置层级": "社区"})
    );
    assert_eq!(
        classify("垃圾堆放", 2, 1),
        json!({"等级": "小事", "处置层级": "微网格"})
    );
    assert_eq!(
        classify("其他", 5, 1),
        json!({"等级": "小事", "处置层级": "一般网格"})
    );
    assert_eq!(
        classify("其他", 1, 1),
        json!({"等级": "小事", "处置层级": "微网格"})
    );
}

mod time_zones {
    use super::*;
    use wangge_dsl::ast::ClockKind;

    fn with_zone(zone: &str) -> String {
        format!(
            "ladder 城市网格 {{ 微网格 -> 一般网格 }}\n\
             table 分级(事件) hit first {{ | 事件.类别 || 等级 | 处置层级 | | - || \"小事\" | 微网格 | }}\n\
             calendar 日历 {{\n  timezone \"{zone}\"\n  hours 周一-周五 09:00-17:00\n}}\n\
             workflow 流程 on 城市网格 {{\n  calendar 日历\n  classify 分级 {{ class 等级, level 处置层级 }}\n  \
             initial 上报\n  final 结案\n  transitions {{\n    办结: 上报 -> 结案\n  }}\n  \
             limit {{ 微网格: 8h 工作时 }}\n}}\n"
        )
    }

    /// Working hours are wall-clock hours: across the weekend New York
    /// moves its clocks, a limit ends at 13:00 local either way.
    #[test]
    fn a_calendar_in_a_named_zone_counts_working_hours_on_its_wall_clock() {
        let p = policy(&with_zone("America/New_York"));
        let cal = p.workflow("流程").unwrap().calendar().unwrap();
        let friday = crate::parse_ts("2026-03-06T13:00:00-05:00").unwrap();
        let due = cal.add(friday, 8 * 3600, ClockKind::WorkingHours).unwrap();
        assert_eq!(cal.zone.format(due), "2026-03-09T13:00:00-04:00");
        // The same calendar at a fixed -05:00 ends an hour of UTC later.
        let p = policy(&with_zone("-05:00"));
        let cal = p.workflow("流程").unwrap().calendar().unwrap();
        let fixed = cal.add(friday, 8 * 3600, ClockKind::WorkingHours).unwrap();
        assert_eq!(fixed - due, 3600);
        assert_eq!(p.zone(), crate::Zone::Fixed(-5 * 3600));
    }

    #[test]
    fn asia_shanghai_gives_what_the_fixed_offset_gives() {
        let named = policy(&with_zone("Asia/Shanghai"));
        let fixed = policy(&with_zone("+08:00"));
        let start = crate::parse_ts("2026-09-30T16:00:00+08:00").unwrap();
        let due = |p: &PolicySet| {
            p.workflow("流程")
                .unwrap()
                .calendar()
                .unwrap()
                .add(start, 8 * 3600, ClockKind::WorkingHours)
                .unwrap()
        };
        assert_eq!(due(&named), due(&fixed));
        assert_eq!(named.zone().name(), "Asia/Shanghai");
    }

    #[test]
    fn a_misspelt_zone_is_refused_with_the_nearest_name() {
        let e = errors(&with_zone("Asia/Shangai"));
        assert!(
            e.contains("`Asia/Shangai` is not a UTC offset or a time zone"),
            "{e}"
        );
        assert!(e.contains("did you mean `Asia/Shanghai`?"), "{e}");
    }
}

mod dates_in_tables {
    use super::*;

    const T: &str = r#"
table 时段(事件) hit first {
  | 事件.时间                          | 事件.时刻        || 时段 |
  | [2026-10-01..2026-10-07]           | -                || "国庆" |
  | >= 2026-10-08T00:00                | -                || "节后" |
  | -                                  | >= 22:00         || "夜间" |
  | -                                  | < 06:00          || "夜间" |
  | = 2026-02-17                       | -                || "春节" |
  | -                                  | -                || "日常" |
}
"#;

    #[test]
    fn dates_and_times_compare_in_table_cells() {
        let p = policy(T);
        let at = |time: &str, clock: &str| {
            eval(&p, "时段", json!({"事件": {"时间": time, "时刻": clock}}))["时段"].clone()
        };
        // A date-time input gives its wall-clock date to a date bound.
        assert_eq!(at("2026-10-03T23:30:00+08:00", "23:30"), json!("国庆"));
        assert_eq!(at("2026-10-07", "10:00"), json!("国庆"));
        assert_eq!(at("2026-10-08T00:00:00+08:00", "00:00"), json!("节后"));
        assert_eq!(at("2026-09-30T22:15:00+08:00", "22:15"), json!("夜间"));
        assert_eq!(at("2026-09-30T05:59", "05:59"), json!("夜间"));
        assert_eq!(at("2026-02-17T09:00:00+08:00", "09:00"), json!("春节"));
        assert_eq!(at("2026-09-30", "12:00"), json!("日常"));
    }

    #[test]
    fn a_date_column_refuses_text_that_is_no_date() {
        let p = policy(T);
        let fields = match p.get("时段").unwrap() {
            crate::Evaluable::Table(t) => t.reads().to_vec(),
            _ => unreachable!(),
        };
        let e = crate::check_fields(
            "时段",
            &fields,
            &json!({"时间": "十月一日", "时刻": "10:00"}),
        )
        .unwrap_err();
        assert!(e.starts_with("`时间` must be a date"), "{e}");
        let e = crate::check_fields(
            "时段",
            &fields,
            &json!({"时间": "2026-10-01", "时刻": "十点"}),
        )
        .unwrap_err();
        assert!(e.starts_with("`时刻` must be a time of day"), "{e}");
    }

    #[test]
    fn a_range_from_a_date_to_a_number_is_an_error() {
        let e = errors("table t(a) { | a.d || x | | [2026-01-01..5] || 1 | }");
        assert!(e.contains("a range from a date cannot end at `5`"), "{e}");
    }
}

mod composition {
    use super::*;

    const T: &str = r#"
param 高危类别 = ["燃气安全"]
ladder L { 微网格 -> 社区 -> 街道 }
table 分级(事件) hit first {
  | 事件.类别   | 事件.人数 || 等级   | 处置层级 |
  | in 高危类别 | -         || "大事" | 街道     |
  | -           | >= 10     || "难事" | 社区     |
  | -           | -         || "小事" | 微网格   |
}
calc 单价(等级) -> 元 { if 等级 == "大事" { 30.00 } else { 5.00 } }
calc 奖励(事件) -> 元 { 单价(分级(事件).等级) * 2 }
calc 坏(x) -> 元 { "不是金额" }
calc 用坏(x) -> 元 { 坏(x) + 1 }
rules 定级(事件, 上报) hit first {
  rule 园区高危 when 上报.园区 && 分级(事件).等级 != "小事" then { 等级: "大事", 处置层级: "街道" }
  rule 其余 when true then { 等级: 分级(事件).等级, 处置层级: 分级(事件).处置层级 }
}
table 加急(事件) hit first {
  | { 分级(事件).等级 } || 加急 |
  | "大事"              || true |
  | -                   || false |
}
"#;

    #[test]
    fn items_call_items_and_the_explanation_nests() {
        let p = policy(T);
        let d = p
            .evaluate("奖励", &json!({"事件": {"类别": "燃气安全", "人数": 1}}))
            .unwrap();
        // Money stays exact through the call: 30.00 × 2.
        assert_eq!(*d.result, json!("60.00"));
        let calls: Vec<(&str, Value)> = d
            .calls
            .iter()
            .map(|c| (&*c.item, Value::clone(&c.result)))
            .collect();
        assert_eq!(
            calls,
            [
                ("分级", json!({"等级": "大事", "处置层级": "街道"})),
                ("单价", json!("30.00")),
            ]
        );
        let shown = serde_json::to_value(&d).unwrap();
        assert_eq!(shown["calls"][0]["explanation"]["selected"], json!([1]));

        let r = p
            .evaluate(
                "定级",
                &json!({"事件": {"类别": "噪音扰民", "人数": 12}, "上报": {"园区": true}}),
            )
            .unwrap();
        assert_eq!(*r.result, json!({"等级": "大事", "处置层级": "街道"}));
        assert_eq!(&*r.calls[0].item, "分级");
        assert_eq!(
            eval(&p, "加急", json!({"事件": {"类别": "燃气安全", "人数": 1}})),
            json!({"加急": true})
        );
        assert_eq!(
            eval(&p, "加急", json!({"事件": {"类别": "噪音", "人数": 1}})),
            json!({"加急": false})
        );
    }

    #[test]
    fn a_failing_callee_names_itself_in_the_callers_error() {
        let p = policy(T);
        let e = p.evaluate("用坏", &json!({"x": 1})).unwrap_err();
        assert!(e.to_string().contains("in `坏`"), "{e}");
    }
}

mod schemas {
    use super::*;

    const T: &str = r#"
ladder L { 微网格 -> 社区 -> 街道 }
schema 单位信息 { 专属类型: 文本 optional, 户数: 整数 [0..100000] }
schema 事件报告 {
  类别: 枚举["燃气安全", "噪音扰民", "垃圾堆放"]
  人数: 整数 [0..100000]
  风险: 整数 [1..5] optional
  补助: 金额 optional
  发生: 时间 optional
  联系电话: 文本 optional personal
  单位: 单位信息 optional
}
table 分级(事件: 事件报告) hit first {
  | 事件.类别   | 事件.人数 || 等级   |
  | "燃气安全"  | -         || "大事" |
  | -           | >= 10     || "难事" |
  | -           | -         || "小事" |
}
calc 规模(事件: 事件报告) -> 整数 { 事件.人数 + 1 }
"#;

    #[test]
    fn eval_refuses_input_that_does_not_fit_naming_the_field() {
        let p = policy(T);
        let ok = json!({"事件": {"类别": "噪音扰民", "人数": 12, "补助": "12.50", "单位": {"户数": 300}}});
        assert_eq!(eval(&p, "分级", ok)["等级"], json!("难事"));
        for (input, want) in [
            (json!({"类型": "燃气安全", "人数": 1}), "input `事件.类型` of `分级` does not fit its schema: `事件报告` has no field `类型`; did you mean `类别`?"),
            (json!({"人数": 1}), "input `事件.类别` of `分级` does not fit its schema: is required by `事件报告`"),
            (json!({"类别": "燃气泄露", "人数": 1}), "input `事件.类别` of `分级` does not fit its schema: `燃气泄露` is not one of 燃气安全、噪音扰民、垃圾堆放; did you mean `燃气安全`?"),
            (json!({"类别": "噪音扰民", "人数": -1}), "input `事件.人数` of `分级` does not fit its schema: `-1` is outside [0..100000]"),
            (json!({"类别": "噪音扰民", "人数": 1.5}), "input `事件.人数` of `分级` does not fit its schema: must be 整数, not `1.5`"),
            (json!({"类别": "噪音扰民", "人数": 1, "补助": "1.234"}), "input `事件.补助` of `分级` does not fit its schema: `1.234` has more than two decimals (money is exact to the fen)"),
            (json!({"类别": "噪音扰民", "人数": 1, "发生": "昨天"}), "input `事件.发生` of `分级` does not fit its schema: must be 时间, not `\"昨天\"`"),
            (json!({"类别": "噪音扰民", "人数": 1, "单位": {"户数": "很多"}}), "input `事件.单位.户数` of `分级` does not fit its schema: must be 整数, not `\"很多\"`"),
        ] {
            let e = p.evaluate("分级", &json!({"事件": input})).unwrap_err();
            assert_eq!(e.to_string(), want);
        }
        let personal = p.schemas["事件报告"].personal_fields(&p.schemas);
        assert_eq!(personal, ["联系电话"]);
    }

    #[test]
    fn check_verifies_columns_cells_and_scripts_against_the_schema() {
        let bad = T
            .replace(
                "| 事件.类别   | 事件.人数 ||",
                "| 事件.类型   | 事件.人数 ||",
            )
            .replace("\"燃气安全\"  | -", "\"燃气泄漏\"  | -")
            .replace("事件.人数 + 1", "事件.人口 + 1");
        let e = errors(&bad);
        assert!(e.contains("`事件报告` has no field `类型`"), "{e}");
        assert!(e.contains("did you mean `类别`?"), "{e}");
        assert!(
            e.contains("`事件报告` has no field `人口` (read by `规模`)"),
            "{e}"
        );
        assert!(e.contains("did you mean `人数`?"), "{e}");
        let e = errors(&T.replace("| \"燃气安全\"  | -         ||", "| -  | \"很多\" ||"));
        assert!(e.contains("`人数` is 整数; `\"很多\"` is not"), "{e}");
        let e = errors(&T.replace("table 分级(事件: 事件报告)", "table 分级(事件: 事件报表)"));
        assert!(
            e.contains("unknown schema `事件报表`") || e.contains("事件报表"),
            "{e}"
        );
        let e = errors(&T.replace("户数: 整数 [0..100000]", "户数: 整型"));
        assert!(e.contains("unknown field type `整型`"), "{e}");
    }

    #[test]
    fn a_cell_value_outside_an_enum_is_an_error() {
        let e = errors(&T.replace("\"燃气安全\"  | -", "\"燃气泄漏\"  | -"));
        assert!(
            e.contains("`燃气泄漏` is not one of the values of `类别`"),
            "{e}"
        );
    }
}
