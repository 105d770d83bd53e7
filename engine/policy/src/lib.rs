//! The policy layer: compiles a policy set's syntax tree (from `wangge-dsl`)
//! into an executable, immutable [`PolicySet`] and evaluates it.
//!
//! - **Items**: decision tables (native unary tests, DMN hit policies), rule
//!   sets and calcs (rhai in a hardened [`RhaiHost`]), each evaluated with an
//!   [`Explanation`] and stamped with the policy version.
//! - **Time**: [`CompiledCalendar`] and the three clocks; domain time only
//!   comes from a [`Clock`].
//! - **Workflows**: the pure case state machine (`open`, `act`, `fire` on a
//!   [`Case`]), no storage, no locking.
//! - **Money and scores**: subsidy arithmetic ([`Breakdown`]) and scorecards
//!   ([`Score`]) in `rust_decimal`.
//!
//! Pure by rule (enforced by the layering test): no I/O, no threads, no
//! storage, no async runtime, no CSV.

mod access;
mod calc;
mod calendar;
mod case;
mod case_error;
mod clock;
mod compose;
mod coverage;
mod error;
mod explain;
mod host;
mod intake;
mod items;
pub mod org;
mod policy;
mod reads;
mod report_context;
mod rules;
mod schema;
mod schema_reads;
mod scorecard;
mod script;
mod script_reads;
mod subsidy;
mod table;
mod table_index;
mod task;
mod value;
mod workflow;
mod zone;

pub use access::{GrantDef, Grants, Permission};
pub use calendar::{format_ts, parse_ts, CompiledCalendar, NoWorkingTime};
pub use case::{Breach, Case, CaseEvent, CaseId, Deadline, DeadlineKind, Incident, Summon, Why};
pub use case_error::CaseError;
pub use clock::{Clock, ManualClock, SystemClock, Timestamp, LATEST_TIMESTAMP};
pub use coverage::{decision_hits, event_hits, Hit, Kind as TargetKind, Target};
pub use error::EvalError;
pub use explain::{short_hash, Decision, Explanation};
pub use host::{build_engine, Limits, RhaiHost};
pub use intake::{CompiledIntake, Mapped, Misread};
pub use items::Items;
pub use org::{
    PartyOrgDef, PartyRequirement, PartyTree, Person, Position, RoleDef, Unit, UNIT_KINDS,
};
pub use policy::{compile, content_hash, Compiled, Evaluable, PolicySet};
pub use reads::{check_fields, FieldKind, ReadField};
pub use schema::{CompiledSchema, FieldTy, Misfit, SchemaField};
pub use scorecard::{CompiledScorecard, IndicatorScore, PenaltyScore, Ranked, Score};
pub use subsidy::{rhai_map, Breakdown, CompiledSubsidy, LineItem, Params};
pub use task::{CompiledTask, Completion, Needs};
pub use value::{dynamic_to_json, json_num, json_to_dynamic, ExactJson};
pub use wangge_dsl::resolve::BUILTIN_ACTIONS;
pub use workflow::{Action, Actor, Change, CompiledWorkflow};
pub use zone::Zone;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_index;
