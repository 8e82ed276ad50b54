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

mod expire;
mod pass;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use herald_model::lifecycle::LifecycleClock;
use herald_notify::{Notifier, Origin};
use herald_store::{Store, StoreError, now_ms};

/// Keys read per page (and progress saved after each).
pub const PAGE_KEYS: usize = 1000;
/// Pages a background turn gives one bucket before going on to the next
/// (the bucket's pass then continues at the next tick): a tenant's huge
/// bucket cannot hold back every other bucket's pass.
pub const PAGES_PER_TURN: usize = 100;
/// Versions a page holds at most (a key's versions are never split, so a
/// key with more is a page of its own).
pub const PAGE_VERSIONS: usize = 10_000;
/// Keys worked on at once within a page.
pub const CONCURRENT_KEYS: usize = 4;
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
    /// Expirations that failed in the store (logged); retried next pass.
    pub errors: u64,
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
        self.errors += other.errors;
    }
}

/// How the worker paces itself.
#[derive(Debug, Clone, Copy)]
pub struct Pacing {
    /// Keys read per page (progress is saved after each).
    pub page_keys: usize,
    /// Versions read per page at most (see [`PAGE_VERSIONS`]).
    pub page_versions: usize,
    /// Pages one background turn gives a bucket.
    pub pages_per_turn: usize,
}

impl Default for Pacing {
    fn default() -> Self {
        Pacing {
            page_keys: PAGE_KEYS,
            page_versions: PAGE_VERSIONS,
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
    /// The bucket the last background turn began with: the next begins
    /// after it, so no bucket is always first or always last.
    last_first: std::sync::Mutex<Option<String>>,
    /// Set by [`LifecycleWorker::stop`]: no new removal starts.
    stopping: AtomicBool,
    /// Wakes the background loop from its sleep when stopping.
    wake: tokio::sync::Notify,
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
            last_first: std::sync::Mutex::new(None),
            stopping: AtomicBool::new(false),
            wake: tokio::sync::Notify::new(),
        })
    }

    /// Stops the worker between removals (at shutdown): a removal under way
    /// finishes with its events; the pass resumes at the next start.
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        // A stored permit: the loop sees it even if not asleep yet.
        self.wake.notify_one();
    }

    fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// How often the background loop looks for buckets that are due: a
    /// quarter of a lifecycle day, between 250 ms and a minute.
    pub fn tick(&self) -> Duration {
        let quarter = u64::try_from(self.clock.day_ms / 4).unwrap_or(0);
        Duration::from_millis(quarter.clamp(250, 60_000))
    }

    /// Runs the background loop until [`LifecycleWorker::stop`].
    pub fn spawn(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move {
            while !me.stopping() {
                tokio::select! {
                    _ = tokio::time::sleep(me.tick()) => {}
                    _ = me.wake.notified() => break,
                }
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
        let mut due: Vec<_> = self
            .store
            .lifecycle_buckets()?
            .into_iter()
            .filter(|lb| lb.run.in_progress() || now >= lb.run.finished_ms.saturating_add(self.clock.day_ms))
            .collect();
        // Begin after the bucket the last turn began with (names in order).
        let last = self.last_first.lock().expect("last first").clone();
        if let Some(last) = last {
            let split = due.partition_point(|lb| lb.bucket.name <= last);
            due.rotate_left(split);
        }
        *self.last_first.lock().expect("last first") = due.first().map(|lb| lb.bucket.name.clone());
        for lb in due {
            if self.stopping() {
                break;
            }
            report.add(&self.pass(lb, Some(self.pacing.pages_per_turn)).await);
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
