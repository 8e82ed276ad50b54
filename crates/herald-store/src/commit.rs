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
use std::sync::Arc;

use redb::{Database, WriteTransaction};
use tokio::sync::{mpsc, oneshot};

use crate::blob::{BlobDir, sync_filesystem};
use crate::error::{StoreError, StoreResult};

/// The longest batch the committer will build; bounds the latency a request
/// can see from others queued ahead of it.
const MAX_BATCH: usize = 256;
/// Queue length before writers wait (backpressure instead of unbounded
/// memory when the disk is slower than the network).
const QUEUE_DEPTH: usize = 4096;

type Completion = Box<dyn FnOnce(Result<(), String>) + Send>;
/// A write closure; it receives the shared transaction, or the reason no
/// transaction could be opened.
type Op = Box<dyn FnOnce(Result<&WriteTransaction, String>) -> Completion + Send>;

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
        std::thread::Builder::new()
            .name("herald-commit".into())
            .spawn(move || run(db, rx))
            .expect("spawn committer thread");
        Committer { tx }
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
        F: FnOnce(&WriteTransaction) -> StoreResult<Applied<R>> + Send + 'static,
    {
        let (done_tx, done_rx) = oneshot::channel::<StoreResult<R>>();
        let blob_root = (!new_blobs.is_empty()).then(|| blobs.root().to_path_buf());
        let blob_dir = blobs.clone();
        let op: Op = Box::new(move |txn| {
            let outcome = match txn {
                Ok(txn) => f(txn),
                Err(e) => Err(StoreError::Db(e)),
            };
            Box::new(move |commit: Result<(), String>| {
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
            })
        });
        self.tx
            .send(Job { op, blob_root })
            .await
            .map_err(|_| StoreError::ShuttingDown)?;
        done_rx.await.map_err(|_| StoreError::ShuttingDown)?
    }
}

fn run(db: Arc<Database>, mut rx: mpsc::Receiver<Job>) {
    let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = rx.blocking_recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        commit_batch(&db, &mut batch);
    }
    tracing::debug!("committer stopped: every store handle is gone");
}

fn commit_batch(db: &Database, batch: &mut Vec<Job>) {
    let mut failure: Option<String> = None;
    if let Some(root) = batch.iter().find_map(|j| j.blob_root.as_ref())
        && let Err(e) = sync_filesystem(root)
    {
        failure = Some(format!("syncfs of {}: {e}", root.display()));
    }
    let txn = match failure {
        None => match db.begin_write() {
            Ok(t) => Some(t),
            Err(e) => {
                failure = Some(e.to_string());
                None
            }
        },
        Some(_) => None,
    };
    let Some(txn) = txn else {
        // Nothing can be applied: every job in the batch fails, cleanly.
        let msg = failure.unwrap_or_default();
        tracing::error!(error = %msg, "cannot open a metadata transaction");
        for job in batch.drain(..) {
            let done = (job.op)(Err(msg.clone()));
            done(Err(msg.clone()));
        }
        return;
    };
    let completions: Vec<Completion> = batch.drain(..).map(|job| (job.op)(Ok(&txn))).collect();
    let result = txn.commit().map_err(|e| e.to_string());
    if let Err(e) = &result {
        tracing::error!(error = %e, "metadata commit failed");
    }
    for done in completions {
        done(result.clone());
    }
}
