//! Peeking (the console's view of a queue): what a receive would return
//! now, in its order, with no state changed. Beside [`State::take`] so
//! the two choose messages by the same rules.

use super::{State, Taken, VISIBLE};

/// Most entries a peek looks at (see [`State::peek`]).
pub(crate) const PEEK_SCAN: usize = 100_000;

impl State {
    /// Up to `max` messages a receive would return now, in its order, left
    /// as they are (no receive count, no visibility change): the console's
    /// peek. Standard queues: the ready list; FIFO queues: the heads of
    /// groups with nothing in flight, as a receive takes them. Looks at no
    /// more than [`PEEK_SCAN`] entries, so a peek costs a bounded walk
    /// under the queue's lock.
    pub(crate) fn peek(&mut self, max: usize, now: u64) -> Vec<Taken> {
        self.advance(now);
        let now_s = now / 1000;
        // What a receive would hand out: visible, not expired, and not at
        // the redrive limit (a receive moves those to the dead-letter queue).
        let limit = self.settings.redrive.as_ref().map(|r| r.1);
        let receivable = |st: &State, seq: u64| {
            st.slot(seq)
                .is_some_and(|s| s.state == VISIBLE && !st.expired(&s, now_s) && limit.is_none_or(|l| s.recv < l))
        };
        let mut seqs = Vec::new();
        let mut scanned = 0usize;
        if !self.fifo {
            for &seq in &self.ready {
                scanned += 1;
                if seqs.len() >= max || scanned > PEEK_SCAN {
                    break;
                }
                if receivable(self, seq) && !seqs.contains(&seq) {
                    seqs.push(seq);
                }
            }
        } else {
            'groups: for &g in &self.candidates {
                let Some(group) = self.groups.get(g as usize).and_then(|g| g.as_ref()) else {
                    continue;
                };
                if group.inflight > 0 {
                    continue;
                }
                for &seq in &group.pending {
                    scanned += 1;
                    if seqs.len() >= max || scanned > PEEK_SCAN {
                        break 'groups;
                    }
                    let Some(slot) = self.slot(seq) else { continue };
                    if slot.state == VISIBLE && self.expired(&slot, now_s) {
                        // A receive drops it and goes on to the next.
                        continue;
                    }
                    if !receivable(self, seq) {
                        // A receive stops at a group's first message it
                        // cannot take.
                        break;
                    }
                    seqs.push(seq);
                }
            }
        }
        seqs.into_iter().map(|seq| self.taken(seq)).collect()
    }
}
