//! The tables of the metadata database.

use redb::{Database, ReadableTable, TableDefinition};

use crate::error::StoreResult;

/// user name -> JSON `User`
pub const USERS: TableDefinition<&str, &[u8]> = TableDefinition::new("users");
/// access key id -> user name
pub const KEYS: TableDefinition<&str, &str> = TableDefinition::new("access_keys");
/// bucket name -> JSON `BucketRecord`
pub const BUCKETS: TableDefinition<&str, &[u8]> = TableDefinition::new("buckets");
/// (bucket, key) -> JSON `ObjectRecord` (all versions, newest first)
pub const OBJECTS: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("objects");
/// upload id -> JSON `UploadRecord`
pub const UPLOADS: TableDefinition<&str, &[u8]> = TableDefinition::new("uploads");
/// (upload id, part number) -> JSON `PartRecord`
pub const PARTS: TableDefinition<(&str, u32), &[u8]> = TableDefinition::new("parts");
/// (user name, key fingerprint) -> JSON `SshKey` (SFTP logins)
pub const SSH_KEYS: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("ssh_keys");
/// user names and canonical ids of removed users -> removal time (ms):
/// objects they wrote and ACL grants to them may still name them, so a
/// new user takes such a name only when told to (`--reuse-name`)
pub const RETIRED_NAMES: TableDefinition<&str, i64> = TableDefinition::new("retired_user_names");
/// counters ("seq": the store-wide mutation sequence)
pub const COUNTERS: TableDefinition<&str, u64> = TableDefinition::new("counters");

/// Creates every table so readers never meet a missing one.
pub fn create_all(db: &Database) -> StoreResult<()> {
    let txn = db.begin_write()?;
    txn.open_table(USERS)?;
    txn.open_table(KEYS)?;
    txn.open_table(BUCKETS)?;
    txn.open_table(OBJECTS)?;
    txn.open_table(UPLOADS)?;
    txn.open_table(PARTS)?;
    txn.open_table(COUNTERS)?;
    txn.open_table(SSH_KEYS)?;
    txn.open_table(TOPICS)?;
    txn.open_table(NOTIFICATIONS)?;
    txn.open_table(BUCKET_POLICIES)?;
    txn.open_table(OUTBOX)?;
    txn.open_table(JOURNAL_MARKS)?;
    txn.open_table(crate::quota::QUOTA_COUNTS)?;
    txn.open_table(RETIRED_NAMES)?;
    txn.open_table(LIFECYCLE)?;
    txn.open_table(LIFECYCLE_RUNS)?;
    txn.open_table(crate::intents::INTENTS)?;
    txn.commit()?;
    Ok(())
}

/// Takes the next value of the store-wide sequence.
pub fn next_seq(txn: &redb::WriteTransaction) -> StoreResult<u64> {
    let mut t = txn.open_table(COUNTERS)?;
    let next = t.get("seq")?.map(|v| v.value()).unwrap_or(0) + 1;
    t.insert("seq", next)?;
    Ok(next)
}

/// (owner, topic name) -> JSON `TopicRecord`
pub const TOPICS: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("topics");
/// bucket name -> the bucket's notification configuration (opaque JSON
/// owned by the notifier: the store knows nothing of events)
pub const NOTIFICATIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("notifications");

/// bucket name -> JSON `BucketPolicyRecord` (the bucket's id and the
/// policy text; a row whose id is not the bucket's current one is a
/// leftover of a deleted bucket and means nothing)
pub const BUCKET_POLICIES: TableDefinition<&str, &[u8]> = TableDefinition::new("bucket_policies");

/// (change sequence number, index) -> staged event: written by versions
/// before the event journal, drained once at start-up (see `journal`)
pub const OUTBOX: TableDefinition<(u64, u32), &[u8]> = TableDefinition::new("outbox");
/// bucket name -> JSON: the bucket's id and its lifecycle rules (see
/// `lifecycle`)
pub const LIFECYCLE: TableDefinition<&str, &[u8]> = TableDefinition::new("lifecycle");
/// bucket name -> JSON: the bucket's id and the lifecycle worker's
/// progress through it (see `lifecycle`)
pub const LIFECYCLE_RUNS: TableDefinition<&str, &[u8]> = TableDefinition::new("lifecycle_runs");
/// event log name -> highest entry id committed (see `journal`)
pub const JOURNAL_MARKS: TableDefinition<&str, u64> = TableDefinition::new("journal_marks");
