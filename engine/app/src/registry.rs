//! Policy versions a server has compiled: validated bundles stored by
//! content hash, so an earlier version can be activated again. A bundle
//! that does not compile is never stored or activated.

use std::path::Path;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use wangge_dsl::{Diagnostic, SourceFile, SourceSet};

use wangge_policy::{compile, Compiled, PolicySet, RhaiHost, Timestamp};
use wangge_store::{decode, encode, Store, StoreError};

use crate::error::{invalid, AppResult};

/// A stored policy bundle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredPolicy {
    pub hash: String,
    pub name: Option<String>,
    pub label: Option<String>,
    /// When this server first compiled it.
    pub deployed_at: Timestamp,
    /// File name and text, in path order.
    pub files: Vec<(String, String)>,
    /// Tables, rule sets, calcs and workflows.
    pub items: Vec<String>,
}

/// Why a bundle was refused: its diagnostics (with sources to render them).
#[derive(Debug)]
pub struct Rejected {
    pub sources: SourceSet,
    pub diagnostics: Vec<Diagnostic>,
}

/// Compiles a bundle of (name, text) files.
pub fn compile_files(files: &[(String, String)], host: &RhaiHost) -> Compiled {
    let mut sorted: Vec<&(String, String)> = files.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let mut sources = SourceSet::default();
    for (name, text) in sorted {
        sources.add(SourceFile::new(name.clone(), text.as_str()));
    }
    compile(sources, host)
}

/// Reads a policy folder as a bundle (names relative to the folder),
/// without its scenario files.
pub fn read_dir(dir: &Path) -> Result<Vec<(String, String)>, wangge_dsl::source::LoadError> {
    bundle_of(dir, wangge_dsl::source::load(dir)?)
}

/// Reads a policy folder as a bundle with its scenario files (`*.test.wg`),
/// which a deployment runs before it activates the version.
pub fn read_dir_with_tests(
    dir: &Path,
) -> Result<Vec<(String, String)>, wangge_dsl::source::LoadError> {
    bundle_of(dir, wangge_dsl::source::load_with_tests(dir)?)
}

fn bundle_of(
    dir: &Path,
    set: SourceSet,
) -> Result<Vec<(String, String)>, wangge_dsl::source::LoadError> {
    let prefix = dir.display().to_string();
    if let Some((f, at)) = set
        .files
        .iter()
        .find_map(|f| f.invalid_utf8.map(|at| (f, at)))
    {
        return Err(wangge_dsl::source::LoadError::Encoding {
            path: f.name.clone(),
            line: f.line_col(at).line,
        });
    }
    Ok(set
        .files
        .iter()
        .map(|f| {
            let name = f
                .name
                .strip_prefix(&prefix)
                .map(|n| n.trim_start_matches('/').to_string())
                .unwrap_or_else(|| f.name.clone());
            (name, f.text.to_string())
        })
        .collect())
}

/// Runs a bundle's scenarios before its version may activate. The test
/// kit implements it (`wangge_testkit::ScenarioRunner`); the registry only
/// sees this interface.
pub trait ScenarioGate: Send + Sync {
    /// One error diagnostic per failed expectation, at its place in the
    /// scenario file; empty when every scenario passes.
    fn run(&self, set: &Arc<PolicySet>, compiled: &Compiled) -> Vec<Diagnostic>;
}

/// The versions a server knows, persisted in its store.
pub struct PolicyRegistry {
    store: Arc<dyn Store>,
    host: RhaiHost,
    gate: Arc<dyn ScenarioGate>,
    versions: Mutex<Vec<StoredPolicy>>,
}

fn items_of(set: &PolicySet) -> Vec<String> {
    set.items()
        .map(|(n, _)| n.to_string())
        .chain(set.workflows().map(|w| w.name.clone()))
        .collect()
}

/// The versions in `store`, newest first.
fn stored_versions(store: &dyn Store) -> AppResult<Vec<StoredPolicy>> {
    let mut versions: Vec<StoredPolicy> = store
        .policies()?
        .iter()
        .map(|(_, v)| decode(v))
        .collect::<Result<_, _>>()?;
    versions.sort_by(|a, b| b.deployed_at.cmp(&a.deployed_at).then(a.hash.cmp(&b.hash)));
    Ok(versions)
}

impl PolicyRegistry {
    /// The registry over `store`; deployments run their scenarios through
    /// `gate`.
    pub fn open(
        store: Arc<dyn Store>,
        host: RhaiHost,
        gate: Arc<dyn ScenarioGate>,
    ) -> AppResult<PolicyRegistry> {
        let versions = stored_versions(store.as_ref())?;
        Ok(PolicyRegistry {
            store,
            host,
            gate,
            versions: Mutex::new(versions),
        })
    }

    /// Reads the stored versions again: those other servers sharing the
    /// database deployed are known from then on.
    pub fn refresh(&self) -> AppResult<()> {
        let versions = stored_versions(self.store.as_ref())?;
        if let Ok(mut known) = self.versions.lock() {
            *known = versions;
        }
        Ok(())
    }

    /// Compiles `files`; on success stores the bundle (if new) and returns
    /// the compiled set, its record and its warnings. Nothing is stored on error.
    pub fn deploy(
        &self,
        files: Vec<(String, String)>,
        now: Timestamp,
    ) -> Result<(Arc<PolicySet>, StoredPolicy, Compiled), Rejected> {
        let compiled = compile_files(&files, &self.host);
        let Some(set) = compiled.set.clone() else {
            return Err(Rejected {
                sources: compiled.sources,
                diagnostics: compiled.diagnostics,
            });
        };
        let set = Arc::new(set);
        // The bundle's scenarios must pass before the version goes live.
        if !compiled.scenarios.is_empty() {
            let failures = self.gate.run(&set, &compiled);
            if !failures.is_empty() {
                return Err(Rejected {
                    sources: compiled.sources,
                    diagnostics: failures,
                });
            }
        }
        let record = self.remember(&set, files, now).map_err(|e| Rejected {
            sources: SourceSet::default(),
            diagnostics: vec![Diagnostic::error(
                "wangge::store",
                wangge_dsl::Span::default(),
                e.to_string(),
            )],
        })?;
        Ok((set, record, compiled))
    }

    fn remember(
        &self,
        set: &PolicySet,
        files: Vec<(String, String)>,
        now: Timestamp,
    ) -> AppResult<StoredPolicy> {
        let mut versions = self
            .versions
            .lock()
            .map_err(|_| StoreError::internal("policy registry poisoned"))?;
        if let Some(existing) = versions.iter().find(|v| *v.hash == *set.hash) {
            return Ok(existing.clone());
        }
        let record = StoredPolicy {
            hash: set.hash.to_string(),
            name: set.name.clone(),
            label: set.label.clone(),
            deployed_at: now,
            files,
            items: items_of(set),
        };
        self.store.put_policy(&record.hash, &encode(&record)?)?;
        versions.insert(0, record.clone());
        Ok(record)
    }

    /// Compiles a stored version again (for rollback).
    pub fn load(&self, hash: &str) -> AppResult<Arc<PolicySet>> {
        let versions = self.list();
        let Some(v) = versions
            .iter()
            .find(|v| v.hash == hash || (hash.len() >= 8 && v.hash.starts_with(hash)))
        else {
            return Err(invalid(
                "hash",
                format!("no stored policy version `{hash}`"),
            ));
        };
        compile_files(&v.files, &self.host)
            .set
            .map(Arc::new)
            .ok_or_else(|| {
                StoreError::corrupt(format!("stored policy version `{hash}` no longer compiles"))
                    .into()
            })
    }

    /// Every known version, newest first.
    pub fn list(&self) -> Vec<StoredPolicy> {
        self.versions.lock().map(|v| v.clone()).unwrap_or_default()
    }
}
