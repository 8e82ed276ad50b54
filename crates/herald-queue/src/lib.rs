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
mod message;
mod queue;
mod writer;

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

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("The specified queue does not exist.")]
    QueueDoesNotExist,
    #[error("{0}")]
    QueueAlreadyExists(String),
    #[error("{0}")]
    InvalidAttributeName(String),
    #[error("{0}")]
    InvalidAttributeValue(String),
    #[error("{0}")]
    InvalidParameterValue(String),
    #[error("{0}")]
    MissingParameter(String),
    #[error("{0}")]
    MessageTooLong(String),
    #[error("{0}")]
    InvalidMessageContents(String),
    #[error("The input receipt handle is invalid.")]
    ReceiptHandleIsInvalid,
    #[error("The message referred to isn't in flight.")]
    MessageNotInflight,
    #[error("Maximum number of entries per request are 10.")]
    TooManyEntriesInBatchRequest,
    #[error("Two or more batch entries in the request have the same Id.")]
    BatchEntryIdsNotDistinct,
    #[error("The batch request doesn't contain any entries.")]
    EmptyBatchRequest,
    #[error(
        "A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most 80 letters long."
    )]
    InvalidBatchEntryId,
    #[error("Only one PurgeQueue operation on a queue is allowed every 60 seconds.")]
    PurgeQueueInProgress,
    /// A per-user quota was reached (the message names the limit).
    #[error("{0}")]
    OverLimit(String),
    #[error("We encountered an internal error. Please try again. ({0})")]
    Io(#[from] io::Error),
}

impl QueueError {
    /// Error code of the JSON 1.0 protocol (`__type`).
    pub fn code_json(&self) -> &'static str {
        match self {
            QueueError::QueueDoesNotExist => "QueueDoesNotExist",
            QueueError::QueueAlreadyExists(_) => "QueueNameExists",
            QueueError::MessageTooLong(_) => "InvalidParameterValue",
            _ => self.code_query(),
        }
    }

    /// Error code of the query (XML) protocol; also what the JSON protocol
    /// reports in its `x-amzn-query-error` header.
    pub fn code_query(&self) -> &'static str {
        match self {
            QueueError::QueueDoesNotExist => "AWS.SimpleQueueService.NonExistentQueue",
            QueueError::QueueAlreadyExists(_) => "QueueAlreadyExists",
            QueueError::InvalidAttributeName(_) => "InvalidAttributeName",
            QueueError::InvalidAttributeValue(_) => "InvalidAttributeValue",
            QueueError::InvalidParameterValue(_) => "InvalidParameterValue",
            QueueError::MissingParameter(_) => "MissingParameter",
            // AWS has no MessageTooLong code: an oversized message is an
            // InvalidParameterValue ("Message must be shorter than ...").
            QueueError::MessageTooLong(_) => "InvalidParameterValue",
            QueueError::InvalidMessageContents(_) => "InvalidMessageContents",
            QueueError::ReceiptHandleIsInvalid => "ReceiptHandleIsInvalid",
            QueueError::MessageNotInflight => "AWS.SimpleQueueService.MessageNotInflight",
            QueueError::TooManyEntriesInBatchRequest => "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
            QueueError::BatchEntryIdsNotDistinct => "AWS.SimpleQueueService.BatchEntryIdsNotDistinct",
            QueueError::EmptyBatchRequest => "AWS.SimpleQueueService.EmptyBatchRequest",
            QueueError::InvalidBatchEntryId => "AWS.SimpleQueueService.InvalidBatchEntryId",
            QueueError::PurgeQueueInProgress => "AWS.SimpleQueueService.PurgeQueueInProgress",
            QueueError::OverLimit(_) => "OverLimit",
            QueueError::Io(_) => "InternalError",
        }
    }

    /// Same as [`code_query`](Self::code_query).
    pub fn code(&self) -> &'static str {
        self.code_query()
    }

    /// HTTP status: 400 for client errors (SQS uses 400 even for a missing
    /// queue), 500 for storage failures.
    pub fn status(&self) -> u16 {
        match self {
            QueueError::Io(_) => 500,
            // AWS's OverLimit is a 403.
            QueueError::OverLimit(_) => 403,
            _ => 400,
        }
    }

    /// Whether the client caused it (`Sender` fault) rather than the server.
    pub fn is_sender_fault(&self) -> bool {
        self.status() < 500
    }
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

    /// Creates a queue, or returns the existing one if every given attribute
    /// matches it (CreateQueue is idempotent); a mismatch is
    /// `QueueAlreadyExists`. Tags apply to new queues only.
    pub async fn create_queue(
        &self,
        owner: &str,
        name: &str,
        attributes: BTreeMap<String, String>,
        tags: BTreeMap<String, String>,
    ) -> Result<QueueInfo, QueueError> {
        if !attrs::valid_queue_name(name) {
            return Err(invalid(
                "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length",
            ));
        }
        let fifo = name.ends_with(".fifo");
        let fifo_attr = attributes
            .get("FifoQueue")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        if fifo != fifo_attr {
            return Err(invalid(
                "The name of a FIFO queue can only include alphanumeric characters, hyphens, or underscores, must end with .fifo suffix and be 1 to 80 in length. A queue whose name ends with .fifo must be created with the FifoQueue attribute set to true.",
            ));
        }
        check_tags(&BTreeMap::new(), &tags)?;
        let _admin = self.inner.admin.lock().await;
        let src = attrs::Source {
            fifo,
            arn: &arn(&self.inner.region, owner, name),
        };
        let norm = attrs::normalize(&src, &attributes, &|a| self.dlq_target(owner, a))?;
        if let Ok(q) = self.queue(owner, name) {
            let meta = q.meta.lock().expect("meta lock");
            for (k, v) in &norm {
                let same = match meta.attributes.get(k) {
                    Some(cur) => cur == v,
                    None => v.is_empty(),
                };
                if !same {
                    return Err(QueueError::QueueAlreadyExists(format!(
                        "A queue already exists with the same name and a different value for attribute {k}"
                    )));
                }
            }
            drop(meta);
            return Ok(Self::info(&q));
        }
        let max = self.inner.max_queues_per_user.load(Ordering::Relaxed);
        if self.count_owned(owner) >= max {
            return Err(QueueError::OverLimit(format!(
                "Too many queues: the limit is {max} queues per user (max-queues-per-user)."
            )));
        }
        let mut attributes = attrs::defaults(fifo);
        attrs::merge(&mut attributes, norm);
        let qdir = self.inner.root.join("queues");
        let id = loop {
            let id: u64 = rand::random();
            if id != 0 && !qdir.join(format!("{id:016x}")).exists() {
                break id;
            }
        };
        let dir = qdir.join(format!("{id:016x}"));
        let now = now_ms();
        let meta = Meta {
            id,
            owner: owner.to_string(),
            name: name.to_string(),
            fifo,
            created_ms: now,
            modified_ms: now,
            attributes,
            tags,
        };
        let settings = Settings::from_attributes(&meta.attributes);
        let state = {
            let (dir, meta) = (dir.clone(), meta.clone());
            blocking(move || {
                private_dir(&dir, false)?;
                let st = State::create(dir.clone(), fifo, settings)?;
                // Metadata last: a directory without it is an incomplete
                // creation and is removed at open.
                write_meta(&dir, &meta)?;
                fsync_dir(&qdir)?;
                Ok(st)
            })
            .await?
        };
        let q = Arc::new(Queue {
            id,
            owner: owner.to_string(),
            name: name.to_string(),
            arn: arn(&self.inner.region, owner, name),
            fifo,
            dir,
            meta: Mutex::new(meta),
            state: Mutex::new(state),
            notify: tokio::sync::Notify::new(),
        });
        let info = Self::info(&q);
        self.inner
            .queues
            .write()
            .expect("queues lock")
            .insert((owner.to_string(), name.to_string()), q);
        Ok(info)
    }

    pub fn get_queue(&self, owner: &str, name: &str) -> Result<QueueInfo, QueueError> {
        self.queue(owner, name).map(|q| Self::info(&q))
    }

    /// The queue an `arn:aws:sqs:<region>:<owner>:<name>` names, if it exists
    /// in this engine's region.
    pub fn queue_by_arn(&self, arn: &str) -> Option<QueueInfo> {
        self.queue_arc_by_arn(arn).map(|q| Self::info(&q))
    }

    /// Queues of `owner` (all owners if `None`) whose name starts with
    /// `prefix`, sorted by name.
    pub fn list_queues(&self, owner: Option<&str>, prefix: &str) -> Vec<QueueInfo> {
        let queues: Vec<Arc<Queue>> = self
            .inner
            .queues
            .read()
            .expect("queues lock")
            .values()
            .filter(|q| owner.is_none_or(|o| o == q.owner) && q.name.starts_with(prefix))
            .cloned()
            .collect();
        let mut out: Vec<QueueInfo> = queues.iter().map(|q| Self::info(q)).collect();
        out.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.owner.cmp(&b.owner)));
        out
    }

    /// Deletes a queue and its messages. Receivers long-polling it return.
    pub async fn delete_queue(&self, owner: &str, name: &str) -> Result<(), QueueError> {
        let _admin = self.inner.admin.lock().await;
        let q = self
            .inner
            .queues
            .write()
            .expect("queues lock")
            .remove(&(owner.to_string(), name.to_string()))
            .ok_or(QueueError::QueueDoesNotExist)?;
        {
            let mut st = q.state.lock().expect("queue lock");
            st.deleted = true;
            st.epoch += 1;
        }
        q.notify.notify_waiters();
        let root = self.inner.root.clone();
        let (dir, id) = (q.dir.clone(), q.id);
        blocking(move || {
            // Rename first: atomic, so a crash never leaves half a queue.
            let trash = root.join("trash");
            private_dir(&trash, true)?;
            let to = trash.join(format!("{id:016x}"));
            fs::rename(&dir, &to)?;
            fsync_dir(&root.join("queues"))?;
            fs::remove_dir_all(&to)
        })
        .await
    }

    /// Deletes every message. Like AWS, allowed once per 60 seconds.
    pub async fn purge_queue(&self, owner: &str, name: &str) -> Result<(), QueueError> {
        let q = self.queue(owner, name)?;
        let mut st = q.state.lock().expect("queue lock");
        if st.last_purge.is_some_and(|t| t.elapsed() < PURGE_INTERVAL) {
            return Err(QueueError::PurgeQueueInProgress);
        }
        st.purge()?;
        st.last_purge = Some(Instant::now());
        Ok(())
    }

    /// GetQueueAttributes: `names` may contain "All".
    pub fn get_attributes(
        &self,
        owner: &str,
        name: &str,
        names: &[String],
    ) -> Result<BTreeMap<String, String>, QueueError> {
        let q = self.queue(owner, name)?;
        for n in names {
            if n != "All" && !attrs::SETTABLE.contains(&n.as_str()) && !attrs::COMPUTED.contains(&n.as_str()) {
                return Err(QueueError::InvalidAttributeName(format!("Unknown Attribute {n}.")));
            }
        }
        let all = names.iter().any(|n| n == "All");
        let want = |k: &str| all || names.iter().any(|n| n == k);
        let meta = q.meta.lock().expect("meta lock").clone();
        let mut out: BTreeMap<String, String> = meta
            .attributes
            .iter()
            .filter(|(k, _)| want(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let stats = self.stats_of(&q);
        let computed = [
            ("QueueArn", q.arn.clone()),
            ("ApproximateNumberOfMessages", stats.visible.to_string()),
            ("ApproximateNumberOfMessagesNotVisible", stats.in_flight.to_string()),
            ("ApproximateNumberOfMessagesDelayed", stats.delayed.to_string()),
            ("CreatedTimestamp", (meta.created_ms / 1000).to_string()),
            ("LastModifiedTimestamp", (meta.modified_ms / 1000).to_string()),
        ];
        for (k, v) in computed {
            if want(k) {
                out.insert(k.to_string(), v);
            }
        }
        Ok(out)
    }

    /// SetQueueAttributes. All-or-nothing: any invalid attribute rejects the
    /// whole call. An empty value removes RedrivePolicy, Policy, etc.
    pub async fn set_attributes(
        &self,
        owner: &str,
        name: &str,
        attributes: BTreeMap<String, String>,
    ) -> Result<(), QueueError> {
        let _admin = self.inner.admin.lock().await;
        let q = self.queue(owner, name)?;
        self.apply_attributes(owner, &q, &attributes).await
    }

    /// Rewrites one attribute from its current value as one step under the
    /// admin lock (read, change, validate, store), so two concurrent edits
    /// cannot lose each other: AddPermission and RemovePermission edit
    /// `Policy` this way. `change` gets the current value (`None` when
    /// unset) and returns the new one (empty removes a removable one).
    pub async fn update_attribute(
        &self,
        owner: &str,
        name: &str,
        attribute: &str,
        change: impl FnOnce(Option<&str>) -> Result<String, QueueError>,
    ) -> Result<(), QueueError> {
        let _admin = self.inner.admin.lock().await;
        let q = self.queue(owner, name)?;
        let current = q.meta.lock().expect("meta lock").attributes.get(attribute).cloned();
        let new = change(current.as_deref().filter(|v| !v.is_empty()))?;
        let attributes = BTreeMap::from([(attribute.to_owned(), new)]);
        self.apply_attributes(owner, &q, &attributes).await
    }

    /// Validates `attributes` and stores them over the queue's own (the
    /// caller holds the admin lock).
    async fn apply_attributes(
        &self,
        owner: &str,
        q: &Arc<Queue>,
        attributes: &BTreeMap<String, String>,
    ) -> Result<(), QueueError> {
        let src = attrs::Source {
            fifo: q.fifo,
            arn: &q.arn,
        };
        let norm = attrs::normalize(&src, attributes, &|a| self.dlq_target(owner, a))?;
        let mut meta = q.meta.lock().expect("meta lock").clone();
        attrs::merge(&mut meta.attributes, norm);
        meta.modified_ms = now_ms();
        self.store_meta(q, meta).await
    }

    async fn store_meta(&self, q: &Arc<Queue>, meta: Meta) -> Result<(), QueueError> {
        let (dir, m) = (q.dir.clone(), meta.clone());
        blocking(move || write_meta(&dir, &m)).await?;
        let settings = Settings::from_attributes(&meta.attributes);
        *q.meta.lock().expect("meta lock") = meta;
        q.state.lock().expect("queue lock").settings = settings;
        // A shorter wait or delay may make messages receivable sooner.
        q.notify.notify_waiters();
        Ok(())
    }

    pub async fn tag_queue(&self, owner: &str, name: &str, tags: BTreeMap<String, String>) -> Result<(), QueueError> {
        let _admin = self.inner.admin.lock().await;
        let q = self.queue(owner, name)?;
        let mut meta = q.meta.lock().expect("meta lock").clone();
        check_tags(&meta.tags, &tags)?;
        meta.tags.extend(tags);
        self.store_meta(&q, meta).await
    }

    pub async fn untag_queue(&self, owner: &str, name: &str, keys: Vec<String>) -> Result<(), QueueError> {
        let _admin = self.inner.admin.lock().await;
        let q = self.queue(owner, name)?;
        let mut meta = q.meta.lock().expect("meta lock").clone();
        for k in keys {
            meta.tags.remove(&k);
        }
        self.store_meta(&q, meta).await
    }

    pub fn list_tags(&self, owner: &str, name: &str) -> Result<BTreeMap<String, String>, QueueError> {
        let q = self.queue(owner, name)?;
        let tags = q.meta.lock().expect("meta lock").tags.clone();
        Ok(tags)
    }

    /// SendMessage / SendMessageBatch. Entries are validated one by one (an
    /// invalid entry fails alone); the valid ones are stored with one durable
    /// write and the call returns once they are on disk.
    pub async fn send(
        &self,
        owner: &str,
        name: &str,
        batch: Vec<SendRequest>,
    ) -> Result<Vec<Result<SendResult, QueueError>>, QueueError> {
        self.send_with(owner, name, |_| batch, |_, _, _| {}).await
    }

    /// Delivers S3 event bodies (read from the delivery log) so that a body
    /// delivered again within the deduplication window (five minutes) is
    /// stored once: the transfer of an event can be cut short by a crash
    /// after the queue stored it and before the log heard so, and must not
    /// leave a second copy. Both queue kinds deduplicate on the body's
    /// digest (an event's body is unique: it carries the event id); FIFO
    /// queues show it as the MessageDeduplicationId, in group `s3-events`.
    pub async fn send_events(
        &self,
        owner: &str,
        name: &str,
        bodies: Vec<String>,
    ) -> Result<Vec<Result<SendResult, QueueError>>, QueueError> {
        let requests = |q: &Queue| {
            bodies
                .into_iter()
                .map(|body| SendRequest {
                    // FIFO queues need the id before validation.
                    deduplication_id: q.fifo.then(|| md5_of_body(&body)),
                    group_id: q.fifo.then(|| "s3-events".to_owned()),
                    body,
                    delay_seconds: None,
                    attributes: Default::default(),
                    system_attributes: Default::default(),
                })
                .collect()
        };
        // A standard queue takes the digest validation computed anyway.
        let dedup_standard = |q: &Queue, p: &mut Prepared, r: &SendResult| {
            if !q.fifo {
                p.dedup_key = Some(queue::dedup_key(false, "", &r.md5_of_body));
                p.msg.dedup = r.md5_of_body.clone();
            }
        };
        self.send_with(owner, name, requests, dedup_standard).await
    }

    /// Validates the requests `make` builds for the queue (an invalid one
    /// fails alone), lets `adjust` amend each valid one, and stores them
    /// with one durable write.
    async fn send_with(
        &self,
        owner: &str,
        name: &str,
        make: impl FnOnce(&Queue) -> Vec<SendRequest>,
        adjust: impl Fn(&Queue, &mut Prepared, &SendResult),
    ) -> Result<Vec<Result<SendResult, QueueError>>, QueueError> {
        let q = self.queue(owner, name)?;
        let settings = q.state.lock().expect("queue lock").settings.clone();
        let now = now_ms();
        let batch = make(&q);
        let mut results = Vec::with_capacity(batch.len());
        let mut prepared = Vec::new();
        let mut index = Vec::new();
        for (i, req) in batch.into_iter().enumerate() {
            match prepare(&q, &settings, owner, req, now) {
                Ok((mut p, r)) => {
                    adjust(&q, &mut p, &r);
                    prepared.push(p);
                    index.push(i);
                    results.push(Ok(r));
                }
                Err(e) => results.push(Err(e)),
            }
        }
        self.store_prepared(q, prepared, index, results).await
    }

    /// Stores validated messages and completes their results.
    async fn store_prepared(
        &self,
        q: Arc<Queue>,
        prepared: Vec<Prepared>,
        index: Vec<usize>,
        mut results: Vec<Result<SendResult, QueueError>>,
    ) -> Result<Vec<Result<SendResult, QueueError>>, QueueError> {
        if prepared.is_empty() {
            return Ok(results);
        }
        let outcomes = self.write(q.clone(), prepared).await?;
        for (i, o) in index.into_iter().zip(outcomes) {
            match o {
                Outcome::Stored { seq } => {
                    if let Ok(r) = &mut results[i]
                        && q.fifo
                    {
                        r.sequence_number = Some(sequence_number(seq));
                    }
                }
                Outcome::Duplicate { message_id, seq } => {
                    if let Ok(r) = &mut results[i] {
                        r.message_id = message::format_message_id(&message_id);
                        r.sequence_number = Some(sequence_number(seq));
                    }
                }
                Outcome::Failed(e) => results[i] = Err(e),
            }
        }
        Ok(results)
    }

    async fn write(&self, q: Arc<Queue>, items: Vec<Prepared>) -> Result<Vec<Outcome>, QueueError> {
        let (reply, rx) = oneshot::channel();
        let gone = || QueueError::Io(io::Error::other("queue writer stopped"));
        self.inner
            .tx
            .send(WriteCmd { queue: q, items, reply })
            .await
            .map_err(|_| gone())?;
        rx.await.map_err(|_| gone())
    }

    /// ReceiveMessage. With a wait time, returns as soon as at least one
    /// message is receivable (woken by sends, visibility changes and the
    /// next delay/visibility deadline), otherwise empty at the deadline.
    pub async fn receive(
        &self,
        owner: &str,
        name: &str,
        req: ReceiveRequest,
    ) -> Result<Vec<ReceivedMessage>, QueueError> {
        if !(1..=10).contains(&req.max_messages) {
            return Err(invalid(format!(
                "Value {} for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, if provided.",
                req.max_messages
            )));
        }
        if let Some(v) = req.visibility_timeout.filter(|&v| v > MAX_VISIBILITY) {
            return Err(invalid(format!(
                "Value {v} for parameter VisibilityTimeout is invalid. Reason: Must be between 0 and 43200, if provided."
            )));
        }
        if let Some(w) = req.wait_time.filter(|&w| w > MAX_WAIT) {
            return Err(invalid(format!(
                "Value {w} for parameter WaitTimeSeconds is invalid. Reason: Must be >= 0 and <= 20, if provided."
            )));
        }
        let q = self.queue(owner, name)?;
        let (wait_s, vis_s) = {
            let st = q.state.lock().expect("queue lock");
            (
                req.wait_time.unwrap_or(st.settings.wait_s),
                req.visibility_timeout.unwrap_or(st.settings.visibility_s),
            )
        };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(wait_s as u64);
        loop {
            let notified = q.notify.notified();
            tokio::pin!(notified);
            // Register before looking, so a send between the look and the
            // wait is not missed.
            notified.as_mut().enable();
            let (msgs, next_timer) = self.receive_once(&q, req.max_messages as usize, vis_s).await?;
            let now = tokio::time::Instant::now();
            if !msgs.is_empty() || now >= deadline {
                return Ok(msgs);
            }
            let mut until = deadline;
            if let Some(t) = next_timer {
                until = until.min(now + Duration::from_millis(t.saturating_sub(now_ms())));
            }
            tokio::select! {
                _ = &mut notified => {}
                _ = tokio::time::sleep_until(until) => {}
            }
        }
    }

    /// One non-waiting receive attempt. Returns the messages and when the
    /// next delayed/in-flight message becomes visible.
    async fn receive_once(
        &self,
        q: &Arc<Queue>,
        max: usize,
        vis_s: u32,
    ) -> Result<(Vec<ReceivedMessage>, Option<u64>), QueueError> {
        // Moving messages to a dead-letter queue can leave a round empty;
        // retry a few times before reporting "nothing".
        for _ in 0..4 {
            let now = now_ms();
            let (taken, moves, next, redrive) = {
                let mut st = q.state.lock().expect("queue lock");
                if st.deleted {
                    return Err(QueueError::QueueDoesNotExist);
                }
                let (t, m) = st.take(max, vis_s as u64 * 1000, now);
                let redrive = st.settings.redrive.as_ref().map(|r| r.0.clone());
                (t, m, st.next_timer(), redrive)
            };
            let mut out = Vec::with_capacity(taken.len());
            let mut broken = Vec::new();
            for t in taken {
                match t.read().ok().and_then(|b| message::decode_record(&b)) {
                    Some((seq, msg)) if seq == t.seq => out.push(received(q, &t, msg)),
                    _ => {
                        tracing::error!(queue = %q.arn, seq = t.seq, "unreadable queue message; dropping it");
                        broken.push(t.seq);
                    }
                }
            }
            if !broken.is_empty() {
                q.state.lock().expect("queue lock").delete(&broken);
            }
            let moved = !moves.is_empty();
            if moved {
                self.redrive(q, moves, redrive).await;
            }
            if !out.is_empty() || !moved {
                return Ok((out, next));
            }
        }
        Ok((Vec::new(), Some(now_ms())))
    }

    /// The dead-letter queue messages of `q` may move to now: checked again
    /// at every move, not only when the RedrivePolicy was set, because the
    /// target may have been deleted and re-created by someone else (a user
    /// removed and a new one of the same name) or may have changed its
    /// RedriveAllowPolicy since.
    fn redrive_target(&self, q: &Queue, target: Option<String>) -> Option<Arc<Queue>> {
        let t = self.own_queue_by_arn(&q.owner, &target?).filter(|t| t.id != q.id)?;
        let policy = t.redrive_allow_policy();
        if attrs::redrive_allowed(policy.as_deref(), &q.arn) {
            Some(t)
        } else {
            tracing::warn!(queue = %q.arn, target = %t.arn, "the dead-letter queue's RedriveAllowPolicy refuses this source; messages stay");
            None
        }
    }

    /// Moves messages that reached maxReceiveCount to the dead-letter queue,
    /// keeping id, body, attributes and original sent time (so retention
    /// still counts from the original send, as in AWS). They are deleted
    /// from the source only once stored in the target.
    async fn redrive(&self, q: &Arc<Queue>, moves: Vec<queue::Taken>, target: Option<String>) {
        let Some(target) = self.redrive_target(q, target) else {
            // Without a target the messages stay (hidden for the move grace
            // period, then receivable again), as AWS keeps them in the source.
            return;
        };
        let now = now_ms();
        let mut items = Vec::new();
        let mut seqs = Vec::new();
        let mut broken = Vec::new();
        for t in &moves {
            match t.read().ok().and_then(|b| message::decode_record(&b)) {
                Some((seq, mut msg)) if seq == t.seq => {
                    msg.source_arn = q.arn.clone();
                    items.push(Prepared {
                        msg,
                        visible_at: now,
                        dedup_key: None,
                    });
                    seqs.push(t.seq);
                }
                _ => broken.push(t.seq),
            }
        }
        let mut done = broken;
        if !items.is_empty() {
            match self.write(target, items).await {
                Ok(outcomes) => {
                    for (seq, o) in seqs.into_iter().zip(outcomes) {
                        match o {
                            Outcome::Failed(e) => {
                                tracing::warn!(queue = %q.arn, error = %e, "dead-letter move failed");
                            }
                            _ => done.push(seq),
                        }
                    }
                }
                Err(e) => tracing::warn!(queue = %q.arn, error = %e, "dead-letter move failed"),
            }
        }
        q.state.lock().expect("queue lock").delete(&done);
    }

    /// DeleteMessage / DeleteMessageBatch. Any receipt handle ever issued for
    /// a message deletes it while it exists (as in AWS); deleting a message
    /// that is already gone succeeds. A garbled handle, or one of another
    /// queue, is `ReceiptHandleIsInvalid`.
    pub async fn delete(
        &self,
        owner: &str,
        name: &str,
        receipt_handles: &[String],
    ) -> Result<Vec<Result<(), QueueError>>, QueueError> {
        let q = self.queue(owner, name)?;
        let mut results = Vec::with_capacity(receipt_handles.len());
        let mut seqs = Vec::with_capacity(receipt_handles.len());
        {
            let mut st = q.state.lock().expect("queue lock");
            if st.deleted {
                return Err(QueueError::QueueDoesNotExist);
            }
            for h in receipt_handles {
                match message::parse_handle(h) {
                    Some(p) if p.queue_id == q.id && p.seq < st.next_seq && p.count >= 1 => {
                        seqs.push(p.seq);
                        results.push(Ok(()));
                    }
                    _ => results.push(Err(QueueError::ReceiptHandleIsInvalid)),
                }
            }
            st.delete(&seqs);
        }
        if q.fifo {
            // Deleting in-flight messages may unblock their group.
            q.notify.notify_waiters();
        }
        Ok(results)
    }

    /// ChangeMessageVisibility: the message becomes visible `timeout_secs`
    /// from now. Only the latest receipt handle of an in-flight message
    /// works; otherwise `MessageNotInflight`.
    pub async fn change_visibility(
        &self,
        owner: &str,
        name: &str,
        receipt_handle: &str,
        timeout_secs: u32,
    ) -> Result<(), QueueError> {
        if timeout_secs > MAX_VISIBILITY {
            return Err(invalid(format!(
                "Value {timeout_secs} for parameter VisibilityTimeout is invalid. Reason: Must be between 0 and 43200."
            )));
        }
        let q = self.queue(owner, name)?;
        let p = message::parse_handle(receipt_handle)
            .filter(|p| p.queue_id == q.id)
            .ok_or(QueueError::ReceiptHandleIsInvalid)?;
        let now = now_ms();
        let ok = {
            let mut st = q.state.lock().expect("queue lock");
            if st.deleted {
                return Err(QueueError::QueueDoesNotExist);
            }
            if p.seq >= st.next_seq {
                return Err(QueueError::ReceiptHandleIsInvalid);
            }
            st.change_visibility(p.seq, p.count, now + timeout_secs as u64 * 1000, now)
        };
        if !ok {
            return Err(QueueError::MessageNotInflight);
        }
        if timeout_secs == 0 {
            q.notify.notify_waiters();
        }
        Ok(())
    }

    pub fn stats(&self, owner: &str, name: &str) -> Result<QueueStats, QueueError> {
        let q = self.queue(owner, name)?;
        Ok(self.stats_of(&q))
    }

    fn stats_of(&self, q: &Queue) -> QueueStats {
        let now = now_ms();
        let mut st = q.state.lock().expect("queue lock");
        st.advance(now);
        QueueStats {
            visible: st.visible,
            in_flight: st.inflight,
            delayed: st.delayed,
            bytes: st.bytes,
            oldest_age: st
                .oldest_sent_s()
                .map(|s| Duration::from_secs((now / 1000).saturating_sub(s as u64))),
        }
    }
}

fn arn(region: &str, owner: &str, name: &str) -> String {
    format!("arn:aws:sqs:{region}:{owner}:{name}")
}

/// FIFO SequenceNumber: 20 digits, increasing per queue.
fn sequence_number(seq: u64) -> String {
    format!("{seq:020}")
}

fn check_tags(existing: &BTreeMap<String, String>, new: &BTreeMap<String, String>) -> Result<(), QueueError> {
    for (k, v) in new {
        if k.is_empty() || k.len() > 128 || v.len() > 256 {
            return Err(invalid(format!(
                "Tag {k} is invalid: keys are 1-128 and values 0-256 characters."
            )));
        }
        if k.starts_with("aws:") {
            return Err(invalid("Tag keys starting with aws: are reserved."));
        }
    }
    let total = existing.len() + new.keys().filter(|k| !existing.contains_key(*k)).count();
    if total > MAX_TAGS {
        return Err(invalid(format!("Too many tags: a queue can have at most {MAX_TAGS}.")));
    }
    Ok(())
}

/// Validates one send entry and builds its record and its reply (the
/// sequence number is filled in once stored).
fn prepare(
    q: &Queue,
    settings: &Settings,
    sender: &str,
    req: SendRequest,
    now: u64,
) -> Result<(Prepared, SendResult), QueueError> {
    if req.body.is_empty() {
        return Err(QueueError::MissingParameter(
            "The request must contain the parameter MessageBody.".into(),
        ));
    }
    if !req.body.chars().all(message::valid_xml_char) {
        return Err(QueueError::InvalidMessageContents(
            "Invalid characters found. Valid unicode characters are #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF".into(),
        ));
    }
    message::check_attributes(&req.attributes)?;
    message::check_system_attributes(&req.system_attributes)?;
    if message::message_size(&req.body, &req.attributes) > settings.max_size as usize {
        return Err(QueueError::MessageTooLong(format!(
            "One or more parameters are invalid. Reason: Message must be shorter than {} bytes.",
            settings.max_size
        )));
    }
    let delay = match req.delay_seconds {
        Some(d) if d > message::MAX_DELAY_SECS => {
            return Err(invalid(format!(
                "Value {d} for parameter DelaySeconds is invalid. Reason: DelaySeconds must be >= 0 and <= 900."
            )));
        }
        // FIFO queues have queue-level delay only (a per-message delay
        // would break group order); 0 is accepted as "no delay".
        Some(d) if q.fifo && d != 0 => {
            return Err(invalid(format!(
                "Value {d} for parameter DelaySeconds is invalid. Reason: The request include parameter that is not valid for this queue type."
            )));
        }
        Some(d) if !q.fifo => d,
        _ => settings.delay_s,
    };
    let group = match (&req.group_id, q.fifo) {
        (Some(g), _) => {
            message::check_fifo_id("MessageGroupId", g)?;
            g.clone()
        }
        (None, true) => {
            return Err(QueueError::MissingParameter(
                "The request must contain the parameter MessageGroupId.".into(),
            ));
        }
        (None, false) => String::new(),
    };
    let dedup = match (&req.deduplication_id, q.fifo) {
        (Some(_), false) => {
            return Err(invalid(
                "The request include parameter MessageDeduplicationId that is not valid for this queue type",
            ));
        }
        (Some(d), true) => {
            message::check_fifo_id("MessageDeduplicationId", d)?;
            d.clone()
        }
        (None, true) if settings.content_dedup => message::content_dedup_id(&req.body),
        (None, true) => {
            return Err(invalid(
                "The queue should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly",
            ));
        }
        (None, false) => String::new(),
    };
    let message_id = *uuid::Uuid::new_v4().as_bytes();
    let result = SendResult {
        message_id: message::format_message_id(&message_id),
        md5_of_body: md5_of_body(&req.body),
        md5_of_attributes: md5_of_attributes(&req.attributes),
        md5_of_system_attributes: md5_of_attributes(&req.system_attributes),
        sequence_number: None,
    };
    let dedup_key = q
        .fifo
        .then(|| queue::dedup_key(settings.dedup_per_group, &group, &dedup));
    let msg = Msg {
        message_id,
        sent_ms: now,
        group,
        dedup,
        sender: sender.to_string(),
        source_arn: String::new(),
        attributes: req.attributes,
        system: req.system_attributes,
        body: req.body,
    };
    Ok((
        Prepared {
            msg,
            visible_at: now + delay as u64 * 1000,
            dedup_key,
        },
        result,
    ))
}

fn received(q: &Queue, t: &queue::Taken, msg: Msg) -> ReceivedMessage {
    let mut a = BTreeMap::new();
    a.insert("SentTimestamp".to_string(), msg.sent_ms.to_string());
    a.insert("ApproximateReceiveCount".to_string(), t.recv.to_string());
    a.insert("ApproximateFirstReceiveTimestamp".to_string(), t.first_recv.to_string());
    a.insert("SenderId".to_string(), msg.sender.clone());
    if !msg.group.is_empty() {
        a.insert("MessageGroupId".to_string(), msg.group.clone());
    }
    if q.fifo && !msg.dedup.is_empty() {
        a.insert("MessageDeduplicationId".to_string(), msg.dedup.clone());
    }
    if q.fifo {
        a.insert("SequenceNumber".to_string(), sequence_number(t.seq));
    }
    if !msg.source_arn.is_empty() {
        a.insert("DeadLetterQueueSourceArn".to_string(), msg.source_arn.clone());
    }
    if let Some(s) = msg.system.get("AWSTraceHeader").and_then(|v| v.string_value.clone()) {
        a.insert("AWSTraceHeader".to_string(), s);
    }
    ReceivedMessage {
        message_id: message::format_message_id(&msg.message_id),
        receipt_handle: message::make_handle(q.id, t.seq, t.recv),
        md5_of_body: md5_of_body(&msg.body),
        md5_of_attributes: md5_of_attributes(&msg.attributes),
        body: msg.body,
        attributes: a,
        message_attributes: msg.attributes,
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
