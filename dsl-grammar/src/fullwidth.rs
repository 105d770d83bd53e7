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

/// One error for a run of full-width marks at byte `i`, standing for
/// `twins`.
fn full_width(file: u32, i: usize, marks: &str, twins: &str) -> Diagnostic {
    let span = Span::new(file, i, i + marks.len());
    let what = if marks.chars().all(|c| c == '\u{3000}') {
        "full-width space".to_string()
    } else {
        format!("full-width `{marks}`")
    };
    let a = twins;
    Diagnostic::error(
        "wangge::full-width",
        span,
        format!("{what} is not part of the syntax"),
    )
    .with_label("full-width punctuation")
    .with_help(format!(
        "did you mean `{a}`? switch the input method to half-width (半角) punctuation"
    ))
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
                Some(_) => {
                    // A run of marks (`＞＝`) becomes its ASCII twins (`>=`),
                    // padded in front to the same byte length, so a mark
                    // glued to the next token (`－5`) still reads as one.
                    let mut run = vec![(i, c)];
                    while let Some(&(j, d)) = chars.peek() {
                        if ascii_twin(d).is_none() {
                            break;
                        }
                        run.push((j, d));
                        chars.next();
                    }
                    let pad: usize = run.iter().map(|(_, d)| d.len_utf8() - 1).sum();
                    out.extend(std::iter::repeat_n(' ', pad));
                    let marks: String = run.iter().map(|(_, d)| *d).collect();
                    let twins: String = marks.chars().filter_map(ascii_twin).collect();
                    out.push_str(&twins);
                    diags.push(full_width(file, i, &marks, &twins));
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
        assert!(patched.starts_with("a  (b  ) "), "{patched}");
        assert!(patched.contains("\"（\""));
        assert!(patched.ends_with("c  ,"), "{patched}");
    }
}
