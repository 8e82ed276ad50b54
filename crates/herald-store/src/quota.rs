//! Per-user quotas: what an operator allows one tenant to hold, so no
//! tenant can exhaust the metadata database (or the runtime's memory) for
//! everyone else.
//!
//! The counts the store enforces (buckets, open multipart uploads per user)
//! live in the `quota_counts` table and change in the same transaction as
//! the records they count. Write transactions are serialized by the group
//! committer, and a closure checks the count before it writes, so two
//! concurrent creates can never exceed a limit: the guarantee is exact.
//! Checking costs one point lookup, never a scan. Topics need no counter:
//! their table is keyed by owner first, so counting one owner's topics is a
//! range of at most `topics_per_user` rows, read only when a topic is new.
//!
//! The counters are rebuilt from the records at every open (one pass over
//! buckets and uploads), so data written before they existed, or by an
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

/// How many topics `owner` has (a range over the owner's own rows).
///
/// Topics are stored under their ARN's account: the owner itself in AWS
/// mode (one key range, counted without reading a record), the owner's
/// tenant in Ceph mode, whose range holds other users' topics too (read
/// and filtered by owner, so one user cannot use up a shared tenant's
/// quota for the others).
pub(crate) fn count_topics(txn: &redb::WriteTransaction, account: &str, owner: &str) -> StoreResult<u64> {
    let t = txn.open_table(TOPICS)?;
    let mut n = 0;
    for row in t.range((account, "")..)? {
        let (k, v) = row?;
        if k.value().0 != account {
            break;
        }
        if account == owner || serde_json::from_slice::<crate::records::TopicRecord>(v.value())?.owner == owner {
            n += 1;
        }
    }
    Ok(n)
}

/// Topics `owner` created, under any account (a user being removed may
/// have created topics in AWS mode and in Ceph mode).
pub(crate) fn count_topics_anywhere(txn: &redb::WriteTransaction, owner: &str) -> StoreResult<u64> {
    let mut n = 0;
    for row in txn.open_table(TOPICS)?.iter()? {
        let (_, v) = row?;
        if serde_json::from_slice::<crate::records::TopicRecord>(v.value())?.owner == owner {
            n += 1;
        }
    }
    Ok(n)
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
    {
        let mut t = txn.open_table(QUOTA_COUNTS)?;
        for ((kind, user), n) in &counts {
            t.insert((*kind, user.as_str()), *n)?;
        }
    }
    txn.commit()?;
    Ok(())
}
