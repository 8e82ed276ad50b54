//! Replay: reading a topic's events again, by enqueue time, from its
//! retained segments and from the live ones.
//!
//! A replay is a snapshot taken under the topic's lock (which segments,
//! up to which id) and then a sequential scan of those files without the
//! lock: live delivery and appends go on meanwhile, and the scan never
//! sends a record that was still being written when it started, nor one
//! whose transaction did not commit. A retained segment reclaimed during
//! the scan is skipped from then on (its retention ended).

use std::fs::File;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;

use crate::format;
use crate::topic::{TopicState, WRITING};
use crate::{DeliveryLog, EntryId};

/// One event read back for a replay.
#[derive(Clone, Debug)]
pub struct ReplayEntry {
    pub id: EntryId,
    pub key: String,
    pub payload: Bytes,
    pub enqueued: SystemTime,
}

/// A replay's snapshot: what to read, run with [`Replay::run`].
pub struct Replay {
    dir: PathBuf,
    since_ms: u64,
    until_ms: u64,
    segments: Vec<ReplaySegment>,
}

struct ReplaySegment {
    first: u64,
    /// One past the last id to read: a live segment stops at the first
    /// record that was being written when the snapshot was taken.
    end_id: u64,
    /// Bytes of records to read (the file may grow or be trimmed meanwhile).
    bytes: u64,
    /// Live segments are read through the index's handle (the file may be
    /// deleted when it drains, and stays readable); retained ones are
    /// opened by name.
    file: Option<Arc<File>>,
    void: Vec<u64>,
    entries: u64,
}

impl Replay {
    /// Events in the segments the time range touches: an upper bound of
    /// what [`run`](Self::run) sends, for progress reports.
    pub fn estimated(&self) -> u64 {
        self.segments.iter().map(|s| s.entries).sum()
    }

    /// Reads the events enqueued in the range, oldest segment first, and
    /// hands each to `each` until it returns false, or `stop` says so (it is
    /// asked at every record, in the range or not). Blocking file I/O: run
    /// it on a blocking thread. Returns how many events were handed over.
    pub fn run(self, stop: &dyn Fn() -> bool, mut each: impl FnMut(ReplayEntry) -> bool) -> io::Result<u64> {
        let mut sent = 0u64;
        let mut stopped = false;
        for seg in self.segments {
            if stopped {
                break;
            }
            let file = match seg.file {
                Some(f) => f,
                None => match File::open(herald_segment::segment_path(&self.dir, seg.first)) {
                    Ok(f) => Arc::new(f),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(e),
                },
            };
            let mut expected = seg.first;
            herald_segment::scan_prefix(&file, format::BODY_FIXED, seg.bytes, |_, frame, body| {
                if stop() {
                    stopped = true;
                    return false;
                }
                let Some(d) = format::decode_body(frame, body, frame.len()) else {
                    return false;
                };
                if d.id != expected || d.id >= seg.end_id {
                    return false;
                }
                expected += 1;
                if seg.void.binary_search(&d.id).is_ok()
                    || d.enqueued_ms < self.since_ms
                    || d.enqueued_ms > self.until_ms
                {
                    return true;
                }
                let entry = ReplayEntry {
                    id: d.id,
                    key: String::from_utf8_lossy(&frame[d.key]).into_owned(),
                    payload: Bytes::copy_from_slice(&frame[d.payload]),
                    enqueued: format::from_ms(d.enqueued_ms),
                };
                sent += 1;
                if each(entry) {
                    true
                } else {
                    stopped = true;
                    false
                }
            })?;
        }
        Ok(sent)
    }
}

/// Enqueue times are not strictly ordered within a segment (concurrent
/// appends of one batch carry their own times): a segment is skipped only
/// when its first and last events are this far outside the range.
const TIME_SLACK_MS: u64 = 5_000;

impl TopicState {
    /// The segments that may hold events enqueued in `since_ms..=until_ms`,
    /// in id order. Cheap (per segment, not per entry): it runs under the
    /// topic's lock.
    fn replay_segments(&self, since_ms: u64, until_ms: u64) -> Vec<ReplaySegment> {
        let overlaps = |lo: u64, hi: u64| {
            lo <= hi && hi.saturating_add(TIME_SLACK_MS) >= since_ms && lo.saturating_sub(TIME_SLACK_MS) <= until_ms
        };
        let mut out: Vec<ReplaySegment> = self
            .retained
            .iter()
            .filter(|(_, r)| overlaps(r.first_ms, r.last_ms))
            .map(|(&first, r)| ReplaySegment {
                first,
                end_id: r.end_id,
                bytes: r.bytes,
                file: None,
                void: r.void.to_vec(),
                entries: r.entries,
            })
            .collect();
        for (&first, seg) in &self.segments {
            let end = first_writing(&seg.slots, seg.writing);
            if end == 0 {
                continue;
            }
            let (lo, hi) = (seg.slots[0].enqueued_ms, seg.slots[end - 1].enqueued_ms);
            let end_id = first + end as u64;
            let void: Vec<u64> = seg.void_ids.iter().copied().take_while(|&id| id < end_id).collect();
            let entries = end as u64 - void.len() as u64;
            if entries > 0 && overlaps(lo.min(hi), hi.max(lo)) {
                out.push(ReplaySegment {
                    first,
                    end_id,
                    bytes: seg.slots.get(end).map_or(seg.size, |s| s.offset as u64),
                    file: Some(seg.file.clone()),
                    void,
                    entries,
                });
            }
        }
        out.sort_by_key(|s| s.first);
        out
    }
}

/// The index of the first WRITING slot (`slots.len()` if none): WRITING
/// slots are the newest ones, so looking back from the end until all
/// `writing` of them are seen is short.
fn first_writing(slots: &[crate::topic::Slot], writing: u32) -> usize {
    let mut seen = 0;
    let mut lowest = slots.len();
    for (i, s) in slots.iter().enumerate().rev() {
        if seen == writing {
            break;
        }
        if s.state == WRITING {
            seen += 1;
            lowest = i;
        }
    }
    lowest
}

impl DeliveryLog {
    /// A replay of the events `topic` enqueued from `since` to `until`
    /// (both included) that are still on disk: pending ones, and delivered
    /// ones its retention keeps. Empty for an unknown topic.
    pub fn replay(&self, topic: &str, since: SystemTime, until: SystemTime) -> Replay {
        let since_ms = format::to_ms(since);
        let until_ms = format::to_ms(until);
        let Some(t) = self.inner.get(topic) else {
            return Replay {
                dir: PathBuf::new(),
                since_ms,
                until_ms,
                segments: Vec::new(),
            };
        };
        let st = t.state.lock().unwrap();
        Replay {
            dir: st.dir.clone(),
            since_ms,
            until_ms,
            segments: if st.removed {
                Vec::new()
            } else {
                st.replay_segments(since_ms, until_ms)
            },
        }
    }
}
