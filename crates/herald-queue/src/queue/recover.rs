//! Recovery: a queue's index rebuilt from its segment and side files
//! (read through herald-segment's scanner, so memory does not grow with
//! segment size). In-flight state is not persisted, so every message comes
//! back visible (or delayed).

use super::*;

/// S3 events of a standard queue whose deduplication ids recovery keeps:
/// far more than an event transfer has in flight when the server dies.
const RECOVERED_EVENT_IDS: usize = 4096;

/// What recovery collects across a queue's segments before indexing.
#[derive(Default)]
struct Found {
    max_seq: u64,
    /// FIFO queues: (sequence number, group), in sequence order.
    groups: VecDeque<(u64, String)>,
    /// Recent deduplication ids: (key, message id, sequence number, sent ms).
    dedups: Vec<(String, [u8; 16], u64, u64)>,
}

impl State {
    /// Rebuilds a queue's index, truncating a torn tail of the active
    /// segment.
    pub(crate) fn recover(dir: PathBuf, fifo: bool, settings: Settings, now: u64) -> io::Result<State> {
        let mut st = State::new(dir.clone(), fifo, settings);
        let firsts = herald_segment::list_segments(&dir)?;
        let mut found = Found::default();
        for (i, &first) in firsts.iter().enumerate() {
            let seg = st.recover_segment(first, i + 1 == firsts.len(), now, &mut found)?;
            st.segments.insert(first, seg);
        }
        st.next_seq = (found.max_seq + 1).max(firsts.last().copied().unwrap_or(1));
        st.index_recovered(&mut found.groups, now);
        let keys: Vec<u64> = st.segments.keys().copied().collect();
        match keys.last() {
            Some(&k) => st.active = k,
            None => {
                let first = st.next_seq;
                st.segments.insert(first, create_segment(&dir, first)?);
                fsync_dir(&dir)?;
                st.active = first;
            }
        }
        for k in keys {
            st.reclaim_if_empty(k);
        }
        for (key, id, seq, sent) in found.dedups {
            st.dedup_insert(key, id, seq, sent);
        }
        Ok(st)
    }

    /// Reads one segment's records and applies its side file. Only the
    /// newest segment (`last`) is cut at damage; an older one with
    /// unreadable data is marked broken and keeps what precedes it.
    fn recover_segment(&self, first: u64, last: bool, now: u64, found: &mut Found) -> io::Result<Segment> {
        let dir = &self.dir;
        let mut seg = Segment::new(herald_segment::open_segment(dir, first)?);
        let file = seg.file.clone();
        let scanned = herald_segment::scan_segment(&file, message::FIXED, |off, frame, body| {
            let Some(h) = message::decode_header(&frame[body]) else {
                return false;
            };
            if h.seq < first || h.seq < first + seg.slots.len() as u64 {
                return false;
            }
            let idx = (h.seq - first) as usize;
            seg.slots.resize(idx, EMPTY);
            seg.slots.push(Slot {
                off: off as u32,
                len: frame.len() as u32,
                sent_s: (h.sent_ms / 1000) as u32,
                state: PRESENT,
                visible_at: h.visible_at,
                ..EMPTY
            });
            found.max_seq = found.max_seq.max(h.seq);
            if self.fifo {
                found.groups.push_back((h.seq, h.group.to_string()));
            }
            // Standard queues carry a deduplication id only on S3 events
            // (see `QueueEngine::send_events`); the last few are enough to
            // recognise the ones a crash cut short.
            if h.sent_ms + DEDUP_WINDOW_MS > now && !h.dedup.is_empty() {
                let key = self.dedup_key(h.group, h.dedup);
                found.dedups.push((key, h.message_id, h.seq, h.sent_ms));
                if !self.fifo && found.dedups.len() > 2 * RECOVERED_EVENT_IDS {
                    found.dedups.drain(..RECOVERED_EVENT_IDS);
                }
            }
            true
        })?;
        seg.size = scanned.valid;
        let path = herald_segment::segment_path(dir, first);
        if last {
            // Sends go on after the valid prefix, never after damage.
            if let Tail::Damaged { dropped } = herald_segment::truncate_tail(&file, scanned)? {
                tracing::warn!(path = %path.display(), at = scanned.valid, dropped, "truncated torn queue segment tail");
            }
        } else if !scanned.is_complete() {
            tracing::warn!(path = %path.display(), at = scanned.valid, "queue segment has unreadable data after this offset");
            seg.broken = true;
        }
        // A side file only refines state (deleted, received n times): one
        // that cannot be read brings its messages back, which at-least-once
        // allows; it must not keep the queue (or the server) from starting.
        let side = side_path(dir, first, SIDE_EXT);
        if let Err(e) = herald_segment::read_side(&side, SIDE_LEN, |r| apply_side(&mut seg, first, r)) {
            tracing::warn!(path = %side.display(), error = %e, "cannot read queue side file; its deletes are lost");
        }
        Ok(seg)
    }

    /// Indexes the records recovery found present: expired ones are dropped,
    /// the rest become visible or delayed, FIFO ones in their groups.
    fn index_recovered(&mut self, groups: &mut VecDeque<(u64, String)>, now: u64) {
        let now_s = now / 1000;
        let keys: Vec<u64> = self.segments.keys().copied().collect();
        for k in keys {
            for idx in 0..self.segments[&k].slots.len() {
                let seq = k + idx as u64;
                let slot = self.segments[&k].slots[idx];
                let group = if self.fifo { group_of(groups, seq) } else { None };
                if slot.state != PRESENT {
                    continue;
                }
                if self.expired(&slot, now_s) {
                    self.segments.get_mut(&k).expect("k").slots[idx].state = GONE;
                    continue;
                }
                self.index_live(k, idx, group.as_deref(), now);
            }
        }
    }
}

/// Applies one side record. The format has no checksum; a record of
/// another kind (zeroed pages a power loss left in the middle) is skipped,
/// not taken as the end: later deletes and receive counts still count.
fn apply_side(seg: &mut Segment, first: u64, r: &[u8]) -> bool {
    if r[0] != SIDE_DELETE && r[0] != SIDE_RECEIVE {
        return true;
    }
    let count = u32::from_le_bytes(r[4..8].try_into().expect("4"));
    let seq = u64::from_le_bytes(r[8..16].try_into().expect("8"));
    let ms = u64::from_le_bytes(r[16..24].try_into().expect("8"));
    if let Some(slot) = seq.checked_sub(first).and_then(|i| seg.slots.get_mut(i as usize)) {
        if r[0] == SIDE_DELETE {
            slot.state = GONE;
        } else {
            slot.recv = slot.recv.max(count);
            if slot.first_recv == 0 || (ms != 0 && ms < slot.first_recv) {
                slot.first_recv = ms;
            }
        }
    }
    true
}

/// The group of message `seq`, from the (seq, group) list in sequence order.
fn group_of(groups: &mut VecDeque<(u64, String)>, seq: u64) -> Option<String> {
    loop {
        match groups.front() {
            Some((s, _)) if *s < seq => {
                groups.pop_front();
            }
            Some((s, _)) if *s == seq => return groups.pop_front().map(|(_, g)| g),
            _ => return None,
        }
    }
}
