//! The canonical layout of a policy file (`wangge fmt`). Like `terraform
//! fmt` it keeps the author's line breaks and comments and normalises
//! everything else:
//!
//! - indentation: two spaces per open `{` (and per open bracket of a list
//!   or parameter list that goes on over lines);
//! - one space wherever the author put whitespace between two tokens, none
//!   at the ends of lines; at most one blank line in a row, none at the
//!   start of a block or the file, none before a closing `}`; one `\n` at
//!   the end; no byte order mark, no `\r`;
//! - each table's `|` columns aligned by display width (a CJK character is
//!   two columns wide, as `unicode-width` measures it);
//! - trailing `//` comments of consecutive lines aligned, two spaces after
//!   the longest line;
//! - rhai code as written, apart from the indentation of its lines (moved
//!   as a block; left alone when a string goes on over lines).
//!
//! Only whitespace changes, so the formatted file parses to the same items
//! (the tests compare the syntax trees and run the scenarios), and
//! formatting twice changes nothing.

use std::collections::HashSet;

use unicode_width::UnicodeWidthStr;

use crate::diagnostic::Diagnostic;
use crate::syntax::{self, Token, TokenKind, Tree};

/// Spaces per level of indentation.
const INDENT: usize = 2;

/// The file laid out canonically, or why it cannot be: the parser's
/// errors (a file must parse before it can be formatted).
pub fn format(text: &str) -> Result<String, Vec<Diagnostic>> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let (_, diags) = crate::parse_file(text, 0);
    let errors: Vec<Diagnostic> = diags.into_iter().filter(|d| d.is_error()).collect();
    if !errors.is_empty() {
        return Err(errors);
    }
    let Some(tree) = syntax::parse(text) else {
        return Err(vec![Diagnostic::error(
            "wangge::syntax",
            crate::Span::new(0, 0, 0),
            "the file does not parse as a whole",
        )]);
    };
    Ok(Layout::new(&tree).run())
}

/// One output line before trailing comments are aligned.
struct Line {
    indent: usize,
    code: String,
    comment: Option<String>,
    /// Whether its trailing comment may line up with its neighbours' (not
    /// when the code goes on over several lines).
    alignable: bool,
}

impl Line {
    fn is_blank(&self) -> bool {
        self.code.is_empty() && self.comment.is_none()
    }
}

struct Layout<'t, 'a> {
    tree: &'t Tree<'a>,
    opens: HashSet<usize>,
    closes: HashSet<usize>,
    /// Each aligned table line, by the offset it starts at: its end and
    /// its formatted text.
    rows: std::collections::HashMap<usize, (usize, String)>,
    depth: usize,
    /// The depth at each statement's start, once passed.
    statement_depth: std::collections::HashMap<usize, usize>,
    /// The statements the current line is inside: (start, end), outermost
    /// first; and how many of the tree's statements were entered.
    open_statements: Vec<(usize, usize)>,
    entered: usize,
}

impl<'t, 'a> Layout<'t, 'a> {
    fn new(tree: &'t Tree<'a>) -> Self {
        let mut rows = std::collections::HashMap::new();
        for table in &tree.tables {
            aligned_table(tree, table, &mut rows);
        }
        Layout {
            tree,
            opens: tree.opens.iter().copied().collect(),
            closes: tree.closes.iter().copied().collect(),
            rows,
            depth: 0,
            statement_depth: std::collections::HashMap::new(),
            open_statements: Vec::new(),
            entered: 0,
        }
    }

    fn run(mut self) -> String {
        let tokens = &self.tree.tokens;
        let mut lines = Vec::new();
        let mut start = 0;
        while start <= tokens.len() {
            let end = tokens[start..]
                .iter()
                .position(|t| t.kind == TokenKind::Newline)
                .map_or(tokens.len(), |i| start + i);
            lines.push(self.line(start, end));
            start = end + 1;
        }
        render(lines)
    }

    /// Whether the token starts by closing a block or a list.
    fn closes_first(&self, t: &Token) -> bool {
        t.kind == TokenKind::Text
            && (self.tree.text_of(t).starts_with('}') || self.closes.contains(&t.start))
    }

    /// Moves the depth over a token's brackets, noting the depth where
    /// statements start.
    fn step(&mut self, t: &Token) {
        if t.kind != TokenKind::Text {
            self.statement_depth.entry(t.start).or_insert(self.depth);
            return;
        }
        for (i, c) in self.tree.text_of(t).char_indices() {
            let at = t.start + i;
            self.statement_depth.entry(at).or_insert(self.depth);
            if c == '{' || self.opens.contains(&at) {
                self.depth += 1;
            } else if c == '}' || self.closes.contains(&at) {
                self.depth = self.depth.saturating_sub(1);
            }
        }
    }

    /// Whether a line starting at `at` goes on with a statement begun on an
    /// earlier line, outside any block that statement opened: it hangs one
    /// level deeper (`rule … when …` / `then { … }`).
    fn continues_a_statement(&mut self, at: usize) -> bool {
        let all = &self.tree.statements;
        while self.entered < all.len() && all[self.entered].0 < at {
            self.open_statements.push(all[self.entered]);
            self.entered += 1;
        }
        self.open_statements.retain(|s| s.1 > at);
        self.open_statements
            .iter()
            .any(|s| self.statement_depth.get(&s.0) == Some(&self.depth))
    }

    /// The logical line of `tokens[start..end]` (a multi-line rhai or
    /// block comment token stays inside one logical line).
    fn line(&mut self, start: usize, end: usize) -> Line {
        let tokens = &self.tree.tokens;
        let words: Vec<usize> = (start..end)
            .filter(|&i| tokens[i].kind != TokenKind::Space)
            .collect();
        let Some(&first) = words.first() else {
            return Line {
                indent: 0,
                code: String::new(),
                comment: None,
                alignable: true,
            };
        };
        let mut indent = self.depth;
        if self.continues_a_statement(tokens[first].start) {
            indent += 1;
        }
        if self.closes_first(&tokens[first]) {
            let leading = self
                .tree
                .text_of(&tokens[first])
                .chars()
                .take_while(|c| *c == '}' || matches!(c, ']' | ')'))
                .count();
            indent = indent.saturating_sub(leading.max(1));
        }
        let mut code = String::new();
        let mut comment = None;
        let mut skip_to = 0;
        for (n, &i) in words.iter().enumerate() {
            let t = tokens[i];
            let text = self.tree.text_of(&t);
            if t.start < skip_to {
                self.step(&t);
                continue;
            }
            if t.kind == TokenKind::LineComment && n + 1 == words.len() && n > 0 {
                comment = Some(text.trim_end().to_string());
                continue;
            }
            if !code.is_empty() && i > 0 && tokens[i - 1].kind == TokenKind::Space {
                code.push(' ');
            }
            if let Some((row_end, row)) = self.rows.get(&t.start) {
                code.push_str(row);
                skip_to = *row_end;
                self.step(&t);
                continue;
            }
            match t.kind {
                TokenKind::Rhai => {
                    let closing = words
                        .get(n + 1)
                        .map(|&j| self.closes_first(&tokens[j]))
                        .unwrap_or(false);
                    let inner = self.depth * INDENT;
                    let closing = if closing {
                        self.depth.saturating_sub(1) * INDENT
                    } else {
                        inner
                    };
                    // Code that starts its line (a calc's body) moves with
                    // its first line, which the line's indentation places.
                    let first_col = (n == 0).then(|| {
                        let before = &self.tree.text[..t.start];
                        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
                        columns(&before[line_start..])
                    });
                    code.push_str(&reindent(text, inner, closing, first_col));
                }
                TokenKind::LineComment | TokenKind::BlockComment => code.push_str(text.trim_end()),
                _ => code.push_str(text),
            }
            self.step(&t);
        }
        let alignable = !code.contains('\n');
        Line {
            indent: indent * INDENT,
            code,
            comment,
            alignable,
        }
    }
}

/// The formatted header and rows of a table whose lines each sit on one
/// line with no comment inside; other tables are left to the line rules.
fn aligned_table(
    tree: &Tree<'_>,
    table: &syntax::Table,
    rows: &mut std::collections::HashMap<usize, (usize, String)>,
) {
    let inside = |from: usize, to: usize| {
        tree.tokens
            .iter()
            .filter(move |t| t.start >= from && t.end <= to)
    };
    let unbroken = table.lines.iter().all(|l| {
        inside(l.start, l.end).all(|t| {
            !matches!(
                t.kind,
                TokenKind::Newline | TokenKind::LineComment | TokenKind::BlockComment
            ) && !tree.text_of(t).contains('\n')
        })
    });
    if !unbroken {
        return;
    }
    let cells: Vec<Vec<String>> = table
        .lines
        .iter()
        .map(|l| {
            l.cells
                .iter()
                .map(|&(from, to)| {
                    let mut s = String::new();
                    let mut prev_space = false;
                    for t in inside(from, to) {
                        if t.kind == TokenKind::Space {
                            prev_space = true;
                            continue;
                        }
                        if prev_space && !s.is_empty() {
                            s.push(' ');
                        }
                        prev_space = false;
                        s.push_str(tree.text_of(t));
                    }
                    s
                })
                .collect()
        })
        .collect();
    let mut widths = [Vec::<usize>::new(), Vec::new()];
    for (l, line) in table.lines.iter().zip(&cells) {
        for (c, cell) in line.iter().enumerate() {
            let (side, col) = if c < l.inputs {
                (0, c)
            } else {
                (1, c - l.inputs)
            };
            if widths[side].len() <= col {
                widths[side].resize(col + 1, 0);
            }
            widths[side][col] = widths[side][col].max(cell.width());
        }
    }
    for (l, line) in table.lines.iter().zip(&cells) {
        let mut s = String::from("|");
        for (c, cell) in line.iter().enumerate() {
            if c == l.inputs {
                s.push('|');
            }
            let (side, col) = if c < l.inputs {
                (0, c)
            } else {
                (1, c - l.inputs)
            };
            s.push(' ');
            s.push_str(cell);
            s.push_str(&" ".repeat(widths[side][col] - cell.width()));
            s.push_str(" |");
        }
        rows.insert(l.start, (l.end, s));
    }
}

/// rhai code with its lines after the first moved as a block: the least
/// indented to `inner` columns, the rest keeping their offsets from it; a
/// last line holding only whitespace (before the closing `}`) to
/// `closing`. Code where a string goes on over lines is left as written.
fn reindent(code: &str, inner: usize, closing: usize, first_col: Option<usize>) -> String {
    if !code.contains('\n') || newline_in_string(code) {
        return code.to_string();
    }
    let mut lines: Vec<&str> = code.split('\n').collect();
    let last_is_closing = lines.last().is_some_and(|l| l.trim().is_empty());
    let tail = if last_is_closing { lines.pop() } else { None };
    let width = |l: &str| columns(&l[..l.len() - l.trim_start_matches([' ', '\t']).len()]);
    let least = lines
        .iter()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| width(l))
        .chain(first_col)
        .min()
        .unwrap_or(0);
    let mut out = String::with_capacity(code.len());
    for (n, l) in lines.iter().enumerate() {
        if n == 0 {
            out.push_str(l.trim_end());
            continue;
        }
        out.push('\n');
        if !l.trim().is_empty() {
            out.push_str(&" ".repeat(inner + width(l) - least));
            out.push_str(l.trim());
        }
    }
    if tail.is_some() {
        out.push('\n');
        out.push_str(&" ".repeat(closing));
    }
    out
}

/// The columns leading whitespace takes (a tab counts four).
fn columns(space: &str) -> usize {
    space.chars().map(|c| if c == '\t' { 4 } else { 1 }).sum()
}

/// Whether a line break of `code` falls inside a rhai string literal.
fn newline_in_string(code: &str) -> bool {
    let mut chars = code.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' | '`' | '\'' => {
                let mut escaped = false;
                for d in chars.by_ref() {
                    if d == '\n' {
                        return true;
                    }
                    if escaped {
                        escaped = false;
                    } else if d == '\\' && c != '`' {
                        escaped = true;
                    } else if d == c {
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'/') => {
                for d in chars.by_ref() {
                    if d == '\n' {
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                let mut star = false;
                for d in chars.by_ref() {
                    if star && d == '/' {
                        break;
                    }
                    star = d == '*';
                }
            }
            _ => {}
        }
    }
    false
}

/// The lines as text: blank lines squeezed, trailing comments aligned.
fn render(lines: Vec<Line>) -> String {
    let mut kept: Vec<Line> = Vec::with_capacity(lines.len());
    for line in lines {
        if line.is_blank() {
            let after_open = kept
                .last()
                .is_none_or(|p| p.is_blank() || p.code.ends_with('{'));
            if after_open {
                continue;
            }
        } else if line.code.starts_with('}') && kept.last().is_some_and(Line::is_blank) {
            kept.pop();
        }
        kept.push(line);
    }
    while kept.last().is_some_and(Line::is_blank) {
        kept.pop();
    }
    let mut out = String::new();
    let mut i = 0;
    while i < kept.len() {
        let run_end = comment_run_end(&kept, i);
        let column = kept[i..run_end]
            .iter()
            .map(|l| l.indent + l.code.width())
            .max()
            .unwrap_or(0)
            + 2;
        for l in &kept[i..run_end] {
            if !l.is_blank() {
                out.push_str(&" ".repeat(l.indent));
            }
            out.push_str(&l.code);
            if let Some(c) = &l.comment {
                // The last physical line of a multi-line code carries its
                // own indentation.
                let used = match l.code.rsplit_once('\n') {
                    Some((_, last)) => last.width(),
                    None => l.indent + l.code.width(),
                };
                let at = if l.alignable { column } else { used + 2 };
                out.push_str(&" ".repeat(at.saturating_sub(used).max(2)));
                out.push_str(c);
            }
            out.push('\n');
        }
        i = run_end;
    }
    out
}

/// Where the run of lines with aligned trailing comments that starts at
/// `i` ends (a line on its own when it has no comment to align).
fn comment_run_end(lines: &[Line], i: usize) -> usize {
    let joins = |l: &Line| l.comment.is_some() && l.alignable && !l.code.is_empty();
    if !joins(&lines[i]) {
        return i + 1;
    }
    let mut j = i + 1;
    while j < lines.len() && joins(&lines[j]) && lines[j].indent == lines[i].indent {
        j += 1;
    }
    j
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(text: &str) -> String {
        format(text).unwrap_or_else(|d| panic!("{d:?}"))
    }

    #[test]
    fn a_tables_columns_line_up_by_display_width() {
        let text = "table 分级(事件) hit first {\n| 事件.类别 | 事件.人数 || 等级 |\n|  \"群体性聚集\" | - || \"大事\" |\n| - | >= 30 || \"小事\" |\n}\n";
        assert_eq!(
            fmt(text),
            "table 分级(事件) hit first {\n  \
             | 事件.类别    | 事件.人数 || 等级   |\n  \
             | \"群体性聚集\" | -         || \"大事\" |\n  \
             | -            | >= 30     || \"小事\" |\n}\n"
        );
    }

    #[test]
    fn comments_stay_where_they_were_and_trailing_ones_line_up() {
        let text =
            "// 头\n\n\n\nparam 甲 = 1 // 一\nparam 乙乙 = 22    // 二\n/* 块 */ param 丙 = 3\n";
        assert_eq!(
            fmt(text),
            "// 头\n\nparam 甲 = 1     // 一\nparam 乙乙 = 22  // 二\n/* 块 */ param 丙 = 3\n"
        );
    }

    #[test]
    fn rhai_is_kept_as_written_apart_from_its_indentation() {
        let text = "calc 甲(x) -> 数 {\n      let y = x;   // 注\n        y +  1\n}\n";
        assert_eq!(
            fmt(text),
            "calc 甲(x) -> 数 {\n  let y = x;   // 注\n    y +  1\n}\n"
        );
    }

    #[test]
    fn a_string_over_lines_in_rhai_is_left_alone() {
        let text = "calc 甲(x) -> 文本 {\n      `a\n   b`\n}\n";
        assert_eq!(fmt(text), "calc 甲(x) -> 文本 {\n  `a\n   b`\n}\n");
    }

    /// The syntax tree as text, without spans and without the indentation
    /// of rhai lines: what formatting must keep.
    fn meaning(text: &str) -> String {
        let (file, diags) = crate::parse_file(text, 0);
        assert!(diags.iter().all(|d| !d.is_error()), "{diags:?}");
        let debug = format!("{file:?}");
        let mut out = String::with_capacity(debug.len());
        let mut rest = debug.as_str();
        while let Some(i) = rest.find("Span {") {
            out.push_str(&rest[..i]);
            rest = rest[i..].split_once('}').map_or("", |(_, after)| after);
        }
        out.push_str(rest);
        // rhai code: spaces around its line breaks (escaped as `\n`).
        let mut squeezed = String::with_capacity(out.len());
        for (n, piece) in out.split("\\n").enumerate() {
            if n > 0 {
                squeezed.push_str("\\n");
                squeezed.push_str(piece.trim_start_matches([' ', '\t']));
            } else {
                squeezed.push_str(piece);
            }
            let len = squeezed.trim_end_matches([' ', '\t']).len();
            if piece.len() != piece.trim_end_matches([' ', '\t']).len() {
                squeezed.truncate(len);
            }
        }
        squeezed
    }

    /// The comments of a file, in order.
    fn comments(text: &str) -> Vec<String> {
        let tree = syntax::parse(text).expect("parses");
        tree.tokens
            .iter()
            .filter(|t| matches!(t.kind, TokenKind::LineComment | TokenKind::BlockComment))
            .map(|t| tree.text_of(t).trim_end().to_string())
            .collect()
    }

    fn shipped() -> Vec<(String, String)> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies");
        let mut out = Vec::new();
        let mut dirs = vec![root];
        while let Some(dir) = dirs.pop() {
            for e in std::fs::read_dir(dir).expect("policies") {
                let p = e.expect("entry").path();
                if p.is_dir() {
                    dirs.push(p);
                } else if p.extension().is_some_and(|e| e == "wg") {
                    let text = std::fs::read_to_string(&p).expect("utf-8");
                    out.push((p.display().to_string(), text));
                }
            }
        }
        out.sort();
        out
    }

    /// Checks the properties on one input: the same syntax tree, the same
    /// comments, and a second pass changes nothing.
    fn holds(name: &str, text: &str) {
        let once = format(text).unwrap_or_else(|d| panic!("{name}: {d:?}"));
        assert_eq!(meaning(text), meaning(&once), "{name}: the meaning changed");
        assert_eq!(comments(text), comments(&once), "{name}: comments moved");
        assert_eq!(
            format(&once).ok().as_deref(),
            Some(once.as_str()),
            "{name}: not idempotent"
        );
    }

    #[test]
    fn the_shipped_policies_are_formatted_and_keep_their_meaning() {
        for (name, text) in shipped() {
            holds(&name, &text);
            assert_eq!(
                format(&text).ok().as_deref(),
                Some(text.as_str()),
                "{name}: run `wangge fmt policies`"
            );
        }
    }

    /// A shipped file with its layout scrambled: each run of spaces
    /// between tokens replaced, blank lines and trailing comments added.
    fn scrambled(text: &str, choices: &[u8]) -> String {
        let tree = syntax::parse(text).expect("parses");
        let mut out = String::with_capacity(text.len() * 2);
        let mut k = 0;
        let mut next = || {
            k += 1;
            choices.get(k % choices.len().max(1)).copied().unwrap_or(0)
        };
        for t in &tree.tokens {
            match t.kind {
                TokenKind::Space => out.push_str(["  ", " ", "   ", " "][usize::from(next() % 4)]),
                TokenKind::Newline => {
                    match next() % 7 {
                        0 => out.push_str("  // 加的注释"),
                        1 => out.push_str("\n\n\n"),
                        2 => out.push_str("   "),
                        _ => {}
                    }
                    out.push('\n');
                }
                _ => out.push_str(tree.text_of(t)),
            }
        }
        out
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config::with_cases(24))]
        #[test]
        fn fmt_is_idempotent_and_keeps_meaning_and_comments_on_generated_layouts(
            file in 0usize..64,
            choices in proptest::collection::vec(proptest::num::u8::ANY, 1..64),
        ) {
            let files = shipped();
            let (name, text) = &files[file % files.len()];
            let messy = scrambled(text, &choices);
            let (_, diags) = crate::parse_file(&messy, 0);
            if let Some(d) = diags.iter().find(|d| d.is_error()) {
                panic!("{name}: the scrambled input does not parse: {d:?}\n{}", &messy[d.span.start.saturating_sub(80)..(d.span.end + 40).min(messy.len())]);
            }
            holds(name, &messy);
        }
    }

    #[test]
    fn a_file_that_does_not_parse_is_refused() {
        assert!(format("table 甲 {").is_err());
    }
}
