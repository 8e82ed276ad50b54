//! Settling the intents a crash left open (gateway mode).
//!
//! An open intent is a mutation Herald forwarded and never heard the end
//! of: the upstream may or may not have made it. Before the gateway serves,
//! each one is settled by asking the upstream what it holds now:
//!
//! - **Create** (PUT, copy, multipart completion): happened when the key's
//!   current version was modified at or after the intent's start (less
//!   [`CLOCK_ALLOWANCE`]); its event then describes that version.
//! - **Remove** of a named version: happened when that version is gone.
//!   Of a key: happened when the key is gone (or its current version is a
//!   delete marker), or was written again after the intent started (the
//!   upstream cannot tell then; the event is released rather than lost).
//! - **Tagging**: happened when the object is still there (a tag change
//!   leaves no date); the event carries the tags it has now.
//!
//! Changes that happened get their events (rendered as in embedded mode,
//! committed with the intent's removal); the others are dropped. While the
//! upstream cannot be asked, the intents stay open and the settling is
//! retried every few seconds, in the background.

use std::time::Duration;

use herald_model::VersioningState;
use herald_model::event::EventType;
use herald_store::{Intent, IntentKey, IntentKind};

use super::Gateway;
use super::upstream::{Head, HeadError, head};
use crate::notify::{Change, Forwarded, Origin};

/// How far the upstream's clock may trail Herald's: a version modified up
/// to this long before the intent's start still counts as the intent's.
/// (S3's `Last-Modified` has one-second resolution.)
pub const CLOCK_ALLOWANCE_SECS: i64 = 2;

/// How often intents whose outcome is unknown are asked about again.
const RETRY_EVERY: Duration = Duration::from_secs(5);

/// What settling the open intents found.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Settled {
    /// Intents whose change happened (their events were committed).
    pub happened: usize,
    /// Intents whose change did not happen (dropped).
    pub dropped: usize,
    /// Intents the upstream could not be asked about (retried).
    pub waiting: usize,
}

impl Gateway {
    /// Settles intent `id`: asks the upstream what became of its change,
    /// commits the events of what happened (with the intent's removal) or
    /// drops it. `Ok(true)`: something happened. Fails, leaving the intent
    /// open, only when the upstream cannot be asked.
    pub(super) async fn settle_one(&self, id: u64, intent: &Intent) -> Result<bool, String> {
        let store = &self.local.store;
        let record = store.get_bucket(&intent.bucket).map_err(|e| e.to_string())?;
        let same_bucket = record
            .as_ref()
            .is_some_and(|r| intent.bucket_id.is_empty() || r.id == intent.bucket_id);
        let done = match (&record, same_bucket) {
            (Some(_), true) => self.what_happened(intent).await?,
            // Gone, or another bucket of the same name now: nothing is
            // configured for the intent's bucket any more.
            _ => Vec::new(),
        };
        let Some(record) = record.filter(|_| same_bucket && !done.is_empty()) else {
            store.drop_intent(id).await.map_err(|e| e.to_string())?;
            return Ok(false);
        };
        let origin = Origin {
            principal: intent.principal.clone(),
            source_ip: intent.source_ip.clone(),
            request_id: intent.request_id.clone(),
            batch_writer: false,
        };
        self.local
            .notifier
            .settle_forward(&record, Some(id), &origin, done)
            .await
            .map_err(|e| e.to_string())?;
        Ok(true)
    }

    /// Settles, before the gateway serves, every intent the last run left
    /// open; those the upstream cannot be asked about now are retried in
    /// the background, together with those of this run whose outcome is
    /// unknown ([`Gateway::settle_later`]). Only intents older than this
    /// start are touched here: a request's own intent is its own to close.
    pub(crate) async fn settle_at_start(&self) {
        let open = match self.local.store.open_intents() {
            Ok(open) => open,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the open gateway intents");
                Vec::new()
            }
        };
        let mut settled = Settled::default();
        let mut reachable = true;
        for (id, intent) in open {
            if !reachable {
                // Once the upstream failed to answer, the rest wait for the
                // background rounds: the server starts serving meanwhile.
                settled.waiting += 1;
                self.settle_later(id);
                continue;
            }
            match self.settle_one(id, &intent).await {
                Ok(true) => settled.happened += 1,
                Ok(false) => settled.dropped += 1,
                Err(e) => {
                    tracing::warn!(id, error = %e, "cannot settle a gateway intent yet; retrying in the background");
                    settled.waiting += 1;
                    reachable = false;
                    self.settle_later(id);
                }
            }
        }
        if settled != Settled::default() {
            tracing::info!(
                happened = settled.happened,
                dropped = settled.dropped,
                waiting = settled.waiting,
                "settled the gateway intents left open by the last run"
            );
        }
        let gw = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(RETRY_EVERY).await;
                gw.retry_unsettled().await;
            }
        });
    }

    /// Puts intent `id` on the list retried in the background.
    pub(super) fn settle_later(&self, id: u64) {
        self.unsettled.lock().expect("unsettled intents").insert(id);
    }

    /// One background round over the intents whose outcome is unknown.
    async fn retry_unsettled(&self) {
        let ids: Vec<u64> = self
            .unsettled
            .lock()
            .expect("unsettled intents")
            .iter()
            .copied()
            .collect();
        for id in ids {
            let outcome = match self.local.store.intent(id) {
                // Closed meanwhile, or unreadable: its row goes (if any).
                Ok(None) => self
                    .local
                    .store
                    .drop_intent(id)
                    .await
                    .map(|_| false)
                    .map_err(|e| e.to_string()),
                Ok(Some(intent)) => self.settle_one(id, &intent).await,
                Err(e) => Err(e.to_string()),
            };
            match outcome {
                Ok(_) => {
                    self.unsettled.lock().expect("unsettled intents").remove(&id);
                }
                Err(e) => tracing::debug!(id, error = %e, "gateway intent still unsettled"),
            }
        }
    }

    /// The changes of `intent` the upstream shows happened.
    async fn what_happened(&self, intent: &Intent) -> Result<Vec<Forwarded>, String> {
        let Some(event) = EventType::from_name(&intent.event) else {
            tracing::error!(event = %intent.event, "gateway intent with an unknown event dropped");
            return Ok(Vec::new());
        };
        let started_s = intent.started_ms.div_euclid(1000) - CLOCK_ALLOWANCE_SECS;
        let mut done = Vec::new();
        for k in &intent.keys {
            let now = match head(&self.client, &intent.bucket, &k.key, k.version_id.as_deref()).await {
                Ok(now) => now,
                Err(HeadError::Unreachable(e)) => return Err(e),
                Err(HeadError::Unclear(e)) => {
                    // Asking again will not tell more (an SSE-C object, a
                    // refusal): the event is released rather than lost.
                    tracing::warn!(bucket = %intent.bucket, key = %k.key, error = %e, "cannot tell whether a forwarded change happened; releasing its event");
                    done.push(Forwarded {
                        change: Change::new(event, k.key.clone()),
                        version_id: k.version_id.clone().unwrap_or_default(),
                        size: None,
                        etag: None,
                    });
                    continue;
                }
            };
            let happened = match intent.kind {
                IntentKind::Create => now
                    .filter(|h| h.last_modified.is_some_and(|lm| lm >= started_s))
                    .map(|h| created(event, k, &h)),
                IntentKind::Remove => self.removed(intent, event, k, now, started_s),
                IntentKind::Tagging => match now {
                    None => None,
                    Some(h) => Some(self.tagged(intent, event, k, &h).await?),
                },
            };
            done.extend(happened);
        }
        Ok(done)
    }

    /// A removal that happened, if the upstream's state says so.
    fn removed(
        &self,
        intent: &Intent,
        event: EventType,
        k: &IntentKey,
        now: Option<Head>,
        started_s: i64,
    ) -> Option<Forwarded> {
        let rewritten = now
            .as_ref()
            .is_some_and(|h| h.last_modified.is_some_and(|lm| lm >= started_s));
        if now.is_some() && !rewritten {
            return None;
        }
        let versioned = self
            .local
            .store
            .get_bucket(&intent.bucket)
            .ok()
            .flatten()
            .is_some_and(|b| b.versioning != VersioningState::Unversioned);
        let event = match (&k.version_id, versioned, event) {
            (None, true, _) => EventType::ObjectRemovedDeleteMarkerCreated,
            (Some(_), _, _) => EventType::ObjectRemovedDelete,
            (None, false, e) => e,
        };
        Some(Forwarded {
            change: Change::new(event, k.key.clone()),
            version_id: k.version_id.clone().unwrap_or_default(),
            size: None,
            etag: None,
        })
    }

    /// A tag change that happened, with the tags the object has now.
    async fn tagged(&self, intent: &Intent, event: EventType, k: &IntentKey, h: &Head) -> Result<Forwarded, String> {
        let mut change = created(event, k, h).change;
        let tags = super::upstream::timed(
            self.client
                .get_object_tagging()
                .bucket(&intent.bucket)
                .key(&k.key)
                .set_version_id(k.version_id.clone())
                .send(),
        )
        .await
        .map_err(|e| e.to_string())?;
        let tags = match tags {
            Ok(t) => t.tag_set().to_vec(),
            Err(e) => {
                // The HEAD answered: the event goes, without its tags.
                tracing::warn!(bucket = %intent.bucket, key = %k.key, error = %aws_sdk_s3::error::DisplayErrorContext(&e), "cannot read the tags for a settled change's event");
                Vec::new()
            }
        };
        change.tags = tags
            .iter()
            .map(|t| (t.key().to_owned(), t.value().to_owned()))
            .collect();
        Ok(Forwarded {
            version_id: h.version_id.clone(),
            size: Some(h.size),
            etag: Some(h.etag.clone()),
            change,
        })
    }
}

/// A creation described by the version the upstream holds now.
fn created(event: EventType, k: &IntentKey, h: &Head) -> Forwarded {
    let mut change = Change::new(event, k.key.clone());
    change.size = h.size;
    change.etag = h.etag.clone();
    change.metadata = h.metadata.clone();
    change.content_type = h.content_type.clone();
    Forwarded {
        change,
        version_id: h.version_id.clone(),
        size: Some(h.size),
        etag: Some(h.etag.clone()),
    }
}
