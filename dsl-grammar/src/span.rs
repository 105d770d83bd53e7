//! Source files and byte spans, with conversion to 1-based line and column.

use std::sync::Arc;

/// A half-open byte range `start..end` inside one [`SourceFile`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize)]
pub struct Span {
    /// Index of the file in its [`crate::SourceSet`].
    pub file: u32,
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(file: u32, start: usize, end: usize) -> Self {
        Span { file, start, end }
    }

    pub fn len(&self) -> usize {
        self.end.saturating_sub(self.start)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The smallest span covering both.
    pub fn join(self, other: Span) -> Span {
        Span {
            file: self.file,
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }
}

/// One policy file: its display name and its text.
#[derive(Debug, Clone)]
pub struct SourceFile {
    pub name: String,
    pub text: Arc<str>,
    line_starts: Vec<usize>,
    /// Where the file's bytes stopped being UTF-8 (the text holds U+FFFD
    /// there): parsing reports it as an error and goes on.
    pub invalid_utf8: Option<usize>,
}

/// A 1-based line and column (columns count characters, not bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct LineCol {
    pub line: usize,
    pub column: usize,
}

impl SourceFile {
    /// A source; a leading UTF-8 byte order mark (saved by Windows and
    /// many Chinese editors) is dropped, so positions count from the first
    /// real character.
    pub fn new(name: impl Into<String>, text: impl Into<Arc<str>>) -> Self {
        let mut text: Arc<str> = text.into();
        if let Some(rest) = text.strip_prefix('\u{feff}') {
            text = Arc::from(rest);
        }
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        SourceFile {
            name: name.into(),
            text,
            line_starts,
            invalid_utf8: None,
        }
    }

    /// A source read from bytes: invalid UTF-8 is replaced by U+FFFD and
    /// the first bad byte remembered (see [`SourceFile::invalid_utf8`]).
    pub fn from_bytes(name: impl Into<String>, bytes: &[u8]) -> Self {
        match std::str::from_utf8(bytes) {
            Ok(text) => SourceFile::new(name, text),
            Err(e) => {
                let bom = usize::from(bytes.starts_with(b"\xEF\xBB\xBF")) * 3;
                let mut file = SourceFile::new(name, String::from_utf8_lossy(bytes).as_ref());
                file.invalid_utf8 = Some(e.valid_up_to().saturating_sub(bom));
                file
            }
        }
    }

    /// Line and column of a byte offset (clamped to the text).
    pub fn line_col(&self, offset: usize) -> LineCol {
        let offset = offset.min(self.text.len());
        let line = match self.line_starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i.saturating_sub(1),
        };
        let start = self.line_starts.get(line).copied().unwrap_or(0);
        let column = self
            .text
            .get(start..offset)
            .map(|s| s.chars().count())
            .unwrap_or(0)
            + 1;
        LineCol {
            line: line + 1,
            column,
        }
    }

    /// Byte offset of a 1-based line and character column; `None` when out of range.
    pub fn offset_of(&self, line: usize, column: usize) -> Option<usize> {
        let start = *self.line_starts.get(line.checked_sub(1)?)?;
        let rest = self.text.get(start..)?;
        let mut chars = rest.char_indices();
        for _ in 1..column {
            match chars.next() {
                Some((_, '\n')) | None => {
                    return Some(start + rest.find('\n').unwrap_or(rest.len()))
                }
                Some(_) => {}
            }
        }
        Some(start + chars.next().map(|(i, _)| i).unwrap_or(rest.len()))
    }
}

/// All files of one policy set, indexed by [`Span::file`].
#[derive(Debug, Clone, Default)]
pub struct SourceSet {
    pub files: Vec<SourceFile>,
}

impl SourceSet {
    pub fn add(&mut self, file: SourceFile) -> u32 {
        self.files.push(file);
        u32::try_from(self.files.len() - 1).unwrap_or(u32::MAX)
    }

    pub fn get(&self, id: u32) -> Option<&SourceFile> {
        self.files.get(id as usize)
    }

    /// The source text under a span, or `""` if the span is out of range.
    pub fn text(&self, span: Span) -> &str {
        self.get(span.file)
            .and_then(|f| f.text.get(span.start..span.end))
            .unwrap_or("")
    }

    /// `file:line:column` for the start of a span.
    pub fn location(&self, span: Span) -> String {
        match self.get(span.file) {
            Some(f) => {
                let lc = f.line_col(span.start);
                format!("{}:{}:{}", f.name, lc.line, lc.column)
            }
            None => "<unknown>".to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_characters() {
        let f = SourceFile::new("a.wg", "ab\n网格x\n");
        assert_eq!(f.line_col(0), LineCol { line: 1, column: 1 });
        assert_eq!(f.line_col(3), LineCol { line: 2, column: 1 });
        // `x` follows two 3-byte characters.
        assert_eq!(f.line_col(9), LineCol { line: 2, column: 3 });
        assert_eq!(f.offset_of(2, 3), Some(9));
        assert_eq!(f.offset_of(9, 1), None);
    }
}
