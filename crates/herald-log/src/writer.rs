//! The group-commit writer thread.
//!
//! Every append goes through one bounded queue to this thread. It takes
//! everything queued, writes each topic's records with one positional write
//! per segment, fsyncs each touched segment once, and only then makes the
//! entries visible and answers every caller. While it fsyncs, new appends
//! queue up and form the next batch, so the number of fsyncs per second stays
//! roughly constant while throughput grows with concurrency.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io;
use std::os::unix::fs::DirBuilderExt as _;
use std::os::unix::fs::FileExt;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

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
static ZEROS: [u8; 256 << 10] = [0; 256 << 10];

pub(crate) fn run(mut rx: mpsc::Receiver<Cmd>, root: PathBuf, segment_bytes: u64, write_lock: Arc<Mutex<()>>) {
    let mut batch = Vec::new();
    while let Some(cmd) = rx.blocking_recv() {
        batch.push(cmd);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(cmd) => batch.push(cmd),
                Err(_) => break,
            }
        }
        process(&mut batch, &root, segment_bytes, &write_lock);
    }
}

/// One positional write into one segment.
struct Write {
    file: Arc<File>,
    offset: u64,
    buf: Vec<u8>,
}

/// Everything a batch does to one topic.
struct Group {
    topic: Arc<Topic>,
    /// Indexes into the batch's items, in append order.
    items: Vec<usize>,
    ids: Vec<u64>,
    rec_bytes: u64,
    writes: Vec<Write>,
    /// Files written, to fsync once each.
    files: Vec<Arc<File>>,
    /// Zero-fill ahead of the data: (file, offset, len).
    zero: Vec<(Arc<File>, u64, u64)>,
    sync_dir: bool,
    sync_root: bool,
    discard: bool,
    error: Option<io::Error>,
}

/// A batch's records, written to their segments but not yet durable
/// ([`Written::sync`]) nor visible to readers ([`Written::settle`]).
pub(crate) struct Written {
    groups: Vec<Group>,
    root: PathBuf,
    /// The items were admitted by `append`, which reserved room for them.
    reserved: bool,
    /// Items in the batch.
    len: usize,
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
    reserved: bool,
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
                writes: Vec::new(),
                files: Vec::new(),
                zero: Vec::new(),
                sync_dir: false,
                sync_root: false,
                discard: false,
                error: None,
            });
            groups.len() - 1
        });
        groups[g].items.push(k);
    }
    let _writing = write_lock.lock().unwrap_or_else(|e| e.into_inner());
    for g in &mut groups {
        if let Err(e) = assign(g, items, segment_bytes) {
            g.error = Some(e);
        }
    }
    for g in groups.iter_mut().filter(|g| g.error.is_none() && !g.discard) {
        if let Err(e) = write_group(g) {
            g.error = Some(e);
        }
    }
    Written {
        groups,
        root: root.to_path_buf(),
        reserved,
        len: items.len(),
    }
}

/// Writes one topic's records and its zero-fill.
fn write_group(g: &mut Group) -> io::Result<()> {
    for w in g.writes.drain(..) {
        w.file.write_all_at(&w.buf, w.offset)?;
        if !g.files.iter().any(|f| Arc::ptr_eq(f, &w.file)) {
            g.files.push(w.file);
        }
    }
    for (file, mut off, len) in g.zero.drain(..) {
        let end = off + len;
        while off < end {
            let n = ((end - off) as usize).min(ZEROS.len());
            file.write_all_at(&ZEROS[..n], off)?;
            off += n as u64;
        }
    }
    Ok(())
}

impl Written {
    /// fsyncs each touched file (and new directory entries) once.
    pub(crate) fn sync(&mut self) {
        for g in self.groups.iter_mut().filter(|g| g.error.is_none() && !g.discard) {
            let res = (|| -> io::Result<()> {
                for f in &g.files {
                    f.sync_data()?;
                }
                if g.sync_dir {
                    File::open(&g.topic.dir)?.sync_all()?;
                }
                if g.sync_root {
                    File::open(&self.root)?.sync_all()?;
                }
                Ok(())
            })();
            if let Err(e) = res {
                g.error = Some(e);
            }
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
                        side.push(seg, crate::format::SIDE_GONE, id, 0, 0);
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
    let mut written = write(&items, &topics, root, segment_bytes, write_lock, true);
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
fn assign(g: &mut Group, items: &[(&AppendItem, u64)], segment_bytes: u64) -> io::Result<()> {
    let mut st = g.topic.state.lock().unwrap();
    if st.removed {
        // The topic was deleted while these were queued: nobody will deliver
        // them, so they are dropped, not written.
        g.discard = true;
        return Ok(());
    }
    if !st.dir_created {
        create_topic_dir(&st.dir, &st.name)?;
        st.dir_created = true;
        g.sync_root = true;
    }
    for &k in &g.items {
        let (item, enq) = items[k];
        let len = format::record_len(&item.key, &item.payload) as u64;
        let seg_first = st.ensure_active(len, segment_bytes)?;
        let seg = st.segments.get_mut(&seg_first).unwrap();
        if !seg.dir_synced {
            seg.dir_synced = true;
            g.sync_dir = true;
        }
        let (file, offset) = (seg.file.clone(), seg.size);
        let id = st.push_writing(seg_first, format::key_hash(item.key.as_bytes()), enq, len as u32);
        let w = match g.writes.last_mut() {
            Some(w) if Arc::ptr_eq(&w.file, &file) => w,
            _ => {
                g.writes.push(Write {
                    file,
                    offset,
                    buf: Vec::new(),
                });
                g.writes.last_mut().unwrap()
            }
        };
        format::encode_record(&mut w.buf, id, enq, &item.key, &item.payload);
        g.ids.push(id);
        g.rec_bytes += len;
    }
    // Zero-fill ahead of each touched segment's end (see `Segment::zeroed`).
    let segs: Vec<u64> = st.active.into_iter().collect();
    for first in segs {
        let seg = st.segments.get_mut(&first).unwrap();
        if seg.size + ZERO_LOW_WATER > seg.zeroed && seg.size < segment_bytes {
            let from = seg.zeroed.max(seg.size);
            let to = (seg.size + ZERO_AHEAD).min(segment_bytes);
            if to > from {
                g.zero.push((seg.file.clone(), from, to - from));
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
    File::open(dir)?.sync_all()
}
