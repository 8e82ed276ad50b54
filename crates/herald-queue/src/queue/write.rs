//! What the group-commit writer asks of a queue's index: space in the
//! active segment, the commit of a written record, and the deduplication
//! window (FIFO ids, and S3 events' body digests).

use super::*;

impl State {
    /// Reserves space for a record of `len` bytes in the active segment,
    /// rolling to a new segment when needed. Returns (segment, file, offset,
    /// whether a new file was created).
    pub(crate) fn reserve(&mut self, seq: u64, len: u64) -> io::Result<(u64, Arc<File>, u64, bool)> {
        let a = &self.segments[&self.active];
        let roll = (a.size > 0 && a.size + len > SEGMENT_BYTES)
            || a.broken
            || (a.live == 0 && a.pending == 0 && a.size >= ROLL_DRAINED_BYTES);
        if roll {
            let seg = create_segment(&self.dir, seq)?;
            let old = self.active;
            self.segments.insert(seq, seg);
            self.active = seq;
            self.reclaim_if_empty(old);
        }
        let a = self.segments.get_mut(&self.active).expect("active segment");
        let off = a.size;
        a.size += len;
        a.pending += 1;
        Ok((self.active, a.file.clone(), off, roll))
    }

    /// Replaces a drained active segment by an empty one (called by the
    /// sweep), so an idle drained queue gives its disk space back.
    pub(crate) fn roll_if_drained(&mut self) -> io::Result<()> {
        let a = &self.segments[&self.active];
        if a.live == 0 && a.pending == 0 && a.size >= ROLL_DRAINED_BYTES {
            // The active segment holds records, so next_seq is above every
            // existing segment's first sequence number.
            let first = self.next_seq;
            let seg = create_segment(&self.dir, first)?;
            fsync_dir(&self.dir)?;
            let old = self.active;
            self.segments.insert(first, seg);
            self.active = first;
            self.reclaim_if_empty(old);
        }
        Ok(())
    }

    /// Makes a written record known to the index (`ok`) or records that its
    /// write failed.
    pub(crate) fn commit(&mut self, record: Written, group: Option<&str>, ok: bool, now: u64) {
        let Written {
            seg: k,
            seq,
            off,
            len,
            sent_s,
            visible_at,
        } = record;
        let Some(seg) = self.segments.get_mut(&k) else {
            return;
        };
        seg.pending -= 1;
        let idx = (seq - k) as usize;
        if seg.slots.len() < idx {
            seg.slots.resize(idx, EMPTY);
        }
        if seg.slots.len() == idx {
            seg.slots.push(EMPTY);
        }
        if ok {
            seg.slots[idx] = Slot {
                off: off as u32,
                len,
                sent_s,
                visible_at,
                ..EMPTY
            };
            self.index_live(k, idx, group, now);
        } else {
            seg.broken = true;
            self.reclaim_if_empty(k);
        }
    }

    pub(super) fn prune_dedup(&mut self, now: u64) {
        while let Some((exp, _)) = self.dedup_order.front() {
            if *exp > now {
                break;
            }
            let (exp, key) = self.dedup_order.pop_front().expect("peeked");
            if self.dedup.get(&key).is_some_and(|e| e.expires == exp) {
                self.dedup.remove(&key);
            }
        }
    }

    /// The message a deduplication key maps to within the 5-minute window.
    pub(crate) fn dedup_lookup(&mut self, key: &str, now: u64) -> Option<([u8; 16], u64)> {
        self.prune_dedup(now);
        self.dedup
            .get(&key_hash(key))
            .filter(|e| e.expires > now)
            .map(|e| (e.message_id, e.seq))
    }

    pub(crate) fn dedup_insert(&mut self, key: String, message_id: [u8; 16], seq: u64, sent_ms: u64) {
        let expires = sent_ms + DEDUP_WINDOW_MS;
        let key = key_hash(&key);
        self.dedup.insert(
            key,
            DedupEntry {
                message_id,
                seq,
                expires,
            },
        );
        self.dedup_order.push_back((expires, key));
    }

    pub(crate) fn dedup_remove(&mut self, key: &str) {
        self.dedup.remove(&key_hash(key));
    }

    pub(super) fn dedup_key(&self, group: &str, dedup: &str) -> String {
        dedup_key(self.settings.dedup_per_group, group, dedup)
    }
}
