//! The deploy gate: runs a bundle's scenarios for the policy registry, which
//! sees only [`wangge_app::ScenarioGate`].

use std::sync::Arc;

use wangge_app::ScenarioGate;
use wangge_dsl::Diagnostic;
use wangge_policy::{Compiled, PolicySet};

use crate::scenario::run_all;

/// Runs every scenario of a bundle on all cores.
#[derive(Debug, Clone, Copy, Default)]
pub struct ScenarioRunner;

impl ScenarioGate for ScenarioRunner {
    fn run(&self, set: &Arc<PolicySet>, compiled: &Compiled) -> Vec<Diagnostic> {
        let outcomes = run_all(
            set,
            &compiled.sources,
            &compiled.scenarios,
            None,
            std::thread::available_parallelism().map_or(1, |n| n.get()),
        );
        outcomes
            .iter()
            .flat_map(|o| {
                o.failures.iter().map(move |f| {
                    Diagnostic::error(
                        "wangge::scenario-failed",
                        f.span,
                        format!("scenario `{}`: {}", o.name, f.message),
                    )
                })
            })
            .collect()
    }
}
