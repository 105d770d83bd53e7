//! What the language server answers, computed from an [`Analysis`]: the
//! name under the cursor, its declarations, its uses, hovers, completion
//! candidates and quick fixes. Names are matched as the resolver matches
//! them: by their text, across the files of the set.

use wangge_dsl::ast::{Item, Row, Table};
use wangge_dsl::outline::{doc_comment, Decl, DeclKind};
use wangge_dsl::Span;

use super::workspace::Analysis;

/// Whether `c` may be part of a name (as the grammar's `ident`).
fn is_name_char(c: char) -> bool {
    c == '_' || unicode_ident::is_xid_continue(c)
}

/// The name at byte `offset` of `text`, with its range.
pub fn name_at(text: &str, offset: usize) -> Option<(usize, usize)> {
    let offset = offset.min(text.len());
    if !text.is_char_boundary(offset) {
        return None;
    }
    let start = text[..offset]
        .char_indices()
        .rev()
        .take_while(|(_, c)| is_name_char(*c))
        .last()
        .map_or(offset, |(i, _)| i);
    let end = text[offset..]
        .char_indices()
        .find(|(_, c)| !is_name_char(*c))
        .map_or(text.len(), |(i, _)| offset + i);
    let first = text[start..end].chars().next()?;
    (first == '_' || unicode_ident::is_xid_start(first)).then_some((start, end))
}

/// Every declaration of `name` in the set.
pub fn definitions<'a>(a: &'a Analysis, name: &str) -> Vec<&'a Decl> {
    a.decls.iter().filter(|d| d.name == name).collect()
}

/// Every place `name` is written as a whole name in the set's files —
/// in rhai code too, not in strings or comments.
pub fn references(a: &Analysis, name: &str) -> Vec<Span> {
    let mut out = Vec::new();
    for (id, f) in a.sources.files.iter().enumerate() {
        let Ok(id) = u32::try_from(id) else { break };
        let text: &str = &f.text;
        for (at, _) in text.match_indices(name) {
            let end = at + name.len();
            let before = text[..at].chars().next_back();
            let after = text[end..].chars().next();
            if before.is_some_and(is_name_char) || after.is_some_and(is_name_char) {
                continue;
            }
            if in_string_or_comment(text, at) {
                continue;
            }
            out.push(Span::new(id, at, end));
        }
    }
    out
}

/// Whether byte `at` is inside a string literal or a comment, judged on
/// its line (strings do not span lines; block comments are rare).
fn in_string_or_comment(text: &str, at: usize) -> bool {
    let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let mut in_string = false;
    let mut chars = text[line_start..at].chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if in_string => {
                chars.next();
            }
            '"' => in_string = !in_string,
            '/' if !in_string && chars.peek() == Some(&'/') => return true,
            _ => {}
        }
    }
    in_string
}

/// The hover text for the name or table row at `offset` of file `id`.
pub fn hover(a: &Analysis, id: u32, offset: usize) -> Option<String> {
    let text = a.text(id);
    if let Some((table, row)) = row_at(a, id, offset) {
        let on_name =
            name_at(text, offset).is_some_and(|(s, e)| !definitions(a, &text[s..e]).is_empty());
        if !on_name {
            return Some(describe_row(a, table, row));
        }
    }
    let (s, e) = name_at(text, offset)?;
    let decls = definitions(a, &text[s..e]);
    if decls.is_empty() {
        return None;
    }
    let parts: Vec<String> = decls.iter().map(|d| describe_decl(a, d)).collect();
    Some(parts.join("\n\n---\n\n"))
}

/// The table row of file `id` that `offset` falls in.
fn row_at(a: &Analysis, id: u32, offset: usize) -> Option<(&Table, &Row)> {
    let file = a.files.get(id as usize)?;
    file.items.iter().find_map(|item| match item {
        Item::Table(t) if t.span.start <= offset && offset <= t.span.end => t
            .rows
            .iter()
            .find(|r| r.span.start <= offset && offset <= r.span.end)
            .map(|r| (t, r)),
        _ => None,
    })
}

/// A row as its conditions and outputs, in words.
fn describe_row(a: &Analysis, t: &Table, r: &Row) -> String {
    let src = |s: Span| a.sources.text(s).trim().to_string();
    let position = t.rows.iter().position(|x| x == r).map_or(0, |i| i + 1);
    let mut out = format!(
        "**{}** row {position} (hit {})\n\n",
        t.name.name,
        hit_name(a, t)
    );
    let conditions: Vec<String> = t
        .inputs
        .iter()
        .zip(&r.cells)
        .filter(|(_, c)| src(c.span) != "-")
        .map(|(i, c)| format!("- `{}` {}", src(i.span()), src(c.span)))
        .collect();
    if conditions.is_empty() {
        out.push_str("when: always\n\n");
    } else {
        out.push_str("when:\n");
        out.push_str(&conditions.join("\n"));
        out.push_str("\n\n");
    }
    out.push_str("then:\n");
    for (o, cell) in t.outputs.iter().zip(&r.outputs) {
        out.push_str(&format!("- `{}` = {}\n", o.name.name, src(cell.span())));
    }
    out
}

/// The table's hit policy as written (`first` when it names none).
fn hit_name(a: &Analysis, t: &Table) -> String {
    t.hit_span
        .map(|s| a.sources.text(s).trim().to_string())
        .unwrap_or_else(|| "unique".into())
}

/// A declaration: what it is, its signature (the declaring line) and its
/// doc comment; a param's value.
fn describe_decl(a: &Analysis, d: &Decl) -> String {
    let text = a.text(d.span.file);
    let line_start = text[..d.whole.start.min(text.len())]
        .rfind('\n')
        .map_or(0, |i| i + 1);
    let whole = a.sources.text(d.whole);
    let signature = match d.kind {
        DeclKind::Item(_) => whole
            .split(['{', '\n'])
            .next()
            .unwrap_or_default()
            .trim()
            .to_string(),
        _ => {
            let line_end = text[d.span.start..]
                .find('\n')
                .map_or(text.len(), |i| d.span.start + i);
            text[text[..d.span.start].rfind('\n').map_or(0, |i| i + 1)..line_end]
                .trim()
                .to_string()
        }
    };
    let mut out = match &d.parent {
        Some(p) => format!("{} of `{p}`\n\n", d.kind.describe()),
        None => format!("{}\n\n", d.kind.describe()),
    };
    out.push_str(&format!("```wangge\n{signature}\n```\n"));
    let doc = doc_comment(text, line_start);
    if !doc.is_empty() {
        out.push('\n');
        out.push_str(&doc);
        out.push('\n');
    }
    let file = a.sources.get(d.span.file).map_or("", |f| f.name.as_str());
    let line = a
        .sources
        .get(d.span.file)
        .map_or(0, |f| f.line_col(d.span.start).line);
    out.push_str(&format!("\n{file}:{line}"));
    out
}

/// Hit policies, as completion offers them after `hit`.
pub const HIT_POLICIES: &[&str] = &[
    "unique",
    "first",
    "priority",
    "any",
    "collect",
    "collect sum",
    "collect min",
    "collect max",
    "collect count",
    "rule order",
    "output order",
];

/// Completion candidates at `offset` of file `id`: hit policies after
/// `hit`, a schema's fields after `name.`, otherwise every declared name
/// (items, levels, states, actions, fields …) and the keywords.
pub fn completions(a: &Analysis, id: u32, offset: usize) -> Vec<(String, String)> {
    let text = a.text(id);
    let offset = offset.min(text.len());
    let word_start = name_at(text, offset).map_or(offset, |(s, _)| s.min(offset));
    let before = text[..word_start].trim_end_matches([' ', '\t']);
    if before.ends_with("hit") {
        return HIT_POLICIES
            .iter()
            .map(|h| (h.to_string(), "hit policy".to_string()))
            .collect();
    }
    if before.ends_with('.') && text[..word_start].ends_with('.') {
        let fields: Vec<(String, String)> = a
            .decls
            .iter()
            .filter(|d| d.kind == DeclKind::Field)
            .map(|d| {
                (
                    d.name.clone(),
                    format!("field of `{}`", d.parent.as_deref().unwrap_or("")),
                )
            })
            .collect();
        if !fields.is_empty() {
            return fields;
        }
    }
    let mut out: Vec<(String, String)> = a
        .decls
        .iter()
        .map(|d| {
            let detail = match &d.parent {
                Some(p) => format!("{} of `{p}`", d.kind.describe()),
                None => d.kind.describe().to_string(),
            };
            (d.name.clone(), detail)
        })
        .collect();
    out.extend(
        wangge_dsl::parser::ITEM_KEYWORDS
            .iter()
            .chain(STATEMENT_KEYWORDS)
            .map(|k| (k.to_string(), "keyword".to_string())),
    );
    out.sort();
    out.dedup_by(|x, y| x.0 == y.0);
    out
}

/// Keywords inside items, offered with the item keywords.
const STATEMENT_KEYWORDS: &[&str] = &[
    "hit",
    "calendar",
    "classify",
    "initial",
    "final",
    "closed",
    "feedback",
    "channel",
    "transitions",
    "ceiling",
    "limit",
    "summon",
    "assign",
    "requests",
    "remind",
    "component",
    "factor",
    "floor",
    "cap",
    "round",
    "indicator",
    "penalty",
    "stars",
    "weight",
    "linear",
    "bands",
    "expect",
    "report",
    "act",
];

/// The replacement a diagnostic's help proposes (`did you mean `X`?`).
pub fn suggested_fix(d: &wangge_dsl::Diagnostic) -> Option<String> {
    let from = |s: &str| -> Option<String> {
        let rest = s.split("did you mean `").nth(1)?;
        Some(rest.split('`').next()?.to_string())
    };
    d.help
        .as_deref()
        .and_then(from)
        .or_else(|| from(&d.message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_name_under_the_cursor_is_a_whole_chinese_name() {
        let text = "| >= 大事人数 |";
        let at = text.find("人数").unwrap();
        let (s, e) = name_at(text, at).unwrap();
        assert_eq!(&text[s..e], "大事人数");
        assert_eq!(name_at(text, 0), None);
    }

    #[test]
    fn strings_and_comments_are_not_uses() {
        let text = "a = \"甲\" 甲 // 甲\n甲";
        let at: Vec<bool> = text
            .match_indices('甲')
            .map(|(i, _)| in_string_or_comment(text, i))
            .collect();
        assert_eq!(at, [true, false, true, false]);
    }
}
