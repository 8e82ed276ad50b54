//! The notifier: turns object changes into S3 event records and gets them
//! to the right topics.
//!
//! For each change the S3 handlers ask [`Notifier::plan`] which
//! notifications want it (before writing, so a full persistent queue can
//! refuse the write with 503 SlowDown, as Ceph does), write the object, and
//! hand the result to [`Notifier::dispatch`]: persistent topics get the
//! record appended to the durable delivery log (the S3 response waits for
//! that group commit), synchronous topics get it pushed inline, bounded by
//! the endpoint timeout. Background workers ([`delivery`]) drain the log.

pub mod delivery;
pub mod metrics;
pub mod topic;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use bytes::Bytes;
use herald_log::{AppendItem, DeliveryLog, Limits, LogError};
use herald_model::event::EventType;
use herald_model::notification::{self, NotificationConfiguration, TargetKind};
use herald_model::record::{self, EventRecordInput};
use herald_store::{BucketRecord, Store, StoreError, TopicRecord};
use time::OffsetDateTime;

use metrics::PubsubMetrics;
use topic::TopicRuntime;

/// Why dispatching failed: the S3 request then fails with this.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("the notification queue of topic {0} is full; retry later")]
    SlowDown(String),
    #[error("cannot queue the event: {0}")]
    Internal(String),
}

/// One change, as the S3 handlers describe it after the write.
pub struct Change<'a> {
    pub event: EventType,
    pub bucket: &'a BucketRecord,
    pub key: &'a str,
    pub size: u64,
    pub etag: &'a str,
    pub version_id: &'a str,
    pub seq: u64,
    pub metadata: &'a [(String, String)],
    pub tags: &'a [(String, String)],
    pub principal: &'a str,
    pub source_ip: &'a str,
    pub request_id: &'a str,
}

/// The notifications a change will go to, worked out before the write.
#[derive(Default)]
pub struct Plan {
    targets: Vec<(String, Arc<TopicRuntime>)>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }
}

pub struct Notifier {
    store: Store,
    log: DeliveryLog,
    region: String,
    host_id: String,
    /// bucket -> parsed configuration (only buckets that have one).
    configs: RwLock<HashMap<String, Arc<NotificationConfiguration>>>,
    /// topic ARN -> runtime topic.
    topics: RwLock<HashMap<String, Arc<TopicRuntime>>>,
    pub metrics: Arc<PubsubMetrics>,
    workers: delivery::Workers,
}

impl Notifier {
    /// Loads every topic and configuration and starts a delivery worker for
    /// each persistent topic (and for queues left by deleted topics, which
    /// are dropped).
    pub fn start(store: Store, log: DeliveryLog, region: String) -> Result<Arc<Notifier>, StoreError> {
        let n = Arc::new(Notifier {
            store: store.clone(),
            log,
            host_id: format!("herald-{region}"),
            region,
            configs: RwLock::new(HashMap::new()),
            topics: RwLock::new(HashMap::new()),
            metrics: Arc::new(PubsubMetrics::default()),
            workers: delivery::Workers::default(),
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
        for orphan in n.log.topics().into_iter().filter(|t| !known.contains(t)) {
            tracing::warn!(topic = %orphan, "dropping queued events of a deleted topic");
            n.log.remove_topic(&orphan);
        }
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

    /// Makes a stored topic live (new or changed) and starts its worker.
    pub fn install_topic(self: &Arc<Self>, record: TopicRecord) -> Arc<TopicRuntime> {
        let counters = self.metrics.for_topic(&record.owner, &record.name);
        let rt = Arc::new(TopicRuntime::new(record, counters));
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
                    n.install_topic(rec);
                }
                _ => {} // changed or deleted meanwhile: the newer state wins
            }
        });
    }

    /// Forgets a deleted topic and its queued events.
    pub fn remove_topic(&self, arn: &str) {
        self.topics.write().expect("topics lock").remove(arn);
        self.workers.stop(arn);
        self.log.remove_topic(arn);
    }

    pub fn topic(&self, arn: &str) -> Option<Arc<TopicRuntime>> {
        self.topics.read().expect("topics lock").get(arn).cloned()
    }

    /// Replaces (or removes) a bucket's configuration in the cache.
    pub fn set_config(&self, bucket: &str, cfg: Option<NotificationConfiguration>) {
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
    /// anything changes.
    pub fn plan(
        &self,
        bucket: &str,
        event: EventType,
        key: &str,
        metadata: &[(String, String)],
        tags: &[(String, String)],
    ) -> Result<Plan, NotifyError> {
        let Some(cfg) = self.config(bucket) else {
            return Ok(Plan::default());
        };
        let mut plan = Plan::default();
        for target in cfg.matching(event, key, metadata, tags) {
            if target.kind != TargetKind::Topic {
                continue; // queues arrive with the SQS issue
            }
            let Some(topic) = self.topic(target.arn) else {
                tracing::warn!(bucket, arn = target.arn, "notification refers to a deleted topic");
                continue;
            };
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

    /// Sends the change to every planned notification: durable append for
    /// persistent topics (waited for), inline push for the others.
    pub async fn dispatch(&self, change: &Change<'_>, plan: Plan) -> Result<(), NotifyError> {
        if plan.targets.is_empty() {
            return Ok(());
        }
        let now = OffsetDateTime::now_utc();
        let event_id = record::event_id(now, change.seq);
        let mut persistent = Vec::new();
        let mut sync = Vec::new();
        for (config_id, topic) in &plan.targets {
            let input = EventRecordInput {
                event: change.event,
                event_time: now,
                region: &self.region,
                principal: change.principal,
                source_ip: change.source_ip,
                request_id: change.request_id,
                host_id: &self.host_id,
                configuration_id: config_id,
                bucket: &change.bucket.name,
                bucket_owner: &change.bucket.owner,
                bucket_id: &change.bucket.id,
                key: change.key,
                size: change.size,
                etag: change.etag,
                version_id: change.version_id,
                sequencer: change.seq,
                metadata: change.metadata,
                tags: change.tags,
                event_id: &event_id,
                opaque_data: &topic.opaque,
            };
            let body = Bytes::from(record::render_records(&[input], topic.flavor));
            topic.counters.triggered();
            if topic.persistent {
                persistent.push(AppendItem {
                    topic: topic.log_name().to_owned(),
                    key: format!("{}/{}", change.bucket.name, change.key),
                    payload: body,
                });
            } else {
                sync.push((topic.clone(), body));
            }
        }
        let append = async {
            if persistent.is_empty() {
                return Ok(());
            }
            match self.log.append(persistent).await {
                Ok(_) => Ok(()),
                Err(LogError::Full { topic }) => Err(NotifyError::SlowDown(topic)),
                Err(e) => Err(NotifyError::Internal(e.to_string())),
            }
        };
        let pushes = futures::future::join_all(sync.into_iter().map(|(topic, body)| push_sync(topic, body)));
        let (appended, _) = futures::join!(append, pushes);
        appended
    }

    /// Sends AWS's `s3:TestEvent` to a newly configured topic.
    pub async fn send_test_event(&self, bucket: &str, arn: &str, request_id: &str) {
        let Some(topic) = self.topic(arn) else { return };
        let body = Bytes::from(record::test_event(
            bucket,
            OffsetDateTime::now_utc(),
            request_id,
            &self.host_id,
        ));
        if topic.persistent {
            let item = AppendItem {
                topic: topic.log_name().to_owned(),
                key: format!("{bucket}/"),
                payload: body,
            };
            if let Err(e) = self.log.append(vec![item]).await {
                tracing::warn!(topic = %topic.record.name, error = %e, "could not queue the test event");
            }
        } else {
            push_sync(topic, body).await;
        }
    }
}

/// Pushes inline for a synchronous topic; failures are counted, never
/// retried, and never fail the S3 request.
async fn push_sync(topic: Arc<TopicRuntime>, body: Bytes) {
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
    let result = endpoint.push(&body).await;
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
