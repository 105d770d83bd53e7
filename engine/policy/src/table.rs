//! Decision tables compiled to native unary tests (no rhai on the hot path
//! unless a cell escapes to it), and the DMN hit policies.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::sync::Arc;

use rust_decimal::Decimal;
use serde_json::{Map, Value};
use wangge_dsl::ast::{self, Aggregator, CmpOp, HitPolicy, InputCol, OutCell};
use wangge_dsl::value::Moment;
use wangge_dsl::{Const, Diagnostic, Symbols};

use crate::error::EvalError;
use crate::explain::{Decision, Explanation, InputSeen, RowMatch};
use crate::host::RhaiHost;
use crate::reads::{FieldKind, ReadField};
use crate::script::{Script, ScriptEnv};
use crate::table_index::{Key, TableIndex, MIN_ROWS};
use crate::value::{const_to_json, decimal_number, json_num, json_to_dynamic, money_string, Num};

/// A literal a cell compares with.
#[derive(Debug, Clone, PartialEq)]
enum Lit {
    Str(String),
    Num(Num),
    Bool(bool),
    /// A date, date and time, or time of day: matches input text of its kind.
    Moment(Moment),
}

#[derive(Debug, Clone)]
enum CTest {
    Any,
    Eq(Lit),
    Ne(Lit),
    Cmp(CmpOp, Num),
    Range {
        lo: Num,
        lo_incl: bool,
        hi: Num,
        hi_incl: bool,
    },
    /// A comparison with a date, date and time, or time of day.
    CmpAt(CmpOp, Moment),
    RangeAt {
        lo: Moment,
        lo_incl: bool,
        hi: Moment,
        hi_incl: bool,
    },
    In(Vec<Lit>),
    Not(Vec<CTest>),
    Rhai(Box<Script>),
}

#[derive(Debug, Clone)]
enum Input {
    /// Parameter index and field path.
    Path(usize, Vec<String>, Arc<str>),
    Rhai(Box<Script>),
}

#[derive(Debug, Clone)]
struct CRow {
    cells: Vec<Vec<CTest>>,
    outputs: Arc<Value>,
    /// One value per output column, for aggregation.
    values: Vec<Value>,
    priority: Vec<usize>,
    at: Arc<str>,
}

/// A compiled decision table.
#[derive(Debug, Clone)]
pub struct CompiledTable {
    pub name: Arc<str>,
    pub params: Vec<String>,
    pub hit: HitPolicy,
    inputs: Vec<Input>,
    rows: Vec<CRow>,
    money_output: bool,
    /// The fields the path columns read, with the type their cells test.
    reads: Vec<ReadField>,
    /// Which rows can match a value, per column (large tables only).
    index: Option<TableIndex>,
}

/// What a cell test is for the row index.
fn keys_of(t: &CTest) -> Vec<Key> {
    let of_lit = |l: &Lit| match l {
        Lit::Str(s) => Key::Text(s.clone()),
        Lit::Num(n) => Key::Eq(*n),
        Lit::Bool(_) | Lit::Moment(_) => Key::Other,
    };
    match t {
        CTest::Eq(l) => vec![of_lit(l)],
        CTest::In(ls) => ls.iter().map(of_lit).collect(),
        CTest::Cmp(op, b) => vec![match op {
            CmpOp::Lt => Key::Cmp(Ordering::Less, false, *b),
            CmpOp::Le => Key::Cmp(Ordering::Less, true, *b),
            CmpOp::Gt => Key::Cmp(Ordering::Greater, false, *b),
            _ => Key::Cmp(Ordering::Greater, true, *b),
        }],
        CTest::Range {
            lo,
            lo_incl,
            hi,
            hi_incl,
        } => vec![Key::Range(*lo, *lo_incl, *hi, *hi_incl)],
        CTest::Any
        | CTest::Ne(_)
        | CTest::Not(_)
        | CTest::Rhai(_)
        | CTest::CmpAt(..)
        | CTest::RangeAt { .. } => vec![Key::Other],
    }
}

fn has_script(t: &CTest) -> bool {
    match t {
        CTest::Rhai(_) => true,
        CTest::Not(ts) => ts.iter().any(has_script),
        _ => false,
    }
}

/// The row index of a table, when it is worth one (see `table_index`).
fn index_of(inputs: &[Input], rows: &[CRow]) -> Option<TableIndex> {
    let scripted = rows
        .iter()
        .any(|r| r.cells.iter().flatten().any(has_script));
    if rows.len() < MIN_ROWS || scripted {
        return None;
    }
    let cells: Vec<Vec<Vec<Key>>> = rows
        .iter()
        .map(|r| {
            r.cells
                .iter()
                .map(|cell| cell.iter().flat_map(keys_of).collect())
                .collect()
        })
        .collect();
    let indexed: Vec<bool> = inputs
        .iter()
        .map(|i| matches!(i, Input::Path(..)))
        .collect();
    Some(TableIndex::build(&cells, &indexed))
}

/// The type a cell test compares its input as, if it says.
fn kind_of(t: &CTest) -> Option<FieldKind> {
    let of_lit = |l: &Lit| match l {
        Lit::Str(_) => FieldKind::Text,
        Lit::Num(_) => FieldKind::Number,
        Lit::Bool(_) => FieldKind::Bool,
        Lit::Moment(m) => FieldKind::Moment(*m),
    };
    match t {
        CTest::Any | CTest::Rhai(_) => None,
        CTest::Eq(l) | CTest::Ne(l) => Some(of_lit(l)),
        CTest::Cmp(..) | CTest::Range { .. } => Some(FieldKind::Number),
        CTest::CmpAt(_, m) | CTest::RangeAt { lo: m, .. } => Some(FieldKind::Moment(*m)),
        CTest::In(ls) => ls
            .iter()
            .map(of_lit)
            .fold(None, |k, l| Some(FieldKind::join(k, l))),
        CTest::Not(ts) => ts
            .iter()
            .filter_map(kind_of)
            .fold(None, |k, l| Some(FieldKind::join(k, l))),
    }
}

/// The fields the path columns of a table read.
fn reads_of(inputs: &[Input], rows: &[CRow]) -> Vec<ReadField> {
    inputs
        .iter()
        .enumerate()
        .filter_map(|(col, input)| match input {
            Input::Path(param, path, shown) => {
                let kind = rows
                    .iter()
                    .filter_map(|r| r.cells.get(col))
                    .flatten()
                    .filter_map(kind_of)
                    .fold(None, |k, l| Some(FieldKind::join(k, l)))
                    .unwrap_or(FieldKind::Any);
                Some(ReadField {
                    param: *param,
                    path: path.clone(),
                    shown: shown.to_string(),
                    kind,
                })
            }
            Input::Rhai(_) => None,
        })
        .collect()
}

fn lit(c: &Const) -> Vec<Lit> {
    match c {
        Const::Str(s) => vec![Lit::Str(s.clone())],
        Const::Bool(b) => vec![Lit::Bool(*b)],
        Const::Moment(m) => vec![Lit::Moment(*m)],
        Const::List(items) => items.iter().flat_map(lit).collect(),
        other => other
            .as_decimal()
            .map(|d| match other {
                Const::Int(i) | Const::Duration(i) => Lit::Num(Num::Int(*i)),
                _ => Lit::Num(Num::Dec(d)),
            })
            .into_iter()
            .collect(),
    }
}

fn num(c: &Const) -> Option<Num> {
    match c {
        Const::Int(i) | Const::Duration(i) => Some(Num::Int(*i)),
        other => other.as_decimal().map(Num::Dec),
    }
}

pub(crate) struct TableCompiler<'a> {
    pub env: &'a ScriptEnv<'a>,
    pub symbols: &'a Symbols,
}

impl TableCompiler<'_> {
    pub fn compile(&self, t: &ast::Table) -> Result<CompiledTable, Vec<Diagnostic>> {
        let mut diags = Vec::new();
        let name = &t.name.name;
        let params: Vec<&str> = t.params.iter().map(|p| p.name.as_str()).collect();
        let mut inputs = Vec::new();
        for col in &t.inputs {
            match col {
                InputCol::Path(path, _) => {
                    let Some(root) = path.first() else { continue };
                    let idx = params.iter().position(|p| *p == root.name).unwrap_or(0);
                    let shown = path
                        .iter()
                        .map(|i| i.name.as_str())
                        .collect::<Vec<_>>()
                        .join(".");
                    inputs.push(Input::Path(
                        idx,
                        path.iter().skip(1).map(|i| i.name.clone()).collect(),
                        Arc::from(shown),
                    ));
                }
                InputCol::Rhai(code) => match self.env.compile(code, name, &params, true) {
                    Ok(s) => inputs.push(Input::Rhai(Box::new(s))),
                    Err(d) => diags.push(d),
                },
            }
        }
        let mut vars = params.clone();
        vars.push("it");
        let mut rows = Vec::new();
        for row in &t.rows {
            let mut cells = Vec::new();
            for cell in &row.cells {
                let mut tests = Vec::new();
                for test in &cell.tests {
                    match self.test(test, name, &vars) {
                        Ok(t) => tests.push(t),
                        Err(d) => diags.push(d),
                    }
                }
                cells.push(tests);
            }
            let mut outputs = Map::new();
            let mut values = Vec::new();
            for (col, cell) in t.outputs.iter().zip(&row.outputs) {
                let v = match cell {
                    OutCell::Null(_) => Value::Null,
                    OutCell::Value(s) => self
                        .symbols
                        .scalar(s)
                        .map(|c| const_to_json(&c))
                        .unwrap_or(Value::Null),
                };
                outputs.insert(col.name.name.clone(), v.clone());
                values.push(v);
            }
            rows.push(CRow {
                cells,
                outputs: Arc::new(Value::Object(outputs)),
                values,
                priority: wangge_dsl::lint::priority_of(t, row, self.symbols),
                at: {
                    let o = crate::script::Origin::of(row.span, self.env.sources);
                    Arc::from(format!("{}:{}", o.file, o.line))
                },
            });
        }
        let money_output = t.rows.iter().flat_map(|r| &r.outputs).any(|o| {
            matches!(o, OutCell::Value(s) if matches!(self.symbols.scalar(s), Some(Const::Money(_))))
        });
        if !diags.is_empty() {
            return Err(diags);
        }
        Ok(CompiledTable {
            name: Arc::from(name.as_str()),
            params: params.iter().map(|p| p.to_string()).collect(),
            hit: t.hit,
            reads: reads_of(&inputs, &rows),
            index: index_of(&inputs, &rows),
            inputs,
            rows,
            money_output,
        })
    }

    fn scalar(&self, s: &ast::Scalar) -> Const {
        self.symbols.scalar(s).unwrap_or(Const::Bool(false))
    }

    fn test(&self, t: &ast::Test, item: &str, vars: &[&str]) -> Result<CTest, Diagnostic> {
        Ok(match t {
            ast::Test::Any(_) => CTest::Any,
            ast::Test::Eq(s) => {
                let c = self.scalar(s);
                match c {
                    Const::List(_) => CTest::In(lit(&c)),
                    _ => lit(&c).into_iter().next().map_or(CTest::Any, CTest::Eq),
                }
            }
            ast::Test::Cmp(op, s, span) => {
                let c = self.scalar(s);
                match op {
                    CmpOp::Eq => lit(&c).into_iter().next().map_or(CTest::Any, CTest::Eq),
                    CmpOp::Ne => lit(&c).into_iter().next().map_or(CTest::Any, CTest::Ne),
                    _ => match c {
                        Const::Moment(m) => CTest::CmpAt(*op, m),
                        _ => CTest::Cmp(*op, num(&c).ok_or_else(|| not_numeric(*span, &c))?),
                    },
                }
            }
            ast::Test::Range {
                lo,
                lo_incl,
                hi,
                hi_incl,
                span,
            } => {
                let (l, h) = (self.scalar(lo), self.scalar(hi));
                if let Some(t) = moment_range(&l, &h, *lo_incl, *hi_incl, *span)? {
                    return Ok(t);
                }
                CTest::Range {
                    lo: num(&l).ok_or_else(|| not_numeric(*span, &l))?,
                    lo_incl: *lo_incl,
                    hi: num(&h).ok_or_else(|| not_numeric(*span, &h))?,
                    hi_incl: *hi_incl,
                }
            }
            ast::Test::In(vs, _) => {
                CTest::In(vs.iter().flat_map(|v| lit(&self.scalar(v))).collect())
            }
            ast::Test::Not(ts, _) => {
                let mut inner = Vec::new();
                for t in ts {
                    inner.push(self.test(t, item, vars)?);
                }
                CTest::Not(inner)
            }
            ast::Test::Rhai(code) => {
                CTest::Rhai(Box::new(self.env.compile(code, item, vars, true)?))
            }
        })
    }
}

/// A range between two dates (or dates and times, or times of day); `None`
/// when neither bound is one; an error when only one is, or they differ.
fn moment_range(
    lo: &Const,
    hi: &Const,
    lo_incl: bool,
    hi_incl: bool,
    span: wangge_dsl::Span,
) -> Result<Option<CTest>, Diagnostic> {
    match (lo, hi) {
        (Const::Moment(a), Const::Moment(b)) if a.compare(b).is_some() => {
            Ok(Some(CTest::RangeAt {
                lo: *a,
                lo_incl,
                hi: *b,
                hi_incl,
            }))
        }
        (Const::Moment(m), other) | (other, Const::Moment(m)) => Err(Diagnostic::error(
            "wangge::cell",
            span,
            format!(
                "a range from {} cannot end at `{}`",
                m.kind(),
                other.display()
            ),
        )
        .with_label("both bounds must be dates, dates and times, or times of day")),
        _ => Ok(None),
    }
}

fn not_numeric(span: wangge_dsl::Span, c: &Const) -> Diagnostic {
    Diagnostic::error(
        "wangge::cell",
        span,
        format!(
            "`{}` is not a number, so it cannot bound a comparison",
            c.display()
        ),
    )
    .with_label("needs a number, money, a duration, a date or a time")
}

fn lit_eq(l: &Lit, v: &Value) -> bool {
    match (l, v) {
        (Lit::Str(a), Value::String(b)) => a == b,
        (Lit::Bool(a), Value::Bool(b)) => a == b,
        (Lit::Num(a), v) => json_num(v).is_some_and(|b| b.compare(*a) == Ordering::Equal),
        (Lit::Moment(m), v) => moment_order(m, v) == Some(Ordering::Equal),
        _ => false,
    }
}

/// How input `v` (text of the bound's kind) orders against `bound`; `None`
/// when it is not such text.
fn moment_order(bound: &Moment, v: &Value) -> Option<Ordering> {
    let Value::String(s) = v else { return None };
    bound.read_like(s)?.compare(bound)
}

/// Whether `o` (the input against the bound) satisfies `op`.
fn holds(op: CmpOp, o: Ordering) -> bool {
    match op {
        CmpOp::Lt => o == Ordering::Less,
        CmpOp::Le => o != Ordering::Greater,
        CmpOp::Gt => o == Ordering::Greater,
        _ => o != Ordering::Less,
    }
}

struct Ctx<'a> {
    host: &'a RhaiHost,
    table: &'a str,
    /// The table's parameters and their values (script cells see them).
    params: &'a [String],
    args: &'a [&'a Value],
}

impl CTest {
    fn matches(&self, v: &Value, ctx: &Ctx) -> Result<bool, EvalError> {
        Ok(match self {
            CTest::Any => true,
            CTest::Eq(l) => lit_eq(l, v),
            CTest::Ne(l) => !lit_eq(l, v),
            CTest::Cmp(op, b) => json_num(v).is_some_and(|a| holds(*op, a.compare(*b))),
            CTest::CmpAt(op, b) => moment_order(b, v).is_some_and(|o| holds(*op, o)),
            CTest::RangeAt {
                lo,
                lo_incl,
                hi,
                hi_incl,
            } => match (moment_order(lo, v), moment_order(hi, v)) {
                (Some(l), Some(h)) => {
                    (l == Ordering::Greater || (*lo_incl && l == Ordering::Equal))
                        && (h == Ordering::Less || (*hi_incl && h == Ordering::Equal))
                }
                _ => false,
            },
            CTest::Range {
                lo,
                lo_incl,
                hi,
                hi_incl,
            } => match json_num(v) {
                Some(a) => {
                    let l = a.compare(*lo);
                    let h = a.compare(*hi);
                    (l == Ordering::Greater || (*lo_incl && l == Ordering::Equal))
                        && (h == Ordering::Less || (*hi_incl && h == Ordering::Equal))
                }
                None => false,
            },
            CTest::In(ls) => ls.iter().any(|l| lit_eq(l, v)),
            CTest::Not(ts) => {
                for t in ts {
                    if t.matches(v, ctx)? {
                        return Ok(false);
                    }
                }
                true
            }
            CTest::Rhai(script) => {
                let vars = ctx
                    .params
                    .iter()
                    .map(String::as_str)
                    .zip(ctx.args.iter().map(|v| json_to_dynamic(v)))
                    .chain([("it", json_to_dynamic(v))]);
                let out = script.run(ctx.host, vars, ctx.table)?;
                out.as_bool().map_err(|t| EvalError::ResultType {
                    item: ctx.table.to_string(),
                    expected: format!(
                        "a boolean from the cell at {}",
                        script.origin.location(rhai::Position::new(1, 1))
                    ),
                    found: format!("a `{t}`"),
                })?
            }
        })
    }
}

fn lookup<'v>(root: &'v Value, path: &[String]) -> &'v Value {
    let mut v = root;
    for field in path {
        v = match v.get(field) {
            Some(next) => next,
            None => &Value::Null,
        };
    }
    v
}

impl CompiledTable {
    /// The fields its path columns read, with the type their cells test.
    pub fn reads(&self) -> &[ReadField] {
        &self.reads
    }

    /// Evaluates the table on `args` (one value per parameter, in order).
    pub fn evaluate(
        &self,
        host: &RhaiHost,
        args: &[&Value],
        version: &Arc<str>,
    ) -> Result<Decision, EvalError> {
        let ctx = Ctx {
            host,
            table: &self.name,
            params: &self.params,
            args,
        };
        let mut seen: Vec<Cow<Value>> = Vec::with_capacity(self.inputs.len());
        for input in &self.inputs {
            seen.push(match input {
                Input::Path(idx, path, _) => Cow::Borrowed(lookup(
                    args.get(*idx).copied().unwrap_or(&Value::Null),
                    path,
                )),
                Input::Rhai(script) => {
                    let vars = self
                        .params
                        .iter()
                        .map(String::as_str)
                        .zip(args.iter().map(|v| json_to_dynamic(v)));
                    Cow::Owned(crate::value::dynamic_to_json(
                        &script.run(host, vars, &self.name)?,
                    ))
                }
            });
        }
        let matched = self.matching_rows(&seen, &ctx)?;
        let (result, selected) = self.select(&matched)?;
        Ok(Decision {
            kind: "table",
            item: self.name.clone(),
            policy_version: version.clone(),
            result,
            explanation: Explanation::Table {
                hit_policy: self.hit.as_str(),
                inputs: self
                    .inputs
                    .iter()
                    .zip(&seen)
                    .map(|(input, v)| InputSeen {
                        name: match input {
                            Input::Path(_, _, shown) => shown.clone(),
                            Input::Rhai(s) => Arc::from(format!("{{{}}}", s.text.trim())),
                        },
                        value: v.as_ref().clone(),
                    })
                    .collect(),
                matched: matched
                    .iter()
                    .map(|&i| RowMatch {
                        row: i + 1,
                        at: self.rows[i].at.clone(),
                        outputs: self.rows[i].outputs.clone(),
                    })
                    .collect(),
                selected: selected.iter().map(|i| i + 1).collect(),
            },
            calls: Vec::new(),
        })
    }

    /// The rows whose every cell matches, in row order (only the first
    /// under `first`): the index's candidates when there is an index,
    /// every row otherwise; each candidate is tested exactly.
    fn matching_rows(&self, seen: &[Cow<Value>], ctx: &Ctx) -> Result<Vec<usize>, EvalError> {
        match &self.index {
            Some(index) => self.test_rows(index.candidates(seen).iter(), seen, ctx),
            None => self.test_rows(0..self.rows.len(), seen, ctx),
        }
    }

    /// Tests `rows` in order against the input values.
    fn test_rows(
        &self,
        rows: impl Iterator<Item = usize>,
        seen: &[Cow<Value>],
        ctx: &Ctx,
    ) -> Result<Vec<usize>, EvalError> {
        let first_only = matches!(self.hit, HitPolicy::First);
        let mut matched: Vec<usize> = Vec::new();
        'rows: for i in rows {
            let Some(row) = self.rows.get(i) else {
                continue;
            };
            for (cell, value) in row.cells.iter().zip(seen) {
                let mut ok = false;
                for t in cell {
                    if t.matches(value, ctx)? {
                        ok = true;
                        break;
                    }
                }
                if !ok {
                    continue 'rows;
                }
            }
            matched.push(i);
            if first_only {
                break;
            }
        }
        Ok(matched)
    }

    /// Whether evaluation uses a row index (see `table_index`).
    pub fn has_index(&self) -> bool {
        self.index.is_some()
    }

    /// The same table evaluated by testing every row (no index): what the
    /// index must agree with, and the baseline its benchmarks compare to.
    pub fn without_index(&self) -> CompiledTable {
        CompiledTable {
            index: None,
            ..self.clone()
        }
    }

    fn rows_text(&self, rows: &[usize]) -> String {
        rows.iter()
            .map(|&i| format!("{} ({})", i + 1, self.rows[i].at))
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn select(&self, matched: &[usize]) -> Result<(Arc<Value>, Vec<usize>), EvalError> {
        let outputs = |idx: &[usize]| {
            Value::Array(
                idx.iter()
                    .map(|&i| Value::clone(&self.rows[i].outputs))
                    .collect(),
            )
        };
        Ok(match self.hit {
            HitPolicy::First => match matched.first() {
                Some(&i) => (Arc::clone(&self.rows[i].outputs), vec![i]),
                None => (Arc::new(Value::Null), vec![]),
            },
            HitPolicy::Unique => match matched {
                [] => (Arc::new(Value::Null), vec![]),
                [i] => (Arc::clone(&self.rows[*i].outputs), vec![*i]),
                _ => {
                    return Err(EvalError::HitPolicy {
                        table: self.name.to_string(),
                        policy: "unique",
                        rows: self.rows_text(matched),
                        detail: "under `unique` at most one row may match; make the rows disjoint or choose another hit policy".into(),
                    })
                }
            },
            HitPolicy::Any => match matched.first() {
                None => (Arc::new(Value::Null), vec![]),
                Some(&first) => {
                    if matched.iter().any(|&i| self.rows[i].outputs != self.rows[first].outputs) {
                        return Err(EvalError::HitPolicy {
                            table: self.name.to_string(),
                            policy: "any",
                            rows: self.rows_text(matched),
                            detail: "under `any` rows that match together must give the same outputs".into(),
                        });
                    }
                    (Arc::clone(&self.rows[first].outputs), matched.to_vec())
                }
            },
            HitPolicy::Priority => match matched.iter().min_by(|&&a, &&b| {
                self.rows[a].priority.cmp(&self.rows[b].priority).then(a.cmp(&b))
            }) {
                Some(&i) => (Arc::clone(&self.rows[i].outputs), vec![i]),
                None => (Arc::new(Value::Null), vec![]),
            },
            HitPolicy::RuleOrder | HitPolicy::Collect(None) => (Arc::new(outputs(matched)), matched.to_vec()),
            HitPolicy::OutputOrder => {
                let mut sorted = matched.to_vec();
                sorted.sort_by(|&a, &b| self.rows[a].priority.cmp(&self.rows[b].priority));
                (Arc::new(outputs(&sorted)), sorted)
            }
            HitPolicy::Collect(Some(agg)) => (Arc::new(self.aggregate(agg, matched)?), matched.to_vec()),
        })
    }

    fn aggregate(&self, agg: Aggregator, matched: &[usize]) -> Result<Value, EvalError> {
        let values: Vec<&Value> = matched
            .iter()
            .filter_map(|&i| self.rows[i].values.first())
            .filter(|v| !v.is_null())
            .collect();
        if agg == Aggregator::Count {
            let mut distinct: Vec<&Value> = Vec::new();
            for v in values {
                if !distinct.contains(&v) {
                    distinct.push(v);
                }
            }
            return Ok(Value::from(distinct.len()));
        }
        let mut nums = Vec::with_capacity(values.len());
        for v in values {
            match json_num(v) {
                Some(n) => nums.push(n.to_decimal()),
                None => {
                    return Err(EvalError::ResultType {
                        item: self.name.to_string(),
                        expected: "numbers to aggregate".into(),
                        found: format!("`{v}`"),
                    })
                }
            }
        }
        let out: Option<Decimal> = match agg {
            Aggregator::Sum => Some(nums.iter().sum()),
            Aggregator::Min => nums.iter().min().copied(),
            _ => nums.iter().max().copied(),
        };
        Ok(match out {
            None => Value::Null,
            Some(d) if self.money_output => money_string(d),
            Some(d) => decimal_number(d),
        })
    }
}
