//! The group-commit writer thread (herald-segment's group commit, with the
//! queue's deduplication and visibility on top).
//!
//! Every send goes through one bounded channel to this thread. It takes
//! everything queued, assigns sequence numbers and file positions under each
//! queue's lock, writes each touched segment with one positional write,
//! fsyncs it once, and only then makes the messages receivable and answers
//! the senders. A single thread also means sequence numbers, file offsets
//! and FIFO order are assigned in one place without further coordination.

use std::io;
use std::sync::Arc;

use herald_segment::WriteSet;
use herald_segment::group::WriteId;
use tokio::sync::{mpsc, oneshot};

use crate::QueueError;
use crate::message::{self, Msg};
use crate::queue::{Queue, Written};

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
    while herald_segment::next_batch(&mut rx, MAX_BATCH, &mut batch) {
        process(&mut batch);
    }
}

enum Plan {
    Done(Outcome),
    New { record: Written, write: WriteId },
}

fn process(batch: &mut Vec<WriteCmd>) {
    let mut writes = WriteSet::default();
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
            let new_in = new.then(|| writes.dir(&cmd.queue.dir));
            let write = writes.add(&file, off, &scratch, new_in);
            // A standard queue's S3 events are looked up but not remembered:
            // only a crash re-sends one, and recovery remembers the last
            // few (see `State::recover`), so memory does not grow with the
            // event rate.
            if let Some(key) = item.dedup_key.as_ref().filter(|_| st.fifo) {
                st.dedup_insert(key.clone(), item.msg.message_id, seq, item.msg.sent_ms);
            }
            let record = Written {
                seg,
                seq,
                off,
                len: len as u32,
                sent_s: (item.msg.sent_ms / 1000) as u32,
                visible_at: item.visible_at,
            };
            p.push(Plan::New { record, write });
        }
        plans.push((st.epoch, p));
    }

    // 2. Write, fsync each file once, then the directories of new files.
    writes.write();
    writes.sync();
    if let Some(e) = writes.first_error() {
        tracing::error!(error = %e, "queue segment write failed");
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
                Plan::New { record, write } => {
                    let err = writes.error(write);
                    let seq = record.seq;
                    if current {
                        let group = st.fifo.then_some(item.msg.group.as_str());
                        st.commit(record, group, err.is_none(), now);
                    }
                    match err {
                        None => {
                            any = true;
                            out.push(Outcome::Stored { seq });
                        }
                        Some(e) => {
                            if let Some(key) = &item.dedup_key {
                                st.dedup_remove(key);
                            }
                            out.push(Outcome::Failed(QueueError::Io(io::Error::new(e.kind(), e.to_string()))));
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
