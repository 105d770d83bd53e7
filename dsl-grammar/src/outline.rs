//! What a policy set declares, and where: items, ladder levels, workflow
//! states and actions, schema fields, table output columns, scorecard
//! indicators. The language server answers definition, hover, completion
//! and references from it; `wangge doc` lists it.

use crate::ast::{File, Item};
use crate::span::Span;

/// What kind of name a declaration introduces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DeclKind {
    /// An item, with its keyword (`table`, `workflow`, `param` …).
    Item(&'static str),
    /// A level of a ladder.
    Level,
    /// A state of a workflow.
    State,
    /// An action of a workflow.
    Action,
    /// A field of a schema.
    Field,
    /// An output column of a table.
    Column,
    /// An indicator or penalty of a scorecard.
    Indicator,
}

impl DeclKind {
    /// How the kind is named in hovers and completion lists.
    pub fn describe(self) -> &'static str {
        match self {
            DeclKind::Item(k) => k,
            DeclKind::Level => "ladder level",
            DeclKind::State => "workflow state",
            DeclKind::Action => "workflow action",
            DeclKind::Field => "schema field",
            DeclKind::Column => "table output",
            DeclKind::Indicator => "scorecard indicator",
        }
    }
}

/// One declared name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decl {
    pub name: String,
    pub kind: DeclKind,
    /// The name where it is declared.
    pub span: Span,
    /// The item or statement that declares it.
    pub whole: Span,
    /// The item it belongs to (a level's ladder, a state's workflow …).
    pub parent: Option<String>,
}

/// Every declaration of the files, in source order per file. A workflow
/// state or action is declared where it is first named.
pub fn declarations(files: &[File]) -> Vec<Decl> {
    let mut out = Vec::new();
    for file in files {
        for item in &file.items {
            declare_item(item, &mut out);
        }
    }
    out
}

fn declare_item(item: &Item, out: &mut Vec<Decl>) {
    let name = item.name();
    let whole = item_span(item);
    out.push(Decl {
        name: name.name.clone(),
        kind: DeclKind::Item(item.keyword()),
        span: name.span,
        whole,
        parent: None,
    });
    let parent = Some(name.name.clone());
    let add = |n: &crate::ast::Ident, kind: DeclKind, whole: Span, out: &mut Vec<Decl>| {
        if !out
            .iter()
            .any(|d| d.kind == kind && d.name == n.name && d.parent == parent)
        {
            out.push(Decl {
                name: n.name.clone(),
                kind,
                span: n.span,
                whole,
                parent: parent.clone(),
            });
        }
    };
    match item {
        Item::Ladder(l) => {
            for level in &l.levels {
                add(level, DeclKind::Level, l.span, out);
            }
        }
        Item::Schema(s) => {
            for f in &s.fields {
                add(&f.name, DeclKind::Field, f.span, out);
            }
        }
        Item::Table(t) => {
            for o in &t.outputs {
                add(&o.name, DeclKind::Column, t.span, out);
            }
        }
        Item::Scorecard(c) => {
            for i in &c.indicators {
                add(&i.name, DeclKind::Indicator, i.span, out);
            }
            for p in &c.penalties {
                add(&p.name, DeclKind::Indicator, p.span, out);
            }
        }
        Item::Workflow(w) => {
            for s in w.initial.iter().chain(&w.start).chain(&w.finals) {
                add(s, DeclKind::State, w.span, out);
            }
            for t in &w.transitions {
                for s in t.from.iter().chain(std::iter::once(&t.to)) {
                    add(s, DeclKind::State, t.span, out);
                }
                add(&t.action, DeclKind::Action, t.span, out);
            }
        }
        _ => {}
    }
}

/// The span of a whole item.
pub fn item_span(item: &Item) -> Span {
    match item {
        Item::Policy(x) => x.span,
        Item::Ladder(x) => x.span,
        Item::Role(x) => x.span,
        Item::Grant(x) => x.span,
        Item::Schema(x) => x.span,
        Item::Party(x) => x.span,
        Item::Param(x) => x.span,
        Item::Table(x) => x.span,
        Item::Rules(x) => x.span,
        Item::Calc(x) => x.span,
        Item::Calendar(x) => x.span,
        Item::Workflow(x) => x.span,
        Item::Subsidy(x) => x.span,
        Item::Points(x) => x.span,
        Item::Scorecard(x) => x.span,
        Item::Award(x) => x.span,
        Item::Task(x) => x.span,
        Item::Intake(x) => x.span,
        Item::Scenario(x) => x.span,
    }
}

/// The `//` comment lines right above byte `start` of `text` (no blank
/// line between), without their slashes: an item's doc comment. Without
/// any, the comment at the end of the line (`param 上限 = 60  // 每月`).
pub fn doc_comment(text: &str, start: usize) -> String {
    let above = comment_above(text, start);
    if !above.is_empty() {
        return above;
    }
    let rest = &text[start.min(text.len())..];
    let line = rest.split('\n').next().unwrap_or_default();
    match line.find("//") {
        Some(i) if !line[..i].contains('"') => line[i + 2..].trim().to_string(),
        _ => String::new(),
    }
}

/// The comment lines right above byte `start`.
fn comment_above(text: &str, start: usize) -> String {
    let before = &text[..start.min(text.len())];
    let mut lines: Vec<&str> = Vec::new();
    // The line the item starts on, up to the item, must be blank.
    let mut rest = match before.rfind('\n') {
        Some(i) if before[i + 1..].trim().is_empty() => &before[..i],
        None if before.trim().is_empty() => return String::new(),
        _ => return String::new(),
    };
    loop {
        let (head, line) = match rest.rfind('\n') {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => ("", rest),
        };
        match line.trim().strip_prefix("//") {
            Some(c) => lines.push(c.trim()),
            None => break,
        }
        if head.is_empty() && !rest.contains('\n') {
            break;
        }
        rest = head;
    }
    lines.reverse();
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workflows_declare_their_states_and_actions_where_first_named() {
        let text = "ladder 城市 { 微网格 -> 社区 }\n// 流程\n// 第二行\nworkflow 流 on 城市 {\n  initial 上报\n  final 结案\n  transitions {\n    立案: 上报 -> 立案\n    结: 立案 -> 结案\n  }\n}\n";
        let (file, diags) = crate::parse_file(text, 0);
        assert!(diags.is_empty(), "{diags:?}");
        let decls = declarations(&[file]);
        let names: Vec<(&str, DeclKind)> =
            decls.iter().map(|d| (d.name.as_str(), d.kind)).collect();
        assert_eq!(
            names,
            [
                ("城市", DeclKind::Item("ladder")),
                ("微网格", DeclKind::Level),
                ("社区", DeclKind::Level),
                ("流", DeclKind::Item("workflow")),
                ("上报", DeclKind::State),
                ("结案", DeclKind::State),
                ("立案", DeclKind::State),
                ("立案", DeclKind::Action),
                ("结", DeclKind::Action),
            ]
        );
        let wf = decls.iter().find(|d| d.name == "流").expect("workflow");
        assert_eq!(doc_comment(text, wf.whole.start), "流程\n第二行");
        assert_eq!(doc_comment(text, 0), "");
        let text = "param 上限 = 60  // 每月\n";
        assert_eq!(doc_comment(text, 0), "每月");
    }
}
