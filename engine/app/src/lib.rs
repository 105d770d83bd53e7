//! The services over the storage ports: cases (reports, actions, timers),
//! the organisation registry, policy versions, incentives (activity,
//! subsidies, settlements), residents' points and evaluation (scores,
//! rankings). Every failure is one [`AppError`] whose [`ErrorKind`] the
//! edge turns into a status in one place.
//!
//! Depends on the policy layer and the store ports only: never on a
//! backend, gRPC or the test kit (a deployment's scenarios run through the
//! [`ScenarioGate`] interface).

pub mod access;
pub mod audit;
mod case_figures;
mod cases;
pub mod checks;
mod error;
mod evaluation;
mod incentives;
mod intake;
mod json;
mod ledger;
pub mod mask;
mod observe;
pub mod org;
mod organisation;
mod parallel;
mod period;
mod points;
mod registry;
mod tasks;

pub use case_figures::declared_classes;
pub use cases::{Acted, CaseFilter, CaseService, Report, Reported};
pub use error::{AppError, AppResult, ErrorKind};
pub use evaluation::{Evaluation, Survey};
pub use incentives::{Activity, Incentives, NewActivity, Settlement};
pub use intake::{Intake, Intaken, Link};
pub use json::parse_object;
pub use observe::CaseObserver;
pub use organisation::{Imported, Organisation};
pub use period::Period;
pub use points::PointsEntry;
pub use registry::{
    compile_files, read_dir, read_dir_with_tests, PolicyRegistry, Rejected, ScenarioGate,
    StoredPolicy,
};
pub use tasks::{
    PartRecord, PartStatus, PartView, Progress, ProgressRow, Step, Tally, TaskEvent, TaskHeader,
    TaskService,
};

/// When a write is made and by whom (the verified caller): what activity,
/// settlements and points entries record. A bare timestamp converts to a
/// stamp with no one named (tools and tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stamp {
    pub at: wangge_policy::Timestamp,
    pub by: Option<String>,
}

impl From<wangge_policy::Timestamp> for Stamp {
    fn from(at: wangge_policy::Timestamp) -> Stamp {
        Stamp { at, by: None }
    }
}
