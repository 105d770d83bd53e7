//! Full-width punctuation (`，：（）` …) typed by a Chinese input method where
//! ASCII punctuation belongs. Each one is reported with a "did you mean", and
//! replaced by its ASCII twin padded to the same byte length, so parsing can
//! go on and every later span stays valid.

use crate::diagnostic::Diagnostic;
use crate::span::Span;

/// The ASCII character a full-width one stands for.
pub fn ascii_twin(c: char) -> Option<char> {
    Some(match c {
        '，' => ',',
        '：' => ':',
        '；' => ';',
        '（' => '(',
        '）' => ')',
        '｛' => '{',
        '｝' => '}',
        '【' => '[',
        '】' => ']',
        '［' => '[',
        '］' => ']',
        '｜' => '|',
        '“' | '”' | '＂' => '"',
        '＝' => '=',
        '＞' => '>',
        '＜' => '<',
        '－' => '-',
        '．' | '。' => '.',
        '\u{3000}' => ' ',
        _ => return None,
    })
}

/// Scans `text` outside strings and comments; returns the patched text and
/// one error per full-width punctuation mark.
pub fn patch(text: &str, file: u32) -> (String, Vec<Diagnostic>) {
    let mut out = String::with_capacity(text.len());
    let mut diags = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' | '`' => {
                out.push(c);
                let mut escaped = false;
                for (_, d) in chars.by_ref() {
                    out.push(d);
                    if d == '\n' && c == '"' {
                        break;
                    }
                    if escaped {
                        escaped = false;
                    } else if d == '\\' && c == '"' {
                        escaped = true;
                    } else if d == c {
                        break;
                    }
                }
            }
            '/' if matches!(chars.peek(), Some((_, '/'))) => {
                out.push(c);
                for (_, d) in chars.by_ref() {
                    out.push(d);
                    if d == '\n' {
                        break;
                    }
                }
            }
            '/' if matches!(chars.peek(), Some((_, '*'))) => {
                out.push(c);
                let mut prev = ' ';
                if let Some((_, star)) = chars.next() {
                    out.push(star);
                }
                for (_, d) in chars.by_ref() {
                    out.push(d);
                    if prev == '*' && d == '/' {
                        break;
                    }
                    prev = d;
                }
            }
            _ => match ascii_twin(c) {
                Some(a) => {
                    out.push(a);
                    for _ in 1..c.len_utf8() {
                        out.push(' ');
                    }
                    let span = Span::new(file, i, i + c.len_utf8());
                    let what = if c == '\u{3000}' {
                        "full-width space".to_string()
                    } else {
                        format!("full-width `{c}`")
                    };
                    diags.push(
                        Diagnostic::error(
                            "wangge::full-width",
                            span,
                            format!("{what} is not part of the syntax"),
                        )
                        .with_label("full-width punctuation")
                        .with_help(format!(
                            "did you mean `{a}`? switch the input method to half-width (半角) punctuation"
                        )),
                    );
                }
                None => out.push(c),
            },
        }
    }
    (out, diags)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_byte_offsets_and_skips_strings_and_comments() {
        let text = "a（b） \"（\" // （\n/* ， */ c，";
        let (patched, diags) = patch(text, 0);
        assert_eq!(patched.len(), text.len());
        assert_eq!(diags.len(), 3);
        assert!(patched.starts_with("a(  b)  "));
        assert!(patched.contains("\"（\""));
        assert!(patched.ends_with("c,  "));
    }
}
