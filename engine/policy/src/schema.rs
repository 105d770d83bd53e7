//! Compiled schemas: the declared shape of a report's data or an item's
//! parameter, and the check every input passes before it is used — each
//! field present unless optional, of its type, within its range, one of
//! its enum's values; no field the schema does not name (a misspelt field
//! is refused with did-you-mean, not ignored). Personal fields (姓名, 电话,
//! 身份证号, 住址 …) are marked for masking.

use std::collections::BTreeMap;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::Value;
use wangge_dsl::ast::{self, FieldType};
use wangge_dsl::suggest::help_suffix;
use wangge_dsl::value::Moment;
use wangge_dsl::Symbols;

/// A compiled `schema`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CompiledSchema {
    pub name: String,
    pub fields: Vec<SchemaField>,
}

/// One field of a schema.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SchemaField {
    pub name: String,
    pub ty: FieldTy,
    pub required: bool,
    /// Personal data: masked for callers who may not see it.
    pub personal: bool,
    /// `(lo, lo_incl, hi, hi_incl)`.
    pub range: Option<(Decimal, bool, Decimal, bool)>,
    /// The range of an 整数 field as inclusive whole-number bounds (the
    /// hot path of a report: no decimal arithmetic).
    #[serde(skip)]
    int_range: Option<(i64, i64)>,
}

/// A field's type.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum FieldTy {
    Text,
    Int,
    Number,
    Money,
    Duration,
    Date,
    DateTime,
    Time,
    Bool,
    Enum(Vec<String>),
    /// Another schema, by name.
    Nested(String),
}

/// Why a value does not fit a schema: the field (a dotted path) and what
/// is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Misfit {
    pub field: String,
    pub message: String,
}

impl CompiledSchema {
    /// Compiles a schema whose names `check` resolved.
    pub(crate) fn compile(s: &ast::Schema, symbols: &Symbols) -> CompiledSchema {
        let fields = s
            .fields
            .iter()
            .map(|f| SchemaField {
                int_range: None,
                name: f.name.name.clone(),
                ty: match &f.ty {
                    FieldType::Enum(values, _) => FieldTy::Enum(
                        values
                            .iter()
                            .filter_map(|v| match symbols.scalar(v) {
                                Some(wangge_dsl::Const::Str(s)) => Some(s),
                                _ => None,
                            })
                            .collect(),
                    ),
                    FieldType::Named(t) => FieldTy::named(&t.name),
                },
                required: !f.optional,
                personal: f.personal,
                range: f.range.as_ref().and_then(|(lo, li, hi, hi_incl, _)| {
                    let lo = symbols.scalar(lo)?.as_decimal()?;
                    let hi = symbols.scalar(hi)?.as_decimal()?;
                    Some((lo, *li, hi, *hi_incl))
                }),
            })
            .map(SchemaField::with_int_range)
            .collect();
        CompiledSchema {
            name: s.name.name.clone(),
            fields,
        }
    }

    /// The dotted paths of its personal fields (nested ones too).
    pub fn personal_fields(&self, all: &BTreeMap<String, CompiledSchema>) -> Vec<String> {
        let mut out = Vec::new();
        for f in &self.fields {
            if f.personal {
                out.push(f.name.clone());
            }
            if let FieldTy::Nested(n) = &f.ty {
                if let Some(inner) = all.get(n).filter(|inner| inner.name != self.name) {
                    out.extend(
                        inner
                            .personal_fields(all)
                            .into_iter()
                            .map(|p| format!("{}.{p}", f.name)),
                    );
                }
            }
        }
        out
    }

    /// Checks `value` against the schema (`all` for nested schemas).
    pub fn check(
        &self,
        value: &Value,
        all: &BTreeMap<String, CompiledSchema>,
    ) -> Result<(), Misfit> {
        self.check_at(value, all, "", 0)
    }

    fn check_at(
        &self,
        value: &Value,
        all: &BTreeMap<String, CompiledSchema>,
        prefix: &str,
        depth: usize,
    ) -> Result<(), Misfit> {
        let path = |name: &str| format!("{prefix}{name}");
        let Value::Object(obj) = value else {
            return Err(Misfit {
                field: prefix.trim_end_matches('.').to_string(),
                message: format!("must be an object of `{}`", self.name),
            });
        };
        // One pass over the input (a report has a handful of fields): each
        // must be a field of the schema and fit it; then the required ones
        // not seen are missing. Seen fields as bits (a vector past 128).
        let mut bits: u128 = 0;
        let mut more: Vec<bool> = Vec::new();
        if self.fields.len() > 128 {
            more = vec![false; self.fields.len()];
        }
        for (k, v) in obj {
            let Some(i) = self.fields.iter().position(|f| f.name == *k) else {
                let near = help_suffix(k, self.fields.iter().map(|f| f.name.as_str()));
                return Err(Misfit {
                    field: path(k),
                    message: format!("`{}` has no field `{k}`{near}", self.name),
                });
            };
            if v.is_null() {
                continue;
            }
            match more.get_mut(i) {
                Some(b) => *b = true,
                None => bits |= 1u128 << i,
            }
            let f = &self.fields[i];
            if let FieldTy::Nested(n) = &f.ty {
                if let Some(inner) = all.get(n).filter(|_| depth < 16) {
                    inner.check_at(v, all, &format!("{}.", path(&f.name)), depth + 1)?;
                }
            } else if let Err(message) = f.fits(v) {
                return Err(Misfit {
                    field: path(&f.name),
                    message,
                });
            }
        }
        let seen = |i: usize| {
            more.get(i)
                .copied()
                .unwrap_or_else(|| bits & (1u128 << i) != 0)
        };
        let missing = self
            .fields
            .iter()
            .enumerate()
            .find(|(i, f)| f.required && !seen(*i));
        if let Some((_, f)) = missing {
            return Err(Misfit {
                field: path(&f.name),
                message: format!("is required by `{}`", self.name),
            });
        }
        Ok(())
    }
}

impl FieldTy {
    fn named(name: &str) -> FieldTy {
        match name {
            "文本" => FieldTy::Text,
            "整数" => FieldTy::Int,
            "数" => FieldTy::Number,
            "金额" => FieldTy::Money,
            "时长" => FieldTy::Duration,
            "日期" => FieldTy::Date,
            "时间" => FieldTy::DateTime,
            "时刻" => FieldTy::Time,
            "布尔" => FieldTy::Bool,
            other => FieldTy::Nested(other.to_string()),
        }
    }

    /// How the type is named in policies and messages.
    pub fn word(&self) -> String {
        match self {
            FieldTy::Text => "文本".into(),
            FieldTy::Int => "整数".into(),
            FieldTy::Number => "数".into(),
            FieldTy::Money => "金额".into(),
            FieldTy::Duration => "时长".into(),
            FieldTy::Date => "日期".into(),
            FieldTy::DateTime => "时间".into(),
            FieldTy::Time => "时刻".into(),
            FieldTy::Bool => "布尔".into(),
            FieldTy::Enum(v) => format!("枚举[{}]", v.join(", ")),
            FieldTy::Nested(n) => n.clone(),
        }
    }
}

impl SchemaField {
    /// With `int_range` from `range`, for an 整数 field whose bounds are
    /// whole numbers.
    fn with_int_range(mut self) -> SchemaField {
        use rust_decimal::prelude::ToPrimitive;
        if let (FieldTy::Int, Some((lo, li, hi, hi_incl))) = (&self.ty, self.range) {
            let whole = |d: Decimal| (d.fract().is_zero()).then(|| d.to_i64()).flatten();
            if let (Some(lo), Some(hi)) = (whole(lo), whole(hi)) {
                let lo = if li { Some(lo) } else { lo.checked_add(1) };
                let hi = if hi_incl { Some(hi) } else { hi.checked_sub(1) };
                self.int_range = lo.zip(hi);
            }
        }
        self
    }

    /// The field's value checked against its type and range.
    fn fits(&self, v: &Value) -> Result<(), String> {
        if let (Some((lo, hi)), Value::Number(n)) = (self.int_range, v) {
            if let Some(i) = n.as_i64() {
                return if (lo..=hi).contains(&i) {
                    Ok(())
                } else {
                    Err(self.outside(Decimal::from(i)))
                };
            }
        }
        let number = match (&self.ty, v) {
            (FieldTy::Text, Value::String(_)) | (FieldTy::Bool, Value::Bool(_)) => None,
            (FieldTy::Enum(values), Value::String(s)) => {
                if values.contains(s) {
                    None
                } else {
                    let near = help_suffix(s, values.iter().map(String::as_str));
                    return Err(format!("`{s}` is not one of {}{near}", values.join("、")));
                }
            }
            (FieldTy::Int, Value::Number(n)) if n.is_i64() => n.as_i64().map(Decimal::from),
            (FieldTy::Number, Value::Number(n)) => Decimal::from_str(&n.to_string()).ok(),
            (FieldTy::Money, Value::String(s)) => Some(money(s)?),
            (FieldTy::Money, Value::Number(n)) => Some(money(&n.to_string())?),
            (FieldTy::Duration, Value::Number(n)) if n.is_i64() => n.as_i64().map(Decimal::from),
            (FieldTy::Duration, Value::String(s)) => match wangge_dsl::parser::parse_duration(s) {
                Some(secs) => Some(Decimal::from(secs)),
                None => return Err(format!("`{s}` is not a duration (`3h`, `1h30m`)")),
            },
            (FieldTy::Date, Value::String(s)) if like(Moment::Date(DAY0), s) => None,
            (FieldTy::DateTime, Value::String(s))
                if s.len() > 10
                    && like(
                        Moment::DateTime(DAY0.to_datetime(jiff::civil::Time::midnight())),
                        s,
                    ) =>
            {
                None
            }
            (FieldTy::Time, Value::String(s))
                if s.len() <= 8 && like(Moment::Time(jiff::civil::Time::midnight()), s) =>
            {
                None
            }
            (ty, other) => return Err(format!("must be {}, not `{other}`", ty.word())),
        };
        if let (Some(n), Some((lo, li, hi, hi_incl))) = (number, self.range) {
            let above = n > lo || (li && n == lo);
            let below = n < hi || (hi_incl && n == hi);
            if !(above && below) {
                return Err(self.outside(n));
            }
        }
        Ok(())
    }

    /// Why `n` is refused by the range.
    fn outside(&self, n: Decimal) -> String {
        match self.range {
            Some((lo, li, hi, hi_incl)) => {
                let (o, c) = (if li { "[" } else { "(" }, if hi_incl { "]" } else { ")" });
                format!("`{n}` is outside {o}{lo}..{hi}{c}")
            }
            None => format!("`{n}` is out of range"),
        }
    }
}

const DAY0: jiff::civil::Date = jiff::civil::date(2000, 1, 1);

fn like(kind: Moment, s: &str) -> bool {
    kind.read_like(s).is_some()
}

/// An amount in 元: a decimal with at most two places.
fn money(s: &str) -> Result<Decimal, String> {
    match Decimal::from_str(s) {
        Ok(d) if d.scale() <= 2 => Ok(d),
        Ok(_) => Err(format!(
            "`{s}` has more than two decimals (money is exact to the fen)"
        )),
        Err(_) => Err(format!("`{s}` is not an amount")),
    }
}
