//! The shared metadata: every node's shared tables (see
//! `herald_store::SharedTable`) mirrored through one key-value bucket.
//!
//! - **Writes.** A node commits a change to its own database first (where
//!   the store's checks run), then, before the client's answer,
//!   [`MetaSync::publish`] compares its shared rows with what it last
//!   shared and puts the differences into the bucket. A row new to the
//!   cluster is *created* (refused if another node created it first: that
//!   node's row wins and replaces this one here, so two nodes creating the
//!   same bucket at once end with one owner, and the loser's CreateBucket
//!   sees the bucket taken). Changed rows are put: the last write to reach
//!   NATS wins.
//! - **Reads.** A watcher applies every other node's change to this node's
//!   database and tells the caches above it (topics, configurations,
//!   policies, keys) through the [`Listener`], within milliseconds.
//! - **Start.** The bucket's rows (deletions included) are applied before
//!   the node serves; rows only this node has (made while it was not in a
//!   cluster) are shared.
//! - **NATS down.** While the connection is down, changes are refused
//!   (`503 ServiceUnavailable`) before anything is committed. A change
//!   committed just as NATS went away (its client also gets the 503) is
//!   shared by the next successful round (tried every [`RETRY_EVERY`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_nats::jetstream::kv;
use bytes::Bytes;
use futures::StreamExt as _;
use herald_store::{SharedChange, SharedSink, Store, StoreError, StoreResult};

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

pub struct MetaSync {
    kv: kv::Store,
    /// The connection, whose state says whether changes can be shared.
    client: async_nats::Client,
    store: Store,
    /// What the bucket holds as far as this node knows (its own puts, and
    /// the changes it applied), by shared key. Held across a publishing
    /// round or an applied change, so the two never interleave.
    shared: tokio::sync::Mutex<HashMap<String, Bytes>>,
    listener: OnceLock<Listener>,
    /// A change is committed here and not shared yet.
    dirty: AtomicBool,
    /// The last bucket revision applied (where a broken watch resumes).
    revision: AtomicU64,
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
        let mut remote: HashMap<String, Option<Bytes>> = HashMap::new();
        let mut revision = 0;
        if last > 0 {
            let loading = async {
                while let Some(entry) = watch.next().await {
                    let entry = entry.map_err(|e| js_err(&e))?;
                    revision = entry.revision;
                    let caught_up = entry.revision >= last || entry.delta == 0;
                    remote.insert(entry.key, value_of(entry.operation, entry.value));
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
        let local = store.shared_rows().map_err(|e| js_err(&e))?;
        let incoming: Vec<(String, Option<Vec<u8>>)> = remote
            .iter()
            .filter(|(k, v)| local.get(*k).map(|l| l.as_slice()) != v.as_deref())
            .map(|(k, v)| (k.clone(), v.as_ref().map(|b| b.to_vec())))
            .collect();
        for chunk in incoming.chunks(LOAD_CHUNK) {
            store.apply_shared(chunk.to_vec()).await.map_err(|e| js_err(&e))?;
        }
        tracing::info!(
            rows = remote.len(),
            applied = incoming.len(),
            "loaded the cluster's metadata"
        );
        let shared = remote.into_iter().filter_map(|(k, v)| Some((k, v?))).collect();
        let sync = Arc::new(MetaSync {
            kv,
            client: cluster.jetstream().client(),
            store,
            shared: tokio::sync::Mutex::new(shared),
            listener: OnceLock::new(),
            dirty: AtomicBool::new(false),
            revision: AtomicU64::new(revision),
        });
        // Rows only this node has (made before it joined) go to the cluster.
        sync.publish().await.map_err(ClusterError::JetStream)?;
        tokio::spawn(sync.clone().follow(watch));
        tokio::spawn(sync.clone().retry_unshared());
        Ok(sync)
    }

    /// Sets who hears of other nodes' changes (once, before serving).
    pub fn set_listener(&self, listener: Listener) {
        let _ = self.listener.set(listener);
    }

    /// Puts every shared row that differs from what the bucket holds, and
    /// deletes the rows this node removed.
    pub async fn publish(&self) -> Result<(), String> {
        let mut shared = self.shared.lock().await;
        let rows = self.store.shared_rows().map_err(|e| e.to_string())?;
        let mut lost_races = Vec::new();
        for (key, value) in &rows {
            match shared.get(key) {
                Some(known) if known.as_ref() == value.as_slice() => continue,
                Some(_) => {
                    self.kv
                        .put(key, Bytes::copy_from_slice(value))
                        .await
                        .map_err(|e| format!("sharing {key}: {e}"))?;
                }
                None => match self.kv.create(key, Bytes::copy_from_slice(value)).await {
                    Ok(_) => {}
                    Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => {
                        lost_races.push(key.clone());
                        continue;
                    }
                    Err(e) => return Err(format!("sharing {key}: {e}")),
                },
            }
            shared.insert(key.clone(), Bytes::copy_from_slice(value));
        }
        let removed: Vec<String> = shared.keys().filter(|k| !rows.contains_key(*k)).cloned().collect();
        for key in removed {
            self.kv
                .delete(&key)
                .await
                .map_err(|e| format!("unsharing {key}: {e}"))?;
            shared.remove(&key);
        }
        // Another node made the same row first: its row replaces ours.
        let mut changes = Vec::new();
        for key in lost_races {
            let theirs = self
                .kv
                .entry(&key)
                .await
                .map_err(|e| format!("reading {key}: {e}"))?
                .and_then(|e| value_of(e.operation, e.value));
            tracing::info!(%key, "another node created this record first: its version wins");
            changes.extend(self.apply(&mut shared, key, theirs).await?);
        }
        drop(shared);
        self.tell(changes);
        Ok(())
    }

    /// Writes one row from the cluster into the store.
    async fn apply(
        &self,
        shared: &mut HashMap<String, Bytes>,
        key: String,
        value: Option<Bytes>,
    ) -> Result<Vec<SharedChange>, String> {
        let changes = self
            .store
            .apply_shared(vec![(key.clone(), value.as_ref().map(|v| v.to_vec()))])
            .await
            .map_err(|e| format!("applying {key}: {e}"))?;
        match value {
            Some(v) => shared.insert(key, v),
            None => shared.remove(&key),
        };
        Ok(changes)
    }

    fn tell(&self, changes: Vec<SharedChange>) {
        if let (false, Some(listener)) = (changes.is_empty(), self.listener.get()) {
            listener(changes);
        }
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
        let value = value_of(entry.operation, entry.value);
        let mut shared = self.shared.lock().await;
        if shared.get(&entry.key) == value.as_ref() {
            return; // our own change coming back, or one we have
        }
        match self.apply(&mut shared, entry.key.clone(), value).await {
            Ok(changes) => {
                drop(shared);
                self.tell(changes);
            }
            Err(e) => tracing::error!(key = %entry.key, error = %e, "cannot apply a change from the cluster"),
        }
    }

    /// Shares, every [`RETRY_EVERY`], what a failed round left unshared.
    async fn retry_unshared(self: Arc<Self>) {
        loop {
            tokio::time::sleep(RETRY_EVERY).await;
            if self.dirty.load(Ordering::Relaxed) {
                match self.publish().await {
                    Ok(()) => {
                        self.dirty.store(false, Ordering::Relaxed);
                        tracing::info!("changes made while NATS was unreachable are shared now");
                    }
                    Err(e) => tracing::debug!(error = %e, "still cannot share metadata changes"),
                }
            }
        }
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
        let error = match tokio::time::timeout(PUBLISH_TIMEOUT, self.publish()).await {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(e)) => e,
            Err(_) => "NATS did not answer in time".to_owned(),
        };
        self.dirty.store(true, Ordering::Relaxed);
        tracing::warn!(error = %error, "a metadata change is kept here until the cluster takes it");
        Err(StoreError::Refused {
            code: "ServiceUnavailable",
            status: 503,
            message: "the cluster could not take the change now; it is shared when NATS is back. Retry later.".into(),
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
