//! Published AWS vectors: the SigV4 test suite (`get-vanilla`,
//! `post-x-www-form-urlencoded`, plus a few more reproduced from it) and the
//! S3 documentation examples. They pin our canonicalization to AWS's own,
//! which a sign → verify round trip alone could never do.

use herald_sigv4::{SigV4Error, SignedRequest, verify};
use http::{HeaderMap, HeaderValue, Method, Uri};
use time::macros::datetime;

const SUITE_KEY: &str = "AKIDEXAMPLE";
const SUITE_SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const SUITE_SCOPE: &str = "AKIDEXAMPLE/20150830/us-east-1/service/aws4_request";

fn suite_lookup(key: &str) -> Option<String> {
    (key == SUITE_KEY).then(|| SUITE_SECRET.to_owned())
}

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(
            http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    map
}

/// Runs one test-suite vector: `verify` must accept the published
/// Authorization header. (Herald signs nothing itself: its clients and
/// tests sign with AWS's `aws-sigv4`.)
fn check_suite_vector(
    method: Method,
    uri: &str,
    unsigned: &[(&str, &str)],
    body: &[u8],
    signed_headers: &str,
    signature: &str,
) {
    let uri: Uri = uri.parse().unwrap();
    let expected_auth =
        format!("AWS4-HMAC-SHA256 Credential={SUITE_SCOPE}, SignedHeaders={signed_headers}, Signature={signature}");
    let now = datetime!(2015-08-30 12:36:00 UTC);

    let mut signed = headers(unsigned);
    signed.insert("x-amz-date", HeaderValue::from_static("20150830T123600Z"));
    signed.insert("authorization", HeaderValue::from_str(&expected_auth).unwrap());
    let req = SignedRequest {
        method: &method,
        uri: &uri,
        headers: &signed,
        body,
    };
    let verified = verify(&req, suite_lookup, &["service"], now).expect("suite vector verifies");
    assert_eq!(verified.access_key, SUITE_KEY);
    assert_eq!(verified.region, "us-east-1");
    assert_eq!(verified.service, "service");
}

#[test]
fn suite_get_vanilla() {
    check_suite_vector(
        Method::GET,
        "/",
        &[("host", "example.amazonaws.com")],
        b"",
        "host;x-amz-date",
        "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
    );
}

#[test]
fn suite_post_x_www_form_urlencoded() {
    check_suite_vector(
        Method::POST,
        "/",
        &[
            ("content-type", "application/x-www-form-urlencoded"),
            ("host", "example.amazonaws.com"),
        ],
        b"Param1=value1",
        "content-type;host;x-amz-date",
        "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a",
    );
}

#[test]
fn suite_get_vanilla_query_order_key_case() {
    check_suite_vector(
        Method::GET,
        "/?Param2=value2&Param1=value1",
        &[("host", "example.amazonaws.com")],
        b"",
        "host;x-amz-date",
        "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
    );
}

#[test]
fn suite_get_slashes_normalized() {
    check_suite_vector(
        Method::GET,
        "//example//",
        &[("host", "example.amazonaws.com")],
        b"",
        "host;x-amz-date",
        "9a624bd73a37c9a373b5312afbebe7a714a789de108f0bdfe846570885f57e84",
    );
}

/// `get-special-character`: `$` is legal on the wire but not unreserved, so
/// it is encoded in the canonical URI.
#[test]
fn suite_get_special_character() {
    check_suite_vector(
        Method::GET,
        "/example/$delete",
        &[("host", "example.amazonaws.com")],
        b"",
        "host;x-amz-date",
        "a853c9b21b528b19643d00910d35b83a10c366a10833ceefb45edd6c80e40f27",
    );
}

/// Vectors whose signed headers `sign` would not choose (it signs only
/// host, content-type, content-md5 and x-amz-*), so they go through
/// `verify` alone.
fn verify_suite_vector(extra: &[(&str, &str)], signed_headers: &str, signature: &str) {
    let uri: Uri = "/".parse().unwrap();
    let auth =
        format!("AWS4-HMAC-SHA256 Credential={SUITE_SCOPE}, SignedHeaders={signed_headers}, Signature={signature}");
    let mut pairs = vec![
        ("host", "example.amazonaws.com"),
        ("x-amz-date", "20150830T123600Z"),
        ("authorization", auth.as_str()),
    ];
    pairs.extend_from_slice(extra);
    let h = headers(&pairs);
    let req = SignedRequest {
        method: &Method::POST,
        uri: &uri,
        headers: &h,
        body: b"",
    };
    verify(&req, suite_lookup, &["service"], datetime!(2015-08-30 12:36:00 UTC)).expect("suite vector verifies");
}

#[test]
fn suite_post_header_key_sort() {
    verify_suite_vector(
        &[("My-Header1", "value1")],
        "host;my-header1;x-amz-date",
        "c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c",
    );
}

#[test]
fn suite_post_header_value_case() {
    verify_suite_vector(
        &[("My-Header1", "VALUE1")],
        "host;my-header1;x-amz-date",
        "cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d",
    );
}

/// The IAM `ListUsers` example from "Signing AWS API requests". The URI is
/// absolute and there is no `host` header, which is the HTTP/2 shape:
/// `verify` must take the host from the authority.
#[test]
fn doc_iam_list_users_with_host_from_authority() {
    let method = Method::GET;
    let uri: Uri = "https://iam.amazonaws.com/?Action=ListUsers&Version=2010-05-08"
        .parse()
        .unwrap();
    let h = headers(&[("content-type", "application/x-www-form-urlencoded; charset=utf-8")]);
    let now = datetime!(2015-08-30 12:36:00 UTC);
    let expected = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7";
    let mut signed = h.clone();
    signed.insert("x-amz-date", HeaderValue::from_static("20150830T123600Z"));
    signed.insert("authorization", HeaderValue::from_static(expected));
    let req = SignedRequest {
        method: &method,
        uri: &uri,
        headers: &signed,
        body: b"",
    };
    let v = verify(&req, suite_lookup, &["iam"], now).expect("IAM doc example verifies");
    assert_eq!(v.service, "iam");
}

const S3_KEY: &str = "AKIAIOSFODNN7EXAMPLE";
const S3_SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

fn s3_lookup(key: &str) -> Option<String> {
    (key == S3_KEY).then(|| S3_SECRET.to_owned())
}

/// S3 docs, "Example: GET Object": single-encoded path plus a declared
/// empty-payload hash.
#[test]
fn s3_doc_get_object_header_auth() {
    let uri: Uri = "/test.txt".parse().unwrap();
    let h = headers(&[
        ("host", "examplebucket.s3.amazonaws.com"),
        ("range", "bytes=0-9"),
        (
            "x-amz-content-sha256",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        ),
        ("x-amz-date", "20130524T000000Z"),
        (
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
        ),
    ]);
    let req = SignedRequest {
        method: &Method::GET,
        uri: &uri,
        headers: &h,
        body: b"",
    };
    verify(&req, s3_lookup, &["s3"], datetime!(2013-05-24 00:05:00 UTC)).expect("S3 doc example verifies");
}

/// S3 docs, "Example: presigned URL" (query-string authentication).
#[test]
fn s3_doc_presigned_url() {
    let uri: Uri = "/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404".parse().unwrap();
    let h = headers(&[("host", "examplebucket.s3.amazonaws.com")]);
    let req = SignedRequest {
        method: &Method::GET,
        uri: &uri,
        headers: &h,
        body: b"",
    };
    verify(&req, s3_lookup, &["s3"], datetime!(2013-05-24 12:00:00 UTC))
        .expect("presigned S3 doc example verifies within its 24h");
    assert_eq!(
        verify(&req, s3_lookup, &["s3"], datetime!(2013-05-25 00:00:01 UTC)),
        Err(SigV4Error::Expired)
    );
}
