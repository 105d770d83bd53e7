//! Tools for policy authors: `wangge fmt`, `wangge doc`, `wangge bench`,
//! shell completions and man pages (the language server has its own
//! module, `lsp`).

use crate::util::{root, wangge, wangge_stdin};

#[test]
fn fmt_check_passes_on_the_shipped_policies() {
    let out = wangge(&["fmt", "--check", "policies"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
}

#[test]
fn fmt_lays_out_stdin_and_check_fails_with_a_diff_on_a_messy_file() {
    let messy = "param  甲 = 1 // 一\n\n\n\ntable 乙(x) {\n| x || y |\n|  1 || \"是的\" |\n}\n";
    let out = wangge_stdin(&["fmt", "-"], messy);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        out.stdout,
        "param 甲 = 1  // 一\n\ntable 乙(x) {\n  | x || y      |\n  | 1 || \"是的\" |\n}\n"
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("乙.wg");
    std::fs::write(&file, messy).unwrap();
    let path = file.to_str().unwrap();
    let check = wangge(&["fmt", "--check", path]);
    assert_eq!(check.code, 1);
    assert!(
        check.stdout.contains("+  | 1 || \"是的\" |"),
        "{}",
        check.stdout
    );
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        messy,
        "--check changes nothing"
    );
    assert_eq!(wangge(&["fmt", path]).code, 0);
    assert_eq!(wangge(&["fmt", "--check", path]).code, 0);
}

#[test]
fn fmt_refuses_a_file_that_does_not_parse_with_a_code_frame_and_leaves_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("坏.wg");
    let broken = "param 甲 = 1\ntable 乙(x) {\n| x || y |\n| 1 |\n}\n";
    std::fs::write(&file, broken).unwrap();
    let out = wangge(&["fmt", file.to_str().unwrap()]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("坏.wg:5:1"), "{}", out.stderr);
    assert!(out.stderr.contains("was not formatted"), "{}", out.stderr);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), broken);
    let latin1 = dir.path().join("编码.wg");
    std::fs::write(&latin1, b"param a = 1\n// \xb5\n").unwrap();
    let out = wangge(&["fmt", latin1.to_str().unwrap()]);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("not valid UTF-8 (line 2)"),
        "{}",
        out.stderr
    );
}

#[test]
fn formatting_a_scrambled_copy_of_the_shipped_policies_keeps_every_scenario_passing() {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&root().join("policies"), dir.path());
    // Scramble: every space doubled outside strings and rhai code is
    // the formatter's to undo; done here with its own lossless view.
    for f in wg_files(dir.path()) {
        let text = std::fs::read_to_string(&f).unwrap();
        let tree = wangge_dsl::syntax::parse(&text).unwrap();
        let mut messy = String::new();
        for t in &tree.tokens {
            match t.kind {
                wangge_dsl::syntax::TokenKind::Space => messy.push_str("   "),
                wangge_dsl::syntax::TokenKind::Newline => messy.push_str(" \t \n"),
                _ => messy.push_str(tree.text_of(t)),
            }
        }
        std::fs::write(&f, messy).unwrap();
    }
    let path = dir.path().to_str().unwrap();
    assert_eq!(wangge(&["fmt", "--check", path]).code, 1);
    let out = wangge(&["fmt", path]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let test = wangge(&["test", path]);
    assert_eq!(test.code, 0, "{}{}", test.stdout, test.stderr);
    for f in wg_files(dir.path()) {
        let name = f.strip_prefix(dir.path()).unwrap();
        let shipped = std::fs::read_to_string(root().join("policies").join(name)).unwrap();
        assert_eq!(
            std::fs::read_to_string(&f).unwrap(),
            shipped,
            "{}",
            name.display()
        );
    }
}

pub fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        let dest = to.join(p.file_name().unwrap());
        if p.is_dir() {
            std::fs::create_dir_all(&dest).unwrap();
            copy_dir(&p, &dest);
        } else {
            std::fs::copy(&p, &dest).unwrap();
        }
    }
}

fn wg_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(wg_files(&p));
        } else if p.extension().is_some_and(|e| e == "wg") {
            out.push(p);
        }
    }
    out
}

/// The `href`s of an HTML page.
fn hrefs(html: &str) -> Vec<String> {
    html.split("href=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(str::to_string)
        .collect()
}

/// Every page of a written site, relative to its root.
pub fn site_pages(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|e| e == "html") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn doc_writes_a_site_whose_every_link_and_line_anchor_resolves() {
    let out = tempfile::tempdir().unwrap();
    let run = wangge(&["doc", "policies", "--out", out.path().to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let pages = site_pages(out.path());
    assert!(pages.len() > 50, "{} pages", pages.len());
    for page in &pages {
        let html = std::fs::read_to_string(page).unwrap();
        for href in hrefs(&html) {
            let (file, anchor) = href.split_once('#').unwrap_or((&href, ""));
            let target = if file.is_empty() {
                page.clone()
            } else {
                page.parent().unwrap().join(file)
            };
            assert!(
                target.exists(),
                "{}: `{href}` leads nowhere",
                page.display()
            );
            if !anchor.is_empty() {
                let there = std::fs::read_to_string(&target).unwrap();
                assert!(
                    there.contains(&format!("id=\"{anchor}\"")),
                    "{}: `{href}`",
                    page.display()
                );
            }
        }
    }
    let table = std::fs::read_to_string(out.path().join("table-事件分级.html")).unwrap();
    assert!(
        table.contains("<code>first</code>") && table.contains("群体性聚集"),
        "{table}"
    );
    let flow = std::fs::read_to_string(out.path().join("workflow-事件处置.html")).unwrap();
    assert!(
        flow.contains("<svg") && flow.contains(">返工</text>"),
        "the state diagram"
    );
    assert!(flow.contains("3 小时（工作时"), "limits on their clocks");
    assert!(
        flow.contains("小事不出网格") || flow.contains("示例（场景）"),
        "examples"
    );
    let subsidy = std::fs::read_to_string(out.path().join("subsidy-微网格员补贴.html")).unwrap();
    assert!(
        subsidy.contains("200.00元") && subsidy.contains("calc-计件补贴.html"),
        "{subsidy}"
    );
    let ladder = std::fs::read_to_string(out.path().join("ladder-城市网格.html")).unwrap();
    assert!(
        ladder.contains("<strong>微网格</strong> → <strong>一般网格</strong>"),
        "{ladder}"
    );
    let calendar = std::fs::read_to_string(out.path().join("calendar-工作日历.html")).unwrap();
    assert!(
        calendar.contains("09:00–12:00") && calendar.contains("调休上班"),
        "{calendar}"
    );
    assert!(
        calendar.contains("2026-10-01 至 2026-10-07"),
        "the year block's holidays too"
    );
    // A broken set gets its diagnostics, not a site.
    let broken = wangge(&[
        "doc",
        "tests/fixtures/broken",
        "--out",
        out.path().join("x").to_str().unwrap(),
    ]);
    assert_eq!(broken.code, 1);
    assert!(broken.stderr.contains("has errors"), "{}", broken.stderr);
}

#[test]
fn bench_reports_the_time_distribution_and_allocations_of_an_evaluation() {
    let input = r#"{"事件": {"类别": "燃气安全", "人数": 3, "风险": 3}}"#;
    let out = wangge(&[
        "bench",
        "policies",
        "事件分级",
        "--input",
        input,
        "--count",
        "200",
        "--format",
        "json",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let r: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(r["evaluations"], 200);
    let ns = &r["ns"];
    assert!(ns["min"].as_u64().unwrap() > 0);
    assert!(ns["min"].as_u64() <= ns["p50"].as_u64() && ns["p50"].as_u64() <= ns["p99"].as_u64());
    assert!(r["allocations"].as_f64().unwrap() > 0.0, "counted: {r}");
    assert!(r["allocated_bytes"].as_f64().unwrap() > 0.0);
    assert_eq!(r["policy_version"].as_str().unwrap().len(), 64);
    let human = wangge(&[
        "bench",
        "policies",
        "事件分级",
        "--input",
        input,
        "--time",
        "100ms",
    ]);
    assert!(
        human.stdout.contains("p99") && human.stdout.contains("per evaluation"),
        "{}",
        human.stdout
    );
}

#[test]
fn bench_refuses_bad_input_before_measuring() {
    let out = wangge(&[
        "bench",
        "policies",
        "事件分级",
        "--input",
        r#"{"事件": {"类别": 1}}"#,
    ]);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("does not fit its schema"),
        "{}",
        out.stderr
    );
    let out = wangge(&[
        "bench",
        "policies",
        "事件分级",
        "--input",
        "{}",
        "--time",
        "0s",
    ]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("`0s` is not a duration"),
        "{}",
        out.stderr
    );
}

#[test]
fn completions_and_man_pages_are_generated_from_the_command_line() {
    for (shell, expect) in [
        ("bash", "_wangge()"),
        ("zsh", "#compdef wangge"),
        ("fish", "complete -c wangge"),
    ] {
        let out = wangge(&["completions", shell]);
        assert_eq!(out.code, 0, "{}", out.stderr);
        assert!(
            out.stdout.contains(expect) && out.stdout.contains("fmt"),
            "{shell}"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let out = wangge(&["man", "--out", dir.path().to_str().unwrap()]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    for page in ["wangge.1", "wangge-fmt.1", "wangge-lsp.1", "wangge-serve.1"] {
        let text = std::fs::read_to_string(dir.path().join(page)).unwrap();
        assert!(
            text.starts_with(".ie") || text.contains(".TH"),
            "{page}: {text}"
        );
    }
}
