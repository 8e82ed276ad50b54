//! Intents: mutations Herald forwards to an upstream S3 (gateway mode)
//! whose outcome is not known here yet.
//!
//! In gateway mode the change happens in another store, so its events
//! cannot ride along with a local write. Instead:
//!
//! 1. an intent (which bucket, which keys, what kind of change, who) is
//!    committed before the request is forwarded ([`Store::open_intent`]);
//! 2. once the upstream acknowledged the change, its events are committed
//!    and the intent removed in one group commit
//!    ([`Store::settle_intent`]); a refused change just removes it
//!    ([`Store::drop_intent`]);
//! 3. after a crash, the intents still open are the changes whose outcome
//!    was never learnt: the gateway asks the upstream (HEAD, version
//!    listing) what happened and settles or drops each one before it
//!    serves requests ([`Store::open_intents`]).
//!
//! So an acknowledged mutation never loses its event: the client's answer
//! is sent only after step 2.

use redb::{ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

use crate::Store;
use crate::commit::Applied;
use crate::error::{StoreError, StoreResult};
use crate::journal::{EventRenderer, StagedChange, stage};
use crate::records::BucketRecord;
use crate::tables::next_seq;

/// intent id (a value of the store-wide sequence) -> JSON [`Intent`]
pub(crate) const INTENTS: TableDefinition<u64, &[u8]> = TableDefinition::new("gateway_intents");

/// The kind of change an intent stands for: what the gateway asks the
/// upstream when it settles the intent after a crash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum IntentKind {
    /// The keys get a new version (PUT, POST, copy, multipart completion):
    /// happened if the upstream's version is at least as new as the intent.
    Create,
    /// The keys (or the named versions) are removed.
    Remove,
    /// The keys' tag sets change (no new version): settled as happened
    /// when the object still exists.
    Tagging,
}

/// One key an intent touches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntentKey {
    pub key: String,
    /// The version the request names, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
}

/// A forwarded mutation whose outcome is not known yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Intent {
    pub bucket: String,
    /// The bucket's id when the intent was opened: a bucket deleted and
    /// made again under the same name is another bucket, and the intent's
    /// events are not its.
    #[serde(default)]
    pub bucket_id: String,
    pub kind: IntentKind,
    /// The S3 event name the change reports (`ObjectCreated:Put`, ...).
    pub event: String,
    pub keys: Vec<IntentKey>,
    /// When the request was forwarded (ms since the epoch, Herald's clock).
    pub started_ms: i64,
    pub principal: String,
    pub source_ip: String,
    pub request_id: String,
}

/// A change the upstream acknowledged, with its events ready to commit.
pub struct SettledChange {
    pub renderer: Option<EventRenderer>,
    /// As the upstream reports it (`""`: no versioning).
    pub version_id: String,
    pub size: Option<u64>,
    pub etag: Option<String>,
}

impl Store {
    /// Commits `intent` (durable when this returns); its id.
    pub async fn open_intent(&self, intent: &Intent) -> StoreResult<u64> {
        let bytes = serde_json::to_vec(intent).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.write(vec![], move |txn| {
            let id = next_seq(txn)?;
            txn.open_table(INTENTS)?.insert(id, bytes.as_slice())?;
            Ok(Applied::new(id))
        })
        .await
    }

    /// Commits the events of the changes the upstream acknowledged and
    /// removes intent `id` (if any), in one group commit. Each change gets
    /// its own sequence number (the records' sequencer), returned in order.
    pub async fn settle_intent(
        &self,
        id: Option<u64>,
        bucket: &BucketRecord,
        changes: Vec<SettledChange>,
    ) -> StoreResult<Vec<u64>> {
        let bucket = bucket.clone();
        self.write(vec![], move |txn| {
            if let Some(id) = id {
                txn.open_table(INTENTS)?.remove(id)?;
            }
            let mut seqs = Vec::with_capacity(changes.len());
            for c in changes {
                let seq = next_seq(txn)?;
                stage(
                    txn,
                    c.renderer,
                    StagedChange {
                        bucket: &bucket,
                        seq,
                        version_id: &c.version_id,
                        size: c.size,
                        etag: c.etag.as_deref(),
                    },
                )?;
                seqs.push(seq);
            }
            Ok(Applied::new(seqs))
        })
        .await
    }

    /// Removes intent `id`: the upstream refused the change.
    pub async fn drop_intent(&self, id: u64) -> StoreResult<()> {
        self.write(vec![], move |txn| {
            txn.open_table(INTENTS)?.remove(id)?;
            Ok(Applied::new(()))
        })
        .await
    }

    /// The intents still open, oldest first (after a crash: changes whose
    /// outcome was never learnt). Unreadable rows are reported and skipped.
    pub fn open_intents(&self) -> StoreResult<Vec<(u64, Intent)>> {
        let txn = self.db().begin_read()?;
        let table = txn.open_table(INTENTS)?;
        let mut out = Vec::new();
        for row in table.iter()? {
            let (k, v) = row?;
            match serde_json::from_slice::<Intent>(v.value()) {
                Ok(intent) => out.push((k.value(), intent)),
                Err(e) => tracing::error!(id = k.value(), error = %e, "unreadable gateway intent skipped"),
            }
        }
        Ok(out)
    }

    /// Intent `id`, if it is still open.
    pub fn intent(&self, id: u64) -> StoreResult<Option<Intent>> {
        let txn = self.db().begin_read()?;
        let table = txn.open_table(INTENTS)?;
        let Some(row) = table.get(id)? else {
            return Ok(None);
        };
        Ok(serde_json::from_slice(row.value()).ok())
    }

    /// The store-wide sequence as it stands (the sequencer of read events
    /// in gateway mode, which change nothing here).
    pub fn current_seq(&self) -> StoreResult<u64> {
        let txn = self.db().begin_read()?;
        let t = txn.open_table(crate::tables::COUNTERS)?;
        Ok(t.get("seq")?.map(|v| v.value()).unwrap_or(0))
    }
}
