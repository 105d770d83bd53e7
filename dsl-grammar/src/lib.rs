//! The wangge policy language: the pest grammar, a syntax tree whose nodes
//! carry source spans, name resolution across the files of a policy set,
//! table lints, and diagnostics. It knows nothing of rhai, storage or gRPC.

pub mod ast;
pub mod date;
pub mod diagnostic;
pub mod format;
pub mod fullwidth;
pub mod grant_check;
pub mod lint;
pub mod outline;
pub mod parser;
pub mod resolve;
pub mod schema_check;
pub mod set;
pub mod source;
pub mod span;
pub mod suggest;
pub mod syntax;
pub mod value;

pub use diagnostic::{render, Diagnostic, DiagnosticJson, Severity};
pub use parser::parse_file;
pub use resolve::Symbols;
pub use set::{parse_set, ParsedSet};
pub use span::{LineCol, SourceFile, SourceSet, Span};
pub use value::Const;

#[cfg(test)]
mod tests;
