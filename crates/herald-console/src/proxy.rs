//! The signing proxy: a browser's S3, SNS or SQS call, made as the
//! signed-in user.
//!
//! The call is rebuilt from a short list of what the browser may choose
//! (path, query, content and condition headers, `x-amz-*` options), signed
//! with the user's own key by `aws-sigv4`, and served by the server's usual
//! request path: the same authentication, access control and limits as for
//! any SDK client. Nothing the browser sends can carry other credentials
//! (cookies, `Authorization`, presigned query parameters are dropped), and
//! answers lose their cookies.

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use s3s::Body;

use crate::session::Session;
use crate::{ApiError, Backend, Peer};

/// The API a call is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    S3,
    Sns,
    Sqs,
}

/// Largest SNS or SQS request body the console forwards (SQS messages are
/// at most 256 KiB; the JSON around them adds little). S3 bodies stream.
pub const MAX_API_BODY: usize = 1024 * 1024;
/// How long the browser may take to send an SNS or SQS body.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(30);

/// The `Host` of an internal call when the browser's request had none: an
/// address, so it can never name a bucket (virtual-host style).
const INTERNAL_HOST: &str = "127.0.0.1";

/// The query parameter that names an object key for the console's object
/// calls (`/console/api/s3/BUCKET?herald-key=KEY`). Keys in paths would be
/// rewritten by the browser: it resolves `.` and `..` segments (even
/// percent-encoded), so a key such as `a/../../other/x` would act on
/// another object.
pub const KEY_PARAM: &str = "herald-key";

/// Bytes of a key kept as they are in the internal path; everything else,
/// dots aside, is percent-encoded (S3 keys are not normalized).
const KEY_PATH: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');
/// RFC 5987 `attr-char`s kept in a download's `filename*`.
const FILENAME: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// `x-amz-*` headers the browser may not set: the signer's own, and the
/// chunked-upload framing (the body is forwarded as it is).
const SIGNER_HEADERS: &[&str] = &[
    "x-amz-date",
    "x-amz-content-sha256",
    "x-amz-security-token",
    "x-amz-decoded-content-length",
    "x-amz-trailer",
];

/// Plain headers forwarded to S3.
const S3_HEADERS: &[&str] = &[
    "content-type",
    "content-length",
    "content-md5",
    "content-disposition",
    "content-language",
    "cache-control",
    "expires",
    "range",
    "if-match",
    "if-none-match",
    "if-modified-since",
    "if-unmodified-since",
];

/// Makes `req` (a `/console/api/{s3/…,sns,sqs}` request) as the session's
/// user, whose secret key is `secret`.
pub async fn forward(
    backend: &dyn Backend,
    region: &str,
    session: &Session,
    secret: &str,
    service: Service,
    req: Request<Body>,
    peer: Peer,
) -> Result<Response<Body>, ApiError> {
    let host = crate::api::request_authority(&req).unwrap_or_else(|| INTERNAL_HOST.to_owned());
    let (parts, body) = req.into_parts();
    let key = object_key(&parts.uri)?;
    let (path, headers) = match service {
        Service::S3 => {
            let path = parts.uri.path().strip_prefix("/console/api/s3").unwrap_or("/");
            let path = if path.is_empty() { "/" } else { path };
            let path = match &key {
                Some(key) => object_path(path, key)?,
                None => path.to_owned(),
            };
            (path, s3_headers(&parts.headers)?)
        }
        Service::Sns | Service::Sqs => ("/".to_owned(), api_headers(&parts.headers)?),
    };
    let target = match parts.uri.query().map(clean_query).filter(|q| !q.is_empty()) {
        Some(q) => format!("{path}?{q}"),
        None => path,
    };
    let (body, signed_body) = match service {
        Service::S3 => (body, Bytes::new()),
        Service::Sns | Service::Sqs => {
            if parts.method != Method::POST {
                return Err(ApiError::new(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "MethodNotAllowed",
                    "SNS and SQS calls are POSTs",
                ));
            }
            let bytes = read_limited(body, MAX_API_BODY, BODY_TIMEOUT).await?;
            (Body::from(bytes.clone()), bytes)
        }
    };
    let mut inner = Request::builder()
        .method(parts.method.clone())
        .uri(&target)
        .body(body)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "InvalidURI", e.to_string()))?;
    *inner.headers_mut() = headers;
    let host = HeaderValue::from_str(&host).unwrap_or_else(|_| HeaderValue::from_static(INTERNAL_HOST));
    inner.headers_mut().insert(http::header::HOST, host);
    let signer = match service {
        Service::S3 => herald_sign::Signer::s3(&session.access_key, secret, region),
        Service::Sns => herald_sign::Signer::api(&session.access_key, secret, region, "sns"),
        Service::Sqs => herald_sign::Signer::api(&session.access_key, secret, region, "sqs"),
    };
    signer
        .sign(&mut inner, &signed_body, SystemTime::now())
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "InvalidArgument", format!("cannot sign: {e}")))?;
    let download = service == Service::S3 && parts.method == Method::GET && is_plain_download(&parts.uri);
    let mut resp = backend.dispatch(inner, peer).await;
    resp.headers_mut().remove(http::header::SET_COOKIE);
    if download && resp.status().is_success() {
        let name = key
            .as_deref()
            .and_then(|k| k.rsplit('/').next())
            .filter(|n| !n.is_empty());
        let name = percent_encoding::utf8_percent_encode(name.unwrap_or("download"), FILENAME);
        if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename*=UTF-8''{name}")) {
            resp.headers_mut().insert(http::header::CONTENT_DISPOSITION, v);
        }
    }
    Ok(resp)
}

/// Whether a GET is a plain object download: its query is the object key
/// and at most a version id (a link the page offers; it needs no CSRF
/// token, being a read the `SameSite=Strict` cookie already keeps to the
/// console's own pages).
pub fn is_plain_download(uri: &http::Uri) -> bool {
    let q = uri.query().unwrap_or("");
    let mut names: Vec<String> = form_urlencoded::parse(q.as_bytes())
        .map(|(k, _)| k.into_owned())
        .collect();
    names.sort();
    matches!(names.as_slice(), [k] if k == KEY_PARAM)
        || matches!(names.as_slice(), [k, v] if k == KEY_PARAM && v == "versionId")
}

/// The object key of a call, from [`KEY_PARAM`] (at most one).
fn object_key(uri: &http::Uri) -> Result<Option<String>, ApiError> {
    let q = uri.query().unwrap_or("");
    let mut keys = form_urlencoded::parse(q.as_bytes()).filter(|(k, _)| k == KEY_PARAM);
    let key = keys.next().map(|(_, v)| v.into_owned());
    if keys.next().is_some() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "InvalidArgument",
            format!("{KEY_PARAM} given twice"),
        ));
    }
    match key {
        Some(k) if k.is_empty() || k.len() > 1024 => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "KeyTooLongError",
            "an object key has 1 to 1024 bytes",
        )),
        other => Ok(other),
    }
}

/// `/BUCKET/KEY` for a call that named the bucket in its path and the key
/// in [`KEY_PARAM`].
fn object_path(path: &str, key: &str) -> Result<String, ApiError> {
    let bucket = path.trim_start_matches('/');
    if bucket.is_empty() || bucket.contains('/') {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "InvalidArgument",
            format!("{KEY_PARAM} goes with a path naming the bucket only"),
        ));
    }
    Ok(format!(
        "/{bucket}/{}",
        percent_encoding::utf8_percent_encode(key, KEY_PATH)
    ))
}

/// The query without anything that authenticates (presigned-URL
/// parameters of either signature version) and without the console's own
/// [`KEY_PARAM`], raw pieces kept as sent.
fn clean_query(query: &str) -> String {
    query
        .split('&')
        .filter(|piece| {
            let key = piece.split('=').next().unwrap_or("");
            let key = percent_decoded_lower(key);
            !(key.starts_with("x-amz-")
                || key == "signature"
                || key == "awsaccesskeyid"
                || key == "expires"
                || key == KEY_PARAM)
        })
        .collect::<Vec<_>>()
        .join("&")
}

fn percent_decoded_lower(s: &str) -> String {
    form_urlencoded::parse(format!("{s}=").as_bytes())
        .next()
        .map(|(k, _)| k.to_ascii_lowercase())
        .unwrap_or_default()
}

fn s3_headers(from: &HeaderMap) -> Result<HeaderMap, ApiError> {
    let mut out = HeaderMap::new();
    for (name, value) in from {
        let n = name.as_str();
        // `aws-chunked` framing would need chunk signatures.
        let plain_encoding = n == "content-encoding" && !value.as_bytes().windows(11).any(|w| w == b"aws-chunked");
        let keep =
            S3_HEADERS.contains(&n) || plain_encoding || (n.starts_with("x-amz-") && !SIGNER_HEADERS.contains(&n));
        if keep {
            out.append(name.clone(), value.clone());
        }
    }
    visible_ascii(&out)?;
    Ok(out)
}

fn api_headers(from: &HeaderMap) -> Result<HeaderMap, ApiError> {
    let mut out = HeaderMap::new();
    for name in [http::header::CONTENT_TYPE, HeaderName::from_static("x-amz-target")] {
        if let Some(v) = from.get(&name) {
            out.insert(name, v.clone());
        }
    }
    visible_ascii(&out)?;
    Ok(out)
}

/// SigV4 signs header values as text: a value that is not visible ASCII
/// (raw UTF-8 metadata) is refused here rather than signed wrongly.
fn visible_ascii(headers: &HeaderMap) -> Result<(), ApiError> {
    for (name, value) in headers {
        if value.to_str().is_err() {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "InvalidArgument",
                format!("header {name} is not visible ASCII (encode metadata values first)"),
            ));
        }
    }
    Ok(())
}

/// Reads a whole body of at most `limit` bytes within `timeout`.
pub async fn read_limited(body: Body, limit: usize, timeout: Duration) -> Result<Bytes, ApiError> {
    let collect = http_body_util::Limited::new(body, limit).collect();
    match tokio::time::timeout(timeout, collect).await {
        Ok(Ok(b)) => Ok(b.to_bytes()),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestEntityTooLarge",
            format!("the request body is larger than {limit} bytes"),
        )),
        Ok(Err(_)) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "IncompleteBody",
            "incomplete request body",
        )),
        Err(_) => Err(ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "RequestTimeout",
            format!("the request body took more than {} s", timeout.as_secs()),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presigned_parameters_are_dropped() {
        assert_eq!(clean_query("list-type=2&prefix=a%2F"), "list-type=2&prefix=a%2F");
        assert_eq!(
            clean_query("X-Amz-Signature=abc&x-amz-credential=k&prefix=p&Signature=s&AWSAccessKeyId=k&Expires=1"),
            "prefix=p"
        );
        assert_eq!(clean_query("X%2DAmz%2DSignature=abc&delimiter=%2F"), "delimiter=%2F");
    }

    #[test]
    fn credentials_and_cookies_are_not_forwarded() {
        let mut h = HeaderMap::new();
        h.insert("authorization", HeaderValue::from_static("AWS4-HMAC-SHA256 x"));
        h.insert("cookie", HeaderValue::from_static("herald_console=1"));
        h.insert("x-amz-security-token", HeaderValue::from_static("t"));
        h.insert("x-amz-date", HeaderValue::from_static("20260101T000000Z"));
        h.insert("x-amz-meta-color", HeaderValue::from_static("blue"));
        h.insert("content-type", HeaderValue::from_static("text/plain"));
        h.insert("content-encoding", HeaderValue::from_static("aws-chunked"));
        let out = s3_headers(&h).unwrap();
        let names: Vec<&str> = out.keys().map(|k| k.as_str()).collect();
        assert_eq!(out.len(), 2, "{names:?}");
        assert!(out.contains_key("x-amz-meta-color") && out.contains_key("content-type"));
        let api = api_headers(&h).unwrap();
        assert_eq!(api.len(), 1);
    }

    #[test]
    fn keys_go_in_a_parameter_and_are_never_normalized() {
        let uri: http::Uri = "/console/api/s3/bkt?herald-key=a%2F..%2F..%2Fother%2Fx%20y"
            .parse()
            .unwrap();
        let key = object_key(&uri).unwrap().unwrap();
        assert_eq!(key, "a/../../other/x y");
        assert_eq!(object_path("/bkt", &key).unwrap(), "/bkt/a/../../other/x%20y");
        assert!(is_plain_download(&uri));
        assert!(!is_plain_download(
            &"/console/api/s3/bkt?herald-key=a&acl".parse().unwrap()
        ));
        assert!(is_plain_download(
            &"/console/api/s3/bkt?herald-key=a&versionId=v1".parse().unwrap()
        ));
        assert!(!is_plain_download(
            &"/console/api/s3/bkt?herald-key=a&versionId=v1&tagging".parse().unwrap()
        ));
        assert!(!is_plain_download(&"/console/api/s3/bkt?versionId=v1".parse().unwrap()));
        assert!(object_path("/bkt/extra", "k").is_err());
        assert!(object_key(&"/x?herald-key=a&herald-key=b".parse().unwrap()).is_err());
        assert_eq!(clean_query("herald-key=a&tagging"), "tagging");
    }

    #[test]
    fn non_ascii_values_are_refused() {
        let mut h = HeaderMap::new();
        h.insert("x-amz-meta-name", HeaderValue::from_bytes("café".as_bytes()).unwrap());
        assert!(s3_headers(&h).is_err());
    }
}
