//! Messages: send (and S3 events), receive with long polling and
//! dead-letter redrive, delete, change visibility, statistics.

use super::*;

impl QueueEngine {
    /// SendMessage / SendMessageBatch. Entries are validated one by one (an
    /// invalid entry fails alone); the valid ones are stored with one durable
    /// write and the call returns once they are on disk.
    pub async fn send(
        &self,
        owner: &str,
        name: &str,
        batch: Vec<SendRequest>,
    ) -> Result<Vec<Result<SendResult, QueueError>>, QueueError> {
        self.send_with(owner, name, |_| batch, |_, _, _| {}).await
    }

    /// Delivers S3 event bodies (read from the delivery log) so that a body
    /// delivered again within the deduplication window (five minutes) is
    /// stored once: the transfer of an event can be cut short by a crash
    /// after the queue stored it and before the log heard so, and must not
    /// leave a second copy. Both queue kinds deduplicate on the body's
    /// digest (an event's body is unique: it carries the event id); FIFO
    /// queues show it as the MessageDeduplicationId, in group `s3-events`.
    pub async fn send_events(
        &self,
        owner: &str,
        name: &str,
        bodies: Vec<String>,
    ) -> Result<Vec<Result<SendResult, QueueError>>, QueueError> {
        let events = bodies.into_iter().map(|body| (body, BTreeMap::new())).collect();
        self.send_deduplicated(owner, name, events).await
    }

    /// Parks events a topic could not deliver (its dead-letter queue): the
    /// event body with message attributes saying why, deduplicated on the
    /// body as [`send_events`](Self::send_events) does (a move cut short
    /// by a crash is made again after the restart).
    pub async fn send_dead_letters(
        &self,
        owner: &str,
        name: &str,
        letters: Vec<(String, BTreeMap<String, MessageAttributeValue>)>,
    ) -> Result<Vec<Result<SendResult, QueueError>>, QueueError> {
        self.send_deduplicated(owner, name, letters).await
    }

    async fn send_deduplicated(
        &self,
        owner: &str,
        name: &str,
        messages: Vec<(String, BTreeMap<String, MessageAttributeValue>)>,
    ) -> Result<Vec<Result<SendResult, QueueError>>, QueueError> {
        let requests = |q: &Queue| {
            messages
                .into_iter()
                .map(|(body, attributes)| SendRequest {
                    // FIFO queues need the id before validation.
                    deduplication_id: q.fifo.then(|| md5_of_body(&body)),
                    group_id: q.fifo.then(|| "s3-events".to_owned()),
                    body,
                    delay_seconds: None,
                    attributes,
                    system_attributes: Default::default(),
                })
                .collect()
        };
        // A standard queue takes the digest validation computed anyway.
        let dedup_standard = |q: &Queue, p: &mut Prepared, r: &SendResult| {
            if !q.fifo {
                p.dedup_key = Some(queue::dedup_key(false, "", &r.md5_of_body));
                p.msg.dedup = r.md5_of_body.clone();
            }
        };
        self.send_with(owner, name, requests, dedup_standard).await
    }

    /// Validates the requests `make` builds for the queue (an invalid one
    /// fails alone), lets `adjust` amend each valid one, and stores them
    /// with one durable write.
    async fn send_with(
        &self,
        owner: &str,
        name: &str,
        make: impl FnOnce(&Queue) -> Vec<SendRequest>,
        adjust: impl Fn(&Queue, &mut Prepared, &SendResult),
    ) -> Result<Vec<Result<SendResult, QueueError>>, QueueError> {
        let q = self.queue(owner, name)?;
        let settings = q.state.lock().expect("queue lock").settings.clone();
        let now = now_ms();
        let batch = make(&q);
        let mut results = Vec::with_capacity(batch.len());
        let mut prepared = Vec::new();
        let mut index = Vec::new();
        for (i, req) in batch.into_iter().enumerate() {
            match prepare(&q, &settings, owner, req, now) {
                Ok((mut p, r)) => {
                    adjust(&q, &mut p, &r);
                    prepared.push(p);
                    index.push(i);
                    results.push(Ok(r));
                }
                Err(e) => results.push(Err(e)),
            }
        }
        self.store_prepared(q, prepared, index, results).await
    }

    /// Stores validated messages and completes their results.
    async fn store_prepared(
        &self,
        q: Arc<Queue>,
        prepared: Vec<Prepared>,
        index: Vec<usize>,
        mut results: Vec<Result<SendResult, QueueError>>,
    ) -> Result<Vec<Result<SendResult, QueueError>>, QueueError> {
        if prepared.is_empty() {
            return Ok(results);
        }
        let outcomes = self.write(q.clone(), prepared).await?;
        for (i, o) in index.into_iter().zip(outcomes) {
            match o {
                Outcome::Stored { seq } => {
                    if let Ok(r) = &mut results[i]
                        && q.fifo
                    {
                        r.sequence_number = Some(sequence_number(seq));
                    }
                }
                Outcome::Duplicate { message_id, seq } => {
                    if let Ok(r) = &mut results[i] {
                        r.message_id = message::format_message_id(&message_id);
                        r.sequence_number = Some(sequence_number(seq));
                    }
                }
                Outcome::Failed(e) => results[i] = Err(e),
            }
        }
        Ok(results)
    }

    async fn write(&self, q: Arc<Queue>, items: Vec<Prepared>) -> Result<Vec<Outcome>, QueueError> {
        let (reply, rx) = oneshot::channel();
        let gone = || QueueError::Io(io::Error::other("queue writer stopped"));
        self.inner
            .tx
            .send(WriteCmd { queue: q, items, reply })
            .await
            .map_err(|_| gone())?;
        rx.await.map_err(|_| gone())
    }

    /// ReceiveMessage. With a wait time, returns as soon as at least one
    /// message is receivable (woken by sends, visibility changes and the
    /// next delay/visibility deadline), otherwise empty at the deadline.
    pub async fn receive(
        &self,
        owner: &str,
        name: &str,
        req: ReceiveRequest,
    ) -> Result<Vec<ReceivedMessage>, QueueError> {
        if !(1..=10).contains(&req.max_messages) {
            return Err(invalid(format!(
                "Value {} for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, if provided.",
                req.max_messages
            )));
        }
        if let Some(v) = req.visibility_timeout.filter(|&v| v > MAX_VISIBILITY) {
            return Err(invalid(format!(
                "Value {v} for parameter VisibilityTimeout is invalid. Reason: Must be between 0 and 43200, if provided."
            )));
        }
        if let Some(w) = req.wait_time.filter(|&w| w > MAX_WAIT) {
            return Err(invalid(format!(
                "Value {w} for parameter WaitTimeSeconds is invalid. Reason: Must be >= 0 and <= 20, if provided."
            )));
        }
        let q = self.queue(owner, name)?;
        let (wait_s, vis_s) = {
            let st = q.state.lock().expect("queue lock");
            (
                req.wait_time.unwrap_or(st.settings.wait_s),
                req.visibility_timeout.unwrap_or(st.settings.visibility_s),
            )
        };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(wait_s as u64);
        loop {
            let notified = q.notify.notified();
            tokio::pin!(notified);
            // Register before looking, so a send between the look and the
            // wait is not missed.
            notified.as_mut().enable();
            let (msgs, next_timer) = self.receive_once(&q, req.max_messages as usize, vis_s).await?;
            let now = tokio::time::Instant::now();
            if !msgs.is_empty() || now >= deadline {
                return Ok(msgs);
            }
            let mut until = deadline;
            if let Some(t) = next_timer {
                until = until.min(now + Duration::from_millis(t.saturating_sub(now_ms())));
            }
            tokio::select! {
                _ = &mut notified => {}
                _ = tokio::time::sleep_until(until) => {}
            }
        }
    }

    /// One non-waiting receive attempt. Returns the messages and when the
    /// next delayed/in-flight message becomes visible.
    async fn receive_once(
        &self,
        q: &Arc<Queue>,
        max: usize,
        vis_s: u32,
    ) -> Result<(Vec<ReceivedMessage>, Option<u64>), QueueError> {
        // Moving messages to a dead-letter queue can leave a round empty;
        // retry a few times before reporting "nothing".
        for _ in 0..4 {
            let now = now_ms();
            let (taken, moves, next, redrive) = {
                let mut st = q.state.lock().expect("queue lock");
                if st.deleted {
                    return Err(QueueError::QueueDoesNotExist);
                }
                let (t, m) = st.take(max, vis_s as u64 * 1000, now);
                let redrive = st.settings.redrive.as_ref().map(|r| r.0.clone());
                (t, m, st.next_timer(), redrive)
            };
            let mut out = Vec::with_capacity(taken.len());
            let mut broken = Vec::new();
            for t in taken {
                match t.read().ok().and_then(|b| message::decode_record(&b)) {
                    Some((seq, msg)) if seq == t.seq => out.push(received(q, &t, msg)),
                    _ => {
                        tracing::error!(queue = %q.arn, seq = t.seq, "unreadable queue message; dropping it");
                        broken.push(t.seq);
                    }
                }
            }
            if !broken.is_empty() {
                q.state.lock().expect("queue lock").delete(&broken);
            }
            let moved = !moves.is_empty();
            if moved {
                self.redrive(q, moves, redrive).await;
            }
            if !out.is_empty() || !moved {
                return Ok((out, next));
            }
        }
        Ok((Vec::new(), Some(now_ms())))
    }

    /// The dead-letter queue messages of `q` may move to now: checked again
    /// at every move, not only when the RedrivePolicy was set, because the
    /// target may have been deleted and re-created by someone else (a user
    /// removed and a new one of the same name) or may have changed its
    /// RedriveAllowPolicy since.
    fn redrive_target(&self, q: &Queue, target: Option<String>) -> Option<Arc<Queue>> {
        let t = self.own_queue_by_arn(&q.owner, &target?).filter(|t| t.id != q.id)?;
        let policy = t.redrive_allow_policy();
        if attrs::redrive_allowed(policy.as_deref(), &q.arn) {
            Some(t)
        } else {
            tracing::warn!(queue = %q.arn, target = %t.arn, "the dead-letter queue's RedriveAllowPolicy refuses this source; messages stay");
            None
        }
    }

    /// Moves messages that reached maxReceiveCount to the dead-letter queue,
    /// keeping id, body, attributes and original sent time (so retention
    /// still counts from the original send, as in AWS). They are deleted
    /// from the source only once stored in the target.
    async fn redrive(&self, q: &Arc<Queue>, moves: Vec<queue::Taken>, target: Option<String>) {
        let Some(target) = self.redrive_target(q, target) else {
            // Without a target the messages stay (hidden for the move grace
            // period, then receivable again), as AWS keeps them in the source.
            return;
        };
        let now = now_ms();
        let mut items = Vec::new();
        let mut seqs = Vec::new();
        let mut broken = Vec::new();
        for t in &moves {
            match t.read().ok().and_then(|b| message::decode_record(&b)) {
                Some((seq, mut msg)) if seq == t.seq => {
                    msg.source_arn = q.arn.clone();
                    items.push(Prepared {
                        msg,
                        visible_at: now,
                        dedup_key: None,
                    });
                    seqs.push(t.seq);
                }
                _ => broken.push(t.seq),
            }
        }
        let mut done = broken;
        if !items.is_empty() {
            match self.write(target, items).await {
                Ok(outcomes) => {
                    for (seq, o) in seqs.into_iter().zip(outcomes) {
                        match o {
                            Outcome::Failed(e) => {
                                tracing::warn!(queue = %q.arn, error = %e, "dead-letter move failed");
                            }
                            _ => done.push(seq),
                        }
                    }
                }
                Err(e) => tracing::warn!(queue = %q.arn, error = %e, "dead-letter move failed"),
            }
        }
        q.state.lock().expect("queue lock").delete(&done);
    }

    /// DeleteMessage / DeleteMessageBatch. Any receipt handle ever issued for
    /// a message deletes it while it exists (as in AWS); deleting a message
    /// that is already gone succeeds. A garbled handle, or one of another
    /// queue, is `ReceiptHandleIsInvalid`.
    pub async fn delete(
        &self,
        owner: &str,
        name: &str,
        receipt_handles: &[String],
    ) -> Result<Vec<Result<(), QueueError>>, QueueError> {
        let q = self.queue(owner, name)?;
        let mut results = Vec::with_capacity(receipt_handles.len());
        let mut seqs = Vec::with_capacity(receipt_handles.len());
        {
            let mut st = q.state.lock().expect("queue lock");
            if st.deleted {
                return Err(QueueError::QueueDoesNotExist);
            }
            for h in receipt_handles {
                match message::parse_handle(h) {
                    Some(p) if p.queue_id == q.id && p.seq < st.next_seq && p.count >= 1 => {
                        seqs.push(p.seq);
                        results.push(Ok(()));
                    }
                    _ => results.push(Err(QueueError::ReceiptHandleIsInvalid)),
                }
            }
            st.delete(&seqs);
        }
        if q.fifo {
            // Deleting in-flight messages may unblock their group.
            q.notify.notify_waiters();
        }
        Ok(results)
    }

    /// ChangeMessageVisibility: the message becomes visible `timeout_secs`
    /// from now. Only the latest receipt handle of an in-flight message
    /// works; otherwise `MessageNotInflight`.
    pub async fn change_visibility(
        &self,
        owner: &str,
        name: &str,
        receipt_handle: &str,
        timeout_secs: u32,
    ) -> Result<(), QueueError> {
        if timeout_secs > MAX_VISIBILITY {
            return Err(invalid(format!(
                "Value {timeout_secs} for parameter VisibilityTimeout is invalid. Reason: Must be between 0 and 43200."
            )));
        }
        let q = self.queue(owner, name)?;
        let p = message::parse_handle(receipt_handle)
            .filter(|p| p.queue_id == q.id)
            .ok_or(QueueError::ReceiptHandleIsInvalid)?;
        let now = now_ms();
        let ok = {
            let mut st = q.state.lock().expect("queue lock");
            if st.deleted {
                return Err(QueueError::QueueDoesNotExist);
            }
            if p.seq >= st.next_seq {
                return Err(QueueError::ReceiptHandleIsInvalid);
            }
            st.change_visibility(p.seq, p.count, now + timeout_secs as u64 * 1000, now)
        };
        if !ok {
            return Err(QueueError::MessageNotInflight);
        }
        if timeout_secs == 0 {
            q.notify.notify_waiters();
        }
        Ok(())
    }

    /// Up to `max` (at most 10) receivable messages, read without being
    /// received: no receive count, no visibility change, no receipt handle
    /// (empty). What an operator's console shows; a consumer must use
    /// [`QueueEngine::receive`].
    pub fn peek(&self, owner: &str, name: &str, max: usize) -> Result<Vec<ReceivedMessage>, QueueError> {
        let q = self.queue(owner, name)?;
        let taken = {
            let mut st = q.state.lock().expect("queue lock");
            if st.deleted {
                return Err(QueueError::QueueDoesNotExist);
            }
            st.peek(max.clamp(1, 10), now_ms())
        };
        let mut out = Vec::with_capacity(taken.len());
        for t in taken {
            if let Some((seq, msg)) = t.read().ok().and_then(|b| message::decode_record(&b))
                && seq == t.seq
            {
                let mut m = received(&q, &t, msg);
                m.receipt_handle = String::new();
                out.push(m);
            }
        }
        Ok(out)
    }

    pub fn stats(&self, owner: &str, name: &str) -> Result<QueueStats, QueueError> {
        let q = self.queue(owner, name)?;
        Ok(self.stats_of(&q))
    }

    pub(crate) fn stats_of(&self, q: &Queue) -> QueueStats {
        let now = now_ms();
        let mut st = q.state.lock().expect("queue lock");
        st.advance(now);
        QueueStats {
            visible: st.visible,
            in_flight: st.inflight,
            delayed: st.delayed,
            bytes: st.bytes,
            oldest_age: st
                .oldest_sent_s()
                .map(|s| Duration::from_secs((now / 1000).saturating_sub(s as u64))),
        }
    }
}

/// FIFO SequenceNumber: 20 digits, increasing per queue.
fn sequence_number(seq: u64) -> String {
    format!("{seq:020}")
}

/// Validates one send entry and builds its record and its reply (the
/// sequence number is filled in once stored).
fn prepare(
    q: &Queue,
    settings: &Settings,
    sender: &str,
    req: SendRequest,
    now: u64,
) -> Result<(Prepared, SendResult), QueueError> {
    if req.body.is_empty() {
        return Err(QueueError::MissingParameter(
            "The request must contain the parameter MessageBody.".into(),
        ));
    }
    if !req.body.chars().all(message::valid_xml_char) {
        return Err(QueueError::InvalidMessageContents(
            "Invalid characters found. Valid unicode characters are #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF".into(),
        ));
    }
    message::check_attributes(&req.attributes)?;
    message::check_system_attributes(&req.system_attributes)?;
    if message::message_size(&req.body, &req.attributes) > settings.max_size as usize {
        return Err(QueueError::MessageTooLong(format!(
            "One or more parameters are invalid. Reason: Message must be shorter than {} bytes.",
            settings.max_size
        )));
    }
    let delay = match req.delay_seconds {
        Some(d) if d > message::MAX_DELAY_SECS => {
            return Err(invalid(format!(
                "Value {d} for parameter DelaySeconds is invalid. Reason: DelaySeconds must be >= 0 and <= 900."
            )));
        }
        // FIFO queues have queue-level delay only (a per-message delay
        // would break group order); 0 is accepted as "no delay".
        Some(d) if q.fifo && d != 0 => {
            return Err(invalid(format!(
                "Value {d} for parameter DelaySeconds is invalid. Reason: The request include parameter that is not valid for this queue type."
            )));
        }
        Some(d) if !q.fifo => d,
        _ => settings.delay_s,
    };
    let group = match (&req.group_id, q.fifo) {
        (Some(g), _) => {
            message::check_fifo_id("MessageGroupId", g)?;
            g.clone()
        }
        (None, true) => {
            return Err(QueueError::MissingParameter(
                "The request must contain the parameter MessageGroupId.".into(),
            ));
        }
        (None, false) => String::new(),
    };
    let dedup = match (&req.deduplication_id, q.fifo) {
        (Some(_), false) => {
            return Err(invalid(
                "The request include parameter MessageDeduplicationId that is not valid for this queue type",
            ));
        }
        (Some(d), true) => {
            message::check_fifo_id("MessageDeduplicationId", d)?;
            d.clone()
        }
        (None, true) if settings.content_dedup => message::content_dedup_id(&req.body),
        (None, true) => {
            return Err(invalid(
                "The queue should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly",
            ));
        }
        (None, false) => String::new(),
    };
    let message_id = *uuid::Uuid::new_v4().as_bytes();
    let result = SendResult {
        message_id: message::format_message_id(&message_id),
        md5_of_body: md5_of_body(&req.body),
        md5_of_attributes: md5_of_attributes(&req.attributes),
        md5_of_system_attributes: md5_of_attributes(&req.system_attributes),
        sequence_number: None,
    };
    let dedup_key = q
        .fifo
        .then(|| queue::dedup_key(settings.dedup_per_group, &group, &dedup));
    let msg = Msg {
        message_id,
        sent_ms: now,
        group,
        dedup,
        sender: sender.to_string(),
        source_arn: String::new(),
        attributes: req.attributes,
        system: req.system_attributes,
        body: req.body,
    };
    Ok((
        Prepared {
            msg,
            visible_at: now + delay as u64 * 1000,
            dedup_key,
        },
        result,
    ))
}

fn received(q: &Queue, t: &queue::Taken, msg: Msg) -> ReceivedMessage {
    let mut a = BTreeMap::new();
    a.insert("SentTimestamp".to_string(), msg.sent_ms.to_string());
    a.insert("ApproximateReceiveCount".to_string(), t.recv.to_string());
    a.insert("ApproximateFirstReceiveTimestamp".to_string(), t.first_recv.to_string());
    a.insert("SenderId".to_string(), msg.sender.clone());
    if !msg.group.is_empty() {
        a.insert("MessageGroupId".to_string(), msg.group.clone());
    }
    if q.fifo && !msg.dedup.is_empty() {
        a.insert("MessageDeduplicationId".to_string(), msg.dedup.clone());
    }
    if q.fifo {
        a.insert("SequenceNumber".to_string(), sequence_number(t.seq));
    }
    if !msg.source_arn.is_empty() {
        a.insert("DeadLetterQueueSourceArn".to_string(), msg.source_arn.clone());
    }
    if let Some(s) = msg.system.get("AWSTraceHeader").and_then(|v| v.string_value.clone()) {
        a.insert("AWSTraceHeader".to_string(), s);
    }
    ReceivedMessage {
        message_id: message::format_message_id(&msg.message_id),
        receipt_handle: message::make_handle(q.id, t.seq, t.recv),
        md5_of_body: md5_of_body(&msg.body),
        md5_of_attributes: md5_of_attributes(&msg.attributes),
        body: msg.body,
        attributes: a,
        message_attributes: msg.attributes,
    }
}
