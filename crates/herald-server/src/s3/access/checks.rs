//! Access decisions asked outside the `s3s` access hook: Herald's own
//! routes, the other front ends (SFTP), a second action one request needs,
//! and per-object checks within one request (DeleteObjects).

use herald_policy::Context;
use s3s::{S3Request, S3Result};

use super::context::{expected_owner, request_context};
use super::decide::Ask;
use super::{Caller, Granted, Pinned, granted};
use crate::front::RequestMeta;
use crate::s3::HeraldS3;

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

/// A route that acts on the caller's own things only (the bucket-less live
/// tail): any signed-in user, never an anonymous one.
pub(crate) fn authorize_user(s3: &HeraldS3, req: &mut S3Request<s3s::Body>) -> S3Result<()> {
    let sigv2 = req.credentials.is_some() && req.region.is_none();
    let caller = s3.identify(req.credentials.as_ref(), sigv2)?;
    if matches!(caller, Caller::Anonymous) {
        return Err(s3s::s3_error!(
            AccessDenied,
            "sign the request: anonymous callers have no buckets"
        ));
    }
    req.extensions.insert(Granted {
        caller,
        bucket: None,
        pinned: Pinned::Nothing,
    });
    Ok(())
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
