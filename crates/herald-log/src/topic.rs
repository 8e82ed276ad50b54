//! One topic's in-memory index over its segment files, and its recovery.
//!
//! Memory is the constraint that shapes this module: a backlog of a million
//! entries must fit in well under 200 MB. So payloads and keys stay on disk;
//! per entry the index holds one fixed 48-byte [`Slot`] in a per-segment
//! `Vec` (ids inside a segment are contiguous, so the id *is* the index),
//! one bit in a per-segment "ready" bitmap, and one entry per distinct key
//! in a B-tree keyed by a 64-bit key hash. A B-tree, not a hash table: it
//! grows a node at a time, where a table doubles and holds both copies for
//! a moment (at ~920,000 distinct keys that moment was the backlog's RSS
//! peak, +55 MB), and it packs closer (~35 bytes a key, not ~50 after a
//! doubling). Its lookups cost more, a few hundred nanoseconds per
//! append, lease or ack: small against the rest of an event's path.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use herald_segment::{SideFile, Tail, file::side_path};

use crate::Limits;
use crate::format::{self, SIDE_EXT, SIDE_GONE, SIDE_REC, SIDE_RETRY, SIDE_VOID};
use crate::retain::Retained;

mod recover;
mod runs;
use recover::recover_segment;
use runs::push_pick;

pub(crate) const GONE: u8 = 0;
/// Assigned by the writer, not yet durable: invisible to lease/ack/stats.
pub(crate) const WRITING: u8 = 1;
pub(crate) const PENDING: u8 = 2;
pub(crate) const LEASED: u8 = 3;
/// Written but never committed (see [`crate::format::SIDE_VOID`]): not
/// live, and not an event a replay may send.
pub(crate) const VOID: u8 = 4;

/// Index entry of one log entry. Field order keeps it at 48 bytes.
#[derive(Clone, Copy)]
pub(crate) struct Slot {
    pub key_hash: u64,
    /// Next (younger) pending entry with the same key hash; 0 = none.
    pub next_same: u64,
    pub enqueued_ms: u64,
    /// 0 = due immediately.
    pub next_attempt_ms: u64,
    /// Record offset inside the segment (segments are capped below 4 GiB).
    pub offset: u32,
    /// Whole record length; also what the entry counts in `bytes`.
    pub len: u32,
    pub attempts: u32,
    pub state: u8,
}

/// Head and tail of the chain of pending entries sharing a key hash. Only the
/// head may be leased; that is how per-key order is enforced.
#[derive(Clone, Copy)]
struct KeyChain {
    head: u64,
    tail: u64,
}

pub(crate) struct Segment {
    pub first_id: u64,
    pub file: Arc<File>,
    /// Acks and retries. Plain `write()`s, no fsync: losing its tail only
    /// causes redelivery, which is allowed.
    side: SideFile,
    pub slots: Vec<Slot>,
    /// Slots that are WRITING, PENDING or LEASED. At 0 (and not active) the
    /// segment's files are deleted.
    pub live: u64,
    /// Bit per slot: PENDING head entry that is due. Scanned by `lease`.
    ready: Vec<u64>,
    ready_count: u64,
    /// No ready bit lives in a word below this index.
    ready_hint: usize,
    /// No live slot lives below this index (lazy; for `stats`/`dump`).
    live_hint: usize,
    /// Bytes written = offset of the next record.
    pub size: u64,
    /// Whether the directory entry of this file is known durable. The writer
    /// fsyncs the topic directory before acknowledging the first record in a
    /// file that was created without that.
    pub dir_synced: bool,
    /// The file holds zeros (or records) up to here. The writer zero-fills
    /// ahead of the write position because fdatasync of an overwrite inside
    /// the file is several times cheaper than of an append that grows it
    /// (no size/extent metadata to journal). Recovery stops at the zeros.
    pub zeroed: u64,
    /// Slots still WRITING (for a replay's snapshot: it stops at the first).
    pub writing: u32,
    /// Ids of VOID slots, ascending (rare: writes that did not commit).
    pub void_ids: Vec<u64>,
}

impl Segment {
    pub(crate) fn new(first_id: u64, file: File) -> Segment {
        Segment {
            first_id,
            file: Arc::new(file),
            side: SideFile::default(),
            slots: Vec::new(),
            live: 0,
            ready: Vec::new(),
            ready_count: 0,
            ready_hint: 0,
            live_hint: 0,
            size: 0,
            dir_synced: false,
            zeroed: 0,
            writing: 0,
            void_ids: Vec::new(),
        }
    }
}

/// A run of leased/dumped entries that are contiguous in one file, so the
/// payloads can be fetched with one positional read.
pub(crate) struct Run {
    pub file: Arc<File>,
    pub start: u64,
    pub len: usize,
    pub picks: Vec<Pick>,
}

pub(crate) struct Pick {
    pub id: u64,
    /// Offset of the record relative to the run start.
    pub rel: usize,
    pub len: usize,
    pub attempts: u32,
    pub enqueued_ms: u64,
    pub next_attempt_ms: u64,
}

const MAX_RUN: usize = 1 << 20;

pub(crate) struct TopicState {
    pub name: String,
    pub dir: PathBuf,
    /// False until the writer has created the directory and its name file.
    pub dir_created: bool,
    /// Set by `remove_topic`; the writer discards whatever is still queued.
    pub removed: bool,
    /// When it was removed (ms), for forgetting the tombstone.
    pub removed_ms: u64,
    pub segments: BTreeMap<u64, Segment>,
    /// First id of the segment new records go to.
    pub active: Option<u64>,
    pub next_id: u64,
    keys: BTreeMap<u64, KeyChain>,
    /// Head entries waiting for a retry time: (due ms, id).
    delayed: BTreeSet<(u64, u64)>,
    pub entries: u64,
    pub bytes: u64,
    pub leased: u64,
    pub retried_entries: u64,
    pub total_retries: u64,
    /// Admitted by `append` but not yet committed; counted against limits and
    /// keeps the active segment from being deleted under the writer.
    pub reserved_entries: u64,
    pub reserved_bytes: u64,
    pub limits: Limits,
    /// How long drained segments are kept for replay (ms): `None` until
    /// the owner says (a recovered topic keeps what it has until then),
    /// `Some(0)` = delete them at once.
    pub retention_ms: Option<u64>,
    /// Drained segments kept for replay, by first id (no file handles).
    pub retained: BTreeMap<u64, Retained>,
    pub retained_entries: u64,
    pub retained_bytes: u64,
    /// Bytes retained at most (0: no cap).
    pub retained_cap: u64,
    /// Acks not yet written to the side files: written together by the
    /// next lease, wait, retry or [`crate::DeliveryLog::flush_acks`], so a
    /// busy topic writes one side record batch per round instead of one
    /// `write()` per event. Losing them to a crash only redelivers those
    /// events (at-least-once); a segment about to be retired or kept for
    /// replay has its acks written first.
    pub deferred_side: crate::deliver::SideBuf,
}

impl TopicState {
    pub fn new(name: String, dir: PathBuf) -> TopicState {
        TopicState {
            name,
            dir,
            dir_created: false,
            removed: false,
            removed_ms: 0,
            segments: BTreeMap::new(),
            active: None,
            next_id: 1,
            keys: BTreeMap::new(),
            delayed: BTreeSet::new(),
            entries: 0,
            bytes: 0,
            leased: 0,
            retried_entries: 0,
            total_retries: 0,
            reserved_entries: 0,
            reserved_bytes: 0,
            deferred_side: Default::default(),
            limits: Limits {
                max_entries: 0,
                max_bytes: 0,
            },
            retention_ms: Some(0),
            retained: BTreeMap::new(),
            retained_entries: 0,
            retained_bytes: 0,
            retained_cap: 0,
        }
    }

    fn locate(&self, id: u64) -> Option<(u64, usize)> {
        let (&first, seg) = self.segments.range(..=id).next_back()?;
        let idx = (id - first) as usize;
        (idx < seg.slots.len()).then_some((first, idx))
    }

    pub fn slot(&self, id: u64) -> Option<&Slot> {
        let (first, idx) = self.locate(id)?;
        Some(&self.segments[&first].slots[idx])
    }

    fn slot_mut(&mut self, id: u64) -> Option<&mut Slot> {
        let (first, idx) = self.locate(id)?;
        Some(&mut self.segments.get_mut(&first)?.slots[idx])
    }

    fn set_ready(&mut self, id: u64, on: bool) {
        let Some((first, idx)) = self.locate(id) else { return };
        let seg = self.segments.get_mut(&first).unwrap();
        let (w, bit) = (idx / 64, 1u64 << (idx % 64));
        if on {
            if seg.ready.len() <= w {
                seg.ready.resize(w + 1, 0);
            }
            if seg.ready[w] & bit == 0 {
                seg.ready[w] |= bit;
                seg.ready_count += 1;
                seg.ready_hint = seg.ready_hint.min(w);
            }
        } else if w < seg.ready.len() && seg.ready[w] & bit != 0 {
            seg.ready[w] &= !bit;
            seg.ready_count -= 1;
        }
    }

    fn is_head(&self, id: u64, hash: u64) -> bool {
        self.keys.get(&hash).is_some_and(|k| k.head == id)
    }

    /// Makes a PENDING head entry leasable now or at its retry time.
    fn schedule(&mut self, id: u64, now: u64) {
        let Some(s) = self.slot(id).copied() else { return };
        if s.state != PENDING || !self.is_head(id, s.key_hash) {
            return;
        }
        if s.next_attempt_ms <= now {
            self.set_ready(id, true);
        } else {
            self.delayed.insert((s.next_attempt_ms, id));
        }
    }

    fn unschedule(&mut self, id: u64, next_attempt_ms: u64) {
        self.set_ready(id, false);
        self.delayed.remove(&(next_attempt_ms, id));
    }

    /// Turns a WRITING (or freshly recovered) slot into a pending entry.
    pub fn commit(&mut self, id: u64, now: u64) {
        let Some((first, idx)) = self.locate(id) else { return };
        let seg = self.segments.get_mut(&first).unwrap();
        if seg.slots[idx].state == WRITING {
            seg.writing -= 1;
        }
        let s = &mut seg.slots[idx];
        s.state = PENDING;
        s.next_same = 0;
        let s = *s;
        self.entries += 1;
        self.bytes += s.len as u64;
        if s.attempts > 0 {
            self.retried_entries += 1;
            self.total_retries += s.attempts as u64;
        }
        match self.keys.get_mut(&s.key_hash) {
            Some(chain) => {
                let tail = chain.tail;
                chain.tail = id;
                if let Some(t) = self.slot_mut(tail) {
                    t.next_same = id;
                }
            }
            None => {
                self.keys.insert(s.key_hash, KeyChain { head: id, tail: id });
                self.schedule(id, now);
            }
        }
    }

    /// Forgets a WRITING slot whose write failed or whose transaction did
    /// not commit. Returns its segment (to record it as gone there).
    pub fn abandon(&mut self, id: u64) -> Option<u64> {
        let (first, idx) = self.locate(id)?;
        let seg = self.segments.get_mut(&first).unwrap();
        if seg.slots[idx].state != WRITING {
            return None;
        }
        seg.slots[idx].state = VOID;
        seg.writing -= 1;
        if let Err(at) = seg.void_ids.binary_search(&id) {
            seg.void_ids.insert(at, id);
        }
        seg.live -= 1;
        Some(first)
    }

    /// Ack or drop. Returns the segment to record it in, if the entry existed.
    pub fn remove(&mut self, id: u64, now: u64) -> Option<u64> {
        let (first, idx) = self.locate(id)?;
        let s = self.segments[&first].slots[idx];
        match s.state {
            LEASED => self.leased -= 1,
            PENDING => self.unschedule(id, s.next_attempt_ms),
            _ => return None,
        }
        self.entries -= 1;
        self.bytes -= s.len as u64;
        if s.attempts > 0 {
            self.retried_entries -= 1;
            self.total_retries -= s.attempts as u64;
        }
        if let Some(chain) = self.keys.get(&s.key_hash).copied() {
            if chain.head == id {
                if s.next_same == 0 {
                    self.keys.remove(&s.key_hash);
                } else {
                    self.keys.get_mut(&s.key_hash).unwrap().head = s.next_same;
                    self.schedule(s.next_same, now);
                }
            } else {
                // Removing from the middle (drop of an entry that was never
                // leased): rare, so walk the chain to unlink it.
                let mut p = chain.head;
                while p != 0 {
                    let next = self.slot(p).map_or(0, |x| x.next_same);
                    if next == id {
                        self.slot_mut(p).unwrap().next_same = s.next_same;
                        if chain.tail == id {
                            self.keys.get_mut(&s.key_hash).unwrap().tail = p;
                        }
                        break;
                    }
                    p = next;
                }
            }
        }
        let seg = self.segments.get_mut(&first).unwrap();
        seg.slots[idx].state = GONE;
        seg.live -= 1;
        Some(first)
    }

    /// Like [`remove`](Self::remove), for an entry whose transaction did
    /// not commit: it never was an event, so a replay skips it.
    pub fn remove_void(&mut self, id: u64, now: u64) -> Option<u64> {
        let first = self.remove(id, now)?;
        let seg = self.segments.get_mut(&first)?;
        seg.slots[(id - first) as usize].state = VOID;
        if let Err(at) = seg.void_ids.binary_search(&id) {
            seg.void_ids.insert(at, id);
        }
        Some(first)
    }

    /// Failed delivery: release the lease and make it due at `next_ms`.
    /// `count` is false when the failure was ours (reading the payload), so it
    /// does not eat into the caller's retry budget.
    pub fn retry(&mut self, id: u64, next_ms: u64, now: u64, count: bool) -> Option<(u64, u32)> {
        let (first, idx) = self.locate(id)?;
        let s = self.segments[&first].slots[idx];
        match s.state {
            LEASED => self.leased -= 1,
            PENDING => self.unschedule(id, s.next_attempt_ms),
            _ => return None,
        }
        let attempts = if count {
            s.attempts.saturating_add(1)
        } else {
            s.attempts
        };
        if count {
            if s.attempts == 0 {
                self.retried_entries += 1;
            }
            self.total_retries += 1;
        }
        {
            let slot = &mut self.segments.get_mut(&first).unwrap().slots[idx];
            slot.state = PENDING;
            slot.attempts = attempts;
            slot.next_attempt_ms = next_ms;
        }
        self.schedule(id, now);
        Some((first, attempts))
    }

    /// Moves retries whose time has come into the ready bitmaps.
    fn promote_due(&mut self, now: u64) {
        while let Some(&(due, id)) = self.delayed.first() {
            if due > now {
                break;
            }
            self.delayed.pop_first();
            self.set_ready(id, true);
        }
    }

    pub fn has_ready(&mut self, now: u64) -> bool {
        self.promote_due(now);
        self.segments.values().any(|s| s.ready_count > 0)
    }

    pub fn earliest_delayed(&self) -> Option<u64> {
        self.delayed.first().map(|&(due, _)| due)
    }

    /// Marks up to `max` due entries LEASED, oldest first, and says where
    /// their records are.
    pub fn lease_pick(&mut self, max: usize, now: u64) -> Vec<Run> {
        self.promote_due(now);
        let mut runs: Vec<Run> = Vec::new();
        let mut got = 0;
        let mut leased = 0;
        for seg in self.segments.values_mut() {
            if got >= max {
                break;
            }
            if seg.ready_count == 0 {
                continue;
            }
            let mut w = seg.ready_hint;
            while w < seg.ready.len() && got < max {
                let mut bits = seg.ready[w];
                if bits == 0 {
                    w += 1;
                    seg.ready_hint = w;
                    continue;
                }
                while bits != 0 && got < max {
                    let b = bits.trailing_zeros() as usize;
                    bits &= bits - 1;
                    seg.ready[w] &= !(1u64 << b);
                    seg.ready_count -= 1;
                    let idx = w * 64 + b;
                    let slot = &mut seg.slots[idx];
                    slot.state = LEASED;
                    leased += 1;
                    got += 1;
                    push_pick(&mut runs, &seg.file, seg.first_id + idx as u64, slot);
                }
            }
        }
        self.leased += leased;
        runs
    }

    /// Marks up to `max` PENDING entries with ids above `after` LEASED, in id
    /// order, whatever their key or retry time. Stops at the first entry
    /// still being written, so a caller that passes the last id it got never
    /// skips one (ids are committed in order).
    pub fn lease_pick_in_order(&mut self, after: u64, max: usize) -> Vec<Run> {
        let mut runs: Vec<Run> = Vec::new();
        let mut picked: Vec<(u64, u64)> = Vec::new();
        'segments: for seg in self.segments.values_mut() {
            if seg.first_id + (seg.slots.len() as u64) <= after + 1 || seg.live == 0 {
                continue;
            }
            advance_live_hint(seg);
            let start = ((after + 1).saturating_sub(seg.first_id) as usize).max(seg.live_hint);
            for idx in start..seg.slots.len() {
                if picked.len() >= max {
                    break 'segments;
                }
                let slot = &seg.slots[idx];
                match slot.state {
                    WRITING => break 'segments,
                    PENDING => {
                        let id = seg.first_id + idx as u64;
                        picked.push((id, slot.next_attempt_ms));
                        push_pick(&mut runs, &seg.file, id, slot);
                    }
                    _ => {}
                }
            }
        }
        for &(id, next_attempt_ms) in &picked {
            self.unschedule(id, next_attempt_ms);
            if let Some(s) = self.slot_mut(id) {
                s.state = LEASED;
            }
        }
        self.leased += picked.len() as u64;
        runs
    }

    /// Live entries oldest first, without changing anything.
    pub fn dump_pick(&mut self, limit: usize) -> Vec<Run> {
        let mut runs: Vec<Run> = Vec::new();
        let mut got = 0;
        for seg in self.segments.values_mut() {
            if seg.live == 0 {
                continue;
            }
            advance_live_hint(seg);
            for idx in seg.live_hint..seg.slots.len() {
                if got >= limit {
                    return runs;
                }
                let slot = &seg.slots[idx];
                if slot.state == PENDING || slot.state == LEASED {
                    got += 1;
                    push_pick(&mut runs, &seg.file, seg.first_id + idx as u64, slot);
                }
            }
        }
        runs
    }

    pub fn oldest_enqueued_ms(&mut self) -> Option<u64> {
        for seg in self.segments.values_mut() {
            advance_live_hint(seg);
            if let Some(s) = seg.slots[seg.live_hint..]
                .iter()
                .find(|s| s.state == PENDING || s.state == LEASED)
            {
                return Some(s.enqueued_ms);
            }
        }
        None
    }

    /// Ids of pending or leased entries above `mark`, oldest first.
    pub fn ids_above(&self, mark: u64) -> Vec<u64> {
        let mut out = Vec::new();
        for (&first, seg) in self.segments.iter() {
            if first + seg.slots.len() as u64 <= mark.saturating_add(1) {
                continue; // every id of this segment is at or below the mark
            }
            for (i, s) in seg.slots.iter().enumerate() {
                let id = first + i as u64;
                if id > mark && (s.state == PENDING || s.state == LEASED) {
                    out.push(id);
                }
            }
        }
        out
    }

    /// fsyncs every open side file (after records that must not come back).
    pub fn sync_sides(&mut self) -> io::Result<()> {
        for seg in self.segments.values() {
            seg.side.sync()?;
        }
        Ok(())
    }

    /// Appends side records (acks, retries) to a segment's side file.
    pub fn write_side(&mut self, first: u64, buf: &[u8]) -> io::Result<()> {
        let Some(seg) = self.segments.get_mut(&first) else {
            return Ok(());
        };
        let dir = &self.dir;
        seg.side.append(|| side_path(dir, first, SIDE_EXT), buf)
    }

    /// Returns the segment new records of `rec_len` bytes go to, rolling to a
    /// new file when the active one is full.
    pub fn ensure_active(&mut self, rec_len: u64, segment_bytes: u64) -> io::Result<u64> {
        if let Some(a) = self.active {
            let seg = &self.segments[&a];
            if seg.size == 0 || seg.size + rec_len <= segment_bytes {
                return Ok(a);
            }
            self.roll_active();
        }
        let first = self.next_id;
        let seg = self.create_segment(first)?;
        self.segments.insert(first, seg);
        self.active = Some(first);
        Ok(first)
    }

    /// Makes new ids start at `at` at least. An empty active segment is
    /// replaced by one named after the new next id (its name is what
    /// carries `next_id` across a restart).
    pub(crate) fn raise_next_id(&mut self, at: u64) {
        if self.next_id >= at {
            return;
        }
        if let Some(a) = self.active {
            if !self.segments[&a].slots.is_empty() {
                self.roll_active();
            } else {
                self.delete_segment(a);
            }
        }
        self.next_id = at;
        if !self.dir_created {
            return;
        }
        match self.create_segment(at) {
            Ok(seg) => {
                self.segments.insert(at, seg);
                self.active = Some(at);
            }
            Err(e) => tracing::warn!(topic = %self.name, error = %e, "cannot create empty segment"),
        }
    }

    /// The active segment will not grow any more: new records go to a new
    /// one. Gives back the zero-filled space past its last record (records
    /// still being written by the writer's batch lie below `size`).
    pub(crate) fn roll_active(&mut self) {
        let Some(a) = self.active.take() else { return };
        let Some(seg) = self.segments.get_mut(&a) else { return };
        if seg.zeroed > seg.size {
            if let Err(e) = seg.file.set_len(seg.size) {
                tracing::warn!(topic = %self.name, error = %e, "cannot trim rolled segment");
            }
            seg.zeroed = seg.size;
        }
        seg.slots.shrink_to_fit();
        seg.ready.shrink_to_fit();
    }

    fn create_segment(&self, first: u64) -> io::Result<Segment> {
        Ok(Segment::new(first, herald_segment::create_segment(&self.dir, first)?))
    }

    /// Adds a WRITING slot for the record the writer is about to write.
    pub fn push_writing(&mut self, seg_first: u64, key_hash: u64, enqueued_ms: u64, len: u32) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        let seg = self.segments.get_mut(&seg_first).unwrap();
        debug_assert_eq!(seg.first_id + seg.slots.len() as u64, id);
        seg.slots.push(Slot {
            key_hash,
            next_same: 0,
            enqueued_ms,
            next_attempt_ms: 0,
            offset: seg.size as u32,
            len,
            attempts: 0,
            state: WRITING,
        });
        seg.size += len as u64;
        seg.live += 1;
        seg.writing += 1;
        id
    }

    pub(crate) fn delete_segment(&mut self, first: u64) {
        if self.segments.remove(&first).is_some() {
            herald_segment::remove_segment(&self.dir, first, SIDE_EXT);
        }
        if self.active == Some(first) {
            self.active = None;
        }
    }

    /// Deletes drained segments. The active one goes too when the topic is
    /// empty and it holds at least `empty_roll_bytes`; it is replaced by an
    /// empty file named after the next id, so ids keep increasing across
    /// restarts even when nothing else is left on disk.
    pub fn collect_garbage(&mut self, empty_roll_bytes: u64) {
        let dead: Vec<u64> = self
            .segments
            .iter()
            .filter(|&(&f, s)| s.live == 0 && Some(f) != self.active)
            .map(|(&f, _)| f)
            .collect();
        if !dead.is_empty() {
            // A retired segment is deleted or kept for replay: what it
            // says about its records must be on disk first.
            self.write_deferred_side();
        }
        for f in dead {
            self.retire(f);
        }
        self.expire_retained(format::now_ms());
        // With retention the active segment's records are kept: it rolls
        // when full or old (see `roll_aged_active`), not when drained.
        if self.entries != 0 || self.reserved_entries != 0 || !self.dir_created || self.retention_ms != Some(0) {
            return;
        }
        if let Some(a) = self.active {
            let seg = &self.segments[&a];
            if seg.live != 0 || seg.size == 0 || seg.size < empty_roll_bytes {
                return;
            }
            self.delete_segment(a);
        }
        match self.create_segment(self.next_id) {
            Ok(seg) => {
                self.segments.insert(self.next_id, seg);
                self.active = Some(self.next_id);
            }
            Err(e) => tracing::warn!(topic = %self.name, error = %e, "cannot create empty segment"),
        }
    }

    /// Rebuilds a topic from its directory. Torn record tails are truncated.
    pub fn recover(name: String, dir: PathBuf) -> io::Result<TopicState> {
        let mut st = TopicState::new(name, dir);
        st.dir_created = true;
        // Drained segments may be retained for replay: the topic's owner
        // says for how long once it knows (until then they are kept).
        st.retention_ms = None;
        for first in herald_segment::list_segments(&st.dir)? {
            let seg = recover_segment(&st.name, &st.dir, first)?;
            st.next_id = st.next_id.max(first + seg.slots.len() as u64);
            st.segments.insert(first, seg);
        }
        let now = format::now_ms();
        let live_ids: Vec<u64> = st
            .segments
            .values()
            .flat_map(|seg| {
                seg.slots
                    .iter()
                    .enumerate()
                    .filter(|(_, s)| s.state == PENDING)
                    .map(|(i, _)| seg.first_id + i as u64)
            })
            .collect();
        for id in live_ids {
            st.commit(id, now);
        }
        // Appends go to a fresh segment, never after a possibly truncated tail.
        // If the newest segment is drained, an empty file keeps `next_id`.
        let newest_dead = st.segments.last_key_value().is_none_or(|(_, s)| s.live == 0);
        st.active = None;
        let dead: Vec<u64> = st
            .segments
            .iter()
            .filter(|(_, s)| s.live == 0)
            .map(|(&f, _)| f)
            .collect();
        for f in dead {
            st.retire(f);
        }
        if newest_dead {
            let seg = st.create_segment(st.next_id)?;
            st.segments.insert(st.next_id, seg);
            st.active = Some(st.next_id);
        }
        Ok(st)
    }
}

fn advance_live_hint(seg: &mut Segment) {
    while seg.live_hint < seg.slots.len() && matches!(seg.slots[seg.live_hint].state, GONE | VOID) {
        seg.live_hint += 1;
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn slot_is_small() {
        assert_eq!(std::mem::size_of::<super::Slot>(), 48);
    }
}
