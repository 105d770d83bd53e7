//! Byte offsets ↔ LSP positions (0-based lines, UTF-16 columns, as the
//! protocol counts them by default), and file paths ↔ `file://` URIs.

use std::path::{Path, PathBuf};

use lsp_types::{Position, Range, Uri};

/// Where each line of a text starts.
pub struct LineIndex<'a> {
    text: &'a str,
    starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    pub fn new(text: &'a str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { text, starts }
    }

    /// The position of byte `offset` (clamped to the text, and back to a
    /// character boundary).
    pub fn position(&self, offset: usize) -> Position {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self.starts.partition_point(|&s| s <= offset) - 1;
        let start = self.starts[line];
        let character: usize = self.text[start..offset].chars().map(char::len_utf16).sum();
        Position {
            line: u32::try_from(line).unwrap_or(u32::MAX),
            character: u32::try_from(character).unwrap_or(u32::MAX),
        }
    }

    pub fn range(&self, start: usize, end: usize) -> Range {
        Range {
            start: self.position(start),
            end: self.position(end),
        }
    }

    /// The byte offset of a position (past the end of a line: its end;
    /// past the last line: the end of the text).
    pub fn offset(&self, p: Position) -> usize {
        let Some(&start) = self.starts.get(p.line as usize) else {
            return self.text.len();
        };
        let line_end = self.text[start..]
            .find('\n')
            .map_or(self.text.len(), |i| start + i);
        let mut units = 0usize;
        for (i, c) in self.text[start..line_end].char_indices() {
            if units >= p.character as usize {
                return start + i;
            }
            units += c.len_utf16();
        }
        line_end
    }
}

/// The path a `file://` URI names (percent-decoded); `None` for other
/// schemes or a name that is not UTF-8.
pub fn uri_to_path(uri: &Uri) -> Option<PathBuf> {
    let rest = uri.as_str().strip_prefix("file://")?;
    let bytes = rest.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok().map(PathBuf::from)
}

/// The `file://` URI of a path, percent-encoding all but unreserved
/// characters and `/`.
pub fn path_to_uri(path: &Path) -> Option<Uri> {
    let mut s = String::from("file://");
    for b in path.to_string_lossy().bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            s.push(char::from(b));
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_count_utf16_units_and_round_trip() {
        let text = "甲乙 = 1\n𝒳 x\n";
        let idx = LineIndex::new(text);
        let x = text.rfind('x').unwrap();
        assert_eq!(idx.position(x), Position::new(1, 3), "𝒳 is two units");
        assert_eq!(idx.offset(Position::new(1, 3)), x);
        assert_eq!(idx.offset(Position::new(0, 99)), text.find('\n').unwrap());
        assert_eq!(idx.offset(Position::new(9, 0)), text.len());
    }

    #[test]
    fn paths_with_chinese_names_survive_the_uri() {
        let p = Path::new("/tmp/策略 1/事件分级.wg");
        let uri = path_to_uri(p).unwrap();
        assert!(uri.as_str().starts_with("file:///tmp/%E7%AD%96"));
        assert_eq!(uri_to_path(&uri).unwrap(), p);
    }
}
