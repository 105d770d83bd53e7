//! A lossless view of one policy file, for the tools that rewrite or
//! navigate it (the formatter, the language server). Every byte of the
//! source belongs to exactly one [`Token`] — whitespace, newlines and
//! comments included — so joining the tokens gives the file back byte for
//! byte. The pest parse adds the structure those tools need: which runs are
//! rhai code (kept verbatim), which are string literals, the rows of each
//! table with their cells, and the brackets of lists and parameter lists.
//!
//! The syntax tree of [`crate::ast`] stays the compiler's input; this view
//! is built on demand from the same grammar, so the two cannot disagree on
//! what the file says.

use pest::iterators::Pair;
use pest::Parser as _;

use crate::parser::{PolicyParser, Rule};

/// What a token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// Spaces, tabs and carriage returns.
    Space,
    /// One `\n`.
    Newline,
    /// `// …` up to (not including) the end of its line.
    LineComment,
    /// `/* … */`, possibly over several lines.
    BlockComment,
    /// A string literal with its quotes.
    Str,
    /// rhai code between the braces of a block, a `when`, a rule's output,
    /// or a call's arguments: verbatim, newlines and comments included.
    Rhai,
    /// Any other run of characters up to whitespace or a comment.
    Text,
}

/// A run of the source: `text[start..end]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token {
    pub kind: TokenKind,
    pub start: usize,
    pub end: usize,
}

/// One line of a table (its header or a row) as byte ranges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableLine {
    /// From its first `|` to its last.
    pub start: usize,
    pub end: usize,
    /// Each cell's range, inputs first.
    pub cells: Vec<(usize, usize)>,
    /// How many of `cells` are inputs (left of `||`).
    pub inputs: usize,
}

/// A decision table: its header, then its rows.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Table {
    pub lines: Vec<TableLine>,
}

/// The lossless view of one file.
#[derive(Debug, Clone)]
pub struct Tree<'a> {
    pub text: &'a str,
    pub tokens: Vec<Token>,
    pub tables: Vec<Table>,
    /// Byte offsets of the `[`/`(` opening a list or parameter list, and of
    /// the `]`/`)` closing it (ranges such as `[3..10)` are not brackets).
    pub opens: Vec<usize>,
    pub closes: Vec<usize>,
    /// Each item and each statement inside one (a transition, a limit,
    /// a scenario step …) as a byte range: a line that starts inside one,
    /// outside any block it opened, continues it.
    pub statements: Vec<(usize, usize)>,
}

impl Tree<'_> {
    /// The text of a token.
    pub fn text_of(&self, t: &Token) -> &str {
        &self.text[t.start..t.end]
    }
}

/// Builds the view. `None` when the file does not parse: the tools report
/// the parser's diagnostics instead (see [`crate::parse_file`]).
pub fn parse(text: &str) -> Option<Tree<'_>> {
    let file = PolicyParser::parse(Rule::file, text).ok()?;
    let mut regions = Vec::new();
    let mut tables = Vec::new();
    let mut opens = Vec::new();
    let mut closes = Vec::new();
    let mut statements = Vec::new();
    for pair in file.flatten() {
        let span = pair.as_span();
        match pair.as_rule() {
            Rule::rhai_body | Rule::when_expr | Rule::out_expr | Rule::rhai_args
                if span.start() < span.end() =>
            {
                regions.push((span.start(), span.end(), TokenKind::Rhai));
            }
            Rule::string => regions.push((span.start(), span.end(), TokenKind::Str)),
            Rule::table => tables.push(Table::default()),
            Rule::header | Rule::row => {
                if let Some(table) = tables.last_mut() {
                    table.lines.push(table_line(pair));
                }
            }
            Rule::list
            | Rule::value_list
            | Rule::check_list
            | Rule::params
            | Rule::call_args
            | Rule::in_test
            | Rule::enum_type
            | Rule::need_checklist => {
                if let Some(open) = span.as_str().find(['[', '(']) {
                    opens.push(span.start() + open);
                    closes.push(span.end());
                }
            }
            r if STATEMENTS.contains(&r) => statements.push((span.start(), span.end())),
            _ => {}
        }
    }
    // A string inside rhai code is not a region of its own (rhai bodies are
    // atomic, so pest reports none; this keeps the regions disjoint anyway).
    regions.sort_by_key(|r| r.0);
    let mut disjoint: Vec<(usize, usize, TokenKind)> = Vec::with_capacity(regions.len());
    for r in regions {
        if disjoint.last().is_none_or(|last| r.0 >= last.1) {
            disjoint.push(r);
        }
    }
    // pest's spans may run on over the whitespace and comments after a
    // pair (a repetition's failed last attempt keeps them): each end is
    // moved back to the end of the pair's last real token.
    let tokens = lex(text, &disjoint);
    let end = |from: usize, to: usize| real_end(&tokens, from, to);
    for table in &mut tables {
        for line in &mut table.lines {
            line.end = end(line.start, line.end);
            for cell in &mut line.cells {
                cell.1 = end(cell.0, cell.1);
            }
        }
    }
    // A close bracket is the last character of its list.
    let closes: Vec<usize> = opens
        .iter()
        .zip(&closes)
        .map(|(&o, &c)| end(o, c).saturating_sub(1))
        .collect();
    let mut statements: Vec<(usize, usize)> = statements
        .into_iter()
        .map(|(s, e)| (s, end(s, e)))
        .collect();
    let mut closes = closes;
    opens.sort_unstable();
    closes.sort_unstable();
    statements.sort_unstable();
    Some(Tree {
        text,
        tokens,
        tables,
        opens,
        closes,
        statements,
    })
}

/// The end of the last token in `from..to` that is neither whitespace nor
/// a comment (a token running over `to` ends there).
fn real_end(tokens: &[Token], from: usize, to: usize) -> usize {
    let first = tokens.partition_point(|t| t.end <= from);
    tokens[first..]
        .iter()
        .take_while(|t| t.start < to)
        .filter(|t| {
            !matches!(
                t.kind,
                TokenKind::Space
                    | TokenKind::Newline
                    | TokenKind::LineComment
                    | TokenKind::BlockComment
            )
        })
        .last()
        .map_or(from, |t| t.end.min(to))
}

/// The rules that are an item or a statement of one.
#[rustfmt::skip]
const STATEMENTS: &[Rule] = &[
    Rule::policy, Rule::ladder, Rule::role, Rule::grant, Rule::schema, Rule::party,
    Rule::param, Rule::table, Rule::rules, Rule::calc, Rule::calendar, Rule::workflow,
    Rule::subsidy, Rule::points, Rule::scorecard, Rule::award, Rule::task, Rule::intake,
    Rule::scenario, Rule::policy_field, Rule::role_at, Rule::role_leads, Rule::role_party,
    Rule::grant_line, Rule::party_org, Rule::field_decl, Rule::rule, Rule::cal_timezone,
    Rule::cal_hours, Rule::cal_holidays, Rule::cal_makeup, Rule::wf_calendar, Rule::wf_data,
    Rule::wf_closed, Rule::wf_feedback, Rule::wf_channel, Rule::wf_classify, Rule::wf_start,
    Rule::wf_initial, Rule::wf_final, Rule::wf_transitions, Rule::transition, Rule::wf_ceiling,
    Rule::pair_entry, Rule::wf_limit, Rule::wf_summon, Rule::limit_entry, Rule::wf_assign,
    Rule::assign_line, Rule::wf_requests, Rule::request_line, Rule::wf_remind, Rule::task_to,
    Rule::task_limit, Rule::task_needs, Rule::task_remind, Rule::in_channel, Rule::in_key,
    Rule::in_unit, Rule::in_field, Rule::in_duplicate, Rule::in_callback, Rule::code_entry,
    Rule::cb_entry, Rule::sub_component, Rule::sub_factor, Rule::sub_floor, Rule::sub_cap,
    Rule::sub_round, Rule::sub_activities, Rule::pts_earn, Rule::pts_redeem, Rule::pts_entry,
    Rule::card_indicator, Rule::card_penalty, Rule::card_stars, Rule::card_index,
    Rule::band_entry, Rule::star_entry, Rule::aw_eligible, Rule::aw_within, Rule::aw_top,
    Rule::aw_ties, Rule::sc_start, Rule::sc_timezone, Rule::sc_org, Rule::sc_at,
    Rule::sc_report, Rule::sc_intake, Rule::sc_callback, Rule::sc_act, Rule::sc_record,
    Rule::sc_points, Rule::sc_survey, Rule::sc_expect, Rule::fb_entry,
];

/// A header or row pair as a [`TableLine`].
fn table_line(pair: Pair<'_, Rule>) -> TableLine {
    let span = pair.as_span();
    let mut cells = Vec::new();
    let mut inputs = 0;
    for cell in pair.into_inner() {
        let s = cell.as_span();
        if matches!(cell.as_rule(), Rule::input_col | Rule::in_cell) {
            inputs += 1;
        }
        cells.push((s.start(), s.end()));
    }
    TableLine {
        start: span.start(),
        end: span.end(),
        cells,
        inputs,
    }
}

/// Splits `text` into tokens, `regions` (sorted, disjoint) becoming one
/// token each.
fn lex(text: &str, regions: &[(usize, usize, TokenKind)]) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut pos = 0;
    for &(start, end, kind) in regions {
        lex_plain(text, pos, start, &mut tokens);
        tokens.push(Token { kind, start, end });
        pos = end;
    }
    lex_plain(text, pos, text.len(), &mut tokens);
    tokens
}

/// Tokens of `text[from..to]`, which holds no rhai and no string.
fn lex_plain(text: &str, from: usize, to: usize, out: &mut Vec<Token>) {
    let bytes = text.as_bytes();
    let mut i = from;
    while i < to {
        let rest = &text[i..to];
        let (kind, len) = if bytes[i] == b'\n' {
            (TokenKind::Newline, 1)
        } else if matches!(bytes[i], b' ' | b'\t' | b'\r') {
            let n = rest
                .bytes()
                .take_while(|b| matches!(b, b' ' | b'\t' | b'\r'))
                .count();
            (TokenKind::Space, n)
        } else if rest.starts_with("//") {
            (
                TokenKind::LineComment,
                rest.find('\n').unwrap_or(rest.len()),
            )
        } else if let Some(body) = rest.strip_prefix("/*") {
            let n = body.find("*/").map_or(rest.len(), |e| e + 4);
            (TokenKind::BlockComment, n)
        } else {
            let mut n = 0;
            for (j, c) in rest.char_indices() {
                if matches!(c, ' ' | '\t' | '\r' | '\n') || rest[j..].starts_with("//") {
                    break;
                }
                if rest[j..].starts_with("/*") {
                    break;
                }
                n = j + c.len_utf8();
            }
            (TokenKind::Text, n.max(1))
        };
        out.push(Token {
            kind,
            start: i,
            end: i + len,
        });
        i += len;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tokens_give_the_file_back_byte_for_byte() {
        let text =
            "// 注释\nparam 甲 = [1, 2]   /* 块 */\ncalc 乙(x) -> 数 {\n  x + 1 // rhai\n}\n\
                    table 丙(a) hit first {\n  | a  || b |\n  | 1 || \"是\" |\n}\n";
        let tree = parse(text).expect("parses");
        let joined: String = tree.tokens.iter().map(|t| tree.text_of(t)).collect();
        assert_eq!(joined, text);
        assert!(tree
            .tokens
            .iter()
            .any(|t| t.kind == TokenKind::LineComment && tree.text_of(t) == "// 注释"));
        assert!(tree
            .tokens
            .iter()
            .any(|t| t.kind == TokenKind::Rhai && tree.text_of(t).contains("// rhai")));
        assert_eq!(tree.tables.len(), 1);
        assert_eq!(tree.tables[0].lines.len(), 2);
        assert_eq!(tree.tables[0].lines[1].inputs, 1);
        assert_eq!(tree.opens.len(), 3, "the list, and two parameter lists");
    }

    #[test]
    fn a_file_that_does_not_parse_has_no_tree() {
        assert!(parse("table {").is_none());
    }
}
