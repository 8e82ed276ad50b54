//! The notifier: turns object changes into S3 event records and gets them
//! to the right topics.
//!
//! For each change the S3 handlers ask [`Notifier::plan`] which
//! notifications want it (before writing, so a full persistent queue can
//! refuse the write with 503 SlowDown, as Ceph does), write the object, and
//! hand the result to [`Notifier::dispatch`]: persistent topics get the
//! record appended to the durable delivery log (the S3 response waits for
//! that group commit), synchronous topics get it pushed inline, bounded by
//! the endpoint timeout. Background workers ([`delivery`]) drain the log;
//! topics with a `batch://` endpoint are drained by a [`batch`] worker that
//! writes files instead.

pub mod batch;
pub mod delivery;
mod journal;
pub mod metrics;
mod to_queue;
pub mod topic;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use bytes::Bytes;
use herald_log::{DeliveryLog, Limits};
use herald_model::event::EventType;
use herald_model::notification::{self, NotificationConfiguration, TargetKind};
use herald_model::record::{self, EventRecordInput};
use herald_model::versioning::VersioningState;
use herald_store::{
    BucketRecord, EventEntry, EventRenderer, PutOptions, StagedChange, Store, StoreError, TopicRecord, WriteOutcome,
};
use time::OffsetDateTime;

use metrics::PubsubMetrics;
use topic::TopicRuntime;

/// Why dispatching failed: the S3 request then fails with this.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("the notification queue of topic {0} is full; retry later")]
    SlowDown(String),
}

/// What the S3 handler knows about a change before committing it. The
/// sequence number and version id come from the commit; the size and ETag
/// too for writes (deletes and multipart starts give them here).
#[derive(Clone)]
pub struct ChangeFacts {
    pub event: EventType,
    pub key: String,
    pub size: u64,
    pub etag: String,
    pub metadata: Vec<(String, String)>,
    pub tags: Vec<(String, String)>,
    pub principal: String,
    pub source_ip: String,
    pub request_id: String,
}

/// Who caused a change, for its event records.
#[derive(Clone, Default)]
pub struct Origin {
    pub principal: String,
    pub source_ip: String,
    pub request_id: String,
    /// The change is a file written by a batch topic's worker. Such changes
    /// never feed any batch topic: a batch bucket whose notifications reach
    /// a batch topic would otherwise batch its own files forever (directly,
    /// or around a cycle of topics). Every other destination gets them.
    pub batch_writer: bool,
}

/// A change on its way through the notifier: the notifications it will
/// reach and what is known about it before the commit.
pub struct Pending {
    plan: Plan,
    facts: ChangeFacts,
}

impl Pending {
    /// No notification wants this change.
    pub fn none() -> Pending {
        Pending {
            plan: Plan::default(),
            facts: ChangeFacts {
                event: EventType::ObjectCreatedPut,
                key: String::new(),
                size: 0,
                etag: String::new(),
                metadata: Vec::new(),
                tags: Vec::new(),
                principal: String::new(),
                source_ip: String::new(),
                request_id: String::new(),
            },
        }
    }
}

/// Why a write with notifications failed.
#[derive(Debug, thiserror::Error)]
pub enum PutError {
    #[error(transparent)]
    Notify(#[from] NotifyError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What the commit decided, for rendering records.
struct Committed<'a> {
    bucket: &'a BucketRecord,
    seq: u64,
    version_id: &'a str,
    size: u64,
    etag: &'a str,
}

/// The notifications a change will go to, worked out before the write.
#[derive(Default)]
pub struct Plan {
    targets: Vec<(String, Arc<TopicRuntime>)>,
    queues: Vec<(String, QueueTarget)>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.targets.is_empty() && self.queues.is_empty()
    }
}

/// A built-in queue named by a QueueConfiguration.
#[derive(Clone)]
struct QueueTarget {
    arn: String,
    counters: metrics::TopicCounters,
}

/// Queue messages carry the AWS record flavour, as S3 sends to SQS.
const QUEUE_FLAVOR: record::RecordFlavor = record::RecordFlavor::Aws;

pub struct Notifier {
    store: Store,
    log: DeliveryLog,
    region: String,
    host_id: String,
    /// bucket -> parsed configuration (only buckets that have one).
    configs: RwLock<HashMap<String, Arc<NotificationConfiguration>>>,
    /// bucket -> owner, for the buckets events were planned for (whose
    /// destinations must accept that owner's events); dropped with the
    /// bucket's configuration (a deleted bucket's name may come back).
    bucket_owners: RwLock<HashMap<String, Arc<str>>>,
    /// topic ARN -> runtime topic.
    topics: RwLock<HashMap<String, Arc<TopicRuntime>>>,
    pub metrics: Arc<PubsubMetrics>,
    workers: delivery::Workers,
    /// The built-in queue service, for QueueConfigurations.
    queues: Option<herald_queue::QueueEngine>,
    /// Set at shutdown: batch workers flush what they have and stop.
    stopping: tokio::sync::watch::Sender<bool>,
    /// Set once events an earlier version left in the store's outbox table
    /// are in the delivery log: batch workers then write what the previous
    /// run left at once.
    recovered: tokio::sync::watch::Sender<bool>,
    /// The operator's outbound policy, which every endpoint is built under.
    policy: Arc<herald_endpoints::EndpointPolicy>,
}

impl Notifier {
    /// Loads every topic and configuration and starts a delivery worker for
    /// each persistent topic (and for queues left by deleted topics, which
    /// are dropped). Nothing here connects anywhere: a topic whose endpoint
    /// cannot be built (a refused `ca-location`, an address the `policy`
    /// refuses) is logged, shows the reason in GetTopicAttributes
    /// (`InstallError`), and keeps its events until it is fixed.
    pub fn start(
        store: Store,
        log: DeliveryLog,
        queues: Option<herald_queue::QueueEngine>,
        region: String,
        policy: Arc<herald_endpoints::EndpointPolicy>,
    ) -> Result<Arc<Notifier>, StoreError> {
        // Events of a group commit that never committed are above their
        // log's committed mark: drop them before anything reads the log.
        let (marks, journal_used) = store.journal_marks()?;
        let dropped = log.discard_uncommitted(&marks, journal_used);
        if dropped > 0 {
            tracing::warn!(
                dropped,
                "dropped events whose changes were never committed (crash during a commit)"
            );
        }
        store.set_journal(Arc::new(journal::LogJournal::new(log.clone())));
        let n = Arc::new(Notifier {
            store: store.clone(),
            log,
            host_id: format!("herald-{region}"),
            region,
            configs: RwLock::new(HashMap::new()),
            bucket_owners: RwLock::new(HashMap::new()),
            topics: RwLock::new(HashMap::new()),
            metrics: Arc::new(PubsubMetrics::default()),
            workers: delivery::Workers::default(),
            queues,
            stopping: tokio::sync::watch::Sender::new(false),
            recovered: tokio::sync::watch::Sender::new(false),
            policy,
        });
        for (bucket, bytes) in store.all_notification_configs()? {
            match notification::deserialize_json(&bytes) {
                Ok(cfg) => {
                    n.configs.write().expect("configs lock").insert(bucket, Arc::new(cfg));
                }
                Err(e) => tracing::error!(%bucket, error = %e, "unreadable notification configuration"),
            }
        }
        for record in store.list_topics(None)? {
            let pending = record.subscription == "pending";
            let arn = record.arn.clone();
            n.install_topic(record);
            if pending && tokio::runtime::Handle::try_current().is_ok() {
                n.start_handshake(arn);
            }
        }
        let known: std::collections::HashSet<String> = n.topics.read().expect("topics lock").keys().cloned().collect();
        let orphans = n
            .log
            .topics()
            .into_iter()
            .filter(|t| !known.contains(t) && !is_queue_arn(t));
        for orphan in orphans {
            tracing::warn!(topic = %orphan, "dropping queued events of a deleted topic");
            n.log.remove_topic(&orphan);
        }
        n.start_queue_transfers();
        n.finish_recovery();
        Ok(n)
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    pub fn log(&self) -> &DeliveryLog {
        &self.log
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The operator's outbound policy.
    pub fn policy(&self) -> &Arc<herald_endpoints::EndpointPolicy> {
        &self.policy
    }

    /// [`Notifier::install_topic`] on a blocking thread: building an
    /// endpoint may read a `ca-location` file, which never happens on the
    /// async threads once the server is up.
    pub async fn install_topic_blocking(self: &Arc<Self>, record: TopicRecord) -> Arc<TopicRuntime> {
        let n = self.clone();
        let fallback = record.clone();
        match tokio::task::spawn_blocking(move || n.install_topic(record)).await {
            Ok(rt) => rt,
            Err(_) => self.install_topic(fallback),
        }
    }

    /// Makes a stored topic live (new or changed) and starts its worker.
    pub fn install_topic(self: &Arc<Self>, record: TopicRecord) -> Arc<TopicRuntime> {
        let counters = self.metrics.for_topic(&record.owner, &record.name);
        let mut rt = TopicRuntime::new(record, counters, &self.policy);
        if let Some(endpoint) = self.queue_endpoint(&rt.record) {
            rt.endpoint = endpoint;
        }
        if let Some(spec) = batch::BatchSpec::from_attributes(&rt.record.attributes) {
            // Batch events always wait in the delivery log until their file
            // is written, whatever `persistent` says.
            rt.persistent = true;
            rt.endpoint = Err("a batch topic has no push endpoint: its worker writes files".to_owned());
            rt.batch = Some(spec);
        }
        if let Some(reason) = install_error(&rt) {
            tracing::warn!(topic = %rt.record.arn, %reason, "topic endpoint not installed; its events wait until it is fixed");
        }
        let rt = Arc::new(rt);
        self.log.set_limits(
            rt.log_name(),
            Limits {
                max_entries: rt.max_entries,
                max_bytes: rt.max_bytes,
            },
        );
        self.topics
            .write()
            .expect("topics lock")
            .insert(rt.record.arn.clone(), rt.clone());
        self.workers.ensure(self, rt.log_name());
        rt
    }

    /// Why `record` may not write batch files where it asks to, if it may
    /// not: a `batch://` topic writes only into a bucket of its owner (a
    /// missing bucket and another tenant's get the same answer, so nothing
    /// tells a tenant that a bucket exists), and not where another of the
    /// owner's topics writes already (the two would write files of the same
    /// names). Only the owner's own topics are compared: another tenant's
    /// topic can neither block this one nor be named to its owner.
    pub fn batch_target_taken(&self, record: &TopicRecord) -> Option<String> {
        let spec = batch::BatchSpec::from_attributes(&record.attributes)?;
        let ep = record.attributes.get("push-endpoint").map_or("", String::as_str);
        let owned = matches!(self.store.get_bucket(&spec.bucket), Ok(Some(b)) if b.owner == record.owner);
        if !owned {
            return Some(format!(
                "push-endpoint {ep}: {} is not one of your buckets (batch files go only into your own buckets)",
                spec.bucket
            ));
        }
        let topics = self.topics.read().expect("topics lock");
        topics
            .values()
            .find(|t| {
                t.record.arn != record.arn
                    && t.record.owner == record.owner
                    && t.batch
                        .as_ref()
                        .is_some_and(|b| b.bucket == spec.bucket && b.prefix == spec.prefix)
            })
            .map(|t| {
                format!(
                    "your topic {} already writes batch files to {ep}; use another bucket or prefix",
                    t.record.arn
                )
            })
    }

    /// Runs the webhook subscription handshake of a topic in the
    /// background and records the outcome (`confirmed` or `failed: ...`).
    /// Until it is confirmed the topic pushes nothing: persistent events
    /// wait in its queue, synchronous ones count as failed.
    pub fn start_handshake(self: &Arc<Self>, arn: String) {
        let n = self.clone();
        tokio::spawn(async move {
            let Some(topic) = n.topic(&arn) else { return };
            let outcome = match &topic.http {
                None => "failed: the handshake needs an http(s) push-endpoint".to_owned(),
                Some(http) => {
                    let token: String = {
                        use rand::Rng;
                        let mut rng = rand::rng();
                        (0..48)
                            .map(|_| {
                                let i = rng.random_range(0..62u8);
                                (match i {
                                    0..=9 => b'0' + i,
                                    10..=35 => b'a' + i - 10,
                                    _ => b'A' + i - 36,
                                }) as char
                            })
                            .collect()
                    };
                    match herald_endpoints::handshake::confirm(http, &arn, &token).await {
                        Ok(()) => "confirmed".to_owned(),
                        Err(e) => format!("failed: {e}"),
                    }
                }
            };
            tracing::info!(topic = %arn, status = %outcome, "subscription handshake finished");
            let (owner, name) = (topic.record.owner.clone(), topic.record.name.clone());
            match n.store.get_topic(&owner, &name) {
                Ok(Some(mut rec)) if rec.arn == arn && rec.subscription == "pending" => {
                    rec.subscription = outcome;
                    if let Err(e) = n.store.put_topic(rec.clone()).await {
                        tracing::error!(topic = %arn, error = %e, "cannot record the handshake outcome");
                        return;
                    }
                    n.install_topic_blocking(rec).await;
                }
                _ => {} // changed or deleted meanwhile: the newer state wins
            }
        });
    }

    /// Forgets a deleted topic and its queued events.
    /// (The store forgot the log's committed mark with the topic.)
    pub fn remove_topic(&self, arn: &str) {
        self.topics.write().expect("topics lock").remove(arn);
        self.workers.stop(arn);
        self.log.remove_topic(arn);
    }

    /// Starts the workers that move events into built-in queues: for the
    /// queues with events left in the log, and those configurations name.
    fn start_queue_transfers(self: &Arc<Self>) {
        let mut arns: Vec<String> = self.log.topics().into_iter().filter(|t| is_queue_arn(t)).collect();
        for cfg in self.configs.read().expect("configs lock").values() {
            arns.extend(cfg.queues.iter().map(|q| q.queue_arn.clone()));
        }
        for arn in arns {
            self.workers.ensure_queue(self, &arn);
        }
    }

    /// Moves what an earlier version left in the store's outbox table into
    /// the log (once, in the background), then lets batch workers write
    /// what the previous run left.
    fn finish_recovery(self: &Arc<Self>) {
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let n = self.clone();
        rt.spawn(async move {
            match n.store.drain_legacy_outbox().await {
                Ok(0) => {}
                Ok(moved) => tracing::info!(moved, "moved events left in the outbox by an earlier version"),
                Err(e) => tracing::error!(error = %e, "cannot move the events left in the outbox"),
            }
            n.start_queue_transfers();
            n.recovered.send_replace(true);
        });
    }

    pub fn topic(&self, arn: &str) -> Option<Arc<TopicRuntime>> {
        self.topics.read().expect("topics lock").get(arn).cloned()
    }

    /// Replaces (or removes) a bucket's configuration in the cache, and
    /// starts the workers of the built-in queues it names.
    pub fn set_config(self: &Arc<Self>, bucket: &str, cfg: Option<NotificationConfiguration>) {
        for q in cfg.iter().flat_map(|c| c.queues.iter()) {
            self.workers.ensure_queue(self, &q.queue_arn);
        }
        self.bucket_owners.write().expect("owners lock").remove(bucket);
        let mut configs = self.configs.write().expect("configs lock");
        match cfg {
            Some(c) if !c.is_empty() => {
                configs.insert(bucket.to_owned(), Arc::new(c));
            }
            _ => {
                configs.remove(bucket);
            }
        }
    }

    /// The owner of `bucket` (cached; see `bucket_owners`).
    fn bucket_owner(&self, bucket: &str) -> Option<Arc<str>> {
        if let Some(o) = self.bucket_owners.read().expect("owners lock").get(bucket) {
            return Some(o.clone());
        }
        let owner: Arc<str> = self.store.get_bucket(bucket).ok()??.owner.into();
        self.bucket_owners
            .write()
            .expect("owners lock")
            .insert(bucket.to_owned(), owner.clone());
        Some(owner)
    }

    /// Whether `topic` takes `bucket`'s events: the bucket's owner owns
    /// it, or its policy lets that bucket publish (checked at every event,
    /// so revoking the grant, or re-creating the topic without it, stops
    /// the flow).
    fn topic_accepts(&self, topic: &TopicRuntime, bucket: &str) -> bool {
        match self.bucket_owner(bucket) {
            Some(owner) if *owner == *topic.record.owner => true,
            Some(owner) => crate::sns::policy::may_publish(&topic.record, bucket, &owner),
            None => false,
        }
    }

    pub fn config(&self, bucket: &str) -> Option<Arc<NotificationConfiguration>> {
        self.configs.read().expect("configs lock").get(bucket).cloned()
    }

    /// Whether a bucket has any notification at all (the fast path: most
    /// requests stop here).
    pub fn has_config(&self, bucket: &str) -> bool {
        self.configs.read().map(|c| c.contains_key(bucket)).unwrap_or(false)
    }

    /// The notifications a change will reach. Fails when a persistent
    /// topic it would enqueue into is full, so the write is refused before
    /// anything changes. `batch_writer` leaves out batch topics (see
    /// [`Origin::batch_writer`]).
    pub fn plan(
        &self,
        bucket: &str,
        event: EventType,
        key: &str,
        metadata: &[(String, String)],
        tags: &[(String, String)],
        batch_writer: bool,
    ) -> Result<Plan, NotifyError> {
        let Some(cfg) = self.config(bucket) else {
            return Ok(Plan::default());
        };
        let mut plan = Plan::default();
        for target in cfg.matching(event, key, metadata, tags) {
            if target.kind == TargetKind::Queue {
                match self.queues.as_ref().and_then(|q| q.queue_by_arn(target.arn)) {
                    // Another user's queue takes the events only while its
                    // policy says so (a revoked grant stops them).
                    Some(q) if !self.queue_accepts(&q, bucket) => {
                        tracing::warn!(
                            bucket,
                            arn = target.arn,
                            "the queue's policy no longer lets this bucket send to it; event not queued"
                        );
                    }
                    Some(q) => plan.queues.push((
                        target.id.to_owned(),
                        QueueTarget {
                            arn: q.arn.clone(),
                            counters: self.metrics.for_topic(&q.owner, &q.name),
                        },
                    )),
                    None => tracing::warn!(bucket, arn = target.arn, "notification refers to a deleted queue"),
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
            if topic.persistent {
                let stats = self.log.stats(topic.log_name());
                if stats.entries >= topic.max_entries || stats.bytes >= topic.max_bytes {
                    return Err(NotifyError::SlowDown(topic.record.name.clone()));
                }
            }
            plan.targets.push((target.id.to_owned(), topic));
        }
        Ok(plan)
    }

    /// Works out which notifications a change will reach, before it is
    /// written (refusing with SlowDown when a persistent queue is full).
    /// `size`/`etag` matter for deletes; writes get theirs from the commit.
    #[allow(clippy::too_many_arguments)]
    pub fn prepare(
        &self,
        bucket: &str,
        event: EventType,
        key: &str,
        metadata: Vec<(String, String)>,
        tags: Vec<(String, String)>,
        size: u64,
        etag: &str,
        origin: &Origin,
    ) -> Result<Pending, NotifyError> {
        if !self.has_config(bucket) {
            return Ok(Pending::none());
        }
        let plan = self.plan(bucket, event, key, &metadata, &tags, origin.batch_writer)?;
        Ok(Pending {
            plan,
            facts: ChangeFacts {
                event,
                key: key.to_owned(),
                size,
                etag: etag.to_owned(),
                metadata,
                tags,
                principal: origin.principal.clone(),
                source_ip: origin.source_ip.clone(),
                request_id: origin.request_id.clone(),
            },
        })
    }

    /// Renders the events committed with a prepared change (persistent
    /// topics and queues), for the store's write options.
    pub fn event_renderer(&self, p: &Pending) -> Option<EventRenderer> {
        if p.plan.is_empty() {
            None
        } else {
            self.renderer_for(&p.plan, &p.facts)
        }
    }

    /// After the commit of a prepared change: synchronous pushes and counters.
    pub async fn finish(
        &self,
        p: Pending,
        bucket: &BucketRecord,
        seq: u64,
        version_id: &str,
        size: Option<u64>,
        etag: Option<&str>,
    ) {
        if p.plan.is_empty() {
            return;
        }
        let size = size.unwrap_or(p.facts.size);
        let etag = etag.map(str::to_owned).unwrap_or_else(|| p.facts.etag.clone());
        self.after_commit(p.plan, &p.facts, bucket, seq, version_id, size, &etag)
            .await;
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
        self.write_object(EventType::ObjectCreatedPut, bucket, key, body, opts, origin)
            .await
    }

    /// [`Notifier::put_object`] for writes that S3 reports as another
    /// event (`ObjectCreated:Post` for browser form uploads).
    pub async fn write_object<S, E>(
        &self,
        event: EventType,
        bucket: &str,
        key: &str,
        body: S,
        mut opts: PutOptions,
        origin: &Origin,
    ) -> Result<WriteOutcome, PutError>
    where
        S: futures::Stream<Item = Result<Bytes, E>> + Send + Unpin,
        E: std::fmt::Display,
    {
        let metadata = opts.meta.user.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        let pending = self.prepare(bucket, event, key, metadata, opts.tags.clone(), 0, "", origin)?;
        opts.events = self.event_renderer(&pending);
        let outcome = self.store.put_object(bucket, key, body, opts).await?;
        let version_id = if outcome.bucket.versioning == VersioningState::Unversioned {
            ""
        } else {
            outcome.version.version_id.as_str()
        };
        self.finish(
            pending,
            &outcome.bucket,
            outcome.version.seq,
            version_id,
            Some(outcome.version.size),
            Some(outcome.version.etag.as_str()),
        )
        .await;
        Ok(outcome)
    }

    /// The renderer of a plan's events for persistent topics and queues:
    /// the store calls it inside the transaction that commits the change
    /// and writes what it renders into the delivery log in the same group
    /// commit (see `herald_store::journal`). `None` when no persistent
    /// destination is involved.
    fn renderer_for(&self, plan: &Plan, facts: &ChangeFacts) -> Option<EventRenderer> {
        let targets: Vec<(String, Arc<TopicRuntime>)> =
            plan.targets.iter().filter(|(_, t)| t.persistent).cloned().collect();
        let queues: Vec<(String, String)> = plan.queues.iter().map(|(id, q)| (id.clone(), q.arn.clone())).collect();
        if targets.is_empty() && queues.is_empty() {
            return None;
        }
        let (facts, region, host_id) = (facts.clone(), self.region.clone(), self.host_id.clone());
        Some(Box::new(move |staged: &StagedChange<'_>| {
            let now = OffsetDateTime::now_utc();
            let committed = Committed {
                bucket: staged.bucket,
                seq: staged.seq,
                version_id: staged.version_id,
                size: staged.size.unwrap_or(facts.size),
                etag: staged.etag.unwrap_or(&facts.etag),
            };
            let key = format!("{}/{}", staged.bucket.name, facts.key);
            let to_topics = targets.iter().map(|(config_id, topic)| EventEntry {
                log: topic.log_name().to_owned(),
                key: key.clone(),
                payload: render(
                    &region,
                    &host_id,
                    &facts,
                    &committed,
                    config_id,
                    &topic.opaque,
                    topic.flavor,
                    now,
                    // A batch file holds one bare record per line.
                    topic.batch.is_some(),
                ),
            });
            let to_queues = queues.iter().map(|(config_id, arn)| EventEntry {
                log: arn.clone(),
                key: key.clone(),
                payload: render(
                    &region,
                    &host_id,
                    &facts,
                    &committed,
                    config_id,
                    "",
                    QUEUE_FLAVOR,
                    now,
                    false,
                ),
            });
            to_topics.chain(to_queues).collect()
        }))
    }

    /// After the commit: counts the events and pushes to the synchronous
    /// topics (the request
    /// waits for those pushes, bounded by their timeout; their failures
    /// never fail the request).
    #[allow(clippy::too_many_arguments)]
    pub async fn after_commit(
        &self,
        plan: Plan,
        facts: &ChangeFacts,
        bucket: &BucketRecord,
        seq: u64,
        version_id: &str,
        size: u64,
        etag: &str,
    ) {
        if plan.is_empty() {
            return;
        }
        let now = OffsetDateTime::now_utc();
        let committed = Committed {
            bucket,
            seq,
            version_id,
            size,
            etag,
        };
        let mut sync = Vec::new();
        for (_, q) in &plan.queues {
            q.counters.triggered();
        }
        for (config_id, topic) in &plan.targets {
            topic.counters.triggered();
            if !topic.persistent {
                let body = Bytes::from(render(
                    &self.region,
                    &self.host_id,
                    facts,
                    &committed,
                    config_id,
                    &topic.opaque,
                    topic.flavor,
                    now,
                    false,
                ));
                sync.push(push_sync(topic.clone(), body, &facts.key));
            }
        }
        futures::future::join_all(sync).await;
    }

    /// A topic whose push-endpoint is `sqs://<queue name>` delivers into the
    /// topic owner's built-in queue of that name.
    fn queue_endpoint(&self, record: &TopicRecord) -> Option<Result<Arc<dyn herald_endpoints::Endpoint>, String>> {
        let uri = record.attributes.get("push-endpoint")?;
        let name = uri.strip_prefix("sqs://")?.trim_end_matches('/');
        Some(match &self.queues {
            None => Err("the queue service is not available".to_owned()),
            Some(engine) => Ok(Arc::new(QueueEndpoint {
                engine: engine.clone(),
                owner: record.owner.clone(),
                name: name.to_owned(),
            }) as Arc<dyn herald_endpoints::Endpoint>),
        })
    }

    /// Whether `arn` names a built-in queue owned by `user`.
    /// Whether `queue` takes `bucket`'s events: the bucket's owner owns it,
    /// or its policy lets S3 send them (checked at every event, so revoking
    /// a grant stops the flow).
    fn queue_accepts(&self, queue: &herald_queue::QueueInfo, bucket: &str) -> bool {
        match self.bucket_owner(bucket) {
            Some(owner) if *owner == *queue.owner => true,
            Some(owner) => crate::sqs::policy::s3_may_send(queue, bucket, &owner),
            None => false,
        }
    }

    /// The queue an ARN names, if it exists.
    pub fn queue_info(&self, arn: &str) -> Option<herald_queue::QueueInfo> {
        self.queues.as_ref().and_then(|q| q.queue_by_arn(arn))
    }

    /// Graceful shutdown, after the last S3 request finished: has every
    /// batch topic write its pending events to files (waiting up to
    /// `grace`). Everything else is in the delivery log already.
    pub async fn shutdown(&self, grace: std::time::Duration) {
        let drain = async {
            self.stopping.send_replace(true);
            self.workers.join_batch().await;
        };
        if tokio::time::timeout(grace, drain).await.is_err() {
            tracing::warn!("batch files not all written within the shutdown grace; they are written at the next start");
        }
    }

    /// Sends AWS's `s3:TestEvent` to a newly configured topic.
    /// Persistent topics and queues get it through the event journal, like
    /// any event.
    pub async fn send_test_event(&self, bucket: &str, arn: &str, request_id: &str) {
        let body = record::test_event(bucket, OffsetDateTime::now_utc(), request_id, &self.host_id);
        let log = if is_queue_arn(arn) {
            arn.to_owned()
        } else {
            let Some(topic) = self.topic(arn) else { return };
            if topic.batch.is_some() {
                return; // a batch file holds event records only
            }
            if !topic.persistent {
                return push_sync(topic, Bytes::from(body), "").await;
            }
            topic.log_name().to_owned()
        };
        let entry = EventEntry {
            log,
            key: format!("{bucket}/"),
            payload: body,
        };
        if let Err(e) = self.store.write_events(vec![entry]).await {
            tracing::warn!(destination = %arn, error = %e, "could not queue the test event");
        }
    }
}

/// Whether a log (or notification destination) is a built-in queue.
fn is_queue_arn(arn: &str) -> bool {
    arn.starts_with("arn:aws:sqs:")
}

/// Why a topic's endpoint could not be built, when it has one that should
/// have been (not a topic without push-endpoint, not a batch topic).
pub fn install_error(rt: &TopicRuntime) -> Option<&str> {
    let has_endpoint = rt.record.attributes.get("push-endpoint").is_some_and(|e| !e.is_empty());
    match &rt.endpoint {
        Err(reason) if has_endpoint && rt.batch.is_none() => Some(reason),
        _ => None,
    }
}

/// Renders one record for one notification: wrapped in `{"Records":[...]}`
/// as pushed, or `bare` for a line of a batch file.
#[allow(clippy::too_many_arguments)]
fn render(
    region: &str,
    host_id: &str,
    facts: &ChangeFacts,
    c: &Committed<'_>,
    config_id: &str,
    opaque: &str,
    flavor: record::RecordFlavor,
    now: OffsetDateTime,
    bare: bool,
) -> Vec<u8> {
    let event_id = record::event_id(now, c.seq);
    let input = EventRecordInput {
        event: facts.event,
        event_time: now,
        region,
        principal: &facts.principal,
        source_ip: &facts.source_ip,
        request_id: &facts.request_id,
        host_id,
        configuration_id: config_id,
        bucket: &c.bucket.name,
        bucket_owner: &c.bucket.owner,
        bucket_id: &c.bucket.id,
        key: &facts.key,
        size: c.size,
        etag: c.etag,
        version_id: c.version_id,
        sequencer: c.seq,
        metadata: &facts.metadata,
        tags: &facts.tags,
        event_id: &event_id,
        opaque_data: opaque,
    };
    if bare {
        record::render_record(&input, flavor)
    } else {
        record::render_records(&[input], flavor)
    }
}

/// Pushes inline for a synchronous topic; failures are counted, never
/// retried, and never fail the S3 request.
async fn push_sync(topic: Arc<TopicRuntime>, body: Bytes, key: &str) {
    let endpoint = match (&topic.endpoint, topic.is_active()) {
        (Ok(e), true) => e.clone(),
        (Ok(_), false) => {
            tracing::debug!(topic = %topic.record.name, "subscription not confirmed: event not pushed");
            topic.counters.fail();
            topic.counters.lost(1);
            return;
        }
        (Err(reason), _) => {
            tracing::warn!(topic = %topic.record.name, %reason, "cannot push");
            topic.counters.fail();
            topic.counters.lost(1);
            return;
        }
    };
    topic.counters.pending(1);
    let result = endpoint.push_keyed(&body, key).await;
    topic.counters.pending(-1);
    match result {
        Ok(()) => topic.counters.ok(),
        Err(e) => {
            tracing::warn!(topic = %topic.record.name, error = %e, "synchronous push failed");
            topic.counters.fail();
            topic.counters.lost(1);
        }
    }
}

/// Delivers a topic's events into a built-in queue (`push-endpoint=sqs://<queue>`).
struct QueueEndpoint {
    engine: herald_queue::QueueEngine,
    owner: String,
    name: String,
}

#[async_trait::async_trait]
impl herald_endpoints::Endpoint for QueueEndpoint {
    async fn push(&self, body: &Bytes) -> Result<(), herald_endpoints::PushError> {
        let fifo = self.name.ends_with(".fifo");
        let request = herald_queue::SendRequest {
            body: String::from_utf8_lossy(body).into_owned(),
            delay_seconds: None,
            attributes: Default::default(),
            system_attributes: Default::default(),
            group_id: fifo.then(|| "s3-events".to_owned()),
            deduplication_id: fifo.then(|| body_digest(body)),
        };
        let results = self
            .engine
            .send(&self.owner, &self.name, vec![request])
            .await
            .map_err(|e| herald_endpoints::PushError::Other(format!("queue {}: {e}", self.name)))?;
        match results.into_iter().next() {
            Some(Ok(_)) => Ok(()),
            Some(Err(e)) => Err(herald_endpoints::PushError::Other(format!("queue {}: {e}", self.name))),
            None => Err(herald_endpoints::PushError::Other(format!(
                "queue {}: no answer",
                self.name
            ))),
        }
    }

    fn describe(&self) -> String {
        format!("sqs://{}", self.name)
    }
}

/// FIFO queues need a deduplication id: a redelivered event has the same
/// body (same eventId), so the body's digest deduplicates exactly the
/// duplicates at-least-once delivery can produce.
fn body_digest(body: &[u8]) -> String {
    use md5::{Digest, Md5};
    hex::encode(Md5::digest(body))
}
