//! Queue policies (AWS semantics): the `Policy` attribute lets other users
//! act on a queue. The owner is always allowed; another user is allowed an
//! action when the policy allows `sqs:<Action>` on the queue's ARN for them
//! and denies it nowhere. Managing the queue (attributes, deletion, tags)
//! stays its owner's, as on AWS, whatever a policy says.

use std::sync::{Arc, LazyLock};

use herald_policy::{ParsedCache, Policy};

use super::Ctx;
use crate::grants;

/// Actions only a queue's owner may take.
const OWNER_ONLY: &[&str] = &[
    "SetQueueAttributes",
    "DeleteQueue",
    "TagQueue",
    "UntagQueue",
    "AddPermission",
    "RemovePermission",
];

/// Parsed queue policies by queue ARN.
static PARSED: LazyLock<ParsedCache> = LazyLock::new(|| ParsedCache::new(herald_queue::QUEUE_POLICY_LIMITS, 10_000));

/// The queue's parsed policy, if it has one that parses.
fn policy_of(queue: &herald_queue::QueueInfo) -> Option<Arc<Policy>> {
    let text = queue.attributes.get("Policy").filter(|t| !t.is_empty())?;
    PARSED.get(&queue.arn, text)
}

/// Whether a bucket's events may go into `queue`: its owner is the
/// bucket's, or its policy lets the bucket send them
/// (`sqs:SendMessage`, see [`grants::bucket_may_deliver`]).
pub(crate) fn s3_may_send(queue: &herald_queue::QueueInfo, bucket: &str, bucket_owner: &str) -> bool {
    queue.owner == bucket_owner
        || policy_of(queue)
            .is_some_and(|p| grants::bucket_may_deliver(&p, "sqs:SendMessage", &queue.arn, bucket, bucket_owner))
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
    let Some(policy) = policy_of(&q) else {
        return false;
    };
    // AWS checks the batch actions as their single form.
    let action = format!("sqs:{}", ctx.action.strip_suffix("Batch").unwrap_or(&ctx.action));
    grants::user_allowed(
        &policy,
        &ctx.user,
        &action,
        &q.arn,
        &grants::caller_context(&ctx.user, &ctx.conn),
    )
}
