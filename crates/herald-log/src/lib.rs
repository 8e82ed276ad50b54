//! Durable delivery log for Herald's *persistent* notification topics.
//!
//! An S3 request that triggers an event on a persistent topic is acknowledged
//! only after the event is on disk here; background delivery workers then
//! [`lease`](DeliveryLog::lease) entries, push them to the endpoint and
//! [`ack`](DeliveryLog::ack), [`retry`](DeliveryLog::retry) or
//! [`drop_entries`](DeliveryLog::drop_entries) them. Delivery is
//! at-least-once: after a crash some entries may come back twice, none is lost.
//!
//! # Layout
//!
//! `<dir>/t_<encoded topic>/` holds, per topic:
//! - `topic`: the real topic name (directory names are percent-encoded and
//!   possibly shortened, so they are never decoded when this file exists);
//! - `seg-<first id>.log`: append-only records `[len u32][crc32 u32][id u64]
//!   [enqueue ms u64][key len u32][key][payload]`, fsynced before an append
//!   returns (group commit: one fsync per touched segment per batch);
//! - `seg-<first id>.ack`: fixed 32-byte records for acks/drops and retry
//!   state, written with plain `write()` and never fsynced. After `kill -9`
//!   the page cache keeps them; after power loss some acked entries come back
//!   (allowed) and attempt counts may be a little low.
//!
//! A segment whose entries are all gone is deleted with its side file; the
//! active segment of a topic that drained is replaced by an empty file (by
//! the ack that emptied it when it is large, otherwise by a background sweep
//! within about a second), so an idle drained topic holds no data.
//!
//! Payloads are never kept in memory: the index holds ~50–100 bytes per
//! pending entry and payloads are read with positional reads at lease time.

mod deliver;
mod format;
mod replay;
mod retain;
mod topic;
mod writer;

use deliver::{SideBuf, read_run};
pub use replay::{Replay, ReplayEntry};

/// The hash the log keeps per-key order by; others that must spread one
/// key's events the same way (a replay's lanes) use it too.
pub fn key_hash(key: &[u8]) -> u64 {
    format::key_hash(key)
}

use std::collections::HashMap;
use std::fs;
use std::io;
use std::os::unix::fs::DirBuilderExt as _;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use tokio::sync::{Notify, mpsc, oneshot};

use crate::format::{SIDE_GONE, SIDE_RETRY, SIDE_VOID};
use crate::topic::{Run, TopicState};

/// Where the log lives and how big its segment files get.
#[derive(Clone, Debug)]
pub struct LogConfig {
    /// Root directory; one sub-directory per topic.
    pub dir: PathBuf,
    /// Roll to a new segment file after this many bytes (capped at 2 GiB so
    /// record offsets fit the compact index).
    pub segment_bytes: u64,
}

impl LogConfig {
    /// Default segment size: big enough that rolling is rare, small enough
    /// that one stuck entry pins little disk.
    pub const DEFAULT_SEGMENT_BYTES: u64 = 64 << 20;

    pub fn new(dir: impl Into<PathBuf>) -> LogConfig {
        LogConfig {
            dir: dir.into(),
            segment_bytes: Self::DEFAULT_SEGMENT_BYTES,
        }
    }
}

/// Per-topic admission limits; 0 means unlimited. Bytes are counted as record
/// bytes on disk (key + payload + 28 bytes of framing), so they track space.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Limits {
    pub max_entries: u64,
    pub max_bytes: u64,
}

/// Unique and increasing per topic, also across restarts.
pub type EntryId = u64;

/// One event to append to one topic.
#[derive(Clone, Debug)]
pub struct AppendItem {
    pub topic: String,
    /// Ordering key (e.g. bucket/object): entries of one key are delivered
    /// one at a time, in order.
    pub key: String,
    pub payload: Bytes,
}

/// An entry handed to a delivery worker; it stays leased until acked,
/// retried or dropped.
#[derive(Clone, Debug)]
pub struct Lease {
    pub id: EntryId,
    pub key: String,
    pub payload: Bytes,
    /// Failed attempts so far.
    pub attempts: u32,
    pub enqueued: SystemTime,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TopicStats {
    /// Pending entries, leased ones included.
    pub entries: u64,
    /// Record bytes of pending entries (see [`Limits`]).
    pub bytes: u64,
    pub oldest_age: Option<Duration>,
    /// Pending entries that failed at least once.
    pub retried_entries: u64,
    /// Sum of attempts over pending entries.
    pub total_retries: u64,
    pub leased: u64,
    /// Delivered events kept for replay (see
    /// [`DeliveryLog::set_retention`]), their bytes, and the oldest one's age.
    pub retained_entries: u64,
    pub retained_bytes: u64,
    pub oldest_retained_age: Option<Duration>,
}

#[derive(Clone, Debug)]
pub struct DumpEntry {
    pub id: EntryId,
    pub key: String,
    pub attempts: u32,
    pub enqueued: SystemTime,
    /// When it may be leased next (its enqueue time if it never failed).
    pub next_attempt: SystemTime,
    pub payload: Bytes,
}

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("delivery log of topic {topic:?} is full")]
    Full { topic: String },
    #[error("delivery log I/O error: {0}")]
    Io(#[from] io::Error),
    #[error("delivery log is corrupt: {0}")]
    Corrupt(String),
    #[error("delivery log is shutting down")]
    ShuttingDown,
}

/// A topic: its index behind a lock of its own, so topics never wait on each
/// other, and a notifier for `wait_ready`.
pub(crate) struct Topic {
    name: String,
    dir: PathBuf,
    state: Mutex<TopicState>,
    notify: Notify,
}

impl Topic {
    fn new(st: TopicState) -> Topic {
        Topic {
            name: st.name.clone(),
            dir: st.dir.clone(),
            state: Mutex::new(st),
            notify: Notify::new(),
        }
    }
}

struct Inner {
    root: PathBuf,
    topics: RwLock<HashMap<String, Arc<Topic>>>,
    tx: mpsc::Sender<Cmd>,
    /// Held by whoever writes records (the writer thread, or a
    /// [`DeliveryLog::stage`] caller): see `writer::write`.
    write_lock: Arc<Mutex<()>>,
    /// Per topic, the highest id a new log of that name must stay above:
    /// the committed mark at start-up, or the last id of a removed log, so
    /// a re-created topic never reuses the ids of its predecessor (see
    /// [`DeliveryLog::set_id_floors`]).
    floors: Mutex<HashMap<String, EntryId>>,
    segment_bytes: u64,
    /// An ack that empties a topic rolls its active segment at once when it
    /// is at least this big; smaller ones are left to the sweep.
    empty_roll_bytes: u64,
    /// Dropping this stops the sweep thread.
    _sweep_stop: std::sync::mpsc::Sender<()>,
}

use writer::Cmd;

/// Commands queued for the writer before `append` waits: backpressure.
const QUEUE: usize = 8192;
/// Largest key + payload accepted: a record's frame body (fixed part, key,
/// payload) must fit the segment engine's `MAX_BODY`.
const MAX_RECORD: usize = herald_segment::frame::MAX_BODY - format::BODY_FIXED;
const SWEEP_EVERY: Duration = Duration::from_secs(1);
/// How long a removed topic stays known as removed (late events of its
/// requests are discarded meanwhile). Requests end long before; forgetting
/// it bounds the memory a tenant deleting topics in a loop can make the
/// log hold.
const TOMBSTONE_TTL: Duration = Duration::from_secs(600);

/// Handle to the log; cheap to clone. The writer and sweep threads stop when
/// the last handle is dropped (no explicit close: everything acknowledged is
/// already durable).
#[derive(Clone)]
pub struct DeliveryLog {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for DeliveryLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeliveryLog")
            .field("root", &self.inner.root)
            .finish_non_exhaustive()
    }
}

impl DeliveryLog {
    /// Opens (creating if needed) the log and recovers every topic's pending
    /// entries, truncating torn record tails left by a crash.
    pub fn open(cfg: LogConfig) -> Result<DeliveryLog, LogError> {
        let segment_bytes = cfg.segment_bytes.clamp(1, 1 << 31);
        // Owner only: the log holds tenants' events (data dir rules, docs/security.md).
        fs::DirBuilder::new().recursive(true).mode(0o700).create(&cfg.dir)?;
        let mut topics = HashMap::new();
        for ent in fs::read_dir(&cfg.dir)? {
            let ent = ent?;
            if !ent.file_type()?.is_dir() {
                continue;
            }
            let path = ent.path();
            let name = match fs::read(path.join(format::NAME_FILE)) {
                Ok(b) => String::from_utf8(b).ok(),
                Err(e) if e.kind() == io::ErrorKind::NotFound => None,
                Err(e) => return Err(e.into()),
            };
            let Some(name) = name.or_else(|| ent.file_name().to_str().and_then(format::decode_topic_dir_name)) else {
                tracing::warn!(dir = %path.display(), "skipping delivery log directory without a topic name");
                continue;
            };
            let st = TopicState::recover(name.clone(), path)?;
            if st.entries > 0 {
                tracing::info!(topic = %name, entries = st.entries, "recovered pending deliveries");
            }
            topics.insert(name, Arc::new(Topic::new(st)));
        }

        let (tx, rx) = mpsc::channel(QUEUE);
        let root = cfg.dir.clone();
        let write_lock: Arc<Mutex<()>> = Arc::default();
        let lock = write_lock.clone();
        std::thread::Builder::new()
            .name("herald-log-writer".into())
            .spawn(move || writer::run(rx, root, segment_bytes, lock))?;
        let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
        let inner = Arc::new(Inner {
            root: cfg.dir,
            topics: RwLock::new(topics),
            tx,
            write_lock,
            floors: Mutex::default(),
            segment_bytes,
            empty_roll_bytes: (segment_bytes / 8).clamp(1, 1 << 20),
            _sweep_stop: stop_tx,
        });
        let weak = Arc::downgrade(&inner);
        std::thread::Builder::new()
            .name("herald-log-sweep".into())
            .spawn(move || sweep(weak, stop_rx))?;
        Ok(DeliveryLog { inner })
    }

    /// Appends one payload to several topics (one S3 change matching several
    /// persistent topics); returns the ids (in `items` order) once ALL are
    /// durable.
    ///
    /// Group commit: concurrent callers share fsyncs. The queue is bounded,
    /// so a saturated disk slows callers down instead of growing memory.
    /// Fails with [`LogError::Full`] without writing anything if any topic
    /// would exceed its [`Limits`]. Items for a topic removed while they were
    /// queued are discarded and get id 0.
    pub async fn append(&self, items: Vec<AppendItem>) -> Result<Vec<EntryId>, LogError> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        if items.iter().any(|i| i.key.len() + i.payload.len() > MAX_RECORD) {
            return Err(LogError::Io(io::Error::new(
                io::ErrorKind::InvalidInput,
                "event too large",
            )));
        }
        let topics: Vec<Arc<Topic>> = items.iter().map(|i| self.inner.topic(&i.topic)).collect();
        // Reserve room in every topic first so a refusal writes nothing and
        // concurrent appends cannot overshoot a limit together.
        let mut guard = Reservation { parts: Vec::new() };
        for (k, t) in topics.iter().enumerate() {
            if guard.parts.iter().any(|(p, _, _)| Arc::ptr_eq(p, t)) {
                continue;
            }
            let (mut n, mut bytes) = (0u64, 0u64);
            for (item, t2) in items.iter().zip(&topics).skip(k) {
                if Arc::ptr_eq(t, t2) {
                    n += 1;
                    bytes += format::record_len(&item.key, &item.payload) as u64;
                }
            }
            let mut st = t.state.lock().unwrap();
            let l = st.limits;
            if (l.max_entries > 0 && st.entries + st.reserved_entries + n > l.max_entries)
                || (l.max_bytes > 0 && st.bytes + st.reserved_bytes + bytes > l.max_bytes)
            {
                return Err(LogError::Full { topic: t.name.clone() });
            }
            st.reserved_entries += n;
            st.reserved_bytes += bytes;
            drop(st);
            guard.parts.push((t.clone(), n, bytes));
        }
        let (reply, rx) = oneshot::channel();
        let cmd = Cmd {
            items,
            topics,
            enqueued_ms: format::now_ms(),
            reply,
        };
        self.inner.tx.send(cmd).await.map_err(|_| LogError::ShuttingDown)?;
        // The writer owns the reservation now and releases it when done.
        guard.parts.clear();
        rx.await.map_err(|_| LogError::ShuttingDown)?
    }

    /// Writes events for a caller that commits them elsewhere (the store's
    /// group commit, see `herald_store::journal`): the records are written
    /// now, made durable by [`Staged::sync`] (or by the caller's syncfs of
    /// this file system: then `syncfs_follows` is true and the writer does
    /// not zero-fill ahead), and become deliverable with [`Staged::settle`].
    /// Limits are not checked here: the caller checked them before it
    /// decided to write (a write cannot be refused after its change).
    pub fn stage(&self, items: Vec<AppendItem>, syncfs_follows: bool) -> Result<Staged, LogError> {
        if items.iter().any(|i| i.key.len() + i.payload.len() > MAX_RECORD) {
            return Err(LogError::Io(io::Error::new(
                io::ErrorKind::InvalidInput,
                "event too large",
            )));
        }
        let topics: Vec<Arc<Topic>> = items.iter().map(|i| self.inner.topic(&i.topic)).collect();
        let now = format::now_ms();
        let flat: Vec<(&AppendItem, u64)> = items.iter().map(|i| (i, now)).collect();
        let written = writer::write(
            &flat,
            &topics,
            &self.inner.root,
            self.inner.segment_bytes,
            &self.inner.write_lock,
            writer::WriteMode {
                reserved: false,
                zero_fill: !syncfs_follows,
            },
        );
        if let Some(e) = written.error() {
            written.settle(false);
            return Err(LogError::Io(io::Error::other(e)));
        }
        Ok(Staged { written })
    }

    /// The log's root directory.
    pub fn dir(&self) -> &Path {
        &self.inner.root
    }

    /// Drops, at start-up, entries written for a transaction that never
    /// committed: those above their topic's committed high-water mark in
    /// `marks`. A topic without a mark had nothing committed when `strict`;
    /// when not (a data dir from before marks were kept), it is left alone.
    /// Returns how many entries were dropped.
    pub fn discard_uncommitted(&self, marks: &HashMap<String, EntryId>, strict: bool) -> usize {
        let topics: Vec<Arc<Topic>> = self.inner.topics.read().unwrap().values().cloned().collect();
        let mut dropped = 0;
        for t in topics {
            let Some(&mark) = marks.get(&t.name).or(if strict { Some(&0) } else { None }) else {
                continue;
            };
            let mut st = t.state.lock().unwrap();
            let now = format::now_ms();
            let mut side = SideBuf::default();
            for id in st.ids_above(mark) {
                if let Some(seg) = st.remove_void(id, now) {
                    side.push(seg, SIDE_VOID, id, 0, 0);
                    dropped += 1;
                }
            }
            if !side.parts.is_empty() {
                tracing::warn!(topic = %t.name, above = mark, "dropped events of a transaction that did not commit");
                side.flush(&mut st);
                if let Err(e) = st.sync_sides() {
                    tracing::warn!(topic = %t.name, error = %e, "cannot sync delivery state");
                }
                st.collect_garbage(self.inner.empty_roll_bytes);
            }
        }
        dropped
    }

    /// Makes a topic live: a removed one (see [`remove_topic`](Self::remove_topic))
    /// starts afresh, above the ids of its predecessor.
    pub fn revive(&self, topic: &str) {
        let mut map = self.inner.topics.write().unwrap();
        if map.get(topic).is_some_and(|t| t.state.lock().unwrap().removed) {
            map.insert(topic.to_owned(), Arc::new(self.inner.fresh_topic(topic)));
        }
    }

    /// Forgets topics removed at least `age` ago, and their id floors: a
    /// later log of that name starts from scratch (its committed mark went
    /// with the topic, see `herald_store`'s `delete_topic`).
    pub fn forget_removed(&self, age: Duration) {
        let cutoff = format::now_ms().saturating_sub(age.as_millis() as u64);
        let mut map = self.inner.topics.write().unwrap();
        let mut floors = self.inner.floors.lock().unwrap();
        map.retain(|name, t| {
            let st = t.state.lock().unwrap();
            let keep = !st.removed || st.removed_ms > cutoff;
            if !keep {
                floors.remove(name);
            }
            keep
        });
    }

    /// The ids each topic's new log must stay above (the store's committed
    /// marks, at start-up): a topic deleted and re-created never gets ids
    /// that a mark of its predecessor would vouch for.
    ///
    /// A topic recovered from disk whose files no longer reach its floor
    /// (everything it had was reclaimed: a retaining topic may end up with
    /// no file at all) continues above the floor too.
    pub fn set_id_floors(&self, floors: &HashMap<String, EntryId>) {
        let mut mine = self.inner.floors.lock().unwrap();
        for (topic, &floor) in floors {
            let f = mine.entry(topic.clone()).or_default();
            *f = (*f).max(floor);
        }
        drop(mine);
        let topics: Vec<Arc<Topic>> = self.inner.topics.read().unwrap().values().cloned().collect();
        for t in topics {
            if let Some(&floor) = floors.get(&t.name) {
                t.state.lock().unwrap().raise_next_id(floor.saturating_add(1));
            }
        }
    }

    /// The highest id each topic holds on disk (for marks of a data dir
    /// that had none).
    pub fn last_ids(&self) -> Vec<(String, EntryId)> {
        let map = self.inner.topics.read().unwrap();
        map.values()
            .map(|t| (t.name.clone(), t.state.lock().unwrap().next_id.saturating_sub(1)))
            .filter(|(_, id)| *id > 0)
            .collect()
    }

    /// Sets a topic's admission limits (in memory; set them again after open).
    pub fn set_limits(&self, topic: &str, limits: Limits) {
        self.inner.topic(topic).state.lock().unwrap().limits = limits;
    }

    /// Whether `topic` holds as many entries or bytes as its [`Limits`]
    /// allow (the check before a write that would add to it; cheaper than
    /// [`stats`](Self::stats)).
    pub fn is_full(&self, topic: &str) -> bool {
        self.is_filled_to(topic, 0, 1, 1)
    }

    /// Whether `topic`, with `coming` more entries that are on their way
    /// but not counted yet, holds at least `num/den` of its entry limit, or
    /// of its byte limit (never, for an unlimited one).
    pub fn is_filled_to(&self, topic: &str, coming: u64, num: u64, den: u64) -> bool {
        let Some(t) = self.inner.get(topic) else {
            return false;
        };
        let st = t.state.lock().unwrap();
        let l = st.limits;
        let reached = |used: u64, max: u64| max > 0 && used.saturating_mul(den) >= max.saturating_mul(num);
        reached(st.entries.saturating_add(coming), l.max_entries) || reached(st.bytes, l.max_bytes)
    }

    /// Entries and bytes waiting in `topic` (zeros for unknown topics): the
    /// cheap part of [`stats`](Self::stats), for metrics scrapes.
    pub fn size(&self, topic: &str) -> (u64, u64) {
        match self.inner.get(topic) {
            Some(t) => {
                let st = t.state.lock().unwrap();
                (st.entries, st.bytes)
            }
            None => (0, 0),
        }
    }

    /// Zeros for unknown topics.
    pub fn stats(&self, topic: &str) -> TopicStats {
        let Some(t) = self.inner.get(topic) else {
            return TopicStats::default();
        };
        let mut st = t.state.lock().unwrap();
        let oldest = st.oldest_enqueued_ms();
        let (retained_entries, retained_bytes, oldest_retained_age) = st.retained_summary(format::now_ms());
        TopicStats {
            retained_entries,
            retained_bytes,
            oldest_retained_age,
            entries: st.entries,
            bytes: st.bytes,
            oldest_age: oldest.map(|ms| {
                SystemTime::now()
                    .duration_since(format::from_ms(ms))
                    .unwrap_or(Duration::ZERO)
            }),
            retried_entries: st.retried_entries,
            total_retries: st.total_retries,
            leased: st.leased,
        }
    }

    /// Pending entries (leased ones included), oldest first, with payloads.
    pub fn dump(&self, topic: &str, limit: usize) -> Vec<DumpEntry> {
        let Some(t) = self.inner.get(topic) else {
            return Vec::new();
        };
        let runs = t.state.lock().unwrap().dump_pick(limit);
        let mut out = Vec::new();
        let mut failed = Vec::new();
        for run in runs {
            read_run(&t, run, &mut failed, |p, key, payload| {
                out.push(DumpEntry {
                    id: p.id,
                    key,
                    attempts: p.attempts,
                    enqueued: format::from_ms(p.enqueued_ms),
                    next_attempt: format::from_ms(p.next_attempt_ms.max(p.enqueued_ms)),
                    payload,
                })
            });
        }
        out
    }

    /// How long `topic` keeps delivered events for [`replay`](Self::replay)
    /// (zero: not at all, the default of a new topic), and how many bytes
    /// of them at most (0: no cap; past it the oldest go first). Segments
    /// past either are reclaimed now.
    pub fn set_retention(&self, topic: &str, retention: Duration, max_bytes: u64) {
        let t = self.inner.topic(topic);
        let mut st = t.state.lock().unwrap();
        st.retention_ms = Some(retention.as_millis().min(u64::MAX as u128) as u64);
        st.retained_cap = max_bytes;
        st.collect_garbage(self.inner.empty_roll_bytes);
    }

    /// Gives every topic whose retention nobody set since start-up (their
    /// owners are gone) `retention`, so what they retain is reclaimed.
    pub fn set_unset_retention(&self, retention: Duration) {
        let topics: Vec<Arc<Topic>> = self.inner.topics.read().unwrap().values().cloned().collect();
        for t in topics {
            let mut st = t.state.lock().unwrap();
            if st.retention_ms.is_none() {
                st.retention_ms = Some(retention.as_millis().min(u64::MAX as u128) as u64);
                st.collect_garbage(self.inner.empty_roll_bytes);
            }
        }
    }

    /// Topics that hold anything: pending entries or retained ones.
    pub fn topics_on_disk(&self) -> Vec<String> {
        let map = self.inner.topics.read().unwrap();
        let mut v: Vec<String> = map
            .values()
            .filter(|t| {
                let st = t.state.lock().unwrap();
                !st.removed && (st.entries > 0 || !st.retained.is_empty())
            })
            .map(|t| t.name.clone())
            .collect();
        v.sort();
        v
    }

    /// Topics that have pending entries.
    pub fn topics(&self) -> Vec<String> {
        let map = self.inner.topics.read().unwrap();
        let mut v: Vec<String> = map
            .values()
            .filter(|t| t.state.lock().unwrap().entries > 0)
            .map(|t| t.name.clone())
            .collect();
        v.sort();
        v
    }

    /// Drops everything of a deleted topic and deletes its files. The topic
    /// stays known as removed: events still on their way to it (planned
    /// before the deletion, committed after) are discarded, until
    /// [`revive`](Self::revive) makes a topic of that name live again.
    pub fn remove_topic(&self, topic: &str) {
        // Holding the map lock while deleting keeps a re-created topic of the
        // same name from racing with the directory removal.
        let map = self.inner.topics.write().unwrap();
        let Some(t) = map.get(topic).cloned() else { return };
        {
            let mut st = t.state.lock().unwrap();
            let mut floors = self.inner.floors.lock().unwrap();
            let floor = floors.entry(topic.to_owned()).or_default();
            *floor = (*floor).max(st.next_id.saturating_sub(1));
            drop(floors);
            let limits = st.limits;
            let mut fresh = TopicState::new(st.name.clone(), st.dir.clone());
            fresh.removed = true;
            fresh.removed_ms = format::now_ms();
            fresh.limits = limits;
            // Its files go next: nothing put off is written into them.
            st.deferred_side = Default::default();
            *st = fresh;
            if let Err(e) = fs::remove_dir_all(&t.dir)
                && e.kind() != io::ErrorKind::NotFound
            {
                tracing::warn!(topic, error = %e, "cannot delete delivery log directory");
            }
        }
        drop(map);
        t.notify.notify_waiters();
    }
}

impl Inner {
    fn get(&self, name: &str) -> Option<Arc<Topic>> {
        self.topics.read().unwrap().get(name).cloned()
    }

    fn topic(&self, name: &str) -> Arc<Topic> {
        if let Some(t) = self.get(name) {
            return t;
        }
        let mut map = self.topics.write().unwrap();
        map.entry(name.to_string())
            .or_insert_with(|| Arc::new(self.fresh_topic(name)))
            .clone()
    }

    /// A topic with nothing on disk yet, its ids above its floor.
    fn fresh_topic(&self, name: &str) -> Topic {
        let dir = self.root.join(format::topic_dir_name(name));
        let mut st = TopicState::new(name.to_string(), dir);
        st.next_id = self.floors.lock().unwrap().get(name).copied().unwrap_or(0) + 1;
        Topic::new(st)
    }
}

/// Undoes `append`'s limit reservations if it fails or is cancelled before
/// the writer took over.
struct Reservation {
    parts: Vec<(Arc<Topic>, u64, u64)>,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        for (t, n, bytes) in self.parts.drain(..) {
            let mut st = t.state.lock().unwrap();
            st.reserved_entries = st.reserved_entries.saturating_sub(n);
            st.reserved_bytes = st.reserved_bytes.saturating_sub(bytes);
        }
    }
}

/// Events written by [`DeliveryLog::stage`], waiting for their
/// transaction.
pub struct Staged {
    written: writer::Written,
}

impl Staged {
    /// The highest entry id written, per topic.
    pub fn high_water(&self) -> Vec<(String, EntryId)> {
        self.written.high_water()
    }

    /// fsyncs the written records.
    pub fn sync(&mut self) -> Result<(), LogError> {
        self.written.sync();
        match self.written.error() {
            Some(e) => Err(LogError::Io(io::Error::other(e))),
            None => Ok(()),
        }
    }

    /// `committed`: the entries become deliverable; else they are dropped.
    pub fn settle(self, committed: bool) {
        self.written.settle(committed);
    }
}

/// Background sweep: rolls the small active segment of drained topics so an
/// idle topic holds no data. Exits when the log is dropped.
fn sweep(inner: Weak<Inner>, stop: std::sync::mpsc::Receiver<()>) {
    while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = stop.recv_timeout(SWEEP_EVERY) {
        let Some(strong) = inner.upgrade() else { return };
        let topics: Vec<Arc<Topic>> = strong.topics.read().unwrap().values().cloned().collect();
        let write_lock = strong.write_lock.clone();
        // Not held while sweeping: dropping the last handle stops the sweep.
        let log = DeliveryLog { inner: strong };
        log.forget_removed(TOMBSTONE_TTL);
        drop(log);
        let now = format::now_ms();
        for t in topics {
            let roll = t.state.lock().unwrap().aged_roll_due(now);
            // Rolling trims the file: never while a write (which may be
            // zero-filling past its records) is under way. Lock order as
            // the writer's: the write lock, then the topic's (which is why
            // the check above is made again under both).
            let _writing = roll.then(|| write_lock.lock().unwrap_or_else(|p| p.into_inner()));
            let mut st = t.state.lock().unwrap();
            if !st.removed {
                if roll {
                    st.roll_aged_active(now);
                }
                st.collect_garbage(1);
            }
        }
    }
}
