//! Loading a policy directory (or one file) for a command: compile it and,
//! when it does not compile, print its errors with code frames.

use std::path::Path;

use wangge_dsl::render;
use wangge_policy::{compile, PolicySet, RhaiHost};

/// The compiled policy set at `path`, or `None` after printing why not.
pub fn load(path: &Path) -> Option<PolicySet> {
    let sources = match wangge_dsl::source::load(path) {
        Ok(s) => s,
        Err(e) => {
            crate::report(e);
            return None;
        }
    };
    let compiled = compile(sources, &RhaiHost::default());
    match compiled.set {
        Some(set) => Some(set),
        None => {
            let errors: Vec<_> = compiled
                .diagnostics
                .into_iter()
                .filter(|d| d.is_error())
                .collect();
            eprint!("{}", render(&errors, &compiled.sources, false));
            eprintln!(
                "error: the policy set `{}` has {} error(s); run `wangge check`",
                path.display(),
                errors.len()
            );
            None
        }
    }
}
