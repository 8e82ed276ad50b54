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
use crate::topic::{TopicState, VOID, WRITING};
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
    /// hands each to `each` until it returns false. Blocking file I/O: run
    /// it on a blocking thread. Returns how many events were handed over.
    pub fn run(self, mut each: impl FnMut(ReplayEntry) -> bool) -> io::Result<u64> {
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
            herald_segment::scan_segment(&file, format::BODY_FIXED, |_, frame, body| {
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

impl TopicState {
    /// The segments holding events enqueued in `since_ms..=until_ms`, in id
    /// order.
    fn replay_segments(&self, since_ms: u64, until_ms: u64) -> Vec<ReplaySegment> {
        let overlaps = |lo: u64, hi: u64| lo <= hi && hi >= since_ms && lo <= until_ms;
        let mut out: Vec<ReplaySegment> = self
            .retained
            .iter()
            .filter(|(_, r)| overlaps(r.first_ms, r.last_ms))
            .map(|(&first, r)| ReplaySegment {
                first,
                end_id: r.end_id,
                file: None,
                void: r.void.to_vec(),
                entries: r.entries,
            })
            .collect();
        for (&first, seg) in &self.segments {
            let end = seg
                .slots
                .iter()
                .position(|s| s.state == WRITING)
                .unwrap_or(seg.slots.len());
            let (mut lo, mut hi, mut entries) = (u64::MAX, 0u64, 0u64);
            let mut void = Vec::new();
            for (i, s) in seg.slots[..end].iter().enumerate() {
                if s.state == VOID {
                    void.push(first + i as u64);
                } else {
                    lo = lo.min(s.enqueued_ms);
                    hi = hi.max(s.enqueued_ms);
                    entries += 1;
                }
            }
            if entries > 0 && overlaps(lo, hi) {
                out.push(ReplaySegment {
                    first,
                    end_id: first + end as u64,
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
