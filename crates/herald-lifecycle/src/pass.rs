//! One pass over one bucket: its incomplete uploads, then its objects
//! page by page, the rules read again before every page (a bucket whose
//! rules were removed, or whose name now belongs to a re-created bucket,
//! is left at once), progress saved after each page.

use herald_model::event::EventType;
use herald_model::lifecycle::{self, Expire, LifecycleConfiguration, VersionFacts};
use herald_notify::{Change, PutError};
use herald_store::{BucketRecord, LifecycleBucket, LifecycleRun, ObjectVersion, StoreError, now_ms};

use crate::expire::Outcome;
use crate::{LifecycleWorker, PassReport, origin};

/// One key's versions and what expired of them.
pub(crate) type KeyWork = (String, Vec<ObjectVersion>, Vec<Expire>);

impl LifecycleWorker {
    /// With `budget`, stops after that many pages (the pass stays in
    /// progress, to be continued).
    pub(crate) async fn pass(&self, lb: LifecycleBucket, budget: Option<usize>) -> PassReport {
        let LifecycleBucket { bucket, run } = lb;
        let mut report = PassReport {
            buckets: 1,
            ..Default::default()
        };
        let mut run = if run.in_progress() {
            run
        } else {
            LifecycleRun {
                started_ms: now_ms().max(run.finished_ms + 1),
                finished_ms: run.finished_ms,
                after_key: None,
            }
        };
        if let Err(e) = self.store.save_lifecycle_run(&bucket, run.clone()).await {
            tracing::warn!(bucket = %bucket.name, error = %e, "lifecycle: cannot record the pass");
            report.interrupted = 1;
            return report;
        }
        let now = now_ms();
        // Uploads first: a pass often cut short still aborts them.
        if !self.abort_uploads(&bucket, now, &mut report).await {
            report.interrupted = 1;
            return report;
        }
        let mut pages = 0usize;
        loop {
            if budget.is_some_and(|b| pages >= b) || self.stopping() {
                report.unfinished = 1;
                return report;
            }
            pages += 1;
            let Some(config) = self.rules_of(&bucket) else {
                // Rules removed, or the name re-used: nothing more to do.
                return report;
            };
            let page = match self.page(&bucket, run.after_key.clone(), config, now).await {
                Ok(p) => p,
                Err(e) => {
                    tracing::warn!(bucket = %bucket.name, error = %e, "lifecycle: cannot list objects");
                    report.interrupted = 1;
                    return report;
                }
            };
            let Some(last) = page.last.clone() else { break };
            let outcomes = self.expire_page(&bucket, page.work).await;
            if !self.tally(outcomes, &mut report) {
                // The page is done again next time (what was removed is
                // gone, so nothing is removed twice).
                report.interrupted = 1;
                return report;
            }
            run.after_key = Some(last);
            if let Err(e) = self.store.save_lifecycle_run(&bucket, run.clone()).await {
                tracing::warn!(bucket = %bucket.name, error = %e, "lifecycle: cannot record progress");
            }
        }
        run.after_key = None;
        run.finished_ms = run.started_ms.max(now_ms());
        if let Err(e) = self.store.save_lifecycle_run(&bucket, run).await {
            tracing::warn!(bucket = %bucket.name, error = %e, "lifecycle: cannot record the end of the pass");
        }
        report
    }

    /// The bucket's rules now (`None`: removed, or its name re-used).
    fn rules_of(&self, bucket: &BucketRecord) -> Option<LifecycleConfiguration> {
        match self.store.get_lifecycle(bucket) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(bucket = %bucket.name, error = %e, "lifecycle: cannot read the rules");
                None
            }
        }
    }

    /// Reads a page and decides on it, off the async threads.
    async fn page(
        &self,
        bucket: &BucketRecord,
        after: Option<String>,
        config: LifecycleConfiguration,
        now: i64,
    ) -> Result<Page, StoreError> {
        let (store, clock, pacing, name) = (self.store.clone(), self.clock, self.pacing, bucket.name.clone());
        tokio::task::spawn_blocking(move || {
            let keys = store.object_versions_page(&name, after.as_deref(), pacing.page_keys, pacing.page_versions)?;
            let last = keys.last().map(|(k, _)| k.clone());
            let work = keys
                .into_iter()
                .filter_map(|(key, versions)| {
                    let facts: Vec<VersionFacts<'_>> = versions.iter().map(facts_of).collect();
                    let todo = lifecycle::expired(&config, clock, &key, &facts, now);
                    drop(facts);
                    (!todo.is_empty()).then_some((key, versions, todo))
                })
                .collect();
            Ok(Page { last, work })
        })
        .await
        .map_err(|e| StoreError::Db(format!("lifecycle page task: {e}")))?
    }

    /// Counts a page's outcomes; `false` when the pass must stop.
    fn tally(&self, outcomes: Vec<(Expire, Outcome)>, report: &mut PassReport) -> bool {
        let counters = &self.notifier.metrics.lifecycle;
        let mut go_on = true;
        for (what, outcome) in outcomes {
            match outcome {
                Outcome::Done => {
                    let (mine, total) = match what {
                        Expire::Current { .. } => (&mut report.current, &counters.expire_current),
                        Expire::Noncurrent { .. } => (&mut report.noncurrent, &counters.expire_noncurrent),
                        Expire::DeleteMarker { .. } => (&mut report.delete_markers, &counters.expire_dm),
                    };
                    *mine += 1;
                    total.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                Outcome::Skipped => report.skipped += 1,
                Outcome::Failed => report.errors += 1,
                Outcome::Stop => go_on = false,
            }
        }
        go_on
    }

    /// Aborts the bucket's expired incomplete uploads. `false` when the
    /// pass must stop (a full destination, the bucket gone).
    async fn abort_uploads(&self, bucket: &BucketRecord, now: i64, report: &mut PassReport) -> bool {
        let Some(config) = self.rules_of(bucket) else {
            return true;
        };
        if !config.enabled().any(|r| r.abort_incomplete_upload_days.is_some()) {
            return true;
        }
        let (store, name) = (self.store.clone(), bucket.name.clone());
        let uploads = match tokio::task::spawn_blocking(move || store.uploads_of(&name)).await {
            Ok(Ok(u)) => u,
            Ok(Err(e)) => {
                tracing::warn!(bucket = %bucket.name, error = %e, "lifecycle: cannot list uploads");
                return false;
            }
            Err(e) => {
                tracing::warn!(bucket = %bucket.name, error = %e, "lifecycle: cannot list uploads");
                return false;
            }
        };
        for u in uploads {
            if self.stopping() {
                return false;
            }
            if !lifecycle::upload_expired(&config, self.clock, &u.key, u.initiated_ms, now) {
                continue;
            }
            let change = self.notifier.wants_changes(&bucket.name).then(|| Change {
                metadata: u.meta.user_pairs(),
                tags: u.tags.clone(),
                content_type: u.meta.content_type.clone(),
                ..Change::new(EventType::ObjectLifecycleExpirationAbortMultipartUpload, &u.key)
            });
            let result = self
                .notifier
                .write_with_events(&bucket.name, change, &origin(), |events| {
                    self.store.abort_expired_upload(bucket, &u.upload_id, events)
                })
                .await;
            match result {
                Ok(_) => {
                    report.uploads_aborted += 1;
                    self.notifier
                        .metrics
                        .lifecycle
                        .abort_mpu
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                // Completed or aborted meanwhile.
                Err(PutError::Store(StoreError::NoSuchUpload)) => report.skipped += 1,
                Err(e) => match self.failed(&bucket.name, &u.key, e) {
                    Outcome::Stop => return false,
                    Outcome::Failed => report.errors += 1,
                    Outcome::Done | Outcome::Skipped => report.skipped += 1,
                },
            }
        }
        true
    }
}

/// A page read and decided on.
struct Page {
    /// The page's last key (`None`: the bucket has no more keys).
    last: Option<String>,
    work: Vec<KeyWork>,
}

/// The facts the decision needs about a stored version.
fn facts_of(v: &ObjectVersion) -> VersionFacts<'_> {
    VersionFacts {
        version_id: &v.version_id,
        seq: v.seq,
        delete_marker: v.delete_marker,
        last_modified_ms: v.last_modified_ms,
        size: v.size,
        tags: &v.tags,
    }
}
