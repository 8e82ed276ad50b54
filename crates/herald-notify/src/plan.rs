//! From a change to its events: which notifications want it (planned before
//! the write, so a full persistent destination refuses the write with 503
//! SlowDown, as Ceph does), the renderer the store runs inside the commit
//! (persistent topics and queues: one rendering per destination, written
//! once, see `herald_store::journal`), and the synchronous pushes after it.

use std::sync::Arc;

use bytes::Bytes;
use herald_model::event::EventType;
use herald_model::notification::{SizeRange, TargetKind};
use herald_model::record::{self, EventRecordInput, RecordFlavor};
use herald_store::{DeleteOutcome, EventEntry, EventRenderer, PutOptions, StagedChange, StoreError, WriteOutcome};
use time::OffsetDateTime;

use crate::Notifier;
use crate::metrics::TopicCounters;
use crate::topic::TopicRuntime;

mod change;
mod forward;
mod sync_push;
pub use change::{Change, Origin};
pub use forward::{ForwardError, Forwarded};
pub(crate) use sync_push::push_rendered;
use sync_push::push_sync;

/// Why planning refused a change: the S3 request then fails with this.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("the notification queue of topic {0} is full; retry later")]
    SlowDown(String),
}

/// Why a write with notifications failed.
#[derive(Debug, thiserror::Error)]
pub enum PutError {
    #[error(transparent)]
    Notify(#[from] NotifyError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A change on its way through the notifier: the notifications it will
/// reach and what is known about it before the commit.
pub struct Pending {
    plan: Plan,
    change: Change,
    origin: Origin,
}

impl Pending {
    /// No notification wants this change.
    pub fn none() -> Pending {
        Pending {
            plan: Plan::default(),
            change: Change::new(EventType::ObjectCreatedPut, ""),
            origin: Origin::default(),
        }
    }
}

/// What the commit decided, for rendering records: the store's own view
/// of a staged change (sequence number, reported version id, and for
/// writes the new version's size and ETag; deletes report the
/// [`Change`]'s).
pub type Committed<'a> = StagedChange<'a>;

/// The notifications a change will go to, worked out before the write.
#[derive(Default)]
pub struct Plan {
    targets: Vec<Routed<Arc<TopicRuntime>>>,
    queues: Vec<Routed<QueueTarget>>,
    /// A read's places in its destinations' queues, held until its events
    /// are committed (see [`ReadSlots`]).
    read_slots: ReadSlots,
}

/// Read events planned for each log and not yet committed. A log counts
/// its entries only when a group commit settles, so without these many
/// reads in one commit window would all see the same count and together
/// overshoot the half-full mark that keeps readers from filling a queue.
pub(crate) type ReadsInFlight = Arc<std::sync::Mutex<std::collections::HashMap<String, u64>>>;

/// The logs one read holds a place in; given back when dropped.
#[derive(Default)]
struct ReadSlots {
    in_flight: Option<ReadsInFlight>,
    logs: Vec<String>,
}

impl Drop for ReadSlots {
    fn drop(&mut self) {
        let Some(in_flight) = &self.in_flight else { return };
        let mut map = in_flight.lock().expect("reads in flight");
        for log in &self.logs {
            if let Some(n) = map.get_mut(log) {
                *n -= 1;
                if *n == 0 {
                    map.remove(log);
                }
            }
        }
    }
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.targets.is_empty() && self.queues.is_empty()
    }
}

/// One destination of a change: the configuration that chose it and the
/// event name that configuration selected.
#[derive(Clone)]
struct Routed<T> {
    config_id: String,
    event: EventType,
    /// The configuration's size rule, decided once the size is committed.
    size: SizeRange,
    to: T,
}

impl<T> Routed<T> {
    fn to(target: &herald_model::MatchedTarget<'_>, to: T) -> Routed<T> {
        Routed {
            config_id: target.id.to_owned(),
            event: target.event,
            size: target.size,
            to,
        }
    }

    /// Whether the committed change passes the configuration's size rule
    /// (the size its record reports).
    fn admits(&self, change: &Change, committed: &Committed<'_>) -> bool {
        self.size.admits(committed.size.unwrap_or(change.size))
    }
}

/// A built-in queue named by a QueueConfiguration.
#[derive(Clone)]
struct QueueTarget {
    arn: String,
    counters: TopicCounters,
}

/// Queue messages carry the AWS record flavour, as S3 sends to SQS.
const QUEUE_FLAVOR: RecordFlavor = RecordFlavor::Aws;

/// Where records are rendered: the server's region and host id.
pub(crate) struct Site {
    pub(crate) region: String,
    pub(crate) host_id: String,
    pub(crate) compat: herald_model::Compat,
}

/// How one destination wants its record.
struct Target<'a> {
    config_id: &'a str,
    event: EventType,
    opaque: &'a str,
    flavor: RecordFlavor,
    /// A bare record (a line of a batch file), not `{"Records":[...]}`.
    bare: bool,
}

impl<'a> Target<'a> {
    fn topic(route: &'a Routed<Arc<TopicRuntime>>) -> Target<'a> {
        let topic = &route.to;
        Target {
            config_id: &route.config_id,
            event: route.event,
            opaque: &topic.opaque,
            flavor: topic.flavor,
            // A batch file holds one bare record per line.
            bare: topic.batch.is_some(),
        }
    }

    fn queue(config_id: &'a str, event: EventType) -> Target<'a> {
        Target {
            config_id,
            event,
            opaque: "",
            flavor: QUEUE_FLAVOR,
            bare: false,
        }
    }
}

impl Notifier {
    /// The notifications a change will reach. Fails when a persistent
    /// topic it would enqueue into is full, so the write is refused before
    /// anything changes. `batch_writer` leaves out batch topics (see
    /// [`Origin::batch_writer`]). `admit_when_full` plans a change that
    /// already happened elsewhere (gateway mode): its events are taken even
    /// over the limits, since refusing can no longer undo the change.
    fn plan(
        &self,
        bucket: &str,
        change: &Change,
        batch_writer: bool,
        admit_when_full: bool,
    ) -> Result<Plan, NotifyError> {
        let Some(cfg) = self.config(bucket) else {
            return Ok(Plan::default());
        };
        let mut plan = Plan::default();
        // A read's events never refuse anything: a destination filled to
        // half its limits takes no more of them (they are lost, counted),
        // so readers, anonymous ones included, can never fill a queue to
        // the point where the writes that publish to it get SlowDown.
        let read = change.event.explicit_only();
        let mut slots = ReadSlots {
            in_flight: read.then(|| self.reads_in_flight.clone()),
            logs: Vec::new(),
        };
        let mut read_refused = |log: &str, counters: &TopicCounters| {
            let Some(in_flight) = slots.in_flight.clone() else {
                return false;
            };
            // Checked and counted under one lock: reads planned at once
            // see each other.
            let mut map = in_flight.lock().expect("reads in flight");
            let coming = map.get(log).copied().unwrap_or(0);
            let refused = self.log.is_filled_to(log, coming, 1, 2);
            if refused {
                tracing::debug!(bucket, destination = log, "read event dropped: the queue is half full");
                // It matched (triggered) and was never delivered (lost).
                counters.triggered();
                counters.lost(1);
            } else {
                *map.entry(log.to_owned()).or_default() += 1;
                slots.logs.push(log.to_owned());
            }
            refused
        };
        let matched = if self.site.compat.is_ceph() {
            cfg.matching_each_name(change.event, change.alias, &change.facts())
        } else {
            cfg.matching_either(change.event, change.alias, &change.facts())
        };
        for target in matched {
            if target.kind == TargetKind::Queue {
                if let Some(q) = self.queue_target(bucket, target.arn) {
                    if read_refused(&q.arn, &q.counters) {
                        continue;
                    }
                    // Events wait in the log until the queue takes them:
                    // bounded like a persistent topic's.
                    if !admit_when_full && self.log.is_full(&q.arn) {
                        return Err(NotifyError::SlowDown(q.arn.clone()));
                    }
                    plan.queues.push(Routed::to(&target, q));
                }
                continue;
            }
            let Some(topic) = self.topic(target.arn) else {
                tracing::warn!(bucket, arn = target.arn, "notification refers to a deleted topic");
                continue;
            };
            if batch_writer && topic.batch.is_some() {
                continue;
            }
            if !self.topic_accepts(&topic, bucket) {
                tracing::warn!(
                    bucket,
                    arn = target.arn,
                    "the topic's policy does not let this bucket publish; event not sent"
                );
                continue;
            }
            if topic.persistent && read_refused(topic.log_name(), &topic.counters) {
                continue;
            }
            if !admit_when_full && topic.persistent && !self.relay_keeps_up(&topic) {
                return Err(NotifyError::SlowDown(topic.record.name.clone()));
            }
            plan.targets.push(Routed::to(&target, topic));
        }
        plan.read_slots = slots;
        Ok(plan)
    }

    /// Whether a persistent topic takes more events: its queue in the
    /// delivery log has room and, in cluster mode, its relay reaches the
    /// shared stream (events must not pile up where only this node could
    /// deliver them).
    fn relay_keeps_up(&self, topic: &TopicRuntime) -> bool {
        !self.log.is_full(topic.log_name())
            && self
                .shared_log
                .as_ref()
                .is_none_or(|shared| shared.healthy(&topic.record.arn))
    }

    /// The queue a QueueConfiguration names, if it exists and takes this
    /// bucket's events (another user's queue only while its policy says so:
    /// a revoked grant stops them).
    fn queue_target(&self, bucket: &str, arn: &str) -> Option<QueueTarget> {
        let Some(q) = self.queue_info(arn) else {
            tracing::warn!(bucket, arn, "notification refers to a deleted queue");
            return None;
        };
        if !self.queue_accepts(&q, bucket) {
            tracing::warn!(
                bucket,
                arn,
                "the queue's policy no longer lets this bucket send to it; event not queued"
            );
            return None;
        }
        // A queue re-created since its worker stopped gets one again.
        self.ensure_queue_worker(&q.arn);
        Some(QueueTarget {
            arn: q.arn.clone(),
            counters: self.metrics.for_topic(&q.owner, &q.name),
        })
    }

    /// Works out which notifications a change will reach, before it is
    /// written (refusing with SlowDown when a persistent queue is full).
    pub(crate) fn prepare(&self, bucket: &str, change: Change, origin: &Origin) -> Result<Pending, NotifyError> {
        if !self.has_config(bucket) {
            return Ok(Pending::none());
        }
        let plan = self.plan(bucket, &change, origin.batch_writer, false)?;
        Ok(Pending {
            plan,
            change,
            origin: origin.clone(),
        })
    }

    /// Renders the events committed with a prepared change (persistent
    /// topics and queues), for the store's write options: the store calls
    /// it inside the transaction that commits the change and writes what it
    /// renders into the delivery log in the same group commit (see
    /// `herald_store::journal`). `None` when no persistent destination is
    /// involved.
    pub(crate) fn event_renderer(&self, p: &Pending) -> Option<EventRenderer> {
        let targets: Vec<Routed<Arc<TopicRuntime>>> =
            p.plan.targets.iter().filter(|r| r.to.persistent).cloned().collect();
        let queues: Vec<Routed<String>> = p
            .plan
            .queues
            .iter()
            .map(|r| Routed {
                config_id: r.config_id.clone(),
                event: r.event,
                size: r.size,
                to: r.to.arn.clone(),
            })
            .collect();
        if targets.is_empty() && queues.is_empty() {
            return None;
        }
        let (change, origin, site) = (p.change.clone(), p.origin.clone(), self.site.clone());
        Some(Box::new(move |staged: &StagedChange<'_>| {
            let now = OffsetDateTime::now_utc();
            let facts = (&change, &origin, staged);
            let key = format!("{}/{}", staged.bucket.name, change.key);
            let to_topics = targets
                .iter()
                .filter(|route| route.admits(&change, staged))
                .map(|route| EventEntry {
                    log: route.to.log_name().to_owned(),
                    key: key.clone(),
                    payload: render(&site, facts, &Target::topic(route), now),
                });
            let to_queues = queues
                .iter()
                .filter(|route| route.admits(&change, staged))
                .map(|route| EventEntry {
                    log: route.to.clone(),
                    key: key.clone(),
                    payload: render(&site, facts, &Target::queue(&route.config_id, route.event), now),
                });
            to_topics.chain(to_queues).collect()
        }))
    }

    /// After the commit of a prepared change: counts the events and pushes
    /// to the synchronous topics (the request waits for those pushes,
    /// bounded by their timeout; their failures never fail the request).
    pub(crate) async fn finish(&self, p: Pending, committed: &Committed<'_>) {
        let pushes = self.count_and_render_sync(&p, committed);
        let key = &p.change.key;
        futures::future::join_all(pushes.into_iter().map(|(topic, body)| push_sync(topic, body, key))).await;
    }

    /// Counts a committed change's events and renders its record for each
    /// synchronous topic (persistent ones got theirs in the commit).
    fn count_and_render_sync(&self, p: &Pending, committed: &Committed<'_>) -> Vec<(Arc<TopicRuntime>, Bytes)> {
        let now = OffsetDateTime::now_utc();
        for q in p.plan.queues.iter().filter(|q| q.admits(&p.change, committed)) {
            q.to.counters.triggered();
        }
        let mut sync = Vec::new();
        for route in p.plan.targets.iter().filter(|r| r.admits(&p.change, committed)) {
            route.to.counters.triggered();
            if !route.to.persistent {
                let facts = (&p.change, &p.origin, committed);
                let body = Bytes::from(render(&self.site, facts, &Target::topic(route), now));
                sync.push((route.to.clone(), body));
            }
        }
        sync
    }

    /// Writes an object and notifies about it exactly as PutObject does:
    /// plan (may refuse with SlowDown), events committed with the object,
    /// synchronous pushes after. `opts.writer` is the principal; the
    /// caller's `opts.events` is replaced.
    pub async fn put_object<S, E>(
        &self,
        bucket: &str,
        key: &str,
        body: S,
        opts: PutOptions,
        origin: &Origin,
    ) -> Result<WriteOutcome, PutError>
    where
        S: futures::Stream<Item = Result<Bytes, E>> + Send + Unpin,
        E: std::fmt::Display,
    {
        self.write_object(
            Change::new(EventType::ObjectCreatedPut, key),
            bucket,
            body,
            opts,
            origin,
        )
        .await
    }

    /// [`Notifier::put_object`] for writes that S3 reports as another
    /// event (`ObjectCreated:Post` for browser form uploads); `change`
    /// names the event and the key (metadata and tags come from `opts`).
    pub async fn write_object<S, E>(
        &self,
        mut change: Change,
        bucket: &str,
        body: S,
        mut opts: PutOptions,
        origin: &Origin,
    ) -> Result<WriteOutcome, PutError>
    where
        S: futures::Stream<Item = Result<Bytes, E>> + Send + Unpin,
        E: std::fmt::Display,
    {
        change.metadata = opts.meta.user_pairs();
        change.tags = opts.tags.clone();
        change.content_type = opts.meta.content_type.clone();
        let key = change.key.clone();
        self.write_with_events(bucket, Some(change), origin, |events| {
            opts.events = events;
            self.store.put_object(bucket, &key, body, opts)
        })
        .await
    }

    /// The one write path of every change that has events (PUT, copy,
    /// deletes, tagging, multipart, the batch writer's own objects): plans
    /// the change's events (refusing with SlowDown before anything is
    /// written when a persistent destination is full), lets `write` do the
    /// store write with the renderer (the events commit with the change, in
    /// its group commit), then pushes to synchronous topics and counts.
    /// `change` is `None` when the bucket has no notification
    /// configuration (so callers skip the lookups a change needs).
    pub async fn write_with_events<T, F, Fut>(
        &self,
        bucket: &str,
        change: Option<Change>,
        origin: &Origin,
        write: F,
    ) -> Result<T, PutError>
    where
        T: CommittedWrite,
        F: FnOnce(Option<EventRenderer>) -> Fut,
        Fut: std::future::Future<Output = Result<T, StoreError>>,
    {
        let tailed = change.as_ref().filter(|_| self.tail_watches(bucket)).cloned();
        let pending = match change {
            Some(change) => self.prepare(bucket, change, origin)?,
            None => Pending::none(),
        };
        let outcome = write(self.event_renderer(&pending)).await?;
        if let Some(committed) = outcome.committed() {
            if let Some(change) = &tailed {
                self.publish_to_tail(change, origin, &committed);
            }
            self.finish(pending, &committed).await;
        }
        Ok(outcome)
    }

    /// Hands a committed change to the live tail, rendered (once, only if
    /// a watcher wants it) as a MinIO-style `{"Records":[...]}` line in
    /// AWS's record flavour.
    fn publish_to_tail(&self, change: &Change, origin: &Origin, committed: &Committed<'_>) {
        let target = Target {
            config_id: "",
            event: change.event,
            opaque: "",
            flavor: RecordFlavor::Aws,
            bare: false,
        };
        let now = OffsetDateTime::now_utc();
        self.tail.publish(committed.bucket, change.event, &change.key, || {
            render(&self.site, (change, origin, committed), &target, now)
        });
    }
}

/// The version a read returned, for its `s3:ObjectAccessed:*` records.
pub struct ReadVersion<'a> {
    pub bucket: &'a herald_store::BucketRecord,
    /// The version's own sequence number: the record's sequencer.
    pub seq: u64,
    /// As S3 reports it (empty on a bucket that never had versioning).
    pub version_id: &'a str,
    pub size: u64,
    pub etag: &'a str,
}

impl Notifier {
    /// Sends the events of a successful read (MinIO's
    /// `s3:ObjectAccessed:Get|Head`) to the configurations that name them.
    /// Nothing is written for a read, so the events of persistent
    /// destinations are committed on their own (in the next group commit,
    /// with other requests' changes) before the read is answered: once the
    /// client has its answer, the event survives a crash, as for writes.
    /// A read never fails nor waits for its events' pushes: a queue filled
    /// to half its limits takes no read events (see `plan`), a failed
    /// commit loses them (logged, counted in `pubsub_event_lost`), and
    /// pushes to synchronous topics run detached (at most
    /// [`MAX_READ_PUSHES`] at once; beyond, the event is lost and counted).
    pub async fn notify_read(&self, change: Change, origin: &Origin, read: ReadVersion<'_>) {
        let bucket = read.bucket.name.as_str();
        let committed = Committed {
            bucket: read.bucket,
            seq: read.seq,
            version_id: read.version_id,
            size: Some(read.size),
            etag: Some(read.etag),
        };
        if self.tail_watches(bucket) {
            self.publish_to_tail(&change, origin, &committed);
        }
        let pending = match self.prepare(bucket, change, origin) {
            Ok(p) if !p.plan.is_empty() => p,
            Ok(_) => return,
            // Reads are never refused (see `plan`); kept for completeness.
            Err(NotifyError::SlowDown(destination)) => {
                tracing::warn!(bucket, %destination, "read event dropped: the destination's queue is full");
                self.metrics
                    .total
                    .event_lost
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                return;
            }
        };
        if let Some(render) = self.event_renderer(&pending)
            && let Err(e) = self.store.write_events(render(&committed)).await
        {
            tracing::warn!(bucket, error = %e, "read events lost: cannot commit them");
            // Counted per destination, as every other loss is.
            let (change, committed) = (&pending.change, &committed);
            for q in pending.plan.queues.iter().filter(|q| q.admits(change, committed)) {
                q.to.counters.lost(1);
            }
            for t in pending
                .plan
                .targets
                .iter()
                .filter(|t| t.to.persistent && t.admits(change, committed))
            {
                t.to.counters.lost(1);
            }
        }
        for (topic, body) in self.count_and_render_sync(&pending, &committed) {
            let Some(owner_slot) = OwnerSlot::take(&self.read_pushes_by_owner, &topic.record.owner) else {
                tracing::debug!(topic = %topic.record.name, "read event dropped: the owner's read pushes are all in flight");
                topic.counters.lost(1);
                continue;
            };
            let Ok(permit) = self.read_pushes.clone().try_acquire_owned() else {
                tracing::debug!(topic = %topic.record.name, "read event dropped: too many read pushes in flight");
                topic.counters.lost(1);
                continue;
            };
            let key = pending.change.key.clone();
            tokio::spawn(async move {
                let _held = (permit, owner_slot);
                push_sync(topic, body, &key).await;
            });
        }
    }
}

/// Most pushes of read events to synchronous topics in flight at once.
pub const MAX_READ_PUSHES: usize = 1024;
/// Most of them for the topics of one owner: a tenant whose endpoint
/// answers slowly (or never, until its push-timeout) holds at most a
/// quarter, and the others' read events still go out.
pub const MAX_READ_PUSHES_PER_OWNER: usize = MAX_READ_PUSHES / 4;

/// Read pushes in flight per topic owner.
pub(crate) type ReadPushesByOwner = Arc<std::sync::Mutex<std::collections::HashMap<String, usize>>>;

/// One owner's place among the read pushes in flight; given back when dropped.
struct OwnerSlot {
    map: ReadPushesByOwner,
    owner: String,
}

impl OwnerSlot {
    /// A place for `owner`, unless it holds [`MAX_READ_PUSHES_PER_OWNER`].
    fn take(map: &ReadPushesByOwner, owner: &str) -> Option<OwnerSlot> {
        let mut m = map.lock().expect("read pushes by owner");
        let n = m.entry(owner.to_owned()).or_default();
        if *n >= MAX_READ_PUSHES_PER_OWNER {
            return None;
        }
        *n += 1;
        Some(OwnerSlot {
            map: map.clone(),
            owner: owner.to_owned(),
        })
    }
}

impl Drop for OwnerSlot {
    fn drop(&mut self) {
        let mut m = self.map.lock().expect("read pushes by owner");
        if let Some(n) = m.get_mut(&self.owner) {
            *n -= 1;
            if *n == 0 {
                m.remove(&self.owner);
            }
        }
    }
}

/// A store write's outcome, as the events of the change see it.
pub trait CommittedWrite {
    /// What was committed, or `None` when nothing changed (no events).
    fn committed(&self) -> Option<Committed<'_>>;
}

impl CommittedWrite for WriteOutcome {
    fn committed(&self) -> Option<Committed<'_>> {
        Some(Committed {
            bucket: &self.bucket,
            seq: self.version.seq,
            version_id: self.bucket.versioning.reported(&self.version.version_id),
            size: Some(self.version.size),
            etag: Some(self.version.etag.as_str()),
        })
    }
}

impl CommittedWrite for DeleteOutcome {
    fn committed(&self) -> Option<Committed<'_>> {
        self.changed.then(|| Committed {
            bucket: &self.bucket,
            seq: self.seq,
            version_id: self
                .bucket
                .versioning
                .reported(self.version_id.as_deref().unwrap_or("")),
            size: None,
            etag: None,
        })
    }
}

impl CommittedWrite for herald_store::AbortOutcome {
    fn committed(&self) -> Option<Committed<'_>> {
        Some(Committed {
            bucket: &self.bucket,
            seq: self.seq,
            version_id: "",
            size: Some(self.size),
            etag: None,
        })
    }
}

/// Renders one change's record for one destination.
fn render(site: &Site, facts: (&Change, &Origin, &Committed<'_>), target: &Target<'_>, now: OffsetDateTime) -> Vec<u8> {
    let (change, origin, c) = facts;
    let event_id = record::event_id(now, c.seq);
    let input = EventRecordInput {
        event: target.event,
        event_time: now,
        region: &site.region,
        principal: &origin.principal,
        source_ip: &origin.source_ip,
        request_id: &origin.request_id,
        host_id: &site.host_id,
        configuration_id: target.config_id,
        bucket: &c.bucket.name,
        bucket_owner: &c.bucket.owner,
        bucket_arn_region: if site.compat.is_ceph() { &site.region } else { "" },
        bucket_id: &c.bucket.id,
        key: &change.key,
        size: c.size.unwrap_or(change.size),
        etag: c.etag.unwrap_or(&change.etag),
        version_id: c.version_id,
        sequencer: c.seq,
        metadata: &change.metadata,
        tags: &change.tags,
        event_id: &event_id,
        opaque_data: target.opaque,
    };
    if target.bare {
        record::render_record(&input, target.flavor)
    } else {
        record::render_records(&[input], target.flavor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_owner_holds_at_most_its_share_of_read_pushes() {
        let map = ReadPushesByOwner::default();
        let held: Vec<OwnerSlot> = (0..MAX_READ_PUSHES_PER_OWNER)
            .map(|_| OwnerSlot::take(&map, "tarpit").expect("a place"))
            .collect();
        assert!(OwnerSlot::take(&map, "tarpit").is_none(), "over the owner's share");
        let other = OwnerSlot::take(&map, "someone-else");
        assert!(other.is_some(), "another owner still gets a place");
        drop(held);
        assert!(OwnerSlot::take(&map, "tarpit").is_some(), "places come back");
        drop(other);
        assert!(
            map.lock().unwrap().is_empty(),
            "nothing left behind: {:?}",
            map.lock().unwrap()
        );
    }
}
