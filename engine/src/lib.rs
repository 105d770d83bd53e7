//! The wangge engine: compiles a policy set's syntax tree into an executable,
//! immutable [`PolicySet`] (native decision tables, rhai rules and calcs in a
//! hardened host) and evaluates items with an explanation of every result.
//! It never imports gRPC or storage code and never reads the system clock
//! for domain time.

pub mod calc;
pub mod calendar;
pub mod case;
pub mod case_error;
pub mod cases;
pub mod clock;
pub mod coverage;
pub mod error;
pub mod evaluation;
pub mod explain;
pub mod export;
pub mod history;
pub mod host;
pub mod incentives;
pub mod ledger;
pub mod mem_store;
pub mod org;
pub mod parallel;
pub mod points;
pub mod policy;
pub mod registry;
pub mod replay;
pub mod rules;
pub mod scenario;
pub mod scorecard;
pub mod script;
pub mod store;
pub mod subsidy;
pub mod table;
pub mod value;
pub mod workflow;

pub use error::EvalError;
pub use explain::{Decision, Explanation};
pub use host::{build_engine, Limits, RhaiHost};
pub use policy::{compile, Compiled, Evaluable, PolicySet};
pub use wangge_dsl::resolve::BUILTIN_ACTIONS;

#[cfg(test)]
mod tests;

#[cfg(test)]
mod tests_cases;
#[cfg(test)]
mod tests_evaluation;
#[cfg(test)]
mod tests_history;
#[cfg(test)]
mod tests_incentives;
#[cfg(test)]
mod tests_org;
