//! The group-commit writer thread.
//!
//! Every append goes through one bounded queue to this thread. It takes
//! everything queued, writes each topic's records with one positional write
//! per segment, fsyncs each touched segment once, and only then makes the
//! entries visible and answers every caller. While it fsyncs, new appends
//! queue up and form the next batch, so the number of fsyncs per second stays
//! roughly constant while throughput grows with concurrency.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::os::unix::fs::DirBuilderExt as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use herald_segment::WriteSet;
use tokio::sync::{mpsc, oneshot};

use crate::format;
use crate::{AppendItem, EntryId, LogError, Topic};

pub(crate) struct Cmd {
    pub items: Vec<AppendItem>,
    /// `topics[i]` is the topic of `items[i]`, resolved (and reserved) by `append`.
    pub topics: Vec<Arc<Topic>>,
    pub enqueued_ms: u64,
    pub reply: oneshot::Sender<Result<Vec<EntryId>, LogError>>,
}

/// Upper bound on commands per batch, so one batch cannot grow without limit
/// under sustained load and latency stays bounded.
const MAX_BATCH: usize = 4096;

/// Zero-fill this far ahead of the write position, when less than
/// `ZERO_LOW_WATER` is left.
const ZERO_AHEAD: u64 = 4 << 20;
const ZERO_LOW_WATER: u64 = 1 << 20;

pub(crate) fn run(mut rx: mpsc::Receiver<Cmd>, root: PathBuf, segment_bytes: u64, write_lock: Arc<Mutex<()>>) {
    let mut batch = Vec::new();
    while herald_segment::next_batch(&mut rx, MAX_BATCH, &mut batch) {
        process(&mut batch, &root, segment_bytes, &write_lock);
    }
}

/// Everything a batch does to one topic.
struct Group {
    topic: Arc<Topic>,
    /// Indexes into the batch's items, in append order.
    items: Vec<usize>,
    ids: Vec<u64>,
    rec_bytes: u64,
    /// Its records, zero fill and new directory entries.
    writes: WriteSet,
    discard: bool,
    error: Option<io::Error>,
}

/// A batch's records, written to their segments but not yet durable
/// ([`Written::sync`]) nor visible to readers ([`Written::settle`]).
pub(crate) struct Written {
    groups: Vec<Group>,
    /// The items were admitted by `append`, which reserved room for them.
    reserved: bool,
    /// Items in the batch.
    len: usize,
}

/// How a batch is written and made durable.
#[derive(Clone, Copy)]
pub(crate) struct WriteMode {
    /// The items were admitted by `append`, which reserved room for them.
    pub reserved: bool,
    /// The batch will be made durable by fdatasync of its segments, so the
    /// writer zero-fills ahead (see `Segment::zeroed`). A batch made durable
    /// by the caller's syncfs skips it: syncfs journals the size change
    /// anyway, and the zeros would only double the bytes it flushes.
    pub zero_fill: bool,
}

/// Writes a batch: groups items by topic, assigns ids and positions under
/// each topic's lock, and writes the records. `write_lock` is held while
/// writing so that no two writers leave a hole in a segment (a crash with
/// a later record durable and an earlier one never written would make
/// recovery stop at the hole).
pub(crate) fn write(
    items: &[(&AppendItem, u64)],
    topics: &[Arc<Topic>],
    root: &Path,
    segment_bytes: u64,
    write_lock: &Mutex<()>,
    mode: WriteMode,
) -> Written {
    let mut groups: Vec<Group> = Vec::new();
    let mut by_topic: HashMap<*const Topic, usize> = HashMap::new();
    for (k, t) in topics.iter().enumerate() {
        let g = *by_topic.entry(Arc::as_ptr(t)).or_insert_with(|| {
            groups.push(Group {
                topic: t.clone(),
                items: Vec::new(),
                ids: Vec::new(),
                rec_bytes: 0,
                writes: WriteSet::default(),
                discard: false,
                error: None,
            });
            groups.len() - 1
        });
        groups[g].items.push(k);
    }
    let _writing = write_lock.lock().unwrap_or_else(|e| e.into_inner());
    for g in &mut groups {
        if let Err(e) = assign(g, items, root, segment_bytes, mode.zero_fill) {
            g.error = Some(e);
        }
    }
    for g in groups.iter_mut().filter(|g| g.error.is_none() && !g.discard) {
        g.writes.write();
        g.error = g.writes.first_error().map(copy_error);
    }
    Written {
        groups,
        reserved: mode.reserved,
        len: items.len(),
    }
}

fn copy_error(e: &io::Error) -> io::Error {
    io::Error::new(e.kind(), e.to_string())
}

impl Written {
    /// fsyncs each touched file (and new directory entries) once.
    pub(crate) fn sync(&mut self) {
        for g in self.groups.iter_mut().filter(|g| g.error.is_none() && !g.discard) {
            g.writes.sync();
            g.error = g.writes.first_error().map(copy_error);
        }
    }

    /// The first error any topic met, if one did.
    pub(crate) fn error(&self) -> Option<String> {
        self.groups
            .iter()
            .find_map(|g| g.error.as_ref().map(|e| format!("topic {}: {e}", g.topic.name)))
    }

    /// The highest id written per topic.
    pub(crate) fn high_water(&self) -> Vec<(String, u64)> {
        self.groups
            .iter()
            .filter(|g| !g.discard && g.error.is_none())
            .filter_map(|g| Some((g.topic.name.clone(), *g.ids.iter().max()?)))
            .collect()
    }

    /// Makes the entries visible (`ok`) or abandons them (a failed write,
    /// or a transaction that did not commit), and returns each item's id
    /// (0 for discarded items) or its error.
    pub(crate) fn settle(mut self, ok: bool) -> Vec<Result<EntryId, LogError>> {
        let now = format::now_ms();
        let mut results: Vec<Result<EntryId, LogError>> = (0..self.len).map(|_| Ok(0)).collect();
        for g in &mut self.groups {
            if !ok && g.error.is_none() {
                g.error = Some(io::Error::other("the transaction with these events did not commit"));
            }
            settle_group(g, self.reserved, now);
            for (k, &i) in g.items.iter().enumerate() {
                results[i] = match (&g.error, g.ids.get(k)) {
                    (Some(e), _) => Err(LogError::Io(io::Error::new(e.kind(), e.to_string()))),
                    (None, Some(&id)) => Ok(id),
                    (None, None) => Ok(0),
                };
            }
        }
        results
    }
}

/// Publishes or abandons one topic's entries and wakes its readers.
fn settle_group(g: &mut Group, reserved: bool, now: u64) {
    {
        let mut st = g.topic.state.lock().unwrap();
        if reserved {
            st.reserved_entries = st.reserved_entries.saturating_sub(g.items.len() as u64);
            st.reserved_bytes = st.reserved_bytes.saturating_sub(g.rec_bytes);
        }
        if !g.discard {
            if g.error.is_some() {
                let mut side = crate::SideBuf::default();
                for &id in &g.ids {
                    if let Some(seg) = st.abandon(id) {
                        // The record may be on disk: say it is gone.
                        side.push(seg, crate::format::SIDE_VOID, id, 0, 0);
                    }
                }
                side.flush(&mut st);
                // The records may be durable already (the transaction
                // failed after the sync): their end must be too, or a
                // power loss would bring them back under a later mark.
                if let Err(e) = st.sync_sides() {
                    tracing::warn!(topic = %st.name, error = %e, "cannot sync delivery state");
                }
                // Never append after a region that may hold a partial write.
                st.active = None;
                st.collect_garbage(u64::MAX);
            } else {
                for &id in &g.ids {
                    st.commit(id, now);
                }
            }
        }
    }
    g.topic.notify.notify_waiters();
    if let Some(e) = &g.error {
        tracing::error!(topic = %g.topic.name, error = %e, "delivery log append failed");
    }
}

/// The writer thread's batch: write, fsync, publish, answer.
fn process(batch: &mut Vec<Cmd>, root: &Path, segment_bytes: u64, write_lock: &Mutex<()>) {
    let mut items: Vec<(&AppendItem, u64)> = Vec::new();
    let mut topics: Vec<Arc<Topic>> = Vec::new();
    for cmd in batch.iter() {
        for (item, t) in cmd.items.iter().zip(&cmd.topics) {
            items.push((item, cmd.enqueued_ms));
            topics.push(t.clone());
        }
    }
    let mode = WriteMode {
        reserved: true,
        zero_fill: true,
    };
    let mut written = write(&items, &topics, root, segment_bytes, write_lock, mode);
    written.sync();
    let mut results = written.settle(true).into_iter();
    for cmd in batch.drain(..) {
        let mine: Vec<Result<EntryId, LogError>> = results.by_ref().take(cmd.items.len()).collect();
        let reply = match mine.iter().find_map(|r| r.as_ref().err()) {
            Some(e) => Err(LogError::Io(io::Error::other(e.to_string()))),
            None => Ok(mine.into_iter().map(|r| r.unwrap_or(0)).collect()),
        };
        // The caller may have gone away (cancelled); the entries stay anyway.
        let _ = cmd.reply.send(reply);
    }
}

/// Under the topic lock: creates the directory if needed, rolls segments,
/// allocates ids and WRITING slots, and encodes the records.
fn assign(
    g: &mut Group,
    items: &[(&AppendItem, u64)],
    root: &Path,
    segment_bytes: u64,
    zero_fill: bool,
) -> io::Result<()> {
    let mut guard = g.topic.state.lock().unwrap();
    let st = &mut *guard;
    if st.removed {
        // The topic was deleted while these were queued: nobody will deliver
        // them, so they are dropped, not written.
        g.discard = true;
        return Ok(());
    }
    if !st.dir_created {
        create_topic_dir(&st.dir, &st.name)?;
        st.dir_created = true;
        g.writes.dir(root);
    }
    for &k in &g.items {
        let (item, enq) = items[k];
        let len = format::record_len(&item.key, &item.payload) as u64;
        let seg_first = st.ensure_active(len, segment_bytes)?;
        let seg = st.segments.get_mut(&seg_first).unwrap();
        let new_in = (!seg.dir_synced).then(|| g.writes.dir(&st.dir));
        seg.dir_synced = true;
        let (file, offset) = (seg.file.clone(), seg.size);
        let id = st.push_writing(seg_first, format::key_hash(item.key.as_bytes()), enq, len as u32);
        g.writes.add_with(&file, offset, new_in, |buf| {
            format::encode_record(buf, id, enq, &item.key, &item.payload)
        });
        g.ids.push(id);
        g.rec_bytes += len;
    }
    if !zero_fill {
        return Ok(());
    }
    // Zero-fill ahead of each touched segment's end (see `Segment::zeroed`).
    let segs: Vec<u64> = st.active.into_iter().collect();
    for first in segs {
        let seg = st.segments.get_mut(&first).unwrap();
        if seg.size + ZERO_LOW_WATER > seg.zeroed && seg.size < segment_bytes {
            let from = seg.zeroed.max(seg.size);
            let to = (seg.size + ZERO_AHEAD).min(segment_bytes);
            if to > from {
                g.writes.zero_fill(&seg.file, from, to - from);
                seg.zeroed = to;
            }
        }
    }
    Ok(())
}

/// Creates `<root>/<dir>` with its name file, durably (write to a temporary
/// name, fsync, rename) so recovery never sees a half-written name.
fn create_topic_dir(dir: &Path, name: &str) -> io::Result<()> {
    fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    let tmp = dir.join(format!("{}.tmp", format::NAME_FILE));
    {
        use std::io::Write as _;
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(name.as_bytes())?;
        f.sync_all()?;
    }
    fs::rename(&tmp, dir.join(format::NAME_FILE))?;
    herald_segment::fsync_dir(dir)
}
