//! The metadata records a cluster of Herald nodes shares (users and their
//! keys, buckets, topics, notification configurations, bucket policies),
//! as rows a replicator can copy out and in without knowing their layout.
//!
//! A row is named by a *shared key* `<table>.<token>`, where the token is
//! the table key in unpadded URL-safe base64 (NATS key-value keys allow
//! only `[-/_=.a-zA-Z0-9]`, and user names, access key ids and topic names
//! carry other characters). Its value is the table's own bytes, so a row
//! copied from one node's database into another's is the same record.
//!
//! The store does not talk to the cluster itself: a [`SharedSink`] set by
//! the server is told after every committed write to these tables, and
//! rows other nodes wrote come in through [`Store::apply_shared`].

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use redb::{ReadableTable, TableDefinition};

use crate::Store;
use crate::commit::Applied;
use crate::error::{StoreError, StoreResult};
use crate::tables::{BUCKET_POLICIES, BUCKETS, KEYS, NOTIFICATIONS, RETIRED_NAMES, TOPICS, USERS};

/// Longest shared row (bytes): one NATS message of at most 1 MiB, less
/// room for its headers. Bucket policies are at most 20 KiB and
/// notification configurations a few hundred rules; a longer
/// configuration is refused in cluster mode.
pub const MAX_SHARED_ROW_BYTES: usize = 1024 * 1024 - 8 * 1024;

/// One of the shared tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SharedTable {
    Users,
    AccessKeys,
    RetiredNames,
    Buckets,
    Topics,
    Notifications,
    BucketPolicies,
}

impl SharedTable {
    pub const ALL: [SharedTable; 7] = [
        SharedTable::Users,
        SharedTable::AccessKeys,
        SharedTable::RetiredNames,
        SharedTable::Buckets,
        SharedTable::Topics,
        SharedTable::Notifications,
        SharedTable::BucketPolicies,
    ];

    /// The first token of the table's shared keys.
    pub fn prefix(self) -> &'static str {
        match self {
            SharedTable::Users => "users",
            SharedTable::AccessKeys => "keys",
            SharedTable::RetiredNames => "retired",
            SharedTable::Buckets => "buckets",
            SharedTable::Topics => "topics",
            SharedTable::Notifications => "notifications",
            SharedTable::BucketPolicies => "policies",
        }
    }

    fn from_prefix(p: &str) -> Option<SharedTable> {
        SharedTable::ALL.into_iter().find(|t| t.prefix() == p)
    }
}

/// A row that changed, as the caches above the store need to know it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SharedChange {
    /// A user or one of its access keys (the store reloads its key map
    /// itself).
    User,
    Bucket(String),
    /// A topic, by (account, name).
    Topic {
        account: String,
        name: String,
    },
    Notification(String),
    BucketPolicy(String),
}

/// The error code of a change another node's change to the same record
/// replaced before it could be shared (S3's `OperationAborted`, 409).
pub const LOST_RACE: &str = "OperationAborted";

/// Told after every committed write to a shared table. Returning an error
/// makes the write's caller see it (the change stays committed here and is
/// shared once the sink works again).
#[async_trait::async_trait]
pub trait SharedSink: Send + Sync {
    /// Whether a change could be shared now; asked before committing one,
    /// so that while the cluster is unreachable changes are refused rather
    /// than made here alone.
    fn ready(&self) -> StoreResult<()>;
    async fn changed(&self) -> StoreResult<()>;
}

/// The shared key of a table key.
fn shared_key(table: SharedTable, key: &[u8]) -> String {
    format!("{}.{}", table.prefix(), URL_SAFE_NO_PAD.encode(key))
}

/// The topics table's two-part key as one token: account and name joined
/// by a NUL (neither may contain one).
fn topic_token(account: &str, name: &str) -> Vec<u8> {
    [account.as_bytes(), b"\0", name.as_bytes()].concat()
}

/// Splits a shared key into its table and decoded table key.
pub fn parse_shared_key(key: &str) -> Option<(SharedTable, String)> {
    let (prefix, token) = key.split_once('.')?;
    let table = SharedTable::from_prefix(prefix)?;
    let raw = URL_SAFE_NO_PAD.decode(token).ok()?;
    let text = String::from_utf8(raw).ok()?;
    (!text.is_empty()).then_some((table, text))
}

/// What the caches must hear when the row under a shared key changed.
pub fn shared_change_of(key: &str) -> Option<SharedChange> {
    let (table, key) = parse_shared_key(key)?;
    Some(match table {
        SharedTable::Users | SharedTable::AccessKeys | SharedTable::RetiredNames => SharedChange::User,
        SharedTable::Buckets => SharedChange::Bucket(key),
        SharedTable::Notifications => SharedChange::Notification(key),
        SharedTable::BucketPolicies => SharedChange::BucketPolicy(key),
        SharedTable::Topics => {
            let (account, name) = key.split_once('\0')?;
            SharedChange::Topic {
                account: account.to_owned(),
                name: name.to_owned(),
            }
        }
    })
}

type BytesTable = TableDefinition<'static, &'static str, &'static [u8]>;

fn bytes_table(table: SharedTable) -> Option<BytesTable> {
    match table {
        SharedTable::Users => Some(USERS),
        SharedTable::Buckets => Some(BUCKETS),
        SharedTable::Notifications => Some(NOTIFICATIONS),
        SharedTable::BucketPolicies => Some(BUCKET_POLICIES),
        _ => None,
    }
}

impl Store {
    /// Sets who is told of writes to shared tables (cluster mode). Set
    /// once, before serving.
    pub fn set_shared_sink(&self, sink: Arc<dyn SharedSink>) {
        let _ = self.inner.shared_sink.set(sink);
    }

    /// Whether writes to shared tables are shared (cluster mode).
    pub(crate) fn has_shared_sink(&self) -> bool {
        self.inner.shared_sink.get().is_some()
    }

    /// Commits a write to shared tables, then tells the sink (so a client's
    /// answer comes after the cluster has the change).
    ///
    /// In a cluster, one such write at a time, from its commit to the
    /// sink's answer (see [`Store::lock_shared_writes`]): the sink's round
    /// then carries this write's change alone, so its answer is this
    /// write's, and no change from another node is applied between the
    /// commit and the sharing.
    pub(crate) async fn write_shared<R, F>(&self, f: F) -> StoreResult<R>
    where
        R: Send + 'static,
        F: FnOnce(&crate::Txn<'_>) -> StoreResult<Applied<R>> + Send + 'static,
    {
        let Some(sink) = self.inner.shared_sink.get() else {
            return self.write(vec![], f).await;
        };
        let _one_at_a_time = self.inner.shared_writes.lock().await;
        sink.ready()?;
        let out = self.write(vec![], f).await?;
        sink.changed().await?;
        Ok(out)
    }

    /// Held by whoever writes shared rows: [`Store::write_shared`] across
    /// a local change and its sharing, and a cluster's watcher across
    /// applying another node's change (so it never lands between a local
    /// commit and its sharing).
    pub async fn lock_shared_writes(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.inner.shared_writes.lock().await
    }

    /// Every shared row, by shared key.
    pub fn shared_rows(&self) -> StoreResult<BTreeMap<String, Vec<u8>>> {
        let txn = self.db().begin_read()?;
        let mut out = BTreeMap::new();
        for table in SharedTable::ALL {
            match table {
                SharedTable::AccessKeys => {
                    for row in txn.open_table(KEYS)?.iter()? {
                        let (k, v) = row?;
                        out.insert(shared_key(table, k.value().as_bytes()), v.value().as_bytes().to_vec());
                    }
                }
                SharedTable::RetiredNames => {
                    for row in txn.open_table(RETIRED_NAMES)?.iter()? {
                        let (k, v) = row?;
                        out.insert(
                            shared_key(table, k.value().as_bytes()),
                            v.value().to_string().into_bytes(),
                        );
                    }
                }
                SharedTable::Topics => {
                    for row in txn.open_table(TOPICS)?.iter()? {
                        let (k, v) = row?;
                        let (account, name) = k.value();
                        out.insert(shared_key(table, &topic_token(account, name)), v.value().to_vec());
                    }
                }
                _ => {
                    let def = bytes_table(table).expect("a bytes table");
                    for row in txn.open_table(def)?.iter()? {
                        let (k, v) = row?;
                        out.insert(shared_key(table, k.value().as_bytes()), v.value().to_vec());
                    }
                }
            }
        }
        Ok(out)
    }

    /// One shared row, by shared key (`None`: absent, or not a shared key).
    pub fn shared_row(&self, key: &str) -> StoreResult<Option<Vec<u8>>> {
        let Some((table, table_key)) = parse_shared_key(key) else {
            return Ok(None);
        };
        let txn = self.db().begin_read()?;
        Ok(match table {
            SharedTable::AccessKeys => txn
                .open_table(KEYS)?
                .get(table_key.as_str())?
                .map(|v| v.value().as_bytes().to_vec()),
            SharedTable::RetiredNames => txn
                .open_table(RETIRED_NAMES)?
                .get(table_key.as_str())?
                .map(|v| v.value().to_string().into_bytes()),
            SharedTable::Topics => match table_key.split_once('\0') {
                Some((account, name)) => txn
                    .open_table(TOPICS)?
                    .get((account, name))?
                    .map(|v| v.value().to_vec()),
                None => None,
            },
            _ => txn
                .open_table(bytes_table(table).expect("a bytes table"))?
                .get(table_key.as_str())?
                .map(|v| v.value().to_vec()),
        })
    }

    /// Writes rows other nodes shared (`None`: removed there) into this
    /// store, in one commit, and says what changed for the caches. Rows
    /// that are not shared keys, or not what their table holds, are
    /// refused whole (the cluster is trusted, but a stray writer must not
    /// corrupt the database).
    pub async fn apply_shared(&self, rows: Vec<(String, Option<Vec<u8>>)>) -> StoreResult<Vec<SharedChange>> {
        let mut parsed = Vec::with_capacity(rows.len());
        for (key, value) in rows {
            let Some((table, table_key)) = parse_shared_key(&key) else {
                return Err(StoreError::Corrupt(format!("not a shared key: {key:?}")));
            };
            if let Some(v) = &value {
                check_row(table, v).map_err(|e| StoreError::Corrupt(format!("shared row {key}: {e}")))?;
            }
            parsed.push((table, table_key, value));
        }
        let changes = self
            .write(vec![], move |txn| {
                let mut changes = Vec::new();
                for (table, key, value) in parsed {
                    changes.push(apply_row(txn, table, &key, value.as_deref())?);
                }
                Ok(Applied::new(changes))
            })
            .await?;
        if changes.contains(&SharedChange::User) {
            self.reload_keys()?;
        }
        Ok(changes)
    }
}

/// Whether `value` is what `table` holds (JSON records parse; keys are
/// user names; retired names are times).
fn check_row(table: SharedTable, value: &[u8]) -> Result<(), String> {
    if value.len() > MAX_SHARED_ROW_BYTES {
        return Err(format!("{} bytes", value.len()));
    }
    match table {
        SharedTable::AccessKeys => std::str::from_utf8(value).map(|_| ()).map_err(|e| e.to_string()),
        SharedTable::RetiredNames => std::str::from_utf8(value)
            .ok()
            .and_then(|s| s.parse::<i64>().ok())
            .map(|_| ())
            .ok_or_else(|| "not a time".to_owned()),
        _ => serde_json::from_slice::<serde::de::IgnoredAny>(value)
            .map(|_| ())
            .map_err(|e| e.to_string()),
    }
}

fn apply_row(txn: &crate::Txn<'_>, table: SharedTable, key: &str, value: Option<&[u8]>) -> StoreResult<SharedChange> {
    match table {
        SharedTable::AccessKeys => {
            let mut t = txn.open_table(KEYS)?;
            match value {
                Some(v) => t.insert(key, std::str::from_utf8(v).unwrap_or_default())?,
                None => t.remove(key)?,
            };
            Ok(SharedChange::User)
        }
        SharedTable::RetiredNames => {
            let mut t = txn.open_table(RETIRED_NAMES)?;
            match value.and_then(|v| std::str::from_utf8(v).ok()?.parse::<i64>().ok()) {
                Some(at) => t.insert(key, at)?,
                None => t.remove(key)?,
            };
            Ok(SharedChange::User)
        }
        SharedTable::Topics => {
            let (account, name) = key
                .split_once('\0')
                .ok_or_else(|| StoreError::Corrupt(format!("topic key without account: {key:?}")))?;
            let mut t = txn.open_table(TOPICS)?;
            let old = match value {
                Some(v) => t.insert((account, name), v)?,
                None => t.remove((account, name))?,
            }
            .map(|g| g.value().to_vec());
            drop(t);
            recount(txn, crate::quota::TOPICS_KIND, old.as_deref(), value)?;
            Ok(SharedChange::Topic {
                account: account.to_owned(),
                name: name.to_owned(),
            })
        }
        _ => {
            let mut t = txn.open_table(bytes_table(table).expect("a bytes table"))?;
            let old = match value {
                Some(v) => t.insert(key, v)?,
                None => t.remove(key)?,
            }
            .map(|g| g.value().to_vec());
            drop(t);
            if table == SharedTable::Buckets {
                recount(txn, crate::quota::BUCKETS_KIND, old.as_deref(), value)?;
            }
            Ok(match table {
                SharedTable::Users => SharedChange::User,
                SharedTable::Buckets => SharedChange::Bucket(key.to_owned()),
                SharedTable::Notifications => SharedChange::Notification(key.to_owned()),
                _ => SharedChange::BucketPolicy(key.to_owned()),
            })
        }
    }
}

/// Moves a replaced bucket or topic row's count in the per-user quotas
/// from its old owner to its new one (the rows name their owner).
fn recount(txn: &crate::Txn<'_>, kind: &str, old: Option<&[u8]>, new: Option<&[u8]>) -> StoreResult<()> {
    #[derive(serde::Deserialize)]
    struct Owned {
        owner: String,
    }
    let owner = |row: Option<&[u8]>| {
        row.and_then(|r| serde_json::from_slice::<Owned>(r).ok())
            .map(|o| o.owner)
    };
    if let Some(o) = owner(old) {
        crate::quota::add(txn, kind, &o, -1)?;
    }
    if let Some(o) = owner(new) {
        crate::quota::add(txn, kind, &o, 1)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_keys_round_trip_and_use_only_kv_characters() {
        for (table, key) in [
            (SharedTable::Users, "alice+ops@example"),
            (SharedTable::AccessKeys, "AKIA/../x y"),
            (SharedTable::Topics, "tenant\0my.topic"),
        ] {
            let k = shared_key(table, key.as_bytes());
            assert!(
                k.chars().all(|c| c.is_ascii_alphanumeric() || "-/_=.".contains(c)),
                "{k}"
            );
            assert_eq!(parse_shared_key(&k), Some((table, key.to_owned())));
        }
        assert_eq!(parse_shared_key("objects.YQ"), None, "not a shared table");
        assert_eq!(parse_shared_key("users.***"), None, "not base64");
        assert_eq!(parse_shared_key("users."), None, "empty key");
    }

    #[tokio::test]
    async fn rows_copied_into_another_store_are_the_same_records() {
        let (a_dir, b_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (a, b) = (Store::open(a_dir.path()).unwrap(), Store::open(b_dir.path()).unwrap());
        let user = a.create_user("alice", None, Default::default()).await.unwrap();
        a.create_bucket("alice", "photos").await.unwrap();
        let rows: Vec<(String, Option<Vec<u8>>)> = a
            .shared_rows()
            .unwrap()
            .into_iter()
            .map(|(k, v)| (k, Some(v)))
            .collect();
        let changes = b.apply_shared(rows).await.unwrap();
        assert!(changes.contains(&SharedChange::User));
        assert!(changes.contains(&SharedChange::Bucket("photos".into())));
        let key = &user.keys[0];
        assert_eq!(
            b.lookup_key(&key.access_key_id).map(|(name, _)| name),
            Some("alice".to_owned()),
            "the key map is reloaded"
        );
        assert_eq!(
            b.get_bucket("photos").unwrap().unwrap().id,
            a.get_bucket("photos").unwrap().unwrap().id
        );
        assert_eq!(b.shared_rows().unwrap(), a.shared_rows().unwrap(), "the same rows");
        for (key, value) in a.shared_rows().unwrap() {
            assert_eq!(b.shared_row(&key).unwrap(), Some(value), "{key} read alone");
        }
        assert_eq!(b.shared_row("buckets.bm9uZQ").unwrap(), None, "an absent bucket");
        // The bucket counts against alice's quota on b too, and stops
        // counting when the cluster removes it.
        b.set_quotas(crate::Quotas {
            buckets_per_user: 1,
            ..Default::default()
        });
        assert!(matches!(
            b.create_bucket("alice", "second").await,
            Err(StoreError::TooManyBuckets(1))
        ));
        b.apply_shared(vec![(shared_key(SharedTable::Buckets, b"photos"), None)])
            .await
            .unwrap();
        assert!(b.get_bucket("photos").unwrap().is_none());
        b.create_bucket("alice", "second").await.unwrap();
        // Rows that are not shared keys, or not their table's records, are
        // refused whole.
        assert!(
            b.apply_shared(vec![("objects.YQ".into(), Some(b"{}".to_vec()))])
                .await
                .is_err()
        );
        assert!(
            b.apply_shared(vec![(shared_key(SharedTable::Buckets, b"x"), Some(b"nope".to_vec()))])
                .await
                .is_err()
        );
    }

    #[test]
    fn rows_are_checked_against_their_table() {
        assert!(check_row(SharedTable::Buckets, b"{\"name\":\"b\"}").is_ok());
        assert!(check_row(SharedTable::Buckets, b"{not json").is_err());
        assert!(check_row(SharedTable::RetiredNames, b"1700000000000").is_ok());
        assert!(check_row(SharedTable::RetiredNames, b"soon").is_err());
        assert!(check_row(SharedTable::Users, &vec![b' '; MAX_SHARED_ROW_BYTES + 1]).is_err());
    }
}
