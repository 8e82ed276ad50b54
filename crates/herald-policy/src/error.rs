//! Why a policy document was refused.
//!
//! Every message is a complete sentence meant to be sent back to the client
//! as the text of a `MalformedPolicy` (S3) or `InvalidAttributeValue`
//! (SNS/SQS) error, so it names the statement and the element at fault.

/// A policy document that [`crate::Policy::parse`] refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// The document is larger than [`crate::Limits::max_bytes`].
    #[error("Policy document is {size} bytes, more than the limit of {limit} bytes")]
    TooLarge { size: usize, limit: usize },
    /// Objects/arrays nest deeper than [`crate::Limits::max_depth`].
    #[error("Policy document nests JSON objects and arrays more than {limit} levels deep")]
    TooDeep { limit: usize },
    /// More statements than [`crate::Limits::max_statements`].
    #[error("Policy has {count} statements, more than the limit of {limit}")]
    TooManyStatements { count: usize, limit: usize },
    /// The text is not JSON (or repeats a key within one object).
    #[error("Policy is not valid JSON: {0}")]
    Json(String),
    /// The JSON is well formed but is not a valid policy; the text says why.
    #[error("{0}")]
    Invalid(String),
}

impl PolicyError {
    /// An [`PolicyError::Invalid`] error about the element at `at` (for
    /// example `Statement[2]`); an empty `at` is the document itself.
    pub(crate) fn at(at: &str, reason: impl std::fmt::Display) -> PolicyError {
        if at.is_empty() {
            PolicyError::Invalid(reason.to_string())
        } else {
            PolicyError::Invalid(format!("{at}: {reason}"))
        }
    }
}
