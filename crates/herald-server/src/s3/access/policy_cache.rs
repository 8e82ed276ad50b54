//! The parsed bucket policies kept in memory, so a request costs a map
//! lookup rather than a parse; apart from the decision that reads them.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use herald_policy::Policy;
use herald_store::BucketRecord;

/// Parsed bucket policies, by bucket name, tied to the bucket's id (a
/// bucket re-created under the same name starts without one). Filled
/// lazily from the store and replaced by Put/DeleteBucketPolicy, so a
/// request costs a map lookup, not a parse.
#[derive(Default)]
pub struct PolicyCache {
    by_bucket: RwLock<HashMap<String, Cached>>,
}

#[derive(Clone)]
struct Cached {
    bucket_id: String,
    policy: Option<Arc<Policy>>,
}

impl PolicyCache {
    pub(super) fn get(&self, bucket: &BucketRecord) -> Option<Option<Arc<Policy>>> {
        let map = self.by_bucket.read().expect("policy cache lock");
        map.get(&bucket.name)
            .filter(|c| c.bucket_id == bucket.id)
            .map(|c| c.policy.clone())
    }

    /// Caches what a request read from the store, unless a Put or Delete
    /// got there first (its newer policy must not be overwritten by an
    /// older read).
    pub(super) fn fill(&self, bucket: &BucketRecord, policy: Option<Arc<Policy>>) {
        let mut map = self.by_bucket.write().expect("policy cache lock");
        match map.get(&bucket.name) {
            Some(c) if c.bucket_id == bucket.id => {}
            _ => {
                map.insert(
                    bucket.name.clone(),
                    Cached {
                        bucket_id: bucket.id.clone(),
                        policy,
                    },
                );
            }
        }
    }

    /// Drops a bucket's cached policy (another node of a cluster changed
    /// it: the next request reads it from the store).
    pub(crate) fn forget(&self, bucket: &str) {
        self.by_bucket.write().expect("policy cache lock").remove(bucket);
    }

    pub(crate) fn set(&self, bucket: &BucketRecord, policy: Option<Arc<Policy>>) {
        self.by_bucket.write().expect("policy cache lock").insert(
            bucket.name.clone(),
            Cached {
                bucket_id: bucket.id.clone(),
                policy,
            },
        );
    }
}

/// The limits a bucket policy is parsed under (S3's 20 KiB).
pub const BUCKET_POLICY_LIMITS: herald_policy::Limits = herald_policy::Limits {
    services: &["s3"],
    ..herald_policy::Limits::DEFAULT
};
