//! Cluster mode: each persistent topic's queue is a JetStream stream that
//! every node of the cluster delivers from.
//!
//! Events are still committed first into this node's delivery log, in the
//! same group commit as the change they describe (so an acknowledged
//! write has its event on disk whatever NATS does). A *relay* per topic
//! then moves them into the topic's stream, each with a `Nats-Msg-Id`
//! made of this node's id and the event's id in its log: a relay cut
//! short by a crash publishes the same ids again after the restart, and
//! JetStream's duplicate window drops the copies. An event leaves the
//! local log only once JetStream has acknowledged it.
//!
//! The stream's subjects are `<prefix>.topic.<topic-hash>.<partition>`,
//! the partition a hash of the event's `bucket/key`. Each partition has
//! one durable pull consumer with one event in flight at a time
//! (`max_ack_pending` 1): whichever node pulls it, a key's events are
//! pushed in order, and a node that dies holding one gives it back after
//! the consumer's ack wait. The stream keeps only what is not yet
//! delivered (work-queue retention).

use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime};

use async_nats::jetstream::{self, AckKind, consumer::pull, stream};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures::StreamExt as _;

use super::Notifier;
use super::dead_letter::{GiveUp, GivenUp, Parked, Reason, give_up_reason, park, retry_pause};
use super::topic::TopicRuntime;
use herald_store::TopicRecord;

/// Partitions of each topic's stream: pushes in flight per topic across
/// the cluster (each partition delivers one event at a time to keep its
/// keys' order).
pub const PARTITIONS: u32 = 16;
/// The header carrying an event's object key (base64url).
const KEY_HEADER: &str = "Herald-Key";
/// Events a relay moves per round.
const RELAY_BATCH: usize = 256;
/// How long a node may hold an event without a word before the stream
/// gives it to another node (a node pushing slowly says "in progress").
const ACK_WAIT: Duration = Duration::from_secs(15);
/// How often a node retrying an event in place tells the stream it still
/// holds it.
const PROGRESS_EVERY: Duration = Duration::from_secs(5);
/// Window in which JetStream drops a re-published event id: longer than
/// any restart after a crash between publishing and the local ack.
const DUPLICATE_WINDOW: Duration = Duration::from_secs(600);
/// Shortest wait after a failure (an endpoint down, NATS down) before the
/// next try, so `retry_sleep_duration` 0 is not a busy loop.
const MIN_PAUSE: Duration = Duration::from_millis(200);
/// How long an idle relay sleeps before looking again (appends wake it).
const IDLE_WAIT: Duration = Duration::from_secs(1);
/// What NATS stores per event besides its payload and key (subject,
/// headers, record framing), for the relay's estimate of its stream's size.
const MESSAGE_OVERHEAD: u64 = 160;
/// How often a busy relay asks NATS how many bytes its stream holds.
const FILL_LOOK_EVERY: Duration = Duration::from_secs(1);
/// The default of [`StreamLimits::max_bytes`]: 1 GiB per topic.
pub const DEFAULT_MAX_STREAM_BYTES: u64 = 1 << 30;

/// What every topic's shared stream may take of the cluster's NATS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamLimits {
    /// Copies NATS keeps of each stream (`--cluster-replicas`).
    pub replicas: usize,
    /// Bytes one topic's stream may hold (`--cluster-max-topic-bytes`;
    /// a topic's smaller `queue-max-bytes` applies too). Herald enforces
    /// it, not NATS: a stream's `max_bytes` is set aside from NATS's
    /// storage when the stream is made, so tenants' topics asking for a
    /// lot each would leave no room for anyone else's.
    pub max_bytes: u64,
}

impl Default for StreamLimits {
    fn default() -> Self {
        StreamLimits {
            replicas: 1,
            max_bytes: DEFAULT_MAX_STREAM_BYTES,
        }
    }
}

/// A cluster's JetStream, as the pipeline uses it.
pub struct SharedLog {
    js: jetstream::Context,
    /// The connection, whose state [`SharedLog::healthy`] reads.
    client: async_nats::Client,
    /// Names every stream (`<prefix>-topic-…`) and subject (`<prefix>.…`).
    prefix: String,
    /// This node's id: the first half of every event id it publishes.
    node: String,
    limits: StreamLimits,
    /// Set while the relays cannot publish (NATS down, stream full): the
    /// topic's writes are then refused with SlowDown (see
    /// [`SharedLog::healthy`]).
    unhealthy: std::sync::Mutex<std::collections::HashSet<String>>,
}

impl std::fmt::Debug for SharedLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedLog")
            .field("prefix", &self.prefix)
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

impl SharedLog {
    pub fn new(
        js: jetstream::Context,
        prefix: impl Into<String>,
        node: impl Into<String>,
        limits: StreamLimits,
    ) -> SharedLog {
        SharedLog {
            client: js.client(),
            js,
            prefix: prefix.into(),
            node: node.into(),
            limits,
            unhealthy: Default::default(),
        }
    }

    /// Whether `arn`'s relay can move events into the stream: NATS is
    /// connected and the relay's last round was taken (not while NATS or
    /// the stream refuses). Planning refuses new events for
    /// a topic whose relay is stuck, so nothing piles up on one node
    /// where only it could deliver.
    pub fn healthy(&self, arn: &str) -> bool {
        self.client.connection_state() == async_nats::connection::State::Connected
            && !self.unhealthy.lock().expect("health lock").contains(arn)
    }

    fn set_healthy(&self, arn: &str, ok: bool) {
        let mut set = self.unhealthy.lock().expect("health lock");
        if ok {
            set.remove(arn);
        } else {
            set.insert(arn.to_owned());
        }
    }

    /// The topic's tag in stream and subject names: the first 128 bits of
    /// the SHA-256 of its ARN and creation time (ARNs carry characters
    /// names may not). A cryptographic hash, because a tenant choosing a
    /// topic name whose tag equalled another tenant's topic would share its
    /// stream (and pull its events); the creation time, because a topic
    /// deleted and made again under the same ARN must not get the old
    /// one's stream (or lose its new one to a late deletion of the old).
    fn tag(topic: &TopicRecord) -> String {
        use sha2::Digest as _;
        let mut hash = sha2::Sha256::new();
        hash.update(topic.arn.as_bytes());
        hash.update(b"\n");
        hash.update(topic.created_ms.to_string().as_bytes());
        hash.finalize()[..16].iter().map(|b| format!("{b:02x}")).collect()
    }

    pub fn stream_name(&self, topic: &TopicRecord) -> String {
        stream_name(&self.prefix, topic)
    }

    fn subject(&self, topic: &TopicRecord, partition: u32) -> String {
        format!("{}.topic.{}.{partition}", self.prefix, Self::tag(topic))
    }

    /// The partition of an event keyed `bucket/key`.
    pub fn partition(key: &str) -> u32 {
        (fnv1a(key.as_bytes()) % u64::from(PARTITIONS)) as u32
    }

    async fn stream(&self, topic: &TopicRuntime) -> Result<stream::Stream, String> {
        let arn = &topic.record.arn;
        self.js
            .get_or_create_stream(stream_config(
                &self.prefix,
                self.limits,
                &topic.record,
                topic.max_entries,
            ))
            .await
            .map_err(|e| format!("stream of {arn}: {e}"))
    }

    /// Deletes a deleted topic's stream (and its consumers with it),
    /// trying for a while when NATS does not answer. (Every node does this
    /// when it learns of the deletion; the first one wins.)
    pub async fn remove(&self, topic: &TopicRecord) {
        self.set_healthy(&topic.arn, true);
        let name = self.stream_name(topic);
        for attempt in 1..=10 {
            match self.js.delete_stream(&name).await {
                Ok(_) => {
                    tracing::info!(topic = %topic.arn, "deleted the topic's shared stream");
                    return;
                }
                Err(e) if matches!(e.kind(), jetstream::context::GetStreamErrorKind::JetStream(_)) => {
                    // Answered: most likely gone already (another node).
                    tracing::debug!(topic = %topic.arn, error = %e, "shared stream not deleted (gone already?)");
                    return;
                }
                Err(e) => {
                    tracing::warn!(topic = %topic.arn, attempt, error = %e, "cannot delete the topic's shared stream; will retry");
                    tokio::time::sleep(Duration::from_secs(3)).await;
                }
            }
        }
    }
}

fn stream_name(prefix: &str, topic: &TopicRecord) -> String {
    format!("{prefix}-topic-{}", SharedLog::tag(topic))
}

/// A topic's stream: bounded by count here, and by bytes in the relay
/// (see [`StreamLimits::max_bytes`] for why not here).
fn stream_config(prefix: &str, limits: StreamLimits, topic: &TopicRecord, max_entries: u64) -> stream::Config {
    stream::Config {
        name: stream_name(prefix, topic),
        description: Some(format!("herald topic {}", topic.arn)),
        subjects: vec![format!("{prefix}.topic.{}.*", SharedLog::tag(topic))],
        retention: stream::RetentionPolicy::WorkQueue,
        discard: stream::DiscardPolicy::New,
        max_messages: i64::try_from(max_entries).unwrap_or(i64::MAX),
        duplicate_window: DUPLICATE_WINDOW,
        storage: stream::StorageType::File,
        num_replicas: limits.replicas.max(1),
        ..Default::default()
    }
}

/// 64-bit FNV-1a: stable across nodes and versions (std's hasher is
/// seeded per process), and cheap on short keys.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Runs a persistent push topic's share of the cluster's work on this
/// node: the relay of its local events into the stream, and a puller per
/// partition. Returns when the topic is gone or no longer a persistent
/// push topic.
pub(crate) async fn run(notifier: Weak<Notifier>, shared: Arc<SharedLog>, arn: String) {
    let Some(first) = current(&notifier, &arn, None) else {
        return;
    };
    // This worker serves this incarnation of the topic only: one deleted
    // and made again under the ARN gets a worker (and a stream) of its own.
    let created_ms = Some(first.record.created_ms);
    let stream = loop {
        let Some(topic) = current(&notifier, &arn, created_ms) else {
            return;
        };
        match shared.stream(&topic).await {
            Ok(s) => {
                shared.set_healthy(&arn, true);
                break s;
            }
            Err(e) => {
                tracing::warn!(topic = %arn, error = %e, "cannot open the topic's shared stream; will retry");
                shared.set_healthy(&arn, false);
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    };
    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(relay(
        notifier.clone(),
        shared.clone(),
        stream.clone(),
        arn.clone(),
        created_ms,
    ));
    for partition in 0..PARTITIONS {
        tasks.spawn(pull(
            notifier.clone(),
            shared.clone(),
            stream.clone(),
            (arn.clone(), created_ms),
            partition,
        ));
    }
    // Any task ending means the topic went away or changed kind: the
    // others stop with the set.
    tasks.join_next().await;
}

/// The topic as it is now, if it is still a persistent push topic (and,
/// given `created_ms`, the same incarnation).
fn current(notifier: &Weak<Notifier>, arn: &str, created_ms: Option<i64>) -> Option<Arc<TopicRuntime>> {
    let topic = notifier.upgrade()?.topic(arn)?;
    let same = created_ms.is_none_or(|c| c == topic.record.created_ms);
    (same && topic.persistent && topic.batch.is_none()).then_some(topic)
}

/// How full a topic's stream is, as its relay on this node sees it: the
/// bytes NATS reported at the last look plus what this relay has
/// published since. Other nodes' relays publish too, so the stream may
/// pass the bound by what each node publishes between two looks (about
/// one second's worth).
#[derive(Debug)]
struct Fill {
    max_bytes: u64,
    reported: u64,
    published: u64,
    looked: Option<std::time::Instant>,
}

impl Fill {
    fn new(max_bytes: u64) -> Fill {
        Fill {
            max_bytes,
            reported: 0,
            published: 0,
            looked: None,
        }
    }

    fn full(&self) -> bool {
        self.reported.saturating_add(self.published) >= self.max_bytes
    }

    /// Whether to ask NATS again: every [`FILL_LOOK_EVERY`], and at once
    /// when the estimate says full (the pullers may have drained it).
    fn due(&self) -> bool {
        self.looked
            .is_none_or(|at| at.elapsed() >= FILL_LOOK_EVERY || (self.full() && at.elapsed() >= MIN_PAUSE))
    }

    fn reported(&mut self, bytes: u64) {
        self.reported = bytes;
        self.published = 0;
        self.looked = Some(std::time::Instant::now());
    }
}

/// Asks NATS how many bytes the topic's stream holds. A stream that cannot
/// be read (deleted by hand, lost by NATS) is made again, empty.
async fn look(shared: &SharedLog, topic: &TopicRuntime, stream: &mut stream::Stream, fill: &mut Fill) {
    match stream.info().await {
        Ok(info) => fill.reported(info.state.bytes),
        Err(e) => match shared.stream(topic).await {
            Ok(made) => {
                fill.reported(made.cached_info().state.bytes);
                *stream = made;
            }
            Err(again) => {
                tracing::debug!(topic = %topic.record.arn, error = %e, again = %again, "cannot read the shared stream's size");
            }
        },
    }
}

/// Moves this node's committed events of the topic into its stream.
async fn relay(
    notifier: Weak<Notifier>,
    shared: Arc<SharedLog>,
    mut stream: stream::Stream,
    arn: String,
    created_ms: Option<i64>,
) {
    let mut fill = Fill::new(shared.limits.max_bytes);
    loop {
        let Some(n) = notifier.upgrade() else { return };
        let log = n.log.clone();
        drop(n);
        let Some(topic) = current(&notifier, &arn, created_ms) else {
            return;
        };
        fill.max_bytes = shared.limits.max_bytes.min(topic.max_bytes);
        // While the stream is full, nothing is taken from the log (the
        // events stay as they are, no attempt counted): look again every
        // MIN_PAUSE until the pullers have made room.
        if fill.full() {
            if fill.due() {
                look(&shared, &topic, &mut stream, &mut fill).await;
            }
            if fill.full() {
                shared.set_healthy(&arn, false);
                tokio::time::sleep(MIN_PAUSE).await;
                continue;
            }
        }
        let leases = log.lease(&arn, RELAY_BATCH);
        if leases.is_empty() {
            // Nothing to move: nothing is stuck either (a topic refused
            // after a failure must not stay refused while its log is empty).
            shared.set_healthy(&arn, true);
            log.wait_ready(&arn, IDLE_WAIT).await;
            continue;
        }
        if fill.due() {
            look(&shared, &topic, &mut stream, &mut fill).await;
        }
        // Pipelined, in any order: the log leases one entry per key at a
        // time, so a round never holds two events of one key (a failed one
        // goes back to the log before the key's next is leased). Events
        // beyond the byte bound go back to the log.
        let mut sent = Vec::with_capacity(leases.len());
        let mut over = Vec::new();
        for lease in &leases {
            if fill.full() {
                over.push(lease.id);
                continue;
            }
            // The log keys events by `bucket/key`; brokers that carry a
            // message key (Kafka) get the object key, which a header
            // carries (encoded: keys may hold any character).
            let object_key = lease.key.split_once('/').map_or(lease.key.as_str(), |(_, k)| k);
            let publish = jetstream::message::PublishMessage::build()
                .payload(lease.payload.clone())
                .message_id(format!("{}-{}", shared.node, lease.id))
                .header(KEY_HEADER, URL_SAFE_NO_PAD.encode(object_key).as_str());
            let subject = shared.subject(&topic.record, SharedLog::partition(&lease.key));
            fill.published += (lease.payload.len() + lease.key.len()) as u64 + MESSAGE_OVERHEAD;
            sent.push((lease.id, shared.js.send_publish(subject, publish).await));
        }
        // Not an attempt: they were never offered to the stream.
        log.release(&arn, &over);
        if !over.is_empty() && shared.healthy(&arn) {
            tracing::warn!(topic = %arn, bytes = fill.reported, max_bytes = fill.max_bytes, "the topic's shared stream is full; its writes are refused until it drains");
        }
        let (mut done, mut failed) = (Vec::new(), None);
        for (id, ack) in sent {
            let acked = match ack {
                Ok(future) => future.await.map(|_| ()).map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            match acked {
                Ok(()) => done.push(id),
                Err(e) => {
                    log.retry(&arn, id, SystemTime::now() + MIN_PAUSE);
                    failed = Some(e);
                }
            }
        }
        log.ack(&arn, &done);
        shared.set_healthy(&arn, failed.is_none() && !fill.full());
        if let Some(e) = failed {
            tracing::warn!(topic = %arn, error = %e, moved = done.len(), "cannot move events into the shared stream; will retry");
            tokio::time::sleep(Duration::from_secs(1)).await;
            // The stream may be gone (deleted by hand): make it again.
            if let Err(e) = shared.stream(&topic).await {
                tracing::debug!(topic = %arn, error = %e, "shared stream not reachable");
            }
        }
    }
}

/// Pulls one partition's events, one at a time, and pushes each.
async fn pull(
    notifier: Weak<Notifier>,
    shared: Arc<SharedLog>,
    stream: stream::Stream,
    (arn, created_ms): (String, Option<i64>),
    partition: u32,
) {
    let Some(topic) = current(&notifier, &arn, created_ms) else {
        return;
    };
    let name = format!("p{partition}");
    let config = pull::Config {
        durable_name: Some(name.clone()),
        filter_subject: shared.subject(&topic.record, partition),
        ack_policy: jetstream::consumer::AckPolicy::Explicit,
        ack_wait: ACK_WAIT,
        max_ack_pending: 1,
        max_deliver: -1,
        ..Default::default()
    };
    loop {
        if current(&notifier, &arn, created_ms).is_none() {
            return;
        }
        let messages = match stream.get_or_create_consumer(&name, config.clone()).await {
            Ok(c) => c.messages().await.map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        let mut messages = match messages {
            Ok(m) => m,
            Err(e) => {
                tracing::debug!(topic = %arn, partition, error = %e, "cannot pull from the shared stream; will retry");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        while let Some(message) = messages.next().await {
            let Ok(message) = message else { break };
            if !deliver(&notifier, &topic.record, message).await {
                return;
            }
        }
    }
}

/// Pushes one event until it is delivered or given up on, holding it
/// (with "in progress" words to the stream) meanwhile: the partition's
/// next event waits, which keeps each key's order. Each attempt uses the
/// topic as it is then (a fixed endpoint applies to the event retried).
/// Returns false when the topic is gone or is no longer a persistent push
/// topic of this incarnation: the event goes back to the stream.
async fn deliver(notifier: &Weak<Notifier>, incarnation: &TopicRecord, message: jetstream::Message) -> bool {
    let (earlier_deliveries, enqueued) = match message.info() {
        Ok(info) => (
            u32::try_from(info.delivered.saturating_sub(1)).unwrap_or(u32::MAX),
            SystemTime::from(info.published),
        ),
        Err(_) => (0, SystemTime::now()),
    };
    let key = object_key(&message);
    let mut attempts = earlier_deliveries;
    let mut first_attempt = None;
    let mut last_progress = std::time::Instant::now();
    loop {
        let topic = match current(notifier, &incarnation.arn, Some(incarnation.created_ms)) {
            Some(t) => t,
            _ => {
                settle(&message, AckKind::Nak(None)).await;
                return false;
            }
        };
        let topic = &*topic;
        let endpoint = match (&topic.endpoint, topic.is_active()) {
            (Ok(e), true) => Some(e.clone()),
            _ => None,
        };
        let started = SystemTime::now();
        let why = if topic.ttl.is_some_and(|ttl| enqueued + ttl < started) {
            Some(GiveUp {
                reason: Reason::TimeToLive,
                attempts,
                last_error: None,
                last_attempt: None,
            })
        } else if let Some(endpoint) = endpoint {
            topic.counters.pending(1);
            let result = push_holding(&message, &*endpoint, &key).await;
            topic.counters.pending(-1);
            match result {
                Ok(()) => {
                    topic.counters.ok();
                    settle(&message, AckKind::Ack).await;
                    return true;
                }
                Err(e) => {
                    topic.counters.fail(&e);
                    attempts += 1;
                    first_attempt.get_or_insert(started);
                    give_up_reason(topic, enqueued, attempts, &e).map(|reason| GiveUp {
                        reason,
                        attempts,
                        last_error: Some(e.to_string()),
                        last_attempt: Some(started),
                    })
                }
            }
        } else {
            None // no usable endpoint yet: the event waits
        };
        let pause = match why {
            Some(why) => {
                let event = GivenUp {
                    key: &key,
                    payload: &message.payload,
                    enqueued,
                    first_attempt,
                };
                match park(notifier, topic, &event, &why).await {
                    Parked::Settled => {
                        settle(&message, AckKind::Ack).await;
                        return true;
                    }
                    Parked::TryLater => retry_pause(topic),
                    Parked::ShuttingDown => return false,
                }
            }
            None => topic.retry_sleep.max(MIN_PAUSE),
        };
        if last_progress.elapsed() + pause >= PROGRESS_EVERY || pause >= PROGRESS_EVERY {
            settle(&message, AckKind::Progress).await;
            last_progress = std::time::Instant::now();
        }
        sleep_holding(&message, pause, &mut last_progress).await;
        if notifier.strong_count() == 0 {
            return false;
        }
    }
}

/// Pushes, telling the stream every [`PROGRESS_EVERY`] that the event is
/// still held (a slow endpoint must not make the stream give the event to
/// another node meanwhile).
async fn push_holding(
    message: &jetstream::Message,
    endpoint: &dyn herald_endpoints::Endpoint,
    key: &str,
) -> Result<(), herald_endpoints::PushError> {
    let push = endpoint.push_keyed(&message.payload, key);
    tokio::pin!(push);
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + PROGRESS_EVERY, PROGRESS_EVERY);
    loop {
        tokio::select! {
            result = &mut push => return result,
            _ = ticks.tick() => settle(message, AckKind::Progress).await,
        }
    }
}

/// Sleeps `pause`, telling the stream every [`PROGRESS_EVERY`] that the
/// event is still held.
async fn sleep_holding(message: &jetstream::Message, pause: Duration, last_progress: &mut std::time::Instant) {
    let until = tokio::time::Instant::now() + pause;
    loop {
        let left = until.saturating_duration_since(tokio::time::Instant::now());
        if left.is_zero() {
            return;
        }
        tokio::time::sleep(left.min(PROGRESS_EVERY / 2)).await;
        if last_progress.elapsed() >= PROGRESS_EVERY / 2 {
            settle(message, AckKind::Progress).await;
            *last_progress = std::time::Instant::now();
        }
    }
}

async fn settle(message: &jetstream::Message, kind: AckKind) {
    if let Err(e) = message.ack_with(kind).await {
        // The event comes back after the ack wait (delivered twice, with
        // the same event id): nothing is lost.
        tracing::warn!(error = %e, "cannot settle an event with the shared stream");
    }
}

/// The object key the relay put in the event's header.
fn object_key(message: &jetstream::Message) -> String {
    message
        .headers
        .as_ref()
        .and_then(|h| h.get(KEY_HEADER))
        .and_then(|v| URL_SAFE_NO_PAD.decode(v.as_str()).ok())
        .map(|raw| String::from_utf8_lossy(&raw).into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topic(arn: &str, created_ms: i64) -> TopicRecord {
        serde_json::from_value(serde_json::json!({
            "owner": "alice", "name": "events", "arn": arn, "attributes": {},
            "endpoint_args": "", "created_ms": created_ms, "updated_ms": created_ms,
            "subscription": "confirmed"
        }))
        .expect("a topic record")
    }

    #[test]
    fn topic_tags_are_long_hashes_of_the_arn_and_its_creation() {
        let a = SharedLog::tag(&topic("arn:aws:sns:us-east-1:alice:events", 1));
        assert_eq!(a.len(), 32);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, SharedLog::tag(&topic("arn:aws:sns:us-east-1:bob:events", 1)));
        assert_ne!(
            a,
            SharedLog::tag(&topic("arn:aws:sns:us-east-1:alice:events", 2)),
            "a topic made again gets a stream of its own"
        );
        assert_eq!(
            a,
            SharedLog::tag(&topic("arn:aws:sns:us-east-1:alice:events", 1)),
            "stable"
        );
    }

    #[test]
    fn streams_are_replicated_and_bounded_by_count_only() {
        let limits = StreamLimits {
            replicas: 3,
            max_bytes: 1 << 20,
        };
        let record = topic("arn:aws:sns:us-east-1:alice:events", 1);
        let config = stream_config("herald", limits, &record, 500);
        assert_eq!(config.num_replicas, 3, "--cluster-replicas applies to topic streams");
        assert_eq!(config.max_messages, 500);
        assert_eq!(
            config.max_bytes, 0,
            "no byte limit (0: none) and so no reservation in NATS"
        );
        assert_eq!(
            config.discard,
            stream::DiscardPolicy::New,
            "a full stream refuses, never drops"
        );
        assert!(config.name.starts_with("herald-topic-"));
        assert_eq!(config.subjects, [format!("herald.topic.{}.*", SharedLog::tag(&record))]);
        assert_eq!(
            stream_config("h", StreamLimits::default(), &record, u64::MAX).max_messages,
            i64::MAX
        );
    }

    #[test]
    fn the_fill_counts_what_was_published_since_the_last_look() {
        let mut fill = Fill::new(1000);
        assert!(fill.due(), "a first look before the first round");
        fill.reported(600);
        assert!(!fill.full() && !fill.due());
        fill.published += 399;
        assert!(!fill.full());
        fill.published += 1;
        assert!(fill.full(), "reported + published reaches the bound");
        fill.reported(10);
        assert!(!fill.full(), "drained by the pullers");
        assert_eq!(fill.published, 0);
        fill.reported(u64::MAX);
        fill.published = 5;
        assert!(fill.full(), "no overflow");
    }

    #[test]
    fn partitions_are_stable_and_spread() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c, "FNV-1a's published value");
        let mut seen = std::collections::HashSet::new();
        for i in 0..1000 {
            let p = SharedLog::partition(&format!("bucket/key-{i}"));
            assert!(p < PARTITIONS);
            seen.insert(p);
        }
        assert_eq!(seen.len(), PARTITIONS as usize, "every partition gets keys");
    }
}
