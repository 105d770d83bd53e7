//! The client CLI as its users meet it: `-o json|table|text` on every
//! client command, `host:port` addresses, `@FILE` and stdin arguments,
//! tables aligned by display width, errors with the nearest valid name.

use serde_json::Value;

use crate::server::Server;
use crate::util::{wangge, wangge_stdin, Out};

/// Thirty and a half hours of patrol for P2 in September.
pub const PATROL: [&str; 9] = [
    "incentive",
    "activity",
    "P2",
    "巡查时长",
    "30.5",
    "--period",
    "2026-09",
    "--key",
    "p1",
];

/// Runs a client command against `addr` (given as `host:port`), expecting success.
fn ok(addr: &str, args: &[&str]) -> Out {
    let mut all = args.to_vec();
    all.extend(["--server", addr]);
    let out = wangge(&all);
    assert_eq!(out.code, 0, "{all:?}: {}{}", out.stdout, out.stderr);
    out
}

/// `-o json` of a client command, parsed.
fn json(addr: &str, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.extend(["-o", "json"]);
    let out = ok(addr, &all);
    serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {}", out.stdout))
}

#[test]
fn every_client_command_answers_json_that_parses() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path());
    // host:port, no scheme: the address operators type.
    let addr = server.grpc.as_str();
    let event = data.path().join("event.json");
    std::fs::write(&event, r#"{"类别": "垃圾堆放", "人数": 1, "风险": 1}"#).unwrap();
    let at_event = format!("@{}", event.display());

    let r = json(
        addr,
        &[
            "case", "report", "--data", &at_event, "--unit", "M1", "--key", "k1",
        ],
    );
    assert_eq!(r["created"], true);
    // `data_json` is shown as the JSON it holds.
    assert_eq!(r["case"]["data"]["类别"], "垃圾堆放", "{r}");
    let id = r["case"]["id"].as_u64().unwrap().to_string();
    assert_eq!(
        json(addr, &["case", "get", &id])["state"],
        r["case"]["state"]
    );
    let acted = json(addr, &["case", "act", &id, "立案"]);
    assert_eq!(acted["version"], 2, "{acted}");
    let events = json(addr, &["case", "events", &id]);
    assert_eq!(events["events"].as_array().unwrap().len(), 2, "{events}");
    assert!(events["events"][0]["explanation"].is_object(), "{events}");
    let list = json(addr, &["case", "list", "--unit", "M1"]);
    assert_eq!(list["cases"].as_array().unwrap().len(), 1, "{list}");
    let watch = ok(
        addr,
        &["case", "watch", "--from", "1", "--count", "2", "-o", "json"],
    );
    let changes: Vec<Value> = watch
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(changes.len(), 2, "{}", watch.stdout);
    assert_eq!(changes[1]["event"]["action"], "立案");

    let versions = json(addr, &["policy", "list"]);
    assert_eq!(versions["versions"][0]["active"], true, "{versions}");
    let valid = json(addr, &["policy", "validate", "policies"]);
    assert_eq!(valid["ok"], true);
    let mut eval = vec!["policy", "eval", "事件分级", "--input", "-", "-o", "json"];
    eval.extend(["--server", addr]);
    let out = wangge_stdin(
        &eval,
        r#"{"事件": {"类别": "燃气安全", "人数": 2, "风险": 3}}"#,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let decision: Value = serde_json::from_str(&out.stdout).unwrap();
    assert!(decision["result"].is_object(), "{decision}");
    assert_eq!(json(addr, &["clock", "get"])["mode"], "manual");
    assert_eq!(json(addr, &["clock", "advance", "1h"])["mode"], "manual");
    let people = json(addr, &["org", "import", "examples/org/people.csv"]);
    assert!(people["count"].as_u64().unwrap() > 0, "{people}");

    let a = json(addr, &PATROL);
    assert_eq!(a["activity"]["quantity"], "30.5", "{a}");
    let acts = json(addr, &["incentive", "activities", "2026-09"]);
    assert_eq!(acts["activities"].as_array().unwrap().len(), 1);
    let preview = json(addr, &["incentive", "preview", "P2", "2026-09"]);
    // Money stays an exact decimal string.
    assert!(preview["total"].is_string(), "{preview}");
    json(addr, &["clock", "set", "2026-10-01T00:00:00+08:00"]);
    let settled = json(addr, &["incentive", "settle", "2026-09", "--person", "P2"]);
    assert_eq!(
        settled["settlements"][0]["total"], preview["total"],
        "{settled}"
    );
    let stored = json(addr, &["incentive", "settlements", "2026-09"]);
    assert_eq!(stored["settlements"].as_array().unwrap().len(), 1);
    let corrected = json(
        addr,
        &["incentive", "correct", "P2", "2026-09", "--reason", "复核"],
    );
    assert_eq!(corrected["reason"], "复核", "{corrected}");

    let earned = json(
        addr,
        &["points", "earn", "R001", "共享车位", "1", "--key", "s1"],
    );
    assert!(earned["points"].as_i64().unwrap() > 0, "{earned}");
    json(
        addr,
        &["points", "redeem", "R001", "物业费", "0.10", "--key", "f1"],
    );
    let balance = json(addr, &["points", "balance", "R001"]);
    assert!(balance["points"].is_i64(), "{balance}");
    let history = json(addr, &["points", "history", "R001"]);
    assert_eq!(history["entries"].as_array().unwrap().len(), 2);

    let level = json(addr, &["evaluation", "score-level", "星级网格", "2026-Q3"]);
    assert!(level["scored"].as_u64().unwrap() > 0, "{level}");
    let score = json(addr, &["evaluation", "score", "星级网格", "M1", "2026-Q3"]);
    assert!(score["indicators"].as_array().unwrap().len() > 1, "{score}");
    let survey = json(
        addr,
        &[
            "evaluation",
            "survey",
            "G1",
            "2026",
            "92.5",
            "--respondents",
            "120",
            "--key",
            "s-g1",
        ],
    );
    assert_eq!(survey["created"], true);
    json(
        addr,
        &["evaluation", "score-level", "网格党组织考评", "2026"],
    );
    let ranked = json(addr, &["evaluation", "rank", "先进网格党组织", "2026"]);
    assert!(!ranked["ranked"].as_array().unwrap().is_empty(), "{ranked}");
    let scores = json(addr, &["evaluation", "history", "星级网格", "M1"]);
    assert_eq!(scores["scores"].as_array().unwrap().len(), 1, "{scores}");
}

/// A table's columns start at the same display column on every line,
/// whatever mix of Chinese and ASCII the cells hold.
fn assert_aligned(table: &str) {
    use unicode_width::UnicodeWidthStr;
    let lines: Vec<&str> = table.lines().collect();
    let header = lines[0];
    // Column starts: after each run of two spaces in the header.
    let mut starts = Vec::new();
    let mut col = 0;
    let mut prev_space = 0;
    for c in header.chars() {
        if c == ' ' {
            prev_space += 1;
        } else {
            if prev_space >= 2 {
                starts.push(col);
            }
            prev_space = 0;
        }
        col += c.to_string().width();
    }
    for line in &lines[1..] {
        let mut col = 0;
        let mut chars_at: Vec<(usize, char)> = Vec::new();
        for c in line.chars() {
            chars_at.push((col, c));
            col += c.to_string().width();
        }
        for s in &starts {
            // The column before each start is a space (the gap between columns).
            let before = chars_at.iter().find(|(at, _)| *at + 1 == *s);
            assert!(
                before.is_none_or(|(_, c)| *c == ' '),
                "column at {s} not aligned in:\n{table}"
            );
        }
    }
}

#[test]
fn tables_with_chinese_labels_are_aligned_by_display_width() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path());
    let addr = server.grpc.as_str();
    ok(addr, &["org", "import", "examples/org/people.csv"]);
    ok(addr, &PATROL);
    let preview = ok(
        addr,
        &["incentive", "preview", "P2", "2026-09", "-o", "table"],
    )
    .stdout;
    assert_aligned(&preview);
    insta::assert_snapshot!("incentive_preview_table", preview);
    let score = ok(
        addr,
        &[
            "evaluation",
            "score",
            "星级网格",
            "M1",
            "2026-Q3",
            "-o",
            "table",
        ],
    )
    .stdout;
    assert_aligned(&score);
    insta::assert_snapshot!("evaluation_score_table", score);
}

#[test]
fn a_server_error_names_the_field_and_the_nearest_valid_name() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path());
    let addr = server.grpc.as_str();
    ok(
        addr,
        &[
            "case",
            "report",
            "--data",
            r#"{"类别": "垃圾堆放", "人数": 1, "风险": 1}"#,
            "--unit",
            "M1",
        ],
    );
    let out = wangge(&["case", "act", "1", "立按", "--server", addr]);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("action:") && out.stderr.contains("did you mean `立案`?"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_missing_data_file_is_an_error_before_any_call() {
    // No server at all: the file is read first.
    let out = wangge(&[
        "case",
        "report",
        "--data",
        "@/no/such/event.json",
        "--server",
        "127.0.0.1:9",
    ]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("/no/such/event.json"), "{}", out.stderr);
}

#[test]
fn check_reads_a_policy_file_from_stdin() {
    let text =
        std::fs::read_to_string(crate::util::root().join("tests/fixtures/warning/gap.wg")).unwrap();
    let out = wangge_stdin(&["check", "-"], &text);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("-: ok"), "{}", out.stdout);
    let out = wangge_stdin(&["check", "-", "--format", "json"], "表 坏 {");
    assert_eq!(out.code, 1);
    assert!(out.stdout.contains("<stdin>"), "{}", out.stdout);
}

#[test]
fn color_is_used_only_when_asked_or_on_a_terminal() {
    let out = wangge(&[
        "case",
        "get",
        "1",
        "--server",
        "127.0.0.1:9",
        "--color",
        "always",
    ]);
    assert!(out.stderr.contains("\u{1b}["), "{}", out.stderr);
    // `wangge` runs with NO_COLOR and no terminal: no escapes.
    let out = wangge(&["case", "get", "1", "--server", "127.0.0.1:9"]);
    assert!(!out.stderr.contains("\u{1b}["), "{}", out.stderr);
    let out = wangge(&["check", "policies", "--color", "never"]);
    assert!(!out.stdout.contains("\u{1b}["), "{}", out.stdout);
}
