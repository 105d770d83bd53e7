//! Intake mappings (`intake` items): an external work order — a 12345
//! hotline 工单 with its own field names and category codes — read into a
//! report of a workflow. Pure: the services store links and find
//! duplicates. Every error names the order's field it could not read.

use serde_json::{Map, Value};
use wangge_dsl::ast;
use wangge_dsl::Const;

use crate::value::const_to_json;

/// A compiled `intake` item.
#[derive(Debug, Clone)]
pub struct CompiledIntake {
    pub name: String,
    pub workflow: String,
    /// The channel its reports carry, and the report field that holds it
    /// (the workflow's `channel`).
    pub channel: Option<(String, String)>,
    pub key: String,
    pub unit: String,
    fields: Vec<FieldMap>,
    /// The report field that makes two orders the same matter, and the
    /// window (seconds) within which a second one is a duplicate.
    pub duplicate: Option<(String, i64)>,
    pub callback: Option<Callback>,
}

#[derive(Debug, Clone)]
struct FieldMap {
    target: String,
    source: String,
    codes: Option<Vec<(String, Value)>>,
    optional: bool,
}

/// The 回访 result of an order mapped onto a workflow action's outcome.
#[derive(Debug, Clone)]
pub struct Callback {
    pub action: String,
    pub source: String,
    outcomes: Vec<(String, String)>,
}

/// An order read into a report.
#[derive(Debug, Clone, PartialEq)]
pub struct Mapped {
    /// The order's own id (its `key` field).
    pub key: String,
    pub unit: String,
    pub data: Value,
}

/// What an order lacks, by the order's field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{field}`: {message}")]
pub struct Misread {
    pub field: String,
    pub message: String,
}

fn misread(field: &str, message: impl Into<String>) -> Misread {
    Misread {
        field: field.to_string(),
        message: message.into(),
    }
}

/// A JSON scalar as the text a code table is keyed by.
fn code_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

impl CompiledIntake {
    pub(crate) fn compile(i: &ast::Intake, channel_field: Option<&str>) -> Option<CompiledIntake> {
        Some(CompiledIntake {
            name: i.name.name.clone(),
            workflow: i.workflow.name.clone(),
            channel: match (&i.channel, channel_field) {
                (Some((c, _)), Some(f)) => Some((c.clone(), f.to_string())),
                _ => None,
            },
            key: i.key.as_ref()?.name.clone(),
            unit: i.unit.as_ref()?.name.clone(),
            fields: (i.fields.iter())
                .map(|f| FieldMap {
                    target: f.target.name.clone(),
                    source: f.source.name.clone(),
                    codes: f.codes.as_ref().map(|cs| {
                        cs.iter()
                            .map(|(k, lit)| (k.clone(), const_to_json(&Const::from(&lit.kind))))
                            .collect()
                    }),
                    optional: f.optional,
                })
                .collect(),
            duplicate: i.duplicate.as_ref().map(|(f, w)| (f.name.clone(), *w)),
            callback: i.callback.as_ref().map(|c| Callback {
                action: c.action.name.clone(),
                source: c.source.name.clone(),
                outcomes: (c.outcomes.iter())
                    .map(|(v, o)| (v.clone(), o.name.clone()))
                    .collect(),
            }),
        })
    }

    /// The order's text field `field`, required.
    fn text(order: &Map<String, Value>, field: &str) -> Result<String, Misread> {
        match order.get(field).and_then(code_text) {
            Some(s) if !s.trim().is_empty() => Ok(s),
            Some(_) => Err(misread(field, "is empty")),
            None if order.contains_key(field) => Err(misread(field, "is not text or a number")),
            None => Err(misread(field, "is missing")),
        }
    }

    /// Reads an order (a JSON object) into a report.
    pub fn read(&self, order: &Value) -> Result<Mapped, Misread> {
        let Some(obj) = order.as_object() else {
            return Err(misread("(order)", "an order is a JSON object"));
        };
        let key = Self::text(obj, &self.key)?;
        let unit = Self::text(obj, &self.unit)?;
        let mut data = Map::new();
        for f in &self.fields {
            let v = match obj.get(&f.source) {
                None | Some(Value::Null) if f.optional => continue,
                None | Some(Value::Null) => return Err(misread(&f.source, "is missing")),
                Some(v) => v,
            };
            let value = match &f.codes {
                None => v.clone(),
                Some(codes) => {
                    let code = code_text(v)
                        .ok_or_else(|| misread(&f.source, "a code is text or a number"))?;
                    let known: Vec<&str> = codes.iter().map(|(k, _)| k.as_str()).collect();
                    codes
                        .iter()
                        .find(|(k, _)| *k == code)
                        .map(|(_, v)| v.clone())
                        .ok_or_else(|| {
                            misread(
                                &f.source,
                                format!(
                                    "`{code}` is not a code this intake knows ({})",
                                    known.join(", ")
                                ),
                            )
                        })?
                }
            };
            data.insert(f.target.clone(), value);
        }
        if let Some((channel, field)) = &self.channel {
            data.insert(field.clone(), Value::String(channel.clone()));
        }
        Ok(Mapped {
            key,
            unit,
            data: Value::Object(data),
        })
    }

    /// The order's key, for a 回访 that names only the order.
    pub fn key_of(&self, order: &Value) -> Result<String, Misread> {
        let obj = order
            .as_object()
            .ok_or_else(|| misread("(order)", "an order is a JSON object"))?;
        Self::text(obj, &self.key)
    }

    /// The outcome a 回访 result stands for, with the action it takes.
    pub fn callback_outcome(&self, order: &Value) -> Result<(String, String), Misread> {
        let Some(cb) = &self.callback else {
            return Err(misread(
                "(order)",
                format!("intake `{}` declares no `callback`", self.name),
            ));
        };
        let obj = order
            .as_object()
            .ok_or_else(|| misread("(order)", "an order is a JSON object"))?;
        let result = Self::text(obj, &cb.source)?;
        let known: Vec<&str> = cb.outcomes.iter().map(|(v, _)| v.as_str()).collect();
        let outcome = (cb.outcomes.iter())
            .find(|(v, _)| *v == result)
            .map(|(_, o)| o.clone())
            .ok_or_else(|| {
                misread(
                    &cb.source,
                    format!(
                        "`{result}` is not a 回访 result this intake knows ({})",
                        known.join(", ")
                    ),
                )
            })?;
        Ok((cb.action.clone(), outcome))
    }
}
