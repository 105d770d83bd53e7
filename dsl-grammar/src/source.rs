//! Loading policy sets from disk: a directory's `.wg` files (recursively, in
//! path order) form one policy set; a single `.wg` file is a set of one.
//! Scenario files (`*.test.wg`) are left out unless asked for.

use std::path::{Path, PathBuf};

use crate::span::{SourceFile, SourceSet};

/// Why a policy set could not be read.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum LoadError {
    #[error("cannot read `{path}`: {source}")]
    #[diagnostic(code(wangge::io))]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("`{path}` is not valid UTF-8: the first bad byte is on line {line}")]
    #[diagnostic(code(wangge::encoding), help("save the file as UTF-8"))]
    Encoding { path: String, line: usize },
    #[error("`{path}` holds no `.wg` policy files")]
    #[diagnostic(code(wangge::empty), help("policy files end in `.wg`"))]
    Empty { path: String },
}

fn io(path: &Path, source: std::io::Error) -> LoadError {
    LoadError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Reads the policy set at `path` (a directory or one file), without its
/// scenario files.
pub fn load(path: &Path) -> Result<SourceSet, LoadError> {
    load_files(path, false)
}

/// Reads the policy set at `path` with its scenario files (`*.test.wg`).
pub fn load_with_tests(path: &Path) -> Result<SourceSet, LoadError> {
    load_files(path, true)
}

fn load_files(path: &Path, tests: bool) -> Result<SourceSet, LoadError> {
    let mut files = Vec::new();
    let meta = std::fs::metadata(path).map_err(|e| io(path, e))?;
    if meta.is_dir() {
        collect(path, &mut files)?;
        if !tests {
            files.retain(|f| !f.to_string_lossy().ends_with(".test.wg"));
        }
        files.sort();
    } else {
        files.push(path.to_path_buf());
    }
    if files.is_empty() {
        return Err(LoadError::Empty {
            path: path.display().to_string(),
        });
    }
    let mut set = SourceSet::default();
    for f in files {
        // Bytes, not a string: a file that is not UTF-8 is reported by the
        // parser at its bad byte, and the other files are still checked.
        let bytes = std::fs::read(&f).map_err(|e| io(&f, e))?;
        set.add(SourceFile::from_bytes(f.display().to_string(), &bytes));
    }
    Ok(set)
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), LoadError> {
    for entry in std::fs::read_dir(dir).map_err(|e| io(dir, e))? {
        let entry = entry.map_err(|e| io(dir, e))?;
        let path = entry.path();
        let ty = entry.file_type().map_err(|e| io(&path, e))?;
        if ty.is_dir() {
            collect(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "wg") {
            out.push(path);
        }
    }
    Ok(())
}
