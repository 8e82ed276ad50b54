//! Topic policies (Ceph Squid semantics): a topic belongs to its creator;
//! its `Policy` attribute lets other users read its attributes
//! (`sns:GetTopicAttributes`), change them (`sns:SetTopicAttributes`),
//! delete it (`sns:DeleteTopic`), or have their buckets publish into it
//! (`sns:Publish`). The same language as bucket and queue policies.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use herald_policy::{Context, Decision, Policy, Principal, Request};
use herald_store::TopicRecord;

/// The limits a topic policy is parsed under (SNS's 30 KiB, `sns:`
/// actions only).
pub const TOPIC_POLICY_LIMITS: herald_policy::Limits = herald_policy::Limits {
    max_bytes: 30 * 1024,
    services: &["sns"],
    ..herald_policy::Limits::DEFAULT
};

/// Checks a `Policy` attribute before it is stored.
pub fn validate(text: &str) -> Result<(), String> {
    if text.is_empty() {
        return Ok(());
    }
    Policy::parse(text, &TOPIC_POLICY_LIMITS)
        .map(|_| ())
        .map_err(|e| format!("Policy: {e}"))
}

/// Parsed policies by topic ARN, with the text they came from.
static PARSED: LazyLock<Mutex<HashMap<String, Parsed>>> = LazyLock::new(Default::default);

/// Parsed policies kept at most (the cache is emptied when full).
const MAX_CACHED: usize = 10_000;

/// A policy text and what it parsed to.
type Parsed = (String, Arc<Policy>);

fn policy_of(topic: &TopicRecord) -> Option<Arc<Policy>> {
    let text = topic.attributes.get("Policy").filter(|t| !t.is_empty())?;
    let mut cache = PARSED.lock().expect("topic policy cache");
    if let Some((t, p)) = cache.get(&topic.arn)
        && t == text
    {
        return Some(p.clone());
    }
    let parsed = Arc::new(Policy::parse(text, &TOPIC_POLICY_LIMITS).ok()?);
    if cache.len() >= MAX_CACHED {
        // Deleted topics leave entries behind: start over rather than grow.
        cache.clear();
    }
    cache.insert(topic.arn.clone(), (text.clone(), parsed.clone()));
    Some(parsed)
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
    let Some(policy) = policy_of(topic) else {
        return false;
    };
    let req = Request::new(
        Principal::User {
            name: user,
            canonical_id: user,
        },
        action,
        &topic.arn,
    )
    .with_context(context)
    .at(time::OffsetDateTime::now_utc());
    policy.evaluate(&req) == Decision::Allow
}

/// Whether `bucket` (owned by `bucket_owner`) may publish its events into
/// `topic`: the same owner, or the topic's policy allows `sns:Publish` to
/// the bucket's owner or to `{"Service": "s3.amazonaws.com"}`, with the
/// bucket as `aws:SourceArn` and its owner as `aws:SourceAccount`, and
/// denies it to neither.
pub fn may_publish(topic: &TopicRecord, bucket: &str, bucket_owner: &str) -> bool {
    if topic.owner == bucket_owner {
        return true;
    }
    let Some(policy) = policy_of(topic) else {
        return false;
    };
    let mut context = Context::with_capacity(2);
    context.insert("aws:SourceArn", format!("arn:aws:s3:::{bucket}"));
    context.insert("aws:SourceAccount", bucket_owner.to_owned());
    let now = time::OffsetDateTime::now_utc();
    let decide = |principal| {
        policy.evaluate(
            &Request::new(principal, "sns:Publish", &topic.arn)
                .with_context(&context)
                .at(now),
        )
    };
    let owner = decide(Principal::User {
        name: bucket_owner,
        canonical_id: bucket_owner,
    });
    let service = decide(Principal::Service("s3.amazonaws.com"));
    owner != Decision::ExplicitDeny
        && service != Decision::ExplicitDeny
        && (owner == Decision::Allow || service == Decision::Allow)
}
