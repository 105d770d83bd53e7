//! Table lints (warnings): overlapping rows under `unique`, rows that can
//! never fire under `first`/`priority`, and inputs no row matches.
//!
//! Each input column is reduced to a finite set of representative values:
//! every constant its cells mention, the points between and beyond the
//! numeric ones, and "some other string". Unary tests are exact on those
//! points, so the lints are exact for tables without rhai cells (tables with
//! rhai cells are skipped rather than guessed at).

use rust_decimal::Decimal;

use crate::ast::*;
use crate::diagnostic::Diagnostic;
use crate::resolve::Symbols;
use crate::value::Const;

/// Largest number of input combinations examined per table.
const MAX_COMBINATIONS: usize = 50_000;

/// Most cell tests (rows × representatives, over all columns) the lint
/// runs on one table; a larger table is not linted (the analysis is
/// quadratic in its rows, and compile time must stay bounded: a table of
/// 4,000 rows took seconds).
const MAX_CELL_TESTS: usize = 1_000_000;

#[derive(Debug, Clone, PartialEq)]
enum Rep {
    Num(Decimal),
    Str(String),
    Bool(bool),
    OtherStr(Vec<String>),
    Anything,
}

impl Rep {
    fn display(&self) -> String {
        match self {
            Rep::Num(d) => d.normalize().to_string(),
            Rep::Str(s) => format!("{s:?}"),
            Rep::Bool(b) => b.to_string(),
            Rep::OtherStr(known) => {
                let shown: Vec<String> = known.iter().take(3).map(|s| format!("{s:?}")).collect();
                let more = if known.len() > 3 { ", …" } else { "" };
                format!("a value other than {}{more}", shown.join(", "))
            }
            Rep::Anything => "any value".to_string(),
        }
    }
}

/// Lints every table of a policy set.
pub fn lint_tables(files: &[File], symbols: &Symbols) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for item in files.iter().flat_map(|f| f.items.iter()) {
        if let Item::Table(t) = item {
            lint_table(t, symbols, &mut out);
        }
    }
    out
}

fn column_name(c: &InputCol) -> String {
    match c {
        InputCol::Path(p, _) => p
            .iter()
            .map(|i| i.name.as_str())
            .collect::<Vec<_>>()
            .join("."),
        InputCol::Rhai(code) => format!("{{{}}}", code.text.trim()),
    }
}

fn lint_table(t: &Table, sy: &Symbols, out: &mut Vec<Diagnostic>) {
    let n_cols = t.inputs.len();
    if t.rows
        .iter()
        .any(|r| r.cells.len() != n_cols || r.outputs.len() != t.outputs.len())
    {
        return; // shape errors are reported by name resolution
    }
    let reps: Vec<Vec<Rep>> = (0..n_cols).map(|c| representatives(t, c, sy)).collect();
    let tests = reps
        .iter()
        .map(Vec::len)
        .sum::<usize>()
        .saturating_mul(t.rows.len());
    if tests > MAX_CELL_TESTS || t.rows.len().saturating_mul(t.rows.len()) > MAX_CELL_TESTS {
        return;
    }
    // match_sets[row][col] = which representatives of `col` the row's cell accepts.
    let mut match_sets: Vec<Vec<Vec<bool>>> = Vec::with_capacity(t.rows.len());
    for row in &t.rows {
        let mut cols = Vec::with_capacity(n_cols);
        for (c, cell) in row.cells.iter().enumerate() {
            let mut set = Vec::with_capacity(reps[c].len());
            for rep in &reps[c] {
                match cell_matches(cell, rep, sy) {
                    Some(b) => set.push(b),
                    None => return, // rhai cell: not analysable
                }
            }
            cols.push(set);
        }
        match_sets.push(cols);
    }
    let names: Vec<String> = t.inputs.iter().map(column_name).collect();
    let example = |combo: &[usize]| -> String {
        combo
            .iter()
            .enumerate()
            .map(|(c, &r)| format!("{} = {}", names[c], reps[c][r].display()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let total: usize = reps
        .iter()
        .map(Vec::len)
        .try_fold(1usize, |a, b| a.checked_mul(b))
        .unwrap_or(usize::MAX);

    match t.hit {
        HitPolicy::Unique => {
            for j in 0..t.rows.len() {
                for i in 0..j {
                    if let Some(combo) = common(&match_sets[i], &match_sets[j]) {
                        out.push(
                            Diagnostic::warning(
                                "wangge::table-overlap",
                                t.rows[j].span,
                                format!(
                                    "rows {} and {} of `{}` both match some inputs under hit policy `unique`",
                                    i + 1,
                                    j + 1,
                                    t.name.name
                                ),
                            )
                            .with_label(format!("overlaps row {}", i + 1))
                            .with_related(t.rows[i].span, format!("row {}", i + 1))
                            .with_help(format!(
                                "both match when {}; narrow one of them or use `hit first`",
                                example(&combo)
                            )),
                        );
                    }
                }
            }
        }
        HitPolicy::First | HitPolicy::Priority if total <= MAX_COMBINATIONS => {
            let prio: Vec<Vec<usize>> = t.rows.iter().map(|r| priority_of(t, r, sy)).collect();
            for j in 0..t.rows.len() {
                let beaten_by = |combo: &[usize]| -> Option<usize> {
                    (0..t.rows.len()).find(|&i| {
                        i != j
                            && row_matches(&match_sets[i], combo)
                            && match t.hit {
                                HitPolicy::First => i < j,
                                _ => prio[i] < prio[j],
                            }
                    })
                };
                let mut any = false;
                let mut shadow: Option<usize> = None;
                let mut reachable = false;
                for_each_combo(&reps, |combo| {
                    if !row_matches(&match_sets[j], combo) {
                        return true;
                    }
                    any = true;
                    match beaten_by(combo) {
                        Some(i) => {
                            shadow.get_or_insert(i);
                            true
                        }
                        None => {
                            reachable = true;
                            false
                        }
                    }
                });
                if any && !reachable {
                    let why = match t.hit {
                        HitPolicy::First => "earlier rows match every input it matches",
                        _ => "rows with higher-priority outputs match every input it matches",
                    };
                    let mut d = Diagnostic::warning(
                        "wangge::table-unreachable",
                        t.rows[j].span,
                        format!("row {} of `{}` can never fire: {why}", j + 1, t.name.name),
                    )
                    .with_label("never fires");
                    if let Some(i) = shadow {
                        d = d.with_related(t.rows[i].span, format!("row {} wins here", i + 1));
                    }
                    out.push(
                        d.with_help("remove the row or move it above the rows that shadow it"),
                    );
                }
            }
        }
        _ => {}
    }

    if matches!(
        t.hit,
        HitPolicy::Unique | HitPolicy::First | HitPolicy::Priority | HitPolicy::Any
    ) && total <= MAX_COMBINATIONS
    {
        let mut gaps: Vec<String> = Vec::new();
        for_each_combo(&reps, |combo| {
            if !match_sets.iter().any(|r| row_matches(r, combo)) {
                gaps.push(example(combo));
            }
            gaps.len() < 3
        });
        if !gaps.is_empty() {
            out.push(
                Diagnostic::warning(
                    "wangge::table-gap",
                    t.name.span,
                    format!("no row of `{}` matches some inputs", t.name.name),
                )
                .with_label("incomplete table")
                .with_help(format!(
                    "for example when {}; add a last row of `-` cells to catch the rest",
                    gaps.join("; or when ")
                )),
            );
        }
    }
}

fn row_matches(cols: &[Vec<bool>], combo: &[usize]) -> bool {
    cols.iter().zip(combo).all(|(set, &r)| set[r])
}

/// A combination both rows match, if any.
fn common(a: &[Vec<bool>], b: &[Vec<bool>]) -> Option<Vec<usize>> {
    a.iter()
        .zip(b)
        .map(|(x, y)| x.iter().zip(y).position(|(p, q)| *p && *q))
        .collect()
}

/// Calls `f` on every combination of representatives until it returns false.
fn for_each_combo(reps: &[Vec<Rep>], mut f: impl FnMut(&[usize]) -> bool) {
    if reps.iter().any(Vec::is_empty) {
        return;
    }
    let mut combo = vec![0usize; reps.len()];
    loop {
        if !f(&combo) {
            return;
        }
        let mut c = reps.len();
        loop {
            if c == 0 {
                return;
            }
            c -= 1;
            combo[c] += 1;
            if combo[c] < reps[c].len() {
                break;
            }
            combo[c] = 0;
        }
    }
}

/// Rank of a row's outputs by the output value lists (lower is higher priority).
pub fn priority_of(t: &Table, row: &Row, sy: &Symbols) -> Vec<usize> {
    t.outputs
        .iter()
        .zip(&row.outputs)
        .filter_map(|(col, cell)| {
            let list = col.values.as_ref()?;
            let value = match cell {
                OutCell::Value(v) => sy.scalar(v),
                OutCell::Null(_) => None,
            };
            Some(
                list.iter()
                    .position(|s| sy.scalar(s) == value && value.is_some())
                    .unwrap_or(list.len()),
            )
        })
        .collect()
}

fn collect_consts(test: &Test, sy: &Symbols, out: &mut Vec<Const>) {
    match test {
        Test::Any(_) | Test::Rhai(_) => {}
        Test::Eq(s) | Test::Cmp(_, s, _) => out.extend(sy.scalar(s)),
        Test::Range { lo, hi, .. } => {
            out.extend(sy.scalar(lo));
            out.extend(sy.scalar(hi));
        }
        Test::In(vs, _) => out.extend(vs.iter().filter_map(|v| sy.scalar(v))),
        Test::Not(ts, _) => ts.iter().for_each(|t| collect_consts(t, sy, out)),
    }
}

fn flatten(c: Const, out: &mut Vec<Const>) {
    match c {
        Const::List(items) => items.into_iter().for_each(|i| flatten(i, out)),
        other => out.push(other),
    }
}

fn representatives(t: &Table, col: usize, sy: &Symbols) -> Vec<Rep> {
    let mut consts = Vec::new();
    for row in &t.rows {
        if let Some(cell) = row.cells.get(col) {
            for test in &cell.tests {
                collect_consts(test, sy, &mut consts);
            }
        }
    }
    let mut flat = Vec::new();
    consts.into_iter().for_each(|c| flatten(c, &mut flat));
    let mut nums: Vec<Decimal> = flat.iter().filter_map(Const::as_decimal).collect();
    let mut strs: Vec<String> = flat
        .iter()
        .filter_map(|c| match c {
            Const::Str(s) => Some(s.clone()),
            _ => None,
        })
        .collect();
    let has_bool = flat.iter().any(|c| matches!(c, Const::Bool(_)));
    nums.sort();
    nums.dedup();
    strs.sort();
    strs.dedup();
    let mut reps = Vec::new();
    if let (Some(first), Some(last)) = (nums.first(), nums.last()) {
        reps.push(Rep::Num(*first - Decimal::ONE));
        for w in nums.windows(2) {
            reps.push(Rep::Num(w[0]));
            reps.push(Rep::Num((w[0] + w[1]) / Decimal::TWO));
        }
        reps.push(Rep::Num(*last));
        reps.push(Rep::Num(*last + Decimal::ONE));
    }
    if !strs.is_empty() {
        reps.extend(strs.iter().cloned().map(Rep::Str));
        reps.push(Rep::OtherStr(strs));
    }
    if has_bool {
        reps.push(Rep::Bool(true));
        reps.push(Rep::Bool(false));
    }
    if reps.is_empty() {
        reps.push(Rep::Anything);
    }
    reps
}

fn cell_matches(cell: &Cell, rep: &Rep, sy: &Symbols) -> Option<bool> {
    let mut any = false;
    for t in &cell.tests {
        any |= test_matches(t, rep, sy)?;
    }
    Some(any)
}

fn eq(c: &Const, rep: &Rep) -> bool {
    match (c, rep) {
        (Const::Str(a), Rep::Str(b)) => a == b,
        (Const::Bool(a), Rep::Bool(b)) => a == b,
        (Const::List(items), r) => items.iter().any(|i| eq(i, r)),
        (c, Rep::Num(n)) => c.as_decimal() == Some(*n),
        _ => false,
    }
}

fn test_matches(t: &Test, rep: &Rep, sy: &Symbols) -> Option<bool> {
    Some(match t {
        Test::Any(_) => true,
        Test::Rhai(_) => return None,
        Test::Eq(s) => eq(&sy.scalar(s)?, rep),
        Test::In(vs, _) => vs.iter().filter_map(|v| sy.scalar(v)).any(|c| eq(&c, rep)),
        Test::Not(ts, _) => {
            let mut any = false;
            for t in ts {
                any |= test_matches(t, rep, sy)?;
            }
            !any
        }
        Test::Cmp(op, s, _) => {
            let c = sy.scalar(s)?;
            match op {
                CmpOp::Eq => eq(&c, rep),
                CmpOp::Ne => !eq(&c, rep),
                _ => match (c.as_decimal(), rep) {
                    (Some(b), Rep::Num(a)) => match op {
                        CmpOp::Lt => *a < b,
                        CmpOp::Le => *a <= b,
                        CmpOp::Gt => *a > b,
                        _ => *a >= b,
                    },
                    _ => false,
                },
            }
        }
        Test::Range {
            lo,
            lo_incl,
            hi,
            hi_incl,
            ..
        } => match (
            sy.scalar(lo)?.as_decimal(),
            sy.scalar(hi)?.as_decimal(),
            rep,
        ) {
            (Some(l), Some(h), Rep::Num(a)) => {
                (if *lo_incl { *a >= l } else { *a > l })
                    && (if *hi_incl { *a <= h } else { *a < h })
            }
            _ => false,
        },
    })
}
