//! Engine of Herald's built-in SQS-compatible queue service.
//!
//! S3 event notifications can target a queue that consumers poll with the
//! standard `aws sqs` tooling. This crate implements the queue semantics
//! (standard and FIFO queues, visibility timeouts, delays, long polling,
//! dead-letter redrive, FIFO deduplication, retention) and their durable
//! storage; the SQS wire protocols live in `herald-server` and call
//! [`QueueEngine`].
//!
//! # Durability
//! - A send returns only after its records are fsynced. All sends go through
//!   one group-commit writer thread, so concurrent sends share fsyncs and a
//!   batch of 10 is one positional write.
//! - Deletes and receive counts are appended to per-segment side files with
//!   plain `write()`: they survive `kill -9` (page cache) without costing an
//!   fsync; after a power loss a deleted message may come back, which SQS's
//!   at-least-once contract allows.
//! - In-flight state is memory-only: after a restart, in-flight messages are
//!   visible again (as if their visibility timeout had expired).
//! - Queue definitions (attributes, tags) are a small `meta.json` per queue,
//!   replaced atomically (write, fsync, rename, fsync directory).
//!
//! # Memory
//! The index holds a 40-byte slot per message plus a few bytes in the ready
//! queue; bodies stay on disk and are read back at receive time.
//!
//! # Layout
//! `<dir>/queues/<queue id>/{meta.json, seg-*.log, seg-*.side}`; deleted
//! queues are renamed into `<dir>/trash/` and removed from there.

mod attrs;
mod error;
mod message;
mod messages;
mod queue;
mod queues;
mod writer;

pub use error::QueueError;
use queues::arn;

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

pub use attrs::QUEUE_POLICY_LIMITS;
pub use message::{md5_of_attributes, md5_of_body};

use crate::attrs::Settings;
use crate::message::Msg;
use crate::queue::{Queue, State, fsync_dir};
use crate::writer::{Outcome, Prepared, WriteCmd};

/// Where queues live and which region their ARNs name.
#[derive(Clone, Debug)]
pub struct QueueConfig {
    pub dir: PathBuf,
    pub region: String,
}

#[derive(Clone, Debug)]
pub struct QueueInfo {
    pub owner: String,
    pub name: String,
    pub arn: String,
    pub fifo: bool,
    pub created: SystemTime,
    /// Effective settable attributes (defaults included; optional ones such
    /// as Policy only when set).
    pub attributes: BTreeMap<String, String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageAttributeValue {
    /// "String", "Number", "Binary", optionally with a ".custom" suffix.
    pub data_type: String,
    pub string_value: Option<String>,
    pub binary_value: Option<Vec<u8>>,
}

#[derive(Clone, Debug, Default)]
pub struct SendRequest {
    pub body: String,
    pub delay_seconds: Option<u32>,
    pub attributes: BTreeMap<String, MessageAttributeValue>,
    /// Only `AWSTraceHeader` is accepted.
    pub system_attributes: BTreeMap<String, MessageAttributeValue>,
    pub group_id: Option<String>,
    pub deduplication_id: Option<String>,
}

#[derive(Clone, Debug)]
pub struct SendResult {
    pub message_id: String,
    pub md5_of_body: String,
    pub md5_of_attributes: Option<String>,
    pub md5_of_system_attributes: Option<String>,
    /// FIFO queues only.
    pub sequence_number: Option<String>,
}

#[derive(Clone, Debug)]
pub struct ReceivedMessage {
    pub message_id: String,
    pub receipt_handle: String,
    pub body: String,
    pub md5_of_body: String,
    pub md5_of_attributes: Option<String>,
    /// System attributes: SentTimestamp (ms), ApproximateReceiveCount,
    /// ApproximateFirstReceiveTimestamp (ms), SenderId, and when applicable
    /// MessageGroupId, MessageDeduplicationId, SequenceNumber,
    /// DeadLetterQueueSourceArn, AWSTraceHeader. The wire layer filters them
    /// by the requested AttributeNames.
    pub attributes: BTreeMap<String, String>,
    pub message_attributes: BTreeMap<String, MessageAttributeValue>,
}

#[derive(Clone, Debug)]
pub struct ReceiveRequest {
    /// 1..=10.
    pub max_messages: u32,
    /// Seconds, `None` = the queue's VisibilityTimeout.
    pub visibility_timeout: Option<u32>,
    /// Seconds (0..=20), `None` = the queue's ReceiveMessageWaitTimeSeconds.
    pub wait_time: Option<u32>,
}

impl Default for ReceiveRequest {
    /// One message, queue defaults — what an SQS request without parameters means.
    fn default() -> Self {
        ReceiveRequest {
            max_messages: 1,
            visibility_timeout: None,
            wait_time: None,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QueueStats {
    pub visible: u64,
    pub in_flight: u64,
    pub delayed: u64,
    /// Record bytes on disk of the messages present.
    pub bytes: u64,
    pub oldest_age: Option<Duration>,
}

/// Persistent queue definition (`meta.json`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Meta {
    pub id: u64,
    pub owner: String,
    pub name: String,
    pub fifo: bool,
    pub created_ms: u64,
    pub modified_ms: u64,
    pub attributes: BTreeMap<String, String>,
    pub tags: BTreeMap<String, String>,
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

const META: &str = "meta.json";
/// AWS limit on tags per queue.
const MAX_TAGS: usize = 50;
/// Commands queued for the writer before senders wait: backpressure.
const WRITER_QUEUE: usize = 4096;
const SWEEP_EVERY: Duration = Duration::from_secs(1);
const PURGE_INTERVAL: Duration = Duration::from_secs(60);
const MAX_VISIBILITY: u32 = 43_200;
const MAX_WAIT: u32 = 20;

/// Creates a directory readable by the owner only (mode 0700 from the
/// start, not chmod'ed after): queues hold tenants' messages.
fn private_dir(path: &Path, recursive: bool) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt as _;
    fs::DirBuilder::new().recursive(recursive).mode(0o700).create(path)
}

/// Replaces `meta.json` atomically so a crash leaves the old or the new one.
fn write_meta(dir: &Path, meta: &Meta) -> io::Result<()> {
    let tmp = dir.join("meta.json.tmp");
    let mut f =
        std::os::unix::fs::OpenOptionsExt::mode(fs::OpenOptions::new().write(true).create(true).truncate(true), 0o600)
            .open(&tmp)?;
    f.write_all(&serde_json::to_vec_pretty(meta).map_err(io::Error::other)?)?;
    f.sync_all()?;
    fs::rename(&tmp, dir.join(META))?;
    fsync_dir(dir)
}

/// Runs blocking file work off the async worker threads.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> io::Result<T> + Send + 'static) -> Result<T, QueueError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(io::Error::other)?
        .map_err(QueueError::Io)
}

struct Inner {
    root: PathBuf,
    region: String,
    /// By (owner, name); a BTreeMap so listings come out sorted.
    queues: RwLock<BTreeMap<(String, String), Arc<Queue>>>,
    /// Serializes queue creation, deletion and metadata writes, which are
    /// rare; keeps "check then write" sequences simple (and makes the queue
    /// quota exact: creations are counted one at a time).
    admin: tokio::sync::Mutex<()>,
    /// Most queues one owner may have (`usize::MAX`: no limit).
    max_queues_per_user: AtomicUsize,
    tx: mpsc::Sender<WriteCmd>,
    /// Dropping this stops the sweep thread.
    _sweep_stop: std::sync::mpsc::Sender<()>,
}

/// Handle to all queues; cheap to clone. The writer and sweep threads stop
/// when the last handle is dropped (everything acknowledged is already
/// durable, so there is nothing to flush).
#[derive(Clone)]
pub struct QueueEngine {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for QueueEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueueEngine")
            .field("root", &self.inner.root)
            .finish_non_exhaustive()
    }
}

fn invalid(msg: impl Into<String>) -> QueueError {
    QueueError::InvalidParameterValue(msg.into())
}

impl QueueEngine {
    /// Opens (creating if needed) the queue store and recovers every queue.
    pub fn open(cfg: QueueConfig) -> Result<QueueEngine, QueueError> {
        let qdir = cfg.dir.join("queues");
        private_dir(&qdir, true)?;
        let trash = cfg.dir.join("trash");
        if trash.exists() {
            fs::remove_dir_all(&trash)?;
        }
        let now = now_ms();
        let mut queues = BTreeMap::new();
        for e in fs::read_dir(&qdir)? {
            let dir = e?.path();
            if !dir.is_dir() {
                continue;
            }
            let meta: Meta = match fs::read(dir.join(META)) {
                Ok(b) => match serde_json::from_slice(&b) {
                    Ok(m) => m,
                    Err(e) => {
                        tracing::error!(dir = %dir.display(), error = %e, "unreadable queue metadata; skipping queue");
                        continue;
                    }
                },
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    // A creation that crashed before its metadata was durable.
                    tracing::warn!(dir = %dir.display(), "removing incomplete queue directory");
                    fs::remove_dir_all(&dir)?;
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            let settings = Settings::from_attributes(&meta.attributes);
            let state = State::recover(dir.clone(), meta.fifo, settings, now)?;
            let q = Queue {
                id: meta.id,
                owner: meta.owner.clone(),
                name: meta.name.clone(),
                arn: arn(&cfg.region, &meta.owner, &meta.name),
                fifo: meta.fifo,
                dir,
                meta: Mutex::new(meta),
                state: Mutex::new(state),
                notify: tokio::sync::Notify::new(),
            };
            queues.insert((q.owner.clone(), q.name.clone()), Arc::new(q));
        }
        let (tx, rx) = mpsc::channel(WRITER_QUEUE);
        std::thread::Builder::new()
            .name("herald-queue-writer".into())
            .spawn(move || writer::run(rx))?;
        let (stop_tx, stop_rx) = std::sync::mpsc::channel();
        let inner = Arc::new(Inner {
            root: cfg.dir,
            region: cfg.region,
            queues: RwLock::new(queues),
            admin: tokio::sync::Mutex::new(()),
            max_queues_per_user: AtomicUsize::new(usize::MAX),
            tx,
            _sweep_stop: stop_tx,
        });
        let weak = Arc::downgrade(&inner);
        std::thread::Builder::new()
            .name("herald-queue-sweep".into())
            .spawn(move || sweep(weak, stop_rx))?;
        Ok(QueueEngine { inner })
    }

    fn queue(&self, owner: &str, name: &str) -> Result<Arc<Queue>, QueueError> {
        self.inner
            .queues
            .read()
            .expect("queues lock")
            .get(&(owner.to_string(), name.to_string()))
            .cloned()
            .ok_or(QueueError::QueueDoesNotExist)
    }

    fn queue_arc_by_arn(&self, a: &str) -> Option<Arc<Queue>> {
        let rest = a.strip_prefix("arn:")?;
        let mut it = rest.splitn(4, ':');
        let (_partition, service, region, rest) = (it.next()?, it.next()?, it.next()?, it.next()?);
        if service != "sqs" || region != self.inner.region {
            return None;
        }
        let (owner, name) = rest.rsplit_once(':')?;
        self.queue(owner, name).ok()
    }

    /// Sets the most queues one owner may have; CreateQueue beyond it is
    /// `OverLimit`. Existing queues above a lowered limit stay.
    pub fn set_max_queues_per_user(&self, max: usize) {
        self.inner.max_queues_per_user.store(max, Ordering::Relaxed);
    }

    /// How many queues `owner` has (a range of the sorted map, not a scan
    /// of every owner's queues).
    fn count_owned(&self, owner: &str) -> usize {
        let from = (owner.to_string(), String::new());
        self.inner
            .queues
            .read()
            .expect("queues lock")
            .range(from..)
            .take_while(|((o, _), _)| o == owner)
            .count()
    }

    /// A dead-letter target for a queue of `owner`: only the owner's own
    /// queues qualify, so another owner's queue looks exactly like a
    /// missing one (nothing tells a tenant that it exists).
    fn own_queue_by_arn(&self, owner: &str, arn: &str) -> Option<Arc<Queue>> {
        self.queue_arc_by_arn(arn).filter(|q| q.owner == owner)
    }

    fn dlq_target(&self, owner: &str, arn: &str) -> Option<attrs::DlqTarget> {
        let q = self.own_queue_by_arn(owner, arn)?;
        let allow_policy = q.redrive_allow_policy();
        Some(attrs::DlqTarget {
            fifo: q.fifo,
            allow_policy,
        })
    }

    fn info(q: &Queue) -> QueueInfo {
        let meta = q.meta.lock().expect("meta lock");
        QueueInfo {
            owner: q.owner.clone(),
            name: q.name.clone(),
            arn: q.arn.clone(),
            fifo: q.fifo,
            created: UNIX_EPOCH + Duration::from_millis(meta.created_ms),
            attributes: meta.attributes.clone(),
        }
    }
}

/// Background upkeep, once a second: expire messages past retention, wake
/// long pollers of messages whose delay or visibility timeout ended, prune
/// the FIFO deduplication window, give back the space of drained queues.
fn sweep(weak: Weak<Inner>, stop: std::sync::mpsc::Receiver<()>) {
    loop {
        match stop.recv_timeout(SWEEP_EVERY) {
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            _ => return,
        }
        let Some(inner) = weak.upgrade() else {
            return;
        };
        let queues: Vec<Arc<Queue>> = inner.queues.read().expect("queues lock").values().cloned().collect();
        drop(inner);
        for q in queues {
            let now = now_ms();
            let woke = {
                let mut st = q.state.lock().expect("queue lock");
                if st.deleted {
                    continue;
                }
                let woke = st.advance(now);
                st.expire(now);
                if let Err(e) = st.roll_if_drained() {
                    tracing::warn!(queue = %q.arn, error = %e, "cannot roll drained queue segment");
                }
                woke
            };
            if woke {
                q.notify.notify_waiters();
            }
        }
    }
}
