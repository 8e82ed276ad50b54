//! Per-user quotas: what an operator allows one tenant to hold, so no
//! tenant can exhaust the metadata database (or the runtime's memory) for
//! everyone else.
//!
//! The counts the store enforces (buckets, open multipart uploads per user)
//! live in the `quota_counts` table and change in the same transaction as
//! the records they count. Write transactions are serialized by the group
//! committer, and a closure checks the count before it writes, so two
//! concurrent creates can never exceed a limit: the guarantee is exact.
//! Checking costs one point lookup, never a scan. Topics are counted per
//! owner too: their table is keyed by the ARN's account, which in Ceph
//! mode is a tenant shared by many users.
//!
//! The counters are rebuilt from the records at every open (one pass over
//! buckets, uploads and topics), so data written before they existed, or by an
//! older version, is counted right.

use redb::{ReadableTable, TableDefinition};

use crate::error::StoreResult;
use crate::records::{BucketRecord, UploadRecord};
use crate::tables::{BUCKETS, TOPICS, UPLOADS};

/// (kind, user) -> how many the user has.
pub(crate) const QUOTA_COUNTS: TableDefinition<(&str, &str), u64> = TableDefinition::new("quota_counts");

/// Counter kinds.
pub(crate) const BUCKETS_KIND: &str = "buckets";
pub(crate) const UPLOADS_KIND: &str = "uploads";
pub(crate) const TOPICS_KIND: &str = "topics";

/// Limits an operator sets (`herald serve --max-...`); each refusal names
/// the setting. The defaults are generous for real use and small enough
/// that one tenant cannot grow the metadata without bound.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Quotas {
    pub buckets_per_user: u64,
    pub topics_per_user: u64,
    pub queues_per_user: u64,
    /// Open (neither completed nor aborted) multipart uploads.
    pub multipart_uploads_per_user: u64,
    /// Topic + queue configurations in one bucket's notification configuration.
    pub notification_configs_per_bucket: u64,
    /// Bytes of `x-amz-meta-*` names and values of one object (S3: 2 KB).
    pub user_metadata_bytes: u64,
}

impl Default for Quotas {
    fn default() -> Self {
        Quotas {
            buckets_per_user: 1_000,
            topics_per_user: 1_000,
            queues_per_user: 1_000,
            multipart_uploads_per_user: 10_000,
            notification_configs_per_bucket: 100,
            user_metadata_bytes: 2_048,
        }
    }
}

/// How many of `kind` `user` has.
pub(crate) fn count(txn: &redb::WriteTransaction, kind: &str, user: &str) -> StoreResult<u64> {
    let t = txn.open_table(QUOTA_COUNTS)?;
    Ok(t.get((kind, user))?.map_or(0, |v| v.value()))
}

/// Adds `delta` (may be negative) to a user's count; zero counts are removed.
pub(crate) fn add(txn: &redb::WriteTransaction, kind: &str, user: &str, delta: i64) -> StoreResult<()> {
    let mut t = txn.open_table(QUOTA_COUNTS)?;
    let now = t.get((kind, user))?.map_or(0, |v| v.value());
    let next = now.saturating_add_signed(delta);
    if next == 0 {
        t.remove((kind, user))?;
    } else {
        t.insert((kind, user), next)?;
    }
    Ok(())
}

/// Recomputes every counter from the records.
pub(crate) fn rebuild(db: &redb::Database) -> StoreResult<()> {
    let txn = db.begin_write()?;
    txn.delete_table(QUOTA_COUNTS)?;
    let mut counts: std::collections::HashMap<(&'static str, String), u64> = Default::default();
    for row in txn.open_table(BUCKETS)?.iter()? {
        let (_, v) = row?;
        let b: BucketRecord = serde_json::from_slice(v.value())?;
        *counts.entry((BUCKETS_KIND, b.owner)).or_default() += 1;
    }
    for row in txn.open_table(UPLOADS)?.iter()? {
        let (_, v) = row?;
        let u: UploadRecord = serde_json::from_slice(v.value())?;
        *counts.entry((UPLOADS_KIND, u.initiator)).or_default() += 1;
    }
    for row in txn.open_table(TOPICS)?.iter()? {
        let (_, v) = row?;
        let t: crate::records::TopicRecord = serde_json::from_slice(v.value())?;
        *counts.entry((TOPICS_KIND, t.owner)).or_default() += 1;
    }
    {
        let mut t = txn.open_table(QUOTA_COUNTS)?;
        for ((kind, user), n) in &counts {
            t.insert((*kind, user.as_str()), *n)?;
        }
    }
    txn.commit()?;
    Ok(())
}
