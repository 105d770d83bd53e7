//! Values at the engine's edge: inputs and results are JSON; constants come
//! from the policy; scripts see rhai `Dynamic`s. Money is exact: it travels
//! as a decimal string (`"1200.00"`) and is a `Decimal` inside scripts.

use std::str::FromStr;

use rhai::{Dynamic, Map};
use rust_decimal::prelude::{FromPrimitive, ToPrimitive};
use rust_decimal::Decimal;
use serde_json::{Number, Value};
use wangge_dsl::Const;

/// A number compared exactly.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Num {
    Int(i64),
    Dec(Decimal),
}

impl Num {
    pub fn to_decimal(self) -> Decimal {
        match self {
            Num::Int(i) => Decimal::from(i),
            Num::Dec(d) => d,
        }
    }

    pub fn compare(self, other: Num) -> std::cmp::Ordering {
        match (self, other) {
            (Num::Int(a), Num::Int(b)) => a.cmp(&b),
            (a, b) => a.to_decimal().cmp(&b.to_decimal()),
        }
    }
}

/// The number in a JSON value: a JSON number, or a string holding a decimal
/// number (as money is written).
pub fn json_num(v: &Value) -> Option<Num> {
    match v {
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Some(Num::Int(i))
            } else {
                n.as_f64().and_then(Decimal::from_f64).map(Num::Dec)
            }
        }
        Value::String(s) => Decimal::from_str(s).ok().map(Num::Dec),
        _ => None,
    }
}

/// A decimal as a JSON number (integers stay integers).
pub fn decimal_number(d: Decimal) -> Value {
    if d.fract().is_zero() {
        if let Some(i) = d.to_i64() {
            return Value::Number(Number::from(i));
        }
    }
    d.to_f64()
        .and_then(Number::from_f64)
        .map(Value::Number)
        .unwrap_or(Value::Null)
}

/// Money as the decimal string it travels as, to the fen.
pub fn money_string(d: Decimal) -> Value {
    Value::String(format!("{:.2}", d.round_dp(2)))
}

pub fn const_to_json(c: &Const) -> Value {
    match c {
        Const::Str(s) => Value::String(s.clone()),
        Const::Int(i) | Const::Duration(i) => Value::Number(Number::from(*i)),
        Const::Dec(d) => decimal_number(*d),
        Const::Bool(b) => Value::Bool(*b),
        Const::Money(m) => money_string(*m),
        Const::Moment(m) => Value::String(m.text()),
        Const::List(items) => Value::Array(items.iter().map(const_to_json).collect()),
    }
}

pub fn const_to_dynamic(c: &Const) -> Dynamic {
    match c {
        Const::Str(s) => Dynamic::from(s.clone()),
        Const::Int(i) | Const::Duration(i) => Dynamic::from_int(*i),
        Const::Dec(d) => Dynamic::from_decimal(*d),
        Const::Bool(b) => Dynamic::from_bool(*b),
        Const::Money(m) => Dynamic::from_decimal(*m),
        Const::Moment(m) => Dynamic::from(m.text()),
        Const::List(items) => Dynamic::from_array(items.iter().map(const_to_dynamic).collect()),
    }
}

/// JSON → rhai. Integers become `INT`, other numbers `FLOAT`.
pub fn json_to_dynamic(v: &Value) -> Dynamic {
    match v {
        Value::Null => Dynamic::UNIT,
        Value::Bool(b) => Dynamic::from_bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Dynamic::from_int(i),
            None => Dynamic::from_float(n.as_f64().unwrap_or(0.0)),
        },
        Value::String(s) => Dynamic::from(s.clone()),
        Value::Array(items) => Dynamic::from_array(items.iter().map(json_to_dynamic).collect()),
        Value::Object(obj) => {
            let mut m = Map::new();
            for (k, v) in obj {
                m.insert(k.as_str().into(), json_to_dynamic(v));
            }
            Dynamic::from_map(m)
        }
    }
}

/// rhai → JSON. Decimals become decimal strings (exact).
pub fn dynamic_to_json(d: &Dynamic) -> Value {
    if d.is_unit() {
        return Value::Null;
    }
    if let Ok(b) = d.as_bool() {
        return Value::Bool(b);
    }
    if let Ok(i) = d.as_int() {
        return Value::Number(Number::from(i));
    }
    if let Ok(f) = d.as_float() {
        return Number::from_f64(f)
            .map(Value::Number)
            .unwrap_or(Value::Null);
    }
    if let Ok(dec) = d.as_decimal() {
        // As written: money keeps its fen (`8.00`), a rate its digits.
        return Value::String(dec.to_string());
    }
    if d.is_string() || d.is_char() {
        return Value::String(d.to_string());
    }
    if let Some(arr) = d.read_lock::<rhai::Array>() {
        return Value::Array(arr.iter().map(dynamic_to_json).collect());
    }
    if let Some(map) = d.read_lock::<Map>() {
        return Value::Object(
            map.iter()
                .map(|(k, v)| (k.to_string(), dynamic_to_json(v)))
                .collect(),
        );
    }
    Value::String(d.to_string())
}

/// Serialises a rhai value as [`dynamic_to_json`] shows it (decimals as
/// exact strings), without building a JSON tree first.
pub struct ExactJson<'a>(pub &'a Dynamic);

impl serde::Serialize for ExactJson<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        let d = self.0;
        if d.is_unit() {
            return s.serialize_unit();
        }
        if let Ok(b) = d.as_bool() {
            return s.serialize_bool(b);
        }
        if let Ok(i) = d.as_int() {
            return s.serialize_i64(i);
        }
        if let Ok(f) = d.as_float() {
            return s.serialize_f64(f);
        }
        if let Ok(dec) = d.as_decimal() {
            return s.collect_str(&dec);
        }
        if let Some(arr) = d.read_lock::<rhai::Array>() {
            let mut seq = s.serialize_seq(Some(arr.len()))?;
            for v in arr.iter() {
                seq.serialize_element(&ExactJson(v))?;
            }
            return seq.end();
        }
        if let Some(map) = d.read_lock::<Map>() {
            let mut m = s.serialize_map(Some(map.len()))?;
            for (k, v) in map.iter() {
                m.serialize_entry(k.as_str(), &ExactJson(v))?;
            }
            return m.end();
        }
        s.collect_str(d)
    }
}
