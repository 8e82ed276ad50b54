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
use super::writes::{Head, head};
use crate::notify::{Change, Forwarded, Origin};

/// How far the upstream's clock may trail Herald's: a version modified up
/// to this long before the intent's start still counts as the intent's.
/// (S3's `Last-Modified` has one-second resolution.)
pub const CLOCK_ALLOWANCE_SECS: i64 = 2;

/// How often settling is retried while the upstream cannot be asked.
const RETRY_EVERY: Duration = Duration::from_secs(5);

/// What settling the open intents found.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Settled {
    /// Intents whose change happened (their events were committed).
    pub happened: usize,
    /// Intents whose change did not happen (dropped).
    pub dropped: usize,
}

impl Gateway {
    /// Settles every open intent; fails (leaving the rest open) when the
    /// upstream cannot be asked.
    pub(crate) async fn settle_open_intents(&self) -> Result<Settled, String> {
        let store = &self.local.store;
        let intents = store.open_intents().map_err(|e| e.to_string())?;
        let mut out = Settled::default();
        for (id, intent) in intents {
            let done = self.what_happened(&intent).await?;
            let Some(record) = store.get_bucket(&intent.bucket).map_err(|e| e.to_string())? else {
                store.drop_intent(id).await.map_err(|e| e.to_string())?;
                out.dropped += 1;
                continue;
            };
            if done.is_empty() {
                store.drop_intent(id).await.map_err(|e| e.to_string())?;
                out.dropped += 1;
                continue;
            }
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
            out.happened += 1;
        }
        Ok(out)
    }

    /// Settles now if the upstream answers, else keeps retrying in the
    /// background (the intents' events wait; nothing is dropped blindly).
    pub(crate) async fn settle_at_start(&self) {
        match self.settle_open_intents().await {
            Ok(s) => log_settled(s),
            Err(e) => {
                tracing::warn!(error = %e, "cannot settle open gateway intents yet; retrying in the background");
                let gw = self.clone();
                tokio::spawn(async move {
                    loop {
                        tokio::time::sleep(RETRY_EVERY).await;
                        match gw.settle_open_intents().await {
                            Ok(s) => {
                                log_settled(s);
                                return;
                            }
                            Err(e) => tracing::warn!(error = %e, "still cannot settle open gateway intents"),
                        }
                    }
                });
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
            let now = head(&self.client, &intent.bucket, &k.key, k.version_id.as_deref()).await?;
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
        let tags = self
            .client
            .get_object_tagging()
            .bucket(&intent.bucket)
            .key(&k.key)
            .set_version_id(k.version_id.clone())
            .send()
            .await
            .map_err(|e| aws_sdk_s3::error::DisplayErrorContext(&e).to_string())?;
        change.tags = tags
            .tag_set()
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

fn log_settled(s: Settled) {
    if s != Settled::default() {
        tracing::info!(
            happened = s.happened,
            dropped = s.dropped,
            "settled the gateway intents left open by the last run"
        );
    }
}
