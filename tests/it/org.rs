//! `wangge org import|list|report` against a temporary data folder.

use crate::util::wangge;

fn data() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

#[test]
fn import_then_report_runs_the_organisation_policies() {
    let d = data();
    let dir = d.path().to_str().unwrap();
    let out = wangge(&["org", "import", "examples/org/units.csv", "--data", dir]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(out
        .stdout
        .contains("imported 7 units from examples/org/units.csv (ladder 城市网格)"));
    let out = wangge(&["org", "import", "examples/org/people.csv", "--data", dir]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("imported 6 people"), "{}", out.stdout);
    let out = wangge(&[
        "org",
        "report",
        "--data",
        dir,
        "--item",
        "网格规模核查",
        "--level",
        "微网格",
        "-o",
        "json",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let results: Vec<(&str, &str)> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["unit"].as_str().unwrap(),
                r["result"]["结论"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(results, [("M1", "合格"), ("M2", "过小")]);
}

#[test]
fn a_bad_import_names_every_line_and_writes_nothing() {
    let d = data();
    let dir = d.path().to_str().unwrap();
    let file = d.path().join("bad.csv");
    std::fs::write(
        &file,
        "编号,名称,层级,上级,户数\nS1,街道,街道,,\nC1,社区,社区,S2,\nG1,网格,一般网络,C1,400\n",
    )
    .unwrap();
    let out = wangge(&[
        "org",
        "import",
        file.to_str().unwrap(),
        "--data",
        dir,
        "--ladder",
        "城市网格",
    ]);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr
            .contains("bad.csv:3: unknown parent `S2`; did you mean `S1`?"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("bad.csv:4: level `一般网络` is not on the ladder; did you mean `一般网格`?"),
        "{}",
        out.stderr
    );
    let out = wangge(&["org", "list", "--data", dir]);
    assert!(out.stdout.contains("0 unit(s)"), "{}", out.stdout);
}
