//! Decision tables: wangge next to GoRules ZEN (zen-engine, JDM decision
//! tables, FIRST hit policy) on the same rows and the same inputs, and a
//! native `if`/`else` chain as the floor. Both engines start from a parsed
//! `serde_json::Value`: ZEN converts it to its `Variable` on each call (its
//! API takes one), wangge reads it directly. ZEN's field paths are ASCII
//! (its expression language reads `事件.类别` as nothing and every row falls
//! through), so its input carries the same values under ASCII names.

use std::hint::black_box;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use wangge_dsl::{SourceFile, SourceSet};
use wangge_policy::{compile, Evaluable, PolicySet, RhaiHost};
use zen_engine::model::DecisionContent;
use zen_engine::{Decision, Variable};

use crate::out::Table;
use crate::timing::{human_ns, interleave, per_op, Contender};

/// The shipped policies (the top-level `.wg` files of `policies/`), where
/// 事件分级 lives.
fn shipped() -> PolicySet {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../policies");
    let mut sources = SourceSet::default();
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("policies/")
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    for path in files
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "wg"))
    {
        let name = path
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        sources.add(SourceFile::new(
            name,
            std::fs::read_to_string(&path).expect("readable"),
        ));
    }
    let c = compile(sources, &RhaiHost::default());
    match c.set {
        Some(set) => set,
        None => panic!(
            "policies/ does not compile: {}",
            wangge_dsl::render(&c.diagnostics, &c.sources, false)
        ),
    }
}

fn compile_one(name: &str, text: String) -> PolicySet {
    let mut sources = SourceSet::default();
    sources.add(SourceFile::new(name, text));
    let c = compile(sources, &RhaiHost::default());
    match c.set {
        Some(set) => set,
        None => panic!(
            "{name} does not compile: {}",
            wangge_dsl::render(&c.diagnostics, &c.sources, false)
        ),
    }
}

/// A JDM graph: request → one decision table → response.
fn jdm(inputs: &[&str], outputs: &[&str], rules: &[Vec<String>]) -> String {
    let ins: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(i, f)| json!({"id": format!("i{i}"), "name": f, "field": f}))
        .collect();
    let outs: Vec<Value> = outputs
        .iter()
        .enumerate()
        .map(|(i, f)| json!({"id": format!("o{i}"), "name": f, "field": f}))
        .collect();
    let rows: Vec<Value> = rules
        .iter()
        .enumerate()
        .map(|(r, cells)| {
            let mut row = serde_json::Map::new();
            row.insert("_id".into(), json!(format!("r{r}")));
            for (i, cell) in cells.iter().enumerate() {
                let id = if i < inputs.len() {
                    format!("i{i}")
                } else {
                    format!("o{}", i - inputs.len())
                };
                row.insert(id, json!(cell));
            }
            Value::Object(row)
        })
        .collect();
    let at = json!({"x": 0, "y": 0});
    json!({
        "nodes": [
            {"id": "in", "type": "inputNode", "name": "request", "position": at},
            {"id": "dt", "type": "decisionTableNode", "name": "table", "position": at,
             "content": {"hitPolicy": "first", "inputs": ins, "outputs": outs, "rules": rows}},
            {"id": "out", "type": "outputNode", "name": "response", "position": at}
        ],
        "edges": [
            {"id": "e1", "type": "edge", "sourceId": "in", "targetId": "dt"},
            {"id": "e2", "type": "edge", "sourceId": "dt", "targetId": "out"}
        ]
    })
    .to_string()
}

/// ZEN's load + compile of a JDM document: parse, build, compile (its
/// compile builds the table indexes and the expression opcodes).
fn zen_load(text: &str) -> Decision {
    let content: DecisionContent = serde_json::from_str(text).expect("JDM parses");
    let DecisionContent::Graph(graph) = content else {
        panic!("not a graph")
    };
    let mut decision = Decision::from(graph);
    decision.compile();
    decision
}

/// The same input under ZEN's ASCII names.
fn ascii(input: &Value) -> Value {
    match input {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| {
                    let k = match k.as_str() {
                        "事件" => "event",
                        "类别" => "category",
                        "人数" => "people",
                        "风险" => "risk",
                        other => other,
                    };
                    (k.to_string(), ascii(v))
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

fn zen_eval(d: &Decision, input: &Value) -> Variable {
    let r = futures_executor::block_on(d.evaluate(Variable::from(input.clone())));
    r.expect("ZEN evaluates").result
}

/// 事件分级 as JDM (the same ten rows, the params written out).
fn grading_jdm() -> String {
    let high = r#""燃气安全", "消防安全", "危化品""#;
    let dispute = r#""物业纠纷", "邻里纠纷", "婚姻家庭", "消费维权", "劳资纠纷""#;
    let daily = r#""垃圾堆放", "占道经营", "乱贴乱画", "噪音扰民", "设施损坏", "绿化养护""#;
    let rows: Vec<Vec<String>> = [
        [r#""群体性聚集""#, "", "", r#""大事""#, r#""街道""#],
        ["", ">= 30", "", r#""大事""#, r#""街道""#],
        ["", "", ">= 4", r#""大事""#, r#""街道""#],
        [high, "", ">= 3", r#""大事""#, r#""街道""#],
        [high, "", "", r#""难事""#, r#""社区""#],
        [dispute, "", "", r#""难事""#, r#""社区""#],
        ["", ">= 10", "", r#""难事""#, r#""社区""#],
        [daily, "", "", r#""小事""#, r#""微网格""#],
        ["", "[3..10)", "", r#""小事""#, r#""一般网格""#],
        ["", "", "", r#""小事""#, r#""微网格""#],
    ]
    .iter()
    .map(|r| r.iter().map(|c| c.to_string()).collect())
    .collect();
    jdm(
        &["event.category", "event.people", "event.risk"],
        &["等级", "处置层级"],
        &rows,
    )
}

/// The same decision as native code over the JSON value.
fn grading_native(input: &Value) -> (&'static str, &'static str) {
    let e = &input["事件"];
    let cat = e["类别"].as_str().unwrap_or("");
    let people = e["人数"].as_i64().unwrap_or(0);
    let risk = e["风险"].as_i64().unwrap_or(0);
    let high = ["燃气安全", "消防安全", "危化品"].contains(&cat);
    if cat == "群体性聚集" || people >= 30 || risk >= 4 || (high && risk >= 3) {
        ("大事", "街道")
    } else if high
        || ["物业纠纷", "邻里纠纷", "婚姻家庭", "消费维权", "劳资纠纷"].contains(&cat)
        || people >= 10
    {
        ("难事", "社区")
    } else if [
        "垃圾堆放",
        "占道经营",
        "乱贴乱画",
        "噪音扰民",
        "设施损坏",
        "绿化养护",
    ]
    .contains(&cat)
    {
        ("小事", "微网格")
    } else if people >= 3 {
        ("小事", "一般网格")
    } else {
        ("小事", "微网格")
    }
}

/// wangge source of the 1,000-row table (the `decisions` bench's), with a
/// catch-all last row.
fn big_source(rows: usize) -> String {
    let mut t = String::from("table 大表(事件) hit first {\n  | 事件.类别 | 事件.人数 || 结果 |\n");
    for i in 0..rows {
        t.push_str(&format!(
            "  | \"类别{i}\" | [{}..{}) || \"r{i}\" |\n",
            i % 50,
            i % 50 + 10
        ));
    }
    t.push_str("  | - | - || \"其他\" |\n}\n");
    t
}

fn big_jdm(rows: usize) -> String {
    let mut r: Vec<Vec<String>> = (0..rows)
        .map(|i| {
            vec![
                format!("\"类别{i}\""),
                format!("[{}..{})", i % 50, i % 50 + 10),
                format!("\"r{i}\""),
            ]
        })
        .collect();
    r.push(vec![String::new(), String::new(), "\"其他\"".into()]);
    jdm(&["category", "people"], &["结果"], &r)
}

pub fn run(rounds: usize, budget: Duration, out: &mut Table) {
    grading(rounds, budget, out);
    big(rounds, budget, out);
}

fn grading(rounds: usize, budget: Duration, out: &mut Table) {
    let set = shipped();
    let zen = zen_load(&grading_jdm());
    for (label, input, want) in [
        (
            "10-row 事件分级, row 4 fires",
            json!({"事件": {"类别": "燃气安全", "人数": 2, "风险": 3}}),
            "大事",
        ),
        (
            "10-row 事件分级, last row",
            json!({"事件": {"类别": "其他", "人数": 1, "风险": 1}}),
            "小事",
        ),
    ] {
        // Same answers before timing anything.
        let w = set.evaluate("事件分级", &input).expect("wangge evaluates");
        assert_eq!(w.result["等级"], json!(want), "wangge: {}", w.result);
        let zin = ascii(&input);
        let z: Value = zen_eval(&zen, &zin).into();
        assert_eq!(z["等级"], json!(want), "ZEN: {z}");
        assert_eq!(grading_native(&input).0, want);
        let mut cs = vec![
            Contender::new("ZEN", || {
                black_box(zen_eval(&zen, black_box(&zin)));
            }),
            Contender::new("wangge", || {
                black_box(set.evaluate(black_box("事件分级"), black_box(&input)).ok());
            }),
            Contender::new("native", || {
                black_box(grading_native(black_box(&input)));
            }),
        ];
        let t = interleave(&mut cs, rounds, budget);
        out.row(label, "ZEN", &t[0], &t[1], Some(("native", &t[2])));
    }
}

fn big(rounds: usize, budget: Duration, out: &mut Table) {
    let set = compile_one("big.wg", big_source(1_000));
    let Ok(Evaluable::Table(table)) = set.get("大表") else {
        panic!("no table 大表")
    };
    let zen = zen_load(&big_jdm(1_000));
    for (label, input, want) in [
        (
            "1,000-row table, input falls through",
            json!({"类别": "没有的类别", "人数": 3}),
            "其他",
        ),
        (
            "1,000-row table, row 501 matches",
            json!({"类别": "类别500", "人数": 5}),
            "r500",
        ),
    ] {
        let w = table
            .evaluate(set.host(), &[&input], &set.hash)
            .expect("wangge evaluates");
        assert_eq!(w.result["结果"], json!(want), "wangge: {}", w.result);
        let zin = ascii(&input);
        let z: Value = zen_eval(&zen, &zin).into();
        assert_eq!(z["结果"], json!(want), "ZEN: {z}");
        let mut cs = vec![
            Contender::new("ZEN", || {
                black_box(zen_eval(&zen, black_box(&zin)));
            }),
            Contender::new("wangge", || {
                black_box(
                    table
                        .evaluate(set.host(), &[black_box(&input)], &set.hash)
                        .ok(),
                );
            }),
        ];
        let t = interleave(&mut cs, rounds, budget);
        out.row(label, "ZEN", &t[0], &t[1], None);
    }
}

/// Load + compile of the 1,000-row table, from text, each engine its own
/// format; a few runs per round (each is milliseconds).
pub fn compile_speed(rounds: usize, out: &mut Table) {
    let source = big_source(1_000);
    if std::env::var_os("PROFILE_WANGGE_COMPILE").is_some() {
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(4) {
            black_box(compile_one("big.wg", black_box(source.clone())));
        }
        return;
    }
    let doc = big_jdm(1_000);
    let mut cs = vec![
        Contender::new("ZEN", || {
            black_box(zen_load(black_box(&doc)));
        }),
        Contender::new("wangge", || {
            black_box(compile_one("big.wg", black_box(source.clone())));
        }),
    ];
    let t = interleave(&mut cs, rounds, Duration::from_millis(600));
    out.row(
        "load + compile a 1,000-row table",
        "ZEN",
        &t[0],
        &t[1],
        None,
    );
    // And the bigger one the issue names, wangge alone (its check included).
    let start = Instant::now();
    let four = big_source(4_000);
    let ns = per_op(
        &mut || {
            black_box(compile_one("big.wg", four.clone()));
        },
        Duration::from_millis(800),
    );
    out.note(format!(
        "compile of a 4,000-row table (wangge, with its lint): {} per compile ({} spent)",
        human_ns(ns),
        human_ns(start.elapsed().as_nanos() as f64)
    ));
}
