//! The examples in docs/language.md compile, and the results it claims hold.

use serde_json::json;
use wangge_dsl::{render, SourceFile, SourceSet};
use wangge_policy::{compile, PolicySet, RhaiHost};

use crate::util::root;

/// Names the reference's examples use without defining them.
const PRELUDE: &[(&str, &str)] = &[
    (
        "城市网格",
        "ladder 城市网格 { 微网格 -> 一般网格 -> 社区 -> 街道 -> 职能部门 }",
    ),
    ("微网格员", "role 微网格员 { at 微网格 }"),
    ("专职网格员", "role 专职网格员 { at 一般网格 }"),
    ("大事人数", "param 大事人数 = 30"),
    ("难事人数", "param 难事人数 = 10"),
    ("高危类别", "param 高危类别 = [\"燃气安全\", \"消防安全\"]"),
    ("大事权重", "param 大事权重 = 5"),
    ("难事权重", "param 难事权重 = 2"),
    ("小事权重", "param 小事权重 = 1"),
    ("工作日历", "calendar 工作日历 { hours 周一-周五 09:00-17:00 }"),
    ("社情指数", "calc 社情指数(统计) -> 数 { 0 }"),
    (
        "示例星级",
        "scorecard 示例星级 for 微网格 quarterly { indicator 满意率 = { 统计.满意率 } weight 1 raw }",
    ),
    (
        "事件分级",
        "table 事件分级(事件) hit first { | 事件.类别 || 等级 | 处置层级 | | - || \"小事\" | 微网格 | }",
    ),
];

fn policy_blocks() -> Vec<String> {
    let text = std::fs::read_to_string(root().join("docs/language.md")).unwrap();
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        match (&mut current, line.trim_start().starts_with("```")) {
            (None, true) => current = Some(String::new()),
            (Some(b), true) => {
                blocks.push(std::mem::take(b));
                current = None;
            }
            (Some(b), false) => {
                b.push_str(line);
                b.push('\n');
            }
            (None, false) => {}
        }
    }
    let starts = [
        "policy ",
        "ladder ",
        "role ",
        "party ",
        "param ",
        "table ",
        "rules ",
        "calc ",
        "subsidy ",
        "points ",
        "scorecard ",
        "award ",
        "task ",
    ];
    blocks
        .into_iter()
        .filter(|b| b.lines().any(|l| starts.iter().any(|s| l.starts_with(s))))
        .collect()
}

fn compile_block(block: &str) -> Result<PolicySet, String> {
    let mut set = SourceSet::default();
    let prelude: Vec<&str> = PRELUDE
        .iter()
        .filter(|(name, _)| {
            ![
                "param",
                "ladder",
                "role",
                "table",
                "calendar",
                "calc",
                "scorecard",
            ]
            .iter()
            .any(|kw| {
                block.contains(&format!("{kw} {name} ")) || block.contains(&format!("{kw} {name}("))
            })
        })
        .map(|(_, item)| *item)
        .collect();
    set.add(SourceFile::new("prelude.wg", prelude.join("\n")));
    set.add(SourceFile::new("example.wg", block.to_string()));
    let c = compile(set, &RhaiHost::default());
    let errors: Vec<_> = c
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .cloned()
        .collect();
    match c.set {
        Some(s) => Ok(s),
        None => Err(render(&errors, &c.sources, false)),
    }
}

#[test]
fn every_policy_example_in_the_reference_compiles() {
    let blocks = policy_blocks();
    assert!(blocks.len() >= 13, "found {} blocks", blocks.len());
    for b in &blocks {
        if let Err(e) = compile_block(b) {
            panic!("example does not compile:\n{b}\n{e}");
        }
    }
}

#[test]
fn reference_claims_hold() {
    let blocks = policy_blocks();
    let find = |name: &str| {
        let b = blocks.iter().find(|b| b.contains(name)).unwrap();
        compile_block(b).unwrap()
    };
    let p = find("table 定级");
    let d = p.evaluate("定级", &json!({"事件": {"人数": 50}})).unwrap();
    assert_eq!(*d.result, json!({"等级": "大事"}));
    let p = find("table 建议");
    let d = p.evaluate("建议", &json!({"事件": {"人数": 40}})).unwrap();
    assert_eq!(
        *d.result,
        json!([{"级别": "街道"}, {"级别": "社区"}, {"级别": "网格"}])
    );
    let p = find("calc 计件");
    let d = p.evaluate("计件", &json!({"员": {"件数": 3}})).unwrap();
    assert_eq!(*d.result, json!("37.50"));
}

#[test]
fn every_scenario_example_in_the_reference_passes_against_the_shipped_policies() {
    let text = std::fs::read_to_string(root().join("docs/language.md")).unwrap();
    let blocks: Vec<&str> = text
        .split("```")
        .skip(1)
        .step_by(2)
        .filter(|b| b.trim_start().starts_with("scenario "))
        .collect();
    assert!(blocks.len() >= 2);
    let mut set = wangge_dsl::source::load(&root().join("policies")).unwrap();
    for (i, b) in blocks.iter().enumerate() {
        set.add(SourceFile::new(format!("doc{i}.test.wg"), b.to_string()));
    }
    let c = compile(set, &RhaiHost::default());
    let errors: Vec<_> = c
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .cloned()
        .collect();
    let policy = std::sync::Arc::new(
        c.set
            .unwrap_or_else(|| panic!("{}", render(&errors, &c.sources, false))),
    );
    let outcomes = wangge_testkit::run_all(&policy, &c.sources, &c.scenarios, None, 2);
    assert_eq!(outcomes.len(), blocks.len());
    for o in outcomes {
        assert!(o.passed(), "{}: {:?}", o.name, o.failures);
    }
}
