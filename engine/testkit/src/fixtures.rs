//! Shared fixtures for tests and benches: the shipped policy set (compiled
//! once per call, with extra files if a test adds some), and the folder it
//! lives in. Failures come back as rendered diagnostics, never a panic.

use std::path::PathBuf;
use std::sync::Arc;

use wangge_app::{compile_files, read_dir};
use wangge_policy::{PolicySet, RhaiHost};

/// The workspace's shipped `policies/` folder.
pub fn policies_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../policies")
}

/// The shipped policies compiled, without their scenarios.
pub fn shipped() -> Result<Arc<PolicySet>, String> {
    shipped_with(&[])
}

/// The shipped policies plus `extra` (file name, text) files, compiled.
pub fn shipped_with(extra: &[(&str, &str)]) -> Result<Arc<PolicySet>, String> {
    let dir = policies_dir();
    let mut files = read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    files.extend(extra.iter().map(|(n, t)| (n.to_string(), t.to_string())));
    let c = compile_files(&files, &RhaiHost::default());
    c.set
        .map(Arc::new)
        .ok_or_else(|| wangge_dsl::render(&c.diagnostics, &c.sources, false))
}
