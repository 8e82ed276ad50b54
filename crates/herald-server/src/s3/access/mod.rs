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
//!
//! The files: `decide` answers one question (the order above), `actions`
//! names what an operation needs (IAM action, ACL permission), `context`
//! gathers a request's condition keys, `hook` is the `s3s` access hook,
//! `checks` the decisions asked elsewhere (Herald's own routes, SFTP,
//! per-object checks, second actions), `policy_cache` the parsed bucket
//! policies. This file keeps the decision left on a request and what the
//! operations read back from it.

mod actions;
mod checks;
mod context;
mod decide;
mod hook;
mod policy_cache;

pub use checks::AccessDecider;
pub(crate) use checks::{ObjectChecker, also_allowed, authorize_route, authorize_user};
pub use hook::HeraldAccess;
pub use policy_cache::{BUCKET_POLICY_LIMITS, PolicyCache};

use herald_store::BucketRecord;
use s3s::{S3Request, S3Result, s3_error};

use super::HeraldS3;

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

/// The decision the access hook left on a request.
pub(crate) fn granted<T>(req: &S3Request<T>) -> S3Result<Granted> {
    req.extensions
        .get::<Granted>()
        .cloned()
        .ok_or_else(|| s3_error!(AccessDenied, "Access Denied"))
}
