//! The one mapping from engine errors to gRPC statuses. Invalid input is
//! INVALID_ARGUMENT with `google.rpc.BadRequest` naming the field.

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};
use wangge_engine::case_error::CaseError;
use wangge_engine::incentives::IncentiveError;
use wangge_engine::EvalError;

/// INVALID_ARGUMENT naming `field`.
pub fn bad_request(field: &str, message: impl Into<String>) -> Status {
    let message = message.into();
    Status::with_error_details(
        Code::InvalidArgument,
        format!("invalid `{field}`: {message}"),
        ErrorDetails::with_bad_request_violation(field, message),
    )
}

pub fn eval_status(e: EvalError, input_field: &str) -> Status {
    let msg = e.to_string();
    match &e {
        EvalError::UnknownItem { .. } => Status::not_found(msg),
        EvalError::InputNotObject { .. }
        | EvalError::MissingInput { .. }
        | EvalError::UnknownInput { .. } => bad_request(input_field, msg),
        EvalError::HitPolicy { .. } | EvalError::ResultType { .. } => {
            Status::failed_precondition(msg)
        }
        EvalError::Script { .. } | EvalError::Limit { .. } => Status::internal(msg),
    }
}

pub fn case_status(e: CaseError) -> Status {
    let msg = e.to_string();
    match e {
        CaseError::UnknownWorkflow { .. } => bad_request("workflow", msg),
        CaseError::NotFound { .. } => Status::not_found(msg),
        CaseError::Classify { .. } | CaseError::Calendar(_) => Status::failed_precondition(msg),
        CaseError::Eval(e) => eval_status(e, "data_json"),
        CaseError::UnknownAction { .. } => bad_request("action", msg),
        CaseError::IllegalAction { .. }
        | CaseError::Paused { .. }
        | CaseError::NotPaused { .. }
        | CaseError::AtTop { .. }
        | CaseError::NoSummonHere { .. }
        | CaseError::NotSummoned { .. } => Status::failed_precondition(msg),
        CaseError::AlreadySummoned { .. } | CaseError::IdempotencyMismatch { .. } => {
            Status::already_exists(msg)
        }
        CaseError::VersionConflict { .. } => Status::aborted(msg),
        CaseError::InvalidArgument { field, message } => bad_request(&field, message),
        CaseError::Storage { .. } => Status::unavailable(msg),
    }
}

pub fn incentive_status(e: IncentiveError) -> Status {
    let msg = e.to_string();
    match e {
        IncentiveError::UnknownPerson { .. }
        | IncentiveError::NotSettled { .. }
        | IncentiveError::NotScored { .. } => Status::not_found(msg),
        IncentiveError::NoScheme { .. } | IncentiveError::InsufficientPoints { .. } => {
            Status::failed_precondition(msg)
        }
        IncentiveError::UnknownRule { what, .. } => {
            let field = match what {
                "activity kind" => "kind",
                "scorecard" => "scorecard",
                "award" => "award",
                _ => "rule",
            };
            bad_request(field, msg)
        }
        IncentiveError::InvalidArgument { field, message } => bad_request(&field, message),
        IncentiveError::KeyReused { .. } => Status::already_exists(msg),
        IncentiveError::Eval(e) => eval_status(e, "period"),
        IncentiveError::Store(e) => case_status(e),
    }
}
