//! Who sees what over SFTP. A user always sees their own buckets; another
//! user's bucket (or a part of it) only where the S3 access decision, the
//! one S3 requests go through (bucket policy, ACLs), lets them list it or
//! read an object. That decision lives in the server; this crate asks it
//! through [`BucketAccess`], so SFTP and S3 can never disagree.

use std::net::SocketAddr;
use std::sync::Arc;

use herald_store::BucketRecord;

/// The questions SFTP asks about buckets the user does not own.
pub trait BucketAccess: Send + Sync + 'static {
    /// Whether `user` (connected from `peer`) may list `bucket` under
    /// `prefix` (`s3:ListBucket` with `s3:prefix` and `s3:delimiter` `/`).
    fn may_list(&self, user: &str, peer: Option<SocketAddr>, bucket: &str, prefix: &str) -> bool;
    /// Whether `user` may read `bucket/key` (`s3:GetObject`).
    fn may_read(&self, user: &str, peer: Option<SocketAddr>, bucket: &str, key: &str) -> bool;
}

/// Grants nothing beyond ownership (when no decision is wired in).
pub struct OwnersOnly;

impl BucketAccess for OwnersOnly {
    fn may_list(&self, _: &str, _: Option<SocketAddr>, _: &str, _: &str) -> bool {
        false
    }

    fn may_read(&self, _: &str, _: Option<SocketAddr>, _: &str, _: &str) -> bool {
        false
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
    fn owns(&self, bucket: &BucketRecord) -> bool {
        bucket.owner == self.user
    }

    /// Whether the directory `prefix` of `bucket` may be listed.
    pub fn can_list(&self, bucket: &BucketRecord, prefix: &str) -> bool {
        self.owns(bucket) || self.access.may_list(&self.user, self.peer, &bucket.name, prefix)
    }

    /// Whether the object `key` of `bucket` may be read.
    pub fn can_read(&self, bucket: &BucketRecord, key: &str) -> bool {
        self.owns(bucket) || self.access.may_read(&self.user, self.peer, &bucket.name, key)
    }
}
