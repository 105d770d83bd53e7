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
    assert!(out.stdout.contains("imported 9 people"), "{}", out.stdout);
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

/// The 3+1 party organisation is a second tree over the same units: every
/// 社区, 一般网格, 微网格 and 专属网格 has its organisation, the one above
/// it, and a leader; a unit without one is a gap and the command fails.
#[test]
fn party_coverage_names_every_units_organisation_and_its_gaps() {
    let d = data();
    let dir = d.path().to_str().unwrap();
    let ok = |args: &[&str]| {
        let out = wangge(args);
        assert_eq!(out.code, 0, "{args:?}: {}{}", out.stdout, out.stderr);
        out.stdout
    };
    ok(&["org", "import", "examples/org/units.csv", "--data", dir]);
    // Only the 社区书记 and one 党支部书记 so far.
    let some = d.path().join("some.csv");
    std::fs::write(
        &some,
        "编号,姓名,角色,所属网格,党员\nP5,陈静,社区书记,C1,正式\nP6,刘洋,网格党支部书记,G1,正式\n",
    )
    .unwrap();
    ok(&["org", "import", some.to_str().unwrap(), "--data", dir]);
    let out = wangge(&["org", "coverage", "网格党组织", "--data", dir]);
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(
        out.stdout
            .contains("G1\t和平一网格\t一般网格党支部\tC1 总网格党委\tP6 网格党支部书记"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("G2\t和平二网格\t一般网格党支部\tC1 总网格党委\tMISSING"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("X1\t和平小学\t专属网格党组织"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("网格党组织: 2 of 6 unit(s) led (33.3%)"),
        "{}",
        out.stdout
    );
    // The example registry leads every one (a 选派党员 where a grid has too few).
    ok(&["org", "import", "examples/org/people.csv", "--data", dir]);
    let out = ok(&["org", "coverage", "网格党组织", "--data", dir]);
    assert!(
        out.contains("G2\t和平二网格\t一般网格党支部\tC1 总网格党委\tP7 选派党员"),
        "{out}"
    );
    assert!(out.contains("6 of 6 unit(s) led (100.0%)"), "{out}");
    let out = wangge(&["org", "coverage", "网格党组", "--data", dir]);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("did you mean `网格党组织`?"),
        "{}",
        out.stderr
    );
}
