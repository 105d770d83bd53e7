//! A parsed policy set: every file parsed, names resolved across files, and
//! tables linted, with all diagnostics in source order.

use crate::ast::File;
use crate::diagnostic::Diagnostic;
use crate::lint::lint_tables;
use crate::parser::parse_file;
use crate::resolve::{resolve, Symbols};
use crate::span::{SourceSet, Span};

/// The syntax trees of one policy set with their names and diagnostics.
#[derive(Debug, Clone)]
pub struct ParsedSet {
    pub sources: SourceSet,
    pub files: Vec<File>,
    pub symbols: Symbols,
    pub diagnostics: Vec<Diagnostic>,
}

impl ParsedSet {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }

    /// Sorts diagnostics by file and position (stable for equal places).
    pub fn sort_diagnostics(&mut self) {
        self.diagnostics
            .sort_by_key(|d| (d.span.file, d.span.start, d.severity));
    }
}

/// Parses, resolves and lints a policy set.
pub fn parse_set(sources: SourceSet) -> ParsedSet {
    let mut files = Vec::with_capacity(sources.files.len());
    let mut diagnostics = Vec::new();
    for (i, f) in sources.files.iter().enumerate() {
        let id = u32::try_from(i).unwrap_or(u32::MAX);
        if let Some(at) = f.invalid_utf8 {
            let line = f.line_col(at).line;
            diagnostics.push(Diagnostic::error(
                "wangge::encoding",
                Span::new(id, at, at + '\u{fffd}'.len_utf8()),
                format!(
                    "`{}` is not valid UTF-8: the first bad byte is on line {line}; save the \
                     file as UTF-8",
                    f.name
                ),
            ));
        }
        let (file, diags) = parse_file(&f.text, id);
        files.push(file);
        diagnostics.extend(diags);
    }
    let (symbols, diags) = resolve(&files);
    diagnostics.extend(diags);
    // Lint only what resolved cleanly: lints on broken tables would be noise.
    if !diagnostics.iter().any(Diagnostic::is_error) {
        diagnostics.extend(lint_tables(&files, &symbols));
    }
    let mut set = ParsedSet {
        sources,
        files,
        symbols,
        diagnostics,
    };
    set.sort_diagnostics();
    set
}
