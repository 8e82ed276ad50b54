//! Changes another store makes (gateway mode): Herald forwards the
//! request to its upstream S3 and produces the events for what the
//! upstream acknowledged.
//!
//! The change cannot commit with its events here, so it is bracketed by an
//! intent (see `herald_store::intents`): [`Notifier::open_forward`] before
//! the request goes upstream (refusing with SlowDown, as a local write
//! would, when a destination is full), [`Notifier::settle_forward`] once
//! the upstream answered yes (events and the intent's removal in one group
//! commit, then the live tail and synchronous pushes), or
//! [`Notifier::abandon_forward`] when it answered no.

use herald_store::{BucketRecord, Intent, SettledChange, StoreError};

use super::{Change, Committed, Origin, Pending, PutError};
use crate::Notifier;

/// One change the upstream acknowledged, as its answer (or a HEAD after
/// it) describes it.
pub struct Forwarded {
    pub change: Change,
    /// As the upstream reports it (`""`: the bucket has no versioning).
    pub version_id: String,
    /// The new version's size (`None` for removals: the change's own).
    pub size: Option<u64>,
    pub etag: Option<String>,
}

/// Why a forwarded change's events could not be committed.
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Notifier {
    /// Before a mutation goes upstream: refuses with SlowDown when a
    /// persistent destination one of `predicted` would reach is full, and
    /// commits `intent` when anything wants the bucket's changes (a
    /// notification configuration or a live-tail watcher). The intent's
    /// id, `None` when nothing is wanted (then nothing is written).
    pub async fn open_forward(
        &self,
        predicted: &[Change],
        origin: &Origin,
        intent: &Intent,
    ) -> Result<Option<u64>, PutError> {
        let bucket = intent.bucket.as_str();
        if !self.wants_changes(bucket) {
            return Ok(None);
        }
        if self.has_config(bucket) {
            for change in predicted {
                self.plan(bucket, change, origin.batch_writer, false)?;
            }
        }
        Ok(Some(self.store.open_intent(intent).await?))
    }

    /// The upstream refused the change (or could not be asked): the intent
    /// is closed without events.
    pub async fn abandon_forward(&self, id: Option<u64>) {
        let Some(id) = id else { return };
        if let Err(e) = self.store.drop_intent(id).await {
            // Left open, it is settled by asking the upstream at the next
            // start, which finds no change.
            tracing::warn!(id, error = %e, "cannot close a refused gateway intent");
        }
    }

    /// The upstream acknowledged `done`: their events are committed and
    /// intent `id` closed in one group commit (durable when this returns),
    /// then handed to the live tail and pushed to synchronous topics. The
    /// events are taken even when a destination has filled up since
    /// [`Notifier::open_forward`]: the change cannot be undone any more.
    pub async fn settle_forward(
        &self,
        bucket: &BucketRecord,
        id: Option<u64>,
        origin: &Origin,
        done: Vec<Forwarded>,
    ) -> Result<(), ForwardError> {
        let name = bucket.name.as_str();
        if id.is_none() && !self.wants_changes(name) {
            return Ok(());
        }
        let configured = self.has_config(name);
        let mut prepared = Vec::with_capacity(done.len());
        let mut settled = Vec::with_capacity(done.len());
        for f in done {
            let pending = match configured {
                true => Pending {
                    plan: self
                        .plan(name, &f.change, origin.batch_writer, true)
                        .unwrap_or_default(),
                    change: f.change.clone(),
                    origin: origin.clone(),
                },
                false => Pending::none(),
            };
            settled.push(SettledChange {
                renderer: self.event_renderer(&pending),
                version_id: f.version_id.clone(),
                size: f.size,
                etag: f.etag.clone(),
            });
            prepared.push((pending, f));
        }
        let seqs = self.store.settle_intent(id, bucket, settled).await?;
        let tailed = self.tail_watches(name);
        for ((pending, f), seq) in prepared.into_iter().zip(seqs) {
            let committed = Committed {
                bucket,
                seq,
                version_id: &f.version_id,
                size: f.size,
                etag: f.etag.as_deref(),
            };
            if tailed {
                self.publish_to_tail(&f.change, origin, &committed);
            }
            self.finish(pending, &committed).await;
        }
        Ok(())
    }
}
