//! The one error of the services, [`AppError`], and its [`ErrorKind`]: the
//! edge (gRPC, CLI) decides a status from the kind alone, in one place.
//! Nothing was written when a call fails.

use wangge_policy::{CaseError, EvalError};
use wangge_store::{StoreError, StoreErrorKind};

use crate::org::ImportError;

/// How the edge should answer a failed call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The request is wrong; [`AppError::field`] names the field.
    InvalidArgument,
    NotFound,
    /// The request is well formed but the state does not allow it.
    FailedPrecondition,
    AlreadyExists,
    /// A concurrent change won; read again and retry.
    Aborted,
    /// Storage cannot be reached now; a retry may succeed.
    Unavailable,
    /// A bug or damaged data; retrying will not help.
    Internal,
    /// The caller is known but not allowed this (deny by default).
    PermissionDenied,
}

/// Why a service call was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error, miette::Diagnostic)]
pub enum AppError {
    /// The workflow refused the action or report.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Case(#[from] CaseError),
    /// Evaluating a policy item failed (bad input or a failing script).
    #[error(transparent)]
    #[diagnostic(transparent)]
    Eval(#[from] EvalError),
    /// An organisation import was refused.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Org(#[from] ImportError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Store(#[from] StoreError),
    #[error("`{who}` may not {what}: {why}")]
    #[diagnostic(
        code(wangge::access::denied),
        help("grants are declared in the policy (`grant ROLE {{ … }}`)")
    )]
    PermissionDenied {
        who: String,
        what: String,
        why: String,
    },
    #[error("no person `{id}` in the organisation registry")]
    #[diagnostic(code(wangge::incentive::unknown_person))]
    UnknownPerson {
        id: String,
        #[help]
        help: Option<String>,
    },
    #[error("no subsidy scheme pays the role `{role}` of `{person}`")]
    #[diagnostic(
        code(wangge::incentive::no_scheme),
        help("schemes in the active policy pay: {known}")
    )]
    NoScheme {
        person: String,
        role: String,
        known: String,
    },
    /// An unknown activity kind, points rule, scorecard or award.
    #[error("no {what} `{name}`")]
    #[diagnostic(code(wangge::app::unknown_name))]
    UnknownRule {
        what: &'static str,
        name: String,
        #[help]
        help: Option<String>,
    },
    #[error("invalid `{field}`: {message}")]
    #[diagnostic(code(wangge::app::invalid_argument))]
    InvalidArgument { field: String, message: String },
    #[error("no task {id}")]
    #[diagnostic(
        code(wangge::task::not_found),
        help("`wangge task list` shows the tasks you may see")
    )]
    NoTask { id: u64 },
    /// A unit's part of a task cannot take this step now (already done …).
    #[error("{message}")]
    #[diagnostic(code(wangge::task::state))]
    TaskState { message: String },
    #[error("`{resident}` has {balance} points; redeeming needs {needed}")]
    #[diagnostic(code(wangge::points::insufficient))]
    InsufficientPoints {
        resident: String,
        balance: i64,
        needed: i64,
    },
    #[error("key `{key}` was already used for a different {what}")]
    #[diagnostic(code(wangge::app::key_reused))]
    KeyReused { key: String, what: &'static str },
    #[error("`{person}` has no settlement for {period}")]
    #[diagnostic(
        code(wangge::incentive::not_settled),
        help("settle the period first; a correction replaces a settlement")
    )]
    NotSettled { person: String, period: String },
    #[error("`{scorecard}` has not scored {period}")]
    #[diagnostic(
        code(wangge::evaluation::not_scored),
        help("score the level for the period first (ScoreLevel)")
    )]
    NotScored { scorecard: String, period: String },
    #[error("no unit `{id}`")]
    #[diagnostic(code(wangge::org::unknown_unit))]
    UnknownUnit { id: String },
    #[error("the new policy version drops workflows that open cases still run: {workflows}")]
    #[diagnostic(
        code(wangge::policy::orphans),
        help("keep these workflows in the bundle until their cases close; the active version is unchanged")
    )]
    Orphans { workflows: String },
    #[error("{period} has not ended; a month is settled once it is over")]
    #[diagnostic(
        code(wangge::incentive::period_open),
        help("settle it after its last day (on the policy's calendar offset)")
    )]
    PeriodOpen { period: String },
    #[error("`{person}` is already settled for {period}; activity cannot be added to it")]
    #[diagnostic(
        code(wangge::incentive::settled),
        help("record it as a correction (`correction: true`, CLI `--correction`), then `Correct` the settlement, which recomputes it with the late activity")
    )]
    Settled { person: String, period: String },
}

/// Results of the services.
pub type AppResult<T> = Result<T, AppError>;

/// INVALID_ARGUMENT naming `field`.
pub(crate) fn invalid(field: &str, message: impl Into<String>) -> AppError {
    AppError::InvalidArgument {
        field: field.to_string(),
        message: message.into(),
    }
}

fn eval_kind(e: &EvalError) -> ErrorKind {
    match e {
        EvalError::UnknownItem { .. } => ErrorKind::NotFound,
        EvalError::InputNotObject { .. }
        | EvalError::MissingInput { .. }
        | EvalError::UnknownInput { .. }
        | EvalError::InvalidInput { .. } => ErrorKind::InvalidArgument,
        EvalError::HitPolicy { .. } | EvalError::ResultType { .. } => ErrorKind::FailedPrecondition,
        // The policy failed at run time: the request is fine, the active
        // policy cannot answer it (not INTERNAL, which clients retry).
        EvalError::Script { .. } | EvalError::Limit { .. } => ErrorKind::FailedPrecondition,
    }
}

fn case_kind(e: &CaseError) -> ErrorKind {
    match e {
        CaseError::UnknownWorkflow { .. }
        | CaseError::UnknownAction { .. }
        | CaseError::UnknownOutcome { .. }
        | CaseError::InvalidArgument { .. } => ErrorKind::InvalidArgument,
        CaseError::NotFound { .. } => ErrorKind::NotFound,
        CaseError::Eval(e) => eval_kind(e),
        CaseError::Classify { .. }
        | CaseError::Calendar(_)
        | CaseError::IllegalAction { .. }
        | CaseError::Paused { .. }
        | CaseError::NotPaused { .. }
        | CaseError::AtTop { .. }
        | CaseError::NoSummonHere { .. }
        | CaseError::NotSummoned { .. } => ErrorKind::FailedPrecondition,
        CaseError::AlreadySummoned { .. } | CaseError::IdempotencyMismatch { .. } => {
            ErrorKind::AlreadyExists
        }
        CaseError::VersionConflict { .. } => ErrorKind::Aborted,
    }
}

fn store_kind(e: &StoreError) -> ErrorKind {
    match e.kind() {
        StoreErrorKind::NotFound => ErrorKind::NotFound,
        StoreErrorKind::Conflict => ErrorKind::Aborted,
        StoreErrorKind::Unavailable => ErrorKind::Unavailable,
        StoreErrorKind::Corrupt | StoreErrorKind::Internal => ErrorKind::Internal,
    }
}

impl AppError {
    /// How the edge should answer.
    pub fn kind(&self) -> ErrorKind {
        match self {
            AppError::Case(e) => case_kind(e),
            AppError::Eval(e) => eval_kind(e),
            AppError::Org(_) => ErrorKind::InvalidArgument,
            AppError::Store(e) => store_kind(e),
            AppError::UnknownPerson { .. }
            | AppError::NotSettled { .. }
            | AppError::NotScored { .. }
            | AppError::UnknownUnit { .. }
            | AppError::NoTask { .. } => ErrorKind::NotFound,
            AppError::NoScheme { .. }
            | AppError::InsufficientPoints { .. }
            | AppError::Orphans { .. }
            | AppError::PeriodOpen { .. }
            | AppError::Settled { .. }
            | AppError::TaskState { .. } => ErrorKind::FailedPrecondition,
            AppError::UnknownRule { .. } | AppError::InvalidArgument { .. } => {
                ErrorKind::InvalidArgument
            }
            AppError::KeyReused { .. } => ErrorKind::AlreadyExists,
            AppError::PermissionDenied { .. } => ErrorKind::PermissionDenied,
        }
    }

    /// The request field at fault, for INVALID_ARGUMENT. `input` is the
    /// field that carried the policy input of this call (an evaluation
    /// input error names it).
    pub fn field<'a>(&'a self, input: &'a str) -> Option<&'a str> {
        let eval_field = |e: &EvalError| match e {
            EvalError::InputNotObject { .. }
            | EvalError::MissingInput { .. }
            | EvalError::UnknownInput { .. }
            | EvalError::InvalidInput { .. } => Some(input),
            _ => None,
        };
        match self {
            AppError::Case(CaseError::UnknownWorkflow { .. }) => Some("workflow"),
            AppError::Case(CaseError::UnknownAction { .. }) => Some("action"),
            AppError::Case(CaseError::UnknownOutcome { .. }) => Some("outcome"),
            AppError::Case(CaseError::InvalidArgument { field, .. })
            | AppError::InvalidArgument { field, .. } => Some(field),
            AppError::Case(CaseError::Eval(e)) => eval_field(e).map(|_| "data_json"),
            AppError::Eval(e) => eval_field(e),
            AppError::Org(_) => Some("rows"),
            AppError::UnknownRule { what, .. } => Some(match *what {
                "activity kind" => "kind",
                "scorecard" => "scorecard",
                "award" => "award",
                "task" => "task",
                _ => "rule",
            }),
            _ => None,
        }
    }

    /// The message for the field violation: the inner message without the
    /// `invalid `field`:` prefix where there is one.
    pub fn violation(&self) -> String {
        match self {
            AppError::Case(CaseError::InvalidArgument { message, .. })
            | AppError::InvalidArgument { message, .. } => message.clone(),
            other => other.to_string(),
        }
    }
}
