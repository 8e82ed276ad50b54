//! A request's condition keys (address, transport, caller, listing
//! parameters, ACL and tagging headers, copy source) and the small header
//! and query readers the hooks share: request parsing, apart from the
//! decision itself.

use herald_policy::Context;
use herald_store::BucketRecord;
use s3s::{S3Result, s3_error};

use super::Caller;
use crate::front::RequestMeta;

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
pub(super) const MAX_REQUEST_TAG_KEYS: usize = 50;

/// `s3:RequestObjectTag/<key>` and `s3:RequestObjectTagKeys` for the tags
/// a request sets (PutObject's `x-amz-tagging`, PutObjectTagging's body).
pub(crate) fn insert_request_tags(cx: &mut Context<'_>, tags: &[(String, String)]) {
    for (k, v) in tags {
        cx.insert(format!("s3:RequestObjectTag/{k}"), v.clone());
        cx.insert("s3:RequestObjectTagKeys", k.clone());
    }
}

/// `x-amz-expected-bucket-owner`: a client that says whose bucket it
/// means (its account id, a user name in Herald) is refused with 403
/// `AccessDenied` when the bucket is someone else's, as on AWS.
pub(super) fn expected_owner(headers: &http::HeaderMap, bucket: &BucketRecord) -> S3Result<()> {
    match headers.get("x-amz-expected-bucket-owner").and_then(|v| v.to_str().ok()) {
        Some(expected) if expected != bucket.owner => Err(s3_error!(AccessDenied, "Access Denied")),
        _ => Ok(()),
    }
}

/// The object version the request names (`?versionId=`).
pub(super) fn version_id_of(uri: &http::Uri) -> Option<String> {
    let q = uri.query()?;
    form_urlencoded::parse(q.as_bytes())
        .find(|(k, _)| k == "versionId")
        .map(|(_, v)| v.into_owned())
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
}
