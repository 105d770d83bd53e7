//! The documents the editor has open, and the analysis of the policy set
//! each belongs to: the same compile as `wangge check` (so the same codes,
//! spans and helps, rhai errors included) over the files on disk with the
//! open documents' unsaved text in their place.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use wangge_dsl::ast::File;
use wangge_dsl::outline::{declarations, Decl};
use wangge_dsl::{Diagnostic, SourceFile, SourceSet};

/// Files larger than this are analysed without rhai and lints: a file of
/// many megabytes is not a policy anyone types into, and the editor must
/// stay responsive.
const FULL_ANALYSIS_LIMIT: usize = 4 << 20;

/// One policy set as last analysed.
pub struct Analysis {
    pub sources: SourceSet,
    pub files: Vec<File>,
    pub decls: Vec<Decl>,
    pub diagnostics: Vec<Diagnostic>,
    /// Each file's path, by file id.
    pub paths: Vec<PathBuf>,
}

impl Analysis {
    /// The id of the file at `path` in this set.
    pub fn file_id(&self, path: &Path) -> Option<u32> {
        self.paths
            .iter()
            .position(|p| p == path)
            .and_then(|i| u32::try_from(i).ok())
    }

    /// The text of file `id`.
    pub fn text(&self, id: u32) -> &str {
        self.sources.get(id).map_or("", |f| &f.text)
    }
}

/// Open documents and cached analyses, by policy-set root.
#[derive(Default)]
pub struct Workspace {
    /// The editor's workspace folder, when it named one.
    pub root: Option<PathBuf>,
    open: HashMap<PathBuf, String>,
    cache: HashMap<PathBuf, Analysis>,
}

impl Workspace {
    pub fn open(&mut self, path: PathBuf, text: String) {
        let root = self.set_root(&path);
        self.cache.remove(&root);
        self.open.insert(path, text);
    }

    pub fn close(&mut self, path: &Path) {
        let root = self.set_root(path);
        self.cache.remove(&root);
        self.open.remove(path);
    }

    /// The unsaved text of an open document.
    pub fn document(&self, path: &Path) -> Option<&str> {
        self.open.get(path).map(String::as_str)
    }

    /// Forgets the analysis of the set `path` belongs to (it changed).
    pub fn invalidate(&mut self, path: &Path) {
        let root = self.set_root(path);
        self.cache.remove(&root);
    }

    /// The policy set a file belongs to: the highest directory above it,
    /// inside the workspace folder, each of whose levels holds `.wg` files
    /// (`policies/tests/x.test.wg` belongs to `policies/`). A file alone
    /// (no `.wg` siblings) is a set of one.
    pub fn set_root(&self, path: &Path) -> PathBuf {
        let Some(mut dir) = path.parent().map(Path::to_path_buf) else {
            return path.to_path_buf();
        };
        while let Some(up) = dir.parent() {
            let inside = self.root.as_ref().is_none_or(|r| up.starts_with(r));
            if !inside || !holds_policies(up) {
                break;
            }
            dir = up.to_path_buf();
        }
        dir
    }

    /// The analysis of the set `path` belongs to (cached until a change).
    pub fn analysis(&mut self, path: &Path) -> &Analysis {
        let root = self.set_root(path);
        if !self.cache.contains_key(&root) {
            let analysis = self.analyse(&root, path);
            self.cache.insert(root.clone(), analysis);
        }
        &self.cache[&root]
    }

    fn analyse(&self, root: &Path, path: &Path) -> Analysis {
        let mut paths = Vec::new();
        collect(root, &mut paths, 0);
        if !paths.iter().any(|p| p == path) {
            paths.push(path.to_path_buf());
        }
        paths.sort();
        let mut sources = SourceSet::default();
        for p in &paths {
            let name = p.display().to_string();
            let file = match self.open.get(p) {
                Some(text) => SourceFile::new(name, text.as_str()),
                None => match std::fs::read(p) {
                    Ok(bytes) => SourceFile::from_bytes(name, &bytes),
                    Err(_) => SourceFile::new(name, ""),
                },
            };
            sources.add(file);
        }
        let large = sources
            .files
            .iter()
            .any(|f| f.text.len() > FULL_ANALYSIS_LIMIT);
        // One parse either way: the compile keeps the trees it read.
        let (sources, files, diagnostics) = if large {
            let parsed = wangge_dsl::parse_set(sources);
            (parsed.sources, parsed.files, parsed.diagnostics)
        } else {
            let host = wangge_policy::RhaiHost::default();
            let c = wangge_policy::compile(sources, &host);
            (c.sources, c.files, c.diagnostics)
        };
        Analysis {
            decls: declarations(&files),
            files,
            sources,
            diagnostics,
            paths,
        }
    }
}

/// Whether a directory holds `.wg` files itself.
fn holds_policies(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|entries| {
        entries
            .flatten()
            .any(|e| e.path().extension().is_some_and(|x| x == "wg"))
    })
}

/// The `.wg` files under `dir` (not following deeper than a few levels).
fn collect(dir: &Path, out: &mut Vec<PathBuf>, depth: usize) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() && depth < 4 {
            collect(&p, out, depth + 1);
        } else if p.extension().is_some_and(|x| x == "wg") {
            out.push(p);
        }
    }
}
