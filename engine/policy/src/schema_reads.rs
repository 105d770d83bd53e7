//! `check` for scripts: every `参数.字段` a calc or rule reads on a
//! parameter with a schema must be a field of it (nested schemas
//! followed), with did-you-mean at the misspelt field.

use std::collections::BTreeMap;

use wangge_dsl::suggest::help_for;
use wangge_dsl::{Diagnostic, SourceSet, Span};

use crate::schema::{CompiledSchema, FieldTy};
use crate::script::Script;
use crate::script_reads::field_chains;

/// The diagnostics of `script` (of `item`, whose parameters `params` have
/// the schemas `declared`).
pub(crate) fn check(
    script: &Script,
    item: &str,
    params: &[&str],
    declared: &[Option<String>],
    schemas: &BTreeMap<String, CompiledSchema>,
    sources: &SourceSet,
) -> Vec<Diagnostic> {
    let mut diags = Vec::new();
    for (param, chain) in field_chains(&script.ast, params) {
        let Some(mut at) = declared
            .get(param)
            .and_then(Option::as_ref)
            .and_then(|s| schemas.get(s))
        else {
            continue;
        };
        for (field, pos) in &chain {
            let Some(f) = at.fields.iter().find(|f| f.name == *field) else {
                let (line, col) = script.origin.map(*pos);
                let span = sources
                    .get(script.origin.file_id)
                    .and_then(|file| file.offset_of(line, col))
                    .map(|start| Span::new(script.origin.file_id, start, start + field.len()));
                let Some(span) = span else { break };
                let mut d = Diagnostic::error(
                    "wangge::schema",
                    span,
                    format!("`{}` has no field `{field}` (read by `{item}`)", at.name),
                )
                .with_label("not a field of the schema");
                if let Some(h) = help_for(field, at.fields.iter().map(|f| f.name.as_str())) {
                    d = d.with_help(h);
                }
                diags.push(d);
                break;
            };
            match &f.ty {
                FieldTy::Nested(n) => match schemas.get(n) {
                    Some(inner) => at = inner,
                    None => break,
                },
                _ => break,
            }
        }
    }
    diags
}
