//! Retention: drained segments kept for replay, and their reclaim.
//!
//! A segment whose entries are all delivered (or dropped) is normally
//! deleted at once. A topic with a retention keeps it instead, as a
//! [`Retained`] summary (a few dozen bytes, no open file, no per-entry
//! index), until its newest record is older than the retention, or until
//! the topic's retained bytes pass its byte limit (then the oldest go
//! first). Retention is per segment, so a record may outlive its retention
//! by the time its segment took to fill; the active segment of a retaining
//! topic is rolled when it is drained and its first record is an eighth of
//! the retention old (at least a second), which bounds that to about an
//! eighth (a segment that keeps pending events rolls when full).

use std::time::Duration;

use crate::format;
use crate::topic::{GONE, TopicState, VOID};

/// A drained segment kept for replay.
#[derive(Clone, Debug)]
pub(crate) struct Retained {
    /// One past its last id.
    pub end_id: u64,
    /// Enqueue times of its oldest and newest events.
    pub first_ms: u64,
    pub last_ms: u64,
    /// Bytes of records in the file.
    pub bytes: u64,
    /// Records that were events (not void).
    pub entries: u64,
    /// Ids of records that never were events, ascending.
    pub void: Box<[u64]>,
}

/// The shortest age at which a retaining topic's drained active segment
/// rolls. The files this makes are bounded anyway: they are drained, so a
/// short retention expires them as fast (about eight per topic).
const MIN_ROLL_AGE_MS: u64 = 1_000;

impl TopicState {
    /// A drained, inactive segment leaves the index: kept as [`Retained`]
    /// while the topic retains, deleted otherwise (or when it holds no
    /// event at all).
    pub(crate) fn retire(&mut self, first: u64) {
        if self.retention_ms == Some(0) {
            self.delete_segment(first);
            return;
        }
        let Some(seg) = self.segments.get(&first) else { return };
        let mut kept = Retained {
            end_id: first + seg.slots.len() as u64,
            first_ms: u64::MAX,
            last_ms: 0,
            bytes: seg.size,
            entries: 0,
            void: Box::default(),
        };
        for s in &seg.slots {
            debug_assert!(s.state == GONE || s.state == VOID);
            if s.state == VOID {
                continue;
            }
            kept.entries += 1;
            kept.first_ms = kept.first_ms.min(s.enqueued_ms);
            kept.last_ms = kept.last_ms.max(s.enqueued_ms);
        }
        kept.void = seg.void_ids.clone().into_boxed_slice();
        // The files stay; only the index goes (and the open handles with it).
        self.segments.remove(&first);
        if self.active == Some(first) {
            self.active = None;
        }
        if kept.entries == 0 {
            herald_segment::remove_segment(&self.dir, first, format::SIDE_EXT);
            return;
        }
        self.retained_entries += kept.entries;
        self.retained_bytes += kept.bytes;
        self.retained.insert(first, kept);
    }

    /// Deletes retained segments whose newest event is older than the
    /// retention, then the oldest ones while the retained bytes pass the
    /// topic's byte limit. Nothing while the retention is unknown.
    pub(crate) fn expire_retained(&mut self, now_ms: u64) {
        let Some(retention) = self.retention_ms else { return };
        let cutoff = now_ms.saturating_sub(retention);
        let max_bytes = self.retained_cap;
        while let Some((&first, r)) = self.retained.first_key_value() {
            let expired = retention == 0 || r.last_ms <= cutoff;
            let over = max_bytes > 0 && self.retained_bytes > max_bytes;
            if !expired && !over {
                break;
            }
            if over && !expired {
                tracing::warn!(
                    topic = %self.name,
                    retained_bytes = self.retained_bytes,
                    max_bytes,
                    "retained events pass their byte cap; reclaiming the oldest before their retention ends"
                );
            }
            self.retained_entries -= r.entries;
            self.retained_bytes -= r.bytes;
            self.retained.remove(&first);
            herald_segment::remove_segment(&self.dir, first, format::SIDE_EXT);
        }
    }

    /// Rolls the active segment of a retaining topic once its first record
    /// is old enough (see the module doc), so retained segments span a
    /// bounded time and are reclaimed close to their retention.
    pub(crate) fn roll_aged_active(&mut self, now_ms: u64) {
        if !self.aged_roll_due(now_ms) {
            return;
        }
        let Some(a) = self.active else { return };
        self.roll_active();
        // An empty active segment named after the next id at once, so the
        // ids on disk keep increasing across a restart even when every
        // older segment has expired by then (see `collect_garbage`).
        match herald_segment::create_segment(&self.dir, self.next_id) {
            Ok(file) => {
                self.segments
                    .insert(self.next_id, crate::topic::Segment::new(self.next_id, file));
                self.active = Some(self.next_id);
            }
            Err(e) => tracing::warn!(topic = %self.name, error = %e, "cannot create empty segment"),
        }
        if self.segments.get(&a).is_some_and(|s| s.live == 0) {
            self.retire(a);
        }
    }

    /// Whether [`roll_aged_active`](Self::roll_aged_active) would roll:
    /// a retaining topic whose active segment is drained and old enough.
    /// A segment with pending events is never rolled by age (an endpoint
    /// that is down must not make a file per second: it rolls when full).
    pub(crate) fn aged_roll_due(&self, now_ms: u64) -> bool {
        let Some(retention) = self.retention_ms.filter(|r| *r > 0) else {
            return false;
        };
        let Some(seg) = self.active.and_then(|a| self.segments.get(&a)) else {
            return false;
        };
        let Some(first) = seg.slots.first() else { return false };
        seg.live == 0 && first.enqueued_ms.saturating_add((retention / 8).max(MIN_ROLL_AGE_MS)) <= now_ms
    }

    /// The retained events: how many, their bytes, and the oldest's age.
    pub(crate) fn retained_summary(&self, now_ms: u64) -> (u64, u64, Option<Duration>) {
        let oldest = self.retained.values().map(|r| r.first_ms).min();
        (
            self.retained_entries,
            self.retained_bytes,
            oldest.map(|ms| Duration::from_millis(now_ms.saturating_sub(ms))),
        )
    }
}
