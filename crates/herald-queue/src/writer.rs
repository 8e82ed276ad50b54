//! The group-commit writer thread.
//!
//! Every send goes through one bounded channel to this thread. It takes
//! everything queued, assigns sequence numbers and file positions under each
//! queue's lock, writes each touched segment with one positional write,
//! fsyncs it once, and only then makes the messages receivable and answers
//! the senders. While it fsyncs, new sends queue up and form the next batch,
//! so fsyncs per second stay roughly constant while throughput grows with
//! concurrency. A single thread also means sequence numbers, file offsets
//! and FIFO order are assigned in one place without further coordination.

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use crate::QueueError;
use crate::message::{self, Msg};
use crate::queue::{Queue, fsync_dir};

/// A message ready to be stored.
pub(crate) struct Prepared {
    pub msg: Msg,
    pub visible_at: u64,
    /// FIFO deduplication key; `None` skips deduplication (standard queues,
    /// dead-letter moves).
    pub dedup_key: Option<String>,
}

pub(crate) enum Outcome {
    Stored {
        seq: u64,
    },
    /// Deduplicated: the original message's id and sequence number.
    Duplicate {
        message_id: [u8; 16],
        seq: u64,
    },
    Failed(QueueError),
}

pub(crate) struct WriteCmd {
    pub queue: Arc<Queue>,
    pub items: Vec<Prepared>,
    pub reply: oneshot::Sender<Vec<Outcome>>,
}

/// Commands per batch at most, so latency stays bounded under load.
const MAX_BATCH: usize = 1024;

pub(crate) fn run(mut rx: mpsc::Receiver<WriteCmd>) {
    let mut batch = Vec::new();
    while let Some(cmd) = rx.blocking_recv() {
        batch.push(cmd);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(cmd) => batch.push(cmd),
                Err(_) => break,
            }
        }
        process(&mut batch);
    }
}

/// One contiguous positional write.
struct Write {
    file: Arc<File>,
    offset: u64,
    buf: Vec<u8>,
    /// Directory to fsync because the file is new.
    new_in: Option<PathBuf>,
    error: Option<(io::ErrorKind, String)>,
}

enum Plan {
    Done(Outcome),
    New {
        seg: u64,
        seq: u64,
        off: u64,
        len: u32,
        write: usize,
    },
}

fn process(batch: &mut Vec<WriteCmd>) {
    let mut writes: Vec<Write> = Vec::new();
    let mut by_file: HashMap<*const File, usize> = HashMap::new();
    let mut plans: Vec<(u64, Vec<Plan>)> = Vec::with_capacity(batch.len());
    let mut scratch = Vec::new();

    // 1. Deduplicate, assign sequence numbers and positions, encode.
    for cmd in batch.iter() {
        let mut st = cmd.queue.state.lock().expect("queue lock");
        let now = crate::now_ms();
        let mut p = Vec::with_capacity(cmd.items.len());
        for item in &cmd.items {
            if st.deleted {
                p.push(Plan::Done(Outcome::Failed(QueueError::QueueDoesNotExist)));
                continue;
            }
            if let Some(key) = &item.dedup_key
                && let Some((message_id, seq)) = st.dedup_lookup(key, now)
            {
                p.push(Plan::Done(Outcome::Duplicate { message_id, seq }));
                continue;
            }
            let seq = st.next_seq;
            scratch.clear();
            let len = message::encode_record(&mut scratch, seq, item.visible_at, &item.msg);
            let (seg, file, off, new) = match st.reserve(seq, len as u64) {
                Ok(r) => r,
                Err(e) => {
                    p.push(Plan::Done(Outcome::Failed(QueueError::Io(e))));
                    continue;
                }
            };
            st.next_seq += 1;
            let key = Arc::as_ptr(&file);
            let w = match by_file.get(&key) {
                Some(&w) if writes[w].offset + writes[w].buf.len() as u64 == off => w,
                _ => {
                    writes.push(Write {
                        file,
                        offset: off,
                        buf: Vec::new(),
                        new_in: new.then(|| cmd.queue.dir.clone()),
                        error: None,
                    });
                    by_file.insert(key, writes.len() - 1);
                    writes.len() - 1
                }
            };
            writes[w].buf.extend_from_slice(&scratch);
            // A standard queue's S3 events are looked up but not remembered:
            // only a crash re-sends one, and recovery remembers the last
            // few (see `State::recover`), so memory does not grow with the
            // event rate.
            if let Some(key) = item.dedup_key.as_ref().filter(|_| st.fifo) {
                st.dedup_insert(key.clone(), item.msg.message_id, seq, item.msg.sent_ms);
            }
            p.push(Plan::New {
                seg,
                seq,
                off,
                len: len as u32,
                write: w,
            });
        }
        plans.push((st.epoch, p));
    }

    // 2. Write, fsync each file once, then the directories of new files.
    for w in &mut writes {
        if let Err(e) = w.file.write_all_at(&w.buf, w.offset).and_then(|()| w.file.sync_data()) {
            tracing::error!(error = %e, "queue segment write failed");
            w.error = Some((e.kind(), e.to_string()));
        }
    }
    let mut dirs: Vec<PathBuf> = writes.iter().filter_map(|w| w.new_in.clone()).collect();
    dirs.sort();
    dirs.dedup();
    for d in dirs {
        if let Err(e) = fsync_dir(&d) {
            for w in writes.iter_mut().filter(|w| w.new_in.as_ref() == Some(&d)) {
                w.error.get_or_insert((e.kind(), e.to_string()));
            }
        }
    }

    // 3. Make the messages receivable and answer.
    for (cmd, (epoch, plans)) in batch.drain(..).zip(plans) {
        let mut st = cmd.queue.state.lock().expect("queue lock");
        let current = st.epoch == epoch && !st.deleted;
        let now = crate::now_ms();
        let mut out = Vec::with_capacity(plans.len());
        let mut any = false;
        for (item, plan) in cmd.items.iter().zip(plans) {
            match plan {
                Plan::Done(o) => out.push(o),
                Plan::New {
                    seg,
                    seq,
                    off,
                    len,
                    write,
                } => {
                    let err = &writes[write].error;
                    if current {
                        let group = st.fifo.then_some(item.msg.group.as_str());
                        let sent_s = (item.msg.sent_ms / 1000) as u32;
                        st.commit(seg, seq, off, len, sent_s, item.visible_at, group, err.is_none(), now);
                    }
                    match err {
                        None => {
                            any = true;
                            out.push(Outcome::Stored { seq });
                        }
                        Some((kind, msg)) => {
                            if let Some(key) = &item.dedup_key {
                                st.dedup_remove(key);
                            }
                            out.push(Outcome::Failed(QueueError::Io(io::Error::new(*kind, msg.clone()))));
                        }
                    }
                }
            }
        }
        drop(st);
        if any {
            cmd.queue.notify.notify_waiters();
        }
        let _ = cmd.reply.send(out);
    }
}
