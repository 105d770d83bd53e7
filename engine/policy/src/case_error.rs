//! Errors of case workflows (the pure state machine). Each variant maps to one gRPC
//! status at the edge (see the variant docs); nothing is written when an
//! action fails.

use crate::calendar::NoWorkingTime;
use crate::error::EvalError;

#[derive(Debug, Clone, PartialEq, thiserror::Error, miette::Diagnostic)]
pub enum CaseError {
    /// NOT_FOUND
    #[error("no workflow named `{name}`")]
    #[diagnostic(code(wangge::case::unknown_workflow))]
    UnknownWorkflow {
        name: String,
        #[help]
        help: Option<String>,
    },

    /// NOT_FOUND
    #[error("no case `{id}`")]
    #[diagnostic(code(wangge::case::not_found))]
    NotFound { id: u64 },

    /// FAILED_PRECONDITION: the policy gave something the workflow cannot use.
    #[error("workflow `{workflow}` cannot start the case: {message}")]
    #[diagnostic(code(wangge::case::classify))]
    Classify { workflow: String, message: String },

    /// INVALID_ARGUMENT (input) or INTERNAL (script failure)
    #[error(transparent)]
    #[diagnostic(transparent)]
    Eval(#[from] EvalError),

    /// INVALID_ARGUMENT
    #[error("workflow `{workflow}` has no action `{action}`")]
    #[diagnostic(code(wangge::case::unknown_action))]
    UnknownAction {
        workflow: String,
        action: String,
        #[help]
        help: Option<String>,
    },

    /// INVALID_ARGUMENT (field `outcome`)
    #[error("action `{action}` has no outcome `{outcome}`; its outcomes are {valid}")]
    #[diagnostic(code(wangge::case::unknown_outcome))]
    UnknownOutcome {
        action: String,
        outcome: String,
        valid: String,
    },

    /// FAILED_PRECONDITION
    #[error("action `{action}` is not allowed in state `{state}`")]
    #[diagnostic(code(wangge::case::illegal_action), help("{allowed}"))]
    IllegalAction {
        action: String,
        state: String,
        allowed: String,
    },

    /// FAILED_PRECONDITION
    #[error("case `{id}` is paused (挂账); resume it first")]
    #[diagnostic(code(wangge::case::paused))]
    Paused { id: u64 },

    /// FAILED_PRECONDITION
    #[error("case `{id}` is not paused")]
    #[diagnostic(code(wangge::case::not_paused))]
    NotPaused { id: u64 },

    /// FAILED_PRECONDITION
    #[error("case `{id}` is at `{level}`, the top of its ladder, and cannot escalate")]
    #[diagnostic(code(wangge::case::at_top))]
    AtTop { id: u64, level: String },

    /// FAILED_PRECONDITION
    #[error("departments cannot be summoned at `{level}`")]
    #[diagnostic(
        code(wangge::case::no_summon),
        help("the workflow's `summon` names the levels that summon departments")
    )]
    NoSummonHere { level: String },

    /// ALREADY_EXISTS
    #[error("department `{department}` is already summoned")]
    #[diagnostic(code(wangge::case::summoned))]
    AlreadySummoned { department: String },

    /// FAILED_PRECONDITION
    #[error("department `{department}` was not summoned or has already reported in")]
    #[diagnostic(code(wangge::case::not_summoned))]
    NotSummoned { department: String },

    /// ABORTED
    #[error("case `{id}` is at version {actual}, not {expected}")]
    #[diagnostic(
        code(wangge::case::version_conflict),
        help("read the case again and retry")
    )]
    VersionConflict { id: u64, expected: u64, actual: u64 },

    /// ALREADY_EXISTS
    #[error("idempotency key `{key}` was used for a different report")]
    #[diagnostic(code(wangge::case::idempotency))]
    IdempotencyMismatch { key: String },

    /// INVALID_ARGUMENT
    #[error("invalid `{field}`: {message}")]
    #[diagnostic(code(wangge::case::invalid_argument))]
    InvalidArgument { field: String, message: String },

    /// FAILED_PRECONDITION
    #[error(transparent)]
    #[diagnostic(transparent)]
    Calendar(#[from] NoWorkingTime),
}
