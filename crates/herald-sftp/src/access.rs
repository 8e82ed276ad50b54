//! Who sees what over SFTP: what the S3 access decision, the one S3
//! requests go through (ownership, bucket policy with its denies, ACLs),
//! lets the user list or read. That decision lives in the server; this
//! crate asks it through [`BucketAccess`], so SFTP and S3 can never
//! disagree. Without one ([`OwnersOnly`]) users see their own buckets.

use std::net::SocketAddr;
use std::sync::Arc;

use herald_store::BucketRecord;

/// The questions SFTP asks about a bucket, the user's own included.
pub trait BucketAccess: Send + Sync + 'static {
    /// Whether `user` (connected from `peer`) may list `bucket` under
    /// `prefix` (`s3:ListBucket` with `s3:prefix` and `s3:delimiter` `/`).
    fn may_list(&self, user: &str, peer: Option<SocketAddr>, bucket: &BucketRecord, prefix: &str) -> bool;
    /// Whether `user` may read `bucket/key` (`s3:GetObject`).
    fn may_read(&self, user: &str, peer: Option<SocketAddr>, bucket: &BucketRecord, key: &str) -> bool;
}

/// Owners see their buckets, nobody else anything (when no decision is
/// wired in).
pub struct OwnersOnly;

impl BucketAccess for OwnersOnly {
    fn may_list(&self, user: &str, _: Option<SocketAddr>, bucket: &BucketRecord, _: &str) -> bool {
        bucket.owner == user
    }

    fn may_read(&self, user: &str, _: Option<SocketAddr>, bucket: &BucketRecord, _: &str) -> bool {
        bucket.owner == user
    }
}

/// One logged-in user and what decides for them.
#[derive(Clone)]
pub struct Viewer {
    pub user: String,
    pub peer: Option<SocketAddr>,
    pub access: Arc<dyn BucketAccess>,
}

impl Viewer {
    /// Whether the directory `prefix` of `bucket` may be listed.
    pub fn can_list(&self, bucket: &BucketRecord, prefix: &str) -> bool {
        self.access.may_list(&self.user, self.peer, bucket, prefix)
    }

    /// Whether the object `key` of `bucket` may be read.
    pub fn can_read(&self, bucket: &BucketRecord, key: &str) -> bool {
        self.access.may_read(&self.user, self.peer, bucket, key)
    }
}
