//! Strict JSON for request inputs: an object whose keys are unique (serde's
//! default keeps the last of two equal keys, silently) and whose integers
//! fit 64 bits (a longer one would silently become an inexact float).
//! Errors name the field and the line and column.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::error::{invalid, AppResult};

/// Parses `text` (the request field `field`) as a JSON object, strictly.
pub fn parse_object(field: &str, text: &str) -> AppResult<Value> {
    if let Some(big) = oversized_integer(text) {
        return Err(invalid(
            field,
            format!(
                "the integer `{big}` does not fit 64 bits and would lose digits; send it as a \
                 string"
            ),
        ));
    }
    let mut de = serde_json::Deserializer::from_str(text);
    let v = Strict
        .deserialize(&mut de)
        .and_then(|v| de.end().map(|_| v))
        .map_err(|e| invalid(field, format!("not valid JSON: {e}")))?;
    if !v.is_object() {
        return Err(invalid(field, "must be a JSON object"));
    }
    Ok(v)
}

/// The first integer literal outside strings that fits neither i64 nor u64.
fn oversized_integer(text: &str) -> Option<&str> {
    let bytes = text.as_bytes();
    let (mut i, mut in_string) = (0, false);
    while i < bytes.len() {
        let b = bytes[i];
        if in_string {
            match b {
                b'\\' => i += 1,
                b'"' => in_string = false,
                _ => {}
            }
            i += 1;
            continue;
        }
        if b == b'"' {
            in_string = true;
            i += 1;
            continue;
        }
        if b == b'-' || b.is_ascii_digit() {
            let start = i;
            i += 1;
            while i < bytes.len()
                && matches!(bytes[i], b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-')
            {
                i += 1;
            }
            let lit = text.get(start..i)?;
            let integral = !lit.contains(['.', 'e', 'E']);
            if integral && lit.parse::<i64>().is_err() && lit.parse::<u64>().is_err() {
                return Some(lit);
            }
            continue;
        }
        i += 1;
    }
    None
}

/// A JSON value whose objects refuse duplicate keys.
struct Strict;

impl<'de> DeserializeSeed<'de> for Strict {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        serde_json::Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom(format!("`{v}` is not a finite number")))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(Strict)? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                return Err(de::Error::custom(format!("the key `{key}` appears twice")));
            }
            let v = map.next_value_seed(Strict)?;
            out.insert(key, v);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_keys_and_oversized_integers_are_refused() {
        let e = parse_object("data_json", r#"{"类别": "a", "类别": "b"}"#).unwrap_err();
        assert!(
            e.to_string().contains("the key `类别` appears twice"),
            "{e}"
        );
        let e = parse_object(
            "data_json",
            r#"{"人数": 1234567890123456789012345678901234567890}"#,
        )
        .unwrap_err();
        assert!(e.to_string().contains("does not fit 64 bits"), "{e}");
        let v = parse_object(
            "data_json",
            r#"{"说明": "编号 1234567890123456789012345678901234567890", "人数": -3, "比例": 1.5e3}"#,
        )
        .unwrap();
        assert_eq!(v["人数"], -3);
        let e = parse_object("data_json", "[1]").unwrap_err();
        assert!(e.to_string().contains("must be a JSON object"), "{e}");
    }
}
