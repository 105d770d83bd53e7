//! What a decision table reads from its inputs: each column's field path
//! and the type its cells compare it as. A report is checked against the
//! fields its classifying table reads before it is classified, so a
//! misspelt or missing field is refused instead of silently falling
//! through to a default row.

use serde_json::Value;
use wangge_dsl::value::Moment;

/// A field a table column reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadField {
    /// Which parameter of the table (0 for the first).
    pub param: usize,
    /// The path below the parameter (`["类别"]` for `事件.类别`).
    pub path: Vec<String>,
    /// The column as written (`事件.类别`).
    pub shown: String,
    pub kind: FieldKind,
}

/// The type a column's cells compare a field as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    Text,
    Number,
    Bool,
    /// Text holding a date, a date and time, or a time of day (the kind of
    /// the value shown).
    Moment(wangge_dsl::value::Moment),
    /// Cells of several types, or only `-` and scripts: any value.
    Any,
}

impl FieldKind {
    /// Joins what two cells say.
    pub(crate) fn join(a: Option<FieldKind>, b: FieldKind) -> FieldKind {
        match a {
            None => b,
            Some(a) if a == b => a,
            Some(FieldKind::Moment(a)) => match (a, b) {
                (_, FieldKind::Moment(m)) if m.compare(&a).is_some() => FieldKind::Moment(a),
                // Dates and dates-with-times both read a date.
                (Moment::Date(_), FieldKind::Moment(Moment::DateTime(_))) => FieldKind::Moment(a),
                (Moment::DateTime(_), FieldKind::Moment(m @ Moment::Date(_))) => {
                    FieldKind::Moment(m)
                }
                _ => FieldKind::Any,
            },
            Some(_) => FieldKind::Any,
        }
    }

    fn admits(self, v: &Value) -> bool {
        match self {
            FieldKind::Text => v.is_string(),
            FieldKind::Number => v.is_number(),
            FieldKind::Bool => v.is_boolean(),
            FieldKind::Moment(m) => v.as_str().is_some_and(|s| m.read_like(s).is_some()),
            FieldKind::Any => true,
        }
    }

    fn name(self) -> &'static str {
        match self {
            FieldKind::Text => "text",
            FieldKind::Number => "a number",
            FieldKind::Bool => "true or false",
            FieldKind::Moment(m) => m.kind(),
            FieldKind::Any => "a value",
        }
    }
}

/// Checks `data` (the first argument of `item`) against the fields `item`
/// reads: each must be present (not null) and of its type. A missing field
/// with a near miss among the given ones is named with did-you-mean.
/// Fields the table does not read are left alone (descriptions,
/// addresses). Errors name the field as a JSON path (`类别`).
pub fn check_fields(item: &str, fields: &[ReadField], data: &Value) -> Result<(), String> {
    let Value::Object(top) = data else {
        return Err("must be a JSON object".into());
    };
    for f in fields.iter().filter(|f| f.param == 0 && !f.path.is_empty()) {
        let mut at = top;
        let mut value = None;
        for (i, key) in f.path.iter().enumerate() {
            match at.get(key) {
                Some(Value::Object(inner)) if i + 1 < f.path.len() => at = inner,
                Some(v) if i + 1 == f.path.len() => value = Some(v),
                _ => break,
            }
        }
        let path = f.path.join(".");
        match value {
            None | Some(Value::Null) => {
                let last = f.path.last().map_or("", String::as_str);
                let near = at
                    .keys()
                    .filter(|k| k.as_str() != last)
                    .find(|k| is_near_miss(k, last));
                return Err(match near {
                    Some(k) => {
                        format!("`{k}` is not a field `{item}` reads; did you mean `{path}`?")
                    }
                    None => format!("`{path}` is required: `{item}` reads `{}`", f.shown),
                });
            }
            Some(v) if !f.kind.admits(v) => {
                return Err(format!(
                    "`{path}` must be {} (`{item}` compares `{}` with {}), not `{v}`",
                    f.kind.name(),
                    f.shown,
                    f.kind.name()
                ));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// Whether `given` looks like a misspelling of `wanted`: one edit apart,
/// or (longer names) within a third of their length.
fn is_near_miss(given: &str, wanted: &str) -> bool {
    let d = strsim::levenshtein(given, wanted);
    let n = wanted.chars().count().max(given.chars().count());
    d == 1 || (n >= 6 && d * 3 <= n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields() -> Vec<ReadField> {
        let f = |name: &str, kind| ReadField {
            param: 0,
            path: vec![name.to_string()],
            shown: format!("事件.{name}"),
            kind,
        };
        vec![
            f("类别", FieldKind::Text),
            f("人数", FieldKind::Number),
            f("风险", FieldKind::Number),
        ]
    }

    #[test]
    fn a_near_miss_is_named_with_did_you_mean() {
        let e = check_fields(
            "事件分级",
            &fields(),
            &json!({"类型": "燃气安全", "人数": 2, "风险": 3}),
        )
        .unwrap_err();
        assert_eq!(
            e,
            "`类型` is not a field `事件分级` reads; did you mean `类别`?"
        );
    }

    #[test]
    fn missing_and_mistyped_fields_are_refused_and_extra_ones_kept() {
        let e = check_fields("事件分级", &fields(), &json!({})).unwrap_err();
        assert_eq!(e, "`类别` is required: `事件分级` reads `事件.类别`");
        let e = check_fields(
            "事件分级",
            &fields(),
            &json!({"类别": "垃圾堆放", "人数": "很多", "风险": 1}),
        )
        .unwrap_err();
        assert!(e.starts_with("`人数` must be a number"), "{e}");
        assert!(check_fields(
            "事件分级",
            &fields(),
            &json!({"类别": "垃圾堆放", "人数": 1, "风险": 1, "地址": "幸福路 1 号"}),
        )
        .is_ok());
    }
}
