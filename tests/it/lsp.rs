//! `wangge lsp` driven over JSON-RPC as an editor drives it: diagnostics
//! at the right range, hover, definition, references, completion,
//! formatting and quick fixes on the shipped policies; fuzzed edits,
//! huge and non-UTF-8 files never crash or hang it.

use serde_json::{json, Value};

use crate::authoring::copy_dir;
use crate::lsp_client::{position, uri, Lsp};
use crate::util::root;

/// A copy of the shipped policies and a server with it as the workspace.
fn setup() -> (tempfile::TempDir, Lsp) {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&root().join("policies"), dir.path());
    let lsp = Lsp::start(env!("CARGO_BIN_EXE_wangge"), dir.path());
    (dir, lsp)
}

fn read(dir: &tempfile::TempDir, name: &str) -> (String, String) {
    let path = dir.path().join(name);
    (uri(&path), std::fs::read_to_string(&path).unwrap())
}

fn at(uri: &str, text: &str, offset: usize) -> Value {
    json!({"textDocument": {"uri": uri}, "position": position(text, offset)})
}

/// The first edit of the quick fixes offered for diagnostic `d`.
fn quick_fix(lsp: &mut Lsp, uri: &str, d: &Value) -> Value {
    let actions = lsp
        .request(
            "textDocument/codeAction",
            json!({"textDocument": {"uri": uri}, "range": d["range"], "context": {"diagnostics": [d]}}),
        )
        .unwrap();
    actions[0]["edit"]["changes"][uri][0].clone()
}

/// A formatting request for the document, as VS Code sends it.
fn format_request(lsp: &mut Lsp, uri: &str) -> Result<Value, Value> {
    lsp.request(
        "textDocument/formatting",
        json!({"textDocument": {"uri": uri}, "options": {"tabSize": 2, "insertSpaces": true}}),
    )
}

#[test]
fn an_unknown_name_is_a_diagnostic_at_its_range_with_a_quick_fix() {
    let (dir, mut lsp) = setup();
    let (uri, text) = read(&dir, "事件分级.wg");
    lsp.open(&uri, &text);
    assert_eq!(
        lsp.diagnostics_for(&uri),
        Vec::<Value>::new(),
        "the shipped file is clean"
    );
    let broken = text.replacen(">= 大事人数", ">= 大事人头", 1);
    lsp.change(&uri, 2, &broken);
    let diags = lsp.diagnostics_for(&uri);
    let at = broken.find("大事人头").unwrap();
    let d = diags
        .iter()
        .find(|d| d["message"].as_str().unwrap().contains("大事人头"))
        .unwrap_or_else(|| panic!("{diags:#?}"));
    assert_eq!(d["range"]["start"], position(&broken, at));
    assert_eq!(d["range"]["end"], position(&broken, at + "大事人头".len()));
    assert_eq!(d["severity"], 1);
    assert!(
        d["message"]
            .as_str()
            .unwrap()
            .contains("did you mean `大事人数`"),
        "{d}"
    );
    let edit = quick_fix(&mut lsp, &uri, d);
    assert_eq!(edit["newText"], "大事人数", "{edit}");
    assert_eq!(edit["range"], d["range"]);
}

#[test]
fn a_full_width_mark_gets_a_quick_fix_that_makes_the_file_clean() {
    let (dir, mut lsp) = setup();
    let (uri, text) = read(&dir, "事件分级.wg");
    let broken = text.replacen("param 大事人数 = 30", "param 大事人数 ＝ 30", 1);
    lsp.open(&uri, &broken);
    let diags = lsp.diagnostics_for(&uri);
    let d = diags
        .iter()
        .find(|d| d["code"] == "wangge::full-width")
        .unwrap_or_else(|| panic!("{diags:#?}"));
    let edit = quick_fix(&mut lsp, &uri, d);
    assert_eq!(edit["newText"], "=");
    // Applied as the editor applies it: the file is clean again.
    let at = broken.find('＝').unwrap();
    let fixed = format!("{}={}", &broken[..at], &broken[at + '＝'.len_utf8()..]);
    assert_eq!(edit["range"]["start"], position(&broken, at));
    lsp.change(&uri, 2, &fixed);
    assert_eq!(lsp.diagnostics_for(&uri), Vec::<Value>::new());
}

#[test]
fn a_rhai_error_in_a_calc_is_reported_where_check_reports_it() {
    let (dir, mut lsp) = setup();
    let (uri, text) = read(&dir, "补贴激励.wg");
    let broken = text.replacen("小时 * 巡查时薪", "小时 * * 巡查时薪", 1);
    lsp.open(&uri, &broken);
    let diags = lsp.diagnostics_for(&uri);
    let d = diags
        .iter()
        .find(|d| d["code"] == "wangge::rhai")
        .unwrap_or_else(|| panic!("{diags:#?}"));
    let line = broken[..broken.find("小时 * * 巡查时薪").unwrap()]
        .matches('\n')
        .count();
    assert_eq!(d["range"]["start"]["line"], line, "{d}");
}

#[test]
fn hover_shows_an_items_signature_and_doc_a_params_value_and_a_rows_conditions() {
    let (dir, mut lsp) = setup();
    let (uri, text) = read(&dir, "事件处置.wg");
    lsp.open(&uri, &text);
    let on = text.find("classify 事件分级").unwrap() + "classify ".len();
    let h = lsp
        .request("textDocument/hover", at(&uri, &text, on))
        .unwrap();
    let md = h["contents"]["value"].as_str().unwrap();
    assert!(
        md.contains("table 事件分级(事件: 事件报告) hit first"),
        "{md}"
    );
    let (uri3, text3) = read(&dir, "补贴激励.wg");
    lsp.open(&uri3, &text3);
    let on = text3.find("= 质量系数 on").unwrap() + 2;
    let h = lsp
        .request("textDocument/hover", at(&uri3, &text3, on))
        .unwrap();
    let md = h["contents"]["value"].as_str().unwrap();
    assert!(md.contains("calc 质量系数(统计) -> 数"), "{md}");
    assert!(
        md.contains("没有办结事件时按 1 计"),
        "the doc comment above it: {md}"
    );
    let (uri2, text2) = read(&dir, "事件分级.wg");
    lsp.open(&uri2, &text2);
    let param = text2.find(">= 大事人数").unwrap() + ">= 大".len();
    let h = lsp
        .request("textDocument/hover", at(&uri2, &text2, param))
        .unwrap();
    let md = h["contents"]["value"].as_str().unwrap();
    assert!(md.contains("param 大事人数 = 30"), "{md}");
    assert!(
        md.contains("涉及 30 人及以上即为大事"),
        "its trailing comment: {md}"
    );
    let row = text2.find("| \"群体性聚集\"").unwrap() + 1;
    let h = lsp
        .request("textDocument/hover", at(&uri2, &text2, row))
        .unwrap();
    let md = h["contents"]["value"].as_str().unwrap();
    assert!(md.contains("`事件.类别` \"群体性聚集\""), "{md}");
    assert!(
        md.contains("`等级` = \"大事\"") && md.contains("`处置层级` = 街道"),
        "{md}"
    );
}

#[test]
fn definition_and_references_go_across_files() {
    let (dir, mut lsp) = setup();
    let (uri, text) = read(&dir, "事件处置.wg");
    lsp.open(&uri, &text);
    let on = text.find("calendar 工作日历").unwrap() + "calendar ".len();
    let defs = lsp
        .request("textDocument/definition", at(&uri, &text, on))
        .unwrap();
    let (cal_uri, cal_text) = read(&dir, "工作日历.wg");
    let def = defs
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["uri"] == cal_uri.as_str())
        .unwrap_or_else(|| panic!("{defs}"));
    assert_eq!(
        def["range"]["start"],
        position(&cal_text, cal_text.find("工作日历 {").unwrap())
    );
    // A level of the ladder: declared in 总则.wg.
    let level = text.find("一般网格: 1 工作日").unwrap();
    let defs = lsp
        .request("textDocument/definition", at(&uri, &text, level))
        .unwrap();
    let (ladder_uri, _) = read(&dir, "总则.wg");
    assert!(
        defs.as_array()
            .unwrap()
            .iter()
            .any(|d| d["uri"] == ladder_uri.as_str()),
        "{defs}"
    );
    // A state: where the workflow first names it.
    let state = text.rfind("-> 核查").unwrap() + 3;
    let defs = lsp
        .request("textDocument/definition", at(&uri, &text, state))
        .unwrap();
    assert!(!defs.as_array().unwrap().is_empty(), "{defs}");
    // The references of a param: its declaration and its uses in the table.
    let (uri2, text2) = read(&dir, "事件分级.wg");
    let on = text2.find("param 大事人数").unwrap() + "param ".len();
    let refs = lsp
        .request(
            "textDocument/references",
            json!({"textDocument": {"uri": uri2}, "position": position(&text2, on),
                   "context": {"includeDeclaration": true}}),
        )
        .unwrap();
    assert_eq!(
        refs.as_array().unwrap().len(),
        2,
        "declaration and one row: {refs}"
    );
}

#[test]
fn completion_offers_hit_policies_names_states_and_fields() {
    let (dir, mut lsp) = setup();
    let (uri, text) = read(&dir, "事件分级.wg");
    let typed = format!("{text}\ntable 新表(事件: 事件报告) hit ");
    lsp.open(&uri, &typed);
    let labels = |v: Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|i| i["label"].as_str().unwrap().to_string())
            .collect()
    };
    let hit = labels(
        lsp.request("textDocument/completion", at(&uri, &typed, typed.len()))
            .unwrap(),
    );
    assert!(
        hit.contains(&"first".to_string()) && hit.contains(&"collect sum".to_string()),
        "{hit:?}"
    );
    let typed = format!("{text}\nparam 新 = 事件.");
    lsp.change(&uri, 2, &typed);
    let fields = labels(
        lsp.request("textDocument/completion", at(&uri, &typed, typed.len()))
            .unwrap(),
    );
    assert!(
        fields.contains(&"人数".to_string()) && fields.contains(&"类别".to_string()),
        "{fields:?}"
    );
    let typed = format!("{text}\n");
    lsp.change(&uri, 3, &typed);
    let all = labels(
        lsp.request("textDocument/completion", at(&uri, &typed, typed.len()))
            .unwrap(),
    );
    for name in [
        "事件分级",
        "一般网格",
        "立案",
        "结案",
        "工作日历",
        "table",
        "大事人数",
    ] {
        assert!(
            all.contains(&name.to_string()),
            "{name} missing from {all:?}"
        );
    }
}

#[test]
fn formatting_answers_the_same_text_as_wangge_fmt() {
    let (dir, mut lsp) = setup();
    let (uri, text) = read(&dir, "事件分级.wg");
    let messy = text
        .replace("| ", "|   ")
        .replace("param 大事人数 = 30", "param   大事人数 =  30");
    lsp.open(&uri, &messy);
    let edits = format_request(&mut lsp, &uri).unwrap();
    let edits = edits.as_array().unwrap();
    assert_eq!(edits.len(), 1);
    assert_eq!(
        edits[0]["newText"].as_str().unwrap(),
        text,
        "formatted back to the shipped file"
    );
    lsp.change(&uri, 2, &text);
    let none = format_request(&mut lsp, &uri).unwrap();
    assert_eq!(none, json!([]));
}

/// A small deterministic generator (xorshift), so a failure replays.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// `text` with one random edit: an insertion of typed fragments, a
/// deletion, or a duplicated chunk, always on character boundaries.
fn fuzz_edit(rng: &mut Rng, text: &str) -> String {
    const TYPED: &[&str] = &[
        "{",
        "}",
        "|",
        "||",
        "\"",
        "(",
        ")",
        "[",
        "]",
        "->",
        ":",
        ",",
        "\n",
        "table ",
        "workflow ",
        "hit ",
        "事件",
        "，",
        "：",
        "（",
        "｜",
        "“",
        "\u{3000}",
        "/*",
        "//",
        "`",
        ".",
        "..",
        "=",
        "calc 甲(x) -> 元 { x +",
        "row",
        "0",
        "-",
        "\t",
        "𝒳",
    ];
    let bounds: Vec<usize> = text
        .char_indices()
        .map(|(i, _)| i)
        .chain([text.len()])
        .collect();
    let a = bounds[rng.below(bounds.len())];
    let b = bounds[rng.below(bounds.len())];
    let (from, to) = (a.min(b), a.max(b));
    // At most a few hundred bytes, ending on a character boundary.
    let short = |limit: usize| {
        let mut end = to.min(from + limit);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        end
    };
    match rng.below(3) {
        0 => format!(
            "{}{}{}",
            &text[..a],
            TYPED[rng.below(TYPED.len())],
            &text[a..]
        ),
        1 => format!("{}{}", &text[..from], &text[short(200)..]),
        _ => format!("{}{}{}", &text[..to], &text[from..short(300)], &text[to..]),
    }
}

#[test]
fn fuzzed_edits_never_crash_or_hang_the_server() {
    let (dir, mut lsp) = setup();
    // A file on disk that is not UTF-8, in the same set.
    std::fs::write(dir.path().join("坏编码.wg"), b"param x = 1\n// \xb5\xff\n").unwrap();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let started = std::time::Instant::now();
    let mut version = 1;
    for name in [
        "事件分级.wg",
        "事件处置.wg",
        "补贴激励.wg",
        "考核评价.wg",
        "tests/事件处置.test.wg",
    ] {
        let (uri, shipped) = read(&dir, name);
        let mut text = shipped.clone();
        lsp.open(&uri, &text);
        for _ in 0..40 {
            text = fuzz_edit(&mut rng, &text);
            version += 1;
            lsp.change(&uri, version, &text);
            let offset = text
                .char_indices()
                .map(|(i, _)| i)
                .nth(rng.below(text.chars().count() + 1))
                .unwrap_or(text.len());
            for method in [
                "textDocument/hover",
                "textDocument/definition",
                "textDocument/completion",
            ] {
                let answer = lsp.request(method, at(&uri, &text, offset));
                assert!(answer.is_ok(), "{method} failed: {answer:?}");
            }
            let _ = format_request(&mut lsp, &uri);
        }
        lsp.change(&uri, version + 1, &shipped);
        version += 1;
    }
    eprintln!(
        "200 fuzzed edits with 4 requests each in {:?}",
        started.elapsed()
    );
    // A huge file: 2 MB of table rows, half-typed at the end (a debug
    // build on a loaded CI machine; benches/lsp.rs times 4 MB in release).
    let (uri, _) = read(&dir, "事件分级.wg");
    let mut huge = String::from("table 巨表(x) hit first {\n| x || y |\n");
    while huge.len() < 2 << 20 {
        huge.push_str("| \"一个很长的类别名称\" || \"大事\" |\n");
    }
    huge.push_str("| \"半");
    lsp.published.clear();
    lsp.change(&uri, version + 1, &huge);
    let started = std::time::Instant::now();
    assert!(
        !lsp.diagnostics_for(&uri).is_empty(),
        "the half-typed row is an error"
    );
    let answer = lsp.request("textDocument/hover", at(&uri, &huge, 30));
    assert!(answer.is_ok(), "{answer:?}");
    eprintln!(
        "a 4 MB file: diagnostics and a hover in {:?}",
        started.elapsed()
    );
    assert_eq!(lsp.shutdown(), Some(0), "exits cleanly after all that");
}

#[test]
fn initialize_params_that_do_not_parse_are_refused_not_defaulted() {
    let mut lsp = Lsp::spawn(env!("CARGO_BIN_EXE_wangge"));
    let err = lsp
        .request(
            "initialize",
            json!({"processId": "not a number", "capabilities": {}}),
        )
        .unwrap_err();
    assert_eq!(err["code"], -32602, "{err}");
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("`initialize` params do not parse"),
        "{err}"
    );
    lsp.notify("exit", Value::Null);
    assert_eq!(lsp.exit_code(), Some(1), "exits failed when told to");
}
