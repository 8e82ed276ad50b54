//! One access question decided: the bucket policy, the owner, the ACLs,
//! in the order the module documents. The heart of access control, apart
//! from the request plumbing around it.

use std::sync::Arc;

use herald_model::acl::{Permission, Requester};
use herald_policy::{Context, Decision, Policy, Principal, Request};
use herald_store::BucketRecord;
use s3s::{S3Result, s3_error};

use super::actions::{AclNeed, acl_need, action_of, is_policy_management};
use super::policy_cache::BUCKET_POLICY_LIMITS;
use super::{Caller, Pinned};
use crate::s3::{HeraldS3, StoreResultExt};

/// One access question: who, which operation, on which bucket (and
/// object). The action name and the condition keys are only worked out
/// when the bucket has a policy: an owner on a bucket without one (the
/// common case) costs a bucket lookup and a cache probe, nothing more.
pub struct Ask<'a> {
    pub caller: &'a Caller,
    /// The S3 operation (`GetObject`, ...), see [`action_of`].
    pub op: &'a str,
    /// The object version the request names, if any.
    pub version_id: Option<&'a str>,
    pub bucket: &'a str,
    pub key: Option<&'a str>,
    /// The request's condition keys, built on demand.
    pub context: &'a dyn Fn() -> Context<'a>,
}

impl HeraldS3 {
    /// The bucket's policy, parsed (from the cache, else the store).
    fn bucket_policy(&self, bucket: &BucketRecord) -> S3Result<Option<Arc<Policy>>> {
        if let Some(p) = self.policies.get(bucket) {
            return Ok(p);
        }
        let parsed = match self.store.get_bucket_policy(bucket).s3()? {
            None => None,
            Some(row) => match Policy::parse(&row.text, &BUCKET_POLICY_LIMITS) {
                Ok(p) => Some(Arc::new(p)),
                Err(e) => {
                    // Stored policies were valid when put; one that no
                    // longer parses grants nothing.
                    tracing::error!(bucket = %bucket.name, error = %e, "stored bucket policy does not parse; ignored");
                    None
                }
            },
        };
        self.policies.fill(bucket, parsed.clone());
        Ok(self.policies.get(bucket).unwrap_or(parsed))
    }

    /// Decides one access question; the bucket's record when allowed.
    pub(crate) fn decide(&self, ask: &Ask<'_>) -> S3Result<BucketRecord> {
        self.decide_pinned(ask).map(|(bucket, _)| bucket)
    }

    /// [`HeraldS3::decide`], saying which object version (or absence) an
    /// ACL allow rested on.
    pub(crate) fn decide_pinned(&self, ask: &Ask<'_>) -> S3Result<(BucketRecord, Pinned)> {
        if self.objects_upstream
            && let Some(key) = ask.key
            && has_dot_segment(key)
        {
            // Decided on the literal key, forwarded to a store (or a proxy
            // before it) that might resolve `..` into another bucket or
            // prefix: not forwarded at all.
            return Err(s3_error!(
                InvalidArgument,
                "Keys with . or .. path segments are not available in gateway mode"
            ));
        }
        let Some(bucket) = self.store.get_bucket(ask.bucket).s3()? else {
            return Err(s3_error!(NoSuchBucket, "The specified bucket does not exist"));
        };
        let is_owner = matches!(ask.caller, Caller::User(u) if *u == bucket.owner);
        let policy = self.bucket_policy(&bucket)?;
        if is_owner && policy.is_none() {
            return Ok((bucket, Pinned::Nothing));
        }
        let action = action_of(ask.op, ask.version_id.is_some());
        let decision = match &policy {
            None => Decision::NotApplicable,
            Some(p) => {
                let mut context = (ask.context)();
                if self.objects_upstream && ask.key.is_some() && p.mentions_key_prefix("s3:ExistingObjectTag/") {
                    // The tags are the upstream's: a policy that tests them
                    // cannot be evaluated here, and is not guessed at.
                    return Err(s3_error!(
                        AccessDenied,
                        "Access Denied: policies that test s3:ExistingObjectTag are not evaluated in gateway mode"
                    ));
                }
                if let Some(key) = ask.key
                    && p.mentions_key_prefix("s3:ExistingObjectTag/")
                {
                    // Only read for policies that test them: a lookup per
                    // request otherwise.
                    if let Ok(v) = self.store.head_object(&bucket.name, key, ask.version_id) {
                        for (k, val) in v.tags {
                            context.insert(format!("s3:ExistingObjectTag/{k}"), val);
                        }
                    }
                }
                let resource = match ask.key {
                    Some(k) => format!("arn:aws:s3:::{}/{k}", ask.bucket),
                    None => format!("arn:aws:s3:::{}", ask.bucket),
                };
                // `{"CanonicalUser": ...}` principals name the canonical id.
                // Looked up only for policies that name one.
                let profile = match ask.caller {
                    Caller::User(u) if p.names_canonical_users() => self.store.get_user(u).ok().flatten(),
                    _ => None,
                };
                let principal = match ask.caller {
                    Caller::User(u) => Principal::User {
                        name: u,
                        canonical_id: profile.as_ref().map_or(u.as_str(), |p| p.canonical_id()),
                    },
                    Caller::Anonymous => Principal::Anonymous,
                };
                let d = p.evaluate(
                    &Request::new(principal, &action, &resource)
                        .with_context(&context)
                        .at(time::OffsetDateTime::now_utc()),
                );
                let restricted = d == Decision::Allow
                    && !is_owner
                    && bucket.public_access().restrict_public_buckets
                    && p.is_public();
                if restricted { Decision::NotApplicable } else { d }
            }
        };
        let allowed = match decision {
            Decision::ExplicitDeny if is_owner && is_policy_management(&action) => Some(Pinned::Nothing),
            Decision::ExplicitDeny => None,
            Decision::Allow => Some(Pinned::Nothing),
            Decision::NotApplicable if is_owner => Some(Pinned::Nothing),
            Decision::NotApplicable => self.acl_allows(&bucket, ask)?,
        };
        match allowed {
            Some(pinned) => Ok((bucket, pinned)),
            None if decision != Decision::ExplicitDeny && self.may_learn_it_is_missing(&bucket, ask)? => {
                Ok((bucket, Pinned::Missing))
            }
            None => Err(s3_error!(AccessDenied, "Access Denied")),
        }
    }

    /// A read of an object that does not exist answers 404 (`NoSuchKey`)
    /// to a caller who may list its key (`s3:ListBucket` with `s3:prefix`
    /// the key, or the bucket ACL's READ), and 403 to anybody else, as S3
    /// does: the answer tells nothing a listing would not.
    fn may_learn_it_is_missing(&self, bucket: &BucketRecord, ask: &Ask<'_>) -> S3Result<bool> {
        let (Some(key), "GetObject" | "HeadObject") = (ask.key, ask.op) else {
            return Ok(false);
        };
        if self.objects_upstream {
            // Every key looks missing in a store that keeps no objects:
            // the caller gets 403, never the object.
            return Ok(false);
        }
        match self.store.head_object(&bucket.name, key, ask.version_id) {
            Err(
                herald_store::StoreError::NoSuchKey
                | herald_store::StoreError::NoSuchVersion
                | herald_store::StoreError::MethodNotAllowedOnDeleteMarker,
            ) => {}
            Ok(_) => return Ok(false),
            Err(e) => return Err(crate::s3::s3_err(e)),
        }
        let context = || {
            let mut cx = (ask.context)();
            cx.insert("s3:prefix", key.to_owned());
            cx
        };
        let list = Ask {
            caller: ask.caller,
            op: "ListObjects",
            version_id: None,
            bucket: ask.bucket,
            key: None,
            context: &context,
        };
        Ok(self.decide(&list).is_ok())
    }

    /// Whether the bucket's or the object's ACL gives a caller who is not
    /// the bucket owner what `ask` needs (step 4 of the module's order),
    /// and on which object version it rested.
    fn acl_allows(&self, bucket: &BucketRecord, ask: &Ask<'_>) -> S3Result<Option<Pinned>> {
        if !bucket.acls_enabled() {
            return Ok(None);
        }
        let ignore_public = bucket.public_access().ignore_public_acls;
        let requester = match ask.caller {
            Caller::User(u) => Requester::User(u),
            Caller::Anonymous => Requester::Anonymous,
        };
        let bucket_grants = |p: Permission| {
            bucket
                .acl
                .as_ref()
                .is_some_and(|a| a.allows(requester, p, ignore_public))
        };
        match (acl_need(ask.op), ask.key) {
            (AclNeed::Bucket(p), _) => Ok(bucket_grants(p).then_some(Pinned::Nothing)),
            // Gateway mode: object ACLs are the upstream's business, never
            // Herald's (a store that kept objects before would still have
            // theirs): no grant from them.
            (AclNeed::Object(_), Some(_)) if self.objects_upstream => Ok(None),
            (AclNeed::Object(p), Some(key)) => match self.store.head_object(&bucket.name, key, ask.version_id) {
                Ok(v) => {
                    let owns = matches!(ask.caller, Caller::User(u) if u == bucket.object_owner(&v));
                    let granted = owns || v.acl.as_ref().is_some_and(|a| a.allows(requester, p, ignore_public));
                    Ok(granted.then_some(Pinned::Version(v.version_id)))
                }
                // A missing object: see `may_learn_it_is_missing`.
                Err(
                    herald_store::StoreError::NoSuchKey
                    | herald_store::StoreError::NoSuchVersion
                    | herald_store::StoreError::MethodNotAllowedOnDeleteMarker,
                ) => Ok(None),
                Err(e) => Err(crate::s3::s3_err(e)),
            },
            _ => Ok(None),
        }
    }

    /// The caller of a request as its signature (or its absence) says.
    pub(crate) fn identify(&self, credentials: Option<&s3s::auth::Credentials>, sigv2: bool) -> S3Result<Caller> {
        let Some(cred) = credentials else {
            return Ok(Caller::Anonymous);
        };
        if sigv2 && !self.allow_sigv2 {
            return Err(s3_error!(
                AccessDenied,
                "{}",
                crate::s3::signing::sigv2_disabled().message
            ));
        }
        match self.store.lookup_key(&cred.access_key) {
            Some((user, _)) => Ok(Caller::User(user)),
            None => Err(s3_error!(InvalidAccessKeyId)),
        }
    }
}

/// Whether a key has a `.` or `..` path segment (`a/../b`, `./x`, `..`).
fn has_dot_segment(key: &str) -> bool {
    key.split('/').any(|s| s == "." || s == "..")
}

#[cfg(test)]
mod dot_segment_tests {
    use super::has_dot_segment;

    #[test]
    fn dot_segments_are_found_anywhere() {
        for k in ["..", ".", "a/../b", "./x", "x/.", "a//../b"] {
            assert!(has_dot_segment(k), "{k}");
        }
        for k in ["a.b", "..a", "a..", "a/.b/c", "..../x", "a/b"] {
            assert!(!has_dot_segment(k), "{k}");
        }
    }
}
