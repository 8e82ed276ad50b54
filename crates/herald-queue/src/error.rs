//! The engine's errors. It names what went wrong, not how a protocol spells
//! it: the SQS wire layer (herald-server) owns the codes of both its
//! protocols, so they are written down once.

use std::io;

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("The specified queue does not exist.")]
    QueueDoesNotExist,
    #[error("{0}")]
    QueueAlreadyExists(String),
    #[error("{0}")]
    InvalidAttributeName(String),
    #[error("{0}")]
    InvalidAttributeValue(String),
    #[error("{0}")]
    InvalidParameterValue(String),
    #[error("{0}")]
    MissingParameter(String),
    #[error("{0}")]
    MessageTooLong(String),
    #[error("{0}")]
    InvalidMessageContents(String),
    #[error("The input receipt handle is invalid.")]
    ReceiptHandleIsInvalid,
    #[error("The message referred to isn't in flight.")]
    MessageNotInflight,
    #[error("Maximum number of entries per request are 10.")]
    TooManyEntriesInBatchRequest,
    #[error("Two or more batch entries in the request have the same Id.")]
    BatchEntryIdsNotDistinct,
    #[error("The batch request doesn't contain any entries.")]
    EmptyBatchRequest,
    #[error(
        "A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most 80 letters long."
    )]
    InvalidBatchEntryId,
    #[error("Only one PurgeQueue operation on a queue is allowed every 60 seconds.")]
    PurgeQueueInProgress,
    /// A per-user quota was reached (the message names the limit).
    #[error("{0}")]
    OverLimit(String),
    #[error("We encountered an internal error. Please try again. ({0})")]
    Io(#[from] io::Error),
}
