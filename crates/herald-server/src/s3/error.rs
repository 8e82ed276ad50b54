//! Maps store errors to the S3 error a real client expects.

use herald_store::StoreError;
use s3s::{S3Error, S3ErrorCode};

/// Converts a store error into the S3 error AWS would return.
pub fn s3_err(e: StoreError) -> S3Error {
    use S3ErrorCode as C;
    let (code, msg): (S3ErrorCode, String) = match &e {
        StoreError::NoSuchBucket => (C::NoSuchBucket, e.to_string()),
        StoreError::NoSuchKey => (C::NoSuchKey, e.to_string()),
        StoreError::NoSuchVersion => (C::NoSuchVersion, e.to_string()),
        StoreError::BucketAlreadyExists => (C::BucketAlreadyExists, e.to_string()),
        StoreError::BucketAlreadyOwnedByYou => (C::BucketAlreadyOwnedByYou, e.to_string()),
        StoreError::BucketNotEmpty => (C::BucketNotEmpty, e.to_string()),
        StoreError::NoSuchUpload => (C::NoSuchUpload, e.to_string()),
        StoreError::InvalidPart(_) => (C::InvalidPart, e.to_string()),
        StoreError::InvalidPartOrder => (C::InvalidPartOrder, e.to_string()),
        StoreError::EntityTooSmall(_) => (C::EntityTooSmall, e.to_string()),
        StoreError::BadDigest => (C::BadDigest, e.to_string()),
        StoreError::PreconditionFailed => (C::PreconditionFailed, e.to_string()),
        StoreError::MethodNotAllowedOnDeleteMarker => (C::MethodNotAllowed, e.to_string()),
        StoreError::InvalidRange => (C::InvalidRange, e.to_string()),
        StoreError::InvalidArgument(m) => (C::InvalidArgument, m.clone()),
        StoreError::BodyStream(m) => return super::checksum::body_error(m),
        StoreError::ShuttingDown => (C::ServiceUnavailable, e.to_string()),
        StoreError::Refused { code, status, message } => {
            let mut err = S3Error::with_message(
                C::from_bytes(code.as_bytes()).unwrap_or(C::Custom((*code).into())),
                message.clone(),
            );
            err.set_status_code(http::StatusCode::from_u16(*status).unwrap_or(http::StatusCode::FORBIDDEN));
            return err;
        }
        StoreError::TooManyBuckets(_) => (C::TooManyBuckets, e.to_string()),
        // S3 has no code for this limit of Herald's; a 400 named after it.
        StoreError::TooManyUploads(_) => {
            let mut err = S3Error::with_message(C::Custom("TooManyUploads".into()), e.to_string());
            err.set_status_code(http::StatusCode::BAD_REQUEST);
            return err;
        }
        StoreError::UserExists(_)
        | StoreError::NoSuchUser(_)
        | StoreError::AccessKeyInUse(_)
        | StoreError::UserOwnsBuckets { .. }
        | StoreError::UserOwnsTopics { .. }
        | StoreError::TooManyTopics(_) => (C::InvalidArgument, e.to_string()),
        StoreError::ConcurrentTopicChange(_) => (C::OperationAborted, e.to_string()),
        StoreError::Io(_) | StoreError::Db(_) | StoreError::Corrupt(_) => {
            tracing::error!(error = %e, "internal store error");
            (
                C::InternalError,
                "We encountered an internal error. Please try again.".into(),
            )
        }
    };
    S3Error::with_message(code, msg)
}

/// `?`-friendly conversion for store results.
pub trait StoreResultExt<T> {
    fn s3(self) -> s3s::S3Result<T>;
}

impl<T> StoreResultExt<T> for Result<T, StoreError> {
    fn s3(self) -> s3s::S3Result<T> {
        self.map_err(s3_err)
    }
}
