//! Decision benchmarks (criterion): the shipped 事件分级 table, and a
//! 3-condition rhai rule against the same expression on a bare rhai engine.
//!
//! Run: `cargo bench -p wangge-testkit --bench decisions`

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use serde_json::json;
use wangge_dsl::{SourceFile, SourceSet};
use wangge_policy::json_to_dynamic;
use wangge_policy::{compile, PolicySet, RhaiHost};

fn shipped() -> Arc<PolicySet> {
    wangge_testkit::fixtures::shipped().expect("shipped policies compile")
}

fn table(c: &mut Criterion) {
    let p = shipped();
    let mut g = c.benchmark_group("事件分级");
    // Row 4 fires (高危类别, 风险 3).
    let typical = json!({"事件": {"类别": "燃气安全", "人数": 2, "风险": 3}});
    // No specific row fires: all 10 rows are tried.
    let last_row = json!({"事件": {"类别": "其他", "人数": 1, "风险": 1}});
    g.bench_function("typical (row 4)", |b| {
        b.iter(|| {
            p.evaluate(black_box("事件分级"), black_box(&typical))
                .unwrap()
        })
    });
    g.bench_function("last row (10 rows tried)", |b| {
        b.iter(|| {
            p.evaluate(black_box("事件分级"), black_box(&last_row))
                .unwrap()
        })
    });
    g.finish();
}

/// A 1,000-row table keyed by category and a range of people, with a
/// catch-all last row.
fn big_table() -> String {
    let mut t = String::from("table 大表(事件) hit first {\n  | 事件.类别 | 事件.人数 || 结果 |\n");
    for i in 0..1_000 {
        t.push_str(&format!(
            "  | \"类别{i}\" | [{}..{}) || \"r{i}\" |\n",
            i % 50,
            i % 50 + 10
        ));
    }
    t.push_str("  | - | - || \"其他\" |\n}\n");
    t
}

fn big(c: &mut Criterion) {
    let mut sources = SourceSet::default();
    sources.add(SourceFile::new("big.wg", big_table()));
    let set = compile(sources, &RhaiHost::default()).set.unwrap();
    let Ok(wangge_policy::Evaluable::Table(indexed)) = set.get("大表") else {
        panic!("no table")
    };
    assert!(indexed.has_index());
    let scan = indexed.without_index();
    let fall_through = json!({"类别": "没有的类别", "人数": 3});
    let middle = json!({"类别": "类别500", "人数": 5});
    let mut g = c.benchmark_group("1,000-row table");
    for (name, input) in [("falls through", &fall_through), ("row 501", &middle)] {
        g.bench_function(format!("{name}, indexed"), |b| {
            b.iter(|| {
                indexed
                    .evaluate(set.host(), &[black_box(input)], &set.hash)
                    .unwrap()
            })
        });
        g.bench_function(format!("{name}, scan"), |b| {
            b.iter(|| {
                scan.evaluate(set.host(), &[black_box(input)], &set.hash)
                    .unwrap()
            })
        });
    }
    g.finish();
}

const CONDITION: &str = r#"事件.人数 >= 3 && 事件.类别 == "物业纠纷" && 事件.风险 < 4"#;

fn rule(c: &mut Criterion) {
    let mut src = SourceSet::default();
    src.add(SourceFile::new(
        "bench.wg",
        format!(
            "rules 规则(事件) hit first {{\n  rule 命中 when {CONDITION} then {{ }}\n}}\ncalc 条件(事件) -> 布尔 {{ {CONDITION} }}\n"
        ),
    ));
    let p = compile(src, &RhaiHost::default()).set.expect("compiles");
    let input = json!({"事件": {"类别": "物业纠纷", "人数": 12, "风险": 2}});

    // The same expression on a stock engine, from the same JSON input.
    let bare = rhai::Engine::new();
    let mut scope = rhai::Scope::new();
    scope.push_dynamic("事件", rhai::Dynamic::UNIT);
    let ast = bare
        .compile_expression_with_scope(&scope, CONDITION)
        .unwrap();
    let event = &input["事件"];

    let hardened = wangge_policy::build_engine(&wangge_policy::Limits::default());
    let hast = hardened
        .compile_expression_with_scope(&scope, CONDITION)
        .unwrap();
    let mut g = c.benchmark_group("3-condition rule");
    g.bench_function("hardened engine alone", |b| {
        b.iter(|| {
            let mut scope = rhai::Scope::new();
            scope.push_dynamic("事件", json_to_dynamic(black_box(event)));
            hardened
                .eval_ast_with_scope::<bool>(&mut scope, &hast)
                .unwrap()
        })
    });
    g.bench_function("wangge rule set", |b| {
        b.iter(|| p.evaluate(black_box("规则"), black_box(&input)).unwrap())
    });
    g.bench_function("wangge calc -> 布尔", |b| {
        b.iter(|| p.evaluate(black_box("条件"), black_box(&input)).unwrap())
    });
    g.bench_function("bare rhai", |b| {
        b.iter(|| {
            let mut scope = rhai::Scope::new();
            scope.push_dynamic("事件", json_to_dynamic(black_box(event)));
            bare.eval_ast_with_scope::<bool>(&mut scope, &ast).unwrap()
        })
    });
    g.finish();
}

criterion_group!(benches, table, big, rule);
criterion_main!(benches);
