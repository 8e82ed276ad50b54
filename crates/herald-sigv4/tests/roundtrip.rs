//! Requests signed by AWS's own signer (`aws-sigv4`, the one the SDKs
//! use) verify; and every way verification must fail.

use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SigningSettings, UriPathNormalizationMode,
};
use herald_sigv4::{MAX_CLOCK_SKEW, SigV4Error, SignedRequest, verify};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Uri};
use time::{Duration, OffsetDateTime, macros::datetime};

/// The headers AWS's signer adds to `headers` for this request, as an SDK
/// would send it (S3: single-encoded path and `x-amz-content-sha256`).
fn sign(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    secret: &str,
    service: &str,
    at: OffsetDateTime,
) -> Vec<(String, String)> {
    let identity = aws_credential_types::Credentials::new(KEY, secret, None, None, "test").into();
    let mut settings = SigningSettings::default();
    if service == "s3" {
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
    }
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name(service)
        .time(std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(at.unix_timestamp() as u64))
        .settings(settings)
        .build()
        .unwrap()
        .into();
    let body = match headers.get("x-amz-content-sha256") {
        Some(v) if v == "UNSIGNED-PAYLOAD" => SignableBody::UnsignedPayload,
        _ => SignableBody::Bytes(body),
    };
    let url = format!("http://127.0.0.1:9000{uri}");
    let signable = SignableRequest::new(
        method.as_str(),
        &url,
        headers.iter().map(|(k, v)| (k.as_str(), v.to_str().unwrap())),
        body,
    )
    .unwrap();
    let (instructions, _) = aws_sigv4::http_request::sign(signable, &params).unwrap().into_parts();
    instructions
        .headers()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

const KEY: &str = "AKIAHERALDTEST";
const SECRET: &str = "herald-secret-key";
const NOW: OffsetDateTime = datetime!(2024-05-01 10:00:00 UTC);

fn lookup(key: &str) -> Option<String> {
    (key == KEY).then(|| SECRET.to_owned())
}

struct Req {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Req {
    fn as_signed(&self) -> SignedRequest<'_> {
        SignedRequest {
            method: &self.method,
            uri: &self.uri,
            headers: &self.headers,
            body: &self.body,
        }
    }
}

/// An SNS-style query-protocol POST, signed with `secret` for `service` at
/// `at`.
fn signed_post(path: &str, body: &str, secret: &str, service: &str, at: OffsetDateTime) -> Req {
    let uri: Uri = path.parse().unwrap();
    let mut headers = HeaderMap::new();
    headers.insert("host", HeaderValue::from_static("127.0.0.1:9000"));
    headers.insert(
        "content-type",
        HeaderValue::from_static("application/x-www-form-urlencoded; charset=utf-8"),
    );
    let method = Method::POST;
    for (name, value) in sign(&method, &uri, &headers, body.as_bytes(), secret, service, at) {
        headers.insert(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(&value).unwrap(),
        );
    }
    Req {
        method,
        uri,
        headers,
        body: body.as_bytes().to_vec(),
    }
}

const LIST_TOPICS: &str = "Action=ListTopics&Version=2010-03-31";

#[test]
fn round_trip_succeeds() {
    let req = signed_post("/", LIST_TOPICS, SECRET, "sns", NOW);
    assert!(!req.headers.contains_key("x-amz-content-sha256"));
    let v = verify(&req.as_signed(), lookup, &["sns"], NOW).unwrap();
    assert_eq!(
        (v.access_key.as_str(), v.region.as_str(), v.service.as_str()),
        (KEY, "us-east-1", "sns")
    );
}

#[test]
fn round_trip_sqs_queue_path_and_query() {
    let req = signed_post(
        "/123456789012/my-queue.fifo?Action=ReceiveMessage&MaxNumberOfMessages=10&Attr=a%20b%2Bc",
        "",
        SECRET,
        "sqs",
        NOW,
    );
    verify(&req.as_signed(), lookup, &["sns", "sqs"], NOW).unwrap();
}

#[test]
fn round_trip_s3_adds_content_sha256() {
    let req = signed_post("/bucket/key%20with%20space", "hello", SECRET, "s3", NOW);
    assert!(req.headers.contains_key("x-amz-content-sha256"));
    verify(&req.as_signed(), lookup, &["s3"], NOW).unwrap();
}

#[test]
fn wrong_secret_is_signature_mismatch() {
    let req = signed_post("/", LIST_TOPICS, "not-the-secret", "sns", NOW);
    let err = verify(&req.as_signed(), lookup, &["sns"], NOW).unwrap_err();
    assert_eq!(err, SigV4Error::SignatureMismatch);
    assert_eq!(err.aws_code("sns"), "SignatureDoesNotMatch");
    assert_eq!(err.http_status(), 403);
}

#[test]
fn unknown_key_is_invalid_client_token_id() {
    let req = signed_post("/", LIST_TOPICS, SECRET, "sns", NOW);
    let err = verify(&req.as_signed(), |_| None, &["sns"], NOW).unwrap_err();
    assert_eq!(err, SigV4Error::UnknownAccessKey);
    assert_eq!(err.aws_code("sqs"), "InvalidClientTokenId");
    assert_eq!(err.aws_code("s3"), "InvalidAccessKeyId");
    assert_eq!(err.http_status(), 403);
}

#[test]
fn clock_skew_window_is_fifteen_minutes_both_ways() {
    let req = signed_post("/", LIST_TOPICS, SECRET, "sns", NOW);
    for ok in [NOW + MAX_CLOCK_SKEW, NOW - MAX_CLOCK_SKEW] {
        verify(&req.as_signed(), lookup, &["sns"], ok).unwrap();
    }
    for late in [
        NOW + MAX_CLOCK_SKEW + Duration::seconds(1),
        NOW - MAX_CLOCK_SKEW - Duration::seconds(1),
    ] {
        let err = verify(&req.as_signed(), lookup, &["sns"], late).unwrap_err();
        assert_eq!(err, SigV4Error::Expired);
        assert_eq!(err.aws_code("sns"), "RequestExpired");
        assert_eq!(err.http_status(), 400);
    }
}

#[test]
fn tampered_body_is_signature_mismatch() {
    let mut req = signed_post("/", LIST_TOPICS, SECRET, "sns", NOW);
    req.body = b"Action=DeleteTopic&TopicArn=arn:aws:sns:us-east-1:1:t&Version=2010-03-31".to_vec();
    assert_eq!(
        verify(&req.as_signed(), lookup, &["sns"], NOW),
        Err(SigV4Error::SignatureMismatch)
    );
}

/// With `x-amz-content-sha256` signed, the body is covered only through that
/// header, so the verifier must check the body against it.
#[test]
fn tampered_body_with_declared_hash_is_signature_mismatch() {
    let mut req = signed_post("/bucket/key", "original", SECRET, "s3", NOW);
    verify(&req.as_signed(), lookup, &["s3"], NOW).unwrap();
    req.body = b"tampered".to_vec();
    assert_eq!(
        verify(&req.as_signed(), lookup, &["s3"], NOW),
        Err(SigV4Error::SignatureMismatch)
    );
}

#[test]
fn tampered_query_path_method_or_header_is_signature_mismatch() {
    let base = || signed_post("/123456789012/q?Action=SendMessage", "", SECRET, "sqs", NOW);
    let mut r = base();
    r.uri = "/123456789012/q?Action=DeleteQueue".parse().unwrap();
    assert_eq!(
        verify(&r.as_signed(), lookup, &["sqs"], NOW),
        Err(SigV4Error::SignatureMismatch)
    );
    let mut r = base();
    r.uri = "/123456789012/other?Action=SendMessage".parse().unwrap();
    assert_eq!(
        verify(&r.as_signed(), lookup, &["sqs"], NOW),
        Err(SigV4Error::SignatureMismatch)
    );
    let mut r = base();
    r.method = Method::PUT;
    assert_eq!(
        verify(&r.as_signed(), lookup, &["sqs"], NOW),
        Err(SigV4Error::SignatureMismatch)
    );
    let mut r = base();
    r.headers.insert("host", HeaderValue::from_static("evil.example:9000"));
    assert_eq!(
        verify(&r.as_signed(), lookup, &["sqs"], NOW),
        Err(SigV4Error::SignatureMismatch)
    );
}

#[test]
fn wrong_service_is_rejected_before_key_lookup() {
    let req = signed_post("/", LIST_TOPICS, SECRET, "sqs", NOW);
    let err = verify(&req.as_signed(), |_| panic!("must not look up"), &["sns"], NOW).unwrap_err();
    assert_eq!(err, SigV4Error::WrongService { got: "sqs".to_owned() });
    assert_eq!(err.aws_code("sns"), "SignatureDoesNotMatch");
    assert_eq!(err.http_status(), 403);
}

#[test]
fn missing_authentication() {
    let req = Req {
        method: Method::POST,
        uri: "/".parse().unwrap(),
        headers: HeaderMap::new(),
        body: LIST_TOPICS.as_bytes().to_vec(),
    };
    let err = verify(&req.as_signed(), lookup, &["sns"], NOW).unwrap_err();
    assert_eq!(err, SigV4Error::Missing);
    assert_eq!(err.aws_code("sns"), "MissingAuthenticationToken");
    assert_eq!(err.aws_code("s3"), "AccessDenied");
    assert_eq!(err.http_status(), 403);
}

fn with_authorization(value: &str) -> Req {
    let mut req = signed_post("/", LIST_TOPICS, SECRET, "sns", NOW);
    req.headers
        .insert("authorization", HeaderValue::from_str(value).unwrap());
    req
}

#[test]
fn malformed_authorization_headers() {
    let sig = "0".repeat(64);
    let cases = [
        "AWS AKIAHERALDTEST:c2lnbmF0dXJl".to_owned(),
        "AWS4-HMAC-SHA256".to_owned(),
        format!("AWS4-HMAC-SHA256 SignedHeaders=host, Signature={sig}"),
        format!("AWS4-HMAC-SHA256 Credential={KEY}/20240501/us-east-1/sns/aws4_request, Signature={sig}"),
        format!("AWS4-HMAC-SHA256 Credential={KEY}/20240501/us-east-1/sns/aws4_request, SignedHeaders=host"),
        format!("AWS4-HMAC-SHA256 Credential={KEY}/20240501/us-east-1/sns, SignedHeaders=host, Signature={sig}"),
        format!(
            "AWS4-HMAC-SHA256 Credential={KEY}/20240501/us-east-1/sns/aws5_request, SignedHeaders=host, Signature={sig}"
        ),
        format!(
            "AWS4-HMAC-SHA256 Credential={KEY}/20240502/us-east-1/sns/aws4_request, SignedHeaders=host, Signature={sig}"
        ),
        format!(
            "AWS4-HMAC-SHA256 Credential={KEY}/20240501/us-east-1/sns/aws4_request, SignedHeaders=x-amz-date, Signature={sig}"
        ),
        format!(
            "AWS4-HMAC-SHA256 Credential={KEY}/20240501/us-east-1/sns/aws4_request, SignedHeaders=host;x-missing, Signature={sig}"
        ),
        format!(
            "AWS4-HMAC-SHA256 Credential={KEY}/20240501/us-east-1/sns/aws4_request, SignedHeaders=host, Signature=xyz"
        ),
    ];
    for case in cases {
        let err = verify(&with_authorization(&case).as_signed(), lookup, &["sns"], NOW).unwrap_err();
        assert!(matches!(err, SigV4Error::Malformed(_)), "{case}: {err:?}");
        assert_eq!(err.aws_code("sns"), "IncompleteSignature");
        assert_eq!(err.http_status(), 400);
    }
}

#[test]
fn dropping_a_signed_header_is_malformed() {
    let mut req = signed_post("/", LIST_TOPICS, SECRET, "sns", NOW);
    req.headers.remove("content-type");
    assert!(matches!(
        verify(&req.as_signed(), lookup, &["sns"], NOW),
        Err(SigV4Error::Malformed(_))
    ));
}

#[test]
fn both_header_and_presigned_is_malformed() {
    let mut req = signed_post("/", LIST_TOPICS, SECRET, "sns", NOW);
    req.uri = "/?X-Amz-Signature=abc".parse().unwrap();
    assert!(matches!(
        verify(&req.as_signed(), lookup, &["sns"], NOW),
        Err(SigV4Error::Malformed(_))
    ));
}

#[test]
fn incomplete_presigned_query_is_malformed() {
    let req = Req {
        method: Method::GET,
        uri: "/?Action=ListTopics&X-Amz-Algorithm=AWS4-HMAC-SHA256".parse().unwrap(),
        headers: HeaderMap::new(),
        body: Vec::new(),
    };
    assert!(matches!(
        verify(&req.as_signed(), lookup, &["sns"], NOW),
        Err(SigV4Error::Malformed(_))
    ));
}

/// `UNSIGNED-PAYLOAD` with a body would leave SNS/SQS parameters (which
/// live in the body) unauthenticated.
#[test]
fn unsigned_payload_with_body_is_refused_outside_s3() {
    let mut headers = HeaderMap::new();
    headers.insert("host", HeaderValue::from_static("127.0.0.1:9000"));
    headers.insert("x-amz-content-sha256", HeaderValue::from_static("UNSIGNED-PAYLOAD"));
    let uri: Uri = "/".parse().unwrap();
    for (name, value) in sign(&Method::POST, &uri, &headers, b"", SECRET, "sns", NOW) {
        headers.insert(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(&value).unwrap(),
        );
    }
    let mut req = Req {
        method: Method::POST,
        uri,
        headers,
        body: Vec::new(),
    };
    verify(&req.as_signed(), lookup, &["sns"], NOW).expect("empty body: nothing to protect");
    req.body = LIST_TOPICS.as_bytes().to_vec();
    assert!(matches!(
        verify(&req.as_signed(), lookup, &["sns"], NOW),
        Err(SigV4Error::Malformed(_))
    ));
}
