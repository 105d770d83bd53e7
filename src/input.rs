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
