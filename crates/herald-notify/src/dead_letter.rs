//! Dead letters: an event a persistent topic gives up on (its
//! `time_to_live` passed, its `max_retries` are spent, or the endpoint
//! refused it for good) goes to the topic's `dead-letter-queue`, one of the
//! owner's own SQS queues, instead of being dropped. The queue message is
//! the event itself; its message attributes say why.
//!
//! Moving is idempotent as the queue events' move is: the queue recognises
//! a body it stored within five minutes, so a move cut short by a crash
//! (stored, not yet dropped from the log) leaves one copy. A queue that
//! cannot store right now keeps the event in the log, and the move is
//! tried again after the topic's `retry_sleep_duration`; a queue that is
//! gone (or no longer the owner's), or refuses the message (too large),
//! loses the event, logged and counted in `pubsub_event_lost`.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, Weak};
use std::time::{Duration, SystemTime};

use herald_log::{DeliveryLog, Lease};
use herald_queue::{MessageAttributeValue, QueueError};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::Notifier;
use super::topic::TopicRuntime;

/// Longest `LastError` attribute (characters); longer errors are cut.
const MAX_ERROR_CHARS: usize = 1024;
/// Most first-attempt times one topic's worker remembers (a backlog of
/// failing events must not grow memory without bound; beyond, an event's
/// dead letter carries no `FirstAttemptTime`).
const MAX_TRACKED: usize = 100_000;
/// Shortest pause before parking is tried again after the queue could not
/// store.
const MIN_PARK_RETRY: Duration = Duration::from_secs(1);

/// Why an event was given up on (the `Reason` attribute).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reason {
    TimeToLive,
    MaxRetries,
    /// The endpoint refused the event for good (HTTP 4xx but 408, 425, 429).
    Refused,
}

impl Reason {
    fn as_str(self) -> &'static str {
        match self {
            Reason::TimeToLive => "time-to-live",
            Reason::MaxRetries => "max-retries",
            Reason::Refused => "refused",
        }
    }
}

/// When each failing event was first tried, kept by the topic's worker
/// while the event waits for its next attempt. In memory: after a restart
/// the first attempt of an event that failed before it is unknown.
#[derive(Default)]
pub(crate) struct FirstAttempts {
    at: Mutex<HashMap<u64, SystemTime>>,
}

impl FirstAttempts {
    /// The attempt started at `at` failed (only the first is kept).
    pub(crate) fn failed(&self, id: u64, at: SystemTime) {
        let mut map = self.at.lock().expect("first attempts");
        if map.len() < MAX_TRACKED || map.contains_key(&id) {
            map.entry(id).or_insert(at);
        }
    }

    /// The event is settled: forget it, giving its first attempt.
    pub(crate) fn settle(&self, id: u64) -> Option<SystemTime> {
        self.at.lock().expect("first attempts").remove(&id)
    }
}

/// Why a topic gives up on an event after a failed push (its
/// `attempts`-th), if it does: `time_to_live` passed, `max_retries` spent,
/// or (with a dead-letter queue) the endpoint refused it for good.
pub(crate) fn give_up_reason(
    topic: &TopicRuntime,
    enqueued: SystemTime,
    attempts: u32,
    error: &herald_endpoints::PushError,
) -> Option<Reason> {
    if topic.ttl.is_some_and(|ttl| enqueued + ttl < SystemTime::now()) {
        Some(Reason::TimeToLive)
    } else if topic.max_retries > 0 && attempts > topic.max_retries {
        Some(Reason::MaxRetries)
    } else if topic.dead_letter_queue.is_some() && error.is_permanent() {
        Some(Reason::Refused)
    } else {
        None
    }
}

/// What is known about the attempts on an event given up on.
pub(crate) struct GiveUp {
    pub(crate) reason: Reason,
    pub(crate) attempts: u32,
    pub(crate) last_error: Option<String>,
    /// When the last attempt started (`None`: it was never tried).
    pub(crate) last_attempt: Option<SystemTime>,
}

/// Settles an event the topic gives up on: parked in the topic's
/// dead-letter queue, or dropped and counted lost when it has none (or the
/// queue is gone or refuses it); left in the log for another try when the
/// queue cannot store it now.
pub(crate) async fn give_up(
    notifier: &Weak<Notifier>,
    log: &DeliveryLog,
    topic: &TopicRuntime,
    lease: &Lease,
    first_attempts: &FirstAttempts,
    why: GiveUp,
) {
    let name = topic.log_name();
    let first_attempt = first_attempts.settle(lease.id);
    let event = GivenUp {
        key: &lease.key,
        payload: &lease.payload,
        enqueued: lease.enqueued,
        first_attempt,
    };
    match park(notifier, topic, &event, &why).await {
        Parked::Settled => log.drop_entries(name, &[lease.id]),
        Parked::TryLater => {
            if let Some(first) = first_attempt {
                first_attempts.failed(lease.id, first);
            }
            log.retry(name, lease.id, SystemTime::now() + retry_pause(topic));
        }
        Parked::ShuttingDown => {}
    }
}

/// An event given up on, wherever it waited (the delivery log, or a
/// cluster's shared stream).
pub(crate) struct GivenUp<'a> {
    pub(crate) key: &'a str,
    pub(crate) payload: &'a [u8],
    pub(crate) enqueued: SystemTime,
    pub(crate) first_attempt: Option<SystemTime>,
}

/// What became of an event given up on.
pub(crate) enum Parked {
    /// In the dead-letter queue, or lost (logged and counted): the event
    /// leaves where it waited.
    Settled,
    /// The queue cannot store it now: try again after
    /// [`retry_pause`].
    TryLater,
    /// Shutting down: the event stays where it waited, neither parked nor
    /// lost.
    ShuttingDown,
}

/// How long an event whose parking failed waits before the next try.
pub(crate) fn retry_pause(topic: &TopicRuntime) -> Duration {
    topic.retry_sleep.max(MIN_PARK_RETRY)
}

/// Parks an event the topic gives up on in its dead-letter queue, or
/// counts it lost.
pub(crate) async fn park(notifier: &Weak<Notifier>, topic: &TopicRuntime, event: &GivenUp<'_>, why: &GiveUp) -> Parked {
    let Some(queue_arn) = topic.dead_letter_queue.as_deref() else {
        tracing::warn!(topic = %topic.record.name, key = %event.key, attempts = why.attempts,
            reason = why.reason.as_str(), error = why.last_error.as_deref().unwrap_or(""), "event lost: given up on");
        topic.counters.lost(1);
        return Parked::Settled;
    };
    let Some(n) = notifier.upgrade() else {
        return Parked::ShuttingDown;
    };
    let target = n
        .queues
        .clone()
        .zip(n.queue_info(queue_arn))
        .filter(|(_, q)| q.owner == topic.record.owner);
    drop(n);
    let Some((engine, queue)) = target else {
        tracing::warn!(topic = %topic.record.name, queue = %queue_arn, "dead-letter queue gone (or not the topic owner's): event lost");
        topic.counters.lost(1);
        return Parked::Settled;
    };
    let body = String::from_utf8_lossy(event.payload).into_owned();
    let attributes = attributes(topic, event.enqueued, why, event.first_attempt);
    let stored = engine
        .send_dead_letters(&queue.owner, &queue.name, vec![(body, attributes)])
        .await
        .map(|mut r| {
            r.pop()
                .unwrap_or_else(|| Err(QueueError::Io(std::io::Error::other("no answer"))))
        });
    match stored {
        Ok(Ok(_)) => {
            tracing::info!(topic = %topic.record.name, queue = %queue_arn, reason = why.reason.as_str(), "event parked in the dead-letter queue");
            topic.counters.dead_lettered(1);
            Parked::Settled
        }
        Ok(Err(QueueError::Io(e))) | Err(QueueError::Io(e)) => {
            tracing::error!(topic = %topic.record.name, queue = %queue_arn, error = %e, "cannot park the event now; will try again");
            Parked::TryLater
        }
        Ok(Err(e)) | Err(e) => {
            tracing::warn!(topic = %topic.record.name, queue = %queue_arn, error = %e, "the dead-letter queue refused the event: lost");
            topic.counters.lost(1);
            Parked::Settled
        }
    }
}

/// The dead letter's message attributes.
fn attributes(
    topic: &TopicRuntime,
    enqueued: SystemTime,
    why: &GiveUp,
    first_attempt: Option<SystemTime>,
) -> BTreeMap<String, MessageAttributeValue> {
    let string = |v: String| MessageAttributeValue {
        data_type: "String".into(),
        string_value: Some(v),
        binary_value: None,
    };
    let mut out = BTreeMap::from([
        ("TopicArn".to_owned(), string(topic.record.arn.clone())),
        ("Reason".to_owned(), string(why.reason.as_str().to_owned())),
        (
            "Attempts".to_owned(),
            MessageAttributeValue {
                data_type: "Number".into(),
                string_value: Some(why.attempts.to_string()),
                binary_value: None,
            },
        ),
        ("EnqueuedTime".to_owned(), string(rfc3339(enqueued))),
    ]);
    if let Some(e) = why.last_error.as_deref().map(printable).filter(|e| !e.is_empty()) {
        out.insert("LastError".to_owned(), string(e));
    }
    // The first attempt is the last when there was only one.
    let first = first_attempt.or(why.last_attempt.filter(|_| why.attempts <= 1));
    if let Some(t) = first {
        out.insert("FirstAttemptTime".to_owned(), string(rfc3339(t)));
    }
    if let Some(t) = why.last_attempt {
        out.insert("LastAttemptTime".to_owned(), string(rfc3339(t)));
    }
    out
}

pub(crate) fn rfc3339(t: SystemTime) -> String {
    OffsetDateTime::from(t).format(&Rfc3339).unwrap_or_default()
}

/// An error as an attribute value: control characters (which SQS refuses)
/// become spaces, and it is cut to [`MAX_ERROR_CHARS`].
fn printable(e: &str) -> String {
    e.chars()
        .take(MAX_ERROR_CHARS)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_attempts_keep_the_first_and_are_bounded() {
        let f = FirstAttempts::default();
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(10);
        f.failed(1, t0);
        f.failed(1, t0 + Duration::from_secs(5));
        assert_eq!(f.settle(1), Some(t0), "the first attempt stays");
        assert_eq!(f.settle(1), None, "settled once");
        for id in 0..MAX_TRACKED as u64 + 10 {
            f.failed(id, t0);
        }
        assert_eq!(f.at.lock().unwrap().len(), MAX_TRACKED);
    }

    #[test]
    fn errors_become_printable_attribute_values() {
        assert_eq!(printable("a\r\nb\u{0}c "), "a  b c");
        assert_eq!(printable(&"x".repeat(5000)).len(), MAX_ERROR_CHARS);
    }
}
