//! Arguments that carry text: `@FILE` reads a file, `-` reads stdin, and
//! anything else is the text itself (as curl, grpcurl and zbctl take them).

use std::io::Read;

use wangge_dsl::{SourceFile, SourceSet};

/// Why an argument's text could not be read.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum InputError {
    #[error("cannot read `{0}` for `--{1}`: {2}")]
    #[diagnostic(code(wangge::input))]
    Read(String, &'static str, std::io::Error),
    #[error("the input is not valid JSON (`--{0}`): {1}")]
    #[diagnostic(
        code(wangge::input),
        help("pass a JSON object such as `{{\"类别\": \"垃圾堆放\"}}`, `@FILE` or `-` for stdin")
    )]
    Json(&'static str, serde_json::Error),
}

/// The text `arg` stands for; `flag` names the option in errors.
pub fn text(arg: &str, flag: &'static str) -> Result<String, InputError> {
    if arg == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| InputError::Read("-".into(), flag, e))?;
        Ok(s)
    } else if let Some(path) = arg.strip_prefix('@') {
        std::fs::read_to_string(path).map_err(|e| InputError::Read(path.into(), flag, e))
    } else {
        Ok(arg.to_string())
    }
}

/// The JSON text `arg` stands for, checked to parse (the server checks it
/// again, strictly; this catches a wrong file before the call).
pub fn json_text(arg: &str, flag: &'static str) -> Result<String, InputError> {
    let text = text(arg, flag)?;
    serde_json::from_str::<serde::de::IgnoredAny>(&text).map_err(|e| InputError::Json(flag, e))?;
    Ok(text)
}

/// The JSON value `arg` stands for.
pub fn json(arg: &str, flag: &'static str) -> Result<serde_json::Value, InputError> {
    let text = text(arg, flag)?;
    serde_json::from_str(&text).map_err(|e| InputError::Json(flag, e))
}

/// One policy file read from stdin, named `<stdin>` in diagnostics.
pub fn stdin_policy() -> Result<SourceSet, InputError> {
    let mut bytes = Vec::new();
    std::io::stdin()
        .read_to_end(&mut bytes)
        .map_err(|e| InputError::Read("-".into(), "paths", e))?;
    let mut set = SourceSet::default();
    set.add(SourceFile::from_bytes("<stdin>".to_string(), &bytes));
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_at_sign_reads_the_file_and_plain_text_is_itself() {
        let dir = tempfile::tempdir().map_err(|e| e.to_string());
        let Ok(dir) = dir else { return };
        let path = dir.path().join("event.json");
        assert!(std::fs::write(&path, "{\"类别\": \"噪音\"}").is_ok());
        let arg = format!("@{}", path.display());
        assert_eq!(
            json_text(&arg, "data").ok().as_deref(),
            Some("{\"类别\": \"噪音\"}")
        );
        assert_eq!(text("{}", "data").ok().as_deref(), Some("{}"));
        assert!(matches!(
            json_text("@/no/such/file", "data"),
            Err(InputError::Read(..))
        ));
        assert!(matches!(
            json_text("{not json", "data"),
            Err(InputError::Json(..))
        ));
    }
}

/// A duration on the command line, in whole seconds: the policy language's
/// `3h`, `2d`, `1h30m`; humantime's `90min`, `1h 30m`, `2days`; a decimal
/// amount of one unit, `1.5h`, `0.5d`; and the Chinese units of the case
/// reports, `3小时`, `2天`, `30分钟`. A fraction of a second is refused.
pub fn duration(text: &str) -> Result<i64, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("a duration is required, e.g. 3h, 2d, 1h30m, 90min or 1.5h".into());
    }
    if let Some(s) = wangge_dsl::parser::parse_duration(text) {
        return Ok(s);
    }
    if let Some(s) = decimal_duration(text)? {
        return Ok(s);
    }
    let d = humantime::parse_duration(text).map_err(|e| {
        format!("`{text}` is not a duration like 3h, 2d, 1h30m, 90min or 1.5h: {e}")
    })?;
    if d.subsec_nanos() != 0 {
        return Err(format!("`{text}` is not a whole number of seconds"));
    }
    i64::try_from(d.as_secs()).map_err(|_| format!("`{text}` is too long"))
}

/// `1.5h` and `3小时`: a decimal number and one unit; `None` when `text`
/// is not of that shape.
fn decimal_duration(text: &str) -> Result<Option<i64>, String> {
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let unit_seconds: i64 = match unit.trim() {
        "w" | "week" | "weeks" | "周" => 7 * 86_400,
        "d" | "day" | "days" | "天" => 86_400,
        "h" | "hr" | "hour" | "hours" | "小时" => 3_600,
        "m" | "min" | "mins" | "minute" | "minutes" | "分钟" => 60,
        "s" | "sec" | "secs" | "second" | "seconds" | "秒" => 1,
        _ => return Ok(None),
    };
    let Ok(amount) = number.parse::<rust_decimal::Decimal>() else {
        return Ok(None);
    };
    let seconds = amount
        .checked_mul(rust_decimal::Decimal::from(unit_seconds))
        .ok_or_else(|| format!("`{text}` is too long"))?;
    if !seconds.fract().is_zero() {
        return Err(format!("`{text}` is not a whole number of seconds"));
    }
    i64::try_from(seconds)
        .map(Some)
        .map_err(|_| format!("`{text}` is too long"))
}

#[cfg(test)]
mod duration_tests {
    use super::duration;

    #[test]
    fn durations_people_type_are_understood() {
        for (text, seconds) in [
            ("3h", 10_800),
            ("1h30m", 5_400),
            ("2d", 172_800),
            ("90min", 5_400),
            ("1h 30m", 5_400),
            ("2days", 172_800),
            ("1.5h", 5_400),
            ("0.5d", 43_200),
            ("3小时", 10_800),
            ("30分钟", 1_800),
            ("2天", 172_800),
        ] {
            assert_eq!(duration(text), Ok(seconds), "{text}");
        }
        for bad in ["", "h", "1.5.1h", "abc", "0.3s", "1.0000001h"] {
            assert!(duration(bad).is_err(), "{bad}");
        }
    }
}
