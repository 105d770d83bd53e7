//! rhai code inside a policy: compiled against the names in scope (strict
//! variables), with compile and run-time errors mapped back to the policy
//! file. rhai counts lines and columns from the start of the snippet; on its
//! first line the column is offset by where the snippet starts in the file,
//! on later lines it is not.

use std::collections::BTreeMap;

use rhai::{Dynamic, EvalAltResult, ParseErrorType, Position, Scope, AST};
use wangge_dsl::ast::RhaiCode;
use wangge_dsl::suggest::help_for;
use wangge_dsl::{Diagnostic, SourceSet, Span};

use crate::error::EvalError;
use crate::host::{RhaiHost, BUDGET_TOKEN};

/// Where a snippet starts in its policy file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub file: String,
    pub file_id: u32,
    pub line: usize,
    pub column: usize,
}

impl Origin {
    pub fn of(span: Span, sources: &SourceSet) -> Origin {
        let (file, lc) = match sources.get(span.file) {
            Some(f) => (f.name.clone(), f.line_col(span.start)),
            None => (String::new(), wangge_dsl::LineCol { line: 1, column: 1 }),
        };
        Origin {
            file,
            file_id: span.file,
            line: lc.line,
            column: lc.column,
        }
    }

    /// File line and column of a rhai position inside the snippet.
    pub fn map(&self, pos: Position) -> (usize, usize) {
        let line = pos.line().unwrap_or(1).max(1);
        let col = pos.position().unwrap_or(1).max(1);
        if line == 1 {
            (self.line, self.column + col - 1)
        } else {
            (self.line + line - 1, col)
        }
    }

    pub fn location(&self, pos: Position) -> String {
        let (l, c) = self.map(pos);
        format!("{}:{l}:{c}", self.file)
    }
}

/// A compiled snippet with the policy constants it refers to.
#[derive(Debug, Clone)]
pub struct Script {
    pub ast: AST,
    pub origin: Origin,
    pub text: String,
    /// `param`s the snippet mentions, pushed as constants on each run.
    pub consts: Vec<(String, Dynamic)>,
}

/// What a snippet can see when it is compiled.
pub struct ScriptEnv<'a> {
    pub host: &'a RhaiHost,
    pub sources: &'a SourceSet,
    pub params: &'a BTreeMap<String, Dynamic>,
}

impl ScriptEnv<'_> {
    /// Compiles `code` as an expression (or a whole script) that may use
    /// `vars` and the policy's `param`s.
    pub fn compile(
        &self,
        code: &RhaiCode,
        item: &str,
        vars: &[&str],
        expression: bool,
    ) -> Result<Script, Diagnostic> {
        let mut scope = Scope::new();
        let mut consts = Vec::new();
        for (name, value) in self.params {
            if code.text.contains(name.as_str()) && !vars.contains(&name.as_str()) {
                scope.push_constant_dynamic(name.clone(), value.clone());
                consts.push((name.clone(), value.clone()));
            }
        }
        for v in vars {
            scope.push_dynamic(*v, Dynamic::UNIT);
        }
        let engine = self.host.engine();
        let result = if expression {
            engine.compile_expression_with_scope(&scope, &code.text)
        } else {
            engine.compile_with_scope(&scope, &code.text)
        };
        let origin = Origin::of(code.span, self.sources);
        match result {
            Ok(ast) => Ok(Script {
                ast,
                origin,
                text: code.text.clone(),
                consts,
            }),
            Err(e) => Err(self.parse_error(&e, code, &origin, item, vars)),
        }
    }

    fn parse_error(
        &self,
        e: &rhai::ParseError,
        code: &RhaiCode,
        origin: &Origin,
        item: &str,
        vars: &[&str],
    ) -> Diagnostic {
        let (line, col) = origin.map(e.1);
        let span = self
            .sources
            .get(code.span.file)
            .and_then(|f| {
                let start = f.offset_of(line, col)?;
                let len = f
                    .text
                    .get(start..)?
                    .chars()
                    .next()
                    .map_or(0, char::len_utf8);
                Some(Span::new(code.span.file, start, start + len))
            })
            .unwrap_or(code.span);
        let mut d = match e.0.as_ref() {
            ParseErrorType::VariableUndefined(name) => {
                let span = Span::new(span.file, span.start, span.start + name.len());
                let candidates: Vec<&str> = vars
                    .iter()
                    .copied()
                    .chain(self.params.keys().map(String::as_str))
                    .collect();
                let mut d = Diagnostic::error(
                    "wangge::unknown-name",
                    span,
                    format!("unknown variable `{name}` in `{item}`"),
                )
                .with_label("not defined");
                if let Some(h) = help_for(name, candidates.iter().copied()) {
                    d = d.with_help(h);
                }
                d
            }
            other => Diagnostic::error(
                "wangge::rhai",
                span,
                format!("in `{item}`: {}", lowercase_first(&other.to_string())),
            )
            .with_label("here"),
        };
        if matches!(e.0.as_ref(), ParseErrorType::BadInput(_)) && d.help.is_none() {
            d = d.with_help("scripts are rhai; see docs/language.md");
        }
        d
    }
}

fn lowercase_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) if f.is_ascii_uppercase() => f.to_ascii_lowercase().to_string() + c.as_str(),
        Some(f) => f.to_string() + c.as_str(),
        None => String::new(),
    }
}

impl Script {
    /// Runs the snippet with `vars` bound, under the host's limits.
    pub fn run<'n>(
        &self,
        host: &RhaiHost,
        vars: impl IntoIterator<Item = (&'n str, Dynamic)>,
        item: &str,
    ) -> Result<Dynamic, EvalError> {
        let mut scope = Scope::new();
        for (name, value) in &self.consts {
            scope.push_constant_dynamic(name.as_str(), value.clone());
        }
        for (name, value) in vars {
            scope.push_dynamic(name, value);
        }
        self.run_in(host, &mut scope, item)
    }

    /// Runs the snippet in a scope the caller prepared (its variables and
    /// the constants it refers to), so several snippets can share one.
    pub fn run_in(
        &self,
        host: &RhaiHost,
        scope: &mut Scope,
        item: &str,
    ) -> Result<Dynamic, EvalError> {
        host.run(|engine| engine.eval_ast_with_scope::<Dynamic>(scope, &self.ast))
            .map_err(|e| self.runtime_error(host, *e, item))
    }

    fn runtime_error(&self, host: &RhaiHost, mut e: EvalAltResult, item: &str) -> EvalError {
        let pos = e.take_position();
        let location = self.origin.location(pos);
        let limits = host.limits();
        let limit = match &e {
            EvalAltResult::ErrorTerminated(token, _) if token.to_string() == BUDGET_TOKEN => {
                Some(format!(
                    "it ran past its time budget of {} ms",
                    limits.time_budget.as_millis()
                ))
            }
            EvalAltResult::ErrorTooManyOperations(_) => Some(format!(
                "it ran more than {} operations",
                limits.max_operations
            )),
            EvalAltResult::ErrorStackOverflow(_) => Some(format!(
                "function calls nested deeper than {}",
                limits.max_call_levels
            )),
            EvalAltResult::ErrorDataTooLarge(what, _) => Some(format!(
                "{} grew past its limit (strings {} bytes, arrays {} items, maps {} entries)",
                what.to_lowercase(),
                limits.max_string_size,
                limits.max_array_size,
                limits.max_map_size
            )),
            _ => None,
        };
        match limit {
            Some(limit) => EvalError::Limit {
                item: item.to_string(),
                location,
                limit,
            },
            None => EvalError::Script {
                item: item.to_string(),
                location,
                message: lowercase_first(&e.to_string()),
            },
        }
    }
}
