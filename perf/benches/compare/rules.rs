//! Rule sets and calcs next to a stock rhai engine running the same
//! expression from the same JSON input (JSON → `Dynamic`, a scope,
//! `eval_ast_with_scope`).

use std::hint::black_box;
use std::time::Duration;

use serde_json::json;
use wangge_dsl::{SourceFile, SourceSet};
use wangge_policy::{compile, json_to_dynamic, RhaiHost};

use crate::out::Table;
use crate::timing::{interleave, Contender};

const CONDITION: &str = r#"事件.人数 >= 3 && 事件.类别 == "物业纠纷" && 事件.风险 < 4"#;

pub fn run(rounds: usize, budget: Duration, out: &mut Table) {
    let mut src = SourceSet::default();
    src.add(SourceFile::new(
        "bench.wg",
        format!(
            "rules 规则(事件) hit first {{\n  rule 命中 when {CONDITION} then {{ }}\n}}\ncalc 条件(事件) -> 布尔 {{ {CONDITION} }}\n"
        ),
    ));
    let set = compile(src, &RhaiHost::default())
        .set
        .expect("the bench policy compiles");
    let input = json!({"事件": {"类别": "物业纠纷", "人数": 12, "风险": 2}});
    let bare = rhai::Engine::new();
    let mut scope = rhai::Scope::new();
    scope.push_dynamic("事件", rhai::Dynamic::UNIT);
    let ast = bare
        .compile_expression_with_scope(&scope, CONDITION)
        .expect("rhai compiles");
    let event = &input["事件"];
    let bare_eval = || {
        let mut scope = rhai::Scope::new();
        scope.push_dynamic("事件", json_to_dynamic(black_box(event)));
        bare.eval_ast_with_scope::<bool>(&mut scope, &ast).ok()
    };
    assert_eq!(bare_eval(), Some(true));
    assert_eq!(
        *set.evaluate("条件", &input).expect("calc").result,
        json!(true)
    );
    set.evaluate("规则", &input).expect("rules");
    let mut cs = vec![
        Contender::new("bare rhai", || {
            black_box(bare_eval());
        }),
        Contender::new("rule set", || {
            black_box(set.evaluate(black_box("规则"), black_box(&input)).ok());
        }),
        Contender::new("calc", || {
            black_box(set.evaluate(black_box("条件"), black_box(&input)).ok());
        }),
    ];
    let t = interleave(&mut cs, rounds, budget);
    out.row("3-condition rule set", "bare rhai", &t[0], &t[1], None);
    out.row(
        "same condition as a `calc -> 布尔`",
        "bare rhai",
        &t[0],
        &t[2],
        None,
    );
}
