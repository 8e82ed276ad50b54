//! The bracket around a forwarded mutation: an intent opened before, the
//! events committed (or the intent dropped, or settled by asking the
//! upstream) after.
//!
//! A forwarded mutation with events runs in a task of its own
//! ([`detached`]): a client that hangs up mid-request cannot cut it
//! between the upstream's answer and the commit of its events.

use std::future::Future;

use herald_store::{Intent, IntentKey, IntentKind, now_ms};
use s3s::{S3Error, S3Request, S3Result, s3_error};

use super::Gateway;
use super::upstream::{Head, head};
use crate::notify::{Change, Forwarded, Origin};
use crate::s3::events::{put_err, req_info};

/// An opened intent: its id and what it says (to settle it by asking the
/// upstream when the answer was lost).
pub(super) struct Opened {
    pub id: u64,
    pub intent: Intent,
}

/// `None`: nothing wants the bucket's changes, no intent was written.
pub(super) type Ticket = Option<Opened>;

/// The longest version id Herald forwards in a mutation with events
/// (AWS's are 32 characters; others' longer, never this long).
const MAX_VERSION_ID: usize = 1024;

/// Whether an upstream error says the change did not happen: a 4xx
/// answer (the request was refused). A 5xx or no answer at all may hide a
/// change made before the failure.
fn refused(e: &S3Error) -> bool {
    let status = e.status_code().map(|s| s.as_u16());
    matches!(status, Some(400..=499)) && !matches!(status, Some(408 | 429))
}

impl Gateway {
    /// Runs `work` in a task of its own and waits for it: if the client
    /// goes away the task still finishes (its intent closed or its events
    /// committed), and only the answer is dropped. Such tasks hold a permit
    /// of their own (as many as the port takes connections), so clients
    /// that hang up cannot pile up work past the connection limit.
    pub(super) async fn detached<T, F>(&self, work: F) -> S3Result<T>
    where
        T: Send + 'static,
        F: Future<Output = S3Result<T>> + Send + 'static,
    {
        let Ok(permit) = self.detached_slots.clone().acquire_owned().await else {
            return Err(s3_error!(ServiceUnavailable, "The server is shutting down"));
        };
        let task = tokio::spawn(async move {
            let answer = work.await;
            drop(permit);
            answer
        });
        match task.await {
            Ok(answer) => answer,
            Err(e) => {
                tracing::error!(error = %e, "a forwarded mutation's task failed");
                Err(s3_error!(
                    InternalError,
                    "We encountered an internal error. Please try again."
                ))
            }
        }
    }

    pub(super) fn origin<T>(&self, req: &S3Request<T>) -> Origin {
        let info = req_info(req);
        Origin {
            principal: self.local.caller(req).unwrap_or_default(),
            source_ip: info.source_ip,
            request_id: info.request_id,
            batch_writer: false,
        }
    }

    /// Whether anything wants `bucket`'s changes (a configuration, a
    /// live-tail watcher).
    pub(super) fn wants(&self, bucket: &str) -> bool {
        self.local.notifier.wants_changes(bucket)
    }

    /// Before forwarding a mutation of `changes` (keys, with the versions
    /// the request names): SlowDown if a destination is full, else the
    /// intent (`None`: nothing wants the bucket's changes).
    pub(super) async fn open(
        &self,
        bucket: &str,
        kind: IntentKind,
        origin: &Origin,
        changes: &[Change],
        versions: &[Option<String>],
    ) -> S3Result<Ticket> {
        if let Some(v) = versions.iter().flatten().find(|v| !valid_version_id(v)) {
            return Err(s3_error!(InvalidArgument, "Invalid version id specified: {v:?}"));
        }
        let intent = Intent {
            bucket: bucket.to_owned(),
            bucket_id: self
                .local
                .store
                .get_bucket(bucket)
                .ok()
                .flatten()
                .map(|b| b.id)
                .unwrap_or_default(),
            kind,
            event: changes.first().map(|c| c.event.name().to_owned()).unwrap_or_default(),
            keys: changes
                .iter()
                .zip(versions.iter().chain(std::iter::repeat(&None)))
                .map(|(c, v)| IntentKey {
                    key: c.key.clone(),
                    version_id: v.clone(),
                })
                .collect(),
            started_ms: now_ms(),
            principal: origin.principal.clone(),
            source_ip: origin.source_ip.clone(),
            request_id: origin.request_id.clone(),
        };
        let id = self
            .local
            .notifier
            .open_forward(changes, origin, &intent)
            .await
            .map_err(put_err)?;
        Ok(id.map(|id| Opened { id, intent }))
    }

    /// The upstream's answer to a forwarded mutation. A refusal closes the
    /// intent without events; a failure that may hide a change (5xx, a
    /// connection lost) settles it by asking the upstream, now or, if it
    /// cannot be asked, in the background.
    pub(super) async fn answered<T>(&self, ticket: &Ticket, answer: S3Result<T>) -> S3Result<T> {
        let (Err(e), Some(opened)) = (&answer, ticket) else {
            return answer;
        };
        if refused(e) {
            self.local.notifier.abandon_forward(Some(opened.id)).await;
        } else if let Err(why) = self.settle_one(opened.id, &opened.intent).await {
            tracing::warn!(id = opened.id, error = %why, "outcome of a forwarded change unknown; settling later");
            self.settle_later(opened.id);
        }
        answer
    }

    /// After the upstream acknowledged `done`: their events committed,
    /// the intent closed. A failure here is a 500: the change happened but
    /// its events are not safe yet (the intent stays, and is settled by
    /// asking the upstream in the background).
    pub(super) async fn settle(
        &self,
        bucket: &str,
        ticket: &Ticket,
        origin: &Origin,
        done: Vec<Forwarded>,
    ) -> S3Result<()> {
        let id = ticket.as_ref().map(|o| o.id);
        if id.is_none() && !self.wants(bucket) {
            return Ok(());
        }
        let record = self.local.store.get_bucket(bucket).ok().flatten();
        let expected = ticket.as_ref().map(|o| o.intent.bucket_id.as_str());
        let Some(record) = record.filter(|r| expected.is_none_or(|id| id == r.id)) else {
            // Deleted (or made again) meanwhile: its configuration is gone.
            self.local.notifier.abandon_forward(id).await;
            return Ok(());
        };
        if let Err(e) = self.local.notifier.settle_forward(&record, id, origin, done).await {
            tracing::error!(bucket, error = %e, "cannot commit the events of a forwarded change");
            if let Some(id) = id {
                self.settle_later(id);
            }
            return Err(s3_error!(
                InternalError,
                "The change was made but its events could not be recorded yet"
            ));
        }
        Ok(())
    }

    /// HEAD for an event's facts; a failure leaves the answer's own.
    pub(super) async fn head_for_event(&self, bucket: &str, key: &str, version_id: Option<&str>) -> Option<Head> {
        match head(&self.client, bucket, key, version_id.filter(|v| !v.is_empty())).await {
            Ok(h) => h,
            Err(e) => {
                tracing::warn!(bucket, key, error = %e, "cannot HEAD the upstream for an event's details");
                None
            }
        }
    }
}

/// A version id Herald forwards and keeps in an intent: printable ASCII,
/// bounded (a hostile one, such as a NUL, would make every later HEAD of
/// the intent fail).
fn valid_version_id(v: &str) -> bool {
    !v.is_empty() && v.len() <= MAX_VERSION_ID && v.bytes().all(|b| b.is_ascii_graphic())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_4xx_answers_count_as_refusals() {
        let with = |code: u16| {
            let mut e = S3Error::new(s3s::S3ErrorCode::InternalError);
            e.set_status_code(http::StatusCode::from_u16(code).unwrap());
            e
        };
        assert!(refused(&with(404)));
        assert!(refused(&with(412)));
        assert!(!refused(&with(408)));
        assert!(!refused(&with(429)));
        assert!(!refused(&with(500)));
        assert!(!refused(&with(503)));
    }

    #[test]
    fn version_ids_are_printable_and_bounded() {
        assert!(valid_version_id("3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY"));
        assert!(valid_version_id("null"));
        assert!(!valid_version_id("a\0b"));
        assert!(!valid_version_id(""));
        assert!(!valid_version_id(&"v".repeat(1025)));
    }
}
