//! Destination policies.
//!
//! Topic policies (Ceph Squid semantics): a topic belongs to its creator;
//! its `Policy` attribute lets other users read its attributes
//! (`sns:GetTopicAttributes`), change them (`sns:SetTopicAttributes`),
//! delete it (`sns:DeleteTopic`), or have their buckets publish into it
//! (`sns:Publish`). The same language as bucket and queue policies.
//!
//! Queue policies (AWS semantics): the queue's `Policy` attribute lets
//! other users act on it (decided in herald-server's `sqs::policy`) and
//! other users' buckets send it their events ([`s3_may_send`]).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock};

use herald_policy::{Context, Decision, ParsedCache, Policy};
use herald_store::TopicRecord;

use crate::grants;

/// The limits a topic policy is parsed under (SNS's 30 KiB, `sns:`
/// actions only).
pub const TOPIC_POLICY_LIMITS: herald_policy::Limits = herald_policy::Limits {
    max_bytes: 30 * 1024,
    services: &["sns"],
    ..herald_policy::Limits::DEFAULT
};

/// The same, reading principals as Ceph does (`--compat ceph`): a
/// tenant's users are `arn:aws:iam::<tenant>:user/<uid>`.
pub const CEPH_TOPIC_POLICY_LIMITS: herald_policy::Limits = herald_policy::Limits {
    tenant_users: true,
    ..TOPIC_POLICY_LIMITS
};

/// Whether topic policies read principals as Ceph does: the server's
/// compatibility mode, fixed for the process by `Notifier::start`.
static CEPH_PRINCIPALS: AtomicBool = AtomicBool::new(false);

pub(crate) fn set_ceph_principals(on: bool) {
    CEPH_PRINCIPALS.store(on, Ordering::Relaxed);
}

fn topic_policy_limits() -> &'static herald_policy::Limits {
    if CEPH_PRINCIPALS.load(Ordering::Relaxed) {
        &CEPH_TOPIC_POLICY_LIMITS
    } else {
        &TOPIC_POLICY_LIMITS
    }
}

/// Checks a `Policy` attribute before it is stored.
pub fn validate(text: &str) -> Result<(), String> {
    if text.is_empty() {
        return Ok(());
    }
    Policy::parse(text, topic_policy_limits())
        .map(|_| ())
        .map_err(|e| format!("Policy: {e}"))
}

/// Parsed topic policies by topic ARN.
static PARSED: LazyLock<ParsedCache> = LazyLock::new(|| ParsedCache::new(TOPIC_POLICY_LIMITS, 10_000));
static PARSED_CEPH: LazyLock<ParsedCache> = LazyLock::new(|| ParsedCache::new(CEPH_TOPIC_POLICY_LIMITS, 10_000));

fn policy_of(topic: &TopicRecord) -> Option<Arc<Policy>> {
    let text = topic.attributes.get("Policy").filter(|t| !t.is_empty())?;
    if CEPH_PRINCIPALS.load(Ordering::Relaxed) {
        PARSED_CEPH.get(&topic.arn, text)
    } else {
        PARSED.get(&topic.arn, text)
    }
}

/// The attributes a user other than the owner may change, even where the
/// policy grants `sns:SetTopicAttributes`: never the policy itself, nor
/// where and how events are pushed (endpoint, secret, CA, TLS, broker
/// settings), which would let a grantee take the owner's events.
pub const GRANTEE_SETTABLE: &[&str] = &[
    "OpaqueData",
    "DisplayName",
    "persistent",
    "time_to_live",
    "max_retries",
    "retry_sleep_duration",
    "push-timeout",
];

/// Whether `user` (not the topic's owner) may take `action` (`sns:...`)
/// on `topic`.
pub fn allows(topic: &TopicRecord, user: &str, action: &str, context: &Context<'_>) -> bool {
    policy_of(topic).is_some_and(|p| grants::user_allowed(&p, user, action, &topic.arn, context))
}

/// Whether `bucket` (owned by `bucket_owner`) may publish its events into
/// `topic`: the same owner, or the topic's policy lets the bucket publish
/// (`sns:Publish`, see [`grants::bucket_delivery_decision`]).
pub fn may_publish(topic: &TopicRecord, bucket: &str, bucket_owner: &str) -> bool {
    topic.owner == bucket_owner || publish_decision(topic, bucket, bucket_owner) == Decision::Allow
}

/// What `topic`'s policy says about `bucket`'s events (owned by
/// `bucket_owner`, named as policies name it): `NotApplicable` also when
/// the topic has no policy. Ceph mode lets a tenant's buckets publish to
/// its topics unless the policy denies it (Ceph's default
/// `rgw_topic_require_publish_policy = false`), see
/// `Notifier::topic_takes`.
pub fn publish_decision(topic: &TopicRecord, bucket: &str, bucket_owner: &str) -> Decision {
    match policy_of(topic) {
        Some(p) => grants::bucket_delivery_decision(&p, "sns:Publish", &topic.arn, bucket, bucket_owner),
        None => Decision::NotApplicable,
    }
}

/// Parsed queue policies by queue ARN.
static PARSED_QUEUE_POLICIES: LazyLock<ParsedCache> =
    LazyLock::new(|| ParsedCache::new(herald_queue::QUEUE_POLICY_LIMITS, 10_000));

/// The queue's parsed policy, if it has one that parses.
pub fn queue_policy(queue: &herald_queue::QueueInfo) -> Option<Arc<Policy>> {
    let text = queue.attributes.get("Policy").filter(|t| !t.is_empty())?;
    PARSED_QUEUE_POLICIES.get(&queue.arn, text)
}

/// Whether a bucket's events may go into `queue`: its owner is the
/// bucket's, or its policy lets the bucket send them
/// (`sqs:SendMessage`, see [`grants::bucket_may_deliver`]).
pub fn s3_may_send(queue: &herald_queue::QueueInfo, bucket: &str, bucket_owner: &str) -> bool {
    queue.owner == bucket_owner
        || queue_policy(queue)
            .is_some_and(|p| grants::bucket_may_deliver(&p, "sqs:SendMessage", &queue.arn, bucket, bucket_owner))
}
