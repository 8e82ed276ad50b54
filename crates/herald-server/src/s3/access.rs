//! Who may do what to a bucket: one decision per S3 request, made before
//! the operation runs (`s3s`'s access hook, and the notification route's),
//! from the request's action and resource.
//!
//! The order, as AWS evaluates a bucket policy for a principal of another
//! account (every Herald user is its own account):
//! 1. an explicit `Deny` in the bucket policy refuses, the owner included,
//!    except the policy operations themselves for the owner (an owner can
//!    always repair a policy that locks everybody out);
//! 2. the bucket's owner is allowed;
//! 3. an `Allow` in the bucket policy allows (`"*"` includes anonymous
//!    requests), unless Block Public Access's `RestrictPublicBuckets` is on
//!    and the policy is public: then it allows nobody but the owner;
//! 4. a grant in the bucket ACL (bucket operations, object writes) or the
//!    object's ACL (object reads and ACL operations) allows, unless ACLs
//!    are off (`BucketOwnerEnforced`); grants to the public groups count
//!    for nothing under `IgnorePublicAcls`. An object's owner holds its
//!    ACL's rights;
//! 5. anything else is `AccessDenied`.
//!
//! The decision, with the caller and the bucket record, is left in the
//! request's extensions ([`Granted`]); operations read it from there and
//! check nothing themselves.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use herald_model::acl::{Permission, Requester};
use herald_policy::{Context, Decision, Policy, Principal, Request};
use herald_store::BucketRecord;
use s3s::access::{S3Access, S3AccessContext};
use s3s::path::S3Path;
use s3s::{S3Request, S3Result, s3_error};

use super::{HeraldS3, StoreResultExt};
use crate::front::RequestMeta;

/// The principal name events carry for an unsigned request.
pub const ANONYMOUS: &str = "anonymous";

/// Who made a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    User(String),
    Anonymous,
}

impl Caller {
    /// The name events and logs show (`userIdentity.principalId`).
    pub fn name(&self) -> &str {
        match self {
            Caller::User(u) => u,
            Caller::Anonymous => ANONYMOUS,
        }
    }
}

/// The access decision of a request, kept in its extensions: who asked,
/// and the bucket record the decision was made on (so the operation does
/// not read it again).
#[derive(Debug, Clone)]
pub struct Granted {
    pub caller: Caller,
    pub bucket: Option<BucketRecord>,
    /// What an ACL decision on an object rested on; the operation must
    /// serve exactly that.
    pub pinned: Pinned,
}

/// The object an allow rested on, when it was the object itself (its ACL
/// or owner), or its absence: the operation then reads exactly that
/// version, or answers `NoSuchKey`, never a version written since.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Pinned {
    #[default]
    Nothing,
    Version(String),
    /// Only allowed to learn that the key does not exist.
    Missing,
}

/// Parsed bucket policies, by bucket name, tied to the bucket's id (a
/// bucket re-created under the same name starts without one). Filled
/// lazily from the store and replaced by Put/DeleteBucketPolicy, so a
/// request costs a map lookup, not a parse.
#[derive(Default)]
pub struct PolicyCache {
    by_bucket: RwLock<HashMap<String, Cached>>,
}

#[derive(Clone)]
struct Cached {
    bucket_id: String,
    policy: Option<Arc<Policy>>,
}

impl PolicyCache {
    fn get(&self, bucket: &BucketRecord) -> Option<Option<Arc<Policy>>> {
        let map = self.by_bucket.read().expect("policy cache lock");
        map.get(&bucket.name)
            .filter(|c| c.bucket_id == bucket.id)
            .map(|c| c.policy.clone())
    }

    /// Caches what a request read from the store, unless a Put or Delete
    /// got there first (its newer policy must not be overwritten by an
    /// older read).
    fn fill(&self, bucket: &BucketRecord, policy: Option<Arc<Policy>>) {
        let mut map = self.by_bucket.write().expect("policy cache lock");
        match map.get(&bucket.name) {
            Some(c) if c.bucket_id == bucket.id => {}
            _ => {
                map.insert(
                    bucket.name.clone(),
                    Cached {
                        bucket_id: bucket.id.clone(),
                        policy,
                    },
                );
            }
        }
    }

    pub(crate) fn set(&self, bucket: &BucketRecord, policy: Option<Arc<Policy>>) {
        self.by_bucket.write().expect("policy cache lock").insert(
            bucket.name.clone(),
            Cached {
                bucket_id: bucket.id.clone(),
                policy,
            },
        );
    }
}

/// The limits a bucket policy is parsed under (S3's 20 KiB).
pub const BUCKET_POLICY_LIMITS: herald_policy::Limits = herald_policy::Limits {
    services: &["s3"],
    ..herald_policy::Limits::DEFAULT
};

/// What an operation needs from an ACL: a permission on the bucket or on
/// the object (S3's mapping of ACL permissions to operations).
enum AclNeed {
    Bucket(Permission),
    Object(Permission),
    /// Not grantable by ACL (configuration, tagging, policies).
    Nothing,
}

fn acl_need(op: &str) -> AclNeed {
    match op {
        "ListObjects" | "ListObjectsV2" | "ListObjectVersions" | "ListMultipartUploads" | "HeadBucket" => {
            AclNeed::Bucket(Permission::Read)
        }
        "PutObject"
        | "PostObject"
        | "CopyObject"
        | "CreateMultipartUpload"
        | "UploadPart"
        | "UploadPartCopy"
        | "CompleteMultipartUpload"
        | "AbortMultipartUpload"
        | "ListParts"
        | "DeleteObject"
        | "DeleteObjects" => AclNeed::Bucket(Permission::Write),
        "GetBucketAcl" => AclNeed::Bucket(Permission::ReadAcp),
        "PutBucketAcl" => AclNeed::Bucket(Permission::WriteAcp),
        "GetObject" | "HeadObject" | "GetObjectAttributes" => AclNeed::Object(Permission::Read),
        "GetObjectAcl" => AclNeed::Object(Permission::ReadAcp),
        "PutObjectAcl" => AclNeed::Object(Permission::WriteAcp),
        _ => AclNeed::Nothing,
    }
}

/// The IAM action of an S3 operation (as AWS names them).
pub fn action_of(op: &str, has_version_id: bool) -> String {
    let a = match op {
        "GetObject" | "HeadObject" if has_version_id => "GetObjectVersion",
        "GetObject" | "HeadObject" => "GetObject",
        "PutObject"
        | "PostObject"
        | "CopyObject"
        | "CreateMultipartUpload"
        | "UploadPart"
        | "UploadPartCopy"
        | "CompleteMultipartUpload" => "PutObject",
        "DeleteObject" if has_version_id => "DeleteObjectVersion",
        "DeleteObject" | "DeleteObjects" => "DeleteObject",
        "ListObjects" | "ListObjectsV2" | "HeadBucket" => "ListBucket",
        "ListObjectVersions" => "ListBucketVersions",
        "ListMultipartUploads" => "ListBucketMultipartUploads",
        "ListParts" => "ListMultipartUploadParts",
        "GetObjectTagging" if has_version_id => "GetObjectVersionTagging",
        "GetObjectAttributes" if has_version_id => "GetObjectVersionAttributes",
        "PutObjectTagging" if has_version_id => "PutObjectVersionTagging",
        "DeleteObjectTagging" if has_version_id => "DeleteObjectVersionTagging",
        "GetBucketNotificationConfiguration" => "GetBucketNotification",
        "PutBucketNotificationConfiguration" => "PutBucketNotification",
        "GetObjectAcl" if has_version_id => "GetObjectVersionAcl",
        "PutObjectAcl" if has_version_id => "PutObjectVersionAcl",
        "GetPublicAccessBlock" => "GetBucketPublicAccessBlock",
        "PutPublicAccessBlock" | "DeletePublicAccessBlock" => "PutBucketPublicAccessBlock",
        "DeleteBucketOwnershipControls" => "PutBucketOwnershipControls",
        "DeleteBucketTagging" => "PutBucketTagging",
        "PutObjectLockConfiguration" => "PutBucketObjectLockConfiguration",
        "PutBucketCors" | "DeleteBucketCors" => "PutBucketCORS",
        "GetBucketCors" => "GetBucketCORS",
        "GetObjectLockConfiguration" => "GetBucketObjectLockConfiguration",
        other => other,
    };
    format!("s3:{a}")
}

/// The operations an owner may always run on their own bucket, whatever
/// its policy denies.
fn is_policy_management(action: &str) -> bool {
    matches!(
        action,
        "s3:PutBucketPolicy" | "s3:GetBucketPolicy" | "s3:DeleteBucketPolicy" | "s3:GetBucketPolicyStatus"
    )
}

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
        match self.store.head_object(&bucket.name, key, ask.version_id) {
            Err(
                herald_store::StoreError::NoSuchKey
                | herald_store::StoreError::NoSuchVersion
                | herald_store::StoreError::MethodNotAllowedOnDeleteMarker,
            ) => {}
            Ok(_) => return Ok(false),
            Err(e) => return Err(super::s3_err(e)),
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
                Err(e) => Err(super::s3_err(e)),
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
            return Err(s3_error!(AccessDenied, "{}", super::signing::sigv2_disabled().message));
        }
        match self.store.lookup_key(&cred.access_key) {
            Some((user, _)) => Ok(Caller::User(user)),
            None => Err(s3_error!(InvalidAccessKeyId)),
        }
    }
}

/// The condition keys of a request: the client's address and transport,
/// the caller's name, the listing parameters and the canned ACL header.
pub fn request_context<'a>(
    meta: Option<&RequestMeta>,
    caller: &Caller,
    uri: &http::Uri,
    headers: &http::HeaderMap,
) -> Context<'a> {
    let mut cx = Context::with_capacity(6);
    if let Some(m) = meta {
        cx.insert("aws:SourceIp", m.conn.peer.ip().to_string());
        cx.insert("aws:SecureTransport", if m.conn.tls { "true" } else { "false" });
    }
    if let Caller::User(u) = caller {
        cx.insert("aws:username", u.clone());
    }
    if let Some(q) = uri.query() {
        for (k, v) in form_urlencoded::parse(q.as_bytes()) {
            let key = match k.as_ref() {
                "prefix" => "s3:prefix",
                "delimiter" => "s3:delimiter",
                "max-keys" => "s3:max-keys",
                _ => continue,
            };
            cx.insert(key, v.into_owned());
        }
    }
    // Headers S3 exposes as condition keys under their own names.
    for name in [
        "x-amz-acl",
        "x-amz-grant-full-control",
        "x-amz-grant-read",
        "x-amz-grant-write",
        "x-amz-grant-read-acp",
        "x-amz-grant-write-acp",
        "x-amz-metadata-directive",
        "x-amz-server-side-encryption",
        "x-amz-storage-class",
    ] {
        if let Some(v) = headers.get(name).and_then(|v| v.to_str().ok()) {
            cx.insert(format!("s3:{name}"), v.to_owned());
        }
    }
    // The copy source as `bucket/key` (decoded, no leading slash), what
    // policies match it against.
    if let Some(v) = headers.get("x-amz-copy-source").and_then(|v| v.to_str().ok()) {
        // As s3s reads it: the version split off first, then decoded (an
        // encoded `%3FversionId%3D` is part of the key).
        let path = v.split_once("?versionId=").map_or(v, |(p, _)| p);
        let decoded = percent_encoding::percent_decode_str(path).decode_utf8_lossy();
        cx.insert("s3:x-amz-copy-source", decoded.trim_start_matches('/').to_owned());
    }
    if let Some(tagging) = headers.get("x-amz-tagging").and_then(|v| v.to_str().ok()) {
        // Malformed tags are refused by the operation; here they are only
        // condition values.
        let tags: Vec<(String, String)> = form_urlencoded::parse(tagging.as_bytes())
            .take(MAX_REQUEST_TAG_KEYS)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        insert_request_tags(&mut cx, &tags);
    }
    cx
}

/// At most this many request tags become condition keys (S3 allows 10
/// per object; the operation refuses more, this only bounds the work).
const MAX_REQUEST_TAG_KEYS: usize = 50;

/// `s3:RequestObjectTag/<key>` and `s3:RequestObjectTagKeys` for the tags
/// a request sets (PutObject's `x-amz-tagging`, PutObjectTagging's body).
pub(crate) fn insert_request_tags(cx: &mut Context<'_>, tags: &[(String, String)]) {
    for (k, v) in tags {
        cx.insert(format!("s3:RequestObjectTag/{k}"), v.clone());
        cx.insert("s3:RequestObjectTagKeys", k.clone());
    }
}

/// The access decision for a request `s3s` routes to one of Herald's own
/// routes (no `s3s` operation, so no access hook): `action` on `bucket`.
pub(crate) fn authorize_route(s3: &HeraldS3, req: &mut S3Request<s3s::Body>, bucket: &str, op: &str) -> S3Result<()> {
    // SigV4 credentials always carry a region; SigV2 ones never.
    let sigv2 = req.credentials.is_some() && req.region.is_none();
    let caller = s3.identify(req.credentials.as_ref(), sigv2)?;
    let meta = req.extensions.get::<RequestMeta>().cloned();
    let context = || request_context(meta.as_ref(), &caller, &req.uri, &req.headers);
    let record = s3.decide(&Ask {
        caller: &caller,
        op,
        version_id: None,
        bucket,
        key: None,
        context: &context,
    })?;
    expected_owner(&req.headers, &record)?;
    req.extensions.insert(Granted {
        caller,
        bucket: Some(record),
        pinned: Pinned::Nothing,
    });
    Ok(())
}

/// `x-amz-expected-bucket-owner`: a client that says whose bucket it
/// means (its account id, a user name in Herald) is refused with 403
/// `AccessDenied` when the bucket is someone else's, as on AWS.
fn expected_owner(headers: &http::HeaderMap, bucket: &BucketRecord) -> S3Result<()> {
    match headers.get("x-amz-expected-bucket-owner").and_then(|v| v.to_str().ok()) {
        Some(expected) if expected != bucket.owner => Err(s3_error!(AccessDenied, "Access Denied")),
        _ => Ok(()),
    }
}

/// The object version the request names (`?versionId=`).
fn version_id_of(uri: &http::Uri) -> Option<String> {
    let q = uri.query()?;
    form_urlencoded::parse(q.as_bytes())
        .find(|(k, _)| k == "versionId")
        .map(|(_, v)| v.into_owned())
}

/// The S3 access decision for Herald's other front ends (SFTP): the very
/// decision S3 requests get, for a signed-in user connected from `peer`
/// over an encrypted transport.
#[derive(Clone)]
pub struct AccessDecider(pub(crate) HeraldS3);

impl AccessDecider {
    /// Whether `user` may run the S3 operation `op` (`ListObjects`,
    /// `GetObject`, ...) on `bucket` (and `key`), listing under `prefix`.
    pub fn allows(
        &self,
        user: &str,
        peer: Option<std::net::SocketAddr>,
        op: &str,
        bucket: &str,
        key: Option<&str>,
        prefix: Option<&str>,
    ) -> bool {
        let caller = Caller::User(user.to_owned());
        let context = || {
            let mut cx = Context::with_capacity(5);
            if let Some(p) = peer {
                cx.insert("aws:SourceIp", p.ip().to_string());
            }
            cx.insert("aws:SecureTransport", "true");
            cx.insert("aws:username", user.to_owned());
            if let Some(p) = prefix {
                cx.insert("s3:prefix", p.to_owned());
                cx.insert("s3:delimiter", "/");
            }
            cx
        };
        self.0
            .decide(&Ask {
                caller: &caller,
                op,
                version_id: None,
                bucket,
                key,
                context: &context,
            })
            .is_ok()
    }
}

/// The access hook `s3s` calls before every operation.
pub struct HeraldAccess(pub HeraldS3);

#[async_trait::async_trait]
impl S3Access for HeraldAccess {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        let s3 = &self.0;
        // SigV2 headers and presigned URLs were refused (or checked) on
        // the request head already (`signing::check`); s3s's access context
        // does not say which version signed, so nothing more is asked here.
        let caller = s3.identify(cx.credentials(), false)?;
        let op = cx.s3_op().name().to_owned();
        let (bucket, key) = match cx.s3_path() {
            S3Path::Root => (None, None),
            S3Path::Bucket { bucket } => (Some(bucket.to_string()), None),
            S3Path::Object { bucket, key } => (Some(bucket.to_string()), Some(key.to_string())),
        };
        let mut decided: Option<BucketRecord> = None;
        let mut pinned = Pinned::Nothing;
        match (op.as_str(), &bucket) {
            // Listing one's buckets: anonymous requests get an empty list.
            ("ListBuckets", _) => {}
            // Creating a bucket needs a user, no grant.
            ("CreateBucket", _) | (_, None) => {
                if caller == Caller::Anonymous {
                    return Err(s3_error!(AccessDenied, "Anonymous access is not allowed"));
                }
            }
            // Decided once the body's tag set is known (its tags are
            // condition keys): see `put_object_tagging` below.
            ("PutObjectTagging", Some(_)) => {}
            // A form upload's key is in the form: decided with it by the
            // `post_object` hook below, once s3s has parsed the form.
            ("PostObject", Some(_)) => {}
            // Checked per key by the operation (s3:DeleteObject on each
            // object, as AWS); here the caller only needs to be known.
            ("DeleteObjects", Some(bucket)) => {
                let record = s3.granted_bucket(&http::Extensions::new(), bucket)?;
                expected_owner(cx.headers(), &record)?;
                decided = Some(record);
            }
            (_, Some(bucket)) => {
                let meta = cx.extensions_mut().get::<RequestMeta>().cloned();
                let (uri, headers) = (cx.uri(), cx.headers());
                let context = || request_context(meta.as_ref(), &caller, uri, headers);
                let version_id = version_id_of(uri);
                let (record, on) = s3.decide_pinned(&Ask {
                    caller: &caller,
                    op: &op,
                    version_id: version_id.as_deref(),
                    bucket,
                    key: key.as_deref(),
                    context: &context,
                })?;
                expected_owner(cx.headers(), &record)?;
                decided = Some(record);
                pinned = on;
            }
        }
        cx.extensions_mut().insert(Granted {
            caller,
            bucket: decided,
            pinned,
        });
        Ok(())
    }

    /// PutObjectTagging, decided with the tags it sets
    /// (`s3:RequestObjectTag/<key>`), which only the parsed body holds.
    async fn put_object_tagging(&self, req: &mut S3Request<s3s::dto::PutObjectTaggingInput>) -> S3Result<()> {
        let s3 = &self.0;
        let caller = granted(req)?.caller;
        let tags: Vec<(String, String)> = req
            .input
            .tagging
            .tag_set
            .iter()
            .take(MAX_REQUEST_TAG_KEYS)
            .map(|t| (t.key.clone().unwrap_or_default(), t.value.clone().unwrap_or_default()))
            .collect();
        let meta = req.extensions.get::<RequestMeta>();
        let context = || {
            let mut cx = request_context(meta, &caller, &req.uri, &req.headers);
            insert_request_tags(&mut cx, &tags);
            cx
        };
        let record = s3.decide(&Ask {
            caller: &caller,
            op: "PutObjectTagging",
            version_id: req.input.version_id.as_deref(),
            bucket: &req.input.bucket,
            key: Some(&req.input.key),
            context: &context,
        })?;
        expected_owner(&req.headers, &record)?;
        req.extensions.insert(Granted {
            caller,
            bucket: Some(record),
            pinned: Pinned::Nothing,
        });
        Ok(())
    }

    // Operations whose body (which a client may trickle for as long as it
    // keeps sending) changes access: decided again once it has arrived, so
    // a grant revoked, a bucket re-created or Block Public Access turned on
    // meanwhile is not undone by a request decided before.

    async fn put_object_acl(&self, req: &mut S3Request<s3s::dto::PutObjectAclInput>) -> S3Result<()> {
        let (bucket, key, version) = (
            req.input.bucket.clone(),
            req.input.key.clone(),
            req.input.version_id.clone(),
        );
        decide_again(&self.0, req, "PutObjectAcl", &bucket, Some(&key), version.as_deref())
    }

    async fn put_bucket_acl(&self, req: &mut S3Request<s3s::dto::PutBucketAclInput>) -> S3Result<()> {
        let bucket = req.input.bucket.clone();
        decide_again(&self.0, req, "PutBucketAcl", &bucket, None, None)
    }

    async fn put_bucket_policy(&self, req: &mut S3Request<s3s::dto::PutBucketPolicyInput>) -> S3Result<()> {
        let bucket = req.input.bucket.clone();
        decide_again(&self.0, req, "PutBucketPolicy", &bucket, None, None)
    }

    async fn put_bucket_ownership_controls(
        &self,
        req: &mut S3Request<s3s::dto::PutBucketOwnershipControlsInput>,
    ) -> S3Result<()> {
        let bucket = req.input.bucket.clone();
        decide_again(&self.0, req, "PutBucketOwnershipControls", &bucket, None, None)
    }

    async fn put_public_access_block(&self, req: &mut S3Request<s3s::dto::PutPublicAccessBlockInput>) -> S3Result<()> {
        let bucket = req.input.bucket.clone();
        decide_again(&self.0, req, "PutPublicAccessBlock", &bucket, None, None)
    }

    async fn put_bucket_cors(&self, req: &mut S3Request<s3s::dto::PutBucketCorsInput>) -> S3Result<()> {
        let bucket = req.input.bucket.clone();
        decide_again(&self.0, req, "PutBucketCors", &bucket, None, None)
    }

    async fn put_bucket_tagging(&self, req: &mut S3Request<s3s::dto::PutBucketTaggingInput>) -> S3Result<()> {
        let bucket = req.input.bucket.clone();
        decide_again(&self.0, req, "PutBucketTagging", &bucket, None, None)
    }

    async fn put_bucket_versioning(&self, req: &mut S3Request<s3s::dto::PutBucketVersioningInput>) -> S3Result<()> {
        let bucket = req.input.bucket.clone();
        decide_again(&self.0, req, "PutBucketVersioning", &bucket, None, None)
    }

    /// A form upload names its key in the form, not the path: decided
    /// again on the object (`s3:PutObject` on `bucket/key`, the bucket
    /// ACL's WRITE), as a PutObject is.
    /// Its ACL, grants and storage class are form fields, not headers:
    /// they are the condition keys a header would give
    /// (`s3:x-amz-acl`, ...), so a policy sees a form as it sees a PUT.
    async fn post_object(&self, req: &mut S3Request<s3s::dto::PostObjectInput>) -> S3Result<()> {
        let s3 = &self.0;
        // A form signed with SigV2 (`AWSAccessKeyId` + `signature`; s3s
        // gives it no region) is refused unless the operator allows
        // SigV2: its signature is in the body, which the head check
        // (`signing::check`) never saw.
        if req.credentials.is_some() && req.region.is_none() {
            s3.identify(req.credentials.as_ref(), true)?;
        }
        let caller = granted(req)?.caller;
        let input = &req.input;
        let form_fields = [
            ("s3:x-amz-acl", input.acl.as_ref().map(|a| a.as_str().to_owned())),
            ("s3:x-amz-grant-full-control", input.grant_full_control.clone()),
            ("s3:x-amz-grant-read", input.grant_read.clone()),
            ("s3:x-amz-grant-read-acp", input.grant_read_acp.clone()),
            ("s3:x-amz-grant-write-acp", input.grant_write_acp.clone()),
            (
                "s3:x-amz-storage-class",
                input.storage_class.as_ref().map(|c| c.as_str().to_owned()),
            ),
            (
                "s3:x-amz-server-side-encryption",
                input.server_side_encryption.as_ref().map(|c| c.as_str().to_owned()),
            ),
        ];
        let meta = req.extensions.get::<RequestMeta>();
        let context = || {
            let mut cx = request_context(meta, &caller, &req.uri, &req.headers);
            for (name, value) in &form_fields {
                if let Some(v) = value {
                    cx.insert(*name, v.clone());
                }
            }
            cx
        };
        let record = s3.decide(&Ask {
            caller: &caller,
            op: "PostObject",
            version_id: None,
            bucket: &input.bucket,
            key: Some(&input.key),
            context: &context,
        })?;
        expected_owner(&req.headers, &record)?;
        req.extensions.insert(Granted {
            caller,
            bucket: Some(record),
            pinned: Pinned::Nothing,
        });
        Ok(())
    }

    async fn put_object_lock_configuration(
        &self,
        req: &mut S3Request<s3s::dto::PutObjectLockConfigurationInput>,
    ) -> S3Result<()> {
        let bucket = req.input.bucket.clone();
        decide_again(&self.0, req, "PutObjectLockConfiguration", &bucket, None, None)
    }

    async fn put_object_retention(&self, req: &mut S3Request<s3s::dto::PutObjectRetentionInput>) -> S3Result<()> {
        let (bucket, key, version) = (
            req.input.bucket.clone(),
            req.input.key.clone(),
            req.input.version_id.clone(),
        );
        decide_again(
            &self.0,
            req,
            "PutObjectRetention",
            &bucket,
            Some(&key),
            version.as_deref(),
        )
    }

    async fn put_object_legal_hold(&self, req: &mut S3Request<s3s::dto::PutObjectLegalHoldInput>) -> S3Result<()> {
        let (bucket, key, version) = (
            req.input.bucket.clone(),
            req.input.key.clone(),
            req.input.version_id.clone(),
        );
        decide_again(
            &self.0,
            req,
            "PutObjectLegalHold",
            &bucket,
            Some(&key),
            version.as_deref(),
        )
    }

    async fn complete_multipart_upload(
        &self,
        req: &mut S3Request<s3s::dto::CompleteMultipartUploadInput>,
    ) -> S3Result<()> {
        let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
        decide_again(&self.0, req, "CompleteMultipartUpload", &bucket, Some(&key), None)
    }

    /// A copy also reads its source: `s3:GetObject` there.
    async fn copy_object(&self, req: &mut S3Request<s3s::dto::CopyObjectInput>) -> S3Result<()> {
        let source = req.input.copy_source.clone();
        check_copy_source(&self.0, req, &source)
    }

    async fn upload_part_copy(&self, req: &mut S3Request<s3s::dto::UploadPartCopyInput>) -> S3Result<()> {
        let source = req.input.copy_source.clone();
        check_copy_source(&self.0, req, &source)
    }
}

/// The decision of a request made again, after its body arrived (see the
/// hooks above); it replaces the first one.
fn decide_again<T>(
    s3: &HeraldS3,
    req: &mut S3Request<T>,
    op: &str,
    bucket: &str,
    key: Option<&str>,
    version_id: Option<&str>,
) -> S3Result<()> {
    let caller = granted(req)?.caller;
    let meta = req.extensions.get::<RequestMeta>();
    let context = || request_context(meta, &caller, &req.uri, &req.headers);
    let (record, pinned) = s3.decide_pinned(&Ask {
        caller: &caller,
        op,
        version_id,
        bucket,
        key,
        context: &context,
    })?;
    expected_owner(&req.headers, &record)?;
    req.extensions.insert(Granted {
        caller,
        bucket: Some(record),
        pinned,
    });
    Ok(())
}

/// Whether the caller may also take a second action a request needs
/// (`s3:BypassGovernanceRetention` along with a delete or a retention
/// change): a yes or no, never an error of its own. The owner of the
/// bucket may always.
pub(crate) fn also_allowed<T>(
    s3: &HeraldS3,
    req: &S3Request<T>,
    op: &str,
    bucket: &str,
    key: Option<&str>,
    version_id: Option<&str>,
) -> bool {
    let Ok(caller) = granted(req).map(|g| g.caller) else {
        return false;
    };
    let meta = req.extensions.get::<RequestMeta>();
    let context = || request_context(meta, &caller, &req.uri, &req.headers);
    s3.decide(&Ask {
        caller: &caller,
        op,
        version_id,
        bucket,
        key,
        context: &context,
    })
    .is_ok()
}

/// Whether the request's decision rested on one object version (see
/// [`Pinned`]), which the operation must then serve.
pub(crate) fn decided_on_version(ext: &http::Extensions) -> bool {
    ext.get::<Granted>()
        .is_some_and(|g| matches!(g.pinned, Pinned::Version(_)))
}

/// The object version a read was allowed on: the one its decision rested
/// on, `NoSuchKey` where it was only allowed to learn the key is missing,
/// else the one the request names (or the current one).
pub(crate) fn decided_version(
    s3: &HeraldS3,
    ext: &http::Extensions,
    bucket: &str,
    key: &str,
    version_id: Option<&str>,
) -> S3Result<herald_store::ObjectVersion> {
    let pinned = ext.get::<Granted>().map(|g| g.pinned.clone()).unwrap_or_default();
    let missing = || {
        if version_id.is_some() {
            s3_error!(NoSuchVersion, "The specified version does not exist.")
        } else {
            s3_error!(NoSuchKey, "The specified key does not exist.")
        }
    };
    match pinned {
        Pinned::Missing => Err(missing()),
        Pinned::Version(id) => match s3.store.head_object(bucket, key, Some(&id)) {
            // Overwritten since the decision: what was allowed is gone.
            Err(herald_store::StoreError::NoSuchVersion) => Err(missing()),
            other => other.map_err(super::s3_err),
        },
        Pinned::Nothing => s3.store.head_object(bucket, key, version_id).map_err(super::s3_err),
    }
}

/// `s3:GetObject` (or `GetObjectVersion`) on a copy's source object.
fn check_copy_source<T>(s3: &HeraldS3, req: &S3Request<T>, source: &s3s::dto::CopySource) -> S3Result<()> {
    let s3s::dto::CopySource::Bucket {
        bucket,
        key,
        version_id,
    } = source
    else {
        return Err(s3_error!(NotImplemented, "access points are not supported"));
    };
    let caller = granted(req)?.caller;
    let meta = req.extensions.get::<RequestMeta>();
    let context = || request_context(meta, &caller, &req.uri, &req.headers);
    let record = s3.decide(&Ask {
        caller: &caller,
        op: "GetObject",
        version_id: version_id.as_deref(),
        bucket,
        key: Some(key),
        context: &context,
    })?;
    // The source's own expected owner (`x-amz-source-expected-bucket-owner`).
    match req
        .headers
        .get("x-amz-source-expected-bucket-owner")
        .and_then(|v| v.to_str().ok())
    {
        Some(expected) if expected != record.owner => Err(s3_error!(AccessDenied, "Access Denied")),
        _ => Ok(()),
    }
}

/// Per-object decisions within one request (DeleteObjects): the caller
/// and the request's condition keys, taken once.
pub(crate) struct ObjectChecker {
    caller: Caller,
    context: Context<'static>,
}

impl ObjectChecker {
    pub(crate) fn of<T>(req: &S3Request<T>) -> S3Result<ObjectChecker> {
        let caller = granted(req)?.caller;
        let meta = req.extensions.get::<RequestMeta>();
        let context = request_context(meta, &caller, &req.uri, &req.headers);
        Ok(ObjectChecker { caller, context })
    }

    /// `op` (an S3 operation name) on `bucket/key`.
    pub(crate) fn check(
        &self,
        s3: &HeraldS3,
        op: &str,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
    ) -> S3Result<()> {
        let context = || self.context.clone();
        s3.decide(&Ask {
            caller: &self.caller,
            op,
            version_id,
            bucket,
            key: Some(key),
            context: &context,
        })
        .map(|_| ())
    }
}

/// The decision the access hook left on a request.
pub(crate) fn granted<T>(req: &S3Request<T>) -> S3Result<Granted> {
    req.extensions
        .get::<Granted>()
        .cloned()
        .ok_or_else(|| s3_error!(AccessDenied, "Access Denied"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_sources_decode_like_s3s() {
        let source = |v: &str| {
            let mut h = http::HeaderMap::new();
            h.insert("x-amz-copy-source", http::HeaderValue::from_str(v).unwrap());
            let cx = request_context(None, &Caller::Anonymous, &http::Uri::from_static("/b/k"), &h);
            cx.values("s3:x-amz-copy-source").next().map(str::to_owned)
        };
        assert_eq!(source("/b/a%20b%2Bc+d").as_deref(), Some("b/a b+c+d"));
        // An encoded `?versionId=` is part of the key; a literal one is not.
        assert_eq!(source("b/ok%3FversionId%3Dx").as_deref(), Some("b/ok?versionId=x"));
        assert_eq!(source("b/ok?versionId=x").as_deref(), Some("b/ok"));
        assert_eq!(source("b/100%").as_deref(), Some("b/100%"));
    }

    #[test]
    fn operations_map_to_aws_action_names() {
        assert_eq!(action_of("HeadObject", false), "s3:GetObject");
        assert_eq!(action_of("GetObject", true), "s3:GetObjectVersion");
        assert_eq!(action_of("ListObjectsV2", false), "s3:ListBucket");
        assert_eq!(action_of("CompleteMultipartUpload", false), "s3:PutObject");
        assert_eq!(action_of("DeleteObjects", false), "s3:DeleteObject");
        assert_eq!(action_of("PutBucketPolicy", false), "s3:PutBucketPolicy");
        assert_eq!(
            action_of("PutBucketNotificationConfiguration", false),
            "s3:PutBucketNotification"
        );
    }
}
