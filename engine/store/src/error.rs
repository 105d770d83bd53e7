//! The one storage error: a kind that callers decide on (retry, report,
//! refuse to start) and the source it came from.

use std::fmt;
use std::sync::Arc;

/// What kind of storage failure this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StoreErrorKind {
    /// The record the caller named does not exist.
    NotFound,
    /// The write conflicts with what is stored (a version or key clash).
    Conflict,
    /// The storage cannot be reached or written now; a retry may succeed.
    Unavailable,
    /// A stored record cannot be read: the data is damaged or from another
    /// format version.
    Corrupt,
    /// A bug or a poisoned lock inside the backend.
    Internal,
}

impl fmt::Display for StoreErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StoreErrorKind::NotFound => "not found",
            StoreErrorKind::Conflict => "conflict",
            StoreErrorKind::Unavailable => "unavailable",
            StoreErrorKind::Corrupt => "corrupt data",
            StoreErrorKind::Internal => "internal error",
        })
    }
}

/// A storage failure. Nothing the failed call was asked to write was
/// written.
#[derive(Debug, Clone, thiserror::Error, miette::Diagnostic)]
#[error("storage failed ({kind}): {message}")]
#[diagnostic(code(wangge::store))]
pub struct StoreError {
    kind: StoreErrorKind,
    message: String,
    #[source]
    source: Option<Arc<dyn std::error::Error + Send + Sync>>,
}

impl PartialEq for StoreError {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind && self.message == other.message
    }
}

impl StoreError {
    /// An error of `kind` with a message (lowercase, names in backticks).
    pub fn new(kind: StoreErrorKind, message: impl Into<String>) -> StoreError {
        StoreError {
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// An error of `kind` caused by `source`; the message says what was
    /// being done.
    pub fn with_source(
        kind: StoreErrorKind,
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> StoreError {
        StoreError {
            kind,
            message: format!("{}: {source}", message.into()),
            source: Some(Arc::new(source)),
        }
    }

    pub fn not_found(message: impl Into<String>) -> StoreError {
        StoreError::new(StoreErrorKind::NotFound, message)
    }

    pub fn conflict(message: impl Into<String>) -> StoreError {
        StoreError::new(StoreErrorKind::Conflict, message)
    }

    pub fn unavailable(message: impl Into<String>) -> StoreError {
        StoreError::new(StoreErrorKind::Unavailable, message)
    }

    pub fn corrupt(message: impl Into<String>) -> StoreError {
        StoreError::new(StoreErrorKind::Corrupt, message)
    }

    pub fn internal(message: impl Into<String>) -> StoreError {
        StoreError::new(StoreErrorKind::Internal, message)
    }

    pub fn kind(&self) -> StoreErrorKind {
        self.kind
    }

    /// The message without the kind.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// A record that could not be decoded is corrupt.
impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> StoreError {
        StoreError::with_source(StoreErrorKind::Corrupt, "a stored record cannot be read", e)
    }
}
