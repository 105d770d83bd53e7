//! Diagnostics: errors and warnings with a source span, rendered as code
//! frames (miette) for people and as JSON for editors and CI.

use std::fmt;
use std::sync::Arc;

use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, NamedSource, SourceSpan};

use crate::span::{SourceSet, Span};

/// How serious a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// One problem found in a policy set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Diagnostic {
    pub severity: Severity,
    /// Stable machine-readable code, e.g. `wangge::syntax`.
    pub code: &'static str,
    /// Lowercase message; user input in backticks.
    pub message: String,
    pub span: Span,
    /// Text under the underline.
    pub label: Option<String>,
    pub help: Option<String>,
    /// Further places that explain the problem (e.g. the first definition).
    pub related: Vec<(Span, String)>,
}

impl Diagnostic {
    pub fn error(code: &'static str, span: Span, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            code,
            message: message.into(),
            span,
            label: None,
            help: None,
            related: Vec::new(),
        }
    }

    pub fn warning(code: &'static str, span: Span, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(code, span, message)
        }
    }

    pub fn with_label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn with_related(mut self, span: Span, text: impl Into<String>) -> Self {
        self.related.push((span, text.into()));
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// A diagnostic together with its source, ready for miette.
struct WithSource<'a> {
    diag: &'a Diagnostic,
    source: NamedSource<Arc<str>>,
    help: Option<String>,
}

impl fmt::Debug for WithSource<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.diag, f)
    }
}

impl fmt::Display for WithSource<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.diag.message)
    }
}

impl std::error::Error for WithSource<'_> {}

fn source_span(span: Span) -> SourceSpan {
    SourceSpan::new(span.start.into(), span.len())
}

impl miette::Diagnostic for WithSource<'_> {
    fn code<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        Some(Box::new(self.diag.code))
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.diag.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }

    fn help<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(&self.source)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let main = LabeledSpan::new_primary_with_span(
            self.diag.label.clone(),
            source_span(self.diag.span),
        );
        let related = self
            .diag
            .related
            .iter()
            .filter(|(s, _)| s.file == self.diag.span.file)
            .map(|(s, t)| LabeledSpan::new_with_span(Some(t.clone()), source_span(*s)));
        Some(Box::new(std::iter::once(main).chain(related)))
    }
}

/// Renders diagnostics as code frames, in order, separated by blank lines.
pub fn render(diags: &[Diagnostic], sources: &SourceSet, color: bool) -> String {
    let theme = if color {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    let handler = GraphicalReportHandler::new_themed(theme)
        .with_width(100)
        .with_links(false)
        .without_primary_span_start();
    let mut out = String::new();
    for d in diags {
        let Some(file) = sources.get(d.span.file) else {
            out.push_str(&format!("{}: {}\n", d.code, d.message));
            continue;
        };
        let lc = file.line_col(d.span.start);
        let name = format!("{}:{}:{}", file.name, lc.line, lc.column);
        // Related places in other files cannot be drawn in this frame: name them.
        let mut help = d.help.clone();
        for (s, t) in d.related.iter().filter(|(s, _)| s.file != d.span.file) {
            let note = format!("{t}: {}", sources.location(*s));
            help = Some(match help {
                Some(h) => format!("{h}\n{note}"),
                None => note,
            });
        }
        let with = WithSource {
            diag: d,
            source: NamedSource::new(name, file.text.clone()),
            help,
        };
        if handler.render_report(&mut out, &with).is_err() {
            out.push_str(&format!("{}: {}\n", d.code, d.message));
        }
        out.push('\n');
    }
    out
}

/// The JSON form of a diagnostic (`wangge check --format json`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct DiagnosticJson {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub end_line: usize,
    pub end_column: usize,
    pub severity: Severity,
    pub code: &'static str,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn to_json(&self, sources: &SourceSet) -> DiagnosticJson {
        let (file, start, end) = match sources.get(self.span.file) {
            Some(f) => (
                f.name.clone(),
                f.line_col(self.span.start),
                f.line_col(self.span.end),
            ),
            None => {
                let lc = crate::span::LineCol { line: 0, column: 0 };
                (String::new(), lc, lc)
            }
        };
        DiagnosticJson {
            file,
            line: start.line,
            column: start.column,
            end_line: end.line,
            end_column: end.column,
            severity: self.severity,
            code: self.code,
            message: self.message.clone(),
            label: self.label.clone(),
            help: self.help.clone(),
        }
    }
}
