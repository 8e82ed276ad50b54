//! Queue policies (AWS semantics): the `Policy` attribute lets other users
//! act on a queue. The owner is always allowed; another user is allowed an
//! action when the policy allows `sqs:<Action>` on the queue's ARN for them
//! and denies it nowhere. Managing the queue (attributes, deletion, tags)
//! stays its owner's, as on AWS, whatever a policy says.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use herald_policy::{Context, Decision, Policy, Principal, Request};

use super::Ctx;

/// Actions only a queue's owner may take.
const OWNER_ONLY: &[&str] = &[
    "SetQueueAttributes",
    "DeleteQueue",
    "TagQueue",
    "UntagQueue",
    "AddPermission",
    "RemovePermission",
];

/// Parsed policies by queue, with the text they came from (a changed text
/// is parsed again), so a request costs a lookup and an evaluation.
static PARSED: LazyLock<Mutex<HashMap<QueueKey, Parsed>>> = LazyLock::new(Default::default);

/// A policy text and what it parsed to.
type Parsed = (String, Arc<Policy>);

/// Parsed policies kept at most (the cache is emptied when full).
const MAX_CACHED: usize = 10_000;

/// (owner, queue name).
type QueueKey = (String, String);

/// The queue's parsed policy, if it has one that parses.
fn policy_of(owner: &str, name: &str, text: &str) -> Option<Arc<Policy>> {
    let key = (owner.to_owned(), name.to_owned());
    let mut cache = PARSED.lock().expect("queue policy cache");
    if let Some((t, p)) = cache.get(&key)
        && t == text
    {
        return Some(p.clone());
    }
    let parsed = Arc::new(Policy::parse(text, &herald_queue::QUEUE_POLICY_LIMITS).ok()?);
    if cache.len() >= MAX_CACHED {
        // Deleted queues leave entries behind: start over rather than grow.
        cache.clear();
    }
    cache.insert(key, (text.to_owned(), parsed.clone()));
    Some(parsed)
}

/// Whether a bucket's events may go into `queue`: its owner is the
/// bucket's, or its policy allows `sqs:SendMessage` to S3 (principal
/// `{"Service": "s3.amazonaws.com"}`, or the bucket's owner) with the
/// bucket as `aws:SourceArn` and its owner as `aws:SourceAccount`, as an
/// AWS queue policy for S3 events reads.
pub(crate) fn s3_may_send(queue: &herald_queue::QueueInfo, bucket: &str, bucket_owner: &str) -> bool {
    if queue.owner == bucket_owner {
        return true;
    }
    let Some(text) = queue.attributes.get("Policy").filter(|t| !t.is_empty()) else {
        return false;
    };
    let Some(policy) = policy_of(&queue.owner, &queue.name, text) else {
        return false;
    };
    let source_arn = format!("arn:aws:s3:::{bucket}");
    let mut context = Context::with_capacity(2);
    context.insert("aws:SourceArn", source_arn);
    context.insert("aws:SourceAccount", bucket_owner.to_owned());
    let now = time::OffsetDateTime::now_utc();
    let as_principal = |principal| {
        policy.evaluate(
            &Request::new(principal, "sqs:SendMessage", &queue.arn)
                .with_context(&context)
                .at(now),
        )
    };
    let service = as_principal(Principal::Service("s3.amazonaws.com"));
    let owner = as_principal(Principal::User {
        name: bucket_owner,
        canonical_id: bucket_owner,
    });
    let denied = service == Decision::ExplicitDeny || owner == Decision::ExplicitDeny;
    !denied && (service == Decision::Allow || owner == Decision::Allow)
}

/// Whether the caller of `ctx`, who does not own `owner/name`, may take
/// `ctx.action` on it. A queue that does not exist allows nothing (and
/// says nothing about existing).
pub(crate) fn allows(ctx: &Ctx<'_>, owner: &str, name: &str) -> bool {
    if OWNER_ONLY.contains(&ctx.action.as_str()) {
        return false;
    }
    let Ok(q) = ctx.engine.get_queue(owner, name) else {
        return false;
    };
    let Some(text) = q.attributes.get("Policy").filter(|t| !t.is_empty()) else {
        return false;
    };
    let Some(policy) = policy_of(owner, name, text) else {
        return false;
    };
    // AWS checks the batch actions as their single form.
    let action = format!("sqs:{}", ctx.action.strip_suffix("Batch").unwrap_or(&ctx.action));
    let mut context = Context::with_capacity(3);
    context.insert("aws:SourceIp", ctx.conn.peer.ip().to_string());
    context.insert("aws:SecureTransport", if ctx.conn.tls { "true" } else { "false" });
    context.insert("aws:username", ctx.user.clone());
    let req = Request::new(
        Principal::User {
            name: &ctx.user,
            canonical_id: &ctx.user,
        },
        &action,
        &q.arn,
    )
    .with_context(&context)
    .at(time::OffsetDateTime::now_utc());
    policy.evaluate(&req) == Decision::Allow
}
