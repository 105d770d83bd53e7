//! The high-water mark beside the database (`wangge.mark`): how many cases
//! and which feed sequence the store had acknowledged, rewritten after each
//! durable group commit. A database that opens with less than its mark has
//! lost acknowledged writes (a truncated, emptied or replaced `db` file) and
//! is refused. The mark is written after the data it describes, so it never
//! runs ahead of it; a torn mark (bad checksum) is reported, not trusted.

use std::fs::File;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use wangge_store::StoreError;

const MAGIC: &[u8; 8] = b"WGMARK01";
pub const FILE: &str = "wangge.mark";

/// What the store had acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Mark {
    pub cases: u64,
    pub feed: u64,
}

impl Mark {
    fn checksum(&self) -> u64 {
        (self.cases.rotate_left(17) ^ self.feed.rotate_left(41)) ^ 0x5747_4d41_524b_3031
    }

    fn encode(&self) -> [u8; 32] {
        let mut b = [0u8; 32];
        b[..8].copy_from_slice(MAGIC);
        b[8..16].copy_from_slice(&self.cases.to_be_bytes());
        b[16..24].copy_from_slice(&self.feed.to_be_bytes());
        b[24..].copy_from_slice(&self.checksum().to_be_bytes());
        b
    }

    fn decode(b: &[u8]) -> Option<Mark> {
        let word = |i: usize| -> Option<u64> {
            Some(u64::from_be_bytes(b.get(i..i + 8)?.try_into().ok()?))
        };
        if b.len() != 32 || b.get(..8)? != MAGIC {
            return None;
        }
        let mark = Mark {
            cases: word(8)?,
            feed: word(16)?,
        };
        (word(24)? == mark.checksum()).then_some(mark)
    }
}

/// The mark file of an open store.
pub struct MarkFile {
    file: File,
    path: PathBuf,
}

impl MarkFile {
    /// Reads the mark in `dir` (none for a store made before marks, or a
    /// new one) and opens the file for rewriting.
    pub fn open(dir: &Path) -> Result<(MarkFile, Option<Mark>), StoreError> {
        let path = dir.join(FILE);
        let failed = |e: std::io::Error| {
            StoreError::unavailable(format!("cannot open `{}`: {e}", path.display()))
        };
        let existing = match std::fs::read(&path) {
            // Created by an open that crashed before writing it.
            Ok(bytes) if bytes.is_empty() => None,
            Ok(bytes) => Some(Mark::decode(&bytes).ok_or_else(|| {
                StoreError::corrupt(format!(
                    "`{}` is damaged, so it cannot tell whether acknowledged data was lost; \
                     run `wangge store verify` on this folder, and if it passes delete the \
                     mark file to accept the data as it is",
                    path.display()
                ))
            })?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(failed(e)),
        };
        let file = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(failed)?;
        Ok((MarkFile { file, path }, existing))
    }

    /// Records `mark` (no fsync: it only has to trail the data).
    pub fn write(&self, mark: Mark) -> Result<(), StoreError> {
        self.file.write_all_at(&mark.encode(), 0).map_err(|e| {
            StoreError::unavailable(format!("cannot write `{}`: {e}", self.path.display()))
        })
    }
}

/// Refuses a database that holds less than its mark says was acknowledged.
pub fn check(dir: &Path, mark: Option<Mark>, found: Mark) -> Result<(), StoreError> {
    let Some(mark) = mark else { return Ok(()) };
    if found.cases >= mark.cases && found.feed >= mark.feed {
        return Ok(());
    }
    Err(StoreError::corrupt(format!(
        "`{}` has lost acknowledged data: it holds {} cases up to feed sequence {}, but {} \
         cases up to sequence {} had been acknowledged (the `db` file was truncated, emptied \
         or replaced); not starting. Restore the folder from a backup with `wangge store \
         restore BACKUP --data {}`",
        dir.join("db").display(),
        found.cases,
        found.feed,
        mark.cases,
        mark.feed,
        dir.display()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mark_round_trips_and_a_torn_one_is_refused() {
        let m = Mark { cases: 7, feed: 12 };
        assert_eq!(Mark::decode(&m.encode()), Some(m));
        let mut torn = m.encode();
        torn[20] ^= 1;
        assert_eq!(Mark::decode(&torn), None);
    }
}
