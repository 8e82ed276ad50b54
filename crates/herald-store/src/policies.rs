//! Bucket policies: stored as the text the owner put, next to the id of
//! the bucket they were put on. The store does not parse them (the policy
//! engine is the server's); it only keeps them durable and tied to one
//! incarnation of a bucket name, so a bucket re-created under the same
//! name never inherits the old one's grants.

use redb::ReadableTable;
use serde::{Deserialize, Serialize};

use crate::Store;
use crate::commit::Applied;
use crate::error::{StoreError, StoreResult};
use crate::records::BucketRecord;
use crate::tables::{BUCKET_POLICIES, BUCKETS};

/// A bucket's policy as stored.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct BucketPolicyRecord {
    /// The id of the bucket the policy was put on.
    pub bucket_id: String,
    /// The document, exactly as the owner sent it.
    pub text: String,
}

impl Store {
    /// Sets (`Some`) or removes (`None`) the policy of `bucket`, the very
    /// bucket the caller was allowed on: if its name now belongs to another
    /// bucket (deleted and re-created meanwhile), `NoSuchBucket`, so a
    /// policy never lands on a bucket nobody decided about.
    ///
    /// A `public` policy is refused if the bucket's Block Public Access
    /// (as it is in this transaction) has `BlockPublicPolicy`.
    pub async fn set_bucket_policy(
        &self,
        bucket: &BucketRecord,
        text: Option<String>,
        public: bool,
    ) -> StoreResult<()> {
        let (name, expected_id) = (bucket.name.clone(), bucket.id.clone());
        self.write_shared(move |txn| {
            let buckets = txn.open_table(BUCKETS)?;
            let rec: BucketRecord = match buckets.get(name.as_str())? {
                Some(v) => serde_json::from_slice(v.value())?,
                None => return Err(StoreError::NoSuchBucket),
            };
            if rec.id != expected_id {
                return Err(StoreError::NoSuchBucket);
            }
            if public && rec.public_access().block_public_policy {
                return Err(StoreError::public_policy_blocked());
            }
            drop(buckets);
            let mut policies = txn.open_table(BUCKET_POLICIES)?;
            match text {
                Some(text) => {
                    let row = BucketPolicyRecord {
                        bucket_id: rec.id,
                        text,
                    };
                    policies.insert(name.as_str(), serde_json::to_vec(&row)?.as_slice())?;
                }
                None => {
                    policies.remove(name.as_str())?;
                }
            }
            Ok(Applied::new(()))
        })
        .await
    }

    /// The policy of bucket `bucket` (its current incarnation), if any.
    pub fn get_bucket_policy(&self, bucket: &BucketRecord) -> StoreResult<Option<BucketPolicyRecord>> {
        let txn = self.db().begin_read()?;
        let policies = txn.open_table(BUCKET_POLICIES)?;
        let Some(v) = policies.get(bucket.name.as_str())? else {
            return Ok(None);
        };
        let row: BucketPolicyRecord = serde_json::from_slice(v.value())?;
        Ok((row.bucket_id == bucket.id).then_some(row))
    }
}
