//! The one mapping from service errors to gRPC statuses: [`status`] decides
//! the code from [`AppError::kind`] alone. Invalid input is INVALID_ARGUMENT
//! with `google.rpc.BadRequest` naming the field.

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, FieldViolation, StatusExt};
use wangge_app::{AppError, ErrorKind};

/// INVALID_ARGUMENT naming `field` (checks made at the edge).
pub fn bad_request(field: &str, message: impl Into<String>) -> Status {
    let message = message.into();
    Status::with_error_details(
        Code::InvalidArgument,
        format!("invalid `{field}`: {message}"),
        ErrorDetails::with_bad_request_violation(field, message),
    )
}

/// PERMISSION_DENIED naming the request `field` that asked too much.
pub fn field_denied(field: &str, message: impl Into<String>) -> Status {
    let message = message.into();
    Status::with_error_details(
        Code::PermissionDenied,
        message.clone(),
        ErrorDetails::with_bad_request_violation(field, message),
    )
}

fn code(kind: ErrorKind) -> Code {
    match kind {
        ErrorKind::InvalidArgument => Code::InvalidArgument,
        ErrorKind::NotFound => Code::NotFound,
        ErrorKind::FailedPrecondition => Code::FailedPrecondition,
        ErrorKind::AlreadyExists => Code::AlreadyExists,
        ErrorKind::Aborted => Code::Aborted,
        ErrorKind::Unavailable => Code::Unavailable,
        ErrorKind::Internal => Code::Internal,
        ErrorKind::PermissionDenied => Code::PermissionDenied,
    }
}

/// The status of a failed service call. A policy input that fails
/// validation is reported under `input_json` (the field of `Evaluate`); a
/// report's data under `data_json`.
pub fn status(e: impl Into<AppError>) -> Status {
    let e = e.into();
    let code = code(e.kind());
    if let AppError::Org(import) = &e {
        let violations: Vec<FieldViolation> = import
            .errors
            .iter()
            .map(|r| FieldViolation::new(format!("{}:{}", import.file, r.line), r.message.clone()))
            .collect();
        return Status::with_error_details(
            code,
            e.to_string(),
            ErrorDetails::with_bad_request(violations),
        );
    }
    match (code, e.field("input_json")) {
        (Code::InvalidArgument, Some(field)) => bad_request(field, with_help(&e, e.violation())),
        _ => Status::new(code, with_help(&e, e.to_string())),
    }
}

/// A message with the error's help where it has one (the nearest valid
/// name, the actions allowed here …): `… has no action `立按`; did you
/// mean `立案`?`.
fn with_help(e: &AppError, message: String) -> String {
    match miette::Diagnostic::help(e) {
        Some(help) => format!("{message}; {help}"),
        None => message,
    }
}

/// A service result as a gRPC result.
pub fn app<T, E: Into<AppError>>(r: Result<T, E>) -> Result<T, Status> {
    r.map_err(status)
}
