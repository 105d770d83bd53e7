//! Input checks shared by the services: ids and names are short, printable
//! text (no control characters, which can forge log lines, and no bidi
//! overrides, which can disguise an id); a report's data holds the fields
//! its classifying table reads. Each refusal names the field.

use serde_json::Value;
use wangge_policy::{check_fields, CompiledWorkflow, Evaluable, PolicySet};

use crate::error::{invalid, AppResult};

/// Longest id or name (unit, actor, workflow, department, action), in bytes.
pub const MAX_NAME: usize = 128;
/// Longest idempotency key, in bytes.
pub const MAX_KEY: usize = 256;
/// Longest free-text note, in bytes.
pub const MAX_NOTE: usize = 4096;
/// Most departments one summons may name.
pub const MAX_DEPARTMENTS: usize = 16;

/// Characters that reorder or hide text (bidi controls and marks).
fn is_bidi(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// A name or id: at most `max` bytes, no control or bidi characters.
/// Empty passes (say [`required`] where it must not be empty).
pub fn name(field: &str, value: &str, max: usize) -> AppResult<()> {
    if value.len() > max {
        return Err(invalid(
            field,
            format!("is {} bytes; the limit is {max}", value.len()),
        ));
    }
    if let Some(c) = value.chars().find(|c| c.is_control() || is_bidi(*c)) {
        return Err(invalid(
            field,
            format!(
                "contains the control character U+{:04X}; ids and names are printable text",
                c as u32
            ),
        ));
    }
    Ok(())
}

/// A name or id that must be given.
pub fn required(field: &str, value: &str, max: usize) -> AppResult<()> {
    if value.trim().is_empty() {
        return Err(invalid(field, "is required"));
    }
    name(field, value, max)
}

/// Free text (a note): line breaks and tabs allowed, other control and
/// bidi characters not.
pub fn note(field: &str, value: &str) -> AppResult<()> {
    let flat: String = value
        .chars()
        .map(|c| if c == '\n' || c == '\t' { ' ' } else { c })
        .collect();
    name(field, &flat, MAX_NOTE)
}

/// The report data holds what the workflow's classifying table reads
/// (see [`check_fields`]); refused under `data_json`.
pub fn report_data(
    set: &PolicySet,
    wf: &CompiledWorkflow,
    classifier: Option<&str>,
    data: &Value,
) -> AppResult<()> {
    if !data.is_object() {
        return Err(invalid("data_json", "must be a JSON object"));
    }
    if let Some(schema) = wf.data_schema(set) {
        schema
            .check(data, &set.schemas)
            .map_err(|m| invalid(&format!("data_json.{}", m.field), m.message))?;
    }
    let Some(item) = classifier else {
        return Ok(());
    };
    if let Ok(Evaluable::Table(t)) = set.get(item) {
        check_fields(item, t.reads(), data).map_err(|m| invalid("data_json", m))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_and_bidi_characters_are_refused_in_names() {
        for bad in ["网格\u{0}1", "a\u{1b}[31m", "M1\u{202E}", "甲\n伪造日志"] {
            let e = name("actor", bad, MAX_NAME).unwrap_err();
            assert!(e.to_string().contains("control character"), "{bad:?}: {e}");
        }
        assert!(name("actor", "网格员甲", MAX_NAME).is_ok());
        let e = name("unit", &"x".repeat(MAX_NAME + 1), MAX_NAME).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid `unit`: is 129 bytes; the limit is 128"
        );
        assert!(note("note", "第一行\n第二行").is_ok());
    }
}
