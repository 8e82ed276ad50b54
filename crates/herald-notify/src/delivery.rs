//! Delivery workers: one per persistent topic, draining its queue in the
//! delivery log.
//!
//! A worker leases due entries (the log keeps per-key order: a key's next
//! event is leased only after the previous one is settled), pushes them
//! concurrently through the topic's *current* endpoint (so a changed
//! endpoint applies to events already queued), and settles each: ack on
//! success; on failure, drop as lost when `time_to_live` or `max_retries`
//! is exhausted, else retry after `retry_sleep_duration`. One topic's
//! worker never waits for another's endpoint.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant, SystemTime};

use herald_log::Lease;
use tokio::sync::Semaphore;

use super::Notifier;
use super::dead_letter::{FirstAttempts, GiveUp, Reason, give_up, give_up_reason};
use super::topic::TopicRuntime;

/// Pushes in flight per topic, unless its endpoint asks for more
/// ([`herald_endpoints::Endpoint::in_flight`]).
const CONCURRENCY: usize = 64;
/// Shortest pause of a topic's worker after its endpoint was unreachable
/// (`retry_sleep_duration` 0 must not mean a busy loop).
const MIN_HOLD: Duration = Duration::from_millis(200);
/// How long an idle worker sleeps before looking again (appends and due
/// retries wake it earlier).
const IDLE_WAIT: Duration = Duration::from_secs(1);

/// A topic's worker and what it does.
struct Worker {
    kind: Kind,
    /// The topic's creation time, for shared workers (which serve one
    /// incarnation of a topic: see `shared_log`); 0 for the others.
    incarnation: i64,
    handle: tokio::task::JoinHandle<()>,
}

/// What a topic's worker does with its events.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Pushes them from the local delivery log.
    Push,
    /// Writes them into batch files.
    Batch,
    /// Cluster mode: relays them into the topic's shared stream and
    /// pushes from there (see [`super::shared_log`]).
    Shared,
    /// Moves them into a built-in queue.
    Queue,
}

#[derive(Default)]
pub struct Workers {
    handles: Mutex<HashMap<String, Worker>>,
}

impl Workers {
    /// Starts the worker of a topic's queue unless the right kind runs
    /// already. When a topic switches between pushing and batch files the
    /// old worker notices by itself and stops (a batch worker first gives
    /// back the events it holds); the new one starts after it.
    pub fn ensure(&self, notifier: &Arc<Notifier>, name: &str) {
        let topic = notifier.topic(name);
        let kind = match (&topic, &notifier.shared_log) {
            (Some(t), _) if t.batch.is_some() => Kind::Batch,
            (Some(t), Some(_)) if t.persistent => Kind::Shared,
            _ => Kind::Push,
        };
        let incarnation = match (kind, &topic) {
            (Kind::Shared, Some(t)) => t.record.created_ms,
            _ => 0,
        };
        let mut handles = self.handles.lock().expect("workers lock");
        if handles
            .get(name)
            .is_some_and(|w| w.kind == kind && w.incarnation == incarnation && !w.handle.is_finished())
        {
            return;
        }
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return; // no runtime (offline CLI use): nothing to deliver
        };
        let previous = handles.remove(name).map(|w| {
            // A shared worker of an older incarnation serves a stream
            // that is gone: it stops now rather than when it notices.
            if w.kind == Kind::Shared && w.incarnation != incarnation {
                w.handle.abort();
            }
            w.handle
        });
        let (weak, owned) = (Arc::downgrade(notifier), name.to_owned());
        let shared = notifier.shared_log.clone();
        let handle = rt.spawn(async move {
            if let Some(h) = previous {
                let _ = h.await;
            }
            match (kind, shared) {
                (Kind::Batch, _) => super::batch::run(weak, owned).await,
                (Kind::Shared, Some(shared)) => super::shared_log::run(weak, shared, owned).await,
                _ => run(weak, owned).await,
            }
        });
        handles.insert(
            name.to_owned(),
            Worker {
                kind,
                incarnation,
                handle,
            },
        );
    }

    /// Starts the worker that moves a built-in queue's events into it
    /// (see [`super::to_queue`]) unless it runs already.
    pub fn ensure_queue(&self, notifier: Weak<Notifier>, arn: &str) {
        let mut handles = self.handles.lock().expect("workers lock");
        if handles.get(arn).is_some_and(|w| !w.handle.is_finished()) {
            return;
        }
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let handle = rt.spawn(super::to_queue::run(notifier, arn.to_owned()));
        handles.insert(
            arn.to_owned(),
            Worker {
                kind: Kind::Queue,
                incarnation: 0,
                handle,
            },
        );
    }

    /// Whether a worker for `name` runs (the check on every queue event:
    /// one uncontended lock).
    pub fn has(&self, name: &str) -> bool {
        self.handles
            .lock()
            .expect("workers lock")
            .get(name)
            .is_some_and(|w| !w.handle.is_finished())
    }

    pub fn stop(&self, name: &str) {
        if let Some(w) = self.handles.lock().expect("workers lock").remove(name) {
            w.handle.abort();
        }
    }

    /// Waits for every batch worker to finish (they stop at shutdown after
    /// writing their files).
    pub async fn join_batch(&self) {
        let handles: Vec<tokio::task::JoinHandle<()>> = {
            let mut map = self.handles.lock().expect("workers lock");
            let names: Vec<String> = map
                .iter()
                .filter(|(_, w)| w.kind == Kind::Batch)
                .map(|(n, _)| n.clone())
                .collect();
            names.iter().filter_map(|n| map.remove(n)).map(|w| w.handle).collect()
        };
        for h in handles {
            let _ = h.await;
        }
    }
}

async fn run(notifier: Weak<Notifier>, name: String) {
    let first_attempts: Arc<FirstAttempts> = Arc::default();
    let permits = Arc::new(Semaphore::new(CONCURRENCY));
    let mut max_in_flight = CONCURRENCY;
    let held_until: Arc<Mutex<Option<Instant>>> = Arc::default();
    loop {
        let Some(n) = notifier.upgrade() else { return };
        let Some(topic) = n.topic(&name) else { return };
        if topic.batch.is_some() || (topic.persistent && n.shared_log.is_some()) {
            tracing::debug!(topic = %topic.record.name, "now a batch or shared topic: the push worker stops");
            return;
        }
        let log = n.log.clone();
        drop(n);
        let endpoint = match (&topic.endpoint, topic.is_active()) {
            (Ok(e), true) => e.clone(),
            _ => {
                // No usable endpoint or subscription not confirmed: events
                // wait in the log until the topic is fixed.
                log.write_acks(&name);
                tokio::time::sleep(IDLE_WAIT).await;
                continue;
            }
        };
        // The endpoint was unreachable a moment ago: wait instead of cycling
        // every pending event through a failing push (which would cost the
        // whole backlog a lease and a retry per `retry_sleep_duration`).
        let hold = *held_until.lock().expect("hold lock");
        if let Some(until) = hold
            && let Some(wait) = until.checked_duration_since(Instant::now())
        {
            // In slices, so a changed topic (new endpoint, now a batch
            // topic, deleted) is noticed within IDLE_WAIT even while held.
            log.write_acks(&name);
            tokio::time::sleep(wait.min(IDLE_WAIT)).await;
            continue;
        }
        // An endpoint that wants more pushes in flight gets them (the
        // worker's permits only ever grow).
        if endpoint.in_flight() > max_in_flight {
            permits.add_permits(endpoint.in_flight() - max_in_flight);
            max_in_flight = endpoint.in_flight();
        }
        let first = match permits.clone().acquire_owned().await {
            Ok(p) => p,
            Err(_) => return,
        };
        let room = permits.available_permits() + 1;
        let leases = log.lease(&name, room);
        if leases.is_empty() {
            drop(first);
            log.wait_ready(&name, IDLE_WAIT).await;
            continue;
        }
        let mut first = Some(first);
        for lease in leases {
            let permit = match first.take() {
                Some(p) => p,
                None => match permits.clone().acquire_owned().await {
                    Ok(p) => p,
                    Err(_) => return,
                },
            };
            let (log, topic, endpoint, held_until, first_attempts, notifier) = (
                log.clone(),
                topic.clone(),
                endpoint.clone(),
                held_until.clone(),
                first_attempts.clone(),
                notifier.clone(),
            );
            tokio::spawn(async move {
                let _permit = permit;
                let attempt = Attempt {
                    notifier: &notifier,
                    log: &log,
                    topic: &topic,
                    first_attempts: &first_attempts,
                };
                if topic.ttl.is_some_and(|ttl| lease.enqueued + ttl < SystemTime::now()) {
                    tracing::warn!(topic = %topic.record.name, key = %lease.key, "event expired (time_to_live) before delivery");
                    let why = GiveUp {
                        reason: Reason::TimeToLive,
                        attempts: lease.attempts,
                        last_error: None,
                        last_attempt: None,
                    };
                    return give_up(&notifier, &log, &topic, &lease, &first_attempts, why).await;
                }
                attempt.push(&*endpoint, &lease, &held_until).await;
            });
        }
    }
}

/// One push of a leased event and its settlement.
struct Attempt<'a> {
    notifier: &'a Weak<Notifier>,
    log: &'a herald_log::DeliveryLog,
    topic: &'a TopicRuntime,
    first_attempts: &'a FirstAttempts,
}

impl Attempt<'_> {
    /// Pushes, then settles: ack on success; on failure retry later, or
    /// give up (dead-letter queue or lost) when `time_to_live` or
    /// `max_retries` is exhausted, or, with a dead-letter queue, when the
    /// endpoint refused the event for good.
    async fn push(
        &self,
        endpoint: &dyn herald_endpoints::Endpoint,
        lease: &Lease,
        held_until: &Mutex<Option<Instant>>,
    ) {
        let (topic, log, name) = (self.topic, self.log, self.topic.log_name());
        topic.counters.pending(1);
        // The log keys events by `bucket/key`; brokers that carry a message
        // key (Kafka) get the object key.
        let object_key = lease.key.split_once('/').map_or(lease.key.as_str(), |(_, k)| k);
        let started = SystemTime::now();
        let result = endpoint.push_keyed(&lease.payload, object_key).await;
        topic.counters.pending(-1);
        let e = match result {
            Ok(()) => {
                *held_until.lock().expect("hold lock") = None;
                topic.counters.ok();
                self.first_attempts.settle(lease.id);
                log.ack(name, &[lease.id]);
                return;
            }
            Err(e) => e,
        };
        if e.is_unreachable() {
            let until = Instant::now() + topic.retry_sleep.max(MIN_HOLD);
            *held_until.lock().expect("hold lock") = Some(until);
        }
        topic.counters.fail(&e);
        let attempts = lease.attempts + 1;
        match give_up_reason(topic, lease.enqueued, attempts, &e) {
            Some(reason) => {
                let why = GiveUp {
                    reason,
                    attempts,
                    last_error: Some(e.to_string()),
                    last_attempt: Some(started),
                };
                give_up(self.notifier, log, topic, lease, self.first_attempts, why).await;
            }
            None => {
                tracing::debug!(topic = %topic.record.name, attempts, error = %e, "push failed; will retry");
                // Only a dead letter tells when the first attempt was.
                if topic.dead_letter_queue.is_some() {
                    self.first_attempts.failed(lease.id, started);
                }
                log.retry(name, lease.id, SystemTime::now() + topic.retry_sleep);
            }
        }
    }
}
