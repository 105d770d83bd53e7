//! Schemas in `check`: a schema's own fields (known types, ranges, enum
//! values, no duplicates), and every table column that reads a parameter
//! with a schema — the path must name its fields (with did-you-mean), and
//! the cells must test values the field can hold (an enum's members, text
//! for text, numbers for numbers).

use std::collections::BTreeMap;

use crate::ast::*;
use crate::diagnostic::Diagnostic;
use crate::resolve::Symbols;
use crate::suggest::{help_for, help_suffix};
use crate::value::Const;

/// The types a schema field can have besides `枚举[…]` and another schema.
pub const FIELD_TYPES: &[&str] = &[
    "文本", "整数", "数", "金额", "时长", "日期", "时间", "时刻", "布尔",
];

/// Schemas by name.
pub(crate) type Schemas = BTreeMap<String, Schema>;

/// The schema's own problems.
pub(crate) fn check_schema(s: &Schema, schemas: &Schemas, symbols: &Symbols) -> Vec<Diagnostic> {
    let mut diags = Vec::new();
    let mut seen: BTreeMap<&str, crate::Span> = BTreeMap::new();
    for f in &s.fields {
        if let Some(first) = seen.insert(&f.name.name, f.name.span) {
            diags.push(
                Diagnostic::error(
                    "wangge::duplicate",
                    f.name.span,
                    format!("field `{}` appears twice in `{}`", f.name.name, s.name.name),
                )
                .with_label("second field")
                .with_related(first, "first here"),
            );
        }
        match &f.ty {
            FieldType::Named(t)
                if !FIELD_TYPES.contains(&t.name.as_str()) && !schemas.contains_key(&t.name) =>
            {
                let known = FIELD_TYPES
                    .iter()
                    .copied()
                    .chain(schemas.keys().map(String::as_str));
                let mut d = Diagnostic::error(
                    "wangge::schema",
                    t.span,
                    format!("unknown field type `{}`", t.name),
                )
                .with_label("not a type or a schema");
                if let Some(h) = help_for(&t.name, known) {
                    d = d.with_help(h);
                }
                diags.push(d);
            }
            FieldType::Enum(values, span) => {
                let all_text = values
                    .iter()
                    .all(|v| matches!(symbols.scalar(v), Some(Const::Str(_))));
                if !all_text {
                    diags.push(
                        Diagnostic::error("wangge::schema", *span, "an enum's values are text")
                            .with_label("write each value in quotes"),
                    );
                }
            }
            FieldType::Named(_) => {}
        }
        if let Some((lo, _, hi, _, span)) = &f.range {
            let numeric = matches!(&f.ty, FieldType::Named(t) if ["整数", "数", "金额", "时长"].contains(&t.name.as_str()));
            let bounds_ok = [lo, hi]
                .iter()
                .all(|b| symbols.scalar(b).is_some_and(|c| c.as_decimal().is_some()));
            if !numeric || !bounds_ok {
                diags.push(
                    Diagnostic::error(
                        "wangge::schema",
                        *span,
                        format!("field `{}` cannot have this range", f.name.name),
                    )
                    .with_label("a range bounds a number, an amount or a duration with numbers"),
                );
            }
        }
    }
    diags
}

/// Where a path leads in a schema: the field it ends at, or why not.
fn field_at<'a>(
    schemas: &'a Schemas,
    schema: &'a Schema,
    path: &[Ident],
) -> Result<Option<&'a FieldDecl>, Diagnostic> {
    let mut at = schema;
    let mut found = None;
    for (i, seg) in path.iter().enumerate() {
        let Some(f) = at.fields.iter().find(|f| f.name.name == seg.name) else {
            let mut d = Diagnostic::error(
                "wangge::schema",
                seg.span,
                format!("`{}` has no field `{}`", at.name.name, seg.name),
            )
            .with_label("not a field of the schema");
            if let Some(h) = help_for(&seg.name, at.fields.iter().map(|f| f.name.name.as_str())) {
                d = d.with_help(h);
            }
            return Err(d);
        };
        found = Some(f);
        if i + 1 < path.len() {
            match &f.ty {
                FieldType::Named(t) if schemas.contains_key(&t.name) => at = &schemas[&t.name],
                _ => {
                    return Err(Diagnostic::error(
                        "wangge::schema",
                        path[i + 1].span,
                        format!(
                            "`{}` is not a schema: it has no field `{}`",
                            seg.name,
                            path[i + 1].name
                        ),
                    )
                    .with_label("no fields below a value"))
                }
            }
        }
    }
    Ok(found)
}

/// Checks a table's path columns against its parameters' schemas, and the
/// cells below them against the fields' types.
pub(crate) fn check_table(t: &Table, schemas: &Schemas, symbols: &Symbols) -> Vec<Diagnostic> {
    let mut diags = Vec::new();
    for (col, input) in t.inputs.iter().enumerate() {
        let InputCol::Path(path, _) = input else {
            continue;
        };
        let Some(root) = path.first() else { continue };
        let Some(pos) = t.params.iter().position(|p| p.name == root.name) else {
            continue;
        };
        let Some(Some(schema_name)) = t.schemas.get(pos) else {
            continue;
        };
        let Some(schema) = schemas.get(&schema_name.name) else {
            continue;
        };
        match field_at(schemas, schema, &path[1..]) {
            Err(d) => diags.push(d),
            Ok(Some(field)) => {
                for row in &t.rows {
                    if let Some(cell) = row.cells.get(col) {
                        cell_fits(&cell.tests, field, symbols, &mut diags);
                    }
                }
            }
            Ok(None) => {}
        }
    }
    diags
}

/// Whether each value a cell tests is one the field can hold.
fn cell_fits(tests: &[Test], field: &FieldDecl, symbols: &Symbols, diags: &mut Vec<Diagnostic>) {
    for t in tests {
        let values: Vec<&Scalar> = match t {
            Test::Eq(s) | Test::Cmp(_, s, _) => vec![s],
            Test::In(vs, _) => vs.iter().collect(),
            Test::Range { lo, hi, .. } => vec![lo, hi],
            Test::Not(inner, _) => {
                cell_fits(inner, field, symbols, diags);
                continue;
            }
            Test::Any(_) | Test::Rhai(_) => continue,
        };
        for v in values {
            let Some(c) = symbols.scalar(v) else { continue };
            let items = match &c {
                Const::List(items) => items.clone(),
                other => vec![other.clone()],
            };
            for item in items {
                if let Some(problem) = misfit(&item, field, symbols) {
                    diags.push(
                        Diagnostic::error("wangge::schema", v.span(), problem)
                            .with_label("the field cannot hold this value"),
                    );
                }
            }
        }
    }
}

/// Why `value` cannot be a value of `field`, if it cannot.
fn misfit(value: &Const, field: &FieldDecl, symbols: &Symbols) -> Option<String> {
    let name = &field.name.name;
    match (&field.ty, value) {
        (FieldType::Enum(members, _), Const::Str(s)) => {
            let texts: Vec<String> = members
                .iter()
                .filter_map(|m| match symbols.scalar(m) {
                    Some(Const::Str(t)) => Some(t),
                    _ => None,
                })
                .collect();
            (!texts.contains(s)).then(|| {
                let hint = help_suffix(s, texts.iter().map(String::as_str));
                format!("`{s}` is not one of the values of `{name}`{hint}")
            })
        }
        (FieldType::Enum(..), other) => Some(format!(
            "`{name}` is an enum of text; `{}` is not text",
            other.display()
        )),
        (FieldType::Named(t), v) => {
            let ok = match (t.name.as_str(), v) {
                ("文本", Const::Str(_)) => true,
                ("整数" | "数" | "金额" | "时长", c) => c.as_decimal().is_some(),
                ("布尔", Const::Bool(_)) => true,
                ("日期" | "时间" | "时刻", Const::Moment(_)) => true,
                (other, _) => !FIELD_TYPES.contains(&other),
            };
            (!ok).then(|| format!("`{name}` is {}; `{}` is not", t.name, v.display()))
        }
    }
}
