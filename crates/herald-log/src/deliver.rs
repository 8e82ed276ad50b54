//! The delivery side of the log: leasing due entries (per key in order),
//! reading their records back, acks, drops and retries (side records), and
//! waiting for work.

use super::*;

impl DeliveryLog {
    /// Up to `max` entries due now, oldest first. Per key only the oldest
    /// pending entry may be leased, and only while no entry of that key is
    /// leased, so one key is delivered strictly in order.
    pub fn lease(&self, topic: &str, max: usize) -> Vec<Lease> {
        let Some(t) = self.inner.get(topic) else {
            return Vec::new();
        };
        if max == 0 {
            return Vec::new();
        }
        let runs = {
            let mut st = t.state.lock().unwrap();
            st.write_deferred_side();
            st.lease_pick(max, format::now_ms())
        };
        self.read_leases(&t, runs, max)
    }

    /// Leases up to `max` pending entries with ids above `after`, in id
    /// order, ignoring per-key order and retry times: for a consumer that
    /// takes a whole topic as one ordered stream and holds many entries at
    /// once (batch files). It passes the last id it got as `after`; entries
    /// still being written stop the scan, so none is ever skipped. Leases
    /// last until acked or dropped (or the process ends: then they are
    /// pending again). Do not mix with [`lease`](Self::lease) on one topic.
    pub fn lease_in_order(&self, topic: &str, after: EntryId, max: usize) -> Vec<Lease> {
        let Some(t) = self.inner.get(topic) else {
            return Vec::new();
        };
        if max == 0 {
            return Vec::new();
        }
        let runs = {
            let mut st = t.state.lock().unwrap();
            st.write_deferred_side();
            st.lease_pick_in_order(after, max)
        };
        self.read_leases(&t, runs, max)
    }

    /// Reads the payloads of freshly leased entries.
    fn read_leases(&self, t: &Topic, runs: Vec<Run>, max: usize) -> Vec<Lease> {
        let mut out = Vec::with_capacity(max.min(1024));
        let mut failed: Vec<(u64, bool)> = Vec::new();
        for run in runs {
            read_run(t, run, &mut failed, |p, key, payload| {
                out.push(Lease {
                    id: p.id,
                    key,
                    payload,
                    attempts: p.attempts,
                    enqueued: format::from_ms(p.enqueued_ms),
                })
            });
        }
        if !failed.is_empty() {
            // Unreadable: retry I/O errors later (without charging an
            // attempt); drop records whose checksum no longer matches.
            let mut st = t.state.lock().unwrap();
            let now = format::now_ms();
            let mut side = SideBuf::default();
            for (id, corrupt) in failed {
                if corrupt {
                    if let Some(seg) = st.remove(id, now) {
                        side.push(seg, SIDE_GONE, id, 0, 0);
                    }
                } else {
                    st.retry(id, now + 1000, now, false);
                }
            }
            side.flush(&mut st);
            st.collect_garbage(self.inner.empty_roll_bytes);
        }
        out
    }

    /// Delivered: forget them.
    pub fn ack(&self, topic: &str, ids: &[EntryId]) {
        self.forget(topic, ids);
    }

    /// Expired or out of retries: forget them (the caller counts them lost).
    pub fn drop_entries(&self, topic: &str, ids: &[EntryId]) {
        self.forget(topic, ids);
    }

    fn forget(&self, topic: &str, ids: &[EntryId]) {
        let Some(t) = self.inner.get(topic) else { return };
        let mut st = t.state.lock().unwrap();
        let now = format::now_ms();
        let mut any = false;
        for &id in ids {
            if let Some(seg) = st.remove(id, now) {
                st.deferred_side.push(seg, SIDE_GONE, id, 0, 0);
                any = true;
            }
        }
        if !any {
            return;
        }
        // Writes the put-off acks first if it retires a drained segment.
        st.collect_garbage(self.inner.empty_roll_bytes);
        drop(st);
        // A successor of an acked key may be leasable now.
        t.notify.notify_waiters();
    }

    /// Failed: attempts += 1, lease released, due again at `not_before`.
    pub fn retry(&self, topic: &str, id: EntryId, not_before: SystemTime) {
        let Some(t) = self.inner.get(topic) else { return };
        let mut st = t.state.lock().unwrap();
        let now = SystemTime::now();
        // Round a future time up so the entry is never due early; a past one
        // means "now" and must be leasable at once.
        let next = if not_before <= now {
            format::to_ms(now)
        } else {
            format::to_ms_ceil(not_before)
        };
        // With the round's put-off acks: one write per segment.
        if let Some((seg, attempts)) = st.retry(id, next, format::to_ms(now), true) {
            st.deferred_side.push(seg, SIDE_RETRY, id, attempts, next);
        }
        st.write_deferred_side();
        drop(st);
        // Sleepers in `wait_ready` recompute their wake-up time.
        t.notify.notify_waiters();
    }

    /// Not tried: the leases go back as they were (due now, no attempt
    /// counted, nothing written: a lease does not outlive a restart
    /// anyway). For a caller that took more than it could hand on, such as
    /// the cluster relay stopping at its stream's byte bound.
    pub fn release(&self, topic: &str, ids: &[EntryId]) {
        let Some(t) = self.inner.get(topic) else { return };
        let mut st = t.state.lock().unwrap();
        let now = format::now_ms();
        for &id in ids {
            st.retry(id, now, now, false);
        }
        drop(st);
        t.notify.notify_waiters();
    }

    /// Completes when `topic` may have something to lease: an append, a retry
    /// becoming due (sleeps until the earliest one), or after `max_wait`.
    pub async fn wait_ready(&self, topic: &str, max_wait: Duration) {
        let t = self.inner.topic(topic);
        let mut notified = std::pin::pin!(t.notify.notified());
        // Register before looking, so a wake-up in between is not lost.
        notified.as_mut().enable();
        let wait = {
            let mut st = t.state.lock().unwrap();
            // About to sleep (or to lease): the round's acks go to disk.
            st.write_deferred_side();
            let now = format::now_ms();
            if st.has_ready(now) {
                return;
            }
            match st.earliest_delayed() {
                Some(due) => max_wait.min(Duration::from_millis(due.saturating_sub(now))),
                None => max_wait,
            }
        };
        let _ = tokio::time::timeout(wait, notified).await;
    }
}

impl TopicState {
    /// Writes the acks [`DeliveryLog::ack`] put off.
    pub(crate) fn write_deferred_side(&mut self) {
        if !self.deferred_side.parts.is_empty() {
            std::mem::take(&mut self.deferred_side).flush(self);
        }
    }
}

/// A log closed (its last handle dropped) writes what it put off.
impl Drop for TopicState {
    fn drop(&mut self) {
        if !self.removed {
            self.write_deferred_side();
        }
    }
}

impl DeliveryLog {
    /// Writes `topic`'s put-off acks (a worker that is not leasing, e.g.
    /// while its endpoint is held back).
    pub fn write_acks(&self, topic: &str) {
        if let Some(t) = self.inner.get(topic) {
            t.state.lock().unwrap().write_deferred_side();
        }
    }

    /// Writes every topic's put-off acks (at shutdown: what was delivered
    /// by then is not delivered again after the restart).
    pub fn flush_acks(&self) {
        let topics: Vec<Arc<Topic>> = self.inner.topics.read().unwrap().values().cloned().collect();
        for t in topics {
            t.state.lock().unwrap().write_deferred_side();
        }
    }
}

/// Side records grouped per segment, written with one `write()` each.
#[derive(Default)]
pub(crate) struct SideBuf {
    pub(crate) parts: Vec<(u64, Vec<u8>)>,
}

impl SideBuf {
    pub(crate) fn push(&mut self, seg: u64, kind: u8, id: u64, attempts: u32, next_ms: u64) {
        let buf = match self.parts.iter_mut().rev().find(|(s, _)| *s == seg) {
            Some((_, b)) => b,
            None => {
                self.parts.push((seg, Vec::new()));
                &mut self.parts.last_mut().unwrap().1
            }
        };
        format::encode_side(buf, kind, id, attempts, next_ms);
    }

    pub(crate) fn flush(self, st: &mut TopicState) {
        for (seg, buf) in self.parts {
            if let Err(e) = st.write_side(seg, &buf) {
                // Only costs redelivery after a restart.
                tracing::warn!(topic = %st.name, error = %e, "cannot record delivery state");
            }
        }
    }
}

/// Reads one run of records with a single positional read and hands each
/// checked record to `f`. Unreadable ones go to `failed` as (id, corrupt).
pub(crate) fn read_run(
    t: &Topic,
    run: Run,
    failed: &mut Vec<(u64, bool)>,
    mut f: impl FnMut(&topic::Pick, String, Bytes),
) {
    let mut buf = vec![0u8; run.len];
    if let Err(e) = run.file.read_exact_at(&mut buf, run.start) {
        tracing::error!(topic = %t.name, error = %e, "cannot read delivery log segment");
        failed.extend(run.picks.iter().map(|p| (p.id, false)));
        return;
    }
    let buf = Bytes::from(buf);
    for p in &run.picks {
        let rec = &buf[p.rel..p.rel + p.len];
        match format::decode_record(rec) {
            Some(d) if d.id == p.id && d.len == p.len => {
                let key = String::from_utf8_lossy(&rec[d.key]).into_owned();
                let payload = buf.slice(p.rel + d.payload.start..p.rel + d.payload.end);
                f(p, key, payload);
            }
            _ => {
                tracing::error!(topic = %t.name, id = p.id, "corrupt delivery log record dropped");
                failed.push((p.id, true));
            }
        }
    }
}
