//! The shared metadata: every node's shared tables (see
//! `herald_store::SharedTable`) mirrored through one key-value bucket.
//!
//! - **Writes.** A node commits a change to its own database first (where
//!   the store's checks run), then, before the client's answer,
//!   [`MetaSync::publish`] compares its shared rows with what it last
//!   shared and writes the differences into the bucket, each *conditional
//!   on the revision this node last saw* of that key (a new row: on there
//!   being none). A write refused because another node changed the record
//!   first loses: the other node's row replaces this one here and the
//!   client gets `409 OperationAborted` (for CreateBucket,
//!   `BucketAlreadyExists`). So two nodes creating one bucket at once end
//!   with one owner, and a change made to a record another node deleted
//!   meanwhile does not bring it back. A bucket that loses takes its
//!   configuration and policy rows down with it.
//! - **Reads.** A watcher applies every other node's change to this node's
//!   database and tells the caches above it (topics, configurations,
//!   policies, keys) through the [`Listener`], within milliseconds. A key
//!   with a change here not shared yet is left to the publishing round,
//!   whose conditional write then loses to the cluster's row.
//! - **Start.** The bucket's rows (deletions included) are applied before
//!   the node serves; rows only this node has (made while it was not in a
//!   cluster) are shared.
//! - **NATS down.** While the connection is down, changes are refused
//!   (`503 ServiceUnavailable`) before anything is committed. A change
//!   committed just as NATS went away (its client also gets the 503) is
//!   shared by the next successful round (tried every [`RETRY_EVERY`]).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::BuildHasher as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use async_nats::jetstream::kv;
use bytes::Bytes;
use futures::StreamExt as _;
use herald_store::{LOST_RACE, SharedChange, SharedSink, SharedTable, Store, StoreError, StoreResult};

use crate::{Cluster, ClusterError};

/// Longest wait for NATS while sharing one change.
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(5);
/// How often a change that could not be shared is tried again.
const RETRY_EVERY: Duration = Duration::from_secs(2);
/// Longest wait for the bucket's rows at start.
const LOAD_TIMEOUT: Duration = Duration::from_secs(60);
/// Rows applied per commit while loading.
const LOAD_CHUNK: usize = 500;

/// Told what other nodes changed, after it is in this node's database.
pub type Listener = Arc<dyn Fn(Vec<SharedChange>) + Send + Sync>;

/// What this node knows the bucket holds for a key: a hash of the value
/// (not the value: every node would otherwise hold all metadata twice)
/// and the key's revision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Known {
    hash: u64,
    revision: u64,
}

pub struct MetaSync {
    kv: kv::Store,
    /// The connection, whose state says whether changes can be shared.
    client: async_nats::Client,
    store: Store,
    /// What the bucket holds as far as this node knows, by shared key.
    /// Held across a publishing round or an applied change, so the two
    /// never interleave.
    known: tokio::sync::Mutex<HashMap<String, Known>>,
    /// Hashes values (keyed per process, so nobody can aim collisions).
    hasher: std::hash::RandomState,
    listener: OnceLock<Listener>,
    /// Changes applied before the listener was set (the server starts
    /// after the load): handed to it when it is. Its lock is held while
    /// the listener is set and while a change decides where it goes.
    early: Mutex<Vec<SharedChange>>,
    /// Keys whose change from the cluster is not applied yet (this node
    /// had a change of its own not shared yet, or applying failed): the
    /// next publishing round reads and applies them.
    deferred: Mutex<HashSet<String>>,
    /// A change is committed here and not shared yet.
    dirty: AtomicBool,
    /// The last bucket revision applied (where a broken watch resumes).
    revision: AtomicU64,
}

/// What one publishing round could not do.
#[derive(Debug, Default)]
pub struct Unshared {
    /// Keys another node changed first: its rows replaced ours.
    pub lost: Vec<String>,
    /// Keys NATS did not take (tried again later), with why.
    pub failed: Vec<(String, String)>,
}

impl MetaSync {
    /// Loads the cluster's metadata into `store` (the cluster's rows win),
    /// shares the rows only this node has, and follows the cluster from
    /// then on.
    pub async fn start(cluster: &Cluster, store: Store) -> Result<Arc<MetaSync>, ClusterError> {
        let kv = cluster.meta_bucket().await?;
        let js_err = |e: &dyn std::fmt::Display| ClusterError::JetStream(e.to_string());
        let last = kv.stream.get_info().await.map_err(|e| js_err(&e))?.state.last_sequence;
        let mut watch = kv.watch_with_history(">").await.map_err(|e| js_err(&e))?;
        let mut remote: HashMap<String, (Option<Bytes>, u64)> = HashMap::new();
        let mut revision = 0;
        if last > 0 {
            let loading = async {
                while let Some(entry) = watch.next().await {
                    let entry = entry.map_err(|e| js_err(&e))?;
                    revision = entry.revision;
                    let caught_up = entry.revision >= last || entry.delta == 0;
                    remote.insert(entry.key, (value_of(entry.operation, entry.value), entry.revision));
                    if caught_up {
                        return Ok(());
                    }
                }
                Err(ClusterError::JetStream("the metadata watch ended while loading".into()))
            };
            tokio::time::timeout(LOAD_TIMEOUT, loading)
                .await
                .map_err(|_| ClusterError::JetStream("loading the shared metadata timed out".into()))??;
        }
        let local = rows_of(&store).await.map_err(|e| js_err(&e))?;
        let incoming: Vec<(String, Option<Vec<u8>>)> = remote
            .iter()
            .filter(|(k, (v, _))| local.get(*k).map(|l| l.as_slice()) != v.as_deref())
            .map(|(k, (v, _))| (k.clone(), v.as_ref().map(|b| b.to_vec())))
            .collect();
        for chunk in incoming.chunks(LOAD_CHUNK) {
            if store.apply_shared(chunk.to_vec()).await.is_err() {
                // One row this version cannot take (a newer Herald's, a
                // stray writer's) must not keep the node from starting.
                for row in chunk {
                    if let Err(e) = store.apply_shared(vec![row.clone()]).await {
                        tracing::error!(key = %row.0, error = %e, "a shared record this node cannot take: skipped");
                    }
                }
            }
        }
        tracing::info!(
            rows = remote.len(),
            applied = incoming.len(),
            "loaded the cluster's metadata"
        );
        let hasher = std::hash::RandomState::new();
        let known = remote
            .into_iter()
            .filter_map(|(k, (v, revision))| {
                let hash = hasher.hash_one(v?.as_ref());
                Some((k, Known { hash, revision }))
            })
            .collect();
        let sync = Arc::new(MetaSync {
            kv,
            client: cluster.jetstream().client(),
            store,
            known: tokio::sync::Mutex::new(known),
            hasher,
            listener: OnceLock::new(),
            early: Mutex::default(),
            deferred: Mutex::default(),
            dirty: AtomicBool::new(false),
            revision: AtomicU64::new(revision),
        });
        // Rows only this node has (made before it joined) go to the
        // cluster; what NATS does not take now is tried again later.
        if let Err(e) = sync.publish().await {
            sync.dirty.store(true, Ordering::Relaxed);
            tracing::warn!(unshared = ?e, "some records of this node are not shared yet");
        }
        tokio::spawn(sync.clone().follow(watch));
        tokio::spawn(sync.clone().retry_unshared());
        Ok(sync)
    }

    /// Whether the NATS connection is up now.
    pub fn connected(&self) -> bool {
        self.client.connection_state() == async_nats::connection::State::Connected
    }

    /// Changes not settled with the cluster yet: other nodes' changes not
    /// applied here, and (as one) this node's changes not shared.
    pub fn unsettled_changes(&self) -> usize {
        self.deferred.lock().expect("deferred lock").len() + usize::from(self.dirty.load(Ordering::Relaxed))
    }

    /// Sets who hears of other nodes' changes (once, before serving), and
    /// tells it what changed since the load.
    pub fn set_listener(&self, listener: Listener) {
        let early = {
            let mut early = self.early.lock().expect("early lock");
            let _ = self.listener.set(listener.clone());
            std::mem::take(&mut *early)
        };
        if !early.is_empty() {
            listener(early);
        }
    }

    fn hash(&self, value: &[u8]) -> u64 {
        self.hasher.hash_one(value)
    }

    /// Writes every shared row that differs from what the bucket holds
    /// (conditional on the revision last seen), and deletes the rows this
    /// node removed. Says which keys lost to another node's change, or
    /// could not be written.
    pub async fn publish(&self) -> Result<(), Unshared> {
        self.publish_round().await.map(|_| ())
    }

    /// [`MetaSync::publish`], answering the keys it wrote.
    async fn publish_round(&self) -> Result<Vec<String>, Unshared> {
        let mut known = self.known.lock().await;
        let rows = rows_of(&self.store).await.map_err(|e| Unshared {
            failed: vec![("(all)".into(), e.to_string())],
            ..Default::default()
        })?;
        let mut out = Unshared::default();
        let mut written_keys = Vec::new();
        // Buckets come first in key order: one that lost takes its
        // configuration and policy down with it.
        let mut lost_buckets = HashSet::new();
        for (key, value) in &rows {
            let hash = self.hash(value);
            let last = known.get(key).copied();
            if last.is_some_and(|k| k.hash == hash) {
                continue;
            }
            if last.is_none() && belongs_to(key, &lost_buckets) {
                out.lost.push(key.clone());
                continue;
            }
            let value = Bytes::copy_from_slice(value);
            let written = match last {
                Some(k) => self.kv.update(key, value, k.revision).await.map_err(|e| {
                    let lost = e.kind() == kv::UpdateErrorKind::WrongLastRevision;
                    (lost, e.to_string())
                }),
                None => self.kv.create(key, value).await.map_err(|e| {
                    let lost = e.kind() == kv::CreateErrorKind::AlreadyExists;
                    (lost, e.to_string())
                }),
            };
            match written {
                Ok(revision) => {
                    known.insert(key.clone(), Known { hash, revision });
                    written_keys.push(key.clone());
                }
                Err((true, _)) => {
                    if let Some((SharedTable::Buckets, name)) = herald_store::parse_shared_key(key) {
                        lost_buckets.insert(name);
                    }
                    out.lost.push(key.clone());
                }
                Err((false, e)) => out.failed.push((key.clone(), e)),
            }
        }
        let removed: Vec<(String, Known)> = known
            .iter()
            .filter(|(k, _)| !rows.contains_key(*k))
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        for (key, last) in removed {
            match self.kv.delete_expect_revision(&key, Some(last.revision)).await {
                Ok(()) => {
                    known.remove(&key);
                    written_keys.push(key);
                }
                Err(e) if e.kind() == kv::DeleteErrorKind::WrongLastRevision => out.lost.push(key),
                Err(e) => out.failed.push((key, e.to_string())),
            }
        }
        // Another node changed these first: its rows replace ours.
        let mut changes = Vec::new();
        for key in &out.lost {
            match self.kv.entry(key).await {
                Ok(entry) => {
                    let (value, revision) = match entry {
                        Some(e) => (value_of(e.operation, e.value), e.revision),
                        None => (None, 0),
                    };
                    tracing::info!(%key, "another node changed this record first: its version wins");
                    match self.apply(&mut known, key.clone(), value, revision).await {
                        Ok(c) => changes.extend(c),
                        Err(e) => out.failed.push((key.clone(), e)),
                    }
                }
                Err(e) => out.failed.push((key.clone(), e.to_string())),
            }
        }
        // Cluster changes put off by the watcher: applied now unless this
        // round already brought the key up to the cluster's revision.
        let deferred: Vec<String> = self.deferred.lock().expect("deferred lock").drain().collect();
        for key in deferred {
            let entry = match self.kv.entry(&key).await {
                Ok(e) => e,
                Err(e) => {
                    self.defer(&key);
                    out.failed.push((key, e.to_string()));
                    continue;
                }
            };
            let Some(entry) = entry else { continue };
            if known.get(&key).is_some_and(|k| k.revision >= entry.revision) {
                continue;
            }
            let value = value_of(entry.operation, entry.value);
            match self.apply(&mut known, key.clone(), value, entry.revision).await {
                Ok(c) => changes.extend(c),
                Err(e) => {
                    self.defer(&key);
                    out.failed.push((key, e));
                }
            }
        }
        drop(known);
        self.tell(changes);
        if out.lost.is_empty() && out.failed.is_empty() {
            Ok(written_keys)
        } else {
            Err(out)
        }
    }

    /// Writes one row from the cluster into the store.
    async fn apply(
        &self,
        known: &mut HashMap<String, Known>,
        key: String,
        value: Option<Bytes>,
        revision: u64,
    ) -> Result<Vec<SharedChange>, String> {
        let changes = self
            .store
            .apply_shared(vec![(key.clone(), value.as_ref().map(|v| v.to_vec()))])
            .await
            .map_err(|e| format!("applying {key}: {e}"))?;
        match value {
            Some(v) => {
                let hash = self.hash(&v);
                known.insert(key, Known { hash, revision });
            }
            None => {
                known.remove(&key);
            }
        }
        Ok(changes)
    }

    fn tell(&self, changes: Vec<SharedChange>) {
        if changes.is_empty() {
            return;
        }
        let listener = {
            let mut early = self.early.lock().expect("early lock");
            match self.listener.get() {
                Some(l) => l.clone(),
                None => return early.extend(changes),
            }
        };
        listener(changes);
    }

    /// Marks a key's cluster change as not applied yet (see `deferred`).
    fn defer(&self, key: &str) {
        self.deferred.lock().expect("deferred lock").insert(key.to_owned());
        self.dirty.store(true, Ordering::Relaxed);
    }

    /// Applies other nodes' changes as they come, resuming after the last
    /// applied revision when the watch breaks (NATS restarted).
    async fn follow(self: Arc<Self>, mut watch: kv::Watch) {
        loop {
            while let Some(entry) = watch.next().await {
                let entry = match entry {
                    Ok(e) => e,
                    Err(e) => {
                        tracing::warn!(error = %e, "the shared metadata watch failed; resuming");
                        break;
                    }
                };
                self.follow_entry(entry).await;
            }
            watch = loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let from = self.revision.load(Ordering::Relaxed) + 1;
                match self.kv.watch_all_from_revision(from).await {
                    Ok(w) => break w,
                    Err(e) => tracing::warn!(error = %e, "cannot watch the shared metadata; will retry"),
                }
            };
        }
    }

    async fn follow_entry(&self, entry: kv::Entry) {
        self.revision.fetch_max(entry.revision, Ordering::Relaxed);
        // No local change commits between the check below and the apply.
        let _no_local_writes = self.store.lock_shared_writes().await;
        let mut known = self.known.lock().await;
        let last = known.get(&entry.key).copied();
        if last.is_some_and(|k| entry.revision <= k.revision) {
            return; // our own change coming back, or an older one
        }
        // A change made here and not shared yet: the publishing round's
        // conditional write settles it (it loses to this entry).
        let local = match self.store.shared_row(&entry.key) {
            Ok(row) => row.map(|r| self.hash(&r)),
            Err(e) => {
                tracing::error!(key = %entry.key, error = %e, "cannot read a shared record");
                self.defer(&entry.key);
                return;
            }
        };
        if local != last.map(|k| k.hash) {
            self.defer(&entry.key);
            return;
        }
        let value = value_of(entry.operation, entry.value);
        match self.apply(&mut known, entry.key.clone(), value, entry.revision).await {
            Ok(changes) => {
                drop(known);
                self.tell(changes);
            }
            Err(e) => {
                tracing::error!(key = %entry.key, error = %e, "cannot apply a change from the cluster; will retry");
                self.defer(&entry.key);
            }
        }
    }

    /// Shares, every [`RETRY_EVERY`], what a failed round left unshared.
    async fn retry_unshared(self: Arc<Self>) {
        loop {
            tokio::time::sleep(RETRY_EVERY).await;
            if self.dirty.swap(false, Ordering::Relaxed) {
                let _no_local_writes = self.store.lock_shared_writes().await;
                let round = tokio::time::timeout(PUBLISH_TIMEOUT * 4, self.publish_round()).await;
                let round = round.unwrap_or_else(|_| {
                    Err(Unshared {
                        failed: vec![("(round)".into(), "NATS did not answer in time".into())],
                        ..Default::default()
                    })
                });
                match round {
                    Ok(keys) => {
                        tracing::info!(records = keys.len(), "changes kept here are shared now");
                        // Their writers were answered 503 and may have left
                        // this node's caches as they were.
                        self.tell(keys.iter().filter_map(|k| herald_store::shared_change_of(k)).collect());
                    }
                    Err(e) => {
                        if !e.failed.is_empty() {
                            self.dirty.store(true, Ordering::Relaxed);
                        }
                        tracing::debug!(unshared = ?e, "not every metadata change could be shared");
                    }
                }
            }
        }
    }
}

/// The node's shared rows, read off the async threads.
async fn rows_of(store: &Store) -> StoreResult<BTreeMap<String, Vec<u8>>> {
    let store = store.clone();
    tokio::task::spawn_blocking(move || store.shared_rows())
        .await
        .map_err(|e| StoreError::Io(std::io::Error::other(e)))?
}

/// Whether `key` is the notification configuration or policy of one of
/// `buckets`.
fn belongs_to(key: &str, buckets: &HashSet<String>) -> bool {
    match herald_store::parse_shared_key(key) {
        Some((SharedTable::Notifications | SharedTable::BucketPolicies, bucket)) => buckets.contains(&bucket),
        _ => false,
    }
}

/// The answer to a change the cluster cannot take now.
fn unavailable() -> StoreError {
    StoreError::Refused {
        code: "ServiceUnavailable",
        status: 503,
        message: "the cluster (NATS) is unreachable; the change was not made. Retry later.".into(),
    }
}

#[async_trait::async_trait]
impl SharedSink for MetaSync {
    fn ready(&self) -> StoreResult<()> {
        match self.client.connection_state() {
            async_nats::connection::State::Connected => Ok(()),
            _ => Err(unavailable()),
        }
    }

    async fn changed(&self) -> StoreResult<()> {
        let unshared = match tokio::time::timeout(PUBLISH_TIMEOUT, self.publish()).await {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(u)) => u,
            Err(_) => Unshared {
                failed: vec![("(round)".into(), "NATS did not answer in time".into())],
                ..Default::default()
            },
        };
        if !unshared.failed.is_empty() {
            self.dirty.store(true, Ordering::Relaxed);
            tracing::warn!(failed = ?unshared.failed, "metadata changes kept here until the cluster takes them");
            return Err(StoreError::Refused {
                code: "ServiceUnavailable",
                status: 503,
                message: "the cluster could not take the change now; it is shared when NATS is back. Retry later."
                    .into(),
            });
        }
        Err(StoreError::Refused {
            code: LOST_RACE,
            status: 409,
            message: "another node changed this record at the same time, and its change won; retry".into(),
        })
    }
}

/// A watched entry's value (`None`: deleted or purged).
fn value_of(operation: kv::Operation, value: Bytes) -> Option<Bytes> {
    match operation {
        kv::Operation::Put => Some(value),
        kv::Operation::Delete | kv::Operation::Purge => None,
    }
}
