//! Group commit: many concurrent writers share one metadata transaction and
//! therefore one fsync.
//!
//! redb, like every embedded store, allows one write transaction at a time
//! and makes each durable with an fsync. An fsync per S3 request would cap
//! the store at a few thousand writes per second; instead, each request
//! hands a small closure to a single committer thread, which drains
//! everything queued, runs the closures in one transaction, commits once
//! and then answers each of them. Under load a batch holds as many requests
//! as arrived during the previous fsync; alone, a request waits for exactly
//! one commit, as before.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use redb::{Database, WriteTransaction};
use tokio::sync::{mpsc, oneshot};

use crate::blob::{BlobDir, sync_filesystem};
use crate::error::{StoreError, StoreResult};
use crate::journal::{EventEntry, EventJournal, Txn, WrittenEvents};

/// The longest batch the committer will build; bounds the latency a request
/// can see from others queued ahead of it.
const MAX_BATCH: usize = 256;
/// Above this many logs touched by one group commit, the journal's files
/// are made durable by one syncfs rather than an fsync each.
const MAX_LOG_FSYNCS: usize = 8;
/// Queue length before writers wait (backpressure instead of unbounded
/// memory when the disk is slower than the network).
const QUEUE_DEPTH: usize = 4096;

type Completion = Box<dyn FnOnce(Result<(), String>) + Send>;
/// A write closure; it receives the shared transaction, or the reason no
/// transaction could be opened, and returns its completion and whether it
/// succeeded (only a successful closure's events are written).
type Op = Box<dyn FnOnce(Result<&Txn<'_>, String>) -> (Completion, bool) + Send>;

struct Job {
    op: Op,
    /// Set when the job references new blobs: their bytes and directory
    /// entries are flushed (once for the whole batch) before the
    /// transaction that names them commits.
    blob_root: Option<PathBuf>,
}

/// Handle to the committer thread.
#[derive(Clone)]
pub struct Committer {
    tx: mpsc::Sender<Job>,
    journal: Arc<OnceLock<JournalHook>>,
}

/// The journal events go to, and whether the blobs' syncfs covers its files.
struct JournalHook {
    journal: Arc<dyn EventJournal>,
    same_fs_as_blobs: bool,
}

/// What a write closure returns: its result, plus blobs that became
/// unreferenced and may be deleted once the transaction is durable.
pub struct Applied<R> {
    pub value: R,
    pub garbage: Vec<String>,
}

impl<R> Applied<R> {
    pub fn new(value: R) -> Self {
        Applied {
            value,
            garbage: Vec::new(),
        }
    }

    pub fn with_garbage(value: R, garbage: Vec<String>) -> Self {
        Applied { value, garbage }
    }
}

impl Committer {
    pub fn start(db: Arc<Database>) -> Self {
        let (tx, rx) = mpsc::channel::<Job>(QUEUE_DEPTH);
        let journal: Arc<OnceLock<JournalHook>> = Arc::default();
        let hook = journal.clone();
        std::thread::Builder::new()
            .name("herald-commit".into())
            .spawn(move || run(db, rx, hook))
            .expect("spawn committer thread");
        Committer { tx, journal }
    }

    /// Sets where events go (once; later calls are ignored). Until then
    /// events rendered by write closures are dropped (an offline store, as
    /// the CLI opens it, has nobody to deliver them).
    pub fn set_journal(&self, journal: Arc<dyn EventJournal>, same_fs_as_blobs: bool) {
        let _ = self.journal.set(JournalHook {
            journal,
            same_fs_as_blobs,
        });
    }

    /// Runs `f` inside the next group transaction and waits until that
    /// transaction is durable.
    ///
    /// `f` must check everything that can fail before it writes anything:
    /// a closure that errors after writing would leave its partial writes in
    /// the shared transaction. `new_blobs` are blobs written for this
    /// request; they are deleted if `f` or the commit fails, so a refused
    /// request leaves no file behind.
    pub async fn write<R, F>(&self, blobs: &BlobDir, new_blobs: Vec<String>, f: F) -> StoreResult<R>
    where
        R: Send + 'static,
        F: FnOnce(&Txn<'_>) -> StoreResult<Applied<R>> + Send + 'static,
    {
        let (done_tx, done_rx) = oneshot::channel::<StoreResult<R>>();
        let blob_root = (!new_blobs.is_empty()).then(|| blobs.root().to_path_buf());
        let blob_dir = blobs.clone();
        let op: Op = Box::new(move |txn| {
            let outcome = match txn {
                Ok(txn) => f(txn),
                Err(e) => Err(StoreError::Db(e)),
            };
            let ok = outcome.is_ok();
            let completion: Completion = Box::new(move |commit: Result<(), String>| {
                let result = match (outcome, commit) {
                    (Ok(applied), Ok(())) => {
                        blob_dir.remove(&applied.garbage);
                        Ok(applied.value)
                    }
                    (Ok(_), Err(e)) => {
                        blob_dir.remove(&new_blobs);
                        Err(StoreError::Db(e))
                    }
                    (Err(e), _) => {
                        blob_dir.remove(&new_blobs);
                        Err(e)
                    }
                };
                let _ = done_tx.send(result);
            });
            (completion, ok)
        });
        self.tx
            .send(Job { op, blob_root })
            .await
            .map_err(|_| StoreError::ShuttingDown)?;
        done_rx.await.map_err(|_| StoreError::ShuttingDown)?
    }
}

fn run(db: Arc<Database>, mut rx: mpsc::Receiver<Job>, journal: Arc<OnceLock<JournalHook>>) {
    let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = rx.blocking_recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        commit_batch(&db, &mut batch, journal.get());
    }
    tracing::debug!("committer stopped: every store handle is gone");
}

/// One group transaction: run every job, write their events to the
/// journal, make blobs and events durable, commit, then answer everyone
/// (see [`crate::journal`] for why in this order).
fn commit_batch(db: &Database, batch: &mut Vec<Job>, journal: Option<&JournalHook>) {
    let txn = match db.begin_write() {
        Ok(t) => t,
        Err(e) => return fail_all(batch, e.to_string()),
    };
    let mut completions: Vec<Completion> = Vec::with_capacity(batch.len());
    let mut events: Vec<EventEntry> = Vec::new();
    let mut blob_root: Option<PathBuf> = None;
    for job in batch.drain(..) {
        blob_root = blob_root.or(job.blob_root);
        let view = Txn::new(&txn);
        let (done, ok) = (job.op)(Ok(&view));
        if ok {
            events.extend(view.into_events());
        }
        completions.push(done);
    }
    let result = durable_commit(txn, events, blob_root, journal);
    if let Err(e) = &result {
        tracing::error!(error = %e, "metadata commit failed");
    }
    for done in completions {
        done(result.clone());
    }
}

/// How a group commit makes its events durable: decided once, before they
/// are written, because the journal zero-fills ahead only for its own
/// fsync (a syncfs journals the files' growth anyway).
#[derive(Clone, Copy, PartialEq, Eq)]
enum EventSync {
    /// The blobs' syncfs covers the journal's files (same file system).
    BlobSyncfs,
    /// Many logs (one tenant's thousand topics): one syncfs of the
    /// journal's file system instead of an fsync each, one after the other.
    JournalSyncfs,
    /// The journal fsyncs the files it wrote.
    OwnFsync,
}

impl EventSync {
    fn decide(journal: Option<&JournalHook>, has_blobs: bool, events: &[EventEntry]) -> EventSync {
        let same_fs = journal.is_some_and(|h| h.same_fs_as_blobs);
        if same_fs && has_blobs {
            EventSync::BlobSyncfs
        } else if same_fs && distinct_logs(events) > MAX_LOG_FSYNCS {
            EventSync::JournalSyncfs
        } else {
            EventSync::OwnFsync
        }
    }
}

fn distinct_logs(events: &[EventEntry]) -> usize {
    events
        .iter()
        .map(|e| e.log.as_str())
        .collect::<std::collections::HashSet<_>>()
        .len()
}

/// Writes the events, syncs, commits; on any failure nothing is committed
/// and the written events are abandoned.
fn durable_commit(
    txn: WriteTransaction,
    events: Vec<EventEntry>,
    blob_root: Option<PathBuf>,
    journal: Option<&JournalHook>,
) -> Result<(), String> {
    let mut written: Option<Box<dyn WrittenEvents>> = None;
    let event_sync = EventSync::decide(journal, blob_root.is_some(), &events);
    match journal {
        _ if events.is_empty() => {}
        None => tracing::debug!(events = events.len(), "no event journal attached: events dropped"),
        Some(hook) => {
            let w = hook.journal.write(events, event_sync != EventSync::OwnFsync)?;
            let marks = w.high_water();
            if let Err(e) = crate::journal::record_marks(&txn, &marks) {
                w.settle(false);
                return Err(e.to_string());
            }
            written = Some(w);
        }
    }
    let outcome = (|| {
        if let Some(root) = &blob_root {
            sync_filesystem(root).map_err(|e| format!("syncfs of {}: {e}", root.display()))?;
        }
        if let (Some(w), Some(hook)) = (written.as_mut(), journal) {
            match event_sync {
                EventSync::BlobSyncfs => {}
                EventSync::JournalSyncfs => {
                    sync_filesystem(hook.journal.dir()).map_err(|e| format!("syncfs of the event journal: {e}"))?
                }
                EventSync::OwnFsync => w.sync()?,
            }
        }
        txn.commit().map_err(|e| e.to_string())
    })();
    if let Some(w) = written {
        w.settle(outcome.is_ok());
    }
    outcome
}

/// Nothing can be applied: every job in the batch fails, cleanly.
fn fail_all(batch: &mut Vec<Job>, msg: String) {
    tracing::error!(error = %msg, "cannot open a metadata transaction");
    for job in batch.drain(..) {
        let (done, _) = (job.op)(Err(msg.clone()));
        done(Err(msg.clone()));
    }
}
