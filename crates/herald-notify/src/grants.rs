//! What queue and topic policies are asked, in one place: may this user
//! take this action, and may this bucket's events be delivered here. The
//! S3 side has its own decision (herald-server's `s3::access`), made per
//! request.

use herald_policy::{Context, Decision, Policy, Principal, Request};

/// Whether `policy` allows `user` to take `action` on `resource` (and no
/// statement denies it).
pub fn user_allowed(policy: &Policy, user: &str, action: &str, resource: &str, context: &Context<'_>) -> bool {
    let principal = Principal::User {
        name: user,
        canonical_id: user,
    };
    let req = Request::new(principal, action, resource)
        .with_context(context)
        .at(time::OffsetDateTime::now_utc());
    policy.evaluate(&req) == Decision::Allow
}

/// Whether `policy` lets `bucket` (owned by `bucket_owner`) deliver its
/// events with `action` (`sqs:SendMessage`, `sns:Publish`) to `resource`:
/// allowed to S3 (`{"Service": "s3.amazonaws.com"}`) or to the bucket's
/// owner, with the bucket as `aws:SourceArn` and its owner as
/// `aws:SourceAccount` (the form AWS documents for event destinations),
/// and denied to neither.
pub fn bucket_may_deliver(policy: &Policy, action: &str, resource: &str, bucket: &str, bucket_owner: &str) -> bool {
    bucket_delivery_decision(policy, action, resource, bucket, bucket_owner) == Decision::Allow
}

/// The decision behind [`bucket_may_deliver`]: `ExplicitDeny` when a
/// statement denies S3 or the owner, else `Allow` when one allows either,
/// else `NotApplicable`.
pub fn bucket_delivery_decision(
    policy: &Policy,
    action: &str,
    resource: &str,
    bucket: &str,
    bucket_owner: &str,
) -> Decision {
    let mut context = Context::with_capacity(2);
    context.insert("aws:SourceArn", format!("arn:aws:s3:::{bucket}"));
    context.insert("aws:SourceAccount", bucket_owner.to_owned());
    let now = time::OffsetDateTime::now_utc();
    let decide = |principal| policy.evaluate(&Request::new(principal, action, resource).with_context(&context).at(now));
    let service = decide(Principal::Service("s3.amazonaws.com"));
    let owner = decide(Principal::User {
        name: bucket_owner,
        canonical_id: bucket_owner,
    });
    if service == Decision::ExplicitDeny || owner == Decision::ExplicitDeny {
        Decision::ExplicitDeny
    } else if service == Decision::Allow || owner == Decision::Allow {
        Decision::Allow
    } else {
        Decision::NotApplicable
    }
}
