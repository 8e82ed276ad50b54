//! What queue and topic policies are asked, in one place: may this user
//! take this action, and may this bucket's events be delivered here. The
//! S3 side has its own decision (see `s3::access`), made per request.

use herald_policy::Context;

use crate::front::ConnInfo;

/// The condition keys of a signed request by `user` over `conn`.
pub(crate) fn caller_context(user: &str, conn: &ConnInfo) -> Context<'static> {
    let mut context = Context::with_capacity(3);
    context.insert("aws:SourceIp", conn.peer.ip().to_string());
    context.insert("aws:SecureTransport", if conn.tls { "true" } else { "false" });
    context.insert("aws:username", user.to_owned());
    context
}

pub(crate) use herald_notify::grants::user_allowed;
