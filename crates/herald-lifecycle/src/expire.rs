//! Acting on a page's decisions: each key's expirations in order, each a
//! conditional removal with its events through the notifier.

use futures::StreamExt as _;
use herald_model::VersioningState;
use herald_model::event::EventType;
use herald_model::lifecycle::Expire;
use herald_notify::{Change, PutError};
use herald_store::{BucketRecord, DeleteConditions, ObjectVersion, StoreError};

use crate::pass::KeyWork;
use crate::{CONCURRENT_KEYS, LIFECYCLE_PRINCIPAL, LifecycleWorker, origin};

/// How one expiration went.
pub(crate) enum Outcome {
    Done,
    /// Retention, legal hold, or the version changed meanwhile.
    Skipped,
    /// The store failed on this key (logged); the pass goes on.
    Failed,
    /// A destination is full, the bucket is gone, or the server stops:
    /// stop the pass here, come back later.
    Stop,
}

impl LifecycleWorker {
    /// Acts on a page, [`CONCURRENT_KEYS`] keys at a time.
    pub(crate) async fn expire_page(&self, bucket: &BucketRecord, work: Vec<KeyWork>) -> Vec<(Expire, Outcome)> {
        futures::stream::iter(work)
            .map(|(key, versions, todo)| self.expire_key(bucket, key, versions, todo))
            .buffer_unordered(CONCURRENT_KEYS)
            .flat_map(futures::stream::iter)
            .collect()
            .await
    }

    /// Acts on one key's expirations in order (noncurrent versions first).
    /// A delete marker is removed only if every version under it was: one
    /// held back (retention, a failure) keeps it, so a deleted object never
    /// comes back as current. Stops at the first [`Outcome::Stop`].
    async fn expire_key(
        &self,
        bucket: &BucketRecord,
        key: String,
        versions: Vec<ObjectVersion>,
        todo: Vec<Expire>,
    ) -> Vec<(Expire, Outcome)> {
        let mut out: Vec<(Expire, Outcome)> = Vec::with_capacity(todo.len());
        for what in todo {
            let all_done = out.iter().all(|(_, o)| matches!(o, Outcome::Done));
            if matches!(what, Expire::DeleteMarker { .. }) && !all_done {
                out.push((what, Outcome::Skipped));
                continue;
            }
            let outcome = if self.stopping() {
                Outcome::Stop
            } else {
                self.expire_one(bucket, &key, &versions, &what).await
            };
            let stop = matches!(outcome, Outcome::Stop);
            out.push((what, outcome));
            if stop {
                break;
            }
        }
        out
    }

    async fn expire_one(&self, bucket: &BucketRecord, key: &str, versions: &[ObjectVersion], what: &Expire) -> Outcome {
        let versioned = bucket.versioning != VersioningState::Unversioned;
        let (event, version_id, seq) = match what {
            Expire::Current { seq } => (EventType::ObjectLifecycleExpirationCurrent, None, *seq),
            Expire::Noncurrent { version_id, seq } => (
                EventType::ObjectLifecycleExpirationNonCurrent,
                Some(version_id.as_str()),
                *seq,
            ),
            Expire::DeleteMarker { version_id, seq } => (
                EventType::ObjectLifecycleExpirationDeleteMarker,
                Some(version_id.as_str()),
                *seq,
            ),
        };
        let marker_created = matches!(what, Expire::Current { .. }) && versioned;
        let change = self.notifier.wants_changes(&bucket.name).then(|| {
            let described = match versions.iter().find(|v| v.seq == seq) {
                Some(v) => Change::of_version(event, key, v),
                None => Change::new(event, key),
            };
            Change {
                alias: event.lifecycle_alias(marker_created),
                ..described
            }
        });
        // Only the version decided on, in the bucket decided for; a delete
        // marker only while nothing is under it.
        let conditions = DeleteConditions {
            seq: Some(seq),
            bucket_id: Some(bucket.id.clone()),
            only_version: matches!(what, Expire::DeleteMarker { .. }),
            ..Default::default()
        };
        let result = self
            .notifier
            .write_with_events(&bucket.name, change, &origin(), |events| {
                self.store
                    .delete_object(&bucket.name, key, version_id, LIFECYCLE_PRINCIPAL, &conditions, events)
            })
            .await;
        match result {
            Ok(out) if out.changed => Outcome::Done,
            Ok(_) => Outcome::Skipped,
            Err(e) => self.failed(&bucket.name, key, e),
        }
    }

    pub(crate) fn failed(&self, bucket: &str, key: &str, e: PutError) -> Outcome {
        match e {
            PutError::Notify(e) => {
                tracing::info!(bucket, key, error = %e, "lifecycle: pausing this bucket's pass");
                Outcome::Stop
            }
            PutError::Store(StoreError::PreconditionFailed) => {
                tracing::debug!(bucket, key, "lifecycle: the version changed since the decision; left");
                Outcome::Skipped
            }
            // Object Lock's refusal (retention, legal hold).
            PutError::Store(
                e @ StoreError::Refused {
                    code: "AccessDenied", ..
                },
            ) => {
                tracing::debug!(bucket, key, error = %e, "lifecycle: version under retention or legal hold; left");
                Outcome::Skipped
            }
            PutError::Store(StoreError::NoSuchBucket | StoreError::ShuttingDown) => Outcome::Stop,
            PutError::Store(e) => {
                tracing::warn!(bucket, key, error = %e, "lifecycle: cannot expire; trying again next pass");
                Outcome::Failed
            }
        }
    }
}
