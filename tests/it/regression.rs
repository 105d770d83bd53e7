//! `wangge test`, `wangge replay`, `wangge gen-history` and `wangge export`
//! from the command line.

use crate::util::{root, wangge};

const SMALL: &str = "tests/fixtures/scenarios/small";

#[test]
fn the_shipped_scenarios_pass() {
    let out = wangge(&["test", "policies"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("test result: ok."), "{}", out.stdout);
    assert!(out.stdout.contains(" 0 failed"), "{}", out.stdout);
    assert!(
        out.stdout.contains("scenario 小事在微网格内办结 ... ok"),
        "{}",
        out.stdout
    );
}

#[test]
fn the_shipped_scenarios_cover_every_row_rule_rung_and_transition() {
    let out = wangge(&[
        "test",
        "policies",
        "--format",
        "json",
        "--min-coverage",
        "95",
    ]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let doc: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    for t in doc["coverage"]["targets"].as_array().unwrap() {
        assert_eq!(t["covered"], true, "{t}");
    }
}

#[test]
fn a_failing_scenario_shows_expected_actual_and_the_matched_row() {
    let out = wangge(&["test", SMALL, "--filter", "写错"]);
    assert_eq!(out.code, 1, "{}", out.stdout);
    let s = &out.stdout;
    assert!(s.contains("scenario 分级写错了 ... FAILED"), "{s}");
    assert!(s.contains("scenario 案件写错了 ... FAILED"), "{s}");
    assert!(
        !s.contains("小事受理"),
        "--filter keeps only matching scenarios: {s}"
    );
    // The decision expectation: what differs, where, and the row that decided.
    assert!(
        s.contains("`分级` decided otherwise: `等级` is \"难事\", expected \"大事\""),
        "{s}"
    );
    assert!(s.contains("small.test.wg:13:3"), "{s}");
    assert!(
        s.contains("* row 2 (tests/fixtures/scenarios/small/policy.wg:8) matched"),
        "{s}"
    );
    // The case expectation: expected versus actual and the event behind it.
    assert!(
        s.contains("case `乙`: expected level `街道`, found `社区`"),
        "{s}"
    );
    assert!(s.contains("  expected: 街道\n  actual:   社区"), "{s}");
    assert!(s.contains("data: {\"人数\":4}"), "{s}");
    assert!(s.contains("report (scenario) → 上报 @ 社区"), "{s}");
    assert!(s.contains("test result: FAILED. 0 passed; 2 failed"), "{s}");
}

#[test]
fn junit_output_is_valid_xml_with_one_failure_element_per_failed_expectation() {
    let out = wangge(&["test", SMALL, "--format", "junit"]);
    assert_eq!(out.code, 1);
    let doc = roxmltree::Document::parse(&out.stdout).expect("valid XML");
    let suites = doc.root_element();
    assert_eq!(suites.tag_name().name(), "testsuites");
    assert_eq!(suites.attribute("tests"), Some("5"));
    assert_eq!(suites.attribute("failures"), Some("2"));
    let cases: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    assert_eq!(cases.len(), 5);
    let failed: Vec<&str> = cases
        .iter()
        .filter(|c| c.children().any(|f| f.has_tag_name("failure")))
        .filter_map(|c| c.attribute("name"))
        .collect();
    assert_eq!(failed, ["分级写错了", "案件写错了"]);
    let failure = doc
        .descendants()
        .find(|n| n.has_tag_name("failure"))
        .unwrap();
    assert!(failure
        .text()
        .unwrap_or("")
        .contains("expected: {\"等级\":\"大事\"}"));
}

#[test]
fn coverage_counts_each_row_rule_rung_and_transition() {
    let out = wangge(&["test", SMALL, "--format", "json", "--coverage"]);
    let doc: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let cov = &doc["coverage"];
    assert_eq!(
        (cov["covered"].as_u64(), cov["total"].as_u64()),
        (Some(8), Some(10))
    );
    let covered = |kind: &str| -> Vec<String> {
        cov["targets"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["kind"] == kind && t["covered"] == true)
            .map(|t| t["key"].as_str().unwrap().to_string())
            .collect()
    };
    // Rows 1 (大事分级), 2 (乙, 4 people; the 5-person decision), 3 (甲);
    // rule 一般 (the unit of the org file); rungs 网格 and 社区 by cases,
    // 街道 by a unit of the org file.
    assert_eq!(covered("row"), ["1", "2", "3"]);
    assert_eq!(covered("rule"), ["一般"]);
    assert_eq!(covered("rung"), ["网格", "社区", "街道"]);
    assert_eq!(covered("transition"), ["1"]);
    // Below the bar: exit 1 even though the filtered scenarios pass.
    let out = wangge(&["test", SMALL, "--filter", "受理", "--min-coverage", "50"]);
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(
        out.stdout.contains("coverage: 30.0% (3 of 10)"),
        "{}",
        out.stdout
    );
    assert!(
        out.stderr.contains("below the required 50%"),
        "{}",
        out.stderr
    );
}

#[test]
fn broken_scenarios_are_diagnostics_with_places() {
    let out = wangge(&["check", "tests/fixtures/scenarios/broken"]);
    assert_eq!(out.code, 1);
    let e = &format!("{}{}", out.stdout, out.stderr);
    for needle in [
        "unknown workflow `处治`",
        "broken.test.wg:2:10",
        "did you mean `处置`?",
        "no case `乙` has been reported in this scenario",
        "cases have no field `stat`",
        "did you mean `state`?",
        "unknown table, rule set, calc, subsidy, points, scorecard or award `分极`",
        "4 error(s)",
    ] {
        assert!(e.contains(needle), "missing {needle:?} in {e}");
    }
    let out = wangge(&["test", "tests/fixtures/scenarios/broken"]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("no scenario ran"), "{}", out.stderr);
}

#[test]
fn scenarios_do_not_change_the_policy_version() {
    let with = wangge(&["check", "policies"]);
    // The policy files without the scenario files (`*.test.wg`), in the
    // same folders (a calendar's year files live in `节假日/`).
    let tmp = tempfile::tempdir().unwrap();
    let mut dirs = vec![root().join("policies")];
    while let Some(dir) = dirs.pop() {
        for f in std::fs::read_dir(&dir).unwrap() {
            let p = f.unwrap().path();
            let name = p.to_string_lossy().to_string();
            if p.is_dir() {
                dirs.push(p);
            } else if !name.ends_with(".test.wg") {
                let rel = p.strip_prefix(root().join("policies")).unwrap();
                let to = tmp.path().join(rel);
                std::fs::create_dir_all(to.parent().unwrap()).unwrap();
                std::fs::copy(&p, to).unwrap();
            }
        }
    }
    let without = wangge(&["check", tmp.path().to_str().unwrap()]);
    let version = |s: &str| s.split("policy version ").nth(1).map(str::to_string);
    assert!(with.stdout.contains("policy version"), "{}", with.stdout);
    assert_eq!(version(&with.stdout), version(&without.stdout));
}

#[test]
fn replay_of_a_generated_history_through_the_same_version_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("h.jsonl");
    let log = log.to_str().unwrap();
    let out = wangge(&[
        "gen-history",
        "--events",
        "2000",
        "--days",
        "20",
        "--micro-grids",
        "200",
        "--out",
        log,
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let out = wangge(&["replay", log, "--against", "policies", "--fail-on-diff"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("0 case(s) changed"), "{}", out.stdout);
    assert!(out.stdout.contains("(2000 reports"), "{}", out.stdout);
    let out = wangge(&["replay", log, "--format", "json"]);
    let doc: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(doc["report"]["totals"][0]["cases"], 2000);
    assert_eq!(doc["report"]["totals"][0]["refused_actions"], 0);
}

#[test]
fn replay_against_a_changed_row_lists_the_changed_cases() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("h.jsonl");
    let log_s = log.to_str().unwrap();
    wangge(&[
        "gen-history",
        "--events",
        "1000",
        "--days",
        "10",
        "--micro-grids",
        "100",
        "--out",
        log_s,
    ]);
    let alt = tmp.path().join("alt");
    std::fs::create_dir(&alt).unwrap();
    for f in std::fs::read_dir(root().join("policies")).unwrap() {
        let p = f.unwrap().path();
        if p.is_file() {
            let text = std::fs::read_to_string(&p).unwrap().replace(
                "| in 矛盾纠纷  | -             | -           || \"难事\"                         | 社区     |",
                "| in 矛盾纠纷  | -             | -           || \"小事\"                         | 一般网格 |",
            );
            std::fs::write(alt.join(p.file_name().unwrap()), text).unwrap();
        }
    }
    let cases = tmp.path().join("changed.jsonl");
    let out = wangge(&[
        "replay",
        log_s,
        "--against",
        alt.to_str().unwrap(),
        "--cases",
        cases.to_str().unwrap(),
        "--fail-on-diff",
    ]);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("class               "),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("难事 → 小事"), "{}", out.stdout);
    let changed = std::fs::read_to_string(&cases).unwrap();
    let n = changed.lines().count();
    assert!(n > 0);
    assert!(
        out.stdout.contains(&format!("\n{n} case(s) changed")),
        "{}",
        out.stdout
    );
    for l in changed.lines() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        assert_eq!(v["changes"][0]["aspect"], "class");
    }
}

#[test]
fn replay_names_the_bad_line() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("bad.jsonl");
    std::fs::write(
        &log,
        "{\"type\":\"report\",\"at\":1757815200,\"ref\":1,\"workflow\":\"事件处置\",\"data\":{\"类别\":\"其他\",\"人数\":1,\"风险\":1}}\n{\"type\":\"act\",\"at\":1757815300,\"ref\":1}\n",
    )
    .unwrap();
    let out = wangge(&["replay", log.to_str().unwrap()]);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("line 2: an `act` line needs `action`"),
        "{}",
        out.stderr
    );
}

#[test]
fn export_of_an_empty_data_folder_is_empty_and_a_missing_one_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let out = wangge(&[
        "export",
        "--data",
        tmp.path().join("nope").to_str().unwrap(),
    ]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("no data folder"), "{}", out.stderr);
    let out = wangge(&[
        "export",
        "--data",
        tmp.path().to_str().unwrap(),
        "--from",
        "yesterday",
    ]);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("`--from yesterday` is not a time"),
        "{}",
        out.stderr
    );
}

/// The second place of the case reports — a town's 村-网-格-埭-户 and
/// 居-网-格-楼-户 under one 镇 — is its own policy folder: its ladders,
/// roles (埭长, 楼组长, 微格长 …), schema, `subsidy … for 埭长` and points
/// check clean, and its scenarios pass and cover every row, rung and
/// transition. (A subsidy for 埭长 used to fail `check`: "unknown role".)
#[test]
fn the_towns_policies_check_and_their_scenarios_pass() {
    let out = wangge(&["check", "places/town"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("places/town: ok"), "{}", out.stdout);
    let out = wangge(&["test", "places/town", "--min-coverage", "100"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    for scenario in [
        "村里埭上报的小事由微格办结",
        "下班时间的燃气隐患直接由镇处置",
        "埭长：基本补贴加计件",
    ] {
        assert!(
            out.stdout.contains(&format!("scenario {scenario} ... ok")),
            "{}",
            out.stdout
        );
    }
}
