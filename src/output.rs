//! How the client commands print: `-o text|table|json`, tables aligned by
//! display width (a CJK character takes two columns, `→` and `·` one), and
//! colour only where the user wants it (`--color`, `NO_COLOR`).

use std::io::IsTerminal;
use std::sync::OnceLock;

use clap::ValueEnum;
use serde_json::{Map, Value};
use unicode_width::UnicodeWidthStr;

use crate::Color;

/// The output format of a client command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum Output {
    /// Lines for people (the default).
    #[default]
    Text,
    /// Aligned columns with a header.
    Table,
    /// One JSON document (the answer's fields; `…_json` strings parsed).
    Json,
}

static COLOR: OnceLock<Color> = OnceLock::new();

/// Sets the `--color` choice of this process (once, in `main`).
pub fn set_color(c: Color) {
    let _ = COLOR.set(c);
}

/// Which stream a text goes to.
#[derive(Debug, Clone, Copy)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// Whether to colour text on `stream`: `--color always|never`, or with
/// `auto` when the stream is a terminal and `NO_COLOR` is not set.
pub fn color_on(stream: Stream) -> bool {
    match COLOR.get().copied().unwrap_or(Color::Auto) {
        Color::Always => true,
        Color::Never => false,
        Color::Auto => {
            let tty = match stream {
                Stream::Stdout => std::io::stdout().is_terminal(),
                Stream::Stderr => std::io::stderr().is_terminal(),
            };
            tty && std::env::var_os("NO_COLOR").is_none()
        }
    }
}

/// Text in a style when colour is on for `stream`.
pub fn paint(stream: Stream, style: anstyle::Style, text: &str) -> String {
    if color_on(stream) {
        format!("{}{text}{}", style.render(), style.render_reset())
    } else {
        text.to_string()
    }
}

/// `error:` in red on stderr.
pub fn error_label() -> String {
    let red = anstyle::Style::new()
        .bold()
        .fg_color(Some(anstyle::AnsiColor::Red.into()));
    paint(Stream::Stderr, red, "error:")
}

/// Prints an error line on stderr.
pub fn error(message: impl std::fmt::Display) {
    eprintln!("{} {message}", error_label());
}

/// Terminal columns `s` takes.
pub fn width(s: &str) -> usize {
    UnicodeWidthStr::width(s)
}

/// `s` padded with spaces to `w` columns (on the left when `right`).
pub fn pad(s: &str, w: usize, right: bool) -> String {
    let fill = " ".repeat(w.saturating_sub(width(s)));
    if right {
        format!("{fill}{s}")
    } else {
        format!("{s}{fill}")
    }
}

/// Rows under a header, printed with columns aligned by display width.
#[derive(Debug, Clone)]
pub struct Table {
    header: Vec<String>,
    right: Vec<bool>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column names; every column left-aligned.
    pub fn new(header: &[&str]) -> Table {
        Table {
            header: header.iter().map(|h| h.to_string()).collect(),
            right: vec![false; header.len()],
            rows: Vec::new(),
        }
    }

    /// Right-aligns the named columns (numbers, money).
    pub fn right(mut self, columns: &[&str]) -> Table {
        for (h, r) in self.header.iter().zip(self.right.iter_mut()) {
            *r = columns.contains(&h.as_str());
        }
        self
    }

    /// Adds a row (missing cells print empty, extra cells are dropped).
    pub fn row(&mut self, cells: impl IntoIterator<Item = String>) {
        let mut cells: Vec<String> = cells.into_iter().collect();
        cells.resize(self.header.len(), String::new());
        self.rows.push(cells);
    }

    /// The table as text, one line per row, the header first (bold when
    /// colour is on); two spaces between columns, no trailing spaces.
    pub fn render(&self) -> String {
        let mut widths: Vec<usize> = self.header.iter().map(|h| width(h)).collect();
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(width(cell));
            }
        }
        let line = |cells: &[String]| -> String {
            let mut out = String::new();
            for (i, cell) in cells.iter().enumerate() {
                if i > 0 {
                    out.push_str("  ");
                }
                out.push_str(&pad(cell, widths[i], self.right[i]));
            }
            out.trim_end().to_string()
        };
        let bold = anstyle::Style::new().bold();
        let mut out = paint(Stream::Stdout, bold, &line(&self.header));
        out.push('\n');
        for row in &self.rows {
            out.push_str(&line(row));
            out.push('\n');
        }
        out
    }
}

/// A gRPC answer as a JSON value: its fields by their proto names, with
/// every `name_json` string field parsed and shown as `name` (an empty
/// string is `null`; text that is not JSON stays as it was, under its own
/// name).
pub fn json_value<T: serde::Serialize>(answer: &T) -> Result<Value, serde_json::Error> {
    serde_json::to_value(answer).map(expand_json_fields)
}

fn expand_json_fields(v: Value) -> Value {
    match v {
        Value::Object(map) => {
            let mut out = Map::with_capacity(map.len());
            for (k, v) in map {
                match (k.strip_suffix("_json"), v) {
                    (Some(name), Value::String(text)) => {
                        if text.is_empty() {
                            out.insert(name.to_string(), Value::Null);
                        } else {
                            match serde_json::from_str::<Value>(&text) {
                                Ok(parsed) => out.insert(name.to_string(), parsed),
                                Err(_) => out.insert(k, Value::String(text)),
                            };
                        }
                    }
                    (_, v) => {
                        out.insert(k, expand_json_fields(v));
                    }
                }
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.into_iter().map(expand_json_fields).collect()),
        other => other,
    }
}

/// Prints `answer` as pretty JSON on stdout.
pub fn print_json<T: serde::Serialize>(answer: &T) -> Result<(), serde_json::Error> {
    let v = json_value(answer)?;
    println!("{}", serde_json::to_string_pretty(&v)?);
    Ok(())
}

/// Prints `answer` as one line of JSON (for streams: JSON Lines).
pub fn print_json_line<T: serde::Serialize>(answer: &T) -> Result<(), serde_json::Error> {
    let v = json_value(answer)?;
    println!("{}", serde_json::to_string(&v)?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths_count_cjk_as_two_columns_and_arrows_as_one() {
        assert_eq!(width("事件"), 4);
        assert_eq!(width("a → b · c"), 9);
        assert_eq!(pad("出格", 6, false), "出格  ");
        assert_eq!(pad("1.50", 6, true), "  1.50");
    }

    #[test]
    fn a_table_aligns_chinese_labels_by_display_width() {
        let mut t = Table::new(&["名称", "金额"]).right(&["金额"]);
        t.row(["基础补贴".to_string(), "1200.00".to_string()]);
        t.row(["走访".to_string(), "36.5".to_string()]);
        assert_eq!(
            t.render(),
            "名称         金额\n基础补贴  1200.00\n走访         36.5\n"
        );
    }

    #[test]
    fn json_fields_inside_strings_are_shown_as_json() {
        let v = serde_json::json!({"id": 1, "data_json": "{\"类别\":\"噪音\"}", "result_json": "", "note_json": "not json", "list": [{"params_json": "[1]"}]});
        let out = expand_json_fields(v);
        assert_eq!(
            out,
            serde_json::json!({"id": 1, "data": {"类别": "噪音"}, "result": null, "note_json": "not json", "list": [{"params": [1]}]})
        );
    }
}
