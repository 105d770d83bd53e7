//! `wangge check` and `wangge eval` as authors and CI run them.

use serde_json::Value;

use crate::util::wangge;

#[test]
fn check_shipped_policies_is_clean() {
    let out = wangge(&["check", "policies"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("policies: ok"), "{}", out.stdout);
    assert!(!out.stdout.contains("warning"), "{}", out.stdout);
}

#[test]
fn check_broken_dir_reports_every_error_with_location_and_frame() {
    let out = wangge(&["check", "tests/fixtures/broken", "--color", "never"]);
    assert_eq!(out.code, 1, "{}", out.stdout);
    for (place, message) in [
        ("a.wg:8:27]", "unknown value `街道`"),
        ("a.wg:9:25]", "unknown value `一般网络`"),
        (
            "a.wg:15:3]",
            "row 2 has 1 input and 1 output cells, the header has 2 and 1",
        ),
        ("a.wg:20:15]", "unknown variable `系数` in `补贴`"),
        ("b.wg:1:7]", "`阈值` is defined twice"),
        ("b.wg:5:12]", "full-width `，` is not part of the syntax"),
        ("b.wg:10:14]", "in `三建一管.单独建`: script is incomplete"),
        ("b.wg:14:19]", "expected a hit policy"),
    ] {
        assert!(
            out.stdout.contains(place),
            "missing {place}\n{}",
            out.stdout
        );
        assert!(
            out.stdout.contains(message),
            "missing {message}\n{}",
            out.stdout
        );
    }
    assert!(out.stdout.contains("help: did you mean `一般网格`?"));
    assert!(out.stdout.contains("help: did you mean `,`?"));
    // code frames: the offending line with an underline
    assert!(
        out.stdout
            .contains(" 9 │   | - | >= 阈值 || \"难事\" | 一般网络 |"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("8 error(s), 0 warning(s)"),
        "{}",
        out.stdout
    );
}

#[test]
fn check_json_output_parses_with_positions() {
    let out = wangge(&[
        "check",
        "tests/fixtures/broken",
        "policies",
        "--format",
        "json",
    ]);
    assert_eq!(out.code, 1);
    let v: Value = serde_json::from_str(&out.stdout).expect("valid json");
    assert_eq!(v["errors"], 8);
    let sets = v["sets"].as_array().unwrap();
    assert_eq!(sets.len(), 2);
    assert_eq!(sets[0]["ok"], false);
    assert_eq!(sets[1]["ok"], true);
    assert_eq!(sets[1]["policy_version"].as_str().unwrap().len(), 64);
    let d = &sets[0]["diagnostics"][1];
    assert_eq!(d["file"], "tests/fixtures/broken/a.wg");
    assert_eq!(
        (d["line"].as_u64(), d["column"].as_u64()),
        (Some(9), Some(25))
    );
    assert_eq!(d["severity"], "error");
    assert_eq!(d["code"], "wangge::unknown-name");
    assert_eq!(d["help"], "did you mean `一般网格`?");
}

#[test]
fn warnings_fail_only_with_deny_warnings() {
    let out = wangge(&["check", "tests/fixtures/warning"]);
    assert_eq!(out.code, 0, "{}", out.stdout);
    assert!(
        out.stdout.contains("no row of `分级` matches some inputs"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("1 warning(s)"));
    let out = wangge(&["check", "tests/fixtures/warning", "--deny-warnings"]);
    assert_eq!(out.code, 1);
}

#[test]
fn check_missing_path_fails_cleanly() {
    let out = wangge(&["check", "no/such/dir"]);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("cannot read `no/such/dir`"),
        "{}",
        out.stderr
    );
}

#[test]
fn eval_explains_the_matched_row_and_inputs() {
    let out = wangge(&[
        "eval",
        "policies",
        "事件分级",
        "--input",
        r#"{"事件": {"类别": "燃气安全", "人数": 2, "风险": 3}}"#,
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout
            .contains(r#"result: {"等级":"大事","处置层级":"街道"}"#),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("事件.风险 = 3"));
    assert!(
        out.stdout
            .contains("* row 4 (policies/事件分级.wg:36) matched"),
        "{}",
        out.stdout
    );
}

#[test]
fn eval_json_carries_policy_version_and_explanation() {
    let out = wangge(&[
        "eval",
        "policies",
        "三建一管",
        "--input",
        r#"{"单位": {"类型": "一般网格", "层级": "一般网格", "户数": 400, "农村": false,
            "党员数": 6, "正式党员数": 5, "预备党员数": 1, "现有组织数": 0}}"#,
        "--format",
        "json",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["result"]["方式"], "单独建");
    assert_eq!(v["result"]["说明"], "正式党员 5 名，单独建立党组织");
    assert_eq!(v["explanation"]["kind"], "rules");
    assert_eq!(v["explanation"]["matched"][0]["rule"], "单独建");
    assert_eq!(v["policy_version"].as_str().unwrap().len(), 64);
}

#[test]
fn eval_org_sizing_table() {
    let run = |input: &str| {
        // The rest of a unit as the registry gives it (schema 网格单位).
        let input = input.replace(
            "}}",
            r#", "层级": "-", "党员数": 0, "正式党员数": 0, "预备党员数": 0, "现有组织数": 0}}"#,
        );
        let out = wangge(&[
            "eval",
            "policies",
            "网格规模核查",
            "--input",
            &input,
            "--format",
            "json",
        ]);
        assert_eq!(out.code, 0, "{}", out.stderr);
        let v: Value = serde_json::from_str(&out.stdout).unwrap();
        v["result"]["结论"].as_str().unwrap().to_string()
    };
    assert_eq!(
        run(r#"{"网格": {"类型": "微网格", "农村": false, "户数": 80}}"#),
        "合格"
    );
    assert_eq!(
        run(r#"{"网格": {"类型": "微网格", "农村": false, "户数": 20}}"#),
        "过小"
    );
    assert_eq!(
        run(r#"{"网格": {"类型": "微网格", "农村": true, "户数": 20}}"#),
        "合格"
    );
    assert_eq!(
        run(r#"{"网格": {"类型": "一般网格", "农村": false, "户数": 520}}"#),
        "过大"
    );
    assert_eq!(
        run(r#"{"网格": {"类型": "专属网格", "农村": false, "户数": 0}}"#),
        "不适用"
    );
}

#[test]
fn eval_bad_input_is_a_precise_error() {
    let out = wangge(&["eval", "policies", "事件分级", "--input", "{not json"]);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("the input is not valid JSON"),
        "{}",
        out.stderr
    );
    let out = wangge(&["eval", "policies", "事件分极", "--input", "{}"]);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("did you mean `事件分级`?"),
        "{}",
        out.stderr
    );
    let out = wangge(&["eval", "policies", "事件分级", "--input", r#"{"事体": {}}"#]);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("unknown input `事体` for `事件分级`"),
        "{}",
        out.stderr
    );
}

#[test]
fn eval_refuses_a_broken_policy_set() {
    let out = wangge(&["eval", "tests/fixtures/broken", "分级", "--input", "{}"]);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr
            .contains("the policy set `tests/fixtures/broken` has 8 error(s)"),
        "{}",
        out.stderr
    );
}

/// `wangge check … --format json | head`: the reader goes away; the
/// command stops quietly instead of panicking (exit 101).
#[test]
fn output_to_a_closed_pipe_exits_quietly() {
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_wangge"))
        .args(["check", "tests/fixtures/broken", "--format", "json"])
        .current_dir(crate::util::root())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run wangge");
    // Close the reading end before the command writes anything.
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("wait for wangge");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_ne!(out.status.code(), Some(101), "{stderr}");
    assert!(stderr.is_empty(), "{stderr}");
}
