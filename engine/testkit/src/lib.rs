//! Test tooling over the services: the scenario runner (and the deploy gate
//! built on it), the recorded-history format with its generator, the fast
//! replay and its diff, export, and shared fixtures for tests and benches.
//!
//! Scenarios and replays run on a `ManualClock` and the in-memory store;
//! nothing here is linked into the services except through
//! [`wangge_app::ScenarioGate`].

pub mod bench;
mod export;
pub mod fixtures;
mod gate;
mod history;
mod replay;
mod scenario;

pub use export::{export, export_redacted, ExportError, ExportStats};
pub use gate::ScenarioRunner;
pub use history::{generate, replay as replay_through_service, GenConfig, Record, ReplayStats};
pub use replay::{replay, Aspect, ReplayOptions, ReplayReport, Totals};
pub use scenario::{run, run_all, Failure, Outcome};

#[cfg(test)]
mod tests_cases;
#[cfg(test)]
mod tests_evaluation;
#[cfg(test)]
mod tests_history;
#[cfg(test)]
mod tests_incentives;
#[cfg(test)]
mod tests_listing;
#[cfg(test)]
mod tests_org;
#[cfg(test)]
mod tests_tasks;
