//! How much of an SNS or SQS request body the front reads before handing it
//! to the API, decided from the request head alone.
//!
//! These APIs need the whole body in memory (the signature covers its
//! hash), so the limit is what a legitimate request of that action can
//! need, not a generous catch-all: a client declaring more is answered at
//! once, without reading a byte of the body, and a body without a length
//! is cut off at the limit. A request whose credential names no known
//! access key will be refused by authentication anyway, so it only gets
//! [`UNAUTHENTICATED`] bytes: strangers cannot make the server buffer
//! megabytes.

use herald_store::Store;
use http::request::Parts;

/// `SendMessage` and `SendMessageBatch`: 256 KiB of message payload (one
/// message or the batch's sum), which percent-encoding (query protocol) or
/// `\u` escapes (JSON) can inflate up to threefold, plus attributes and
/// the envelope.
pub const SQS_MESSAGES: usize = 1024 * 1024;

/// Every other SQS action: queue names, attributes (a policy of a few KiB
/// at most), receipt handles of a ten-entry batch.
pub const SQS_OTHER: usize = 64 * 1024;

/// Requests whose credential is missing or unknown: enough for any
/// unsigned request to reach authentication and get its proper error.
pub const UNAUTHENTICATED: usize = 64 * 1024;

/// The SQS actions that carry message bodies.
const MESSAGE_ACTIONS: [&str; 2] = ["SendMessage", "SendMessageBatch"];

/// The largest body `action` may have.
pub fn sqs_action(action: &str) -> usize {
    if MESSAGE_ACTIONS.contains(&action) {
        SQS_MESSAGES
    } else {
        SQS_OTHER
    }
}

/// The limit for an SQS JSON request (`X-Amz-Target: AmazonSQS.<Action>`).
pub fn sqs_json(parts: &Parts, store: &Store) -> usize {
    let action = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .and_then(|t| t.strip_prefix("AmazonSQS."))
        .unwrap_or("");
    sqs_action(action).min(credential_cap(parts, store))
}

/// The limit for a form-encoded query-protocol POST, whose action is in
/// the body: the credential scope's service tells SNS from SQS, and SQS
/// gets the most any of its actions may need (the action's own limit is
/// checked once the body is read, see [`sqs_action`]).
pub fn query(parts: &Parts, store: &Store, sns_max: usize) -> usize {
    let cap = credential_cap(parts, store);
    match credential(parts).map(|c| c.service) {
        Some(s) if s == "sns" => sns_max.min(cap),
        Some(s) if s == "sqs" => SQS_MESSAGES.min(cap),
        _ => UNAUTHENTICATED,
    }
}

/// [`UNAUTHENTICATED`] unless the request names an access key this server
/// knows.
fn credential_cap(parts: &Parts, store: &Store) -> usize {
    match credential(parts) {
        Some(c) if store.lookup_key(&c.access_key).is_some() => usize::MAX,
        _ => UNAUTHENTICATED,
    }
}

/// The declared `Content-Length`, if any and well-formed.
pub fn declared_length(parts: &Parts) -> Option<u64> {
    parts
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

/// Who a SigV4 request says signed it, read from the `Authorization`
/// header or the presigned `X-Amz-Credential` parameter. Only a hint for
/// sizing: the signature itself is verified later, by the API.
#[derive(Debug, PartialEq, Eq)]
struct Credential {
    access_key: String,
    service: String,
}

fn credential(parts: &Parts) -> Option<Credential> {
    let header = parts
        .headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split("Credential=").nth(1))
        .map(|v| v.split([',', ' ']).next().unwrap_or("").to_owned());
    let scope = header.or_else(|| {
        let query = parts.uri.query()?;
        form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == "X-Amz-Credential")
            .map(|(_, v)| v.into_owned())
    })?;
    // `<key>/<date>/<region>/<service>/aws4_request`, split from the right.
    let mut it = scope.rsplitn(5, '/');
    let (_terminator, service, _region, _date, key) = (it.next()?, it.next()?, it.next()?, it.next()?, it.next()?);
    Some(Credential {
        access_key: key.to_owned(),
        service: service.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(uri: &str, headers: &[(&str, &str)]) -> Parts {
        let mut b = http::Request::post(uri);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap().into_parts().0
    }

    #[test]
    fn the_credential_comes_from_the_header_or_the_presigned_query() {
        let p = parts(
            "/",
            &[(
                "authorization",
                "AWS4-HMAC-SHA256 Credential=AKID/20261202/us-east-1/sqs/aws4_request, SignedHeaders=host, Signature=00",
            )],
        );
        assert_eq!(
            credential(&p),
            Some(Credential {
                access_key: "AKID".into(),
                service: "sqs".into()
            })
        );
        let p = parts(
            "/?X-Amz-Credential=AK%2F20261202%2Fus-east-1%2Fsns%2Faws4_request&X-Amz-Signature=1",
            &[],
        );
        assert_eq!(credential(&p).map(|c| c.service), Some("sns".into()));
        assert_eq!(credential(&parts("/", &[])), None);
        assert_eq!(credential(&parts("/", &[("authorization", "AWS key:sig")])), None);
    }

    #[test]
    fn message_actions_get_more_room_than_the_rest() {
        assert_eq!(sqs_action("SendMessageBatch"), SQS_MESSAGES);
        assert_eq!(sqs_action("ListQueues"), SQS_OTHER);
        const { assert!(SQS_MESSAGES >= 3 * 256 * 1024, "a 256 KiB message, percent-encoded") };
    }

    #[test]
    fn declared_length_parses_only_numbers() {
        assert_eq!(
            declared_length(&parts("/", &[("content-length", "100000000")])),
            Some(100_000_000)
        );
        assert_eq!(declared_length(&parts("/", &[("content-length", "x")])), None);
    }
}
