//! The lifecycle worker: goes through every bucket that has lifecycle
//! rules at least once a (lifecycle) day and expires what the rules say,
//! each removal with its events, through the notifier's one write path.
//!
//! - **Never blocks requests.** Each removal is its own small store write,
//!   grouped by the committer with the requests' writes; at most
//!   [`CONCURRENT_KEYS`] keys are worked on at once.
//! - **Fair between buckets.** A background turn gives each due bucket at
//!   most [`PAGES_PER_TURN`] pages; a bigger bucket continues at the next
//!   tick, after the others had theirs.
//! - **Resumes after a restart.** Progress (the last key dealt with) is
//!   saved after every page of [`PAGE_KEYS`] keys; a pass that was cut
//!   short is taken up where it stopped.
//! - **Removes only what it decided on.** Every removal is conditional on
//!   the version's sequence number, so a version written after the
//!   decision is never the one removed.
//! - **Loses no event.** When a persistent destination is full (SlowDown)
//!   the pass stops where it is and is taken up again at the next tick.
//!
//! Decisions are pure (`herald_model::lifecycle::expired`); this crate
//! reads pages, acts and keeps the progress.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use herald_model::VersioningState;
use herald_model::event::EventType;
use herald_model::lifecycle::{self, Expire, LifecycleClock, VersionFacts};
use herald_notify::{Change, Notifier, Origin, PutError};
use herald_store::{DeleteConditions, LifecycleBucket, LifecycleRun, ObjectVersion, Store, StoreError, now_ms};

/// Keys read per page (and progress saved after each).
pub const PAGE_KEYS: usize = 1000;
/// Pages a background turn gives one bucket before going on to the next
/// (the bucket's pass then continues at the next tick): a tenant's huge
/// bucket cannot hold back every other bucket's pass.
pub const PAGES_PER_TURN: usize = 100;
/// Keys worked on at once within a page.
pub const CONCURRENT_KEYS: usize = 16;
/// The principal of lifecycle events: the service, as on AWS.
pub const LIFECYCLE_PRINCIPAL: &str = "s3.amazonaws.com";

/// What a pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct PassReport {
    /// Buckets gone through (to the end, or until stopped).
    pub buckets: usize,
    /// Current versions expired (removed, or hidden under a delete marker).
    pub current: u64,
    /// Noncurrent versions removed.
    pub noncurrent: u64,
    /// Expired delete markers removed.
    pub delete_markers: u64,
    /// Incomplete multipart uploads aborted.
    pub uploads_aborted: u64,
    /// Expired versions left in place: under Object Lock retention or a
    /// legal hold, or changed since the decision.
    pub skipped: u64,
    /// Buckets whose pass stopped early (a full destination, a store
    /// error); taken up again at the next tick.
    pub interrupted: usize,
    /// Buckets whose turn ended before their pass did (see
    /// [`PAGES_PER_TURN`]); continued at the next tick.
    pub unfinished: usize,
}

impl PassReport {
    fn add(&mut self, other: &PassReport) {
        self.buckets += other.buckets;
        self.current += other.current;
        self.noncurrent += other.noncurrent;
        self.delete_markers += other.delete_markers;
        self.uploads_aborted += other.uploads_aborted;
        self.skipped += other.skipped;
        self.interrupted += other.interrupted;
        self.unfinished += other.unfinished;
    }
}

/// How the worker paces itself.
#[derive(Debug, Clone, Copy)]
pub struct Pacing {
    /// Keys read per page (progress is saved after each).
    pub page_keys: usize,
    /// Pages one background turn gives a bucket.
    pub pages_per_turn: usize,
}

impl Default for Pacing {
    fn default() -> Self {
        Pacing {
            page_keys: PAGE_KEYS,
            pages_per_turn: PAGES_PER_TURN,
        }
    }
}

/// The worker. One per server; cheap to share.
pub struct LifecycleWorker {
    store: Store,
    notifier: Arc<Notifier>,
    clock: LifecycleClock,
    pacing: Pacing,
    /// One pass at a time (the background ticks and `herald lifecycle
    /// process` never work on a bucket together).
    passes: tokio::sync::Mutex<()>,
}

/// How one expiration went.
enum Outcome {
    Done,
    /// Retention, legal hold, or the version changed meanwhile.
    Skipped,
    /// A destination is full: stop the pass, come back later.
    Stop,
}

impl LifecycleWorker {
    pub fn new(store: Store, notifier: Arc<Notifier>, clock: LifecycleClock) -> Arc<LifecycleWorker> {
        Self::with_pacing(store, notifier, clock, Pacing::default())
    }

    pub fn with_pacing(
        store: Store,
        notifier: Arc<Notifier>,
        clock: LifecycleClock,
        pacing: Pacing,
    ) -> Arc<LifecycleWorker> {
        Arc::new(LifecycleWorker {
            store,
            notifier,
            clock,
            pacing,
            passes: tokio::sync::Mutex::new(()),
        })
    }

    /// How often the background loop looks for buckets that are due: a
    /// quarter of a lifecycle day, between 250 ms and a minute.
    pub fn tick(&self) -> Duration {
        let quarter = u64::try_from(self.clock.day_ms / 4).unwrap_or(0);
        Duration::from_millis(quarter.clamp(250, 60_000))
    }

    /// Runs the background loop until the task is dropped.
    pub fn spawn(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(me.tick()).await;
                match me.run_due().await {
                    Ok(r) if r.buckets > 0 => tracing::info!(report = ?r, "lifecycle pass"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "lifecycle: cannot read the buckets' rules"),
                }
            }
        })
    }

    /// Goes through every bucket that is due: its last pass finished a
    /// lifecycle day ago or more, or was cut short.
    pub async fn run_due(&self) -> Result<PassReport, StoreError> {
        let _one = self.passes.lock().await;
        let now = now_ms();
        let mut report = PassReport::default();
        for lb in self.store.lifecycle_buckets()? {
            let due = lb.run.in_progress() || now >= lb.run.finished_ms.saturating_add(self.clock.day_ms);
            if due {
                report.add(&self.pass(lb, Some(self.pacing.pages_per_turn)).await);
            }
        }
        Ok(report)
    }

    /// Goes through `bucket` (every bucket with rules when `None`) now,
    /// whatever the schedule (`herald lifecycle process`, Ceph's
    /// `radosgw-admin lc process`). A pass cut short earlier is taken up
    /// where it stopped.
    pub async fn process(&self, bucket: Option<&str>) -> Result<PassReport, StoreError> {
        let _one = self.passes.lock().await;
        let mut report = PassReport::default();
        let buckets = self.store.lifecycle_buckets()?;
        if let Some(name) = bucket
            && !buckets.iter().any(|b| b.bucket.name == name)
        {
            return Err(StoreError::InvalidArgument(format!(
                "bucket {name:?} does not exist or has no lifecycle configuration"
            )));
        }
        for lb in buckets {
            if bucket.is_none_or(|name| name == lb.bucket.name) {
                report.add(&self.pass(lb, None).await);
            }
        }
        Ok(report)
    }

    /// One pass over one bucket: its objects page by page (progress saved
    /// after each), then its incomplete uploads. With `budget`, stops after
    /// that many pages (the pass stays in progress, to be continued).
    async fn pass(&self, lb: LifecycleBucket, budget: Option<usize>) -> PassReport {
        let LifecycleBucket { bucket, config, run } = lb;
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
        let mut pages = 0usize;
        loop {
            if budget.is_some_and(|b| pages >= b) {
                report.unfinished = 1;
                return report;
            }
            pages += 1;
            let page =
                match self
                    .store
                    .object_versions_page(&bucket.name, run.after_key.as_deref(), self.pacing.page_keys)
                {
                    Ok(p) => p,
                    Err(e) => {
                        tracing::warn!(bucket = %bucket.name, error = %e, "lifecycle: cannot list objects");
                        report.interrupted = 1;
                        return report;
                    }
                };
            let Some(last) = page.last().map(|(k, _)| k.clone()) else {
                break;
            };
            let work = page.into_iter().filter_map(|(key, versions)| {
                let facts: Vec<VersionFacts<'_>> = versions.iter().map(facts_of).collect();
                let todo = lifecycle::expired(&config, self.clock, &key, &facts, now);
                (!todo.is_empty()).then_some((key, versions, todo))
            });
            let outcomes: Vec<(Expire, Outcome)> = futures::stream::iter(work)
                .map(|(key, versions, todo)| self.expire_key(&bucket, key, versions, todo))
                .buffer_unordered(CONCURRENT_KEYS)
                .flat_map(futures::stream::iter)
                .collect()
                .await;
            let mut stop = false;
            let counters = &self.notifier.metrics.lifecycle;
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
                    Outcome::Stop => stop = true,
                }
            }
            if stop {
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
        if !self.abort_uploads(&bucket, &config, now, &mut report).await {
            report.interrupted = 1;
            return report;
        }
        run.after_key = None;
        run.finished_ms = run.started_ms.max(now_ms());
        if let Err(e) = self.store.save_lifecycle_run(&bucket, run).await {
            tracing::warn!(bucket = %bucket.name, error = %e, "lifecycle: cannot record the end of the pass");
        }
        report
    }

    /// Acts on one key's expirations in order (noncurrent versions first).
    /// Stops at the first full destination.
    async fn expire_key(
        &self,
        bucket: &herald_store::BucketRecord,
        key: String,
        versions: Vec<ObjectVersion>,
        todo: Vec<Expire>,
    ) -> Vec<(Expire, Outcome)> {
        let mut out = Vec::with_capacity(todo.len());
        for what in todo {
            let outcome = self.expire_one(bucket, &key, &versions, &what).await;
            let stop = matches!(outcome, Outcome::Stop);
            out.push((what, outcome));
            if stop {
                break;
            }
        }
        out
    }

    async fn expire_one(
        &self,
        bucket: &herald_store::BucketRecord,
        key: &str,
        versions: &[ObjectVersion],
        what: &Expire,
    ) -> Outcome {
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
        let change = self.notifier.has_config(&bucket.name).then(|| {
            let v = versions.iter().find(|v| v.seq == seq);
            Change {
                alias: event.lifecycle_alias(marker_created),
                size: v.map(|v| v.size).unwrap_or(0),
                etag: v.map(|v| v.etag.as_str().to_owned()).unwrap_or_default(),
                metadata: v
                    .map(|v| v.meta.user.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                    .unwrap_or_default(),
                tags: v.map(|v| v.tags.clone()).unwrap_or_default(),
                ..Change::new(event, key)
            }
        });
        let conditions = DeleteConditions {
            seq: Some(seq),
            ..Default::default()
        };
        let origin = origin();
        let result = self
            .notifier
            .write_with_events(&bucket.name, change, &origin, |events| {
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

    fn failed(&self, bucket: &str, key: &str, e: PutError) -> Outcome {
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
            PutError::Store(e) => {
                tracing::warn!(bucket, key, error = %e, "lifecycle: cannot expire");
                Outcome::Stop
            }
        }
    }

    /// Aborts the bucket's expired incomplete uploads. `false` when the
    /// pass must stop (a full destination, a store error).
    async fn abort_uploads(
        &self,
        bucket: &herald_store::BucketRecord,
        config: &herald_model::lifecycle::LifecycleConfiguration,
        now: i64,
        report: &mut PassReport,
    ) -> bool {
        if !config.enabled().any(|r| r.abort_incomplete_upload_days.is_some()) {
            return true;
        }
        let uploads = match self.store.uploads_of(&bucket.name) {
            Ok(u) => u,
            Err(e) => {
                tracing::warn!(bucket = %bucket.name, error = %e, "lifecycle: cannot list uploads");
                return false;
            }
        };
        for u in uploads {
            if !lifecycle::upload_expired(config, self.clock, &u.key, u.initiated_ms, now) {
                continue;
            }
            let change = self.notifier.has_config(&bucket.name).then(|| Change {
                metadata: u.meta.user.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                tags: u.tags.clone(),
                ..Change::new(EventType::ObjectLifecycleExpirationAbortMultipartUpload, &u.key)
            });
            let result = self
                .notifier
                .write_with_events(&bucket.name, change, &origin(), |events| {
                    self.store.abort_expired_upload(&bucket.name, &u.upload_id, events)
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
                Err(e) => {
                    if matches!(self.failed(&bucket.name, &u.key, e), Outcome::Stop) {
                        return false;
                    }
                }
            }
        }
        true
    }
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

/// Who expired: the service, with a request id of its own per removal.
fn origin() -> Origin {
    let mut id = [0u8; 8];
    rand::fill(&mut id);
    Origin {
        principal: LIFECYCLE_PRINCIPAL.to_owned(),
        source_ip: String::new(),
        request_id: hex::encode_upper(id),
        batch_writer: false,
    }
}
