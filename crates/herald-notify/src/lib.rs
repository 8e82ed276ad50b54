//! The event pipeline: from an object change to its events, and from
//! there to every destination.
//!
//! For each change an S3 handler asks [`Notifier::prepare`] which
//! notifications want it ([`plan`]: before writing, so a full persistent
//! destination can refuse the write with 503 SlowDown, as Ceph does), hands
//! the store the [`Notifier::event_renderer`] (the store renders the events
//! inside the change's commit and writes them into the delivery log in the
//! same group commit, see [`journal`]), and calls [`Notifier::finish`]
//! after it (synchronous topics are pushed then, bounded by the endpoint
//! timeout). Background workers take it from the log: [`delivery`] pushes
//! to endpoints, [`batch`] writes batch files, [`to_queue`] moves
//! QueueConfiguration events into built-in queues. The topic registry
//! (topics parsed once into [`topic::TopicRuntime`]), the bucket
//! configurations and the counters ([`metrics`]) live here too.
//!
//! `docs/architecture.md` draws the whole path.

pub mod batch;
mod dead_letter;
pub mod delivery;
pub mod grants;
mod journal;
pub mod metrics;
mod plan;
pub mod policy;
mod queue_endpoint;
mod remote;
pub mod replay;
pub mod shared_log;
pub mod tail;
mod test_event;
pub use test_event::TEST_PUSH_TIMEOUT;
mod to_queue;
pub mod topic;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use herald_log::{DeliveryLog, Limits};
use herald_model::Compat;
use herald_model::notification::{self, NotificationConfiguration};
use herald_store::{Store, StoreError, TopicRecord};

use metrics::PubsubMetrics;
pub use plan::{
    Change, Committed, CommittedWrite, ForwardError, Forwarded, NotifyError, Origin, Pending, Plan, PutError,
    ReadVersion,
};
use queue_endpoint::QueueEndpoint;
use topic::TopicRuntime;

/// How the server was set up, as far as the pipeline cares.
#[derive(Debug, Clone, Default)]
pub struct NotifierSettings {
    /// The region (Ceph's zonegroup) records and ARNs carry.
    pub region: String,
    /// AWS's or Ceph's behaviour where they disagree.
    pub compat: Compat,
    /// The server's defaults for topics' retry attributes (`None` or
    /// unset on the topic).
    pub topic_defaults: topic::TopicDefaults,
    /// Ceph mode: a topic takes other users' buckets only where its
    /// policy allows `sns:Publish`, even within its tenant (Ceph's
    /// `rgw_topic_require_publish_policy`; AWS mode always requires it).
    pub require_publish_policy: bool,
    /// Gateway mode: objects are kept by an upstream S3, so nothing may
    /// write objects into Herald's own store (batch topics are refused).
    pub objects_upstream: bool,
    /// Cluster mode: persistent topics' queues are JetStream streams
    /// every node delivers from (see [`shared_log`]).
    pub shared_log: Option<Arc<shared_log::SharedLog>>,
}

impl NotifierSettings {
    /// AWS behaviour and the built-in topic defaults, in `region`.
    pub fn aws(region: impl Into<String>) -> NotifierSettings {
        NotifierSettings {
            region: region.into(),
            ..Default::default()
        }
    }
}

/// The pipeline's state: configurations, topics, workers and counters.
pub struct Notifier {
    /// This notifier, for the workers it starts while planning.
    me: std::sync::Weak<Notifier>,
    store: Store,
    log: DeliveryLog,
    /// The region and host id every record carries, and the
    /// compatibility mode they are rendered in.
    site: Arc<plan::Site>,
    /// What a topic that does not set its retry attributes gets.
    topic_defaults: topic::TopicDefaults,
    /// See [`NotifierSettings::require_publish_policy`].
    require_publish_policy: bool,
    /// See [`NotifierSettings::objects_upstream`].
    objects_upstream: bool,
    /// See [`NotifierSettings::shared_log`].
    shared_log: Option<Arc<shared_log::SharedLog>>,
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
    /// Held by whoever changes a bucket's notification configuration (the
    /// S3 API, `herald notification rm`, DeleteBucket, a user's purge)
    /// across read, store write and cache update, so that two changes never
    /// interleave: one would otherwise overwrite the other, or leave the
    /// cache differing from the store (a deleted bucket's configuration
    /// back in the cache). Held only around store writes, never while a
    /// client sends a body or an endpoint answers a test event.
    config_writes: tokio::sync::Mutex<()>,
    /// Held while a written topic is checked against the store and made
    /// live, and while one is removed (see
    /// [`Notifier::install_written_topic`]).
    topic_installs: std::sync::Mutex<()>,
    /// Read events planned per log and not yet committed (see `plan.rs`).
    reads_in_flight: plan::ReadsInFlight,
    /// Permits of detached read-event pushes (see `Notifier::notify_read`).
    read_pushes: Arc<tokio::sync::Semaphore>,
    /// Detached read-event pushes in flight per topic owner: one tenant's
    /// slow endpoint cannot take every permit (see
    /// [`plan::MAX_READ_PUSHES_PER_OWNER`]).
    read_pushes_by_owner: plan::ReadPushesByOwner,
    /// The live tail's watchers (`ListenBucketNotification`).
    tail: Arc<tail::Tail>,
    /// Topic replays, running and recently finished.
    replays: replay::Replays,
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
        settings: NotifierSettings,
        policy: Arc<herald_endpoints::EndpointPolicy>,
    ) -> Result<Arc<Notifier>, StoreError> {
        // Events of a group commit that never committed are above their
        // log's committed mark: drop them before anything reads the log.
        // A data dir that never used the journal has only committed events
        // in its logs: they become the marks.
        let (marks, journal_used) = store.journal_marks()?;
        if journal_used {
            let dropped = log.discard_uncommitted(&marks, true);
            if dropped > 0 {
                tracing::warn!(
                    dropped,
                    "dropped events whose changes were never committed (crash during a commit)"
                );
            }
        } else {
            store.begin_journal(&log.last_ids())?;
        }
        log.set_id_floors(&marks);
        store.set_journal(Arc::new(journal::LogJournal::new(log.clone())));
        policy::set_ceph_principals(settings.compat.is_ceph());
        let n = Arc::new_cyclic(|me| Notifier {
            me: me.clone(),
            store: store.clone(),
            log,
            site: Arc::new(plan::Site {
                host_id: format!("herald-{}", settings.region),
                region: settings.region,
                compat: settings.compat,
            }),
            topic_defaults: settings.topic_defaults,
            require_publish_policy: settings.require_publish_policy,
            objects_upstream: settings.objects_upstream,
            shared_log: settings.shared_log,
            configs: RwLock::new(HashMap::new()),
            bucket_owners: RwLock::new(HashMap::new()),
            topics: RwLock::new(HashMap::new()),
            metrics: Arc::new(PubsubMetrics::default()),
            workers: delivery::Workers::default(),
            queues,
            stopping: tokio::sync::watch::Sender::new(false),
            recovered: tokio::sync::watch::Sender::new(false),
            policy,
            config_writes: tokio::sync::Mutex::new(()),
            topic_installs: std::sync::Mutex::new(()),
            reads_in_flight: Default::default(),
            read_pushes: Arc::new(tokio::sync::Semaphore::new(plan::MAX_READ_PUSHES)),
            read_pushes_by_owner: Default::default(),
            tail: Arc::default(),
            replays: Default::default(),
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
            .topics_on_disk()
            .into_iter()
            .filter(|t| !known.contains(t) && !is_queue_arn(t));
        for orphan in orphans {
            tracing::warn!(topic = %orphan, "dropping queued and retained events of a deleted topic");
            n.log.remove_topic(&orphan);
        }
        // Queues' logs retain nothing (and no topic claimed them).
        n.log.set_unset_retention(std::time::Duration::ZERO);
        n.start_queue_transfers();
        n.finish_recovery();
        Ok(n)
    }

    pub fn region(&self) -> &str {
        &self.site.region
    }

    /// Whose behaviour the server follows where AWS and Ceph disagree.
    pub fn compat(&self) -> Compat {
        self.site.compat
    }

    /// The account of `user`'s topic ARNs, under which its topics are
    /// stored and its ListTopics looks: the user itself in AWS mode, its
    /// tenant (empty for none) in Ceph mode.
    ///
    /// A user that cannot be read (or does not exist) is an error, never
    /// the empty tenant: that tenant is shared, and guessing it would let
    /// the user's requests and buckets in.
    pub fn topic_account(&self, user: &str) -> Result<String, StoreError> {
        if !self.site.compat.is_ceph() {
            return Ok(user.to_owned());
        }
        match self.store.get_user(user)? {
            Some(u) => Ok(u.tenant().to_owned()),
            None => Err(StoreError::NoSuchUser(user.to_owned())),
        }
    }

    /// The retry settings of topics that leave them unset.
    pub fn topic_defaults(&self) -> &topic::TopicDefaults {
        &self.topic_defaults
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

    /// Makes a topic just written live ([`Notifier::install_topic`]), on a
    /// blocking thread (building an endpoint may read a `ca-location`
    /// file, which never happens on the async threads once the server is
    /// up), unless the store holds another version of it by then, or none:
    /// a later write or a delete won the race and installs or removes it
    /// itself. Installs and removals are made under one lock, each against
    /// the store as it is then, so the running topic is the stored one.
    pub async fn install_written_topic(self: &Arc<Self>, record: TopicRecord) {
        let n = self.clone();
        let installed = tokio::task::spawn_blocking(move || {
            let _installing = n.topic_installs.lock().expect("installs lock");
            match n.store.get_topic(record.account(), &record.name) {
                Ok(Some(now)) if now.owner == record.owner && now.updated_ms == record.updated_ms => {
                    n.install_topic(record);
                }
                Ok(_) => tracing::debug!(topic = %record.arn, "not installed: changed or deleted since it was written"),
                Err(e) => {
                    tracing::warn!(topic = %record.arn, error = %e, "cannot re-read a topic just written; installing it");
                    n.install_topic(record);
                }
            }
        })
        .await;
        if let Err(e) = installed {
            tracing::error!(error = %e, "installing a topic failed");
        }
    }

    /// Makes a stored topic live (new or changed) and starts its worker.
    pub fn install_topic(self: &Arc<Self>, record: TopicRecord) -> Arc<TopicRuntime> {
        let counters = self.metrics.for_topic(&record.owner, &record.name);
        let mut rt = TopicRuntime::new(record, counters, &self.policy, &self.topic_defaults);
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
        self.log.revive(rt.log_name());
        self.log.set_limits(
            rt.log_name(),
            Limits {
                max_entries: rt.max_entries,
                max_bytes: rt.max_bytes,
            },
        );
        // Only a persistent push topic's log holds its events; a batch
        // topic's events live on in its files.
        let retention = if rt.persistent && rt.batch.is_none() {
            rt.retention
                .min(std::time::Duration::from_secs(self.topic_defaults.max_retention))
        } else {
            std::time::Duration::ZERO
        };
        let cap = rt.max_bytes.min(self.topic_defaults.max_retained_bytes);
        // A cap of 0 (`--topic-max-retained-bytes 0`) turns retention off.
        let retention = if cap == 0 { std::time::Duration::ZERO } else { retention };
        self.log.set_retention(rt.log_name(), retention, cap);
        let previous = self
            .topics
            .write()
            .expect("topics lock")
            .insert(rt.record.arn.clone(), rt.clone());
        // A replay pushes with the topic as it was when it started: a
        // changed endpoint, policy or setting ends it (start it again).
        if previous.is_some_and(|p| p.record.attributes != rt.record.attributes) {
            let n = self.replays.cancel(&rt.record.arn);
            if n > 0 {
                tracing::info!(topic = %rt.record.arn, "topic changed: its running replay is cancelled");
            }
        }
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
        if self.objects_upstream {
            // The batch writer writes into Herald's own store, which a
            // gateway's clients never read from.
            return Some(format!(
                "push-endpoint {ep}: batch topics are not available in gateway mode (their files would not reach the upstream storage)"
            ));
        }
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
            let (account, name) = (topic.record.account().to_owned(), topic.record.name.clone());
            match n.store.get_topic(&account, &name) {
                // Only the version the handshake was started for: a topic
                // changed meanwhile has a handshake of its own.
                Ok(Some(mut rec))
                    if rec.arn == arn && rec.subscription == "pending" && rec.updated_ms == topic.record.updated_ms =>
                {
                    let expected = herald_store::TopicExpectation::Unchanged {
                        owner: rec.owner.clone(),
                        updated_ms: rec.updated_ms,
                    };
                    rec.subscription = outcome;
                    match n.store.put_topic(rec.clone(), expected).await {
                        Ok(version) => rec.updated_ms = version,
                        Err(e) => {
                            tracing::error!(topic = %arn, error = %e, "cannot record the handshake outcome");
                            return;
                        }
                    }
                    n.install_written_topic(rec).await;
                }
                _ => {} // changed or deleted meanwhile: the newer state wins
            }
        });
    }

    /// Forgets a deleted topic and its queued events.
    /// (The store forgot the log's committed mark with the topic.)
    pub fn remove_topic(&self, arn: &str) {
        let _removing = self.topic_installs.lock().expect("installs lock");
        let removed = self.topics.write().expect("topics lock").remove(arn);
        self.workers.stop(arn);
        self.replays.cancel(arn);
        self.log.remove_topic(arn);
        // Whatever it is now: a topic made synchronous keeps the stream it
        // filled while persistent, which must not outlive the topic.
        if let (Some(shared), Some(topic)) = (self.shared_log.clone(), removed)
            && let Ok(rt) = tokio::runtime::Handle::try_current()
        {
            rt.spawn(async move { shared.remove(&topic.record).await });
        }
    }

    /// Starts the workers that move events into built-in queues, for the
    /// queues with events left in the log (planning starts the others when
    /// an event for them is written).
    fn start_queue_transfers(&self) {
        for arn in self.log.topics().into_iter().filter(|t| is_queue_arn(t)) {
            self.ensure_queue_worker(&arn);
        }
    }

    /// Makes the log of a built-in queue live (with the default limits of a
    /// persistent topic) and starts the worker that moves its events into
    /// the queue, unless it runs already.
    fn ensure_queue_worker(&self, arn: &str) {
        if self.workers.has(arn) {
            return;
        }
        self.log.revive(arn);
        self.log.set_limits(
            arn,
            Limits {
                max_entries: topic::DEFAULT_MAX_ENTRIES,
                max_bytes: topic::DEFAULT_MAX_BYTES,
            },
        );
        self.workers.ensure_queue(self.me.clone(), arn);
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

    /// Every persistent topic's queue as Ceph's `persistent_topic_len` and
    /// `persistent_topic_size` gauges report it: (tenant, topic, events
    /// waiting, their bytes on disk). Read at each metrics scrape.
    pub fn persistent_queues(&self) -> Vec<metrics::QueueGauge> {
        let topics: Vec<Arc<TopicRuntime>> = self
            .topics
            .read()
            .expect("topics lock")
            .values()
            .filter(|t| t.persistent)
            .cloned()
            .collect();
        topics
            .iter()
            .map(|t| {
                let (entries, bytes) = self.log.size(t.log_name());
                metrics::QueueGauge {
                    tenant: t.record.owner.clone(),
                    topic: t.record.name.clone(),
                    entries,
                    bytes,
                }
            })
            .collect()
    }

    /// Serializes changes of notification configurations (see the field).
    pub async fn lock_config_writes(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.config_writes.lock().await
    }

    /// Replaces (or removes) a bucket's configuration in the cache.
    pub fn set_config(&self, bucket: &str, cfg: Option<NotificationConfiguration>) {
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
            Some(owner) => self.topic_takes(&topic.record, bucket, &owner),
            None => false,
        }
    }

    /// Whether `topic` takes the events of `bucket`, owned by `owner`: its
    /// owner's buckets always; others' where its policy allows
    /// `sns:Publish`. In Ceph mode also the buckets of its own tenant's
    /// users unless its policy denies them (Ceph's default,
    /// `rgw_topic_require_publish_policy = false`); another tenant's still
    /// need the Allow, and so do the tenant's with
    /// `--topic-require-publish-policy`.
    pub fn topic_takes(&self, topic: &TopicRecord, bucket: &str, owner: &str) -> bool {
        if topic.owner == owner {
            return true;
        }
        if !self.site.compat.is_ceph() {
            return policy::may_publish(topic, bucket, owner);
        }
        let tenants = self
            .topic_account(owner)
            .and_then(|t| Ok((self.topic_account(&topic.owner)?, t)));
        let (topic_tenant, tenant) = match tenants {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(topic = %topic.arn, bucket, error = %e, "cannot tell the tenants apart; event not delivered");
                return false;
            }
        };
        match policy::publish_decision(topic, bucket, &ceph_id(&tenant, owner)) {
            herald_policy::Decision::Allow => true,
            herald_policy::Decision::ExplicitDeny => false,
            // The owners' tenants, not the ARN's account: a topic created
            // in AWS mode is stored under its owner's name, which may also
            // be some tenant's.
            herald_policy::Decision::NotApplicable => !self.require_publish_policy && topic_tenant == tenant,
        }
    }

    /// How topic policies name `user`: by its name, or in Ceph mode as
    /// Ceph does, `tenant$user` for a user of a tenant (see
    /// `arn:aws:iam::<tenant>:user/<uid>` principals).
    pub fn policy_principal(&self, user: &str) -> Result<String, StoreError> {
        if !self.site.compat.is_ceph() {
            return Ok(user.to_owned());
        }
        Ok(ceph_id(&self.topic_account(user)?, user))
    }

    pub fn config(&self, bucket: &str) -> Option<Arc<NotificationConfiguration>> {
        self.configs.read().expect("configs lock").get(bucket).cloned()
    }

    /// Whether a bucket has any notification at all (the fast path: most
    /// requests stop here).
    pub fn has_config(&self, bucket: &str) -> bool {
        self.configs.read().map(|c| c.contains_key(bucket)).unwrap_or(false)
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
            Some(owner) => policy::s3_may_send(queue, bucket, &owner),
            None => false,
        }
    }

    /// The queue an ARN names, if it exists.
    /// Whether a change in `bucket` is worth describing (a [`Change`]):
    /// it has notifications, or somebody watches the live tail.
    pub fn wants_changes(&self, bucket: &str) -> bool {
        self.has_config(bucket) || self.tail_watches(bucket)
    }

    /// Whether a live-tail watcher may want `bucket`'s changes (by name,
    /// or every bucket of its owner).
    pub(crate) fn tail_watches(&self, bucket: &str) -> bool {
        self.tail.watches(bucket, || self.bucket_owner(bucket))
    }

    /// The live tail (MinIO's `ListenBucketNotification`).
    pub fn tail(&self) -> &Arc<tail::Tail> {
        &self.tail
    }

    pub fn queue_info(&self, arn: &str) -> Option<herald_queue::QueueInfo> {
        self.queues.as_ref().and_then(|q| q.queue_by_arn(arn))
    }

    /// Checks a topic's `dead-letter-queue` before it is stored: one of
    /// `owner`'s own queues. Another user's queue gets the same answer as a
    /// missing one (nothing to learn about others' queues).
    pub fn check_dead_letter_queue(&self, owner: &str, arn: &str) -> Result<(), String> {
        if arn.is_empty() {
            return Ok(());
        }
        if self.shared_log.is_some() {
            // Queues are kept by the node they were made on, and any node
            // may give up on a shared topic's event.
            return Err(format!(
                "{}: not available in cluster mode (queues are not shared between nodes)",
                topic::DEAD_LETTER_QUEUE
            ));
        }
        match self.queue_info(arn) {
            Some(q) if q.owner == owner => Ok(()),
            _ => Err(format!("{}: no queue {arn} of yours", topic::DEAD_LETTER_QUEUE)),
        }
    }

    /// Graceful shutdown, after the last S3 request finished: has every
    /// batch topic write its pending events to files (waiting up to
    /// `grace`). Everything else is in the delivery log already.
    pub async fn shutdown(&self, grace: std::time::Duration) {
        // The server ended the watchers' streams when it stopped
        // accepting; any still here (an embedder without the server) end.
        self.tail.close_all();
        self.cancel_replays();
        let drain = async {
            self.stopping.send_replace(true);
            self.workers.join_batch().await;
        };
        if tokio::time::timeout(grace, drain).await.is_err() {
            tracing::warn!("batch files not all written within the shutdown grace; they are written at the next start");
        }
        // What was delivered by now is not delivered again after the restart.
        self.log.flush_acks();
    }

    /// Every topic now (for the console's overview).
    pub fn topics(&self) -> Vec<Arc<TopicRuntime>> {
        self.topics.read().expect("topics lock").values().cloned().collect()
    }
}

/// Ceph's name of a user: `tenant$user`, or the bare name.
fn ceph_id(tenant: &str, user: &str) -> String {
    if tenant.is_empty() {
        user.to_owned()
    } else {
        format!("{tenant}${user}")
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
