//! The store's error type. Every variant maps to one S3 error code in the
//! server, so clients see exactly what AWS would send.

/// What went wrong in a store operation.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the specified bucket does not exist")]
    NoSuchBucket,
    #[error("the specified key does not exist")]
    NoSuchKey,
    #[error("the specified version does not exist")]
    NoSuchVersion,
    #[error("the requested bucket name is not available")]
    BucketAlreadyExists,
    #[error("your previous request to create the named bucket succeeded and you already own it")]
    BucketAlreadyOwnedByYou,
    #[error("the bucket you tried to delete is not empty")]
    BucketNotEmpty,
    #[error("the specified multipart upload does not exist")]
    NoSuchUpload,
    #[error("one or more of the specified parts could not be found or its entity tag did not match: {0}")]
    InvalidPart(String),
    #[error("the list of parts was not in ascending order")]
    InvalidPartOrder,
    #[error("your proposed upload is smaller than the minimum allowed object size (part {0})")]
    EntityTooSmall(u32),
    #[error("the Content-MD5 you specified did not match what we received")]
    BadDigest,
    #[error("at least one of the preconditions you specified did not hold")]
    PreconditionFailed,
    #[error("the specified method is not allowed against this resource (it is a delete marker)")]
    MethodNotAllowedOnDeleteMarker,
    #[error("the requested range is not satisfiable")]
    InvalidRange,
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    #[error("user {0} already exists")]
    UserExists(String),
    #[error("no such user: {0}")]
    NoSuchUser(String),
    #[error("access key {0} is already in use")]
    AccessKeyInUse(String),
    #[error("user {user} still owns {buckets} bucket(s); delete them first")]
    UserOwnsBuckets { user: String, buckets: usize },
    #[error("user {user} still owns {topics} topic(s); delete them first")]
    UserOwnsTopics { user: String, topics: u64 },
    #[error(
        "You have attempted to create more buckets than allowed: the limit is {0} buckets per user (max-buckets-per-user)"
    )]
    TooManyBuckets(u64),
    #[error("Topic limit exceeded: the limit is {0} topics per user (max-topics-per-user)")]
    TooManyTopics(u64),
    /// The topic was created, changed or deleted by another request since
    /// this one read it (see `TopicExpectation`).
    #[error("topic {0} was changed by another request meanwhile; retry")]
    ConcurrentTopicChange(String),
    #[error(
        "You have too many multipart uploads in progress: the limit is {0} per user (max-multipart-uploads-per-user); complete or abort some first"
    )]
    TooManyUploads(u64),
    /// The request body could not be read to its end (client gone, bad
    /// chunk signature, checksum mismatch): the message says which.
    #[error("request body: {0}")]
    BodyStream(String),
    #[error("the store is shutting down")]
    ShuttingDown,
    /// A check made inside the write transaction, against the records as
    /// they are now, refused the change (`code` is the S3 error code).
    #[error("{message}")]
    Refused {
        code: &'static str,
        status: u16,
        message: String,
    },
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("metadata database error: {0}")]
    Db(String),
    #[error("corrupt metadata record: {0}")]
    Corrupt(String),
}

macro_rules! db_error_from {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self {
                StoreError::Db(e.to_string())
            }
        }
    )*};
}

db_error_from!(
    redb::Error,
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        StoreError::Corrupt(e.to_string())
    }
}

/// Result alias for store operations.
pub type StoreResult<T> = Result<T, StoreError>;

/// The refusals of access settings, one wording each, whether the request
/// is refused up front or by the re-check inside the write transaction.
impl StoreError {
    /// A public ACL on a bucket whose Block Public Access has
    /// `BlockPublicAcls` (403 `AccessDenied`).
    pub fn public_acls_blocked() -> StoreError {
        StoreError::Refused {
            code: "AccessDenied",
            status: 403,
            message: "Access Denied: the bucket's Block Public Access settings (BlockPublicAcls) refuse public ACLs"
                .into(),
        }
    }

    /// A public policy on a bucket whose Block Public Access has
    /// `BlockPublicPolicy` (403 `AccessDenied`).
    pub fn public_policy_blocked() -> StoreError {
        StoreError::Refused {
            code: "AccessDenied",
            status: 403,
            message:
                "Access Denied: the bucket's Block Public Access settings (BlockPublicPolicy) refuse public policies"
                    .into(),
        }
    }

    /// An ACL on a bucket whose ownership controls turned ACLs off
    /// (`BucketOwnerEnforced`; 400 `AccessControlListNotSupported`).
    pub fn acls_not_supported() -> StoreError {
        StoreError::Refused {
            code: "AccessControlListNotSupported",
            status: 400,
            message: "The bucket does not allow ACLs".into(),
        }
    }
}

/// The refusals of Object Lock (see `herald_model::lock`).
impl StoreError {
    /// A lock rule refused the change; the code is S3's for that rule.
    pub fn lock(e: herald_model::lock::LockError) -> StoreError {
        use herald_model::lock::LockError as L;
        let (code, status) = match &e {
            L::Malformed(_) => ("MalformedXML", 400),
            L::InvalidPeriod => ("InvalidRetentionPeriod", 400),
            L::InvalidArgument(_) => ("InvalidArgument", 400),
            L::Protected(_) => ("AccessDenied", 403),
        };
        StoreError::Refused {
            code,
            status,
            message: e.to_string(),
        }
    }

    /// Retention or a legal hold asked of a bucket without Object Lock
    /// (400 `InvalidRequest`, as S3).
    pub fn object_lock_not_enabled() -> StoreError {
        StoreError::Refused {
            code: "InvalidRequest",
            status: 400,
            message: "Bucket is missing Object Lock Configuration".into(),
        }
    }

    /// A bucket state that forbids the change (409 `InvalidBucketState`).
    pub fn invalid_bucket_state(message: &str) -> StoreError {
        StoreError::Refused {
            code: "InvalidBucketState",
            status: 409,
            message: message.into(),
        }
    }
}
