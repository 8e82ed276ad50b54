//! One queue: its in-memory index, its segment files and crash recovery.
//!
//! # Files (in the queue's directory)
//! - `meta.json`: owner, name, attributes, tags; replaced atomically.
//! - `seg-<first seq>.log`: message records (see `message.rs`), appended by
//!   the group-commit writer and fsynced before a send is acknowledged.
//! - `seg-<first seq>.side`: 24-byte state records for that segment's
//!   messages (deleted; received n times, first at t), written with plain
//!   `write()` and never fsynced: the page cache survives `kill -9`, and after
//!   a power loss a deleted message coming back is within SQS's
//!   at-least-once contract.
//!
//! A segment whose messages are all gone is deleted with its side file, so
//! disk use follows the backlog.
//!
//! # Index
//! Per message a 40-byte [`Slot`] in a dense per-segment vector (indexed by
//! sequence number), never the body: bodies are read back with positional
//! reads at receive time. Visible messages of a standard queue wait in
//! `ready`; delayed and in-flight ones in a timer heap keyed by the time they
//! become visible. Stale entries in either are skipped lazily (cheaper than
//! removing them eagerly), and both are compacted when mostly stale.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, VecDeque};
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use herald_segment::{SideFile, Tail, file::side_path};

mod peek;
use tokio::sync::Notify;

use crate::attrs::Settings;
use crate::message::{self, DEDUP_WINDOW_MS};

mod recover;
mod write;

/// Roll to a new segment file past this size.
pub(crate) const SEGMENT_BYTES: u64 = 64 << 20;
/// A drained active segment at least this big is replaced by an empty one
/// (at the next send or sweep), so an idle drained queue does not pin
/// megabytes of disk.
const ROLL_DRAINED_BYTES: u64 = 1 << 20;
/// How long a message being moved to a dead-letter queue stays hidden; if
/// the move fails it simply becomes receivable again.
pub(crate) const MOVE_GRACE_MS: u64 = 60_000;

pub(crate) const GONE: u8 = 0;
pub(crate) const VISIBLE: u8 = 1;
pub(crate) const DELAYED: u8 = 2;
pub(crate) const INFLIGHT: u8 = 3;
/// Transient state during recovery: record found, side file not yet applied.
const PRESENT: u8 = 4;
const NO_GROUP: u32 = u32::MAX;

const SIDE_DELETE: u8 = 1;
const SIDE_RECEIVE: u8 = 2;
const SIDE_LEN: usize = 24;
/// Extension of a queue's side files (`seg-<first>.side`).
const SIDE_EXT: &str = "side";

/// Everything the index keeps per message (40 bytes).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Slot {
    pub off: u32,
    pub len: u32,
    pub sent_s: u32,
    pub recv: u32,
    /// Index into `State::groups` (FIFO queues only).
    pub group: u32,
    pub state: u8,
    /// When a delayed or in-flight message becomes visible (epoch ms).
    pub visible_at: u64,
    pub first_recv: u64,
}

const EMPTY: Slot = Slot {
    off: 0,
    len: 0,
    sent_s: 0,
    recv: 0,
    group: NO_GROUP,
    state: GONE,
    visible_at: 0,
    first_recv: 0,
};

pub(crate) struct Segment {
    pub file: Arc<File>,
    side: SideFile,
    pub size: u64,
    /// Indexed by `seq - first seq`.
    pub slots: Vec<Slot>,
    pub live: u32,
    /// Records reserved by the writer and not yet committed: the segment must
    /// not be reclaimed while its `live` count is still about to grow.
    pub pending: u32,
    /// Lower bound of the sent time of its messages, so the retention sweep
    /// skips segments that cannot hold expired messages.
    pub min_sent_s: u32,
    /// A write to it failed: later records go to a new segment so recovery
    /// never has to read past a hole.
    pub broken: bool,
}

impl Segment {
    fn new(file: File) -> Segment {
        Segment {
            file: Arc::new(file),
            side: SideFile::default(),
            size: 0,
            slots: Vec::new(),
            live: 0,
            pending: 0,
            min_sent_s: u32::MAX,
            broken: false,
        }
    }
}

/// Creates an empty segment file. The caller fsyncs the directory.
fn create_segment(dir: &Path, first: u64) -> io::Result<Segment> {
    Ok(Segment::new(herald_segment::create_segment(dir, first)?))
}

pub(crate) use herald_segment::fsync_dir;

fn side_record(kind: u8, count: u32, seq: u64, ms: u64) -> [u8; SIDE_LEN] {
    let mut r = [0u8; SIDE_LEN];
    r[0] = kind;
    r[4..8].copy_from_slice(&count.to_le_bytes());
    r[8..16].copy_from_slice(&seq.to_le_bytes());
    r[16..24].copy_from_slice(&ms.to_le_bytes());
    r
}

struct Group {
    name: Arc<str>,
    /// Undeleted messages of the group, in order (in-flight ones included).
    pending: VecDeque<u64>,
    inflight: u32,
    /// In `candidates` already.
    queued: bool,
}

struct DedupEntry {
    message_id: [u8; 16],
    seq: u64,
    expires: u64,
}

/// A message picked by a receive, to be read from disk outside the lock.
pub(crate) struct Taken {
    pub seq: u64,
    pub recv: u32,
    pub first_recv: u64,
    pub file: Arc<File>,
    pub off: u64,
    pub len: u32,
}

impl Taken {
    pub(crate) fn read(&self) -> io::Result<Vec<u8>> {
        let mut buf = vec![0u8; self.len as usize];
        self.file.read_exact_at(&mut buf, self.off)?;
        Ok(buf)
    }
}

/// Where the writer put a record, and what the index keeps of it.
pub(crate) struct Written {
    /// The segment (its first sequence number).
    pub seg: u64,
    pub seq: u64,
    pub off: u64,
    pub len: u32,
    pub sent_s: u32,
    pub visible_at: u64,
}

/// Outcome of removing a message.
pub(crate) enum Removed {
    NotFound,
    Removed { seg: u64 },
}

pub(crate) struct State {
    pub fifo: bool,
    pub settings: Settings,
    pub deleted: bool,
    /// Bumped by purge and delete: the writer drops commits of an older epoch.
    pub epoch: u64,
    pub next_seq: u64,
    dir: PathBuf,
    pub segments: BTreeMap<u64, Segment>,
    pub active: u64,
    ready: VecDeque<u64>,
    timers: BinaryHeap<Reverse<(u64, u64)>>,
    groups: Vec<Option<Group>>,
    free_groups: Vec<u32>,
    group_ids: HashMap<Arc<str>, u32>,
    /// FIFO groups that may have a receivable head.
    candidates: VecDeque<u32>,
    pub visible: u64,
    pub inflight: u64,
    pub delayed: u64,
    pub bytes: u64,
    /// By 128-bit hash of the deduplication key: a fixed 48 bytes per
    /// entry however long the ids, as the window can hold many sends.
    dedup: HashMap<u128, DedupEntry>,
    dedup_order: VecDeque<(u64, u128)>,
    pub last_purge: Option<Instant>,
}

impl State {
    fn new(dir: PathBuf, fifo: bool, settings: Settings) -> State {
        State {
            fifo,
            settings,
            deleted: false,
            epoch: 0,
            next_seq: 1,
            dir,
            segments: BTreeMap::new(),
            active: 0,
            ready: VecDeque::new(),
            timers: BinaryHeap::new(),
            groups: Vec::new(),
            free_groups: Vec::new(),
            group_ids: HashMap::new(),
            candidates: VecDeque::new(),
            visible: 0,
            inflight: 0,
            delayed: 0,
            bytes: 0,
            dedup: HashMap::new(),
            dedup_order: VecDeque::new(),
            last_purge: None,
        }
    }

    /// Creates the state of a brand-new queue (with its first segment).
    pub(crate) fn create(dir: PathBuf, fifo: bool, settings: Settings) -> io::Result<State> {
        let mut st = State::new(dir, fifo, settings);
        let seg = create_segment(&st.dir, 1)?;
        st.segments.insert(1, seg);
        st.active = 1;
        Ok(st)
    }

    fn locate(&self, seq: u64) -> Option<(u64, usize)> {
        let (&k, seg) = self.segments.range(..=seq).next_back()?;
        let idx = (seq - k) as usize;
        (idx < seg.slots.len()).then_some((k, idx))
    }

    fn slot_mut(&mut self, seq: u64) -> Option<&mut Slot> {
        let (k, idx) = self.locate(seq)?;
        self.segments.get_mut(&k).map(|s| &mut s.slots[idx])
    }

    pub(crate) fn slot(&self, seq: u64) -> Option<Slot> {
        let (k, idx) = self.locate(seq)?;
        Some(self.segments[&k].slots[idx])
    }

    fn intern_group(&mut self, name: &str) -> u32 {
        if let Some(&g) = self.group_ids.get(name) {
            return g;
        }
        let name: Arc<str> = Arc::from(name);
        let group = Group {
            name: name.clone(),
            pending: VecDeque::new(),
            inflight: 0,
            queued: false,
        };
        let g = match self.free_groups.pop() {
            Some(g) => {
                self.groups[g as usize] = Some(group);
                g
            }
            None => {
                self.groups.push(Some(group));
                (self.groups.len() - 1) as u32
            }
        };
        self.group_ids.insert(name, g);
        g
    }

    fn group_mut(&mut self, g: u32) -> Option<&mut Group> {
        self.groups.get_mut(g as usize).and_then(Option::as_mut)
    }

    /// Queues the group for receive if nothing of it is in flight.
    fn make_available(&mut self, g: u32) {
        let Some(group) = self.group_mut(g) else {
            return;
        };
        if group.inflight == 0 && !group.pending.is_empty() && !group.queued {
            group.queued = true;
            self.candidates.push_back(g);
        }
    }

    /// Forgets a group with nothing left, so unique group ids do not pile up.
    fn maybe_free_group(&mut self, g: u32) {
        let done = self
            .group_mut(g)
            .is_some_and(|gr| gr.pending.is_empty() && gr.inflight == 0);
        if done {
            let gr = self.groups[g as usize].take().expect("checked");
            self.group_ids.remove(&gr.name);
            self.free_groups.push(g);
        }
    }

    /// Makes a message that was just placed in `slots` receivable (or
    /// delayed), updating counters, groups and queues.
    fn index_live(&mut self, k: u64, idx: usize, group: Option<&str>, now: u64) {
        let seq = k + idx as u64;
        let g = match (self.fifo, group) {
            (true, Some(name)) => self.intern_group(name),
            _ => NO_GROUP,
        };
        let seg = self.segments.get_mut(&k).expect("segment of a live slot");
        let slot = &mut seg.slots[idx];
        slot.group = g;
        seg.live += 1;
        seg.min_sent_s = seg.min_sent_s.min(slot.sent_s);
        self.bytes += slot.len as u64;
        let visible = slot.visible_at <= now;
        if visible {
            slot.state = VISIBLE;
            self.visible += 1;
        } else {
            slot.state = DELAYED;
            self.delayed += 1;
            self.timers.push(Reverse((slot.visible_at, seq)));
        }
        if g != NO_GROUP {
            self.group_mut(g).expect("interned").pending.push_back(seq);
            if visible {
                self.make_available(g);
            }
        } else if visible {
            self.ready.push_back(seq);
        }
    }

    /// Removes a message from the index (not from disk).
    pub(crate) fn remove(&mut self, seq: u64) -> Removed {
        let Some((k, idx)) = self.locate(seq) else {
            return Removed::NotFound;
        };
        let seg = self.segments.get_mut(&k).expect("located");
        let slot = &mut seg.slots[idx];
        let was = slot.state;
        if was == GONE {
            return Removed::NotFound;
        }
        slot.state = GONE;
        let g = slot.group;
        seg.live -= 1;
        self.bytes -= slot.len as u64;
        match was {
            VISIBLE => self.visible -= 1,
            DELAYED => self.delayed -= 1,
            _ => self.inflight -= 1,
        }
        if g != NO_GROUP {
            if let Some(group) = self.group_mut(g) {
                if let Some(pos) = group.pending.iter().position(|&s| s == seq) {
                    group.pending.remove(pos);
                }
                if was == INFLIGHT {
                    group.inflight -= 1;
                }
            }
            self.make_available(g);
            self.maybe_free_group(g);
        }
        Removed::Removed { seg: k }
    }

    /// Deletes a drained segment's files unless it is the active one or the
    /// writer still has records in flight to it.
    pub(crate) fn reclaim_if_empty(&mut self, k: u64) {
        let empty = self.segments.get(&k).is_some_and(|s| s.live == 0 && s.pending == 0);
        if empty && k != self.active {
            self.segments.remove(&k);
            herald_segment::remove_segment(&self.dir, k, SIDE_EXT);
        }
    }

    fn mark_inflight(&mut self, seq: u64, until: u64) {
        let slot = self.slot_mut(seq).expect("visible slot");
        slot.state = INFLIGHT;
        slot.visible_at = until;
        let g = slot.group;
        self.visible -= 1;
        self.inflight += 1;
        self.timers.push(Reverse((until, seq)));
        if let Some(group) = self.group_mut(g) {
            group.inflight += 1;
        }
    }

    /// Makes delayed and in-flight messages whose time has come visible.
    /// Returns whether any did.
    pub(crate) fn advance(&mut self, now: u64) -> bool {
        let mut any = false;
        while let Some(&Reverse((at, seq))) = self.timers.peek() {
            if at > now {
                break;
            }
            self.timers.pop();
            let Some(slot) = self.slot_mut(seq) else {
                continue;
            };
            if !matches!(slot.state, DELAYED | INFLIGHT) || slot.visible_at != at {
                continue;
            }
            let was = slot.state;
            slot.state = VISIBLE;
            let g = slot.group;
            self.visible += 1;
            if was == DELAYED {
                self.delayed -= 1;
            } else {
                self.inflight -= 1;
            }
            any = true;
            if g != NO_GROUP {
                if was == INFLIGHT
                    && let Some(group) = self.group_mut(g)
                {
                    group.inflight -= 1;
                }
                self.make_available(g);
            } else {
                self.ready.push_back(seq);
            }
        }
        self.compact();
        any
    }

    /// Drops stale entries from the timer heap and the ready queue when they
    /// dominate, bounding their memory.
    fn compact(&mut self) {
        let waiting = (self.inflight + self.delayed) as usize;
        if self.timers.len() > 2 * waiting + 4096 {
            let timers = std::mem::take(&mut self.timers).into_vec();
            let kept: Vec<_> = timers
                .into_iter()
                .filter(|Reverse((at, seq))| {
                    self.slot(*seq)
                        .is_some_and(|s| matches!(s.state, DELAYED | INFLIGHT) && s.visible_at == *at)
                })
                .collect();
            self.timers = BinaryHeap::from(kept);
        }
        if self.ready.len() > 2 * self.visible as usize + 4096 {
            let ready = std::mem::take(&mut self.ready);
            self.ready = ready
                .into_iter()
                .filter(|&seq| self.slot(seq).is_some_and(|s| s.state == VISIBLE))
                .collect();
        }
    }

    pub(crate) fn next_timer(&self) -> Option<u64> {
        self.timers.peek().map(|Reverse((at, _))| *at)
    }

    fn taken(&self, seq: u64) -> Taken {
        let (k, idx) = self.locate(seq).expect("taken slot exists");
        let seg = &self.segments[&k];
        let s = seg.slots[idx];
        Taken {
            seq,
            recv: s.recv,
            first_recv: s.first_recv,
            file: seg.file.clone(),
            off: s.off as u64,
            len: s.len,
        }
    }

    fn expired(&self, slot: &Slot, now_s: u64) -> bool {
        slot.sent_s as u64 + self.settings.retention_s as u64 <= now_s
    }

    /// Picks up to `max` receivable messages, marks them in flight until
    /// `now + visibility_ms` and persists their receive counts. Messages that
    /// reached the redrive limit are returned separately (hidden for
    /// [`MOVE_GRACE_MS`]) for the caller to move.
    pub(crate) fn take(&mut self, max: usize, visibility_ms: u64, now: u64) -> (Vec<Taken>, Vec<Taken>) {
        self.advance(now);
        let now_s = now / 1000;
        let limit = self.settings.redrive.as_ref().map(|r| r.1);
        let mut out = Vec::new();
        let mut moves = Vec::new();
        let mut reclaim = Vec::new();
        // Returns false when the message was not receivable and was skipped.
        let mut consider = |st: &mut State, seq: u64, out: &mut Vec<Taken>| -> bool {
            let Some(slot) = st.slot(seq) else {
                return false;
            };
            if slot.state != VISIBLE {
                return false;
            }
            if st.expired(&slot, now_s) {
                if let Removed::Removed { seg } = st.remove(seq) {
                    reclaim.push(seg);
                }
                return false;
            }
            if limit.is_some_and(|l| slot.recv >= l) {
                st.mark_inflight(seq, now + MOVE_GRACE_MS);
                moves.push(st.taken(seq));
                return true;
            }
            let s = st.slot_mut(seq).expect("checked");
            s.recv += 1;
            if s.first_recv == 0 {
                s.first_recv = now;
            }
            st.mark_inflight(seq, now + visibility_ms);
            out.push(st.taken(seq));
            true
        };
        if !self.fifo {
            while out.len() < max {
                let Some(seq) = self.ready.pop_front() else {
                    break;
                };
                consider(self, seq, &mut out);
            }
        } else {
            while out.len() < max {
                let Some(g) = self.candidates.pop_front() else {
                    break;
                };
                let Some(group) = self.group_mut(g) else {
                    continue;
                };
                group.queued = false;
                if group.inflight > 0 {
                    continue;
                }
                let mut i = 0;
                while out.len() < max {
                    let Some(&seq) = self.group_mut(g).and_then(|gr| gr.pending.get(i)) else {
                        break;
                    };
                    let before = self.group_mut(g).map_or(0, |gr| gr.pending.len());
                    if consider(self, seq, &mut out) {
                        i += 1;
                    } else if self.group_mut(g).map_or(0, |gr| gr.pending.len()) == before {
                        // Head not receivable yet (delayed): the group waits.
                        break;
                    }
                    // else: it expired and was removed; look at the new i-th.
                }
            }
        }
        let mut side: Vec<(u64, [u8; SIDE_LEN])> = out
            .iter()
            .map(|t| {
                let k = self.locate(t.seq).expect("taken").0;
                (k, side_record(SIDE_RECEIVE, t.recv, t.seq, t.first_recv))
            })
            .collect();
        self.write_side(&mut side);
        for k in reclaim {
            self.reclaim_if_empty(k);
        }
        (out, moves)
    }

    /// Appends side records, one `write()` per segment. Failures only cost
    /// durability of the delete/receive count, so they are logged, not
    /// returned.
    fn write_side(&mut self, recs: &mut [(u64, [u8; SIDE_LEN])]) {
        recs.sort_by_key(|r| r.0);
        let mut i = 0;
        while i < recs.len() {
            let k = recs[i].0;
            let mut buf = Vec::new();
            while i < recs.len() && recs[i].0 == k {
                buf.extend_from_slice(&recs[i].1);
                i += 1;
            }
            let dir = &self.dir;
            if let Some(seg) = self.segments.get_mut(&k)
                && let Err(e) = seg.side.append(|| side_path(dir, k, SIDE_EXT), &buf)
            {
                tracing::warn!(path = %side_path(dir, k, SIDE_EXT).display(), error = %e, "cannot write queue side file");
            }
        }
    }

    /// Deletes messages by sequence number, persisting the deletes.
    pub(crate) fn delete(&mut self, seqs: &[u64]) {
        let mut side = Vec::new();
        let mut touched = Vec::new();
        for &seq in seqs {
            if let Removed::Removed { seg } = self.remove(seq) {
                side.push((seg, side_record(SIDE_DELETE, 0, seq, 0)));
                touched.push(seg);
            }
        }
        self.write_side(&mut side);
        touched.dedup();
        for k in touched {
            self.reclaim_if_empty(k);
        }
    }

    /// Sets a new visibility deadline for an in-flight message (the one
    /// received `count` times). Returns whether it became visible now.
    pub(crate) fn change_visibility(&mut self, seq: u64, count: u32, until: u64, now: u64) -> bool {
        self.advance(now);
        let ok = self.slot(seq).is_some_and(|s| s.state == INFLIGHT && s.recv == count);
        if !ok {
            return false;
        }
        let slot = self.slot_mut(seq).expect("checked");
        slot.visible_at = until;
        self.timers.push(Reverse((until, seq)));
        if until <= now {
            self.advance(now);
        }
        true
    }

    /// Drops messages past the retention period.
    pub(crate) fn expire(&mut self, now: u64) {
        let now_s = now / 1000;
        let retention = self.settings.retention_s as u64;
        let mut doomed = Vec::new();
        for (&k, seg) in &self.segments {
            if seg.live == 0 || seg.min_sent_s as u64 + retention > now_s {
                continue;
            }
            for (i, s) in seg.slots.iter().enumerate() {
                if s.state != GONE && s.sent_s as u64 + retention <= now_s {
                    doomed.push(k + i as u64);
                }
            }
        }
        let mut touched = Vec::new();
        for seq in doomed {
            if let Removed::Removed { seg } = self.remove(seq) {
                touched.push(seg);
            }
        }
        touched.dedup();
        for k in touched {
            self.reclaim_if_empty(k);
        }
        self.prune_dedup(now);
    }

    // ---- purge, recovery ----

    /// Drops every message: switches to a fresh empty segment and deletes
    /// the old files. Sends still being written land in the old epoch and
    /// are dropped by the writer.
    pub(crate) fn purge(&mut self) -> io::Result<()> {
        if self.segments.contains_key(&self.next_seq) {
            self.next_seq += 1;
        }
        let first = self.next_seq;
        let seg = create_segment(&self.dir, first)?;
        fsync_dir(&self.dir)?;
        self.epoch += 1;
        let old = std::mem::take(&mut self.segments);
        self.segments.insert(first, seg);
        self.active = first;
        for &first in old.keys() {
            herald_segment::remove_segment(&self.dir, first, SIDE_EXT);
        }
        self.ready.clear();
        self.timers.clear();
        self.groups.clear();
        self.free_groups.clear();
        self.group_ids.clear();
        self.candidates.clear();
        self.visible = 0;
        self.inflight = 0;
        self.delayed = 0;
        self.bytes = 0;
        Ok(())
    }

    /// Age of the oldest message, approximately (first live one in sequence
    /// order; messages moved from a dead-letter source may be older).
    pub(crate) fn oldest_sent_s(&self) -> Option<u32> {
        self.segments
            .values()
            .filter(|s| s.live > 0)
            .find_map(|s| s.slots.iter().find(|x| x.state != GONE).map(|x| x.sent_s))
    }
}

fn key_hash(key: &str) -> u128 {
    use md5::Digest;
    u128::from_le_bytes(md5::Md5::digest(key.as_bytes()).into())
}

/// Deduplication key: the id, scoped to the group when DeduplicationScope
/// is messageGroup.
pub(crate) fn dedup_key(per_group: bool, group: &str, dedup: &str) -> String {
    if per_group {
        format!("{group}\n{dedup}")
    } else {
        dedup.to_string()
    }
}

/// A queue as held by the engine.
pub(crate) struct Queue {
    /// Random, so a receipt handle of a deleted queue never matches a new
    /// queue of the same name.
    pub id: u64,
    pub owner: String,
    pub name: String,
    pub arn: String,
    pub fifo: bool,
    pub dir: PathBuf,
    pub meta: Mutex<crate::Meta>,
    pub state: Mutex<State>,
    /// Woken when messages may have become receivable (long polling).
    pub notify: Notify,
}

impl Queue {
    /// The queue's RedriveAllowPolicy (as stored), if it has one: which
    /// source queues may use it as their dead-letter queue.
    pub(crate) fn redrive_allow_policy(&self) -> Option<String> {
        let meta = self.meta.lock().expect("meta lock");
        meta.attributes.get("RedriveAllowPolicy").cloned()
    }
}

#[cfg(test)]
mod tests;
